//! The egui panels: the status bar (what is shown, how big, how fast it
//! draws), a toolbar at the top right (search-and-focus by name, a palette
//! that adds a node of each kind), the inspector under it (the selected
//! node's label, kind and ports; edits are undoable), and what is drawn over
//! the graph: labels for nearby nodes (none for far ones), a tooltip for the
//! node under the pointer, the selection rectangle or lasso, and the edge
//! being dragged out of a port.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};
use orrery_domain::{
    GraphEdit, MAX_LABEL_CHARS, Node, NodeId, NodeKind, input_ports, output_ports,
};

use crate::camera::{FocusRequest, OrbitCamera, world_per_pixel};
use crate::drag::{ActiveDrag, NodePickIndex, Selection};
use crate::history::EditRequested;
use crate::layout::RunningLayout;
use crate::scene::{GraphNode, NODE_RADIUS, ShownGraph, kind_colour, to_position};

/// The widest the toolbar and inspector in the top-right corner get
/// (logical pixels).
pub const TOOL_WIDTH: f32 = 300.0;
/// The narrowest the toolbar and inspector get (in a narrow window, beside
/// the chat panel).
pub const MIN_TOOL_WIDTH: f32 = 190.0;
/// Nodes drawn at least this big (radius, logical pixels) may get a label.
pub const LABEL_MIN_RADIUS: f32 = 7.0;
/// At most this many labels at once (the nearest).
const MAX_LABELS: usize = 120;
/// Labels keep clear of at most this many nodes (the nearest).
const MAX_LABEL_OBSTACLES: usize = 4_000;

/// The status bar.
pub struct StatusPanelPlugin;

impl Plugin for StatusPanelPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<EguiPlugin>() {
            app.add_plugins(EguiPlugin::default());
        }
        app.init_resource::<PanelLayout>()
            .init_resource::<Notice>()
            .init_resource::<KeyboardCaptured>()
            .init_resource::<ToolState>()
            .init_resource::<LibraryCatalog>()
            .init_resource::<ShortcutsShown>()
            .add_systems(
                EguiPrimaryContextPass,
                (
                    clear_panel_layout,
                    status_bar.run_if(panels_shown),
                    tool_panels.run_if(panels_shown),
                    graph_overlays.run_if(panels_shown),
                )
                    .chain()
                    .in_set(PanelSystems),
            );
    }
}

/// The panels' systems, so other panels can be drawn after them.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct PanelSystems;

/// How long a notice stays in the status bar.
const NOTICE_SECONDS: f32 = 8.0;

/// A message the status bar shows for a few seconds.
#[derive(Resource, Default, Debug, Clone)]
pub struct Notice {
    message: Option<String>,
    shown_for: f32,
}

impl Notice {
    /// Shows `message` from now on, replacing any earlier one.
    pub fn show(&mut self, message: String) {
        self.message = Some(message);
        self.shown_for = 0.0;
    }

    /// The message shown now, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

/// Where the panels sit, so the frame report can say which pixels they cover.
#[derive(Resource, Default, Debug, Clone)]
pub struct PanelLayout {
    /// Logical y of the status bar's top edge (0 until drawn).
    pub status_bar_top: f32,
    /// Other areas drawn over the graph: the tool area, labels, a tooltip.
    pub covered: Vec<Rect>,
    /// What the panels covered the frame before (labels keep out of it).
    pub covered_before: Vec<Rect>,
    /// Where the panels' controls are, by name (`add agent`, `search`,
    /// `result <label>`, `label`), so tests can aim the pointer at them.
    pub controls: Vec<(String, Rect)>,
    /// The nodes labelled this frame.
    pub labelled: Vec<NodeId>,
    /// Where each of those labels is, as logical `[min x, min y, max x, max y]`.
    pub label_rects: Vec<[f32; 4]>,
    /// The node whose tooltip is shown this frame, with its text.
    pub tooltip: Option<(NodeId, String)>,
    /// The inspector's line about the selected node in the library.
    pub inspector: Option<String>,
}

/// The library as the host last told it (agents for the palette, what the
/// inspector says of agent and prompt nodes).
#[derive(Resource, Default, Debug, Clone)]
pub struct LibraryCatalog(pub orrery_sessions::Catalog);

/// What the inspector says of `node` in the library: which agent it runs as
/// (a custom agent runs a whole graph), which prompt it stands for.
pub fn library_line(catalog: &orrery_sessions::Catalog, node: &Node) -> Option<String> {
    match node.kind {
        NodeKind::Agent => Some(match catalog.agent(&node.label) {
            Some(agent) => match (&agent.runs_graph, agent.model.trim()) {
                (Some(graph), _) => format!("Custom agent: runs the graph “{graph}” as its team"),
                (None, "") => "Library agent".to_owned(),
                (None, model) => format!("Library agent on {model}"),
            },
            None => "Not in the library: runs as a plain agent".to_owned(),
        }),
        NodeKind::Prompt => Some(match catalog.prompt(&node.label) {
            Some(prompt) => {
                let version = match prompt.active_version {
                    Some(active) => format!("version {active} of {} is active", prompt.versions),
                    None => "no version published".to_owned(),
                };
                let checks = match prompt.output_checks {
                    0 => String::new(),
                    1 => " · 1 check on answers".to_owned(),
                    many => format!(" · {many} checks on answers"),
                };
                format!("Library prompt: {version}{checks}")
            }
            None => "No library prompt has this title".to_owned(),
        }),
        _ => None,
    }
}

/// The graph alone, without panels or labels: a template's preview in the
/// gallery, too small for words (`canvas --template KEY --bare`).
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct BareView;

/// Run condition: the panels are drawn (not a bare view).
pub fn panels_shown(bare: Option<Res<BareView>>) -> bool {
    bare.is_none()
}

/// Each frame's panels say afresh what they cover; what they covered last
/// frame is kept for the labels, which are placed before some panels draw.
fn clear_panel_layout(mut layout: ResMut<PanelLayout>) {
    let layout = &mut *layout;
    std::mem::swap(&mut layout.covered_before, &mut layout.covered);
    layout.covered.clear();
    layout.labelled.clear();
    layout.label_rects.clear();
    layout.tooltip = None;
    layout.inspector = None;
    layout.controls.clear();
}

/// Whether the shortcuts overlay is open (`?`, or the status bar's button).
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct ShortcutsShown(pub bool);

/// Every shortcut the overlay lists: keys, what they do.
const SHORTCUTS: &[(&str, &str)] = &[
    ("Drag a node", "move it (Ctrl snaps to the grid)"),
    ("Drag a node's right edge onto another", "connect them"),
    ("Shift+drag · Alt+drag", "select in a box · in a lasso"),
    ("Drag empty space", "orbit (pan in the flat view)"),
    ("Right-drag · WASD", "pan"),
    ("Wheel · + / −", "zoom"),
    ("F", "focus on the selection"),
    ("R", "frame the whole graph"),
    ("L", "lay the graph out (Esc cancels)"),
    ("T", "flat view: columns left to right, seen straight on"),
    ("Click the map", "move the view there"),
    ("Delete", "remove the selection"),
    ("Ctrl+D", "duplicate the selection"),
    ("Ctrl+Z · Ctrl+Shift+Z", "undo · redo"),
    ("?", "show or hide these shortcuts"),
];

/// Whether a text field has the keyboard (then keys do not reach the canvas).
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct KeyboardCaptured(pub bool);

/// What the toolbar and inspector hold between frames.
#[derive(Resource, Default)]
struct ToolState {
    search: String,
    /// The label being edited, and for which node.
    editing: Option<(NodeId, String)>,
    /// Whether the pointer has moved since the window opened (no tooltip before).
    pointer_moved: bool,
    first_cursor: Option<Vec2>,
}

#[allow(clippy::too_many_arguments)]
fn status_bar(
    mut contexts: EguiContexts,
    shown: Res<ShownGraph>,
    selection: Res<Selection>,
    running_layout: Res<RunningLayout>,
    mut notice: ResMut<Notice>,
    time: Res<Time>,
    mut layout: ResMut<PanelLayout>,
    mut frame_ms: Local<f32>,
    keys: Res<ButtonInput<KeyCode>>,
    typed: Res<ButtonInput<bevy::input::keyboard::Key>>,
    captured: Res<KeyboardCaptured>,
    mut shortcuts: ResMut<ShortcutsShown>,
) -> Result {
    let context = contexts.ctx_mut()?;
    // `?` by what the key types, whatever the layout puts it on; Esc closes.
    let question = bevy::input::keyboard::Key::Character("?".into());
    if !captured.0 && typed.just_pressed(question) {
        shortcuts.0 = !shortcuts.0;
    }
    if shortcuts.0 && keys.just_pressed(KeyCode::Escape) {
        shortcuts.0 = false;
    }
    *frame_ms = *frame_ms * 0.9 + time.delta_secs() * 1000.0 * 0.1;
    let mut screen = egui::Ui::new(
        context.clone(),
        "canvas".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(context.viewport_rect()),
    );
    let response = egui::Panel::bottom("status").show(&mut screen, |ui| {
        // One short line: the graph, the selection, what is happening, and
        // the way to the shortcuts (wrapped only on a very narrow window).
        ui.horizontal_wrapped(|ui| {
            match &shown.graph {
                Some(graph) => {
                    ui.strong(&graph.name);
                    ui.label(format!(
                        "{} nodes · {} edges",
                        graph.nodes.len(),
                        graph.edges.len()
                    ));
                    let stride = graph.edges.len().div_ceil(crate::drawing::EDGE_BUDGET);
                    if stride > 1 {
                        ui.weak(format!(
                            "(1 in {stride} edges drawn as stubs; the selection's whole)"
                        ));
                    } else if crate::drawing::edges_drawn_as_stubs(graph.edges.len()) {
                        ui.weak("(edges drawn as stubs; the selection's whole)");
                    }
                    if !selection.nodes.is_empty() {
                        ui.label(format!("{} selected", selection.nodes.len()));
                    }
                    if running_layout.is_running() {
                        ui.label("laying out… (Esc cancels)");
                    }
                }
                None => {
                    ui.label("No graph open: open one from the library window");
                }
            }
            notice.shown_for += time.delta_secs();
            if notice.shown_for > NOTICE_SECONDS {
                notice.message = None;
            }
            if let Some(message) = &notice.message {
                ui.separator();
                ui.colored_label(egui::Color32::from_rgb(255, 120, 110), message);
            }
            ui.separator();
            ui.label(format!("{:.1} ms/frame", *frame_ms));
            ui.separator();
            let hint = ui
                .small_button("? Shortcuts")
                .on_hover_text("Every key and gesture of the canvas");
            if hint.clicked() {
                shortcuts.0 = !shortcuts.0;
            }
            layout
                .controls
                .push(("shortcuts button".into(), to_rect(hint.rect)));
        });
    });
    layout.status_bar_top = response.response.rect.top();
    if shortcuts.0 {
        let mut open = true;
        let shown = egui::Window::new("Shortcuts")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(context, |ui| {
                egui::Grid::new("shortcuts")
                    .num_columns(2)
                    .spacing([18.0, 6.0])
                    .show(ui, |ui| {
                        for (keys, what) in SHORTCUTS {
                            ui.strong(*keys);
                            ui.label(*what);
                            ui.end_row();
                        }
                    });
            });
        if let Some(shown) = shown {
            let rect = shown.response.rect;
            layout.controls.push(("shortcuts".into(), to_rect(rect)));
            layout.covered.push(to_rect(rect));
        }
        shortcuts.0 = open;
    }
    Ok(())
}

/// An egui rectangle as a Bevy one.
fn to_rect(rect: egui::Rect) -> Rect {
    Rect::new(rect.min.x, rect.min.y, rect.max.x, rect.max.y)
}

/// Sends an edit to the history (so it is undoable and stored).
fn request(edits: &mut MessageWriter<EditRequested>, edit: GraphEdit, select: Option<NodeId>) {
    edits.write(EditRequested { edit, select });
}

fn kind_colour32(kind: NodeKind) -> egui::Color32 {
    let [r, g, b] = kind_colour(kind);
    egui::Color32::from_rgb(r, g, b)
}

/// Where a node added from the palette goes: the free spot nearest the
/// middle of the view (see [`free_spot`]).
fn spot_for_new_node(
    graph: &orrery_domain::Graph,
    cameras: &Query<(&OrbitCamera, &Transform)>,
) -> Vec3 {
    let Some((orbit, camera)) = cameras.iter().next() else {
        return Vec3::ZERO;
    };
    let taken: Vec<Vec3> = graph
        .nodes
        .values()
        .map(|node| crate::scene::to_vec3(node.position))
        .collect();
    free_spot(orbit.focus, *camera.right(), *camera.up(), &taken)
}

/// Room a new node keeps from every other, on screen's axes (world units):
/// its own width, a label's height below it, and a gap.
const FREE_SPOT_CLEARANCE: f32 = 2.2;

/// The point nearest `centre`, in the plane of the screen (`right`, `up`),
/// that keeps [`FREE_SPOT_CLEARANCE`] from every node of `taken` as the
/// camera sees them (depth aside, so the new node covers none and none
/// covers it): tried on rings around the centre, nearest first.
pub fn free_spot(centre: Vec3, right: Vec3, up: Vec3, taken: &[Vec3]) -> Vec3 {
    let flat = |point: Vec3| {
        let offset = point - centre;
        Vec2::new(offset.dot(right), offset.dot(up))
    };
    const RINGS: usize = 40;
    let reach = FREE_SPOT_CLEARANCE * (RINGS as f32 + 1.0);
    let nearby: Vec<Vec2> = taken
        .iter()
        .map(|point| flat(*point))
        .filter(|point| point.length() < reach + FREE_SPOT_CLEARANCE)
        .collect();
    let free = |candidate: Vec2| {
        nearby
            .iter()
            .all(|other| other.distance(candidate) >= FREE_SPOT_CLEARANCE)
    };
    if free(Vec2::ZERO) {
        return centre;
    }
    for ring in 1..=RINGS {
        let radius = ring as f32 * FREE_SPOT_CLEARANCE;
        // About one candidate per clearance along the ring, starting right.
        let steps = ((std::f32::consts::TAU * radius / FREE_SPOT_CLEARANCE).ceil() as usize).max(6);
        for step in 0..steps {
            let angle = step as f32 / steps as f32 * std::f32::consts::TAU;
            let candidate = Vec2::new(angle.cos(), angle.sin()) * radius;
            if free(candidate) {
                return centre + right * candidate.x + up * candidate.y;
            }
        }
    }
    centre
}

/// Most library agents the palette offers.
const MAX_PALETTE_AGENTS: usize = 12;

/// The toolbar (search, palette) and the inspector, in the top-right corner.
#[allow(clippy::too_many_arguments)]
fn tool_panels(
    mut contexts: EguiContexts,
    shown: Res<ShownGraph>,
    mut selection: ResMut<Selection>,
    mut state: ResMut<ToolState>,
    mut edits: MessageWriter<EditRequested>,
    mut focus: ResMut<FocusRequest>,
    mut captured: ResMut<KeyboardCaptured>,
    mut layout: ResMut<PanelLayout>,
    catalog: Res<LibraryCatalog>,
    inset: Res<crate::camera::ViewInset>,
    cameras: Query<(&OrbitCamera, &Transform)>,
) -> Result {
    let context = contexts.ctx_mut()?.clone();
    let Some(graph) = &shown.graph else {
        captured.0 = false;
        return Ok(());
    };
    let viewport = context.viewport_rect();
    // Narrower beside the chat panel in a narrow window; never under it.
    let width = (viewport.width() - inset.left - 24.0).clamp(MIN_TOOL_WIDTH, TOOL_WIDTH);
    let state = &mut *state;
    let mut controls: Vec<(String, egui::Rect)> = Vec::new();
    let mut inspector = None;
    let tools = egui::Area::new(egui::Id::new("tools"))
        .anchor(egui::Align2::RIGHT_TOP, egui::vec2(-8.0, 8.0))
        .show(&context, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.set_width(width - 30.0);
                // A past version is read-only: nothing to add to it.
                if shown.editable() {
                    ui.horizontal_wrapped(|ui| {
                        ui.label("Add");
                        for kind in NodeKind::ALL {
                            let button = egui::Button::new(
                                egui::RichText::new(kind.as_str()).color(kind_colour32(kind)),
                            )
                            .small();
                            let response =
                                ui.add(button).on_hover_text(format!("Add a {kind} node"));
                            controls.push((format!("add {kind}"), response.rect));
                            if response.clicked() {
                                let at = spot_for_new_node(graph, &cameras);
                                let count = graph
                                    .nodes
                                    .values()
                                    .filter(|node| node.kind == kind)
                                    .count();
                                let node = Node::new(
                                    kind,
                                    format!("{kind} {}", count + 1),
                                    to_position(at),
                                );
                                let id = node.id;
                                request(&mut edits, GraphEdit::AddNode(node), Some(id));
                            }
                        }
                    });
                    if !catalog.0.agents.is_empty() {
                        ui.horizontal_wrapped(|ui| {
                            ui.label("Library");
                            for agent in catalog.0.agents.iter().take(MAX_PALETTE_AGENTS) {
                                let text = match agent.runs_graph {
                                    Some(_) => format!("{} (team)", agent.name),
                                    None => agent.name.clone(),
                                };
                                let button = egui::Button::new(
                                    egui::RichText::new(text).color(kind_colour32(NodeKind::Agent)),
                                )
                                .small();
                                let hover = match &agent.runs_graph {
                                    Some(graph) => format!(
                                        "Add the custom agent {}: it runs the graph “{graph}”",
                                        agent.name
                                    ),
                                    None => format!("Add the agent {}", agent.name),
                                };
                                let response = ui.add(button).on_hover_text(hover);
                                controls.push((format!("library {}", agent.name), response.rect));
                                if response.clicked() {
                                    let at = spot_for_new_node(graph, &cameras);
                                    let node = Node::new(
                                        NodeKind::Agent,
                                        agent.name.clone(),
                                        to_position(at),
                                    );
                                    let id = node.id;
                                    request(&mut edits, GraphEdit::AddNode(node), Some(id));
                                }
                            }
                        });
                    }
                }
                let search = ui.add(
                    egui::TextEdit::singleline(&mut state.search)
                        .hint_text("Search nodes by name…")
                        .desired_width(f32::INFINITY),
                );
                controls.push(("search".to_owned(), search.rect));
                let query = state.search.trim().to_lowercase();
                if !query.is_empty() {
                    let matches: Vec<&Node> = graph
                        .nodes
                        .values()
                        .filter(|node| node.label.to_lowercase().contains(&query))
                        .take(6)
                        .collect();
                    if matches.is_empty() {
                        ui.weak("no node has that name");
                    }
                    for node in matches {
                        let text = egui::RichText::new(&node.label).color(kind_colour32(node.kind));
                        let response =
                            ui.selectable_label(selection.nodes.contains(&node.id), text);
                        controls.push((format!("result {}", node.label), response.rect));
                        if response.clicked() {
                            selection.nodes = [node.id].into();
                            focus.0 = true;
                        }
                    }
                }
            });
            // The inspector: the one selected node.
            let single = (selection.nodes.len() == 1)
                .then(|| {
                    selection
                        .nodes
                        .iter()
                        .next()
                        .and_then(|id| graph.nodes.get(id))
                })
                .flatten();
            if let Some(node) = single {
                ui.add_space(6.0);
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_width(width - 30.0);
                    ui.horizontal(|ui| {
                        ui.colored_label(
                            kind_colour32(node.kind),
                            egui::RichText::new(node.kind.as_str()).strong(),
                        );
                        ui.weak("node");
                    });
                    if let Some(line) = library_line(&catalog.0, node) {
                        ui.label(&line);
                        inspector = Some(line);
                    }
                    if state.editing.as_ref().is_none_or(|(id, _)| *id != node.id) {
                        state.editing = Some((node.id, node.label.clone()));
                    }
                    let (_, text) = state.editing.as_mut().expect("just set");
                    ui.horizontal(|ui| {
                        ui.label("Label");
                        let response = ui.add(
                            egui::TextEdit::singleline(text)
                                .char_limit(MAX_LABEL_CHARS)
                                .desired_width(f32::INFINITY),
                        );
                        controls.push(("label".to_owned(), response.rect));
                        let trimmed = text.trim().to_owned();
                        if response.lost_focus() && trimmed != node.label && !trimmed.is_empty() {
                            request(
                                &mut edits,
                                GraphEdit::RelabelNode {
                                    id: node.id,
                                    from: node.label.clone(),
                                    to: trimmed,
                                },
                                None,
                            );
                        }
                    });
                    let describe = |ports: &[orrery_domain::Port]| {
                        if ports.is_empty() {
                            "—".to_owned()
                        } else {
                            ports
                                .iter()
                                .map(|port| format!("{} ({})", port.name, port.port_type))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    };
                    ui.label(format!("Inputs: {}", describe(input_ports(node.kind))));
                    ui.label(format!("Outputs: {}", describe(output_ports(node.kind))));
                    let incoming = graph
                        .edges
                        .values()
                        .filter(|edge| edge.to == node.id)
                        .count();
                    let outgoing = graph
                        .edges
                        .values()
                        .filter(|edge| edge.from == node.id)
                        .count();
                    ui.weak(format!(
                        "{incoming} in · {outgoing} out · at ({:.1}, {:.1}, {:.1})",
                        node.position.x, node.position.y, node.position.z
                    ));
                });
            } else if selection.nodes.len() > 1 {
                ui.add_space(6.0);
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_width(width - 30.0);
                    ui.label(format!("{} nodes selected", selection.nodes.len()));
                    ui.weak("F focuses them · Delete removes them · Ctrl+D duplicates");
                });
            }
        });
    // What the toolbar and inspector cover this frame (the inspector comes
    // and goes with the selection).
    let covered = tools.response.rect;
    layout.covered.push(Rect::new(
        covered.min.x,
        covered.min.y,
        covered.max.x,
        covered.max.y,
    ));
    controls.push(("tools".to_owned(), covered));
    layout
        .controls
        .extend(controls.into_iter().map(|(name, area)| {
            (
                name,
                Rect::new(area.min.x, area.min.y, area.max.x, area.max.y),
            )
        }));
    layout.inspector = inspector;
    captured.0 = context.egui_wants_keyboard_input();
    Ok(())
}

/// Labels, the tooltip, and the gesture in progress, drawn over the graph.
#[allow(clippy::too_many_arguments)]
fn graph_overlays(
    mut contexts: EguiContexts,
    shown: Res<ShownGraph>,
    selection: Res<Selection>,
    drag: Res<ActiveDrag>,
    mut state: ResMut<ToolState>,
    mut layout: ResMut<PanelLayout>,
    mut pick_index: ResMut<NodePickIndex>,
    camera: Single<(&Camera, &GlobalTransform, &Projection), With<OrbitCamera>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    nodes: Query<(Entity, &GraphNode, &Transform)>,
) -> Result {
    let context = contexts.ctx_mut()?.clone();
    let Some(graph) = &shown.graph else {
        return Ok(());
    };
    let (camera, camera_transform, projection) = *camera;
    let Ok(window) = windows.single() else {
        return Ok(());
    };
    let painter = context.layer_painter(egui::LayerId::new(
        egui::Order::Background,
        egui::Id::new("graph-overlays"),
    ));
    // The node under a pointer the user has moved (its label goes before
    // others', its tooltip is drawn below).
    let cursor = window.cursor_position();
    if let Some(cursor) = cursor {
        match state.first_cursor {
            None => state.first_cursor = Some(cursor),
            Some(first) if first.distance(cursor) > 1.0 => state.pointer_moved = true,
            _ => {}
        }
    }
    let idle = matches!(drag.gesture, crate::drag::Gesture::Idle);
    let hovered = cursor
        .filter(|_| state.pointer_moved && idle && !context.is_pointer_over_egui())
        .and_then(|cursor| {
            let index = pick_index.get_or_build(nodes.iter());
            camera
                .viewport_to_world(camera_transform, cursor)
                .ok()
                .and_then(|ray| index.nearest_hit(ray))
                .map(|((_, id), _)| id)
        });
    // Labels: nodes drawn big enough, the selected first, then the hovered,
    // then the larger on screen; a label that would overlap one already placed, or cover
    // another node, is left out. Each has a dark halo for contrast.
    // Radius on screen of a node at `depth` (all the same in the flat view).
    let radius_at = |depth: f32| NODE_RADIUS / world_per_pixel(projection, depth, window.height());
    let forward = *camera_transform.forward();
    let eye = camera_transform.translation();
    // Nodes a label must not cover: every one drawn at least 3 px across
    // (the nearest few thousand), as discs on screen.
    let mut obstacles: Vec<(f32, NodeId, Vec3)> = Vec::new();
    let mut near: Vec<(bool, f32, &GraphNode, Vec3)> = Vec::new();
    for (_, node, transform) in &nodes {
        let position = transform.translation;
        let depth = (position - eye).dot(forward);
        if depth <= 0.0 || radius_at(depth) < 1.5 {
            continue;
        }
        obstacles.push((depth, node.id, position));
        if radius_at(depth) >= LABEL_MIN_RADIUS {
            near.push((selection.nodes.contains(&node.id), depth, node, position));
        }
    }
    obstacles.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Who wins a place: the selected, then the hovered, then the nearer.
    near.sort_by(|a, b| {
        (b.0.cmp(&a.0))
            .then((hovered == Some(b.2.id)).cmp(&(hovered == Some(a.2.id))))
            .then(a.1.total_cmp(&b.1))
    });
    obstacles.truncate(MAX_LABEL_OBSTACLES);
    let discs: Vec<(NodeId, egui::Pos2, f32)> = obstacles
        .iter()
        .filter_map(|(depth, id, position)| {
            let screen = camera.world_to_viewport(camera_transform, *position).ok()?;
            Some((*id, egui::pos2(screen.x, screen.y), radius_at(*depth)))
        })
        .collect();
    let mut placed: Vec<egui::Rect> = Vec::new();
    for (_, depth, node, position) in near {
        if placed.len() >= MAX_LABELS {
            break;
        }
        let Ok(screen) = camera.world_to_viewport(camera_transform, position) else {
            continue;
        };
        let Some(label) = graph.nodes.get(&node.id).map(|node| node.label.as_str()) else {
            continue;
        };
        let radius = radius_at(depth);
        let size = (radius * 0.45).clamp(12.0, 18.0);
        let galley = painter.layout_no_wrap(
            label.to_owned(),
            egui::FontId::proportional(size),
            egui::Color32::from_rgb(226, 231, 240),
        );
        let top_left = egui::pos2(screen.x - galley.size().x / 2.0, screen.y + radius + 3.0);
        let rect = egui::Rect::from_min_size(top_left, galley.size()).expand(1.0);
        let covers_a_node = discs
            .iter()
            .any(|(id, centre, radius)| *id != node.id && rect.distance_to_pos(*centre) < *radius);
        let under_a_panel = layout.covered_before.iter().any(|panel| {
            panel.min.x < rect.max.x
                && rect.min.x < panel.max.x
                && panel.min.y < rect.max.y
                && rect.min.y < panel.max.y
        });
        if covers_a_node || under_a_panel || placed.iter().any(|other| other.intersects(rect)) {
            continue;
        }
        let halo = egui::Color32::from_rgba_unmultiplied(8, 10, 16, 220);
        for (dx, dy) in [(-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0)] {
            painter.galley_with_override_text_color(
                top_left + egui::vec2(dx, dy),
                galley.clone(),
                halo,
            );
        }
        painter.galley(top_left, galley, egui::Color32::WHITE);
        placed.push(rect);
        layout.labelled.push(node.id);
        layout
            .label_rects
            .push([rect.min.x, rect.min.y, rect.max.x, rect.max.y]);
    }
    // The tooltip: the node under a pointer the user has moved.
    if let Some(cursor) = cursor {
        let hovered = hovered
            .filter(|id| !selection.nodes.contains(id))
            .and_then(|id| graph.nodes.get(&id));
        {
            if let Some(node) = hovered {
                let text = format!(
                    "{} · {}\nin: {}\nout: {}",
                    node.label,
                    node.kind,
                    input_ports(node.kind)
                        .iter()
                        .map(|port| format!("{} ({})", port.name, port.port_type))
                        .collect::<Vec<_>>()
                        .join(", "),
                    output_ports(node.kind)
                        .iter()
                        .map(|port| format!("{} ({})", port.name, port.port_type))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                layout.tooltip = Some((node.id, text.clone()));
                let galley = painter.layout_no_wrap(
                    text,
                    egui::FontId::proportional(13.0),
                    egui::Color32::from_rgb(235, 238, 245),
                );
                let at = egui::pos2(cursor.x + 18.0, cursor.y + 18.0);
                let area = egui::Rect::from_min_size(at, galley.size()).expand(5.0);
                painter.rect_filled(
                    area,
                    4.0,
                    egui::Color32::from_rgba_unmultiplied(20, 24, 34, 235),
                );
                painter.galley(at, galley, egui::Color32::WHITE);
                layout
                    .covered
                    .push(Rect::new(area.min.x, area.min.y, area.max.x, area.max.y));
            }
        }
    }
    // The gesture in progress.
    let accent = egui::Color32::from_rgb(120, 160, 255);
    if let Some(rectangle) = drag.selection_rectangle() {
        let area = egui::Rect::from_min_max(
            egui::pos2(rectangle.min.x, rectangle.min.y),
            egui::pos2(rectangle.max.x, rectangle.max.y),
        );
        painter.rect_filled(
            area,
            0.0,
            egui::Color32::from_rgba_unmultiplied(120, 160, 255, 24),
        );
        painter.rect_stroke(
            area,
            0.0,
            egui::Stroke::new(1.0, accent),
            egui::StrokeKind::Inside,
        );
    }
    if let Some(points) = drag.lasso() {
        let outline: Vec<egui::Pos2> = points
            .iter()
            .map(|point| egui::pos2(point.x, point.y))
            .collect();
        painter.add(egui::Shape::closed_line(
            outline,
            egui::Stroke::new(1.5, accent),
        ));
    }
    if let Some((start, end)) = drag.connecting() {
        painter.line_segment(
            [egui::pos2(start.x, start.y), egui::pos2(end.x, end.y)],
            egui::Stroke::new(2.0, egui::Color32::from_rgb(250, 210, 120)),
        );
        painter.circle_filled(
            egui::pos2(end.x, end.y),
            4.0,
            egui::Color32::from_rgb(250, 210, 120),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_node_lands_on_the_free_spot_nearest_the_middle() {
        let (right, up) = (Vec3::X, Vec3::Y);
        // An empty view: the middle itself.
        assert_eq!(free_spot(Vec3::ZERO, right, up, &[]), Vec3::ZERO);
        // The middle taken, and a ring of nodes around it: the spot keeps
        // clear of all of them and is no farther than it needs to be.
        let mut taken = vec![Vec3::ZERO];
        for step in 0..8 {
            let angle = step as f32 / 8.0 * std::f32::consts::TAU;
            taken.push(Vec3::new(angle.cos(), angle.sin(), 0.0) * 2.0);
        }
        let spot = free_spot(Vec3::ZERO, right, up, &taken);
        for node in &taken {
            let apart = Vec2::new(spot.x - node.x, spot.y - node.y).length();
            assert!(
                apart >= FREE_SPOT_CLEARANCE,
                "{spot} is {apart} from {node}"
            );
        }
        assert!(
            spot.length() <= 2.0 + 2.0 * FREE_SPOT_CLEARANCE,
            "{spot} is far out"
        );
        // A node behind the middle, far in depth, still covers it on screen.
        let behind = free_spot(Vec3::ZERO, right, up, &[Vec3::new(0.0, 0.0, -40.0)]);
        assert!(behind.truncate().length() >= FREE_SPOT_CLEARANCE);
        assert_eq!(behind.z, 0.0, "the spot stays at the view's depth");
    }
}
