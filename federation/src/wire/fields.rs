//! Field values (the content of registers) between wire and domain.

use hotline_proto::v1 as pb;
use pb::{article_field, brand_field, field_value, policy_field, suggestion_field, ticket_field};

use super::{WireEnum, required};
use crate::error::{Error, Result, quote};
use crate::model::{
    ArticleDraft, ArticleField, ArticleState, BrandField, Channel, CustomerRating, FieldValue,
    Language, PolicyField, Priority, ReviewCadence, StatusTransition, SuggestionField,
    SuggestionState, TicketField, TicketStatus,
};

/// Converts a field value; errors name the field under `ticket.`, `article.`, ...
pub(crate) fn value_from_wire(value: pb::FieldValue) -> Result<FieldValue> {
    let pb::FieldValue { kind } = value;
    Ok(match required("kind", kind)? {
        field_value::Kind::Ticket(pb::TicketField { value }) => {
            FieldValue::Ticket(ticket_from_wire(required("ticket.value", value)?)?)
        }
        field_value::Kind::Article(pb::ArticleField { value }) => {
            FieldValue::Article(article_from_wire(required("article.value", value)?)?)
        }
        field_value::Kind::Brand(pb::BrandField { value }) => {
            FieldValue::Brand(brand_from_wire(required("brand.value", value)?)?)
        }
        field_value::Kind::Policy(pb::PolicyField { value }) => {
            FieldValue::Policy(policy_from_wire(required("policy.value", value)?)?)
        }
        field_value::Kind::Suggestion(pb::SuggestionField { value }) => {
            FieldValue::Suggestion(suggestion_from_wire(required("suggestion.value", value)?)?)
        }
    })
}

fn list(values: Option<pb::StringList>) -> Vec<String> {
    values
        .map(|pb::StringList { values }| values)
        .unwrap_or_default()
}

fn ticket_from_wire(value: ticket_field::Value) -> Result<TicketField> {
    use ticket_field::Value as V;
    Ok(match value {
        V::PublicNumber(v) => TicketField::PublicNumber(v),
        V::CustomerRef(v) => TicketField::CustomerRef(v),
        V::FocusTeam(v) => TicketField::FocusTeam(v),
        V::Category(v) => TicketField::Category(v),
        V::Priority(v) => TicketField::Priority(Priority::from_wire("ticket.priority", v)?),
        V::Status(pb::StatusTransition { from, to }) => TicketField::Status(StatusTransition {
            from: TicketStatus::from_wire_optional("ticket.status.from", from)?,
            to: TicketStatus::from_wire("ticket.status.to", to)?,
        }),
        V::Language(v) => TicketField::Language(Language::from_wire("ticket.language", v)?),
        V::Channel(v) => TicketField::Channel(Channel::from_wire("ticket.channel", v)?),
        V::OpenedAtMs(v) => TicketField::OpenedAt(v),
        V::FirstAnswerAtMs(v) => TicketField::FirstAnswerAt(v),
        V::ResolvedAtMs(v) => TicketField::ResolvedAt(v),
        V::FirstContact(v) => TicketField::FirstContact(v),
        V::HandlingSite(v) => TicketField::HandlingSite(v),
        V::AssigneeAlias(v) => TicketField::AssigneeAlias(v),
        V::Subject(v) => TicketField::Subject(v),
        V::OriginTenant(v) => TicketField::OriginTenant(v),
        V::CustomerName(v) => TicketField::CustomerName(v),
        V::CustomerEmail(v) => TicketField::CustomerEmail(v),
        V::CustomerPhone(v) => TicketField::CustomerPhone(v),
        V::AccessCode(v) => TicketField::AccessCode(v),
        V::Rating(pb::CustomerRating {
            score,
            remark,
            at_ms,
        }) => TicketField::Rating(CustomerRating {
            score: crate::service::check_score(score)?,
            remark,
            at_ms,
        }),
        V::ArchivedAtMs(v) => TicketField::ArchivedAt(v),
        V::ErasedAtMs(v) => TicketField::ErasedAt(v),
    })
}

fn article_from_wire(value: article_field::Value) -> Result<ArticleField> {
    use article_field::Value as V;
    Ok(match value {
        V::Version(v) => ArticleField::Version(v),
        V::Language(v) => ArticleField::Language(Language::from_wire("article.language", v)?),
        V::Title(v) => ArticleField::Title(v),
        V::Body(v) => ArticleField::Body(v),
        V::Tags(v) => ArticleField::Tags(list(Some(v))),
        V::State(v) => ArticleField::State(ArticleState::from_wire("article.state", v)?),
        V::FocusTeams(v) => ArticleField::FocusTeams(list(Some(v))),
        V::Draft(pb::ArticleDraft {
            language,
            title,
            body,
            tags,
            focus_teams,
        }) => ArticleField::Draft(ArticleDraft {
            language: Language::from_wire_optional("article.draft.language", language)?,
            title,
            body,
            tags,
            focus_teams,
        }),
    })
}

fn brand_from_wire(value: brand_field::Value) -> Result<BrandField> {
    use brand_field::Value as V;
    Ok(match value {
        V::Version(v) => BrandField::Version(v),
        V::DisplayName(v) => BrandField::DisplayName(v),
        V::HotlineNumber(v) => BrandField::HotlineNumber(v),
        V::ChannelGreeting(pb::ChannelGreeting {
            channel,
            language,
            text,
        }) => BrandField::Greeting(
            Channel::from_wire("brand.channel_greeting.channel", channel)?,
            Language::from_wire("brand.channel_greeting.language", language)?,
            text,
        ),
        V::Template(pb::MessageTemplate {
            name,
            language,
            text,
        }) => BrandField::Template(
            name,
            Language::from_wire("brand.template.language", language)?,
            text,
        ),
        V::Signature(v) => BrandField::Signature(v),
        V::ForbiddenTerms(v) => BrandField::ForbiddenTerms(list(Some(v))),
        V::AliasPatterns(v) => BrandField::AliasPatterns(list(Some(v))),
        V::AccentColor(v) => BrandField::AccentColor(v),
    })
}

fn policy_from_wire(value: policy_field::Value) -> Result<PolicyField> {
    use policy_field::Value as V;
    Ok(match value {
        V::DisplayName(v) => PolicyField::DisplayName(v),
        V::Handlers(v) => PolicyField::Handlers(list(Some(v))),
        V::SlaAnswerSeconds(v) => PolicyField::SlaAnswerSeconds(v),
        V::SlaTargetPercent(v) => PolicyField::SlaTargetPercent(v),
        V::FcrTargetPercent(v) => PolicyField::FcrTargetPercent(v),
        V::ReviewCadence(v) => {
            PolicyField::ReviewCadence(ReviewCadence::from_wire("policy.review_cadence", v)?)
        }
        V::PiiGrants(v) => PolicyField::PiiGrants(list(Some(v))),
        V::PartnerRetentionDays(v) => PolicyField::PartnerRetentionDays(v),
    })
}

fn suggestion_from_wire(value: suggestion_field::Value) -> Result<SuggestionField> {
    use suggestion_field::Value as V;
    Ok(match value {
        V::ArticleId(v) => SuggestionField::ArticleId(v),
        V::BaseVersion(v) => SuggestionField::BaseVersion(v),
        V::ProposedTitle(v) => SuggestionField::ProposedTitle(v),
        V::ProposedBody(v) => SuggestionField::ProposedBody(v),
        V::ProposedTags(v) => SuggestionField::ProposedTags(list(Some(v))),
        V::Rationale(v) => SuggestionField::Rationale(v),
        V::AuthorTenant(v) => SuggestionField::AuthorTenant(v),
        V::State(v) => SuggestionField::State(SuggestionState::from_wire("suggestion.state", v)?),
        V::ProposedLanguage(v) => SuggestionField::ProposedLanguage(Language::from_wire(
            "suggestion.proposed_language",
            v,
        )?),
        V::RejectReason(v) => SuggestionField::RejectReason(v),
        V::AcceptedVersion(v) => SuggestionField::AcceptedVersion(v),
    })
}

fn string_list(values: Vec<String>) -> pb::StringList {
    pb::StringList { values }
}

/// Converts a domain field value to the wire.
pub(crate) fn value_to_wire(value: FieldValue) -> pb::FieldValue {
    let kind = match value {
        FieldValue::Ticket(f) => {
            use ticket_field::Value as V;
            let v = match f {
                TicketField::PublicNumber(v) => V::PublicNumber(v),
                TicketField::CustomerRef(v) => V::CustomerRef(v),
                TicketField::FocusTeam(v) => V::FocusTeam(v),
                TicketField::Category(v) => V::Category(v),
                TicketField::Priority(v) => V::Priority(v.to_wire()),
                TicketField::Status(StatusTransition { from, to }) => {
                    V::Status(pb::StatusTransition {
                        from: from.map_or(pb::TicketStatus::Unspecified as i32, WireEnum::to_wire),
                        to: to.to_wire(),
                    })
                }
                TicketField::Language(v) => V::Language(v.to_wire()),
                TicketField::Channel(v) => V::Channel(v.to_wire()),
                TicketField::OpenedAt(v) => V::OpenedAtMs(v),
                TicketField::FirstAnswerAt(v) => V::FirstAnswerAtMs(v),
                TicketField::ResolvedAt(v) => V::ResolvedAtMs(v),
                TicketField::FirstContact(v) => V::FirstContact(v),
                TicketField::HandlingSite(v) => V::HandlingSite(v),
                TicketField::AssigneeAlias(v) => V::AssigneeAlias(v),
                TicketField::Subject(v) => V::Subject(v),
                TicketField::OriginTenant(v) => V::OriginTenant(v),
                TicketField::CustomerName(v) => V::CustomerName(v),
                TicketField::CustomerEmail(v) => V::CustomerEmail(v),
                TicketField::CustomerPhone(v) => V::CustomerPhone(v),
                TicketField::AccessCode(v) => V::AccessCode(v),
                TicketField::Rating(CustomerRating {
                    score,
                    remark,
                    at_ms,
                }) => V::Rating(pb::CustomerRating {
                    score: u32::from(score),
                    remark,
                    at_ms,
                }),
                TicketField::ArchivedAt(v) => V::ArchivedAtMs(v),
                TicketField::ErasedAt(v) => V::ErasedAtMs(v),
            };
            field_value::Kind::Ticket(pb::TicketField { value: Some(v) })
        }
        FieldValue::Article(f) => {
            use article_field::Value as V;
            let v = match f {
                ArticleField::Version(v) => V::Version(v),
                ArticleField::Language(v) => V::Language(v.to_wire()),
                ArticleField::Title(v) => V::Title(v),
                ArticleField::Body(v) => V::Body(v),
                ArticleField::Tags(v) => V::Tags(string_list(v)),
                ArticleField::State(v) => V::State(v.to_wire()),
                ArticleField::FocusTeams(v) => V::FocusTeams(string_list(v)),
                ArticleField::Draft(ArticleDraft {
                    language,
                    title,
                    body,
                    tags,
                    focus_teams,
                }) => V::Draft(pb::ArticleDraft {
                    language: language.map_or(pb::Language::Unspecified as i32, WireEnum::to_wire),
                    title,
                    body,
                    tags,
                    focus_teams,
                }),
            };
            field_value::Kind::Article(pb::ArticleField { value: Some(v) })
        }
        FieldValue::Brand(f) => {
            use brand_field::Value as V;
            let v = match f {
                BrandField::Version(v) => V::Version(v),
                BrandField::DisplayName(v) => V::DisplayName(v),
                BrandField::HotlineNumber(v) => V::HotlineNumber(v),
                BrandField::Greeting(channel, language, text) => {
                    V::ChannelGreeting(pb::ChannelGreeting {
                        channel: channel.to_wire(),
                        language: language.to_wire(),
                        text,
                    })
                }
                BrandField::Template(name, language, text) => V::Template(pb::MessageTemplate {
                    name,
                    language: language.to_wire(),
                    text,
                }),
                BrandField::Signature(v) => V::Signature(v),
                BrandField::ForbiddenTerms(v) => V::ForbiddenTerms(string_list(v)),
                BrandField::AliasPatterns(v) => V::AliasPatterns(string_list(v)),
                BrandField::AccentColor(v) => V::AccentColor(v),
            };
            field_value::Kind::Brand(pb::BrandField { value: Some(v) })
        }
        FieldValue::Policy(f) => {
            use policy_field::Value as V;
            let v = match f {
                PolicyField::DisplayName(v) => V::DisplayName(v),
                PolicyField::Handlers(v) => V::Handlers(string_list(v)),
                PolicyField::SlaAnswerSeconds(v) => V::SlaAnswerSeconds(v),
                PolicyField::SlaTargetPercent(v) => V::SlaTargetPercent(v),
                PolicyField::FcrTargetPercent(v) => V::FcrTargetPercent(v),
                PolicyField::ReviewCadence(v) => V::ReviewCadence(v.to_wire()),
                PolicyField::PiiGrants(v) => V::PiiGrants(string_list(v)),
                PolicyField::PartnerRetentionDays(v) => V::PartnerRetentionDays(v),
            };
            field_value::Kind::Policy(pb::PolicyField { value: Some(v) })
        }
        FieldValue::Suggestion(f) => {
            use suggestion_field::Value as V;
            let v = match f {
                SuggestionField::ArticleId(v) => V::ArticleId(v),
                SuggestionField::BaseVersion(v) => V::BaseVersion(v),
                SuggestionField::ProposedTitle(v) => V::ProposedTitle(v),
                SuggestionField::ProposedBody(v) => V::ProposedBody(v),
                SuggestionField::ProposedTags(v) => V::ProposedTags(string_list(v)),
                SuggestionField::Rationale(v) => V::Rationale(v),
                SuggestionField::AuthorTenant(v) => V::AuthorTenant(v),
                SuggestionField::State(v) => V::State(v.to_wire()),
                SuggestionField::ProposedLanguage(v) => V::ProposedLanguage(v.to_wire()),
                SuggestionField::RejectReason(v) => V::RejectReason(v),
                SuggestionField::AcceptedVersion(v) => V::AcceptedVersion(v),
            };
            field_value::Kind::Suggestion(pb::SuggestionField { value: Some(v) })
        }
    };
    pb::FieldValue { kind: Some(kind) }
}

/// Rejects a value whose kind differs from the register it is stored in (state messages only;
/// changes are checked by `Change::validate`).
/// `field` names the value's place; it is called only for the error.
pub(crate) fn check_register_name(
    field: impl FnOnce() -> String,
    name: &str,
    value: &FieldValue,
) -> Result<()> {
    if value.register() == name {
        Ok(())
    } else {
        Err(Error::invalid(
            field(),
            format!(
                "value for register {} found in register {}",
                quote(&value.register()),
                quote(name)
            ),
        ))
    }
}
