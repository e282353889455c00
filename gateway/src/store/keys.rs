//! The key layout of the one ordered key space. Numbers are big-endian so byte order is
//! numeric order.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `e` | kind byte, entity id | `hotline.v1.EntityState`: the entity's head (registers and delete stamp; comments and call events empty, see `c` and `g`) |
//! | `c` | kind byte, entity id, 0, comment id | `hotline.v1.StampedComment`: one comment of a ticket |
//! | `g` | kind byte, entity id, 0, call event id | `hotline.v1.StampedCallEvent`: one event of a call log |
//! | `l` | global sequence (u64) | [`crate::log::LogRecord`] |
//! | `d` | site, 0, origin sequence (u64) | global sequence (u64) of the first acceptance, the change's digest, and its audit receipt (position u64, entry hash) |
//! | `x` | focus team, 0, ticket id | empty: the team index |
//! | `b` | year (u32), last number of the block (u64) | [`crate::log::LeaseRecord`] |
//! | `m` | name | counters: `head`, `floor`, `lease.<year>`, `seed`, `layout` (the storage layout, absent = 1), `layout.cursor` (the last entity head a running migration rewrote); `audit` (the trail's head: position u64, hash), `checkpoint` (the latest `hotline.v1.AuditCheckpoint`); `rewrite` (present: rewrite the store into a fresh file at the next open, after an erasure) |
//! | `t` | tenant id | `hotline.v1.Tenant` |
//! | `s` | site id | `hotline.v1.Site` |
//! | `r` | site, 0, origin sequence (u64) | `hotline.v1.DeadLetter`: a refused change |
//! | `u` | site, 0, year (u32) | leased ticket numbers of that year the site has not used (u64) |
//! | `v` | focus team, 0, period start (u64) | review report (JSON of `hotline_federation::review::ReviewReport`) |
//! | `q` | report id, 0, ticket id | a quality score of a sampled ticket (JSON of `hotline_federation::review::Score`) |
//! | `a` | audit position (u64) | `hotline.v1.AuditEntry`: one entry of the audit trail |
//! | `k` | checkpoint size (u64) | `hotline.v1.AuditCheckpoint`: a signed checkpoint |
//! | `z` | erasure id (u64) | `hotline.v1.Erasure`: one erasure of a customer (its sites' progress not stored) |
//! | `f` | SHA-256 (32 bytes) | a stored file: size (u64), when stored (ms, u64), content type ([`crate::files`]) |
//! | `h` | SHA-256, piece index (u64) | one piece of a stored file's bytes (256 KiB; the last may be shorter) |
//! | `w` | site, 0, SHA-256 | a site's unfinished upload: size, bytes received, last piece at (ms), each u64, then the content type |
//! | `p` | site, 0, SHA-256, offset (u64) | a piece of that upload, as it arrived |
//! | `o` | SHA-256, site | when the site last uploaded the file whole or was told it holds it (ms, u64): it may name it in a comment |
//! | `y` | SHA-256, ticket id, 0, comment id | empty: the comment carries the file (while none does, the file goes) |
//! | `j` | site, 0, origin sequence (u64) | empty: an erasure rewrote this dead letter of the site; the site is asked to erase its copy until it confirms |

use hotline_federation::model::{EntityKey, EntityKind};

/// Prefix of tenant records.
pub const TENANT: u8 = b't';
/// Prefix of site records.
pub const SITE: u8 = b's';
/// Prefix of dead letters (refused changes).
pub const DEAD_LETTER: u8 = b'r';
/// Prefix of the counters of leased but unused ticket numbers.
pub const UNUSED_NUMBERS: u8 = b'u';

/// Prefix of review reports.
pub const REVIEW_REPORT: u8 = b'v';
/// Prefix of quality scores.
pub const REVIEW_SCORE: u8 = b'q';

/// The key of the review report of `team` for the period starting at `start_ms`.
pub fn review_report(team: &str, start_ms: u64) -> Vec<u8> {
    let mut out = review_team_prefix(team);
    out.extend_from_slice(&start_ms.to_be_bytes());
    out
}

/// The prefix of every review report of `team`, oldest period first.
pub fn review_team_prefix(team: &str) -> Vec<u8> {
    let mut out = vec![REVIEW_REPORT];
    out.extend_from_slice(team.as_bytes());
    out.push(0);
    out
}

/// The key of the score of `ticket` in report `report_id`.
pub fn review_score(report_id: &str, ticket: &str) -> Vec<u8> {
    let mut out = review_score_prefix(report_id);
    out.extend_from_slice(ticket.as_bytes());
    out
}

/// The prefix of every score of report `report_id`.
pub fn review_score_prefix(report_id: &str) -> Vec<u8> {
    let mut out = vec![REVIEW_SCORE];
    out.extend_from_slice(report_id.as_bytes());
    out.push(0);
    out
}

/// Prefix of the audit trail's entries.
pub const AUDIT: u8 = b'a';
/// Prefix of the audit trail's signed checkpoints.
pub const CHECKPOINT: u8 = b'k';

/// The key of the audit entry at `seq`.
pub fn audit(seq: u64) -> Vec<u8> {
    let mut out = vec![AUDIT];
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// The position of an audit entry's key.
pub fn parse_audit(raw: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = raw.strip_prefix(&[AUDIT])?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// The key of the signed checkpoint of `size` entries.
pub fn checkpoint(size: u64) -> Vec<u8> {
    let mut out = vec![CHECKPOINT];
    out.extend_from_slice(&size.to_be_bytes());
    out
}

/// The audit trail's head as stored under the `audit` counter: position, then hash.
pub fn encode_audit_head(seq: u64, hash: &[u8; 32]) -> Vec<u8> {
    let mut out = seq.to_be_bytes().to_vec();
    out.extend_from_slice(hash);
    out
}

/// Reads the audit head counter.
pub fn decode_audit_head(raw: &[u8]) -> Option<(u64, [u8; 32])> {
    if raw.len() != 40 {
        return None;
    }
    Some((decode_u64(&raw[..8])?, raw[8..].try_into().ok()?))
}

/// The key of a record under a one-byte prefix.
pub fn record(prefix: u8, id: &str) -> Vec<u8> {
    let mut out = vec![prefix];
    out.extend_from_slice(id.as_bytes());
    out
}

/// The range of every key under a one-byte prefix.
pub fn prefix_range(prefix: u8) -> (Vec<u8>, Vec<u8>) {
    (vec![prefix], vec![prefix + 1])
}

/// The key of a refused change.
pub fn dead_letter(site: &str, origin_seq: u64) -> Vec<u8> {
    let mut out = dead_letter_prefix(site);
    out.extend_from_slice(&origin_seq.to_be_bytes());
    out
}

/// The prefix of one site's refused changes.
pub fn dead_letter_prefix(site: &str) -> Vec<u8> {
    let mut out = vec![DEAD_LETTER];
    out.extend_from_slice(site.as_bytes());
    out.push(0);
    out
}

/// The site and origin sequence of a dead letter's key, if it is one.
pub fn parse_dead_letter(raw: &[u8]) -> Option<(&str, u64)> {
    let rest = raw.strip_prefix(&[DEAD_LETTER])?;
    let split = rest.len().checked_sub(9)?;
    let (site, tail) = rest.split_at(split);
    let (&zero, seq) = tail.split_first()?;
    if zero != 0 {
        return None;
    }
    let seq: [u8; 8] = seq.try_into().ok()?;
    Some((std::str::from_utf8(site).ok()?, u64::from_be_bytes(seq)))
}

/// The key of `site`'s counter of unused leased numbers of `year`.
pub fn unused_numbers(site: &str, year: u32) -> Vec<u8> {
    let mut out = vec![UNUSED_NUMBERS];
    out.extend_from_slice(site.as_bytes());
    out.push(0);
    out.extend_from_slice(&year.to_be_bytes());
    out
}

/// The site and year of an unused-numbers key.
pub fn parse_unused_numbers(raw: &[u8]) -> Option<(String, u32)> {
    let rest = raw.strip_prefix(&[UNUSED_NUMBERS])?;
    let split = rest.len().checked_sub(5)?;
    let (site, tail) = rest.split_at(split);
    let (&zero, year) = tail.split_first()?;
    if zero != 0 {
        return None;
    }
    let year = u32::from_be_bytes(year.try_into().ok()?);
    Some((String::from_utf8(site.to_vec()).ok()?, year))
}

/// Prefix of entity heads.
pub const ENTITY: u8 = b'e';
/// Prefix of the comments of tickets, one key each.
pub const COMMENT: u8 = b'c';
/// Prefix of the events of call logs, one key each.
pub const CALL_EVENT: u8 = b'g';

/// The key of an entity's head.
pub fn entity(key: &EntityKey) -> Vec<u8> {
    let mut out = entity_kind_prefix(key.kind);
    out.extend_from_slice(key.id.as_bytes());
    out
}

/// The prefix of the heads of every entity of `kind`.
pub fn entity_kind_prefix(kind: EntityKind) -> Vec<u8> {
    vec![ENTITY, kind_byte(kind)]
}

/// The prefix of the elements (under [`COMMENT`] or [`CALL_EVENT`]) of one entity. Entity ids
/// hold no control characters, so the 0 ends the id and elements sort in the entities' order.
pub fn element_prefix(prefix: u8, key: &EntityKey) -> Vec<u8> {
    let mut out = vec![prefix, kind_byte(key.kind)];
    out.extend_from_slice(key.id.as_bytes());
    out.push(0);
    out
}

/// The key of one comment or call event of an entity.
pub fn element(prefix: u8, key: &EntityKey, element_id: &str) -> Vec<u8> {
    let mut out = element_prefix(prefix, key);
    out.extend_from_slice(element_id.as_bytes());
    out
}

/// The id of the entity an element's key belongs to, as bytes.
pub fn element_owner(raw: &[u8]) -> Option<&[u8]> {
    let id_and_element = raw.get(2..)?;
    let end = id_and_element.iter().position(|&b| b == 0)?;
    Some(&id_and_element[..end])
}

/// The range of all entity keys.
pub fn entity_range() -> (Vec<u8>, Vec<u8>) {
    (vec![ENTITY], vec![ENTITY + 1])
}

/// The entity key of a stored entity key, if it is one.
pub fn parse_entity(raw: &[u8]) -> Option<EntityKey> {
    let (&prefix, rest) = raw.split_first()?;
    let (&kind, id) = rest.split_first()?;
    if prefix != ENTITY {
        return None;
    }
    let kind = EntityKind::ALL
        .iter()
        .copied()
        .find(|k| kind_byte(*k) == kind)?;
    Some(EntityKey {
        kind,
        id: String::from_utf8(id.to_vec()).ok()?,
    })
}

fn kind_byte(kind: EntityKind) -> u8 {
    match kind {
        EntityKind::Ticket => b't',
        EntityKind::Article => b'a',
        EntityKind::Brand => b'b',
        EntityKind::Policy => b'p',
        EntityKind::Suggestion => b's',
        EntityKind::CallLog => b'c',
    }
}

/// The key of a log entry.
pub fn log(seq: u64) -> Vec<u8> {
    let mut out = vec![b'l'];
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// The sequence number of a log key.
pub fn parse_log(raw: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = raw.strip_prefix(b"l")?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// Prefix of the erasure records.
pub const ERASURE: u8 = b'z';

/// The key of erasure `id`.
pub fn erasure(id: u64) -> Vec<u8> {
    let mut out = vec![ERASURE];
    out.extend_from_slice(&id.to_be_bytes());
    out
}

/// Prefix of the dedupe entries.
pub const DEDUPE: u8 = b'd';

/// The site and origin sequence of a dedupe key, if it is one.
pub fn parse_dedupe(raw: &[u8]) -> Option<(&str, u64)> {
    let rest = raw.strip_prefix(&[DEDUPE])?;
    let split = rest.len().checked_sub(9)?;
    let (site, tail) = rest.split_at(split);
    let (&zero, seq) = tail.split_first()?;
    if zero != 0 {
        return None;
    }
    Some((
        std::str::from_utf8(site).ok()?,
        u64::from_be_bytes(seq.try_into().ok()?),
    ))
}

/// The dedupe key of a change.
pub fn dedupe(site: &str, origin_seq: u64) -> Vec<u8> {
    let mut out = vec![DEDUPE];
    out.extend_from_slice(site.as_bytes());
    out.push(0);
    out.extend_from_slice(&origin_seq.to_be_bytes());
    out
}

/// The team index key of a ticket.
pub fn team_ticket(team: &str, ticket: &str) -> Vec<u8> {
    let mut out = team_prefix(team);
    out.extend_from_slice(ticket.as_bytes());
    out
}

/// The prefix of every team index key of `team`.
pub fn team_prefix(team: &str) -> Vec<u8> {
    let mut out = vec![b'x'];
    out.extend_from_slice(team.as_bytes());
    out.push(0);
    out
}

/// The key of a lease block, by year and its last number.
pub fn lease_block(year: u32, last: u64) -> Vec<u8> {
    let mut out = vec![b'b'];
    out.extend_from_slice(&year.to_be_bytes());
    out.extend_from_slice(&last.to_be_bytes());
    out
}

/// The end (exclusive) of the lease blocks of `year`.
pub fn lease_year_end(year: u32) -> Vec<u8> {
    lease_block(year, u64::MAX)
}

/// The counter whose presence asks for the store to be rewritten into a fresh file at the next
/// open (an erasure sets it; see `redb_store::rewrite`).
pub const REWRITE_ASKED: &str = "rewrite";

/// A counter's key.
pub fn meta(name: &str) -> Vec<u8> {
    let mut out = vec![b'm'];
    out.extend_from_slice(name.as_bytes());
    out
}

/// Encodes a counter.
pub fn encode_u64(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

/// Decodes a counter; `None` when the bytes are not one.
pub fn decode_u64(raw: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(raw.try_into().ok()?))
}

/// A dedupe entry's value: the change's global sequence number, its content digest and, when
/// it has one, its audit receipt (entry position and hash).
pub fn encode_dedupe(
    global_seq: u64,
    digest: &[u8; 32],
    receipt: Option<(u64, [u8; 32])>,
) -> Vec<u8> {
    let mut out = global_seq.to_be_bytes().to_vec();
    out.extend_from_slice(digest);
    if let Some((seq, hash)) = receipt {
        out.extend_from_slice(&encode_audit_head(seq, &hash));
    }
    out
}

/// A dedupe entry as read back.
pub type Dedupe = (u64, Option<[u8; 32]>, Option<(u64, [u8; 32])>);

/// Reads a dedupe entry: the global sequence number and, for entries written since the digest
/// was kept, the content digest (older entries hold the number only), and since the audit
/// trail, the audit receipt.
pub fn decode_dedupe(raw: &[u8]) -> Option<Dedupe> {
    match raw.len() {
        8 => Some((decode_u64(raw)?, None, None)),
        40 => Some((decode_u64(&raw[..8])?, raw[8..].try_into().ok(), None)),
        80 => Some((
            decode_u64(&raw[..8])?,
            raw[8..40].try_into().ok(),
            Some(decode_audit_head(&raw[40..])?),
        )),
        _ => None,
    }
}

/// Prefix of stored files' meta records ([`file_meta`]).
pub const FILE: u8 = b'f';
/// Prefix of stored files' pieces ([`file_piece`]).
pub const FILE_PIECE: u8 = b'h';
/// Prefix of unfinished uploads' records, by site ([`upload_meta`]).
pub const UPLOAD: u8 = b'w';
/// Prefix of unfinished uploads' pieces, by site ([`upload_piece`]).
pub const UPLOAD_PIECE: u8 = b'p';
/// Prefix of the sites that uploaded a file whole.
pub const FILE_HOLDER: u8 = b'o';
/// Prefix of the comments that carry a file.
pub const FILE_REF: u8 = b'y';

fn digest_key(prefix: u8, digest: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.push(prefix);
    out.extend_from_slice(digest);
    out
}

/// Every key of a file under `prefix` (its pieces, holders or refs).
pub fn file_prefix(prefix: u8, digest: &[u8; 32]) -> Vec<u8> {
    digest_key(prefix, digest)
}

/// The meta record of a stored file.
pub fn file_meta(digest: &[u8; 32]) -> Vec<u8> {
    digest_key(FILE, digest)
}

/// The `index`th piece of a stored file (pieces have one fixed size, the last may be short).
pub fn file_piece(digest: &[u8; 32], index: u64) -> Vec<u8> {
    let mut out = digest_key(FILE_PIECE, digest);
    out.extend_from_slice(&index.to_be_bytes());
    out
}

fn site_key(prefix: u8, site: &str) -> Vec<u8> {
    let mut out = vec![prefix];
    out.extend_from_slice(site.as_bytes());
    out.push(0);
    out
}

/// The prefix of one site's unfinished upload records (one per file).
pub fn site_uploads(site: &str) -> Vec<u8> {
    site_key(UPLOAD, site)
}

/// The record of one site's unfinished upload of a file.
pub fn upload_meta(digest: &[u8; 32], site: &str) -> Vec<u8> {
    let mut out = site_key(UPLOAD, site);
    out.extend_from_slice(digest);
    out
}

/// The site and digest of an [`upload_meta`] key.
pub fn parse_upload_meta(raw: &[u8]) -> Option<(String, [u8; 32])> {
    let rest = raw.strip_prefix(&[UPLOAD])?;
    let end = rest.iter().position(|&b| b == 0)?;
    let site = std::str::from_utf8(&rest[..end]).ok()?.to_owned();
    let digest: [u8; 32] = rest.get(end + 1..)?.try_into().ok()?;
    Some((site, digest))
}

/// The prefix of the pieces of one site's unfinished upload of a file.
pub fn upload_pieces(digest: &[u8; 32], site: &str) -> Vec<u8> {
    let mut out = site_key(UPLOAD_PIECE, site);
    out.extend_from_slice(digest);
    out
}

/// One piece of one site's unfinished upload, by the offset of its first byte.
pub fn upload_piece(digest: &[u8; 32], site: &str, offset: u64) -> Vec<u8> {
    let mut out = upload_pieces(digest, site);
    out.extend_from_slice(&offset.to_be_bytes());
    out
}

/// The record that `site` uploaded the file whole (its value: when, ms).
pub fn file_holder(digest: &[u8; 32], site: &str) -> Vec<u8> {
    let mut out = digest_key(FILE_HOLDER, digest);
    out.extend_from_slice(site.as_bytes());
    out
}

/// The record that a comment of a ticket carries the file.
pub fn file_ref(digest: &[u8; 32], ticket: &str, comment: &str) -> Vec<u8> {
    let mut out = digest_key(FILE_REF, digest);
    out.extend_from_slice(ticket.as_bytes());
    out.push(0);
    out.extend_from_slice(comment.as_bytes());
    out
}

/// The ticket id of a [`file_ref`] key.
pub fn parse_file_ref(raw: &[u8]) -> Option<&str> {
    let rest = raw.get(33..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// Prefix of the dead letters a site is asked to erase its copies of.
pub const ERASE_LETTER: u8 = b'j';

/// The prefix of one site's [`erase_letter`] records.
pub fn erase_letters(site: &str) -> Vec<u8> {
    let mut out = vec![ERASE_LETTER];
    out.extend_from_slice(site.as_bytes());
    out.push(0);
    out
}

/// The record that `site` is asked to erase its copy of its dead letter `origin_seq`.
pub fn erase_letter(site: &str, origin_seq: u64) -> Vec<u8> {
    let mut out = erase_letters(site);
    out.extend_from_slice(&origin_seq.to_be_bytes());
    out
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dead letter's key gives back its site and sequence; other keys give nothing, so the
    /// per-site count at start cannot mistake one for a dead letter.
    #[test]
    fn dead_letter_keys_round_trip() {
        let key = dead_letter("dortmund", 4711);
        assert_eq!(parse_dead_letter(&key), Some(("dortmund", 4711)));
        assert_eq!(parse_dead_letter(&dedupe("dortmund", 4711)), None);
        assert_eq!(parse_dead_letter(&[DEAD_LETTER, 1, 2]), None);
    }
}
