//! Accounts end to end: a real server on loopback, the desktop's account
//! client, a local SMTP sink, and the server's own database for what must (or
//! must not) have been written.

use std::time::Duration;

use orrery_account::AccountError;
use orrery_e2e::smtp::SmtpSink;
use orrery_e2e::{TEST_PASSWORD, TestServer};
use orrery_server::auth::mailer::SmtpConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post_json(
    server: &TestServer,
    path: &str,
    body: &Value,
    token: Option<&str>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", server.url()))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

fn refused_status(error: &AccountError) -> u16 {
    match error {
        AccountError::Refused { status, .. } => *status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn refresh_token_reuse_revokes_family() {
    let server = TestServer::start().await.unwrap();
    let accounts = server.accounts();
    let first = accounts
        .register("ada@orrery.test", TEST_PASSWORD, "Ada", "laptop")
        .await
        .unwrap();
    // A second device of the same user: a separate family that must survive.
    let other_device = accounts
        .sign_in("ada@orrery.test", TEST_PASSWORD, "desktop")
        .await
        .unwrap();

    let second = accounts.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(
        second.refresh_token, first.refresh_token,
        "refresh tokens rotate"
    );
    assert_ne!(second.access_token, first.access_token);
    let third = accounts.refresh(&second.refresh_token).await.unwrap();
    accounts.me(&third.access_token).await.unwrap();

    // The first refresh token comes back (stolen and replayed): the whole family is revoked.
    let replay = accounts.refresh(&first.refresh_token).await.unwrap_err();
    assert_eq!(refused_status(&replay), 401);
    assert!(replay.to_string().contains("already used"), "{replay}");
    for token in [
        &first.access_token,
        &second.access_token,
        &third.access_token,
    ] {
        assert_eq!(
            refused_status(&accounts.me(token).await.unwrap_err()),
            401,
            "access tokens of the family die"
        );
    }
    let latest = accounts.refresh(&third.refresh_token).await.unwrap_err();
    assert_eq!(
        refused_status(&latest),
        401,
        "the newest refresh token of the family dies too"
    );

    // The other device's session is a different family and keeps working.
    assert_eq!(
        accounts.me(&other_device.access_token).await.unwrap().email,
        "ada@orrery.test"
    );
    accounts.refresh(&other_device.refresh_token).await.unwrap();
}

#[tokio::test]
async fn access_tokens_expire_after_fifteen_minutes_and_refresh_tokens_after_seven_days() {
    let server = TestServer::start().await.unwrap();
    let accounts = server.accounts();
    let session = accounts
        .register("exp@orrery.test", TEST_PASSWORD, "Exp", "laptop")
        .await
        .unwrap();
    server.clock.advance(chrono::Duration::minutes(14));
    accounts.me(&session.access_token).await.unwrap();
    server.clock.advance(chrono::Duration::minutes(2));
    let expired = accounts.me(&session.access_token).await.unwrap_err();
    assert_eq!(refused_status(&expired), 401);
    let renewed = accounts.refresh(&session.refresh_token).await.unwrap();
    accounts.me(&renewed.access_token).await.unwrap();
    server.clock.advance(chrono::Duration::days(7));
    assert_eq!(
        refused_status(&accounts.refresh(&renewed.refresh_token).await.unwrap_err()),
        401
    );
}

#[tokio::test]
async fn login_is_rate_limited() {
    let server = TestServer::start().await.unwrap();
    let accounts = server.accounts();
    accounts
        .register("grace@orrery.test", TEST_PASSWORD, "Grace", "laptop")
        .await
        .unwrap();

    // Per account: five wrong passwords, then 429 with Retry-After, even for the right password.
    for _ in 0..5 {
        let error = accounts
            .sign_in("grace@orrery.test", "wrong password!", "laptop")
            .await
            .unwrap_err();
        assert_eq!(refused_status(&error), 401);
        assert!(
            error.to_string().contains("wrong email or password"),
            "{error}"
        );
    }
    let locked = accounts
        .sign_in("grace@orrery.test", TEST_PASSWORD, "laptop")
        .await
        .unwrap_err();
    let AccountError::Refused {
        status,
        retry_after_secs,
        message,
        ..
    } = &locked
    else {
        panic!("{locked:?}")
    };
    assert_eq!(*status, 429);
    let retry = retry_after_secs.expect("429 carries Retry-After");
    assert!((1..=15 * 60).contains(&retry), "retry after {retry}s");
    assert!(message.contains("locked"), "{message}");
    // Case and spaces do not make a different account.
    let error = accounts
        .sign_in("  GRACE@orrery.test ", TEST_PASSWORD, "laptop")
        .await
        .unwrap_err();
    assert_eq!(refused_status(&error), 429);

    // Once the window passes, the right password works again.
    server
        .clock
        .advance(chrono::Duration::seconds(retry as i64));
    accounts
        .sign_in("grace@orrery.test", TEST_PASSWORD, "laptop")
        .await
        .unwrap();

    // Per address: failures spread over many accounts from one address hit the address limit.
    let mut statuses = Vec::new();
    for n in 0..21 {
        let error = accounts
            .sign_in(&format!("nobody{n}@orrery.test"), "wrong password!", "x")
            .await
            .unwrap_err();
        statuses.push(refused_status(&error));
    }
    assert_eq!(
        &statuses[..20],
        &[401; 20][..],
        "20 failures are allowed per address"
    );
    assert_eq!(
        statuses[20], 429,
        "the 21st attempt from the address is throttled"
    );
    let error = accounts
        .sign_in("grace@orrery.test", TEST_PASSWORD, "laptop")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("this address"), "{error}");
    server.clock.advance(chrono::Duration::minutes(15));
    accounts
        .sign_in("grace@orrery.test", TEST_PASSWORD, "laptop")
        .await
        .unwrap();
}

#[tokio::test]
async fn password_reset_mail_is_single_use_and_signs_out_everywhere() {
    let sink = SmtpSink::start().await.unwrap();
    let address = sink.address();
    let server = TestServer::start_with(|config| {
        config.smtp = Some(SmtpConfig {
            host: address.ip().to_string(),
            port: address.port(),
            starttls: false,
            credentials: None,
            from: "Orrery <no-reply@orrery.test>".into(),
        });
    })
    .await
    .unwrap();
    let accounts = server.accounts();
    let session = accounts
        .register("linus@orrery.test", TEST_PASSWORD, "Linus", "laptop")
        .await
        .unwrap();

    // Unknown addresses get the same answer and no mail.
    accounts
        .request_password_reset("nobody@orrery.test")
        .await
        .unwrap();
    accounts
        .request_password_reset("linus@orrery.test")
        .await
        .unwrap();
    let mail = sink
        .wait_for_containing(
            "Subject: Reset your Orrery password",
            1,
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].to, vec!["linus@orrery.test".to_owned()]);
    assert!(
        mail[0].data.contains("Subject: Reset your Orrery password"),
        "{}",
        mail[0].data
    );
    let code = mail[0]
        .data
        .split_whitespace()
        .find(|word| word.starts_with("orp_"))
        .expect("the mail carries the code")
        .to_owned();

    let weak = accounts
        .confirm_password_reset(&code, "short")
        .await
        .unwrap_err();
    assert_eq!(
        refused_status(&weak),
        422,
        "a weak password is refused and the code is not used up"
    );
    accounts
        .confirm_password_reset(&code, "a brand new passphrase")
        .await
        .unwrap();
    let again = accounts
        .confirm_password_reset(&code, "another new passphrase")
        .await
        .unwrap_err();
    assert_eq!(refused_status(&again), 400);
    assert!(again.to_string().contains("already used"), "{again}");

    assert_eq!(
        refused_status(&accounts.me(&session.access_token).await.unwrap_err()),
        401,
        "old sessions end"
    );
    assert_eq!(
        refused_status(
            &accounts
                .sign_in("linus@orrery.test", TEST_PASSWORD, "x")
                .await
                .unwrap_err()
        ),
        401
    );
    accounts
        .sign_in("linus@orrery.test", "a brand new passphrase", "x")
        .await
        .unwrap();

    // A code expires after 30 minutes.
    accounts
        .request_password_reset("linus@orrery.test")
        .await
        .unwrap();
    let mail = sink
        .wait_for_containing(
            "Subject: Reset your Orrery password",
            2,
            Duration::from_secs(20),
        )
        .await;
    let late_code = mail[1]
        .data
        .split_whitespace()
        .find(|word| word.starts_with("orp_"))
        .unwrap()
        .to_owned();
    server.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(
        refused_status(
            &accounts
                .confirm_password_reset(&late_code, "too late passphrase")
                .await
                .unwrap_err()
        ),
        400
    );
}

#[tokio::test]
async fn profile_theme_settings_and_trial() {
    let server = TestServer::start().await.unwrap();
    let accounts = server.accounts();
    let admin = accounts
        .register("first@orrery.test", TEST_PASSWORD, "First", "laptop")
        .await
        .unwrap();
    assert_eq!(
        admin.account.role, "admin",
        "the first account on a server administers it"
    );
    let session = accounts
        .register("Margaret@Orrery.test", TEST_PASSWORD, "Margaret", "laptop")
        .await
        .unwrap();
    let account = &session.account;
    assert_eq!(account.email, "margaret@orrery.test");
    assert_eq!(account.role, "user");
    assert_eq!(account.theme, "system");
    assert_eq!(account.trial_days_remaining, Some(14));
    assert_ne!(
        account.tenant_id, admin.account.tenant_id,
        "each account has its own tenant"
    );

    let updated = accounts
        .update_profile(
            &session.access_token,
            &orrery_account::ProfileUpdate {
                name: Some("  Margaret H.  ".into()),
                theme: Some("dark".into()),
                settings: Some(json!({ "canvas": { "labels": "near" } })),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.theme.as_str()),
        ("Margaret H.", "dark")
    );
    assert_eq!(
        accounts.me(&session.access_token).await.unwrap().settings,
        json!({ "canvas": { "labels": "near" } })
    );

    // Days left count down (rounded up) and stop at zero; refresh tokens last 7 days each.
    server
        .clock
        .advance(chrono::Duration::days(6) + chrono::Duration::hours(1));
    let renewed = accounts.refresh(&session.refresh_token).await.unwrap();
    assert_eq!(renewed.account.trial_days_remaining, Some(8));
    server.clock.advance(chrono::Duration::days(5));
    let renewed = accounts.refresh(&renewed.refresh_token).await.unwrap();
    assert_eq!(renewed.account.trial_days_remaining, Some(3));
    server.clock.advance(chrono::Duration::days(4));
    let renewed = accounts.refresh(&renewed.refresh_token).await.unwrap();
    assert_eq!(renewed.account.trial_days_remaining, Some(0));

    let duplicate = accounts
        .register("margaret@orrery.test", TEST_PASSWORD, "Copy", "x")
        .await
        .unwrap_err();
    assert_eq!(refused_status(&duplicate), 409);
    accounts.sign_out(&renewed.access_token).await.unwrap();
    assert_eq!(
        refused_status(&accounts.me(&renewed.access_token).await.unwrap_err()),
        401
    );
    assert_eq!(
        refused_status(&accounts.refresh(&renewed.refresh_token).await.unwrap_err()),
        401,
        "signing out ends the family"
    );
}

#[tokio::test]
async fn api_keys_are_for_pro_shown_once_rotated_and_revoked() {
    let server = TestServer::start().await.unwrap();
    let accounts = server.accounts();
    let session = accounts
        .register("pro@orrery.test", TEST_PASSWORD, "Pro", "laptop")
        .await
        .unwrap();
    let token = session.access_token.clone();
    let (status, body, _) = post_json(
        &server,
        "/v1/api-keys",
        &json!({ "name": "ci" }),
        Some(&token),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not part of the Free plan"),
        "{body}"
    );

    let store = server.store().await.unwrap();
    let user_id = session.account.id.parse().unwrap();
    let tenant_id = session.account.tenant_id.parse().unwrap();
    assert!(store.set_plan(tenant_id, user_id, "pro").await.unwrap());

    let (status, created, _) = post_json(
        &server,
        "/v1/api-keys",
        &json!({ "name": "ci" }),
        Some(&token),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ork_"));
    let listed: Value = reqwest::Client::new()
        .get(format!("{}/v1/api-keys", server.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        listed[0].get("key").is_none(),
        "lists never show the secret: {listed}"
    );
    assert!(key.starts_with(listed[0]["prefix"].as_str().unwrap()));

    // Only the hash is at rest (the bytes of the SQLite file and its log;
    // on PostgreSQL, every stored API key row).
    let needle = key.as_bytes();
    match &server.location {
        orrery_store::DatabaseLocation::Sqlite(path) => {
            let database = std::fs::read(path).unwrap();
            let wal = std::fs::read(path.with_extension("db-wal")).unwrap_or_default();
            assert!(
                !database.windows(needle.len()).any(|w| w == needle)
                    && !wal.windows(needle.len()).any(|w| w == needle)
            );
        }
        orrery_store::DatabaseLocation::Postgres(url) => {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT concat_ws(' ', id, name, prefix, key_hash) FROM api_keys",
            )
            .fetch_all(&mut connection)
            .await
            .unwrap();
            assert!(!rows.is_empty());
            assert!(rows.iter().all(|row| !row.contains(key.as_str())));
        }
    }

    // The key authenticates API calls but cannot manage keys.
    let accounts_with_key = accounts.me(&key).await.unwrap();
    assert_eq!(accounts_with_key.email, "pro@orrery.test");
    let (status, _, _) = post_json(
        &server,
        "/v1/api-keys",
        &json!({ "name": "more" }),
        Some(&key),
    )
    .await;
    assert_eq!(status, 403);

    let id = created["id"].as_str().unwrap();
    let (status, rotated, _) = post_json(
        &server,
        &format!("/v1/api-keys/{id}/rotate"),
        &json!({}),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new_key = rotated["key"].as_str().unwrap();
    assert_ne!(new_key, key);
    assert_eq!(
        refused_status(&accounts.me(&key).await.unwrap_err()),
        401,
        "the old secret stops working"
    );
    accounts.me(new_key).await.unwrap();

    let response = reqwest::Client::new()
        .delete(format!("{}/v1/api-keys/{id}", server.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        refused_status(&accounts.me(new_key).await.unwrap_err()),
        401
    );
}
