//! Undo and redo on the canvas: the one command stack of the open graph.
//!
//! Finished drags become [`GraphEdit::MoveNodes`] edits (one per drag, with
//! every node that moved); Delete removes the selected nodes and their edges
//! as one edit; Ctrl+C / Ctrl+V copy and paste the selection (with the edges
//! among it) and Ctrl+D duplicates it, each paste one edit. Ctrl+Z undoes,
//! Ctrl+Shift+Z or Ctrl+Y redoes. Whatever the stack applies — the edit, or
//! the inverse of one — is sent to the host as [`CanvasEvent::Edited`], so the
//! store and sync see exactly what the canvas shows.

use bevy::input::ButtonState;
use bevy::input::keyboard::KeyboardInput;
use bevy::prelude::*;
use std::collections::HashMap;

use orrery_domain::{Edge, EdgeId, EditHistory, Graph, GraphEdit, Node, NodeId};

use crate::CanvasEvent;
use crate::bridge::{CanvasBridge, GraphLoaded};
use crate::drag::Selection;
use crate::drag::{ConnectRequested, NodeDragFinished, PointerSystems};
use crate::panels::KeyboardCaptured;
use crate::scene::{GraphNode, SceneSystems, ShownGraph, to_position, to_vec3};

/// Undo / redo.
pub struct EditHistoryPlugin;

impl Plugin for EditHistoryPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CanvasHistory>()
            .init_resource::<CanvasClipboard>()
            .add_message::<EditRequested>()
            .add_systems(
                Update,
                (
                    forget_history_on_load.run_if(on_message::<GraphLoaded>),
                    // A past version is read-only: nothing it is asked is applied.
                    (
                        record_drags,
                        record_connections,
                        apply_requested_edits,
                        keyboard_commands,
                    )
                        .run_if(editable),
                )
                    .chain()
                    .after(PointerSystems)
                    .before(SceneSystems),
            );
    }
}

/// Whether the shown graph may be edited (it is not a past version).
fn editable(shown: Res<ShownGraph>) -> bool {
    shown.editable()
}

/// The open graph's history.
#[derive(Resource, Default)]
pub struct CanvasHistory(pub EditHistory);

impl CanvasHistory {
    /// Records an edit the canvas has already shown (nodes already moved):
    /// the model catches up without rebuilding the scene, and the host hears
    /// of the edit.
    pub fn record(
        &mut self,
        shown: &mut ResMut<ShownGraph>,
        edit: GraphEdit,
        bridge: &CanvasBridge,
    ) {
        let Some(graph) = shown.bypass_change_detection().graph.as_mut() else {
            return;
        };
        let graph_id = graph.id;
        match self.0.apply(graph, edit) {
            Ok(edit) => bridge.send(CanvasEvent::Edited {
                graph: graph_id,
                edit: edit.clone(),
            }),
            Err(error) => bridge.send(CanvasEvent::Failed(error.to_string())),
        }
    }
}

fn forget_history_on_load(mut history: ResMut<CanvasHistory>) {
    *history = CanvasHistory::default();
}

fn record_drags(
    mut finished: MessageReader<NodeDragFinished>,
    mut shown: ResMut<ShownGraph>,
    mut history: ResMut<CanvasHistory>,
    bridge: Res<CanvasBridge>,
) {
    for drag in finished.read() {
        let edit = GraphEdit::MoveNodes(drag.moves.clone());
        if shown.id() == Some(drag.graph) {
            history.record(&mut shown, edit, &bridge);
        }
    }
}

/// An edit asked for by a panel (the palette, the inspector).
#[derive(Message, Debug, Clone)]
pub struct EditRequested {
    /// The edit.
    pub edit: GraphEdit,
    /// A node to select once it is applied (a node just added).
    pub select: Option<NodeId>,
}

fn apply_requested_edits(
    mut requests: MessageReader<EditRequested>,
    mut shown: ResMut<ShownGraph>,
    mut history: ResMut<CanvasHistory>,
    mut selection: ResMut<Selection>,
    bridge: Res<CanvasBridge>,
) {
    for request in requests.read() {
        let Some(graph) = shown.graph.as_mut() else {
            continue;
        };
        let graph_id = graph.id;
        match history.0.apply(graph, request.edit.clone()) {
            Ok(edit) => {
                bridge.send(CanvasEvent::Edited {
                    graph: graph_id,
                    edit: edit.clone(),
                });
                if let Some(id) = request.select {
                    selection.nodes = [id].into();
                }
            }
            Err(error) => bridge.send(CanvasEvent::Failed(error.to_string())),
        }
    }
}

/// A new edge redraws the graph, so it goes through the shown graph's change detection.
fn record_connections(
    mut requests: MessageReader<ConnectRequested>,
    mut shown: ResMut<ShownGraph>,
    mut history: ResMut<CanvasHistory>,
    bridge: Res<CanvasBridge>,
) {
    for request in requests.read() {
        if shown.id() != Some(request.graph) {
            continue;
        }
        let Some(graph) = shown.graph.as_mut() else {
            continue;
        };
        match history
            .0
            .apply(graph, GraphEdit::AddEdge(request.edge.clone()))
        {
            Ok(edit) => bridge.send(CanvasEvent::Edited {
                graph: request.graph,
                edit: edit.clone(),
            }),
            Err(error) => bridge.send(CanvasEvent::Failed(error.to_string())),
        }
    }
}

/// Which modifier keys are down, followed event by event: at a low frame rate
/// a quick Ctrl+Z presses and releases both keys within one frame.
#[derive(Default)]
struct Modifiers {
    control: bool,
    shift: bool,
}

/// What the keys asked of the history this frame.
enum HistoryStep {
    Undo,
    Redo,
}

/// What a key asked for.
enum KeyAction {
    Step(HistoryStep),
    DeleteSelection,
    Copy,
    Paste,
    Duplicate,
}

/// Where a pasted copy lands relative to its original, in world units.
const PASTE_OFFSET: Vec3 = Vec3::new(1.5, 0.0, 0.0);

/// Nodes copied with Ctrl+C, and the edges among them.
#[derive(Resource, Default)]
pub struct CanvasClipboard {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

impl CanvasClipboard {
    /// Copies the selected nodes of `graph` and the edges between them.
    fn copy(&mut self, graph: &Graph, selection: &Selection) {
        self.nodes = selection
            .nodes
            .iter()
            .filter_map(|id| graph.nodes.get(id).cloned())
            .collect();
        self.edges = graph
            .edges
            .values()
            .filter(|edge| {
                selection.nodes.contains(&edge.from) && selection.nodes.contains(&edge.to)
            })
            .cloned()
            .collect();
    }

    /// An edit adding fresh copies of the clipboard beside the originals,
    /// and the copies' ids.
    fn paste_edit(&self) -> Option<(GraphEdit, Vec<NodeId>)> {
        if self.nodes.is_empty() {
            return None;
        }
        let fresh: HashMap<NodeId, NodeId> = self
            .nodes
            .iter()
            .map(|node| (node.id, NodeId::new()))
            .collect();
        let mut steps: Vec<GraphEdit> = self
            .nodes
            .iter()
            .map(|node| {
                let at = to_vec3(node.position) + PASTE_OFFSET;
                GraphEdit::AddNode(Node {
                    id: fresh[&node.id],
                    position: to_position(at),
                    ..node.clone()
                })
            })
            .collect();
        steps.extend(self.edges.iter().map(|edge| {
            GraphEdit::AddEdge(Edge {
                id: EdgeId::new(),
                from: fresh[&edge.from],
                to: fresh[&edge.to],
                ..edge.clone()
            })
        }));
        Some((GraphEdit::Batch(steps), fresh.into_values().collect()))
    }
}

#[allow(clippy::too_many_arguments)]
fn keyboard_commands(
    mut keyboard: MessageReader<KeyboardInput>,
    mut modifiers: Local<Modifiers>,
    mut shown: ResMut<ShownGraph>,
    mut history: ResMut<CanvasHistory>,
    mut nodes: Query<(&GraphNode, &mut Transform)>,
    mut selection: ResMut<Selection>,
    mut clipboard: ResMut<CanvasClipboard>,
    bridge: Res<CanvasBridge>,
    captured: Res<KeyboardCaptured>,
) {
    let mut steps = Vec::new();
    for key in keyboard.read() {
        let modifier = matches!(
            key.key_code,
            KeyCode::ControlLeft | KeyCode::ControlRight | KeyCode::ShiftLeft | KeyCode::ShiftRight
        );
        if captured.0 && !modifier {
            // A text field has the keyboard: its Delete and Ctrl+Z are its own.
            continue;
        }
        let pressed = key.state == ButtonState::Pressed;
        match key.key_code {
            KeyCode::ControlLeft | KeyCode::ControlRight => modifiers.control = pressed,
            KeyCode::ShiftLeft | KeyCode::ShiftRight => modifiers.shift = pressed,
            KeyCode::KeyZ if pressed && modifiers.control && modifiers.shift => {
                steps.push(KeyAction::Step(HistoryStep::Redo))
            }
            KeyCode::KeyZ if pressed && modifiers.control => {
                steps.push(KeyAction::Step(HistoryStep::Undo))
            }
            KeyCode::KeyY if pressed && modifiers.control => {
                steps.push(KeyAction::Step(HistoryStep::Redo))
            }
            KeyCode::Delete | KeyCode::Backspace if pressed => {
                steps.push(KeyAction::DeleteSelection)
            }
            KeyCode::KeyC if pressed && modifiers.control => steps.push(KeyAction::Copy),
            KeyCode::KeyV if pressed && modifiers.control => steps.push(KeyAction::Paste),
            KeyCode::KeyD if pressed && modifiers.control => steps.push(KeyAction::Duplicate),
            _ => {}
        }
    }
    for step in steps {
        match step {
            KeyAction::DeleteSelection => {
                delete_selection(&mut shown, &mut history, &mut selection, &bridge)
            }
            KeyAction::Step(step) => {
                apply_step(step, &mut shown, &mut history, &mut nodes, &bridge)
            }
            KeyAction::Copy => {
                if let Some(graph) = &shown.graph {
                    clipboard.copy(graph, &selection);
                }
            }
            KeyAction::Duplicate => {
                // Like copy and paste, but the clipboard keeps what it held.
                let Some(graph) = &shown.graph else { continue };
                let mut copied = CanvasClipboard::default();
                copied.copy(graph, &selection);
                paste(&copied, &mut shown, &mut history, &mut selection, &bridge);
            }
            KeyAction::Paste => paste(
                &clipboard,
                &mut shown,
                &mut history,
                &mut selection,
                &bridge,
            ),
        }
    }
}

/// Adds copies of what `source` holds as one edit and selects them.
fn paste(
    source: &CanvasClipboard,
    shown: &mut ResMut<ShownGraph>,
    history: &mut ResMut<CanvasHistory>,
    selection: &mut ResMut<Selection>,
    bridge: &CanvasBridge,
) {
    let (Some((edit, copies)), Some(graph)) = (source.paste_edit(), shown.graph.as_mut()) else {
        return;
    };
    let graph_id = graph.id;
    match history.0.apply(graph, edit) {
        Ok(edit) => {
            bridge.send(CanvasEvent::Edited {
                graph: graph_id,
                edit: edit.clone(),
            });
            selection.nodes = copies.into_iter().collect();
        }
        Err(error) => bridge.send(CanvasEvent::Failed(error.to_string())),
    }
}

/// Removes the selected nodes and their edges as one edit.
fn delete_selection(
    shown: &mut ResMut<ShownGraph>,
    history: &mut ResMut<CanvasHistory>,
    selection: &mut ResMut<Selection>,
    bridge: &CanvasBridge,
) {
    let Some(graph) = shown.graph.as_mut() else {
        return;
    };
    if selection.nodes.is_empty() {
        return;
    }
    // Each removal captures the edges still there, so an edge between two
    // selected nodes is removed (and restored on undo) exactly once.
    let mut scratch = graph.clone();
    let mut steps = Vec::new();
    for id in &selection.nodes {
        if let Ok(step) = GraphEdit::remove_node(&scratch, *id)
            && step.apply(&mut scratch).is_ok()
        {
            steps.push(step);
        }
    }
    let graph_id = graph.id;
    match history.0.apply(graph, GraphEdit::Batch(steps)) {
        Ok(edit) => bridge.send(CanvasEvent::Edited {
            graph: graph_id,
            edit: edit.clone(),
        }),
        Err(error) => bridge.send(CanvasEvent::Failed(error.to_string())),
    }
    selection.nodes.clear();
}

fn apply_step(
    step: HistoryStep,
    shown: &mut ResMut<ShownGraph>,
    history: &mut ResMut<CanvasHistory>,
    nodes: &mut Query<(&GraphNode, &mut Transform)>,
    bridge: &CanvasBridge,
) {
    let Some(graph) = shown.bypass_change_detection().graph.as_mut() else {
        return;
    };
    let graph_id = graph.id;
    let outcome = match step {
        HistoryStep::Undo => history.0.undo(graph),
        HistoryStep::Redo => history.0.redo(graph),
    };
    let applied = match outcome {
        Ok(Some(applied)) => applied,
        Ok(None) => return,
        Err(error) => return bridge.send(CanvasEvent::Failed(error.to_string())),
    };
    match &applied {
        // Moves only touch transforms; anything else redraws the graph.
        GraphEdit::MoveNodes(moves) => {
            for (node, mut transform) in nodes.iter_mut() {
                if let Some(step) = moves.iter().find(|step| step.id == node.id) {
                    transform.translation = to_vec3(step.to);
                }
            }
        }
        _ => shown.set_changed(),
    }
    bridge.send(CanvasEvent::Edited {
        graph: graph_id,
        edit: applied,
    });
}
