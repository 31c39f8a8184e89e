//! Reversible edits of a graph and the undo / redo history over them.
//!
//! Every change a user makes on the canvas is one [`GraphEdit`]; applying it
//! and applying its [`GraphEdit::inverse`] leaves the graph as it was. The
//! [`EditHistory`] is the one command stack: what it applies (an edit, or the
//! inverse of one on undo) is also what the host writes to the store and syncs.

use crate::graph::{Edge, Graph, GraphError, Node, Position, check_graph_name};
use crate::ids::NodeId;

/// One reversible change to a graph. Edits carry what they replace, so each
/// has an exact inverse.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphEdit {
    /// Adds a node.
    AddNode(Node),
    /// Removes a node together with the edges touching it.
    RemoveNode {
        /// The node as it was.
        node: Node,
        /// The edges that touched it, as they were.
        edges: Vec<Edge>,
    },
    /// Moves nodes: each from one position to another.
    MoveNodes(Vec<NodeMove>),
    /// Changes a node's label.
    RelabelNode {
        /// The node.
        id: NodeId,
        /// The label before.
        from: String,
        /// The label after.
        to: String,
    },
    /// Adds an edge.
    AddEdge(Edge),
    /// Removes an edge.
    RemoveEdge(Edge),
    /// Renames the graph.
    RenameGraph {
        /// The name before.
        from: String,
        /// The name after.
        to: String,
    },
    /// Several edits undone and redone as one step (paste, layout).
    Batch(Vec<GraphEdit>),
}

/// One node's move within [`GraphEdit::MoveNodes`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeMove {
    /// The node.
    pub id: NodeId,
    /// Where it was.
    pub from: Position,
    /// Where it goes.
    pub to: Position,
}

impl GraphEdit {
    /// An edit that removes `node` and the edges touching it, capturing them from `graph`.
    pub fn remove_node(graph: &Graph, node: NodeId) -> Result<Self, GraphError> {
        let removed = graph.nodes.get(&node).ok_or(GraphError::NoSuchNode(node))?;
        Ok(GraphEdit::RemoveNode {
            node: removed.clone(),
            edges: graph
                .edges
                .values()
                .filter(|edge| edge.from == node || edge.to == node)
                .cloned()
                .collect(),
        })
    }

    /// The edit that undoes this one.
    pub fn inverse(&self) -> GraphEdit {
        match self {
            GraphEdit::AddNode(node) => GraphEdit::RemoveNode {
                node: node.clone(),
                edges: Vec::new(),
            },
            GraphEdit::RemoveNode { node, edges } => {
                let mut steps = vec![GraphEdit::AddNode(node.clone())];
                steps.extend(edges.iter().cloned().map(GraphEdit::AddEdge));
                GraphEdit::Batch(steps)
            }
            GraphEdit::MoveNodes(moves) => GraphEdit::MoveNodes(
                moves
                    .iter()
                    .map(|step| NodeMove {
                        id: step.id,
                        from: step.to,
                        to: step.from,
                    })
                    .collect(),
            ),
            GraphEdit::RelabelNode { id, from, to } => GraphEdit::RelabelNode {
                id: *id,
                from: to.clone(),
                to: from.clone(),
            },
            GraphEdit::AddEdge(edge) => GraphEdit::RemoveEdge(edge.clone()),
            GraphEdit::RemoveEdge(edge) => GraphEdit::AddEdge(edge.clone()),
            GraphEdit::RenameGraph { from, to } => GraphEdit::RenameGraph {
                from: to.clone(),
                to: from.clone(),
            },
            GraphEdit::Batch(steps) => {
                GraphEdit::Batch(steps.iter().rev().map(GraphEdit::inverse).collect())
            }
        }
    }

    /// Applies the edit. On error the graph is left exactly as it was.
    pub fn apply(&self, graph: &mut Graph) -> Result<(), GraphError> {
        self.check(graph)?;
        self.apply_checked(graph);
        Ok(())
    }

    /// Whether the edit can be applied to `graph` as it stands.
    fn check(&self, graph: &Graph) -> Result<(), GraphError> {
        match self {
            GraphEdit::AddNode(node) => {
                node.validate()?;
                if graph.nodes.contains_key(&node.id) {
                    return Err(GraphError::DuplicateNode(node.id));
                }
            }
            GraphEdit::RemoveNode { node, edges } => {
                if !graph.nodes.contains_key(&node.id) {
                    return Err(GraphError::NoSuchNode(node.id));
                }
                let touching = graph
                    .edges
                    .values()
                    .filter(|edge| edge.from == node.id || edge.to == node.id)
                    .count();
                if touching > edges.len() {
                    return Err(GraphError::NodeHasEdges(node.id));
                }
            }
            GraphEdit::MoveNodes(moves) => {
                for step in moves {
                    if !graph.nodes.contains_key(&step.id) {
                        return Err(GraphError::NoSuchNode(step.id));
                    }
                    if !step.to.is_valid() {
                        return Err(GraphError::InvalidPosition(step.id));
                    }
                }
            }
            GraphEdit::RelabelNode { id, to, .. } => {
                let node = graph.nodes.get(id).ok_or(GraphError::NoSuchNode(*id))?;
                Node {
                    label: to.clone(),
                    ..node.clone()
                }
                .validate()?;
            }
            GraphEdit::AddEdge(edge) => {
                edge.validate()?;
                if graph.edges.contains_key(&edge.id) {
                    return Err(GraphError::DuplicateEdge(edge.id));
                }
                for node in [edge.from, edge.to] {
                    if !graph.nodes.contains_key(&node) {
                        return Err(GraphError::DanglingEdge {
                            edge: edge.id,
                            node,
                        });
                    }
                }
            }
            GraphEdit::RemoveEdge(edge) => {
                if !graph.edges.contains_key(&edge.id) {
                    return Err(GraphError::NoSuchEdge(edge.id));
                }
            }
            GraphEdit::RenameGraph { to, .. } => check_graph_name(to)?,
            GraphEdit::Batch(steps) => {
                // Later steps may depend on earlier ones: check on a scratch copy.
                let mut scratch = graph.clone();
                for step in steps {
                    step.check(&scratch)?;
                    step.apply_checked(&mut scratch);
                }
            }
        }
        Ok(())
    }

    fn apply_checked(&self, graph: &mut Graph) {
        match self {
            GraphEdit::AddNode(node) => {
                graph.nodes.insert(node.id, node.clone());
            }
            GraphEdit::RemoveNode { node, .. } => {
                graph.nodes.remove(&node.id);
                graph
                    .edges
                    .retain(|_, edge| edge.from != node.id && edge.to != node.id);
            }
            GraphEdit::MoveNodes(moves) => {
                for step in moves {
                    if let Some(node) = graph.nodes.get_mut(&step.id) {
                        node.position = step.to;
                    }
                }
            }
            GraphEdit::RelabelNode { id, to, .. } => {
                if let Some(node) = graph.nodes.get_mut(id) {
                    node.label = to.clone();
                }
            }
            GraphEdit::AddEdge(edge) => {
                graph.edges.insert(edge.id, edge.clone());
            }
            GraphEdit::RemoveEdge(edge) => {
                graph.edges.remove(&edge.id);
            }
            GraphEdit::RenameGraph { to, .. } => graph.name = to.clone(),
            GraphEdit::Batch(steps) => {
                for step in steps {
                    step.apply_checked(graph);
                }
            }
        }
    }
}

/// The undo / redo stack of one open graph.
#[derive(Debug, Clone, Default)]
pub struct EditHistory {
    done: Vec<GraphEdit>,
    undone: Vec<GraphEdit>,
}

impl EditHistory {
    /// Applies a new edit; it becomes the one to undo and the redo list is cleared.
    pub fn apply(&mut self, graph: &mut Graph, edit: GraphEdit) -> Result<&GraphEdit, GraphError> {
        edit.apply(graph)?;
        self.undone.clear();
        self.done.push(edit);
        Ok(self.done.last().expect("just pushed"))
    }

    /// Undoes the last edit; returns the edit that was applied to do so.
    pub fn undo(&mut self, graph: &mut Graph) -> Result<Option<GraphEdit>, GraphError> {
        let Some(edit) = self.done.last() else {
            return Ok(None);
        };
        let inverse = edit.inverse();
        inverse.apply(graph)?;
        let edit = self.done.pop().expect("checked above");
        self.undone.push(edit);
        Ok(Some(inverse))
    }

    /// Redoes the last undone edit; returns it.
    pub fn redo(&mut self, graph: &mut Graph) -> Result<Option<GraphEdit>, GraphError> {
        let Some(edit) = self.undone.last() else {
            return Ok(None);
        };
        edit.apply(graph)?;
        let edit = self.undone.pop().expect("checked above");
        self.done.push(edit.clone());
        Ok(Some(edit))
    }

    /// Whether there is something to undo.
    pub fn can_undo(&self) -> bool {
        !self.done.is_empty()
    }

    /// Whether there is something to redo.
    pub fn can_redo(&self) -> bool {
        !self.undone.is_empty()
    }
}
