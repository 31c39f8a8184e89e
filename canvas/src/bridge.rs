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

/// The host opened a graph (as opposed to the shown graph changing by an edit).
#[derive(Message, Debug, Clone, Copy)]
pub struct GraphLoaded(pub orrery_domain::GraphId);

/// Applies host commands.
pub struct BridgePlugin {
    /// Closing the window hides it instead of ending the app.
    pub hide_on_close: bool,
}

impl Plugin for BridgePlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<GraphLoaded>()
            .add_systems(PreUpdate, apply_commands)
            .add_systems(PostUpdate, report_selection);
        if self.hide_on_close {
            app.add_systems(Update, hide_instead_of_closing);
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
) {
    let receiver = bridge.commands.lock().expect("canvas command channel lock");
    loop {
        match receiver.try_recv() {
            Ok(CanvasCommand::LoadGraph(graph)) => {
                loaded.write(GraphLoaded(graph.id));
                shown.graph = Some(graph);
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
            Ok(CanvasCommand::RunEnded { reason }) => chat.run_ended(reason),
            Ok(CanvasCommand::RunRefused(reason)) => chat.refused(reason),
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

fn hide_instead_of_closing(
    mut requests: MessageReader<WindowCloseRequested>,
    mut windows: Query<&mut Window>,
) {
    for request in requests.read() {
        if let Ok(mut window) = windows.get_mut(request.window) {
            window.visible = false;
        }
    }
}
