//! Library documents (agents, prompts, sandbox sessions):
//! `GET /v1/library/{kind}` lists a kind, `POST
//! /v1/library/{kind}/{document_id}/sync` merges a device's updates and
//! answers with what the device lacks. The same frame, limits and merge rules
//! as graph sync (`graphs.rs`); each merge also rewrites what is materialised
//! from the document (its summary, a session's `chat_messages`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Method, header};
use axum::response::IntoResponse;
use orrery_domain::api_scope::ApiScope;
use orrery_domain::{DocumentId, DocumentKind};
use orrery_store::ServerLibrarySummary;
use orrery_sync::protocol::{CONTENT_TYPE, MAX_FRAME_BYTES, SyncRequest, SyncResponse};
use orrery_sync::{LibraryDocument, Version};

use super::{Access, ApiContext, ApiError, Routes, SignedIn};

pub(super) fn router() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/v1/library/{kind}",
            Access::SignedIn,
            list_documents,
        )
        .for_keys(ApiScope::LibraryRead)
        .add_limited(
            Method::POST,
            "/v1/library/{kind}/{document_id}/sync",
            Access::SignedIn,
            MAX_FRAME_BYTES,
            sync_document,
        )
        // Pulling needs library:read; sending changes also library:write.
        .for_keys(ApiScope::LibraryRead)
}

/// An unknown kind is a path that does not exist.
fn parse_kind(kind: &str) -> Result<DocumentKind, ApiError> {
    DocumentKind::parse(kind).map_err(|error| ApiError::NotFound(error.to_string()))
}

#[utoipa::path(
    get,
    path = "/v1/library/{kind}",
    tag = "Library",
    summary = "List library items",
    description = "Your agents, prompts or sessions, with what is listed about each.",
    params(("kind" = String, Path, description = "`agent`, `prompt` or `session`")),
    responses(
        (status = 200, description = "The items", body = Vec<Object>),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
        (status = 404, description = "No such kind", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["library:read"]))
)]
pub(super) async fn list_documents(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(kind): Path<String>,
) -> Result<Json<Vec<ServerLibrarySummary>>, ApiError> {
    let kind = parse_kind(&kind)?;
    Ok(Json(
        context
            .store
            .list_library_documents(principal.tenant_id, kind)
            .await?,
    ))
}

/// Merges into the signed-in user's tenant only: a document id another
/// tenant uses is a different document, unseen and untouched.
#[utoipa::path(
    post,
    path = "/v1/library/{kind}/{document_id}/sync",
    tag = "Library",
    summary = "Sync a library item",
    description = "One round of CRDT sync of an agent, prompt or session. Pulling needs `library:read`; sending updates also `library:write`.",
    params(("kind" = String, Path, description = "`agent`, `prompt` or `session`"), ("document_id" = String, Path, description = "The item's id")),
    request_body(content = Vec<u8>, content_type = "application/vnd.orrery.sync", description = "A sync frame (see `orrery-sync`'s protocol): the client's version vector and its updates"),
    responses(
        (status = 200, description = "The server's version and the updates you lack", content_type = "application/vnd.orrery.sync", body = Vec<u8>),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["library:read"]))
)]
pub(super) async fn sync_document(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path((kind, document_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let kind = parse_kind(&kind)?;
    let document_id: DocumentId = document_id
        .parse()
        .map_err(|error: orrery_domain::IdError| ApiError::BadRequest(error.to_string()))?;
    let request = SyncRequest::decode(&body?)?;
    if !request.updates.is_empty() {
        super::principal::require_scope(&principal, ApiScope::LibraryWrite)?;
    }
    let client_version = Version::decode(&request.client_version)?;

    // One merge at a time per document on this instance; between instances
    // the stored revision decides and the loser merges again.
    let _turn = context
        .merge_turn(
            principal.tenant_id,
            super::MergeTarget::Library(kind, document_id),
        )
        .await;
    for _ in 0..super::MERGE_ATTEMPTS {
        if let Some(document) = merge(
            &context,
            (principal.tenant_id, principal.user_id),
            kind,
            document_id,
            &request,
        )
        .await?
        {
            let client_version = client_version.clone();
            let frame = super::off_thread(move || {
                SyncResponse {
                    server_version: document.version().encode(),
                    updates: document.updates_since(&client_version),
                }
                .encode()
            })
            .await?;
            return Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], frame));
        }
    }
    Err(ApiError::Conflict(format!(
        "{kind} {document_id} is being changed by other devices faster than it can be merged; sync again"
    )))
}

/// Merges the request's updates into the stored document and stores the
/// result. `None` when another merge stored first (nothing was stored).
async fn merge(
    context: &ApiContext,
    (tenant, user): (uuid::Uuid, uuid::Uuid),
    kind: DocumentKind,
    document_id: DocumentId,
    request: &SyncRequest,
) -> Result<Option<LibraryDocument>, ApiError> {
    let stored = context
        .store
        .load_library_revision(tenant, kind, document_id)
        .await?;
    if stored.is_none() && request.updates.is_empty() {
        return Err(ApiError::NotFound(format!(
            "{kind} {document_id} is not on the server"
        )));
    }
    let read_revision = stored.as_ref().map(|(_, revision)| *revision);
    // Decoding, merging and encoding run off the async workers.
    let snapshot = stored.map(|(snapshot, _)| snapshot);
    let updates = request.updates.clone();
    let (document, changed) = super::off_thread(move || -> Result<_, ApiError> {
        let mut document = match &snapshot {
            Some(snapshot) => LibraryDocument::from_snapshot(kind, document_id, snapshot)
                .map_err(|error| ApiError::Internal(error.into()))?,
            None => LibraryDocument::empty(kind, document_id),
        };
        if updates.is_empty() {
            return Ok((document, None));
        }
        let before = document.version();
        // Checked on a copy: updates that do not decode, need unknown history or
        // leave something that is not a valid item of this kind change nothing.
        document.merge(&updates)?;
        if document.version() == before {
            return Ok((document, None));
        }
        let item = document.to_item()?;
        let snapshot = document.snapshot();
        Ok((document, Some((item, snapshot))))
    })
    .await??;
    let Some((item, snapshot)) = changed else {
        return Ok(Some(document));
    };
    let saved = context
        .store
        .save_library_document(
            tenant,
            &item,
            &snapshot,
            user,
            read_revision,
            document.deleted_at().as_deref(),
        )
        .await?;
    if !saved {
        tracing::debug!(%kind, %document_id, %tenant, "another merge stored first; merging again");
        return Ok(None);
    }
    tracing::info!(%kind, %document_id, %tenant, %user, "merged updates");
    // Devices listening on /v1/live sync it now.
    context
        .live
        .publish_document(super::live::DocumentChanged {
            tenant,
            kind,
            document: document_id,
        })
        .await;
    Ok(Some(document))
}

/// Merges changes the server made itself (a run's chat in its session) into
/// a tenant's document, exactly as a device's sync is merged, and tells the
/// tenant's devices.
pub(super) async fn merge_from_server(
    context: &ApiContext,
    tenant: uuid::Uuid,
    user: uuid::Uuid,
    kind: DocumentKind,
    document_id: DocumentId,
    from: &Version,
    updates: Vec<u8>,
) -> Result<(), ApiError> {
    let request = SyncRequest {
        client_version: from.encode(),
        updates,
    };
    let _turn = context
        .merge_turn(tenant, super::MergeTarget::Library(kind, document_id))
        .await;
    for _ in 0..super::MERGE_ATTEMPTS {
        if merge(context, (tenant, user), kind, document_id, &request)
            .await?
            .is_some()
        {
            return Ok(());
        }
    }
    Err(ApiError::Conflict(format!(
        "{kind} {document_id} is being changed faster than it can be merged"
    )))
}

/// Prompts materialised per batch at start.
const MATERIALISE_BATCH: u64 = 64;

/// Writes the `prompt_versions` rows of prompts stored before that table
/// existed (their publishers unknown), so the management window lists every
/// published version. Done at the first start with the table, then recorded
/// as done: later merges write the rows themselves.
pub(crate) async fn materialise_prompt_versions(
    store: &orrery_store::ServerStore,
) -> anyhow::Result<()> {
    if store.prompt_versions_materialised().await? {
        return Ok(());
    }
    let mut after = None;
    let mut written = 0_usize;
    loop {
        let batch = store
            .prompts_without_versions(after, MATERIALISE_BATCH)
            .await?;
        let Some((tenant, document, _)) = batch.last() else {
            break;
        };
        after = Some((*tenant, *document));
        for (tenant, document, snapshot) in batch {
            let prompt = super::off_thread(move || {
                LibraryDocument::from_snapshot(DocumentKind::Prompt, document, &snapshot)
                    .and_then(|document| document.to_prompt())
            })
            .await?;
            match prompt {
                Ok(prompt) => {
                    store.materialise_prompt_versions(tenant, &prompt).await?;
                    written += 1;
                }
                // One unreadable document does not stop the server.
                Err(error) => {
                    tracing::warn!(%tenant, %document, %error, "a stored prompt could not be read")
                }
            }
        }
    }
    if written > 0 {
        tracing::info!(
            prompts = written,
            "materialised the versions of stored prompts"
        );
    }
    store.mark_prompt_versions_materialised().await?;
    Ok(())
}
