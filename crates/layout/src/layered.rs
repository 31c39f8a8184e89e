//! A layered left-to-right layout (the "flat" view of a pipeline): every
//! node in a column after all the nodes that feed it, so every edge points
//! rightwards, with the rows of each column ordered to keep edges short.
//!
//! Sugiyama's scheme, kept small: cycles are broken by petgraph's greedy
//! feedback arc set (those edges are ignored for layering), columns by the
//! longest path from a source, rows by a few barycentre sweeps. A column
//! taller than the graph's square root wraps into sub-columns, so a graph
//! of a thousand unconnected nodes is a block, not a line a mile high.

use petgraph::algo::{greedy_feedback_arc_set, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// Spacing of a layered layout, in world units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayeredSettings {
    /// From one column to the next.
    pub column_gap: f32,
    /// From one row to the next.
    pub row_gap: f32,
    /// Barycentre sweeps (each one down the columns and back up).
    pub sweeps: usize,
}

impl Default for LayeredSettings {
    fn default() -> Self {
        Self {
            column_gap: 4.5,
            row_gap: 2.5,
            sweeps: 4,
        }
    }
}

/// Positions, in the plane z = 0, for `count` nodes joined by `edges`
/// (index pairs, from → to; pairs naming a missing node are ignored).
/// `order` breaks ties between rows: nodes with a smaller value go higher
/// (pass the current heights, negated, to keep the user's order).
/// Columns grow along +x, rows downwards along −y, and the whole is
/// centred on the origin.
pub fn layered_layout(
    count: usize,
    edges: &[(usize, usize)],
    order: &[f32],
    settings: LayeredSettings,
) -> Vec<[f32; 3]> {
    if count == 0 {
        return Vec::new();
    }
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(count, edges.len());
    for _ in 0..count {
        graph.add_node(());
    }
    for &(from, to) in edges {
        if from < count && to < count && from != to {
            graph.add_edge(NodeIndex::new(from), NodeIndex::new(to), ());
        }
    }
    // Break cycles: the feedback edges are left out of the layering.
    let feedback: Vec<_> = greedy_feedback_arc_set(&graph)
        .map(|edge| edge.id())
        .collect();
    for edge in feedback.into_iter().rev() {
        graph.remove_edge(edge);
    }
    let sorted = toposort(&graph, None).expect("no cycle is left once the feedback arcs are gone");

    // Columns: the longest path from a source.
    let mut column = vec![0usize; count];
    for node in &sorted {
        let here = column[node.index()];
        for next in graph.neighbors_directed(*node, petgraph::Direction::Outgoing) {
            column[next.index()] = column[next.index()].max(here + 1);
        }
    }
    let columns = column.iter().max().map_or(0, |last| last + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); columns];
    let tie = |node: usize| order.get(node).copied().unwrap_or(0.0);
    for node in 0..count {
        rows[column[node]].push(node);
    }
    for members in &mut rows {
        members.sort_by(|a, b| tie(*a).total_cmp(&tie(*b)).then(a.cmp(b)));
    }

    // Rows: each node moves towards the mean row of its neighbours in the
    // column before (sweeping right) or after (sweeping left).
    let mut row_of = vec![0.0f32; count];
    let place = |rows: &[Vec<usize>], row_of: &mut [f32]| {
        for members in rows {
            for (row, node) in members.iter().enumerate() {
                row_of[*node] = row as f32 / members.len().max(1) as f32;
            }
        }
    };
    place(&rows, &mut row_of);
    for _ in 0..settings.sweeps {
        for (direction, range) in [
            (
                petgraph::Direction::Incoming,
                (1..columns).collect::<Vec<_>>(),
            ),
            (
                petgraph::Direction::Outgoing,
                (0..columns.saturating_sub(1)).rev().collect(),
            ),
        ] {
            for index in range {
                let mut keyed: Vec<(f32, usize)> = rows[index]
                    .iter()
                    .map(|&node| {
                        let (sum, seen) = graph
                            .neighbors_directed(NodeIndex::new(node), direction)
                            .fold((0.0f32, 0usize), |(sum, seen), other| {
                                (sum + row_of[other.index()], seen + 1)
                            });
                        let key = if seen == 0 {
                            row_of[node]
                        } else {
                            sum / seen as f32
                        };
                        (key, node)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(tie(a.1).total_cmp(&tie(b.1))));
                rows[index] = keyed.into_iter().map(|(_, node)| node).collect();
                for (row, node) in rows[index].iter().enumerate() {
                    row_of[*node] = row as f32 / rows[index].len().max(1) as f32;
                }
            }
        }
    }

    // Places: a column taller than the graph's square root wraps into
    // sub-columns side by side, all of them before the next column.
    let tallest = ((count as f32).sqrt().ceil() as usize).max(12);
    let mut positions = vec![[0.0f32; 3]; count];
    let mut x = 0.0f32;
    for members in &rows {
        let parts = members.len().div_ceil(tallest).max(1);
        let height = members.len().div_ceil(parts);
        for (slot, node) in members.iter().enumerate() {
            let (part, row) = (slot / height, slot % height);
            let in_part = if part + 1 == parts {
                members.len() - part * height
            } else {
                height
            };
            let offset = (in_part as f32 - 1.0) / 2.0;
            positions[*node] = [
                x + part as f32 * settings.column_gap * 0.6,
                (offset - row as f32) * settings.row_gap,
                0.0,
            ];
        }
        x += settings.column_gap + (parts - 1) as f32 * settings.column_gap * 0.6;
    }
    let width = x - settings.column_gap;
    for position in &mut positions {
        position[0] -= width / 2.0;
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rightwards(positions: &[[f32; 3]], edges: &[(usize, usize)]) -> bool {
        edges
            .iter()
            .all(|&(from, to)| positions[from][0] < positions[to][0])
    }

    #[test]
    fn every_edge_of_an_acyclic_graph_points_right() {
        // A diamond with a tail, given in a scrambled order.
        let edges = [(3, 1), (3, 0), (1, 2), (0, 2), (2, 4), (3, 4)];
        let positions = layered_layout(5, &edges, &[], LayeredSettings::default());
        assert!(rightwards(&positions, &edges), "{positions:?}");
        // Columns by the longest path: 3 | 0, 1 | 2 | 4.
        assert_eq!(positions[0][0], positions[1][0]);
        assert!(positions[2][0] > positions[0][0]);
        assert!(positions[4][0] > positions[2][0]);
        assert!(positions.iter().all(|p| p[2] == 0.0));
        // No two nodes share a place.
        for (a, p) in positions.iter().enumerate() {
            for q in &positions[a + 1..] {
                assert!(p != q, "two nodes at {p:?}");
            }
        }
    }

    #[test]
    fn a_cycle_is_broken_and_every_other_edge_still_points_right() {
        let edges = [(0, 1), (1, 2), (2, 0), (2, 3)];
        let positions = layered_layout(4, &edges, &[], LayeredSettings::default());
        let forward = edges
            .iter()
            .filter(|&&(from, to)| positions[from][0] < positions[to][0])
            .count();
        assert_eq!(
            forward, 3,
            "only the one feedback edge points back: {positions:?}"
        );
    }

    #[test]
    fn rows_follow_their_sources_so_parallel_chains_do_not_cross() {
        // Two chains a → b → c and d → e → f, the second given first in
        // the middle column: the sweeps put every chain on one row.
        let edges = [(0, 1), (1, 2), (3, 4), (4, 5)];
        let order = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let positions = layered_layout(6, &edges, &order, LayeredSettings::default());
        assert_eq!(positions[0][1], positions[1][1]);
        assert_eq!(positions[1][1], positions[2][1]);
        assert_eq!(positions[3][1], positions[4][1]);
        assert!(positions[0][1] != positions[3][1]);
    }

    #[test]
    fn a_crowd_of_unconnected_nodes_wraps_into_a_block() {
        let positions = layered_layout(400, &[], &[], LayeredSettings::default());
        let (low, high) = positions
            .iter()
            .fold((f32::MAX, f32::MIN), |(low, high), p| {
                (low.min(p[1]), high.max(p[1]))
            });
        // 400 nodes in one column would be 1,000 units tall; wrapped, ~50.
        assert!(high - low < 60.0, "column {} tall", high - low);
        let mut seen = std::collections::HashSet::new();
        assert!(
            positions
                .iter()
                .all(|p| seen.insert((p[0].to_bits(), p[1].to_bits())))
        );
    }

    #[test]
    fn edges_to_missing_nodes_and_loops_are_ignored() {
        let positions = layered_layout(
            2,
            &[(0, 0), (0, 7), (0, 1)],
            &[],
            LayeredSettings::default(),
        );
        assert!(positions[0][0] < positions[1][0]);
        assert!(layered_layout(0, &[(0, 1)], &[], LayeredSettings::default()).is_empty());
    }
}
