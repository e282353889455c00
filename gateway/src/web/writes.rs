//! The customer's two writes on the status page: a reply (`POST /reply`), stored as a public
//! comment, and a rating (`POST /rate`), stored in-house only. Both look the ticket up like the
//! status page ([`found`]), decide, and answer with the ticket's page as stored afterwards.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use hotline_federation::authority::Rule;

use super::PeerAddr;
use super::form::{field, fields};
use super::handlers::{Web, asked_language, found, reread, ticket_page};
use super::pages::Notice;
use super::rating::{self, MAX_REMARK, Offer, RatingNotice as R};
use crate::writer::{CustomerReply, Outcome};

/// `POST /reply`: the customer's reply, stored as a public comment once the code, the size
/// and the leak guard allow it.
pub(super) async fn reply(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = fields(&body);
    let (number, code) = (field(&form, "number"), field(&form, "code"));
    let text = field(&form, "body").replace("\r\n", "\n");
    let asked = asked_language(&uri, &headers);
    let ticket = match found(&web, peer, &headers, asked, &number, &code).await {
        Ok(ticket) => ticket,
        Err(refused) => return refused,
    };
    let max = web.state.config.web.max_reply_bytes;
    let text = text.trim().to_owned();
    let refused_here = if text.is_empty() {
        Some((Notice::ReplyEmpty, "empty"))
    } else if text.len() > max {
        Some((Notice::ReplyTooLong(max), "too_long"))
    } else if let Err(leak) = web.state.shared.face().guard.check("reply.body", &text) {
        tracing::info!(ticket = %ticket.key.id, term = %leak.term, "customer reply refused by the leak guard");
        Some((Notice::ReplyRefused, "customer_text_clean"))
    } else {
        None
    };
    let notice = if let Some((notice, why)) = refused_here {
        // In the trail without the text (the writer records the replies it decides).
        let detail = serde_json::json!({ "rule": why });
        let recorded = crate::audit::record(
            &web.state,
            hotline_federation::customer::CUSTOMER_ALIAS.into(),
            "status_page.reply.refused",
            &ticket.key.to_string(),
            detail,
        )
        .await;
        match recorded {
            Ok(_) => notice,
            Err(error) => {
                tracing::error!(ticket = %ticket.key.id, %error, "customer reply not recorded");
                Notice::ReplyFailed
            }
        }
    } else {
        let reply = CustomerReply {
            ticket: ticket.key.clone(),
            body: text,
            at_ms: web.state.now_ms(),
        };
        match web.state.writer.reply(reply).await {
            Ok(Outcome::Accepted { .. }) => Notice::ReplySent,
            Ok(Outcome::Rejected(refusal)) => {
                tracing::info!(ticket = %ticket.key.id, rule = %refusal.rule, message = %refusal.message, "customer reply refused");
                match refusal.rule {
                    Rule::CustomerTextClean => Notice::ReplyRefused,
                    Rule::WellFormed => Notice::ReplyInvalid,
                    _ => Notice::ReplyFailed,
                }
            }
            Err(error) => {
                tracing::error!(ticket = %ticket.key.id, %error, "customer reply not stored");
                Notice::ReplyFailed
            }
        }
    };
    let shown = reread(&web, ticket).await;
    ticket_page(&web, &shown, asked, &number, &code, Some(notice))
}

/// `POST /rate`: the customer's 1-5 rating of a resolved ticket with an optional remark, once
/// per ticket; stored in-house only.
pub(super) async fn rate(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = fields(&body);
    let (number, code) = (field(&form, "number"), field(&form, "code"));
    let remark = field(&form, "remark")
        .replace("\r\n", "\n")
        .trim()
        .to_owned();
    let score = field(&form, "score").parse::<u32>().ok();
    let asked = asked_language(&uri, &headers);
    let ticket = match found(&web, peer, &headers, asked, &number, &code).await {
        Ok(ticket) => ticket,
        Err(refused) => return refused,
    };
    let score = score.and_then(|s| hotline_federation::service::check_score(s).ok());
    let notice = match (rating::offer(&ticket), score) {
        (Offer::Given, _) => R::Twice,
        (Offer::NotYet, _) => R::NotResolved,
        (Offer::Open, None) => R::Invalid,
        (Offer::Open, Some(_)) if remark.len() > MAX_REMARK => R::Invalid,
        (Offer::Open, Some(score)) => {
            let request = crate::writer::CustomerRatingRequest {
                ticket: ticket.key.clone(),
                score,
                remark,
                at_ms: web.state.now_ms(),
            };
            match web.state.writer.rate(request).await {
                Ok(Outcome::Accepted { .. }) => R::Saved,
                Ok(Outcome::Rejected(refusal)) => {
                    tracing::info!(ticket = %ticket.key.id, rule = %refusal.rule, message = %refusal.message, "customer rating refused");
                    match refusal.rule {
                        Rule::RatingByCustomer => R::Twice,
                        Rule::CustomerTextClean => R::Refused,
                        Rule::WellFormed => R::Invalid,
                        _ => R::Failed,
                    }
                }
                Err(error) => {
                    tracing::error!(ticket = %ticket.key.id, %error, "customer rating not stored");
                    R::Failed
                }
            }
        }
    };
    let shown = reread(&web, ticket).await;
    ticket_page(
        &web,
        &shown,
        asked,
        &number,
        &code,
        Some(Notice::Rating(notice)),
    )
}
