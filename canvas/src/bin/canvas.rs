//! `canvas`: the Orrery canvas on its own, for development, tests and benchmarks.
//!
//! By default it opens the desktop app's library (`~/.local/share/orrery/desktop/local.db`).
//!
//! Opens a graph from a local store (or creates a deterministic sample graph
//! in it) and writes every node the user drags back to that store. With
//! `--report` it prints one line per event on stdout, `KIND {json}`:
//! `READY` (graph on screen, pipelines compiled), `STORED` (an edit — a drag,
//! an undo, a redo — reached the store), `SELECTED` (the selection changed),
//! `SCREENSHOT` (a PNG was written), `IMPORTED` / `REFUSED` (a graph file),
//! `RUN` (an update of a sandbox run) and `ERROR`; and it reads
//! `SCREENSHOT <file.png>`, `IMPORT <file.json>`, `RUN <task>` (the same as
//! typing the task in the chat panel), `CANCEL` and `QUIT` from stdin.
//!
//! `--desktop-window` behaves as the canvas does inside the desktop: the
//! window starts hidden, `OPEN` (stdin) opens the graph and shows it,
//! `CLOSE` closes the graph as the desktop does when it is deleted, and
//! closing the window closes the graph (a `CLOSED` line) and hides it.
//!
//! Sandbox runs call the OpenAI-compatible provider at `--provider URL`
//! (default: a local Ollama, `http://127.0.0.1:11434/v1`) with `--model`.
//!
//! `--export FILE.json` writes the graph as a graph file and exits without a
//! window; `--in-memory` shows a sample graph without storing it (benchmarks
//! that measure the canvas alone); `--template KEY` shows a template's graph
//! without storing it, and `--bare` draws the graph alone, without panels or
//! labels (the templates' previews in the gallery: `make previews`). `--measure-frames N` prints the timings of
//! N frames as a `MEASURED` line; with `--measure-drag` a node is dragged
//! while they are timed.

/// mimalloc instead of the system allocator: merging and reading a received
/// 10k-node graph spent a third of its time in glibc malloc/free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use orrery_canvas::{CanvasCommand, CanvasEvent, CanvasOptions, canvas_app};
use orrery_domain::{GraphEdit, GraphId, sample_graph, sample_graph_with_edges};
use orrery_runtime::{HttpProvider, ProviderSettings};
use orrery_sessions::{RunSlot, RunUpdate, SessionRunner};
use orrery_store::LocalStore;
use orrery_sync::Replica;
use serde_json::json;

const USAGE: &str = "usage: canvas [--store PATH] [--graph ID | --sample NODES [--sample-edges EDGES] [--seed N]] \
[--size WxH] [--continuous] [--report] [--screenshot FILE.png [--exit-after-screenshot]] [--measure-frames N [--measure-drag]] \
[--export FILE.json] [--in-memory] [--template KEY] [--bare] [--provider URL] [--model NAME] [--desktop-window]";

struct Arguments {
    store: PathBuf,
    graph: Option<GraphId>,
    sample: usize,
    sample_edges: Option<usize>,
    seed: u64,
    size: (u32, u32),
    continuous: bool,
    report: bool,
    screenshot: Option<PathBuf>,
    exit_after_screenshot: bool,
    measure_frames: Option<u32>,
    measure_drag: bool,
    export: Option<PathBuf>,
    in_memory: bool,
    provider: ProviderSettings,
    desktop_window: bool,
    template: Option<String>,
    bare: bool,
}

fn parse_arguments() -> anyhow::Result<Arguments> {
    let mut parsed = Arguments {
        store: default_store(),
        graph: None,
        sample: 50,
        sample_edges: None,
        seed: 1,
        size: (1024, 720),
        continuous: false,
        report: false,
        screenshot: None,
        exit_after_screenshot: false,
        measure_frames: None,
        measure_drag: false,
        export: None,
        in_memory: false,
        provider: ProviderSettings::local(),
        desktop_window: false,
        template: None,
        bare: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--store" => parsed.store = value("--store")?.into(),
            "--graph" => parsed.graph = Some(value("--graph")?.parse()?),
            "--sample" => {
                parsed.sample = value("--sample")?
                    .parse()
                    .context("--sample takes a node count")?
            }
            "--sample-edges" => {
                parsed.sample_edges = Some(
                    value("--sample-edges")?
                        .parse()
                        .context("--sample-edges takes an edge count")?,
                )
            }
            "--measure-frames" => {
                parsed.measure_frames = Some(
                    value("--measure-frames")?
                        .parse()
                        .context("--measure-frames takes a frame count")?,
                )
            }
            "--seed" => parsed.seed = value("--seed")?.parse().context("--seed takes a number")?,
            "--size" => {
                let size = value("--size")?;
                let (width, height) = size.split_once('x').context("--size takes WIDTHxHEIGHT")?;
                parsed.size = (width.parse()?, height.parse()?);
            }
            "--export" => parsed.export = Some(value("--export")?.into()),
            "--in-memory" => parsed.in_memory = true,
            "--desktop-window" => parsed.desktop_window = true,
            "--template" => {
                let key = value("--template")?;
                if orrery_domain::templates::template(&key, "").is_none() {
                    bail!(
                        "no template `{key}`; the templates are {}",
                        orrery_domain::templates::TEMPLATE_KEYS.join(", ")
                    );
                }
                parsed.template = Some(key);
                parsed.in_memory = true;
            }
            "--bare" => parsed.bare = true,
            "--measure-drag" => parsed.measure_drag = true,
            "--provider" => parsed.provider.base_url = value("--provider")?,
            "--model" => parsed.provider.model = value("--model")?,
            "--continuous" => parsed.continuous = true,
            "--report" => parsed.report = true,
            "--screenshot" => parsed.screenshot = Some(value("--screenshot")?.into()),
            "--exit-after-screenshot" => parsed.exit_after_screenshot = true,
            "--help" | "-h" => bail!("{USAGE}"),
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if parsed.measure_drag && parsed.measure_frames.is_none() {
        bail!("--measure-drag drags a node while --measure-frames N frames are timed; give both");
    }
    if parsed.sample > orrery_domain::MAX_NODES_PER_GRAPH {
        bail!(
            "--sample is limited to {} nodes",
            orrery_domain::MAX_NODES_PER_GRAPH
        );
    }
    Ok(parsed)
}

fn default_store() -> PathBuf {
    orrery_store::default_data_directory()
        .join("desktop")
        .join("local.db")
}

/// With `--report`, reads commands from stdin, one per line:
/// `SCREENSHOT <file.png>`, `IMPORT <file.json>`, `RUN <task>`, `CANCEL`,
/// `OPEN`, `CLOSE`, `ALLOWANCE <runs|-> <tokens|->` (what the desktop tells
/// the chat panel after a sync; `-` is unlimited), `PEERS <json list>` (the
/// other people on the graph, as the desktop hands them over from the live
/// feed), `VERSION <json>` (show the graph read-only as a past version:
/// `{"label": "…", "marks": {"<node id>": "added" | "removed" | "moved" |
/// "relabelled"}}`) and `QUIT`.
fn spawn_stdin_commands(
    commands: std::sync::mpsc::Sender<CanvasCommand>,
    replica: Replica,
    runtime: tokio::runtime::Handle,
    runs: Runs,
) {
    let graph = runs.graph;
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            let command = match line.trim().split_once(' ') {
                Some(("SCREENSHOT", path)) => CanvasCommand::Screenshot(PathBuf::from(path.trim())),
                Some(("IMPORT", path)) => {
                    match import_file(&PathBuf::from(path.trim()), &replica, &runtime) {
                        Ok(graph) => {
                            print_line(
                                "IMPORTED",
                                json!({ "graph": graph.id, "nodes": graph.nodes.len() }),
                            );
                            CanvasCommand::LoadGraph(graph)
                        }
                        Err(reason) => {
                            print_line("REFUSED", json!({ "reason": reason }));
                            CanvasCommand::Notify(format!("Import refused: {reason}"))
                        }
                    }
                }
                Some(("ALLOWANCE", left)) => {
                    let parse = |part: Option<&str>| match part {
                        Some("-") | None => Ok(None),
                        Some(number) => number.parse::<u64>().map(Some),
                    };
                    let mut parts = left.split_whitespace();
                    match (parse(parts.next()), parse(parts.next())) {
                        (Ok(runs), Ok(tokens)) => {
                            CanvasCommand::ShowAllowance(Some(orrery_domain::runs::Remaining {
                                runs,
                                tokens,
                            }))
                        }
                        _ => {
                            print_line("ERROR", json!("ALLOWANCE takes two numbers or `-`"));
                            continue;
                        }
                    }
                }
                Some(("PEERS", people)) => match serde_json::from_str(people.trim()) {
                    Ok(people) => CanvasCommand::ShowPeers(people),
                    Err(error) => {
                        print_line("ERROR", json!(format!("PEERS takes a JSON list: {error}")));
                        continue;
                    }
                },
                Some(("VERSION", shown)) => {
                    let version = match serde_json::from_str(shown.trim()) {
                        Ok(version) => version,
                        Err(error) => {
                            print_line(
                                "ERROR",
                                json!(format!("VERSION takes a JSON object: {error}")),
                            );
                            continue;
                        }
                    };
                    match runtime.block_on(replica.graph(graph)) {
                        Ok(graph) => CanvasCommand::ShowVersion { graph, version },
                        Err(error) => {
                            print_line("ERROR", json!(error.to_string()));
                            continue;
                        }
                    }
                }
                Some(("RUN", task)) => {
                    runs.start(task.trim().to_owned());
                    continue;
                }
                _ if line.trim() == "CANCEL" => {
                    runs.slot.cancel();
                    continue;
                }
                _ if line.trim() == "QUIT" => CanvasCommand::Quit,
                _ if line.trim() == "CLOSE" => CanvasCommand::CloseGraph,
                _ if line.trim() == "OPEN" => match runtime.block_on(replica.graph(graph)) {
                    Ok(graph) => {
                        if commands.send(CanvasCommand::LoadGraph(graph)).is_err() {
                            break;
                        }
                        CanvasCommand::Show
                    }
                    Err(error) => {
                        print_line("ERROR", json!(error.to_string()));
                        continue;
                    }
                },
                _ => {
                    print_line("ERROR", json!(format!("unknown command `{}`", line.trim())));
                    continue;
                }
            };
            if commands.send(command).is_err() {
                break;
            }
        }
    });
}

/// Sandbox runs on the open graph: one at a time, updates to the canvas
/// (and, with `--report`, to stdout as `RUN` lines).
#[derive(Clone)]
struct Runs {
    slot: RunSlot,
    runner: SessionRunner,
    runtime: tokio::runtime::Handle,
    graph: GraphId,
    commands: std::sync::mpsc::Sender<CanvasCommand>,
    report: bool,
}

impl Runs {
    fn start(&self, task: String) {
        self.start_on(self.graph, task);
    }

    fn start_on(&self, graph: GraphId, task: String) {
        let (commands, report) = (self.commands.clone(), self.report);
        let on_update = move |update: RunUpdate| {
            if report {
                print_line("RUN", json!(update));
            }
            let _ = commands.send(orrery_canvas::chat::command_for(update));
        };
        if let Err(error) =
            self.slot
                .start(self.runner.clone(), &self.runtime, graph, task, on_update)
        {
            if self.report {
                print_line(
                    "RUN",
                    json!({ "update": "refused", "reason": error.to_string() }),
                );
            }
            let _ = self
                .commands
                .send(CanvasCommand::RunRefused(error.to_string()));
        }
    }
}

/// Reads and checks a graph file and adds it to the library; the open graph
/// and the library stay as they are if the file is refused.
fn import_file(
    path: &std::path::Path,
    replica: &Replica,
    runtime: &tokio::runtime::Handle,
) -> Result<orrery_domain::Graph, String> {
    let size = std::fs::metadata(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?
        .len();
    if size > orrery_domain::MAX_GRAPH_FILE_BYTES as u64 {
        return Err(format!(
            "the file is {size} bytes; graph files are at most {} bytes",
            orrery_domain::MAX_GRAPH_FILE_BYTES
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let graph = orrery_domain::import_graph(&bytes).map_err(|error| error.to_string())?;
    runtime
        .block_on(replica.add_graph(graph))
        .map_err(|error| error.to_string())
}

/// This process's resident memory in MiB, from /proc.
fn resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn percentile(sorted: &[f32], fraction: f32) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f32 * fraction).round() as usize;
    sorted[rank]
}

/// What a stored edit changed, for `--report`: moved nodes and where they
/// went, and the nodes it added or removed.
fn stored_report(graph: GraphId, edit: &GraphEdit) -> serde_json::Value {
    let (mut moved, mut added, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    let (mut connected, mut disconnected, mut relabelled) = (Vec::new(), Vec::new(), Vec::new());
    let mut pending = vec![edit];
    while let Some(edit) = pending.pop() {
        match edit {
            GraphEdit::MoveNodes(moves) => moved.extend(
                moves
                    .iter()
                    .map(|step| json!({ "node": step.id, "to": step.to })),
            ),
            GraphEdit::AddNode(node) => added.push(json!(node.id)),
            GraphEdit::RemoveNode { node, .. } => removed.push(json!(node.id)),
            GraphEdit::AddEdge(edge) => connected.push(json!({
                "edge": edge.id, "from": edge.from, "from_port": edge.from_port,
                "to": edge.to, "to_port": edge.to_port,
            })),
            GraphEdit::RemoveEdge(edge) => disconnected.push(json!(edge.id)),
            GraphEdit::RelabelNode { id, to, .. } => {
                relabelled.push(json!({ "node": id, "label": to }))
            }
            GraphEdit::Batch(steps) => pending.extend(steps.iter().rev()),
            _ => {}
        }
    }
    json!({
        "graph": graph, "moved": moved, "added": added, "removed": removed,
        "connected": connected, "disconnected": disconnected, "relabelled": relabelled,
    })
}

fn print_line(kind: &str, value: serde_json::Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{kind} {value}");
    let _ = stdout.flush();
}

fn main() -> anyhow::Result<()> {
    orrery_canvas::memory::configure_process_memory();
    let arguments = match parse_arguments() {
        Ok(arguments) => arguments,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    if let Some(parent) = arguments.store.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let replica = runtime.block_on(async {
        let store = LocalStore::open(&arguments.store).await?;
        anyhow::Ok(Replica::new(store))
    })?;
    // --in-memory (benchmarks): the sample graph is shown without being
    // stored, so the figures are the canvas's own and not the store's.
    let sample = |arguments: &Arguments| {
        let name = format!("Sample graph ({} nodes)", arguments.sample);
        match arguments.sample_edges {
            Some(edges) => sample_graph_with_edges(&name, arguments.sample, edges, arguments.seed),
            None => sample_graph(&name, arguments.sample, arguments.seed),
        }
    };
    let graph = runtime.block_on(async {
        match arguments.graph {
            None if arguments.in_memory => Ok(match &arguments.template {
                Some(key) => {
                    orrery_domain::templates::template(key, &orrery_store::now_text())
                        .expect("checked when the arguments were read")
                        .graph
                }
                None => sample(&arguments),
            }),
            Some(id) => Ok(replica.graph(id).await?),
            None => {
                let sample = sample(&arguments);
                match replica.graph(sample.id).await {
                    Ok(existing) => anyhow::Ok(existing),
                    Err(_) => Ok(replica.add_graph(sample).await?),
                }
            }
        }
    })?;

    if let Some(path) = &arguments.export {
        // Write the graph as a graph file and stop, without opening a window.
        std::fs::write(path, orrery_domain::export_graph(&graph))
            .with_context(|| format!("writing {}", path.display()))?;
        runtime.block_on(replica.store().close());
        return Ok(());
    }

    let options = CanvasOptions {
        size: arguments.size,
        continuous: arguments.continuous
            || arguments.report
            || arguments.screenshot.is_some()
            || arguments.measure_frames.is_some(),
        visible: !arguments.desktop_window,
        hide_on_close: arguments.desktop_window,
        ..CanvasOptions::default()
    };
    let (mut app, handle) = canvas_app(&options);
    if arguments.bare {
        app.insert_resource(orrery_canvas::panels::BareView);
    }
    let edge_count = graph.edges.len();
    let load_started = std::time::Instant::now();
    let mut load_ms = 0.0;
    let measure_frames = arguments.measure_frames;
    let dragging = arguments.measure_drag;
    let graph_id = graph.id;
    if !arguments.desktop_window {
        handle.commands.send(CanvasCommand::LoadGraph(graph))?;
    }
    if let Some(path) = &arguments.screenshot {
        handle
            .commands
            .send(CanvasCommand::Screenshot(path.clone()))?;
    }
    let (usage, meter) = orrery_sessions::RunMeter::new();
    let provider = HttpProvider::new(arguments.provider.clone(), None)
        .context("the model provider settings")?
        .with_usage(usage);
    let runner =
        SessionRunner::new(replica.clone(), std::sync::Arc::new(provider)).with_meter(meter);
    let catalog = runtime
        .block_on(orrery_sessions::Catalog::read(&replica))
        .context("reading the library")?;
    handle.commands.send(CanvasCommand::ShowLibrary(catalog))?;
    if let Ok(Some(session)) =
        runtime.block_on(orrery_sessions::session_of_graph(&replica, graph_id))
    {
        handle
            .commands
            .send(CanvasCommand::ShowChat(session.messages))?;
    }
    let runs = Runs {
        slot: RunSlot::default(),
        runner,
        runtime: runtime.handle().clone(),
        graph: graph_id,
        commands: handle.commands.clone(),
        report: arguments.report,
    };
    if arguments.report {
        spawn_stdin_commands(
            handle.commands.clone(),
            replica.clone(),
            runtime.handle().clone(),
            runs.clone(),
        );
    }
    let commands = handle.commands.clone();
    let report = arguments.report;
    let exit_after_screenshot = arguments.exit_after_screenshot;
    let in_memory = arguments.in_memory;
    let events = handle.events;
    let writer = std::thread::spawn(move || {
        for event in events {
            match event {
                CanvasEvent::Ready(frame) => {
                    load_ms = load_started.elapsed().as_secs_f64() * 1000.0;
                    if report {
                        print_line("READY", json!(frame));
                    }
                    if let Some(frames) = measure_frames {
                        let _ = commands.send(CanvasCommand::Measure { frames, dragging });
                    }
                }
                CanvasEvent::Measured(measurement) => {
                    let mut sorted = measurement.frame_ms.clone();
                    sorted.sort_by(f32::total_cmp);
                    print_line(
                        "MEASURED",
                        json!({
                            "nodes": measurement.nodes,
                            "edges": edge_count,
                            "frames": sorted.len(),
                            "dragging": dragging,
                            "load_ms": (load_ms * 10.0).round() / 10.0,
                            "frame_ms_p50": percentile(&sorted, 0.5),
                            "frame_ms_p95": percentile(&sorted, 0.95),
                            "pick_us": measurement.pick_us,
                            "pick_hits": measurement.pick_hits,
                            "picks": measurement.picks,
                            "pick_index_build_ms": measurement.pick_index_build_ms,
                            "rss_mb": resident_mib(),
                        }),
                    );
                    let _ = commands.send(CanvasCommand::Quit);
                }
                CanvasEvent::Edited { .. } if in_memory => {}
                CanvasEvent::Edited { graph, edit } => {
                    match runtime.block_on(replica.apply_edit(graph, &edit)) {
                        Ok(_) if report => print_line("STORED", stored_report(graph, &edit)),
                        Ok(_) => {}
                        Err(error) => print_line("ERROR", json!(error.to_string())),
                    }
                }
                CanvasEvent::ScreenshotSaved {
                    path,
                    report: frame,
                } => {
                    print_line("SCREENSHOT", json!({ "path": path, "report": frame }));
                    if exit_after_screenshot {
                        let _ = commands.send(CanvasCommand::Quit);
                    }
                }
                CanvasEvent::SelectionChanged(nodes) => {
                    if report {
                        print_line("SELECTED", json!({ "nodes": nodes }));
                    }
                }
                CanvasEvent::FocusChanged { graph, focus } => {
                    if report {
                        print_line("FOCUS", json!({ "graph": graph, "focus": focus }));
                    }
                }
                CanvasEvent::RunTask { graph, task } => runs.start_on(graph, task),
                CanvasEvent::Remedy(remedy) => {
                    if report {
                        print_line("REMEDY", json!(remedy));
                    }
                }
                CanvasEvent::CancelRun => {
                    runs.slot.cancel();
                }
                CanvasEvent::GraphClosed(graph) => {
                    if report {
                        print_line("CLOSED", json!({ "graph": graph }));
                    }
                }
                CanvasEvent::BackToNow(graph) => {
                    if report {
                        print_line("BACK", json!({ "graph": graph }));
                    }
                }
                CanvasEvent::Failed(reason) => print_line("ERROR", json!(reason)),
                // The standalone canvas opens where it is told (--size).
                CanvasEvent::WindowPlaced(_) => {}
                CanvasEvent::Closed => break,
            }
        }
        runtime.block_on(replica.store().close());
    });
    app.run();
    drop(app);
    writer
        .join()
        .expect("the store writer thread does not panic");
    Ok(())
}
