//! `GET /v1/admin/users/{user_id}/export`: one JSON archive of everything the
//! server holds about a user (account, devices, API keys without secrets,
//! graphs in Orrery's graph file format, agents, prompts, sessions with
//! their chats, usage, subscriptions, invoices, marketplace purchases,
//! reviews, listings and selling account); and `DELETE
//! /v1/admin/users/{user_id}`: the user removed with all their data, their
//! credentials and live feeds stopped at once. Both are recorded in the
//! audit log; the export's entry says what was taken, never the data.

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use orrery_domain::policy::Action;
use orrery_domain::{DocumentKind, GraphId, LibraryItem};
use orrery_store::{AuditEntry, UserDeletion, UserRows};
use orrery_sync::{GraphDocument, LibraryDocument};
use serde::Serialize;

use super::{Admin, user_id};
use crate::http::{ApiContext, ApiError, Routes};

/// The archive's format name and version.
pub const EXPORT_FORMAT: &str = "orrery-user-export";
/// Bumped when the archive's shape changes.
pub const EXPORT_VERSION: u32 = 1;

pub(super) fn router() -> Routes {
    Routes::new()
        .add_admin(
            Method::GET,
            "/v1/admin/users/{user_id}/export",
            Action::ExportUserData,
            export,
        )
        .add_admin(
            Method::DELETE,
            "/v1/admin/users/{user_id}",
            Action::DeleteUsers,
            delete,
        )
}

#[derive(Debug, Default, Serialize)]
struct Library {
    agents: Vec<serde_json::Value>,
    prompts: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct Archive {
    format: &'static str,
    version: u32,
    exported_at: String,
    account: serde_json::Value,
    identities: Vec<serde_json::Value>,
    devices: Vec<serde_json::Value>,
    api_keys: Vec<serde_json::Value>,
    /// Each graph as Orrery's graph file (what "Export graph" writes).
    graphs: Vec<serde_json::Value>,
    library: Library,
    /// Sandbox sessions with their chats.
    sessions: Vec<serde_json::Value>,
    usage: Vec<serde_json::Value>,
    subscriptions: Vec<serde_json::Value>,
    invoices: Vec<serde_json::Value>,
    marketplace: serde_json::Value,
    /// The teams they belong to, with their role (a team's graphs are the
    /// team's, not exported with one member).
    teams: Vec<serde_json::Value>,
}

fn corrupt(what: &str, id: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!(
        "the stored {what} {id} cannot be read: {error}"
    ))
}

fn archive(rows: UserRows, exported_at: String) -> Result<Archive, ApiError> {
    let mut graphs = Vec::new();
    let mut library = Library::default();
    let mut sessions = Vec::new();
    for document in rows.documents {
        if document.kind == "graph" {
            let id: GraphId = document
                .id
                .parse()
                .map_err(|error| corrupt("graph", &document.id, error))?;
            let graph = GraphDocument::from_snapshot(id, &document.snapshot)
                .and_then(|stored| stored.to_graph())
                .map_err(|error| corrupt("graph", &document.id, error))?;
            let file: serde_json::Value =
                serde_json::from_str(&orrery_domain::export_graph(&graph))
                    .map_err(|error| corrupt("graph", &document.id, error))?;
            graphs.push(file);
            continue;
        }
        let kind: DocumentKind = document
            .kind
            .parse()
            .map_err(|error| corrupt("library kind", &document.kind, error))?;
        let id = document
            .id
            .parse()
            .map_err(|error| corrupt("document", &document.id, error))?;
        let item = LibraryDocument::from_snapshot(kind, id, &document.snapshot)
            .and_then(|stored| stored.to_item())
            .map_err(|error| corrupt("document", &document.id, error))?;
        let value = serde_json::to_value(&item)
            .map_err(|error| corrupt("document", &document.id, error))?;
        match item {
            LibraryItem::Agent(_) => library.agents.push(value),
            LibraryItem::Prompt(_) => library.prompts.push(value),
            LibraryItem::Session(_) => sessions.push(value),
        }
    }
    let mut account = serde_json::to_value(&rows.user)
        .map_err(|error| ApiError::Internal(anyhow::anyhow!(error)))?;
    if let (Some(account), Some(settings)) = (account.as_object_mut(), rows.settings.as_object()) {
        for (key, value) in settings {
            account.insert(key.clone(), value.clone());
        }
    }
    Ok(Archive {
        format: EXPORT_FORMAT,
        version: EXPORT_VERSION,
        exported_at,
        account,
        identities: rows.identities,
        devices: rows.devices,
        api_keys: rows.api_keys,
        graphs,
        library,
        sessions,
        usage: rows.usage,
        subscriptions: rows.subscriptions,
        invoices: rows.invoices,
        marketplace: rows.marketplace,
        teams: rows.teams,
    })
}

async fn export(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let now = context.now();
    let rows = context
        .store
        .user_rows(id, now)
        .await?
        .ok_or_else(|| ApiError::NotFound("no user has this id".into()))?;
    let archive = archive(rows, orrery_store::timestamp(now))?;
    let summary = serde_json::json!({
        "graphs": archive.graphs.len(),
        "agents": archive.library.agents.len(),
        "prompts": archive.library.prompts.len(),
        "sessions": archive.sessions.len(),
        "invoices": archive.invoices.len(),
    });
    context
        .store
        .audit_user_export(id, summary, &admin.actor(peer), now)
        .await?;
    tracing::info!(admin = %admin.0.user_id, user = %id, "admin exported a user's data");
    let mut response = Json(archive).into_response();
    let disposition = format!("attachment; filename=\"orrery-user-{id}.json\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Debug, Serialize)]
struct Deleted {
    deleted: bool,
    audit: AuditEntry,
}

async fn delete(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let id = user_id(&id)?;
    if id == admin.0.user_id {
        return Err(ApiError::Conflict(
            "you cannot delete your own account from here; ask another admin".into(),
        ));
    }
    match context
        .store
        .delete_user_as_admin(id, &admin.actor(peer), context.now())
        .await?
    {
        UserDeletion::Deleted(entry) => {
            // Feeds already open close now, on this instance and every other.
            context.live.disconnect_user(id).await;
            tracing::info!(admin = %admin.0.user_id, user = %id, "admin deleted a user");
            Ok(Json(Deleted {
                deleted: true,
                audit: *entry,
            }))
        }
        UserDeletion::NoSuchUser => Err(ApiError::NotFound("no user has this id".into())),
        UserDeletion::LastAdmin => Err(ApiError::Conflict(
            "this is the server's last active admin; make another admin first".into(),
        )),
    }
}
