//! The real canvas binary in a real window on a private Xvfb display, drawing
//! with Mesa's lavapipe Vulkan driver on the CPU.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use orrery_canvas::{FrameReport, NodeOnScreen};
use orrery_domain::{Graph, sample_graph};
use orrery_e2e::display::VirtualDisplay;
use orrery_store::LocalStore;
use orrery_sync::Replica;
use serde_json::Value;

/// How long the canvas may take to compile its pipelines on a CPU rasteriser.
const CANVAS_TIMEOUT: Duration = Duration::from_secs(420);

/// The canvas binary, with its stdout lines arriving on a channel.
struct RunningCanvas {
    process: Child,
    lines: Receiver<String>,
}

/// The `SELECTED` and `STORED` lines name nodes by id.
fn node_ids(values: &Value) -> std::collections::BTreeSet<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|value| {
            value
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value["node"].as_str().unwrap().to_owned())
        })
        .collect()
}

impl RunningCanvas {
    fn start(display: &VirtualDisplay, store: &Path, graph: &Graph, extra: &[&str]) -> Self {
        let mut process = Command::new(env!("CARGO_BIN_EXE_canvas"))
            .arg("--store")
            .arg(store)
            .args([
                "--graph",
                &graph.id.to_string(),
                "--size",
                "960x640",
                "--report",
            ])
            .args(extra)
            .env("DISPLAY", &display.display)
            .env_remove("WAYLAND_DISPLAY")
            .env("WGPU_BACKEND", "vulkan")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the canvas binary");
        let stdout = process.stdout.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self { process, lines }
    }

    /// Sends one command line to the canvas's stdin.
    fn send(&mut self, command: &str) {
        use std::io::Write;
        let stdin = self.process.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the next line starting with `kind`, failing on `ERROR` lines.
    fn expect(&self, kind: &str) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(CANVAS_TIMEOUT)
                .unwrap_or_else(|_| panic!("the canvas did not print {kind} in time"));
            if let Some(json) = line.strip_prefix(&format!("{kind} ")) {
                return serde_json::from_str(json).unwrap();
            }
            assert!(!line.starts_with("ERROR"), "canvas failed: {line}");
        }
    }
}

impl Drop for RunningCanvas {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

async fn store_with(graph: &Graph, path: &Path) {
    let replica = Replica::new(LocalStore::open(path).await.unwrap());
    replica.add_graph(graph.clone()).await.unwrap();
    replica.store().close().await;
}

/// One canvas on its own display over a fresh store holding `graph`.
struct CanvasSession {
    // Fields drop in order: the canvas goes before its display.
    canvas: RunningCanvas,
    display: VirtualDisplay,
    runtime: tokio::runtime::Runtime,
    store: std::path::PathBuf,
    directory: tempfile::TempDir,
}

impl CanvasSession {
    fn start(graph: &Graph, extra: &[&str]) -> Self {
        let directory = tempfile::tempdir().unwrap();
        let store = directory.path().join("local.db");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(store_with(graph, &store));
        let display = VirtualDisplay::start();
        let canvas = RunningCanvas::start(&display, &store, graph, extra);
        Self {
            canvas,
            display,
            runtime,
            store,
            directory,
        }
    }

    /// Waits until the graph is on screen and returns where everything is.
    fn ready(&self) -> FrameReport {
        serde_json::from_value(self.canvas.expect("READY")).unwrap()
    }

    /// Focuses the canvas window and clicks a node (which selects it);
    /// returns the window id.
    fn click(&self, node: &NodeOnScreen) -> String {
        let window = canvas_window(&self.display);
        let (x, y) = (node.screen[0].round() as i32, node.screen[1].round() as i32);
        xdotool(
            &self.display,
            &[
                "windowfocus",
                "--sync",
                &window,
                "mousemove",
                "--sync",
                "--window",
                &window,
                &x.to_string(),
                &y.to_string(),
                "click",
                "1",
            ],
        );
        window
    }

    /// The graph as the canvas's store holds it now.
    fn stored(&self, graph: &Graph) -> Graph {
        self.runtime.block_on(async {
            let store = LocalStore::open(&self.store).await.unwrap();
            store.load_graph(graph.id).await.unwrap().unwrap()
        })
    }
}

/// An RGBA PNG's pixels and width.
fn read_png(path: &Path) -> (Vec<u8>, usize) {
    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Rgba);
    (pixels, frame.width as usize)
}

/// Nodes no nearer node covers, away from the status bar and the window edges.
fn unobstructed(report: &FrameReport) -> Vec<&NodeOnScreen> {
    report
        .nodes
        .iter()
        .enumerate()
        .filter(|(index, node)| {
            let [x, y] = node.screen;
            let margin = node.screen_radius + 2.0;
            let inside = x > margin
                && y > margin
                && x < report.viewport[0] - margin
                && y < report.panel_top - margin;
            let covered = report.nodes[..*index].iter().any(|nearer| {
                let distance =
                    ((nearer.screen[0] - x).powi(2) + (nearer.screen[1] - y).powi(2)).sqrt();
                distance < nearer.screen_radius + 3.0
            });
            let under_panel = overlaps_panel(report, node.screen, margin);
            inside && !covered && !under_panel && node.screen_radius >= 3.0
        })
        .map(|(_, node)| node)
        .collect()
}

/// Whether the square of half-size `reach` around `point` meets anything
/// the canvas draws over the graph (toolbar, inspector, labels, tooltip).
fn overlaps_panel(report: &FrameReport, point: [f32; 2], reach: f32) -> bool {
    report.covered.iter().any(|[min_x, min_y, max_x, max_y]| {
        point[0] + reach >= *min_x
            && point[0] - reach <= *max_x
            && point[1] + reach >= *min_y
            && point[1] - reach <= *max_y
    })
}

/// Hue in degrees and saturation (HSV) of an sRGB colour.
fn hue_and_saturation([r, g, b]: [u8; 3]) -> (f32, f32) {
    let (r, g, b) = (r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let chroma = max - min;
    if chroma == 0.0 {
        return (0.0, 0.0);
    }
    let hue = if max == r {
        60.0 * ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / chroma + 2.0)
    } else {
        60.0 * ((r - g) / chroma + 4.0)
    };
    (hue, chroma / max)
}

/// The kind whose colour is nearest in hue to a pixel.
fn kind_by_hue(pixel: [u8; 3], palette: &[(String, [u8; 3])]) -> String {
    let (hue, _) = hue_and_saturation(pixel);
    let distance = |other: f32| {
        let difference = (hue - other).abs();
        difference.min(360.0 - difference)
    };
    palette
        .iter()
        .min_by(|a, b| {
            distance(hue_and_saturation(a.1).0).total_cmp(&distance(hue_and_saturation(b.1).0))
        })
        .unwrap()
        .0
        .clone()
}

#[test]
fn canvas_renders_graph_headless() {
    let graph = sample_graph("Fifty agents", 50, 42);
    let mut session = CanvasSession::start(&graph, &[]);
    session.ready();
    let screenshot = session.directory.path().join("canvas.png");
    session
        .canvas
        .send(&format!("SCREENSHOT {}", screenshot.display()));
    let saved = session.canvas.expect("SCREENSHOT");
    let report: FrameReport = serde_json::from_value(saved["report"].clone()).unwrap();
    assert_eq!(report.graph, Some(graph.id));
    assert_eq!(
        report.nodes.len(),
        50,
        "every node is in front of the camera"
    );

    let (pixels, width) = read_png(&screenshot);
    let scale = report.scale_factor;
    let pixel_at = |x: f32, y: f32| {
        let (column, row) = ((x * scale) as usize, (y * scale) as usize);
        let offset = (row * width + column) * 4;
        [pixels[offset], pixels[offset + 1], pixels[offset + 2]]
    };

    let mut palette: Vec<(String, [u8; 3])> = report
        .nodes
        .iter()
        .map(|node| (node.kind.clone(), node.colour))
        .collect();
    palette.sort();
    palette.dedup();
    assert_eq!(palette.len(), 5, "the sample holds every kind");
    let checked = unobstructed(&report);
    assert!(
        checked.len() >= 20,
        "only {} nodes are unobstructed",
        checked.len()
    );
    // Around each projected centre (within half the node's radius on screen)
    // most pixels are bright, saturated and of the node's kind's hue; an edge
    // line crossing in front may cover a few of them.
    for node in &checked {
        let reach = node.screen_radius * 0.5;
        let mut matching = 0;
        let mut samples = Vec::new();
        for step_y in -2..=2 {
            for step_x in -2..=2 {
                let x = node.screen[0] + reach * step_x as f32 / 2.0;
                let y = node.screen[1] + reach * step_y as f32 / 2.0;
                let pixel = pixel_at(x, y);
                let brightness = pixel.iter().map(|&c| c as u32).sum::<u32>();
                let (_, saturation) = hue_and_saturation(pixel);
                if brightness > 120
                    && saturation > 0.25
                    && kind_by_hue(pixel, &palette) == node.kind
                {
                    matching += 1;
                }
                samples.push(pixel);
            }
        }
        assert!(
            matching >= 18,
            "{} node at {:?}: only {matching}/25 pixels have its colour: {samples:?}",
            node.kind,
            node.screen
        );
    }
    // Away from every node the canvas shows its background.
    let corner = pixel_at(3.0, 3.0);
    assert!(
        corner.iter().all(|&c| c < 40),
        "corner is background: {corner:?}"
    );
}

#[test]
fn canvas_drag_moves_node() {
    let graph = sample_graph("Draggable", 12, 7);
    let session = CanvasSession::start(&graph, &[]);
    let report = session.ready();

    // The unobstructed node farthest from the others on screen.
    let target = unobstructed(&report)
        .into_iter()
        .max_by(|a, b| {
            let isolation = |node: &NodeOnScreen| {
                report
                    .nodes
                    .iter()
                    .filter(|other| other.id != node.id)
                    .map(|other| {
                        ((other.screen[0] - node.screen[0]).powi(2)
                            + (other.screen[1] - node.screen[1]).powi(2))
                        .sqrt()
                    })
                    .fold(f32::MAX, f32::min)
            };
            isolation(a).total_cmp(&isolation(b))
        })
        .expect("some node is unobstructed")
        .clone();
    let (dx, dy) = (60.0_f32, -40.0_f32);
    let start = (target.screen[0].round(), target.screen[1].round());
    let window = canvas_window(&session.display);
    drag_with_xdotool(
        &session.display,
        &window,
        start,
        (start.0 + dx, start.1 + dy),
        None,
    );

    let stored = session.canvas.expect("STORED");
    assert_eq!(
        stored["moved"][0]["node"].as_str().unwrap(),
        target.id.to_string()
    );

    // On a plane facing the camera, a pointer move of (dx, dy) pixels moves the
    // node by right·dx − up·dy, scaled by its depth.
    let scale = target.depth * report.world_per_pixel_at_unit_depth;
    let expected: Vec<f32> = (0..3)
        .map(|axis| {
            target.position[axis]
                + (report.camera_right[axis] * dx - report.camera_up[axis] * dy) * scale
        })
        .collect();
    let moved = session.stored(&graph);
    let position = moved.nodes[&target.id].position;
    let tolerance = scale * 1.5;
    for (axis, actual) in [position.x, position.y, position.z].into_iter().enumerate() {
        assert!(
            (actual - expected[axis]).abs() <= tolerance,
            "axis {axis}: stored {actual}, expected {} (±{tolerance})",
            expected[axis]
        );
    }
    let travelled = ((position.x - target.position[0]).powi(2)
        + (position.y - target.position[1]).powi(2)
        + (position.z - target.position[2]).powi(2))
    .sqrt();
    assert!(travelled > scale * 50.0, "the node moved ({travelled})");
    // No other node moved.
    for (id, node) in &moved.nodes {
        if *id != target.id {
            assert_eq!(node.position, graph.nodes[id].position);
        }
    }

    // Ctrl+Z puts the node back, in the store too.
    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "ctrl+z"],
    );
    let undone = session.canvas.expect("STORED");
    assert_eq!(
        undone["moved"][0]["node"].as_str().unwrap(),
        target.id.to_string()
    );
    assert_eq!(
        session.stored(&graph),
        graph,
        "undo restores the graph exactly"
    );
}

fn xdotool(display: &VirtualDisplay, args: &[&str]) -> String {
    let output = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", &display.display)
        .output()
        .expect("xdotool is installed (make test installs it)");
    assert!(
        output.status.success(),
        "xdotool {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Distance between two nodes on screen.
fn screen_distance(a: &NodeOnScreen, b: [f32; 2]) -> f32 {
    ((a.screen[0] - b[0]).powi(2) + (a.screen[1] - b[1]).powi(2)).sqrt()
}

fn drag_with_xdotool(
    display: &VirtualDisplay,
    window: &str,
    from: (f32, f32),
    to: (f32, f32),
    held: Option<&str>,
) {
    let at = |point: (f32, f32)| {
        vec![
            "mousemove".to_owned(),
            "--sync".to_owned(),
            "--window".to_owned(),
            window.to_owned(),
            (point.0 as i32).to_string(),
            (point.1 as i32).to_string(),
        ]
    };
    // Keys go to the focused window.
    let mut script = vec![
        "windowfocus".to_owned(),
        "--sync".to_owned(),
        window.to_owned(),
    ];
    script.extend(at(from));
    if let Some(key) = held {
        script.extend(["keydown".into(), key.to_owned()]);
    }
    script.extend(["mousedown".into(), "1".into()]);
    for step in 1..=4 {
        let t = step as f32 / 4.0;
        script.extend(at((
            from.0 + (to.0 - from.0) * t,
            from.1 + (to.1 - from.1) * t,
        )));
    }
    script.extend(["mouseup".into(), "1".into()]);
    if let Some(key) = held {
        script.extend(["keyup".into(), key.to_owned()]);
    }
    xdotool(
        display,
        &script.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

fn canvas_window(display: &VirtualDisplay) -> String {
    let windows = xdotool(
        display,
        &["search", "--sync", "--name", orrery_canvas::WINDOW_TITLE],
    );
    windows
        .lines()
        .next()
        .expect("the canvas window exists")
        .to_owned()
}

#[test]
fn box_select_then_drag_moves_all_selected() {
    let graph = sample_graph("Box select", 30, 11);
    let session = CanvasSession::start(&graph, &[]);
    let (canvas, display) = (&session.canvas, &session.display);
    let report = session.ready();

    // A rectangle around an unobstructed node that holds at least two node
    // centres and starts on empty space.
    let free = unobstructed(&report);
    let (rectangle, expected) = free
        .iter()
        .flat_map(|anchor| [60.0_f32, 90.0, 120.0].map(move |half| (anchor, half)))
        .find_map(|(anchor, half)| {
            let min = [anchor.screen[0] - half, anchor.screen[1] - half];
            let max = [anchor.screen[0] + half, anchor.screen[1] + half];
            let on_screen = min[0] > 2.0
                && min[1] > 2.0
                && max[0] < report.viewport[0] - 2.0
                && max[1] < report.panel_top - 2.0
                && !report.covered.iter().any(|[x0, y0, x1, y1]| {
                    // The tool corner takes the pointer; labels and tooltips do not.
                    *y0 < 1.0 && max[0] >= *x0 && min[0] <= *x1 && min[1] <= *y1
                });
            let start_is_empty = report
                .nodes
                .iter()
                .all(|node| screen_distance(node, min) > node.screen_radius + 3.0);
            let inside: std::collections::BTreeSet<String> = report
                .nodes
                .iter()
                .filter(|node| {
                    (min[0]..=max[0]).contains(&node.screen[0])
                        && (min[1]..=max[1]).contains(&node.screen[1])
                })
                .map(|node| node.id.to_string())
                .collect();
            (on_screen && start_is_empty && inside.len() >= 2).then_some(((min, max), inside))
        })
        .expect("some rectangle holds two nodes");

    let window = canvas_window(display);
    drag_with_xdotool(
        display,
        &window,
        (rectangle.0[0], rectangle.0[1]),
        (rectangle.1[0], rectangle.1[1]),
        Some("shift"),
    );
    let selected = canvas.expect("SELECTED");
    assert_eq!(
        node_ids(&selected["nodes"]),
        expected,
        "box select picks the nodes inside"
    );

    // Drag one selected, unobstructed node: every selected node moves with it.
    let grabbed = free
        .iter()
        .find(|node| expected.contains(&node.id.to_string()))
        .expect("a selected node is unobstructed");
    let (dx, dy) = (50.0_f32, -30.0_f32);
    let start = (grabbed.screen[0].round(), grabbed.screen[1].round());
    drag_with_xdotool(display, &window, start, (start.0 + dx, start.1 + dy), None);
    let stored = canvas.expect("STORED");
    assert_eq!(
        node_ids(&stored["moved"]),
        expected,
        "every selected node moved, no other"
    );

    let scale = grabbed.depth * report.world_per_pixel_at_unit_depth;
    let delta: Vec<f32> = (0..3)
        .map(|axis| (report.camera_right[axis] * dx - report.camera_up[axis] * dy) * scale)
        .collect();
    let moved = session.stored(&graph);
    for (id, node) in &moved.nodes {
        let before = graph.nodes[id].position;
        if expected.contains(&id.to_string()) {
            let after = [node.position.x, node.position.y, node.position.z];
            let before = [before.x, before.y, before.z];
            for axis in 0..3 {
                assert!(
                    (after[axis] - before[axis] - delta[axis]).abs() <= scale * 1.5,
                    "node {id} axis {axis}: moved {} instead of {}",
                    after[axis] - before[axis],
                    delta[axis]
                );
            }
        } else {
            assert_eq!(node.position, before, "unselected node {id} stayed");
        }
    }
}

#[test]
fn selection_highlight_screenshot() {
    let graph = sample_graph("Highlight", 12, 5);
    let mut session = CanvasSession::start(&graph, &[]);
    let report = session.ready();
    let directory = session.directory.path().to_owned();
    let free = unobstructed(&report);
    assert!(free.len() >= 2, "two nodes are unobstructed");
    let (target, other) = (free[0].clone(), free[1].clone());

    let screenshot = |canvas: &mut RunningCanvas, name: &str| -> (Vec<u8>, usize) {
        let path = directory.join(name);
        canvas.send(&format!("SCREENSHOT {}", path.display()));
        canvas.expect("SCREENSHOT");
        read_png(&path)
    };
    let scale = report.scale_factor;
    // Mean brightness of the pixels within half a node's radius of its centre.
    let brightness = |(pixels, width): &(Vec<u8>, usize), node: &NodeOnScreen| {
        let reach = node.screen_radius * 0.5;
        let mut total = 0.0;
        for step_y in -2..=2 {
            for step_x in -2..=2 {
                let column = ((node.screen[0] + reach * step_x as f32 / 2.0) * scale) as usize;
                let row = ((node.screen[1] + reach * step_y as f32 / 2.0) * scale) as usize;
                let offset = (row * width + column) * 4;
                total += pixels[offset..offset + 3]
                    .iter()
                    .map(|&c| c as f32)
                    .sum::<f32>();
            }
        }
        total / 25.0
    };

    let before = screenshot(&mut session.canvas, "before.png");
    session.click(&target);
    let selected = session.canvas.expect("SELECTED");
    assert_eq!(node_ids(&selected["nodes"]), [target.id.to_string()].into());
    let after = screenshot(&mut session.canvas, "after.png");

    let (target_before, target_after) = (brightness(&before, &target), brightness(&after, &target));
    let (other_before, other_after) = (brightness(&before, &other), brightness(&after, &other));
    assert!(
        target_after > target_before * 1.2,
        "the selected node lights up: {target_before} -> {target_after}"
    );
    assert!(
        (other_after - other_before).abs() <= other_before * 0.05,
        "an unselected node looks the same: {other_before} -> {other_after}"
    );
}

#[test]
fn automatic_layout_is_one_undoable_edit() {
    let graph = sample_graph("Layout", 30, 3);
    let session = CanvasSession::start(&graph, &[]);
    session.ready();
    let window = canvas_window(&session.display);
    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "l"],
    );
    let laid_out = session.canvas.expect("STORED");
    let moved = node_ids(&laid_out["moved"]);
    assert!(
        moved.len() >= 25,
        "the layout moved most nodes ({})",
        moved.len()
    );
    let stored = session.stored(&graph);
    assert_ne!(stored, graph);
    assert!(stored.nodes.values().all(|node| node.position.is_valid()));
    // Connected nodes end up nearer each other than the sample's scatter put them, on average.
    let mean_edge_length = |graph: &Graph| {
        graph
            .edges
            .values()
            .map(|edge| {
                let (a, b) = (
                    graph.nodes[&edge.from].position,
                    graph.nodes[&edge.to].position,
                );
                ((a.x - b.x).powi(2) + (a.y - b.y).powi(2) + (a.z - b.z).powi(2)).sqrt()
            })
            .sum::<f32>()
            / graph.edges.len() as f32
    };
    assert!(mean_edge_length(&stored) < mean_edge_length(&graph));

    // One Ctrl+Z undoes the whole layout.
    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "ctrl+z"],
    );
    let undone = session.canvas.expect("STORED");
    assert_eq!(node_ids(&undone["moved"]), moved);
    assert_eq!(session.stored(&graph), graph);
}

#[test]
fn import_rejects_invalid_graph_and_keeps_open_one() {
    let graph = sample_graph("Open one", 10, 9);
    let mut session = CanvasSession::start(&graph, &[]);
    session.ready();
    let directory = session.directory.path().to_owned();
    let library = |session: &CanvasSession| {
        session.runtime.block_on(async {
            let store = LocalStore::open(&session.store).await.unwrap();
            store.list_graphs().await.unwrap().len()
        })
    };

    let mut file: serde_json::Value =
        serde_json::from_str(&orrery_domain::export_graph(&sample_graph("Other", 6, 2))).unwrap();
    file["edges"][0]["to"] = orrery_domain::NodeId::new().to_string().into();
    let dangling = directory.join("dangling.json");
    std::fs::write(&dangling, serde_json::to_vec(&file).unwrap()).unwrap();
    let malformed = directory.join("malformed.json");
    std::fs::write(&malformed, b"{\"format\": \"orrery.graph\",\n\"nodes\": [").unwrap();
    let unknown_kind = directory.join("unknown-kind.json");
    file["edges"] = serde_json::json!([]);
    file["nodes"][0]["kind"] = "wizard".into();
    std::fs::write(&unknown_kind, serde_json::to_vec(&file).unwrap()).unwrap();
    // Ten times the largest graph file, without writing it out (sparse).
    let oversized = directory.join("oversized.json");
    std::fs::File::create(&oversized)
        .unwrap()
        .set_len(orrery_domain::MAX_GRAPH_FILE_BYTES as u64 * 10)
        .unwrap();
    // A tool feeding an output (a data input does not take a tool), and two
    // agents feeding each other (a cycle).
    let (mut ports_graph, [_, _, tool, output]) = unconnected_graph();
    ports_graph
        .add_edge(orrery_domain::Edge::new(tool, output))
        .unwrap();
    let incompatible = directory.join("incompatible.json");
    std::fs::write(&incompatible, orrery_domain::export_graph(&ports_graph)).unwrap();
    let mut loop_graph = Graph::new("Loop");
    let agents = ["planner", "critic"].map(|label| {
        loop_graph.add_node(orrery_domain::Node::new(
            orrery_domain::NodeKind::Agent,
            label,
            orrery_domain::Position::default(),
        ))
    });
    for (from, to) in [(agents[0], agents[1]), (agents[1], agents[0])] {
        loop_graph
            .add_edge(orrery_domain::Edge::new(from, to))
            .unwrap();
    }
    let cycle = directory.join("cycle.json");
    std::fs::write(&cycle, orrery_domain::export_graph(&loop_graph)).unwrap();

    for (path, reason) in [
        (&dangling, "not in the graph"),
        (&malformed, "line 2"),
        (&unknown_kind, "wizard"),
        (&oversized, "at most"),
        (&incompatible, "data input does not accept tool"),
        (&cycle, "cycle"),
    ] {
        session.canvas.send(&format!("IMPORT {}", path.display()));
        let refused = session.canvas.expect("REFUSED");
        let said = refused["reason"].as_str().unwrap();
        assert!(
            said.contains(reason),
            "{}: `{said}` should mention `{reason}`",
            path.display()
        );
    }
    // Nothing was added and the open graph is as it was.
    assert_eq!(library(&session), 1);
    assert_eq!(session.stored(&graph), graph);

    // A valid file is added to the library and shown.
    let valid = directory.join("valid.json");
    let other = sample_graph("Imported", 7, 3);
    std::fs::write(&valid, orrery_domain::export_graph(&other)).unwrap();
    session.canvas.send(&format!("IMPORT {}", valid.display()));
    let imported = session.canvas.expect("IMPORTED");
    assert_eq!(imported["nodes"], 7);
    let shown = session.ready();
    assert_eq!(
        shown.graph.unwrap().to_string(),
        imported["graph"].as_str().unwrap()
    );
    assert_eq!(shown.nodes.len(), 7);
    assert_eq!(library(&session), 2);
}

#[test]
fn delete_removes_selected_nodes_with_their_edges_and_undo_restores_them() {
    let graph = sample_graph("Delete", 12, 8);
    let session = CanvasSession::start(&graph, &[]);
    let report = session.ready();
    // An unobstructed node that has edges.
    let target = unobstructed(&report)
        .into_iter()
        .find(|node| {
            graph
                .edges
                .values()
                .any(|edge| edge.from == node.id || edge.to == node.id)
        })
        .expect("an unobstructed node with edges")
        .clone();
    session.click(&target);
    session.canvas.expect("SELECTED");
    xdotool(&session.display, &["key", "Delete"]);
    let removed = session.canvas.expect("STORED");
    assert_eq!(
        node_ids(&removed["removed"]),
        [target.id.to_string()].into()
    );
    let stored = session.stored(&graph);
    assert!(!stored.nodes.contains_key(&target.id));
    assert!(
        stored
            .edges
            .values()
            .all(|edge| edge.from != target.id && edge.to != target.id)
    );
    assert_eq!(stored.nodes.len(), graph.nodes.len() - 1);

    xdotool(&session.display, &["key", "ctrl+z"]);
    let restored = session.canvas.expect("STORED");
    assert_eq!(node_ids(&restored["added"]), [target.id.to_string()].into());
    assert_eq!(
        session.stored(&graph),
        graph,
        "undo restores the node and its edges"
    );
}

#[test]
fn duplicate_and_paste_add_copies_that_undo_removes() {
    let graph = sample_graph("Copies", 12, 6);
    let session = CanvasSession::start(&graph, &[]);
    let report = session.ready();
    let target = unobstructed(&report)[0].clone();
    session.click(&target);
    session.canvas.expect("SELECTED");

    // Ctrl+D: one copy beside the original, with the same kind and label.
    xdotool(&session.display, &["key", "ctrl+d"]);
    let duplicated = session.canvas.expect("STORED");
    let copies = node_ids(&duplicated["added"]);
    assert_eq!(copies.len(), 1);
    assert!(!copies.contains(&target.id.to_string()));
    let stored = session.stored(&graph);
    assert_eq!(stored.nodes.len(), graph.nodes.len() + 1);
    let copy = stored
        .nodes
        .values()
        .find(|node| copies.contains(&node.id.to_string()))
        .unwrap();
    let original = &graph.nodes[&target.id];
    assert_eq!((copy.kind, &copy.label), (original.kind, &original.label));
    assert!((copy.position.x - original.position.x - 1.5).abs() < 1e-4);
    assert_eq!(
        (copy.position.y, copy.position.z),
        (original.position.y, original.position.z)
    );

    // Ctrl+C then Ctrl+V pastes another copy (of the selected copy).
    xdotool(&session.display, &["key", "ctrl+c", "key", "ctrl+v"]);
    let pasted = session.canvas.expect("STORED");
    assert_eq!(node_ids(&pasted["added"]).len(), 1);
    assert_eq!(session.stored(&graph).nodes.len(), graph.nodes.len() + 2);

    // Two undos remove both copies.
    xdotool(&session.display, &["key", "ctrl+z"]);
    session.canvas.expect("STORED");
    xdotool(&session.display, &["key", "ctrl+z"]);
    session.canvas.expect("STORED");
    assert_eq!(session.stored(&graph), graph);
}

/// Whether `point` lies inside the closed polygon `outline` (even-odd rule).
fn inside_polygon(point: [f32; 2], outline: &[[f32; 2]]) -> bool {
    let mut inside = false;
    let mut previous = outline[outline.len() - 1];
    for &current in outline {
        if (current[1] > point[1]) != (previous[1] > point[1]) {
            let crossing = previous[0]
                + (point[1] - previous[1]) / (current[1] - previous[1])
                    * (current[0] - previous[0]);
            if point[0] < crossing {
                inside = !inside;
            }
        }
        previous = current;
    }
    inside
}

/// Distance from `point` to the segment `a`–`b`.
fn distance_to_segment(point: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let length_squared = dx * dx + dy * dy;
    let t = (((point[0] - a[0]) * dx + (point[1] - a[1]) * dy) / length_squared).clamp(0.0, 1.0);
    let (x, y) = (a[0] + t * dx, a[1] + t * dy);
    ((point[0] - x).powi(2) + (point[1] - y).powi(2)).sqrt()
}

#[test]
fn lasso_select_with_alt_drag_selects_the_nodes_inside() {
    let graph = sample_graph("Lasso", 30, 13);
    let session = CanvasSession::start(&graph, &[]);
    let report = session.ready();

    // A star-shaped lasso around an unobstructed node: it holds at least two
    // node centres, none near its outline, and starts on empty space.
    let free = unobstructed(&report);
    let (outline, expected) = free
        .iter()
        .flat_map(|anchor| [70.0_f32, 100.0, 130.0].map(move |size| (anchor, size)))
        .find_map(|(anchor, size)| {
            let outline: Vec<[f32; 2]> = (0..10)
                .map(|corner| {
                    let angle = corner as f32 * std::f32::consts::TAU / 10.0;
                    let reach = if corner % 2 == 0 { size } else { size * 0.6 };
                    [
                        anchor.screen[0] + reach * angle.cos(),
                        anchor.screen[1] + reach * angle.sin(),
                    ]
                })
                .collect();
            let on_screen = outline.iter().all(|point| {
                point[0] > 2.0
                    && point[1] > 2.0
                    && point[0] < report.viewport[0] - 2.0
                    && point[1] < report.panel_top - 2.0
                    && !report.covered.iter().any(|[x0, y0, x1, y1]| {
                        *y0 < 1.0
                            && point[0] >= *x0 - 4.0
                            && point[1] <= *y1 + 4.0
                            && point[0] <= *x1
                    })
            });
            let clear_of_outline = report.nodes.iter().all(|node| {
                (0..outline.len()).all(|index| {
                    let next = outline[(index + 1) % outline.len()];
                    distance_to_segment(node.screen, outline[index], next) > 6.0
                })
            });
            let start_is_empty = report
                .nodes
                .iter()
                .all(|node| screen_distance(node, outline[0]) > node.screen_radius + 3.0);
            let inside: std::collections::BTreeSet<String> = report
                .nodes
                .iter()
                .filter(|node| inside_polygon(node.screen, &outline))
                .map(|node| node.id.to_string())
                .collect();
            (on_screen && clear_of_outline && start_is_empty && inside.len() >= 2)
                .then_some((outline, inside))
        })
        .expect("some lasso holds two nodes");

    let window = canvas_window(&session.display);
    let mut script: Vec<String> = ["windowfocus", "--sync", window.as_str()]
        .map(str::to_owned)
        .to_vec();
    let move_to = |point: [f32; 2], script: &mut Vec<String>| {
        script.extend([
            "mousemove".to_owned(),
            "--sync".to_owned(),
            "--window".to_owned(),
            window.clone(),
            (point[0] as i32).to_string(),
            (point[1] as i32).to_string(),
        ]);
    };
    move_to(outline[0], &mut script);
    script.extend(["keydown", "alt", "mousedown", "1"].map(str::to_owned));
    for point in outline.iter().skip(1).chain([&outline[0]]) {
        move_to(*point, &mut script);
    }
    script.extend(["mouseup", "1", "keyup", "alt"].map(str::to_owned));
    xdotool(
        &session.display,
        &script.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let selected = session.canvas.expect("SELECTED");
    assert_eq!(
        node_ids(&selected["nodes"]),
        expected,
        "the lasso selects exactly the nodes inside it"
    );
}

/// A graph of one node of each kind but agent, laid out in a row, unconnected.
fn unconnected_graph() -> (Graph, [orrery_domain::NodeId; 4]) {
    use orrery_domain::{Node, NodeKind, Position};
    let mut graph = Graph::new("Ports");
    let mut add = |kind, label: &str, x: f32, y: f32| {
        graph.add_node(Node::new(kind, label, Position::new(x, y, 0.0)))
    };
    let input = add(NodeKind::Input, "question", -6.0, 1.5);
    let prompt = add(NodeKind::Prompt, "template", -1.0, 1.5);
    let tool = add(NodeKind::Tool, "search", 2.0, -2.5);
    let output = add(NodeKind::Output, "report", 6.0, -2.5);
    (graph, [input, prompt, tool, output])
}

/// Drags from a node's output port (its right edge) to another node's centre.
fn drag_from_port(session: &CanvasSession, from: &NodeOnScreen, to: &NodeOnScreen) {
    let window = canvas_window(&session.display);
    let port = (from.screen[0] + from.screen_radius * 0.8, from.screen[1]);
    drag_with_xdotool(
        &session.display,
        &window,
        port,
        (to.screen[0], to.screen[1]),
        None,
    );
}

#[test]
fn connect_by_dragging_port_to_port_and_refuse_incompatible_types() {
    let (graph, [input, prompt, tool, output]) = unconnected_graph();
    let mut session = CanvasSession::start(&graph, &[]);
    let report = session.ready();
    let on_screen = |id: orrery_domain::NodeId| {
        report
            .nodes
            .iter()
            .find(|node| node.id == id)
            .expect("every node is on screen")
            .clone()
    };

    // Input (data) onto the prompt (a data input): one new edge, stored.
    drag_from_port(&session, &on_screen(input), &on_screen(prompt));
    let stored = session.canvas.expect("STORED");
    let connected = &stored["connected"][0];
    assert_eq!(connected["from"].as_str().unwrap(), input.to_string());
    assert_eq!(connected["from_port"], "out");
    assert_eq!(connected["to"].as_str().unwrap(), prompt.to_string());
    assert_eq!(connected["to_port"], "in");
    let edges = session.stored(&graph).edges;
    assert_eq!(edges.len(), 1);

    // A tool onto the output (a data input does not take a tool): refused,
    // the status bar says why, and nothing is stored.
    drag_from_port(&session, &on_screen(tool), &on_screen(output));
    let directory = session.directory.path().to_owned();
    let mut notice = None;
    for attempt in 0..10 {
        let path = directory.join(format!("refused-{attempt}.png"));
        session
            .canvas
            .send(&format!("SCREENSHOT {}", path.display()));
        let saved = session.canvas.expect("SCREENSHOT");
        let report: FrameReport = serde_json::from_value(saved["report"].clone()).unwrap();
        if report.notice.is_some() {
            notice = report.notice;
            break;
        }
    }
    let notice = notice.expect("the status bar shows why the connection was refused");
    assert!(
        notice.contains("data input does not accept tool") && notice.contains("search"),
        "{notice}"
    );
    assert_eq!(session.stored(&graph).edges.len(), 1);

    // Ctrl+Z takes the edge away again, in the store too.
    let window = canvas_window(&session.display);
    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "ctrl+z"],
    );
    let undone = session.canvas.expect("STORED");
    assert_eq!(undone["disconnected"].as_array().unwrap().len(), 1);
    assert_eq!(session.stored(&graph), graph);
}

/// Clicks the middle of a named panel control.
fn click_control(session: &CanvasSession, report: &FrameReport, name: &str) {
    let [min_x, min_y, max_x, max_y] = report
        .controls
        .get(name)
        .unwrap_or_else(|| panic!("no control `{name}` in {:?}", report.controls.keys()));
    let window = canvas_window(&session.display);
    let (x, y) = (
        ((min_x + max_x) / 2.0) as i32,
        ((min_y + max_y) / 2.0) as i32,
    );
    xdotool(
        &session.display,
        &[
            "windowfocus",
            "--sync",
            &window,
            "mousemove",
            "--sync",
            "--window",
            &window,
            &x.to_string(),
            &y.to_string(),
            "click",
            "1",
        ],
    );
}

/// Takes screenshots until the frame report shows what `wanted` looks for
/// (the canvas may see a key or click a frame after a command line).
fn report_until(
    session: &mut CanvasSession,
    what: &str,
    wanted: impl Fn(&FrameReport) -> bool,
) -> FrameReport {
    let directory = session.directory.path().to_owned();
    // A frame a screenshot; under a loaded machine (every canvas test at
    // once on two cores) the key may take many frames to land.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for attempt in 0.. {
        if std::time::Instant::now() > deadline {
            break;
        }
        let path = directory.join(format!("report-{}.png", attempt % 2));
        session
            .canvas
            .send(&format!("SCREENSHOT {}", path.display()));
        let saved = session.canvas.expect("SCREENSHOT");
        let report: FrameReport = serde_json::from_value(saved["report"].clone()).unwrap();
        if wanted(&report) {
            return report;
        }
    }
    panic!("the canvas never showed {what}");
}

#[test]
fn palette_adds_inspector_relabels_and_search_focuses_undoably() {
    let graph = sample_graph("Panels", 8, 4);
    let mut session = CanvasSession::start(&graph, &[]);
    let report = session.ready();

    // The palette adds a prompt node as one edit and selects it.
    click_control(&session, &report, "add prompt");
    let added = session.canvas.expect("STORED");
    let new_ids = node_ids(&added["added"]);
    assert_eq!(new_ids.len(), 1);
    let stored = session.stored(&graph);
    assert_eq!(stored.nodes.len(), graph.nodes.len() + 1);
    let new_node = stored
        .nodes
        .values()
        .find(|node| new_ids.contains(&node.id.to_string()))
        .unwrap()
        .clone();
    assert_eq!(new_node.kind, orrery_domain::NodeKind::Prompt);
    // It lands on a free spot: clear of every other node as the camera
    // sees them, so it covers none and none covers it.
    let dot = |a: [f32; 3], b: [f32; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let on_view = |p: orrery_domain::Position| {
        let p = [p.x, p.y, p.z];
        (dot(p, report.camera_right), dot(p, report.camera_up))
    };
    let (x, y) = on_view(new_node.position);
    for other in graph.nodes.values() {
        let (ox, oy) = on_view(other.position);
        let apart = ((x - ox).powi(2) + (y - oy).powi(2)).sqrt();
        assert!(
            apart >= 2.0,
            "the new node is {apart} from {} on screen",
            other.label
        );
    }

    // The inspector renames it: click its label field, replace the text, Enter.
    let report = report_until(&mut session, "the inspector", |report| {
        report.controls.contains_key("label")
    });
    click_control(&session, &report, "label");
    let window = canvas_window(&session.display);
    xdotool(
        &session.display,
        &[
            "windowfocus",
            "--sync",
            &window,
            "key",
            "End",
            "key",
            "--repeat",
            "30",
            "BackSpace",
            "type",
            "--delay",
            "30",
            "Summary prompt",
        ],
    );
    xdotool(&session.display, &["key", "Return"]);
    let relabelled = session.canvas.expect("STORED");
    assert_eq!(relabelled["relabelled"][0]["label"], "Summary prompt");
    assert_eq!(
        session.stored(&graph).nodes[&new_node.id].label,
        "Summary prompt"
    );

    // Two undos: the label, then the node.
    xdotool(&session.display, &["key", "ctrl+z"]);
    let undone = session.canvas.expect("STORED");
    assert_eq!(undone["relabelled"][0]["label"], new_node.label.as_str());
    xdotool(&session.display, &["key", "ctrl+z"]);
    let removed = session.canvas.expect("STORED");
    assert_eq!(node_ids(&removed["removed"]), new_ids);
    assert_eq!(session.stored(&graph), graph);

    // Search by name, then pick the result: that node is selected.
    let target = graph
        .nodes
        .values()
        .find(|node| node.label == "tool 3")
        .expect("the sample names its nodes by kind and number")
        .clone();
    let report = report_until(&mut session, "the search field", |report| {
        report.controls.contains_key("search")
    });
    click_control(&session, &report, "search");
    xdotool(&session.display, &["type", "--delay", "30", &target.label]);
    let result = format!("result {}", target.label);
    let report = report_until(&mut session, "the search result", |report| {
        report.controls.contains_key(&result)
    });
    assert_eq!(
        report
            .controls
            .keys()
            .filter(|name| name.starts_with("result "))
            .count(),
        1,
        "only one node is called {}",
        target.label
    );
    click_control(&session, &report, &result);
    loop {
        let selected = session.canvas.expect("SELECTED");
        if node_ids(&selected["nodes"]) == [target.id.to_string()].into() {
            break;
        }
    }
}

#[test]
fn keyboard_pans_the_view_with_wasd() {
    let graph = sample_graph("Pan", 12, 2);
    let mut session = CanvasSession::start(&graph, &[]);
    let report = session.ready();
    let before: std::collections::BTreeMap<String, [f32; 2]> = report
        .nodes
        .iter()
        .map(|node| (node.id.to_string(), node.screen))
        .collect();
    // Holding D (for half a second: the gesture, not a wait) pans right:
    // every node slides left on screen, none vertically.
    let window = canvas_window(&session.display);
    xdotool(
        &session.display,
        &[
            "windowfocus",
            "--sync",
            &window,
            "keydown",
            "d",
            "sleep",
            "0.5",
            "keyup",
            "d",
        ],
    );
    let moved = |report: &FrameReport| {
        report.nodes.iter().all(|node| {
            let [x, y] = before[&node.id.to_string()];
            node.screen[0] < x - 5.0 && (node.screen[1] - y).abs() < 1.0
        })
    };
    report_until(&mut session, "every node slid left", moved);
}

/// Holds a key for `seconds` (the gesture's length, not a wait).
fn hold_key(session: &CanvasSession, key: &str, seconds: &str) {
    let window = canvas_window(&session.display);
    xdotool(
        &session.display,
        &[
            "windowfocus",
            "--sync",
            &window,
            "keydown",
            key,
            "sleep",
            seconds,
            "keyup",
            key,
        ],
    );
}

/// The next report once the view has stopped moving (two reports in a row
/// place every node alike).
fn settled_report(session: &mut CanvasSession) -> FrameReport {
    let mut previous = report_until(session, "a report", |_| true);
    loop {
        let next = report_until(session, "a report", |_| true);
        let same = next.nodes.len() == previous.nodes.len()
            && next
                .nodes
                .iter()
                .zip(&previous.nodes)
                .all(|(a, b)| a.id == b.id && a.screen == b.screen);
        if same {
            return next;
        }
        previous = next;
    }
}

#[test]
fn labels_show_on_near_nodes_and_not_on_far_ones() {
    let graph = sample_graph("Labels", 12, 9);
    let mut session = CanvasSession::start(&graph, &[]);
    session.ready();
    // Only nodes drawn at least LABEL_MIN_RADIUS big carry a label (a big
    // one may go without, when its label would overlap another).
    let follows_the_rule = |report: &FrameReport| {
        let minimum = orrery_canvas::panels::LABEL_MIN_RADIUS;
        report
            .nodes
            .iter()
            .all(|node| !report.labelled.contains(&node.id) || node.screen_radius >= minimum - 0.5)
    };

    // Far away (hold minus to zoom out): fewer labels, none on small nodes.
    hold_key(&session, "minus", "1.0");
    let far = settled_report(&mut session);
    assert!(follows_the_rule(&far), "{:?}", far.labelled);

    // Near (hold equals to zoom in): the big nodes are labelled.
    hold_key(&session, "equal", "1.5");
    let near = settled_report(&mut session);
    assert!(!near.labelled.is_empty(), "near nodes have labels");
    assert!(near.labelled.len() >= far.labelled.len());
    assert!(follows_the_rule(&near), "{:?}", near.labelled);
}

/// No two labels overlap: each template as it opens, and a 500-node sample
/// framed and then zoomed in. A template's few nodes are every one labelled.
#[test]
fn labels_never_overlap() {
    let disjoint = |report: &FrameReport, what: &str| {
        assert_eq!(report.label_rects.len(), report.labelled.len());
        for (i, a) in report.label_rects.iter().enumerate() {
            for b in &report.label_rects[i + 1..] {
                let apart = a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1];
                assert!(apart, "{what}: labels {a:?} and {b:?} overlap");
            }
        }
    };
    for template in orrery_domain::templates::templates("2026-12-06T10:00:00.000Z") {
        let mut session = CanvasSession::start(&template.graph, &[]);
        session.ready();
        let report = settled_report(&mut session);
        disjoint(&report, template.key);
        assert_eq!(
            report.labelled.len(),
            template.graph.nodes.len(),
            "{}: every node of a template is labelled",
            template.key
        );
    }
    let graph = sample_graph("Crowd", 500, 12);
    let mut session = CanvasSession::start(&graph, &[]);
    session.ready();
    let framed = settled_report(&mut session);
    disjoint(&framed, "500 nodes, framed");
    hold_key(&session, "equal", "1.0");
    let near = settled_report(&mut session);
    disjoint(&near, "500 nodes, near");
    assert!(!near.labelled.is_empty(), "near nodes have labels");
}

/// Researcher → Writer and Researcher → Editor, far enough apart to be seen.
fn sandbox_team() -> (Graph, [orrery_domain::NodeId; 3]) {
    use orrery_domain::{Edge, Node, NodeKind, Position};
    let mut graph = Graph::new("Lisbon desk");
    let researcher = Node::new(NodeKind::Agent, "Researcher", Position::new(0.0, 0.0, 0.0));
    let writer = Node::new(NodeKind::Agent, "Writer", Position::new(4.0, 1.5, 0.0));
    let editor = Node::new(NodeKind::Agent, "Editor", Position::new(4.0, -1.5, 0.0));
    let ids = [researcher.id, writer.id, editor.id];
    for node in [researcher, writer, editor] {
        graph.add_node(node);
    }
    graph.add_edge(Edge::new(ids[0], ids[1])).unwrap();
    graph.add_edge(Edge::new(ids[0], ids[2])).unwrap();
    (graph, ids)
}

#[test]
fn chat_panel_streams_a_run_screenshot() {
    use orrery_runtime::ProviderKind;
    use orrery_runtime::double::{ProviderDouble, RecordedRequest, Reply};

    const STREAMED: &str = "Lisbon has seven hills, yellow trams and custard tarts.";
    let (graph, [researcher, writer, editor]) = sandbox_team();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let double = runtime.block_on(ProviderDouble::start()).unwrap();
    let plan = format!(
        r#"{{"steps": [
            {{"id": "s1", "agent": "{researcher}", "task": "Collect facts."}},
            {{"id": "s2", "agent": "{writer}", "task": "Write the line.", "depends_on": ["s1"]}},
            {{"id": "s3", "agent": "{editor}", "task": "Edit the line.", "depends_on": ["s1"]}}
        ], "final": ["s2", "s3"]}}"#
    );
    double.set_responder(move |request: &RecordedRequest| {
        let system = request.system().unwrap_or_default();
        Some(if system.contains("manager of a team") {
            Reply::text(plan.clone())
        } else {
            // The researcher streams its answer in pieces, then goes quiet:
            // the run is caught mid-stream.
            Reply::stall(STREAMED, 6)
        })
    });
    let provider = double.base_url(ProviderKind::OpenAiCompatible);
    let mut session = CanvasSession::start(&graph, &["--provider", &provider]);
    let report = session.ready();
    assert!(!report.chat.running);
    assert!(report.chat.lines.is_empty());
    assert_eq!(report.chat.allowance, None, "no plan applies until told");

    // What the desktop says is left after a sync shows under the box.
    session.canvas.send("ALLOWANCE 3 12000");
    session.canvas.send("RUN Describe Lisbon in one line.");
    let directory = session.directory.path().to_owned();
    // Screenshots until every streamed piece is on the panel (each one is a
    // frame drawn after the last piece arrived or not; bounded, no sleeps).
    let mut shot = 0;
    let mut screenshot = || {
        shot += 1;
        let path = directory.join(format!("run-{shot}.png"));
        session
            .canvas
            .send(&format!("SCREENSHOT {}", path.display()));
        let saved = session.canvas.expect("SCREENSHOT");
        let report: FrameReport = serde_json::from_value(saved["report"].clone()).unwrap();
        (path, report)
    };
    for attempt in 0.. {
        assert!(attempt < 400, "the streamed answer never showed in full");
        let (_, report) = screenshot();
        if report.chat.streaming.get("s1").map(String::as_str) == Some(STREAMED) {
            break;
        }
    }
    // One frame more: the view makes room for the panel the frame after it opens.
    let (path, report) = screenshot();
    // To look at the panel: ORRERY_KEEP_SCREENSHOT=/tmp/chat.png.
    if let Ok(keep) = std::env::var("ORRERY_KEEP_SCREENSHOT") {
        std::fs::copy(&path, keep).unwrap();
    }

    // The panel: the task, the manager's plan, the researcher answering; the
    // timeline shows it running; its node is lit.
    let chat = &report.chat;
    assert!(chat.running);
    assert_eq!(
        chat.allowance.as_deref(),
        Some("Left this period: 3 runs · 12,000 tokens")
    );
    assert_eq!(chat.lines[0].text, "Describe Lisbon in one line.");
    assert!(
        chat.lines[1]
            .text
            .starts_with("Plan:\ns1. Researcher — Collect facts.")
    );
    assert_eq!(chat.running_nodes, vec![researcher]);
    let states: Vec<(String, orrery_canvas::chat::StepState)> = chat
        .timeline
        .iter()
        .map(|step| (step.agent.clone(), step.state))
        .collect();
    use orrery_canvas::chat::StepState::{Running, Waiting};
    assert_eq!(
        states,
        [
            ("Researcher".to_owned(), Running),
            ("Writer".to_owned(), Waiting),
            ("Editor".to_owned(), Waiting)
        ]
    );

    // On screen: the panel is drawn at the left with text in it, and the
    // running node is drawn in the running colour (amber), the others in
    // their kind's blue.
    let (pixels, width) = read_png(&path);
    let scale = report.scale_factor;
    let pixel = |x: f32, y: f32| {
        let offset = (((y * scale) as usize) * width + (x * scale) as usize) * 4;
        [pixels[offset], pixels[offset + 1], pixels[offset + 2]]
    };
    let panel = *report
        .covered
        .iter()
        .find(|area| area[0] <= 1.0 && area[2] >= 300.0)
        .unwrap_or_else(|| panic!("the chat panel is at the left: {:?}", report.covered));
    let mut bright = 0;
    for y in (panel[1] as usize..panel[3] as usize).step_by(2) {
        for x in (panel[0] as usize..panel[2] as usize).step_by(2) {
            if pixel(x as f32, y as f32)
                .iter()
                .map(|&c| c as u32)
                .sum::<u32>()
                > 400
            {
                bright += 1;
            }
        }
    }
    assert!(
        bright > 200,
        "the panel shows text: {bright} bright samples"
    );
    let on_screen = |id| report.nodes.iter().find(|node| node.id == id).unwrap();
    let (lit, plain) = (on_screen(researcher), on_screen(writer));
    for node in [lit, plain] {
        assert!(
            node.screen[0] > panel[2] + node.screen_radius,
            "{:?} is beside the panel {panel:?}: {:?}",
            node.id,
            report.nodes
        );
    }
    let (lit_hue, _) = hue_and_saturation(pixel(lit.screen[0], lit.screen[1]));
    let (plain_hue, _) = hue_and_saturation(pixel(plain.screen[0], plain.screen[1]));
    assert!(
        (25.0..=60.0).contains(&lit_hue),
        "the running node is amber: hue {lit_hue}"
    );
    assert!(
        (190.0..=240.0).contains(&plain_hue),
        "a waiting agent stays blue: hue {plain_hue}"
    );
    let _ = std::fs::create_dir_all("test-results");
    let _ = std::fs::copy(&path, "test-results/chat-panel-streaming.png");

    // Cancel: every call stops, the chat says so, the node is no longer lit.
    session.canvas.send("CANCEL");
    loop {
        let update = session.canvas.expect("RUN");
        if update["update"] == "ended" {
            assert_eq!(update["reason"], "Run cancelled.");
            break;
        }
    }
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), double.wait_in_flight(0))
            .await
            .expect("every call closed")
    });
}

#[test]
fn hovering_a_node_shows_its_tooltip_with_kind_and_ports() {
    let graph = sample_graph("Hover", 12, 9);
    let mut session = CanvasSession::start(&graph, &[]);
    let report = session.ready();
    assert_eq!(report.tooltip, None, "no tooltip before the pointer moves");
    let target = unobstructed(&report)[0].clone();
    let window = canvas_window(&session.display);
    // The pointer moves in from a corner of empty space onto the node.
    let (x, y) = (
        target.screen[0].round() as i32,
        target.screen[1].round() as i32,
    );
    xdotool(
        &session.display,
        &[
            "windowfocus",
            "--sync",
            &window,
            "mousemove",
            "--sync",
            "--window",
            &window,
            "5",
            "5",
            "mousemove",
            "--sync",
            "--window",
            &window,
            &x.to_string(),
            &y.to_string(),
        ],
    );
    let report = report_until(&mut session, "a tooltip for the hovered node", |report| {
        report
            .tooltip
            .as_ref()
            .is_some_and(|(node, _)| *node == target.id)
    });
    let (_, text) = report.tooltip.clone().unwrap();
    let node = &graph.nodes[&target.id];
    let inputs: Vec<String> = orrery_domain::input_ports(node.kind)
        .iter()
        .map(|port| format!("{} ({})", port.name, port.port_type))
        .collect();
    assert!(
        text.starts_with(&format!("{} · {}", node.label, node.kind)),
        "{text}"
    );
    assert!(
        text.contains(&format!("in: {}", inputs.join(", "))),
        "{text}"
    );
    // The tooltip sits beside the pointer and is reported as covering the graph.
    assert!(
        report
            .covered
            .iter()
            .any(|area| area[0] >= x as f32 && area[1] >= y as f32 && area[0] < x as f32 + 40.0),
        "{:?}",
        report.covered
    );

    // Away from every node, the tooltip goes.
    xdotool(
        &session.display,
        &["mousemove", "--sync", "--window", &window, "60", "200"],
    );
    report_until(&mut session, "no tooltip over empty space", |report| {
        report.tooltip.is_none()
    });
}

#[test]
fn ctrl_drag_snaps_the_moved_node_to_the_grid() {
    let graph = sample_graph("Snapping", 12, 7);
    let session = CanvasSession::start(&graph, &[]);
    let report = session.ready();
    let target = unobstructed(&report)[0].clone();
    let (dx, dy) = (70.0_f32, 45.0_f32);
    let start = (target.screen[0].round(), target.screen[1].round());
    let window = canvas_window(&session.display);
    drag_with_xdotool(
        &session.display,
        &window,
        start,
        (start.0 + dx, start.1 + dy),
        Some("ctrl"),
    );

    let stored = session.canvas.expect("STORED");
    assert_eq!(
        stored["moved"][0]["node"].as_str().unwrap(),
        target.id.to_string()
    );
    let moved = session.stored(&graph);
    let position = moved.nodes[&target.id].position;
    let step = orrery_canvas::drag::SNAP_STEP;
    // Every axis on the grid…
    for actual in [position.x, position.y, position.z] {
        let off_grid = (actual / step - (actual / step).round()).abs() * step;
        assert!(off_grid < 1e-3, "{actual} is not a multiple of {step}");
    }
    // …and within half a grid step of where the pointer took it.
    let scale = target.depth * report.world_per_pixel_at_unit_depth;
    for axis in 0..3 {
        let unsnapped = target.position[axis]
            + (report.camera_right[axis] * dx - report.camera_up[axis] * dy) * scale;
        let actual = [position.x, position.y, position.z][axis];
        assert!(
            (actual - unsnapped).abs() <= step / 2.0 + scale * 1.5,
            "axis {axis}: {actual} is too far from {unsnapped}"
        );
    }
    for (id, node) in &moved.nodes {
        if *id != target.id {
            assert_eq!(node.position, graph.nodes[id].position);
        }
    }
}

/// The palette offers the library's agents (a custom agent marked as a
/// team) and adds a node naming the one clicked; the inspector says what an
/// agent or prompt node is in the library.
#[test]
fn palette_offers_library_agents_and_the_inspector_names_custom_agents_and_prompts() {
    use orrery_domain::{Agent, Node, NodeKind, Position, Prompt, PromptValidator, Validator};
    let mut desk_team = Graph::new("Desk team");
    desk_team.add_node(Node::new(
        NodeKind::Agent,
        "Archivist",
        Position::new(0.0, 0.0, 0.0),
    ));
    let mut graph = Graph::new("Article");
    let sheet = Node::new(
        NodeKind::Prompt,
        "Fact sheet",
        Position::new(-2.0, -1.0, 0.0),
    );
    let writer = Node::new(NodeKind::Agent, "Writer", Position::new(2.0, -1.0, 0.0));
    graph.add_node(sheet.clone());
    graph.add_node(writer.clone());
    // Corners, so that the two nodes clicked sit in the middle of the view.
    for (x, y) in [(-9.0, -6.0), (9.0, 6.0), (-9.0, 6.0), (9.0, -6.0)] {
        graph.add_node(Node::new(
            NodeKind::Input,
            "Corner",
            Position::new(x, y, 0.0),
        ));
    }

    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("local.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let replica = Replica::new(LocalStore::open(&store).await.unwrap());
        replica.add_graph(graph.clone()).await.unwrap();
        replica.add_graph(desk_team.clone()).await.unwrap();
        let mut desk = Agent::new("Research desk");
        desk.graph = Some(desk_team.id);
        replica.save_agent(&desk).await.unwrap();
        let mut prompt = Prompt::new("Fact sheet");
        prompt.validators = vec![PromptValidator::on_output(Validator::Contains {
            text: "Sources:".into(),
            ignore_case: false,
        })];
        let prompt = replica.save_prompt(&prompt).await.unwrap();
        replica
            .add_prompt_version(prompt.id, "List facts.")
            .await
            .unwrap();
        let second = replica
            .add_prompt_version(prompt.id, "List facts with sources.")
            .await
            .unwrap();
        replica
            .publish_prompt_version(prompt.id, second.id)
            .await
            .unwrap();
        replica.store().close().await;
    });
    let display = VirtualDisplay::start();
    let canvas = RunningCanvas::start(&display, &store, &graph, &[]);
    let mut session = CanvasSession {
        canvas,
        display,
        runtime,
        store,
        directory,
    };
    let report = session.ready();
    assert!(
        !report.controls.contains_key("library Writer"),
        "only library agents are offered"
    );

    // The custom agent from the palette: one new agent node naming it,
    // selected, and the inspector says it runs its graph.
    click_control(&session, &report, "library Research desk");
    let added = session.canvas.expect("STORED");
    let new_ids = node_ids(&added["added"]);
    assert_eq!(new_ids.len(), 1);
    let stored = session.stored(&graph);
    let new_node = stored
        .nodes
        .values()
        .find(|node| new_ids.contains(&node.id.to_string()))
        .unwrap();
    assert_eq!(
        (new_node.kind, new_node.label.as_str()),
        (NodeKind::Agent, "Research desk")
    );
    let report = report_until(&mut session, "the custom agent's inspector", |report| {
        report.inspector.is_some()
    });
    assert_eq!(
        report.inspector.as_deref(),
        Some("Custom agent: runs the graph “Desk team” as its team")
    );

    // The prompt node: its library prompt's active version and checks.
    let on_screen = |report: &FrameReport, id| {
        report
            .nodes
            .iter()
            .find(|node| node.id == id)
            .cloned()
            .expect("on screen")
    };
    for (node, says) in [
        (
            sheet.id,
            "Library prompt: version 2 of 2 is active · 1 check on answers",
        ),
        (writer.id, "Not in the library: runs as a plain agent"),
    ] {
        let target = on_screen(&report, node);
        assert!(
            unobstructed(&report).iter().any(|free| free.id == node),
            "nothing is drawn over {target:?}: {:?}",
            report.covered
        );
        session.click(&target);
        let selected = session.canvas.expect("SELECTED");
        assert_eq!(node_ids(&selected["nodes"]), [node.to_string()].into());
        let shown = report_until(&mut session, says, |report| {
            report.inspector.as_deref() == Some(says)
        });
        assert_eq!(shown.inspector.as_deref(), Some(says));
    }
}

/// Every template, and a pipeline in a tall narrow window, opens with every
/// node inside the view (clear of the status bar) and large enough to read.
#[test]
fn graph_opens_framed_with_readable_nodes() {
    let at = "2026-12-06T10:00:00.000Z";
    for (template, size) in orrery_domain::templates::templates(at)
        .into_iter()
        .zip(["960x640", "600x800", "1280x720", "800x600"])
    {
        let graph = template.graph;
        let mut session = CanvasSession::start(&graph, &["--size", size]);
        session.ready();
        // The screenshot is kept for review beside the build
        // (target/tmp/framed-<template>-<size>.png).
        let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("framed-{}-{size}.png", template.key));
        session
            .canvas
            .send(&format!("SCREENSHOT {}", screenshot.display()));
        let saved = session.canvas.expect("SCREENSHOT");
        let report: FrameReport = serde_json::from_value(saved["report"].clone()).unwrap();
        assert_eq!(
            report.nodes.len(),
            graph.nodes.len(),
            "{}: a node is behind the camera",
            graph.name
        );
        let [width, _] = report.viewport;
        for node in &report.nodes {
            let [x, y] = node.screen;
            let r = node.screen_radius;
            assert!(
                x - r >= 0.0 && x + r <= width && y - r >= 0.0 && y + r <= report.panel_top,
                "{} at {size}: a node at ({x}, {y}) r {r} is not wholly in the view ({width} × {})",
                graph.name,
                report.panel_top
            );
        }
        let mut widths: Vec<f32> = report
            .nodes
            .iter()
            .map(|node| node.screen_radius * 2.0)
            .collect();
        widths.sort_by(f32::total_cmp);
        let median = widths[widths.len() / 2];
        assert!(
            median >= 24.0,
            "{} at {size}: the median node is {median} px wide",
            graph.name
        );
    }
}

/// The status bar is one short line; `?` (or its button) opens the list of
/// shortcuts over the canvas, and Esc closes it.
#[test]
fn question_mark_lists_the_shortcuts_and_the_status_bar_keeps_one_line() {
    let template = orrery_domain::templates::template("research-team", "2026-12-06T10:00:00.000Z")
        .expect("the research team template");
    let mut session = CanvasSession::start(&template.graph, &["--size", "800x600"]);
    session.ready();
    let before = settled_report(&mut session);
    let bar = before.viewport[1] - before.panel_top;
    assert!(
        bar <= 34.0,
        "the status bar is {bar} px tall: more than one line"
    );
    assert!(before.controls.contains_key("shortcuts button"));
    assert!(!before.controls.contains_key("shortcuts"));

    let window = canvas_window(&session.display);
    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "question"],
    );
    let open = report_until(&mut session, "the shortcuts", |report| {
        report.controls.contains_key("shortcuts")
    });
    let [x0, y0, x1, y1] = open.controls["shortcuts"];
    assert!(
        x1 - x0 > 200.0 && y1 - y0 > 150.0,
        "the list is readable: {x0},{y0} {x1},{y1}"
    );
    assert!(x0 >= 0.0 && x1 <= open.viewport[0] && y0 >= 0.0 && y1 <= open.viewport[1]);

    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "Escape"],
    );
    report_until(&mut session, "the shortcuts closed", |report| {
        !report.controls.contains_key("shortcuts")
    });
}

/// Dragging empty space with the left button, as a real pointer does
/// (xdotool through the X server), orbits the camera: the graph turns and
/// no node moves in the document.
#[test]
fn mouse_drag_orbits_the_camera() {
    let template = orrery_domain::templates::template("code-review", "2026-12-06T10:00:00.000Z")
        .expect("the code review template");
    let graph = template.graph;
    let mut session = CanvasSession::start(&graph, &[]);
    session.ready();
    let before = settled_report(&mut session);
    // Empty space: the upper middle of the view, above the row of nodes and
    // clear of the toolbar at the right and the chat handle at the left.
    let from = (before.viewport[0] * 0.45, before.viewport[1] * 0.15);
    assert!(
        before.nodes.iter().all(|node| {
            let (dx, dy) = (node.screen[0] - from.0, node.screen[1] - from.1);
            (dx * dx + dy * dy).sqrt() > node.screen_radius + 20.0
        }),
        "the drag starts on empty space"
    );
    let window = canvas_window(&session.display);
    drag_with_xdotool(
        &session.display,
        &window,
        from,
        (from.0 + 160.0, from.1 + 60.0),
        None,
    );
    let after = report_until(&mut session, "the camera turned", |report| {
        let dot: f32 = report
            .camera_right
            .iter()
            .zip(&before.camera_right)
            .map(|(a, b)| a * b)
            .sum();
        dot < 0.99
    });
    // Turned, not moved: the nodes' world positions are as they were.
    for node in &after.nodes {
        let original = &graph.nodes[&node.id].position;
        assert!(
            (node.position[0] - original.x).abs() < 1e-4
                && (node.position[1] - original.y).abs() < 1e-4
        );
    }
    assert_eq!(session.stored(&graph), graph, "orbiting stored no edit");
}

/// After L the camera frames the laid-out graph, and R frames it again:
/// every node is wholly in view both times.
#[test]
fn layout_then_frame_keeps_every_node_on_screen() {
    let graph = sample_graph("Spread", 80, 21);
    let mut session = CanvasSession::start(&graph, &["--size", "800x600"]);
    session.ready();
    let in_view = |report: &FrameReport| {
        report.nodes.len() == 80
            && report.nodes.iter().all(|node| {
                let [x, y] = node.screen;
                let r = node.screen_radius;
                x - r >= 0.0
                    && x + r <= report.viewport[0]
                    && y - r >= 0.0
                    && y + r <= report.panel_top
            })
    };
    let window = canvas_window(&session.display);
    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "l"],
    );
    session.canvas.expect("STORED");
    report_until(&mut session, "every node framed after the layout", in_view);
    // Zoom in far, then R brings every node back into view.
    hold_key(&session, "equal", "1.0");
    let zoomed = settled_report(&mut session);
    assert!(!in_view(&zoomed), "zooming in put some node out of view");
    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "r"],
    );
    report_until(&mut session, "every node framed after R", in_view);
}

/// Typing a task and pressing Ctrl+Enter straight after, as a fast typist
/// does (the last letters and the shortcut in one frame), runs exactly the
/// task typed: no letter is lost.
#[test]
fn ctrl_enter_sends_the_whole_task() {
    use orrery_runtime::ProviderKind;
    use orrery_runtime::double::{ProviderDouble, RecordedRequest, Reply};

    const TASK: &str = "Describe Lisbon";
    let (graph, [researcher, _, _]) = sandbox_team();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let double = runtime.block_on(ProviderDouble::start()).unwrap();
    let plan = format!(
        r#"{{"steps": [{{"id": "s1", "agent": "{researcher}", "task": "Collect facts."}}]}}"#
    );
    double.set_responder(move |request: &RecordedRequest| {
        let system = request.system().unwrap_or_default();
        Some(if system.contains("manager of a team") {
            Reply::text(plan.clone())
        } else {
            Reply::text("Seven hills.")
        })
    });
    let provider = double.base_url(ProviderKind::OpenAiCompatible);
    let mut session = CanvasSession::start(&graph, &["--provider", &provider]);
    let report = session.ready();
    let window = canvas_window(&session.display);
    let centre = |rect: [f32; 4]| {
        (
            ((rect[0] + rect[2]) / 2.0) as i32,
            ((rect[1] + rect[3]) / 2.0) as i32,
        )
    };
    let (x, y) = centre(report.controls["open chat"]);
    xdotool(
        &session.display,
        &[
            "windowfocus",
            "--sync",
            &window,
            "mousemove",
            "--window",
            &window,
            &x.to_string(),
            &y.to_string(),
            "click",
            "1",
        ],
    );
    let opened = report_until(&mut session, "the chat input", |report| {
        report.controls.contains_key("chat input")
    });
    let (x, y) = centre(opened.controls["chat input"]);
    // One xdotool call: the letters and Ctrl+Enter as fast as X takes them.
    let mut keys: Vec<String> = vec![
        "mousemove".into(),
        "--window".into(),
        window.clone(),
        x.to_string(),
        y.to_string(),
        "click".into(),
        "1".into(),
        "key".into(),
        "--delay".into(),
        "0".into(),
    ];
    keys.extend(TASK.chars().map(|c| match c {
        ' ' => "space".to_owned(),
        c => c.to_string(),
    }));
    keys.push("ctrl+Return".into());
    xdotool(
        &session.display,
        &keys.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let ran = report_until(&mut session, "the task in the chat", |report| {
        !report.chat.lines.is_empty()
    });
    assert_eq!(
        ran.chat.lines[0].text, TASK,
        "the task sent is not the task typed"
    );
}

/// T turns the flat view on: the graph is laid out in columns in
/// topological order, seen straight on through an orthographic camera, so
/// every edge of an acyclic graph points right on screen; the layout is one
/// edit that Ctrl+Z takes back, and the view's button turns it off again.
#[test]
fn flat_mode_layers_left_to_right() {
    let template = orrery_domain::templates::template("research-team", "2026-12-06T10:00:00.000Z")
        .expect("the research team template");
    // The template's nodes thrown about in 3D: the layout has work to do.
    let mut graph = template.graph;
    for (index, node) in graph.nodes.values_mut().enumerate() {
        let i = index as f32;
        node.position = orrery_domain::Position::new(
            (i * 7.3) % 11.0 - 5.0,
            (i * 3.1) % 7.0 - 3.0,
            (i * 5.7) % 9.0 - 4.0,
        );
    }
    let acyclic = is_acyclic(&graph);
    assert!(acyclic, "the template is a pipeline without cycles");
    let mut session = CanvasSession::start(&graph, &["--size", "1100x700"]);
    session.ready();
    let window = canvas_window(&session.display);
    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "t"],
    );
    let laid_out = session.canvas.expect("STORED");
    assert_eq!(
        node_ids(&laid_out["moved"]).len(),
        graph.nodes.len(),
        "every node moved to its column"
    );
    let flat = report_until(&mut session, "the flat view", |report| report.flat);
    let flat = if flat.nodes.len() == graph.nodes.len() {
        settled_report(&mut session)
    } else {
        flat
    };
    assert!(flat.flat);
    let on_screen: std::collections::BTreeMap<_, _> =
        flat.nodes.iter().map(|node| (node.id, node)).collect();
    assert_eq!(on_screen.len(), graph.nodes.len(), "every node is in front");
    for edge in graph.edges.values() {
        let (from, to) = (on_screen[&edge.from], on_screen[&edge.to]);
        assert!(
            to.screen[0] - from.screen[0] > from.screen_radius,
            "edge {} → {} points left or straight down: {:?} → {:?}",
            graph.nodes[&edge.from].label,
            graph.nodes[&edge.to].label,
            from.screen,
            to.screen
        );
    }
    // Orthographic: every node drawn the same size, and wholly in the view.
    let radii: Vec<f32> = flat.nodes.iter().map(|node| node.screen_radius).collect();
    let (small, large) = radii
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), r| (a.min(*r), b.max(*r)));
    assert!(
        large - small < 0.01,
        "sizes differ in the flat view: {small} … {large}"
    );
    for node in &flat.nodes {
        let ([x, y], r) = (node.screen, node.screen_radius);
        assert!(
            x - r >= 0.0 && x + r <= flat.viewport[0] && y - r >= 0.0 && y + r <= flat.panel_top,
            "a node at ({x}, {y}) is not wholly in the flat view"
        );
    }
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flat-research-team.png");
    session
        .canvas
        .send(&format!("SCREENSHOT {}", screenshot.display()));
    session.canvas.expect("SCREENSHOT");

    // One undo puts every node back where it was.
    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "ctrl+z"],
    );
    session.canvas.expect("STORED");
    assert_eq!(session.stored(&graph), graph, "the layout was one edit");

    // The view's button turns the flat view off.
    click_control(&session, &flat, "flat view");
    report_until(&mut session, "the 3D view", |report| !report.flat);
}

/// Whether a graph has no directed cycle (Kahn's algorithm).
fn is_acyclic(graph: &Graph) -> bool {
    let mut incoming: std::collections::BTreeMap<_, usize> =
        graph.nodes.keys().map(|id| (*id, 0)).collect();
    for edge in graph.edges.values() {
        *incoming.get_mut(&edge.to).unwrap() += 1;
    }
    let mut ready: Vec<_> = incoming
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(id, _)| *id)
        .collect();
    let mut seen = 0;
    while let Some(node) = ready.pop() {
        seen += 1;
        for edge in graph.edges.values().filter(|edge| edge.from == node) {
            let count = incoming.get_mut(&edge.to).unwrap();
            *count -= 1;
            if *count == 0 {
                ready.push(edge.to);
            }
        }
    }
    seen == graph.nodes.len()
}

/// Zoomed in on a corner, a click on the minimap brings the point clicked
/// to the middle of the view: the node drawn there on the map lands in
/// the middle of the window.
#[test]
fn minimap_click_moves_the_view() {
    let graph = sample_graph("Map", 60, 21);
    let mut session = CanvasSession::start(&graph, &["--size", "1100x700"]);
    session.ready();
    hold_key(&session, "equal", "1.2");
    let zoomed = settled_report(&mut session);
    let map = zoomed.minimap.expect("a window this size has a minimap");
    let [right, up] = [zoomed.camera_right, zoomed.camera_up];
    let dot = |a: [f32; 3], b: [f32; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let on_map = |position: [f32; 3]| {
        [
            map.origin[0] + map.scale * dot(position, right),
            map.origin[1] - map.scale * dot(position, up),
        ]
    };
    // The node farthest from the middle of the view, as the map draws it.
    let distance_to_centre = |node: &NodeOnScreen| {
        ((node.screen[0] - map.view_centre[0]).powi(2)
            + (node.screen[1] - map.view_centre[1]).powi(2))
        .sqrt()
    };
    let target = graph
        .nodes
        .values()
        .map(|node| {
            (
                node.id,
                on_map([node.position.x, node.position.y, node.position.z]),
            )
        })
        .filter(|(_, [x, y])| {
            // Well inside the map, off the view's own rectangle.
            *x > map.rect[0] + 4.0
                && *x < map.rect[2] - 4.0
                && *y > map.rect[1] + 4.0
                && *y < map.rect[3] - 4.0
        })
        .max_by(|a, b| {
            let far = |(_, [x, y]): &(_, [f32; 2])| {
                let (cx, cy) = (
                    (map.view[0] + map.view[2]) / 2.0,
                    (map.view[1] + map.view[3]) / 2.0,
                );
                (x - cx).powi(2) + (y - cy).powi(2)
            };
            far(a).total_cmp(&far(b))
        })
        .expect("nodes on the map");
    if let Some(before) = zoomed.nodes.iter().find(|node| node.id == target.0) {
        assert!(
            distance_to_centre(before) > 150.0,
            "the node chosen is already near the middle"
        );
    }
    let window = canvas_window(&session.display);
    let [x, y] = target.1;
    xdotool(
        &session.display,
        &[
            "windowfocus",
            "--sync",
            &window,
            "mousemove",
            "--sync",
            "--window",
            &window,
            &(x.round() as i32).to_string(),
            &(y.round() as i32).to_string(),
            "click",
            "1",
        ],
    );
    let moved = report_until(&mut session, "the view moved", |report| {
        report
            .nodes
            .iter()
            .any(|node| node.id == target.0 && distance_to_centre(node) < 100.0)
    });
    let node = moved.nodes.iter().find(|node| node.id == target.0).unwrap();
    // A click is a whole pixel on the map: that much of the world, on screen.
    let slack = 1.0 / map.scale / (moved.world_per_pixel_at_unit_depth * node.depth) + 3.0;
    assert!(
        distance_to_centre(node) <= slack,
        "the node clicked is {} px from the middle (allowed {slack})",
        distance_to_centre(node)
    );
    // Moved, not turned or zoomed: the same angle, and nothing stored.
    assert_eq!(moved.camera_right, zoomed.camera_right);
    assert_eq!(
        session.stored(&graph),
        graph,
        "moving the view stored no edit"
    );
}

/// Whether the canvas window is mapped on the display now.
fn canvas_window_shown(display: &VirtualDisplay) -> bool {
    let output = Command::new("xdotool")
        .args([
            "search",
            "--onlyvisible",
            "--name",
            orrery_canvas::WINDOW_TITLE,
        ])
        .env("DISPLAY", &display.display)
        .output()
        .expect("xdotool is installed (make test installs it)");
    !String::from_utf8_lossy(&output.stdout).trim().is_empty()
}

/// Inside the desktop the canvas window is hidden until a graph opens,
/// comes up with it, and goes when the graph is closed (deleted, say); the
/// canvas then waits for the next graph. (Closing the window by its title
/// bar takes the same path: `bridge`'s unit test.)
#[test]
fn canvas_window_appears_when_a_graph_opens_and_goes_when_it_closes() {
    let graph = sample_graph("Desk", 12, 5);
    let mut session = CanvasSession::start(&graph, &["--desktop-window"]);
    // The window exists from the start, unmapped.
    canvas_window(&session.display);
    assert!(
        !canvas_window_shown(&session.display),
        "the canvas window shows before any graph is open"
    );
    session.canvas.send("OPEN");
    let report = session.ready();
    assert_eq!(report.graph, Some(graph.id));
    xdotool(
        &session.display,
        &[
            "search",
            "--sync",
            "--onlyvisible",
            "--name",
            orrery_canvas::WINDOW_TITLE,
        ],
    );

    session.canvas.send("CLOSE");
    let closed = session.canvas.expect("CLOSED");
    assert_eq!(closed["graph"], graph.id.to_string());
    // The window unmaps as the frame that closed the graph ends.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while canvas_window_shown(&session.display) {
        assert!(
            std::time::Instant::now() < deadline,
            "the canvas window stayed on screen after its graph closed"
        );
    }
    // And it comes back with the next graph.
    session.canvas.send("OPEN");
    assert_eq!(session.ready().graph, Some(graph.id));
}

/// A run with no model provider to reach fails as an error in the chat,
/// not as an answer, and offers the fix: "Open Providers", which the canvas
/// passes to its host.
#[test]
fn a_failed_run_is_an_error_that_offers_open_providers() {
    let (graph, _) = sandbox_team();
    // Nothing listens on the discard port: the connection is refused.
    let mut session = CanvasSession::start(&graph, &["--provider", "http://127.0.0.1:9/v1"]);
    session.ready();
    session.canvas.send("RUN Describe Lisbon in one line.");
    loop {
        let update = session.canvas.expect("RUN");
        if update["update"] == "ended" {
            assert!(
                update["answer"].is_null(),
                "a run without a provider answered"
            );
            break;
        }
    }
    let report = report_until(&mut session, "the failure with its fix", |report| {
        report.controls.contains_key("open providers")
    });
    let failures: Vec<_> = report
        .chat
        .lines
        .iter()
        .filter(|line| line.failed)
        .collect();
    assert!(!failures.is_empty(), "no line is drawn as a failure");
    let offered: Vec<_> = failures
        .iter()
        .filter(|line| line.remedy.is_some())
        .collect();
    assert_eq!(offered.len(), 1, "the fix is offered once: {failures:?}");
    assert!(
        offered[0].text.contains("No model provider"),
        "{}",
        offered[0].text
    );
    assert!(
        report
            .chat
            .lines
            .iter()
            .all(|line| line.role != orrery_domain::ChatRole::Manager),
        "a failed run shows no manager's answer"
    );
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chat-failed-run.png");
    session
        .canvas
        .send(&format!("SCREENSHOT {}", screenshot.display()));
    session.canvas.expect("SCREENSHOT");
    click_control(&session, &report, "open providers");
    assert_eq!(session.canvas.expect("REMEDY"), "open_providers");
}

/// In the narrowest window the canvas allows, with the chat open and a node
/// selected (so the inspector is out too), the panels sit side by side and
/// above the status bar: none covers another.
#[test]
fn panels_never_overlap_in_a_narrow_window() {
    let (graph, _) = sandbox_team();
    for size in ["480x600", "700x640"] {
        let mut session = CanvasSession::start(&graph, &["--size", size]);
        let report = session.ready();
        if report.controls.contains_key("open chat") {
            click_control(&session, &report, "open chat");
        }
        report_until(&mut session, "the chat open", |report| {
            report.controls.contains_key("chat panel")
        });
        // The view makes room for the panel: wait until it has.
        let report = settled_report(&mut session);
        let target = unobstructed(&report)
            .first()
            .map(|node| (*node).clone())
            .unwrap_or_else(|| panic!("{size}: no node to select beside the panels: {report:?}"));
        session.click(&target);
        let report = report_until(&mut session, "the inspector", |report| {
            report.controls.contains_key("label")
        });
        let mut panels: Vec<(&str, [f32; 4])> = ["chat panel", "tools", "view"]
            .iter()
            .filter_map(|name| report.controls.get(*name).map(|rect| (*name, *rect)))
            .collect();
        assert!(panels.len() >= 2, "{size}: {:?}", report.controls.keys());
        for (name, rect) in &panels {
            assert!(
                rect[3] <= report.panel_top + 0.5
                    && rect[0] >= 0.0
                    && rect[2] <= report.viewport[0] + 0.5,
                "{size}: the {name} {rect:?} leaves the window or covers the status bar"
            );
        }
        // No label hides under a panel.
        for label in &report.label_rects {
            for (name, panel) in &panels {
                let apart = label[2] <= panel[0]
                    || panel[2] <= label[0]
                    || label[3] <= panel[1]
                    || panel[3] <= label[1];
                assert!(
                    apart,
                    "{size}: a label {label:?} is under the {name} {panel:?}"
                );
            }
        }
        while let Some((name, a)) = panels.pop() {
            for (other, b) in &panels {
                let apart = a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1];
                assert!(apart, "{size}: the {name} {a:?} overlaps the {other} {b:?}");
            }
        }
    }
}

/// The template gallery's previews (`ui/public/templates/*.png`) are the
/// canvas's own drawing of each template, bare: drawn again here, each must
/// match the checked-in one but for a few pixels. `make previews` redraws
/// them after a change to the templates or to how the canvas draws.
#[test]
fn template_previews_are_what_the_canvas_draws() {
    let display = VirtualDisplay::start();
    let directory = tempfile::tempdir().unwrap();
    let previews = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/public/templates");
    for key in orrery_domain::templates::TEMPLATE_KEYS {
        let drawn = directory.path().join(format!("{key}.png"));
        let status = Command::new(env!("CARGO_BIN_EXE_canvas"))
            .arg("--store")
            .arg(directory.path().join(format!("{key}.db")))
            .args([
                "--template",
                key,
                "--bare",
                "--size",
                "400x168",
                "--exit-after-screenshot",
            ])
            .arg("--screenshot")
            .arg(&drawn)
            .env("DISPLAY", &display.display)
            .env_remove("WAYLAND_DISPLAY")
            .env("WGPU_BACKEND", "vulkan")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .status()
            .expect("start the canvas binary");
        assert!(status.success(), "the canvas could not draw {key}");
        let checked_in = previews.join(format!("{key}.png"));
        assert!(
            checked_in.exists(),
            "{} is missing: run `make previews`",
            checked_in.display()
        );
        let (fresh, width) = read_png(&drawn);
        let (kept, kept_width) = read_png(&checked_in);
        assert_eq!(
            (width, fresh.len()),
            (kept_width, kept.len()),
            "{key}: another size"
        );
        let differing = fresh
            .chunks(4)
            .zip(kept.chunks(4))
            .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 24))
            .count();
        let share = differing as f32 / (fresh.len() / 4) as f32;
        assert!(
            share < 0.01,
            "{key}: {:.1}% of the preview differs from what the canvas draws: run `make previews`",
            share * 100.0
        );
        // Not a blank image: the graph's nodes are in it.
        let lit = fresh
            .chunks(4)
            .filter(|pixel| pixel[..3].iter().any(|c| *c > 120))
            .count();
        assert!(lit > 200, "{key}: the preview shows no graph");
    }
}

/// Two canvases on one graph, each on its own display as two people's
/// devices: what the first reports (its selection, where it looks) is what
/// the desktop sends on the team's live feed; the second is handed it as
/// the server relays it (with the person's name and colour) and draws the
/// person's marker and their selection outlined in their colour. The server
/// side of presence (scoping, limits) is `presence_is_tenant_scoped_and_not_stored`.
#[test]
fn presence_shows_peer_cursor_and_selection() {
    let graph = sample_graph("Together", 12, 5);
    let ana = CanvasSession::start(&graph, &[]);
    let mut ben = CanvasSession::start(&graph, &[]);
    // Ana's canvas says where she looks as it shows the graph.
    let (mut ana_report, mut focus) = (None, None);
    while ana_report.is_none() || focus.is_none() {
        let line = ana
            .canvas
            .lines
            .recv_timeout(CANVAS_TIMEOUT)
            .expect("READY and FOCUS");
        assert!(!line.starts_with("ERROR"), "canvas failed: {line}");
        if let Some(json) = line.strip_prefix("READY ") {
            ana_report = Some(serde_json::from_str::<FrameReport>(json).unwrap());
        } else if let Some(json) = line.strip_prefix("FOCUS ") {
            let value: Value = serde_json::from_str(json).unwrap();
            assert_eq!(value["graph"], graph.id.to_string());
            focus = Some(value["focus"].clone());
        }
    }
    let (ana_report, focus) = (ana_report.unwrap(), focus.unwrap());
    let ben_report = ben.ready();
    let free = unobstructed(&ana_report);
    let target = free[0].clone();
    // Ana selects a node; her canvas reports it.
    ana.click(&target);
    let selected = ana.canvas.expect("SELECTED");
    assert_eq!(node_ids(&selected["nodes"]), [target.id.to_string()].into());

    // Ana as the server relays her: her name and her colour (a pink one).
    let ana_id = (0..1_000u128)
        .map(uuid::Uuid::from_u128)
        .find(|id| orrery_domain::team::presence_colour(id) == "#d6409f")
        .unwrap();
    let pink = [0xd6, 0x40, 0x9f];
    let peers = serde_json::json!([{
        "user": ana_id.to_string(), "name": "Ana", "colour": pink,
        "focus": focus, "selection": [target.id.to_string()],
    }]);
    let directory = ben.directory.path().to_owned();
    let screenshot = |canvas: &mut RunningCanvas, name: &str| -> (Vec<u8>, usize) {
        let path = directory.join(name);
        canvas.send(&format!("SCREENSHOT {}", path.display()));
        canvas.expect("SCREENSHOT");
        read_png(&path)
    };
    let scale = ben_report.scale_factor;
    let is_pink = |pixel: &[u8]| {
        pixel[..3]
            .iter()
            .zip(pink)
            .map(|(a, b)| (i32::from(*a) - i32::from(b)).abs())
            .sum::<i32>()
            < 60
    };
    let pink_pixels =
        |(pixels, _): &(Vec<u8>, usize)| pixels.chunks(4).filter(|pixel| is_pink(pixel)).count();
    // Directions (of 72) in which a pink ring lies just outside a node's
    // shape on Ben's screen (within 16 px of its reported radius).
    let ring = |(pixels, width): &(Vec<u8>, usize), node: &NodeOnScreen| {
        (0..72)
            .filter(|step| {
                let angle = *step as f32 * std::f32::consts::TAU / 72.0;
                (0..32).any(|half_pixel| {
                    let radius = node.screen_radius + half_pixel as f32 * 0.5;
                    let column = ((node.screen[0] + radius * angle.cos()) * scale).round() as usize;
                    let row = ((node.screen[1] + radius * angle.sin()) * scale).round() as usize;
                    let offset = (row * width + column) * 4;
                    pixels.get(offset..offset + 4).is_some_and(is_pink)
                })
            })
            .count()
    };
    let on_ben = |id| {
        ben_report
            .nodes
            .iter()
            .find(|node| node.id == id)
            .unwrap()
            .clone()
    };
    let before = screenshot(&mut ben.canvas, "before.png");
    ben.canvas.send(&format!("PEERS {peers}"));
    let with_ana = screenshot(&mut ben.canvas, "with-ana.png");
    if let Ok(keep) = std::env::var("ORRERY_KEEP_SCREENSHOT") {
        std::fs::copy(directory.join("with-ana.png"), keep).unwrap();
    }
    let outlined = on_ben(target.id);
    // A node Ana did not select, away from the middle where her marker is.
    let middle = [ben_report.viewport[0] / 2.0, ben_report.viewport[1] / 2.0];
    let other = free
        .iter()
        .filter(|node| node.id != target.id)
        .max_by(|a, b| screen_distance(a, middle).total_cmp(&screen_distance(b, middle)))
        .map(|node| on_ben(node.id))
        .unwrap();
    assert!(
        ring(&with_ana, &outlined) >= 60,
        "Ana's selection is outlined in her colour: {}",
        ring(&with_ana, &outlined)
    );
    assert!(
        ring(&before, &outlined) < 4,
        "no outline before Ana showed up"
    );
    assert!(
        ring(&with_ana, &other) < 4,
        "a node Ana did not select is not outlined"
    );
    // Her marker and name tag: a pink patch beside the outline.
    let added = pink_pixels(&with_ana) - pink_pixels(&before).min(pink_pixels(&with_ana));
    assert!(
        added >= 400,
        "Ana's marker and name tag are drawn in her colour: {added} pixels"
    );
    // When Ana leaves, she is gone from Ben's canvas.
    ben.canvas.send("PEERS []");
    let after = screenshot(&mut ben.canvas, "after.png");
    assert!(ring(&after, &outlined) < 4);
    assert!(pink_pixels(&after) <= pink_pixels(&before) + 20);
    // A list that is not one is refused with the reason.
    ben.canvas.send("PEERS {not json");
    let line = loop {
        let line = ben.canvas.lines.recv_timeout(CANVAS_TIMEOUT).unwrap();
        if line.starts_with("ERROR") {
            break line;
        }
    };
    assert!(line.contains("PEERS takes a JSON list"), "{line}");
}

/// The mean colour of a disc of half a node's radius around its centre on
/// a screenshot, as (hue in degrees, saturation 0–1).
fn node_hue((pixels, width): &(Vec<u8>, usize), node: &NodeOnScreen, scale: f32) -> (f32, f32) {
    let (mut sum, mut count) = ([0.0f32; 3], 0.0f32);
    let reach = (node.screen_radius * 0.5).max(2.0);
    let steps = reach.ceil() as i32;
    for dy in -steps..=steps {
        for dx in -steps..=steps {
            if ((dx * dx + dy * dy) as f32).sqrt() > reach {
                continue;
            }
            let column = ((node.screen[0] + dx as f32) * scale).round() as usize;
            let row = ((node.screen[1] + dy as f32) * scale).round() as usize;
            let offset = (row * width + column) * 4;
            if let Some(pixel) = pixels.get(offset..offset + 3) {
                for (total, channel) in sum.iter_mut().zip(pixel) {
                    *total += f32::from(*channel) / 255.0;
                }
                count += 1.0;
            }
        }
    }
    hue_and_saturation(sum.map(|total| (total / count.max(1.0) * 255.0).round() as u8))
}

fn hue_distance(a: f32, b: f32) -> f32 {
    let difference = (a - b).rem_euclid(360.0);
    difference.min(360.0 - difference)
}

#[test]
fn a_past_version_shows_read_only_with_its_differences_in_colour() {
    use orrery_canvas::scene::DiffMark;
    let graph = sample_graph("Versions", 14, 9);
    let mut session = CanvasSession::start(&graph, &[]);
    let report = session.ready();
    let directory = session.directory.path().to_owned();
    let screenshot = |canvas: &mut RunningCanvas, name: &str| -> (Vec<u8>, usize) {
        let path = directory.join(name);
        canvas.send(&format!("SCREENSHOT {}", path.display()));
        canvas.expect("SCREENSHOT");
        read_png(&path)
    };
    let before = screenshot(&mut session.canvas, "before.png");
    let scale = report.scale_factor;
    // Three nodes in the open whose own colours are saturated.
    let free: Vec<NodeOnScreen> = unobstructed(&report)
        .into_iter()
        .filter(|node| node.screen_radius >= 6.0)
        .cloned()
        .collect();
    assert!(free.len() >= 3, "three nodes in the open: {free:?}");
    let (removed, moved, unchanged) = (&free[0], &free[1], &free[2]);

    // The host shows a comparison: two nodes marked, the rest unchanged.
    let marks = serde_json::json!({
        removed.id.to_string(): "removed",
        moved.id.to_string(): "moved",
    });
    // And a connection marked added: one whose curve's middle (as the
    // canvas draws it on screen) lies in the open, far from every node.
    // (Its controls pull along the screen's horizontal, so the middle of
    // the curve is the middle of its two ends.)
    let middle_of = |report: &FrameReport, edge: &orrery_domain::Edge| {
        let place = |id| report.nodes.iter().find(|node| node.id == id).unwrap();
        let (from, to) = (place(edge.from), place(edge.to));
        [
            0.5 * (from.screen[0] + from.screen_radius * 0.84 + to.screen[0]
                - to.screen_radius * 0.84),
            0.5 * (from.screen[1] + to.screen[1]),
        ]
    };
    let (edge, _) = graph
        .edges
        .values()
        .filter(|edge| {
            ![edge.from, edge.to]
                .iter()
                .any(|end| [removed.id, moved.id, unchanged.id].contains(end))
        })
        .map(|edge| (edge, middle_of(&report, edge)))
        .find(|(_, [x, y])| {
            *y > 90.0
                && *y < report.panel_top - 10.0
                && report.nodes.iter().all(|node| {
                    ((node.screen[0] - x).powi(2) + (node.screen[1] - y).powi(2)).sqrt()
                        > node.screen_radius * 2.0 + 8.0
                })
        })
        .expect("a connection whose middle is in the open");
    let edge_marks = serde_json::json!({ edge.id.to_string(): "added" });
    session.canvas.send(&format!(
        "VERSION {}",
        serde_json::json!({
            "label": "Changes since “Before the review”",
            "marks": marks,
            "edge_marks": edge_marks,
        })
    ));
    let shown = session.ready();
    assert_eq!(shown.graph, Some(graph.id));
    assert!(
        shown.controls.contains_key("back to now"),
        "{:?}",
        shown.controls.keys()
    );
    let after = screenshot(&mut session.canvas, "after.png");
    let at = |id| {
        shown
            .nodes
            .iter()
            .find(|node| node.id == id)
            .unwrap()
            .clone()
    };
    for (node, mark) in [(removed, DiffMark::Removed), (moved, DiffMark::Moved)] {
        let (hue, saturation) = node_hue(&after, &at(node.id), scale);
        assert!(
            saturation > 0.35 && hue_distance(hue, hue_and_saturation(mark.colour()).0) < 25.0,
            "{mark:?} node drawn at hue {hue} (saturation {saturation})"
        );
    }
    // The added connection is drawn in green where it runs.
    let middle = middle_of(&shown, edge);
    let green = hue_and_saturation(DiffMark::Added.colour()).0;
    let greens = |(pixels, width): &(Vec<u8>, usize)| {
        let mut found = 0;
        for dy in -6..=6 {
            for dx in -6..=6 {
                let column = ((middle[0] + dx as f32) * scale).round() as usize;
                let row = ((middle[1] + dy as f32) * scale).round() as usize;
                let offset = (row * width + column) * 4;
                if let Some(pixel) = pixels.get(offset..offset + 3) {
                    let (hue, saturation) = hue_and_saturation([pixel[0], pixel[1], pixel[2]]);
                    if saturation > 0.5 && hue_distance(hue, green) < 25.0 {
                        found += 1;
                    }
                }
            }
        }
        found
    };
    assert_eq!(greens(&before), 0, "no green there before");
    assert!(
        greens(&after) >= 3,
        "the added connection is drawn in green"
    );
    // An unchanged node steps back in grey; before, it had its kind's colour.
    let (_, was) = node_hue(&before, unchanged, scale);
    let (_, now) = node_hue(&after, &at(unchanged.id), scale);
    assert!(
        was > 0.35 && now < 0.2,
        "saturation {was} before, {now} on the comparison"
    );

    // Read-only: a press selects, a drag moves nothing, nothing is stored.
    let node = at(moved.id);
    let window = canvas_window(&session.display);
    drag_with_xdotool(
        &session.display,
        &window,
        (node.screen[0], node.screen[1]),
        (node.screen[0] + 90.0, node.screen[1] + 40.0),
        None,
    );
    let selected = session.canvas.expect("SELECTED");
    assert_eq!(node_ids(&selected["nodes"]), [moved.id.to_string()].into());
    let path = directory.join("dragged.png");
    session
        .canvas
        .send(&format!("SCREENSHOT {}", path.display()));
    let dragged: FrameReport =
        serde_json::from_value(session.canvas.expect("SCREENSHOT")["report"].clone()).unwrap();
    let still = dragged
        .nodes
        .iter()
        .find(|each| each.id == moved.id)
        .unwrap();
    assert!(
        screen_distance(still, node.screen) < 1.0,
        "the node stayed put"
    );
    assert_eq!(session.stored(&graph), graph);

    // Back to now, by the banner's button and by Escape.
    click_control(&session, &shown, "back to now");
    assert_eq!(session.canvas.expect("BACK")["graph"], graph.id.to_string());
    xdotool(
        &session.display,
        &["windowfocus", "--sync", &window, "key", "Escape"],
    );
    assert_eq!(session.canvas.expect("BACK")["graph"], graph.id.to_string());
}
