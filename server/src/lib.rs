//! orrery-server: the bundled sync server.
//!
//! One axum application over one database (SQLite by default): device
//! registration, the graph list, and the sync endpoint that merges graph
//! documents from many devices. Routes live in [`http`], one module per
//! resource; the database in `orrery-store`; the document model and wire format
//! in `orrery-sync`. The server holds no state beyond the database and
//! per-graph merge locks, so it can be restarted at any time.

pub mod config;
pub mod http;

use std::net::SocketAddr;

pub use config::ServerConfig;
use orrery_store::ServerStore;
use tokio::net::TcpListener;

/// A server bound to its address and ready to serve.
pub struct BoundServer {
    listener: TcpListener,
    router: axum::Router,
}

impl BoundServer {
    /// Opens the database and binds the listener, without serving yet.
    pub async fn bind(config: &ServerConfig) -> anyhow::Result<Self> {
        if let Some(parent) = config.database.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let store = ServerStore::open_sqlite(&config.database).await?;
        let listener = TcpListener::bind(config.listen).await?;
        let router = http::api_router(http::ApiContext::new(store));
        Ok(Self { listener, router })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Starts a server in the background on this runtime and returns its address.
/// Used by tests and by the desktop's bundled mode.
pub async fn spawn(config: &ServerConfig) -> anyhow::Result<SocketAddr> {
    let server = BoundServer::bind(config).await?;
    let address = server.local_addr()?;
    tokio::spawn(server.serve(std::future::pending()));
    Ok(address)
}
