//! Automatic layout on the canvas: L lays the graph out with the Barnes–Hut
//! force-directed layout of `orrery-layout` on a thread of its own, the nodes
//! glide as positions arrive, Esc cancels (everything goes back), and the
//! finished layout is one edit — one Ctrl+Z undoes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};

use bevy::prelude::*;
use orrery_domain::{GraphEdit, NodeId, NodeMove};
use orrery_layout::{ForceLayout, LayoutSettings};

use crate::bridge::{CanvasBridge, GraphLoaded};
use crate::drag::PointerSystems;
use crate::history::CanvasHistory;
use crate::scene::{GraphNode, SceneSystems, ShownGraph, to_position};

/// Iterations a layout runs at most.
const MAX_ITERATIONS: usize = 400;
/// A layout whose largest step is below this (world units) has settled.
const SETTLED: f32 = 0.005;

/// Automatic layout.
pub struct AutoLayoutPlugin;

impl Plugin for AutoLayoutPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<RunningLayout>().add_systems(
            Update,
            (
                cancel_layout_on_load.run_if(on_message::<GraphLoaded>),
                start_or_cancel_layout,
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

/// A layout in progress.
struct LayoutJob {
    nodes: Vec<(Entity, NodeId, Vec3)>,
    progress: std::sync::Mutex<Receiver<Progress>>,
    cancelled: Arc<AtomicBool>,
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
        job.cancelled.store(true, Ordering::Relaxed);
    }
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
        job.cancelled.store(true, Ordering::Relaxed);
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
    let members: Vec<(Entity, NodeId, Vec3)> = nodes
        .iter()
        .map(|(entity, node, transform)| (entity, node.id, transform.translation))
        .collect();
    let index_of: std::collections::HashMap<NodeId, usize> = members
        .iter()
        .enumerate()
        .map(|(index, (_, id, _))| (*id, index))
        .collect();
    let positions: Vec<[f32; 3]> = members.iter().map(|(_, _, at)| at.to_array()).collect();
    let edges: Vec<(usize, usize)> = graph
        .edges
        .values()
        .filter_map(|edge| Some((*index_of.get(&edge.from)?, *index_of.get(&edge.to)?)))
        .collect();
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
        progress: std::sync::Mutex::new(receiver),
        cancelled,
    });
}

fn follow_layout(
    mut running: ResMut<RunningLayout>,
    mut nodes: Query<&mut Transform, With<GraphNode>>,
    mut shown: ResMut<ShownGraph>,
    mut history: ResMut<CanvasHistory>,
    bridge: Res<CanvasBridge>,
    mut frame: ResMut<crate::camera::FrameRequest>,
) {
    let Some(job) = &running.0 else { return };
    let mut latest = None;
    let mut finished = false;
    {
        let progress = job.progress.lock().expect("layout channel lock");
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
