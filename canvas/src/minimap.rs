//! The minimap and the view buttons, in the bottom-right corner: the whole
//! graph as the camera sees it from afar, with the rectangle the window
//! shows; a click or a drag on it moves the view there. Over it sit the
//! buttons for the flat view (also T) and for framing the graph (also R).
//!
//! The map keeps the camera's angle (its axes are the camera's right and up),
//! so what is left of the rectangle on the map is left of the window.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use serde::{Deserialize, Serialize};

use crate::camera::{FlatView, FrameRequest, OrbitCamera, ViewInset, world_per_pixel};
use crate::panels::{KeyboardCaptured, PanelLayout, PanelSystems};
use crate::scene::{GraphNode, ShownGraph, kind_colour};

/// The map's drawing area in logical pixels (width, height), and in a
/// window narrower than [`WIDE_WINDOW`].
pub const MINIMAP_SIZE: Vec2 = Vec2::new(200.0, 130.0);
const SMALL_MINIMAP_SIZE: Vec2 = Vec2::new(150.0, 96.0);
const WIDE_WINDOW: f32 = 1_000.0;
/// Most edges drawn on the map (none past it: lines would only blur).
const MAX_MAP_EDGES: usize = 2_000;
/// A window narrower or lower than this (logical pixels) has no room for
/// the map: only the buttons are shown.
const ROOM_FOR_MAP: Vec2 = Vec2::new(640.0, 580.0);
/// Most nodes drawn on the map (every n-th one past it).
const MAX_MAP_DOTS: usize = 2_500;

/// The minimap and the view buttons.
pub struct MinimapPlugin;

impl Plugin for MinimapPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<MinimapPlacement>().add_systems(
            EguiPrimaryContextPass,
            (toggle_flat_view_by_key, minimap)
                .chain()
                .run_if(crate::panels::panels_shown)
                .after(PanelSystems),
        );
    }
}

/// Where the map is and how it maps the graph, for the frame report.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq)]
pub struct MinimapPlacement(pub Option<MinimapReport>);

/// How the minimap shows the graph: a point `p` in the world is drawn at
/// `(origin[0] + scale · p·right, origin[1] − scale · p·up)` in logical
/// window pixels, `right` and `up` being the camera's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MinimapReport {
    /// The map's area, as logical `[min x, min y, max x, max y]`.
    pub rect: [f32; 4],
    /// Pixels per world unit.
    pub scale: f32,
    /// Where the world's origin lands.
    pub origin: [f32; 2],
    /// The rectangle of the view, as logical `[min x, min y, max x, max y]`.
    pub view: [f32; 4],
    /// Where in the window the middle of that rectangle is (the middle of
    /// the part no panel covers): a click on the map brings the point
    /// clicked there.
    pub view_centre: [f32; 2],
}

fn toggle_flat_view_by_key(
    keys: Res<ButtonInput<KeyCode>>,
    captured: Res<KeyboardCaptured>,
    shown: Res<ShownGraph>,
    mut flat: ResMut<FlatView>,
) {
    let command = keys.any_pressed([
        KeyCode::ControlLeft,
        KeyCode::ControlRight,
        KeyCode::SuperLeft,
        KeyCode::SuperRight,
    ]);
    if shown.graph.is_some() && !captured.0 && !command && keys.just_pressed(KeyCode::KeyT) {
        flat.toggle = true;
    }
}

#[allow(clippy::too_many_arguments)]
fn minimap(
    mut contexts: EguiContexts,
    shown: Res<ShownGraph>,
    mut layout: ResMut<PanelLayout>,
    mut placement: ResMut<MinimapPlacement>,
    mut flat: ResMut<FlatView>,
    mut frame: ResMut<FrameRequest>,
    inset: Res<ViewInset>,
    windows: Query<&Window, With<PrimaryWindow>>,
    nodes: Query<(&GraphNode, &Transform)>,
    mut cameras: Query<(&mut OrbitCamera, &Transform, &Projection), Without<GraphNode>>,
) -> Result {
    placement.0 = None;
    let context = contexts.ctx_mut()?.clone();
    if shown.graph.is_none() {
        return Ok(());
    }
    let Ok(window) = windows.single() else {
        return Ok(());
    };
    let Ok((mut orbit, camera, projection)) = cameras.single_mut() else {
        return Ok(());
    };
    let (right, up) = (*camera.right(), *camera.up());
    let status_bar = window.height() - layout.status_bar_top.clamp(0.0, window.height());
    let with_map = window.width() >= ROOM_FOR_MAP.x && window.height() >= ROOM_FOR_MAP.y;

    // The graph's box in the camera's axes, and a sample of it to draw.
    let count = nodes.iter().len();
    let stride = count.div_ceil(MAX_MAP_DOTS).max(1);
    let mut low = Vec2::splat(f32::MAX);
    let mut high = Vec2::splat(f32::MIN);
    let mut dots = Vec::with_capacity(count.min(MAX_MAP_DOTS));
    for (index, (node, transform)) in nodes.iter().enumerate() {
        let at = Vec2::new(
            transform.translation.dot(right),
            transform.translation.dot(up),
        );
        low = low.min(at);
        high = high.max(at);
        if with_map && index % stride == 0 {
            dots.push((at, node.kind));
        }
    }
    // The view's rectangle where the camera looks (at the focus's depth),
    // beside the panel at the left, if one is open.
    let per_pixel = world_per_pixel(projection, orbit.distance, window.height());
    let left = inset.left.clamp(0.0, window.width() - 1.0);
    let half = Vec2::new(window.width() - left, window.height()) * per_pixel / 2.0;
    let focus = Vec2::new(orbit.focus.dot(right), orbit.focus.dot(up));
    // The middle of the uncovered part is right of the window's middle.
    let seen = focus + Vec2::new(left / 2.0 * per_pixel, 0.0);
    let view_centre = [(window.width() + left) / 2.0, window.height() / 2.0];

    let mut controls = Vec::new();
    let mut jump_to = None;
    let mut report = None;
    let area = egui::Area::new(egui::Id::new("minimap"))
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-8.0, -(status_bar + 8.0)))
        .show(&context, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.horizontal(|ui| {
                    let hover = if flat.on {
                        "Back to the 3D view (T)"
                    } else {
                        "Lay the graph out left to right and look at it flat (T); Ctrl+Z undoes the layout"
                    };
                    let button = ui
                        .add(egui::Button::new("Flat view").selected(flat.on))
                        .on_hover_text(hover);
                    controls.push(("flat view".to_owned(), button.rect));
                    if button.clicked() {
                        flat.toggle = true;
                    }
                    let framing = ui.button("Frame").on_hover_text("Show the whole graph (R)");
                    controls.push(("frame".to_owned(), framing.rect));
                    if framing.clicked() {
                        frame.0 = true;
                    }
                });
                if !with_map || count == 0 {
                    return;
                }
                let size = if window.width() < WIDE_WINDOW {
                    SMALL_MINIMAP_SIZE
                } else {
                    MINIMAP_SIZE
                };
                let (rect, response) = ui.allocate_exact_size(
                    egui::vec2(size.x, size.y),
                    egui::Sense::click_and_drag(),
                );
                let response = response.on_hover_text("Click or drag to move the view");
                // Fit the graph and the view's rectangle, with a margin.
                let low = low.min(seen - half);
                let high = high.max(seen + half);
                let span = (high - low).max(Vec2::splat(1e-3));
                let inner = rect.shrink(8.0);
                let scale = (inner.width() / span.x).min(inner.height() / span.y);
                let middle = (low + high) / 2.0;
                let origin = egui::pos2(
                    inner.center().x - middle.x * scale,
                    inner.center().y + middle.y * scale,
                );
                let to_map = |at: Vec2| egui::pos2(origin.x + at.x * scale, origin.y - at.y * scale);
                let painter = ui.painter_at(rect);
                painter.rect_filled(rect, 4.0, egui::Color32::from_rgba_unmultiplied(6, 8, 14, 200));
                if let Some(graph) = shown.graph.as_ref().filter(|graph| graph.edges.len() <= MAX_MAP_EDGES) {
                    let flat_point = |position: orrery_domain::Position| {
                        let at = crate::scene::to_vec3(position);
                        to_map(Vec2::new(at.dot(right), at.dot(up)))
                    };
                    let stroke = egui::Stroke::new(1.0, egui::Color32::from_rgba_unmultiplied(150, 160, 190, 90));
                    for edge in graph.edges.values() {
                        if let (Some(from), Some(to)) = (graph.nodes.get(&edge.from), graph.nodes.get(&edge.to)) {
                            painter.line_segment([flat_point(from.position), flat_point(to.position)], stroke);
                        }
                    }
                }
                // Dots as big as the nodes on the map, but never lost or blobs.
                let dot = (crate::scene::NODE_RADIUS * scale).clamp(1.5, 3.5);
                for (at, kind) in &dots {
                    let [r, g, b] = kind_colour(*kind);
                    painter.circle_filled(to_map(*at), dot, egui::Color32::from_rgb(r, g, b));
                }
                let view = egui::Rect::from_two_pos(to_map(seen - half), to_map(seen + half));
                painter.rect_filled(view, 2.0, egui::Color32::from_rgba_unmultiplied(120, 160, 255, 28));
                painter.rect_stroke(
                    view,
                    2.0,
                    egui::Stroke::new(1.5, egui::Color32::from_rgb(140, 175, 255)),
                    egui::StrokeKind::Inside,
                );
                if (response.clicked() || response.dragged())
                    && let Some(pointer) = response.interact_pointer_pos()
                {
                    jump_to = Some(Vec2::new(
                        (pointer.x - origin.x) / scale,
                        (origin.y - pointer.y) / scale,
                    ));
                }
                controls.push(("minimap".to_owned(), rect));
                report = Some(MinimapReport {
                    rect: [rect.min.x, rect.min.y, rect.max.x, rect.max.y],
                    scale,
                    origin: [origin.x, origin.y],
                    view: [view.min.x, view.min.y, view.max.x, view.max.y],
                    view_centre,
                });
            });
        });
    let covered = area.response.rect;
    layout.controls.push((
        "view".to_owned(),
        Rect::new(covered.min.x, covered.min.y, covered.max.x, covered.max.y),
    ));
    layout.covered.push(Rect::new(
        covered.min.x,
        covered.min.y,
        covered.max.x,
        covered.max.y,
    ));
    layout
        .controls
        .extend(controls.into_iter().map(|(name, rect)| {
            (
                name,
                Rect::new(rect.min.x, rect.min.y, rect.max.x, rect.max.y),
            )
        }));
    if let Some(target) = jump_to {
        // Move along the camera's right and up only: the angle and the
        // distance stay, the point clicked comes to the middle of the view.
        let shift = target - seen;
        orbit.focus += right * shift.x + up * shift.y;
    }
    placement.0 = report;
    Ok(())
}
