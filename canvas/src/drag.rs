//! The pointer on the canvas: click to select, Shift+click to add or remove a
//! node, Shift+drag on empty space to box-select, Alt+drag to lasso-select,
//! drag a node to move it with every selected node (on a plane that faces the
//! camera), drag from a node's output port (its right edge) onto another node
//! to connect them (refused with the reason in the status bar when the port
//! types do not fit or the edge would close a cycle), drag empty space to
//! orbit, click empty space to clear the selection.
//!
//! Pointer and keyboard events are read in the order the window delivered
//! them (one `WindowEvent` stream), so a press and the moves after it are never
//! reordered even when several arrive in one frame.

use std::collections::BTreeSet;

use bevy::input::ButtonState;
use bevy::prelude::*;
use bevy::window::{PrimaryWindow, WindowEvent};
use bevy_egui::EguiContexts;
use orrery_domain::{
    Edge, EdgeId, GraphId, NodeId, NodeKind, NodeMove, check_connection, check_ports, input_ports,
    matching_input, output_ports,
};

use crate::bridge::GraphLoaded;
use crate::camera::OrbitCamera;
use crate::panels::Notice;
use crate::pick::PickIndex;
use crate::scene::{GraphNode, NODE_RADIUS, ShownGraph, to_position};

/// A press and release closer than this (logical pixels) is a click.
const CLICK_SLOP: f32 = 4.0;

/// Selecting and dragging nodes.
pub struct NodeDragPlugin;

impl Plugin for NodeDragPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ActiveDrag>()
            .init_resource::<Selection>()
            .init_resource::<NodePickIndex>()
            .add_message::<NodeDragFinished>()
            .add_message::<ConnectRequested>()
            .add_systems(
                Update,
                (
                    clear_selection_on_load.run_if(on_message::<GraphLoaded>),
                    invalidate_pick_index,
                    drag_nodes,
                )
                    .chain()
                    .in_set(PointerSystems),
            );
    }
}

/// Systems that read the pointer; camera controls run after them.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct PointerSystems;

/// The selected nodes.
#[derive(Resource, Default, Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Their ids.
    pub nodes: BTreeSet<NodeId>,
}

/// The picking hierarchy over node positions, built when the pointer goes
/// down and dropped whenever a node is added, moved or removed.
#[derive(Resource, Default)]
pub struct NodePickIndex(Option<PickIndex<(Entity, NodeId)>>);

impl NodePickIndex {
    /// The index, built from `nodes` (entity, node, where it is) if it was dropped.
    pub fn get_or_build<'a>(
        &mut self,
        nodes: impl IntoIterator<Item = (Entity, &'a GraphNode, &'a Transform)>,
    ) -> &PickIndex<(Entity, NodeId)> {
        self.0.get_or_insert_with(|| {
            PickIndex::build(
                nodes
                    .into_iter()
                    .map(|(entity, node, transform)| ((entity, node.id), transform.translation)),
                NODE_RADIUS,
            )
        })
    }
}

/// Nodes that appeared or moved since the last frame.
type MovedOrNew = (With<GraphNode>, Or<(Changed<Transform>, Added<GraphNode>)>);

fn invalidate_pick_index(
    changed: Query<(), MovedOrNew>,
    mut removed: RemovedComponents<GraphNode>,
    mut index: ResMut<NodePickIndex>,
) {
    if !changed.is_empty() || removed.read().count() > 0 {
        index.0 = None;
    }
}

fn clear_selection_on_load(mut selection: ResMut<Selection>) {
    if !selection.nodes.is_empty() {
        selection.nodes.clear();
    }
}

/// What the left button is doing.
#[derive(Debug, Clone, Default)]
pub enum Gesture {
    /// Nothing.
    #[default]
    Idle,
    /// Moving the grabbed node and every other selected node with it.
    MovingNodes {
        /// The node under the pointer.
        grab: NodeGrab,
        /// Every node that moves, with where it started.
        members: Vec<(Entity, NodeId, Vec3)>,
    },
    /// Drawing a selection rectangle (logical window coordinates).
    BoxSelecting {
        /// Where the drag started.
        from: Vec2,
        /// Where the pointer is.
        to: Vec2,
    },
    /// Orbiting the camera; a release near `from` is a click on empty space.
    Orbiting {
        /// Where the press happened.
        from: Vec2,
    },
    /// Drawing a lasso around the nodes to select (logical window coordinates).
    Lasso {
        /// The outline so far.
        points: Vec<Vec2>,
        /// Whether the lasso adds to the selection (Shift) or replaces it.
        adding: bool,
    },
    /// Dragging a new edge out of a node's output port.
    Connecting {
        /// The node the edge leaves.
        from: NodeId,
        /// Its kind.
        kind: NodeKind,
        /// The output port.
        port: &'static str,
        /// The port on screen.
        start: Vec2,
        /// Where the pointer is.
        to: Vec2,
    },
}

/// The gesture in progress.
#[derive(Resource, Default, Debug)]
pub struct ActiveDrag {
    /// What the left button is doing.
    pub gesture: Gesture,
    /// How far the pointer moved while orbiting since the camera last
    /// turned: taken event by event, so a drag that starts and ends within
    /// one frame still turns the view.
    pub orbit_motion: Vec2,
}

impl ActiveDrag {
    /// Whether the camera should follow the pointer (a drag on empty space).
    pub fn orbiting(&self) -> bool {
        matches!(self.gesture, Gesture::Orbiting { .. })
    }

    /// The pointer's motion while orbiting since the last call.
    pub fn take_orbit_motion(&mut self) -> Vec2 {
        std::mem::take(&mut self.orbit_motion)
    }

    /// The lasso being drawn, if any.
    pub fn lasso(&self) -> Option<&[Vec2]> {
        match &self.gesture {
            Gesture::Lasso { points, .. } => Some(points),
            _ => None,
        }
    }

    /// The edge being dragged out of a port (from, to), if any.
    pub fn connecting(&self) -> Option<(Vec2, Vec2)> {
        match self.gesture {
            Gesture::Connecting { start, to, .. } => Some((start, to)),
            _ => None,
        }
    }

    /// The selection rectangle being drawn, if any.
    pub fn selection_rectangle(&self) -> Option<Rect> {
        match self.gesture {
            Gesture::BoxSelecting { from, to } => Some(Rect::from_corners(from, to)),
            _ => None,
        }
    }
}

/// A node held by the pointer.
#[derive(Debug, Clone, Copy)]
pub struct NodeGrab {
    plane_origin: Vec3,
    plane_normal: Vec3,
    /// Where the node was when grabbed.
    start: Vec3,
    /// From the point grabbed on the plane to the node's centre.
    offset: Vec3,
}

/// The user connected two nodes through ports that fit.
#[derive(Message, Debug, Clone)]
pub struct ConnectRequested {
    /// The graph.
    pub graph: GraphId,
    /// The new edge.
    pub edge: Edge,
}

/// A drag ended with nodes somewhere else than where they started.
#[derive(Message, Debug, Clone)]
pub struct NodeDragFinished {
    /// The graph.
    pub graph: GraphId,
    /// Each moved node, from where to where.
    pub moves: Vec<NodeMove>,
}

#[allow(clippy::too_many_arguments)]
fn drag_nodes(
    mut window_events: MessageReader<WindowEvent>,
    primary: Query<Entity, With<PrimaryWindow>>,
    camera: Single<(&Camera, &GlobalTransform), With<OrbitCamera>>,
    mut nodes: Query<(Entity, &GraphNode, &mut Transform)>,
    mut drag: ResMut<ActiveDrag>,
    mut selection: ResMut<Selection>,
    mut cursor: Local<Option<Vec2>>,
    mut modifiers: Local<PointerModifiers>,
    shown: Res<ShownGraph>,
    mut finished: MessageWriter<NodeDragFinished>,
    mut connect: MessageWriter<ConnectRequested>,
    mut egui: EguiContexts,
    mut pick_index: ResMut<NodePickIndex>,
    mut notice: ResMut<Notice>,
) {
    let Ok(window) = primary.single() else {
        return;
    };
    let panels = egui.ctx_mut().ok().cloned();
    // Judged where the press is, not where egui last saw the pointer: a
    // quick move from a panel to the graph and a click arrive in one frame,
    // before egui hears of the move.
    let pointer_on_panel = |position: Vec2| {
        panels
            .as_ref()
            .is_some_and(|context| panel_at(context, position))
    };
    let (camera, camera_transform) = *camera;
    for event in window_events.read() {
        match event {
            WindowEvent::KeyboardInput(key)
                if matches!(key.key_code, KeyCode::ShiftLeft | KeyCode::ShiftRight) =>
            {
                modifiers.shift = key.state == ButtonState::Pressed;
            }
            WindowEvent::KeyboardInput(key)
                if matches!(key.key_code, KeyCode::AltLeft | KeyCode::AltRight) =>
            {
                modifiers.alt = key.state == ButtonState::Pressed;
            }
            WindowEvent::KeyboardInput(key)
                if matches!(key.key_code, KeyCode::ControlLeft | KeyCode::ControlRight) =>
            {
                modifiers.ctrl = key.state == ButtonState::Pressed;
            }
            WindowEvent::CursorMoved(moved) if moved.window == window => {
                let before = cursor.replace(moved.position);
                if drag.orbiting()
                    && let Some(before) = before
                {
                    drag.orbit_motion += moved.position - before;
                }
                match &mut drag.gesture {
                    Gesture::MovingNodes { grab, members } => {
                        let Some(centre) =
                            point_on_plane(camera, camera_transform, moved.position, grab)
                        else {
                            continue;
                        };
                        let delta = centre + grab.offset - grab.start;
                        for (entity, _, start) in members.iter() {
                            if let Ok((_, _, mut transform)) = nodes.get_mut(*entity) {
                                // Ctrl held: every moved node lands on the grid.
                                transform.translation = if modifiers.ctrl {
                                    snap_to_grid(*start + delta)
                                } else {
                                    *start + delta
                                };
                            }
                        }
                    }
                    Gesture::BoxSelecting { to, .. } => *to = moved.position,
                    Gesture::Lasso { points, .. } => {
                        if points
                            .last()
                            .is_none_or(|last| last.distance(moved.position) >= 2.0)
                        {
                            points.push(moved.position);
                        }
                    }
                    Gesture::Connecting { to, .. } => *to = moved.position,
                    Gesture::Idle | Gesture::Orbiting { .. } => {}
                }
            }
            WindowEvent::CursorLeft(left) if left.window == window => *cursor = None,
            WindowEvent::MouseButtonInput(input)
                if input.window == window && input.button == MouseButton::Left =>
            {
                match input.state {
                    ButtonState::Pressed => {
                        let Some(position) = *cursor else { continue };
                        if pointer_on_panel(position) {
                            continue;
                        }
                        if modifiers.alt {
                            drag.gesture = Gesture::Lasso {
                                points: vec![position],
                                adding: modifiers.shift,
                            };
                            continue;
                        }
                        let index = pick_index.get_or_build(nodes.iter());
                        drag.gesture = press(
                            camera,
                            camera_transform,
                            position,
                            modifiers.shift,
                            index,
                            &nodes,
                            &mut selection,
                            shown.editable(),
                        );
                    }
                    ButtonState::Released => {
                        let gesture = std::mem::take(&mut drag.gesture);
                        if let Gesture::Connecting {
                            from, kind, port, ..
                        } = gesture
                        {
                            let target = cursor
                                .and_then(|at| camera.viewport_to_world(camera_transform, at).ok())
                                .zip(pick_index.0.as_ref())
                                .and_then(|(ray, index)| index.nearest_hit(ray))
                                .map(|((_, id), _)| id);
                            match connection(&shown, from, kind, port, target) {
                                Some(Ok(request)) => {
                                    connect.write(request);
                                }
                                Some(Err(reason)) => notice.show(reason),
                                None => {}
                            }
                            continue;
                        }
                        release(
                            gesture,
                            *cursor,
                            camera,
                            camera_transform,
                            &nodes,
                            &shown,
                            &mut selection,
                            &mut finished,
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// What a left press starts.
/// Whether egui is using the pointer (a drag that began on a panel) or
/// draws a window, menu or tooltip at `position` (logical pixels).
fn panel_at(context: &bevy_egui::egui::Context, position: Vec2) -> bool {
    context.egui_is_using_pointer()
        || context
            .layer_id_at(bevy_egui::egui::pos2(position.x, position.y))
            .is_some_and(|layer| layer.order != bevy_egui::egui::Order::Background)
}

/// What a left press starts. On a graph that may not be edited (a past
/// version) a press only selects: nothing is moved or connected.
#[allow(clippy::too_many_arguments)]
fn press(
    camera: &Camera,
    camera_transform: &GlobalTransform,
    cursor: Vec2,
    shift: bool,
    index: &PickIndex<(Entity, NodeId)>,
    nodes: &Query<(Entity, &GraphNode, &mut Transform)>,
    selection: &mut Selection,
    editable: bool,
) -> Gesture {
    let Ok(ray) = camera.viewport_to_world(camera_transform, cursor) else {
        return Gesture::Idle;
    };
    let Some(((entity, id), _)) = index.nearest_hit(ray) else {
        return if shift {
            Gesture::BoxSelecting {
                from: cursor,
                to: cursor,
            }
        } else {
            Gesture::Orbiting { from: cursor }
        };
    };
    if shift {
        if !selection.nodes.remove(&id) {
            selection.nodes.insert(id);
        }
        return Gesture::Idle;
    }
    let Ok((_, node, transform)) = nodes.get(entity) else {
        return Gesture::Idle;
    };
    if editable
        && let Some((port, start)) = output_port_under(
            camera,
            camera_transform,
            transform.translation,
            node.kind,
            cursor,
        )
    {
        return Gesture::Connecting {
            from: id,
            kind: node.kind,
            port,
            start,
            to: cursor,
        };
    }
    if !selection.nodes.contains(&id) {
        selection.nodes = BTreeSet::from([id]);
    }
    if !editable {
        return Gesture::Idle;
    }
    let plane_origin = transform.translation;
    let plane_normal = *camera_transform.forward();
    let Some(distance) = ray.intersect_plane(plane_origin, InfinitePlane3d::new(plane_normal))
    else {
        return Gesture::Idle;
    };
    let members = nodes
        .iter()
        .filter(|(_, node, _)| selection.nodes.contains(&node.id))
        .map(|(entity, node, transform)| (entity, node.id, transform.translation))
        .collect();
    Gesture::MovingNodes {
        grab: NodeGrab {
            plane_origin,
            plane_normal,
            start: plane_origin,
            offset: plane_origin - ray.get_point(distance),
        },
        members,
    }
}

/// What a left release finishes.
#[allow(clippy::too_many_arguments)]
fn release(
    gesture: Gesture,
    cursor: Option<Vec2>,
    camera: &Camera,
    camera_transform: &GlobalTransform,
    nodes: &Query<(Entity, &GraphNode, &mut Transform)>,
    shown: &ShownGraph,
    selection: &mut Selection,
    finished: &mut MessageWriter<NodeDragFinished>,
) {
    match gesture {
        Gesture::MovingNodes { members, .. } => {
            let Some(graph) = shown.id() else { return };
            let moves: Vec<NodeMove> = members
                .iter()
                .filter_map(|(entity, id, start)| {
                    let (_, _, transform) = nodes.get(*entity).ok()?;
                    (transform.translation != *start).then(|| NodeMove {
                        id: *id,
                        from: to_position(*start),
                        to: to_position(transform.translation),
                    })
                })
                .collect();
            if !moves.is_empty() {
                finished.write(NodeDragFinished { graph, moves });
            }
        }
        Gesture::BoxSelecting { from, to } => {
            let rectangle = Rect::from_corners(from, to);
            for (_, node, transform) in nodes.iter() {
                let inside = camera
                    .world_to_viewport(camera_transform, transform.translation)
                    .is_ok_and(|point| rectangle.contains(point));
                if inside {
                    selection.nodes.insert(node.id);
                }
            }
        }
        Gesture::Orbiting { from } => {
            if cursor.is_some_and(|at| at.distance(from) < CLICK_SLOP) {
                selection.nodes.clear();
            }
        }
        Gesture::Lasso { points, adding } => {
            if !adding {
                selection.nodes.clear();
            }
            for (_, node, transform) in nodes.iter() {
                let inside = camera
                    .world_to_viewport(camera_transform, transform.translation)
                    .is_ok_and(|point| inside_polygon(point, &points));
                if inside {
                    selection.nodes.insert(node.id);
                }
            }
        }
        Gesture::Idle | Gesture::Connecting { .. } => {}
    }
}

/// Modifier keys the pointer cares about, followed event by event.
#[derive(Default)]
struct PointerModifiers {
    shift: bool,
    alt: bool,
    ctrl: bool,
}

/// The grid nodes snap to while Ctrl is held during a drag, in world units
/// (two node diameters).
pub const SNAP_STEP: f32 = 2.0;

/// `point` on the snapping grid: each axis rounded to a multiple of [`SNAP_STEP`].
pub fn snap_to_grid(point: Vec3) -> Vec3 {
    (point / SNAP_STEP).round() * SNAP_STEP
}

/// Whether `point` lies inside the closed polygon `outline` (even-odd rule).
pub fn inside_polygon(point: Vec2, outline: &[Vec2]) -> bool {
    if outline.len() < 3 {
        return false;
    }
    let mut inside = false;
    let mut previous = outline[outline.len() - 1];
    for &current in outline {
        if (current.y > point.y) != (previous.y > point.y) {
            let crossing = previous.x
                + (point.y - previous.y) / (current.y - previous.y) * (current.x - previous.x);
            if point.x < crossing {
                inside = !inside;
            }
        }
        previous = current;
    }
    inside
}

/// The output port under the cursor, if the cursor is on a node's right
/// edge, with the port's place on screen.
fn output_port_under(
    camera: &Camera,
    camera_transform: &GlobalTransform,
    centre: Vec3,
    kind: NodeKind,
    cursor: Vec2,
) -> Option<(&'static str, Vec2)> {
    let port = output_ports(kind).first()?;
    let on_screen = camera.world_to_viewport(camera_transform, centre).ok()?;
    let edge = camera
        .world_to_viewport(
            camera_transform,
            centre + *camera_transform.right() * NODE_RADIUS,
        )
        .ok()?;
    let radius = on_screen.distance(edge).max(1.0);
    let offset = (cursor - on_screen) / radius;
    let start = on_screen + (edge - on_screen) * 0.9;
    (offset.x > 0.6 && offset.y.abs() < 0.45).then_some((port.name, start))
}

/// The edge a port drag asks for, or why it cannot be made; `None` when the
/// drag ended on empty space or back on its own node.
fn connection(
    shown: &ShownGraph,
    from: NodeId,
    kind: NodeKind,
    port: &'static str,
    target: Option<NodeId>,
) -> Option<Result<ConnectRequested, String>> {
    let graph = shown.graph.as_ref()?;
    let target = target.filter(|target| *target != from)?;
    let target_kind = graph.nodes.get(&target)?.kind;
    let Some(input) = matching_input(kind, port, target_kind) else {
        // Name the port the user most likely meant, so the reason is specific.
        let wanted = input_ports(target_kind)
            .first()
            .map_or("in", |port| port.name);
        let reason = check_ports(graph, from, port, target, wanted)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_else(|| "these ports do not fit".to_owned());
        return Some(Err(reason));
    };
    Some(
        check_connection(graph, from, port, target, input.name)
            .map(|()| ConnectRequested {
                graph: graph.id,
                edge: Edge {
                    id: EdgeId::new(),
                    from,
                    from_port: port.to_owned(),
                    to: target,
                    to_port: input.name.to_owned(),
                },
            })
            .map_err(|error| error.to_string()),
    )
}

/// Where the cursor's ray meets the grab plane.
fn point_on_plane(
    camera: &Camera,
    camera_transform: &GlobalTransform,
    cursor: Vec2,
    grab: &NodeGrab,
) -> Option<Vec3> {
    let ray = camera.viewport_to_world(camera_transform, cursor).ok()?;
    let distance =
        ray.intersect_plane(grab.plane_origin, InfinitePlane3d::new(grab.plane_normal))?;
    Some(ray.get_point(distance))
}
