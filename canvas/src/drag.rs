//! The pointer on the canvas: click to select, Shift+click to add or remove a
//! node, Shift+drag on empty space to box-select, drag a node to move it with
//! every selected node (on a plane that faces the camera), drag empty space to
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
use orrery_domain::{GraphId, NodeId, NodeMove};

use crate::bridge::GraphLoaded;
use crate::camera::OrbitCamera;
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
struct NodePickIndex(Option<PickIndex<(Entity, NodeId)>>);

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
}

/// The gesture in progress.
#[derive(Resource, Default, Debug)]
pub struct ActiveDrag {
    /// What the left button is doing.
    pub gesture: Gesture,
}

impl ActiveDrag {
    /// Whether the camera should follow the pointer (a drag on empty space).
    pub fn orbiting(&self) -> bool {
        matches!(self.gesture, Gesture::Orbiting { .. })
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
    mut shift: Local<bool>,
    shown: Res<ShownGraph>,
    mut finished: MessageWriter<NodeDragFinished>,
    mut egui: EguiContexts,
    mut pick_index: ResMut<NodePickIndex>,
) {
    let Ok(window) = primary.single() else {
        return;
    };
    let pointer_on_panel = egui
        .ctx_mut()
        .map(|context| context.egui_wants_pointer_input() || context.is_pointer_over_egui())
        .unwrap_or(false);
    let (camera, camera_transform) = *camera;
    for event in window_events.read() {
        match event {
            WindowEvent::KeyboardInput(key)
                if matches!(key.key_code, KeyCode::ShiftLeft | KeyCode::ShiftRight) =>
            {
                *shift = key.state == ButtonState::Pressed;
            }
            WindowEvent::CursorMoved(moved) if moved.window == window => {
                *cursor = Some(moved.position);
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
                                transform.translation = *start + delta;
                            }
                        }
                    }
                    Gesture::BoxSelecting { to, .. } => *to = moved.position,
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
                        if pointer_on_panel {
                            continue;
                        }
                        let index = pick_index.0.get_or_insert_with(|| {
                            PickIndex::build(
                                nodes.iter().map(|(entity, node, transform)| {
                                    ((entity, node.id), transform.translation)
                                }),
                                NODE_RADIUS,
                            )
                        });
                        drag.gesture = press(
                            camera,
                            camera_transform,
                            position,
                            *shift,
                            index,
                            &nodes,
                            &mut selection,
                        );
                    }
                    ButtonState::Released => {
                        let gesture = std::mem::take(&mut drag.gesture);
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
fn press(
    camera: &Camera,
    camera_transform: &GlobalTransform,
    cursor: Vec2,
    shift: bool,
    index: &PickIndex<(Entity, NodeId)>,
    nodes: &Query<(Entity, &GraphNode, &mut Transform)>,
    selection: &mut Selection,
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
    if !selection.nodes.contains(&id) {
        selection.nodes = BTreeSet::from([id]);
    }
    let Ok((_, _, transform)) = nodes.get(entity) else {
        return Gesture::Idle;
    };
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
        Gesture::Idle => {}
    }
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
