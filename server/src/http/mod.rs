//! The HTTP API: one module per resource, each with its own `router()`.

mod devices;
mod error;
mod graphs;
mod health;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use orrery_domain::GraphId;
use orrery_store::ServerStore;
use tokio::sync::Mutex;
use tower_http::trace::TraceLayer;

pub use devices::AuthenticatedDevice;
pub use error::ApiError;

/// What every handler can reach: the database and the per-graph merge locks.
#[derive(Clone)]
pub struct ApiContext {
    store: ServerStore,
    merge_locks: Arc<Mutex<HashMap<GraphId, Arc<Mutex<()>>>>>,
}

impl ApiContext {
    /// A context over `store`.
    pub fn new(store: ServerStore) -> Self {
        Self {
            store,
            merge_locks: Arc::default(),
        }
    }

    /// The lock that serialises merges into one graph's document.
    async fn merge_lock(&self, graph: GraphId) -> Arc<Mutex<()>> {
        self.merge_locks
            .lock()
            .await
            .entry(graph)
            .or_default()
            .clone()
    }
}

/// The whole `/v1` API.
pub fn api_router(context: ApiContext) -> Router {
    Router::new()
        .merge(health::router())
        .merge(devices::router())
        .merge(graphs::router())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(TraceLayer::new_for_http())
        .with_state(context)
}
