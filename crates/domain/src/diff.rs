//! What changed between two versions of a graph ([`diff_graphs`]), and the
//! one edit that brings a graph back to an earlier version
//! ([`restore_edit`]), so a restore is an ordinary, undoable, syncable edit.

use serde::Serialize;

use crate::edit::{GraphEdit, NodeMove};
use crate::graph::Graph;
use crate::ids::{EdgeId, NodeId};

/// What changed from one version of a graph to another. Every list is in
/// id order, so two diffs of the same versions are equal.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GraphDiff {
    /// The graph's name before and after, when it changed.
    pub renamed: Option<(String, String)>,
    /// Nodes only the later version has.
    pub added_nodes: Vec<NodeId>,
    /// Nodes only the earlier version has.
    pub removed_nodes: Vec<NodeId>,
    /// Nodes in both whose position differs.
    pub moved_nodes: Vec<NodeId>,
    /// Nodes in both whose label differs.
    pub relabelled_nodes: Vec<NodeId>,
    /// Edges only the later version has.
    pub added_edges: Vec<EdgeId>,
    /// Edges only the earlier version has.
    pub removed_edges: Vec<EdgeId>,
}

impl GraphDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self == &GraphDiff::default()
    }
}

/// What changed from `from` to `to`.
pub fn diff_graphs(from: &Graph, to: &Graph) -> GraphDiff {
    let mut diff = GraphDiff {
        renamed: (from.name != to.name).then(|| (from.name.clone(), to.name.clone())),
        ..GraphDiff::default()
    };
    for (id, node) in &to.nodes {
        match from.nodes.get(id) {
            None => diff.added_nodes.push(*id),
            Some(before) => {
                if before.position != node.position {
                    diff.moved_nodes.push(*id);
                }
                if before.label != node.label {
                    diff.relabelled_nodes.push(*id);
                }
            }
        }
    }
    diff.removed_nodes = from
        .nodes
        .keys()
        .filter(|id| !to.nodes.contains_key(id))
        .copied()
        .collect();
    diff.added_edges = to
        .edges
        .keys()
        .filter(|id| !from.edges.contains_key(id))
        .copied()
        .collect();
    diff.removed_edges = from
        .edges
        .keys()
        .filter(|id| !to.edges.contains_key(id))
        .copied()
        .collect();
    for list in [
        &mut diff.added_nodes,
        &mut diff.moved_nodes,
        &mut diff.relabelled_nodes,
    ] {
        list.sort();
    }
    diff.removed_nodes.sort();
    diff.added_edges.sort();
    diff.removed_edges.sort();
    diff
}

/// The one edit that turns `current` into `target` (an earlier version of
/// the same graph), or `None` when they are the same. Applied through the
/// edit history it is undone like any other edit.
pub fn restore_edit(current: &Graph, target: &Graph) -> Option<GraphEdit> {
    let diff = diff_graphs(current, target);
    if diff.is_empty() {
        return None;
    }
    let mut steps = Vec::new();
    // Edges first, except those that go with a removed node.
    for id in &diff.removed_edges {
        let edge = &current.edges[id];
        if !diff.removed_nodes.contains(&edge.from) && !diff.removed_nodes.contains(&edge.to) {
            steps.push(GraphEdit::RemoveEdge(edge.clone()));
        }
    }
    for id in &diff.removed_nodes {
        let node = current.nodes[id].clone();
        let edges = current
            .edges
            .values()
            .filter(|edge| edge.from == *id || edge.to == *id)
            .cloned()
            .collect();
        steps.push(GraphEdit::RemoveNode { node, edges });
    }
    for id in &diff.added_nodes {
        steps.push(GraphEdit::AddNode(target.nodes[id].clone()));
    }
    let moves: Vec<NodeMove> = diff
        .moved_nodes
        .iter()
        .map(|id| NodeMove {
            id: *id,
            from: current.nodes[id].position,
            to: target.nodes[id].position,
        })
        .collect();
    if !moves.is_empty() {
        steps.push(GraphEdit::MoveNodes(moves));
    }
    for id in &diff.relabelled_nodes {
        steps.push(GraphEdit::RelabelNode {
            id: *id,
            from: current.nodes[id].label.clone(),
            to: target.nodes[id].label.clone(),
        });
    }
    for id in &diff.added_edges {
        steps.push(GraphEdit::AddEdge(target.edges[id].clone()));
    }
    if let Some((from, to)) = diff.renamed {
        steps.push(GraphEdit::RenameGraph { from, to });
    }
    Some(GraphEdit::Batch(steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Edge, Node, NodeKind, Position, sample_graph_with_edges};

    #[test]
    fn a_restore_brings_back_the_earlier_version_and_its_inverse_undoes_it() {
        let before = sample_graph_with_edges("Plan", 12, 10, 3);
        let mut after = before.clone();
        let ids: Vec<NodeId> = before.nodes.keys().copied().collect();
        let removed = ids[0];
        after.nodes.remove(&removed);
        after
            .edges
            .retain(|_, edge| edge.from != removed && edge.to != removed);
        after.nodes.get_mut(&ids[1]).unwrap().position = Position {
            x: 9.0,
            y: 9.0,
            z: 9.0,
        };
        after.nodes.get_mut(&ids[2]).unwrap().label = "Renamed".into();
        let added = Node::new(NodeKind::Agent, "New", Position::default());
        let added_id = added.id;
        after.nodes.insert(added.id, added);
        let edge = Edge::new(added_id, ids[3]);
        let edge_id = edge.id;
        after.edges.insert(edge.id, edge);
        after.name = "Plan, later".into();

        let diff = diff_graphs(&before, &after);
        assert_eq!(diff.added_nodes, vec![added_id]);
        assert_eq!(diff.removed_nodes, vec![removed]);
        assert_eq!(diff.moved_nodes, vec![ids[1]]);
        assert_eq!(diff.relabelled_nodes, vec![ids[2]]);
        assert!(diff.added_edges.contains(&edge_id));
        assert_eq!(diff.renamed, Some(("Plan".into(), "Plan, later".into())));

        let restore = restore_edit(&after, &before).unwrap();
        let mut restored = after.clone();
        restore.apply(&mut restored).unwrap();
        assert_eq!(restored, before);
        restore.inverse().apply(&mut restored).unwrap();
        assert_eq!(restored, after);
        assert_eq!(restore_edit(&before, &before), None);
    }
}
