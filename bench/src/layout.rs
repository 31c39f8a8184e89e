//! `layout`: milliseconds per force-directed layout iteration (Barnes–Hut)
//! on a random graph of N nodes and 2N edges.

use std::time::Instant;

use orrery_layout::{ForceLayout, LayoutSettings};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// The graph and how many iterations to time.
pub struct Options {
    /// Nodes.
    pub nodes: usize,
    /// Iterations timed (after one warm-up iteration).
    pub iterations: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: 10_000,
            iterations: 30,
        }
    }
}

/// Runs the benchmark and returns its JSON line.
pub fn run(options: &Options) -> Value {
    let mut random = StdRng::seed_from_u64(0x1A_7007);
    let spread = (options.nodes as f32).cbrt() * 4.0;
    let positions: Vec<[f32; 3]> = (0..options.nodes)
        .map(|_| {
            [
                random.random_range(-spread..spread),
                random.random_range(-spread..spread),
                random.random_range(-spread..spread),
            ]
        })
        .collect();
    let edges: Vec<(usize, usize)> = (0..options.nodes * 2)
        .map(|_| {
            (
                random.random_range(0..options.nodes),
                random.random_range(0..options.nodes),
            )
        })
        .collect();
    let mut layout = ForceLayout::new(&positions, &edges, LayoutSettings::default());
    layout.step();
    let mut times: Vec<f64> = (0..options.iterations)
        .map(|_| {
            let started = Instant::now();
            layout.step();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let round = |value: f64| (value * 100.0).round() / 100.0;
    json!({
        "bench": "layout",
        "nodes": options.nodes,
        "edges": edges.len(),
        "iterations": options.iterations,
        "ms_per_iteration_median": round(times[times.len() / 2]),
        "ms_per_iteration_p95": round(times[(times.len() * 95 / 100).min(times.len() - 1)]),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}
