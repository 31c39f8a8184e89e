//! `GET /v1/live`: a WebSocket on which the server tells a signed-in device,
//! as it happens, which of its tenant's graphs changed. The device then syncs
//! that graph as usual; the feed carries no document data, so a missed or
//! duplicated message costs at most one extra sync.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::Method;
use axum::response::Response;
use orrery_domain::GraphId;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::{Access, ApiContext, Routes, SignedIn};

/// One merged change: which tenant's graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphChanged {
    /// The tenant the graph belongs to.
    pub tenant: Uuid,
    /// The graph.
    pub graph: GraphId,
}

/// Changes buffered per listener before a slow one starts missing some (it
/// is then told to sync everything).
pub const FEED_BUFFER: usize = 1024;

pub(super) fn router() -> Routes {
    Routes::new().add(Method::GET, "/v1/live", Access::SignedIn, live)
}

async fn live(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    upgrade: WebSocketUpgrade,
) -> Response {
    let changes = context.live.subscribe();
    let tenant = principal.tenant_id;
    upgrade
        .max_message_size(4096)
        .on_upgrade(move |socket| feed(socket, changes, tenant))
}

async fn feed(mut socket: WebSocket, mut changes: broadcast::Receiver<GraphChanged>, tenant: Uuid) {
    if socket
        .send(Message::Text(r#"{"ready":true}"#.into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            change = changes.recv() => {
                let text = match change {
                    Ok(change) if change.tenant == tenant => format!(r#"{{"graph":"{}"}}"#, change.graph),
                    Ok(_) => continue,
                    // Fell behind: tell the device to sync everything.
                    Err(broadcast::error::RecvError::Lagged(_)) => r#"{"resync":true}"#.to_owned(),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
