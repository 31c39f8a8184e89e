//! A graph's version history for the History panel: named versions
//! ("Save version…", they sync to everyone), the automatic points where a
//! sync brought in others' edits, what changed between two versions, and
//! restoring one as a new edit (everyone receives it; its inverse, kept for
//! "Undo restore", takes it back). All read from the CRDT's own history.
//! Beside them, the versions of the library prompts the graph's prompt
//! nodes name.

use orrery_domain::{GraphDiff, GraphEdit, GraphId};
use serde::Serialize;

use super::{Shell, ShellError};

/// One point of a graph's history, as the panel lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct HistoryPoint {
    /// Its id (for opening, comparing and restoring).
    pub id: String,
    /// Its name, or what happened there.
    pub name: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Who named it, when someone did.
    pub by: String,
    /// Whether someone named it.
    pub named: bool,
}

/// What changed between two versions, with the names the panel shows.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct HistoryDiff {
    /// The changes, by id.
    pub diff: GraphDiff,
    /// Node id → its label (in whichever version has it).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// One version of a prompt a graph uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct PromptVersionPoint {
    /// Its number (1 for the first).
    pub number: u32,
    /// draft, active or archived.
    pub status: String,
    /// When it was written.
    pub created_at: String,
    /// When it was made the active one, if it was.
    pub activated_at: Option<String>,
}

/// A library prompt a graph's prompt node names, with its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct PromptHistory {
    /// The prompt.
    pub id: String,
    /// Its title (what the node is labelled).
    pub title: String,
    /// Its versions, newest first.
    pub versions: Vec<PromptVersionPoint>,
}

impl Shell {
    /// The library prompts the graph's prompt nodes name (by title, as a
    /// run finds them), each with its versions, newest first.
    pub async fn graph_prompt_history(
        &self,
        graph: GraphId,
    ) -> Result<Vec<PromptHistory>, ShellError> {
        let replica = self.replica();
        let graph = replica.graph(graph).await?;
        let named: std::collections::BTreeSet<String> = graph
            .nodes
            .values()
            .filter(|node| node.kind == orrery_domain::NodeKind::Prompt)
            .map(|node| node.label.trim().to_lowercase())
            .collect();
        let mut found = Vec::new();
        for summary in replica
            .list_documents(orrery_domain::DocumentKind::Prompt)
            .await?
            .into_iter()
            .filter(|summary| named.contains(&summary.title.trim().to_lowercase()))
        {
            let prompt = replica.prompt(summary.id).await?;
            let versions = prompt
                .versions
                .iter()
                .enumerate()
                .rev()
                .map(|(index, version)| PromptVersionPoint {
                    number: index as u32 + 1,
                    status: version.status.as_str().to_owned(),
                    created_at: version.created_at.clone(),
                    activated_at: version.activated_at.clone(),
                })
                .collect();
            found.push(PromptHistory {
                id: prompt.id.to_string(),
                title: prompt.title,
                versions,
            });
        }
        found.sort_by(|a, b| a.title.cmp(&b.title));
        Ok(found)
    }

    /// A graph's history, newest first.
    pub async fn graph_history(&self, graph: GraphId) -> Result<Vec<HistoryPoint>, ShellError> {
        Ok(self
            .replica()
            .versions(graph)
            .await?
            .into_iter()
            .map(|version| HistoryPoint {
                id: version.id,
                name: version.name,
                at: version.at,
                by: version.by,
                named: version.named,
            })
            .collect())
    }

    /// Names the graph as it is now; the history then.
    pub async fn save_graph_version(
        &self,
        graph: GraphId,
        name: &str,
    ) -> Result<Vec<HistoryPoint>, ShellError> {
        self.check_writable()?;
        let by = self
            .account_state()
            .await
            .account
            .map(|account| account.name)
            .unwrap_or_default();
        self.replica().save_version(graph, name, &by).await?;
        self.inner.changed.notify_one();
        self.graph_history(graph).await
    }

    /// What changed from version `from` to version `to` (`None`: now).
    pub async fn graph_diff(
        &self,
        graph: GraphId,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<HistoryDiff, ShellError> {
        let replica = self.replica();
        let before = replica.graph_at_version(graph, from).await?;
        let after = replica.graph_at_version(graph, to).await?;
        let labels = before
            .nodes
            .values()
            .chain(after.nodes.values())
            .map(|node| (node.id.to_string(), node.label.clone()))
            .collect();
        Ok(HistoryDiff {
            diff: orrery_domain::diff_graphs(&before, &after),
            labels,
        })
    }

    /// Brings the graph back to version `version` as one new edit, shown on
    /// the canvas if the graph is open there; answers whether anything
    /// changed. The edit that undoes it is kept for [`Shell::undo_restore`].
    pub async fn restore_graph_version(
        &self,
        graph: GraphId,
        version: &str,
    ) -> Result<bool, ShellError> {
        self.check_writable()?;
        let Some(restore) = self.replica().restore_edit(graph, version).await? else {
            return Ok(false);
        };
        self.apply_and_show(graph, &restore).await?;
        self.inner
            .restores
            .lock()
            .expect("restores lock")
            .insert(graph, restore.inverse());
        Ok(true)
    }

    /// Takes the graph's last restore back, as one more edit.
    pub async fn undo_restore(&self, graph: GraphId) -> Result<(), ShellError> {
        self.check_writable()?;
        let undo = self
            .inner
            .restores
            .lock()
            .expect("restores lock")
            .remove(&graph)
            .ok_or_else(|| {
                ShellError::Invalid("there is no restore of this graph to undo".into())
            })?;
        self.apply_and_show(graph, &undo).await
    }

    async fn apply_and_show(&self, graph: GraphId, edit: &GraphEdit) -> Result<(), ShellError> {
        let updated = self.replica().apply_edit(graph, edit).await?;
        self.inner.changed.notify_one();
        if self.shown_graph() == Some(graph) {
            let _ = self
                .inner
                .canvas
                .send(orrery_canvas::CanvasCommand::LoadGraph(updated));
        }
        Ok(())
    }
}
