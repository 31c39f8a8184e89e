//! The sync server's store: merged graph documents per tenant (SQLite).
//! Accounts live in `accounts.rs`.

use std::path::Path;

use orrery_domain::GraphId;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use crate::local::parse_id;
use crate::{StoreError, now_text};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/server");

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
    pub(crate) pool: SqlitePool,
}

impl ServerStore {
    /// Opens (creating if needed) the SQLite database at `path` and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let pool = crate::open_sqlite(path, 8, &MIGRATOR).await?;
        Ok(Self { pool })
    }

    /// The merged document of one of a tenant's graphs, if the server has it.
    pub async fn load_graph_document(
        &self,
        tenant_id: Uuid,
        id: GraphId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT snapshot FROM graph_documents WHERE tenant_id = ? AND graph_id = ?",
        )
        .bind(tenant_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores the merged document of a tenant's graph with the facts listed about it.
    pub async fn save_graph_document(
        &self,
        tenant_id: Uuid,
        summary: &ServerGraphSummary,
        snapshot: &[u8],
        user: Uuid,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO graph_documents (tenant_id, graph_id, name, snapshot, node_count, edge_count, updated_by, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, graph_id) DO UPDATE SET
                name = excluded.name, snapshot = excluded.snapshot,
                node_count = excluded.node_count, edge_count = excluded.edge_count,
                updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(tenant_id.to_string())
        .bind(summary.id.to_string())
        .bind(&summary.name)
        .bind(snapshot)
        .bind(summary.node_count)
        .bind(summary.edge_count)
        .bind(user.to_string())
        .bind(now_text())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A tenant's merged graphs, most recently changed first.
    pub async fn list_graph_documents(
        &self,
        tenant_id: Uuid,
    ) -> Result<Vec<ServerGraphSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT graph_id, name, node_count, edge_count, updated_at FROM graph_documents
             WHERE tenant_id = ? ORDER BY updated_at DESC, graph_id",
        )
        .bind(tenant_id.to_string())
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

impl ServerStore {
    /// Whether the database answers (for health checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
