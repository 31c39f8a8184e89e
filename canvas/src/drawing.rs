//! How the graph reaches the GPU: every node in one draw and every edge in
//! another, whatever the size of the graph.
//!
//! Nodes are camera-facing quads (four vertices each, in one mesh) whose
//! fragment shader cuts out the kind's shape and shades it as a solid — no
//! per-node meshes, materials or draw calls. The node mesh is drawn by up to
//! three pipelines, each keeping the nodes of one size on screen and
//! dropping the rest in its vertex shader: full detail (ports, lighting)
//! from [`SMALL_NODE_PIXELS`] up, a flat shape below it, and a single point
//! below [`DOT_PIXELS`] ([`NodeDetail`]). Edges are one line mesh whose
//! vertex shader bends each edge into a curve from the source's output port
//! to the target's input port, so orbiting the camera never rewrites a
//! buffer. Both meshes are rebuilt only when a node moves, appears or
//! disappears, or the selection changes.

use bevy::asset::{RenderAssetUsages, uuid_handle};
use bevy::light::{DirectionalLightShadowMap, PointLightShadowMap};
use bevy::mesh::{
    Indices, MeshVertexAttribute, MeshVertexBufferLayoutRef, PrimitiveTopology, VertexFormat,
};
use bevy::pbr::{MaterialPipeline, MaterialPipelineKey};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, RenderPipelineDescriptor, SpecializedMeshPipelineError,
};
use bevy::shader::{Shader, ShaderRef};
use orrery_domain::NodeKind;

const NODE_SHADER: Handle<Shader> = uuid_handle!("5b0c1f9e-6a43-4c55-9a52-3f1d2f7e4a01");
const EDGE_SHADER: Handle<Shader> = uuid_handle!("5b0c1f9e-6a43-4c55-9a52-3f1d2f7e4a02");
const DOT_SHADER: Handle<Shader> = uuid_handle!("5b0c1f9e-6a43-4c55-9a52-3f1d2f7e4a03");

/// Most edges drawn at once: past this, a stable sample of the edges is
/// drawn (every edge of a selected node always is), and the status bar says so.
pub const EDGE_BUDGET: usize = 50_000;

/// A node quad's corner (±1, ±1).
const ATTRIBUTE_CORNER: MeshVertexAttribute =
    MeshVertexAttribute::new("NodeCorner", 7_193_470_001, VertexFormat::Float32x2);
/// A node's kind and whether it is selected.
const ATTRIBUTE_STYLE: MeshVertexAttribute =
    MeshVertexAttribute::new("NodeStyle", 7_193_470_002, VertexFormat::Float32x2);
/// An edge's target centre.
const ATTRIBUTE_EDGE_TO: MeshVertexAttribute =
    MeshVertexAttribute::new("EdgeTo", 7_193_470_003, VertexFormat::Float32x3);
/// How far along its edge a vertex lies, and which arrow wing it is.
const ATTRIBUTE_ALONG: MeshVertexAttribute =
    MeshVertexAttribute::new("EdgeAlong", 7_193_470_004, VertexFormat::Float32x4);

/// Where an input port sits on its node's left edge, in node radii above
/// the centre (keep in step with the node shader).
pub fn input_port_height(kind: NodeKind, port: &str) -> f32 {
    match (kind, port) {
        (NodeKind::Agent, "tools") => -0.45,
        (NodeKind::Agent, _) => 0.45,
        _ => 0.0,
    }
}

/// Edges drawn as curves of this many segments, by graph size: smooth
/// curves and arrowheads while they are cheap; on large graphs, partial
/// edges — a stub leaving the source and a stub entering the target, each a
/// tenth of the edge ([`STUB`]), dim at the source and bright at the target — except
/// for the selection's edges, drawn whole. A CPU rasteriser pays per line
/// segment and per pixel of line, and a dense graph's whole edges are
/// clutter anyway.
fn edge_segments(edges: usize) -> (u32, bool) {
    match edges {
        0..=2_000 => (12, true),
        2_001..=5_000 => (4, true),
        _ => (1, false),
    }
}

/// Width of the shadow maps the renderer binds but the canvas never draws
/// into (it has no lights); a power of two, as the renderer requires.
const UNUSED_SHADOW_MAP_SIZE: usize = 1;

/// The shaders and materials.
pub struct DrawingPlugin;

impl Plugin for DrawingPlugin {
    fn build(&self, app: &mut App) {
        let mut shaders = app.world_mut().resource_mut::<Assets<Shader>>();
        shaders
            .insert(
                NODE_SHADER.id(),
                Shader::from_wgsl(
                    include_str!("shaders/nodes.wgsl"),
                    "orrery_canvas/nodes.wgsl",
                ),
            )
            .expect("a fixed shader id");
        shaders
            .insert(
                EDGE_SHADER.id(),
                Shader::from_wgsl(
                    include_str!("shaders/edges.wgsl"),
                    "orrery_canvas/edges.wgsl",
                ),
            )
            .expect("a fixed shader id");
        shaders
            .insert(
                DOT_SHADER.id(),
                Shader::from_wgsl(include_str!("shaders/dots.wgsl"), "orrery_canvas/dots.wgsl"),
            )
            .expect("a fixed shader id");
        // The canvas has no lights and casts no shadows, yet the renderer
        // binds a point-light and a directional-light shadow map to every
        // view regardless, and clears them before first use: 40 MB at the
        // default sizes (6 × 1024² and 2048² depth texels) that a CPU
        // rasteriser keeps in process memory.
        app.insert_resource(PointLightShadowMap {
            size: UNUSED_SHADOW_MAP_SIZE,
        })
        .insert_resource(DirectionalLightShadowMap {
            size: UNUSED_SHADOW_MAP_SIZE,
        });
        app.add_plugins((
            MaterialPlugin::<NodeMaterial>::default(),
            MaterialPlugin::<EdgeMaterial>::default(),
            MaterialPlugin::<DotMaterial>::default(),
        ));
    }
}

/// Node radius on screen, in pixels, below which a node is drawn as a flat
/// shape without ports or lighting: at that size they are a pixel or two
/// that cost a CPU rasteriser the full shader per pixel.
pub const SMALL_NODE_PIXELS: f32 = 6.0;
/// Node radius on screen, in pixels, below which a node is one point
/// (keep in step with the shaders).
pub const DOT_PIXELS: f32 = 1.5;

/// Which nodes a draw of the node mesh shows, by their size on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NodeDetail {
    /// Radius of [`SMALL_NODE_PIXELS`] or more: the shaded shape with its ports.
    #[default]
    Full,
    /// From [`DOT_PIXELS`] to [`SMALL_NODE_PIXELS`]: the flat shape and its outline.
    Small,
}

impl NodeDetail {
    /// The radii on screen, in pixels, this detail draws: `[from, to)`.
    pub fn pixel_range(self) -> (f32, f32) {
        match self {
            NodeDetail::Full => (SMALL_NODE_PIXELS, f32::INFINITY),
            NodeDetail::Small => (DOT_PIXELS, SMALL_NODE_PIXELS),
        }
    }
}

/// Draws node quads as shaded shapes, at one [`NodeDetail`].
#[derive(Asset, TypePath, AsBindGroup, Debug, Clone, Default)]
#[bind_group_data(NodeDetail)]
pub struct NodeMaterial {
    /// The nodes this material draws.
    pub detail: NodeDetail,
}

impl From<&NodeMaterial> for NodeDetail {
    fn from(material: &NodeMaterial) -> Self {
        material.detail
    }
}

impl Material for NodeMaterial {
    fn vertex_shader() -> ShaderRef {
        NODE_SHADER.into()
    }
    fn fragment_shader() -> ShaderRef {
        NODE_SHADER.into()
    }
    fn enable_prepass() -> bool {
        false
    }
    fn enable_shadows() -> bool {
        false
    }
    fn specialize(
        _pipeline: &MaterialPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        layout: &MeshVertexBufferLayoutRef,
        key: MaterialPipelineKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        if key.bind_group_data == NodeDetail::Small {
            descriptor.vertex.shader_defs.push("SMALL_NODES".into());
            if let Some(fragment) = descriptor.fragment.as_mut() {
                fragment.shader_defs.push("SMALL_NODES".into());
            }
        }
        descriptor.vertex.buffers = vec![layout.0.get_layout(&[
            Mesh::ATTRIBUTE_POSITION.at_shader_location(0),
            ATTRIBUTE_CORNER.at_shader_location(1),
            ATTRIBUTE_STYLE.at_shader_location(2),
            Mesh::ATTRIBUTE_COLOR.at_shader_location(3),
        ])?];
        // Quads face the camera, so nothing is culled by winding.
        descriptor.primitive.cull_mode = None;
        Ok(())
    }
}

/// Draws far nodes as single points.
#[derive(Asset, TypePath, AsBindGroup, Debug, Clone, Default)]
pub struct DotMaterial {}

impl Material for DotMaterial {
    fn vertex_shader() -> ShaderRef {
        DOT_SHADER.into()
    }
    fn fragment_shader() -> ShaderRef {
        DOT_SHADER.into()
    }
    fn enable_prepass() -> bool {
        false
    }
    fn enable_shadows() -> bool {
        false
    }
    fn specialize(
        _pipeline: &MaterialPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        layout: &MeshVertexBufferLayoutRef,
        _key: MaterialPipelineKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        descriptor.vertex.buffers = vec![layout.0.get_layout(&[
            Mesh::ATTRIBUTE_POSITION.at_shader_location(0),
            Mesh::ATTRIBUTE_COLOR.at_shader_location(1),
        ])?];
        descriptor.primitive.cull_mode = None;
        Ok(())
    }
}

/// Bends edge lines into curves between ports.
#[derive(Asset, TypePath, AsBindGroup, Debug, Clone, Default)]
pub struct EdgeMaterial {}

impl Material for EdgeMaterial {
    fn vertex_shader() -> ShaderRef {
        EDGE_SHADER.into()
    }
    fn fragment_shader() -> ShaderRef {
        EDGE_SHADER.into()
    }
    fn enable_prepass() -> bool {
        false
    }
    fn enable_shadows() -> bool {
        false
    }
    fn specialize(
        _pipeline: &MaterialPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        layout: &MeshVertexBufferLayoutRef,
        _key: MaterialPipelineKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        descriptor.vertex.buffers = vec![layout.0.get_layout(&[
            Mesh::ATTRIBUTE_POSITION.at_shader_location(0),
            ATTRIBUTE_EDGE_TO.at_shader_location(1),
            ATTRIBUTE_ALONG.at_shader_location(2),
        ])?];
        descriptor.primitive.cull_mode = None;
        Ok(())
    }
}

/// The shader's number for a kind.
fn kind_index(kind: NodeKind) -> f32 {
    match kind {
        NodeKind::Agent => 0.0,
        NodeKind::Prompt => 1.0,
        NodeKind::Tool => 2.0,
        NodeKind::Input => 3.0,
        NodeKind::Output => 4.0,
    }
}

/// One node as the node mesh needs it.
#[derive(Debug, Clone, Copy)]
pub struct NodeSprite {
    /// World centre.
    pub centre: Vec3,
    /// Its kind.
    pub kind: NodeKind,
    /// Its colour (sRGB bytes).
    pub colour: [u8; 3],
    /// Whether it is selected.
    pub selected: bool,
}

const CORNERS: [[f32; 2]; 4] = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]];

/// The mesh drawing every node: four vertices and two triangles per node.
pub fn node_mesh(sprites: &[NodeSprite]) -> Mesh {
    let count = sprites.len().max(1);
    let mut centres = Vec::with_capacity(count * 4);
    let mut corners = Vec::with_capacity(count * 4);
    let mut styles = Vec::with_capacity(count * 4);
    let mut colours = Vec::with_capacity(count * 4);
    let mut indices = Vec::with_capacity(count * 6);
    for (index, sprite) in sprites.iter().enumerate() {
        let [r, g, b] = sprite.colour;
        let colour = LinearRgba::from(Color::srgb_u8(r, g, b)).to_f32_array();
        let style = [
            kind_index(sprite.kind),
            if sprite.selected { 1.0 } else { 0.0 },
        ];
        for corner in CORNERS {
            centres.push(sprite.centre.to_array());
            corners.push(corner);
            styles.push(style);
            colours.push(colour);
        }
        let first = index as u32 * 4;
        indices.extend([first, first + 1, first + 2, first, first + 2, first + 3]);
    }
    if sprites.is_empty() {
        // One invisible, zero-sized quad keeps the buffers non-empty.
        for corner in CORNERS {
            centres.push([0.0; 3]);
            corners.push([corner[0] * 0.0, corner[1] * 0.0]);
            styles.push([0.0; 2]);
            colours.push([0.0; 4]);
        }
        indices.extend([0, 1, 2, 0, 2, 3]);
    }
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, centres)
    .with_inserted_attribute(ATTRIBUTE_CORNER, corners)
    .with_inserted_attribute(ATTRIBUTE_STYLE, styles)
    .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, colours)
    .with_inserted_indices(Indices::U32(indices))
}

/// One edge as the edge mesh needs it.
#[derive(Debug, Clone, Copy)]
pub struct EdgeCurve {
    /// The source's centre.
    pub from: Vec3,
    /// The target's centre.
    pub to: Vec3,
    /// The input port's height on the target ([`input_port_height`]).
    pub port_height: f32,
    /// Drawn whole even where edges are drawn as stubs (a selected node's).
    pub whole: bool,
    /// The source's slot in the node mesh.
    pub from_node: u32,
    /// The target's slot in the node mesh.
    pub to_node: u32,
}

/// Whether a graph of this many edges draws them as stubs ([`edge_segments`]).
pub fn edges_drawn_as_stubs(edges: usize) -> bool {
    edge_segments(edges).0 == 1
}

/// How much of an edge each stub covers, where edges are drawn as stubs.
/// Line pixels are most of an edge's cost on a CPU rasteriser: a tenth
/// instead of a quarter took the 10k-node, 20k-edge frame from 68.6 to
/// 56.3 ms (`orrery-bench canvas`, p50), and still shows where each edge
/// leaves and arrives.
const STUB: f32 = 0.1;

/// The longest a stub gets, in world units (keep in step with edges.wgsl):
/// a stub shows where an edge leaves or arrives, and a long one only adds
/// line pixels.
pub const STUB_REACH: f32 = 1.5;

/// Which stubs are drawn, where edges are drawn as stubs: the edges of one
/// output port leave it on top of each other, as the edges of one input
/// port arrive, so each port draws one stub — its longest edge's, which
/// covers the shorter ones' — instead of one per edge. Returns, for each
/// edge, whether its source stub and its target stub are drawn. Edges drawn
/// whole are not counted.
pub fn stubs_drawn(edges: &[EdgeCurve]) -> Vec<(bool, bool)> {
    use std::collections::HashMap;
    let mut longest_leaving: HashMap<u32, (f32, usize)> = HashMap::new();
    let mut longest_arriving: HashMap<(u32, u32), (f32, usize)> = HashMap::new();
    for (index, edge) in edges.iter().enumerate().filter(|(_, edge)| !edge.whole) {
        let span = edge.from.distance_squared(edge.to);
        let keep_longer = |entry: &mut (f32, usize)| {
            if span > entry.0 {
                *entry = (span, index);
            }
        };
        keep_longer(
            longest_leaving
                .entry(edge.from_node)
                .or_insert((-1.0, index)),
        );
        keep_longer(
            longest_arriving
                .entry((edge.to_node, edge.port_height.to_bits()))
                .or_insert((-1.0, index)),
        );
    }
    let mut drawn = vec![(false, false); edges.len()];
    for (_, index) in longest_leaving.into_values() {
        drawn[index].0 = true;
    }
    for (_, index) in longest_arriving.into_values() {
        drawn[index].1 = true;
    }
    drawn
}

/// The mesh drawing far nodes: one point per node.
pub fn dot_mesh(sprites: &[NodeSprite]) -> Mesh {
    let mut centres: Vec<[f32; 3]> = Vec::with_capacity(sprites.len().max(1));
    let mut colours: Vec<[f32; 4]> = Vec::with_capacity(sprites.len().max(1));
    for sprite in sprites {
        let [r, g, b] = sprite.colour;
        centres.push(sprite.centre.to_array());
        colours.push(LinearRgba::from(Color::srgb_u8(r, g, b)).to_f32_array());
    }
    if sprites.is_empty() {
        centres.push([0.0; 3]);
        colours.push([0.0; 4]);
    }
    Mesh::new(
        PrimitiveTopology::PointList,
        RenderAssetUsages::RENDER_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, centres)
    .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, colours)
}

/// The mesh drawing every edge.
pub fn edge_mesh(edges: &[EdgeCurve]) -> Mesh {
    let (segments, arrows) = edge_segments(edges.len());
    let stubs = segments == 1;
    let per_edge = (segments as usize + if arrows { 2 } else { 0 } + usize::from(stubs)) * 2;
    let count = edges.len().max(1) * per_edge;
    let mut froms = Vec::with_capacity(count);
    let mut tos = Vec::with_capacity(count);
    let mut alongs = Vec::with_capacity(count);
    let stubs_drawn = if stubs {
        stubs_drawn(edges)
    } else {
        Vec::new()
    };
    for (index, edge) in edges.iter().enumerate() {
        let (from, to, height) = (edge.from.to_array(), edge.to.to_array(), edge.port_height);
        // `end` marks a stub's inner end, whose distance along the edge the
        // shader caps at STUB_REACH: +1 leaving the source, −1 arriving.
        let mut vertex = |t: f32, wing: f32, end: f32| {
            froms.push(from);
            tos.push(to);
            alongs.push([t, wing, end, height]);
        };
        if stubs && !edge.whole {
            let (leaving, arriving) = stubs_drawn[index];
            if leaving {
                vertex(0.0, 0.0, 0.0);
                vertex(STUB, 0.0, 1.0);
            }
            if arriving {
                vertex(1.0 - STUB, 0.0, -1.0);
                vertex(1.0, 0.0, 0.0);
            }
            continue;
        }
        for segment in 0..segments {
            vertex(segment as f32 / segments as f32, 0.0, 0.0);
            vertex((segment + 1) as f32 / segments as f32, 0.0, 0.0);
        }
        if arrows {
            for wing in [1.0, -1.0] {
                vertex(1.0, 0.0, 0.0);
                vertex(1.0, wing, 0.0);
            }
        }
    }
    if froms.is_empty() {
        for _ in 0..2 {
            froms.push([0.0; 3]);
            tos.push([0.0; 3]);
            alongs.push([0.0; 4]);
        }
    }
    Mesh::new(PrimitiveTopology::LineList, RenderAssetUsages::RENDER_WORLD)
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, froms)
        .with_inserted_attribute(ATTRIBUTE_EDGE_TO, tos)
        .with_inserted_attribute(ATTRIBUTE_ALONG, alongs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from_node: u32, to_node: u32, from: Vec3, to: Vec3, port_height: f32) -> EdgeCurve {
        EdgeCurve {
            from,
            to,
            port_height,
            whole: false,
            from_node,
            to_node,
        }
    }

    #[test]
    fn each_port_draws_one_stub_its_longest_edges() {
        let origin = Vec3::ZERO;
        let edges = [
            // Node 0's output port: three edges, the second the longest.
            edge(0, 1, origin, Vec3::new(2.0, 0.0, 0.0), 0.0),
            edge(0, 2, origin, Vec3::new(0.0, 9.0, 0.0), 0.0),
            edge(0, 3, origin, Vec3::new(0.0, 0.0, 4.0), 0.0),
            // Node 4's upper input port: two edges, the first the longer;
            // its lower port: one.
            edge(5, 4, Vec3::new(7.0, 0.0, 0.0), Vec3::ZERO, 0.45),
            edge(6, 4, Vec3::new(1.0, 0.0, 0.0), Vec3::ZERO, 0.45),
            edge(7, 4, Vec3::new(1.0, 1.0, 0.0), Vec3::ZERO, -0.45),
        ];
        let drawn = stubs_drawn(&edges);
        assert_eq!(
            drawn,
            vec![
                (false, true),
                (true, true),
                (false, true),
                (true, true),
                (true, false),
                (true, true),
            ]
        );
        // A selected node's edges are drawn whole, so they take no stub.
        let mut with_whole = edges;
        with_whole[1].whole = true;
        let drawn = stubs_drawn(&with_whole);
        assert_eq!(drawn[1], (false, false));
        assert!(drawn[2].0, "the next longest edge leaves node 0");
    }

    #[test]
    fn stub_meshes_hold_one_segment_per_drawn_stub() {
        // A star: one source with 6,000 edges to its own targets, so edges
        // are stubs and the source draws one stub while each target draws one.
        let edges: Vec<EdgeCurve> = (1..=6_000u32)
            .map(|target| {
                edge(
                    0,
                    target,
                    Vec3::ZERO,
                    Vec3::new(target as f32, 1.0, 0.0),
                    0.0,
                )
            })
            .collect();
        assert!(edges_drawn_as_stubs(edges.len()));
        let mesh = edge_mesh(&edges);
        assert_eq!(mesh.count_vertices(), (1 + 6_000) * 2);
        // Stub ends that the shader caps are marked.
        let Some(bevy::mesh::VertexAttributeValues::Float32x4(alongs)) =
            mesh.attribute(ATTRIBUTE_ALONG)
        else {
            panic!("the edge mesh has no EdgeAlong attribute");
        };
        let leaving = alongs.iter().filter(|along| along[2] == 1.0).count();
        let arriving = alongs.iter().filter(|along| along[2] == -1.0).count();
        assert_eq!((leaving, arriving), (1, 6_000));
    }
}
