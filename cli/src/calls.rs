//! `hotline import calls FILE`: call events of a site without an ACD integration, from a CSV
//! file, sent to the site's API in one import request. The whole file is checked first; every
//! bad row is reported as `FILE:LINE: what is wrong; what is allowed`, and nothing is sent when
//! any row is bad. Importing the same file again changes nothing (rows come back "unchanged").
//!
//! The columns, in this order, with a header row naming them:
//!
//! | column | value |
//! |---|---|
//! | `id` | unique id of the call in its day, e.g. `acd-000123` |
//! | `at` | when, RFC 3339 in UTC: `2026-07-14T09:15:00Z` |
//! | `outcome` | `offered`, `answered`, `abandoned` or `transferred` |
//! | `wait_seconds` | seconds waited, a whole number |
//! | `talk_seconds` | seconds talked, 0 to 86400 |
//! | `wrap_seconds` | seconds of after-call work, 0 to 86400 |
//! | `focus_team` | focus team id, or empty |
//! | `ticket_number` | public ticket number, or empty |

use std::net::ToSocketAddrs;
use std::path::Path;

use anyhow::Context;
use hotline_federation::calendar::days_from_civil;
use hotline_federation::change::{MAX_CALL_SECONDS, check_element_id};
use hotline_federation::ids::{PublicNumber, check_slug};
use hotline_federation::model::CallOutcome;
use serde_json::{Value, json};

use crate::site_api::SiteApi;

/// The header row the file must start with.
pub const HEADER: &str =
    "id,at,outcome,wait_seconds,talk_seconds,wrap_seconds,focus_team,ticket_number";

/// Reads `YYYY-MM-DDTHH:MM:SSZ` as ms since the Unix epoch.
fn parse_at(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let n = |from: usize, to: usize| -> Option<u32> {
        let part = &text[from..to];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (hour, minute, second) = (n(11, 13)?, n(14, 16)?, n(17, 19)?);
    let days_in_month = match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if year < 1970 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    Some(
        ((days * 24 + u64::from(hour)) * 60 + u64::from(minute)) * 60_000
            + u64::from(second) * 1000,
    )
}

/// One row as the import request sends it, or what is wrong with it.
fn parse_row(line: usize, text: &str) -> Result<Value, String> {
    let cells: Vec<&str> = text.split(',').map(str::trim).collect();
    if cells.len() != 8 {
        return Err(format!(
            "{} columns; allowed: exactly 8 ({HEADER}), no quoted commas",
            cells.len()
        ));
    }
    let id = cells[0];
    check_element_id("id", id).map_err(|e| format!("{e}; allowed: letters, digits, - _ ."))?;
    let at = parse_at(cells[1]).ok_or_else(|| {
        format!(
            "at {:?} is not a time; allowed: RFC 3339 in UTC like 2026-07-14T09:15:00Z",
            cells[1]
        )
    })?;
    let outcome = CallOutcome::parse("outcome", cells[2]).map_err(|e| e.to_string())?;
    let seconds = |name: &str, text: &str, max: u32| -> Result<u32, String> {
        text.parse::<u32>()
            .ok()
            .filter(|s| *s <= max)
            .ok_or_else(|| {
                format!("{name} {text:?} is not allowed; allowed: a whole number from 0 to {max}")
            })
    };
    let wait = seconds("wait_seconds", cells[3], u32::MAX)?;
    let talk = seconds("talk_seconds", cells[4], MAX_CALL_SECONDS)?;
    let wrap = seconds("wrap_seconds", cells[5], MAX_CALL_SECONDS)?;
    let team = (!cells[6].is_empty()).then_some(cells[6]);
    if let Some(team) = team {
        check_slug("focus_team", team).map_err(|e| format!("{e}; or leave it empty"))?;
    }
    let number = (!cells[7].is_empty()).then_some(cells[7]);
    if let Some(number) = number {
        PublicNumber::parse("ticket_number", number)
            .map_err(|e| format!("{e}; or leave it empty"))?;
    }
    Ok(json!({
        "line": line,
        "id": id,
        "at_ms": at,
        "outcome": outcome.as_str(),
        "wait_seconds": wait,
        "talk_seconds": talk,
        "wrap_seconds": wrap,
        "focus_team": team,
        "ticket_number": number,
    }))
}

/// The rows of the CSV `text` of `file`, or every problem as `FILE:LINE: message`.
pub fn read_calls(file: &Path, text: &str) -> Result<Vec<Value>, Vec<String>> {
    let shown = file.display();
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    match lines.next() {
        Some((_, header)) if header.trim() == HEADER => {}
        _ => {
            return Err(vec![format!(
                "{shown}:1: the header row is missing or wrong; allowed: {HEADER}"
            )]);
        }
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (line, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        match parse_row(line, text) {
            Ok(row) => rows.push(row),
            Err(problem) => problems.push(format!("{shown}:{line}: {problem}")),
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// Runs `hotline import calls`; the lines it prints are returned for the caller to show.
pub async fn import(file: &Path, site: &str, token: &str) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {} as UTF-8 text", file.display()))?;
    let rows = match read_calls(file, &text) {
        Ok(rows) => rows,
        Err(problems) => anyhow::bail!(
            "{}\n{} bad row(s); nothing was sent",
            problems.join("\n"),
            problems.len()
        ),
    };
    let addr = site
        .strip_prefix("http://")
        .unwrap_or(site)
        .trim_end_matches('/')
        .to_socket_addrs()
        .with_context(|| format!("--site {site:?} is not http://HOST:PORT"))?
        .next()
        .with_context(|| format!("--site {site:?}: the host has no address"))?;
    let api = SiteApi::new(addr, token);
    let (status, answer) = api
        .call("POST", "/v1/calls/import", &json!({ "rows": rows }))
        .await?;
    anyhow::ensure!(
        status == 200,
        "the site refused the import ({status} {}): {}",
        answer["code"].as_str().unwrap_or("?"),
        answer["message"].as_str().unwrap_or("")
    );
    Ok(vec![format!(
        "{} added, {} unchanged, call logs: {}",
        answer["added"],
        answer["unchanged"],
        answer["call_logs"]
            .as_array()
            .map(|l| l
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "))
            .unwrap_or_default()
    )])
}
