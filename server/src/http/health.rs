//! `GET /v1/health`: whether the server and its database answer.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{ApiContext, ApiError};

pub(super) fn router() -> Router<ApiContext> {
    Router::new().route("/v1/health", get(health))
}

async fn health(State(context): State<ApiContext>) -> Result<Json<Value>, ApiError> {
    let graphs = context.store.list_graph_documents().await?.len();
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "sync_format": orrery_sync::protocol::FORMAT_VERSION,
        "database": "sqlite",
        "graphs": graphs,
    })))
}
