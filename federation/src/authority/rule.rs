//! The rules a change can break, each with a stable name (sent on the wire, shown in the
//! adapter's API and dead letters) and the reason class the wire has carried since v1.

use hotline_proto::v1::RejectReason;

/// One rule of the federation's authority or of the gateway's checks around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A site writes only changes stamped with its own site.
    OriginIsCaller,
    /// Each change of a site has its own `origin_seq`; a retry resends the same change.
    OriginSeqUnique,
    /// A change is well formed (fields, ids, values).
    WellFormed,
    /// The change's clock is not further ahead than the gateway accepts.
    ClockSkew,
    /// No entity grows past the bounds every site can receive.
    EntityBounds,
    /// A ticket the caller may not see answers like a missing one; new tickets use leased
    /// numbers only.
    TicketVisibleOrLeased,
    /// A deleted entity is final.
    DeleteIsFinal,
    /// Articles, the brand and focus team policies are changed in-house only.
    InhouseOwnsSharedKinds,
    /// A new ticket or suggestion names its creating tenant.
    CreateNamesTenant,
    /// A partner's new ticket names its focus team.
    CreateNamesFocusTeam,
    /// `origin_tenant` is written once, by the creating tenant.
    OriginTenantOnce,
    /// Only in-house moves an existing ticket to another focus team.
    OnlyInhouseReroutes,
    /// A partner creates tickets only in focus teams its tenant handles.
    TeamHandled,
    /// Focus teams named in changes are configured ones.
    TeamConfigured,
    /// A handling site is a registered site.
    SiteRegistered,
    /// A partner names only its own tenant's sites as handling site.
    SiteOfOwnTenant,
    /// A status change starts from the ticket's current status.
    StatusFromCurrent,
    /// A write to the focus team or status outranks the current one.
    WriteOutranksCurrent,
    /// A comment or suggestion names the writer's own tenant as its author.
    AuthorIsCaller,
    /// Comment and suggestion ids carry the writing site: `<site>-<number>`.
    IdOfOwnSite,
    /// A comment id names one comment only.
    CommentIdUnique,
    /// Only in-house deletes tickets, suggestions and call logs.
    OnlyInhouseDeletes,
    /// Only in-house accepts or rejects a suggestion, and a decided one is final.
    OnlyInhouseDecides,
    /// A site reports call events only into its own call logs.
    CallLogOfOwnSite,
    /// A ticket's access code is written once, in the change that creates the ticket.
    AccessCodeOnce,
    /// Customer-visible text names no tenant, site or agent (the leak guard).
    CustomerTextClean,
    /// Only the customer rates a ticket (the gateway writes it for them); no site writes it.
    RatingByCustomer,
    /// Only the gateway's retention sweep ends the partners' retention of a ticket.
    RetentionBySweep,
    /// Only in-house staff erase a customer (through the gateway); no site writes the marker.
    ErasureByStaff,
    /// A comment's files are at the gateway before the comment, uploaded by the writing site
    /// itself (`Federation.PutFile`), with the size and content type the comment names.
    FileUploaded,
}

impl Rule {
    /// Every rule, for tables and tests.
    pub const ALL: [Rule; 30] = [
        Rule::OriginIsCaller,
        Rule::OriginSeqUnique,
        Rule::WellFormed,
        Rule::ClockSkew,
        Rule::EntityBounds,
        Rule::TicketVisibleOrLeased,
        Rule::DeleteIsFinal,
        Rule::InhouseOwnsSharedKinds,
        Rule::CreateNamesTenant,
        Rule::CreateNamesFocusTeam,
        Rule::OriginTenantOnce,
        Rule::OnlyInhouseReroutes,
        Rule::TeamHandled,
        Rule::TeamConfigured,
        Rule::SiteRegistered,
        Rule::SiteOfOwnTenant,
        Rule::StatusFromCurrent,
        Rule::WriteOutranksCurrent,
        Rule::AuthorIsCaller,
        Rule::IdOfOwnSite,
        Rule::CommentIdUnique,
        Rule::OnlyInhouseDeletes,
        Rule::OnlyInhouseDecides,
        Rule::CallLogOfOwnSite,
        Rule::AccessCodeOnce,
        Rule::CustomerTextClean,
        Rule::RatingByCustomer,
        Rule::RetentionBySweep,
        Rule::ErasureByStaff,
        Rule::FileUploaded,
    ];

    /// The stable name, as clients see it (`rule` in the adapter's error bodies).
    pub fn name(self) -> &'static str {
        self.entry().0
    }

    /// The reason class on the wire.
    pub fn reason(self) -> RejectReason {
        self.entry().1
    }

    /// The rule of a stable name, as read back from the wire.
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.name() == name)
    }

    fn entry(self) -> (&'static str, RejectReason) {
        use RejectReason as R;
        match self {
            Rule::OriginIsCaller => ("origin_is_caller", R::OriginMismatch),
            Rule::OriginSeqUnique => ("origin_seq_unique", R::Conflict),
            Rule::WellFormed => ("well_formed", R::Invalid),
            Rule::ClockSkew => ("clock_skew", R::ClockSkew),
            Rule::EntityBounds => ("entity_bounds", R::TooLarge),
            Rule::TicketVisibleOrLeased => ("ticket_visible_or_leased", R::Forbidden),
            Rule::DeleteIsFinal => ("delete_is_final", R::Forbidden),
            Rule::InhouseOwnsSharedKinds => ("inhouse_owns_shared_kinds", R::Forbidden),
            Rule::CreateNamesTenant => ("create_names_tenant", R::Invalid),
            Rule::CreateNamesFocusTeam => ("create_names_focus_team", R::Invalid),
            Rule::OriginTenantOnce => ("origin_tenant_once", R::Forbidden),
            Rule::OnlyInhouseReroutes => ("only_inhouse_reroutes", R::Forbidden),
            Rule::TeamHandled => ("team_handled", R::Forbidden),
            Rule::TeamConfigured => ("team_configured", R::Invalid),
            Rule::SiteRegistered => ("site_registered", R::Invalid),
            Rule::SiteOfOwnTenant => ("site_of_own_tenant", R::Forbidden),
            Rule::StatusFromCurrent => ("status_from_current", R::Conflict),
            Rule::WriteOutranksCurrent => ("write_outranks_current", R::Conflict),
            Rule::AuthorIsCaller => ("author_is_caller", R::Forbidden),
            Rule::IdOfOwnSite => ("id_of_own_site", R::Invalid),
            Rule::CommentIdUnique => ("comment_id_unique", R::Invalid),
            Rule::OnlyInhouseDeletes => ("only_inhouse_deletes", R::Forbidden),
            Rule::OnlyInhouseDecides => ("only_inhouse_decides", R::Forbidden),
            Rule::CallLogOfOwnSite => ("call_log_of_own_site", R::Forbidden),
            Rule::AccessCodeOnce => ("access_code_once", R::Forbidden),
            Rule::CustomerTextClean => ("customer_text_clean", R::Invalid),
            Rule::RatingByCustomer => ("rating_by_customer", R::Forbidden),
            Rule::RetentionBySweep => ("retention_by_sweep", R::Forbidden),
            Rule::ErasureByStaff => ("erasure_by_staff", R::Forbidden),
            Rule::FileUploaded => ("file_uploaded", R::Invalid),
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names are unique and read back to their rule, so a name on the wire means one rule.
    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
        for rule in Rule::ALL {
            assert_eq!(Rule::from_name(rule.name()), Some(rule));
            assert!(
                rule.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{rule:?} has a name that is not snake case"
            );
            assert_ne!(rule.reason(), RejectReason::Unspecified);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rule::ALL.len());
        assert_eq!(Rule::from_name("no_such_rule"), None);
    }
}
