//! `orrery-bench startup`: the desktop app's cold start and idle memory.
//!
//! The release `orrery` beside this binary is started `--runs` times, each
//! with a fresh data folder (a first start: nothing cached by the app) on a
//! private Xvfb and session bus, with no graph open and no server to reach.
//! Start-up time is from spawning the process to the main window's page
//! having loaded (the app logs "the main window loaded" from Tauri's
//! page-load event, when the first screen is drawn). Idle memory is read
//! `--idle-seconds` later: the app's own resident set, and with the WebKit
//! processes that draw its webview.
//!
//! Goals (issue F30/F31): ≤ 500 ms to the first painted window, ≤ 150 MB idle.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use orrery_e2e::display::VirtualDisplay;

/// What to measure.
pub struct Options {
    /// Starts measured.
    pub runs: usize,
    /// Seconds after start-up before memory is read.
    pub idle_seconds: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            runs: 5,
            idle_seconds: 10,
        }
    }
}

/// Resident memory of `pid` in MiB, from /proc.
fn resident_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// The children of `pid` (WebKit's web and network processes).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|child| child.parse().ok())
        .collect()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Runs the benchmark; one JSON object.
pub fn run(options: &Options) -> anyhow::Result<serde_json::Value> {
    let binary = std::env::current_exe()?
        .parent()
        .context("the benchmark has a folder")?
        .join("orrery");
    if !binary.exists() {
        bail!(
            "{} is missing: `make package` (or cargo build --release -p orrery-desktop) builds it",
            binary.display()
        );
    }
    let display = VirtualDisplay::start();
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("dbus-daemon")?;
    let mut address = String::new();
    BufReader::new(bus.stdout.take().context("dbus-daemon's output")?).read_line(&mut address)?;

    let mut started_ms = Vec::new();
    let mut app_mib = Vec::new();
    let mut total_mib = Vec::new();
    for _ in 0..options.runs {
        let home = tempfile::tempdir()?;
        let log = home.path().join("orrery.log");
        let spawned = Instant::now();
        let mut app = Command::new(&binary)
            .env("DISPLAY", &display.display)
            .env("DBUS_SESSION_BUS_ADDRESS", address.trim())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env("ORRERY_LOG_FILE", &log)
            .env("ORRERY_SERVER_URL", "http://127.0.0.1:9")
            .env("WGPU_BACKEND", "vulkan")
            .env("NO_AT_BRIDGE", "1")
            .env("GTK_USE_PORTAL", "0")
            .env_remove("ORRERY_DATA_DIR")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = spawned + Duration::from_secs(120);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("the main window loaded") {
                started_ms.push(spawned.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if Instant::now() > deadline || app.try_wait()?.is_some() {
                let _ = app.kill();
                bail!("the app did not load its main window; its log:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_secs(options.idle_seconds));
        let own = resident_mib(app.id()).unwrap_or(0.0);
        let webkit: f64 = children(app.id())
            .into_iter()
            .filter_map(resident_mib)
            .sum();
        app_mib.push(own);
        total_mib.push(own + webkit);
        let _ = app.kill();
        let _ = app.wait();
    }
    let _ = bus.kill();
    let _ = bus.wait();
    Ok(serde_json::json!({
        "bench": "startup",
        "binary": binary.display().to_string(),
        "runs": options.runs,
        "to_main_window_ms": {
            "median": median(&mut started_ms.clone()),
            "min": started_ms.iter().copied().fold(f64::INFINITY, f64::min),
            "max": started_ms.iter().copied().fold(0.0, f64::max),
            "goal": 500,
        },
        "idle_rss_mib": {
            "app": median(&mut app_mib),
            "with_webkit": median(&mut total_mib),
            "goal": 150,
        },
    }))
}
