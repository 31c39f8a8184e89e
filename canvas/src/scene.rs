//! Nodes as shaded shapes coloured by kind, edges as curves between ports:
//! each node is an entity (id, kind, transform) that input systems move, and
//! the graph is drawn by a few meshes ([`crate::drawing`]) in two parts
//! ([`GraphPart`]): the selection, which a drag moves and rewrites alone,
//! and the rest.

use bevy::camera::visibility::{NoFrustumCulling, VisibilitySystems};
use bevy::prelude::*;
use orrery_domain::{Graph, GraphId, NodeId, NodeKind, Position};
use serde::{Deserialize, Serialize};

use crate::camera::OrbitCamera;
use crate::drag::Selection;
use crate::drawing::{
    DOT_PIXELS, DotMaterial, EDGE_BUDGET, EdgeCurve, EdgeMaterial, NodeDetail, NodeMaterial,
    NodeSprite, dot_mesh, edge_mesh, input_port_height, node_mesh,
};

/// The canvas background.
pub const BACKGROUND: Color = Color::srgb(0.035, 0.04, 0.06);
/// Radius of a node's shape in world units (keep in step with the shaders).
pub const NODE_RADIUS: f32 = 0.5;

/// The colour each kind of node is drawn in (sRGB).
pub fn kind_colour(kind: NodeKind) -> [u8; 3] {
    match kind {
        NodeKind::Agent => [64, 140, 255],
        NodeKind::Prompt => [255, 176, 48],
        NodeKind::Tool => [72, 216, 104],
        NodeKind::Input => [176, 96, 255],
        NodeKind::Output => [255, 84, 84],
    }
}

/// Shows one graph; its nodes become entities, drawn by a few meshes.
pub struct GraphScenePlugin;

impl Plugin for GraphScenePlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(crate::drawing::DrawingPlugin)
            .init_resource::<ShownGraph>()
            .init_resource::<EdgeEnds>()
            .add_systems(Startup, spawn_graph_meshes)
            .add_systems(
                Update,
                (
                    rebuild_scene.run_if(resource_changed::<ShownGraph>),
                    drop_stale_selection,
                    redraw_graph,
                )
                    .chain()
                    .in_set(SceneSystems),
            )
            .add_systems(
                PostUpdate,
                choose_node_draws.before(VisibilitySystems::VisibilityPropagate),
            );
    }
}

/// The scene's systems, so input systems can run before them.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct SceneSystems;

/// The graph being shown (`None` before the host loads one).
#[derive(Resource, Default)]
pub struct ShownGraph {
    /// The graph, as last loaded.
    pub graph: Option<Graph>,
    /// When the graph is a past version (or a comparison of two): what it
    /// is, and how each node differs. The canvas is read-only then.
    pub version: Option<VersionShown>,
}

impl ShownGraph {
    /// The shown graph's id.
    pub fn id(&self) -> Option<GraphId> {
        self.graph.as_ref().map(|graph| graph.id)
    }

    /// Whether edits may be made: not on a past version.
    pub fn editable(&self) -> bool {
        self.version.is_none()
    }
}

/// A past version of a graph on the canvas, or two versions compared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionShown {
    /// What the banner calls it: "Version “Before the review”", "Changes since “Before the review”".
    pub label: String,
    /// How nodes differ from the version compared with (none when a
    /// version is only opened).
    #[serde(default)]
    pub marks: std::collections::HashMap<NodeId, DiffMark>,
    /// Connections only one of the two versions has (added or removed),
    /// drawn over the scene in their mark's colour.
    #[serde(default)]
    pub edge_marks: std::collections::HashMap<orrery_domain::EdgeId, DiffMark>,
}

/// How a node differs between two versions, as the canvas colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffMark {
    /// Only the later version has it.
    Added,
    /// Only the earlier version had it.
    Removed,
    /// It moved.
    Moved,
    /// Its label changed (it may have moved too).
    Relabelled,
}

impl DiffMark {
    /// Every mark, in the legend's order.
    pub const ALL: [DiffMark; 4] = [
        DiffMark::Added,
        DiffMark::Removed,
        DiffMark::Moved,
        DiffMark::Relabelled,
    ];

    /// The colour a node so marked is drawn in (sRGB): green, red, amber,
    /// violet; on a comparison every other node is grey, so the marks stand
    /// out from the kinds' colours.
    pub fn colour(self) -> [u8; 3] {
        match self {
            DiffMark::Added => [46, 204, 113],
            DiffMark::Removed => [231, 76, 60],
            DiffMark::Moved => [243, 156, 18],
            DiffMark::Relabelled => [155, 89, 182],
        }
    }

    /// The legend's word.
    pub fn word(self) -> &'static str {
        match self {
            DiffMark::Added => "Added",
            DiffMark::Removed => "Removed",
            DiffMark::Moved => "Moved",
            DiffMark::Relabelled => "Relabelled",
        }
    }
}

/// A node on the canvas.
#[derive(Component, Debug, Clone, Copy)]
pub struct GraphNode {
    /// The node's id.
    pub id: NodeId,
    /// Its kind.
    pub kind: NodeKind,
    /// Its place in the drawing's buffers.
    pub slot: u32,
}

/// An entity drawing the nodes of one size on screen as shapes (two share
/// the node mesh).
#[derive(Component)]
pub struct NodeSprites(pub NodeDetail);

/// The entity drawing far nodes as points.
#[derive(Component)]
pub struct NodeDots;

/// An entity drawing edges.
#[derive(Component)]
pub struct EdgeCurves;

/// Which part of the graph a mesh entity draws. Each part has its own point,
/// shape and edge meshes, so that a drag, which moves only selected nodes,
/// rewrites only the selection's meshes instead of the whole graph's.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphPart {
    /// The nodes outside the selection and the edges between them.
    Unselected,
    /// The selected nodes and every edge touching one.
    Selected,
}

impl GraphPart {
    /// The part a node belongs to.
    pub fn of(in_selection: bool) -> Self {
        if in_selection {
            GraphPart::Selected
        } else {
            GraphPart::Unselected
        }
    }
}

/// Each edge's two ends, as node slots, and the input port's height on the
/// target (rebuilt with the scene).
#[derive(Resource, Default)]
struct EdgeEnds(Vec<(u32, u32, f32)>);

/// Anything spawned for the shown graph (despawned on reload).
#[derive(Component)]
struct SceneEntity;

/// How a node that did not change looks on a comparison of versions (sRGB).
pub const UNCHANGED_COLOUR: [u8; 3] = [104, 110, 124];

/// How a node whose agent is answering in a sandbox run looks (sRGB).
pub const RUNNING_COLOUR: [u8; 3] = [255, 196, 72];

/// How a selected node looks: its kind's colour washed towards white.
pub fn selected_colour(kind: NodeKind) -> [u8; 3] {
    kind_colour(kind).map(|channel| channel + ((255 - channel) as f32 * 0.6) as u8)
}

/// A world position from a domain position.
pub fn to_vec3(position: Position) -> Vec3 {
    Vec3::new(position.x, position.y, position.z)
}

/// A domain position from a world position.
pub fn to_position(vector: Vec3) -> Position {
    Position::new(vector.x, vector.y, vector.z)
}

fn spawn_graph_meshes(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut node_materials: ResMut<Assets<NodeMaterial>>,
    mut edge_materials: ResMut<Assets<EdgeMaterial>>,
    mut dot_materials: ResMut<Assets<DotMaterial>>,
) {
    let dot_material = dot_materials.add(DotMaterial::default());
    let node_material = [NodeDetail::Full, NodeDetail::Small]
        .map(|detail| (detail, node_materials.add(NodeMaterial { detail })));
    let edge_material = edge_materials.add(EdgeMaterial::default());
    for part in [GraphPart::Unselected, GraphPart::Selected] {
        commands.spawn((
            NodeDots,
            part,
            Mesh3d(meshes.add(dot_mesh(&[]))),
            MeshMaterial3d(dot_material.clone()),
            hidden_whole_graph_draw(),
        ));
        let node_mesh = meshes.add(node_mesh(&[]));
        for (detail, material) in &node_material {
            commands.spawn((
                NodeSprites(*detail),
                part,
                Mesh3d(node_mesh.clone()),
                MeshMaterial3d(material.clone()),
                hidden_whole_graph_draw(),
            ));
        }
        commands.spawn((
            EdgeCurves,
            part,
            Mesh3d(meshes.add(edge_mesh(&[]))),
            MeshMaterial3d(edge_material.clone()),
            hidden_whole_graph_draw(),
        ));
    }
}

/// What every mesh entity of the graph starts with: at the origin, hidden
/// until it has something to draw, and never culled (its vertices span the
/// graph).
fn hidden_whole_graph_draw() -> (Transform, Visibility, NoFrustumCulling) {
    (Transform::IDENTITY, Visibility::Hidden, NoFrustumCulling)
}

fn rebuild_scene(
    mut commands: Commands,
    shown: Res<ShownGraph>,
    existing: Query<Entity, With<SceneEntity>>,
    mut edge_ends: ResMut<EdgeEnds>,
) {
    for entity in &existing {
        commands.entity(entity).despawn();
    }
    edge_ends.0.clear();
    let Some(graph) = &shown.graph else {
        return;
    };
    let mut slots = std::collections::HashMap::with_capacity(graph.nodes.len());
    let batch: Vec<_> = graph
        .nodes
        .values()
        .enumerate()
        .map(|(slot, node)| {
            slots.insert(node.id, slot as u32);
            (
                SceneEntity,
                GraphNode {
                    id: node.id,
                    kind: node.kind,
                    slot: slot as u32,
                },
                Transform::from_translation(to_vec3(node.position)),
            )
        })
        .collect();
    commands.spawn_batch(batch);
    edge_ends.0 = graph
        .edges
        .values()
        .filter_map(|edge| {
            let target = graph.nodes.get(&edge.to)?;
            Some((
                *slots.get(&edge.from)?,
                *slots.get(&edge.to)?,
                input_port_height(target.kind, &edge.to_port),
            ))
        })
        .collect();
}

/// Drops ids of nodes that are gone from the selection.
fn drop_stale_selection(
    mut selection: ResMut<Selection>,
    added: Query<(), Added<GraphNode>>,
    nodes: Query<&GraphNode>,
) {
    if added.is_empty() || selection.nodes.is_empty() {
        return;
    }
    let present: std::collections::HashSet<NodeId> = nodes.iter().map(|node| node.id).collect();
    if selection.nodes.iter().any(|id| !present.contains(id)) {
        selection.nodes.retain(|id| present.contains(id));
    }
}

/// Nodes that appeared or moved since the last frame.
type MovedOrNew = (With<GraphNode>, Or<(Changed<Transform>, Added<GraphNode>)>);

/// Only the edge mesh's entity.
type OnlyEdgeCurves = (With<EdgeCurves>, Without<NodeSprites>, Without<NodeDots>);

/// Rewrites the meshes when nodes move, appear or go, or the selection
/// changes; when only selected nodes moved (a drag), only the selection's.
#[allow(clippy::too_many_arguments)]
#[allow(clippy::too_many_arguments)]
fn redraw_graph(
    shown: Res<ShownGraph>,
    selection: Res<Selection>,
    running: Res<crate::chat::RunningNodes>,
    changed: Query<&GraphNode, MovedOrNew>,
    added: Query<(), Added<GraphNode>>,
    mut removed: RemovedComponents<GraphNode>,
    nodes: Query<(&GraphNode, &Transform)>,
    edge_ends: Res<EdgeEnds>,
    node_sprites: Query<(&Mesh3d, &GraphPart), With<NodeSprites>>,
    mut edge_curves: Query<(&Mesh3d, &mut Visibility, &GraphPart), OnlyEdgeCurves>,
    node_dots: Query<(&Mesh3d, &GraphPart), With<NodeDots>>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let gone = removed.read().count() > 0;
    let moved = !changed.is_empty() || gone;
    if !moved && !selection.is_changed() && !running.is_changed() && !shown.is_changed() {
        return;
    }
    let only_selection_moved = !gone
        && added.is_empty()
        && !selection.is_changed()
        && !running.is_changed()
        && !shown.is_changed()
        && changed
            .iter()
            .all(|node| selection.nodes.contains(&node.id));
    let parts: &[GraphPart] = if only_selection_moved {
        &[GraphPart::Selected]
    } else {
        &[GraphPart::Unselected, GraphPart::Selected]
    };
    let count = nodes.iter().len();
    let mut sprites = vec![
        NodeSprite {
            centre: Vec3::ZERO,
            kind: NodeKind::Agent,
            colour: [0; 3],
            selected: false,
        };
        count
    ];
    let mut part_of = vec![GraphPart::Unselected; count];
    let mut filled = 0;
    for (node, transform) in &nodes {
        let Some(sprite) = sprites.get_mut(node.slot as usize) else {
            continue;
        };
        let selected = selection.nodes.contains(&node.id);
        // A node whose agent is answering in a sandbox run is lit.
        let answering = running.0.contains(&node.id);
        // On a comparison of versions, a node that differs shows how and
        // the others step back in grey.
        let compared = shown
            .version
            .as_ref()
            .filter(|version| !version.marks.is_empty())
            .map(|version| version.marks.get(&node.id));
        *sprite = NodeSprite {
            centre: transform.translation,
            kind: node.kind,
            colour: if answering {
                RUNNING_COLOUR
            } else if let Some(mark) = compared {
                mark.map_or(UNCHANGED_COLOUR, |mark| mark.colour())
            } else if selected {
                selected_colour(node.kind)
            } else {
                kind_colour(node.kind)
            },
            selected: selected || answering,
        };
        part_of[node.slot as usize] = GraphPart::of(selected);
        filled += 1;
    }
    sprites.truncate(filled);
    part_of.truncate(filled);
    for &part in parts {
        let drawn = graph_part(&sprites, &part_of, &edge_ends.0, part);
        // The shape draws of a part share one mesh.
        if let Some((mesh, _)) = node_sprites.iter().find(|(_, of)| **of == part) {
            let _ = meshes.insert(&mesh.0, node_mesh(&drawn.nodes));
        }
        if let Some((mesh, _)) = node_dots.iter().find(|(_, of)| **of == part) {
            let _ = meshes.insert(&mesh.0, dot_mesh(&drawn.nodes));
        }
        for (mesh, mut visibility, _) in edge_curves.iter_mut().filter(|(_, _, of)| **of == part) {
            let _ = meshes.insert(&mesh.0, edge_mesh(&drawn.edges));
            set_visibility(&mut visibility, !drawn.edges.is_empty());
        }
    }
}

/// What one part of the graph draws.
#[derive(Debug, Default)]
pub struct DrawnPart {
    /// Its nodes.
    pub nodes: Vec<NodeSprite>,
    /// Its edges.
    pub edges: Vec<EdgeCurve>,
}

/// The nodes and edges of one part of the graph: nodes by their part
/// (`part_of`, by slot), edges by whether they touch a selected node. Past
/// the edge budget the unselected part draws a stable sample of its edges;
/// an edge of a lit node (selected, or answering in a sandbox run) is
/// always drawn, and drawn whole.
pub fn graph_part(
    sprites: &[NodeSprite],
    part_of: &[GraphPart],
    edge_ends: &[(u32, u32, f32)],
    part: GraphPart,
) -> DrawnPart {
    let nodes = sprites
        .iter()
        .zip(part_of)
        .filter(|(_, of)| **of == part)
        .map(|(sprite, _)| *sprite)
        .collect();
    let lit = |slot: u32| {
        sprites
            .get(slot as usize)
            .is_some_and(|sprite| sprite.selected)
    };
    let in_selection = |slot: u32| part_of.get(slot as usize) == Some(&GraphPart::Selected);
    let stride = edge_ends.len().div_ceil(EDGE_BUDGET).max(1);
    let edges = edge_ends
        .iter()
        .enumerate()
        .filter(|(_, (from, to, _))| {
            GraphPart::of(in_selection(*from) || in_selection(*to)) == part
        })
        .filter(|(index, (from, to, _))| {
            stride == 1 || index % stride == 0 || lit(*from) || lit(*to)
        })
        .filter_map(|(_, (from, to, port_height))| {
            Some(EdgeCurve {
                from: sprites.get(*from as usize)?.centre,
                to: sprites.get(*to as usize)?.centre,
                port_height: *port_height,
                whole: lit(*from) || lit(*to),
                from_node: *from,
                to_node: *to,
            })
        })
        .collect();
    DrawnPart { nodes, edges }
}

/// The smallest and largest radius on screen, in pixels, of the nodes in
/// front of a camera with this transform, focal scale (`1 / tan(fov / 2)`)
/// and viewport height: what decides which node draws are needed. `None`
/// when no node is in front of the camera.
pub fn node_sizes_on_screen(
    camera: &Transform,
    focal_scale: f32,
    viewport_height: f32,
    centres: impl IntoIterator<Item = Vec3>,
) -> Option<(f32, f32)> {
    let forward = camera.forward().as_vec3();
    let (mut nearest, mut farthest) = (f32::INFINITY, f32::NEG_INFINITY);
    for centre in centres {
        let depth = (centre - camera.translation).dot(forward);
        if depth > 0.0 {
            nearest = nearest.min(depth);
            farthest = farthest.max(depth);
        }
    }
    if nearest > farthest {
        return None;
    }
    let pixels = |depth: f32| NODE_RADIUS * focal_scale * viewport_height * 0.5 / depth;
    Some((pixels(farthest), pixels(nearest)))
}

/// A node's size on screen as the shaders work it out may differ a little
/// from the CPU's: a draw is kept while the nodes come this close (as a
/// fraction) to its range.
const SIZE_SLACK: f32 = 0.1;

/// Shows only the node draws (points, small shapes, full shapes) that have
/// nodes of their size on screen: each draw costs a pass over every node's
/// vertices, whether it keeps them or not.
fn choose_node_draws(
    camera: Single<(&Camera, &Transform, &Projection), With<OrbitCamera>>,
    nodes: Query<&Transform, With<GraphNode>>,
    mut sprites: Query<(&NodeSprites, &mut Visibility), Without<NodeDots>>,
    mut dots: Query<&mut Visibility, (With<NodeDots>, Without<NodeSprites>)>,
) {
    let (camera, camera_transform, projection) = *camera;
    let sizes = match (projection, camera.physical_viewport_size()) {
        (Projection::Perspective(perspective), Some(viewport)) => node_sizes_on_screen(
            camera_transform,
            1.0 / (perspective.fov * 0.5).tan(),
            viewport.y as f32,
            nodes.iter().map(|transform| transform.translation),
        ),
        // Flat: every node is drawn the same size.
        (Projection::Orthographic(_), Some(viewport)) if !nodes.is_empty() => {
            let pixels =
                NODE_RADIUS / crate::camera::world_per_pixel(projection, 1.0, viewport.y as f32);
            Some((pixels, pixels))
        }
        // Before the first frame sizes the viewport: every draw that has nodes.
        _ => (!nodes.is_empty()).then_some((0.0, f32::INFINITY)),
    };
    let wanted = |(from, to): (f32, f32)| {
        sizes.is_some_and(|(smallest, largest)| {
            largest >= from * (1.0 - SIZE_SLACK) && smallest < to * (1.0 + SIZE_SLACK)
        })
    };
    for mut visibility in &mut dots {
        set_visibility(&mut visibility, wanted((0.0, DOT_PIXELS)));
    }
    for (draw, mut visibility) in &mut sprites {
        set_visibility(&mut visibility, wanted(draw.0.pixel_range()));
    }
}

fn set_visibility(visibility: &mut Visibility, shown: bool) {
    let wanted = if shown {
        Visibility::Inherited
    } else {
        Visibility::Hidden
    };
    if *visibility != wanted {
        *visibility = wanted;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sprite(slot: usize, selected: bool) -> NodeSprite {
        NodeSprite {
            centre: Vec3::new(slot as f32, 0.0, 0.0),
            kind: NodeKind::ALL[slot % NodeKind::ALL.len()],
            colour: [0; 3],
            selected,
        }
    }

    #[test]
    fn graph_parts_split_nodes_and_edges_by_the_selection() {
        // Past the edge budget, so the unselected part samples its edges.
        let nodes = 1_000;
        let selected = [3_usize, 500];
        let sprites: Vec<_> = (0..nodes)
            .map(|slot| sprite(slot, selected.contains(&slot)))
            .collect();
        let part_of: Vec<_> = (0..nodes)
            .map(|slot| GraphPart::of(selected.contains(&slot)))
            .collect();
        let edge_ends: Vec<(u32, u32, f32)> = (0..EDGE_BUDGET * 3)
            .map(|index| {
                (
                    (index % nodes) as u32,
                    ((index * 7 + 1) % nodes) as u32,
                    0.0,
                )
            })
            .collect();
        let touches_selection = |(from, to, _): &(u32, u32, f32)| {
            selected.contains(&(*from as usize)) || selected.contains(&(*to as usize))
        };

        let chosen = graph_part(&sprites, &part_of, &edge_ends, GraphPart::Selected);
        let rest = graph_part(&sprites, &part_of, &edge_ends, GraphPart::Unselected);

        // Every node is in exactly one part, with its own centre.
        assert_eq!(chosen.nodes.len(), selected.len());
        assert_eq!(rest.nodes.len(), nodes - selected.len());
        assert!(chosen.nodes.iter().all(|node| node.selected));
        assert!(rest.nodes.iter().all(|node| !node.selected));
        // The selection draws every edge touching it, whole; the rest none of them.
        let touching = edge_ends
            .iter()
            .filter(|ends| touches_selection(ends))
            .count();
        assert!(touching > 0);
        assert_eq!(chosen.edges.len(), touching);
        assert!(chosen.edges.iter().all(|edge| edge.whole));
        assert!(rest.edges.iter().all(|edge| {
            !selected.contains(&(edge.from_node as usize))
                && !selected.contains(&(edge.to_node as usize))
                && !edge.whole
        }));
        // The rest keeps to the budget by drawing one edge in three.
        let untouched = edge_ends.len() - touching;
        assert!(
            rest.edges.len() < untouched / 2,
            "{} of {untouched}",
            rest.edges.len()
        );
        assert!(rest.edges.len() <= EDGE_BUDGET);
        // Edges run between their nodes' centres.
        let edge = chosen.edges[0];
        assert_eq!(edge.from, Vec3::new(edge.from_node as f32, 0.0, 0.0));
        assert_eq!(edge.to, Vec3::new(edge.to_node as f32, 0.0, 0.0));
    }

    #[test]
    fn node_sizes_on_screen_span_the_nearest_and_farthest_node_in_front() {
        // Looking down −z from the origin; 720 pixels high, focal scale 1:
        // a node at depth d is 0.5 × 720 / 2 / d = 180 / d pixels in radius.
        let camera = Transform::IDENTITY;
        let centres = [
            Vec3::new(0.0, 0.0, -10.0),
            Vec3::new(3.0, -2.0, -20.0),
            Vec3::new(0.0, 0.0, -15.0),
            // Behind the camera: not on screen.
            Vec3::new(0.0, 0.0, 5.0),
        ];
        let (smallest, largest) =
            node_sizes_on_screen(&camera, 1.0, 720.0, centres).expect("nodes in front");
        assert!((smallest - 9.0).abs() < 1e-4, "{smallest}");
        assert!((largest - 18.0).abs() < 1e-4, "{largest}");
        // Doubling the focal scale (a narrower view) doubles the sizes.
        let (smallest, _) = node_sizes_on_screen(&camera, 2.0, 720.0, centres).unwrap();
        assert!((smallest - 18.0).abs() < 1e-4);
        // A camera turned around sees only the node that was behind it.
        let turned = Transform::IDENTITY.looking_at(Vec3::Z, Vec3::Y);
        let (smallest, largest) = node_sizes_on_screen(&turned, 1.0, 720.0, centres).unwrap();
        assert!((smallest - 36.0).abs() < 1e-4 && (largest - 36.0).abs() < 1e-4);
        assert_eq!(
            node_sizes_on_screen(&camera, 1.0, 720.0, [Vec3::new(0.0, 0.0, 1.0)]),
            None
        );
    }
}
