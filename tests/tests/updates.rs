//! The desktop app's update feed on a real server, asked by the app's own
//! feed client: an admin publishes a release whose package is uploaded in
//! parts and sealed with the release key's signature; installations are
//! offered it by channel and staged rollout, the same answer every time for
//! the same installation; every answer is signed with the feed key, and
//! the client refuses answers that are unsigned, from another key, for
//! another request, expired (a stale mirror), or that offer an old build
//! as new. SQLite, and the same on PostgreSQL.

use orrery_e2e::TestServer;
use orrery_e2e::postgres::PostgresServer;
use orrery_server::config::UpdatesConfig;
use orrery_store::DatabaseLocation;
use orrery_updates::{
    Channel, CheckError, CheckRequest, FeedClient, FeedError, SIGNATURE_HEADER, STATEMENT_HEADER,
    UpdateKey, UpdateSigner,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// The keys of one test: the release key signs packages, the feed key the
/// server's answers.
struct Keys {
    release: UpdateSigner,
    feed_public: UpdateKey,
}

async fn server_with_keys(location: Option<DatabaseLocation>) -> (TestServer, Keys) {
    let release = UpdateSigner::generate();
    let feed = UpdateSigner::generate();
    let feed_public = feed.public_key();
    let release_public = release.public_key();
    let server = TestServer::start_on(location, move |config| {
        config.updates = UpdatesConfig {
            feed_signer: Some(Arc::new(feed)),
            release_key: Some(release_public),
        };
    })
    .await
    .unwrap();
    (
        server,
        Keys {
            release,
            feed_public,
        },
    )
}

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.url()))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The first account of a server is its admin.
async fn admin(server: &TestServer) -> String {
    server
        .accounts()
        .register(
            "operator@orrery.test",
            orrery_e2e::TEST_PASSWORD,
            "Operator",
            "console",
        )
        .await
        .unwrap()
        .access_token
}

/// A package's bytes: not compressible, so parts hold what they say.
fn package_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// Uploads `bytes` as a package of the release, in parts of 4 MiB.
async fn upload(server: &TestServer, token: &str, release: &str, target: &str, bytes: &[u8]) {
    for (part, chunk) in bytes.chunks(4 * 1024 * 1024).enumerate() {
        let response = reqwest::Client::new()
            .put(format!(
                "{}/v1/admin/releases/{release}/packages/{target}/x86_64/parts/{part}?file_name=Orrery_amd64.deb",
                server.url()
            ))
            .bearer_auth(token)
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "part {part}");
    }
}

/// A draft release of `version` on `channel`.
async fn draft(server: &TestServer, token: &str, version: &str, channel: &str) -> String {
    let (status, release) = call(
        server,
        Method::POST,
        "/v1/admin/releases",
        token,
        Some(json!({ "version": version, "channel": channel, "notes": format!("What {version} brings") })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    release["id"].as_str().unwrap().to_owned()
}

async fn seal(
    server: &TestServer,
    token: &str,
    release: &str,
    target: &str,
    signature: &str,
) -> (StatusCode, Value) {
    call(
        server,
        Method::POST,
        &format!("/v1/admin/releases/{release}/packages/{target}/x86_64/seal"),
        token,
        Some(json!({ "signature": signature })),
    )
    .await
}

/// Publishes `version` on `channel` with a signed linux-deb package, at
/// `percent`; returns its id and its package's bytes.
async fn publish(
    server: &TestServer,
    keys: &Keys,
    token: &str,
    version: &str,
    channel: &str,
    percent: u8,
) -> (String, Vec<u8>) {
    let release = draft(server, token, version, channel).await;
    let bytes = package_bytes(64 * 1024, version.len() as u64 + u64::from(percent));
    upload(server, token, &release, "linux-deb", &bytes).await;
    let signature = keys
        .release
        .sign_package(&bytes, "Orrery_amd64.deb", version);
    let (status, sealed) = seal(server, token, &release, "linux-deb", &signature).await;
    assert_eq!(status, StatusCode::OK, "{sealed}");
    let (status, rolled) = call(
        server,
        Method::PUT,
        &format!("/v1/admin/releases/{release}/rollout"),
        token,
        Some(json!({ "rollout_percent": percent })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    let (status, published) = call(
        server,
        Method::POST,
        &format!("/v1/admin/releases/{release}/publish"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{published}");
    assert_eq!(published["state"], "published");
    (release, bytes)
}

fn request(version: &str, channel: Channel, installation: &str) -> CheckRequest {
    CheckRequest {
        target: "linux-deb".into(),
        arch: "x86_64".into(),
        current_version: version.parse().unwrap(),
        channel,
        installation: installation.into(),
    }
}

/// A stand-in for a mirror of the feed: answers every request with what it
/// was given (status, headers, body), whatever was asked.
async fn mirror(status: u16, headers: Vec<(String, String)>, body: String) -> String {
    let app = axum::Router::new().fallback(move || {
        let headers = headers.clone();
        let body = body.clone();
        async move {
            let mut response = axum::response::Response::builder().status(status);
            for (name, value) in &headers {
                response = response.header(name, value);
            }
            response.body(axum::body::Body::from(body)).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// What the real server answers `request`: status, the feed headers, body.
async fn recorded(
    server: &TestServer,
    request: &CheckRequest,
) -> (u16, Vec<(String, String)>, String) {
    let response = reqwest::get(format!("{}{}", server.url(), request.path()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = [STATEMENT_HEADER, SIGNATURE_HEADER]
        .iter()
        .filter_map(|name| {
            response
                .headers()
                .get(*name)
                .map(|value| (name.to_string(), value.to_str().unwrap().to_owned()))
        })
        .collect();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn feed_cannot_roll_back_or_freeze() {
    let (server, keys) = server_with_keys(None).await;
    let token = admin(&server).await;
    let feed = FeedClient::new(&server.url(), keys.feed_public.clone());
    let now = chrono::Utc::now();
    let on_010 = request("0.1.0", Channel::Stable, "3f7c-0001");

    // Nothing published: a signed "nothing newer".
    assert_eq!(feed.check(&on_010, now).await.unwrap(), None);

    // 0.1.1, uploaded in three parts (over 8 MiB, more than any one request
    // may carry), comes back whole and as signed.
    let release = draft(&server, &token, "0.1.1", "stable").await;
    let bytes = package_bytes(9 * 1024 * 1024 + 123, 11);
    upload(&server, &token, &release, "linux-deb", &bytes).await;
    let signature = keys
        .release
        .sign_package(&bytes, "Orrery_0.1.1_amd64.deb", "0.1.1");
    let (status, sealed) = seal(&server, &token, &release, "linux-deb", &signature).await;
    assert_eq!(status, StatusCode::OK, "{sealed}");
    assert_eq!(sealed["packages"][0]["parts"], 3);
    assert_eq!(sealed["packages"][0]["size_bytes"], bytes.len());
    // Not offered while a draft.
    assert_eq!(feed.check(&on_010, now).await.unwrap(), None);
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("/v1/admin/releases/{release}/publish"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let offered = feed
        .check(&on_010, now)
        .await
        .unwrap()
        .expect("0.1.1 is offered");
    assert_eq!(offered.version, "0.1.1");
    assert_eq!(offered.notes, "What 0.1.1 brings");
    assert_eq!(offered.signature, signature);
    let downloaded = reqwest::get(&offered.url).await.unwrap();
    assert_eq!(
        downloaded.content_length(),
        Some(bytes.len() as u64),
        "{}",
        offered.url
    );
    let downloaded = downloaded.bytes().await.unwrap();
    assert!(
        downloaded[..] == bytes[..],
        "the package comes back as uploaded"
    );
    keys.release
        .public_key()
        .verify_package(&downloaded, &offered.signature, "0.1.1")
        .unwrap();
    // Nothing newer for 0.1.1 itself, nor for a newer version (no downgrade).
    assert_eq!(
        feed.check(&request("0.1.1", Channel::Stable, "3f7c-0001"), now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        feed.check(&request("0.2.0", Channel::Stable, "3f7c-0001"), now)
            .await
            .unwrap(),
        None
    );

    // An old signed build offered as a newer version: the server refuses to
    // seal it, and a package whose bytes were changed or cut short too.
    let rollback = draft(&server, &token, "0.1.2", "stable").await;
    upload(&server, &token, &rollback, "linux-deb", &bytes).await;
    let (status, refused) = seal(&server, &token, &rollback, "linux-deb", &signature).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("signed as version 0.1.1, not 0.1.2"),
        "{refused}"
    );
    let other_key = UpdateSigner::generate().sign_package(&bytes, "x.deb", "0.1.2");
    let (status, refused) = seal(&server, &token, &rollback, "linux-deb", &other_key).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("another key"),
        "{refused}"
    );
    let proper = keys.release.sign_package(&bytes, "x.deb", "0.1.2");
    let mut tampered = bytes.clone();
    tampered[5_000_000] ^= 1;
    upload(&server, &token, &rollback, "linux-deb", &tampered).await;
    let (status, refused) = seal(&server, &token, &rollback, "linux-deb", &proper).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{refused}"
    );
    // Nothing unsealed can be published, and the feed still offers 0.1.1.
    let (status, refused) = call(
        &server,
        Method::POST,
        &format!("/v1/admin/releases/{rollback}/publish"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(
        feed.check(&on_010, now).await.unwrap().unwrap().version,
        "0.1.1"
    );

    // A mirror replaying the signed answer someone else got: refused.
    let (status, headers, body) = recorded(&server, &on_010).await;
    assert_eq!(status, 200);
    let replay = FeedClient::new(
        &mirror(status, headers.clone(), body.clone()).await,
        keys.feed_public.clone(),
    );
    assert!(replay.check(&on_010, now).await.unwrap().is_some());
    let elsewhere = request("0.1.0", Channel::Stable, "9a9a-0002");
    assert!(matches!(
        replay.check(&elsewhere, now).await,
        Err(CheckError::Feed(FeedError::OtherRequest(
            "the installation"
        )))
    ));
    // ... to an installation on a newer version: offering it a lower one.
    let on_013 = request("0.1.3", Channel::Stable, "3f7c-0001");
    assert!(matches!(
        replay.check(&on_013, now).await,
        Err(CheckError::Feed(FeedError::OtherRequest(
            "the current version"
        )))
    ));
    // A stale mirror serving yesterday's signed answer: expired.
    assert!(matches!(
        replay
            .check(&on_010, now + chrono::Duration::hours(25))
            .await,
        Err(CheckError::Feed(FeedError::Expired(_)))
    ));
    // The headers stripped, or the body's version bumped under them: the
    // client reads only the signed statement, which says 0.1.1.
    let unsigned = FeedClient::new(
        &mirror(200, Vec::new(), body.clone()).await,
        keys.feed_public.clone(),
    );
    assert!(matches!(
        unsigned.check(&on_010, now).await,
        Err(CheckError::Feed(FeedError::Unsigned))
    ));
    let bumped = FeedClient::new(
        &mirror(200, headers.clone(), body.replace("0.1.1", "9.0.0")).await,
        keys.feed_public.clone(),
    );
    assert_eq!(
        bumped.check(&on_010, now).await.unwrap().unwrap().version,
        "0.1.1"
    );
    // Answers signed by another feed key: refused.
    let stranger = FeedClient::new(&server.url(), UpdateSigner::generate().public_key());
    assert!(matches!(
        stranger.check(&on_010, now).await,
        Err(CheckError::Feed(FeedError::OtherKey))
    ));

    // Pulled back: no longer offered, and its package no longer served.
    let (status, pulled) = call(
        &server,
        Method::POST,
        &format!("/v1/admin/releases/{release}/pull"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pulled}");
    assert_eq!(pulled["state"], "pulled");
    assert_eq!(feed.check(&on_010, now).await.unwrap(), None);
    assert_eq!(
        reqwest::get(&offered.url).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Every step is in the audit log.
    let (_, log) = call(
        &server,
        Method::GET,
        "/v1/admin/audit-log?per_page=100",
        &token,
        None,
    )
    .await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["action"].as_str())
        .filter(|action| action.starts_with("release."))
        .collect();
    for action in [
        "release.create",
        "release.package",
        "release.publish",
        "release.pull",
    ] {
        assert!(
            actions.contains(&action),
            "{action} is audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn feed_refuses_hostile_requests_and_uploads() {
    let (server, keys) = server_with_keys(None).await;
    let token = admin(&server).await;
    for path in [
        "/v1/updates/linux-deb/x86_64/0.1.0".to_owned(),
        "/v1/updates/linux-deb/x86_64/0.1.0?installation=a/b".to_owned(),
        "/v1/updates/haiku/x86_64/0.1.0?installation=a".to_owned(),
        "/v1/updates/linux-deb/sparc/0.1.0?installation=a".to_owned(),
        "/v1/updates/linux-deb/x86_64/one?installation=a".to_owned(),
        format!(
            "/v1/updates/linux-deb/x86_64/{}?installation=a",
            "9".repeat(500)
        ),
        "/v1/updates/linux-deb/x86_64/0.1.0?installation=a&channel=nightly".to_owned(),
        "/v1/updates/linux-deb/x86_64/0.1.0?installation=a&extra=1".to_owned(),
        format!(
            "/v1/updates/linux-deb/x86_64/0.1.0?installation={}",
            "a".repeat(65)
        ),
        "/v1/updates/packages/not-a-uuid/linux-deb/x86_64".to_owned(),
    ] {
        let response = reqwest::get(format!("{}{path}", server.url()))
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
    // A server without a feed key says so.
    let plain = TestServer::start().await.unwrap();
    let response = reqwest::get(format!(
        "{}/v1/updates/linux-deb/x86_64/0.1.0?installation=a",
        plain.url()
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Releases: bad versions, channels, rollouts, notes; one per version.
    for body in [
        json!({ "version": "1.0", "channel": "stable" }),
        json!({ "version": "1.0.0", "channel": "nightly" }),
        json!({ "version": "1.0.0", "channel": "stable", "rollout_percent": 101 }),
        json!({ "version": "1.0.0", "channel": "stable", "notes": "x".repeat(8_001) }),
    ] {
        let (status, answer) = call(
            &server,
            Method::POST,
            "/v1/admin/releases",
            &token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    let release = draft(&server, &token, "1.0.0", "stable").await;
    let (status, _) = call(
        &server,
        Method::POST,
        "/v1/admin/releases",
        &token,
        Some(json!({ "version": "1.0.0", "channel": "beta" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Parts: too large, numbered past the last, with a hostile file name.
    let part = |number: &str, name: &str, bytes: Vec<u8>| {
        let url = format!(
            "{}/v1/admin/releases/{release}/packages/linux-deb/x86_64/parts/{number}?file_name={name}",
            server.url()
        );
        let token = token.clone();
        async move {
            reqwest::Client::new()
                .put(url)
                .bearer_auth(token)
                .body(bytes)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        part("0", "a.deb", vec![0; 4 * 1024 * 1024 + 1]).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(part("64", "a.deb", vec![1]).await, StatusCode::BAD_REQUEST);
    assert_eq!(
        part("0", "..%2Fetc", vec![1]).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        part("0", "a.deb", Vec::new()).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A gap in the parts is named when sealing.
    assert_eq!(
        part("0", "a.deb", vec![1; 10]).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        part("2", "a.deb", vec![2; 10]).await,
        StatusCode::NO_CONTENT
    );
    let signature = keys.release.sign_package(&[1; 10], "a.deb", "1.0.0");
    let (status, answer) = seal(&server, &token, &release, "linux-deb", &signature).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    // Discarded, uploaded whole, sealed: then sealed parts cannot change.
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/v1/admin/releases/{release}/packages/linux-deb/x86_64"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        part("0", "a.deb", vec![1; 10]).await,
        StatusCode::NO_CONTENT
    );
    let (status, answer) = seal(&server, &token, &release, "linux-deb", &signature).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(part("0", "a.deb", vec![9; 10]).await, StatusCode::CONFLICT);
    let (status, answer) = seal(
        &server,
        &token,
        &release,
        "linux-deb",
        "bm90IGEgc2lnbmF0dXJl",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}

/// Installations `0..count` as ids.
fn installations(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("inst-{n:04}")).collect()
}

async fn offered_to(
    feed: &FeedClient,
    ids: &[String],
    version: &str,
    channel: Channel,
) -> Vec<Option<String>> {
    let now = chrono::Utc::now();
    let mut answers = Vec::new();
    for id in ids {
        answers.push(
            feed.check(&request(version, channel, id), now)
                .await
                .unwrap()
                .map(|release| release.version),
        );
    }
    answers
}

async fn staged_rollout_on(location: Option<DatabaseLocation>) {
    let (server, keys) = server_with_keys(location).await;
    let token = admin(&server).await;
    let feed = FeedClient::new(&server.url(), keys.feed_public.clone());
    publish(&server, &keys, &token, "1.1.0", "stable", 100).await;
    let (staged, _) = publish(&server, &keys, &token, "1.2.0", "stable", 30).await;
    let ids = installations(300);
    let first = offered_to(&feed, &ids, "1.0.0", Channel::Stable).await;
    // The same installation gets the same answer every time.
    assert_eq!(
        offered_to(&feed, &ids, "1.0.0", Channel::Stable).await,
        first
    );
    // About 30% get 1.2.0; everyone else the release before it.
    let newest = first
        .iter()
        .filter(|v| v.as_deref() == Some("1.2.0"))
        .count();
    assert!((45..=135).contains(&newest), "30% of 300 reached {newest}");
    assert!(
        first.iter().all(|v| v.is_some()),
        "everyone is offered something"
    );
    // Raising the rollout only adds installations.
    let (status, _) = call(
        &server,
        Method::PUT,
        &format!("/v1/admin/releases/{staged}/rollout"),
        &token,
        Some(json!({ "rollout_percent": 60 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let wider = offered_to(&feed, &ids, "1.0.0", Channel::Stable).await;
    for (before, after) in first.iter().zip(&wider) {
        if before.as_deref() == Some("1.2.0") {
            assert_eq!(after.as_deref(), Some("1.2.0"));
        }
    }
    let more = wider
        .iter()
        .filter(|v| v.as_deref() == Some("1.2.0"))
        .count();
    assert!(more > newest, "60% reached {more}, 30% reached {newest}");
}

#[tokio::test]
async fn staged_rollout_is_stable_per_installation() {
    staged_rollout_on(None).await;
}

#[tokio::test]
async fn staged_rollout_is_stable_per_installation_on_postgres() {
    let postgres = PostgresServer::start().unwrap();
    let url = postgres.database("orrery").await.unwrap();
    staged_rollout_on(Some(DatabaseLocation::Postgres(url))).await;
}

#[tokio::test]
async fn beta_never_reaches_stable() {
    let (server, keys) = server_with_keys(None).await;
    let token = admin(&server).await;
    let feed = FeedClient::new(&server.url(), keys.feed_public.clone());
    publish(&server, &keys, &token, "2.0.0", "stable", 100).await;
    publish(&server, &keys, &token, "2.1.0-beta.1", "beta", 100).await;
    let ids = installations(40);
    let stable = offered_to(&feed, &ids, "1.9.0", Channel::Stable).await;
    assert!(
        stable.iter().all(|v| v.as_deref() == Some("2.0.0")),
        "{stable:?}"
    );
    let beta = offered_to(&feed, &ids, "1.9.0", Channel::Beta).await;
    assert!(
        beta.iter().all(|v| v.as_deref() == Some("2.1.0-beta.1")),
        "{beta:?}"
    );
    // Stable on 2.0.0: nothing, though a beta is newer.
    assert!(
        offered_to(&feed, &ids, "2.0.0", Channel::Stable)
            .await
            .iter()
            .all(Option::is_none)
    );
    // A newer stable overtakes the beta for beta users too.
    publish(&server, &keys, &token, "2.1.0", "stable", 100).await;
    let beta = offered_to(&feed, &ids, "2.1.0-beta.1", Channel::Beta).await;
    assert!(
        beta.iter().all(|v| v.as_deref() == Some("2.1.0")),
        "{beta:?}"
    );
}
