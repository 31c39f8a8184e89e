//! `GET /v1/live`: a WebSocket on which the server tells a signed-in device,
//! as it happens, which of its tenant's graphs (`{"graph":"<id>"}`) and
//! library documents (`{"document":"<id>","kind":"agent"}`) changed. The
//! device then syncs that graph or document as usual; the feed carries no document data, so a missed or
//! duplicated message costs at most one extra sync.
//!
//! People with one of a team's graphs open also say where they are looking
//! (presence, [`Presence`]): a device sends `{"presence": {"graph", "cursor",
//! "selection"}}`, the server checks it (size, the graph is the workspace's,
//! at most [`PRESENCE_PER_SECOND`] a second per person), stamps who sent it
//! and relays it to the workspace's other feeds. Presence is never stored;
//! when a feed closes its peers hear `{"presence_left": {"user"}}`.
//!
//! Several server instances may share one PostgreSQL database. Each merge is
//! then also announced with `NOTIFY`, and every instance relays what the
//! others announce to its own listeners ([`LiveHub::relay`]), so a device on
//! instance 1 hears an edit merged by instance 2.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::Method;
use axum::response::Response;
use orrery_domain::team::{MAX_PRESENCE_BYTES, MAX_PRESENCE_SELECTION, PRESENCE_PER_SECOND};
use orrery_domain::{DocumentId, DocumentKind, GraphId, NodeId};
use orrery_store::{Heard, ServerStore};
use tokio::sync::broadcast;
use uuid::Uuid;

use std::collections::HashMap;
use std::sync::Arc;

use super::{Access, ApiContext, ApiError, Routes, SignedIn};
use crate::auth::rate_limit::{Held, HeldCounts};

/// One merged change: which tenant's graph, and what the merge added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphChanged {
    /// The tenant the graph belongs to.
    pub tenant: Uuid,
    /// The graph.
    pub graph: GraphId,
    /// The feed's message carrying the merge's updates and the server's
    /// version after it (`{"graph","update","version"}`), so a device
    /// takes the edit in without a sync; `None` when the updates were too
    /// large to carry (the message names only the graph).
    pub edit: Option<Arc<str>>,
}

/// The most update bytes a feed message carries; a larger merge is
/// announced by the graph's id alone and devices sync it.
pub const MAX_CARRIED_UPDATE: usize = 256 * 1024;

/// The longest announcement PostgreSQL's NOTIFY takes (its limit is 8,000
/// bytes); a longer edit is announced to other instances by id alone.
const MAX_NOTIFY_PAYLOAD: usize = 7_900;

impl GraphChanged {
    /// The change to `graph` of `tenant` by a merge that added `update`,
    /// leaving the server at `version` (both as stored).
    pub fn carrying(tenant: Uuid, graph: GraphId, update: &[u8], version: &[u8]) -> Self {
        use base64::Engine as _;
        let edit = (!update.is_empty() && update.len() <= MAX_CARRIED_UPDATE).then(|| {
            let engine = base64::engine::general_purpose::STANDARD;
            serde_json::json!({
                "graph": graph.to_string(),
                "update": engine.encode(update),
                "version": engine.encode(version),
            })
            .to_string()
            .into()
        });
        Self {
            tenant,
            graph,
            edit,
        }
    }

    /// What a feed of the graph's tenant is sent.
    fn message(&self) -> String {
        match &self.edit {
            Some(edit) => edit.to_string(),
            None => format!(r#"{{"graph":"{}"}}"#, self.graph),
        }
    }
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

/// Where one person is looking on one of a workspace's graphs, as relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The workspace.
    pub tenant: Uuid,
    /// Who.
    pub user: Uuid,
    /// The message their peers receive (JSON).
    pub message: String,
}

/// What a listener hears.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// This user left or was removed from this team: their feeds on it
    /// close at once.
    LeftTeam {
        /// The team.
        tenant: Uuid,
        /// The member who went.
        user: Uuid,
    },
    /// Someone's presence, for the workspace's other feeds.
    Presence(Arc<Presence>),
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
    /// Feeds open per person in a workspace (tenant, user): a team of many
    /// people holds one feed per device of each.
    by_person: HeldCounts<(Uuid, Uuid)>,
    /// Presence messages each person sent in the current second.
    presence_sent: Arc<std::sync::Mutex<HashMap<(Uuid, Uuid), (tokio::time::Instant, u32)>>>,
}

/// Live feeds one person may hold open in one workspace at once (each
/// device holds one).
pub const MAX_FEEDS_PER_PERSON: usize = 32;

/// A feed's place, given back when the feed closes.
struct FeedSlot {
    _feed: tokio::sync::OwnedSemaphorePermit,
    _person: Held<(Uuid, Uuid)>,
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
            by_person: HeldCounts::default(),
            presence_sent: Arc::default(),
        }
    }

    /// A place for one more feed of `tenant`, or why not.
    fn admit(&self, tenant: Uuid, user: Uuid) -> Result<FeedSlot, ApiError> {
        let person_share = self
            .by_person
            .take((tenant, user), 1, MAX_FEEDS_PER_PERSON)
            .ok_or_else(|| ApiError::TooManyRequests {
                message: format!(
                    "this account already has {MAX_FEEDS_PER_PERSON} live feeds open; close one first"
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
            _person: person_share,
        })
    }

    /// Announces a merged change; nobody listening is fine.
    pub async fn publish(&self, change: GraphChanged) {
        let payload = match &change.edit {
            Some(edit) if edit.len() + 90 <= MAX_NOTIFY_PAYLOAD => {
                format!("{} edit {} {edit}", self.instance, change.tenant)
            }
            _ => format!("{} {} {}", self.instance, change.tenant, change.graph),
        };
        let _ = self.local.send(LiveEvent::Changed(change));
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

    /// Closes `user`'s feeds on `team` (they left or were removed), here
    /// and on every other instance.
    pub async fn leave_team(&self, team: Uuid, user: Uuid) {
        let _ = self.local.send(LiveEvent::LeftTeam { tenant: team, user });
        let payload = format!("{} left {team} {user}", self.instance);
        if let Err(error) = self.store.notify(CHANNEL, &payload).await {
            tracing::warn!(%error, "could not tell other server instances of a member leaving");
        }
    }

    /// Relays a checked presence message to the workspace's feeds, here and
    /// on every other instance; nothing is stored.
    async fn publish_presence(&self, presence: Presence) {
        let payload = format!(
            "{} presence {} {} {}",
            self.instance, presence.tenant, presence.user, presence.message
        );
        let _ = self.local.send(LiveEvent::Presence(Arc::new(presence)));
        if let Err(error) = self.store.notify(CHANNEL, &payload).await {
            tracing::warn!(%error, "could not relay presence to other server instances");
        }
    }

    /// Takes one of the person's presence messages for this second; `false`
    /// when they already sent [`PRESENCE_PER_SECOND`] (the message is dropped).
    fn presence_allowed(&self, tenant: Uuid, user: Uuid) -> bool {
        let now = tokio::time::Instant::now();
        let second = std::time::Duration::from_secs(1);
        let mut sent = self
            .presence_sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if sent.len() > 4 * MAX_FEEDS_PER_PERSON {
            sent.retain(|_, (since, _)| now.duration_since(*since) < second);
        }
        let (since, count) = sent.entry((tenant, user)).or_insert((now, 0));
        if now.duration_since(*since) >= second {
            *since = now;
            *count = 0;
        }
        if *count >= PRESENCE_PER_SECOND {
            return false;
        }
        *count += 1;
        true
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

/// `INSTANCE TENANT GRAPH` or `INSTANCE edit TENANT MESSAGE`, as
/// [`LiveHub::publish`] writes them,
/// `INSTANCE TENANT KIND DOCUMENT`, as [`LiveHub::publish_document`] does,
/// `INSTANCE suspended USER`, as [`LiveHub::disconnect_user`] does,
/// `INSTANCE left TEAM USER`, as [`LiveHub::leave_team`] does, or
/// `INSTANCE presence TENANT USER MESSAGE`, as [`LiveHub::publish_presence`] does.
fn parse_announcement(payload: &str) -> Option<(Uuid, LiveEvent)> {
    if let [instance, "presence", tenant, user, message] =
        payload.splitn(5, ' ').collect::<Vec<_>>()[..]
    {
        serde_json::from_str::<serde_json::Value>(message).ok()?;
        return Some((
            instance.parse().ok()?,
            LiveEvent::Presence(Arc::new(Presence {
                tenant: tenant.parse().ok()?,
                user: user.parse().ok()?,
                message: message.to_owned(),
            })),
        ));
    }
    if let [instance, "edit", tenant, message] = payload.splitn(4, ' ').collect::<Vec<_>>()[..] {
        let value: serde_json::Value = serde_json::from_str(message).ok()?;
        value.get("update")?.as_str()?;
        return Some((
            instance.parse().ok()?,
            LiveEvent::Changed(GraphChanged {
                tenant: tenant.parse().ok()?,
                graph: value.get("graph")?.as_str()?.parse().ok()?,
                edit: Some(message.into()),
            }),
        ));
    }
    let parts: Vec<&str> = payload.split(' ').collect();
    let instance = parts.first()?.parse().ok()?;
    if let ["left", team, user] = parts[1..] {
        return Some((
            instance,
            LiveEvent::LeftTeam {
                tenant: team.parse().ok()?,
                user: user.parse().ok()?,
            },
        ));
    }
    if let ["suspended", user] = parts[1..] {
        return Some((instance, LiveEvent::Suspended(user.parse().ok()?)));
    }
    let tenant = parts.get(1)?.parse().ok()?;
    let event = match parts[2..] {
        [graph] => LiveEvent::Changed(GraphChanged {
            tenant,
            graph: graph.parse().ok()?,
            edit: None,
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
    let slot = context.live.admit(principal.tenant_id, principal.user_id)?;
    let changes = context.live.subscribe();
    let ping_every = context.limits.live_ping_interval;
    let name = context
        .store
        .user_name(principal.user_id)
        .await?
        .unwrap_or_default();
    let listener = Listener {
        tenant: principal.tenant_id,
        user: principal.user_id,
        name,
        shows_presence: principal.team_role.is_none_or(|role| {
            orrery_domain::policy::decide_in_team(
                role,
                orrery_domain::team::TeamAction::ShowPresence,
            )
            .allowed
        }),
    };
    Ok(upgrade
        // Room to read an oversized presence message and say why it is
        // refused; anything larger ends the feed.
        .max_message_size(4 * MAX_PRESENCE_BYTES)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            feed(socket, changes, &context, &listener, ping_every).await;
        }))
}

/// Who a feed belongs to.
struct Listener {
    tenant: Uuid,
    user: Uuid,
    name: String,
    /// Whether their role lets them show where they are looking.
    shows_presence: bool,
}

/// A presence message as a device sends it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceIn {
    /// The graph they have open.
    graph: String,
    /// Where they are looking (the camera's focus), in graph space.
    #[serde(default)]
    cursor: Option<[f64; 3]>,
    /// The nodes they have selected.
    #[serde(default)]
    selection: Vec<String>,
    /// Who sent it: the server knows; naming someone else is refused.
    #[serde(default)]
    user: Option<String>,
}

/// Checks a device's message and makes the presence its peers receive, or
/// says why it is refused. The graph must be one the workspace holds
/// (`known` remembers those already checked on this feed).
async fn presence_from(
    context: &ApiContext,
    listener: &Listener,
    text: &str,
    known: &mut std::collections::HashSet<GraphId>,
) -> Result<Presence, String> {
    if text.len() > MAX_PRESENCE_BYTES {
        return Err(format!(
            "a presence message is at most {MAX_PRESENCE_BYTES} bytes"
        ));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Envelope {
        presence: PresenceIn,
    }
    let Envelope { presence } =
        serde_json::from_str(text).map_err(|error| format!("not a presence message: {error}"))?;
    if !listener.shows_presence {
        return Err("your role in this team does not show presence".into());
    }
    if presence
        .user
        .as_deref()
        .is_some_and(|user| user != listener.user.to_string())
    {
        return Err("a presence message can only be sent as yourself".into());
    }
    let graph: GraphId = presence
        .graph
        .parse()
        .map_err(|_| "`graph` must be a graph's id".to_owned())?;
    if let Some(cursor) = presence.cursor
        && cursor
            .iter()
            .any(|axis| !axis.is_finite() || axis.abs() > 1e9)
    {
        return Err("`cursor` must be three finite coordinates".into());
    }
    if presence.selection.len() > MAX_PRESENCE_SELECTION {
        return Err(format!(
            "`selection` names at most {MAX_PRESENCE_SELECTION} nodes; send the first ones"
        ));
    }
    let selection = presence
        .selection
        .iter()
        .map(|node| node.parse::<NodeId>().map(|id| id.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "`selection` must hold node ids".to_owned())?;
    if !known.contains(&graph) {
        let held = context
            .store
            .graph_head(listener.tenant, graph)
            .await
            .map_err(|_| "presence could not be checked just now".to_owned())?
            .is_some();
        if !held {
            return Err("this workspace holds no graph with that id".into());
        }
        if known.len() >= 64 {
            known.clear();
        }
        known.insert(graph);
    }
    let message = serde_json::json!({
        "presence": {
            "user": listener.user,
            "name": listener.name,
            "colour": orrery_domain::team::presence_colour(&listener.user),
            "graph": graph.to_string(),
            "cursor": presence.cursor,
            "selection": selection,
        }
    });
    Ok(Presence {
        tenant: listener.tenant,
        user: listener.user,
        message: message.to_string(),
    })
}

/// Sends the tenant's changes until the device goes. The server pings every
/// `ping_every`; a device that has sent nothing (no pong, no message) since
/// the previous ping is gone (sleeping laptop, dropped network) and its
/// socket is closed, so dead feeds do not pile up.
async fn feed(
    socket: WebSocket,
    changes: broadcast::Receiver<LiveEvent>,
    context: &ApiContext,
    listener: &Listener,
    ping_every: std::time::Duration,
) {
    let (tenant, user) = (listener.tenant, listener.user);
    let mut showed_presence = false;
    run_feed(
        socket,
        changes,
        context,
        listener,
        ping_every,
        &mut showed_presence,
    )
    .await;
    if showed_presence {
        let message = serde_json::json!({ "presence_left": { "user": user } }).to_string();
        context
            .live
            .publish_presence(Presence {
                tenant,
                user,
                message,
            })
            .await;
    }
}

/// The feed itself; `showed_presence` says afterwards whether the person
/// was shown to others (who then hear that they left).
async fn run_feed(
    mut socket: WebSocket,
    mut changes: broadcast::Receiver<LiveEvent>,
    context: &ApiContext,
    listener: &Listener,
    ping_every: std::time::Duration,
    showed_presence: &mut bool,
) {
    let (tenant, user) = (listener.tenant, listener.user);
    // Graphs presence named that the workspace holds, checked once each.
    let mut known_graphs = std::collections::HashSet::new();
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
                    Ok(LiveEvent::Changed(change)) if change.tenant == tenant => change.message(),
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
                    Ok(LiveEvent::LeftTeam { tenant: team, user: gone }) if team == tenant && gone == user => {
                        let _ = socket
                            .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                                code: 1008,
                                reason: "you are no longer a member of this team".into(),
                            })))
                            .await;
                        return;
                    }
                    Ok(LiveEvent::LeftTeam { .. }) => continue,
                    Ok(LiveEvent::Presence(presence)) if presence.tenant == tenant && presence.user != user => {
                        presence.message.clone()
                    }
                    Ok(LiveEvent::Presence(_)) => continue,
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
                Some(Ok(Message::Text(text))) => {
                    heard_since_ping = true;
                    // Past the person's rate, presence is dropped unread.
                    if !context.live.presence_allowed(tenant, user) {
                        continue;
                    }
                    match presence_from(context, listener, text.as_str(), &mut known_graphs).await {
                        Ok(presence) => {
                            *showed_presence = true;
                            context.live.publish_presence(presence).await;
                        }
                        Err(reason) => {
                            let refusal = serde_json::json!({ "refused": reason }).to_string();
                            if socket.send(Message::Text(refusal.into())).await.is_err() {
                                return;
                            }
                        }
                    }
                }
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
            edit: None,
        };
        let payload = format!("{instance} {} {}", change.tenant, change.graph);
        assert_eq!(
            parse_announcement(&payload),
            Some((instance, LiveEvent::Changed(change.clone())))
        );
        // An edit carries its updates between instances as it does to feeds.
        let edit = GraphChanged::carrying(change.tenant, change.graph, b"ops", b"vv");
        let message = edit.edit.clone().expect("small updates are carried");
        assert_eq!(
            parse_announcement(&format!("{instance} edit {} {message}", change.tenant)),
            Some((instance, LiveEvent::Changed(edit.clone())))
        );
        assert_eq!(edit.message(), message.to_string());
        assert!(message.contains(&change.graph.to_string()));
        for garbage in [
            format!("{instance} edit {} not json", change.tenant),
            format!(
                "{instance} edit {} {{\"graph\":\"{}\"}}",
                change.tenant, change.graph
            ),
            format!("{instance} edit nobody {message}"),
        ] {
            assert_eq!(parse_announcement(&garbage), None, "{garbage}");
        }
        let oversized = vec![0; MAX_CARRIED_UPDATE + 1];
        let large = GraphChanged::carrying(change.tenant, change.graph, &oversized, b"vv");
        assert_eq!(large.edit, None, "past the bound only the id is sent");
        assert_eq!(
            large.message(),
            format!(r#"{{"graph":"{}"}}"#, change.graph)
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
        let team = Uuid::now_v7();
        assert_eq!(
            parse_announcement(&format!("{instance} left {team} {user}")),
            Some((instance, LiveEvent::LeftTeam { tenant: team, user }))
        );
        let message = r#"{"presence":{"name":"Ana Lima","graph":"x"}}"#;
        assert_eq!(
            parse_announcement(&format!("{instance} presence {team} {user} {message}")),
            Some((
                instance,
                LiveEvent::Presence(Arc::new(Presence {
                    tenant: team,
                    user,
                    message: message.to_owned(),
                }))
            ))
        );
        for garbage in [
            format!("{instance} left {team}"),
            format!("{instance} presence {team} {user} not json"),
            format!("{instance} presence {team} nobody {message}"),
        ] {
            assert_eq!(parse_announcement(&garbage), None, "{garbage}");
        }
        for garbage in [
            format!("{instance} suspended"),
            format!("{instance} suspended nobody"),
            format!("{instance} suspended {user} extra"),
        ] {
            assert_eq!(parse_announcement(&garbage), None, "{garbage}");
        }
    }
}
