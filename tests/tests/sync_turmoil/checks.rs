//! What a converged run must show: every accepted change at the gateway exactly once and
//! reflected in its state, empty outboxes, no refusals, and replicas equal to their tenant's
//! view.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use hotline_federation::{Change, EntityState, FieldOp};
use hotline_gateway::state::GatewayState;
use hotline_gateway::store::memory::MemoryStore;
use hotline_gateway::store::{Store, entities, keys};
use hotline_proto::v1 as pb;

use super::SITES;
use super::hosts::SiteRun;

/// True when every site is done writing, every outbox is empty and every replica equals the
/// gateway's view for its tenant.
pub(crate) fn quiet(gateway: &GatewayState, sites: &[SiteRun]) -> anyhow::Result<bool> {
    for run in sites {
        if !run.done.load(Ordering::SeqCst) || run.replica.outbox_depth() > 0 {
            return Ok(false);
        }
        if run.replica.snapshot()?.canonical_hash() != gateway.view(run.tenant)?.canonical_hash() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The checks of a converged run; each failure says what was lost, doubled or different.
pub(crate) fn check(gateway: &GatewayState, store: &MemoryStore, sites: &[SiteRun]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut log: BTreeMap<(String, u64), Vec<Change>> = BTreeMap::new();
    let (start, end) = (keys::log(0), keys::log(u64::MAX));
    match store.range(&start, &end, usize::MAX) {
        Ok(entries) => {
            for (_, raw) in entries {
                match hotline_gateway::log::decode_record(&raw) {
                    Ok((change, _)) => log
                        .entry((change.origin_site.clone(), change.origin_seq))
                        .or_default()
                        .push(change),
                    Err(e) => problems.push(format!("unreadable log record: {e}")),
                }
            }
        }
        Err(e) => problems.push(format!("cannot read the gateway log: {e}")),
    }
    let mut made = BTreeSet::new();
    for run in sites {
        // Two sites moving one ticket's status on from the same status: the gateway takes the
        // first and refuses the other as a conflict, which its site parks (issue 12, hole 9).
        let conflicts: BTreeSet<u64> = run
            .replica
            .parked()
            .unwrap_or_default()
            .iter()
            .filter(|p| p.reason == pb::RejectReason::Conflict as i32)
            .filter_map(|p| p.change.as_ref().map(|c| c.origin_seq))
            .collect();
        for change in run.accepted.lock().unwrap().iter() {
            let id = (change.origin_site.clone(), change.origin_seq);
            made.insert(id.clone());
            if conflicts.contains(&change.origin_seq) {
                if log.contains_key(&id) {
                    problems.push(format!(
                        "{} change {} was refused as a conflict but is in the gateway log",
                        run.site, change.origin_seq
                    ));
                }
                continue;
            }
            match log.get(&id).map(Vec::as_slice) {
                None | Some([]) => problems.push(format!(
                    "{} change {} ({}) is missing at the gateway",
                    run.site, change.origin_seq, change.key
                )),
                Some([stored]) if stored == change => {}
                Some([stored]) => problems.push(format!(
                    "{} change {} differs at the gateway: wrote {change:?}, stored {stored:?}",
                    run.site, change.origin_seq
                )),
                Some(many) => problems.push(format!(
                    "{} change {} is in the gateway log {} times",
                    run.site,
                    change.origin_seq,
                    many.len()
                )),
            }
            match entities::read(store, &change.key) {
                Ok(Some(state)) => {
                    if let Some(missing) = unreflected(&state, change) {
                        problems.push(format!(
                            "{} change {}: gateway state of {} does not reflect {missing}",
                            run.site, change.origin_seq, change.key
                        ));
                    }
                }
                Ok(None) => problems.push(format!(
                    "{} change {}: entity {} is missing at the gateway",
                    run.site, change.origin_seq, change.key
                )),
                Err(e) => problems.push(format!("cannot read entity {}: {e}", change.key)),
            }
        }
        if let Ok(parked) = run.replica.parked() {
            for p in parked
                .iter()
                .filter(|p| p.reason != pb::RejectReason::Conflict as i32)
            {
                problems.push(format!("{} parked a change: {}", run.site, p.message));
            }
        }
        if run.replica.outbox_depth() > 0 {
            problems.push(format!(
                "{} still has {} changes in its outbox",
                run.site,
                run.replica.outbox_depth()
            ));
        }
        match (run.replica.snapshot(), gateway.view(run.tenant)) {
            (Ok(replica), Ok(view)) if replica.canonical_hash() == view.canonical_hash() => {}
            (Ok(replica), Ok(view)) => {
                let keys: BTreeSet<_> = replica
                    .entities
                    .keys()
                    .chain(view.entities.keys())
                    .collect();
                let differing: Vec<String> = keys
                    .into_iter()
                    .filter(|k| replica.entities.get(*k) != view.entities.get(*k))
                    .map(|k| k.to_string())
                    .collect();
                problems.push(format!(
                    "{} ({}) differs from the gateway's view in {differing:?}",
                    run.site, run.tenant
                ));
            }
            (Err(e), _) => problems.push(format!("{}: cannot read the replica: {e}", run.site)),
            (_, Err(e)) => problems.push(format!("gateway view of {}: {e}", run.tenant)),
        }
    }
    for ((site, seq), _) in log {
        let from_a_site = SITES.iter().any(|(s, _, _)| *s == site);
        if from_a_site && !made.contains(&(site.clone(), seq)) {
            problems.push(format!(
                "the gateway log holds change {seq} of {site}, which no site made"
            ));
        }
    }
    problems
}

/// What of `change` the gateway's `state` fails to reflect: a comment it lacks, or a field
/// whose winning write is older than the change.
fn unreflected(state: &EntityState, change: &Change) -> Option<String> {
    let stamp = change.stamp();
    for op in &change.ops {
        match op {
            FieldOp::AddComment(comment) => match state.comments.get(&comment.id) {
                Some(stored) if stored.value == *comment => {}
                _ => return Some(format!("comment {}", comment.id)),
            },
            FieldOp::Set(value) => match state.registers.get(&value.register()) {
                Some(register) if register.winner.stamp >= stamp => {}
                _ => return Some(format!("field {}", value.register())),
            },
            FieldOp::AddCallEvent(_) | FieldOp::Delete { .. } => {}
        }
    }
    None
}

/// The gateway log in order, each site change named by its position among that site's
/// writes (origin sequences start at a floor taken from the real clock, so they differ between
/// runs).
pub(crate) fn gateway_log(store: &MemoryStore, sites: &[SiteRun]) -> Vec<(String, u64)> {
    let position: BTreeMap<(String, u64), u64> = sites
        .iter()
        .flat_map(|run| {
            let accepted = run.accepted.lock().unwrap();
            accepted
                .iter()
                .enumerate()
                .map(|(i, c)| ((c.origin_site.clone(), c.origin_seq), i as u64))
                .collect::<Vec<_>>()
        })
        .collect();
    store
        .range(&keys::log(0), &keys::log(u64::MAX), usize::MAX)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, raw)| hotline_gateway::log::decode_record(&raw).ok())
        .map(|(change, _)| {
            let id = (change.origin_site, change.origin_seq);
            let seq = position.get(&id).copied().unwrap_or(id.1);
            (id.0, seq)
        })
        .collect()
}
