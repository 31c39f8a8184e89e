//! The channels between the canvas and its host: commands in, events out.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use bevy::prelude::*;
use bevy::window::{PrimaryWindow, WindowCloseRequested};

use crate::drag::Selection;
use crate::measure::MeasurementRequest;
use crate::panels::Notice;
use crate::probe::ScreenshotRequests;
use crate::scene::ShownGraph;
use crate::{CanvasCommand, CanvasEvent};

/// Both channel ends the canvas holds. Dropping it (the app ending) tells the
/// host with [`CanvasEvent::Closed`].
#[derive(Resource)]
pub struct CanvasBridge {
    commands: Mutex<Receiver<CanvasCommand>>,
    events: Sender<CanvasEvent>,
}

impl CanvasBridge {
    /// Wraps the canvas's ends of the channels.
    pub fn new(commands: Receiver<CanvasCommand>, events: Sender<CanvasEvent>) -> Self {
        Self {
            commands: Mutex::new(commands),
            events,
        }
    }

    /// Sends an event to the host; a host that has gone away is ignored.
    pub fn send(&self, event: CanvasEvent) {
        let _ = self.events.send(event);
    }
}

impl Drop for CanvasBridge {
    fn drop(&mut self) {
        let _ = self.events.send(CanvasEvent::Closed);
    }
}

/// The host opened a graph, or the shown graph was closed (`None`), as
/// opposed to the shown graph changing by an edit: what belonged to the
/// graph before (selection, history, framing, a layout) goes.
#[derive(Message, Debug, Clone, Copy)]
pub struct GraphLoaded(pub Option<orrery_domain::GraphId>);

/// A merged graph waiting for the user's drag to end.
#[derive(Resource, Default)]
pub struct PendingMerge(pub Option<orrery_domain::Graph>);

/// Shows a merged graph once no drag is under way. The scene is rebuilt
/// from it; since this is not a load, the selection (what still exists of
/// it), the undo history and the framing stay.
fn show_merged(
    mut merged: ResMut<PendingMerge>,
    drag: Option<Res<crate::drag::ActiveDrag>>,
    mut shown: ResMut<ShownGraph>,
) {
    let dragging = drag.is_some_and(|drag| {
        matches!(
            drag.gesture,
            crate::drag::Gesture::MovingNodes { .. } | crate::drag::Gesture::Connecting { .. }
        )
    });
    if merged.0.is_none() || dragging {
        return;
    }
    let Some(graph) = merged.0.take() else {
        return;
    };
    // A past version on the canvas stays as it was.
    if shown.id() == Some(graph.id) && shown.editable() && shown.graph.as_ref() != Some(&graph) {
        shown.graph = Some(graph);
    }
}

/// Applies host commands.
pub struct BridgePlugin {
    /// Closing the window hides it instead of ending the app.
    pub hide_on_close: bool,
}

impl Plugin for BridgePlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<GraphLoaded>()
            .init_resource::<PendingMerge>()
            .add_systems(PreUpdate, (apply_commands, show_merged).chain())
            .add_systems(PostUpdate, report_selection);
        if self.hide_on_close {
            app.add_systems(Update, close_graph_instead_of_closing);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_commands(
    bridge: Res<CanvasBridge>,
    mut shown: ResMut<ShownGraph>,
    mut screenshots: ResMut<ScreenshotRequests>,
    mut measurement: ResMut<MeasurementRequest>,
    mut notice: ResMut<Notice>,
    mut chat: ResMut<crate::chat::ChatPanel>,
    mut catalog: ResMut<crate::panels::LibraryCatalog>,
    mut windows: Query<&mut Window, With<PrimaryWindow>>,
    mut exit: MessageWriter<AppExit>,
    mut loaded: MessageWriter<GraphLoaded>,
    mut merged: ResMut<PendingMerge>,
    mut peers: ResMut<crate::presence::Peers>,
) {
    let receiver = bridge.commands.lock().expect("canvas command channel lock");
    loop {
        match receiver.try_recv() {
            Ok(CanvasCommand::LoadGraph(graph)) => {
                loaded.write(GraphLoaded(Some(graph.id)));
                shown.graph = Some(graph);
                shown.version = None;
            }
            Ok(CanvasCommand::ShowVersion { graph, version }) => {
                loaded.write(GraphLoaded(Some(graph.id)));
                shown.graph = Some(graph);
                shown.version = Some(version);
            }
            Ok(CanvasCommand::Merged(graph)) => {
                if shown.id() == Some(graph.id) && shown.editable() {
                    merged.0 = Some(graph);
                }
            }
            Ok(CanvasCommand::ShowPeers(people)) => peers.0 = people,
            Ok(CanvasCommand::CloseGraph) => {
                close_graph(&bridge, &mut shown, &mut chat, &mut loaded);
                for mut window in &mut windows {
                    window.visible = false;
                }
            }
            Ok(CanvasCommand::Show) => {
                for mut window in &mut windows {
                    window.visible = true;
                    window.focused = true;
                }
            }
            Ok(CanvasCommand::Screenshot(path)) => screenshots.pending.push(path),
            Ok(CanvasCommand::Notify(message)) => notice.show(message),
            Ok(CanvasCommand::ShowChat(messages)) => chat.show_messages(&messages),
            Ok(CanvasCommand::ShowLibrary(library)) => catalog.0 = library,
            Ok(CanvasCommand::RunStarted { task, members }) => chat.run_started(&task, members),
            Ok(CanvasCommand::RunEvent(event)) => chat.run_event(&event),
            Ok(CanvasCommand::RunEnded { reason, remedy }) => chat.run_ended(reason, remedy),
            Ok(CanvasCommand::RunRefused(reason)) => chat.refused(reason),
            Ok(CanvasCommand::ShowAllowance(remaining)) => chat.allowance = remaining,
            Ok(CanvasCommand::Measure { frames, dragging }) => {
                measurement.frames_wanted = frames;
                measurement.dragging = dragging;
            }
            Ok(CanvasCommand::Quit) | Err(TryRecvError::Disconnected) => {
                exit.write(AppExit::Success);
                break;
            }
            Err(TryRecvError::Empty) => break,
        }
    }
}

/// Tells the host when the set of selected nodes differs from what it last heard.
fn report_selection(
    bridge: Res<CanvasBridge>,
    selection: Res<Selection>,
    mut reported: Local<Selection>,
) {
    if selection.is_changed() && *selection != *reported {
        *reported = selection.clone();
        bridge.send(CanvasEvent::SelectionChanged(
            selection.nodes.iter().copied().collect(),
        ));
    }
}

/// Closes the shown graph: the canvas empties and the host hears of it.
fn close_graph(
    bridge: &CanvasBridge,
    shown: &mut ShownGraph,
    chat: &mut crate::chat::ChatPanel,
    loaded: &mut MessageWriter<GraphLoaded>,
) {
    shown.version = None;
    if let Some(graph) = shown.graph.take() {
        chat.show_messages(&[]);
        loaded.write(GraphLoaded(None));
        bridge.send(CanvasEvent::GraphClosed(graph.id));
    }
}

/// Inside the desktop, closing the window closes the graph and hides the
/// window; the app goes on (the library window is the app).
fn close_graph_instead_of_closing(
    bridge: Res<CanvasBridge>,
    mut shown: ResMut<ShownGraph>,
    mut chat: ResMut<crate::chat::ChatPanel>,
    mut loaded: MessageWriter<GraphLoaded>,
    mut requests: MessageReader<WindowCloseRequested>,
    mut windows: Query<&mut Window>,
) {
    for request in requests.read() {
        if let Ok(mut window) = windows.get_mut(request.window) {
            window.visible = false;
            close_graph(&bridge, &mut shown, &mut chat, &mut loaded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::window::Window;

    /// Edits merged in from elsewhere replace the shown graph without a
    /// load (the selection and the history stay), wait out a drag, and are
    /// ignored for a graph not shown.
    #[test]
    fn merged_edits_show_without_a_load_and_wait_for_a_drag() {
        let (commands, command_receiver) = std::sync::mpsc::channel();
        let (event_sender, _events) = std::sync::mpsc::channel();
        let graph = orrery_domain::sample_graph("Open", 3, 1);
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .add_plugins(BridgePlugin {
                hide_on_close: false,
            })
            .init_resource::<ScreenshotRequests>()
            .init_resource::<MeasurementRequest>()
            .init_resource::<Notice>()
            .init_resource::<crate::chat::ChatPanel>()
            .init_resource::<crate::panels::LibraryCatalog>()
            .init_resource::<Selection>()
            .init_resource::<crate::drag::ActiveDrag>()
            .init_resource::<crate::presence::Peers>()
            .insert_resource(CanvasBridge::new(command_receiver, event_sender))
            .insert_resource(ShownGraph {
                graph: Some(graph.clone()),
                version: None,
            });
        app.update();
        let mut renamed = graph.clone();
        renamed.name = "Renamed elsewhere".into();
        app.world_mut()
            .resource_mut::<crate::drag::ActiveDrag>()
            .gesture = crate::drag::Gesture::Connecting {
            from: *graph.nodes.keys().next().unwrap(),
            kind: orrery_domain::NodeKind::Agent,
            port: "out",
            start: Vec2::ZERO,
            to: Vec2::ZERO,
        };
        commands
            .send(CanvasCommand::Merged(renamed.clone()))
            .unwrap();
        app.update();
        assert_eq!(
            app.world().resource::<ShownGraph>().graph.as_ref(),
            Some(&graph),
            "waits for the drag"
        );
        app.world_mut()
            .resource_mut::<crate::drag::ActiveDrag>()
            .gesture = crate::drag::Gesture::Idle;
        app.update();
        assert_eq!(
            app.world().resource::<ShownGraph>().graph.as_ref(),
            Some(&renamed)
        );
        assert!(
            app.world().resource::<Messages<GraphLoaded>>().is_empty(),
            "not a load"
        );
        // Another graph's merge is not shown here.
        commands
            .send(CanvasCommand::Merged(orrery_domain::sample_graph(
                "Other", 2, 9,
            )))
            .unwrap();
        app.update();
        assert_eq!(
            app.world().resource::<ShownGraph>().graph.as_ref(),
            Some(&renamed)
        );
    }

    /// The desktop's canvas: closing its window closes the graph and hides
    /// the window, and the host hears which graph closed; the app goes on.
    #[test]
    fn closing_the_desktop_window_closes_the_graph_not_the_app() {
        let (_commands, command_receiver) = std::sync::mpsc::channel();
        let (event_sender, events) = std::sync::mpsc::channel();
        let graph = orrery_domain::sample_graph("Open", 3, 1);
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .add_message::<WindowCloseRequested>()
            .add_message::<GraphLoaded>()
            .insert_resource(CanvasBridge::new(command_receiver, event_sender))
            .insert_resource(ShownGraph {
                graph: Some(graph.clone()),
                version: None,
            })
            .init_resource::<crate::chat::ChatPanel>()
            .add_systems(Update, close_graph_instead_of_closing);
        let window = app.world_mut().spawn(Window::default()).id();
        app.update();
        assert!(app.world().get::<Window>(window).unwrap().visible);

        app.world_mut()
            .write_message(WindowCloseRequested { window });
        app.update();
        assert!(
            !app.world().get::<Window>(window).unwrap().visible,
            "hidden"
        );
        assert!(
            app.world().resource::<ShownGraph>().graph.is_none(),
            "closed"
        );
        assert!(matches!(events.try_recv(), Ok(CanvasEvent::GraphClosed(id)) if id == graph.id));
        let switched: Vec<_> = app
            .world_mut()
            .resource_mut::<Messages<GraphLoaded>>()
            .drain()
            .map(|message| message.0)
            .collect();
        assert_eq!(switched, [None], "what belonged to the graph goes");
        // The window (and the app) are still there for the next graph.
        assert!(app.world().get::<Window>(window).is_some());
        assert!(app.should_exit().is_none());
    }
}
