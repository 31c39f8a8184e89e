//! Typed ports: what each kind of node takes in and gives out, and which
//! connections make sense.
//!
//! | kind   | inputs                     | outputs      |
//! |--------|----------------------------|--------------|
//! | input  | —                          | `out`: data  |
//! | prompt | `in`: data                 | `out`: text  |
//! | agent  | `in`: text, `tools`: tool  | `out`: text  |
//! | tool   | `in`: data                 | `out`: tool  |
//! | output | `in`: data                 | —            |
//!
//! An input port accepts its own type; a data input also accepts text (text
//! is data). Graphs run in dependency order, so edges may not form a cycle.
//! The graph model itself does not enforce these rules (documents from other
//! devices stay readable); connecting on the canvas and importing a file do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::graph::{Graph, Node, NodeKind};
use crate::ids::NodeId;

/// What flows through a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortType {
    /// Any structured value: what inputs produce and tools consume.
    Data,
    /// Text: prompts and agents' answers.
    Text,
    /// A tool an agent may call.
    Tool,
}

impl PortType {
    /// The type's name as shown to the user.
    pub fn as_str(self) -> &'static str {
        match self {
            PortType::Data => "data",
            PortType::Text => "text",
            PortType::Tool => "tool",
        }
    }

    /// Whether an input of this type accepts a value of type `value`.
    pub fn accepts(self, value: PortType) -> bool {
        self == value || (self == PortType::Data && value == PortType::Text)
    }
}

impl fmt::Display for PortType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One port of a kind of node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    /// Its name, as edges store it.
    pub name: &'static str,
    /// What flows through it.
    pub port_type: PortType,
}

const fn port(name: &'static str, port_type: PortType) -> Port {
    Port { name, port_type }
}

const DATA_IN: [Port; 1] = [port("in", PortType::Data)];
const AGENT_IN: [Port; 2] = [port("in", PortType::Text), port("tools", PortType::Tool)];
const DATA_OUT: [Port; 1] = [port("out", PortType::Data)];
const TEXT_OUT: [Port; 1] = [port("out", PortType::Text)];
const TOOL_OUT: [Port; 1] = [port("out", PortType::Tool)];

/// The ports a kind of node takes values in through, top to bottom.
pub fn input_ports(kind: NodeKind) -> &'static [Port] {
    match kind {
        NodeKind::Input => &[],
        NodeKind::Prompt | NodeKind::Tool | NodeKind::Output => &DATA_IN,
        NodeKind::Agent => &AGENT_IN,
    }
}

/// The ports a kind of node gives values out through, top to bottom.
pub fn output_ports(kind: NodeKind) -> &'static [Port] {
    match kind {
        NodeKind::Input => &DATA_OUT,
        NodeKind::Prompt | NodeKind::Agent => &TEXT_OUT,
        NodeKind::Tool => &TOOL_OUT,
        NodeKind::Output => &[],
    }
}

/// The first input port of `to` that accepts what `from` gives out through
/// `from_port`, if any.
pub fn matching_input(from: NodeKind, from_port: &str, to: NodeKind) -> Option<&'static Port> {
    let given = output_ports(from)
        .iter()
        .find(|port| port.name == from_port)?;
    input_ports(to)
        .iter()
        .find(|port| port.port_type.accepts(given.port_type))
}

/// Why a connection is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// A node named by the connection is not in the graph.
    #[error("node {0} is not in the graph")]
    NoSuchNode(NodeId),
    /// The node has no port of that name on that side.
    #[error("{kind} node “{label}” has no {side} port `{port}`{}", available(*.kind, .side))]
    NoSuchPort {
        /// The node's kind.
        kind: NodeKind,
        /// The node's label.
        label: String,
        /// "input" or "output".
        side: &'static str,
        /// The port named.
        port: String,
    },
    /// The output's type does not fit the input.
    #[error(
        "cannot connect {from_kind} “{from_label}” ({from_port}: {given}) to {to_kind} “{to_label}” ({to_port}: {wanted}): {wanted} input does not accept {given}"
    )]
    Incompatible {
        /// The source's kind.
        from_kind: NodeKind,
        /// The source's label.
        from_label: String,
        /// The source's port.
        from_port: String,
        /// What it gives.
        given: PortType,
        /// The target's kind.
        to_kind: NodeKind,
        /// The target's label.
        to_label: String,
        /// The target's port.
        to_port: String,
        /// What it takes.
        wanted: PortType,
    },
    /// An edge from a node to itself.
    #[error("“{0}” cannot be connected to itself")]
    SelfLoop(String),
    /// The edges would run in a circle.
    #[error("edges would form a cycle ({}); graphs run in order, so cycles are not allowed", .0.join(" → "))]
    Cycle(Vec<String>),
}

fn available(kind: NodeKind, side: &str) -> String {
    let ports = if side == "input" {
        input_ports(kind)
    } else {
        output_ports(kind)
    };
    if ports.is_empty() {
        format!(" ({kind} nodes have no {side} ports)")
    } else {
        let names: Vec<_> = ports.iter().map(|port| port.name).collect();
        format!(" (it has {})", names.join(", "))
    }
}

fn node(graph: &Graph, id: NodeId) -> Result<&Node, ConnectionError> {
    graph.nodes.get(&id).ok_or(ConnectionError::NoSuchNode(id))
}

/// Checks one connection's ports, without looking at the rest of the graph.
pub fn check_ports(
    graph: &Graph,
    from: NodeId,
    from_port: &str,
    to: NodeId,
    to_port: &str,
) -> Result<(), ConnectionError> {
    let (source, target) = (node(graph, from)?, node(graph, to)?);
    if from == to {
        return Err(ConnectionError::SelfLoop(source.label.clone()));
    }
    let no_port = |node: &Node, side: &'static str, port: &str| ConnectionError::NoSuchPort {
        kind: node.kind,
        label: node.label.clone(),
        side,
        port: port.chars().take(64).collect(),
    };
    let given = output_ports(source.kind)
        .iter()
        .find(|port| port.name == from_port)
        .ok_or_else(|| no_port(source, "output", from_port))?;
    let wanted = input_ports(target.kind)
        .iter()
        .find(|port| port.name == to_port)
        .ok_or_else(|| no_port(target, "input", to_port))?;
    if !wanted.port_type.accepts(given.port_type) {
        return Err(ConnectionError::Incompatible {
            from_kind: source.kind,
            from_label: source.label.clone(),
            from_port: from_port.to_owned(),
            given: given.port_type,
            to_kind: target.kind,
            to_label: target.label.clone(),
            to_port: to_port.to_owned(),
            wanted: wanted.port_type,
        });
    }
    Ok(())
}

/// Checks a new connection: its ports, and that it closes no cycle.
pub fn check_connection(
    graph: &Graph,
    from: NodeId,
    from_port: &str,
    to: NodeId,
    to_port: &str,
) -> Result<(), ConnectionError> {
    check_ports(graph, from, from_port, to, to_port)?;
    // A cycle appears if `from` is already reachable from `to`.
    let successors = successors(graph);
    if let Some(path) = path_between(&successors, to, from) {
        let mut labels: Vec<String> = path
            .iter()
            .map(|id| graph.nodes[id].label.clone())
            .collect();
        labels.push(graph.nodes[&to].label.clone());
        return Err(ConnectionError::Cycle(labels));
    }
    Ok(())
}

/// Checks every edge of a graph: ports and types, and no cycles.
pub fn check_graph_connections(graph: &Graph) -> Result<(), ConnectionError> {
    for edge in graph.edges.values() {
        check_ports(graph, edge.from, &edge.from_port, edge.to, &edge.to_port)?;
    }
    if let Some(cycle) = find_cycle(graph) {
        return Err(ConnectionError::Cycle(
            cycle
                .iter()
                .map(|id| graph.nodes[id].label.clone())
                .collect(),
        ));
    }
    Ok(())
}

fn successors(graph: &Graph) -> BTreeMap<NodeId, Vec<NodeId>> {
    let mut successors: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
    for edge in graph.edges.values() {
        successors.entry(edge.from).or_default().push(edge.to);
    }
    successors
}

/// A path of nodes from `start` to `goal` (both included), if one exists.
fn path_between(
    successors: &BTreeMap<NodeId, Vec<NodeId>>,
    start: NodeId,
    goal: NodeId,
) -> Option<Vec<NodeId>> {
    let mut came_from: BTreeMap<NodeId, NodeId> = BTreeMap::new();
    let mut seen = BTreeSet::from([start]);
    let mut stack = vec![start];
    while let Some(current) = stack.pop() {
        if current == goal {
            let mut path = vec![goal];
            let mut at = goal;
            while let Some(previous) = came_from.get(&at) {
                path.push(*previous);
                at = *previous;
            }
            path.reverse();
            return Some(path);
        }
        for next in successors.get(&current).into_iter().flatten() {
            if seen.insert(*next) {
                came_from.insert(*next, current);
                stack.push(*next);
            }
        }
    }
    None
}

/// One cycle of the graph (its first node repeated at the end), if any.
fn find_cycle(graph: &Graph) -> Option<Vec<NodeId>> {
    let successors = successors(graph);
    // Iterative depth-first search with three colours.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: BTreeMap<NodeId, Mark> = BTreeMap::new();
    for start in graph.nodes.keys() {
        if marks.contains_key(start) {
            continue;
        }
        let mut path: Vec<NodeId> = vec![*start];
        let mut next_child: Vec<usize> = vec![0];
        marks.insert(*start, Mark::Open);
        while let Some(&current) = path.last() {
            let children = successors.get(&current).map(Vec::as_slice).unwrap_or(&[]);
            let index = next_child.last_mut().expect("in step with path");
            if let Some(child) = children.get(*index) {
                *index += 1;
                match marks.get(child) {
                    Some(Mark::Open) => {
                        let from = path
                            .iter()
                            .position(|id| id == child)
                            .expect("open nodes are on the path");
                        let mut cycle = path[from..].to_vec();
                        cycle.push(*child);
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(*child, Mark::Open);
                        path.push(*child);
                        next_child.push(0);
                    }
                }
            } else {
                marks.insert(current, Mark::Done);
                path.pop();
                next_child.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Edge, Position};

    fn graph_of(kinds: &[NodeKind]) -> (Graph, Vec<NodeId>) {
        let mut graph = Graph::new("Ports");
        let ids = kinds
            .iter()
            .enumerate()
            .map(|(index, kind)| {
                graph.add_node(Node::new(
                    *kind,
                    format!("{kind} {}", index + 1),
                    Position::default(),
                ))
            })
            .collect();
        (graph, ids)
    }

    #[test]
    fn compatible_ports_connect() {
        use NodeKind::*;
        let (graph, ids) = graph_of(&[Input, Prompt, Agent, Tool, Output]);
        assert_eq!(
            check_connection(&graph, ids[0], "out", ids[1], "in"),
            Ok(())
        );
        assert_eq!(
            check_connection(&graph, ids[1], "out", ids[2], "in"),
            Ok(())
        );
        assert_eq!(
            check_connection(&graph, ids[3], "out", ids[2], "tools"),
            Ok(())
        );
        assert_eq!(
            check_connection(&graph, ids[2], "out", ids[4], "in"),
            Ok(())
        );
        assert_eq!(
            check_connection(&graph, ids[0], "out", ids[3], "in"),
            Ok(())
        );
        assert_eq!(matching_input(Tool, "out", Agent).unwrap().name, "tools");
        assert_eq!(matching_input(Prompt, "out", Agent).unwrap().name, "in");
        assert_eq!(matching_input(Tool, "out", Output), None);
    }

    #[test]
    fn incompatible_ports_are_refused_with_the_types() {
        use NodeKind::*;
        let (graph, ids) = graph_of(&[Input, Agent, Tool, Output]);
        let refused = check_connection(&graph, ids[0], "out", ids[1], "in").unwrap_err();
        assert!(matches!(refused, ConnectionError::Incompatible { .. }));
        assert_eq!(
            refused.to_string(),
            "cannot connect input “input 1” (out: data) to agent “agent 2” (in: text): text input does not accept data"
        );
        let refused = check_connection(&graph, ids[2], "out", ids[3], "in").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("data input does not accept tool")
        );
        let refused = check_connection(&graph, ids[3], "out", ids[1], "in").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("output nodes have no output ports"),
            "{refused}"
        );
        let refused = check_connection(&graph, ids[1], "out", ids[1], "in").unwrap_err();
        assert_eq!(refused, ConnectionError::SelfLoop("agent 2".into()));
    }

    #[test]
    fn a_connection_closing_a_cycle_is_refused() {
        use NodeKind::*;
        let (mut graph, ids) = graph_of(&[Agent, Agent, Agent]);
        graph.add_edge(Edge::new(ids[0], ids[1])).unwrap();
        graph.add_edge(Edge::new(ids[1], ids[2])).unwrap();
        assert_eq!(check_graph_connections(&graph), Ok(()));
        let refused = check_connection(&graph, ids[2], "out", ids[0], "in").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "edges would form a cycle (agent 1 → agent 2 → agent 3 → agent 1); graphs run in order, so cycles are not allowed"
        );
        graph.add_edge(Edge::new(ids[2], ids[0])).unwrap();
        assert!(matches!(
            check_graph_connections(&graph),
            Err(ConnectionError::Cycle(cycle)) if cycle.len() == 4
        ));
    }

    #[test]
    fn sample_graphs_follow_the_port_rules() {
        for seed in 0..20 {
            let graph = crate::sample_graph("Sample", 60, seed);
            assert_eq!(check_graph_connections(&graph), Ok(()), "seed {seed}");
        }
    }
}
