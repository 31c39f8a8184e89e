//! The sync server's store: registered devices and merged graph documents (SQLite).

use std::path::Path;

use orrery_domain::GraphId;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use crate::local::parse_id;
use crate::{StoreError, now_text};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/server");

/// A device the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device.
    pub id: Uuid,
    /// The name it registered with.
    pub name: String,
}

/// One merged graph as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerGraphSummary {
    /// The graph.
    pub id: GraphId,
    /// Its name in the merged document.
    pub name: String,
    /// Nodes in the merged document.
    pub node_count: i64,
    /// Edges in the merged document.
    pub edge_count: i64,
    /// Last merge, RFC 3339 UTC.
    pub updated_at: String,
}

/// The sync server's database.
#[derive(Debug, Clone)]
pub struct ServerStore {
    pool: SqlitePool,
}

impl ServerStore {
    /// Opens (creating if needed) the SQLite database at `path` and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let pool = crate::open_sqlite(path, 8, &MIGRATOR).await?;
        Ok(Self { pool })
    }

    /// Records a new device with the hash of its token.
    pub async fn register_device(
        &self,
        name: &str,
        token_hash: &str,
    ) -> Result<DeviceRecord, StoreError> {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO devices (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)")
            .bind(id.to_string())
            .bind(name)
            .bind(token_hash)
            .bind(now_text())
            .execute(&self.pool)
            .await?;
        Ok(DeviceRecord {
            id,
            name: name.to_owned(),
        })
    }

    /// The device whose token hashes to `token_hash`.
    pub async fn device_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        let row = sqlx::query("SELECT id, name FROM devices WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(DeviceRecord {
                id: parse_id(&row.get::<String, _>("id"), "devices")?,
                name: row.get("name"),
            })
        })
        .transpose()
    }

    /// The merged document of a graph, if the server has one.
    pub async fn load_graph_document(&self, id: GraphId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT snapshot FROM graph_documents WHERE graph_id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Stores the merged document of a graph with the facts listed about it.
    pub async fn save_graph_document(
        &self,
        summary: &ServerGraphSummary,
        snapshot: &[u8],
        device: Uuid,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO graph_documents (graph_id, name, snapshot, node_count, edge_count, updated_by, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (graph_id) DO UPDATE SET
                name = excluded.name, snapshot = excluded.snapshot,
                node_count = excluded.node_count, edge_count = excluded.edge_count,
                updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(summary.id.to_string())
        .bind(&summary.name)
        .bind(snapshot)
        .bind(summary.node_count)
        .bind(summary.edge_count)
        .bind(device.to_string())
        .bind(now_text())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every merged graph, most recently changed first.
    pub async fn list_graph_documents(&self) -> Result<Vec<ServerGraphSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT graph_id, name, node_count, edge_count, updated_at FROM graph_documents
             ORDER BY updated_at DESC, graph_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ServerGraphSummary {
                    id: parse_id(&row.get::<String, _>("graph_id"), "graph_documents")?,
                    name: row.get("name"),
                    node_count: row.get("node_count"),
                    edge_count: row.get("edge_count"),
                    updated_at: row.get("updated_at"),
                })
            })
            .collect()
    }
}
