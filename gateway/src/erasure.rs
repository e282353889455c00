//! Erasure of a customer's personal data (issue 17, DESIGN.md section 8a), the gateway's
//! side: find the customer's tickets and the log entries about them (off the writer, a page
//! at a time), have the writer mark each ticket erased and rewrite its copies
//! ([`crate::writer::ErasureJob`]), and tell which sites have applied it since: a site whose
//! reported cursor reached the erasure's log position has erased its replica, outbox, dead
//! letters and webhook queue (the adapter does so when the marker arrives).
//!
//! The erasure record keeps a SHA-256 digest of the customer reference, never the reference.

use std::sync::Arc;

use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_proto::v1 as pb;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::health::site_health;
use crate::state::GatewayState;
use crate::store::{Pages, Store, entities, keys};
use crate::writer::ErasureJob;

/// Longest customer reference accepted, bytes.
const MAX_REF: usize = 200;
/// Longest reason accepted, bytes.
const MAX_REASON: usize = 500;
/// Log entries read per page of the scan.
const LOG_PAGE: usize = 1024;

/// The digest the erasure record keeps of a customer reference.
pub fn customer_digest(customer_ref: &str) -> String {
    hotline_federation::audit::hex(&Sha256::digest(customer_ref.as_bytes()))
}

/// Checks the request's fields: what was wrong and what is allowed.
fn check(customer_ref: &str, reason: &str) -> Result<()> {
    let one_line = |s: &str| !s.chars().any(char::is_control);
    if customer_ref.trim().is_empty() || customer_ref.len() > MAX_REF || !one_line(customer_ref) {
        return Err(Error::InvalidArgument(format!(
            "customer_ref: must be the reference on the customer's tickets, one line of 1 to \
             {MAX_REF} bytes"
        )));
    }
    if reason.trim().is_empty() || reason.len() > MAX_REASON || !one_line(reason) {
        return Err(Error::InvalidArgument(format!(
            "reason: must say why (e.g. the request's case number), one line of 1 to \
             {MAX_REASON} bytes, without the data it erases"
        )));
    }
    Ok(())
}

/// Erases every ticket of `customer_ref`, as `staff`; answers the stored erasure.
pub async fn erase_customer(
    state: &Arc<GatewayState>,
    staff: String,
    customer_ref: String,
    reason: String,
) -> Result<pb::Erasure> {
    check(&customer_ref, &reason)?;
    let reader = state.clone();
    let wanted = customer_ref.clone();
    let tickets = tokio::task::spawn_blocking(move || tickets_of(&reader, &wanted))
        .await
        .map_err(|e| Error::Unavailable(format!("erasure scan failed: {e}")))??;
    let record = pb::Erasure {
        customer_digest: customer_digest(&customer_ref),
        reason,
        erased_by: staff,
        ..pb::Erasure::default()
    };
    let mut erased = erase_tickets(state, Some(customer_ref), tickets, record, usize::MAX).await?;
    erased
        .pop()
        .ok_or_else(|| Error::Storage("the erasure answered no record".into()))
}

/// Erases `tickets` (of the customer `customer_ref`, checked again by the writer, or any for
/// the in-house retention), at most `batch` per writer group: finds the log entries about
/// them in one scan, has the writer erase each batch under `record`, and answers the stored
/// erasure records with the sites' progress.
pub async fn erase_tickets(
    state: &Arc<GatewayState>,
    customer_ref: Option<String>,
    tickets: Vec<EntityKey>,
    record: pb::Erasure,
    batch: usize,
) -> Result<Vec<pb::Erasure>> {
    let reader = state.clone();
    let scanned = tickets.clone();
    let (entries, scanned_to) =
        tokio::task::spawn_blocking(move || log_entries_of(&reader, &scanned))
            .await
            .map_err(|e| Error::Unavailable(format!("erasure scan failed: {e}")))??;
    let mut erasures = Vec::new();
    // A customer without tickets still gets its (empty) erasure on record.
    let chunks: Vec<&[EntityKey]> = if tickets.is_empty() {
        vec![&[]]
    } else {
        tickets.chunks(batch.max(1)).collect()
    };
    for chunk in chunks {
        let mine: std::collections::BTreeSet<&EntityKey> = chunk.iter().collect();
        let job = ErasureJob {
            record: record.clone(),
            customer_ref: customer_ref.clone(),
            tickets: chunk.to_vec(),
            log_seqs: entries
                .iter()
                .filter(|(_, key)| mine.contains(key))
                .map(|(seq, _)| *seq)
                .collect(),
            scanned_to,
        };
        let erasure = state.writer.erase(job).await?;
        erasures.push(with_progress(state, erasure));
    }
    Ok(erasures)
}

/// The tickets whose customer reference is `customer_ref`, from the ticket heads.
fn tickets_of(state: &GatewayState, customer_ref: &str) -> Result<Vec<EntityKey>> {
    let mut found = Vec::new();
    entities::for_each_head(state.store.as_ref(), EntityKind::Ticket, 512, |ticket| {
        if matches!(
            ticket.value("customer_ref"),
            Some(FieldValue::Ticket(TicketField::CustomerRef(r))) if r == customer_ref
        ) {
            found.push(ticket.key);
        }
        Ok(())
    })?;
    Ok(found)
}

/// The log entries about `tickets` (position, ticket), and the position the scan reached.
fn log_entries_of(
    state: &GatewayState,
    tickets: &[EntityKey],
) -> Result<(Vec<(u64, EntityKey)>, u64)> {
    let scanned_to = state.head();
    if tickets.is_empty() {
        return Ok((Vec::new(), scanned_to));
    }
    let wanted: std::collections::BTreeSet<&EntityKey> = tickets.iter().collect();
    let mut seqs = Vec::new();
    let mut pages = Pages::new(keys::log(0), keys::log(scanned_to + 1), LOG_PAGE);
    while let Some(page) = pages.next_page(state.store.as_ref())? {
        for (key, raw) in page {
            let (entity, _) = crate::log::decode_record_head(&raw)?;
            if let (true, Some(seq)) = (wanted.contains(&entity), keys::parse_log(&key)) {
                seqs.push((seq, entity));
            }
        }
    }
    Ok((seqs, scanned_to))
}

/// Every stored erasure, newest first, with the sites' progress.
pub fn list(state: &GatewayState) -> Result<Vec<pb::Erasure>> {
    let (start, end) = keys::prefix_range(keys::ERASURE);
    let mut out = Vec::new();
    for (_, raw) in state.store.range(&start, &end, usize::MAX)? {
        let erasure = pb::Erasure::decode(raw.as_slice())
            .map_err(|e| Error::Corrupt(format!("erasure record: {e}")))?;
        out.push(with_progress(state, erasure));
    }
    out.reverse();
    Ok(out)
}

/// `erasure` with the registered sites split into those whose last report shows they applied
/// it and the rest.
fn with_progress(state: &GatewayState, mut erasure: pb::Erasure) -> pb::Erasure {
    erasure.confirmed.clear();
    erasure.pending.clear();
    for site in site_health(state) {
        if site.cursor.is_some_and(|c| c >= erasure.log_seq) {
            erasure.confirmed.push(site.site);
        } else {
            erasure.pending.push(site.site);
        }
    }
    erasure
}

/// Forgets the requests `site` confirmed (`erased`: origin sequences of its dead letters it
/// erased), and answers those still to ask it for (at most 256 at a time).
pub fn letters_to_erase(store: &dyn Store, site: &str, erased: &[u64]) -> Result<Vec<u64>> {
    if !erased.is_empty() {
        let mut batch = crate::store::Batch::default();
        for seq in erased {
            batch.delete(keys::erase_letter(site, *seq));
        }
        store.apply(batch)?;
    }
    let prefix = keys::erase_letters(site);
    Ok(store
        .range(&prefix, &keys::prefix_end(&prefix), 256)?
        .into_iter()
        .filter_map(|(key, _)| {
            let seq: [u8; 8] = key.get(prefix.len()..)?.try_into().ok()?;
            Some(u64::from_be_bytes(seq))
        })
        .filter(|seq| !erased.contains(seq))
        .collect())
}
