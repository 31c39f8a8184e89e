//! `/v1/admin/prompts`: every published prompt version of every tenant, with
//! who published it and when, most recent first, searched by a part of the
//! title, the text, the tenant or the publisher; and `POST
//! /v1/admin/prompts/{tenant_id}/{prompt_id}/rollback`, which makes an
//! earlier published version the active one again.
//!
//! A rollback is a publication like any other: it is merged into the
//! prompt's document (so every device of the tenant gets it on its next sync,
//! told at once through the live feed), stored over the revision it read
//! with its audit entry in one transaction, and the admin is recorded as
//! who published it.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::Method;
use orrery_domain::policy::Action;
use orrery_domain::{DocumentId, DocumentKind, Prompt, PromptVersionId, VersionStatus};
use orrery_store::{AuditEntry, PublishedPromptVersion};
use orrery_sync::LibraryDocument;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Admin, Paging};
use crate::http::{ApiContext, ApiError, MERGE_ATTEMPTS, MergeTarget, Routes};

pub(super) fn router() -> Routes {
    Routes::new()
        .add_admin(
            Method::GET,
            "/v1/admin/prompts",
            Action::ManagePrompts,
            list,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/prompts/{tenant_id}/{prompt_id}/rollback",
            Action::ManagePrompts,
            roll_back,
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Part of the title, the text, the tenant's name or the publisher's address.
    query: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[derive(Debug, Serialize)]
struct PublishedList {
    versions: Vec<PublishedPromptVersion>,
    total: u64,
    page: u64,
    per_page: u64,
}

async fn list(
    State(context): State<ApiContext>,
    _admin: Admin,
    asked: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<PublishedList>, ApiError> {
    let asked = super::query(asked)?;
    let paging = Paging::from_query(asked.page, asked.per_page)?;
    let text = super::search_text(asked.query.as_deref())?;
    let page = context
        .store
        .list_published_prompt_versions(text.as_deref(), paging.offset(), paging.per_page)
        .await?;
    Ok(Json(PublishedList {
        versions: page.versions,
        total: page.total,
        page: paging.page,
        per_page: paging.per_page,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollback {
    /// The earlier published version to make active again.
    version_id: String,
}

#[derive(Debug, Serialize)]
struct RolledBack {
    /// The version now active.
    version_id: PromptVersionId,
    /// The version that was active before, if one was.
    previous_version_id: Option<PromptVersionId>,
    /// When it became active, RFC 3339.
    activated_at: String,
    /// The audit entry that records it.
    audit: AuditEntry,
}

/// What the audit log keeps of a prompt's publication: which version is
/// active and since when, never the text.
fn publication_view(tenant: Uuid, prompt: &Prompt) -> serde_json::Value {
    let active = prompt.active_version();
    serde_json::json!({
        "tenant_id": tenant,
        "title": prompt.title,
        "active_version": active.map(|version| version.id),
        "activated_at": active.and_then(|version| version.activated_at.clone()),
    })
}

async fn roll_back(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path((tenant_id, prompt_id)): Path<(String, String)>,
    body: Result<Json<Rollback>, JsonRejection>,
) -> Result<Json<RolledBack>, ApiError> {
    let tenant: Uuid = tenant_id.parse().map_err(|_| {
        let shown: String = tenant_id.chars().take(60).collect();
        ApiError::BadRequest(format!("`{shown}` is not a tenant id (a UUID)"))
    })?;
    let prompt_id: DocumentId = prompt_id
        .parse()
        .map_err(|error: orrery_domain::IdError| ApiError::BadRequest(error.to_string()))?;
    let Json(Rollback { version_id }) = body?;
    let version: PromptVersionId = version_id
        .parse()
        .map_err(|error: orrery_domain::IdError| ApiError::Unprocessable(error.to_string()))?;

    // One merge at a time per document on this instance; between instances
    // the stored revision decides and the loser reads again.
    let _turn = context
        .merge_turn(
            tenant,
            MergeTarget::Library(DocumentKind::Prompt, prompt_id),
        )
        .await;
    for _ in 0..MERGE_ATTEMPTS {
        let Some((snapshot, revision)) = context
            .store
            .load_library_revision(tenant, DocumentKind::Prompt, prompt_id)
            .await?
        else {
            return Err(no_such_prompt(prompt_id));
        };
        let now = context.now();
        let at = orrery_store::timestamp(now);
        let (before, after, snapshot) =
            crate::http::off_thread(move || roll_back_document(prompt_id, &snapshot, version, &at))
                .await??;
        let previous = before.active_version().map(|version| version.id);
        let activated_at = after
            .version(version)
            .and_then(|version| version.activated_at.clone())
            .unwrap_or_default();
        let stored = context
            .store
            .store_prompt_rollback(
                tenant,
                &after,
                &snapshot,
                revision,
                &admin.actor(peer),
                publication_view(tenant, &before),
                publication_view(tenant, &after),
                now,
            )
            .await?;
        let Some(audit) = stored else {
            tracing::debug!(%prompt_id, %tenant, "a merge stored first; rolling back again");
            continue;
        };
        tracing::info!(%prompt_id, %tenant, %version, admin = %admin.0.user_id, "rolled a prompt back");
        // The tenant's devices sync it now.
        context
            .live
            .publish_document(crate::http::live::DocumentChanged {
                tenant,
                kind: DocumentKind::Prompt,
                document: prompt_id,
            })
            .await;
        return Ok(Json(RolledBack {
            version_id: version,
            previous_version_id: previous,
            activated_at,
            audit,
        }));
    }
    Err(ApiError::Conflict(format!(
        "prompt {prompt_id} is being changed by its devices faster than it can be rolled back; try again"
    )))
}

fn no_such_prompt(prompt_id: DocumentId) -> ApiError {
    ApiError::NotFound(format!("prompt {prompt_id} is not on the server"))
}

/// The prompt before and after making `version` active at `at`, and the
/// document's new snapshot. Only a version that was published before, and
/// is not the active one, can be rolled back to.
fn roll_back_document(
    prompt_id: DocumentId,
    snapshot: &[u8],
    version: PromptVersionId,
    at: &str,
) -> Result<(Prompt, Prompt, Vec<u8>), ApiError> {
    let document = LibraryDocument::from_snapshot(DocumentKind::Prompt, prompt_id, snapshot)
        .map_err(|error| ApiError::Internal(error.into()))?;
    if document.deleted_at().is_some() {
        return Err(no_such_prompt(prompt_id));
    }
    let before = document
        .to_prompt()
        .map_err(|error| ApiError::Internal(error.into()))?;
    let Some(chosen) = before.version(version) else {
        return Err(ApiError::NotFound(format!(
            "prompt {prompt_id} has no version {version}"
        )));
    };
    if chosen.status == VersionStatus::Active {
        return Err(ApiError::Conflict(format!(
            "version {version} is already the active one"
        )));
    }
    if chosen.activated_at.is_none() {
        return Err(ApiError::Unprocessable(format!(
            "version {version} was never published; only a version that was published can be rolled back to"
        )));
    }
    document
        .publish_prompt_version(version, at)
        .map_err(|error| ApiError::Internal(error.into()))?;
    let after = document
        .to_prompt()
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok((before, after, document.snapshot()))
}
