//! Renders a review report with its scores to Markdown and to HTML. Both come from one list
//! of blocks (headings, paragraphs, tables, lists), so they always say the same; every piece
//! of text is escaped for its format at the one place it is written out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::report::ReviewReport;
use super::scorecard::{MAX_POINTS, Score};
use crate::calendar::{civil_date, iso_date};

enum Block {
    Heading(u8, String),
    Para(String),
    Table(Vec<String>, Vec<Vec<String>>),
    List(Vec<String>),
}

fn time(ms: u64) -> String {
    let (y, m, d) = civil_date(ms);
    let minutes = (ms / 60_000) % (24 * 60);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn blocks(report: &ReviewReport, scores: &[Score]) -> Vec<Block> {
    let mut out = Vec::new();
    let period = &report.period;
    out.push(Block::Heading(
        1,
        format!(
            "Review report: {} ({}), {}",
            report.team_name, report.team, period.label
        ),
    ));
    out.push(Block::Para(format!(
        "Period {} to {} (UTC, {} review), report {}, produced {}.",
        iso_date(period.start_ms),
        iso_date(period.end_ms.saturating_sub(1)),
        period.cadence,
        report.id,
        time(report.generated_at_ms)
    )));

    out.push(Block::Heading(2, "Figures against targets".into()));
    let rows = report
        .figures
        .iter()
        .map(|f| {
            let (target, verdict) = match f.target {
                Some(t) if f.value >= t => (number(t), "met".to_owned()),
                Some(t) => (number(t), "BELOW TARGET".to_owned()),
                None => ("-".into(), String::new()),
            };
            vec![f.name.clone(), number(f.value), target, verdict]
        })
        .collect();
    out.push(Block::Table(
        ["figure", "value", "target", ""].map(String::from).to_vec(),
        rows,
    ));

    out.push(Block::Heading(2, "Trend".into()));
    let labels: Vec<String> = report
        .trend
        .first()
        .map(|t| t.earlier.iter().map(|(label, _)| label.clone()).collect())
        .unwrap_or_default();
    if labels.is_empty() {
        out.push(Block::Para("No earlier reports of this team yet.".into()));
    } else {
        let mut head = vec!["figure".to_owned()];
        head.extend(labels);
        head.push(period.label.clone());
        let rows = report
            .trend
            .iter()
            .zip(&report.figures)
            .map(|(t, f)| {
                let mut row = vec![t.name.clone()];
                row.extend(t.earlier.iter().map(|(_, v)| v.map_or("-".into(), number)));
                row.push(number(f.value));
                row
            })
            .collect();
        out.push(Block::Table(head, rows));
    }

    out.push(Block::Heading(2, "Top categories".into()));
    if report.categories.is_empty() {
        out.push(Block::Para("No tickets opened in the period.".into()));
    } else {
        let rows = report
            .categories
            .iter()
            .map(|(c, n)| vec![c.clone(), n.to_string()])
            .collect();
        out.push(Block::Table(
            vec!["category".into(), "tickets opened".into()],
            rows,
        ));
    }

    for (title, lines, when, empty) in [
        (
            "Escalations",
            &report.escalations,
            "escalated",
            "No ticket was escalated in the period.",
        ),
        (
            "Oldest open tickets",
            &report.oldest_open,
            "opened",
            "No open tickets.",
        ),
    ] {
        out.push(Block::Heading(2, title.into()));
        if lines.is_empty() {
            out.push(Block::Para(empty.into()));
            continue;
        }
        let rows = lines
            .iter()
            .map(|l| {
                vec![
                    l.ticket.clone(),
                    time(l.at_ms),
                    l.status.clone(),
                    l.tenant.clone(),
                    l.site.clone(),
                ]
            })
            .collect();
        out.push(Block::Table(
            ["ticket", when, "status now", "partner", "site"]
                .map(String::from)
                .to_vec(),
            rows,
        ));
    }

    out.push(Block::Heading(2, "Suggestions accepted".into()));
    if report.suggestions.is_empty() {
        out.push(Block::Para(
            "No suggestion was accepted in the period.".into(),
        ));
    } else {
        out.push(Block::List(
            report
                .suggestions
                .iter()
                .map(|s| {
                    format!(
                        "{} (article {}, from {}), accepted {}",
                        s.id,
                        if s.article.is_empty() {
                            "new"
                        } else {
                            &s.article
                        },
                        s.author_tenant,
                        time(s.accepted_at_ms)
                    )
                })
                .collect(),
        ));
    }

    quality(report, scores, &mut out);
    out
}

fn quality(report: &ReviewReport, scores: &[Score], out: &mut Vec<Block>) {
    let sample = &report.sample;
    let card = &report.scorecard;
    out.push(Block::Heading(2, "Quality sample".into()));
    out.push(Block::Para(format!(
        "Seed {} ({:#018x}); up to {} resolved or closed tickets per partner. Each criterion \
         scores 0 (no), 1 (partly) or {MAX_POINTS} (yes).",
        sample.seed, sample.seed, sample.size
    )));
    if sample.partners.is_empty() {
        out.push(Block::Para(
            "No partner resolved or closed a ticket of this team in the period.".into(),
        ));
        return;
    }
    if !card.is_empty() {
        out.push(Block::List(
            card.iter()
                .map(|c| format!("{}: {}", c.id, c.question))
                .collect(),
        ));
    }
    let by_ticket: BTreeMap<&str, &Score> = scores.iter().map(|s| (s.ticket.as_str(), s)).collect();

    out.push(Block::Heading(3, "Scores per partner and site".into()));
    let mut head = ["partner", "site", "closed", "sampled", "scored"]
        .map(String::from)
        .to_vec();
    head.extend(card.iter().map(|c| format!("{} (mean)", c.id)));
    let mut rows = Vec::new();
    for partner in &sample.partners {
        let mut sites: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for t in &partner.tickets {
            sites.entry(&t.site).or_default().push(&t.id);
        }
        for (site, tickets) in sites {
            let scored: Vec<&Score> = tickets
                .iter()
                .filter_map(|t| by_ticket.get(t).copied())
                .collect();
            let mut row = vec![
                partner.tenant.clone(),
                site.to_owned(),
                partner.closed.to_string(),
                tickets.len().to_string(),
                scored.len().to_string(),
            ];
            row.extend(card.iter().map(|c| {
                let points: Vec<u8> = scored
                    .iter()
                    .filter_map(|s| s.points.get(&c.id).copied())
                    .collect();
                if points.is_empty() {
                    "-".into()
                } else {
                    let sum: u32 = points.iter().map(|p| u32::from(*p)).sum();
                    format!("{:.1}", f64::from(sum) / points.len() as f64)
                }
            }));
            rows.push(row);
        }
    }
    out.push(Block::Table(head, rows));

    out.push(Block::Heading(3, "Sampled tickets".into()));
    let mut head = ["ticket", "partner", "site"].map(String::from).to_vec();
    head.extend(card.iter().map(|c| c.id.clone()));
    head.extend(["note", "scored by"].map(String::from));
    let mut rows = Vec::new();
    let mut unscored = Vec::new();
    for partner in &sample.partners {
        for t in &partner.tickets {
            let score = by_ticket.get(t.id.as_str());
            let mut row = vec![t.id.clone(), partner.tenant.clone(), t.site.clone()];
            row.extend(card.iter().map(|c| {
                score
                    .and_then(|s| s.points.get(&c.id))
                    .map_or("-".into(), u8::to_string)
            }));
            match score {
                Some(s) => {
                    row.push(s.note.clone().unwrap_or_default());
                    row.push(format!("{}, {}", s.by, time(s.at_ms)));
                }
                None => {
                    row.extend([String::new(), "unscored".into()]);
                    unscored.push(format!("{} ({}, {})", t.id, partner.tenant, t.site));
                }
            }
            rows.push(row);
        }
    }
    out.push(Block::Table(head, rows));
    out.push(Block::Heading(3, "Unscored".into()));
    if unscored.is_empty() {
        out.push(Block::Para("Every sampled ticket is scored.".into()));
    } else {
        out.push(Block::List(unscored));
    }
}

/// Markdown-escapes text: every character Markdown could read as syntax gets a backslash,
/// and line breaks become spaces (a table cell is one line).
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// HTML-escapes text for element content and quoted attributes.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report with its scores as Markdown.
pub fn markdown(report: &ReviewReport, scores: &[Score]) -> String {
    let mut out = String::new();
    for block in blocks(report, scores) {
        // Writing into a String cannot fail.
        let _ = match block {
            Block::Heading(level, text) => {
                writeln!(out, "{} {}\n", "#".repeat(usize::from(level)), md(&text))
            }
            Block::Para(text) => writeln!(out, "{}\n", md(&text)),
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(out, "- {}", md(&item));
                }
                writeln!(out)
            }
            Block::Table(head, rows) => {
                let line = |cells: &[String]| {
                    let cells: Vec<String> = cells.iter().map(|c| md(c)).collect();
                    format!("| {} |", cells.join(" | "))
                };
                let _ = writeln!(out, "{}", line(&head));
                let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                for row in rows {
                    let _ = writeln!(out, "{}", line(&row));
                }
                writeln!(out)
            }
        };
    }
    out
}

/// The report with its scores as a whole HTML page.
pub fn html(report: &ReviewReport, scores: &[Score]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}\
         table{{border-collapse:collapse;margin-bottom:1em}}\
         td,th{{border:1px solid #999;padding:.2em .5em;text-align:left}}</style></head><body>\n",
        html_escape(&format!("Review report {}", report.id))
    );
    out.push_str(&html_body(report, scores));
    out.push_str("</body></html>\n");
    out
}

/// The report with its scores as HTML blocks (headings, paragraphs, lists, tables; every
/// text escaped, no style), for embedding in another page such as the staff dashboard.
pub fn html_body(report: &ReviewReport, scores: &[Score]) -> String {
    let mut out = String::new();
    for block in blocks(report, scores) {
        let _ = match block {
            Block::Heading(level, text) => {
                writeln!(out, "<h{level}>{}</h{level}>", html_escape(&text))
            }
            Block::Para(text) => writeln!(out, "<p>{}</p>", html_escape(&text)),
            Block::List(items) => {
                let items: String = items
                    .iter()
                    .map(|i| format!("<li>{}</li>", html_escape(i)))
                    .collect();
                writeln!(out, "<ul>{items}</ul>")
            }
            Block::Table(head, rows) => {
                let cells = |tag: &str, row: &[String]| -> String {
                    row.iter()
                        .map(|c| format!("<{tag}>{}</{tag}>", html_escape(c)))
                        .collect()
                };
                let body: String = rows
                    .iter()
                    .map(|r| format!("<tr>{}</tr>", cells("td", r)))
                    .collect();
                writeln!(
                    out,
                    "<table><thead><tr>{}</tr></thead><tbody>{body}</tbody></table>",
                    cells("th", &head)
                )
            }
        };
    }
    out
}
