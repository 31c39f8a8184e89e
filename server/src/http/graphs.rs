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
use orrery_store::{GraphHead, GraphWrite, ServerGraphSummary, StoredGraph};

use super::graph_cache::CachedGraph;
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

#[utoipa::path(
    get,
    path = "/v1/graphs",
    tag = "Graphs",
    summary = "List graphs",
    description = "Your graphs: id, name, node and edge counts, when each last changed.",
    responses(
        (status = 200, description = "The graphs", body = Vec<Object>),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["graphs:read"]))
)]
pub(super) async fn list_graphs(
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
#[utoipa::path(
    post,
    path = "/v1/graphs/{graph_id}/sync",
    tag = "Graphs",
    summary = "Sync a graph",
    description = "One round of CRDT sync: send your version and updates, get what you lack. Pulling needs `graphs:read`; sending updates also `graphs:write`.",
    params(("graph_id" = String, Path, description = "The graph's id")),
    request_body(content = Vec<u8>, content_type = "application/vnd.orrery.sync", description = "A sync frame (see `orrery-sync`'s protocol): the client's version vector and its updates"),
    responses(
        (status = 200, description = "The server's version and the updates you lack", content_type = "application/vnd.orrery.sync", body = Vec<u8>),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
        (status = 409, description = "The graph changed faster than it could be merged; sync again", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["graphs:read"]))
)]
pub(super) async fn sync_graph(
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
        super::principal::require_scope(&principal, ApiScope::GraphsWrite)?;
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
            return Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], Bytes::from(frame)));
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
        return Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], Bytes::from(frame)));
    }

    // One merge at a time per graph on this instance; between instances the
    // stored revision decides and the loser merges again.
    let _turn = context
        .merge_turn(principal.tenant_id, super::MergeTarget::Graph(graph_id))
        .await;
    for _ in 0..super::MERGE_ATTEMPTS {
        if let Some(frame) =
            merge(&context, &principal, graph_id, &request, &client_version).await?
        {
            return Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], frame));
        }
    }
    Err(ApiError::Conflict(format!(
        "graph {graph_id} is being changed by other devices faster than it can be merged; sync again"
    )))
}

/// After this many updates stored behind a graph's snapshot, a merge folds
/// them into a new snapshot: loading stays a snapshot and a handful of small
/// imports, and a 10k-node graph's megabytes are written once per this many
/// merges instead of every time.
const FOLD_AFTER_UPDATES: i64 = 32;

/// Merges the request's updates (if any) into the stored document, stores
/// the result, and answers with what the device lacks. `None` when another
/// merge stored first (nothing was stored): merge again.
async fn merge(
    context: &ApiContext,
    principal: &orrery_store::Principal,
    graph_id: GraphId,
    request: &Arc<SyncRequest>,
    client_version: &Version,
) -> Result<Option<Bytes>, ApiError> {
    let tenant = principal.tenant_id;
    let head = context.store.graph_head(tenant, graph_id).await?;
    // Creating a graph holds the tenant's creation lock until it is stored, so
    // concurrent first pushes cannot both take the plan's last graph.
    let _creating = context.creation_turn(tenant, head.is_none()).await;
    // The document at the stored revision: kept from this instance's last
    // sync of the graph, or read from the database.
    let (held, head) = match head {
        Some(head) => match context.graphs.take(tenant, graph_id, head.revision) {
            Some(held) => (held, Some(head)),
            None => match load(context, tenant, graph_id).await? {
                Some((held, head)) => (held, Some(head)),
                None => return Ok(None),
            },
        },
        None if request.updates.is_empty() => {
            return Err(ApiError::NotFound(format!(
                "graph {graph_id} is not on the server"
            )));
        }
        None => {
            // A new graph counts against the plan's graphs.
            super::policy::allowed(context, principal, &Action::CreateGraph).await?;
            let empty = CachedGraph::new(0, GraphDocument::empty(graph_id), 0);
            (empty, None)
        }
    };
    if request.updates.is_empty() {
        // A pull: what the device lacks, from the document as it is.
        let (held, frame) = answer(held, client_version).await?;
        context.graphs.keep(tenant, graph_id, held);
        return Ok(Some(frame));
    }
    // The updates go into the held document directly; refused updates drop
    // it with the error (the next sync reads it again).
    let CachedGraph {
        document,
        stored_bytes,
        ..
    } = held;
    let before = document.version();
    let merging = Arc::clone(request);
    let (document, merge) =
        super::off_thread(move || document.merge_checked(&merging.updates)).await??;
    let deleted_at = document.deleted_at();
    // A restored graph counts against the plan's graphs again: checked under
    // the tenant's creation lock, held until it is stored, as for a new one.
    let restoring = head.is_some_and(|head| head.deleted)
        && deleted_at.is_none()
        && !matches!(merge, Merge::Unchanged);
    let _restoring = context.creation_turn(tenant, restoring).await;
    if restoring {
        super::policy::allowed(context, principal, &Action::CreateGraph).await?;
    }
    let summary = match merge {
        Merge::Unchanged => {
            let held =
                CachedGraph::new(head.map_or(0, |head| head.revision), document, stored_bytes);
            let (held, frame) = answer(held, client_version).await?;
            if head.is_some() {
                context.graphs.keep(tenant, graph_id, held);
            }
            return Ok(Some(frame));
        }
        // Moves, relabels and renames: the counts stand.
        Merge::Fields { name, .. } => ServerGraphSummary {
            id: graph_id,
            name,
            node_count: head.map_or(0, |head| head.node_count),
            edge_count: head.map_or(0, |head| head.edge_count),
            updated_at: String::new(),
            deleted_at,
        },
        Merge::Structure(graph) => {
            // Growing a graph past the plan's nodes per graph is refused, and
            // nothing is stored. The stored count is of this very revision.
            let nodes_before = head.map_or(0, |head| head.node_count.max(0) as u64);
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
    // A new graph, or one with enough updates behind its snapshot, is
    // stored whole; otherwise only what this merge added is appended.
    let fold = head.is_none_or(|head| head.update_count + 1 >= FOLD_AFTER_UPDATES);
    // What this merge added goes to the other devices on the live feed too.
    let (document, snapshot, added, version) = super::off_thread(move || {
        let added = document.updates_since(&before);
        let snapshot = fold.then(|| document.snapshot());
        let version = document.version().encode();
        (document, snapshot, added, version)
    })
    .await?;
    let write = match &snapshot {
        Some(snapshot) => GraphWrite::Snapshot(snapshot),
        None => GraphWrite::Update(&added),
    };
    let saved = context
        .store
        .save_graph_document(
            tenant,
            &summary,
            write,
            &version,
            principal.user_id,
            head.map(|head| head.revision),
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
        .publish(super::live::GraphChanged::carrying(
            tenant, graph_id, &added, &version,
        ))
        .await;
    let stored_bytes = match &snapshot {
        Some(snapshot) => snapshot.len(),
        None => stored_bytes + added.len(),
    };
    let held = CachedGraph::new(
        head.map_or(1, |head| head.revision + 1),
        document,
        stored_bytes,
    );
    let (held, frame) = answer(held, client_version).await?;
    context.graphs.keep(tenant, graph_id, held);
    Ok(Some(frame))
}

/// Reads a graph's document at its stored revision.
pub(super) async fn load(
    context: &ApiContext,
    tenant: uuid::Uuid,
    graph_id: GraphId,
) -> Result<Option<(CachedGraph, GraphHead)>, ApiError> {
    let Some(StoredGraph {
        head,
        snapshot,
        updates,
    }) = context.store.load_graph_revision(tenant, graph_id).await?
    else {
        return Ok(None);
    };
    let stored_bytes = snapshot.len() + updates.iter().map(Vec::len).sum::<usize>();
    let document =
        super::off_thread(move || GraphDocument::from_stored(graph_id, &snapshot, &updates))
            .await?
            .map_err(|error| ApiError::Internal(error.into()))?;
    let held = CachedGraph::new(head.revision, document, stored_bytes);
    Ok(Some((held, head)))
}

/// The reply for a device at `client_version`: what it lacks, or the whole
/// document as a snapshot when it has nothing (loading a snapshot is cheaper
/// than replaying history); that answer is kept with the document.
async fn answer(
    held: CachedGraph,
    client_version: &Version,
) -> Result<(CachedGraph, Bytes), ApiError> {
    if client_version == &Version::default()
        && let Some(frame) = &held.fresh_answer
    {
        let frame = frame.clone();
        return Ok((held, frame));
    }
    let client_version = client_version.clone();
    super::off_thread(move || {
        let mut held = held;
        let fresh = client_version == Version::default();
        let updates = if fresh {
            held.document.snapshot()
        } else {
            held.document.updates_since(&client_version)
        };
        let frame = Bytes::from(
            SyncResponse {
                server_version: held.document.version().encode(),
                updates,
            }
            .encode(),
        );
        if fresh {
            held.fresh_answer = Some(frame.clone());
        }
        (held, frame)
    })
    .await
}
