//! Finding a ticket by public number and access code, so that a wrong code, a missing ticket, a
//! deleted ticket and a malformed number are one answer: every attempt reads the store (unless
//! the number cannot be one), runs exactly one [`access::verify`] (against [`access::DECOY`]
//! when there is no stored code) and counts a failure against the typed number. Rate limits
//! come first and answer alike for existing and missing tickets. Every look-up, limited ones
//! too, is answered no sooner than `web.answer_floor_ms` after it arrived, so the time an
//! answer takes does not tell either.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_federation::EntityState;
use hotline_federation::access;
use hotline_federation::ids::PublicNumber;
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};

use super::limits::{WindowLimit, ticket_key};
use crate::config::WebConfig;
use crate::state::GatewayState;

/// The answer to one attempt.
#[derive(Debug)]
pub(super) enum Lookup {
    /// The code is right: the ticket as stored.
    Found(Box<EntityState>),
    /// Wrong code, missing, deleted or malformed: all the same.
    NotFound,
    /// Over a rate limit.
    Limited,
    /// The store could not be read.
    Unavailable,
}

/// The rate limits of the status page.
#[derive(Debug)]
pub(super) struct Limits {
    clients: WindowLimit,
    tickets: WindowLimit,
}

impl Limits {
    /// The limits `config` sets.
    pub(super) fn new(config: &WebConfig) -> Self {
        Limits {
            clients: WindowLimit::new(
                config.attempts_per_client_per_minute,
                Duration::from_secs(60),
                config.max_tracked,
            ),
            tickets: WindowLimit::new(
                config.failures_per_ticket_per_15_minutes,
                Duration::from_secs(15 * 60),
                config.max_tracked,
            ),
        }
    }
}

/// Looks `number` up for `client` with the code `code` as typed.
pub(super) async fn look_up(
    state: &Arc<GatewayState>,
    limits: &Limits,
    client: &str,
    number: &str,
    code: &str,
    floor: Duration,
) -> Lookup {
    let started = tokio::time::Instant::now();
    let now = Instant::now();
    let key = ticket_key(number);
    // The attempt is counted against the ticket before the check runs and given back when
    // the code is right: counting only after the answer would let many attempts sent at once
    // all pass the limit before the first of them counts.
    if !limits.clients.hit(client, now) || !limits.tickets.hit(&key, now) {
        tokio::time::sleep_until(started + floor).await;
        return counted(state, Lookup::Limited);
    }
    let (state_, typed, number_key) = (state.clone(), code.to_owned(), key.clone());
    // The store read and the hash run on the blocking pool: a sled read must not block the
    // runtime, and the hash costs the same for every answer.
    let checked = tokio::task::spawn_blocking(move || {
        let ticket = stored_ticket(&state_, &number_key)?;
        let stored = ticket.as_ref().and_then(stored_code);
        let form = stored.as_deref().unwrap_or(access::DECOY);
        let right = access::verify(form, &typed);
        let result = match (&ticket, right && stored.is_some()) {
            (None, _) => "missing",
            (Some(_), false) => "wrong",
            (Some(_), true) => "right",
        };
        let subject = PublicNumber::parse("number", &number_key)
            .map(|n| format!("ticket/{n}"))
            .unwrap_or_else(|_| "ticket/(malformed number)".into());
        Ok::<_, crate::error::Error>((
            ticket.filter(|_| right && stored.is_some()),
            result,
            subject,
        ))
    })
    .await;
    // Every answered look-up is in the audit trail (right, wrong or missing; never the code),
    // recorded before the answer floor so the time it takes does not tell either.
    let checked = match checked {
        Ok(Ok((ticket, result, subject))) => {
            let detail = serde_json::json!({ "result": result });
            let recorded = crate::audit::record(
                state,
                hotline_federation::customer::CUSTOMER_ALIAS.into(),
                "status_page.lookup",
                &subject,
                detail,
            )
            .await;
            match recorded {
                Ok(_) => Ok(Ok(ticket)),
                Err(error) => Ok(Err(error)),
            }
        }
        Ok(Err(error)) => Ok(Err(error)),
        Err(error) => Err(error),
    };
    tokio::time::sleep_until(started + floor).await;
    let answer = match checked {
        Ok(Ok(Some(ticket))) => {
            limits.tickets.refund(&key);
            Lookup::Found(Box::new(ticket))
        }
        Ok(Ok(None)) => Lookup::NotFound,
        Ok(Err(error)) => {
            tracing::error!(%error, "status page cannot read the store");
            Lookup::Unavailable
        }
        Err(error) => {
            tracing::error!(%error, "status page look-up task failed");
            Lookup::Unavailable
        }
    };
    counted(state, answer)
}

/// `answer`, counted in the status page's look-ups by outcome.
fn counted(state: &GatewayState, answer: Lookup) -> Lookup {
    let outcome = match &answer {
        Lookup::Found(_) => "found",
        Lookup::NotFound => "not_found",
        Lookup::Limited => "limited",
        Lookup::Unavailable => "unavailable",
    };
    state.shared.metrics.count_lookup(outcome);
    answer
}

/// The live ticket stored under `number` (upper-cased, trimmed), if it is one.
fn stored_ticket(state: &GatewayState, number: &str) -> crate::error::Result<Option<EntityState>> {
    let Ok(parsed) = PublicNumber::parse("number", number) else {
        return Ok(None);
    };
    let ticket = state.entity(&EntityKey::new(EntityKind::Ticket, parsed.to_string()))?;
    Ok(Some(ticket).filter(|t| !t.is_empty() && t.deleted.is_none()))
}

/// The stored form of the ticket's access code, if it has one.
fn stored_code(ticket: &EntityState) -> Option<String> {
    match ticket.value("access_code") {
        Some(FieldValue::Ticket(TicketField::AccessCode(stored))) => Some(stored.clone()),
        _ => None,
    }
}
