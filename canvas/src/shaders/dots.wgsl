// Far nodes as single pixels: a node smaller on screen than DOT_RADIUS is
// drawn here as one point (the node shader drops it), since a CPU
// rasteriser pays more to set up two tiny triangles than one point.

#import bevy_pbr::mesh_view_bindings::view
#import bevy_pbr::view_transformations::position_world_to_clip

struct Vertex {
    @location(0) centre: vec3<f32>,
    @location(1) colour: vec4<f32>,
};

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    @location(0) colour: vec4<f32>,
};

// Keep in step with scene::NODE_RADIUS and nodes.wgsl.
const RADIUS: f32 = 0.5;
const DOT_RADIUS: f32 = 1.5;

@vertex
fn vertex(vertex: Vertex) -> VertexOutput {
    var out: VertexOutput;
    let clip = position_world_to_clip(vertex.centre);
    let pixels = RADIUS * view.clip_from_view[1][1] * view.viewport.w * 0.5 / max(clip.w, 1e-4);
    if pixels >= DOT_RADIUS {
        // Drawn as a shape by the node shader: put the point outside the view.
        out.clip_position = vec4<f32>(2.0, 2.0, 2.0, 1.0);
    } else {
        out.clip_position = clip;
    }
    out.colour = vertex.colour;
    return out;
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    return vec4<f32>(in.colour.rgb * 0.9, 1.0);
}
