//! The rules of suggestions and call logs.

use super::Rule;

use super::ticket::check_team;
use super::{Refusal, Who, id_of_site, names_tenant, refuse};
use crate::change::{Change, FieldOp, call_log_site};
use crate::model::{FieldValue, SuggestionField, SuggestionState};
use crate::state::EntityState;
use crate::visibility::{Directory, sees};

pub(super) fn authorize_suggestion(
    who: Who<'_>,
    change: &Change,
    before: &EntityState,
    directory: &Directory,
) -> Result<(), Refusal> {
    let Who { tenant, site } = who;
    let id = &change.key.id;
    if before.is_empty() && !id_of_site(id, site) {
        // The same answer whether another site's suggestion has this id or nobody's does.
        return Err(foreign_suggestion_id(id, site));
    }
    if who.inhouse() {
        return Ok(());
    }
    if !id_of_site(id, site) || (!before.is_empty() && !sees(tenant, before, directory)) {
        return Err(foreign_suggestion_id(id, site));
    }
    let decided = !matches!(
        before.value("state"),
        None | Some(FieldValue::Suggestion(SuggestionField::State(
            SuggestionState::Open
        )))
    );
    if decided {
        return Err(refuse(
            Rule::OnlyInhouseDecides,
            format!("suggestion {id} has been decided by the in-house team; propose a new one"),
        ));
    }
    for op in &change.ops {
        match op {
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::AuthorTenant(t)))
                if t != tenant =>
            {
                return Err(refuse(
                    Rule::AuthorIsCaller,
                    format!("author_tenant must be your tenant {tenant:?}, not {t:?}"),
                ));
            }
            FieldOp::Set(FieldValue::Suggestion(
                SuggestionField::RejectReason(_) | SuggestionField::AcceptedVersion(_),
            )) => {
                return Err(refuse(
                    Rule::OnlyInhouseDecides,
                    "only the in-house team writes a suggestion's decision",
                ));
            }
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::State(state)))
                if *state != SuggestionState::Open || !before.is_empty() =>
            {
                return Err(refuse(
                    Rule::OnlyInhouseDecides,
                    "only the in-house team accepts or rejects suggestions",
                ));
            }
            FieldOp::Delete { .. } => {
                return Err(refuse(
                    Rule::OnlyInhouseDeletes,
                    "only the in-house team deletes suggestions",
                ));
            }
            _ => {}
        }
    }
    if before.is_empty() {
        let names_author = names_tenant(change, tenant, |v| match v {
            FieldValue::Suggestion(SuggestionField::AuthorTenant(t)) => Some(t),
            _ => None,
        });
        if !names_author {
            return Err(refuse(
                Rule::CreateNamesTenant,
                format!("a new suggestion needs author_tenant = {tenant:?} in the same change"),
            ));
        }
    }
    Ok(())
}

/// The answer for a suggestion id that is not the caller's site's: the same whether another
/// site's suggestion has it or nobody's does.
fn foreign_suggestion_id(id: &str, site: &str) -> Refusal {
    refuse(
        Rule::IdOfOwnSite,
        format!("{id} is not one of your site's suggestion ids; allowed: \"{site}-<number>\""),
    )
}

pub(super) fn authorize_call_log(
    who: Who<'_>,
    change: &Change,
    before: &EntityState,
    directory: &Directory,
) -> Result<(), Refusal> {
    let Who { site, .. } = who;
    if call_log_site(&change.key.id) != Some(site) {
        return Err(refuse(
            Rule::CallLogOfOwnSite,
            format!(
                "call log {} belongs to another site; report call events as {site}.<date>",
                change.key.id
            ),
        ));
    }
    if before.deleted.is_some() {
        return Err(refuse(
            Rule::DeleteIsFinal,
            format!(
                "call log {} is deleted, and a delete is final",
                change.key.id
            ),
        ));
    }
    for op in &change.ops {
        match op {
            FieldOp::AddCallEvent(event) => {
                if let Some(team) = &event.focus_team {
                    check_team(who, team, "focus_team", directory)?;
                }
            }
            FieldOp::Delete { .. } if !who.inhouse() => {
                return Err(refuse(
                    Rule::OnlyInhouseDeletes,
                    "only the in-house team deletes call logs",
                ));
            }
            FieldOp::Delete { .. } | FieldOp::Set(_) | FieldOp::AddComment(_) => {}
        }
    }
    Ok(())
}
