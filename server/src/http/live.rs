//! `GET /v1/live`: a WebSocket on which the server tells a signed-in device,
//! as it happens, which of its tenant's graphs (`{"graph":"<id>"}`) and
//! library documents (`{"document":"<id>","kind":"agent"}`) changed. The
//! device then syncs that graph or document as usual; the feed carries no document data, so a missed or
//! duplicated message costs at most one extra sync.
//!
//! Several server instances may share one PostgreSQL database. Each merge is
//! then also announced with `NOTIFY`, and every instance relays what the
//! others announce to its own listeners ([`LiveHub::relay`]), so a device on
//! instance 1 hears an edit merged by instance 2.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::Method;
use axum::response::Response;
use orrery_domain::{DocumentId, DocumentKind, GraphId};
use orrery_store::{Heard, ServerStore};
use tokio::sync::broadcast;
use uuid::Uuid;

use std::sync::Arc;

use super::{Access, ApiContext, ApiError, Routes, SignedIn};
use crate::auth::rate_limit::{Held, HeldCounts};

/// One merged change: which tenant's graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphChanged {
    /// The tenant the graph belongs to.
    pub tenant: Uuid,
    /// The graph.
    pub graph: GraphId,
}

/// One merged change to an agent, prompt or session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentChanged {
    /// The tenant the document belongs to.
    pub tenant: Uuid,
    /// What kind of item it is.
    pub kind: DocumentKind,
    /// The document.
    pub document: DocumentId,
}

/// What a listener hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveEvent {
    /// One graph changed.
    Changed(GraphChanged),
    /// One library document changed.
    Document(DocumentChanged),
    /// Announcements may have been missed: every listener should sync all.
    Resync,
    /// This user was suspended or signed out by an admin: their feeds
    /// close at once.
    Suspended(Uuid),
}

/// The PostgreSQL channel merges are announced on.
const CHANNEL: &str = "orrery_live";

/// Hands merged changes to this instance's listeners and, on PostgreSQL, to
/// every other instance's.
#[derive(Clone)]
pub struct LiveHub {
    local: broadcast::Sender<LiveEvent>,
    store: ServerStore,
    /// Tells this instance's own announcements apart from the others'.
    instance: Uuid,
    /// Feeds open at once on this instance. A feed outlives the HTTP
    /// connection's slot in the accept loop (an upgraded connection leaves
    /// it), so feeds are counted here.
    feeds: Arc<tokio::sync::Semaphore>,
    /// Feeds open per tenant.
    by_tenant: HeldCounts<Uuid>,
}

/// Live feeds one tenant may hold open at once (each device holds one).
pub const MAX_FEEDS_PER_TENANT: usize = 32;

/// A feed's place, given back when the feed closes.
struct FeedSlot {
    _feed: tokio::sync::OwnedSemaphorePermit,
    _tenant: Held<Uuid>,
}

impl LiveHub {
    /// A hub for the instance serving from `store`, holding at most
    /// `max_feeds` feeds open at once.
    pub fn new(store: ServerStore, max_feeds: usize) -> Self {
        Self {
            local: broadcast::channel(FEED_BUFFER).0,
            store,
            instance: Uuid::new_v4(),
            feeds: Arc::new(tokio::sync::Semaphore::new(
                max_feeds.clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
            )),
            by_tenant: HeldCounts::default(),
        }
    }

    /// A place for one more feed of `tenant`, or why not.
    fn admit(&self, tenant: Uuid) -> Result<FeedSlot, ApiError> {
        let tenant_share = self
            .by_tenant
            .take(tenant, 1, MAX_FEEDS_PER_TENANT)
            .ok_or_else(|| ApiError::TooManyRequests {
                message: format!(
                    "this account already has {MAX_FEEDS_PER_TENANT} live feeds open; close one first"
                ),
                retry_after_secs: 10,
            })?;
        let feed = Arc::clone(&self.feeds)
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy {
                message: "the server holds as many live feeds as it can; try again shortly".into(),
                retry_after_secs: 10,
            })?;
        Ok(FeedSlot {
            _feed: feed,
            _tenant: tenant_share,
        })
    }

    /// Announces a merged change; nobody listening is fine.
    pub async fn publish(&self, change: GraphChanged) {
        let _ = self.local.send(LiveEvent::Changed(change));
        let payload = format!("{} {} {}", self.instance, change.tenant, change.graph);
        if let Err(error) = self.store.notify(CHANNEL, &payload).await {
            // Devices on other instances catch up on their timer.
            tracing::warn!(%error, "could not announce a merge to other server instances");
        }
    }

    /// Announces a merged change to a library document; nobody listening is fine.
    pub async fn publish_document(&self, change: DocumentChanged) {
        let _ = self.local.send(LiveEvent::Document(change));
        let payload = format!(
            "{} {} {} {}",
            self.instance, change.tenant, change.kind, change.document
        );
        if let Err(error) = self.store.notify(CHANNEL, &payload).await {
            tracing::warn!(%error, "could not announce a merge to other server instances");
        }
    }

    /// Closes every feed of `user` (suspended or signed out by an admin),
    /// here and, on PostgreSQL, on every other instance.
    pub async fn disconnect_user(&self, user: Uuid) {
        let _ = self.local.send(LiveEvent::Suspended(user));
        let payload = format!("{} suspended {user}", self.instance);
        if let Err(error) = self.store.notify(CHANNEL, &payload).await {
            tracing::warn!(%error, "could not tell other server instances of a suspension");
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.local.subscribe()
    }

    /// On PostgreSQL, starts relaying other instances' announcements to this
    /// instance's listeners (until the process ends). Fails if the database
    /// refuses the listening connection; does nothing on SQLite.
    pub async fn start_relay(&self) -> anyhow::Result<()> {
        let Some(mut listener) = self.store.listen(CHANNEL).await? else {
            return Ok(());
        };
        let hub = self.clone();
        tokio::spawn(async move {
            loop {
                match listener.next().await {
                    Ok(Heard::Message(payload)) => match parse_announcement(&payload) {
                        Some((instance, _)) if instance == hub.instance => {}
                        Some((_, event)) => {
                            let _ = hub.local.send(event);
                        }
                        None => tracing::warn!(payload, "ignored a malformed announcement"),
                    },
                    Ok(Heard::Reconnected) => {
                        let _ = hub.local.send(LiveEvent::Resync);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "lost the announcement channel; retrying in a second");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        let _ = hub.local.send(LiveEvent::Resync);
                    }
                }
            }
        });
        Ok(())
    }
}

/// `INSTANCE TENANT GRAPH`, as [`LiveHub::publish`] writes it,
/// `INSTANCE TENANT KIND DOCUMENT`, as [`LiveHub::publish_document`] does, or
/// `INSTANCE suspended USER`, as [`LiveHub::disconnect_user`] does.
fn parse_announcement(payload: &str) -> Option<(Uuid, LiveEvent)> {
    let parts: Vec<&str> = payload.split(' ').collect();
    let instance = parts.first()?.parse().ok()?;
    if let ["suspended", user] = parts[1..] {
        return Some((instance, LiveEvent::Suspended(user.parse().ok()?)));
    }
    let tenant = parts.get(1)?.parse().ok()?;
    let event = match parts[2..] {
        [graph] => LiveEvent::Changed(GraphChanged {
            tenant,
            graph: graph.parse().ok()?,
        }),
        [kind, document] => LiveEvent::Document(DocumentChanged {
            tenant,
            kind: DocumentKind::parse(kind).ok()?,
            document: document.parse().ok()?,
        }),
        _ => return None,
    };
    Some((instance, event))
}

/// Changes buffered per listener before a slow one starts missing some (it
/// is then told to sync everything).
pub const FEED_BUFFER: usize = 1024;

pub(super) fn router() -> Routes {
    Routes::new()
        .add(Method::GET, "/v1/live", Access::SignedIn, live)
        .for_keys(orrery_domain::api_scope::ApiScope::Live)
}

#[utoipa::path(
    get,
    path = "/v1/live",
    tag = "Graphs",
    summary = "The live change feed",
    description = "A WebSocket: after every merge the server names the changed graph or library item (`{\"graph\": id}`, `{\"document\": id, \"kind\": kind}`); sync it then. Pinged to stay open.",
    responses(
        (status = 101, description = "Switched to a WebSocket"),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["live"]))
)]
pub(super) async fn live(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let tenant = principal.tenant_id;
    let user = principal.user_id;
    let slot = context.live.admit(tenant)?;
    let changes = context.live.subscribe();
    let ping_every = context.limits.live_ping_interval;
    Ok(upgrade
        .max_message_size(4096)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            feed(socket, changes, tenant, user, ping_every).await;
        }))
}

/// Sends the tenant's changes until the device goes. The server pings every
/// `ping_every`; a device that has sent nothing (no pong, no message) since
/// the previous ping is gone (sleeping laptop, dropped network) and its
/// socket is closed, so dead feeds do not pile up.
async fn feed(
    mut socket: WebSocket,
    mut changes: broadcast::Receiver<LiveEvent>,
    tenant: Uuid,
    user: Uuid,
    ping_every: std::time::Duration,
) {
    if socket
        .send(Message::Text(r#"{"ready":true}"#.into()))
        .await
        .is_err()
    {
        return;
    }
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard_since_ping = true;
    loop {
        tokio::select! {
            _ = pings.tick() => {
                if !heard_since_ping {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                heard_since_ping = false;
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            change = changes.recv() => {
                let text = match change {
                    Ok(LiveEvent::Changed(change)) if change.tenant == tenant => format!(r#"{{"graph":"{}"}}"#, change.graph),
                    Ok(LiveEvent::Document(change)) if change.tenant == tenant => format!(
                        r#"{{"document":"{}","kind":"{}"}}"#,
                        change.document, change.kind
                    ),
                    Ok(LiveEvent::Changed(_) | LiveEvent::Document(_)) => continue,
                    Ok(LiveEvent::Resync) => r#"{"resync":true}"#.to_owned(),
                    Ok(LiveEvent::Suspended(suspended)) if suspended == user => {
                        let _ = socket
                            .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                                code: 1008,
                                reason: "signed out by the server's operator".into(),
                            })))
                            .await;
                        return;
                    }
                    Ok(LiveEvent::Suspended(_)) => continue,
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
                Some(Ok(_)) => heard_since_ping = true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_round_trip_and_garbage_is_ignored() {
        let instance = Uuid::new_v4();
        let change = GraphChanged {
            tenant: Uuid::new_v4(),
            graph: GraphId::new(),
        };
        let payload = format!("{instance} {} {}", change.tenant, change.graph);
        assert_eq!(
            parse_announcement(&payload),
            Some((instance, LiveEvent::Changed(change)))
        );
        for garbage in ["", "x y z", &format!("{payload} extra"), &payload[1..]] {
            assert_eq!(parse_announcement(garbage), None, "{garbage}");
        }
        let document = DocumentChanged {
            tenant: change.tenant,
            kind: DocumentKind::Session,
            document: DocumentId::new(),
        };
        let payload = format!(
            "{instance} {} {} {}",
            document.tenant, document.kind, document.document
        );
        assert_eq!(
            parse_announcement(&payload),
            Some((instance, LiveEvent::Document(document)))
        );
        for garbage in [
            format!("{instance} {} graph {}", document.tenant, document.document),
            format!("{payload} extra"),
        ] {
            assert_eq!(parse_announcement(&garbage), None, "{garbage}");
        }
        let user = Uuid::now_v7();
        assert_eq!(
            parse_announcement(&format!("{instance} suspended {user}")),
            Some((instance, LiveEvent::Suspended(user)))
        );
        for garbage in [
            format!("{instance} suspended"),
            format!("{instance} suspended nobody"),
            format!("{instance} suspended {user} extra"),
        ] {
            assert_eq!(parse_announcement(&garbage), None, "{garbage}");
        }
    }
}
