//! Graph documents: `GET /v1/graphs` lists them, `POST /v1/graphs/{id}/sync`
//! merges a device's updates and answers with what the device lacks.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Method, header};
use axum::response::IntoResponse;
use orrery_domain::GraphId;
use orrery_domain::api_scope::ApiScope;
use orrery_domain::policy::Action;
use orrery_store::{GraphWrite, ServerGraphSummary};
use orrery_sync::protocol::{CONTENT_TYPE, MAX_FRAME_BYTES, SyncRequest, SyncResponse};
use orrery_sync::{GraphDocument, Merge, Version};

use super::{Access, ApiContext, ApiError, Routes, SignedIn};

pub(super) fn router() -> Routes {
    Routes::new()
        .add(Method::GET, "/v1/graphs", Access::SignedIn, list_graphs)
        .for_keys(ApiScope::GraphsRead)
        .add_limited(
            Method::POST,
            "/v1/graphs/{graph_id}/sync",
            Access::SignedIn,
            MAX_FRAME_BYTES,
            sync_graph,
        )
        // Pulling needs graphs:read; sending changes also graphs:write.
        .for_keys(ApiScope::GraphsRead)
}

async fn list_graphs(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<Vec<ServerGraphSummary>>, ApiError> {
    Ok(Json(
        context
            .store
            .list_graph_documents(principal.tenant_id)
            .await?,
    ))
}

/// Merges into the signed-in user's tenant only: a graph id another tenant
/// uses is a different document, unseen and untouched.
async fn sync_graph(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(graph_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let graph_id: GraphId = graph_id
        .parse()
        .map_err(|error: orrery_domain::IdError| ApiError::BadRequest(error.to_string()))?;
    let request = Arc::new(SyncRequest::decode(&body?)?);
    if !request.updates.is_empty() {
        super::principal::require_key_scope(&principal, ApiScope::GraphsWrite)?;
    }
    let client_version = Version::decode(&request.client_version)?;

    // A device that sends nothing and already has everything (the common
    // case: every device pulls every graph on its timer and after each
    // change it hears of) is answered from the stored version alone, and a
    // device that has nothing gets the stored snapshot as it is: neither
    // decodes the document or waits for a merge slot.
    if request.updates.is_empty() && client_version != Version::default() {
        if let Some(stored) = context
            .store
            .stored_graph_version(principal.tenant_id, graph_id)
            .await?
            && Version::decode(&stored).is_ok_and(|stored| stored == client_version)
        {
            let frame = SyncResponse {
                server_version: stored,
                updates: Vec::new(),
            }
            .encode();
            return Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], frame));
        }
    } else if request.updates.is_empty()
        && let Some((snapshot, Some(version))) = context
            .store
            .stored_graph_snapshot(principal.tenant_id, graph_id)
            .await?
    {
        let frame = super::off_thread(move || {
            SyncResponse {
                server_version: version,
                updates: snapshot,
            }
            .encode()
        })
        .await?;
        return Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], frame));
    }

    // One merge at a time per graph on this instance; between instances the
    // stored revision decides and the loser merges again.
    let _turn = context
        .merge_turn(principal.tenant_id, super::MergeTarget::Graph(graph_id))
        .await;
    for _ in 0..super::MERGE_ATTEMPTS {
        if let Some(Merged { document, snapshot }) =
            merge(&context, &principal, graph_id, &request).await?
        {
            // A device that has nothing gets a snapshot (the stored one when
            // it is the whole document): loading a snapshot is cheaper than
            // replaying history.
            let client_version = client_version.clone();
            let frame = super::off_thread(move || {
                let updates = if client_version == GraphDocument::empty(graph_id).version() {
                    snapshot.unwrap_or_else(|| document.snapshot())
                } else {
                    document.updates_since(&client_version)
                };
                SyncResponse {
                    server_version: document.version().encode(),
                    updates,
                }
                .encode()
            })
            .await?;
            return Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], frame));
        }
    }
    Err(ApiError::Conflict(format!(
        "graph {graph_id} is being changed by other devices faster than it can be merged; sync again"
    )))
}

/// A merged document, and its stored snapshot when that is the whole document.
struct Merged {
    document: GraphDocument,
    snapshot: Option<Vec<u8>>,
}

/// After this many updates stored behind a graph's snapshot, a merge folds
/// them into a new snapshot: loading stays a snapshot and a handful of small
/// imports, and a 10k-node graph's megabytes are written once per this many
/// merges instead of every time.
const FOLD_AFTER_UPDATES: usize = 32;

/// Merges the request's updates into the stored document and stores the
/// result. `None` when another merge stored first (nothing was stored).
async fn merge(
    context: &ApiContext,
    principal: &orrery_store::Principal,
    graph_id: GraphId,
    request: &Arc<SyncRequest>,
) -> Result<Option<Merged>, ApiError> {
    let tenant = principal.tenant_id;
    let stored = context.store.load_graph_revision(tenant, graph_id).await?;
    // Creating a graph holds the tenant's creation lock until it is stored, so
    // concurrent first pushes cannot both take the plan's last graph.
    let creation_lock = match stored {
        None => Some(context.creation_lock(tenant).await),
        Some(_) => None,
    };
    let _creating = match &creation_lock {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let stored = stored.map(Arc::new);
    let document = match &stored {
        Some(stored) => {
            let stored = Arc::clone(stored);
            super::off_thread(move || {
                GraphDocument::from_stored(graph_id, &stored.snapshot, &stored.updates)
            })
            .await?
            .map_err(|error| ApiError::Internal(error.into()))?
        }
        None if request.updates.is_empty() => {
            return Err(ApiError::NotFound(format!(
                "graph {graph_id} is not on the server"
            )));
        }
        None => {
            // A new graph counts against the plan's graphs.
            super::policy::allowed(context, principal, &Action::CreateGraph).await?;
            GraphDocument::empty(graph_id)
        }
    };
    let unchanged = |document: GraphDocument| -> Result<Option<Merged>, ApiError> {
        let snapshot = stored
            .as_ref()
            .filter(|stored| stored.updates.is_empty())
            .map(|stored| stored.snapshot.clone());
        Ok(Some(Merged { document, snapshot }))
    };
    if request.updates.is_empty() {
        return unchanged(document);
    }
    // The document was loaded for this merge alone, so the updates go into
    // it directly; refused updates drop it with the error.
    let before = document.version();
    let merging = Arc::clone(request);
    let (document, merge) =
        super::off_thread(move || document.merge_checked(&merging.updates)).await??;
    let deleted_at = document.deleted_at();
    // A restored graph counts against the plan's graphs again: checked under
    // the tenant's creation lock, held until it is stored, as for a new one.
    let restoring = stored.as_ref().is_some_and(|stored| stored.deleted)
        && deleted_at.is_none()
        && !matches!(merge, Merge::Unchanged);
    let restore_lock = match restoring {
        true => Some(context.creation_lock(tenant).await),
        false => None,
    };
    let _restoring = match &restore_lock {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    if restoring {
        super::policy::allowed(context, principal, &Action::CreateGraph).await?;
    }
    let summary = match merge {
        Merge::Unchanged => return unchanged(document),
        // Moves, relabels and renames: the counts stand.
        Merge::Fields { name } => ServerGraphSummary {
            id: graph_id,
            name,
            node_count: stored.as_ref().map_or(0, |stored| stored.node_count),
            edge_count: stored.as_ref().map_or(0, |stored| stored.edge_count),
            updated_at: String::new(),
            deleted_at,
        },
        Merge::Structure(graph) => {
            // Growing a graph past the plan's nodes per graph is refused, and
            // nothing is stored. The stored count was read from this very
            // snapshot.
            let nodes_before = stored
                .as_ref()
                .map_or(0, |stored| stored.node_count.max(0) as u64);
            let nodes_after = graph.nodes.len() as u64;
            if nodes_after > nodes_before {
                super::policy::allowed(
                    context,
                    principal,
                    &Action::AddNodes {
                        graph_nodes: nodes_before,
                        adding: nodes_after - nodes_before,
                    },
                )
                .await?;
            }
            ServerGraphSummary {
                id: graph_id,
                name: graph.name,
                node_count: graph.nodes.len() as i64,
                edge_count: graph.edges.len() as i64,
                updated_at: String::new(),
                deleted_at,
            }
        }
    };
    let read_revision = stored.as_ref().map(|stored| stored.revision);
    // A new graph, or one with enough updates behind its snapshot, is
    // stored whole; otherwise only what this merge added is appended.
    let fold = stored
        .as_ref()
        .is_none_or(|stored| stored.updates.len() + 1 >= FOLD_AFTER_UPDATES);
    let (document, bytes, version) = super::off_thread(move || {
        let bytes = if fold {
            document.snapshot()
        } else {
            document.updates_since(&before)
        };
        let version = document.version().encode();
        (document, bytes, version)
    })
    .await?;
    let write = if fold {
        GraphWrite::Snapshot(&bytes)
    } else {
        GraphWrite::Update(&bytes)
    };
    let saved = context
        .store
        .save_graph_document(
            tenant,
            &summary,
            write,
            &version,
            principal.user_id,
            read_revision,
        )
        .await?;
    if !saved {
        tracing::debug!(%graph_id, %tenant, "another merge stored first; merging again");
        return Ok(None);
    }
    tracing::info!(%graph_id, %tenant, user = %principal.user_id, "merged updates");
    // Devices listening on /v1/live sync it now.
    context
        .live
        .publish(super::live::GraphChanged {
            tenant,
            graph: graph_id,
        })
        .await;
    Ok(Some(Merged {
        document,
        snapshot: fold.then_some(bytes),
    }))
}
