//! orrery-canvas: the embedded Bevy renderer that draws a graph of agents in 3D.
//!
//! The canvas knows graphs (from `orrery-domain`) and nothing of Tauri, the
//! store or the network. It talks to whoever hosts it through two channels
//! ([`CanvasCommand`] in, [`CanvasEvent`] out): the desktop shell runs it on a
//! thread of its own inside the desktop process; the `canvas` binary runs it on
//! the main thread for development, tests and benchmarks.
//!
//! The app is a list of plugins, one per feature: [`scene`] (a node entity
//! per node) drawn by [`drawing`] (every node and every edge in a few draws,
//! shapes and curves in shaders), [`camera`] (orbit, pan, zoom; mouse,
//! trackpad, keys), [`drag`] (select by click, box or lasso, move nodes,
//! connect ports), [`history`] (undo / redo; every edit leaves as
//! [`CanvasEvent::Edited`]), [`layout`] (automatic force-directed layout off
//! the render thread), [`panels`] (egui: status bar, search, palette,
//! inspector, labels, tooltips), [`minimap`] (the map of the whole graph
//! and the view buttons: flat view, frame), [`bridge`] (the channels), [`probe`]
//! (readiness, frame reports and screenshots for tests), [`version`] (a past
//! version shown read-only, its differences in colour) and [`measure`]
//! (frame and picking timings for benchmarks). [`memory`] holds the process
//! settings every binary hosting the canvas applies at start.

pub mod bridge;
pub mod camera;
pub mod chat;
pub mod drag;
pub mod drawing;
pub mod history;
pub mod layout;
pub mod measure;
pub mod memory;
pub mod minimap;
pub mod panels;
pub mod pick;
pub mod placement;
pub mod presence;
pub mod probe;
pub mod scene;
pub mod version;

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use bevy::prelude::*;
use bevy::window::{ExitCondition, WindowResolution};
use bevy::winit::{UpdateMode, WinitPlugin, WinitSettings};
use orrery_domain::{ChatMessage, Graph, GraphEdit, GraphId, NodeId};
use orrery_runtime::SandboxEvent;
use serde::{Deserialize, Serialize};

pub use placement::WindowPlacement;

/// Title of the canvas window (tests find the window by it).
pub const WINDOW_TITLE: &str = "Orrery canvas";

/// What the host tells the canvas.
#[derive(Debug, Clone)]
pub enum CanvasCommand {
    /// Show this graph, replacing whatever was shown.
    LoadGraph(Graph),
    /// Show the window and bring it to the front (after the user opens a graph).
    Show,
    /// Close the shown graph and hide the window (the graph was deleted,
    /// say); answered with [`CanvasEvent::GraphClosed`].
    CloseGraph,
    /// The shown graph as it is after edits made elsewhere were merged in
    /// (another device, another person). Shown without disturbing what the
    /// user is doing: the selection and the undo history stay, and during a
    /// drag the graph waits until the drag ends. Ignored for another graph.
    Merged(orrery_domain::Graph),
    /// The other people on the shown graph now (replacing those shown
    /// before; empty: nobody else).
    ShowPeers(Vec<presence::PeerView>),
    /// Show a past version of a graph (or two versions compared, each node
    /// that differs marked), read-only, replacing whatever was shown; the
    /// banner's "Back to now" answers [`CanvasEvent::BackToNow`].
    ShowVersion {
        /// What to draw.
        graph: Graph,
        /// What it is, and how its nodes differ.
        version: scene::VersionShown,
    },
    /// Capture the window into a PNG file and answer with [`CanvasEvent::ScreenshotSaved`].
    Screenshot(PathBuf),
    /// Once ready, time this many frames and a batch of picks, and answer with
    /// [`CanvasEvent::Measured`] (benchmarks).
    Measure {
        /// Frames to time.
        frames: u32,
        /// Move a node a step every timed frame, as dragging it does: what
        /// a frame of a drag costs (every buffer of the drawing rebuilt).
        dragging: bool,
    },
    /// Show a message in the status bar for a few seconds (an import the
    /// host refused, say).
    Notify(String),
    /// Shows a sandbox session's stored chat in the chat panel.
    ShowChat(Vec<ChatMessage>),
    /// What the library holds now (the palette's library agents, the
    /// inspector's line about the selected node).
    ShowLibrary(orrery_sessions::Catalog),
    /// A run of `task` began; `members` names each agent node (node id → name).
    RunStarted {
        /// The task as the user typed it.
        task: String,
        /// Node id → agent name.
        members: std::collections::BTreeMap<String, String>,
    },
    /// Something happened in the running sandbox.
    RunEvent(Box<SandboxEvent>),
    /// The run ended; `reason` says why there is no answer (cancelled, failed).
    RunEnded {
        /// Why the run stopped without an answer, if it did.
        reason: Option<String>,
        /// What fixes the failure, if one place in the app does.
        remedy: Option<orrery_runtime::Remedy>,
    },
    /// The host did not start the run asked for, and why.
    RunRefused(String),
    /// What is left of the signed-in user's runs and tokens this period
    /// (`None`: no plan applies, nothing is shown).
    ShowAllowance(Option<orrery_domain::runs::Remaining>),
    /// Close the canvas for good.
    Quit,
}

/// What the canvas tells the host.
#[derive(Debug, Clone)]
pub enum CanvasEvent {
    /// The graph is on screen with every render pipeline compiled.
    Ready(FrameReport),
    /// The user changed the graph: a new edit, or the inverse of one (undo) or
    /// an edit again (redo). The host applies exactly this to the store.
    Edited {
        /// The graph edited.
        graph: GraphId,
        /// The change, as it was applied on the canvas.
        edit: GraphEdit,
    },
    /// A screenshot was written, with the frame it shows.
    ScreenshotSaved {
        /// The PNG file.
        path: PathBuf,
        /// Where every node was on screen.
        report: FrameReport,
    },
    /// The selected nodes changed (all of them, in id order).
    SelectionChanged(Vec<NodeId>),
    /// Where the camera looks changed (at most ten times a second): for
    /// the host to show this person to the others on the graph.
    FocusChanged {
        /// The graph shown.
        graph: GraphId,
        /// The camera's focus, in graph space.
        focus: [f32; 3],
    },
    /// What [`CanvasCommand::Measure`] asked for.
    Measured(measure::Measurement),
    /// The user asked the graph's agents to run `task` (chat panel).
    RunTask {
        /// The graph shown.
        graph: GraphId,
        /// The task.
        task: String,
    },
    /// The user cancelled the running task.
    CancelRun,
    /// The user chose the fix a failure offered (open the Providers screen).
    Remedy(orrery_runtime::Remedy),
    /// The shown graph was closed: the user closed the window (inside the
    /// desktop that closes the graph, not the app), or the host asked.
    GraphClosed(GraphId),
    /// The person left a past version ("Back to now", or Escape): show the
    /// graph as it is now.
    BackToNow(GraphId),
    /// The canvas could not do what was asked.
    Failed(String),
    /// The window settled at a new place or size after a move or resize:
    /// the host saves it and hands it back in [`CanvasOptions::placement`].
    WindowPlaced(WindowPlacement),
    /// The canvas app has exited.
    Closed,
}

/// Where each node appears on screen and how the camera maps pixels to the
/// world — what tests and benchmarks need to aim the pointer and check pixels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameReport {
    /// The graph shown.
    pub graph: Option<GraphId>,
    /// Window size in logical pixels.
    pub viewport: [f32; 2],
    /// Physical pixels per logical pixel.
    pub scale_factor: f32,
    /// Camera's right and up vectors in world space.
    pub camera_right: [f32; 3],
    /// See `camera_right`.
    pub camera_up: [f32; 3],
    /// World units per logical pixel at distance 1 in front of the camera
    /// (in the flat view: at any distance).
    pub world_per_pixel_at_unit_depth: f32,
    /// Whether the flat view (orthographic, straight onto z = 0) is on.
    #[serde(default)]
    pub flat: bool,
    /// The minimap, where it is drawn (none in a small window).
    #[serde(default)]
    pub minimap: Option<minimap::MinimapReport>,
    /// Logical y from which the status bar covers the canvas.
    pub panel_top: f32,
    /// Every node in front of the camera.
    pub nodes: Vec<NodeOnScreen>,
    /// The message the status bar shows, if any (a refused connection, say).
    #[serde(default)]
    pub notice: Option<String>,
    /// Other areas drawn over the graph (the toolbar and inspector corner,
    /// a tooltip, the shortcuts), as logical `[min x, min y, max x, max y]`.
    /// Labels are in `label_rects`: they never cover a node.
    #[serde(default)]
    pub covered: Vec<[f32; 4]>,
    /// The panels' controls by name (`add agent`, `search`, `result <label>`,
    /// `label`), as logical `[min x, min y, max x, max y]`.
    #[serde(default)]
    pub controls: std::collections::BTreeMap<String, [f32; 4]>,
    /// The nodes with a label on screen (near ones; far ones have none).
    #[serde(default)]
    pub labelled: Vec<NodeId>,
    /// Where each of those labels is drawn, in the same order, as logical
    /// `[min x, min y, max x, max y]`.
    #[serde(default)]
    pub label_rects: Vec<[f32; 4]>,
    /// The sandbox chat panel.
    #[serde(default)]
    pub chat: chat::ChatReport,
    /// The hover tooltip shown, if any: the node and the text.
    #[serde(default)]
    pub tooltip: Option<(NodeId, String)>,
    /// What the inspector says of the selected node in the library, if it
    /// says anything (agent and prompt nodes).
    #[serde(default)]
    pub inspector: Option<String>,
}

/// One node's place on screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeOnScreen {
    /// The node.
    pub id: NodeId,
    /// Its kind's name.
    pub kind: String,
    /// Its kind's colour, as sRGB bytes.
    pub colour: [u8; 3],
    /// Centre in logical window coordinates (origin top left).
    pub screen: [f32; 2],
    /// Distance along the camera's forward axis.
    pub depth: f32,
    /// Approximate radius on screen in logical pixels.
    pub screen_radius: f32,
    /// World position.
    pub position: [f32; 3],
}

/// How the canvas window behaves.
#[derive(Debug, Clone)]
pub struct CanvasOptions {
    /// Window size in logical pixels.
    pub size: (u32, u32),
    /// Whether the window starts visible (the desktop starts it hidden and
    /// shows it when a graph opens).
    pub visible: bool,
    /// Redraw every frame even when idle (tests, benchmarks); otherwise the
    /// canvas sleeps when unfocused and idle.
    pub continuous: bool,
    /// Run on a thread other than the main one (inside the desktop shell).
    pub on_any_thread: bool,
    /// Install Bevy's log subscriber (off when the host has its own).
    pub own_logging: bool,
    /// Closing the window closes the graph and hides the window instead of
    /// ending the app (inside the shell).
    pub hide_on_close: bool,
    /// Where the window was last (the host saves [`CanvasEvent::WindowPlaced`]);
    /// `None` opens it at `size`, where the system puts it.
    pub placement: Option<WindowPlacement>,
}

impl Default for CanvasOptions {
    fn default() -> Self {
        Self {
            size: (1024, 720),
            visible: true,
            continuous: false,
            on_any_thread: false,
            own_logging: true,
            hide_on_close: false,
            placement: None,
        }
    }
}

/// The host's ends of the channels.
pub struct CanvasHandle {
    /// Send commands here.
    pub commands: Sender<CanvasCommand>,
    /// Receive events here.
    pub events: Receiver<CanvasEvent>,
}

/// Every canvas feature, in one plugin.
pub struct CanvasPlugin;

impl Plugin for CanvasPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            scene::GraphScenePlugin,
            camera::OrbitCameraPlugin,
            chat::ChatPanelPlugin,
            drag::NodeDragPlugin,
            history::EditHistoryPlugin,
            layout::AutoLayoutPlugin,
            measure::MeasurePlugin,
            minimap::MinimapPlugin,
            panels::StatusPanelPlugin,
            presence::PresencePlugin,
            probe::ProbePlugin,
            version::VersionPlugin,
        ));
    }
}

/// Builds the canvas app around a pair of channels. Call `.run()` on the
/// thread that should own the window.
pub fn canvas_app(options: &CanvasOptions) -> (App, CanvasHandle) {
    let (command_sender, command_receiver) = channel();
    let (event_sender, event_receiver) = channel();
    let window = Window {
        title: WINDOW_TITLE.into(),
        resolution: WindowResolution::new(options.size.0, options.size.1),
        // Below this the panels (chat, toolbar, view buttons) cannot sit
        // side by side.
        resize_constraints: bevy::window::WindowResizeConstraints {
            min_width: 480.0,
            min_height: 360.0,
            ..default()
        },
        visible: options.visible,
        ..default()
    };
    let mut plugins = DefaultPlugins
        .set(WindowPlugin {
            primary_window: Some(window),
            exit_condition: if options.hide_on_close {
                ExitCondition::DontExit
            } else {
                ExitCondition::OnPrimaryClosed
            },
            close_when_requested: !options.hide_on_close,
            ..default()
        })
        .set(WinitPlugin {
            run_on_any_thread: options.on_any_thread,
        });
    if !options.own_logging {
        plugins = plugins.disable::<bevy::log::LogPlugin>();
    }
    let mut app = App::new();
    app.add_plugins(plugins)
        .insert_resource(ClearColor(scene::BACKGROUND))
        .insert_resource(if options.continuous {
            WinitSettings::game()
        } else {
            WinitSettings {
                focused_mode: UpdateMode::Continuous,
                unfocused_mode: UpdateMode::reactive_low_power(Duration::from_millis(250)),
            }
        })
        .insert_resource(bridge::CanvasBridge::new(command_receiver, event_sender))
        .add_plugins(bridge::BridgePlugin {
            hide_on_close: options.hide_on_close,
        })
        .add_plugins(placement::WindowPlacementPlugin {
            saved: options.placement,
        })
        .add_plugins(CanvasPlugin);
    (
        app,
        CanvasHandle {
            commands: command_sender,
            events: event_receiver,
        },
    )
}

/// Most commands held for a canvas that has not started yet.
const MAX_HELD_COMMANDS: usize = 256;

/// Whether `command` needs the window (and so starts the canvas).
fn needs_window(command: &CanvasCommand) -> bool {
    matches!(
        command,
        CanvasCommand::LoadGraph(_)
            | CanvasCommand::Show
            | CanvasCommand::Screenshot(_)
            | CanvasCommand::Measure { .. }
    )
}

/// [`spawn_canvas_thread`] when the canvas is first needed: the handle is
/// ready at once, but Bevy, the GPU device and the window start only with
/// the first command that shows something (a graph opened), so an app that
/// never opens a graph pays nothing for the canvas. Commands before then
/// are held (only the latest library and allowance), `CloseGraph` with no
/// graph shown is dropped, and `Quit` ends it without ever starting.
pub fn spawn_canvas_on_demand(options: CanvasOptions) -> CanvasHandle {
    let (command_sender, command_receiver) = channel::<CanvasCommand>();
    let (event_sender, event_receiver) = channel::<CanvasEvent>();
    std::thread::Builder::new()
        .name("orrery-canvas-start".into())
        .spawn(move || {
            let mut held: Vec<CanvasCommand> = Vec::new();
            let first = loop {
                let Ok(command) = command_receiver.recv() else {
                    return;
                };
                match command {
                    CanvasCommand::Quit => return,
                    CanvasCommand::CloseGraph => {}
                    command if needs_window(&command) => break command,
                    CanvasCommand::ShowLibrary(catalog) => {
                        held.retain(|held| !matches!(held, CanvasCommand::ShowLibrary(_)));
                        held.push(CanvasCommand::ShowLibrary(catalog));
                    }
                    CanvasCommand::ShowAllowance(allowance) => {
                        held.retain(|held| !matches!(held, CanvasCommand::ShowAllowance(_)));
                        held.push(CanvasCommand::ShowAllowance(allowance));
                    }
                    command => {
                        if held.len() < MAX_HELD_COMMANDS {
                            held.push(command);
                        }
                    }
                }
            };
            let (_thread, canvas) = spawn_canvas_thread(options);
            let events = canvas.events;
            std::thread::Builder::new()
                .name("orrery-canvas-events".into())
                .spawn(move || {
                    for event in events {
                        if event_sender.send(event).is_err() {
                            break;
                        }
                    }
                })
                .expect("spawning the canvas event relay");
            for command in held
                .into_iter()
                .chain(std::iter::once(first))
                .chain(command_receiver)
            {
                if canvas.commands.send(command).is_err() {
                    break;
                }
            }
        })
        .expect("spawning the canvas starter");
    CanvasHandle {
        commands: command_sender,
        events: event_receiver,
    }
}

/// Starts the canvas on a thread of its own (inside the desktop process).
/// winit allows one event loop per process, so call this once and reuse the
/// handle. The window stays hidden until [`CanvasCommand::Show`]; closing it
/// closes the graph and hides it.
pub fn spawn_canvas_thread(mut options: CanvasOptions) -> (JoinHandle<()>, CanvasHandle) {
    options.visible = false;
    options.on_any_thread = true;
    options.hide_on_close = true;
    options.own_logging = false;
    let (handle_sender, handle_receiver) = channel();
    let thread = std::thread::Builder::new()
        .name("orrery-canvas".into())
        .spawn(move || {
            let (mut app, handle) = canvas_app(&options);
            let _ = handle_sender.send(handle);
            app.run();
        })
        .expect("spawning the canvas thread");
    let handle = handle_receiver
        .recv()
        .expect("the canvas thread builds its app before running it");
    (thread, handle)
}
