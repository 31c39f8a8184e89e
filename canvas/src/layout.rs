//! Automatic layout on the canvas: L lays the graph out with the Barnes–Hut
//! force-directed layout of `orrery-layout` on a thread of its own, the nodes
//! glide as positions arrive, Esc cancels (everything goes back), and the
//! finished layout is one edit — one Ctrl+Z undoes it.
//!
//! Turning the flat view on (T, or its button) lays the graph out in
//! columns left to right instead ([`orrery_layout::layered_layout`]): the
//! nodes glide to their places, and that too is one undoable edit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};

use bevy::prelude::*;
use orrery_domain::{GraphEdit, NodeId, NodeMove};
use orrery_layout::{ForceLayout, LayeredSettings, LayoutSettings, layered_layout};

use crate::bridge::{CanvasBridge, GraphLoaded};
use crate::drag::PointerSystems;
use crate::history::CanvasHistory;
use crate::scene::{GraphNode, SceneSystems, ShownGraph, to_position};

/// Iterations a layout runs at most.
const MAX_ITERATIONS: usize = 400;
/// A layout whose largest step is below this (world units) has settled.
const SETTLED: f32 = 0.005;
/// How long nodes take to glide to a layered layout.
const GLIDE_SECONDS: f32 = 0.4;

/// Automatic layout.
pub struct AutoLayoutPlugin;

impl Plugin for AutoLayoutPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<RunningLayout>().add_systems(
            Update,
            (
                cancel_layout_on_load.run_if(on_message::<GraphLoaded>),
                // A past version is read-only: it is not laid out again.
                (start_or_cancel_layout, switch_flat_view)
                    .run_if(|shown: Res<ShownGraph>| shown.editable()),
                follow_layout,
            )
                .chain()
                .after(PointerSystems)
                .before(SceneSystems),
        );
    }
}

/// What the layout thread sends.
enum Progress {
    /// Positions after some iteration.
    Step(Vec<[f32; 3]>),
    /// The final positions.
    Done(Vec<[f32; 3]>),
}

/// A layout in progress: each node with where it started.
struct LayoutJob {
    nodes: Vec<(Entity, NodeId, Vec3)>,
    motion: Motion,
}

/// How the nodes of a layout move.
enum Motion {
    /// As the force-directed layout's thread sends positions.
    Forces {
        progress: std::sync::Mutex<Receiver<Progress>>,
        cancelled: Arc<AtomicBool>,
    },
    /// Gliding to known places (a layered layout), for `GLIDE_SECONDS`.
    Glide { targets: Vec<Vec3>, elapsed: f32 },
}

impl LayoutJob {
    fn cancel(&self) {
        if let Motion::Forces { cancelled, .. } = &self.motion {
            cancelled.store(true, Ordering::Relaxed);
        }
    }
}

/// The layout running now, if any.
#[derive(Resource, Default)]
pub struct RunningLayout(Option<LayoutJob>);

impl RunningLayout {
    /// Whether a layout is running.
    pub fn is_running(&self) -> bool {
        self.0.is_some()
    }
}

fn cancel_layout_on_load(mut running: ResMut<RunningLayout>) {
    if let Some(job) = running.0.take() {
        job.cancel();
    }
}

/// What a layout works on: each node with its entity and where it is now,
/// and the graph's edges as pairs of indices into that list.
fn layout_input<'a>(
    graph: &orrery_domain::Graph,
    nodes: impl Iterator<Item = (Entity, &'a GraphNode, &'a Transform)>,
) -> (Vec<(Entity, NodeId, Vec3)>, Vec<(usize, usize)>) {
    let members: Vec<(Entity, NodeId, Vec3)> = nodes
        .map(|(entity, node, transform)| (entity, node.id, transform.translation))
        .collect();
    let index_of: std::collections::HashMap<NodeId, usize> = members
        .iter()
        .enumerate()
        .map(|(index, (_, id, _))| (*id, index))
        .collect();
    let edges = graph
        .edges
        .values()
        .filter_map(|edge| Some((*index_of.get(&edge.from)?, *index_of.get(&edge.to)?)))
        .collect();
    (members, edges)
}

fn start_or_cancel_layout(
    keys: Res<ButtonInput<KeyCode>>,
    shown: Res<ShownGraph>,
    mut running: ResMut<RunningLayout>,
    mut nodes: Query<(Entity, &GraphNode, &mut Transform)>,
    captured: Res<crate::panels::KeyboardCaptured>,
) {
    if captured.0 {
        return;
    }
    if keys.just_pressed(KeyCode::Escape)
        && let Some(job) = running.0.take()
    {
        job.cancel();
        for (entity, _, start) in &job.nodes {
            if let Ok((_, _, mut transform)) = nodes.get_mut(*entity) {
                transform.translation = *start;
            }
        }
        return;
    }
    if !keys.just_pressed(KeyCode::KeyL) || running.is_running() {
        return;
    }
    let Some(graph) = &shown.graph else { return };
    let (members, edges) = layout_input(graph, nodes.iter());
    let positions: Vec<[f32; 3]> = members.iter().map(|(_, _, at)| at.to_array()).collect();
    let (sender, receiver) = sync_channel(2);
    let cancelled = Arc::new(AtomicBool::new(false));
    let stop = cancelled.clone();
    std::thread::Builder::new()
        .name("orrery-layout".into())
        .spawn(move || {
            let mut layout = ForceLayout::new(&positions, &edges, LayoutSettings::default());
            for _ in 0..MAX_ITERATIONS {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let moved = layout.step();
                if moved < SETTLED {
                    break;
                }
                // Drop intermediate frames the canvas has not caught up with.
                let _ = sender.try_send(Progress::Step(layout.positions().collect()));
            }
            let _ = sender.send(Progress::Done(layout.positions().collect()));
        })
        .expect("spawning the layout thread");
    running.0 = Some(LayoutJob {
        nodes: members,
        motion: Motion::Forces {
            progress: std::sync::Mutex::new(receiver),
            cancelled,
        },
    });
}

/// Turns the flat view on (laying the graph out in columns, the nodes
/// gliding there) or off (back to the 3D view, framed).
fn switch_flat_view(
    shown: Res<ShownGraph>,
    mut flat: ResMut<crate::camera::FlatView>,
    mut running: ResMut<RunningLayout>,
    mut frame: ResMut<crate::camera::FrameRequest>,
    nodes: Query<(Entity, &GraphNode, &Transform)>,
) {
    if !std::mem::take(&mut flat.toggle) {
        return;
    }
    if let Some(job) = running.0.take() {
        job.cancel();
    }
    flat.on = !flat.on;
    frame.0 = true;
    let Some(graph) = &shown.graph else { return };
    if !flat.on {
        return;
    }
    let (members, edges) = layout_input(graph, nodes.iter());
    // Higher nodes stay higher within a column, where the edges allow.
    let order: Vec<f32> = members.iter().map(|(_, _, at)| -at.y).collect();
    let targets = layered_layout(members.len(), &edges, &order, LayeredSettings::default())
        .into_iter()
        .map(Vec3::from_array)
        .collect();
    running.0 = Some(LayoutJob {
        nodes: members,
        motion: Motion::Glide {
            targets,
            elapsed: 0.0,
        },
    });
}

#[allow(clippy::too_many_arguments)]
fn follow_layout(
    time: Res<Time>,
    mut running: ResMut<RunningLayout>,
    mut nodes: Query<&mut Transform, With<GraphNode>>,
    mut shown: ResMut<ShownGraph>,
    mut history: ResMut<CanvasHistory>,
    bridge: Res<CanvasBridge>,
    mut frame: ResMut<crate::camera::FrameRequest>,
) {
    let Some(job) = &mut running.0 else { return };
    let mut latest = None;
    let mut finished = false;
    if let Motion::Glide { targets, elapsed } = &mut job.motion {
        *elapsed += time.delta_secs();
        // Ease out: quick at first, settling gently.
        let t = (*elapsed / GLIDE_SECONDS).min(1.0);
        let eased = 1.0 - (1.0 - t).powi(3);
        latest = Some(
            job.nodes
                .iter()
                .zip(targets.iter())
                .map(|((_, _, start), target)| start.lerp(*target, eased).to_array())
                .collect::<Vec<_>>(),
        );
        finished = t >= 1.0;
    } else if let Motion::Forces { progress, .. } = &job.motion {
        let progress = progress.lock().expect("layout channel lock");
        loop {
            match progress.try_recv() {
                Ok(Progress::Step(positions)) => latest = Some(positions),
                Ok(Progress::Done(positions)) => {
                    latest = Some(positions);
                    finished = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    finished = true;
                    break;
                }
            }
        }
    }
    if let Some(positions) = &latest {
        for ((entity, _, _), position) in job.nodes.iter().zip(positions) {
            if let Ok(mut transform) = nodes.get_mut(*entity) {
                transform.translation = Vec3::from_array(*position);
            }
        }
    }
    if !finished {
        return;
    }
    let job = running.0.take().expect("checked above");
    let moves: Vec<NodeMove> = job
        .nodes
        .iter()
        .filter_map(|(entity, id, start)| {
            let now = nodes.get(*entity).ok()?.translation;
            (now != *start).then(|| NodeMove {
                id: *id,
                from: to_position(*start),
                to: to_position(now),
            })
        })
        .collect();
    if !moves.is_empty() {
        history.record(&mut shown, GraphEdit::MoveNodes(moves), &bridge);
    }
    // The nodes moved as the layout went; the camera now frames the result.
    frame.0 = true;
}
