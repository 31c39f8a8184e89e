//! Graph documents: `GET /v1/graphs` lists them, `POST /v1/graphs/{id}/sync`
//! merges a device's updates and answers with what the device lacks.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use orrery_domain::GraphId;
use orrery_store::ServerGraphSummary;
use orrery_sync::protocol::{CONTENT_TYPE, MAX_FRAME_BYTES, SyncRequest, SyncResponse};
use orrery_sync::{GraphDocument, Version};

use super::{ApiContext, ApiError, AuthenticatedDevice};

pub(super) fn router() -> Router<ApiContext> {
    Router::new().route("/v1/graphs", get(list_graphs)).route(
        "/v1/graphs/{graph_id}/sync",
        post(sync_graph).layer(DefaultBodyLimit::max(MAX_FRAME_BYTES)),
    )
}

async fn list_graphs(
    State(context): State<ApiContext>,
    _device: AuthenticatedDevice,
) -> Result<Json<Vec<ServerGraphSummary>>, ApiError> {
    Ok(Json(context.store.list_graph_documents().await?))
}

async fn sync_graph(
    State(context): State<ApiContext>,
    device: AuthenticatedDevice,
    Path(graph_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let graph_id: GraphId = graph_id
        .parse()
        .map_err(|error: orrery_domain::IdError| ApiError::BadRequest(error.to_string()))?;
    let request = SyncRequest::decode(&body?)?;
    let client_version = Version::decode(&request.client_version)?;

    let lock = context.merge_lock(graph_id).await;
    let _merging = lock.lock().await;
    let stored = context.store.load_graph_document(graph_id).await?;
    let mut document = match &stored {
        Some(snapshot) => GraphDocument::from_snapshot(graph_id, snapshot)
            .map_err(|error| ApiError::Internal(error.into()))?,
        None if request.updates.is_empty() => {
            return Err(ApiError::NotFound(format!(
                "graph {graph_id} is not on the server"
            )));
        }
        None => GraphDocument::empty(graph_id),
    };
    if !request.updates.is_empty() {
        let before = document.version();
        document.merge(&request.updates)?;
        if document.version() != before {
            let graph = document.to_graph()?;
            let summary = ServerGraphSummary {
                id: graph_id,
                name: graph.name,
                node_count: graph.nodes.len() as i64,
                edge_count: graph.edges.len() as i64,
                updated_at: String::new(),
            };
            context
                .store
                .save_graph_document(&summary, &document.snapshot(), device.id)
                .await?;
            tracing::info!(%graph_id, device = %device.id, "merged updates");
        }
    }
    let response = SyncResponse {
        server_version: document.version().encode(),
        updates: document.updates_since(&client_version),
    };
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], response.encode()))
}
