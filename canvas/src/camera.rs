//! The orbit camera: left-drag on empty space orbits, right- or middle-drag
//! pans, the wheel zooms; on a trackpad two-finger scrolling pans and a pinch
//! (or Ctrl+scroll) zooms; arrow keys orbit, W/A/S/D pan, +/- zoom, F focuses
//! the selection, R frames the whole graph from the default angle.
//!
//! The flat view ([`FlatView`]) looks straight onto the plane z = 0 through
//! an orthographic projection: no orbiting there (dragging empty space
//! pans), and sizes on screen no longer shrink with depth.

use std::f32::consts::FRAC_PI_2;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::input::gestures::PinchGesture;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy::render::renderer::RenderAdapterInfo;
use bevy::render::{Render, RenderApp};
use orrery_domain::Graph;

use crate::bridge::GraphLoaded;
use crate::drag::{ActiveDrag, PointerSystems, Selection};
use crate::panels::KeyboardCaptured;
use crate::scene::{GraphNode, SceneSystems, ShownGraph, to_vec3};

/// Vertical field of view of the canvas camera, in radians.
pub const FIELD_OF_VIEW: f32 = std::f32::consts::FRAC_PI_4;

/// Orbit, pan and zoom.
pub struct OrbitCameraPlugin;

impl Plugin for OrbitCameraPlugin {
    fn build(&self, app: &mut App) {
        let software = SoftwareRenderer::default();
        if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
            render_app
                .insert_resource(software.clone())
                .add_systems(Render, detect_software_renderer);
        }
        app.insert_resource(software)
            .init_resource::<FocusRequest>()
            .init_resource::<FrameRequest>()
            .init_resource::<ViewInset>()
            .init_resource::<FlatView>()
            .add_systems(Update, match_antialiasing_to_renderer)
            .add_systems(Startup, spawn_camera)
            .add_systems(
                Update,
                (
                    frame_graph_on_load.run_if(on_message::<GraphLoaded>),
                    (orbit_pan_zoom, keyboard_controls),
                    follow_view_inset,
                    apply_orbit,
                )
                    .chain()
                    .after(PointerSystems)
                    .before(SceneSystems),
            );
    }
}

/// Logical pixels at the left of the window that a panel covers (the chat
/// panel): the view keeps what it shows beside them.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq)]
pub struct ViewInset {
    /// Covered width at the left.
    pub left: f32,
}

/// Moves and zooms `orbit` so that what filled the window beside a left
/// inset of `from` pixels fills it beside an inset of `to`.
pub fn inset_view(orbit: &mut OrbitCamera, window: Vec2, from: f32, to: f32) {
    let (before, after) = (window.x - from, window.x - to);
    if before < 1.0 || after < 1.0 || window.y < 1.0 {
        return;
    }
    // The same content in a narrower (or wider) strip: back off in proportion…
    orbit.distance *= before / after;
    // …and centre it on the strip: shift by half the inset's change.
    let world_per_pixel = 2.0 * (FIELD_OF_VIEW / 2.0).tan() * orbit.distance / window.y;
    let right = orbit.transform().right();
    orbit.focus -= *right * ((to - from) / 2.0) * world_per_pixel;
}

fn follow_view_inset(
    inset: Res<ViewInset>,
    mut shown_at: Local<f32>,
    windows: Query<&Window, With<bevy::window::PrimaryWindow>>,
    mut cameras: Query<&mut OrbitCamera>,
) {
    if (inset.left - *shown_at).abs() < 0.5 {
        return;
    }
    let Ok(window) = windows.single() else {
        return;
    };
    for mut orbit in &mut cameras {
        inset_view(&mut orbit, window.size(), *shown_at, inset.left);
    }
    *shown_at = inset.left;
}

/// Set to look at the selection on the next frame (as F does).
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct FocusRequest(pub bool);

/// Set to frame the whole graph on the next frame (as R does): after an
/// automatic layout, say.
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct FrameRequest(pub bool);

/// Whether the flat view is on: an orthographic view straight onto the
/// plane z = 0, where a layered layout is drawn left to right. `toggle` asks
/// for a switch (T, or the status bar's button); the layout plugin lays the
/// graph out when the view turns flat.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq)]
pub struct FlatView {
    /// The view is flat now.
    pub on: bool,
    /// Switch on the next frame.
    pub toggle: bool,
}

/// The angle a view starts from: a little above the graph, or (flat)
/// straight in front of it.
pub fn default_angle(flat: bool) -> OrbitCamera {
    if flat {
        OrbitCamera {
            pitch: 0.0,
            ..OrbitCamera::default()
        }
    } else {
        OrbitCamera::default()
    }
}

/// Where a point of the scene is on screen (logical pixels) and how large a
/// node there is drawn (its radius on screen); `None` behind the camera. For
/// what egui draws over the scene (presence, a comparison's connections).
pub fn node_on_screen(
    camera: &Camera,
    camera_transform: &GlobalTransform,
    projection: &Projection,
    window_height: f32,
    position: Vec3,
) -> Option<(Vec2, f32)> {
    let depth = (position - camera_transform.translation()).dot(*camera_transform.forward());
    if depth <= 0.0 {
        return None;
    }
    let point = camera.world_to_viewport(camera_transform, position).ok()?;
    let radius = crate::scene::NODE_RADIUS / world_per_pixel(projection, depth, window_height);
    Some((point, radius))
}

/// World units per logical pixel at `depth` in front of a camera with
/// `projection`, in a window `viewport_height` logical pixels tall.
pub fn world_per_pixel(projection: &Projection, depth: f32, viewport_height: f32) -> f32 {
    let height = viewport_height.max(1.0);
    match projection {
        Projection::Orthographic(orthographic) => match orthographic.scaling_mode {
            bevy::camera::ScalingMode::FixedVertical { viewport_height } => {
                viewport_height / height
            }
            _ => orthographic.area.height().max(1e-6) / height,
        },
        _ => 2.0 * (FIELD_OF_VIEW / 2.0).tan() * depth / height,
    }
}

/// The projection for `orbit`: a perspective one, or (flat) an
/// orthographic one showing what the perspective one shows at the focus.
fn projection_for(orbit: &OrbitCamera, flat: bool) -> Projection {
    if flat {
        Projection::Orthographic(OrthographicProjection {
            scaling_mode: bevy::camera::ScalingMode::FixedVertical {
                viewport_height: 2.0 * (FIELD_OF_VIEW / 2.0).tan() * orbit.distance,
            },
            // The camera stands `distance` in front of the plane; anything
            // up to far beyond either side of it is drawn.
            near: -100_000.0,
            far: 100_000.0,
            ..OrthographicProjection::default_3d()
        })
    } else {
        Projection::Perspective(PerspectiveProjection {
            fov: FIELD_OF_VIEW,
            ..default()
        })
    }
}

/// Where the camera looks from, as an orbit around a focus point.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct OrbitCamera {
    /// The point orbited.
    pub focus: Vec3,
    /// Rotation around the world's up axis.
    pub yaw: f32,
    /// Elevation above the horizon.
    pub pitch: f32,
    /// Distance from the focus.
    pub distance: f32,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        Self {
            focus: Vec3::ZERO,
            yaw: 0.0,
            pitch: 0.35,
            distance: 20.0,
        }
    }
}

impl OrbitCamera {
    /// The camera transform this orbit describes.
    pub fn transform(&self) -> Transform {
        let rotation = Quat::from_euler(EulerRot::YXZ, self.yaw, -self.pitch, 0.0);
        let position = self.focus + rotation * Vec3::new(0.0, 0.0, self.distance);
        Transform::from_translation(position).looking_at(self.focus, Vec3::Y)
    }
}

/// Whether the renderer runs on the CPU (Mesa lavapipe, llvmpipe): shared
/// between the render world, which knows the adapter, and the main world.
#[derive(Resource, Clone, Default)]
struct SoftwareRenderer(Arc<AtomicBool>);

fn detect_software_renderer(
    adapter: Option<Res<RenderAdapterInfo>>,
    software: Res<SoftwareRenderer>,
) {
    if let Some(adapter) = adapter {
        let on_cpu = adapter.device_type == wgpu_types::DeviceType::Cpu;
        software.0.store(on_cpu, Ordering::Relaxed);
    }
}

/// 4× MSAA on a GPU; none on a CPU rasteriser, where it triples the frame time
/// (measured with `orrery-bench canvas`, 1,000 nodes: 594 → 207 ms).
///
/// On a CPU rasteriser frames also go out without waiting for a vertical
/// blank that a virtual display does not have.
fn match_antialiasing_to_renderer(
    software: Res<SoftwareRenderer>,
    mut cameras: Query<&mut Msaa, With<OrbitCamera>>,
    mut windows: Query<&mut bevy::window::Window>,
) {
    if software.0.load(Ordering::Relaxed) {
        for mut window in &mut windows {
            if window.present_mode != bevy::window::PresentMode::AutoNoVsync {
                window.present_mode = bevy::window::PresentMode::AutoNoVsync;
            }
        }
    }
    let wanted = if software.0.load(Ordering::Relaxed) {
        Msaa::Off
    } else {
        Msaa::Sample4
    };
    for mut msaa in &mut cameras {
        if *msaa != wanted {
            *msaa = wanted;
        }
    }
}

fn spawn_camera(mut commands: Commands) {
    let orbit = OrbitCamera::default();
    commands.spawn((
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection {
            fov: FIELD_OF_VIEW,
            ..default()
        }),
        Tonemapping::None,
        orbit.transform(),
        orbit,
    ));
}

/// The orbit that frames a whole graph seen from the default angle (or,
/// `flat`, straight in front) in a
/// window of `aspect` (width / height): every node inside the view with a
/// margin, the graph as large as that allows.
pub fn framing(graph: &Graph, aspect: f32, flat: bool) -> Option<OrbitCamera> {
    let positions: Vec<Vec3> = graph
        .nodes
        .values()
        .map(|node| to_vec3(node.position))
        .collect();
    let angle = default_angle(flat);
    let (focus, distance) = fit(&positions, angle.transform().rotation, aspect)?;
    Some(OrbitCamera {
        focus,
        distance,
        ..angle
    })
}

/// Room kept around the framed nodes: a node's radius and a little more in
/// world units, and a share of the view.
const FRAME_MARGIN_WORLD: f32 = 1.5;
const FRAME_MARGIN_SHARE: f32 = 0.08;

/// Where to look and how far back to stand to see every one of `points`
/// from a camera turned by `rotation`, in a window of `aspect` (width /
/// height): the centre of their box as the camera sees it, and the distance
/// at which both the vertical and the horizontal field of view hold them
/// (the nearest points, which look largest, decide).
fn fit(points: &[Vec3], rotation: Quat, aspect: f32) -> Option<(Vec3, f32)> {
    if points.is_empty() {
        return None;
    }
    let axes = [rotation * Vec3::X, rotation * Vec3::Y, rotation * Vec3::Z];
    let along = |point: Vec3| Vec3::new(point.dot(axes[0]), point.dot(axes[1]), point.dot(axes[2]));
    let (low, high) = points.iter().fold(
        (Vec3::splat(f32::MAX), Vec3::splat(f32::MIN)),
        |(low, high), point| (low.min(along(*point)), high.max(along(*point))),
    );
    let middle = (low + high) / 2.0;
    let centre = axes[0] * middle.x + axes[1] * middle.y + axes[2] * middle.z;
    let half = (high - low) / 2.0 + Vec3::splat(FRAME_MARGIN_WORLD);
    let tan_vertical = (FIELD_OF_VIEW / 2.0).tan() * (1.0 - FRAME_MARGIN_SHARE);
    let tan_horizontal = tan_vertical * aspect.clamp(0.1, 10.0);
    let distance = (half.x / tan_horizontal).max(half.y / tan_vertical) + half.z;
    Some((centre, distance.max(2.0)))
}

/// The window's shape (width / height). Framing fits the whole window;
/// `inset_view` then backs off in proportion to a panel at the left.
fn aspect_of(window: Vec2) -> f32 {
    if window.y < 1.0 {
        return 16.0 / 9.0;
    }
    window.x / window.y
}

fn frame_graph_on_load(
    shown: Res<ShownGraph>,
    inset: Res<ViewInset>,
    mut flat: ResMut<FlatView>,
    windows: Query<&Window, With<bevy::window::PrimaryWindow>>,
    mut cameras: Query<&mut OrbitCamera>,
) {
    // A graph opens in the 3D view, as it was laid out.
    if flat.on {
        flat.on = false;
    }
    let size = windows.single().map_or(Vec2::new(16.0, 9.0), Window::size);
    let Some(mut framed) = shown
        .graph
        .as_ref()
        .and_then(|graph| framing(graph, aspect_of(size), flat.on))
    else {
        return;
    };
    inset_view(&mut framed, size, 0.0, inset.left);
    for mut orbit in &mut cameras {
        *orbit = framed;
    }
}

fn orbit_pan_zoom(
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    mut pinches: MessageReader<PinchGesture>,
    mut drag: ResMut<ActiveDrag>,
    flat: Res<FlatView>,
    mut cameras: Query<(&mut OrbitCamera, &Transform)>,
) {
    let pinch: f32 = pinches.read().map(|gesture| gesture.0).sum();
    let control = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    // Orbiting follows the window's cursor as the drag saw it, event by
    // event (every pointer moves it: a mouse, a tablet, a remote desktop,
    // xdotool), and raw device motion while the cursor has left the window.
    let mut turn = drag.take_orbit_motion();
    if drag.orbiting() && buttons.pressed(MouseButton::Left) && turn == Vec2::ZERO {
        turn = motion.delta;
    }
    let mut moved = motion.delta;
    let mut panning = buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle);
    if flat.on && turn != Vec2::ZERO {
        // Flat: dragging empty space pans; there is no angle to turn.
        (moved, panning, turn) = (turn, true, Vec2::ZERO);
    }
    for (mut orbit, transform) in &mut cameras {
        if turn != Vec2::ZERO {
            orbit.yaw -= turn.x * 0.005;
            orbit.pitch = (orbit.pitch + turn.y * 0.005).clamp(-FRAC_PI_2 + 0.05, FRAC_PI_2 - 0.05);
        }
        if panning {
            let scale = orbit.distance * 0.0015;
            let pan = (-transform.right() * moved.x + transform.up() * moved.y) * scale;
            orbit.focus += pan;
        }
        // A wheel scrolls in lines and zooms; a trackpad scrolls in pixels
        // and pans, unless Ctrl is held (how some systems report a pinch).
        let lines = match scroll.unit {
            MouseScrollUnit::Line => scroll.delta.y,
            MouseScrollUnit::Pixel if control => scroll.delta.y / 40.0,
            MouseScrollUnit::Pixel => {
                let scale = orbit.distance * 0.0015;
                orbit.focus += (-transform.right() * -scroll.delta.x
                    + transform.up() * scroll.delta.y)
                    * scale;
                0.0
            }
        };
        if lines != 0.0 {
            orbit.distance = (orbit.distance * 0.9_f32.powf(lines)).clamp(0.5, 50_000.0);
        }
        if pinch != 0.0 {
            orbit.distance = (orbit.distance / (1.0 + pinch).max(0.1)).clamp(0.5, 50_000.0);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn keyboard_controls(
    keys: Res<ButtonInput<KeyCode>>,
    time: Res<Time>,
    shown: Res<ShownGraph>,
    selection: Res<Selection>,
    captured: Res<KeyboardCaptured>,
    mut request: ResMut<FocusRequest>,
    mut frame: ResMut<FrameRequest>,
    inset: Res<ViewInset>,
    flat: Res<FlatView>,
    windows: Query<&Window, With<bevy::window::PrimaryWindow>>,
    nodes: Query<(&GraphNode, &Transform)>,
    mut cameras: Query<(&mut OrbitCamera, &Transform)>,
) {
    let requested = std::mem::take(&mut request.0);
    let keys_free = !captured.0;
    let command = keys.any_pressed([
        KeyCode::ControlLeft,
        KeyCode::ControlRight,
        KeyCode::SuperLeft,
        KeyCode::SuperRight,
    ]);
    // F: look at the selection (or everything), keeping the angle of view.
    let focus = (requested || (keys_free && keys.just_pressed(KeyCode::KeyF))).then(|| {
        let points: Vec<Vec3> = nodes
            .iter()
            .filter(|(node, _)| selection.nodes.is_empty() || selection.nodes.contains(&node.id))
            .map(|(_, transform)| transform.translation)
            .collect();
        let rotation = cameras
            .iter()
            .next()
            .map_or(Quat::IDENTITY, |(_, transform)| transform.rotation);
        let size = windows.single().map_or(Vec2::new(16.0, 9.0), Window::size);
        fit(&points, rotation, aspect_of(size))
    });
    let step = time.delta_secs() * 1.5;
    for (mut orbit, transform) in &mut cameras {
        if let Some(Some((centre, distance))) = focus {
            orbit.focus = centre;
            orbit.distance = distance;
        }
        if !keys_free {
            continue;
        }
        if !command {
            let mut pan = Vec2::ZERO;
            for (key, direction) in [
                (KeyCode::KeyW, Vec2::Y),
                (KeyCode::KeyS, Vec2::NEG_Y),
                (KeyCode::KeyA, Vec2::NEG_X),
                (KeyCode::KeyD, Vec2::X),
            ] {
                if keys.pressed(key) {
                    pan += direction;
                }
            }
            if pan != Vec2::ZERO {
                let distance = orbit.distance;
                orbit.focus +=
                    (transform.right() * pan.x + transform.up() * pan.y) * distance * step * 0.5;
            }
        }
        // No angle to turn in the flat view.
        if !flat.on {
            if keys.pressed(KeyCode::ArrowLeft) {
                orbit.yaw += step;
            }
            if keys.pressed(KeyCode::ArrowRight) {
                orbit.yaw -= step;
            }
            if keys.pressed(KeyCode::ArrowUp) {
                orbit.pitch = (orbit.pitch + step).min(FRAC_PI_2 - 0.05);
            }
            if keys.pressed(KeyCode::ArrowDown) {
                orbit.pitch = (orbit.pitch - step).max(-FRAC_PI_2 + 0.05);
            }
        }
        if keys.pressed(KeyCode::Equal) || keys.pressed(KeyCode::NumpadAdd) {
            orbit.distance = (orbit.distance * (1.0 - step)).max(0.5);
        }
        if keys.pressed(KeyCode::Minus) || keys.pressed(KeyCode::NumpadSubtract) {
            orbit.distance *= 1.0 + step;
        }
        if keys.just_pressed(KeyCode::KeyR) {
            frame.0 = true;
        }
    }
    if std::mem::take(&mut frame.0) {
        for (mut orbit, _) in &mut cameras {
            let size = windows.single().map_or(Vec2::new(16.0, 9.0), Window::size);
            if let Some(mut framed) = shown
                .graph
                .as_ref()
                .and_then(|graph| framing(graph, aspect_of(size), flat.on))
            {
                inset_view(&mut framed, size, 0.0, inset.left);
                *orbit = framed;
            }
        }
    }
}

fn apply_orbit(
    flat: Res<FlatView>,
    mut cameras: Query<(Ref<OrbitCamera>, &mut Transform, &mut Projection)>,
) {
    for (orbit, mut transform, mut projection) in &mut cameras {
        if orbit.is_changed() {
            *transform = orbit.transform();
        }
        if orbit.is_changed() || flat.is_changed() {
            *projection = projection_for(&orbit, flat.on);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_holds_every_point_in_view_whatever_the_window_shape() {
        let rotation = OrbitCamera::default().transform().rotation;
        assert_eq!(fit(&[], rotation, 1.5), None);
        // A pipeline laid out left to right, like a template.
        let points: Vec<Vec3> = (0..6)
            .map(|i| Vec3::new(i as f32 * 7.0, 0.0, 0.0))
            .collect();
        for aspect in [0.5, 1.0, 1.5, 2.4] {
            let (centre, distance) = fit(&points, rotation, aspect).unwrap();
            assert!(
                (centre.x - 17.5).abs() < 1e-3,
                "centred on the box: {centre}"
            );
            let orbit = OrbitCamera {
                focus: centre,
                distance,
                ..OrbitCamera::default()
            };
            let camera = orbit.transform();
            let tan_v = (FIELD_OF_VIEW / 2.0).tan();
            let mut widest = 0.0_f32;
            for point in &points {
                let local = camera.compute_affine().inverse().transform_point3(*point);
                let depth = -local.z;
                assert!(depth > 0.0, "a point is behind the camera");
                let (x, y) = (
                    local.x / (depth * tan_v * aspect),
                    local.y / (depth * tan_v),
                );
                assert!(
                    x.abs() <= 1.0 && y.abs() <= 1.0,
                    "{point} is off screen at aspect {aspect}: {x}, {y}"
                );
                widest = widest.max(x.abs());
            }
            // Not far more distant than needed: the row fills most of the width
            // (or the height, in a wide window it is the row's width that binds).
            assert!(
                widest > 0.6,
                "aspect {aspect}: the graph fills only {widest} of the half-width"
            );
        }
    }

    /// The camera's systems in a Bevy app fed through Bevy's own input
    /// pipeline (`MouseWheel` and `PinchGesture` messages, as winit turns a
    /// trackpad's events into them): X11 test tools cannot send the
    /// pixel-precise scrolls and pinches a trackpad makes.
    fn camera_app() -> (App, Entity) {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, bevy::input::InputPlugin))
            .init_resource::<ActiveDrag>()
            .init_resource::<FlatView>()
            .add_systems(Update, (orbit_pan_zoom, apply_orbit).chain());
        let orbit = OrbitCamera::default();
        let camera = app
            .world_mut()
            .spawn((orbit.transform(), orbit, projection_for(&orbit, false)))
            .id();
        app.update();
        (app, camera)
    }

    fn scroll(app: &mut App, unit: MouseScrollUnit, x: f32, y: f32) -> OrbitCamera {
        app.world_mut()
            .write_message(bevy::input::mouse::MouseWheel {
                unit,
                x,
                y,
                window: Entity::PLACEHOLDER,
                phase: bevy::input::touch::TouchPhase::Moved,
            });
        app.update();
        let camera = app
            .world_mut()
            .query::<&OrbitCamera>()
            .single(app.world())
            .unwrap();
        *camera
    }

    #[test]
    fn trackpad_scrolling_pans_and_pinching_zooms() {
        let (mut app, camera) = camera_app();
        let start = *app.world().get::<OrbitCamera>(camera).unwrap();
        let start_transform = *app.world().get::<Transform>(camera).unwrap();

        // Two fingers up and right (pixels): the view pans, the distance stays.
        let panned = scroll(&mut app, MouseScrollUnit::Pixel, -30.0, 20.0);
        assert_eq!(panned.distance, start.distance);
        let moved = panned.focus - start.focus;
        let scale = start.distance * 0.0015;
        let expected = (start_transform.right() * -30.0 + start_transform.up() * 20.0) * scale;
        assert!(
            (moved - expected).length() < 1e-4,
            "panned by {moved}, expected {expected}"
        );
        assert!(moved.length() > 0.0);
        let transform = *app.world().get::<Transform>(camera).unwrap();
        assert_ne!(transform, start_transform, "the camera itself moved");

        // A pinch outwards zooms in; inwards zooms out.
        app.world_mut().write_message(PinchGesture(0.25));
        app.update();
        let pinched = *app.world().get::<OrbitCamera>(camera).unwrap();
        assert!((pinched.distance - start.distance / 1.25).abs() < 1e-3);
        assert_eq!(pinched.focus, panned.focus, "a pinch does not pan");
        app.world_mut().write_message(PinchGesture(-0.2));
        app.update();
        let unpinched = *app.world().get::<OrbitCamera>(camera).unwrap();
        assert!((unpinched.distance - pinched.distance / 0.8).abs() < 1e-3);

        // Some systems send a pinch as a pixel scroll with Ctrl held: a zoom.
        app.world_mut()
            .resource_mut::<ButtonInput<KeyCode>>()
            .press(KeyCode::ControlLeft);
        let zoomed = scroll(&mut app, MouseScrollUnit::Pixel, 0.0, 40.0);
        assert!((zoomed.distance - unpinched.distance * 0.9).abs() < 1e-3);
        assert_eq!(zoomed.focus, unpinched.focus);
        app.world_mut()
            .resource_mut::<ButtonInput<KeyCode>>()
            .release(KeyCode::ControlLeft);

        // A mouse wheel scrolls in lines: it zooms, whatever the keys.
        let wheeled = scroll(&mut app, MouseScrollUnit::Line, 0.0, -2.0);
        assert!((wheeled.distance - zoomed.distance / 0.81).abs() < 1e-2);
        assert_eq!(wheeled.focus, zoomed.focus);
    }
}
