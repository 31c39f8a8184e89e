//! Timings for benchmarks: frame times once the canvas is ready, and how long
//! picking the node under the cursor takes.

use std::collections::BTreeSet;
use std::time::Instant;

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

use crate::CanvasEvent;
use crate::bridge::CanvasBridge;
use crate::camera::OrbitCamera;
use crate::drag::Selection;
use crate::pick::PickIndex;
use crate::probe::{PipelinesSettled, Readiness};
use crate::scene::{GraphNode, NODE_RADIUS, SceneSystems};

/// How far the dragged node moves each timed frame, in world units.
const DRAG_STEP: f32 = 0.25;

/// Picks timed per measurement.
const PICKS: usize = 1_000;

/// Frame and picking timings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Nodes on the canvas.
    pub nodes: usize,
    /// Every timed frame, in milliseconds.
    pub frame_ms: Vec<f32>,
    /// Building the picking hierarchy over every node, in milliseconds.
    pub pick_index_build_ms: f32,
    /// Mean time to find the node under the cursor, in microseconds, over
    /// cursor positions on node centres.
    pub pick_us: f32,
    /// How many of those picks found a node.
    pub pick_hits: usize,
    /// How many picks were timed.
    pub picks: usize,
}

/// What the host asked to measure.
#[derive(Resource, Default)]
pub struct MeasurementRequest {
    /// Frames still wanted (0: nothing asked).
    pub frames_wanted: u32,
    /// Whether a node is dragged while the frames are timed.
    pub dragging: bool,
    frame_ms: Vec<f32>,
}

/// Benchmark timings.
pub struct MeasurePlugin;

impl Plugin for MeasurePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<MeasurementRequest>()
            .add_systems(Update, drag_while_timing.before(SceneSystems))
            .add_systems(Last, time_frames);
    }
}

/// Selects one node and moves it back and forth a step each timed frame,
/// the way a drag moves the selection: the scene then redraws as it does
/// under a drag.
fn drag_while_timing(
    readiness: Res<Readiness>,
    settled: Res<PipelinesSettled>,
    request: Res<MeasurementRequest>,
    mut nodes: Query<(Entity, &GraphNode, &mut Transform)>,
    mut selection: ResMut<Selection>,
    mut dragged: Local<Option<Entity>>,
    mut steps: Local<u32>,
) {
    if !request.dragging || request.frames_wanted == 0 || !readiness.ready(&settled) {
        return;
    }
    let node = match dragged.and_then(|entity| nodes.get_mut(entity).ok()) {
        Some(node) => node,
        None => match nodes.iter_mut().next() {
            Some(node) => node,
            None => return,
        },
    };
    let (entity, graph_node, mut transform) = node;
    *dragged = Some(entity);
    if selection.nodes.len() != 1 || !selection.nodes.contains(&graph_node.id) {
        selection.nodes = BTreeSet::from([graph_node.id]);
    }
    transform.translation.x += if steps.is_multiple_of(2) {
        DRAG_STEP
    } else {
        -DRAG_STEP
    };
    *steps += 1;
}

fn time_frames(
    time: Res<Time<Real>>,
    readiness: Res<Readiness>,
    settled: Res<PipelinesSettled>,
    mut request: ResMut<MeasurementRequest>,
    camera: Single<(&Camera, &GlobalTransform), With<OrbitCamera>>,
    nodes: Query<(&GraphNode, &GlobalTransform)>,
    bridge: Res<CanvasBridge>,
) {
    if request.frames_wanted == 0 || !readiness.ready(&settled) {
        return;
    }
    request.frame_ms.push(time.delta_secs() * 1000.0);
    request.frames_wanted -= 1;
    if request.frames_wanted > 0 {
        return;
    }
    let (camera, camera_transform) = *camera;
    let started = Instant::now();
    let index = PickIndex::build(
        nodes
            .iter()
            .map(|(node, transform)| (node.id, transform.translation())),
        NODE_RADIUS,
    );
    let pick_index_build_ms = started.elapsed().as_secs_f32() * 1000.0;
    // Cursor positions on node centres, spread over the graph.
    let step = (nodes.iter().len() / PICKS).max(1);
    let rays: Vec<_> = nodes
        .iter()
        .step_by(step)
        .take(PICKS)
        .filter_map(|(_, transform)| {
            let cursor = camera
                .world_to_viewport(camera_transform, transform.translation())
                .ok()?;
            camera.viewport_to_world(camera_transform, cursor).ok()
        })
        .collect();
    let started = Instant::now();
    let hits = rays
        .iter()
        .filter(|ray| index.nearest_hit(**ray).is_some())
        .count();
    let pick_us = started.elapsed().as_secs_f32() * 1e6 / rays.len().max(1) as f32;
    bridge.send(CanvasEvent::Measured(Measurement {
        nodes: index.len(),
        frame_ms: std::mem::take(&mut request.frame_ms),
        pick_index_build_ms,
        pick_us,
        pick_hits: hits,
        picks: rays.len(),
    }));
}
