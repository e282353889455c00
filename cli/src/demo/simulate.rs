//! A simulated day at the hotline: calls arrive as a Poisson process over 24 hours, are routed
//! to a focus team and a site that handles it (weighted by agents), and go through the sites'
//! real APIs: ACD call events, a knowledge search for what the caller said (a call is far more
//! often solved at once when the agent finds the answer), tickets, public comments to the
//! customer through the leak guard (a careless one that names the partner or site is refused
//! and rewritten), escalations to in-house, and some minutes in which one site is offline.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::federation::{Federation, SITES, TEAMS};
use super::knowledge::{CallerQuery, agent_finds};
use super::random::Random;

const DAY_MS: f64 = 24.0 * 3600.0 * 1000.0;
/// Mean wait before an advisor answers, in seconds.
const MEAN_WAIT_S: f64 = 12.0;

/// What the simulation did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Calls offered.
    pub calls: usize,
    /// Calls answered.
    pub answered: usize,
    /// Calls answered within 25 s.
    pub answered_in_time: usize,
    /// Calls abandoned.
    pub abandoned: usize,
    /// Tickets created, by site.
    pub tickets_by_site: BTreeMap<String, usize>,
    /// Tickets solved in the first contact.
    pub first_contact: usize,
    /// Tickets escalated to in-house (and resolved there).
    pub escalated: usize,
    /// Tickets the offline site created while its link was cut.
    pub offline_tickets: usize,
    /// Time from a ticket's creation at one site until another site could read it, ms.
    pub propagation_ms: Vec<u64>,
    /// Knowledge searches the agents ran (one per answered call).
    pub searches: usize,
    /// Searches with an answering article among the first three hits.
    pub search_hits: usize,
    /// Public comments written to customers.
    pub public_comments: usize,
    /// Public comments the leak guard refused (then rewritten without the name).
    pub leak_refusals: usize,
    /// A ticket and its access code, for the status page.
    pub sample: Option<(String, String)>,
    /// Articles in the starter knowledge base.
    pub articles: usize,
    /// When the simulated day began (ms); it ends when the last call was taken.
    pub day_start_ms: u64,
}

/// Mean seconds an advisor talks with a caller.
const MEAN_TALK_S: f64 = 310.0;
/// Mean seconds of after-call work (wrap-up).
const MEAN_WRAP_S: f64 = 65.0;

/// The share of callers whose problem no article covers.
const UNCOVERED_SHARE: f64 = 0.12;

/// Problems callers bring that the starter knowledge base does not cover: no answer counts as
/// found for them, whatever the search returns.
fn uncovered_problems() -> Vec<CallerQuery> {
    let problem = |text: &str, language: &str| CallerQuery {
        text: text.into(),
        language: language.into(),
        relevant: Vec::new(),
    };
    vec![
        problem(
            "Die Kaffeemaschine im dritten Stock zeigt einen Fehler",
            "de",
        ),
        problem("Mein Parkausweis oeffnet die Schranke nicht", "de"),
        problem("Der Beamer im Besprechungsraum hat kein Bild", "de"),
        problem("The badge reader at gate 4 rejects my card", "en"),
        problem("The canteen payment terminal is offline", "en"),
        problem("Our plotter for large drawings jams", "en"),
    ]
}

/// How likely a call is solved in the first contact, with and without an answer found.
const SOLVED_WITH_ANSWER: f64 = 0.85;
const SOLVED_WITHOUT_ANSWER: f64 = 0.30;

/// What an agent tells the customer, and the careless versions that name the partner or site.
fn public_comment(language: &str, careless: Option<&str>) -> String {
    match (language, careless) {
        ("de", None) => {
            "Wir haben Ihr Anliegen aufgenommen und melden uns, sobald es geloest ist.".into()
        }
        ("de", Some(name)) => format!("Ihr Anliegen wird von unserem Team in {name} bearbeitet."),
        (_, None) => {
            "We have recorded your request and will get back to you once it is solved.".into()
        }
        (_, Some(name)) => format!("Your request is being handled by our team at {name}."),
    }
}

/// The names a careless agent at `site` might write: its tenant's and its site's.
fn careless_name(site: &str, pick: usize) -> &'static str {
    let names: &[&str] = match site {
        "dortmund" => &["Dortmund", "Twenty 4 Help", "twenty4help"],
        "goerlitz" => &["Goerlitz", "Twenty4Help GmbH"],
        "erfurt" => &["Erfurt", "Help-By-Com"],
        _ => &["Muenchen"],
    };
    names[pick % names.len()]
}

fn number_of(ticket: &Value) -> String {
    ticket["number"].as_str().unwrap_or_default().to_owned()
}

/// Polls `site` until `ready` holds for the ticket (at most 30 s); returns the time it took.
async fn wait_for(
    fed: &Federation,
    site: &str,
    number: &str,
    ready: impl Fn(&Value) -> bool,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let api = &fed.site(site).api;
    loop {
        let (status, ticket) = api
            .call("GET", &format!("/v1/tickets/{number}"), &Value::Null)
            .await?;
        if status == 200 && ready(&ticket) {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "{number} did not reach {site} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs `calls` calls through the federation; `offline` names the site whose link is cut for
/// the calls between 40% and 55% of the day. `progress` is told after each call.
pub async fn simulate(
    fed: &Federation,
    calls: usize,
    offline: &str,
    queries: &[CallerQuery],
    rng: &mut Random,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome {
        calls,
        ..Outcome::default()
    };
    let day_start = hotline_adapter::sync::now_ms().saturating_sub(DAY_MS as u64);
    outcome.day_start_ms = day_start;
    let (cut_at, restore_at) = (calls * 40 / 100, calls * 55 / 100);
    let mut offline_now = false;
    let mut escalations = Vec::new();
    let uncovered = uncovered_problems();
    let mut t = 0.0;
    for call in 0..calls {
        if call == cut_at {
            if let Some(link) = &fed.site(offline).link {
                link.cut();
                offline_now = true;
            }
        }
        if call == restore_at {
            if let Some(link) = &fed.site(offline).link {
                link.restore();
                offline_now = false;
            }
        }
        t += rng.exponential(DAY_MS / calls as f64);
        let at_ms = day_start + t.min(DAY_MS) as u64;
        let team = &TEAMS[rng.weighted(&TEAMS.iter().map(|t| t.share).collect::<Vec<_>>())];
        let sites: Vec<_> = SITES
            .iter()
            .filter(|(_, tenant, _)| team.handlers.contains(tenant))
            .collect();
        let site_id: &str =
            sites[rng.weighted(&sites.iter().map(|s| f64::from(s.2)).collect::<Vec<_>>())].0;
        let api = &fed.site(site_id).api;
        // One id per call: the ACD reports the call when offered and again with how it ended,
        // and the later report replaces the earlier one, so each call counts once.
        let id = format!("call-{call:06}");
        let event = |outcome: &str, wait: u32, ticket: Option<&str>, talk: u32, wrap: u32| json!({ "id": id, "outcome": outcome, "wait_seconds": wait, "at_ms": at_ms, "focus_team": team.id, "ticket_number": ticket, "talk_seconds": talk, "wrap_seconds": wrap });
        api.expect(
            "POST",
            "/v1/call-events",
            &event("offered", 0, None, 0, 0),
            201,
        )
        .await?;
        let wait = rng.exponential(MEAN_WAIT_S);
        if wait > 90.0 || rng.chance(0.04) {
            api.expect(
                "POST",
                "/v1/call-events",
                &event("abandoned", wait as u32, None, 0, 0),
                201,
            )
            .await?;
            outcome.abandoned += 1;
            progress(call + 1);
            continue;
        }
        // The agent searches the site's knowledge base for what the caller says; some callers
        // bring problems no article covers yet.
        let said = if rng.chance(UNCOVERED_SHARE) {
            &uncovered[rng.weighted(&vec![1.0; uncovered.len()])]
        } else {
            &queries[rng.weighted(&vec![1.0; queries.len()])]
        };
        let found = agent_finds(fed, site_id, said).await?;
        outcome.searches += 1;
        outcome.search_hits += usize::from(found);
        let solved = rng.chance(if found {
            SOLVED_WITH_ANSWER
        } else {
            SOLVED_WITHOUT_ANSWER
        });
        let category = ["vpn", "password-reset", "printer", "sap-access", "mail"][call % 5];
        let ticket = api
            .expect(
                "POST",
                "/v1/tickets",
                &json!({
                    "customer_ref": format!("E-{:06}", 100_000 + call),
                    "focus_team": team.id,
                    "category": category,
                    "status": if solved { "resolved" } else { "in_progress" },
                    "subject": format!("call {call} for {}", team.name),
                    "customer_name": format!("Customer {call}"),
                    "first_contact": solved,
                    "language": said.language,
                }),
                201,
            )
            .await?;
        let number = number_of(&ticket);
        // An IT hotline call: about five minutes' talk, one minute's wrap-up, never instant.
        let talk = (30.0 + rng.exponential(MEAN_TALK_S - 30.0)).min(3600.0) as u32;
        let wrap = (10.0 + rng.exponential(MEAN_WRAP_S - 10.0)).min(900.0) as u32;
        if outcome.sample.is_none() && site_id != "munich" {
            let code = ticket["access_code"].as_str().unwrap_or_default();
            outcome.sample = Some((number.clone(), code.to_owned()));
        }
        if rng.chance(0.3) {
            // One public comment to the customer; a careless one is refused and rewritten.
            let path = format!("/v1/tickets/{number}/comments");
            // Every twelfth comment an agent writes carelessly names the partner or the site.
            let careless =
                (outcome.public_comments % 12 == 5).then(|| careless_name(site_id, call));
            let comment = |body: String| json!({"author_alias": format!("Agent {}", call % 17), "visibility": "public", "body": body});
            let (status, answer) = api
                .call(
                    "POST",
                    &path,
                    &comment(public_comment(&said.language, careless)),
                )
                .await?;
            if status == 422 && answer["rule"] == "customer_text_clean" {
                outcome.leak_refusals += 1;
                api.expect(
                    "POST",
                    &path,
                    &comment(public_comment(&said.language, None)),
                    201,
                )
                .await?;
            } else {
                anyhow::ensure!(status == 201, "POST {path}: {status} {answer}");
            }
            outcome.public_comments += 1;
        }
        api.expect(
            "POST",
            "/v1/call-events",
            &event("answered", wait as u32, Some(&number), talk, wrap),
            201,
        )
        .await?;
        outcome.answered += 1;
        outcome.answered_in_time += usize::from(wait <= 25.0);
        outcome.first_contact += usize::from(solved);
        *outcome
            .tickets_by_site
            .entry(site_id.to_owned())
            .or_default() += 1;
        if offline_now && site_id == offline {
            outcome.offline_tickets += 1;
        }
        if !solved && site_id != "munich" && rng.chance(0.25) {
            api.expect(
                "PATCH",
                &format!("/v1/tickets/{number}"),
                &json!({ "status": "escalated" }),
                200,
            )
            .await?;
            escalations.push(number.clone());
        }
        // Sample propagation: how long until another site can read the new ticket.
        let observer = if site_id == "munich" {
            sites
                .iter()
                .map(|s| s.0)
                .find(|s| *s != "munich" && !(offline_now && *s == offline))
        } else {
            Some("munich")
        };
        let link_up = !(offline_now && site_id == offline);
        if call % 20 == 0 && link_up {
            if let Some(observer) = observer {
                let took = wait_for(fed, observer, &number, |_| true).await?;
                outcome.propagation_ms.push(took.as_millis() as u64);
            }
        }
        progress(call + 1);
    }
    if offline_now {
        if let Some(link) = &fed.site(offline).link {
            link.restore();
        }
    }
    // The in-house second level takes every escalation and resolves it.
    for number in &escalations {
        wait_for(fed, "munich", number, |t| t["status"] == "escalated").await?;
        let path = format!("/v1/tickets/{number}");
        fed.site("munich")
            .api
            .expect("PATCH", &path, &json!({ "status": "resolved" }), 200)
            .await?;
    }
    outcome.escalated = escalations.len();
    Ok(outcome)
}
