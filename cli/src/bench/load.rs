//! Realistic load: tickets of the dealers-sales team (every site sees them) and comments of
//! 0.5 to 2 KB on them, numbered per site like a real adapter does.

use hotline_federation::model::{
    Comment, EntityKey, EntityKind, FieldValue, StatusTransition, TicketField, TicketStatus,
    Visibility,
};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tonic::transport::Channel;

use crate::demo::random::Random;

/// The focus team every benchmark ticket belongs to (all sites handle it).
pub const TEAM: &str = "dealers-sales";

/// Now, ms since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One site's writer: its tickets, its sequence numbers, its random text.
pub struct SiteLoad {
    /// The site.
    pub site: String,
    tenant: String,
    tickets: Vec<String>,
    seq: u64,
    random: Random,
}

impl SiteLoad {
    /// Leases numbers and prepares `tickets` tickets' worth of ids for `site` of `tenant`.
    pub async fn new(
        client: &mut FederationClient<Channel>,
        site: &str,
        tenant: &str,
        tickets: u32,
    ) -> anyhow::Result<SiteLoad> {
        let block = client
            .lease(pb::LeaseRequest { count: tickets })
            .await?
            .into_inner()
            .block;
        let block = block.ok_or_else(|| anyhow::anyhow!("lease without block"))?;
        let ids = (0..u64::from(block.count))
            .map(|i| format!("{}-{:04}-{:06}", block.prefix, block.year, block.first + i))
            .collect();
        Ok(SiteLoad {
            site: site.into(),
            tenant: tenant.into(),
            tickets: ids,
            seq: 0,
            random: Random::new(site.len() as u64 * 7919),
        })
    }

    /// A writer with given ticket ids (for the baseline server, which leases nothing).
    pub fn with_tickets(site: &str, tenant: &str, tickets: Vec<String>) -> SiteLoad {
        SiteLoad {
            site: site.into(),
            tenant: tenant.into(),
            tickets,
            seq: 0,
            random: Random::new(site.len() as u64 * 7919),
        }
    }

    /// The changes that open every ticket (one change each).
    pub fn openings(&mut self) -> Vec<Change> {
        let tickets = self.tickets.clone();
        tickets
            .iter()
            .map(|id| {
                let set = |f| FieldOp::Set(FieldValue::Ticket(f));
                let ops = vec![
                    set(TicketField::PublicNumber(id.clone())),
                    set(TicketField::OriginTenant(self.tenant.clone())),
                    set(TicketField::FocusTeam(TEAM.into())),
                    set(TicketField::CustomerRef(format!("C-{id}"))),
                    set(TicketField::Category("vpn".into())),
                    set(TicketField::Status(StatusTransition {
                        from: None,
                        to: TicketStatus::New,
                    })),
                    set(TicketField::Subject(
                        "VPN drops every hour since the client update".into(),
                    )),
                ];
                self.change(id.clone(), ops)
            })
            .collect()
    }

    /// A comment of 0.5 to 2 KB on one of the site's tickets.
    pub fn comment(&mut self) -> Change {
        let ticket = self.tickets[(self.seq as usize) % self.tickets.len()].clone();
        let length = 400 + (self.random.next_u64() % 1500) as usize;
        let body: String = "Called back, reset the VPN profile, customer confirms it works. "
            .chars()
            .cycle()
            .take(length)
            .collect();
        let comment = Comment {
            id: format!("{}-{}", self.site, self.seq + 1),
            author_alias: "Advisor 7".into(),
            author_tenant: self.tenant.clone(),
            visibility: Visibility::Federation,
            body,
            created_at_ms: now_ms(),
        };
        self.change(ticket, vec![FieldOp::AddComment(comment)])
    }

    fn change(&mut self, id: String, ops: Vec<FieldOp>) -> Change {
        self.seq += 1;
        Change {
            key: EntityKey::new(EntityKind::Ticket, id),
            ops,
            origin_site: self.site.clone(),
            origin_seq: self.seq,
            hlc: Hlc::new(now_ms(), 0),
        }
    }

    /// A push request of `n` comments.
    pub fn batch(&mut self, n: usize) -> pb::PushRequest {
        pb::PushRequest {
            changes: (0..n).map(|_| self.comment().into()).collect(),
        }
    }
}

/// The event the baseline stream repeats: a comment change of about 1 KB.
pub fn sample_event() -> pb::SyncEvent {
    let mut load =
        SiteLoad::with_tickets("dortmund", "twenty4help", vec!["ASZ-2026-000001".into()]);
    let mut change = load.comment();
    if let Some(FieldOp::AddComment(c)) = change.ops.first_mut() {
        c.body = "x".repeat(1000);
    }
    pb::SyncEvent {
        cursor: 1,
        body: Some(pb::sync_event::Body::Change(change.into())),
    }
}
