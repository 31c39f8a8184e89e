//! The desktop's local store: one SQLite file in WAL mode.

use std::path::Path;
use std::str::FromStr;

use orrery_domain::{
    ChatMessage, ChatRole, DocumentId, DocumentKind, Edge, EdgeId, Graph, GraphId, LibraryItem,
    Node, NodeId, NodeKind, Position,
};
use sqlx::{Row, SqlitePool};

use crate::{StoreError, now_text};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/local");

/// One graph as the library lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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
    /// When it was deleted (RFC 3339 UTC), for a deleted graph.
    pub deleted_at: Option<String>,
}

/// A graph's CRDT document as stored, with its sync bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGraphDocument {
    /// The document bytes (a snapshot).
    pub document: Vec<u8>,
    /// Updates stored after the snapshot, oldest first: the document is the
    /// snapshot with these applied.
    pub updates: Vec<Vec<u8>>,
    /// The server's version vector at the last sync, if any.
    pub server_version: Option<Vec<u8>>,
}

/// How [`LocalStore::save_graph_fields`] stores a graph's document.
#[derive(Debug, Clone, Copy)]
pub enum DocumentWrite<'a> {
    /// Whole: a snapshot replacing the stored one and what was appended.
    Snapshot(&'a [u8]),
    /// These updates appended after what is stored.
    Append(&'a [u8]),
}

/// One agent, prompt or session as the library lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LibrarySummary {
    /// What kind of item it is.
    pub kind: DocumentKind,
    /// The document.
    pub id: DocumentId,
    /// The agent's name, the prompt's or session's title.
    pub title: String,
    /// The listed facts of the item ([`LibraryItem::summary`]).
    pub summary: serde_json::Value,
    /// Operations not yet acknowledged by the server.
    pub pending_changes: i64,
    /// Whether it has ever been synced.
    pub synced_once: bool,
    /// Last local change, RFC 3339 UTC.
    pub updated_at: String,
}

/// The local SQLite store of one desktop installation.
#[derive(Debug, Clone)]
pub struct LocalStore {
    pub(crate) pool: SqlitePool,
    checkpoints: Checkpointer,
}

/// Pages (4 KiB) the write-ahead log may grow to before a commit moves it into
/// the database file itself. Below that, [`Checkpointer`] does it after the
/// commit: a received 10k-node graph is ~12 MB of WAL, and checkpointing it
/// inside the commit (SQLite's default past 1,000 pages) added ~40 ms to
/// taking the graph in.
pub(crate) const WAL_BACKSTOP_PAGES: u32 = 16_384;

/// Shortest time between two background checkpoints of one store.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Moves the write-ahead log into the database file in the background after
/// saves. Requests coalesce: while one checkpoint runs (or the pause after
/// it, [`CHECKPOINT_EVERY`]), at most one more waits.
/// The task ends when the last clone of the store is dropped.
#[derive(Debug, Clone)]
struct Checkpointer(tokio::sync::mpsc::Sender<()>);

impl Checkpointer {
    fn start(pool: SqlitePool) -> Self {
        let (requests, mut pending) = tokio::sync::mpsc::channel::<()>(1);
        tokio::spawn(async move {
            while pending.recv().await.is_some() {
                // PASSIVE: never waits for readers or writers; what it cannot
                // copy now goes with the next checkpoint.
                if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(%error, "background WAL checkpoint skipped");
                }
                // Saves meanwhile wait for one more checkpoint together: a
                // stream of small ones (moves arriving live) is copied into
                // the file at most this often, not once each.
                tokio::time::sleep(CHECKPOINT_EVERY).await;
            }
        });
        Self(requests)
    }

    fn request(&self) {
        // Full means a checkpoint is already waiting, which covers this save.
        let _ = self.0.try_send(());
    }
}

/// Rows per multi-row INSERT (7 values each stays far below SQLite's 32,766
/// parameters).
const ROWS_PER_INSERT: usize = 500;

impl LocalStore {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let pool = crate::open_sqlite(path, 4, &MIGRATOR).await?;
        let checkpoints = Checkpointer::start(pool.clone());
        Ok(Self { pool, checkpoints })
    }

    /// Starts a transaction that writes, holding SQLite's write lock from its
    /// first statement (`BEGIN IMMEDIATE`), so concurrent saves (the canvas,
    /// background sync, the screens) queue on the busy timeout instead of
    /// failing with "database is locked" when one of them read first.
    async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Every graph not deleted, most recently changed first.
    pub async fn list_graphs(&self) -> Result<Vec<GraphSummary>, StoreError> {
        self.graph_summaries("g.deleted_at IS NULL ORDER BY g.updated_at DESC, g.id")
            .await
    }

    /// Deleted graphs, most recently deleted first: they can be restored
    /// until [`LocalStore::purge_deleted_graphs`] removes them.
    pub async fn list_deleted_graphs(&self) -> Result<Vec<GraphSummary>, StoreError> {
        self.graph_summaries("g.deleted_at IS NOT NULL ORDER BY g.deleted_at DESC, g.id")
            .await
    }

    /// Every graph's id, deleted ones too: a deletion has to reach the server.
    pub async fn graphs_to_sync(&self) -> Result<Vec<GraphId>, StoreError> {
        sqlx::query_scalar::<_, String>("SELECT id FROM graphs ORDER BY updated_at DESC, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|id| parse_id(id, "graphs"))
            .collect()
    }

    /// Removes graphs deleted before `before` (RFC 3339) whose deletion the
    /// server has (or that it never had). Returns how many went.
    pub async fn purge_deleted_graphs(&self, before: &str) -> Result<u64, StoreError> {
        let mut transaction = self.write_transaction().await?;
        let purged = sqlx::query(
            "DELETE FROM graphs WHERE deleted_at IS NOT NULL AND deleted_at < ?
                 AND (pending_changes = 0 OR server_version IS NULL)",
        )
        .bind(before)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        transaction.commit().await?;
        Ok(purged)
    }

    async fn graph_summaries(
        &self,
        filter_and_order: &str,
    ) -> Result<Vec<GraphSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT g.id, g.name, g.pending_changes, g.server_version IS NOT NULL AS synced_once,
                    g.updated_at, g.deleted_at,
                    (SELECT COUNT(*) FROM graph_nodes n WHERE n.graph_id = g.id) AS node_count,
                    (SELECT COUNT(*) FROM graph_edges e WHERE e.graph_id = g.id) AS edge_count
             FROM graphs g WHERE {filter_and_order}"
        ))
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
                    deleted_at: row.get("deleted_at"),
                })
            })
            .collect()
    }

    /// The stored document of a graph, or `None` if the store has no such graph.
    pub async fn load_document(
        &self,
        id: GraphId,
    ) -> Result<Option<StoredGraphDocument>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        let row = sqlx::query("SELECT document, server_version FROM graphs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *connection)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let updates =
            sqlx::query_scalar("SELECT updates FROM graph_updates WHERE graph_id = ? ORDER BY seq")
                .bind(id.to_string())
                .fetch_all(&mut *connection)
                .await?;
        Ok(Some(StoredGraphDocument {
            document: row.get("document"),
            updates,
            server_version: row.get("server_version"),
        }))
    }

    /// Saves a graph: its document, the rows materialised from it, how many
    /// changes await the server and when it was deleted (if it was), in one
    /// transaction. `server_version` of `None` keeps whatever was stored before.
    pub async fn save_graph(
        &self,
        graph: &Graph,
        document: &[u8],
        server_version: Option<&[u8]>,
        pending_changes: u64,
        deleted_at: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_text();
        let graph_id = graph.id.to_string();
        let mut transaction = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO graphs (id, name, document, server_version, pending_changes, created_at, updated_at, deleted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET
                name = excluded.name,
                document = excluded.document,
                server_version = COALESCE(excluded.server_version, graphs.server_version),
                pending_changes = excluded.pending_changes,
                updated_at = excluded.updated_at,
                deleted_at = excluded.deleted_at",
        )
        .bind(&graph_id)
        .bind(&graph.name)
        .bind(document)
        .bind(server_version)
        .bind(i64::try_from(pending_changes).unwrap_or(i64::MAX))
        .bind(&now)
        .bind(deleted_at)
        .execute(&mut *transaction)
        .await?;
        // The new snapshot holds whatever was appended after the old one.
        sqlx::query("DELETE FROM graph_updates WHERE graph_id = ?")
            .bind(&graph_id)
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
        // Many rows per statement: one statement per row made a 10k-node
        // graph's 30k rows the slowest part of receiving it.
        for nodes in graph
            .nodes
            .values()
            .collect::<Vec<_>>()
            .chunks(ROWS_PER_INSERT)
        {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO graph_nodes (graph_id, id, kind, label, x, y, z) ",
            );
            insert.push_values(nodes, |mut row, node| {
                row.push_bind(&graph_id)
                    .push_bind(node.id.to_string())
                    .push_bind(node.kind.as_str())
                    .push_bind(&node.label)
                    .push_bind(f64::from(node.position.x))
                    .push_bind(f64::from(node.position.y))
                    .push_bind(f64::from(node.position.z));
            });
            insert.build().execute(&mut *transaction).await?;
        }
        for edges in graph
            .edges
            .values()
            .collect::<Vec<_>>()
            .chunks(ROWS_PER_INSERT)
        {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO graph_edges (graph_id, id, from_node, from_port, to_node, to_port) ",
            );
            insert.push_values(edges, |mut row, edge| {
                row.push_bind(&graph_id)
                    .push_bind(edge.id.to_string())
                    .push_bind(edge.from.to_string())
                    .push_bind(&edge.from_port)
                    .push_bind(edge.to.to_string())
                    .push_bind(&edge.to_port);
            });
            insert.build().execute(&mut *transaction).await?;
        }
        transaction.commit().await?;
        self.checkpoints.request();
        Ok(())
    }

    /// Stores a graph whose node set did not change: its name, its
    /// document and these `nodes` (whose fields changed) rewritten; every
    /// other row stands. For a move or a relabel, which touch one row of
    /// many. Answers `false` (nothing written) when the store does not hold
    /// the graph, or a node's row is missing: save it whole then.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_graph_fields(
        &self,
        graph: GraphId,
        name: &str,
        nodes: &[Node],
        document: DocumentWrite<'_>,
        server_version: Option<&[u8]>,
        pending_changes: u64,
        deleted_at: Option<&str>,
    ) -> Result<bool, StoreError> {
        let graph_id = graph.to_string();
        let mut transaction = self.write_transaction().await?;
        let snapshot = match document {
            DocumentWrite::Snapshot(bytes) => Some(bytes),
            DocumentWrite::Append(_) => None,
        };
        let updated = sqlx::query(
            "UPDATE graphs SET name = ?2, document = COALESCE(?3, document),
                server_version = COALESCE(?4, server_version), pending_changes = ?5,
                updated_at = ?6, deleted_at = ?7
             WHERE id = ?1",
        )
        .bind(&graph_id)
        .bind(name)
        .bind(snapshot)
        .bind(server_version)
        .bind(i64::try_from(pending_changes).unwrap_or(i64::MAX))
        .bind(now_text())
        .bind(deleted_at)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if updated != 1 {
            return Ok(false);
        }
        for node in nodes {
            let row = sqlx::query(
                "UPDATE graph_nodes SET kind = ?3, label = ?4, x = ?5, y = ?6, z = ?7
                 WHERE graph_id = ?1 AND id = ?2",
            )
            .bind(&graph_id)
            .bind(node.id.to_string())
            .bind(node.kind.as_str())
            .bind(&node.label)
            .bind(f64::from(node.position.x))
            .bind(f64::from(node.position.y))
            .bind(f64::from(node.position.z))
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if row != 1 {
                return Ok(false); // Rolled back as the transaction drops.
            }
        }
        match document {
            DocumentWrite::Snapshot(_) => {
                sqlx::query("DELETE FROM graph_updates WHERE graph_id = ?")
                    .bind(&graph_id)
                    .execute(&mut *transaction)
                    .await?;
            }
            DocumentWrite::Append(updates) => {
                sqlx::query("INSERT INTO graph_updates (graph_id, updates) VALUES (?, ?)")
                    .bind(&graph_id)
                    .bind(updates)
                    .execute(&mut *transaction)
                    .await?;
            }
        }
        transaction.commit().await?;
        self.checkpoints.request();
        Ok(true)
    }

    /// Records what the server acknowledged of a graph (and so how many
    /// changes still wait to be sent), leaving the graph as stored.
    pub async fn save_server_version(
        &self,
        graph: GraphId,
        server_version: &[u8],
        pending_changes: u64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE graphs SET server_version = ?2, pending_changes = ?3 WHERE id = ?1")
            .bind(graph.to_string())
            .bind(server_version)
            .bind(i64::try_from(pending_changes).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
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

    /// Saves an agent, prompt or session: its document, what is listed about
    /// it (and a session's messages), and how many changes await the server,
    /// in one transaction. `server_version` of `None` keeps whatever was
    /// stored before.
    pub async fn save_library_document(
        &self,
        item: &LibraryItem,
        document: &[u8],
        server_version: Option<&[u8]>,
        pending_changes: u64,
        deleted_at: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_text();
        let id = item.id().to_string();
        let mut transaction = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO library_documents (kind, id, title, summary, document, server_version, pending_changes, created_at, updated_at, deleted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)
             ON CONFLICT (kind, id) DO UPDATE SET
                title = excluded.title,
                summary = excluded.summary,
                document = excluded.document,
                server_version = COALESCE(excluded.server_version, library_documents.server_version),
                pending_changes = excluded.pending_changes,
                updated_at = excluded.updated_at,
                deleted_at = excluded.deleted_at",
        )
        .bind(item.kind().as_str())
        .bind(&id)
        .bind(item.title())
        .bind(item.summary().to_string())
        .bind(document)
        .bind(server_version)
        .bind(i64::try_from(pending_changes).unwrap_or(i64::MAX))
        .bind(&now)
        .bind(deleted_at)
        .execute(&mut *transaction)
        .await?;
        if let LibraryItem::Session(session) = item {
            sqlx::query("DELETE FROM chat_messages WHERE session_id = ?")
                .bind(&id)
                .execute(&mut *transaction)
                .await?;
            for (position, message) in session.messages.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO chat_messages (session_id, id, position, role, author, text, at)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&id)
                .bind(message.id.to_string())
                .bind(position as i64)
                .bind(message.role.as_str())
                .bind(&message.author)
                .bind(&message.text)
                .bind(&message.at)
                .execute(&mut *transaction)
                .await?;
            }
        }
        transaction.commit().await?;
        self.checkpoints.request();
        Ok(())
    }

    /// Every stored document of `kind`, deleted ones too (they sync their
    /// deletion).
    pub async fn library_document_ids(
        &self,
        kind: DocumentKind,
    ) -> Result<Vec<DocumentId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM library_documents WHERE kind = ? ORDER BY id")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| parse_id(&row.get::<String, _>("id"), "library_documents"))
            .collect()
    }

    /// The stored document of an agent, prompt or session, or `None` if the
    /// store has none.
    pub async fn load_library_document(
        &self,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<Option<StoredGraphDocument>, StoreError> {
        let row = sqlx::query(
            "SELECT document, server_version FROM library_documents WHERE kind = ? AND id = ?",
        )
        .bind(kind.as_str())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| StoredGraphDocument {
            document: row.get("document"),
            updates: Vec::new(),
            server_version: row.get("server_version"),
        }))
    }

    /// Every agent, prompt or session (by `kind`) not deleted, most recently
    /// changed first.
    pub async fn list_library_documents(
        &self,
        kind: DocumentKind,
    ) -> Result<Vec<LibrarySummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, title, summary, pending_changes, server_version IS NOT NULL AS synced_once, updated_at
             FROM library_documents WHERE kind = ? AND deleted_at IS NULL ORDER BY updated_at DESC, id",
        )
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(LibrarySummary {
                    kind,
                    id: parse_id(&row.get::<String, _>("id"), "library_documents")?,
                    title: row.get("title"),
                    summary: serde_json::from_str(&row.get::<String, _>("summary"))
                        .map_err(|error| StoreError::corrupt("library_documents", error))?,
                    pending_changes: row.get("pending_changes"),
                    synced_once: row.get("synced_once"),
                    updated_at: row.get("updated_at"),
                })
            })
            .collect()
    }

    /// A session's messages as materialised, in order.
    pub async fn chat_messages(&self, session: DocumentId) -> Result<Vec<ChatMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, role, author, text, at FROM chat_messages WHERE session_id = ? ORDER BY position",
        )
        .bind(session.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                message_from_columns(
                    ["id", "role", "author", "text", "at"].map(|column| row.get(column)),
                    "chat_messages",
                )
            })
            .collect()
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

    /// Records an automatic point in a graph's history (a sync brought in
    /// others' edits) and keeps only the newest `keep` of that graph.
    pub async fn add_graph_point(
        &self,
        graph: GraphId,
        at: &str,
        frontiers: &[u8],
        keep: u32,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO graph_points (graph_id, at, frontiers) VALUES (?, ?, ?)
             ON CONFLICT (graph_id, at) DO UPDATE SET frontiers = excluded.frontiers",
        )
        .bind(graph.to_string())
        .bind(at)
        .bind(frontiers)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "DELETE FROM graph_points WHERE graph_id = ?1 AND at NOT IN
             (SELECT at FROM graph_points WHERE graph_id = ?1 ORDER BY at DESC LIMIT ?2)",
        )
        .bind(graph.to_string())
        .bind(keep)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// A graph's automatic points, oldest first: `(at, frontiers)`.
    pub async fn graph_points(&self, graph: GraphId) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows =
            sqlx::query("SELECT at, frontiers FROM graph_points WHERE graph_id = ? ORDER BY at")
                .bind(graph.to_string())
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get("at"), row.get("frontiers")))
            .collect())
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

/// A chat message from its columns as stored.
pub(crate) fn message_from_columns(
    [id, role, author, text, at]: [String; 5],
    table: &'static str,
) -> Result<ChatMessage, StoreError> {
    Ok(ChatMessage {
        id: parse_id(&id, table)?,
        role: ChatRole::parse(&role).map_err(|error| StoreError::corrupt(table, error))?,
        author,
        text,
        at,
    })
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
                .save_graph(&graph, b"doc-bytes", None, 5, None)
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
            .save_graph(&graph, b"v1", Some(b"server-vv"), 0, None)
            .await
            .unwrap();
        let first = *graph.nodes.keys().next().unwrap();
        graph.nodes.remove(&first);
        graph
            .edges
            .retain(|_, edge| edge.from != first && edge.to != first);
        graph.name = "Renamed".into();
        store
            .save_graph(&graph, b"v2", None, 1, None)
            .await
            .unwrap();
        assert_eq!(
            store.load_graph(graph.id).await.unwrap(),
            Some(graph.clone())
        );
        let stored = store.load_document(graph.id).await.unwrap().unwrap();
        assert_eq!(stored.server_version.as_deref(), Some(&b"server-vv"[..]));
        assert_eq!(stored.document, b"v2");
    }

    #[tokio::test]
    async fn deleted_graphs_leave_the_listing_until_purged() {
        let directory = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&directory.path().join("local.db"))
            .await
            .unwrap();
        let kept = sample_graph("Kept", 3, 1);
        let synced = sample_graph("Deleted, synced", 3, 2);
        let waiting = sample_graph("Deleted, not yet synced", 3, 3);
        let recent = sample_graph("Deleted today", 3, 4);
        let old = Some("2026-01-01T00:00:00.000Z");
        store
            .save_graph(&kept, b"k", Some(b"v"), 0, None)
            .await
            .unwrap();
        store
            .save_graph(&synced, b"s", Some(b"v"), 0, old)
            .await
            .unwrap();
        store
            .save_graph(&waiting, b"w", Some(b"v"), 1, old)
            .await
            .unwrap();
        store
            .save_graph(
                &recent,
                b"r",
                Some(b"v"),
                0,
                Some("2026-03-01T00:00:00.000Z"),
            )
            .await
            .unwrap();
        let listed: Vec<_> = store
            .list_graphs()
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(listed, vec![kept.id]);
        let deleted: Vec<_> = store
            .list_deleted_graphs()
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(deleted.len(), 3);
        assert_eq!(deleted[0], recent.id, "most recently deleted first");
        assert_eq!(store.graphs_to_sync().await.unwrap().len(), 4);
        // Only the old tombstone the server already has goes.
        assert_eq!(
            store
                .purge_deleted_graphs("2026-02-01T00:00:00.000Z")
                .await
                .unwrap(),
            1
        );
        assert!(store.load_document(synced.id).await.unwrap().is_none());
        assert!(store.load_document(waiting.id).await.unwrap().is_some());
        assert_eq!(store.list_deleted_graphs().await.unwrap().len(), 2);
        // Restoring is saving without a deletion time.
        store
            .save_graph(&recent, b"r2", None, 1, None)
            .await
            .unwrap();
        assert_eq!(store.list_graphs().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn library_documents_are_listed_by_kind_with_their_messages() {
        use orrery_domain::{Agent, ChatMessage, LibraryItem, MessageId, Session};
        let directory = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&directory.path().join("local.db"))
            .await
            .unwrap();
        let agent = LibraryItem::Agent(Agent::new("Helper"));
        store
            .save_library_document(&agent, b"agent-doc", Some(b"server-vv"), 0, None)
            .await
            .unwrap();
        let mut session = Session::new("Chat", None);
        for text in ["one", "two"] {
            session.messages.push(ChatMessage {
                id: MessageId::new(),
                role: ChatRole::User,
                author: "me".into(),
                text: text.into(),
                at: "2026-11-23T10:00:00.000Z".into(),
            });
        }
        let item = LibraryItem::Session(session.clone());
        store
            .save_library_document(&item, b"v1", None, 2, None)
            .await
            .unwrap();
        assert_eq!(
            store.chat_messages(session.id).await.unwrap(),
            session.messages
        );
        // Saving again rewrites the messages and keeps the server version.
        session.messages.remove(0);
        let item = LibraryItem::Session(session.clone());
        store
            .save_library_document(&item, b"v2", None, 3, None)
            .await
            .unwrap();
        assert_eq!(
            store.chat_messages(session.id).await.unwrap(),
            session.messages
        );
        let agents = store
            .list_library_documents(DocumentKind::Agent)
            .await
            .unwrap();
        assert_eq!(agents.len(), 1);
        assert_eq!(
            (agents[0].title.as_str(), agents[0].synced_once),
            ("Helper", true)
        );
        let sessions = store
            .list_library_documents(DocumentKind::Session)
            .await
            .unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].pending_changes, 3);
        assert_eq!(sessions[0].summary["messages"], 1);
        let stored = store
            .load_library_document(DocumentKind::Session, session.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.document, b"v2");
        assert_eq!(stored.server_version, None);
        assert!(
            store
                .load_library_document(DocumentKind::Prompt, session.id)
                .await
                .unwrap()
                .is_none()
        );
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
