//! Messenger channels: a tenant connects a Telegram bot or a WhatsApp
//! number to one of its agents or graphs, and people chat with it.
//!
//! - `GET /v1/channels` lists the tenant's channels with their last
//!   messages; `PUT /v1/channels/telegram` and `PUT /v1/channels/whatsapp`
//!   connect one (secrets sealed at rest, the bot's webhook set with a fresh
//!   secret); `DELETE /v1/channels/telegram` (or `whatsapp`) disconnects it. Signed-in app
//!   only, never an API key.
//! - `POST /v1/hooks/telegram/{channel_id}` takes Telegram's updates (403
//!   without the secret header it was given); `GET` and `POST
//!   /v1/hooks/whatsapp/{channel_id}` answer WhatsApp's handshake and take
//!   its signed deliveries (403 when the signature does not hold).
//!
//! A delivery is acknowledged at once and handled in the background, once
//! per delivery id. Each chat is a sandbox session (`/start` greets, `/reset`
//! starts a new one). The policy engine decides on the channel's owner: the
//! plan must include the channel, and the run is metered like any other; a
//! refusal is answered politely with the reason and meters nothing.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use orrery_domain::policy::Action;
use orrery_domain::{DocumentId, DocumentKind, GraphId, LibraryItem, Session};
use orrery_store::{
    ChannelMessage, ChannelRecord, Credential, NewChannelMessage, Principal, RunTarget,
};
use orrery_sync::{LibraryDocument, Version};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::agent_runs::{Target, launch};
use super::{Access, ApiContext, ApiError, Routes, SignedIn};
use crate::auth::secrets::{hash_secret, new_secret};
use crate::channels::telegram::{self, TelegramApi};
use crate::channels::whatsapp::{self, WhatsAppApi};
use crate::channels::{ChannelError, ChannelsConfig};

/// Largest delivery a webhook reads.
const MAX_DELIVERY_BYTES: usize = 256 * 1024;
/// Longest message a chat may send that is run (longer ones are refused).
const MAX_CHAT_INPUT_CHARS: usize = 16_000;

/// The platforms' clients and where this server is reached.
#[derive(Clone)]
pub(crate) struct ChannelClients {
    config: ChannelsConfig,
    telegram: TelegramApi,
    whatsapp: WhatsAppApi,
}

impl ChannelClients {
    /// This server's public address, where one is configured.
    pub(crate) fn public_url(&self) -> Option<&str> {
        self.config.public_url.as_deref()
    }

    pub(crate) fn new(config: ChannelsConfig) -> Self {
        Self {
            telegram: TelegramApi::new(&config.telegram_api_base),
            whatsapp: WhatsAppApi::new(&config.whatsapp_api_base),
            config,
        }
    }
}

pub(super) fn router() -> Routes {
    Routes::new()
        .add(Method::GET, "/v1/channels", Access::SignedIn, list_channels)
        .add(
            Method::PUT,
            "/v1/channels/telegram",
            Access::SignedIn,
            connect_telegram,
        )
        .add(
            Method::PUT,
            "/v1/channels/whatsapp",
            Access::SignedIn,
            connect_whatsapp,
        )
        .add(
            Method::DELETE,
            "/v1/channels/telegram",
            Access::SignedIn,
            disconnect_telegram,
        )
        .add(
            Method::DELETE,
            "/v1/channels/whatsapp",
            Access::SignedIn,
            disconnect_whatsapp,
        )
        .add_limited(
            Method::POST,
            "/v1/hooks/telegram/{channel_id}",
            Access::Public,
            MAX_DELIVERY_BYTES,
            telegram_update,
        )
        .add(
            Method::GET,
            "/v1/hooks/whatsapp/{channel_id}",
            Access::Public,
            whatsapp_handshake,
        )
        .add_limited(
            Method::POST,
            "/v1/hooks/whatsapp/{channel_id}",
            Access::Public,
            MAX_DELIVERY_BYTES,
            whatsapp_delivery,
        )
}

fn refuse_keys(principal: &Principal) -> Result<(), ApiError> {
    super::principal::require_app_session(
        principal,
        "API keys cannot manage channels; sign in to the Orrery app for it",
    )
}

fn secrets_key(context: &ApiContext) -> Result<&crate::agent_runs::sealed::SecretsKey, ApiError> {
    context.runs.providers().secrets_key().ok_or_else(|| {
        ApiError::Conflict(
            "this server keeps no channel secrets: its operator has not set ORRERY_SECRETS_KEY"
                .into(),
        )
    })
}

fn owner_of(channel: Uuid) -> String {
    format!("channel/{channel}")
}

fn platform_refused(error: ChannelError) -> ApiError {
    match error {
        ChannelError::Refused { .. } => ApiError::Unprocessable(error.to_string()),
        ChannelError::Unreachable { .. } => ApiError::BadGateway(error.to_string()),
    }
}

/// A channel as the app shows it.
#[derive(Serialize)]
struct ChannelView {
    id: Uuid,
    kind: String,
    name: String,
    target: RunTarget,
    target_id: String,
    connected_at: String,
    webhook_url: Option<String>,
    last_messages: Vec<ChannelMessage>,
}

fn webhook_url(config: &ChannelsConfig, kind: &str, id: Uuid) -> Option<String> {
    config
        .public_url
        .as_deref()
        .map(|base| format!("{}/v1/hooks/{kind}/{id}", base.trim_end_matches('/')))
}

async fn list_channels(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<Vec<ChannelView>>, ApiError> {
    refuse_keys(&principal)?;
    let mut views = Vec::new();
    for kind in ["telegram", "whatsapp"] {
        if let Some(channel) = context
            .store
            .tenant_channel(principal.tenant_id, kind)
            .await?
        {
            views.push(ChannelView {
                webhook_url: webhook_url(&context.channels.config, kind, channel.id),
                last_messages: context.store.channel_messages(channel.id).await?,
                id: channel.id,
                kind: channel.kind,
                name: channel.name,
                target: channel.target,
                target_id: channel.target_id,
                connected_at: channel.created_at,
            });
        }
    }
    Ok(Json(views))
}

/// What answers a channel: one of the tenant's agents or graphs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answerer {
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    graph_id: Option<String>,
}

async fn answerer(
    context: &ApiContext,
    tenant: Uuid,
    answerer: &Answerer,
) -> Result<(RunTarget, String), ApiError> {
    match (&answerer.agent_id, &answerer.graph_id) {
        (Some(agent), None) => {
            let id: DocumentId = agent
                .parse()
                .map_err(|_| ApiError::Unprocessable("`agent_id` must be a UUID".into()))?;
            if context
                .store
                .load_library_revision(tenant, DocumentKind::Agent, id)
                .await?
                .is_none()
            {
                return Err(ApiError::NotFound(
                    "there is no agent with this id in your library".into(),
                ));
            }
            Ok((RunTarget::Agent, id.to_string()))
        }
        (None, Some(graph)) => {
            let id: GraphId = graph
                .parse()
                .map_err(|_| ApiError::Unprocessable("`graph_id` must be a UUID".into()))?;
            match context.store.graph_head(tenant, id).await? {
                Some(head) if !head.deleted => Ok((RunTarget::Graph, id.to_string())),
                _ => Err(ApiError::NotFound("there is no graph with this id".into())),
            }
        }
        _ => Err(ApiError::Unprocessable(
            "name what answers: `agent_id` or `graph_id`, one of them".into(),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectTelegram {
    bot_token: String,
    #[serde(flatten)]
    answerer: Answerer,
}

async fn connect_telegram(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    body: Result<Json<ConnectTelegram>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    refuse_keys(&principal)?;
    let Json(request) = body?;
    let token = request.bot_token.trim();
    if !telegram::is_bot_token(token) {
        return Err(ApiError::Unprocessable(
            "that is not a bot token: BotFather gives one like `123456789:AA…`".into(),
        ));
    }
    let (target, target_id) = answerer(&context, principal.tenant_id, &request.answerer).await?;
    super::policy::allowed(&context, &principal, &Action::UseChannel("telegram".into())).await?;
    let key = secrets_key(&context)?;
    let id = Uuid::now_v7();
    let url = webhook_url(&context.channels.config, "telegram", id).ok_or_else(|| {
        ApiError::Conflict(
            "this server has no public address for Telegram to reach: its operator sets ORRERY_PUBLIC_URL".into(),
        )
    })?;
    let telegram = &context.channels.telegram;
    let name = telegram.get_me(token).await.map_err(platform_refused)?;
    // Telegram allows A–Z, a–z, 0–9, _ and - in the secret.
    let secret = new_secret("").replace(['+', '/', '='], "_");
    telegram
        .set_webhook(token, &url, &secret)
        .await
        .map_err(platform_refused)?;
    let channel = ChannelRecord {
        id,
        tenant_id: principal.tenant_id,
        user_id: principal.user_id,
        kind: "telegram".into(),
        target,
        target_id,
        name: format!("@{name}"),
        account_ref: None,
        sealed_token: key.seal(token, &owner_of(id)),
        sealed_app_secret: None,
        secret_hash: hash_secret(&secret),
        created_at: orrery_store::timestamp(context.now()),
    };
    context
        .store
        .connect_channel(&channel, context.now())
        .await?;
    tracing::info!(channel = %id, tenant = %principal.tenant_id, "Telegram bot connected");
    Ok((
        StatusCode::CREATED,
        Json(
            serde_json::json!({ "id": id, "kind": "telegram", "name": channel.name, "webhook_url": url }),
        ),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectWhatsApp {
    phone_number_id: String,
    display_number: Option<String>,
    access_token: String,
    app_secret: String,
    verify_token: String,
    #[serde(flatten)]
    answerer: Answerer,
}

fn check_field(value: &str, name: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(format!(
            "`{name}` must be 1 to {max} characters without control characters"
        )));
    }
    Ok(value.to_owned())
}

async fn connect_whatsapp(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    body: Result<Json<ConnectWhatsApp>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    refuse_keys(&principal)?;
    let Json(request) = body?;
    let phone = check_field(&request.phone_number_id, "phone_number_id", 32)?;
    if !phone.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ApiError::Unprocessable(
            "`phone_number_id` is the number's id, digits only".into(),
        ));
    }
    let access_token = check_field(&request.access_token, "access_token", 1_024)?;
    let app_secret = check_field(&request.app_secret, "app_secret", 256)?;
    let verify_token = check_field(&request.verify_token, "verify_token", 256)?;
    let name = match &request.display_number {
        Some(number) => check_field(number, "display_number", 32)?,
        None => phone.clone(),
    };
    let (target, target_id) = answerer(&context, principal.tenant_id, &request.answerer).await?;
    super::policy::allowed(&context, &principal, &Action::UseChannel("whatsapp".into())).await?;
    let key = secrets_key(&context)?;
    let id = Uuid::now_v7();
    let channel = ChannelRecord {
        id,
        tenant_id: principal.tenant_id,
        user_id: principal.user_id,
        kind: "whatsapp".into(),
        target,
        target_id,
        name,
        account_ref: Some(phone),
        sealed_token: key.seal(&access_token, &owner_of(id)),
        sealed_app_secret: Some(key.seal(&app_secret, &owner_of(id))),
        secret_hash: hash_secret(&verify_token),
        created_at: orrery_store::timestamp(context.now()),
    };
    context
        .store
        .connect_channel(&channel, context.now())
        .await?;
    tracing::info!(channel = %id, tenant = %principal.tenant_id, "WhatsApp number connected");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "id": id,
            "kind": "whatsapp",
            "name": channel.name,
            // Give this address and the verify token to Meta's webhook settings.
            "webhook_url": webhook_url(&context.channels.config, "whatsapp", id),
        })),
    ))
}

async fn disconnect_telegram(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<StatusCode, ApiError> {
    disconnect(&context, &principal, "telegram").await
}

async fn disconnect_whatsapp(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<StatusCode, ApiError> {
    disconnect(&context, &principal, "whatsapp").await
}

async fn disconnect(
    context: &ApiContext,
    principal: &Principal,
    kind: &str,
) -> Result<StatusCode, ApiError> {
    refuse_keys(principal)?;
    let Some(channel) = context
        .store
        .disconnect_channel(principal.tenant_id, kind, context.now())
        .await?
    else {
        return Err(ApiError::NotFound(format!(
            "no {kind} channel is connected"
        )));
    };
    if kind == "telegram"
        && let Some(key) = context.runs.providers().secrets_key()
        && let Ok(token) = key.open(&channel.sealed_token, &owner_of(channel.id))
        && let Err(error) = context.channels.telegram.delete_webhook(&token).await
    {
        // The channel is off here either way: its updates now get 404.
        tracing::warn!(channel = %channel.id, %error, "Telegram's webhook could not be removed");
    }
    tracing::info!(channel = %channel.id, %kind, "channel disconnected");
    Ok(StatusCode::NO_CONTENT)
}

/// Constant-time comparison of two hex digests.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

async fn live_channel(
    context: &ApiContext,
    id: &str,
    kind: &str,
) -> Result<ChannelRecord, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such channel".into()))?;
    context
        .store
        .live_channel(id, kind)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such channel".into()))
}

async fn telegram_update(
    State(context): State<ApiContext>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let channel = live_channel(&context, &channel_id, "telegram").await?;
    let presented = headers
        .get(telegram::SECRET_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| ApiError::Forbidden("this update lacks the bot's secret token".into()))?;
    if !same_digest(&hash_secret(presented), &channel.secret_hash) {
        return Err(ApiError::Forbidden(
            "this update's secret token is not the bot's".into(),
        ));
    }
    let body = body?;
    let update: telegram::Update = serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("this is not a Telegram update: {error}")))?;
    let Some(message) = update.message else {
        return Ok(StatusCode::OK); // Not a message: nothing to answer.
    };
    let chat = message.chat.id.to_string();
    let text = message.text.unwrap_or_default();
    let dedupe = format!("telegram:{}:{}", channel.id, update.update_id);
    let title = message
        .chat
        .title
        .or(message.chat.first_name)
        .unwrap_or_else(|| format!("chat {chat}"));
    accept(
        context,
        channel,
        Inbound {
            chat,
            text,
            dedupe,
            title,
        },
    )
    .await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn whatsapp_handshake(
    State(context): State<ApiContext>,
    Path(channel_id): Path<String>,
    query: Result<Query<Handshake>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let channel = live_channel(&context, &channel_id, "whatsapp").await?;
    let Query(handshake) =
        query.map_err(|_| ApiError::BadRequest("this is not a webhook verification".into()))?;
    let (Some(mode), Some(token), Some(challenge)) =
        (handshake.mode, handshake.verify_token, handshake.challenge)
    else {
        return Err(ApiError::BadRequest(
            "a verification needs hub.mode, hub.verify_token and hub.challenge".into(),
        ));
    };
    if mode != "subscribe" || !same_digest(&hash_secret(&token), &channel.secret_hash) {
        return Err(ApiError::Forbidden(
            "the verify token is not this channel's".into(),
        ));
    }
    if challenge.is_empty()
        || challenge.len() > whatsapp::MAX_CHALLENGE_CHARS
        || !challenge
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    {
        return Err(ApiError::BadRequest(
            "hub.challenge is not a challenge".into(),
        ));
    }
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "text/plain")],
        challenge,
    )
        .into_response())
}

async fn whatsapp_delivery(
    State(context): State<ApiContext>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let channel = live_channel(&context, &channel_id, "whatsapp").await?;
    let body = body?;
    let signature = headers
        .get(whatsapp::SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| ApiError::Forbidden("this delivery is not signed".into()))?;
    let app_secret = secrets_key(&context)?
        .open(
            channel.sealed_app_secret.as_deref().unwrap_or_default(),
            &owner_of(channel.id),
        )
        .map_err(|error| ApiError::Internal(error.into()))?;
    if !whatsapp::signature_holds(&app_secret, &body, signature) {
        return Err(ApiError::Forbidden(
            "this delivery's signature does not hold".into(),
        ));
    }
    let delivery: whatsapp::Delivery = serde_json::from_slice(&body).map_err(|error| {
        ApiError::BadRequest(format!("this is not a WhatsApp delivery: {error}"))
    })?;
    if delivery.object != "whatsapp_business_account" {
        return Err(ApiError::BadRequest(
            "this is not a WhatsApp Business delivery".into(),
        ));
    }
    for message in delivery.messages() {
        let text = match (&message.kind[..], &message.text) {
            ("text", Some(text)) => text.body.clone(),
            _ => String::new(),
        };
        let inbound = Inbound {
            chat: message.from.chars().take(32).collect(),
            text,
            dedupe: format!(
                "whatsapp:{}:{}",
                channel.id,
                message.id.chars().take(128).collect::<String>()
            ),
            title: format!("+{}", message.from.chars().take(32).collect::<String>()),
        };
        accept(context.clone(), channel.clone(), inbound).await?;
    }
    Ok(StatusCode::OK)
}

/// A message from a chat.
struct Inbound {
    chat: String,
    text: String,
    dedupe: String,
    title: String,
}

/// Records the message once (a delivery sent again is acknowledged and
/// dropped) and answers it in the background.
async fn accept(
    context: ApiContext,
    channel: ChannelRecord,
    inbound: Inbound,
) -> Result<(), ApiError> {
    let now = context.now();
    let shown: String = inbound.text.chars().take(2_000).collect();
    let first = context
        .store
        .record_channel_message(&NewChannelMessage {
            channel_id: channel.id,
            chat: &inbound.chat,
            direction: "in",
            text: &shown,
            status: "received",
            detail: None,
            dedupe_key: Some(&inbound.dedupe),
            at: now,
        })
        .await?;
    if !first {
        tracing::debug!(channel = %channel.id, "a delivery came again; it was handled once");
        return Ok(());
    }
    tokio::spawn(async move {
        let dedupe = inbound.dedupe.clone();
        let chat = inbound.chat.clone();
        let (status, detail, reply) = answer(&context, &channel, inbound).await;
        if let Err(error) = context
            .store
            .set_channel_message_status(&dedupe, status, detail.as_deref())
            .await
        {
            tracing::warn!(%error, "a channel message's status could not be kept");
        }
        if let Some(reply) = reply {
            deliver(&context, &channel, &chat, &reply).await;
        }
    });
    Ok(())
}

const GREETING: &str = "Hello! Ask me anything. Send /reset to start a new conversation.";
const RESET: &str = "Started a new conversation.";
const TEXT_ONLY: &str = "I can read text messages only.";

/// What to answer a message, with how it went: `(status, detail, reply)`.
async fn answer(
    context: &ApiContext,
    channel: &ChannelRecord,
    inbound: Inbound,
) -> (&'static str, Option<String>, Option<String>) {
    let text = inbound.text.trim();
    match text {
        "" => return ("answered", None, Some(TEXT_ONLY.into())),
        "/start" => return ("answered", None, Some(GREETING.into())),
        "/reset" => {
            if let Err(error) = context
                .store
                .reset_channel_chat(channel.id, &inbound.chat)
                .await
            {
                tracing::warn!(%error, "a chat could not be reset");
            }
            return ("answered", None, Some(RESET.into()));
        }
        _ => {}
    }
    if text.chars().count() > MAX_CHAT_INPUT_CHARS {
        return (
            "refused",
            Some("too long".into()),
            Some(format!(
                "Sorry, that message is too long: I read at most {MAX_CHAT_INPUT_CHARS} characters."
            )),
        );
    }
    match run(context, channel, &inbound, text).await {
        Ok(reply) => ("answered", None, Some(reply)),
        Err(Refusal::Polite(reason)) => (
            "refused",
            Some(reason.clone()),
            Some(format!("Sorry, I can't answer right now: {reason}")),
        ),
        Err(Refusal::Failed(reason)) => (
            "failed",
            Some(reason),
            Some("Sorry, something went wrong on my side; please try again later.".into()),
        ),
    }
}

enum Refusal {
    /// Refused for a reason the person may read (the plan, a missing provider).
    Polite(String),
    /// Failed on the server's side.
    Failed(String),
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Denied { decision, .. } => Refusal::Polite(decision.reason),
            ApiError::Conflict(reason)
            | ApiError::Forbidden(reason)
            | ApiError::NotFound(reason)
            | ApiError::Unprocessable(reason) => Refusal::Polite(reason),
            other => Refusal::Failed(other.to_string()),
        }
    }
}

/// The channel's owner, as the policy engine sees them.
async fn owner(context: &ApiContext, channel: &ChannelRecord) -> Result<Principal, Refusal> {
    let user = context
        .store
        .user(channel.tenant_id, channel.user_id)
        .await
        .map_err(|error| Refusal::Failed(error.to_string()))?
        .filter(|user| user.suspended_at.is_none())
        .ok_or_else(|| Refusal::Polite("this bot's account is paused".into()))?;
    Ok(Principal {
        user_id: user.id,
        tenant_id: user.tenant_id,
        role: user.role,
        plan: user.plan,
        team_role: None,
        credential: Credential::Channel(channel.id),
    })
}

/// The chat's session, made on its first message (or after `/reset`).
async fn session_of_chat(
    context: &ApiContext,
    channel: &ChannelRecord,
    inbound: &Inbound,
) -> Result<DocumentId, ApiError> {
    if let Some((session, _)) = context
        .store
        .channel_chat(channel.id, &inbound.chat)
        .await?
        && let Ok(session) = session.parse::<DocumentId>()
    {
        context
            .store
            .set_channel_chat(
                channel.id,
                &inbound.chat,
                &session.to_string(),
                context.now(),
            )
            .await?;
        return Ok(session);
    }
    let graph = match channel.target {
        RunTarget::Graph => channel.target_id.parse().ok(),
        RunTarget::Agent => None,
    };
    let platform = if channel.kind == "telegram" {
        "Telegram"
    } else {
        "WhatsApp"
    };
    let title: String = format!("{platform}: {}", inbound.title)
        .chars()
        .filter(|character| !character.is_control())
        .take(orrery_domain::MAX_TITLE_CHARS)
        .collect();
    let session = Session::new(title, graph);
    let id = session.id;
    let document = LibraryDocument::create(&LibraryItem::Session(session))?;
    super::library::merge_from_server(
        context,
        channel.tenant_id,
        channel.user_id,
        DocumentKind::Session,
        id,
        &Version::default(),
        document.snapshot(),
    )
    .await?;
    context
        .store
        .set_channel_chat(channel.id, &inbound.chat, &id.to_string(), context.now())
        .await?;
    Ok(id)
}

/// Runs the channel's agent or graph on `text`, in the chat's session.
async fn run(
    context: &ApiContext,
    channel: &ChannelRecord,
    inbound: &Inbound,
    text: &str,
) -> Result<String, Refusal> {
    let principal = owner(context, channel).await?;
    // The plan must include the channel; refused here, nothing is metered.
    super::policy::allowed(
        context,
        &principal,
        &Action::UseChannel(channel.kind.clone()),
    )
    .await?;
    let target = match channel.target {
        RunTarget::Agent => Target::Agent(
            channel
                .target_id
                .parse()
                .map_err(|_| Refusal::Failed("the channel's agent id does not read".into()))?,
        ),
        RunTarget::Graph => Target::Graph(
            channel
                .target_id
                .parse()
                .map_err(|_| Refusal::Failed("the channel's graph id does not read".into()))?,
        ),
    };
    let session = session_of_chat(context, channel, inbound).await?;
    let (run, _) = launch(
        context,
        &principal,
        target,
        text.to_owned(),
        Some(session),
        None,
    )
    .await?;
    let (kind, data) = match context.runs.wait(run.id).await {
        Some(end) => end,
        // It ended before it could be waited for: read how.
        None => {
            let stored = context
                .store
                .agent_run(run.tenant_id, run.id)
                .await
                .map_err(|error| Refusal::Failed(error.to_string()))?
                .ok_or_else(|| Refusal::Failed("the run went missing".into()))?;
            let kind = match stored.state {
                orrery_store::RunState::Succeeded => "run.succeeded",
                _ => "run.failed",
            };
            (
                kind.to_owned(),
                serde_json::json!({ "answer": stored.answer, "error": stored.error }),
            )
        }
    };
    match (kind.as_str(), data["answer"].as_str()) {
        ("run.succeeded", Some(answer)) if !answer.trim().is_empty() => Ok(answer.to_owned()),
        ("run.succeeded", _) => Ok("(no answer)".into()),
        _ => Err(Refusal::Failed(
            data["error"]
                .as_str()
                .unwrap_or("the run failed")
                .to_owned(),
        )),
    }
}

/// Sends a reply to the chat and records it; WhatsApp only within 24 hours
/// of the person's last message.
async fn deliver(context: &ApiContext, channel: &ChannelRecord, chat: &str, reply: &str) {
    let now = context.now();
    let Some(key) = context.runs.providers().secrets_key() else {
        tracing::warn!(channel = %channel.id, "no secrets key: a channel's reply cannot be sent");
        return;
    };
    let token = match key.open(&channel.sealed_token, &owner_of(channel.id)) {
        Ok(token) => token,
        Err(error) => {
            tracing::warn!(channel = %channel.id, %error, "a channel's token did not open");
            return;
        }
    };
    let sent = match channel.kind.as_str() {
        "telegram" => match chat.parse::<i64>() {
            Ok(chat_id) => context
                .channels
                .telegram
                .send_message(&token, chat_id, reply)
                .await
                .map(drop),
            Err(_) => return,
        },
        _ => {
            let last = context
                .store
                .channel_chat(channel.id, chat)
                .await
                .ok()
                .flatten();
            let open = last
                .as_ref()
                .and_then(|(_, at)| chrono::DateTime::parse_from_rfc3339(at).ok())
                .is_none_or(|at| {
                    now - at.with_timezone(&chrono::Utc)
                        < chrono::Duration::hours(whatsapp::REPLY_WINDOW_HOURS)
                });
            if !open {
                record_reply(
                    context,
                    channel,
                    chat,
                    reply,
                    "window_closed",
                    Some("not sent: the person's last message is over 24 hours old, and WhatsApp allows only template messages after that"),
                )
                .await;
                return;
            }
            let phone = channel.account_ref.as_deref().unwrap_or_default();
            context
                .channels
                .whatsapp
                .send_text(&token, phone, chat, reply)
                .await
                .map(drop)
        }
    };
    match sent {
        Ok(()) => record_reply(context, channel, chat, reply, "sent", None).await,
        Err(error) => {
            tracing::warn!(channel = %channel.id, %error, "a channel's reply could not be sent");
            record_reply(
                context,
                channel,
                chat,
                reply,
                "failed",
                Some(&error.to_string()),
            )
            .await;
        }
    }
}

async fn record_reply(
    context: &ApiContext,
    channel: &ChannelRecord,
    chat: &str,
    reply: &str,
    status: &str,
    detail: Option<&str>,
) {
    let shown: String = reply.chars().take(2_000).collect();
    if let Err(error) = context
        .store
        .record_channel_message(&NewChannelMessage {
            channel_id: channel.id,
            chat,
            direction: "out",
            text: &shown,
            status,
            detail,
            dedupe_key: None,
            at: context.now(),
        })
        .await
    {
        tracing::warn!(%error, "a channel's reply could not be recorded");
    }
}

/// The clients, for the context.
pub(crate) fn clients(config: ChannelsConfig) -> Arc<ChannelClients> {
    Arc::new(ChannelClients::new(config))
}
