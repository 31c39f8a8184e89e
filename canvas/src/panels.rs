//! The egui status bar: what is shown, how big it is, how fast it draws.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};

use crate::drag::{ActiveDrag, Selection};
use crate::layout::RunningLayout;
use crate::scene::ShownGraph;

/// The status bar.
pub struct StatusPanelPlugin;

impl Plugin for StatusPanelPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<EguiPlugin>() {
            app.add_plugins(EguiPlugin::default());
        }
        app.init_resource::<PanelLayout>()
            .init_resource::<Notice>()
            .add_systems(EguiPrimaryContextPass, status_bar);
    }
}

/// How long a notice stays in the status bar.
const NOTICE_SECONDS: f32 = 8.0;

/// A message the status bar shows for a few seconds.
#[derive(Resource, Default, Debug, Clone)]
pub struct Notice {
    message: Option<String>,
    shown_for: f32,
}

impl Notice {
    /// Shows `message` from now on, replacing any earlier one.
    pub fn show(&mut self, message: String) {
        self.message = Some(message);
        self.shown_for = 0.0;
    }
}

/// Where the panels sit, so the frame report can say which pixels they cover.
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct PanelLayout {
    /// Logical y of the status bar's top edge (0 until drawn).
    pub status_bar_top: f32,
}

#[allow(clippy::too_many_arguments)]
fn status_bar(
    mut contexts: EguiContexts,
    shown: Res<ShownGraph>,
    selection: Res<Selection>,
    drag: Res<ActiveDrag>,
    running_layout: Res<RunningLayout>,
    mut notice: ResMut<Notice>,
    time: Res<Time>,
    mut layout: ResMut<PanelLayout>,
    mut frame_ms: Local<f32>,
) -> Result {
    let context = contexts.ctx_mut()?;
    *frame_ms = *frame_ms * 0.9 + time.delta_secs() * 1000.0 * 0.1;
    let mut screen = egui::Ui::new(
        context.clone(),
        "canvas".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(context.viewport_rect()),
    );
    let response = egui::Panel::bottom("status").show(&mut screen, |ui| {
        ui.horizontal(|ui| {
            match &shown.graph {
                Some(graph) => {
                    ui.strong(&graph.name);
                    ui.label(format!(
                        "{} nodes · {} edges",
                        graph.nodes.len(),
                        graph.edges.len()
                    ));
                    if !selection.nodes.is_empty() {
                        ui.label(format!("{} selected", selection.nodes.len()));
                    }
                    if running_layout.is_running() {
                        ui.label("laying out… (Esc cancels)");
                    }
                }
                None => {
                    ui.label("No graph open: open one from the library window");
                }
            }
            notice.shown_for += time.delta_secs();
            if notice.shown_for > NOTICE_SECONDS {
                notice.message = None;
            }
            if let Some(message) = &notice.message {
                ui.separator();
                ui.colored_label(egui::Color32::from_rgb(255, 120, 110), message);
            }
            ui.separator();
            ui.label(format!("{:.1} ms/frame", *frame_ms));
            ui.separator();
            ui.weak("drag nodes to move them · Shift+drag to select · drag space to orbit · right-drag to pan · wheel to zoom · F to focus · R to frame · L to lay out · Delete removes · Ctrl+D duplicates · Ctrl+Z to undo");
        });
    });
    layout.status_bar_top = response.response.rect.top();
    if let Some(rectangle) = drag.selection_rectangle() {
        let painter = context.layer_painter(egui::LayerId::new(
            egui::Order::Foreground,
            egui::Id::new("box-select"),
        ));
        let area = egui::Rect::from_min_max(
            egui::pos2(rectangle.min.x, rectangle.min.y),
            egui::pos2(rectangle.max.x, rectangle.max.y),
        );
        painter.rect_filled(
            area,
            0.0,
            egui::Color32::from_rgba_unmultiplied(120, 160, 255, 24),
        );
        painter.rect_stroke(
            area,
            0.0,
            egui::Stroke::new(1.0, egui::Color32::from_rgb(120, 160, 255)),
            egui::StrokeKind::Inside,
        );
    }
    Ok(())
}
