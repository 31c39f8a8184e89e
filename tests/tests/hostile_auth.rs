//! Hostile input on every account route: huge, wrong types, unicode, SQL-ish,
//! malformed. The answer is always a 4xx with a reason, never a 500, and
//! nothing is written.

use orrery_e2e::{TEST_PASSWORD, TestServer};
use orrery_server::http::endpoints;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row;

const ACCOUNT_TABLES: [&str; 8] = [
    "tenants",
    "users",
    "identities",
    "sessions",
    "access_tokens",
    "refresh_tokens",
    "api_keys",
    "password_resets",
];

async fn row_counts(server: &TestServer) -> Vec<(String, i64, String)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.database.display()))
        .await
        .unwrap();
    let mut counts = Vec::new();
    for table in ACCOUNT_TABLES {
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) AS n, COALESCE(group_concat(rowid), '') AS ids FROM {table}"
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        counts.push((table.to_owned(), row.get("n"), row.get("ids")));
    }
    let users: String = sqlx::query_scalar("SELECT COALESCE(group_concat(name || theme || settings || COALESCE(password_hash, '')), '') FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    counts.push(("user fields".into(), 0, users));
    pool.close().await;
    counts
}

/// Bodies no account route may accept.
/// Admin routes that act without a body (and refuse one).
const TAKES_NO_BODY: [&str; 2] = [
    "/v1/admin/metrics/rebuild",
    "/v1/admin/marketplace/reconcile",
];

fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let long = "a".repeat(100_000);
    let sql = "' OR 1=1; DROP TABLE users; --";
    let mut bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("null", b"null".to_vec()),
        ("array", b"[]".to_vec()),
        ("string", b"\"hello\"".to_vec()),
        ("number overflow", b"1e400".to_vec()),
        ("truncated", b"{\"email\": \"a@b.io\", \"pass".to_vec()),
        (
            "invalid utf-8",
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
        ),
        ("html", b"<html><body>hi</body></html>".to_vec()),
        ("deeply nested", deep.into_bytes()),
        (
            "huge",
            json!({ "email": long, "password": long, "name": long })
                .to_string()
                .into_bytes(),
        ),
    ];
    let typed: Vec<(&str, Value)> = vec![
        (
            "wrong types",
            json!({ "email": 42, "password": ["x"], "name": { "a": 1 }, "refresh_token": 7, "code": false, "theme": 3, "settings": "x" }),
        ),
        (
            "sql in email",
            json!({ "email": sql, "password": sql, "name": sql, "code": sql, "refresh_token": sql, "code_verifier": sql, "redirect_uri": sql }),
        ),
        (
            "nul bytes",
            json!({ "email": "a\u{0}@b.io", "password": "pass\u{0}word!", "name": "nul\u{0}", "theme": "dark\u{0}" }),
        ),
        (
            "unicode tricks",
            json!({ "email": "ａｄｍｉｎ＠ｏｒｒｅｒｙ", "password": "\u{202e}drowssap", "name": "\u{200b}", "theme": "DARK" }),
        ),
        (
            "emoji only",
            json!({ "email": "🦀@🦀", "password": "🦀", "name": "", "settings": [1, 2] }),
        ),
        (
            "unknown fields",
            json!({ "email": "x@y.io", "password": "short", "name": "X", "is_admin": true, "role": "admin", "tenant_id": "00000000-0000-0000-0000-000000000000" }),
        ),
        (
            "overlong fields",
            json!({ "email": format!("{}@example.com", "a".repeat(300)), "password": "p".repeat(129), "name": "n".repeat(101), "device_name": "d".repeat(101) }),
        ),
        (
            "bad settings",
            json!({ "settings": { "blob": "x".repeat(20_000) } }),
        ),
    ];
    for (label, value) in typed {
        bodies.push((label, value.to_string().into_bytes()));
    }
    bodies
}

#[tokio::test]
async fn auth_inputs_never_500() {
    let server = TestServer::start().await.unwrap();
    let session = server
        .accounts()
        .register("victim@orrery.test", TEST_PASSWORD, "Victim", "laptop")
        .await
        .unwrap();
    let token = session.access_token.clone();
    let before = row_counts(&server).await;

    let account_routes: Vec<_> = endpoints()
        .into_iter()
        .filter(|endpoint| {
            [
                "/v1/auth",
                "/v1/me",
                "/v1/api-keys",
                "/v1/billing",
                "/v1/policy",
                "/v1/admin",
            ]
            .iter()
            .any(|prefix| endpoint.path.starts_with(prefix))
        })
        .filter(|endpoint| endpoint.method != Method::GET && endpoint.path != "/v1/auth/sign-out")
        .collect();
    assert!(account_routes.len() >= 9, "{account_routes:?}");
    let key_id = uuid::Uuid::now_v7().to_string();
    let mut tried = 0;
    for endpoint in &account_routes {
        let path = endpoint
            .path
            .replace("{provider}", "google")
            .replace("{key_id}", &key_id);
        for (label, body) in hostile_bodies() {
            for content_type in ["application/json", "text/plain"] {
                let response = reqwest::Client::new()
                    .request(endpoint.method.clone(), format!("{}{path}", server.url()))
                    .bearer_auth(&token)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let text = response.text().await.unwrap();
                // A route that takes no body does its work when sent none.
                if label == "empty" && TAKES_NO_BODY.contains(&endpoint.path) {
                    assert!(status.is_success(), "{path} with no body: {status} {text}");
                    continue;
                }
                assert!(
                    status.is_client_error(),
                    "{} {path} with {label} ({content_type}): {status} {text}",
                    endpoint.method
                );
                let reason: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("{path} {label}: not JSON: {text}"));
                assert!(
                    reason["message"]
                        .as_str()
                        .is_some_and(|message| !message.is_empty()),
                    "{path} {label}: no reason given: {text}"
                );
                tried += 1;
            }
        }
    }
    assert!(tried > 300, "{tried}");
    // The deeply nested and huge bodies are refused with the right status.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/auth/sign-in", server.url()))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(vec![b' '; 70 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    assert_eq!(
        row_counts(&server).await,
        before,
        "hostile input wrote nothing"
    );
    // And the victim can still sign in with the real password.
    server
        .accounts()
        .sign_in("victim@orrery.test", TEST_PASSWORD, "laptop")
        .await
        .unwrap();
}
