//! Service figures on the gateway: reads call logs, tickets, focus team policies (the targets)
//! and the registry (site -> tenant) from the store, and hands them to the pure arithmetic in
//! [`hotline_federation::service`], tickets one at a time as their heads are read.
//! Blocking (store reads): call it off the async runtime.

use std::collections::BTreeMap;

use hotline_federation::calendar::{Period, iso_date};
use hotline_federation::model::{CallEvent, EntityKind, FieldValue, PolicyField};
use hotline_federation::service::{
    FigureCounter, FigureQuery, FigureRow, ServiceInput, Targets, TicketFacts,
};

use crate::error::{Error, Result};
use crate::state::GatewayState;
use crate::store::entities;

/// Heads read at a time while the figures pass over every ticket and call log.
const HEAD_CHUNK: usize = 512;

/// The figures `query` asks for, over everything the gateway holds. The caller decides what
/// the asker may read (`query.tenant`).
pub fn service_figures(state: &GatewayState, query: &FigureQuery) -> Result<Vec<FigureRow>> {
    let mut rows = figures_of(state, std::slice::from_ref(query))?;
    Ok(rows.pop().unwrap_or_default())
}

/// The figures of several queries over one period (the dashboard's one query per focus team),
/// from one pass over the store. Tickets are read as heads a chunk at a time and counted as
/// they come, so the memory this takes is a chunk of heads plus the rows, whatever the number
/// of tickets stored (BENCHMARKS.md, "How cost grows": at 900,000 tickets holding them whole
/// took the gateway to 8 GiB every minute).
pub fn figures_of(state: &GatewayState, queries: &[FigureQuery]) -> Result<Vec<Vec<FigureRow>>> {
    count(state, queries, Tickets::Counted)
}

/// The figures of `queries` (one period) from the call logs alone: what the calls decide
/// (offered, answered, answered within the target, so the service level) is right; whatever
/// tickets decide stays zero, and a group with tickets but no calls has no row. Its cost
/// follows the period's call logs, not the tickets stored: the metrics gauges refresh the
/// service level from it every minute, which a pass over every ticket made take most of a
/// core at 1M tickets (BENCHMARKS.md, "What took the cores at 1M").
pub fn call_figures_of(
    state: &GatewayState,
    queries: &[FigureQuery],
) -> Result<Vec<Vec<FigureRow>>> {
    count(state, queries, Tickets::Skipped)
}

/// Whether a figures pass reads the tickets.
#[derive(Clone, Copy, PartialEq)]
enum Tickets {
    Counted,
    Skipped,
}

/// The figures of `queries`, which share a period; the tickets' heads read and counted when
/// `tickets` says so.
fn count(
    state: &GatewayState,
    queries: &[FigureQuery],
    tickets: Tickets,
) -> Result<Vec<Vec<FigureRow>>> {
    let Some(first) = queries.first() else {
        return Ok(Vec::new());
    };
    if let Some(other) = queries.iter().find(|q| q.period != first.period) {
        return Err(Error::InvalidArgument(format!(
            "figures of one pass must share a period: {} and {}",
            first.period, other.period
        )));
    }
    let context = context_of(state)?;
    let mut counters = queries
        .iter()
        .map(|query| FigureCounter::new(&context, query))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    for_each_call(state, std::slice::from_ref(&first.period), |_, call| {
        for counter in &mut counters {
            counter.add_call(call);
        }
    })?;
    if tickets == Tickets::Counted {
        let store = state.store.as_ref();
        entities::for_each_head(store, EntityKind::Ticket, HEAD_CHUNK, |head| {
            if let Some(facts) = TicketFacts::from_state(&head) {
                for counter in &mut counters {
                    counter.add_ticket(&facts);
                }
            }
            Ok(())
        })?;
    }
    Ok(counters.into_iter().map(FigureCounter::finish).collect())
}

/// What figures need besides the calls and the tickets: the registry (site -> tenant) and the
/// policies' targets (`calls` and `tickets` stay empty).
pub fn context_of(state: &GatewayState) -> Result<ServiceInput> {
    let site_tenants = state
        .shared
        .registry()
        .sites
        .iter()
        .map(|(id, site)| (id.clone(), site.tenant.clone()))
        .collect();
    let teams = entities::scan(state.store.as_ref(), EntityKind::Policy)?
        .into_iter()
        .filter(|p| p.deleted.is_none())
        .map(|policy| (policy.key.id.clone(), targets(&policy)))
        .collect::<BTreeMap<_, _>>();
    Ok(ServiceInput {
        site_tenants,
        teams,
        ..ServiceInput::default()
    })
}

/// Hands every call event of the days of `periods` to `each`, with the index of each period
/// whose days hold its call log: one pass over the call logs' heads for all the periods, then
/// one read of each log in any of them, so what this holds is one site's day of calls.
pub fn for_each_call(
    state: &GatewayState,
    periods: &[Period],
    mut each: impl FnMut(usize, &CallEvent),
) -> Result<()> {
    let days: Vec<(String, String)> = periods
        .iter()
        .map(|p| (iso_date(p.start_ms), iso_date(p.end_ms() - 1)))
        .collect();
    let store = state.store.as_ref();
    // Call logs are `<site>.<yyyy-mm-dd>`: the heads tell the days, and only the periods'
    // days are read whole (with their call events).
    let mut logs = Vec::new();
    entities::for_each_head(store, EntityKind::CallLog, HEAD_CHUNK, |head| {
        let day = head.key.id.rsplit_once('.').map_or("", |(_, day)| day);
        let of: Vec<usize> = (0..days.len())
            .filter(|&i| day >= days[i].0.as_str() && day <= days[i].1.as_str())
            .collect();
        if head.deleted.is_none() && !of.is_empty() {
            logs.push((head.key, of));
        }
        Ok(())
    })?;
    for (key, of) in logs {
        // Deleted since its head was read: counted for nothing, as the head pass would.
        if let Some(log) = entities::read(store, &key)?.filter(|l| l.deleted.is_none()) {
            for event in log.call_events.values() {
                for &period in &of {
                    each(period, &event.value);
                }
            }
        }
    }
    Ok(())
}

/// A policy's targets; fields not written keep the defaults.
fn targets(policy: &hotline_federation::EntityState) -> Targets {
    let mut targets = Targets::default();
    for register in policy.registers.values() {
        match register.winner.value {
            FieldValue::Policy(PolicyField::SlaAnswerSeconds(s)) => targets.answer_seconds = s,
            FieldValue::Policy(PolicyField::SlaTargetPercent(p)) => {
                targets.service_level_percent = p;
            }
            FieldValue::Policy(PolicyField::FcrTargetPercent(p)) => {
                targets.first_contact_percent = p;
            }
            _ => {}
        }
    }
    targets
}
