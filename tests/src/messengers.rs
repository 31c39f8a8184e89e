//! Local stand-ins for the messenger platforms, speaking their wire formats:
//! the Telegram Bot API (`POST /bot{token}/{method}`, `{"ok": ...}` answers,
//! 429 with `parameters.retry_after` when told to) and the WhatsApp Cloud
//! API's Graph endpoint (`POST /{phone-number-id}/messages` with a bearer
//! token). Both record what they were sent; tests wait for it by count.
//! The helpers also make genuine deliveries: Telegram updates and WhatsApp
//! payloads signed with HMAC-SHA256 as Meta signs them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::watch;

/// A bot token BotFather could have made.
pub const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/// One call a stand-in received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The Bot API method, or `messages`.
    pub method: String,
    /// The JSON body.
    pub body: Value,
    /// The bearer token (WhatsApp) or bot token (Telegram) presented.
    pub token: String,
}

#[derive(Default)]
struct Recorded {
    calls: Mutex<Vec<Call>>,
    /// How many `sendMessage` calls to refuse with 429 first, and the
    /// `retry_after` to name.
    rate_limits: Mutex<Vec<u64>>,
}

struct Shared {
    recorded: Recorded,
    sent: watch::Sender<usize>,
    token: String,
}

/// A stand-in messenger platform on loopback.
pub struct Messenger {
    address: SocketAddr,
    shared: Arc<Shared>,
}

async fn telegram(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    body: Option<Json<Value>>,
) -> impl IntoResponse {
    let Some((token, method)) = path
        .strip_prefix("bot")
        .and_then(|rest| rest.rsplit_once('/'))
    else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "ok": false, "error_code": 404, "description": "Not Found" })),
        );
    };
    if token != shared.token {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "ok": false, "error_code": 401, "description": "Unauthorized" })),
        );
    }
    let body = body.map(|Json(body)| body).unwrap_or(Value::Null);
    if method == "sendMessage" {
        let limited = shared.recorded.rate_limits.lock().unwrap().pop();
        if let Some(retry_after) = limited {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({
                    "ok": false,
                    "error_code": 429,
                    "description": format!("Too Many Requests: retry after {retry_after}"),
                    "parameters": { "retry_after": retry_after },
                })),
            );
        }
        if body["text"]
            .as_str()
            .is_none_or(|text| text.encode_utf16().count() > 4_096)
        {
            return (
                StatusCode::BAD_REQUEST,
                Json(
                    json!({ "ok": false, "error_code": 400, "description": "Bad Request: message is too long" }),
                ),
            );
        }
    }
    shared.recorded.calls.lock().unwrap().push(Call {
        method: method.to_owned(),
        body: body.clone(),
        token: token.to_owned(),
    });
    let result = match method {
        "getMe" => {
            json!({ "id": 123456789, "is_bot": true, "first_name": "Orrery", "username": "orrery_test_bot" })
        }
        "sendMessage" => {
            shared.sent.send_modify(|sent| *sent += 1);
            json!({ "message_id": 1, "chat": { "id": body["chat_id"] }, "text": body["text"] })
        }
        _ => json!(true),
    };
    (
        StatusCode::OK,
        Json(json!({ "ok": true, "result": result })),
    )
}

async fn whatsapp(
    State(shared): State<Arc<Shared>>,
    Path(phone): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let token = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if token != shared.token {
        return (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({ "error": { "message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190 } }),
            ),
        );
    }
    if body["messaging_product"] != "whatsapp" || body["text"]["body"].as_str().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "message": "(#100) Invalid parameter", "code": 100 } })),
        );
    }
    shared.recorded.calls.lock().unwrap().push(Call {
        method: format!("{phone}/messages"),
        body: body.clone(),
        token,
    });
    shared.sent.send_modify(|sent| *sent += 1);
    (
        StatusCode::OK,
        Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": body["to"], "wa_id": body["to"] }],
            "messages": [{ "id": format!("wamid.{}", uuid::Uuid::now_v7().simple()) }],
        })),
    )
}

impl Messenger {
    /// A Bot API stand-in that knows the bot [`BOT_TOKEN`].
    pub async fn telegram() -> std::io::Result<Self> {
        Self::start(
            BOT_TOKEN,
            axum::Router::new().route("/{*path}", axum::routing::post(telegram)),
        )
        .await
    }

    /// A Graph API stand-in that accepts `access_token`.
    pub async fn whatsapp(access_token: &str) -> std::io::Result<Self> {
        Self::start(
            access_token,
            axum::Router::new().route("/{phone}/messages", axum::routing::post(whatsapp)),
        )
        .await
    }

    async fn start(token: &str, router: axum::Router<Arc<Shared>>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            recorded: Recorded::default(),
            sent: watch::Sender::new(0),
            token: token.to_owned(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let app = router.with_state(shared.clone());
        let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
            let _ = stream.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { address, shared })
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every call, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.recorded.calls.lock().unwrap().clone()
    }

    /// The messages sent (texts), in order.
    pub fn sent_texts(&self) -> Vec<(String, String)> {
        self.calls()
            .into_iter()
            .filter(|call| call.method == "sendMessage" || call.method.ends_with("/messages"))
            .map(|call| {
                let chat = call.body["chat_id"]
                    .as_i64()
                    .map(|id| id.to_string())
                    .or_else(|| call.body["to"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let text = call.body["text"]
                    .as_str()
                    .or_else(|| call.body["text"]["body"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                (chat, text)
            })
            .collect()
    }

    /// Answers the next `sendMessage` calls with 429 and `retry_after`
    /// seconds, once per entry.
    pub fn rate_limit_next(&self, retry_after: u64) {
        self.shared
            .recorded
            .rate_limits
            .lock()
            .unwrap()
            .push(retry_after);
    }

    /// Waits until `count` messages have been sent in all.
    pub async fn wait_for_sent(&self, count: usize) {
        let mut sent = self.shared.sent.subscribe();
        sent.wait_for(|sent| *sent >= count).await.unwrap();
    }
}

/// A Telegram update with a text message from a private chat.
pub fn telegram_update(update_id: i64, chat_id: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": { "id": chat_id, "is_bot": false, "first_name": "Ada" },
            "chat": { "id": chat_id, "first_name": "Ada", "type": "private" },
            "date": 1_765_000_000,
            "text": text,
        },
    })
}

/// A WhatsApp delivery of a text message from `from`.
pub fn whatsapp_delivery(phone_number_id: &str, from: &str, message_id: &str, text: &str) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550783881", "phone_number_id": phone_number_id },
                    "contacts": [{ "profile": { "name": "Ada" }, "wa_id": from }],
                    "messages": [{
                        "from": from,
                        "id": message_id,
                        "timestamp": "1765000000",
                        "type": "text",
                        "text": { "body": text },
                    }],
                },
            }],
        }],
    })
}

/// `X-Hub-Signature-256` for `body` under `app_secret`, as Meta computes it.
pub fn meta_signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256={hex}")
}
