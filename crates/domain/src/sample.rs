//! Deterministic sample graphs for first runs, tests and benchmarks.

use crate::graph::{Edge, Graph, Node, NodeKind, Position};
use crate::ids::{EdgeId, GraphId, NodeId};
use crate::ports::{input_ports, matching_input, output_ports};
use uuid::Uuid;

/// A small deterministic generator (SplitMix64) so samples are the same everywhere.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A graph of `nodes` nodes spread over a sphere shell of radius ~`nodes^(1/3) * 2`,
/// each node (after the first) linked from an earlier one, so it reads as a tree
/// plus a few cross links. The same `seed` gives the same graph, ids included.
pub fn sample_graph(name: &str, nodes: usize, seed: u64) -> Graph {
    let mut random = SplitMix(seed);
    let mut next_id = || Uuid::from_u64_pair(random.next_u64(), random.next_u64());
    let mut graph = Graph::with_id(GraphId(next_id()), name);
    let radius = (nodes.max(1) as f32).cbrt() * 2.0;
    let mut layout = SplitMix(seed ^ 0xA5A5_A5A5);
    let mut ids = Vec::with_capacity(nodes);
    for index in 0..nodes {
        let kind = NodeKind::ALL[index % NodeKind::ALL.len()];
        let position = if nodes == 1 {
            Position::default()
        } else {
            Position::new(
                layout.unit() * radius,
                layout.unit() * radius * 0.6,
                layout.unit() * radius,
            )
        };
        let node = Node {
            id: NodeId(next_id()),
            kind,
            label: format!("{} {}", kind.as_str(), index + 1),
            position,
        };
        ids.push(graph.add_node(node));
    }
    // Each node after the first is joined to an earlier one through ports
    // whose types fit (input nodes, which take nothing in, feed an earlier
    // node instead), so samples follow the port rules and have no cycle.
    let kinds: Vec<NodeKind> = (0..nodes)
        .map(|index| NodeKind::ALL[index % NodeKind::ALL.len()])
        .collect();
    for index in 1..nodes {
        let first_pick = (layout.next_u64() % index as u64) as usize;
        let candidates = (0..index).map(|step| (first_pick + index - step) % index);
        let feeds_earlier = input_ports(kinds[index]).is_empty();
        let joined = candidates.into_iter().find_map(|other| {
            let (from, to) = if feeds_earlier {
                (index, other)
            } else {
                (other, index)
            };
            let from_port = output_ports(kinds[from]).first()?;
            let to_port = matching_input(kinds[from], from_port.name, kinds[to])?;
            Some((from, from_port.name, to, to_port.name))
        });
        let Some((from, from_port, to, to_port)) = joined else {
            continue;
        };
        let edge = Edge {
            id: EdgeId(next_id()),
            from: ids[from],
            from_port: from_port.to_owned(),
            to: ids[to],
            to_port: to_port.to_owned(),
        };
        graph
            .add_edge(edge)
            .expect("sample edges join existing nodes");
    }
    graph
}

/// [`sample_graph`] with deterministic extra edges between random nodes
/// until it holds `edges` edges (benchmarks' large graphs; these extra edges
/// ignore the port rules).
pub fn sample_graph_with_edges(name: &str, nodes: usize, edges: usize, seed: u64) -> Graph {
    let mut graph = sample_graph(name, nodes, seed);
    let ids: Vec<NodeId> = graph.nodes.keys().copied().collect();
    if ids.len() < 2 {
        return graph;
    }
    let mut state = seed ^ 0x5DEE_CE66;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    while graph.edges.len() < edges {
        let from = ids[next() % ids.len()];
        let to = ids[next() % ids.len()];
        if from != to {
            graph
                .add_edge(Edge::new(from, to))
                .expect("both ends are in the graph");
        }
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_deterministic_and_valid() {
        let first = sample_graph("Sample", 50, 7);
        assert_eq!(first, sample_graph("Sample", 50, 7));
        assert_ne!(first, sample_graph("Sample", 50, 8));
        assert_eq!(first.nodes.len(), 50);
        assert_eq!(first.edges.len(), 49);
        assert_eq!(first.validate(), Ok(()));
    }
}
