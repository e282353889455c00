//! `hotline kb import DIR`: reads every `*.md` article file of a directory, refuses the whole
//! directory when any file is bad (each reported as `PATH:LINE: message`), and otherwise sends
//! the articles to an in-house site's API in one import request.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hotline_federation::knowledge::{ArticleFile, parse_article_file};
use serde_json::{Value, json};

use crate::site_api::SiteApi;

/// The article files of `dir` (`*.md`, sorted by name), parsed; every bad file as
/// `PATH:LINE: message`.
pub fn read_articles(dir: &Path) -> anyhow::Result<Result<Vec<ArticleFile>, Vec<String>>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "md") && p.is_file());
    paths.sort();
    let mut articles = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!(
                    "{}:1: cannot read it as UTF-8 text: {e}",
                    path.display()
                ));
                continue;
            }
        };
        match parse_article_file(&text) {
            Ok(article) => articles.push(article),
            Err(problem) => problems.push(format!(
                "{}:{}: {}",
                path.display(),
                problem.line,
                problem.message
            )),
        }
    }
    Ok(if problems.is_empty() {
        Ok(articles)
    } else {
        Err(problems)
    })
}

/// The import request of `articles`.
pub fn import_request(articles: &[ArticleFile], publish: bool) -> Value {
    let articles: Vec<Value> = articles
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "language": a.language.as_str(),
                "title": a.title,
                "body": a.body,
                "tags": a.tags,
                "focus_teams": a.focus_teams,
            })
        })
        .collect();
    json!({ "articles": articles, "publish": publish })
}

/// The site's address from `http://HOST:PORT` (a trailing slash allowed).
fn site_addr(site: &str) -> anyhow::Result<SocketAddr> {
    let rest = site
        .strip_prefix("http://")
        .with_context(|| format!("--site {site:?}: expected http://HOST:PORT"))?;
    let rest = rest.trim_end_matches('/');
    use std::net::ToSocketAddrs;
    rest.to_socket_addrs()
        .with_context(|| format!("--site {site:?}: expected http://HOST:PORT"))?
        .next()
        .with_context(|| format!("--site {site:?}: the host has no address"))
}

/// Runs `hotline kb import`; the lines it prints are returned for the caller to show.
pub async fn import(
    dir: &Path,
    site: &str,
    token: &str,
    draft: bool,
) -> anyhow::Result<Vec<String>> {
    let articles = match read_articles(dir)? {
        Ok(articles) => articles,
        Err(problems) => anyhow::bail!(
            "{}\n{} bad file(s); nothing was sent",
            problems.join("\n"),
            problems.len()
        ),
    };
    anyhow::ensure!(
        !articles.is_empty(),
        "{} holds no *.md article files; nothing was sent",
        dir.display()
    );
    let api = SiteApi::new(site_addr(site)?, token);
    let (status, answer) = api
        .call("POST", "/v1/kb/import", &import_request(&articles, !draft))
        .await?;
    anyhow::ensure!(
        status == 200,
        "the site refused the import ({status} {}): {}; nothing was written",
        answer["code"].as_str().unwrap_or("?"),
        answer["message"].as_str().unwrap_or("")
    );
    let mut lines = Vec::new();
    let (mut created, mut updated) = (0, 0);
    for article in answer["articles"].as_array().into_iter().flatten() {
        let outcome = article["outcome"].as_str().unwrap_or("?");
        match outcome {
            "created" => created += 1,
            _ => updated += 1,
        }
        lines.push(format!(
            "{outcome} {} ({}, version {})",
            article["id"].as_str().unwrap_or("?"),
            article["state"].as_str().unwrap_or("?"),
            article["version"]
        ));
    }
    lines.push(format!(
        "{created} created, {updated} updated, {}",
        if draft {
            "left as drafts"
        } else {
            "all published"
        }
    ));
    Ok(lines)
}
