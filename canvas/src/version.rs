//! A past version of the shown graph, read-only: a banner at the top names
//! it ("Version “Before the review”", or "Changes since …" when two versions
//! are compared) with a legend of the colours nodes that differ are drawn in
//! (added, removed, moved, relabelled; the scene draws them) and "Back to
//! now" (or Escape), which asks the host for the graph as it is now
//! ([`CanvasEvent::BackToNow`](crate::CanvasEvent)). While a version is
//! shown nothing edits it: a press only selects (see [`crate::drag`]), edit
//! systems do not run, and a change asked for through the panels is
//! answered with a notice saying why.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::bridge::CanvasBridge;
use crate::camera::{OrbitCamera, node_on_screen};
use crate::history::EditRequested;
use crate::panels::{KeyboardCaptured, Notice, PanelLayout, PanelSystems, panels_shown};
use crate::scene::{DiffMark, GraphNode, ShownGraph};

/// What a blocked change is told.
pub const READ_ONLY_NOTICE: &str =
    "This is a past version: it is read-only. Choose Back to now to edit the graph.";

/// Shows a past version's banner and keeps the version unchanged.
pub struct VersionPlugin;

impl Plugin for VersionPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, (leave_on_escape, refuse_edits))
            .add_systems(
                EguiPrimaryContextPass,
                (draw_changed_edges, version_banner.run_if(panels_shown)).after(PanelSystems),
            );
    }
}

/// Escape on a past version goes back to now.
fn leave_on_escape(
    shown: Res<ShownGraph>,
    keys: Res<ButtonInput<KeyCode>>,
    captured: Res<KeyboardCaptured>,
    bridge: Option<Res<CanvasBridge>>,
) {
    if shown.version.is_some()
        && !captured.0
        && keys.just_pressed(KeyCode::Escape)
        && let (Some(bridge), Some(graph)) = (bridge, shown.id())
    {
        bridge.send(crate::CanvasEvent::BackToNow(graph));
    }
}

/// A change asked for on a past version (a rename in the inspector, say) is
/// not made; the status bar says why.
fn refuse_edits(
    shown: Res<ShownGraph>,
    mut asked: MessageReader<EditRequested>,
    mut notice: ResMut<Notice>,
) {
    let count = asked.read().count();
    if count > 0 && !shown.editable() {
        notice.show(READ_ONLY_NOTICE.to_owned());
    }
}

fn colour([r, g, b]: [u8; 3]) -> egui::Color32 {
    egui::Color32::from_rgb(r, g, b)
}

/// Connections one version has and the other has not, over the scene in
/// their mark's colour: the curve the edge shader draws (leaving the
/// source's right side, entering the target's left side), as seen on screen.
fn draw_changed_edges(
    mut contexts: EguiContexts,
    shown: Res<ShownGraph>,
    camera: Query<(&Camera, &GlobalTransform, &Projection), With<OrbitCamera>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    nodes: Query<(&GraphNode, &Transform)>,
) -> Result {
    let (Some(version), Some(graph)) = (&shown.version, &shown.graph) else {
        return Ok(());
    };
    if version.edge_marks.is_empty() {
        return Ok(());
    }
    let (Ok((camera, camera_transform, projection)), Ok(window)) =
        (camera.single(), windows.single())
    else {
        return Ok(());
    };
    let context = contexts.ctx_mut()?.clone();
    let painter = context.layer_painter(egui::LayerId::new(
        egui::Order::Background,
        egui::Id::new("changed edges"),
    ));
    let on_screen = |position: Vec3| {
        node_on_screen(
            camera,
            camera_transform,
            projection,
            window.height(),
            position,
        )
        .map(|(point, radius)| (egui::pos2(point.x, point.y), radius))
    };
    let places: std::collections::HashMap<orrery_domain::NodeId, Vec3> = nodes
        .iter()
        .map(|(node, transform)| (node.id, transform.translation))
        .collect();
    for (edge, mark) in &version.edge_marks {
        let Some(edge) = graph.edges.get(edge) else {
            continue;
        };
        let ends = places
            .get(&edge.from)
            .and_then(|from| on_screen(*from))
            .zip(places.get(&edge.to).and_then(|to| on_screen(*to)));
        let Some(((from, from_radius), (to, to_radius))) = ends else {
            continue;
        };
        let start = from + egui::vec2(from_radius * 0.84, 0.0);
        let end = to - egui::vec2(to_radius * 0.84, 0.0);
        let reach = ((end - start).length() * 0.45).clamp(12.0, 240.0);
        painter.add(egui::epaint::CubicBezierShape::from_points_stroke(
            [
                start,
                start + egui::vec2(reach, 0.0),
                end - egui::vec2(reach, 0.0),
                end,
            ],
            false,
            egui::Color32::TRANSPARENT,
            egui::Stroke::new(3.0, colour(mark.colour())),
        ));
    }
    Ok(())
}

/// The banner: what is shown, the legend with counts, and Back to now.
fn version_banner(
    mut contexts: EguiContexts,
    shown: Res<ShownGraph>,
    bridge: Option<Res<CanvasBridge>>,
    mut layout: ResMut<PanelLayout>,
) -> Result {
    let (Some(version), Some(graph)) = (&shown.version, shown.id()) else {
        return Ok(());
    };
    let context = contexts.ctx_mut()?.clone();
    let mut back = None;
    let banner = egui::Area::new(egui::Id::new("version banner"))
        .anchor(egui::Align2::CENTER_TOP, egui::vec2(0.0, 8.0))
        .show(&context, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.label(egui::RichText::new(&version.label).strong());
                    ui.weak("· read-only");
                    let button = ui
                        .button("Back to now")
                        .on_hover_text("Show the graph as it is now (Esc)");
                    back = Some(button.rect);
                    if button.clicked()
                        && let Some(bridge) = &bridge
                    {
                        bridge.send(crate::CanvasEvent::BackToNow(graph));
                    }
                });
                if !version.marks.is_empty() || !version.edge_marks.is_empty() {
                    ui.horizontal(|ui| {
                        for mark in DiffMark::ALL {
                            let count = version.marks.values().filter(|m| **m == mark).count()
                                + version.edge_marks.values().filter(|m| **m == mark).count();
                            if count == 0 {
                                continue;
                            }
                            // A dot in the mark's colour (drawn: not every font has ●).
                            let (dot, _) = ui
                                .allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                            ui.painter()
                                .circle_filled(dot.center(), 4.5, colour(mark.colour()));
                            ui.label(format!("{} {count}", mark.word()));
                            ui.add_space(6.0);
                        }
                    });
                }
            });
        });
    let area = banner.response.rect;
    layout
        .covered
        .push(Rect::new(area.min.x, area.min.y, area.max.x, area.max.y));
    if let Some(button) = back {
        layout.controls.push((
            "back to now".to_owned(),
            Rect::new(button.min.x, button.min.y, button.max.x, button.max.y),
        ));
    }
    Ok(())
}
