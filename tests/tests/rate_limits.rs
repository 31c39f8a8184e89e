//! API keys' rate limits on a real server: each answer says the policy and
//! what is left (`RateLimit-Policy`, `RateLimit`); past the limit a call gets
//! 429 with `Retry-After`; parallel calls with one key pass exactly the
//! limit; made-up keys use no quota; the window moves with the server's
//! clock.

use orrery_e2e::{TEST_PASSWORD, TestServer};
use reqwest::StatusCode;
use serde_json::json;

const LIMIT: usize = 5;

async fn key_of(server: &TestServer, email: &str) -> String {
    let session = server
        .accounts()
        .register(email, TEST_PASSWORD, "Keyholder", "laptop")
        .await
        .unwrap();
    server
        .store()
        .await
        .unwrap()
        .set_plan(
            session.account.tenant_id.parse().unwrap(),
            session.account.id.parse().unwrap(),
            "pro",
        )
        .await
        .unwrap();
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/api-keys", server.url()))
        .bearer_auth(&session.access_token)
        .json(&json!({ "name": "ci" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["key"].as_str().unwrap().to_owned()
}

async fn list_graphs(server: &TestServer, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/v1/graphs", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn field(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limit_headers_and_429() {
    let server = TestServer::start_with(|config| {
        config.limits.api_key_calls_per_minute = LIMIT;
    })
    .await
    .unwrap();
    let first = key_of(&server, "first@orrery.test").await;
    let second = key_of(&server, "second@orrery.test").await;

    // Each answer says the policy and what is left.
    for left in (0..LIMIT).rev() {
        let response = list_graphs(&server, &first).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            field(&response, "ratelimit-policy").as_deref(),
            Some("\"api-key\";q=5;w=60")
        );
        let state = field(&response, "ratelimit").unwrap();
        assert!(
            state.starts_with(&format!("\"api-key\";r={left};t=")),
            "{state}"
        );
    }
    // Past it: 429, when to come back, and nothing left.
    let refused = list_graphs(&server, &first).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = field(&refused, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(
        field(&refused, "ratelimit")
            .unwrap()
            .starts_with("\"api-key\";r=0;")
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );

    // Twelve calls at once with another key: exactly the limit pass.
    let calls =
        futures_util::future::join_all((0..12).map(|_| list_graphs(&server, &second))).await;
    let passed = calls
        .iter()
        .filter(|response| response.status() == StatusCode::OK)
        .count();
    let refused = calls
        .iter()
        .filter(|response| response.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((passed, refused), (LIMIT, 12 - LIMIT));

    // Made-up keys are refused as such, never as over a limit, and use no
    // quota; a signed-in session is not an API key and carries no fields.
    let forged = format!("ork_{}", "Z".repeat(40));
    for _ in 0..(LIMIT * 3) {
        assert_eq!(
            list_graphs(&server, &forged).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let session = server
        .accounts()
        .sign_in("first@orrery.test", TEST_PASSWORD, "phone")
        .await
        .unwrap();
    let signed_in = list_graphs(&server, &session.access_token).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    assert_eq!(field(&signed_in, "ratelimit"), None);

    // A minute later the first key may call again.
    server.clock.advance(chrono::Duration::seconds(61));
    let again = list_graphs(&server, &first).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        field(&again, "ratelimit")
            .unwrap()
            .starts_with("\"api-key\";r=4;")
    );
}

/// A key ends in a checksum a scanner can check; a mistyped key is refused
/// as such, and the real key keeps working.
#[tokio::test]
async fn api_keys_end_in_a_checksum() {
    let server = TestServer::start().await.unwrap();
    let key = key_of(&server, "scanner@orrery.test").await;
    let (body, sum) = key.rsplit_once('_').unwrap();
    assert!(
        key.starts_with("ork_live_") && key.len() == 9 + 43 + 1 + 8,
        "{key}"
    );
    assert_eq!(sum.len(), 8);
    // What a scanner computes: the first 8 hex digits of SHA-256(body).
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body.as_bytes());
    let expected: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(sum, &expected[..8]);

    let mut typo = key.clone().into_bytes();
    typo[12] = if typo[12] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo).unwrap();
    let refused = list_graphs(&server, &typo).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let answer: serde_json::Value = refused.json().await.unwrap();
    assert!(
        answer["message"].as_str().unwrap().contains("checksum"),
        "{answer}"
    );
    assert_eq!(list_graphs(&server, &key).await.status(), StatusCode::OK);
}
