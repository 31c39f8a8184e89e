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
    let sink = SmtpSink::start().await.unwrap();
    let server = TestServer::start_with(|config| {
        config.smtp = Some(smtp(&sink));
        config.mail_every = Duration::from_millis(50);
    })
    .await
    .unwrap();
    let accounts = server.accounts();
    let admin = accounts
        .register("operator@orrery.test", TEST_PASSWORD, "Operator", "laptop")
        .await
        .unwrap();
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
    let sink = SmtpSink::start().await.unwrap();
    let server = TestServer::start_with(|config| {
        config.smtp = Some(smtp(&sink));
        config.mail_every = Duration::from_millis(50);
    })
    .await
    .unwrap();
    let accounts = server.accounts();
    let admin = accounts
        .register("operator@orrery.test", TEST_PASSWORD, "Operator", "laptop")
        .await
        .unwrap();
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
