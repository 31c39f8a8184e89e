//! Workspaces: the person's own, and each team they belong to. Each
//! workspace has a local store of its own (the personal one is the store
//! the app opened, `local.db`; a team's is `local.workspaces/<team>.db`
//! beside it), so
//! switching never mixes one workspace's graphs with another's, and a
//! device removed from a team keeps a read-only copy of what it had. The
//! sync client and the live feed name the team's workspace to the server,
//! which checks the person's role on every request; here a viewer's
//! workspace refuses edits before they are made.

use orrery_domain::GraphId;
use orrery_store::{GraphSummary, LocalStore};
use orrery_sync::{Replica, SyncError};
use serde::Serialize;
use uuid::Uuid;

use super::{Shell, ShellError};

/// The device setting that remembers the chosen team workspace, with the
/// role and name it had, so the app opens in it without asking the server.
const WORKSPACE_SETTING: &str = "workspace";

/// What [`WORKSPACE_SETTING`] holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    team: Uuid,
    role: Option<String>,
    name: Option<String>,
}

/// The workspace the app works in, with its replica.
#[derive(Clone)]
pub(crate) struct Workspace {
    /// The team; `None` for the personal workspace.
    pub team: Option<Uuid>,
    /// The person's role in the team (`viewer` makes it read-only here).
    pub role: Option<String>,
    /// The team's name.
    pub name: Option<String>,
    /// Its local replica.
    pub replica: Replica,
}

impl Workspace {
    /// Refuses a change here when the person may not make one (a viewer's
    /// team), with the reason.
    pub fn writable(&self) -> Result<(), ShellError> {
        if self.role.as_deref() == Some("viewer") {
            return Err(ShellError::ReadOnly(format!(
                "you are a viewer in {}: you can open its graphs and library but not change them; ask an admin to make you an editor",
                self.name.as_deref().unwrap_or("this team")
            )));
        }
        Ok(())
    }

    /// The personal workspace over `replica`.
    pub fn personal(replica: Replica) -> Self {
        Self {
            team: None,
            role: None,
            name: None,
            replica,
        }
    }
}

/// The workspaces the main window offers, and the one in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct Workspaces {
    /// The team worked in; `None`: the personal workspace.
    pub current: Option<String>,
    /// The person's role there (`None` in the personal workspace).
    pub role: Option<String>,
    /// Whether changes may be made there (a viewer's team is read-only).
    pub writable: bool,
    /// The teams they belong to.
    pub teams: Vec<orrery_account::Team>,
}

impl Shell {
    /// The workspaces on offer and the one in use (the teams are read from
    /// the server; signed out or offline, only what is known here).
    pub async fn workspaces(&self) -> Result<Workspaces, ShellError> {
        let teams = match self.teams().await {
            Ok(teams) => teams,
            Err(ShellError::SignedOut) => Vec::new(),
            Err(error) => return Err(error),
        };
        // The role there may have changed since it was entered.
        let mut current = self.current();
        if let Some(team) = current.team
            && let Some(membership) = teams.iter().find(|each| each.id == team.to_string())
            && current.role.as_deref() != Some(membership.role.as_str())
        {
            current.role = Some(membership.role.clone());
            current.name = Some(membership.name.clone());
            self.set_workspace(current.clone());
            self.remember(&current).await?;
        }
        Ok(Workspaces {
            current: current.team.map(|team| team.to_string()),
            writable: current.writable().is_ok(),
            role: current.role,
            teams,
        })
    }

    /// Works in `team`'s workspace from now on (`None`: the personal one):
    /// opens its local store, closes the graph the canvas shows, and syncs.
    /// A team the person is not a member of is refused.
    pub async fn switch_workspace(&self, team: Option<Uuid>) -> Result<Workspaces, ShellError> {
        let workspace = match team {
            None => Workspace::personal(self.inner.device.clone()),
            Some(team) => self.team_workspace(team).await?,
        };
        self.enter(workspace).await?;
        self.workspaces().await
    }

    /// Opens `team`'s workspace, checking the membership with the server.
    async fn team_workspace(&self, team: Uuid) -> Result<Workspace, ShellError> {
        let membership = self
            .teams()
            .await?
            .into_iter()
            .find(|each| each.id == team.to_string())
            .ok_or_else(|| ShellError::Invalid("you are not a member of that team".into()))?;
        Ok(Workspace {
            team: Some(team),
            role: Some(membership.role),
            name: Some(membership.name),
            replica: self.team_replica(team).await?,
        })
    }

    /// The local replica of `team`'s workspace (made on first use; the same
    /// one every time after).
    async fn team_replica(&self, team: Uuid) -> Result<Replica, ShellError> {
        if let Some(replica) = self
            .inner
            .team_replicas
            .lock()
            .expect("team replicas lock")
            .get(&team)
        {
            return Ok(replica.clone());
        }
        let folder = &self.inner.store_dir;
        tokio::fs::create_dir_all(folder)
            .await
            .map_err(|error| ShellError::File {
                path: folder.display().to_string(),
                reason: error.to_string(),
            })?;
        let store = LocalStore::open(&folder.join(format!("{team}.db")))
            .await
            .map_err(SyncError::from)?;
        let opened = Replica::new(store);
        // Two first uses at once: the one stored first is everyone's.
        Ok(self
            .inner
            .team_replicas
            .lock()
            .expect("team replicas lock")
            .entry(team)
            .or_insert(opened)
            .clone())
    }

    /// Remembers `workspace` as the one to open at the next start.
    async fn remember(&self, workspace: &Workspace) -> Result<(), ShellError> {
        let remembered = workspace
            .team
            .map(|team| {
                serde_json::to_string(&Remembered {
                    team,
                    role: workspace.role.clone(),
                    name: workspace.name.clone(),
                })
                .expect("a remembered workspace serialises")
            })
            .unwrap_or_default();
        self.inner
            .device
            .store()
            .set_setting(WORKSPACE_SETTING, &remembered)
            .await
            .map_err(SyncError::from)?;
        Ok(())
    }

    async fn enter(&self, workspace: Workspace) -> Result<(), ShellError> {
        self.remember(&workspace).await?;
        self.set_workspace(workspace);
        // The canvas showed a graph of the other workspace.
        let open = self
            .inner
            .open_graph
            .lock()
            .expect("open graph lock")
            .take();
        if open.is_some() {
            let _ = self
                .inner
                .canvas
                .send(orrery_canvas::CanvasCommand::CloseGraph);
        }
        self.inner.switched.notify_waiters();
        self.inner.changed.notify_one();
        self.library_changed().await;
        Ok(())
    }

    /// At start: the team workspace chosen last time, if any, with the role
    /// it had then (no request to the server holds the start up; the
    /// Graphs screen's list of workspaces reads the role again).
    pub(super) async fn restore_workspace(&self) -> Result<(), ShellError> {
        let Some(remembered) = self
            .inner
            .device
            .store()
            .setting(WORKSPACE_SETTING)
            .await
            .map_err(SyncError::from)?
            .and_then(|text| serde_json::from_str::<Remembered>(&text).ok())
        else {
            return Ok(());
        };
        let replica = self.team_replica(remembered.team).await?;
        self.set_workspace(Workspace {
            team: Some(remembered.team),
            role: remembered.role,
            name: remembered.name,
            replica,
        });
        Ok(())
    }

    fn set_workspace(&self, workspace: Workspace) {
        *self
            .inner
            .workspace
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = workspace;
    }

    /// Refuses a change in a workspace where the person may not make one
    /// (a viewer's team), with the reason.
    pub(crate) fn check_writable(&self) -> Result<(), ShellError> {
        self.current().writable()
    }

    /// Copies a graph of the personal workspace into `team`'s (moving a
    /// graph into a team copies it: the personal one stays), as a new graph
    /// of the team, and sends it to the server. Needs an editor's role.
    pub async fn copy_graph_to_team(
        &self,
        graph: GraphId,
        team: Uuid,
    ) -> Result<GraphSummary, ShellError> {
        let original = self.replica().graph(graph).await?;
        let workspace = self.team_workspace(team).await?;
        workspace.writable()?;
        let copy = workspace
            .replica
            .add_graph(orrery_domain::Graph {
                id: GraphId::new(),
                ..original
            })
            .await?;
        // To the server now; offline, the team's next sync sends it.
        match self.client(false, Some(team)).await {
            Ok(client) => {
                if let Err(error) = client.sync_graph(&workspace.replica, copy.id).await {
                    tracing::warn!(%error, "the copied graph is sent with the team's next sync");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "the copied graph is sent with the team's next sync")
            }
        }
        workspace
            .replica
            .list_graphs()
            .await?
            .into_iter()
            .find(|summary| summary.id == copy.id)
            .ok_or_else(|| ShellError::Invalid("the copied graph vanished".into()))
    }
}
