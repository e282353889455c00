//! The crash harness's final check: the guarantees, read from the stores of the stopped
//! processes, and the store's size against its live data.

use std::collections::BTreeMap;
use std::time::Instant;

use hotline_adapter::replica::Replica;
use hotline_federation::EntityKind;
use hotline_gateway::config::GatewayConfig;
use hotline_gateway::state::GatewayState;
use hotline_tests::harness::tickets_by_customer;

use super::{Ledger, Site};

/// Bytes of every file under `dir` (0 when there is no such directory: a gateway on
/// PostgreSQL whose audit key lives elsewhere writes nothing into its own).
fn disk_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    if !dir.exists() {
        return Ok(0);
    }
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            disk_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// The guarantees, read from the stores of the stopped processes.
pub(super) async fn check(
    config: &GatewayConfig,
    sites: &[Site],
    ledger: &Ledger,
) -> anyhow::Result<()> {
    let disk = disk_bytes(&config.data_dir)?;
    let opening = Instant::now();
    let state = GatewayState::open(config.clone()).await?;
    let open_time = opening.elapsed();
    // The live data: every key and value the store holds (entities, log, dedupe, audit, ...).
    let live = hotline_gateway::store::live_bytes(state.store.as_ref())?;
    // After the open too: an open may compact the store (redb, when more of it is free than used).
    let reopened = disk_bytes(&config.data_dir)?;
    if config.storage == "postgres" {
        // The data directory holds only the audit key; the database's files are the server's.
        println!(
            "[postgres] store: {live} live bytes (keys + values); reopened in {:.0} ms",
            open_time.as_secs_f64() * 1e3
        );
    } else {
        println!(
            "[{}] store: {disk} bytes on disk for {live} live bytes (keys + values), {:.1}x; reopened in {:.0} ms, then {reopened} bytes ({:.1}x)",
            config.storage,
            disk as f64 / live.max(1) as f64,
            open_time.as_secs_f64() * 1e3,
            reopened as f64 / live.max(1) as f64
        );
    }
    let mut views = BTreeMap::new();
    for tenant in ["inhouse", "twenty4help", "helpbycom"] {
        views.insert(tenant, state.view(tenant)?);
    }
    let trail = audit_entries(&state)?;
    state.close().await;
    drop(state);

    // Exactly once: each acknowledged request is one ticket, under the number the API gave.
    let by_customer = tickets_by_customer(&views["inhouse"]);
    for (customer, numbers) in &by_customer {
        anyhow::ensure!(
            numbers.len() == 1,
            "request {customer} became {} tickets: {numbers:?}",
            numbers.len()
        );
    }
    for (customer, number) in &ledger.tickets {
        anyhow::ensure!(
            by_customer.get(customer) == Some(&vec![number.clone()]),
            "acknowledged ticket {number} ({customer}) is missing at the gateway"
        );
    }
    // Built once: (tenant, ticket) -> how often each comment body is on it.
    let mut bodies = BTreeMap::<(&str, &str), BTreeMap<&str, usize>>::new();
    for (tenant, view) in &views {
        for entity in view.entities.values() {
            if entity.key.kind == EntityKind::Ticket {
                let counts = bodies.entry((tenant, entity.key.id.as_str())).or_default();
                for comment in entity.comments.values() {
                    *counts.entry(comment.value.body.as_str()).or_default() += 1;
                }
            }
        }
    }
    for (number, body, tenant) in &ledger.comments {
        let counts = bodies
            .get(&(*tenant, number.as_str()))
            .ok_or_else(|| anyhow::anyhow!("ticket {number} is missing for {tenant}"))?;
        let copies = counts.get(body.as_str()).copied().unwrap_or(0);
        anyhow::ensure!(
            copies == 1,
            "acknowledged comment {body:?} on {number} is there {copies} times"
        );
    }

    // Every site holds exactly what its tenant may see.
    for site in sites {
        let replica = Replica::open(
            &site.data_dir,
            site.id,
            site.tenant,
            hotline_federation::clock::DEFAULT_MAX_SKEW_MS,
        )?;
        // Every receipt the site holds names the audit entry of that very change.
        for (origin_seq, receipt) in replica.receipts()? {
            let entry = trail.get(&receipt.seq).ok_or_else(|| {
                anyhow::anyhow!(
                    "site {} holds a receipt for entry {} the trail lacks",
                    site.id,
                    receipt.seq
                )
            })?;
            anyhow::ensure!(
                entry.hash == receipt.hash && names_change(entry, site.id, origin_seq),
                "site {}'s receipt for change {origin_seq} does not match audit entry {}",
                site.id,
                receipt.seq
            );
        }
        let snapshot = replica.snapshot()?;
        let view = &views[site.tenant];
        if snapshot.canonical_hash() != view.canonical_hash() {
            let differing: Vec<_> = view
                .entities
                .keys()
                .chain(snapshot.entities.keys())
                .filter(|k| view.entities.get(k) != snapshot.entities.get(k))
                .take(5)
                .collect();
            anyhow::bail!(
                "site {} differs from the gateway's view for {} ({} vs {} entities), e.g. {differing:?}",
                site.id,
                site.tenant,
                snapshot.entities.len(),
                view.entities.len()
            );
        }
    }
    Ok(())
}

/// Whether an audit entry records the acceptance of `site`'s change `origin_seq`.
fn names_change(entry: &hotline_federation::audit::Entry, site: &str, origin_seq: u64) -> bool {
    let detail: serde_json::Value =
        serde_json::from_str(&entry.record.detail_json).unwrap_or_default();
    entry.record.action == "push.accepted"
        && detail["origin_site"] == site
        && detail["origin_seq"] == origin_seq
}

/// The gateway's audit trail after the kills: it verifies, and every change the log accepted
/// from a site (each dedupe entry) has its `push.accepted` entry, named by the receipt kept
/// with it. The trail by position.
fn audit_entries(
    state: &GatewayState,
) -> anyhow::Result<BTreeMap<u64, hotline_federation::audit::Entry>> {
    use hotline_gateway::store::keys;
    let store = state.store.as_ref();
    let verdict = hotline_gateway::audit::verify_store(store, &state.audit_key.public)?;
    anyhow::ensure!(
        verdict.broken.is_none(),
        "the audit trail does not verify after the kills: {:?}",
        verdict.broken
    );
    let mut trail = BTreeMap::new();
    for entry in hotline_gateway::audit::read_entries(store, 0, usize::MAX)? {
        let entry = entry.map_err(|seq| anyhow::anyhow!("audit entry {seq} does not decode"))?;
        trail.insert(entry.seq, entry);
    }
    let (start, end) = keys::prefix_range(keys::DEDUPE);
    let mut accepted = 0;
    for (key, value) in store.range(&start, &end, usize::MAX)? {
        let (site, origin_seq) =
            keys::parse_dedupe(&key).ok_or_else(|| anyhow::anyhow!("bad dedupe key"))?;
        if site == hotline_gateway::writer::GATEWAY_SITE {
            continue;
        }
        let (_, _, receipt) =
            keys::decode_dedupe(&value).ok_or_else(|| anyhow::anyhow!("bad dedupe entry"))?;
        let (seq, hash) = receipt.ok_or_else(|| {
            anyhow::anyhow!("accepted change {origin_seq} of {site} has no audit receipt")
        })?;
        let entry = trail.get(&seq).ok_or_else(|| {
            anyhow::anyhow!("accepted change {origin_seq} of {site} lacks its audit entry {seq}")
        })?;
        anyhow::ensure!(
            entry.hash == hash && names_change(entry, site, origin_seq),
            "audit entry {seq} does not record change {origin_seq} of {site}"
        );
        accepted += 1;
    }
    println!(
        "audit trail: {} entries, {accepted} accepted site changes each with its entry",
        trail.len()
    );
    Ok(trail)
}
