// Every node of the graph in one draw: a camera-facing quad per node whose
// fragment shader cuts out the kind's shape (agent: disc, prompt: rounded
// square, tool: hexagon, input: arrow tag, output: octagon) and shades it as
// a rounded solid with a dark outline; a selected node is washed towards
// white and ringed.
//
// The same mesh is drawn by two pipelines: without SMALL_NODES, nodes of at
// least SMALL_PIXELS radius on screen, in full; with it, nodes from
// DOT_RADIUS to SMALL_PIXELS, as the flat shape and its outline (ports and
// lighting would be a pixel or two there). Each drops the other's nodes in
// its vertex shader, and dots.wgsl draws the rest as points.

#import bevy_pbr::mesh_view_bindings::view
#import bevy_pbr::view_transformations::position_world_to_clip

struct Vertex {
    // The node's centre (the same for the quad's four corners).
    @location(0) centre: vec3<f32>,
    // Which corner: (±1, ±1).
    @location(1) corner: vec2<f32>,
    // x: the kind (0 agent, 1 prompt, 2 tool, 3 input, 4 output); y: 1 when selected.
    @location(2) style: vec2<f32>,
    // The node's colour (linear).
    @location(3) colour: vec4<f32>,
};

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    @location(0) corner: vec2<f32>,
    @location(1) colour: vec4<f32>,
    @location(2) @interpolate(flat) style: vec2<f32>,
};

// Keep in step with scene::NODE_RADIUS, drawing::{DOT_PIXELS,
// SMALL_NODE_PIXELS} and dots.wgsl.
const RADIUS: f32 = 0.5;
const DOT_RADIUS: f32 = 1.5;
const SMALL_PIXELS: f32 = 6.0;

@vertex
fn vertex(vertex: Vertex) -> VertexOutput {
    let right = view.world_from_view[0].xyz;
    let up = view.world_from_view[1].xyz;
    let world = vertex.centre + (right * vertex.corner.x + up * vertex.corner.y) * RADIUS;
    var out: VertexOutput;
    out.clip_position = position_world_to_clip(world);
    let centre = position_world_to_clip(vertex.centre);
    let pixels = RADIUS * view.clip_from_view[1][1] * view.viewport.w * 0.5 / max(centre.w, 1e-4);
#ifdef SMALL_NODES
    let drawn = pixels >= DOT_RADIUS && pixels < SMALL_PIXELS;
#else
    let drawn = pixels >= SMALL_PIXELS;
#endif
    if !drawn {
        // Another pipeline draws it: put the corner outside the view.
        out.clip_position = vec4<f32>(2.0, 2.0, 2.0, 1.0);
    }
    out.corner = vertex.corner;
    out.colour = vertex.colour;
    out.style = vertex.style;
    return out;
}

fn rounded_square(p: vec2<f32>) -> f32 {
    let q = abs(p) - vec2<f32>(0.72);
    return length(max(q, vec2<f32>(0.0))) + min(max(q.x, q.y), 0.0) - 0.26;
}

fn hexagon(p_in: vec2<f32>, apothem: f32) -> f32 {
    let k = vec3<f32>(-0.866025404, 0.5, 0.577350269);
    var p = abs(p_in.yx);
    p -= 2.0 * min(dot(k.xy, p), 0.0) * k.xy;
    p -= vec2<f32>(clamp(p.x, -k.z * apothem, k.z * apothem), apothem);
    return length(p) * sign(p.y);
}

fn octagon(p_in: vec2<f32>, apothem: f32) -> f32 {
    let k = vec3<f32>(-0.9238795325, 0.3826834323, 0.4142135623);
    var p = abs(p_in);
    p -= 2.0 * min(dot(vec2<f32>(k.x, k.y), p), 0.0) * vec2<f32>(k.x, k.y);
    p -= 2.0 * min(dot(vec2<f32>(-k.x, k.y), p), 0.0) * vec2<f32>(-k.x, k.y);
    p -= vec2<f32>(clamp(p.x, -k.z * apothem, k.z * apothem), apothem);
    return length(p) * sign(p.y);
}

// A tag pointing right: where data enters the graph.
fn arrow_tag(p: vec2<f32>) -> f32 {
    let back = -p.x - 0.9;
    let sides = abs(p.y) - 0.8;
    let point = (p.x + abs(p.y)) * 0.7071 - 0.72;
    return max(max(back, sides), point);
}

// Signed distance to the kind's outline, in quad units (negative inside).
fn shape(kind: u32, p: vec2<f32>) -> f32 {
    switch kind {
        case 1u: { return rounded_square(p); }
        case 2u: { return hexagon(p, 0.86); }
        case 3u: { return arrow_tag(p); }
        case 4u: { return octagon(p, 0.93); }
        default: { return length(p) - 1.0; }
    }
}

// Port types, as in orrery_domain::ports.
const DATA: u32 = 0u;
const TEXT: u32 = 1u;
const TOOL: u32 = 2u;
const NONE: u32 = 9u;

fn port_colour(port_type: u32) -> vec3<f32> {
    switch port_type {
        case 1u: { return vec3<f32>(1.0, 0.62, 0.08); }
        case 2u: { return vec3<f32>(0.06, 0.8, 0.7); }
        default: { return vec3<f32>(0.8, 0.82, 0.88); }
    }
}

// The ports of each kind: inputs on the left edge, outputs on the right
// (keep in step with drawing::port_offset).
fn input_type(kind: u32, upper: bool) -> u32 {
    switch kind {
        case 0u: { if upper { return TEXT; } return TOOL; }
        case 3u: { return NONE; }
        default: { return DATA; }
    }
}

fn output_type(kind: u32) -> u32 {
    switch kind {
        case 0u, 1u: { return TEXT; }
        case 2u: { return TOOL; }
        case 3u: { return DATA; }
        default: { return NONE; }
    }
}

const PORT_X: f32 = 0.84;
const PORT_RADIUS: f32 = 0.15;

// The port under `p`, as (type, distance to its centre) — or NONE.
fn port_at(kind: u32, p: vec2<f32>) -> vec2<f32> {
    if p.x > 0.0 {
        let kind_type = output_type(kind);
        let offset = length(p - vec2<f32>(PORT_X, 0.0));
        if kind_type != NONE && offset < PORT_RADIUS {
            return vec2<f32>(f32(kind_type), offset);
        }
        return vec2<f32>(f32(NONE), 1.0);
    }
    var y = 0.0;
    if kind == 0u {
        y = select(-0.45, 0.45, p.y > 0.0);
    }
    let kind_type = input_type(kind, p.y > 0.0);
    let offset = length(p - vec2<f32>(-PORT_X, y));
    if kind_type != NONE && offset < PORT_RADIUS {
        return vec2<f32>(f32(kind_type), offset);
    }
    return vec2<f32>(f32(NONE), 1.0);
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
#ifdef SMALL_NODES
    return small_node(in);
#else
    return full_node(in);
#endif
}

// A node a few pixels across: its shape, lit from above by a plain
// gradient, and its outline (bright when selected).
fn small_node(in: VertexOutput) -> vec4<f32> {
    let kind = u32(in.style.x + 0.5);
    let distance = shape(kind, in.corner);
    if distance > 0.0 {
        discard;
    }
    let base = in.colour.rgb;
    var colour = base * (0.75 + 0.3 * in.corner.y);
    let rim = smoothstep(-0.3, -0.15, distance);
    if in.style.y > 0.5 {
        colour = mix(colour, vec3<f32>(1.0), rim);
    } else {
        colour = mix(colour, base * 0.12, rim);
    }
    return vec4<f32>(colour, 1.0);
}

fn full_node(in: VertexOutput) -> vec4<f32> {
    let kind = u32(in.style.x + 0.5);
    let selected = in.style.y > 0.5;
    let p = in.corner;
    let port = port_at(kind, p);
    if u32(port.x + 0.5) != NONE {
        // A port: a dot of its type's colour with a dark ring.
        let ring = smoothstep(PORT_RADIUS * 0.6, PORT_RADIUS * 0.8, port.y);
        return vec4<f32>(mix(port_colour(u32(port.x + 0.5)), vec3<f32>(0.01), ring), 1.0);
    }
    let distance = shape(kind, p);
    if distance > 0.0 {
        discard;
    }
    // A rounded solid: flat in the middle, curving away towards the outline.
    let inside = clamp(-distance / 0.55, 0.0, 1.0);
    let height = sqrt(1.0 - (1.0 - inside) * (1.0 - inside));
    var slope = vec2<f32>(0.0);
    if length(p) > 0.0001 {
        slope = normalize(p) * sqrt(max(1.0 - height * height, 0.0));
    }
    if kind == 0u {
        // The agent is a true sphere.
        let z = sqrt(max(1.0 - dot(p, p), 0.0));
        slope = p;
        let normal = normalize(vec3<f32>(slope, z));
        return vec4<f32>(shade(in.colour.rgb, normal, distance, selected), 1.0);
    }
    let normal = normalize(vec3<f32>(slope, max(height, 0.05)));
    return vec4<f32>(shade(in.colour.rgb, normal, distance, selected), 1.0);
}

fn shade(base: vec3<f32>, normal: vec3<f32>, distance: f32, selected: bool) -> vec3<f32> {
    let light = normalize(vec3<f32>(-0.35, 0.55, 0.75));
    let diffuse = max(dot(normal, light), 0.0);
    var colour = base * (0.5 + 0.6 * diffuse);
    let glint = pow(max(dot(reflect(-light, normal), vec3<f32>(0.0, 0.0, 1.0)), 0.0), 24.0);
    colour += vec3<f32>(0.25) * glint;
    // The outline: dark for a plain node, bright for a selected one.
    let rim = smoothstep(-0.13, -0.07, distance);
    if selected {
        colour = mix(colour, vec3<f32>(1.0, 1.0, 1.0), rim);
    } else {
        colour = mix(colour, base * 0.12, rim);
    }
    return colour;
}
