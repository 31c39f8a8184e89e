//! orrery-e2e: helpers for tests that cross programs — a real sync server on a
//! loopback port and desktop devices made of the shell's real local store and
//! sync client (no window).

use std::net::SocketAddr;

use orrery_server::ServerConfig;
use orrery_store::LocalStore;
use orrery_sync::{Replica, SyncClient};
use tempfile::TempDir;

/// A sync server on 127.0.0.1 with its own SQLite database in a temp directory.
pub struct TestServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its database file.
    pub database: std::path::PathBuf,
    _directory: TempDir,
}

impl TestServer {
    /// Starts a server on a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let directory = tempfile::tempdir()?;
        let database = directory.path().join("server.db");
        let config = ServerConfig {
            database: database.clone(),
            listen: "127.0.0.1:0".parse()?,
        };
        let address = orrery_server::spawn(&config).await?;
        Ok(Self {
            address,
            database,
            _directory: directory,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// One desktop installation: its own local store, replica and sync client.
pub struct TestDevice {
    /// The replica every edit goes through.
    pub replica: Replica,
    /// The client that syncs it.
    pub client: SyncClient,
    _directory: TempDir,
}

impl TestDevice {
    /// A fresh device registered with `server`.
    pub async fn register(server: &TestServer, name: &str) -> anyhow::Result<Self> {
        let directory = tempfile::tempdir()?;
        let store = LocalStore::open(&directory.path().join("local.db")).await?;
        let client = SyncClient::register(&server.url(), name).await?;
        Ok(Self {
            replica: Replica::new(store),
            client,
            _directory: directory,
        })
    }
}
