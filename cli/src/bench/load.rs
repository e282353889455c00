//! Realistic load: tickets of the dealers-sales team (every site sees them), each opened and
//! then given up to [`COMMENTS_PER_TICKET`] comments of 0.5 to 2 KB before the next ticket is
//! opened, numbered per site like a real adapter does.

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
/// Comments a ticket gets before the site opens the next one (a ticket's life at a hotline).
pub const COMMENTS_PER_TICKET: u64 = 8;

pub use hotline_runtime::clock::now_ms;

/// One site's writer: its tickets, its sequence numbers, its random text.
pub struct SiteLoad {
    /// The site.
    pub site: String,
    tenant: String,
    tickets: Vec<String>,
    /// Index of the ticket being worked on and how many comments it has.
    current: (usize, u64),
    seq: u64,
    random: Random,
    /// Comments each ticket gets (default [`COMMENTS_PER_TICKET`]).
    comments: u64,
    /// Tickets opened so far.
    opened: usize,
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
        Ok(SiteLoad::with_tickets(site, tenant, ids))
    }

    /// Leases more numbers when fewer than 1,000 unopened tickets are left, so a long run never
    /// reopens a ticket (which the gateway rightly refuses).
    pub async fn refill(&mut self, client: &mut FederationClient<Channel>) -> anyhow::Result<()> {
        if self.tickets.len() - self.current.0 > 1_000 {
            return Ok(());
        }
        let block = client
            .lease(pb::LeaseRequest { count: 10_000 })
            .await?
            .into_inner()
            .block;
        let block = block.ok_or_else(|| anyhow::anyhow!("lease without block"))?;
        self.tickets.extend(
            (0..u64::from(block.count))
                .map(|i| format!("{}-{:04}-{:06}", block.prefix, block.year, block.first + i)),
        );
        Ok(())
    }

    /// Gives up the leased numbers not opened yet (the growth fill at a year's turn, so the
    /// tickets after it are numbered in the new year); the next [`SiteLoad::refill`] leases
    /// more. The numbers stay leased at the gateway, counted as unused in their year.
    pub fn forget_unopened(&mut self) {
        let keep = self.opened.min(self.tickets.len());
        self.tickets.truncate(keep);
    }

    /// A writer with given ticket ids (for the baseline server, which leases nothing).
    pub fn with_tickets(site: &str, tenant: &str, tickets: Vec<String>) -> SiteLoad {
        SiteLoad {
            site: site.into(),
            tenant: tenant.into(),
            tickets,
            current: (0, 0),
            seq: 0,
            random: Random::new(site.len() as u64 * 7919),
            comments: COMMENTS_PER_TICKET,
            opened: 0,
        }
    }

    /// The same writer giving each ticket `comments` comments (the growth fill uses a few).
    pub fn with_comments(mut self, comments: u64) -> SiteLoad {
        self.comments = comments;
        self
    }

    /// The ids of the tickets opened so far.
    pub fn opened(&self) -> &[String] {
        &self.tickets[..self.opened.min(self.tickets.len())]
    }

    /// The change that opens ticket `id`.
    fn opening(&mut self, id: String) -> Change {
        self.opened += 1;
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
        self.change(id, ops)
    }

    /// The next change of the site's day: a comment of 0.5 to 2 KB on the ticket being worked
    /// on, or the opening of the next ticket once that one has its comments. The first change
    /// opens the first ticket.
    pub fn next_change(&mut self) -> Change {
        let (index, comments) = self.current;
        if self.seq == 0 || comments >= self.comments {
            let next = if self.seq == 0 {
                0
            } else {
                (index + 1) % self.tickets.len()
            };
            self.current = (next, 0);
            let id = self.tickets[next].clone();
            return self.opening(id);
        }
        self.current.1 += 1;
        let ticket = self.tickets[index].clone();
        self.comment_on(ticket)
    }

    /// A comment of 0.5 to 2 KB on `ticket`.
    fn comment_on(&mut self, ticket: String) -> Change {
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
            attachments: Vec::new(),
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

    /// A push request of the next `n` changes.
    pub fn batch(&mut self, n: usize) -> pb::PushRequest {
        pb::PushRequest {
            changes: (0..n).map(|_| self.next_change().into()).collect(),
        }
    }
}

/// The event the baseline stream repeats: a comment change of about 1 KB.
pub fn sample_event() -> pb::SyncEvent {
    let mut load =
        SiteLoad::with_tickets("dortmund", "twenty4help", vec!["ASZ-2026-000001".into()]);
    let mut change = load.comment_on("ASZ-2026-000001".into());
    if let Some(FieldOp::AddComment(c)) = change.ops.first_mut() {
        c.body = "x".repeat(1000);
    }
    pb::SyncEvent {
        cursor: 1,
        body: Some(pb::sync_event::Body::Change(change.into())),
    }
}
