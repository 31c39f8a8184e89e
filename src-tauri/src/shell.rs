//! The shell's logic without a window: the local replica, the sync client and
//! the canvas channel. Commands and the canvas event thread call into it.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use orrery_canvas::CanvasCommand;
use orrery_domain::{GraphEdit, GraphId};
use orrery_store::{GraphSummary, LocalStore};
use orrery_sync::{DeviceCredentials, Replica, SyncClient, SyncError};
use serde::Serialize;
use tokio::sync::{Mutex, Notify};

const DEVICE_ID_SETTING: &str = "sync.device_id";
const DEVICE_TOKEN_SETTING: &str = "sync.device_token";
const SERVER_URL_SETTING: &str = "sync.server_url";

/// What went wrong in the shell.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The library or sync layer refused.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The canvas window is gone.
    #[error("the canvas window is not running")]
    CanvasGone,
}

impl ShellError {
    /// A stable code for the webview.
    pub fn code(&self) -> &'static str {
        match self {
            ShellError::Sync(SyncError::Graph(_)) => "invalid_input",
            ShellError::Sync(SyncError::NoSuchGraph(_)) => "not_found",
            ShellError::Sync(SyncError::Offline { .. }) => "offline",
            ShellError::Sync(_) | ShellError::CanvasGone => "internal",
        }
    }
}

/// Where sync stands, as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// `synced`, `pending`, `offline` or `error`.
    pub state: &'static str,
    /// Operations not yet acknowledged by the server, over all graphs.
    pub pending_changes: i64,
    /// Why sync is offline or failing.
    pub message: Option<String>,
}

impl SyncStatus {
    fn starting() -> Self {
        Self {
            state: "pending",
            pending_changes: 0,
            message: Some("connecting to the sync server".into()),
        }
    }
}

struct Inner {
    replica: Replica,
    server_url: String,
    client: Mutex<Option<SyncClient>>,
    canvas: Sender<CanvasCommand>,
    status: Mutex<SyncStatus>,
    changed: Notify,
}

/// The desktop shell's state, cheap to clone.
#[derive(Clone)]
pub struct Shell {
    inner: Arc<Inner>,
}

impl Shell {
    /// Opens the local store at `store` and prepares to sync with `server_url`.
    pub async fn open(
        store: &Path,
        server_url: &str,
        canvas: Sender<CanvasCommand>,
    ) -> Result<Self, ShellError> {
        let store = LocalStore::open(store).await.map_err(SyncError::from)?;
        let replica = Replica::new(store);
        Ok(Self {
            inner: Arc::new(Inner {
                replica,
                server_url: server_url.trim_end_matches('/').to_owned(),
                client: Mutex::new(None),
                canvas,
                status: Mutex::new(SyncStatus::starting()),
                changed: Notify::new(),
            }),
        })
    }

    /// The local replica.
    pub fn replica(&self) -> &Replica {
        &self.inner.replica
    }

    /// Every graph in the library.
    pub async fn list_graphs(&self) -> Result<Vec<GraphSummary>, ShellError> {
        Ok(self.inner.replica.list_graphs().await?)
    }

    /// Creates a graph and returns how the library lists it.
    pub async fn create_graph(&self, name: &str) -> Result<GraphSummary, ShellError> {
        let graph = self.inner.replica.create_graph(name).await?;
        self.inner.changed.notify_one();
        self.summary(graph.id).await
    }

    /// Adds a sample graph of `nodes` nodes (agents, prompts, tools, inputs and
    /// outputs wired as a tree) so a new user has something to open.
    pub async fn add_sample_graph(&self, nodes: usize) -> Result<GraphSummary, ShellError> {
        let sample = orrery_domain::sample_graph("Sample: research team", nodes, rand_seed());
        let graph = self
            .inner
            .replica
            .add_graph(orrery_domain::Graph {
                id: GraphId::new(),
                ..sample
            })
            .await?;
        self.inner.changed.notify_one();
        self.summary(graph.id).await
    }

    /// Renames a graph; the canvas shows the new name if the graph is open.
    pub async fn rename_graph(&self, id: GraphId, name: &str) -> Result<GraphSummary, ShellError> {
        self.inner.replica.rename_graph(id, name).await?;
        self.inner.changed.notify_one();
        self.summary(id).await
    }

    /// Shows a graph in the canvas window.
    pub async fn open_graph(&self, id: GraphId) -> Result<(), ShellError> {
        let graph = self.inner.replica.graph(id).await?;
        self.inner
            .canvas
            .send(CanvasCommand::LoadGraph(graph))
            .and_then(|()| self.inner.canvas.send(CanvasCommand::Show))
            .map_err(|_| ShellError::CanvasGone)
    }

    /// Stores an edit made on the canvas (a new edit, an undo or a redo).
    pub async fn apply_edit(&self, graph: GraphId, edit: &GraphEdit) -> Result<(), ShellError> {
        self.inner.replica.apply_edit(graph, edit).await?;
        self.inner.changed.notify_one();
        Ok(())
    }

    /// The last known sync state.
    pub async fn sync_status(&self) -> SyncStatus {
        self.inner.status.lock().await.clone()
    }

    /// Syncs the whole library now and returns the resulting state.
    pub async fn sync_now(&self) -> SyncStatus {
        let outcome = match self.client().await {
            Ok(client) => client.sync_all(&self.inner.replica).await.map(|_| ()),
            Err(error) => Err(error),
        };
        let pending = self
            .inner
            .replica
            .list_graphs()
            .await
            .map(|graphs| graphs.iter().map(|graph| graph.pending_changes).sum())
            .unwrap_or(0);
        let status = match outcome {
            Ok(()) if pending == 0 => SyncStatus {
                state: "synced",
                pending_changes: 0,
                message: None,
            },
            Ok(()) => SyncStatus {
                state: "pending",
                pending_changes: pending,
                message: None,
            },
            Err(error @ SyncError::Offline { .. }) => SyncStatus {
                state: "offline",
                pending_changes: pending,
                message: Some(error.to_string()),
            },
            Err(error) => {
                tracing::warn!(%error, "sync failed");
                SyncStatus {
                    state: "error",
                    pending_changes: pending,
                    message: Some(error.to_string()),
                }
            }
        };
        *self.inner.status.lock().await = status.clone();
        status
    }

    /// Waits until the library changes or `timeout` passes.
    pub async fn wait_for_change(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.inner.changed.notified()).await;
    }

    async fn summary(&self, id: GraphId) -> Result<GraphSummary, ShellError> {
        self.list_graphs()
            .await?
            .into_iter()
            .find(|graph| graph.id == id)
            .ok_or(ShellError::Sync(SyncError::NoSuchGraph(id)))
    }

    /// The sync client, registering this device with the server the first time.
    async fn client(&self) -> Result<SyncClient, SyncError> {
        let mut client = self.inner.client.lock().await;
        if let Some(client) = client.as_ref() {
            return Ok(client.clone());
        }
        let store = self.inner.replica.store();
        let same_server = store.setting(SERVER_URL_SETTING).await?.as_deref()
            == Some(self.inner.server_url.as_str());
        let saved = match (
            store.setting(DEVICE_ID_SETTING).await?,
            store.setting(DEVICE_TOKEN_SETTING).await?,
        ) {
            (Some(device_id), Some(token)) if same_server => {
                Some(DeviceCredentials { device_id, token })
            }
            _ => None,
        };
        let registered = match saved {
            Some(credentials) => SyncClient::with_credentials(&self.inner.server_url, credentials),
            None => {
                let name = std::env::var("HOSTNAME").unwrap_or_else(|_| "Orrery desktop".into());
                let registered = SyncClient::register(&self.inner.server_url, &name).await?;
                let credentials = registered.credentials();
                store
                    .set_setting(SERVER_URL_SETTING, &self.inner.server_url)
                    .await?;
                store
                    .set_setting(DEVICE_ID_SETTING, &credentials.device_id)
                    .await?;
                store
                    .set_setting(DEVICE_TOKEN_SETTING, &credentials.token)
                    .await?;
                registered
            }
        };
        *client = Some(registered.clone());
        Ok(registered)
    }
}

/// A seed that differs between calls, so two samples do not share node ids.
fn rand_seed() -> u64 {
    let id = uuid::Uuid::now_v7().as_u128();
    (id as u64) ^ ((id >> 64) as u64)
}
