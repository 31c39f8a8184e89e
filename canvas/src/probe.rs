//! Readiness, frame reports and screenshots.
//!
//! Render pipelines compile asynchronously (slowly on a CPU rasteriser), so
//! "the graph is on screen" means: the graph has been shown for a few frames
//! and the render world has had no pipeline waiting for several frames in a
//! row. Then the canvas sends [`CanvasEvent::Ready`] with a [`FrameReport`] and
//! takes any screenshots asked for.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bevy::prelude::*;
use bevy::render::render_resource::PipelineCache;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::render::{Render, RenderApp};
use bevy::window::PrimaryWindow;

use crate::bridge::{CanvasBridge, GraphLoaded};
use crate::camera::{FlatView, OrbitCamera, world_per_pixel};
use crate::chat::{ChatPanel, ChatReport, RunningNodes};
use crate::minimap::{MinimapPlacement, MinimapReport};
use crate::panels::{Notice, PanelLayout};
use crate::scene::{GraphNode, NODE_RADIUS, ShownGraph, kind_colour};
use crate::{CanvasEvent, FrameReport, NodeOnScreen};

/// Frames a graph must have been shown before it can be ready.
const SHOWN_FRAMES: u32 = 8;
/// Consecutive frames without a waiting pipeline before the canvas is ready.
const SETTLED_FRAMES: u32 = 4;

/// Readiness reporting and screenshots.
pub struct ProbePlugin;

impl Plugin for ProbePlugin {
    fn build(&self, app: &mut App) {
        let settled = PipelinesSettled::default();
        app.insert_resource(settled.clone())
            .init_resource::<ScreenshotRequests>()
            .init_resource::<Readiness>()
            .add_systems(Last, (track_readiness, take_screenshots).chain());
        if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
            render_app
                .insert_resource(settled)
                .add_systems(Render, count_settled_frames);
        }
    }
}

/// Shared between the main and render worlds: consecutive rendered frames
/// with no pipeline left to compile.
#[derive(Resource, Clone, Default)]
pub struct PipelinesSettled(Arc<AtomicU32>);

/// Screenshots the host asked for, taken once the canvas is ready.
#[derive(Resource, Default)]
pub struct ScreenshotRequests {
    /// Files still to write.
    pub pending: Vec<PathBuf>,
}

/// Whether the shown graph is on screen with its pipelines compiled.
#[derive(Resource, Default)]
pub struct Readiness {
    frames_shown: u32,
    reported: bool,
}

fn count_settled_frames(cache: Res<PipelineCache>, settled: Res<PipelinesSettled>) {
    let waiting = cache.waiting_pipelines().count();
    if waiting == 0 && cache.pipelines().count() > 0 {
        settled.0.fetch_add(1, Ordering::Relaxed);
    } else {
        settled.0.store(0, Ordering::Relaxed);
    }
}

impl Readiness {
    /// Whether the canvas is ready, given the render world's count.
    pub fn ready(&self, settled: &PipelinesSettled) -> bool {
        self.frames_shown >= SHOWN_FRAMES && settled.0.load(Ordering::Relaxed) >= SETTLED_FRAMES
    }
}

#[allow(clippy::too_many_arguments)]
fn track_readiness(
    mut loaded: MessageReader<GraphLoaded>,
    shown: Res<ShownGraph>,
    settled: Res<PipelinesSettled>,
    mut readiness: ResMut<Readiness>,
    bridge: Res<CanvasBridge>,
    camera: Single<(&Camera, &GlobalTransform, &Projection), With<OrbitCamera>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    nodes: Query<(&GraphNode, &GlobalTransform)>,
    layout: Res<PanelLayout>,
    notice: Res<Notice>,
    chat: Res<ChatPanel>,
    running: Res<RunningNodes>,
    views: (Res<FlatView>, Res<MinimapPlacement>),
) {
    if loaded.read().count() > 0 {
        *readiness = Readiness::default();
    }
    if shown.graph.is_none() {
        return;
    }
    readiness.frames_shown = readiness.frames_shown.saturating_add(1);
    if readiness.reported || !readiness.ready(&settled) {
        return;
    }
    let Ok(window) = windows.single() else {
        return;
    };
    readiness.reported = true;
    let report = frame_report(
        &shown,
        *camera,
        window,
        &nodes,
        &layout,
        &notice,
        chat.report(&running),
        (views.0.on, views.1.0),
    );
    bridge.send(CanvasEvent::Ready(report));
}

#[allow(clippy::too_many_arguments)]
fn take_screenshots(
    mut commands: Commands,
    mut requests: ResMut<ScreenshotRequests>,
    readiness: Res<Readiness>,
    settled: Res<PipelinesSettled>,
    shown: Res<ShownGraph>,
    camera: Single<(&Camera, &GlobalTransform, &Projection), With<OrbitCamera>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    nodes: Query<(&GraphNode, &GlobalTransform)>,
    layout: Res<PanelLayout>,
    notice: Res<Notice>,
    chat: Res<ChatPanel>,
    running: Res<RunningNodes>,
    views: (Res<FlatView>, Res<MinimapPlacement>),
) {
    if requests.pending.is_empty() || !readiness.ready(&settled) {
        return;
    }
    let Ok(window) = windows.single() else {
        return;
    };
    let report = frame_report(
        &shown,
        *camera,
        window,
        &nodes,
        &layout,
        &notice,
        chat.report(&running),
        (views.0.on, views.1.0),
    );
    for path in requests.pending.drain(..) {
        let report = report.clone();
        commands.spawn(Screenshot::primary_window()).observe(
            move |captured: On<ScreenshotCaptured>, bridge: Res<CanvasBridge>| {
                let event = match write_png(&captured.image, &path) {
                    Ok(()) => CanvasEvent::ScreenshotSaved {
                        path: path.clone(),
                        report: report.clone(),
                    },
                    Err(reason) => CanvasEvent::Failed(format!(
                        "could not save screenshot {}: {reason}",
                        path.display()
                    )),
                };
                bridge.send(event);
            },
        );
    }
}

fn write_png(image: &Image, path: &Path) -> Result<(), String> {
    let rgba = image
        .clone()
        .try_into_dynamic()
        .map_err(|error| error.to_string())?
        .to_rgba8();
    let file = std::fs::File::create(path).map_err(|error| error.to_string())?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), rgba.width(), rgba.height());
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|error| error.to_string())?;
    writer
        .write_image_data(rgba.as_raw())
        .map_err(|error| error.to_string())
}

/// Where every node is on screen right now.
#[allow(clippy::too_many_arguments)]
pub fn frame_report(
    shown: &ShownGraph,
    (camera, camera_transform, projection): (&Camera, &GlobalTransform, &Projection),
    window: &Window,
    nodes: &Query<(&GraphNode, &GlobalTransform)>,
    layout: &PanelLayout,
    notice: &Notice,
    chat: ChatReport,
    (flat, minimap): (bool, Option<MinimapReport>),
) -> FrameReport {
    let viewport = [window.width(), window.height()];
    let world_per_pixel_at_unit_depth = world_per_pixel(projection, 1.0, viewport[1]);
    let forward = *camera_transform.forward();
    let camera_position = camera_transform.translation();
    let mut on_screen: Vec<NodeOnScreen> = nodes
        .iter()
        .filter_map(|(node, transform)| {
            let position = transform.translation();
            let depth = (position - camera_position).dot(forward);
            if depth <= 0.0 {
                return None;
            }
            let screen = camera.world_to_viewport(camera_transform, position).ok()?;
            Some(NodeOnScreen {
                id: node.id,
                kind: node.kind.as_str().to_owned(),
                colour: kind_colour(node.kind),
                screen: screen.to_array(),
                depth,
                screen_radius: NODE_RADIUS / world_per_pixel(projection, depth, viewport[1]),
                position: position.to_array(),
            })
        })
        .collect();
    on_screen.sort_by(|a, b| a.depth.total_cmp(&b.depth));
    FrameReport {
        graph: shown.id(),
        viewport,
        scale_factor: window.scale_factor(),
        camera_right: camera_transform.right().to_array(),
        camera_up: camera_transform.up().to_array(),
        world_per_pixel_at_unit_depth,
        flat,
        minimap,
        panel_top: if layout.status_bar_top > 0.0 {
            layout.status_bar_top
        } else {
            viewport[1]
        },
        nodes: on_screen,
        notice: notice.message().map(str::to_owned),
        covered: layout
            .covered
            .iter()
            .map(|area| [area.min.x, area.min.y, area.max.x, area.max.y])
            .collect(),
        labelled: layout.labelled.clone(),
        label_rects: layout.label_rects.clone(),
        chat,
        tooltip: layout.tooltip.clone(),
        inspector: layout.inspector.clone(),
        controls: layout
            .controls
            .iter()
            .map(|(name, area)| {
                (
                    name.clone(),
                    [area.min.x, area.min.y, area.max.x, area.max.y],
                )
            })
            .collect(),
    }
}
