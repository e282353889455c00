//! Service figures on the gateway: reads call logs, tickets, focus team policies (the targets)
//! and the registry (site -> tenant) from the store, and hands them to the pure arithmetic in
//! [`hotline_federation::service`]. Blocking (store reads): call it off the async runtime.

use std::collections::BTreeMap;

use hotline_federation::calendar::iso_date;
use hotline_federation::model::{EntityKind, FieldValue, PolicyField};
use hotline_federation::service::{
    FigureQuery, FigureRow, ServiceInput, Targets, TicketFacts, figures,
};

use crate::error::Result;
use crate::state::GatewayState;

/// The figures `query` asks for, over everything the gateway holds. The caller decides what
/// the asker may read (`query.tenant`).
pub fn service_figures(state: &GatewayState, query: &FigureQuery) -> Result<Vec<FigureRow>> {
    let input = service_input(state, query)?;
    Ok(figures(&input, query)?)
}

/// The facts the figures of `query`'s period need: the call logs of its days, every live
/// ticket, the policies' targets and the registry.
pub fn service_input(state: &GatewayState, query: &FigureQuery) -> Result<ServiceInput> {
    let first_day = iso_date(query.period.start_ms);
    let last_day = iso_date(query.period.end_ms() - 1);
    let mut input = ServiceInput {
        site_tenants: state
            .shared
            .registry()
            .sites
            .into_iter()
            .map(|(id, site)| (id, site.tenant))
            .collect(),
        ..ServiceInput::default()
    };
    for state in entities(state, EntityKind::CallLog)? {
        // Call logs are `<site>.<yyyy-mm-dd>`: only the period's days are read.
        let day = state.key.id.rsplit_once('.').map_or("", |(_, day)| day);
        if state.deleted.is_some() || day < first_day.as_str() || day > last_day.as_str() {
            continue;
        }
        input
            .calls
            .extend(state.call_events.into_values().map(|e| e.value));
    }
    input.tickets = entities(state, EntityKind::Ticket)?
        .iter()
        .filter_map(TicketFacts::from_state)
        .collect();
    input.teams = entities(state, EntityKind::Policy)?
        .into_iter()
        .filter(|p| p.deleted.is_none())
        .map(|policy| (policy.key.id.clone(), targets(&policy)))
        .collect::<BTreeMap<_, _>>();
    Ok(input)
}

/// Every stored entity of `kind`.
fn entities(
    state: &GatewayState,
    kind: EntityKind,
) -> Result<Vec<hotline_federation::EntityState>> {
    crate::store::entities::scan(state.store.as_ref(), kind)
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
