//! The graph model: nodes of a kind placed in 3D, joined by edges between ports.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{EdgeId, GraphId, NodeId};

/// Longest graph name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 120;
/// Longest node label accepted, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Longest port name accepted, in characters.
pub const MAX_PORT_CHARS: usize = 64;
/// Most nodes one graph may hold.
pub const MAX_NODES_PER_GRAPH: usize = 250_000;
/// Most edges one graph may hold.
pub const MAX_EDGES_PER_GRAPH: usize = 500_000;
/// Largest coordinate magnitude accepted on any axis.
const MAX_COORDINATE: f32 = 1.0e6;

/// What a node is; decides its look on the canvas and, later, its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// An agent: a model with a system prompt and tools.
    Agent,
    /// A prompt template.
    Prompt,
    /// A tool an agent may call.
    Tool,
    /// Where data enters the graph.
    Input,
    /// Where results leave the graph.
    Output,
}

impl NodeKind {
    /// Every kind, in a stable order.
    pub const ALL: [NodeKind; 5] = [
        NodeKind::Agent,
        NodeKind::Prompt,
        NodeKind::Tool,
        NodeKind::Input,
        NodeKind::Output,
    ];

    /// The kind's name as stored and sent over the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Agent => "agent",
            NodeKind::Prompt => "prompt",
            NodeKind::Tool => "tool",
            NodeKind::Input => "input",
            NodeKind::Output => "output",
        }
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeKind {
    type Err = GraphError;
    fn from_str(value: &str) -> Result<Self, GraphError> {
        NodeKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| GraphError::UnknownNodeKind(value.chars().take(32).collect()))
    }
}

/// A point in the canvas's 3D space.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Position {
    /// Right.
    pub x: f32,
    /// Up.
    pub y: f32,
    /// Towards the default camera.
    pub z: f32,
}

impl Position {
    /// A position from its three coordinates.
    pub const fn new(x: f32, y: f32, z: f32) -> Self {
        Self { x, y, z }
    }

    /// Whether every coordinate is finite and within the canvas's bounds.
    pub fn is_valid(&self) -> bool {
        [self.x, self.y, self.z]
            .iter()
            .all(|c| c.is_finite() && c.abs() <= MAX_COORDINATE)
    }
}

/// One node of a graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Stable identity across devices.
    pub id: NodeId,
    /// What the node is.
    pub kind: NodeKind,
    /// The name shown on the canvas.
    pub label: String,
    /// Where the node sits.
    pub position: Position,
}

/// A directed connection from an output port of one node to an input port of another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// Stable identity across devices.
    pub id: EdgeId,
    /// The node the edge leaves.
    pub from: NodeId,
    /// The port on `from`.
    pub from_port: String,
    /// The node the edge enters.
    pub to: NodeId,
    /// The port on `to`.
    pub to_port: String,
}

/// A named graph of nodes and edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// Stable identity across devices.
    pub id: GraphId,
    /// The name shown in the library.
    pub name: String,
    /// Nodes by id.
    pub nodes: BTreeMap<NodeId, Node>,
    /// Edges by id.
    pub edges: BTreeMap<EdgeId, Edge>,
}

/// Why a graph or one of its parts is not acceptable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// The graph name is empty after trimming.
    #[error("graph name must not be empty")]
    EmptyName,
    /// A name or label is longer than allowed.
    #[error("{what} is {length} characters long; the limit is {limit}")]
    TooLong {
        /// Which text ("graph name", "node label", "port name").
        what: &'static str,
        /// Its length in characters.
        length: usize,
        /// The limit in characters.
        limit: usize,
    },
    /// A name or label holds control characters.
    #[error("{0} must not contain control characters")]
    ControlCharacters(&'static str),
    /// A name or label holds a control, direction-changing or invisible
    /// character (see [`crate::text`]).
    #[error("{what} must not contain the {hidden}")]
    HiddenCharacter {
        /// Which text.
        what: &'static str,
        /// The character refused.
        hidden: crate::text::HiddenCharacter,
    },
    /// A node kind that does not exist.
    #[error("unknown node kind `{0}` (expected agent, prompt, tool, input or output)")]
    UnknownNodeKind(String),
    /// A coordinate is NaN, infinite or out of bounds.
    #[error("node {0} has a position that is not finite or lies outside ±1e6")]
    InvalidPosition(NodeId),
    /// An edge names a node that the graph does not hold.
    #[error("edge {edge} refers to node {node}, which is not in the graph")]
    DanglingEdge {
        /// The edge.
        edge: EdgeId,
        /// The missing node.
        node: NodeId,
    },
    /// A node id the graph does not hold.
    #[error("node {0} is not in the graph")]
    NoSuchNode(NodeId),
    /// An edge id the graph does not hold.
    #[error("edge {0} is not in the graph")]
    NoSuchEdge(EdgeId),
    /// A node id the graph already holds.
    #[error("node {0} is already in the graph")]
    DuplicateNode(NodeId),
    /// An edge id the graph already holds.
    #[error("edge {0} is already in the graph")]
    DuplicateEdge(EdgeId),
    /// Removing a node without the edges that still touch it.
    #[error("node {0} still has edges; remove them with it")]
    NodeHasEdges(NodeId),
    /// More nodes or edges than a graph may hold.
    #[error("a graph may hold at most {limit} {what}; this one has {count}")]
    TooMany {
        /// "nodes" or "edges".
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

/// Checks a user-supplied text: trimmed non-empty when required, bounded, printable.
fn check_text(
    what: &'static str,
    text: &str,
    limit: usize,
    allow_empty: bool,
) -> Result<(), GraphError> {
    if !allow_empty && text.trim().is_empty() {
        return Err(GraphError::EmptyName);
    }
    let length = text.chars().count();
    if length > limit {
        return Err(GraphError::TooLong {
            what,
            length,
            limit,
        });
    }
    if let Some(hidden) = crate::text::hidden_character(text) {
        return Err(GraphError::HiddenCharacter { what, hidden });
    }
    Ok(())
}

/// Validates a graph name.
pub fn check_graph_name(name: &str) -> Result<(), GraphError> {
    check_text("graph name", name, MAX_NAME_CHARS, false)
}

impl Node {
    /// A node of `kind` labelled `label` at `position`, with a fresh id.
    pub fn new(kind: NodeKind, label: impl Into<String>, position: Position) -> Self {
        Self {
            id: NodeId::new(),
            kind,
            label: label.into(),
            position,
        }
    }

    /// Checks the label and position.
    pub fn validate(&self) -> Result<(), GraphError> {
        check_text("node label", &self.label, MAX_LABEL_CHARS, true)?;
        if !self.position.is_valid() {
            return Err(GraphError::InvalidPosition(self.id));
        }
        Ok(())
    }
}

impl Edge {
    /// An edge from `from`'s `out` port to `to`'s `in` port, with a fresh id.
    pub fn new(from: NodeId, to: NodeId) -> Self {
        Self {
            id: EdgeId::new(),
            from,
            from_port: "out".to_owned(),
            to,
            to_port: "in".to_owned(),
        }
    }

    /// Checks the port names.
    pub fn validate(&self) -> Result<(), GraphError> {
        check_text("port name", &self.from_port, MAX_PORT_CHARS, false)?;
        check_text("port name", &self.to_port, MAX_PORT_CHARS, false)
    }
}

impl Graph {
    /// An empty graph with a fresh id.
    pub fn new(name: impl Into<String>) -> Self {
        Self::with_id(GraphId::new(), name)
    }

    /// An empty graph with the given id.
    pub fn with_id(id: GraphId, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            nodes: BTreeMap::new(),
            edges: BTreeMap::new(),
        }
    }

    /// Validates the whole graph: name, every node and edge, no dangling edges, size limits.
    pub fn validate(&self) -> Result<(), GraphError> {
        check_graph_name(&self.name)?;
        if self.nodes.len() > MAX_NODES_PER_GRAPH {
            return Err(GraphError::TooMany {
                what: "nodes",
                count: self.nodes.len(),
                limit: MAX_NODES_PER_GRAPH,
            });
        }
        if self.edges.len() > MAX_EDGES_PER_GRAPH {
            return Err(GraphError::TooMany {
                what: "edges",
                count: self.edges.len(),
                limit: MAX_EDGES_PER_GRAPH,
            });
        }
        for node in self.nodes.values() {
            node.validate()?;
        }
        for edge in self.edges.values() {
            edge.validate()?;
            for node in [edge.from, edge.to] {
                if !self.nodes.contains_key(&node) {
                    return Err(GraphError::DanglingEdge {
                        edge: edge.id,
                        node,
                    });
                }
            }
        }
        Ok(())
    }

    /// Adds a node, returning its id.
    pub fn add_node(&mut self, node: Node) -> NodeId {
        let id = node.id;
        self.nodes.insert(id, node);
        id
    }

    /// Adds an edge between two nodes the graph holds.
    pub fn add_edge(&mut self, edge: Edge) -> Result<EdgeId, GraphError> {
        for node in [edge.from, edge.to] {
            if !self.nodes.contains_key(&node) {
                return Err(GraphError::DanglingEdge {
                    edge: edge.id,
                    node,
                });
            }
        }
        let id = edge.id;
        self.edges.insert(id, edge);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_node_graph() -> (Graph, NodeId, NodeId) {
        let mut graph = Graph::new("Research team");
        let a = graph.add_node(Node::new(NodeKind::Agent, "Planner", Position::default()));
        let b = graph.add_node(Node::new(
            NodeKind::Tool,
            "Search",
            Position::new(1.0, 0.0, 0.0),
        ));
        (graph, a, b)
    }

    #[test]
    fn valid_graph_passes() {
        let (mut graph, a, b) = two_node_graph();
        graph.add_edge(Edge::new(a, b)).unwrap();
        assert_eq!(graph.validate(), Ok(()));
    }

    #[test]
    fn dangling_edge_is_refused() {
        let (mut graph, a, _) = two_node_graph();
        let ghost = NodeId::new();
        let error = graph.add_edge(Edge::new(a, ghost)).unwrap_err();
        assert!(matches!(error, GraphError::DanglingEdge { node, .. } if node == ghost));
        assert!(graph.edges.is_empty());
    }

    #[test]
    fn bad_names_and_positions_are_refused() {
        let (mut graph, a, _) = two_node_graph();
        graph.name = "   ".into();
        assert_eq!(graph.validate(), Err(GraphError::EmptyName));
        graph.name = "x".repeat(MAX_NAME_CHARS + 1);
        assert!(matches!(graph.validate(), Err(GraphError::TooLong { .. })));
        graph.name = "tab\tname".into();
        assert!(matches!(
            graph.validate(),
            Err(GraphError::HiddenCharacter { .. })
        ));
        graph.name = "report\u{202E}fdp.exe".into();
        assert_eq!(
            graph.validate().unwrap_err().to_string(),
            "graph name must not contain the bidirectional-override character U+202E"
        );
        graph.name = "ok".into();
        graph.nodes.get_mut(&a).unwrap().position.x = f32::NAN;
        assert_eq!(graph.validate(), Err(GraphError::InvalidPosition(a)));
    }

    #[test]
    fn node_kinds_round_trip_and_unknown_is_named() {
        for kind in NodeKind::ALL {
            assert_eq!(kind.as_str().parse::<NodeKind>().unwrap(), kind);
        }
        assert_eq!(
            "wizard".parse::<NodeKind>(),
            Err(GraphError::UnknownNodeKind("wizard".into()))
        );
    }

    #[test]
    fn graph_serialises_to_json_and_back() {
        let (graph, _, _) = two_node_graph();
        let json = serde_json::to_string(&graph).unwrap();
        assert_eq!(serde_json::from_str::<Graph>(&json).unwrap(), graph);
    }
}
