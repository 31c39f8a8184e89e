//! Edits merged away: a node this person moved, relabelled or connected
//! while another person (or device) removed it. The CRDT keeps the removal,
//! so the edit is gone; after the sync that brings the removal in, the
//! canvas's status bar says so, once.

use std::collections::{BTreeMap, HashMap};

use orrery_domain::{Graph, GraphEdit, GraphId, NodeId};

use super::Shell;

/// Per graph, the nodes this device changed since its last sync, with
/// their labels then.
pub(crate) type Touched = HashMap<GraphId, BTreeMap<NodeId, String>>;

/// The nodes an edit changes (not those it removes: a removal cannot be
/// merged away).
fn changed_nodes(edit: &GraphEdit, into: &mut Vec<NodeId>) {
    match edit {
        GraphEdit::AddNode(node) => into.push(node.id),
        GraphEdit::MoveNodes(moves) => into.extend(moves.iter().map(|step| step.id)),
        GraphEdit::RelabelNode { id, .. } => into.push(*id),
        GraphEdit::AddEdge(edge) => into.extend([edge.from, edge.to]),
        GraphEdit::Batch(steps) => steps.iter().for_each(|step| changed_nodes(step, into)),
        GraphEdit::RemoveNode { .. } | GraphEdit::RemoveEdge(_) | GraphEdit::RenameGraph { .. } => {
        }
    }
}

/// What the status bar says of `lost` (node labels), or `None`.
pub(crate) fn merged_away_notice(lost: &[String]) -> Option<String> {
    match lost {
        [] => None,
        [one] => Some(format!(
            "Someone removed “{one}” while you were changing it; your change to it is gone"
        )),
        [first, rest @ ..] => Some(format!(
            "Someone removed “{first}” and {} more node{} while you were changing them; your changes to them are gone",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        )),
    }
}

impl Shell {
    /// Remembers the nodes `edit` changed in `graph` (as it is after it).
    pub(super) fn remember_touched(&self, graph: &Graph, edit: &GraphEdit) {
        let mut nodes = Vec::new();
        changed_nodes(edit, &mut nodes);
        if nodes.is_empty() {
            return;
        }
        let mut touched = self.inner.touched.lock().expect("touched lock");
        let entry = touched.entry(graph.id).or_default();
        for id in nodes {
            if let Some(node) = graph.nodes.get(&id) {
                entry.insert(id, node.label.clone());
            }
        }
    }

    /// After a sync: tells the canvas, once, of changes to its graph that
    /// were merged away, and forgets what was remembered.
    pub(super) fn report_merged_away(&self, shown: Option<&Graph>) {
        let touched = std::mem::take(&mut *self.inner.touched.lock().expect("touched lock"));
        let Some(graph) = shown else {
            return;
        };
        let lost: Vec<String> = touched
            .get(&graph.id)
            .into_iter()
            .flatten()
            .filter(|(id, _)| !graph.nodes.contains_key(id))
            .map(|(_, label)| label.clone())
            .collect();
        if let Some(notice) = merged_away_notice(&lost) {
            let _ = self
                .inner
                .canvas
                .send(orrery_canvas::CanvasCommand::Notify(notice));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_what_was_lost() {
        assert_eq!(merged_away_notice(&[]), None);
        assert!(
            merged_away_notice(&["Writer".into()])
                .unwrap()
                .contains("“Writer”")
        );
        let two = merged_away_notice(&["Writer".into(), "Critic".into()]).unwrap();
        assert!(two.contains("and 1 more node while"), "{two}");
    }
}
