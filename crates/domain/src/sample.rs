//! Deterministic sample graphs for first runs, tests and benchmarks.

use crate::graph::{Edge, Graph, Node, NodeKind, Position};
use crate::ids::{EdgeId, GraphId, NodeId};
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
    for index in 1..nodes {
        let parent = (layout.next_u64() % index as u64) as usize;
        let edge = Edge {
            id: EdgeId(next_id()),
            ..Edge::new(ids[parent], ids[index])
        };
        graph
            .add_edge(edge)
            .expect("sample edges join existing nodes");
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
