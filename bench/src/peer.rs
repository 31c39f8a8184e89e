//! `peer`: the same graph drawn by our canvas and by a peer — 3d-force-graph
//! (three.js) in headless Chromium with software WebGL — on this machine, in
//! one run, with both frame rates and their ratio.
//!
//! The peer's page lives in `bench/peer/` (its own package.json and lock;
//! `npm ci --prefix bench/peer` installs it). Both draw the same sample graph
//! at the same window size; the peer gets fixed node positions, so it spends
//! no time on layout.

use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::canvas;

/// The graph and how long to watch each renderer.
pub struct Options {
    /// Nodes in the sample graph.
    pub nodes: usize,
    /// Edges in the sample graph.
    pub edges: usize,
    /// Frames our canvas times.
    pub frames: u32,
    /// Frames the peer times (it is slow).
    pub peer_frames: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: 10_000,
            edges: 20_000,
            frames: 120,
            peer_frames: 30,
        }
    }
}

/// Runs both and returns the combined JSON line.
pub fn run(options: &Options) -> anyhow::Result<Value> {
    // The canvas binary writes the very sample graph it benchmarks.
    let file = std::env::temp_dir().join(format!("orrery-bench-peer-{}.json", std::process::id()));
    let store = std::env::temp_dir().join(format!("orrery-bench-peer-{}.db", std::process::id()));
    let exported = Command::new(canvas::canvas_binary()?)
        .arg("--store")
        .arg(&store)
        .args(["--sample", &options.nodes.to_string()])
        .args(["--sample-edges", &options.edges.to_string()])
        .arg("--export")
        .arg(&file)
        .status()?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
    }
    if !exported.success() {
        bail!("the canvas binary could not export the sample graph");
    }
    let script = std::env::var_os("ORRERY_PEER_SCRIPT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/peer/run.mjs").into());
    let output = Command::new("node")
        .arg(&script)
        .arg(&file)
        .arg(options.peer_frames.to_string())
        .arg("1280x720")
        .output()
        .context(
            "running node (the peer benchmark needs Node.js and `npm ci --prefix bench/peer`)",
        );
    let _ = std::fs::remove_file(&file);
    let output = output?;
    if !output.status.success() {
        bail!(
            "the peer benchmark failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let peer: Value = serde_json::from_slice(
        output
            .stdout
            .split(|byte| *byte == b'\n')
            .rfind(|line| line.starts_with(b"{"))
            .context("the peer printed no JSON line")?,
    )?;
    let ours = canvas::run(&canvas::Options {
        nodes: options.nodes,
        edges: options.edges,
        frames: options.frames,
        in_memory: false,
        drag: false,
    })?;
    let our_p50 = ours["frame_ms_p50"].as_f64().context("our frame time")?;
    let peer_p50 = peer["frame_ms_p50"]
        .as_f64()
        .context("the peer's frame time")?;
    Ok(json!({
        "bench": "peer",
        "nodes": options.nodes,
        "edges": options.edges,
        "ours_fps": 1000.0 / our_p50,
        "peer_fps": 1000.0 / peer_p50,
        "ratio": peer_p50 / our_p50,
        "ours": ours,
        "peer": peer,
    }))
}
