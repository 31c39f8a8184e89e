//! The real desktop app as a desktop citizen, each test on a private Xvfb,
//! a private session D-Bus and its own XDG folders (so it is "the user's
//! only copy"): a second launch brings the running copy forward and hands it
//! its arguments, then exits; an `orrery://graph/ID` link opens the graph on
//! the canvas, in the running copy or at start; the main and canvas
//! windows' sizes and places survive a restart (and a place no monitor shows
//! is not used); the log lands in the app's log folder.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orrery_domain::{Graph, GraphId};
use orrery_e2e::TestServer;
use orrery_e2e::display::VirtualDisplay;

/// How long the app may take to start, or to act (a cold WebKit under Xvfb).
const APP_TIMEOUT: Duration = Duration::from_secs(120);

/// A session bus of its own (the single-instance plugin meets the other
/// copy there).
struct SessionBus {
    process: Child,
    address: String,
}

impl SessionBus {
    fn start() -> Self {
        let mut process = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon is installed (make test installs it)");
        let mut address = String::new();
        BufReader::new(process.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        assert!(!address.trim().is_empty(), "dbus-daemon printed no address");
        Self {
            process,
            address: address.trim().to_owned(),
        }
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// One user's desktop: display, bus, XDG folders, and the server.
struct Desktop {
    display: VirtualDisplay,
    bus: SessionBus,
    home: tempfile::TempDir,
    server: String,
}

impl Desktop {
    fn new(server: &TestServer) -> Self {
        Self {
            display: VirtualDisplay::start(),
            bus: SessionBus::start(),
            home: tempfile::tempdir().unwrap(),
            server: server.url(),
        }
    }

    fn data(&self) -> PathBuf {
        self.home.path().join("data")
    }

    /// The app's data folder, as Tauri names it for this user.
    fn app_data(&self) -> PathBuf {
        self.data().join("studio.orrery.desktop")
    }

    fn log(&self) -> PathBuf {
        self.home.path().join("orrery.log")
    }

    fn command(&self, arguments: &[&str], log: Option<&Path>) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orrery"));
        command
            .args(arguments)
            .env("DISPLAY", &self.display.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus.address)
            .env("XDG_DATA_HOME", self.data())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("ORRERY_SERVER_URL", &self.server)
            .env(
                "ORRERY_KEYRING_SERVICE",
                format!("orrery-desktop-test-{}", uuid::Uuid::now_v7()),
            )
            .env("WGPU_BACKEND", "vulkan")
            .env("NO_AT_BRIDGE", "1")
            .env("GTK_USE_PORTAL", "0")
            .env_remove("ORRERY_DATA_DIR")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match log {
            Some(log) => command.env("ORRERY_LOG_FILE", log),
            None => command.env_remove("ORRERY_LOG_FILE"),
        };
        command
    }

    /// Starts the app; it is killed when the answer is dropped.
    fn launch(&self, arguments: &[&str]) -> Running {
        let process = self.command(arguments, Some(&self.log())).spawn().unwrap();
        let running = Running { process };
        self.wait_for_log(
            |log| log.contains("desktop shell started"),
            "the app to start",
        );
        running
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn wait_for_log(&self, accept: impl Fn(&str) -> bool, what: &str) {
        let deadline = Instant::now() + APP_TIMEOUT;
        while !accept(&self.log_text()) {
            assert!(
                Instant::now() < deadline,
                "waited for {what}; the log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn xdotool(&self, arguments: &[&str]) -> String {
        let output = Command::new("xdotool")
            .args(arguments)
            .env("DISPLAY", &self.display.display)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The id of the visible window named exactly `name`, once there is one.
    fn window(&self, name: &str) -> u64 {
        let deadline = Instant::now() + APP_TIMEOUT;
        loop {
            let found = self.xdotool(&["search", "--onlyvisible", "--name", &format!("^{name}$")]);
            if let Some(id) = found.lines().next().and_then(|id| id.parse().ok()) {
                return id;
            }
            assert!(Instant::now() < deadline, "no visible window `{name}`");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The window and its parents up to the root.
    fn ancestry(&self, window: u64) -> Vec<u64> {
        let mut chain = vec![window];
        let mut current = window;
        for _ in 0..16 {
            // (xwininfo asks for a click when given no window: never ask for 0.)
            if current == 0 {
                break;
            }
            let output = Command::new("xwininfo")
                .args(["-tree", "-id", &current.to_string()])
                .env("DISPLAY", &self.display.display)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&output.stdout);
            let Some(parent) = text
                .lines()
                .find_map(|line| line.trim().strip_prefix("Parent window id: "))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|hex| u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok())
            else {
                break;
            };
            if parent == 0 {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        chain
    }

    /// Whether the keyboard focus is in `window` (or a window inside it).
    fn focus_is_in(&self, window: u64) -> bool {
        self.xdotool(&["getwindowfocus", "-f"])
            .parse()
            .is_ok_and(|focused| self.ancestry(focused).contains(&window))
    }
}

struct Running {
    process: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Running {
    /// Ends the app as a session ending would (SIGTERM), and waits.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.process.id().to_string())
            .status();
        let _ = self.process.wait();
    }
}

/// Puts a graph named `name` in the local library of `desktop`'s user.
async fn seed_graph(desktop: &Desktop, name: &str) -> GraphId {
    std::fs::create_dir_all(desktop.app_data()).unwrap();
    let store = orrery_store::LocalStore::open(&desktop.app_data().join("local.db"))
        .await
        .unwrap();
    let replica = orrery_sync::Replica::new(store);
    let graph = replica.add_graph(Graph::new(name)).await.unwrap();
    graph.id
}

#[tokio::test(flavor = "multi_thread")]
async fn second_launch_focuses_first() {
    let server = TestServer::start().await.unwrap();
    let desktop = Desktop::new(&server);
    let first = desktop.launch(&[]);
    let main = desktop.window("Orrery");
    // The focus goes elsewhere (the root window), then the app is launched again.
    let root = desktop.xdotool(&["search", "--maxdepth", "0", "--name", ""]);
    let root = root.lines().next().unwrap_or("").to_owned();
    if !root.is_empty() {
        desktop.xdotool(&["windowfocus", &root]);
    }
    let mut second = desktop
        .command(&["--from-second-launch"], None)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + APP_TIMEOUT;
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the second launch did not exit");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "the second launch exits quietly: {status}"
    );
    desktop.wait_for_log(
        |log| log.contains("a second launch handed over") && log.contains("--from-second-launch"),
        "the first copy to hear the second launch's arguments",
    );
    let deadline = Instant::now() + APP_TIMEOUT;
    while !desktop.focus_is_in(main) {
        assert!(
            Instant::now() < deadline,
            "the first copy's main window did not take the focus"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        desktop.log_text().matches("desktop shell started").count(),
        1,
        "one copy ran"
    );
    // The log also lands in the log folder when no file is named.
    first.stop();
    let plain = desktop.command(&[], None).spawn().unwrap();
    let plain = Running { process: plain };
    let folder = desktop.data().join("studio.orrery.desktop/logs");
    let deadline = Instant::now() + APP_TIMEOUT;
    loop {
        let logged = std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| {
                std::fs::read_to_string(entry.path())
                    .is_ok_and(|text| text.contains("desktop shell started"))
            });
        if logged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing was logged in {}",
            folder.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(plain);
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_link_opens_graph() {
    let server = TestServer::start().await.unwrap();
    let desktop = Desktop::new(&server);
    let graph = seed_graph(&desktop, "Linked research").await;
    let link = format!("orrery://graph/{graph}");
    // Handed to the running copy by a second launch.
    let first = desktop.launch(&[]);
    desktop.window("Orrery");
    let status = desktop.command(&[&link], None).status().unwrap();
    assert!(status.success());
    desktop.window("Orrery canvas");
    desktop.wait_for_log(
        |log| log.contains("opening a deep link") && log.contains(&graph.to_string()),
        "the link to be opened",
    );
    first.stop();
    // At start.
    std::fs::remove_file(desktop.log()).unwrap();
    let again = desktop.launch(&[&link]);
    desktop.window("Orrery canvas");
    // A link to a graph that is not in the library says so, and opens nothing else.
    let missing = format!("orrery://graph/{}", GraphId::new());
    let status = desktop.command(&[&missing], None).status().unwrap();
    assert!(status.success());
    desktop.wait_for_log(
        |log| log.contains("a deep link's graph could not be opened"),
        "the missing graph to be reported",
    );
    drop(again);
}

/// The window's geometry as xdotool reports it: x, y, width, height.
fn geometry(desktop: &Desktop, window: &str) -> Option<(i64, i64, i64, i64)> {
    let geometry = desktop.xdotool(&["getwindowgeometry", "--shell", window]);
    let value = |key: &str| {
        geometry
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .and_then(|value| value.parse::<i64>().ok())
    };
    Some((value("X")?, value("Y")?, value("WIDTH")?, value("HEIGHT")?))
}

/// Waits until `window` stands at `expected` (x, y, width, height).
fn wait_for_geometry(desktop: &Desktop, window: &str, expected: (i64, i64, i64, i64)) {
    let deadline = Instant::now() + APP_TIMEOUT;
    loop {
        let now = geometry(desktop, window);
        if now == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the window stands at {now:?}, not {expected:?}; the log:\n{}",
            desktop.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the JSON file holds what `accept` looks for.
fn wait_for_saved(desktop: &Desktop, file: &Path, accept: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + APP_TIMEOUT;
    loop {
        let saved: serde_json::Value = std::fs::read_to_string(file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        if accept(&saved) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} was not saved as expected: {saved}; the log:\n{}",
            file.display(),
            desktop.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn window_state_survives_restart() {
    let server = TestServer::start().await.unwrap();
    let desktop = Desktop::new(&server);
    let graph = seed_graph(&desktop, "Placed research").await;
    let link = format!("orrery://graph/{graph}");
    let first = desktop.launch(&[&link]);
    let main = desktop.window("Orrery").to_string();
    let canvas = desktop.window("Orrery canvas").to_string();
    desktop.xdotool(&["windowsize", &main, "1000", "720"]);
    desktop.xdotool(&["windowmove", &main, "140", "90"]);
    desktop.xdotool(&["windowsize", &canvas, "700", "520"]);
    desktop.xdotool(&["windowmove", &canvas, "320", "210"]);
    // Each is saved as soon as its window is still: the main window by
    // Tauri's window-state plugin, the canvas (a Bevy window) by the app.
    let state = desktop
        .home
        .path()
        .join("config/studio.orrery.desktop/.window-state.json");
    wait_for_saved(&desktop, &state, |saved| {
        saved["main"]["width"] == 1000
            && saved["main"]["height"] == 720
            && saved["main"]["x"] == 140
    });
    let placement = desktop.app_data().join("canvas-window.json");
    wait_for_saved(&desktop, &placement, |saved| {
        *saved == serde_json::json!({ "x": 320, "y": 210, "width": 700, "height": 520 })
    });
    first.stop();

    let again = desktop.launch(&[&link]);
    let main = desktop.window("Orrery").to_string();
    wait_for_geometry(&desktop, &main, (140, 90, 1000, 720));
    let canvas = desktop.window("Orrery canvas").to_string();
    wait_for_geometry(&desktop, &canvas, (320, 210, 700, 520));
    drop(again);

    // A place no monitor shows (one unplugged since) is not used: the
    // canvas opens on the screen at its usual size.
    std::fs::write(
        &placement,
        r#"{ "x": 5000, "y": 4000, "width": 700, "height": 520 }"#,
    )
    .unwrap();
    std::fs::remove_file(desktop.log()).unwrap();
    let last = desktop.launch(&[&link]);
    let canvas = desktop.window("Orrery canvas").to_string();
    desktop.wait_for_log(
        |log| log.contains("saved place is on no monitor"),
        "the off-screen place to be dropped",
    );
    let (x, y, _, _) = geometry(&desktop, &canvas).expect("the canvas has a geometry");
    assert!(
        x < 1280 && y < 900,
        "the canvas opened on the screen, at {x},{y}"
    );
    drop(last);
}
