//! File endpoints: upload a file (streamed), attach one to a ticket, read one back. A file
//! hangs on a comment (`hotline_federation::attachment`): attaching to a ticket writes a
//! comment that carries the file; a comment with text and files names uploaded files by their
//! SHA-256 (`POST /v1/tickets/{number}/comments`, field `attachments`).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hotline_federation::attachment::{self, AttachmentRef};
use hotline_federation::authority::{Refusal, Rule};
use hotline_federation::model::{EntityKey, Visibility};
use hotline_federation::{FieldOp, lifecycle};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::App;
use super::fields::{FileName, OneLine, Sha256Hex, TicketNumber, VisibilityName};
use super::tickets::{change_ticket, load, ticket_key};
use crate::error::{Error, Result};
use crate::files::StoredFile;
use crate::openapi::{FileReadErrors, FileWriteErrors};
use crate::views::{self, CommentCreated};

/// A file the site stored.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FileStored {
    /// SHA-256 of the bytes, lowercase hex: name it in a comment's `attachments`.
    sha256: String,
    /// Size in bytes.
    size: u64,
    /// The content type, checked against the bytes.
    content_type: String,
}

impl From<StoredFile> for FileStored {
    fn from(file: StoredFile) -> Self {
        FileStored {
            sha256: file.sha256,
            size: file.size,
            content_type: file.content_type,
        }
    }
}

/// One file a new comment carries: an uploaded file and the name to show.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAttachment {
    /// The SHA-256 `POST /v1/files` answered.
    pub(crate) sha256: Sha256Hex,
    /// The file's name as readers see it.
    pub(crate) filename: FileName,
}

/// How to attach a file to a ticket.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AttachParams {
    /// The file's name as readers see it (no path).
    #[param(value_type = FileName)]
    filename: FileName,
    /// Who may read the file (and the comment that carries it).
    #[param(value_type = VisibilityName)]
    visibility: VisibilityName,
    /// The advisor's alias.
    #[param(value_type = OneLine)]
    author_alias: OneLine,
    /// Text of the comment that carries the file; empty when absent.
    #[param(value_type = Option<OneLine>)]
    text: Option<OneLine>,
}

/// The declared content type of a request (its parameters, such as `charset`, dropped).
fn declared_type(headers: &HeaderMap) -> Result<String> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Error::UnsupportedType(format!(
                "no Content-Type: declare the file's type, one of: {}",
                attachment::ALLOWED_TYPES.join(", ")
            ))
        })?;
    Ok(value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase())
}

/// Upload a file
///
/// Stores the request body (the file's bytes, streamed; at most `files.max_bytes`, 10 MiB by
/// default) under its SHA-256, checking the declared `Content-Type` against the bytes (allowed:
/// application/pdf, application/zip, image/gif, image/jpeg, image/png, image/webp, text/plain).
/// Name the answered `sha256` in a comment's `attachments` within an hour; a file no comment
/// names is deleted then. The same bytes are stored once however often they are uploaded.
#[utoipa::path(post, path = "/v1/files", tag = "files", operation_id = "uploadFile",
    request_body(description = "The file's bytes, of one of the allowed types (Content-Type); \
        the bytes must be of the type declared (a PNG starts with the PNG signature, text is \
        UTF-8 without NUL bytes), or the answer is 415.",
        content((Vec<u8> = "application/pdf"), (Vec<u8> = "application/zip"),
            (Vec<u8> = "image/gif"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"),
            (Vec<u8> = "image/webp"), (Vec<u8> = "text/plain"))),
    responses((status = 201, description = "Stored.", body = FileStored), FileWriteErrors))]
pub(crate) async fn upload(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FileStored>)> {
    let declared = declared_type(&headers)?;
    let stored = app.files.receive(body, &declared).await?;
    Ok((StatusCode::CREATED, Json(stored.into())))
}

/// Attach a file to a ticket
///
/// Stores the request body as [`upload`] does and writes a comment that carries it (with
/// `text`, or empty): the file is visible exactly where the comment is (`visibility`).
#[utoipa::path(post, path = "/v1/tickets/{number}/attachments", tag = "files",
    operation_id = "attachFile",
    params(("number" = TicketNumber, Path, description = "The ticket's public number."),
        AttachParams),
    request_body(description = "The file's bytes, of one of the allowed types (Content-Type); \
        the bytes must be of the type declared (a PNG starts with the PNG signature, text is \
        UTF-8 without NUL bytes), or the answer is 415.",
        content((Vec<u8> = "application/pdf"), (Vec<u8> = "application/zip"),
            (Vec<u8> = "image/gif"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"),
            (Vec<u8> = "image/webp"), (Vec<u8> = "text/plain"))),
    responses((status = 201, description = "The comment carrying the file, and the ticket.",
        body = CommentCreated), FileWriteErrors))]
pub(crate) async fn attach(
    State(app): State<Arc<App>>,
    number: std::result::Result<Path<String>, PathRejection>,
    params: std::result::Result<Query<AttachParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CommentCreated>)> {
    let key = ticket_key(number)?;
    let Query(params) = params.map_err(|e| Error::BadRequest(e.body_text()))?;
    let declared = declared_type(&headers)?;
    app.check_clock()?;
    // Before the body is read: a file for a ticket the site does not know is not stored.
    load(&app, key.clone()).await?;
    let stored = app.files.receive(body, &declared).await?;
    let text = params.text.map(|t| t.0).unwrap_or_default();
    let files = vec![(stored.sha256, params.filename.0)];
    write_comment(
        &app,
        key,
        params.author_alias.0,
        params.visibility.0,
        text,
        files,
    )
    .await
}

/// Writes a comment carrying `files` (SHA-256 and name each, held at the site), holding the
/// files' lock so the keeper deletes none of them meanwhile.
pub(crate) async fn write_comment(
    app: &Arc<App>,
    key: EntityKey,
    author_alias: String,
    visibility: Visibility,
    body: String,
    files: Vec<(String, String)>,
) -> Result<(StatusCode, Json<CommentCreated>)> {
    // Only a comment naming files waits for (and holds off) the keeper's deletions.
    let _naming = match files.is_empty() {
        true => None,
        false => Some(app.files.naming().await),
    };
    let mut attachments = Vec::with_capacity(files.len());
    for (sha256, filename) in files {
        let stored = app.files.adopt(&sha256)?;
        attachments.push(AttachmentRef {
            sha256: stored.sha256,
            size: stored.size,
            content_type: stored.content_type,
            filename,
        });
    }
    if visibility == Visibility::Public {
        check_public_texts(app, &attachments).await?;
    }
    let settle: Vec<String> = attachments.iter().map(|f| f.sha256.clone()).collect();
    let (site, tenant) = (app.config.site.clone(), app.config.tenant.clone());
    let (change, after) = change_ticket(app, key, move |seq, _, now| {
        let mut comment =
            lifecycle::new_comment(&site, &tenant, seq, author_alias, visibility, body, now);
        comment.attachments = attachments;
        Ok(vec![FieldOp::AddComment(comment)])
    })
    .await?;
    for sha256 in settle {
        app.files.settle(&sha256)?;
    }
    app.outbox.notify_one();
    app.events.notify.notify_one();
    let id = match change.ops.first() {
        Some(FieldOp::AddComment(c)) => c.id.clone(),
        _ => String::new(),
    };
    Ok((
        StatusCode::CREATED,
        Json(CommentCreated {
            id,
            ticket: views::ticket(&after, &app.mapping),
        }),
    ))
}

/// The customer reads a public comment's text files: they pass the leak guard like its text
/// (the gateway checks again), or the comment is refused (422 `customer_text_clean`).
async fn check_public_texts(app: &Arc<App>, files: &[AttachmentRef]) -> Result<()> {
    let mut guard = None;
    for (i, file) in files.iter().enumerate() {
        if file.content_type != "text/plain" {
            continue;
        }
        let Some(path) = app.files.file(&file.sha256) else {
            continue;
        };
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| Error::Storage(format!("files: cannot read {}: {e}", path.display())))?;
        let guard = match &guard {
            Some(guard) => guard,
            None => {
                let replica = app.replica.clone();
                guard.insert(super::tickets::blocking(move || replica.leak_guard()).await?)
            }
        };
        if let Err(leak) = guard.check(
            &format!("attachments[{i}]"),
            &String::from_utf8_lossy(&bytes),
        ) {
            return Err(Error::Refused(Refusal::new(
                Rule::CustomerTextClean,
                format!("the customer reads {}: {leak}", file.filename),
            )));
        }
    }
    Ok(())
}

/// Read a ticket's file
///
/// The bytes of a file a comment of the ticket carries, as this site sees the ticket; fetched
/// from the gateway on first read when the site does not hold it yet (502 while the gateway
/// cannot be reached). A file the site may not read answers 404 like one that does not exist.
#[utoipa::path(get, path = "/v1/tickets/{number}/files/{sha256}", tag = "files",
    operation_id = "getFile",
    params(("number" = TicketNumber, Path, description = "The ticket's public number."),
        ("sha256" = Sha256Hex, Path, description = "The file's SHA-256.")),
    responses((status = 200, description = "The file's bytes, with its Content-Type.",
        content((Vec<u8> = "application/pdf"), (Vec<u8> = "application/zip"),
            (Vec<u8> = "image/gif"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"),
            (Vec<u8> = "image/webp"), (Vec<u8> = "text/plain"))), FileReadErrors))]
pub(crate) async fn download(
    State(app): State<Arc<App>>,
    path: std::result::Result<Path<(String, String)>, PathRejection>,
) -> Result<Response> {
    let Path((number, sha256)) =
        path.map_err(|e| Error::BadRequest(format!("path: {}", e.body_text())))?;
    let number =
        TicketNumber::parse(&number).map_err(|p| Error::BadRequest(format!("number: {p}")))?;
    let sha256 =
        Sha256Hex::parse(&sha256).map_err(|p| Error::BadRequest(format!("sha256: {p}")))?;
    let key = EntityKey::new(hotline_federation::model::EntityKind::Ticket, number.0);
    let state = load(&app, key.clone()).await?;
    let Some(file) = state
        .comments
        .values()
        .flat_map(|c| c.value.attachments.iter())
        .find(|f| f.sha256 == sha256.0)
        .cloned()
    else {
        return Err(Error::NotFound(format!(
            "ticket {} carries no file {} at site {}",
            key.id, sha256.0, app.config.site
        )));
    };
    let path = app.files.fetch(&file).await?;
    let source = tokio::fs::File::open(&path)
        .await
        .map_err(|e| Error::Storage(format!("files: cannot open {}: {e}", path.display())))?;
    let stream = futures_util::stream::unfold(source, |mut source| async move {
        use tokio::io::AsyncReadExt;
        let mut data = vec![0u8; 64 * 1024];
        match source.read(&mut data).await {
            Ok(0) => None,
            Ok(n) => {
                data.truncate(n);
                Some((Ok::<_, std::io::Error>(data), source))
            }
            Err(e) => Some((Err(e), source)),
        }
    });
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        attachment::header_name(&file.filename)
    );
    Ok((
        [
            (header::CONTENT_TYPE, file.content_type.clone()),
            (header::CONTENT_LENGTH, file.size.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
