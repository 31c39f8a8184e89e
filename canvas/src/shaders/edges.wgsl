// Every edge of the graph in one draw: a curve from the right side of the
// source node (its output port) to the left side of the target node (its
// input port), leaving and entering horizontally on screen, shaded from dim
// at the source to bright at the target, with an arrowhead at the target
// when the graph is small enough to afford one. On large graphs an edge is
// two stubs, each a tenth of the edge but at most STUB_REACH long.

#import bevy_pbr::mesh_view_bindings::view
#import bevy_pbr::view_transformations::position_world_to_clip

struct Vertex {
    // The source node's centre.
    @location(0) from_centre: vec3<f32>,
    // The target node's centre.
    @location(1) to_centre: vec3<f32>,
    // x: how far along the curve (0 source, 1 target); y: 0 on the curve,
    // ±1 for the arrowhead's wing tips; z: +1 for the inner end of a stub
    // leaving the source, −1 for that of a stub arriving at the target, else
    // 0; w: the input port's height on the target (in node radii).
    @location(2) along: vec4<f32>,
};

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    @location(0) along: f32,
};

// Keep in step with scene::NODE_RADIUS.
const RADIUS: f32 = 0.5;
const ARROW: f32 = 0.32;
// Keep in step with drawing::STUB_REACH.
const STUB_REACH: f32 = 1.5;

@vertex
fn vertex(vertex: Vertex) -> VertexOutput {
    let right = view.world_from_view[0].xyz;
    let up = view.world_from_view[1].xyz;
    let start = vertex.from_centre + right * (RADIUS * 0.84);
    let end = vertex.to_centre + (up * vertex.along.w - right * 0.84) * RADIUS;
    let span = length(end - start);
    let reach = clamp(span * 0.45, 0.4, 8.0);
    let control_a = start + right * reach;
    let control_b = end - right * reach;
    var t = vertex.along.x;
    let stub_t = STUB_REACH / max(span, 1e-4);
    if vertex.along.z > 0.5 {
        t = min(t, stub_t);
    } else if vertex.along.z < -0.5 {
        t = max(t, 1.0 - stub_t);
    }
    let s = 1.0 - t;
    var world = s * s * s * start + 3.0 * s * s * t * control_a + 3.0 * s * t * t * control_b
        + t * t * t * end;
    if vertex.along.y != 0.0 {
        world = end - right * ARROW + up * (ARROW * 0.55 * vertex.along.y);
    }
    var out: VertexOutput;
    out.clip_position = position_world_to_clip(world);
    out.along = t;
    return out;
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    let source = vec3<f32>(0.05, 0.07, 0.12);
    let arrival = vec3<f32>(0.45, 0.55, 0.75);
    return vec4<f32>(mix(source, arrival, in.along), 1.0);
}
