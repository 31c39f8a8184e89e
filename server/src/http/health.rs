//! `GET /v1/health`: whether the server and its database answer.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use serde_json::{Value, json};

use super::{Access, ApiContext, ApiError, Routes};

pub(super) fn router() -> Routes {
    Routes::new().add(Method::GET, "/v1/health", Access::Public, health)
}

async fn health(State(context): State<ApiContext>) -> Result<Json<Value>, ApiError> {
    context.store.ping().await?;
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "sync_format": orrery_sync::protocol::FORMAT_VERSION,
        "database": match context.store.backend() {
            orrery_store::Backend::Sqlite => "sqlite",
            orrery_store::Backend::Postgres => "postgres",
        },
    })))
}
