//! The demo's one face and shared knowledge: the brand munich publishes, the starter knowledge
//! base it imports (the Markdown files in `deploy/kb/articles`), and what callers say (the
//! labelled queries of `deploy/kb/queries.toml`), which the simulated agents search for.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hotline_federation::knowledge::parse_article_file;
use serde::Deserialize;
use serde_json::{Value, json};

use super::federation::Federation;

/// Where the starter knowledge base lives in the source tree.
pub fn kb_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kb")
}

/// One thing a caller says, and the articles that answer it.
#[derive(Clone, Debug, Deserialize)]
pub struct CallerQuery {
    /// What the caller says.
    pub text: String,
    /// In which language.
    pub language: String,
    /// Articles that answer it.
    pub relevant: Vec<String>,
}

#[derive(Deserialize)]
struct QueryFile {
    query: Vec<CallerQuery>,
}

/// The labelled queries.
pub fn caller_queries(dir: &Path) -> anyhow::Result<Vec<CallerQuery>> {
    let path = dir.join("queries.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let file: QueryFile = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    anyhow::ensure!(!file.query.is_empty(), "{}: no queries", path.display());
    Ok(file.query)
}

/// The articles of `dir/articles` as the import endpoint takes them.
pub fn starter_articles(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("articles"))
        .with_context(|| format!("{}", dir.join("articles").display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    paths.sort();
    let mut articles = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let file = parse_article_file(&text)
            .map_err(|p| anyhow::anyhow!("{}:{}: {}", path.display(), p.line, p.message))?;
        articles.push(json!({
            "id": file.id,
            "language": file.language.as_str(),
            "title": file.title,
            "body": file.body,
            "tags": file.tags,
            "focus_teams": file.focus_teams,
        }));
    }
    Ok(articles)
}

/// The demo brand: one name, one number, greetings and templates in German and English, and
/// the partners' names and agent id patterns as terms that never reach a customer.
pub fn brand() -> Value {
    let greeting = |channel: &str, language: &str, text: &str| json!({"channel": channel, "language": language, "text": text});
    let template = |name: &str, language: &str, text: &str| json!({"name": name, "language": language, "text": text});
    json!({
        "display_name": "ACME IT Service Desk",
        "hotline_number": "+49 89 4711 4711",
        "greetings": [
            greeting("phone", "de", "ACME IT Service Desk, guten Tag. Wie kann ich Ihnen helfen?"),
            greeting("phone", "en", "ACME IT Service Desk, good day. How can I help you?"),
            greeting("chat", "de", "Willkommen beim ACME IT Service Desk. Worum geht es?"),
            greeting("chat", "en", "Welcome to the ACME IT Service Desk. What can we do for you?"),
            greeting("email", "de", "Guten Tag, vielen Dank fuer Ihre Nachricht an den ACME IT Service Desk."),
            greeting("email", "en", "Hello, thank you for writing to the ACME IT Service Desk."),
        ],
        "templates": [
            template("ticket-opened", "de", "Ihr Anliegen ist unter der Nummer {public_number} erfasst. Den Stand sehen Sie unter {status_url} mit dem Zugangscode {access_code}. Bei Fragen: {hotline_number}. {signature}"),
            template("ticket-opened", "en", "Your request is recorded as {public_number}. See its status at {status_url} with the access code {access_code}. Questions: {hotline_number}. {signature}"),
            template("ticket-update", "de", "Zu Ihrem Anliegen {public_number}: Stand {status}. {signature}"),
            template("ticket-update", "en", "About your request {public_number}: status {status}. {signature}"),
        ],
        "signature": "Ihr ACME IT Service Desk",
        "forbidden_terms": ["Twenty4Help GmbH", "HelpByCom AG", "Muenchen"],
        "alias_patterns": ["t4h-###", "hbc-###"],
        "accent_color": "#0b5394"
    })
}

/// Munich publishes the brand and imports the starter knowledge base; returns how many articles.
pub async fn publish(fed: &Federation, dir: &Path) -> anyhow::Result<usize> {
    let munich = &fed.site("munich").api;
    munich.expect("PUT", "/v1/brand", &brand(), 200).await?;
    let articles = starter_articles(dir)?;
    let count = articles.len();
    munich
        .expect(
            "POST",
            "/v1/kb/import",
            &json!({"articles": articles, "publish": true}),
            200,
        )
        .await?;
    Ok(count)
}

/// Searches at `site` for what a caller said; true when an article that answers it is among
/// the first three hits.
pub async fn agent_finds(
    fed: &Federation,
    site: &str,
    query: &CallerQuery,
) -> anyhow::Result<bool> {
    let api = &fed.site(site).api;
    let path = format!(
        "/v1/kb/search?q={}&lang={}&limit=3",
        encode(&query.text),
        query.language
    );
    let hits = api.expect("GET", &path, &Value::Null, 200).await?;
    Ok(hits["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|hit| query.relevant.iter().any(|id| hit["id"] == id.as_str())))
}

/// Percent-encodes a query parameter.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
