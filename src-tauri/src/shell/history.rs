//! A graph's version history for the History panel: named versions
//! ("Save version…", they sync to everyone), the automatic points where a
//! sync brought in others' edits, what changed between two versions, and
//! restoring one as a new edit (everyone receives it; its inverse, kept for
//! "Undo restore", takes it back). All read from the CRDT's own history.
//! Beside them, the versions of the library prompts the graph's prompt
//! nodes name.

use std::collections::HashMap;

use orrery_canvas::CanvasCommand;
use orrery_canvas::scene::{DiffMark, VersionShown};
use orrery_domain::{EdgeId, Graph, GraphDiff, GraphEdit, GraphId, NodeId};
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

    /// Shows version `version` of the graph on the canvas, read-only. With
    /// `compare`, shows the later graph instead — version `with`, or the
    /// graph now when `with` is `None` — each node that differs from
    /// `version` marked in colour (those removed since are drawn where they
    /// were, with the edges they had).
    pub async fn show_graph_version(
        &self,
        graph: GraphId,
        version: &str,
        compare: bool,
        with: Option<&str>,
    ) -> Result<(), ShellError> {
        let replica = self.replica();
        let points = replica.versions(graph).await?;
        let name_of = |id: &str| {
            points
                .iter()
                .find(|point| point.id == id)
                .map(|point| point.name.clone())
                .ok_or_else(|| ShellError::Invalid(format!("this graph has no version {id}")))
        };
        let name = name_of(version)?;
        let then = replica.graph_at_version(graph, Some(version)).await?;
        let (drawn, shown) = if compare {
            let (later, label) = match with {
                Some(with) => (
                    replica.graph_at_version(graph, Some(with)).await?,
                    format!("Changes from “{name}” to “{}”", name_of(with)?),
                ),
                None => (
                    replica.graph(graph).await?,
                    format!("Changes since “{name}”"),
                ),
            };
            let (drawn, marks, edge_marks) = compared(&then, &later);
            (
                drawn,
                VersionShown {
                    label,
                    marks,
                    edge_marks,
                },
            )
        } else {
            (
                then,
                VersionShown {
                    label: format!("Version “{name}”"),
                    ..Default::default()
                },
            )
        };
        self.inner
            .canvas
            .send(CanvasCommand::ShowVersion {
                graph: drawn,
                version: shown,
            })
            .and_then(|()| self.inner.canvas.send(CanvasCommand::Show))
            .map_err(|_| ShellError::CanvasGone)?;
        *self.inner.open_graph.lock().expect("open graph lock") = Some(graph);
        Ok(())
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

/// The graph `now` with what `then` had and it lost drawn again, how each
/// node differs from `then`, and the connections only one of them has: a
/// comparison to draw on the canvas.
fn compared(
    then: &Graph,
    now: &Graph,
) -> (Graph, HashMap<NodeId, DiffMark>, HashMap<EdgeId, DiffMark>) {
    let diff = orrery_domain::diff_graphs(then, now);
    let mut drawn = now.clone();
    let mut marks = HashMap::new();
    for id in &diff.added_nodes {
        marks.insert(*id, DiffMark::Added);
    }
    for id in &diff.moved_nodes {
        marks.insert(*id, DiffMark::Moved);
    }
    // A node moved and relabelled shows the relabel: its name is what a
    // reader looks for.
    for id in &diff.relabelled_nodes {
        marks.insert(*id, DiffMark::Relabelled);
    }
    for id in &diff.removed_nodes {
        if let Some(node) = then.nodes.get(id) {
            drawn.nodes.insert(*id, node.clone());
            marks.insert(*id, DiffMark::Removed);
        }
    }
    let mut edge_marks: HashMap<EdgeId, DiffMark> = diff
        .added_edges
        .iter()
        .map(|id| (*id, DiffMark::Added))
        .collect();
    for id in &diff.removed_edges {
        if let Some(edge) = then.edges.get(id)
            && drawn.nodes.contains_key(&edge.from)
            && drawn.nodes.contains_key(&edge.to)
        {
            drawn.edges.insert(*id, edge.clone());
            edge_marks.insert(*id, DiffMark::Removed);
        }
    }
    (drawn, marks, edge_marks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comparison_draws_now_with_what_was_removed_and_marks_every_difference() {
        let then = orrery_domain::sample_graph("Then", 6, 4);
        let mut now = then.clone();
        let mut ids = then.nodes.keys().copied();
        let (gone, moved, renamed, both) = (
            ids.next().unwrap(),
            ids.next().unwrap(),
            ids.next().unwrap(),
            ids.next().unwrap(),
        );
        now.nodes.remove(&gone);
        now.edges
            .retain(|_, edge| edge.from != gone && edge.to != gone);
        now.nodes.get_mut(&moved).unwrap().position.x += 5.0;
        now.nodes.get_mut(&renamed).unwrap().label = "Renamed".into();
        let node = now.nodes.get_mut(&both).unwrap();
        node.label = "Moved and renamed".into();
        node.position.y -= 3.0;
        let added = orrery_domain::Node::new(
            orrery_domain::NodeKind::Tool,
            "New",
            orrery_domain::Position::default(),
        );
        now.nodes.insert(added.id, added.clone());

        let extra = orrery_domain::Edge::new(moved, renamed);
        now.edges.insert(extra.id, extra.clone());
        let (drawn, marks, edge_marks) = compared(&then, &now);
        assert_eq!(
            drawn.nodes.len(),
            now.nodes.len() + 1,
            "the removed node is drawn"
        );
        assert_eq!(drawn.nodes[&gone], then.nodes[&gone]);
        let had = then
            .edges
            .values()
            .filter(|e| e.from == gone || e.to == gone)
            .count();
        assert_eq!(drawn.edges.len(), now.edges.len() + had, "with its edges");
        // The new connection and each one the removed node had are marked.
        assert_eq!(edge_marks.len(), 1 + had);
        assert_eq!(edge_marks[&extra.id], DiffMark::Added);
        assert!(
            then.edges
                .values()
                .filter(|e| e.from == gone || e.to == gone)
                .all(|e| edge_marks[&e.id] == DiffMark::Removed)
        );
        assert_eq!(
            marks,
            HashMap::from([
                (gone, DiffMark::Removed),
                (moved, DiffMark::Moved),
                (renamed, DiffMark::Relabelled),
                (both, DiffMark::Relabelled),
                (added.id, DiffMark::Added),
            ])
        );
        assert!(
            compared(&now, &now).1.is_empty(),
            "nothing differs from itself"
        );
    }
}
