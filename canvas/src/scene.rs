//! Nodes as lit spheres coloured by kind, edges as one batched line mesh.

use bevy::asset::RenderAssetUsages;
use bevy::mesh::PrimitiveTopology;
use bevy::prelude::*;
use orrery_domain::{Graph, GraphId, NodeId, NodeKind, Position};

use crate::drag::Selection;

/// The canvas background.
pub const BACKGROUND: Color = Color::srgb(0.035, 0.04, 0.06);
/// Radius of a node's sphere in world units.
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

/// Shows one graph; its nodes and edges become entities.
pub struct GraphScenePlugin;

impl Plugin for GraphScenePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ShownGraph>()
            .add_systems(Startup, (create_palette, spawn_lights))
            .add_systems(
                Update,
                (
                    rebuild_scene.run_if(resource_changed::<ShownGraph>),
                    update_edge_lines,
                    highlight_selection,
                )
                    .chain()
                    .in_set(SceneSystems),
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
}

impl ShownGraph {
    /// The shown graph's id.
    pub fn id(&self) -> Option<GraphId> {
        self.graph.as_ref().map(|graph| graph.id)
    }
}

/// A node on the canvas.
#[derive(Component, Debug, Clone, Copy)]
pub struct GraphNode {
    /// The node's id.
    pub id: NodeId,
    /// Its kind.
    pub kind: NodeKind,
}

/// The single entity drawing every edge.
#[derive(Component)]
pub struct EdgeLines;

/// Anything spawned for the shown graph (despawned on reload).
#[derive(Component)]
struct SceneEntity;

/// Meshes and materials shared by every node.
#[derive(Resource)]
pub struct Palette {
    sphere: Handle<Mesh>,
    /// Per kind: the normal material and the selected one.
    kinds: Vec<(NodeKind, Handle<StandardMaterial>, Handle<StandardMaterial>)>,
    edges: Handle<StandardMaterial>,
}

impl Palette {
    fn material(&self, kind: NodeKind, selected: bool) -> Handle<StandardMaterial> {
        self.kinds
            .iter()
            .find(|(candidate, _, _)| *candidate == kind)
            .map(|(_, normal, highlighted)| if selected { highlighted } else { normal }.clone())
            .expect("every kind has a material")
    }
}

/// How a selected node looks: its kind's colour washed towards white and glowing.
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

/// A node's lit material: `glow` of its own colour is emitted, so the kind
/// reads even on the unlit side.
fn node_material([r, g, b]: [u8; 3], glow: f32, roughness: f32) -> StandardMaterial {
    let colour = Color::srgb_u8(r, g, b);
    StandardMaterial {
        base_color: colour,
        emissive: LinearRgba::from(colour) * glow,
        perceptual_roughness: roughness,
        ..default()
    }
}

fn create_palette(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let sphere = meshes.add(
        Sphere::new(NODE_RADIUS)
            .mesh()
            .ico(2)
            .expect("an icosphere of 2 subdivisions is valid"),
    );
    let kinds = NodeKind::ALL
        .into_iter()
        .map(|kind| {
            let material = materials.add(node_material(kind_colour(kind), 0.35, 0.6));
            let selected = materials.add(node_material(selected_colour(kind), 0.9, 0.4));
            (kind, material, selected)
        })
        .collect();
    let edges = materials.add(StandardMaterial {
        base_color: Color::srgb(0.55, 0.6, 0.7),
        unlit: true,
        ..default()
    });
    commands.insert_resource(Palette {
        sphere,
        kinds,
        edges,
    });
}

fn spawn_lights(mut commands: Commands) {
    commands.insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: 400.0,
        ..default()
    });
    commands.spawn((
        DirectionalLight {
            illuminance: 6_000.0,
            shadow_maps_enabled: false,
            ..default()
        },
        Transform::from_xyz(0.3, 1.0, 0.8).looking_at(Vec3::ZERO, Vec3::Y),
    ));
}

fn rebuild_scene(
    mut commands: Commands,
    shown: Res<ShownGraph>,
    palette: Res<Palette>,
    existing: Query<Entity, With<SceneEntity>>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    for entity in &existing {
        commands.entity(entity).despawn();
    }
    let Some(graph) = &shown.graph else {
        return;
    };
    for node in graph.nodes.values() {
        commands.spawn((
            SceneEntity,
            GraphNode {
                id: node.id,
                kind: node.kind,
            },
            Mesh3d(palette.sphere.clone()),
            MeshMaterial3d(palette.material(node.kind, false)),
            Transform::from_translation(to_vec3(node.position)),
        ));
    }
    let lines = Mesh::new(PrimitiveTopology::LineList, RenderAssetUsages::default())
        .with_inserted_attribute(
            Mesh::ATTRIBUTE_POSITION,
            edge_vertices(graph, |id| {
                graph.nodes.get(&id).map(|node| to_vec3(node.position))
            }),
        );
    commands.spawn((
        SceneEntity,
        EdgeLines,
        Mesh3d(meshes.add(lines)),
        MeshMaterial3d(palette.edges.clone()),
        Transform::IDENTITY,
    ));
}

/// Two vertices per edge whose ends are both known.
fn edge_vertices(graph: &Graph, position_of: impl Fn(NodeId) -> Option<Vec3>) -> Vec<[f32; 3]> {
    graph
        .edges
        .values()
        .filter_map(|edge| Some([position_of(edge.from)?, position_of(edge.to)?]))
        .flat_map(|ends| ends.map(|end| end.to_array()))
        .collect()
}

/// Rewrites the edge mesh when nodes move (a drag moves node transforms directly).
fn update_edge_lines(
    shown: Res<ShownGraph>,
    moved: Query<(), (With<GraphNode>, Changed<Transform>)>,
    nodes: Query<(&GraphNode, &Transform)>,
    lines: Query<&Mesh3d, With<EdgeLines>>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    if moved.is_empty() || shown.is_changed() {
        return;
    }
    let (Some(graph), Ok(handle)) = (&shown.graph, lines.single()) else {
        return;
    };
    let positions: std::collections::HashMap<NodeId, Vec3> = nodes
        .iter()
        .map(|(node, transform)| (node.id, transform.translation))
        .collect();
    if let Some(mut mesh) = meshes.get_mut(&handle.0) {
        mesh.insert_attribute(
            Mesh::ATTRIBUTE_POSITION,
            edge_vertices(graph, |id| positions.get(&id).copied()),
        );
    }
}

/// Gives selected nodes their highlight and drops ids of nodes that are gone.
fn highlight_selection(
    mut selection: ResMut<Selection>,
    palette: Res<Palette>,
    added: Query<(), Added<GraphNode>>,
    mut nodes: Query<(&GraphNode, &mut MeshMaterial3d<StandardMaterial>)>,
) {
    if !selection.is_changed() && added.is_empty() {
        return;
    }
    if !added.is_empty() {
        let present: std::collections::HashSet<NodeId> =
            nodes.iter().map(|(node, _)| node.id).collect();
        let stale = selection.nodes.iter().any(|id| !present.contains(id));
        if stale {
            selection.nodes.retain(|id| present.contains(id));
        }
    }
    for (node, mut material) in &mut nodes {
        let wanted = palette.material(node.kind, selection.nodes.contains(&node.id));
        if material.0 != wanted {
            material.0 = wanted;
        }
    }
}
