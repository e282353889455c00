//! The sites' users: a seeded stream of local writes through the same replica calls the
//! adapter API makes (new tickets, comments, status and field changes on visible tickets).

use std::time::Duration;

use hotline_adapter::events::TicketEvents;
use hotline_adapter::replica::Replica;
use hotline_federation::model::{
    Channel, Comment, EntityKey, EntityKind, FieldValue, Language, Priority, StatusTransition,
    TicketField, TicketStatus, Visibility,
};
use hotline_federation::status::allowed_after;
use hotline_federation::{Change, EntityState, FieldOp};

/// A small deterministic generator (splitmix64).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `range` (half open).
    pub(crate) fn range(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next() % (range.end - range.start)
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.range(0..100) < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0..items.len() as u64) as usize]
    }

    pub(crate) fn millis(&mut self, range: std::ops::Range<u64>) -> Duration {
        Duration::from_millis(self.range(range))
    }
}

pub(crate) fn now_for_site(base_ms: u64) -> u64 {
    base_ms + turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64
}

fn set(field: TicketField) -> FieldOp {
    FieldOp::Set(FieldValue::Ticket(field))
}

fn status_of(state: &EntityState) -> Option<TicketStatus> {
    match state.value("status") {
        Some(FieldValue::Ticket(TicketField::Status(t))) => Some(t.to),
        _ => None,
    }
}

/// Makes one random local write at `site`, as the adapter API would; `None` when the chosen
/// write is not possible right now (no ticket numbers yet, nothing visible, a closed ticket).
pub(crate) fn local_write(
    rng: &mut Rng,
    replica: &Replica,
    events: &TicketEvents,
    (site, tenant, teams): (&str, &str, &[&str]),
    now: u64,
) -> anyhow::Result<Option<Change>> {
    let visible: Vec<EntityState> = replica.entities(EntityKind::Ticket)?;
    let roll = rng.range(0..10);
    if roll < 3 || visible.is_empty() {
        let team = (*rng.pick(teams)).to_owned();
        let priority = *rng.pick(&[Priority::Low, Priority::Normal, Priority::High]);
        let customer = format!("C-{}", rng.range(1000..1100));
        let made = replica.local_change_new_ticket(now, events, |number, seq, hlc, _| {
            Ok(Change {
                key: EntityKey::new(EntityKind::Ticket, number),
                ops: vec![
                    set(TicketField::PublicNumber(number.to_owned())),
                    set(TicketField::OriginTenant(tenant.to_owned())),
                    set(TicketField::FocusTeam(team)),
                    set(TicketField::CustomerRef(customer)),
                    set(TicketField::Category("vpn".into())),
                    set(TicketField::Priority(priority)),
                    set(TicketField::Status(StatusTransition {
                        from: None,
                        to: TicketStatus::New,
                    })),
                    set(TicketField::Language(Language::De)),
                    set(TicketField::Channel(Channel::Phone)),
                    set(TicketField::OpenedAt(now)),
                    set(TicketField::HandlingSite(site.to_owned())),
                    set(TicketField::FirstContact(false)),
                    set(TicketField::Subject(format!("opened at {site}"))),
                    set(TicketField::CustomerName("Erika Mustermann".into())),
                    set(TicketField::CustomerEmail("erika@example.com".into())),
                ],
                origin_site: site.to_owned(),
                origin_seq: seq,
                hlc,
            })
        });
        return match made {
            Ok((change, _)) => Ok(Some(change)),
            Err(hotline_adapter::error::Error::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        };
    }
    let key = rng.pick(&visible).key.clone();
    let edit = match roll {
        3..=5 => {
            let visibility = *rng.pick(&[
                Visibility::Public,
                Visibility::Federation,
                Visibility::Tenant,
            ]);
            Edit::Comment(visibility, format!("note {}", rng.range(0..1_000_000)))
        }
        6..=7 => {
            let from = status_of(&replica.entity(&key)?);
            let allowed = allowed_after(from);
            if allowed.is_empty() {
                return Ok(None);
            }
            let to = *rng.pick(allowed);
            Edit::Field(set(TicketField::Status(StatusTransition { from, to })))
        }
        _ => Edit::Field(match rng.range(0..3) {
            0 => set(TicketField::Priority(*rng.pick(&[
                Priority::Low,
                Priority::Normal,
                Priority::High,
                Priority::Critical,
            ]))),
            1 => set(TicketField::Subject(format!(
                "subject {}",
                rng.range(0..1000)
            ))),
            _ => set(TicketField::AssigneeAlias(format!(
                "agent {}",
                rng.range(0..50)
            ))),
        }),
    };
    let (change, _) = replica.local_change(&key, now, events, |seq, hlc, _, _| {
        let op = match edit {
            Edit::Comment(visibility, body) => FieldOp::AddComment(Comment {
                id: format!("{site}-{seq}"),
                author_alias: "Advisor 7".into(),
                author_tenant: tenant.to_owned(),
                visibility,
                body,
                created_at_ms: now,
                attachments: Vec::new(),
            }),
            Edit::Field(op) => op,
        };
        Ok(Change {
            key: key.clone(),
            ops: vec![op],
            origin_site: site.to_owned(),
            origin_seq: seq,
            hlc,
        })
    })?;
    Ok(Some(change))
}

/// A write to an existing ticket.
enum Edit {
    /// A comment with this visibility and body (its id needs the origin sequence).
    Comment(Visibility, String),
    /// A field write.
    Field(FieldOp),
}
