//! Messenger channels on a real server, against stand-ins that speak the
//! Telegram Bot API and the WhatsApp Cloud API: a bot is connected with a
//! webhook secret, updates without it are refused, a chat runs the agent in
//! its own session and long answers are split at 4,096 characters (sent
//! again after the `retry_after` Telegram asks for); WhatsApp's handshake
//! and signatures are checked and its 24-hour reply window kept; and a plan
//! without the channel gets a polite answer and meters nothing.

use std::time::Duration;

use orrery_e2e::messengers::{
    BOT_TOKEN, Messenger, meta_signature, telegram_update, whatsapp_delivery,
};
use orrery_e2e::runs::{RunTenant, start_server_with};
use orrery_runtime::double::{Gate, RecordedRequest, Reply};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PUBLIC_URL: &str = "https://bots.orrery.test";
const PHONE_ID: &str = "106540352242922";
const WA_TOKEN: &str = "EAAG-test-access-token";
const APP_SECRET: &str = "meta-app-secret";
const VERIFY_TOKEN: &str = "verify-me-please";

struct Channels {
    tenant: RunTenant,
    telegram: Messenger,
    whatsapp: Messenger,
}

impl Channels {
    async fn new(email: &str, plan: &str) -> Self {
        let telegram = Messenger::telegram().await.unwrap();
        let whatsapp = Messenger::whatsapp(WA_TOKEN).await.unwrap();
        let (telegram_url, whatsapp_url) = (telegram.url(), whatsapp.url());
        let server = start_server_with(true, move |config| {
            config.channels.public_url = Some(PUBLIC_URL.into());
            config.channels.telegram_api_base = telegram_url;
            config.channels.whatsapp_api_base = whatsapp_url;
        })
        .await;
        let tenant = RunTenant::on(std::sync::Arc::new(server), email).await;
        tenant.set_plan(plan).await;
        Self {
            tenant,
            telegram,
            whatsapp,
        }
    }

    async fn put(&self, path: &str, body: Value) -> reqwest::Response {
        self.tenant
            .http
            .put(self.tenant.url(path))
            .bearer_auth(self.tenant.device.token())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Connects the bot; its id and the secret Telegram was told to send.
    async fn connect_telegram(&self) -> (String, String) {
        let connected = self
            .put(
                "/v1/channels/telegram",
                json!({ "bot_token": BOT_TOKEN, "agent_id": self.tenant.agent.id }),
            )
            .await;
        assert_eq!(connected.status(), StatusCode::CREATED);
        let connected: Value = connected.json().await.unwrap();
        let id = connected["id"].as_str().unwrap().to_owned();
        assert_eq!(connected["name"], "@orrery_test_bot");
        let webhook = self
            .telegram
            .calls()
            .into_iter()
            .rfind(|call| call.method == "setWebhook")
            .expect("the webhook was set");
        assert_eq!(
            webhook.body["url"],
            format!("{PUBLIC_URL}/v1/hooks/telegram/{id}")
        );
        let secret = webhook.body["secret_token"].as_str().unwrap().to_owned();
        assert!(secret.len() >= 32);
        (id, secret)
    }

    async fn deliver_telegram(
        &self,
        channel: &str,
        secret: Option<&str>,
        body: Vec<u8>,
    ) -> StatusCode {
        let mut request = self
            .tenant
            .http
            .post(self.tenant.url(&format!("/v1/hooks/telegram/{channel}")))
            .header("content-type", "application/json")
            .body(body);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        request.send().await.unwrap().status()
    }

    async fn listed(&self) -> Value {
        self.tenant
            .http
            .get(self.tenant.url("/v1/channels"))
            .bearer_auth(self.tenant.device.token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn update(update_id: i64, text: &str) -> Vec<u8> {
    telegram_update(update_id, 4242, text)
        .to_string()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn telegram_update_without_secret_is_refused() {
    let channels = Channels::new("bot-guard@orrery.test", "pro").await;
    // A token that is not one is refused before Telegram is asked; one
    // Telegram does not know is refused with Telegram's reason.
    for (token, expected) in [
        ("not a token", "not a bot token"),
        (
            "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDxxx",
            "Telegram refused",
        ),
    ] {
        let refused = channels
            .put(
                "/v1/channels/telegram",
                json!({ "bot_token": token, "agent_id": channels.tenant.agent.id }),
            )
            .await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.text().await.unwrap().contains(expected));
    }
    let (id, secret) = channels.connect_telegram().await;

    let hello = update(1, "Hello?");
    assert_eq!(
        channels.deliver_telegram(&id, None, hello.clone()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        channels
            .deliver_telegram(&id, Some("guessed-secret"), hello.clone())
            .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret[..secret.len() - 1]), hello.clone())
            .await,
        StatusCode::FORBIDDEN
    );
    // The right secret on another channel's address is no secret there.
    assert_eq!(
        channels
            .deliver_telegram(
                &uuid::Uuid::now_v7().to_string(),
                Some(&secret),
                hello.clone()
            )
            .await,
        StatusCode::NOT_FOUND
    );
    // Truncated, oversized and garbage updates with the right secret.
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret), hello[..hello.len() / 2].to_vec())
            .await,
        StatusCode::BAD_REQUEST
    );
    let oversized = telegram_update(2, 4242, &"x".repeat(400 * 1024))
        .to_string()
        .into_bytes();
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret), oversized)
            .await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret), b"\x00\xff{[".to_vec())
            .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        channels
            .deliver_telegram(
                &id,
                Some(&secret),
                json!({ "update_id": "x" }).to_string().into_bytes()
            )
            .await,
        StatusCode::BAD_REQUEST
    );

    // Nothing was recorded, run, metered or sent.
    let listed = channels.listed().await;
    assert_eq!(listed[0]["kind"], "telegram");
    assert_eq!(listed[0]["last_messages"], json!([]));
    assert_eq!(channels.tenant.double.request_count(), 0);
    assert_eq!(channels.tenant.usage().await.runs, 0);
    assert!(channels.telegram.sent_texts().is_empty());

    // Disconnected, the bot's address answers nothing.
    let gone = channels
        .tenant
        .http
        .delete(channels.tenant.url("/v1/channels/telegram"))
        .bearer_auth(channels.tenant.device.token())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert!(
        channels
            .telegram
            .calls()
            .iter()
            .any(|call| call.method == "deleteWebhook")
    );
    assert_eq!(
        channels.deliver_telegram(&id, Some(&secret), hello).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn telegram_chat_runs_agent_and_splits_long_answers() {
    let channels = Channels::new("bot@orrery.test", "pro").await;
    let (id, secret) = channels.connect_telegram().await;

    // /start greets.
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret), update(10, "/start"))
            .await,
        StatusCode::OK
    );
    channels.telegram.wait_for_sent(1).await;
    assert!(channels.telegram.sent_texts()[0].1.starts_with("Hello!"));

    // A question whose answer is longer than two Telegram messages; Telegram
    // asks the first send to wait a second.
    let long_answer: String = (0..600)
        .map(|n| format!("Line {n} of the answer."))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(long_answer.len() > 2 * 4_096);
    channels
        .tenant
        .double
        .push(Reply::chunked(long_answer.clone(), 6).with_usage(40, 2_000));
    channels.telegram.rate_limit_next(1);
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret), update(11, "Tell me everything."))
            .await,
        StatusCode::OK
    );
    // Telegram sends the same update again (it got no answer in time): handled once.
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret), update(11, "Tell me everything."))
            .await,
        StatusCode::OK
    );
    let pieces = long_answer.encode_utf16().count().div_ceil(4_096).max(3);
    channels.telegram.wait_for_sent(1 + pieces).await;
    let sent: Vec<String> = channels.telegram.sent_texts()[1..]
        .iter()
        .map(|(chat, text)| {
            assert_eq!(chat, "4242");
            text.clone()
        })
        .collect();
    assert!(
        sent.iter()
            .all(|piece| piece.encode_utf16().count() <= 4_096)
    );
    assert_eq!(
        sent.concat(),
        long_answer,
        "the pieces are the whole answer, in order"
    );
    assert_eq!(
        channels.tenant.double.request_count(),
        1,
        "the repeated update ran nothing"
    );
    let asked = &channels.tenant.double.requests()[0];
    assert!(
        asked
            .texts()
            .iter()
            .any(|text| text.contains("Tell me everything."))
    );

    // A follow-up continues the conversation: the model is sent the earlier
    // question and answer as turns before it.
    channels
        .tenant
        .double
        .push(Reply::text("Line 0.").with_usage(2_050, 2));
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret), update(14, "Which line came first?"))
            .await,
        StatusCode::OK
    );
    channels.telegram.wait_for_sent(2 + pieces).await;
    let follow_up = &channels.tenant.double.requests()[1];
    let turns: Vec<(String, String)> = follow_up.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| message["role"] != "system")
        .map(|message| {
            (
                message["role"].as_str().unwrap().to_owned(),
                message["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        turns,
        vec![
            ("user".to_owned(), "Tell me everything.".to_owned()),
            ("assistant".to_owned(), long_answer.clone()),
            ("user".to_owned(), "Which line came first?".to_owned()),
        ]
    );

    // /reset starts a new conversation: the next question is a new session.
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret), update(12, "/reset"))
            .await,
        StatusCode::OK
    );
    channels.telegram.wait_for_sent(3 + pieces).await;
    channels
        .tenant
        .double
        .push(Reply::text("Short answer.").with_usage(5, 3));
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret), update(13, "And briefly?"))
            .await,
        StatusCode::OK
    );
    channels.telegram.wait_for_sent(4 + pieces).await;
    assert_eq!(
        channels.telegram.sent_texts().last().unwrap().1,
        "Short answer."
    );
    let fresh = channels.tenant.double.requests()[2].texts();
    assert!(
        !fresh
            .iter()
            .any(|text| text.contains("Tell me everything.")),
        "a new conversation starts without the old one: {fresh:?}"
    );

    // Each conversation is a session the tenant's devices sync, with its chat.
    let device = &channels.tenant.device;
    device.client.sync_all(&device.replica).await.unwrap();
    let mut chats = Vec::new();
    for summary in device
        .replica
        .list_documents(orrery_domain::DocumentKind::Session)
        .await
        .unwrap()
    {
        let session = device.replica.session(summary.id).await.unwrap();
        if session.title == "Telegram: Ada" {
            chats.push(
                session
                    .messages
                    .iter()
                    .map(|message| message.text.clone())
                    .collect::<Vec<_>>(),
            );
        }
    }
    chats.sort();
    assert_eq!(chats.len(), 2, "{chats:?}");
    assert_eq!(
        chats[0],
        vec!["And briefly?".to_owned(), "Short answer.".to_owned()]
    );
    assert_eq!(chats[1][0], "Tell me everything.");
    assert_eq!(chats[1][1], long_answer);
    assert_eq!(chats[1][2..], ["Which line came first?", "Line 0."]);

    // Metered as runs of the owner's plan; listed for the Channels screen.
    let usage = channels.tenant.usage().await;
    assert_eq!(usage.runs, 3);
    assert_eq!(usage.tokens, 2_040 + 2_052 + 8);
    let listed = channels.listed().await;
    let messages = listed[0]["last_messages"].as_array().unwrap();
    assert!(messages.iter().any(|message| message["direction"] == "in"
        && message["text"] == "And briefly?"
        && message["status"] == "answered"));
    assert!(
        messages
            .iter()
            .any(|message| message["direction"] == "out" && message["status"] == "sent")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whatsapp_signature_and_handshake() {
    let channels = Channels::new("wa@orrery.test", "enterprise").await;
    let connected = channels
        .put(
            "/v1/channels/whatsapp",
            json!({
                "phone_number_id": PHONE_ID,
                "display_number": "+1 555 078 3881",
                "access_token": WA_TOKEN,
                "app_secret": APP_SECRET,
                "verify_token": VERIFY_TOKEN,
                "agent_id": channels.tenant.agent.id,
            }),
        )
        .await;
    assert_eq!(connected.status(), StatusCode::CREATED);
    let connected: Value = connected.json().await.unwrap();
    let id = connected["id"].as_str().unwrap().to_owned();
    let hook = channels.tenant.url(&format!("/v1/hooks/whatsapp/{id}"));
    assert_eq!(
        connected["webhook_url"],
        format!("{PUBLIC_URL}/v1/hooks/whatsapp/{id}")
    );

    // The verification handshake.
    let http = &channels.tenant.http;
    let handshake = |mode: &str, token: &str, challenge: &str| {
        http.get(&hook)
            .query(&[
                ("hub.mode", mode),
                ("hub.verify_token", token),
                ("hub.challenge", challenge),
            ])
            .send()
    };
    let answered = handshake("subscribe", VERIFY_TOKEN, "1158201444")
        .await
        .unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    assert_eq!(answered.text().await.unwrap(), "1158201444");
    assert_eq!(
        handshake("subscribe", "wrong", "1158201444")
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        handshake("unsubscribe", VERIFY_TOKEN, "1")
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        handshake("subscribe", VERIFY_TOKEN, "<script>")
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        http.get(&hook).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    // Deliveries: unsigned, forged, or signed over other bytes are refused.
    let body = whatsapp_delivery(PHONE_ID, "4915112345678", "wamid.first", "Hi there").to_string();
    let post = |body: Vec<u8>, signature: Option<String>| {
        let mut request = http
            .post(&hook)
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request.send()
    };
    assert_eq!(
        post(body.clone().into_bytes(), None)
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(
            body.clone().into_bytes(),
            Some(meta_signature("not-the-secret", body.as_bytes()))
        )
        .await
        .unwrap()
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(
            body.clone().into_bytes(),
            Some(meta_signature(APP_SECRET, b"{}"))
        )
        .await
        .unwrap()
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(body.clone().into_bytes(), Some("sha256=00".into()))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let truncated = body.as_bytes()[..body.len() / 2].to_vec();
    let signed = meta_signature(APP_SECRET, &truncated);
    assert_eq!(
        post(truncated, Some(signed)).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(channels.tenant.double.request_count(), 0, "nothing ran");

    // A genuine delivery runs the agent and answers through the Graph API.
    channels
        .tenant
        .double
        .push(Reply::text("Hello from Orrery.").with_usage(6, 4));
    let signed = meta_signature(APP_SECRET, body.as_bytes());
    assert_eq!(
        post(body.clone().into_bytes(), Some(signed.clone()))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    channels.whatsapp.wait_for_sent(1).await;
    let call = channels.whatsapp.calls().pop().unwrap();
    assert_eq!(call.method, format!("{PHONE_ID}/messages"));
    assert_eq!(call.token, WA_TOKEN);
    assert_eq!(call.body["to"], "4915112345678");
    assert_eq!(call.body["text"]["body"], "Hello from Orrery.");
    // The same delivery again is acknowledged and not run again.
    assert_eq!(
        post(body.into_bytes(), Some(signed))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(channels.tenant.double.request_count(), 1);

    // An answer ready after the 24-hour window is not sent, and says so.
    let gate = Gate::new();
    let held = gate.clone();
    channels
        .tenant
        .double
        .set_responder(move |_: &RecordedRequest| Some(Reply::text("Too late.").after(&held)));
    let late =
        whatsapp_delivery(PHONE_ID, "4915112345678", "wamid.second", "Still there?").to_string();
    let signed = meta_signature(APP_SECRET, late.as_bytes());
    assert_eq!(
        post(late.into_bytes(), Some(signed))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    channels.tenant.double.wait_in_flight(1).await;
    channels
        .tenant
        .server
        .clock
        .advance(chrono::Duration::hours(25));
    gate.open();
    // A day later the app signs in again to look.
    let session = channels
        .tenant
        .server
        .session_for("wa@orrery.test", "laptop")
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let listed: Value = http
                .get(channels.tenant.url("/v1/channels"))
                .bearer_auth(&session.access_token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(message) = listed[0]["last_messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|message| message["status"] == "window_closed")
            {
                return message.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the late answer is recorded as not sent");
    assert_eq!(closed["text"], "Too late.");
    assert!(closed["detail"].as_str().unwrap().contains("24 hours"));
    assert_eq!(
        channels.whatsapp.sent_texts().len(),
        1,
        "nothing was sent after the window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn channel_denied_by_plan_answers_politely() {
    let channels = Channels::new("downgraded@orrery.test", "pro").await;
    let (id, secret) = channels.connect_telegram().await;
    // The plan changes to one without Telegram.
    channels.tenant.set_plan("free").await;
    assert_eq!(
        channels
            .deliver_telegram(&id, Some(&secret), update(20, "Are you there?"))
            .await,
        StatusCode::OK
    );
    channels.telegram.wait_for_sent(1).await;
    let (chat, text) = channels.telegram.sent_texts().pop().unwrap();
    assert_eq!(chat, "4242");
    assert!(
        text.starts_with("Sorry, I can't answer right now:"),
        "{text}"
    );
    assert!(
        text.contains("plan does not include the telegram channel"),
        "{text}"
    );
    // Metered as nothing: no run, no tokens, no model call.
    assert_eq!(channels.tenant.double.request_count(), 0);
    let usage = channels.tenant.usage().await;
    assert_eq!((usage.runs, usage.tokens), (0, 0));
    let listed = channels.listed().await;
    let refused = listed[0]["last_messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|message| message["direction"] == "in")
        .unwrap()
        .clone();
    assert_eq!(refused["status"], "refused");
    // A Free plan cannot connect a channel at all.
    let again = channels
        .put(
            "/v1/channels/telegram",
            json!({ "bot_token": BOT_TOKEN, "agent_id": channels.tenant.agent.id }),
        )
        .await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
}
