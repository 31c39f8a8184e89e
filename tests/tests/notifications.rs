//! Account emails through the real server and a real SMTP client, into a
//! local SMTP sink: each queued in the outbox with what it announces, sent
//! from its template with a plain and an HTML part, a secret forgotten once
//! sent; the trial reminders queued once however often the job runs; and,
//! with the server SIGKILLed mid-send, every mail arrives and none arrives
//! as two different messages.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use orrery_e2e::smtp::{ReceivedMail, SmtpSink};
use orrery_e2e::{TEST_PASSWORD, TestServer};
use orrery_server::auth::mailer::SmtpConfig;
use serde_json::json;

const PATIENCE: Duration = Duration::from_secs(30);

fn smtp(sink: &SmtpSink) -> SmtpConfig {
    let address = sink.address();
    SmtpConfig {
        host: address.ip().to_string(),
        port: address.port(),
        starttls: false,
        credentials: None,
        from: "Orrery <no-reply@orrery.test>".into(),
    }
}

/// A server that sends its mail to a fresh SMTP sink, looking at its outbox
/// every 50 ms, with its operator (the first account) registered.
async fn mailing_server() -> (SmtpSink, TestServer, orrery_account::Session) {
    let sink = SmtpSink::start().await.unwrap();
    let server = TestServer::start_with(|config| {
        config.smtp = Some(smtp(&sink));
        config.mail_every = Duration::from_millis(50);
    })
    .await
    .unwrap();
    let admin = server
        .accounts()
        .register("operator@orrery.test", TEST_PASSWORD, "Operator", "laptop")
        .await
        .unwrap();
    (sink, server, admin)
}

/// The `Message-ID` header of a received mail.
fn message_id(mail: &ReceivedMail) -> String {
    mail.data
        .lines()
        .find_map(|line| line.strip_prefix("Message-ID: "))
        .unwrap_or_else(|| panic!("no Message-ID in {}", mail.data))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn account_emails_are_queued_with_what_they_announce() {
    let (sink, server, admin) = mailing_server().await;
    let accounts = server.accounts();
    let grace = accounts
        .register(
            "grace@orrery.test",
            TEST_PASSWORD,
            "Grace <Hopper>",
            "laptop",
        )
        .await
        .unwrap();
    // Welcome: a plain part and an HTML part, the name escaped in the HTML.
    let welcome = sink
        .wait_for_containing("To: grace@orrery.test", 1, PATIENCE)
        .await;
    assert_eq!(welcome.len(), 1);
    let data = &welcome[0].data;
    assert!(data.contains("Subject: Welcome to Orrery"), "{data}");
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(data.contains("Hello Grace <Hopper>,"), "{data}");
    assert!(data.contains("Grace &lt;Hopper&gt;"), "{data}");

    // A plan changed by an admin is announced.
    let (status, changed) = {
        let response = reqwest::Client::new()
            .put(format!(
                "{}/v1/admin/users/{}/plan",
                server.url(),
                grace.account.id
            ))
            .bearer_auth(&admin.access_token)
            .json(&json!({ "plan": "pro" }))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    };
    assert!(status.is_success(), "{changed}");
    let plan = sink
        .wait_for_containing("Subject: You are now on the Pro plan", 1, PATIENCE)
        .await;
    assert_eq!(plan.len(), 1, "{plan:?}");

    // A password reset's code leaves the outbox once sent.
    accounts
        .request_password_reset("grace@orrery.test")
        .await
        .unwrap();
    sink.wait_for_containing("Subject: Reset your Orrery password", 1, PATIENCE)
        .await;
    let store = server.store().await.unwrap();
    let outbox = store.mail_outbox().await.unwrap();
    let reset = outbox
        .iter()
        .find(|mail| mail.template == "password_reset")
        .unwrap();
    assert_eq!(reset.data, json!({}), "the code is not kept once sent");
    assert!(
        outbox.iter().all(|mail| mail.sent_at.is_some()),
        "{outbox:?}"
    );
    // Each mail once, each with its own Message-ID.
    let received = sink.received();
    let ids: BTreeSet<String> = received.iter().map(message_id).collect();
    assert_eq!(ids.len(), received.len());
    assert_eq!(received.len(), outbox.len());
}

#[tokio::test]
async fn trial_expiry_mail_sent_once() {
    let (sink, server, admin) = mailing_server().await;
    let accounts = server.accounts();
    let ada = accounts
        .register("ada@orrery.test", TEST_PASSWORD, "Ada", "laptop")
        .await
        .unwrap();
    // Ada's trial ends in two days and a few hours.
    let ends_at = server.clock_now() + chrono::Duration::hours(53);
    let response = reqwest::Client::new()
        .put(format!(
            "{}/v1/admin/users/{}/trial",
            server.url(),
            ada.account.id
        ))
        .bearer_auth(&admin.access_token)
        .json(&json!({ "ends_at": orrery_store::timestamp(ends_at) }))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    let store = server.store().await.unwrap();
    let job = |at: chrono::DateTime<chrono::Utc>| {
        let store = store.clone();
        async move {
            orrery_server::notify::trials::queue_reminders(&store, at)
                .await
                .unwrap()
        }
    };
    let reminders = |mails: &[ReceivedMail]| {
        mails
            .iter()
            .filter(|mail| mail.to == vec!["ada@orrery.test".to_owned()])
            .filter(|mail| mail.data.contains("Subject: Your Free trial"))
            .map(|mail| {
                mail.data
                    .lines()
                    .find_map(|line| line.strip_prefix("Subject: "))
                    .unwrap()
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };

    // The job runs often (each instance, each restart): one mail.
    let now = server.clock_now();
    assert_eq!(job(now).await, 1);
    assert_eq!(job(now).await, 0);
    server.clock.advance(chrono::Duration::hours(2));
    assert_eq!(job(server.clock_now()).await, 0);
    sink.wait_for_containing("Subject: Your Free trial ends in 3 days", 1, PATIENCE)
        .await;
    // A day before the end, the last reminder; after it, "ended" — each once.
    server.clock.advance(chrono::Duration::hours(33));
    assert_eq!(job(server.clock_now()).await, 1);
    assert_eq!(job(server.clock_now()).await, 0);
    server.clock.advance(chrono::Duration::hours(20));
    assert_eq!(job(server.clock_now()).await, 1);
    server.clock.advance(chrono::Duration::days(1));
    assert_eq!(job(server.clock_now()).await, 0);
    // A trial that ended long ago is left alone.
    assert_eq!(job(ends_at + chrono::Duration::days(30)).await, 0);
    sink.wait_for_containing("Subject: Your Free trial has ended", 1, PATIENCE)
        .await;
    let received = sink.received();
    assert_eq!(
        reminders(&received),
        vec![
            "Your Free trial ends in 3 days".to_owned(),
            "Your Free trial ends in 1 day".to_owned(),
            "Your Free trial has ended".to_owned(),
        ]
    );
    // A server started again on the same database queues nothing more.
    let again = TestServer::start_on(Some(store.location().clone()), |config| {
        config.smtp = Some(smtp(&sink));
    })
    .await
    .unwrap();
    drop(again);
    let queued: BTreeMap<String, usize> =
        store
            .mail_outbox()
            .await
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut counts, mail| {
                *counts.entry(mail.template.clone()).or_default() += 1;
                counts
            });
    assert_eq!(queued.get("trial_ending"), Some(&2), "{queued:?}");
    assert_eq!(queued.get("trial_ended"), Some(&1), "{queued:?}");
}

#[tokio::test]
async fn mail_templates_are_checked_previewed_and_used() {
    let (sink, server, admin) = mailing_server().await;
    let accounts = server.accounts();
    let member = accounts
        .register("member@orrery.test", TEST_PASSWORD, "Member", "laptop")
        .await
        .unwrap();
    let call =
        |method: reqwest::Method, path: &str, token: &str, body: Option<serde_json::Value>| {
            let request = reqwest::Client::new()
                .request(method, format!("{}{path}", server.url()))
                .bearer_auth(token.to_owned());
            async move {
                let request = match body {
                    Some(body) => request.json(&body),
                    None => request,
                };
                let response = request.send().await.unwrap();
                let status = response.status();
                (
                    status,
                    response
                        .json::<serde_json::Value>()
                        .await
                        .unwrap_or_default(),
                )
            }
        };
    let token = admin.access_token.as_str();
    let (status, listed) = call(
        reqwest::Method::GET,
        "/v1/admin/mail-templates",
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed.as_array().unwrap().len(),
        orrery_server::notify::templates::TEMPLATES.len()
    );
    let welcome = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|template| template["key"] == "welcome")
        .unwrap()
        .clone();
    assert_eq!(welcome["edited"], false);
    assert_eq!(welcome["variables"], json!(["name"]));

    // Refused with the reason, nothing changed.
    let parts = |subject: &str, html: &str| json!({ "subject": subject, "text": "Hello {{ name }}, welcome aboard.", "html": html });
    let refused = [
        (
            "/v1/admin/mail-templates/welcome",
            parts("Hi {{ name", "<p>Hi</p>"),
            422,
            "subject",
        ),
        (
            "/v1/admin/mail-templates/welcome",
            parts("Hi {{ nickname }}", "<p>Hi</p>"),
            422,
            "nickname",
        ),
        (
            "/v1/admin/mail-templates/welcome",
            parts("Hi", &"x".repeat(20_001)),
            422,
            "20000",
        ),
        (
            "/v1/admin/mail-templates/welcome",
            json!({ "subject": "Hi" }),
            422,
            "text",
        ),
        (
            "/v1/admin/mail-templates/goodbye",
            parts("Hi", "<p>Hi</p>"),
            404,
            "goodbye",
        ),
    ];
    for (path, body, expected, says) in refused {
        let (status, answer) = call(reqwest::Method::PUT, path, token, Some(body)).await;
        assert_eq!(status.as_u16(), expected, "{path}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{answer}"
        );
    }
    let (_, unchanged) = call(
        reqwest::Method::GET,
        "/v1/admin/mail-templates",
        token,
        None,
    )
    .await;
    assert_eq!(unchanged, listed);

    // A preview renders with sample values; the HTML part is escaped.
    let edit = json!({
        "subject": "Hello {{ name }}, you are in",
        "text": "Hello {{ name }},\n\nyour studio is ready.\n",
        "html": "<p>Hello <b>{{ name }}</b>, your studio is ready.</p>",
    });
    let (status, preview) = call(
        reqwest::Method::POST,
        "/v1/admin/mail-templates/welcome/preview",
        token,
        Some(edit.clone()),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["subject"], "Hello <name>, you are in");
    assert!(
        preview["html"]
            .as_str()
            .unwrap()
            .contains("<b>&lt;name&gt;</b>"),
        "{preview}"
    );
    let (status, _) = call(
        reqwest::Method::PUT,
        "/v1/admin/mail-templates/welcome",
        &member.access_token,
        Some(edit.clone()),
    )
    .await;
    assert_eq!(status, 403, "only admins edit templates");

    // Saved, the next welcome uses it; reset, the shipped one is back.
    let (status, saved) = call(
        reqwest::Method::PUT,
        "/v1/admin/mail-templates/welcome",
        token,
        Some(edit),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["edited"], true);
    accounts
        .register("newcomer@orrery.test", TEST_PASSWORD, "Newcomer", "laptop")
        .await
        .unwrap();
    let mail = sink
        .wait_for_containing("Subject: Hello Newcomer, you are in", 1, PATIENCE)
        .await;
    assert_eq!(mail.len(), 1);
    let (status, reset) = call(
        reqwest::Method::DELETE,
        "/v1/admin/mail-templates/welcome",
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(reset["edited"], false);
    assert_eq!(reset["parts"], reset["shipped"]);
    accounts
        .register("later@orrery.test", TEST_PASSWORD, "Later", "laptop")
        .await
        .unwrap();
    let later = sink
        .wait_for_containing("To: later@orrery.test", 1, PATIENCE)
        .await;
    assert!(
        later[0].data.contains("Subject: Welcome to Orrery"),
        "{}",
        later[0].data
    );
    let (_, audit) = call(
        reqwest::Method::GET,
        "/v1/admin/audit-log?target=welcome",
        token,
        None,
    )
    .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["mail_template.reset", "mail_template.put"]);
}
