//! Dragging nodes with the mouse on a plane that faces the camera.
//!
//! Pointer events are read in the order the window delivered them (one
//! `WindowEvent` stream), so a press and the moves after it are never
//! reordered even when several arrive in one frame.

use bevy::input::ButtonState;
use bevy::prelude::*;
use bevy::window::{PrimaryWindow, WindowEvent};
use bevy_egui::EguiContexts;
use orrery_domain::{GraphId, NodeId, Position};

use crate::camera::OrbitCamera;
use crate::pick::PickIndex;
use crate::scene::{GraphNode, NODE_RADIUS, ShownGraph, to_position};

/// Node dragging.
pub struct NodeDragPlugin;

impl Plugin for NodeDragPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ActiveDrag>()
            .init_resource::<NodePickIndex>()
            .add_message::<NodeDragFinished>()
            .add_systems(
                Update,
                (invalidate_pick_index, drag_nodes)
                    .chain()
                    .in_set(PointerSystems),
            );
    }
}

/// Systems that read the pointer; camera controls run after them.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct PointerSystems;

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

/// The drag in progress, if any.
#[derive(Resource, Default, Debug)]
pub struct ActiveDrag {
    /// The node being dragged.
    pub node: Option<NodeGrab>,
    /// The left button went down over empty space (the camera orbits).
    pub pressed_on_empty: bool,
}

/// A node held by the pointer.
#[derive(Debug, Clone, Copy)]
pub struct NodeGrab {
    entity: Entity,
    id: NodeId,
    plane_origin: Vec3,
    plane_normal: Vec3,
    /// Where the node was when grabbed.
    start: Vec3,
    /// From the point grabbed on the plane to the node's centre.
    offset: Vec3,
}

/// A drag ended with the node somewhere else than where it started.
#[derive(Message, Debug, Clone, Copy)]
pub struct NodeDragFinished {
    /// The graph.
    pub graph: GraphId,
    /// The node.
    pub node: NodeId,
    /// Where the drag started.
    pub from: Position,
    /// Where the node rests now.
    pub to: Position,
}

#[allow(clippy::too_many_arguments)]
fn drag_nodes(
    mut window_events: MessageReader<WindowEvent>,
    primary: Query<Entity, With<PrimaryWindow>>,
    camera: Single<(&Camera, &GlobalTransform), With<OrbitCamera>>,
    mut nodes: Query<(Entity, &GraphNode, &mut Transform)>,
    mut drag: ResMut<ActiveDrag>,
    mut cursor: Local<Option<Vec2>>,
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
            WindowEvent::CursorMoved(moved) if moved.window == window => {
                *cursor = Some(moved.position);
                let Some(grab) = drag.node else { continue };
                let Some(centre) = point_on_plane(camera, camera_transform, moved.position, &grab)
                else {
                    continue;
                };
                if let Ok((_, _, mut transform)) = nodes.get_mut(grab.entity) {
                    transform.translation = centre + grab.offset;
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
                        match grab_node(camera, camera_transform, position, index, &nodes) {
                            Some(grab) => drag.node = Some(grab),
                            None => drag.pressed_on_empty = true,
                        }
                    }
                    ButtonState::Released => {
                        drag.pressed_on_empty = false;
                        let Some(grab) = drag.node.take() else {
                            continue;
                        };
                        let (Ok((_, _, transform)), Some(graph)) =
                            (nodes.get(grab.entity), shown.id())
                        else {
                            continue;
                        };
                        if transform.translation != grab.start {
                            finished.write(NodeDragFinished {
                                graph,
                                node: grab.id,
                                from: to_position(grab.start),
                                to: to_position(transform.translation),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn grab_node(
    camera: &Camera,
    camera_transform: &GlobalTransform,
    cursor: Vec2,
    index: &PickIndex<(Entity, NodeId)>,
    nodes: &Query<(Entity, &GraphNode, &mut Transform)>,
) -> Option<NodeGrab> {
    let ray = camera.viewport_to_world(camera_transform, cursor).ok()?;
    let ((entity, id), _) = index.nearest_hit(ray)?;
    let (_, _, transform) = nodes.get(entity).ok()?;
    let plane_origin = transform.translation;
    let plane_normal = *camera_transform.forward();
    let distance = ray.intersect_plane(plane_origin, InfinitePlane3d::new(plane_normal))?;
    Some(NodeGrab {
        entity,
        id,
        plane_origin,
        plane_normal,
        start: plane_origin,
        offset: plane_origin - ray.get_point(distance),
    })
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
