//! Presence between the canvas and the live feed: where this person looks
//! on the shown graph (the canvas's focus and selection) goes out on the
//! team's live feed, and the others on the same graph come back to the
//! canvas as markers. Only in a team's workspace; nothing is stored.

use std::collections::HashMap;

use orrery_canvas::CanvasCommand;
use orrery_canvas::presence::PeerView;
use orrery_domain::{GraphId, NodeId};
use orrery_sync::{LiveChange, PeerPresence};
use uuid::Uuid;

use super::Shell;

/// Where this person looks, for the live feed to send.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Looking {
    /// The graph shown.
    pub graph: Option<GraphId>,
    /// The camera's focus.
    pub focus: Option<[f32; 3]>,
    /// The selected nodes.
    pub selection: Vec<NodeId>,
}

/// What presence keeps: this person's, and the others' on the shown graph.
#[derive(Default)]
pub(crate) struct PresenceState {
    pub looking: Looking,
    pub peers: HashMap<Uuid, PeerPresence>,
}

fn rgb(colour: &str) -> [u8; 3] {
    let hex = colour.trim_start_matches('#');
    let channel = |at: usize| {
        hex.get(at..at + 2)
            .and_then(|part| u8::from_str_radix(part, 16).ok())
            .unwrap_or(128)
    };
    [channel(0), channel(2), channel(4)]
}

impl Shell {
    /// The canvas's camera looks elsewhere on `graph`.
    pub fn focus_changed(&self, graph: GraphId, focus: [f32; 3]) {
        self.update_looking(|looking| {
            looking.graph = Some(graph);
            looking.focus = Some(focus);
        });
    }

    /// The canvas's selection changed.
    pub fn selection_changed(&self, nodes: Vec<NodeId>) {
        self.update_looking(|looking| looking.selection = nodes);
    }

    fn update_looking(&self, change: impl FnOnce(&mut Looking)) {
        let mut looking = {
            let mut state = self.inner.presence.lock().expect("presence lock");
            change(&mut state.looking);
            state.looking.clone()
        };
        if self.shown_graph().is_none() || self.current().team.is_none() {
            looking = Looking::default();
        }
        self.inner.looking.send_replace(looking);
    }

    /// Waits until where this person looks changes; what it is then.
    pub async fn looking_changed(
        &self,
        seen: &mut tokio::sync::watch::Receiver<Looking>,
    ) -> Looking {
        let _ = seen.changed().await;
        seen.borrow_and_update().clone()
    }

    /// A receiver of where this person looks (for the live feed).
    pub fn looking(&self) -> tokio::sync::watch::Receiver<Looking> {
        self.inner.looking.subscribe()
    }

    /// Takes in what the live feed said about someone else's presence, and
    /// shows the people on the shown graph on the canvas.
    pub fn peer_presence(&self, change: &LiveChange) {
        let shown = self.shown_graph();
        let views = {
            let mut state = self.inner.presence.lock().expect("presence lock");
            match change {
                LiveChange::Presence(peer) => {
                    state.peers.insert(peer.user, peer.clone());
                }
                LiveChange::PresenceLeft(user) => {
                    state.peers.remove(user);
                }
                _ => return,
            }
            peer_views(&state.peers, shown)
        };
        let _ = self.inner.canvas.send(CanvasCommand::ShowPeers(views));
    }

    /// Shows the canvas the people on the graph it shows now.
    pub(crate) fn show_peers(&self) {
        let views = peer_views(
            &self.inner.presence.lock().expect("presence lock").peers,
            self.shown_graph(),
        );
        let _ = self.inner.canvas.send(CanvasCommand::ShowPeers(views));
    }

    /// Forgets everyone (another graph or workspace, or the feed closed).
    pub fn forget_peers(&self) {
        self.inner
            .presence
            .lock()
            .expect("presence lock")
            .peers
            .clear();
        let _ = self.inner.canvas.send(CanvasCommand::ShowPeers(Vec::new()));
    }
}

/// The people on `shown`, as the canvas draws them, by name.
fn peer_views(peers: &HashMap<Uuid, PeerPresence>, shown: Option<GraphId>) -> Vec<PeerView> {
    let mut views: Vec<PeerView> = peers
        .values()
        .filter(|peer| Some(peer.graph) == shown)
        .map(|peer| PeerView {
            user: peer.user.to_string(),
            name: peer.name.clone(),
            colour: rgb(&peer.colour),
            focus: peer.cursor.map(|[x, y, z]| [x as f32, y as f32, z as f32]),
            selection: peer.selection.clone(),
        })
        .collect();
    views.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.user.cmp(&b.user)));
    views
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_read_and_garbage_is_grey() {
        assert_eq!(rgb("#e5484d"), [0xe5, 0x48, 0x4d]);
        assert_eq!(rgb("nonsense"), [128, 128, 128]);
    }
}
