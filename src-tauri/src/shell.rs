//! The shell's logic without a window: the local replica, the signed-in
//! session, the sync client and the canvas channel. Commands and the canvas
//! event thread call into it.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use orrery_account::{Account, AccountClient, AccountError, ProfileUpdate, Provider, Session};
use orrery_canvas::CanvasCommand;
use orrery_domain::{GraphEdit, GraphId};
use orrery_store::{GraphSummary, LocalStore};
use orrery_sync::{Replica, SyncClient, SyncError};
use serde::Serialize;
use tokio::sync::{Mutex, Notify};

use crate::vault::{KeyringVault, VaultError};

mod allowance;
mod channels;
mod history;
mod merged_away;
mod presence;
mod teams;
mod workspaces;

pub use history::{HistoryDiff, HistoryPoint, PromptHistory, PromptVersionPoint};
pub use presence::Looking;
use workspaces::Workspace;
pub use workspaces::Workspaces;
mod library;
mod marketplace;
mod sandbox;
mod updates;
pub use library::{AgentDraft, PromptDraft, PromptView};
pub use sandbox::ProviderView;
pub use updates::UpdateSettings;

/// How long the shell waits for the browser to come back from a provider.
const PROVIDER_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// The local setting that records when the first-run welcome was dismissed.
const WELCOME_SEEN: &str = "welcome_seen_at";

/// How many days a deleted graph can be restored.
pub const RESTORE_DAYS: i64 = 30;

/// What went wrong in the shell.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The library or sync layer refused.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The server refused or could not be reached for an account action.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The action needs a signed-in user.
    #[error("sign in first")]
    SignedOut,
    /// The system keyring refused.
    #[error(transparent)]
    Keyring(#[from] VaultError),
    /// A sandbox run could not start or failed.
    #[error(transparent)]
    Session(#[from] orrery_sessions::SessionError),
    /// The canvas window is gone.
    #[error("the canvas window is not running")]
    CanvasGone,
    /// The plan allows no more of this now (the policy engine's reason).
    #[error("{0}")]
    LimitReached(String),
    /// Input the library's own rules accept but that cannot be used: a
    /// regex that does not compile, a version that fails its prompt's
    /// checks, a name taken.
    #[error("{0}")]
    Invalid(String),
    /// The workspace is read-only for this person (a viewer's team).
    #[error("{0}")]
    ReadOnly(String),
    /// A graph file was refused; nothing was created.
    #[error("{path} was not imported: {source}")]
    Import {
        /// The file.
        path: String,
        /// Why.
        source: Box<orrery_domain::ImportError>,
    },
    /// A graph file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What the system said.
        reason: String,
    },
}

impl ShellError {
    /// A stable code for the webview.
    pub fn code(&self) -> &'static str {
        match self {
            ShellError::Sync(SyncError::Graph(_)) => "invalid_input",
            ShellError::Sync(SyncError::NoSuchGraph(_)) => "not_found",
            ShellError::Sync(SyncError::Library(_)) => "invalid_input",
            ShellError::Sync(SyncError::NoSuchDocument(..)) => "not_found",
            ShellError::Sync(SyncError::Offline { .. }) => "offline",
            ShellError::Account(AccountError::Offline { .. }) => "offline",
            ShellError::Account(AccountError::Refused { status: 401, .. }) => "unauthorized",
            ShellError::Account(AccountError::Refused { status: 409, .. }) => "conflict",
            ShellError::Account(AccountError::Refused { status: 404, .. }) => "not_found",
            ShellError::Account(AccountError::Refused { status: 429, .. }) => "locked",
            ShellError::Account(AccountError::Refused {
                status: 400 | 403 | 413 | 422,
                ..
            }) => "invalid_input",
            ShellError::Account(AccountError::Browser(_)) => "browser",
            ShellError::SignedOut => "signed_out",
            ShellError::Keyring(_) => "keyring",
            ShellError::Session(orrery_sessions::SessionError::Busy) => "conflict",
            ShellError::Session(orrery_sessions::SessionError::NoSuchTemplate(_)) => "not_found",
            ShellError::Session(
                orrery_sessions::SessionError::InvalidTask(_)
                | orrery_sessions::SessionError::NoAgents(_)
                | orrery_sessions::SessionError::InvalidTeam(_),
            ) => "invalid_input",
            ShellError::Invalid(_) => "invalid_input",
            ShellError::ReadOnly(_) => "read_only",
            ShellError::LimitReached(_) => "limit_reached",
            ShellError::Session(orrery_sessions::SessionError::Runtime(
                orrery_runtime::RuntimeError::InvalidSettings(_),
            )) => "invalid_input",
            ShellError::Session(orrery_sessions::SessionError::Runtime(
                orrery_runtime::RuntimeError::NoProvider { .. },
            )) => "offline",
            ShellError::Import { .. } => "invalid_input",
            ShellError::File { .. } => "file",
            ShellError::Sync(_)
            | ShellError::Account(_)
            | ShellError::Session(_)
            | ShellError::CanvasGone => "internal",
        }
    }
}

/// Who is signed in, as the webview sees it (never a token).
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type, tauri_specta::Event)]
#[tauri_specta(event_name = "account-changed")]
pub struct AccountState {
    /// Whether a session exists on this device.
    pub signed_in: bool,
    /// The account as last seen from the server.
    pub account: Option<Account>,
    /// Why the session cannot be remembered across restarts, if it cannot.
    pub keyring_problem: Option<String>,
}

/// Where sync stands, as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type, tauri_specta::Event)]
#[tauri_specta(event_name = "sync-status")]
pub struct SyncStatus {
    /// `synced`, `pending`, `offline`, `signed_out` or `error`.
    pub state: &'static str,
    /// Operations not yet acknowledged by the server, over all graphs.
    pub pending_changes: i64,
    /// Why sync is offline or failing.
    pub message: Option<String>,
}

impl SyncStatus {
    fn signed_out() -> Self {
        Self {
            state: "signed_out",
            pending_changes: 0,
            message: Some("sign in to sync this library".into()),
        }
    }

    fn starting() -> Self {
        Self {
            state: "pending",
            pending_changes: 0,
            message: Some("connecting to the sync server".into()),
        }
    }
}

struct Inner {
    /// The personal workspace's replica: also where this device keeps its
    /// own settings (updates, the cached allowance, the chosen workspace).
    device: Replica,
    /// The workspace the app works in now, with its replica.
    workspace: std::sync::RwLock<Workspace>,
    /// Where team workspaces' stores live (`<team>.db` here).
    store_dir: std::path::PathBuf,
    /// The team workspaces' replicas opened so far: one per team, so every
    /// use of a team's store shares its open documents.
    team_replicas: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, Replica>>,
    /// Woken when the workspace changes (the live feed reconnects).
    switched: Notify,
    /// Where this person looks, and the others on the shown graph.
    presence: std::sync::Mutex<presence::PresenceState>,
    /// Where this person looks, for the live feed.
    looking: tokio::sync::watch::Sender<presence::Looking>,
    /// The nodes changed here since the last sync (to tell when a change
    /// was merged away).
    touched: std::sync::Mutex<merged_away::Touched>,
    /// Per graph, the edit that takes its last restore back.
    restores: std::sync::Mutex<std::collections::HashMap<GraphId, GraphEdit>>,
    server_url: String,
    accounts: AccountClient,
    /// Where `orrery://oauth/callback` links go while a provider sign-in waits.
    app_redirects: orrery_account::loopback::AppRedirects,
    vault: KeyringVault,
    session: Mutex<Option<Session>>,
    keyring_problem: std::sync::Mutex<Option<String>>,
    canvas: Sender<CanvasCommand>,
    /// The graph the canvas shows, if any.
    open_graph: std::sync::Mutex<Option<GraphId>>,
    status: Mutex<SyncStatus>,
    changed: Notify,
    runs: orrery_sessions::RunSlot,
}

/// The desktop shell's state, cheap to clone.
#[derive(Clone)]
pub struct Shell {
    inner: Arc<Inner>,
}

impl Shell {
    /// Opens the local store at `store`, restores the session saved in the
    /// keyring `vault` for `server_url`, and prepares to sync.
    pub async fn open(
        store: &Path,
        server_url: &str,
        vault: KeyringVault,
        canvas: Sender<CanvasCommand>,
    ) -> Result<Self, ShellError> {
        // Team workspaces' stores sit beside this one, in a folder named
        // after it (`local.workspaces/<team>.db`).
        let store_dir = store.with_extension("workspaces");
        let store = LocalStore::open(store).await.map_err(SyncError::from)?;
        let replica = Replica::new(store);
        let server_url = server_url.trim_end_matches('/').to_owned();
        let (session, keyring_problem) = match vault.load(&server_url).await {
            Ok(session) => (session, None),
            Err(error @ VaultError::Corrupt(_)) => {
                let _ = vault.clear(&server_url).await;
                (None, Some(error.to_string()))
            }
            Err(error) => {
                tracing::warn!(%error, "no keyring");
                (None, Some(error.to_string()))
            }
        };
        let shell = Self {
            inner: Arc::new(Inner {
                workspace: std::sync::RwLock::new(Workspace::personal(replica.clone())),
                device: replica,
                store_dir,
                team_replicas: Default::default(),
                switched: Notify::new(),
                restores: Default::default(),
                touched: Default::default(),
                presence: Default::default(),
                looking: tokio::sync::watch::Sender::new(presence::Looking::default()),
                accounts: AccountClient::new(&server_url),
                app_redirects: Default::default(),
                server_url,
                vault,
                session: Mutex::new(session),
                keyring_problem: std::sync::Mutex::new(keyring_problem),
                canvas,
                open_graph: std::sync::Mutex::new(None),
                status: Mutex::new(SyncStatus::starting()),
                changed: Notify::new(),
                runs: orrery_sessions::RunSlot::default(),
            }),
        };
        // The workspace chosen last time, if it is a team's.
        if let Err(error) = shell.restore_workspace().await {
            tracing::warn!(%error, "the team workspace chosen last could not be opened");
        }
        // Deleted graphs past their restore window leave the store for good.
        match shell.purge_deleted_graphs().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "deleted graphs purged"),
            Err(error) => tracing::warn!(%error, "could not purge deleted graphs"),
        }
        Ok(shell)
    }

    /// The replica of the workspace the app works in now.
    pub fn replica(&self) -> Replica {
        self.current().replica
    }

    /// The workspace the app works in now.
    fn current(&self) -> Workspace {
        self.inner
            .workspace
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Every graph in the library.
    pub async fn list_graphs(&self) -> Result<Vec<GraphSummary>, ShellError> {
        Ok(self.replica().list_graphs().await?)
    }

    /// Creates a graph and returns how the library lists it.
    pub async fn create_graph(&self, name: &str) -> Result<GraphSummary, ShellError> {
        self.check_writable()?;
        let graph = self.replica().create_graph(name).await?;
        self.inner.changed.notify_one();
        self.summary(graph.id).await
    }

    /// Adds a sample graph of `nodes` nodes (agents, prompts, tools, inputs and
    /// outputs wired as a tree) so a new user has something to open.
    pub async fn add_sample_graph(&self, nodes: usize) -> Result<GraphSummary, ShellError> {
        self.check_writable()?;
        let sample = orrery_domain::sample_graph("Sample: research team", nodes, rand_seed());
        let graph = self
            .replica()
            .add_graph(orrery_domain::Graph {
                id: GraphId::new(),
                ..sample
            })
            .await?;
        self.inner.changed.notify_one();
        self.summary(graph.id).await
    }

    /// Imports a graph file (the JSON `export_graph_file` writes) as a new
    /// graph. A file that is not a valid graph is refused with the reason and
    /// creates nothing; the open graph is never touched.
    pub async fn import_graph_file(&self, path: &Path) -> Result<GraphSummary, ShellError> {
        self.check_writable()?;
        let shown = path.display().to_string();
        let file_error = |reason: String| ShellError::File {
            path: shown.clone(),
            reason,
        };
        // Refuse an oversized file before reading it into memory.
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|error| file_error(error.to_string()))?
            .len();
        if size > orrery_domain::MAX_GRAPH_FILE_BYTES as u64 {
            return Err(ShellError::Import {
                path: shown,
                source: Box::new(orrery_domain::ImportError::TooLarge {
                    size: usize::try_from(size).unwrap_or(usize::MAX),
                    limit: orrery_domain::MAX_GRAPH_FILE_BYTES,
                }),
            });
        }
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|error| file_error(error.to_string()))?;
        let graph = orrery_domain::import_graph(&bytes).map_err(|source| ShellError::Import {
            path: shown.clone(),
            source: Box::new(source),
        })?;
        let graph = self.replica().add_graph(graph).await?;
        self.inner.changed.notify_one();
        self.summary(graph.id).await
    }

    /// Writes a graph to `path` as a graph file. The file appears whole or
    /// not at all (written beside it, then renamed).
    pub async fn export_graph_file(&self, id: GraphId, path: &Path) -> Result<(), ShellError> {
        let graph = self.replica().graph(id).await?;
        let shown = path.display().to_string();
        let file_error = |error: std::io::Error| ShellError::File {
            path: shown.clone(),
            reason: error.to_string(),
        };
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        tokio::fs::write(&partial, orrery_domain::export_graph(&graph))
            .await
            .map_err(file_error)?;
        if let Err(error) = tokio::fs::rename(&partial, path).await {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(file_error(error));
        }
        Ok(())
    }

    /// Deletes a graph. It leaves the library on every device once they
    /// sync, and can be restored for [`RESTORE_DAYS`] days.
    pub async fn delete_graph(&self, id: GraphId) -> Result<GraphSummary, ShellError> {
        self.check_writable()?;
        let at = orrery_store::now_text();
        self.replica().delete_graph(id, &at).await?;
        self.inner.changed.notify_one();
        // A deleted graph does not stay on the canvas.
        if self.shown_graph() == Some(id) {
            let _ = self.inner.canvas.send(CanvasCommand::CloseGraph);
        }
        self.deleted_summary(id).await
    }

    /// Brings back a deleted graph (the toast's Undo, or the list of deleted graphs).
    pub async fn restore_graph(&self, id: GraphId) -> Result<GraphSummary, ShellError> {
        self.check_writable()?;
        self.replica().restore_graph(id).await?;
        self.inner.changed.notify_one();
        self.summary(id).await
    }

    /// Deleted graphs that can still be restored, most recently deleted first.
    pub async fn list_deleted_graphs(&self) -> Result<Vec<GraphSummary>, ShellError> {
        Ok(self.replica().list_deleted_graphs().await?)
    }

    /// A copy of a graph under a new id, named "… (copy)".
    pub async fn duplicate_graph(&self, id: GraphId) -> Result<GraphSummary, ShellError> {
        self.check_writable()?;
        let original = self.replica().graph(id).await?;
        let name = copy_name(&original.name, orrery_domain::MAX_NAME_CHARS);
        let graph = self
            .replica()
            .add_graph(orrery_domain::Graph {
                id: GraphId::new(),
                name,
                ..original
            })
            .await?;
        self.inner.changed.notify_one();
        self.summary(graph.id).await
    }

    /// What the About window shows.
    pub fn about(&self) -> About {
        About {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            licence: env!("CARGO_PKG_LICENSE"),
            server_url: self.inner.server_url.clone(),
            links: ABOUT_LINKS
                .iter()
                .map(|(key, label, _)| AboutLink { key, label })
                .collect(),
            built_with: BUILT_WITH,
        }
    }

    /// Whether the first-run welcome is still to be shown on this device.
    pub async fn welcome_due(&self) -> Result<bool, ShellError> {
        let seen = self
            .inner
            .device
            .store()
            .setting(WELCOME_SEEN)
            .await
            .map_err(SyncError::from)?;
        Ok(seen.is_none())
    }

    /// The welcome was read or dismissed: it is not shown again.
    pub async fn dismiss_welcome(&self) -> Result<(), ShellError> {
        self.inner
            .device
            .store()
            .set_setting(WELCOME_SEEN, &orrery_store::now_text())
            .await
            .map_err(SyncError::from)?;
        Ok(())
    }

    /// The templates a new graph can start from, as the gallery shows them.
    pub fn templates(&self) -> Vec<orrery_domain::templates::TemplateCard> {
        orrery_domain::templates::templates(&orrery_store::now_text())
            .iter()
            .map(orrery_domain::templates::Template::card)
            .collect()
    }

    /// Adds a template: its graph, and the agents and prompts it names that
    /// the library does not have yet.
    pub async fn add_template(&self, key: &str) -> Result<GraphSummary, ShellError> {
        self.check_writable()?;
        let graph = orrery_sessions::templates::add_template(
            &self.replica(),
            key,
            &orrery_store::now_text(),
        )
        .await?;
        self.library_changed().await;
        self.summary(graph.id).await
    }

    /// Forgets graphs deleted more than [`RESTORE_DAYS`] days ago whose
    /// deletion the server has. Returns how many went.
    pub async fn purge_deleted_graphs(&self) -> Result<u64, ShellError> {
        let cutoff = chrono::Utc::now() - chrono::Duration::days(RESTORE_DAYS);
        let cutoff = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Ok(self.replica().purge_deleted_graphs(&cutoff).await?)
    }

    /// Renames a graph; the canvas shows the new name if the graph is open.
    pub async fn rename_graph(&self, id: GraphId, name: &str) -> Result<GraphSummary, ShellError> {
        self.check_writable()?;
        self.replica().rename_graph(id, name).await?;
        self.inner.changed.notify_one();
        self.summary(id).await
    }

    /// Shows a graph in the canvas window.
    pub async fn open_graph(&self, id: GraphId) -> Result<(), ShellError> {
        let graph = self.replica().graph(id).await?;
        self.inner
            .canvas
            .send(CanvasCommand::LoadGraph(graph))
            .and_then(|()| self.inner.canvas.send(CanvasCommand::Show))
            .map_err(|_| ShellError::CanvasGone)?;
        *self.inner.open_graph.lock().expect("open graph lock") = Some(id);
        self.show_peers();
        self.show_library().await;
        self.show_session_of(id).await
    }

    /// The graph the canvas shows, if any.
    pub fn shown_graph(&self) -> Option<GraphId> {
        *self.inner.open_graph.lock().expect("open graph lock")
    }

    /// The canvas closed `graph` (its window was closed, or the graph deleted).
    pub fn graph_closed(&self, graph: GraphId) {
        let mut open = self.inner.open_graph.lock().expect("open graph lock");
        if *open == Some(graph) {
            *open = None;
        }
    }

    /// Stores an edit made on the canvas (a new edit, an undo or a redo).
    /// In a read-only workspace the edit is refused and the canvas shows
    /// the graph as stored again, with the reason.
    pub async fn apply_edit(&self, graph: GraphId, edit: &GraphEdit) -> Result<(), ShellError> {
        if let Err(refused) = self.check_writable() {
            if let Ok(stored) = self.replica().graph(graph).await {
                let _ = self.inner.canvas.send(CanvasCommand::LoadGraph(stored));
            }
            let _ = self
                .inner
                .canvas
                .send(CanvasCommand::Notify(refused.to_string()));
            return Err(refused);
        }
        let edited = self.replica().apply_edit(graph, edit).await?;
        self.remember_touched(&edited, edit);
        self.inner.changed.notify_one();
        Ok(())
    }

    /// The last known sync state.
    pub async fn sync_status(&self) -> SyncStatus {
        self.inner.status.lock().await.clone()
    }

    /// Syncs the whole library now and returns the resulting state.
    pub async fn sync_now(&self) -> SyncStatus {
        let outcome = self.sync_everything().await;
        let pending = self
            .replica()
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
            Err(error @ ShellError::Sync(SyncError::Offline { .. }))
            | Err(error @ ShellError::Account(AccountError::Offline { .. })) => SyncStatus {
                state: "offline",
                pending_changes: pending,
                message: Some(error.to_string()),
            },
            Err(ShellError::SignedOut) => SyncStatus {
                pending_changes: pending,
                ..SyncStatus::signed_out()
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

    async fn deleted_summary(&self, id: GraphId) -> Result<GraphSummary, ShellError> {
        self.list_deleted_graphs()
            .await?
            .into_iter()
            .find(|graph| graph.id == id)
            .ok_or(ShellError::Sync(SyncError::NoSuchGraph(id)))
    }

    async fn summary(&self, id: GraphId) -> Result<GraphSummary, ShellError> {
        self.list_graphs()
            .await?
            .into_iter()
            .find(|graph| graph.id == id)
            .ok_or(ShellError::Sync(SyncError::NoSuchGraph(id)))
    }

    /// Keeps a new session in memory and in the keyring. A keyring failure
    /// does not sign the user out; it is reported in [`AccountState`].
    async fn keep_session(&self, session: Session) {
        let saved = self
            .inner
            .vault
            .save(&self.inner.server_url, &session)
            .await;
        *self
            .inner
            .keyring_problem
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = saved.err().map(|error| error.to_string());
        *self.inner.session.lock().await = Some(session);
    }

    async fn forget_session(&self) {
        if let Err(error) = self.inner.vault.clear(&self.inner.server_url).await {
            tracing::warn!(%error, "the keyring entry could not be removed");
        }
        *self.inner.session.lock().await = None;
    }

    /// An access token that is valid now, refreshing the session if its token
    /// has expired. Offline, the old token is returned (the request will say
    /// "offline"); a refused refresh signs the device out.
    async fn access_token(&self, force_refresh: bool) -> Result<String, ShellError> {
        let mut guard = self.inner.session.lock().await;
        let session = guard.as_ref().ok_or(ShellError::SignedOut)?;
        if !force_refresh && !session.needs_refresh(chrono::Utc::now()) {
            return Ok(session.access_token.clone());
        }
        match self.inner.accounts.refresh(&session.refresh_token).await {
            Ok(renewed) => {
                let token = renewed.access_token.clone();
                // The old refresh token is used up: keep the new one before anything else.
                let saved = self
                    .inner
                    .vault
                    .save(&self.inner.server_url, &renewed)
                    .await;
                *self
                    .inner
                    .keyring_problem
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) =
                    saved.err().map(|error| error.to_string());
                *guard = Some(renewed);
                Ok(token)
            }
            Err(error) if error.is_offline() => Ok(session.access_token.clone()),
            Err(error) if error.is_signed_out() => {
                *guard = None;
                drop(guard);
                self.forget_session().await;
                Err(ShellError::SignedOut)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Who is signed in on this device.
    pub async fn account_state(&self) -> AccountState {
        let session = self.inner.session.lock().await;
        AccountState {
            signed_in: session.is_some(),
            account: session.as_ref().map(|session| session.account.clone()),
            keyring_problem: self
                .inner
                .keyring_problem
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    fn device_name() -> String {
        std::env::var("HOSTNAME")
            .ok()
            .filter(|name| !name.trim().is_empty() && name.chars().count() <= 100)
            .unwrap_or_else(|| "Orrery desktop".into())
    }

    /// Creates an account and signs this device in.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        name: &str,
    ) -> Result<AccountState, ShellError> {
        let session = self
            .inner
            .accounts
            .register(email, password, name, &Self::device_name())
            .await?;
        self.keep_session(session).await;
        self.inner.changed.notify_one();
        Ok(self.account_state().await)
    }

    /// Signs in with email and password.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<AccountState, ShellError> {
        let session = self
            .inner
            .accounts
            .sign_in(email, password, &Self::device_name())
            .await?;
        self.keep_session(session).await;
        self.inner.changed.notify_one();
        Ok(self.account_state().await)
    }

    /// The OAuth providers the server offers.
    pub async fn providers(&self) -> Result<Vec<Provider>, ShellError> {
        Ok(self.inner.accounts.providers().await?)
    }

    /// Signs in through a provider: the system browser shows its page and
    /// comes back to a one-shot loopback listener, or to an
    /// `orrery://oauth/callback` link the system opens the app with (handed
    /// over by [`Shell::finish_provider_sign_in`]), as the server says.
    pub async fn sign_in_with_provider(
        &self,
        provider_id: &str,
        open_browser: impl FnOnce(&url::Url) -> Result<(), String>,
    ) -> Result<AccountState, ShellError> {
        let providers = self.providers().await?;
        let provider = providers
            .iter()
            .find(|provider| provider.id == provider_id)
            .ok_or_else(|| {
                AccountError::Browser(format!(
                    "this server does not offer sign-in with `{provider_id}`"
                ))
            })?;
        let session = self
            .inner
            .accounts
            .sign_in_with_provider(
                provider,
                &Self::device_name(),
                Some(&self.inner.app_redirects),
                open_browser,
                PROVIDER_SIGN_IN_TIMEOUT,
            )
            .await?;
        self.keep_session(session).await;
        self.inner.changed.notify_one();
        Ok(self.account_state().await)
    }

    /// Hands an `orrery://oauth/callback` link the app was opened with to
    /// the provider sign-in waiting for it; an error when none waits.
    pub fn finish_provider_sign_in(&self, link: url::Url) -> Result<(), ShellError> {
        Ok(self.inner.app_redirects.deliver(link)?)
    }

    /// Signs out here and on the server (when it can be reached).
    pub async fn sign_out(&self) -> Result<AccountState, ShellError> {
        let token = self
            .inner
            .session
            .lock()
            .await
            .as_ref()
            .map(|session| session.access_token.clone());
        if let Some(token) = token
            && let Err(error) = self.inner.accounts.sign_out(&token).await
        {
            tracing::warn!(%error, "the server did not hear the sign-out; the session ends here anyway");
        }
        self.forget_session().await;
        *self.inner.status.lock().await = SyncStatus::signed_out();
        Ok(self.account_state().await)
    }

    /// Changes name, theme or settings on the server and keeps the answer.
    pub async fn update_profile(&self, update: &ProfileUpdate) -> Result<AccountState, ShellError> {
        let mut outcome = self
            .inner
            .accounts
            .update_profile(&self.access_token(false).await?, update)
            .await;
        if matches!(&outcome, Err(error) if error.is_signed_out()) {
            outcome = self
                .inner
                .accounts
                .update_profile(&self.access_token(true).await?, update)
                .await;
        }
        let account = outcome?;
        let session = self.inner.session.lock().await.clone();
        if let Some(mut session) = session {
            session.account = account;
            self.keep_session(session).await;
        }
        Ok(self.account_state().await)
    }

    /// Runs an authenticated account call, refreshing once if the token was refused.
    async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, ShellError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, AccountError>>,
    {
        match call(self.access_token(false).await?).await {
            Err(error) if error.is_signed_out() => Ok(call(self.access_token(true).await?).await?),
            outcome => Ok(outcome?),
        }
    }

    /// A page of the server's users, for the management window. The server
    /// decides: anyone but an admin is refused there.
    pub async fn admin_users(
        &self,
        query: &orrery_account::UserQuery,
    ) -> Result<orrery_account::UserPage, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_users(&token, query).await })
            .await
    }

    /// The server's figures over the last `days` days, for the overview.
    pub async fn admin_overview(
        &self,
        days: u32,
    ) -> Result<orrery_account::AdminOverview, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_overview(&token, days).await })
            .await
    }

    /// Runs over the last `days` days for Monitoring, of one graph or one
    /// user when given.
    pub async fn admin_monitoring(
        &self,
        days: u32,
        graph: Option<&str>,
        user: Option<&str>,
    ) -> Result<orrery_account::RunMonitoring, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move {
            accounts.admin_monitoring(&token, days, graph, user).await
        })
        .await
    }

    /// One user's data as the server's JSON archive.
    pub async fn admin_export_user(&self, user_id: &str) -> Result<serde_json::Value, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_export_user(&token, user_id).await })
            .await
    }

    /// Deletes one user with their data; the audit entry that records it.
    pub async fn admin_delete_user(
        &self,
        user_id: &str,
    ) -> Result<orrery_account::AuditEntry, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_delete_user(&token, user_id).await })
            .await
    }

    /// Creates or replaces a plan from the management window.
    pub async fn admin_put_plan(
        &self,
        plan: &orrery_domain::policy::Plan,
    ) -> Result<orrery_domain::policy::Plan, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_put_plan(&token, plan).await })
            .await
    }

    /// A page of tenants for the management window.
    pub async fn admin_tenants(
        &self,
        query: Option<&str>,
        page: u64,
    ) -> Result<orrery_account::TenantPage, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_tenants(&token, query, page).await })
            .await
    }

    /// A page of every tenant's published prompt versions for the management window.
    pub async fn admin_prompts(
        &self,
        query: Option<&str>,
        page: u64,
    ) -> Result<orrery_account::PublishedPromptPage, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_prompts(&token, query, page).await })
            .await
    }

    /// Rolls a tenant's prompt back to an earlier published version.
    pub async fn admin_roll_back_prompt(
        &self,
        tenant_id: &str,
        prompt_id: &str,
        version_id: &str,
    ) -> Result<orrery_account::PromptRollback, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move {
            accounts
                .admin_roll_back_prompt(&token, tenant_id, prompt_id, version_id)
                .await
        })
        .await
    }

    /// Every account-email template, for the management window.
    pub async fn admin_mail_templates(
        &self,
    ) -> Result<Vec<orrery_account::MailTemplate>, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_mail_templates(&token).await })
            .await
    }

    /// Saves an edit of an account-email template.
    pub async fn admin_save_mail_template(
        &self,
        key: &str,
        parts: &orrery_account::MailParts,
    ) -> Result<orrery_account::MailTemplate, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move {
            accounts.admin_save_mail_template(&token, key, parts).await
        })
        .await
    }

    /// Uses the text an account-email template ships with again.
    pub async fn admin_reset_mail_template(
        &self,
        key: &str,
    ) -> Result<orrery_account::MailTemplate, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(
            |token| async move { accounts.admin_reset_mail_template(&token, key).await },
        )
        .await
    }

    /// Renders parts of an account-email template with sample values.
    pub async fn admin_preview_mail_template(
        &self,
        key: &str,
        parts: &orrery_account::MailParts,
    ) -> Result<orrery_account::MailPreview, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move {
            accounts
                .admin_preview_mail_template(&token, key, parts)
                .await
        })
        .await
    }

    /// One user, whole, for the management window.
    pub async fn admin_user(
        &self,
        user_id: &str,
    ) -> Result<orrery_account::UserDetail, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_user(&token, user_id).await })
            .await
    }

    /// Changes one user from the management window (plan, role, suspension).
    pub async fn admin_change_user(
        &self,
        user_id: &str,
        action: &orrery_account::UserAction,
    ) -> Result<orrery_account::UserChange, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(
            |token| async move { accounts.admin_change_user(&token, user_id, action).await },
        )
        .await
    }

    /// A page of the server's audit log, for the management window.
    pub async fn admin_audit_log(
        &self,
        query: &orrery_account::AuditQuery,
    ) -> Result<orrery_account::AuditPage, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_audit_log(&token, query).await })
            .await
    }

    /// Everything the billing screen shows: plans, current plan and
    /// subscription, usage against limits, invoices, trial days.
    pub async fn billing_overview(&self) -> Result<BillingOverview, ShellError> {
        let accounts = &self.inner.accounts;
        let plans = accounts.plans().await?;
        let usage = self
            .with_token(|token| async move { accounts.usage(&token).await })
            .await?;
        let subscription = self
            .with_token(|token| async move { accounts.subscription(&token).await })
            .await?;
        let invoices = self
            .with_token(|token| async move { accounts.invoices(&token).await })
            .await?;
        let account = self
            .with_token(|token| async move { accounts.me(&token).await })
            .await?;
        let status = accounts.billing_status().await?;
        // In a team's workspace: the plan it works on (its owner's) and its seats.
        let workspace = self.current();
        let team = match workspace.team {
            Some(team) => Some(TeamBilling {
                name: workspace.name.unwrap_or_default(),
                role: workspace.role.unwrap_or_default(),
                usage: self
                    .with_token(|token| async move { accounts.usage_in(&token, Some(team)).await })
                    .await?,
            }),
            None => None,
        };
        Ok(BillingOverview {
            team,
            plans,
            usage,
            subscription,
            invoices,
            trial_days_remaining: account.trial_days_remaining,
            billing_enabled: status["enabled"].as_bool().unwrap_or(false),
            purchasable_plans: status["purchasable_plans"]
                .as_array()
                .map(|plans| {
                    plans
                        .iter()
                        .filter_map(|plan| plan.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Opens Stripe Checkout for `plan` in the browser.
    pub async fn start_checkout(
        &self,
        plan: &str,
        open_browser: impl FnOnce(&url::Url) -> Result<(), String>,
    ) -> Result<(), ShellError> {
        let accounts = &self.inner.accounts;
        let page = self
            .with_token(|token| async move { accounts.checkout_page(&token, plan).await })
            .await?;
        open_page(&page, open_browser)
    }

    /// Opens the Stripe Customer Portal in the browser.
    pub async fn open_billing_portal(
        &self,
        open_browser: impl FnOnce(&url::Url) -> Result<(), String>,
    ) -> Result<(), ShellError> {
        let accounts = &self.inner.accounts;
        let page = self
            .with_token(|token| async move { accounts.portal_page(&token).await })
            .await?;
        open_page(&page, open_browser)
    }

    /// Opens the server's live change feed as the signed-in user, in the
    /// workspace the app works in.
    pub async fn live_feed(&self) -> Result<orrery_sync::LiveFeed, ShellError> {
        self.live_feed_in(self.current_team()).await
    }

    /// Opens the server's live change feed as the signed-in user in `team`'s
    /// workspace (`None`: the personal one).
    pub async fn live_feed_in(
        &self,
        team: Option<uuid::Uuid>,
    ) -> Result<orrery_sync::LiveFeed, ShellError> {
        let token = self.access_token(false).await?;
        Ok(orrery_sync::LiveFeed::connect_in(&self.inner.server_url, &token, team).await?)
    }

    /// Waits until the app switches workspace.
    pub async fn workspace_switched(&self) {
        self.inner.switched.notified().await;
    }

    /// Wakes the background sync: something changed on the server.
    pub fn changed_elsewhere(&self) {
        self.inner.changed.notify_one();
    }

    /// The team the app works in now (`None`: the personal workspace).
    pub fn current_team(&self) -> Option<uuid::Uuid> {
        self.current().team
    }

    /// Takes in an edit the live feed of workspace `team` carried and, when
    /// its graph is on the canvas, shows it there at once (a drag in
    /// progress is kept). Answers whether the graph changed here; when the
    /// edit cannot be taken in alone it is synced, and on a failure the
    /// background sync is woken.
    pub async fn receive_edit(
        &self,
        team: Option<uuid::Uuid>,
        edit: &orrery_sync::LiveEdit,
    ) -> bool {
        let workspace = self.current();
        if workspace.team != team {
            return false; // The feed of a workspace the app just left.
        }
        let received = async {
            let client = self.client(false, team).await?;
            Ok::<_, ShellError>(client.receive_edit(&workspace.replica, edit).await?)
        }
        .await;
        match received {
            Ok(true) => {
                if self.shown_graph() == Some(edit.graph)
                    && let Ok(graph) = workspace.replica.graph(edit.graph).await
                {
                    let _ = self.inner.canvas.send(CanvasCommand::Merged(graph.clone()));
                    self.report_merged_away(Some(&graph));
                }
                true
            }
            Ok(false) => false,
            Err(error) => {
                tracing::debug!(%error, "a live edit was not taken in; syncing");
                self.changed_elsewhere();
                false
            }
        }
    }

    /// Mails a reset code to `email`.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), ShellError> {
        Ok(self.inner.accounts.request_password_reset(email).await?)
    }

    /// Sets a new password with a mailed code.
    pub async fn confirm_password_reset(
        &self,
        code: &str,
        password: &str,
    ) -> Result<(), ShellError> {
        Ok(self
            .inner
            .accounts
            .confirm_password_reset(code, password)
            .await?)
    }

    /// A sync client with a valid access token, working in `team`'s
    /// workspace (`None`: the personal one).
    async fn client(
        &self,
        force_refresh: bool,
        team: Option<uuid::Uuid>,
    ) -> Result<SyncClient, ShellError> {
        Ok(SyncClient::new(
            &self.inner.server_url,
            &self.access_token(force_refresh).await?,
        )
        .in_workspace(team))
    }

    async fn sync_everything(&self) -> Result<(), ShellError> {
        // The workspace as it is now: a switch during the sync does not mix
        // one workspace's replica with another's server side.
        let workspace = self.current();
        let client = self.client(false, workspace.team).await?;
        let report = match client.sync_all(&workspace.replica).await {
            // The token was revoked or expired early: refresh once and retry.
            Err(SyncError::Server { status: 401, .. }) => {
                self.client(true, workspace.team)
                    .await?
                    .sync_all(&workspace.replica)
                    .await?
            }
            outcome => outcome?,
        };
        // Edits made elsewhere to the graph on the canvas: shown there now,
        // with a word about any change of this person's they removed.
        let mut merged = None;
        if let Some(open) = self.shown_graph()
            && report.graphs_changed.contains(&open)
            && let Ok(graph) = workspace.replica.graph(open).await
        {
            let _ = self.inner.canvas.send(CanvasCommand::Merged(graph.clone()));
            merged = Some(graph);
        }
        self.report_merged_away(merged.as_ref());
        if report.documents_synced > 0 || report.documents_received > 0 {
            // Agents or prompts may have come from another device.
            self.show_library().await;
        }
        // What the plan allows now, for runs decided offline.
        if let Err(error) = self.refresh_allowance().await {
            tracing::warn!(%error, "the plan and usage could not be read after a sync");
        }
        Ok(())
    }
}

/// What the About window shows: the version, the licence, where this
/// desktop syncs, and links (opened by key, never by a URL from the webview).
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct About {
    /// The app's version (the build's, from its Tauri configuration, in the app).
    pub version: String,
    /// Its licence (SPDX).
    pub licence: &'static str,
    /// The sync server this desktop talks to.
    pub server_url: String,
    /// Links the window offers.
    pub links: Vec<AboutLink>,
    /// The open-source projects it is built on.
    pub built_with: &'static [&'static str],
}

/// One link of the About window.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct AboutLink {
    /// What the webview names it by.
    pub key: &'static str,
    /// Its words.
    pub label: &'static str,
}

/// The About window's links: key, words, address.
const ABOUT_LINKS: [(&str, &str, &str); 3] = [
    ("source", "Source code", env!("CARGO_PKG_REPOSITORY")),
    (
        "issues",
        "Report a problem",
        concat!(env!("CARGO_PKG_REPOSITORY"), "/issues"),
    ),
    (
        "licences",
        "Licences of the components",
        concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/Cargo.lock"),
    ),
];

/// The open-source projects Orrery is built on, for the About window.
const BUILT_WITH: &[&str] = &[
    "Tauri", "Bevy", "egui", "Loro", "axum", "sqlx", "SQLite", "Tokio", "reqwest",
];

/// The address of an About link, by key.
pub fn about_link(key: &str) -> Option<&'static str> {
    ABOUT_LINKS
        .iter()
        .find(|(known, _, _)| *known == key)
        .map(|(_, _, url)| *url)
}

/// Opens a page the server handed out, only if it is an https (or loopback) URL.
pub(crate) fn open_page(
    page: &str,
    open_browser: impl FnOnce(&url::Url) -> Result<(), String>,
) -> Result<(), ShellError> {
    let url = url::Url::parse(page).map_err(|error| {
        AccountError::Protocol(format!("the server sent a bad page address: {error}"))
    })?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
    if url.scheme() != "https" && !loopback {
        return Err(
            AccountError::Protocol("the server sent a page that is not https".into()).into(),
        );
    }
    open_browser(&url).map_err(|reason| AccountError::Browser(reason).into())
}

/// What the billing screen shows.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct BillingOverview {
    /// Plans on offer.
    pub plans: serde_json::Value,
    /// Usage against the current plan's limits.
    pub usage: serde_json::Value,
    /// The current subscription, or null.
    pub subscription: serde_json::Value,
    /// Invoices, newest first.
    pub invoices: serde_json::Value,
    /// Whole days of trial left.
    pub trial_days_remaining: Option<i64>,
    /// Whether the server takes payments at all.
    pub billing_enabled: bool,
    /// The plans it has a price for.
    pub purchasable_plans: Vec<String>,
    /// In a team's workspace: its plan and seats; `None` in the personal one.
    pub team: Option<TeamBilling>,
}

/// What a team's workspace works on: its owner's plan, and its seats.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct TeamBilling {
    /// The team's name.
    pub name: String,
    /// The person's role in it.
    pub role: String,
    /// `/v1/usage` in the team's workspace: the plan, and its metrics with
    /// `seats` (members and pending invitations) among them.
    pub usage: serde_json::Value,
}

/// A seed that differs between calls, so two samples do not share node ids.
/// "Name (copy)", kept within `limit` characters.
fn copy_name(name: &str, limit: usize) -> String {
    const SUFFIX: &str = " (copy)";
    let room = limit.saturating_sub(SUFFIX.chars().count());
    let kept: String = name.chars().take(room).collect();
    format!("{}{SUFFIX}", kept.trim_end())
}

fn rand_seed() -> u64 {
    let id = uuid::Uuid::now_v7().as_u128();
    (id as u64) ^ ((id >> 64) as u64)
}
