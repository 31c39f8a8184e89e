//! Other people with the same graph open: each one's marker (a dot in
//! their colour with their name) where they are looking, and their
//! selection outlined in their colour. The host hands the canvas the people
//! it hears of ([`CanvasCommand::ShowPeers`](crate::CanvasCommand)); the
//! canvas tells the host where this person looks
//! ([`CanvasEvent::FocusChanged`](crate::CanvasEvent)), at most ten times a
//! second, beside the selection it already reports.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use orrery_domain::NodeId;
use serde::{Deserialize, Serialize};

use crate::bridge::CanvasBridge;
use crate::camera::{OrbitCamera, node_on_screen};
use crate::scene::{GraphNode, ShownGraph};

/// Another person on the shown graph, as the host relays them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    /// Who (their user id).
    pub user: String,
    /// Their name.
    pub name: String,
    /// Their colour.
    pub colour: [u8; 3],
    /// Where they are looking, in graph space.
    pub focus: Option<[f32; 3]>,
    /// The nodes they have selected.
    pub selection: Vec<NodeId>,
}

/// The people shown now.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct Peers(pub Vec<PeerView>);

/// Shortest time between two focus reports.
const FOCUS_EVERY_SECS: f64 = 0.1;

/// Draws other people and reports this person's focus.
pub struct PresencePlugin;

impl Plugin for PresencePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Peers>()
            .add_systems(PostUpdate, report_focus)
            .add_systems(EguiPrimaryContextPass, draw_peers);
    }
}

/// Tells the host where the camera looks when that changed, at most ten
/// times a second.
fn report_focus(
    bridge: Option<Res<CanvasBridge>>,
    shown: Res<ShownGraph>,
    camera: Query<&OrbitCamera>,
    time: Res<Time<Real>>,
    mut last: Local<Option<(Vec3, f64)>>,
) {
    let (Some(bridge), Some(graph), Ok(orbit)) = (bridge, shown.id(), camera.single()) else {
        return;
    };
    let now = time.elapsed_secs_f64();
    if let Some((focus, at)) = *last
        && (focus.distance(orbit.focus) < 1e-3 || now - at < FOCUS_EVERY_SECS)
    {
        return;
    }
    *last = Some((orbit.focus, now));
    bridge.send(crate::CanvasEvent::FocusChanged {
        graph,
        focus: orbit.focus.to_array(),
    });
}

fn colour([r, g, b]: [u8; 3]) -> egui::Color32 {
    egui::Color32::from_rgb(r, g, b)
}

/// Each person's selection outlined, and their marker with their name.
fn draw_peers(
    mut contexts: EguiContexts,
    peers: Res<Peers>,
    shown: Res<ShownGraph>,
    camera: Query<(&Camera, &GlobalTransform, &Projection), With<OrbitCamera>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    nodes: Query<(&GraphNode, &Transform)>,
) -> Result {
    if peers.0.is_empty() || shown.graph.is_none() {
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
        egui::Id::new("peers"),
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
    // Where each selected node is: one pass over the nodes.
    let wanted: std::collections::HashSet<NodeId> = peers
        .0
        .iter()
        .flat_map(|peer| peer.selection.iter().copied())
        .collect();
    let places: std::collections::HashMap<NodeId, Vec3> = if wanted.is_empty() {
        Default::default()
    } else {
        nodes
            .iter()
            .filter(|(node, _)| wanted.contains(&node.id))
            .map(|(node, transform)| (node.id, transform.translation))
            .collect()
    };
    for peer in &peers.0 {
        let tint = colour(peer.colour);
        for node in &peer.selection {
            if let Some((centre, radius)) = places.get(node).and_then(|place| on_screen(*place)) {
                painter.circle_stroke(centre, radius + 4.0, egui::Stroke::new(3.0, tint));
            }
        }
        let Some((at, _)) = peer
            .focus
            .and_then(|focus| on_screen(Vec3::from_array(focus)))
        else {
            continue;
        };
        painter.circle_filled(at, 7.0, tint);
        painter.circle_stroke(at, 9.0, egui::Stroke::new(2.0, egui::Color32::WHITE));
        let galley = painter.layout_no_wrap(
            peer.name.clone(),
            egui::FontId::proportional(13.0),
            egui::Color32::WHITE,
        );
        let tag = egui::Rect::from_min_size(
            at + egui::vec2(12.0, -galley.size().y / 2.0 - 3.0),
            galley.size() + egui::vec2(12.0, 6.0),
        );
        painter.rect_filled(tag, 4.0, tint);
        painter.galley(tag.min + egui::vec2(6.0, 3.0), galley, egui::Color32::WHITE);
    }
    Ok(())
}
