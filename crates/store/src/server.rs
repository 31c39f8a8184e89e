//! The sync server's store: merged graph documents per tenant, on SQLite (the
//! default, one file) or PostgreSQL (several server instances share one).
//! Accounts live in `accounts.rs`. Queries are written once, in SQL both
//! databases speak (`$1` placeholders, `ON CONFLICT`, `RETURNING`), and run
//! through sqlx's `Any` driver; each database has its own migrations.

use std::fmt;
use std::path::{Path, PathBuf};

use orrery_domain::GraphId;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use crate::local::parse_id;
use crate::{StoreError, now_text};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/server");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("../../migrations/server-postgres");

/// Set on every SQLite connection: write-ahead log, foreign keys, and waiting
/// (not failing) while another connection writes.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",
];

/// Where the server keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, `postgres://user:password@host:port/database`.
    Postgres(String),
}

impl DatabaseLocation {
    /// Reads `postgres://…` / `postgresql://…` as PostgreSQL, `sqlite:PATH`
    /// or anything else as a SQLite file path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            DatabaseLocation::Postgres(text.to_owned())
        } else {
            let path = text
                .strip_prefix("sqlite://")
                .or_else(|| text.strip_prefix("sqlite:"))
                .unwrap_or(text);
            DatabaseLocation::Sqlite(PathBuf::from(path))
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self {
            DatabaseLocation::Sqlite(_) => Backend::Sqlite,
            DatabaseLocation::Postgres(_) => Backend::Postgres,
        }
    }
}

impl From<PathBuf> for DatabaseLocation {
    fn from(path: PathBuf) -> Self {
        DatabaseLocation::Sqlite(path)
    }
}

impl From<&Path> for DatabaseLocation {
    fn from(path: &Path) -> Self {
        DatabaseLocation::Sqlite(path.to_path_buf())
    }
}

/// Shown in logs: the file, or the URL without its password.
impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseLocation::Sqlite(path) => write!(f, "{}", path.display()),
            DatabaseLocation::Postgres(url) => match url.split_once('@') {
                Some((credentials, host)) => match credentials.rsplit_once(':') {
                    Some((user, _password)) if !user.ends_with('/') => {
                        write!(f, "{user}:…@{host}")
                    }
                    _ => write!(f, "{url}"),
                },
                None => write!(f, "{url}"),
            },
        }
    }
}

impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseLocation({self})")
    }
}

/// The database behind a [`ServerStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL database, possibly shared by several server instances.
    Postgres,
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
    /// When it was deleted, for a deleted graph (never listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
}

/// What a merge needs to know of a stored graph besides its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphHead {
    /// Bumped by every merge; give it back to [`ServerStore::save_graph_document`].
    pub revision: i64,
    /// Nodes in the merged document.
    pub node_count: i64,
    /// Edges in the merged document.
    pub edge_count: i64,
    /// Whether the merged document is deleted.
    pub deleted: bool,
    /// How many updates are stored after the snapshot.
    pub update_count: i64,
}

/// A stored graph document as a merge reads it.
#[derive(Debug, Clone)]
pub struct StoredGraph {
    /// The revision and facts this document is at.
    pub head: GraphHead,
    /// The merged document as of its last snapshot.
    pub snapshot: Vec<u8>,
    /// The updates merged since that snapshot, oldest first: the document is
    /// the snapshot with each of these imported.
    pub updates: Vec<Vec<u8>>,
}

/// The columns [`graph_head`] reads.
const GRAPH_HEAD: &str = "revision, node_count, edge_count, deleted_at, update_count";

fn graph_head(row: &sqlx::any::AnyRow) -> GraphHead {
    GraphHead {
        revision: row.get("revision"),
        node_count: row.get("node_count"),
        edge_count: row.get("edge_count"),
        deleted: row.get::<Option<String>, _>("deleted_at").is_some(),
        update_count: row.get("update_count"),
    }
}

/// What a merge stores of a graph's document.
#[derive(Debug, Clone, Copy)]
pub enum GraphWrite<'a> {
    /// The whole document: a new graph, or the stored updates folded into a
    /// new snapshot (they are removed).
    Snapshot(&'a [u8]),
    /// Only the operations this merge added, appended after the snapshot and
    /// the updates before it.
    Update(&'a [u8]),
}

/// The sync server's database.
#[derive(Debug, Clone)]
pub struct ServerStore {
    pub(crate) pool: AnyPool,
    location: DatabaseLocation,
}

impl ServerStore {
    /// Opens (creating if needed) the database at `location` and migrates it.
    pub async fn open(location: &DatabaseLocation) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let pool = match location {
            DatabaseLocation::Sqlite(path) => {
                let url = sqlite_url(path)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            for pragma in SQLITE_PRAGMAS {
                                connection.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(url.parse::<AnyConnectOptions>()?)
                    .await?;
                SQLITE_MIGRATOR.run(&pool).await?;
                pool
            }
            DatabaseLocation::Postgres(url) => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .connect(url)
                    .await?;
                POSTGRES_MIGRATOR.run(&pool).await?;
                pool
            }
        };
        Ok(Self {
            pool,
            location: location.clone(),
        })
    }

    /// Opens (creating if needed) the SQLite database at `path` and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        Self::open(&DatabaseLocation::Sqlite(path.to_path_buf())).await
    }

    /// Starts a transaction that writes. On SQLite it takes the write lock at
    /// its first statement (`BEGIN IMMEDIATE`): a deferred transaction that
    /// reads and then writes cannot upgrade its lock once another connection
    /// has written, and fails with "database is locked" at once instead of
    /// waiting out the busy timeout. With the lock taken up front, concurrent
    /// writers queue on the busy timeout and each one succeeds in turn.
    /// PostgreSQL locks rows as they are written, so a plain `BEGIN` serves.
    pub(crate) async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend() {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Where this store keeps its data.
    pub fn location(&self) -> &DatabaseLocation {
        &self.location
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.location.backend()
    }

    /// The revision and facts of one of a tenant's graphs, without its
    /// document (a merge that holds the document at that revision in memory
    /// needs nothing else).
    pub async fn graph_head(
        &self,
        tenant_id: Uuid,
        id: GraphId,
    ) -> Result<Option<GraphHead>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {GRAPH_HEAD} FROM graph_documents WHERE tenant_id = $1 AND graph_id = $2"
        ))
        .bind(tenant_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| graph_head(&row)))
    }

    /// The merged document of one of a tenant's graphs (its snapshot and the
    /// updates after it) with its revision, which
    /// [`ServerStore::save_graph_document`] expects back.
    pub async fn load_graph_revision(
        &self,
        tenant_id: Uuid,
        id: GraphId,
    ) -> Result<Option<StoredGraph>, StoreError> {
        let row = sqlx::query(
            &format!(
                "SELECT snapshot, {GRAPH_HEAD} FROM graph_documents WHERE tenant_id = $1 AND graph_id = $2"
            ),
        )
        .bind(tenant_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let head = graph_head(&row);
        // Updates made after this revision belong to a later read; a fold
        // that removed some in between shows at save time as a moved revision.
        let updates = if head.update_count > 0 {
            sqlx::query_scalar(
                "SELECT updates FROM graph_updates
                 WHERE tenant_id = $1 AND graph_id = $2 AND revision <= $3 ORDER BY revision",
            )
            .bind(tenant_id.to_string())
            .bind(id.to_string())
            .bind(head.revision)
            .fetch_all(&self.pool)
            .await?
        } else {
            Vec::new()
        };
        Ok(Some(StoredGraph {
            head,
            snapshot: row.get("snapshot"),
            updates,
        }))
    }

    /// Stores the merged document of a tenant's graph with the facts listed
    /// about it, if the stored one is still at `read_revision` (`None`: the
    /// graph must not exist yet). Returns `false`, storing nothing, when
    /// another merge (possibly on another server instance) got there first:
    /// read again, merge again.
    pub async fn save_graph_document(
        &self,
        tenant_id: Uuid,
        summary: &ServerGraphSummary,
        write: GraphWrite<'_>,
        version: &[u8],
        user: Uuid,
        read_revision: Option<i64>,
    ) -> Result<bool, StoreError> {
        let tenant = tenant_id.to_string();
        let graph = summary.id.to_string();
        let Some(revision) = read_revision else {
            // A new graph: whatever bytes hold its whole document.
            let (GraphWrite::Snapshot(bytes) | GraphWrite::Update(bytes)) = write;
            let done = sqlx::query(
                "INSERT INTO graph_documents (tenant_id, graph_id, name, snapshot, node_count, edge_count, updated_by, updated_at, revision, version, deleted_at, update_count)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, 0)
                 ON CONFLICT (tenant_id, graph_id) DO NOTHING",
            )
            .bind(&tenant)
            .bind(&graph)
            .bind(&summary.name)
            .bind(bytes)
            .bind(summary.node_count)
            .bind(summary.edge_count)
            .bind(user.to_string())
            .bind(now_text())
            .bind(version)
            .bind(summary.deleted_at.as_deref())
            .execute(&self.pool)
            .await?;
            return Ok(done.rows_affected() == 1);
        };
        let mut transaction = self.write_transaction().await?;
        let facts = "name = $1, node_count = $2, edge_count = $3, updated_by = $4, updated_at = $5,
                     revision = revision + 1, version = $6, deleted_at = $7";
        let guard = "WHERE tenant_id = $8 AND graph_id = $9 AND revision = $10";
        let statement = match write {
            GraphWrite::Snapshot(_) => {
                format!(
                    "UPDATE graph_documents SET {facts}, snapshot = $11, update_count = 0 {guard}"
                )
            }
            GraphWrite::Update(_) => {
                format!(
                    "UPDATE graph_documents SET {facts}, update_count = update_count + 1 {guard}"
                )
            }
        };
        let mut update = sqlx::query(&statement)
            .bind(&summary.name)
            .bind(summary.node_count)
            .bind(summary.edge_count)
            .bind(user.to_string())
            .bind(now_text())
            .bind(version)
            .bind(summary.deleted_at.as_deref())
            .bind(&tenant)
            .bind(&graph)
            .bind(revision);
        if let GraphWrite::Snapshot(bytes) = write {
            update = update.bind(bytes);
        }
        if update.execute(&mut *transaction).await?.rows_affected() != 1 {
            return Ok(false);
        }
        match write {
            GraphWrite::Snapshot(_) => {
                sqlx::query("DELETE FROM graph_updates WHERE tenant_id = $1 AND graph_id = $2")
                    .bind(&tenant)
                    .bind(&graph)
                    .execute(&mut *transaction)
                    .await?;
            }
            GraphWrite::Update(bytes) => {
                sqlx::query(
                    "INSERT INTO graph_updates (tenant_id, graph_id, revision, updates) VALUES ($1, $2, $3, $4)",
                )
                .bind(&tenant)
                .bind(&graph)
                .bind(revision + 1)
                .bind(bytes)
                .execute(&mut *transaction)
                .await?;
            }
        }
        transaction.commit().await?;
        Ok(true)
    }

    /// The version vector stored with a tenant's graph (bytes as
    /// `orrery-sync` encodes them), without its snapshot; `None` when the
    /// graph is not here or was stored before versions were kept.
    pub async fn stored_graph_version(
        &self,
        tenant_id: Uuid,
        id: GraphId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let version: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "SELECT version FROM graph_documents WHERE tenant_id = $1 AND graph_id = $2",
        )
        .bind(tenant_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(version.flatten())
    }

    /// The stored snapshot of a tenant's graph with its version vector (when
    /// it was stored with one), for a device that has nothing of it yet;
    /// `None` too when updates follow the snapshot (it is not the whole
    /// document).
    pub async fn stored_graph_snapshot(
        &self,
        tenant_id: Uuid,
        id: GraphId,
    ) -> Result<Option<(Vec<u8>, Option<Vec<u8>>)>, StoreError> {
        let row = sqlx::query(
            "SELECT snapshot, version FROM graph_documents
             WHERE tenant_id = $1 AND graph_id = $2 AND update_count = 0",
        )
        .bind(tenant_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.get("snapshot"), row.get("version"))))
    }

    /// A tenant's merged graphs, most recently changed first.
    pub async fn list_graph_documents(
        &self,
        tenant_id: Uuid,
    ) -> Result<Vec<ServerGraphSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT graph_id, name, node_count, edge_count, updated_at FROM graph_documents
             WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY updated_at DESC, graph_id",
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
                    deleted_at: None,
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

/// Tells every server instance on the same database that something changed,
/// and hears what they tell (PostgreSQL `LISTEN` / `NOTIFY`). On SQLite there
/// is one instance and nothing to tell.
impl ServerStore {
    /// Sends `payload` on `channel` to every listening instance (this one
    /// included). A no-op on SQLite.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// A listener on `channel`, or `None` on SQLite.
    pub async fn listen(&self, channel: &str) -> Result<Option<ChangeListener>, StoreError> {
        let DatabaseLocation::Postgres(url) = &self.location else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(channel).await?;
        Ok(Some(ChangeListener { listener }))
    }
}

/// What other server instances announce (see [`ServerStore::listen`]).
pub struct ChangeListener {
    listener: sqlx::postgres::PgListener,
}

/// One thing heard by a [`ChangeListener`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A payload sent with [`ServerStore::notify`].
    Message(String),
    /// The connection dropped and came back: announcements in between are
    /// lost, so whoever relies on them should catch up in full.
    Reconnected,
}

impl ChangeListener {
    /// Waits for the next announcement (reconnecting on its own).
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        match self.listener.try_recv().await? {
            Some(notification) => Ok(Heard::Message(notification.payload().to_owned())),
            None => Ok(Heard::Reconnected),
        }
    }
}

/// `sqlite://PATH?mode=rwc`, with the characters the URL syntax would eat escaped.
fn sqlite_url(path: &Path) -> Result<String, StoreError> {
    let text = path.to_str().ok_or_else(|| {
        StoreError::Database(sqlx::Error::Configuration(
            format!("the database path {} is not UTF-8", path.display()).into(),
        ))
    })?;
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '%' => escaped.push_str("%25"),
            '?' => escaped.push_str("%3F"),
            '#' => escaped.push_str("%23"),
            other => escaped.push(other),
        }
    }
    Ok(format!("sqlite://{escaped}?mode=rwc"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_hide_passwords() {
        assert_eq!(
            DatabaseLocation::parse("/var/lib/orrery/server.db"),
            DatabaseLocation::Sqlite("/var/lib/orrery/server.db".into())
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:relative.db"),
            DatabaseLocation::Sqlite("relative.db".into())
        );
        let postgres = DatabaseLocation::parse("postgres://orrery:hunter2@db:5432/orrery");
        assert_eq!(postgres.backend(), Backend::Postgres);
        assert_eq!(postgres.to_string(), "postgres://orrery:…@db:5432/orrery");
        assert!(!format!("{postgres:?}").contains("hunter2"));
        assert_eq!(
            sqlite_url(Path::new("/tmp/a?b#c%d.db")).unwrap(),
            "sqlite:///tmp/a%3Fb%23c%25d.db?mode=rwc"
        );
    }
}
