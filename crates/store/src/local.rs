//! The desktop's local store: one SQLite file in WAL mode.

use std::path::Path;
use std::str::FromStr;

use orrery_domain::{Edge, EdgeId, Graph, GraphId, Node, NodeId, NodeKind, Position};
use sqlx::{Row, SqlitePool};

use crate::{StoreError, now_text};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/local");

/// One graph as the library lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GraphSummary {
    /// The graph.
    pub id: GraphId,
    /// Its name.
    pub name: String,
    /// How many nodes it holds.
    pub node_count: i64,
    /// How many edges it holds.
    pub edge_count: i64,
    /// Operations not yet acknowledged by the server.
    pub pending_changes: i64,
    /// Whether it has ever been synced.
    pub synced_once: bool,
    /// Last local change, RFC 3339 UTC.
    pub updated_at: String,
}

/// A graph's CRDT document as stored, with its sync bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGraphDocument {
    /// The document bytes (a snapshot).
    pub document: Vec<u8>,
    /// The server's version vector at the last sync, if any.
    pub server_version: Option<Vec<u8>>,
}

/// The local SQLite store of one desktop installation.
#[derive(Debug, Clone)]
pub struct LocalStore {
    pool: SqlitePool,
}

impl LocalStore {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let pool = crate::open_sqlite(path, 4, &MIGRATOR).await?;
        Ok(Self { pool })
    }

    /// Every graph, most recently changed first.
    pub async fn list_graphs(&self) -> Result<Vec<GraphSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.id, g.name, g.pending_changes, g.server_version IS NOT NULL AS synced_once,
                    g.updated_at,
                    (SELECT COUNT(*) FROM graph_nodes n WHERE n.graph_id = g.id) AS node_count,
                    (SELECT COUNT(*) FROM graph_edges e WHERE e.graph_id = g.id) AS edge_count
             FROM graphs g ORDER BY g.updated_at DESC, g.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(GraphSummary {
                    id: parse_id(&row.get::<String, _>("id"), "graphs")?,
                    name: row.get("name"),
                    node_count: row.get("node_count"),
                    edge_count: row.get("edge_count"),
                    pending_changes: row.get("pending_changes"),
                    synced_once: row.get("synced_once"),
                    updated_at: row.get("updated_at"),
                })
            })
            .collect()
    }

    /// The stored document of a graph, or `None` if the store has no such graph.
    pub async fn load_document(
        &self,
        id: GraphId,
    ) -> Result<Option<StoredGraphDocument>, StoreError> {
        let row = sqlx::query("SELECT document, server_version FROM graphs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| StoredGraphDocument {
            document: row.get("document"),
            server_version: row.get("server_version"),
        }))
    }

    /// Saves a graph: its document, the rows materialised from it, and how many
    /// changes await the server, in one transaction. `server_version` of `None`
    /// keeps whatever was stored before.
    pub async fn save_graph(
        &self,
        graph: &Graph,
        document: &[u8],
        server_version: Option<&[u8]>,
        pending_changes: u64,
    ) -> Result<(), StoreError> {
        let now = now_text();
        let graph_id = graph.id.to_string();
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO graphs (id, name, document, server_version, pending_changes, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (id) DO UPDATE SET
                name = excluded.name,
                document = excluded.document,
                server_version = COALESCE(excluded.server_version, graphs.server_version),
                pending_changes = excluded.pending_changes,
                updated_at = excluded.updated_at",
        )
        .bind(&graph_id)
        .bind(&graph.name)
        .bind(document)
        .bind(server_version)
        .bind(i64::try_from(pending_changes).unwrap_or(i64::MAX))
        .bind(&now)
        .execute(&mut *transaction)
        .await?;
        sqlx::query("DELETE FROM graph_nodes WHERE graph_id = ?")
            .bind(&graph_id)
            .execute(&mut *transaction)
            .await?;
        sqlx::query("DELETE FROM graph_edges WHERE graph_id = ?")
            .bind(&graph_id)
            .execute(&mut *transaction)
            .await?;
        for node in graph.nodes.values() {
            sqlx::query(
                "INSERT INTO graph_nodes (graph_id, id, kind, label, x, y, z) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&graph_id)
            .bind(node.id.to_string())
            .bind(node.kind.as_str())
            .bind(&node.label)
            .bind(f64::from(node.position.x))
            .bind(f64::from(node.position.y))
            .bind(f64::from(node.position.z))
            .execute(&mut *transaction)
            .await?;
        }
        for edge in graph.edges.values() {
            sqlx::query(
                "INSERT INTO graph_edges (graph_id, id, from_node, from_port, to_node, to_port) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&graph_id)
            .bind(edge.id.to_string())
            .bind(edge.from.to_string())
            .bind(&edge.from_port)
            .bind(edge.to.to_string())
            .bind(&edge.to_port)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// A graph as its materialised rows, or `None` if the store has no such graph.
    pub async fn load_graph(&self, id: GraphId) -> Result<Option<Graph>, StoreError> {
        let graph_id = id.to_string();
        let Some(name) = sqlx::query_scalar::<_, String>("SELECT name FROM graphs WHERE id = ?")
            .bind(&graph_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let mut graph = Graph::with_id(id, name);
        let nodes =
            sqlx::query("SELECT id, kind, label, x, y, z FROM graph_nodes WHERE graph_id = ?")
                .bind(&graph_id)
                .fetch_all(&self.pool)
                .await?;
        for row in nodes {
            let node = Node {
                id: parse_id::<NodeId>(&row.get::<String, _>("id"), "graph_nodes")?,
                kind: NodeKind::from_str(&row.get::<String, _>("kind"))
                    .map_err(|error| StoreError::corrupt("graph_nodes", error))?,
                label: row.get("label"),
                position: Position::new(
                    row.get::<f64, _>("x") as f32,
                    row.get::<f64, _>("y") as f32,
                    row.get::<f64, _>("z") as f32,
                ),
            };
            graph.nodes.insert(node.id, node);
        }
        let edges = sqlx::query(
            "SELECT id, from_node, from_port, to_node, to_port FROM graph_edges WHERE graph_id = ?",
        )
        .bind(&graph_id)
        .fetch_all(&self.pool)
        .await?;
        for row in edges {
            let edge = Edge {
                id: parse_id::<EdgeId>(&row.get::<String, _>("id"), "graph_edges")?,
                from: parse_id(&row.get::<String, _>("from_node"), "graph_edges")?,
                from_port: row.get("from_port"),
                to: parse_id(&row.get::<String, _>("to_node"), "graph_edges")?,
                to_port: row.get("to_port"),
            };
            graph.edges.insert(edge.id, edge);
        }
        Ok(Some(graph))
    }

    /// A stored setting.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Stores a setting, replacing any earlier value.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub(crate) fn parse_id<T: FromStr>(text: &str, table: &'static str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|error| StoreError::corrupt(table, error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_domain::sample_graph;

    #[tokio::test]
    async fn graphs_survive_a_restart() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("local.db");
        let graph = sample_graph("Survivor", 12, 3);
        {
            let store = LocalStore::open(&path).await.unwrap();
            store
                .save_graph(&graph, b"doc-bytes", None, 5)
                .await
                .unwrap();
            store.close().await;
        }
        let store = LocalStore::open(&path).await.unwrap();
        assert_eq!(
            store.load_graph(graph.id).await.unwrap(),
            Some(graph.clone())
        );
        let stored = store.load_document(graph.id).await.unwrap().unwrap();
        assert_eq!(stored.document, b"doc-bytes");
        assert_eq!(stored.server_version, None);
        let listed = store.list_graphs().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].node_count, listed[0].edge_count), (12, 11));
        assert_eq!(listed[0].pending_changes, 5);
        assert!(!listed[0].synced_once);
    }

    #[tokio::test]
    async fn saving_again_replaces_rows_and_keeps_server_version() {
        let directory = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&directory.path().join("local.db"))
            .await
            .unwrap();
        let mut graph = sample_graph("Edited", 4, 1);
        store
            .save_graph(&graph, b"v1", Some(b"server-vv"), 0)
            .await
            .unwrap();
        let first = *graph.nodes.keys().next().unwrap();
        graph.nodes.remove(&first);
        graph
            .edges
            .retain(|_, edge| edge.from != first && edge.to != first);
        graph.name = "Renamed".into();
        store.save_graph(&graph, b"v2", None, 1).await.unwrap();
        assert_eq!(
            store.load_graph(graph.id).await.unwrap(),
            Some(graph.clone())
        );
        let stored = store.load_document(graph.id).await.unwrap().unwrap();
        assert_eq!(stored.server_version.as_deref(), Some(&b"server-vv"[..]));
        assert_eq!(stored.document, b"v2");
    }

    #[tokio::test]
    async fn settings_round_trip() {
        let directory = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&directory.path().join("local.db"))
            .await
            .unwrap();
        assert_eq!(store.setting("device_id").await.unwrap(), None);
        store.set_setting("device_id", "a").await.unwrap();
        store.set_setting("device_id", "b").await.unwrap();
        assert_eq!(
            store.setting("device_id").await.unwrap().as_deref(),
            Some("b")
        );
    }
}
