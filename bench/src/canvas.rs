//! `canvas`: the real canvas binary rendering a sample graph under a private
//! Xvfb display with Mesa's lavapipe (the same setup as the canvas tests).
//!
//! Runs the `canvas` binary that sits beside this one (same profile) with
//! `--measure-frames`, and reports what it measured: load time (graph sent →
//! on screen with pipelines compiled), frame times once ready, the time to
//! pick the node under the cursor, and resident memory.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use serde_json::Value;

/// The graph and how long to watch it.
pub struct Options {
    /// Nodes in the sample graph.
    pub nodes: usize,
    /// Edges in the sample graph (at least nodes − 1).
    pub edges: usize,
    /// Frames to time once the canvas is ready.
    pub frames: u32,
    /// Show the graph without storing it (the canvas's own memory, without
    /// the store's document).
    pub in_memory: bool,
    /// Drag a node while the frames are timed (a drag frame rebuilds the
    /// drawing's buffers).
    pub drag: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: 10_000,
            edges: 20_000,
            frames: 120,
            in_memory: false,
            drag: false,
        }
    }
}

/// The canvas binary beside this one (or `ORRERY_CANVAS_BIN`).
pub fn canvas_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORRERY_CANVAS_BIN") {
        return Ok(path.into());
    }
    let beside = std::env::current_exe()?
        .parent()
        .context("the benchmark binary has a directory")?
        .join("canvas");
    if !beside.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p orrery-canvas --bin canvas` \
             (or set ORRERY_CANVAS_BIN)",
            beside.display()
        );
    }
    Ok(beside)
}

/// Runs the benchmark and returns its JSON line.
pub fn run(options: &Options) -> anyhow::Result<Value> {
    let canvas = canvas_binary()?;
    let mut xvfb = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1600x1000x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting Xvfb (apt-get install xvfb)")?;
    let mut display = String::new();
    let mut xvfb_out = xvfb.stdout.take().context("Xvfb's stdout")?;
    let mut byte = [0u8; 1];
    while xvfb_out.read(&mut byte)? == 1 && byte[0] != b'\n' {
        display.push(byte[0] as char);
    }
    let store = std::env::temp_dir().join(format!("orrery-bench-canvas-{}.db", std::process::id()));
    let outcome = (|| {
        let mut command = Command::new(&canvas);
        if options.in_memory {
            command.arg("--in-memory");
        }
        if options.drag {
            command.arg("--measure-drag");
        }
        let mut child = command
            .arg("--store")
            .arg(&store)
            .args(["--sample", &options.nodes.to_string()])
            .args(["--sample-edges", &options.edges.to_string()])
            .args(["--measure-frames", &options.frames.to_string()])
            .args(["--size", "1280x720"])
            .env("DISPLAY", format!(":{}", display.trim()))
            .env_remove("WAYLAND_DISPLAY")
            .env("WGPU_BACKEND", "vulkan")
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", canvas.display()))?;
        let stdout = child.stdout.take().context("the canvas's stdout")?;
        let mut measured = None;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(json) = line.strip_prefix("MEASURED ") {
                measured = Some(serde_json::from_str::<Value>(json)?);
            } else if let Some(reason) = line.strip_prefix("ERROR ") {
                bail!("the canvas failed: {reason}");
            }
        }
        let status = child.wait()?;
        let Some(Value::Object(mut fields)) = measured else {
            bail!("the canvas exited ({status}) without measuring");
        };
        fields.insert("bench".into(), "canvas".into());
        fields.insert("stored".into(), (!options.in_memory).into());
        fields.insert(
            "profile".into(),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .into(),
        );
        fields.insert("renderer".into(), "Xvfb + Mesa lavapipe (CPU)".into());
        Ok(Value::Object(fields))
    })();
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
    }
    outcome
}
