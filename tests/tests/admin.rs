//! The operator's routes (`/v1/admin/*`) over HTTP on a real server: only
//! admins reach them (every route of the real router is walked), suspension
//! locks a user out at once, every admin action leaves one audit entry whose
//! hash chain verifies, the log refuses UPDATE and DELETE on SQLite and on
//! PostgreSQL, and a plan changed by an admin applies to the user's next
//! policy decision.

use orrery_e2e::postgres::PostgresServer;
use orrery_e2e::{TEST_PASSWORD, TestServer};
use orrery_server::http::{Access, admin_endpoints};
use orrery_store::{ChainCheck, DatabaseLocation};
use orrery_sync::LiveFeed;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// Sends `method path` with `token` (if any) and `body` (if any); returns
/// the status and the JSON answer (`null` when there is none).
async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn register(server: &TestServer, email: &str) -> orrery_account::Session {
    let name = email.split('@').next().unwrap();
    server
        .accounts()
        .register(email, TEST_PASSWORD, name, "laptop")
        .await
        .unwrap()
}

async fn set_plan(server: &TestServer, session: &orrery_account::Session, plan: &str) {
    let account = &session.account;
    server
        .store()
        .await
        .unwrap()
        .set_plan(
            account.tenant_id.parse().unwrap(),
            account.id.parse().unwrap(),
            plan,
        )
        .await
        .unwrap();
}

/// A new API key of `session`'s user (their plan must allow keys).
async fn api_key(server: &TestServer, session: &orrery_account::Session) -> String {
    let (status, key) = call(
        server,
        Method::POST,
        "/v1/api-keys",
        Some(&session.access_token),
        Some(json!({ "name": "ci" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key["key"].as_str().unwrap().to_owned()
}

async fn audit(server: &TestServer, token: &str, query: &str) -> Value {
    let (status, page) = call(
        server,
        Method::GET,
        &format!("/v1/admin/audit-log{query}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

async fn chain(server: &TestServer, token: &str) -> Value {
    let (status, check) = call(
        server,
        Method::GET,
        "/v1/admin/audit-log/verify",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{check}");
    check
}

#[tokio::test]
async fn every_admin_route_refuses_non_admins() {
    let server = TestServer::start().await.unwrap();
    let admin = register(&server, "operator@orrery.test").await;
    let second_admin = register(&server, "deputy@orrery.test").await;
    let member = register(&server, "member@orrery.test").await;
    set_plan(&server, &member, "pro").await;
    set_plan(&server, &admin, "pro").await;
    let member_key = api_key(&server, &member).await;
    let admin_key = api_key(&server, &admin).await;
    // The deputy is made an admin, then suspended by the operator.
    let deputy = format!("/v1/admin/users/{}", second_admin.account.id);
    let (status, _) = call(
        &server,
        Method::PUT,
        &format!("{deputy}/role"),
        Some(&admin.access_token),
        Some(json!({ "role": "admin" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("{deputy}/suspend"),
        Some(&admin.access_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let routes = admin_endpoints();
    assert!(
        routes.len() >= 9,
        "the router lists its admin routes: {routes:?}"
    );
    // Operator routes are exactly the admin routes, in the whole table.
    for endpoint in orrery_server::http::endpoints() {
        assert_eq!(
            endpoint.path.starts_with("/v1/admin/"),
            endpoint.access == Access::Admin,
            "{endpoint:?}"
        );
        if endpoint.access == Access::Admin {
            assert_eq!(
                endpoint.key_scope, None,
                "no API key scope opens {endpoint:?}"
            );
        }
    }
    let store = server.store().await.unwrap();
    let users_before = store
        .search_users(
            &orrery_store::UserSearch {
                limit: 100,
                ..Default::default()
            },
            server.clock_now(),
        )
        .await
        .unwrap();
    let plans_before = store.list_plans().await.unwrap();
    let entries_before = store
        .audit_log(&orrery_store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();

    let forged = format!("oat_{}", "A".repeat(43));
    let callers: [(&str, Option<&str>, &[u16]); 7] = [
        ("no token", None, &[401]),
        ("a forged token", Some(&forged), &[401]),
        ("a user's token", Some(&member.access_token), &[403]),
        ("a user's API key", Some(&member_key), &[403]),
        ("an admin's API key", Some(&admin_key), &[403]),
        (
            "a suspended admin's token",
            Some(&second_admin.access_token),
            &[401],
        ),
        (
            "a suspended admin's refresh token",
            Some(&second_admin.refresh_token),
            &[401],
        ),
    ];
    let plan_body = serde_json::to_value(&plans_before[0]).unwrap();
    for endpoint in &routes {
        let path = endpoint
            .path
            .replace("{user_id}", &member.account.id)
            .replace("{plan_key}", &plans_before[0].key)
            .replace("{tenant_id}", &member.account.tenant_id)
            .replace("{prompt_id}", &orrery_domain::DocumentId::new().to_string())
            .replace("{listing_id}", &uuid::Uuid::now_v7().to_string())
            .replace("{purchase_id}", &uuid::Uuid::now_v7().to_string())
            .replace("{release_id}", &uuid::Uuid::now_v7().to_string())
            .replace("{target}", "linux-deb")
            .replace("{arch}", "x86_64")
            .replace("{part}", "0")
            .replace("{key}", "welcome");
        assert!(
            !path.contains('{'),
            "a new route parameter needs a value: {}",
            endpoint.path
        );
        // Bodies an admin would send, so only the caller is wrong.
        let body = if path.ends_with("/plan") {
            Some(json!({ "plan": "enterprise" }))
        } else if path.ends_with("/role") {
            Some(json!({ "role": "admin" }))
        } else if path.ends_with("/trial") {
            Some(json!({ "ends_at": null }))
        } else if path.starts_with("/v1/admin/plans/") {
            Some(plan_body.clone())
        } else if path.starts_with("/v1/admin/mail-templates/") {
            Some(
                json!({ "subject": "Hi {{ name }}", "text": "Hi {{ name }}", "html": "<p>Hi</p>" }),
            )
        } else if path.ends_with("/rollback") {
            Some(json!({ "version_id": orrery_domain::PromptVersionId::new() }))
        } else if path.ends_with("/delist") {
            Some(json!({ "reason": "It copies another seller's agent." }))
        } else if path == "/v1/admin/releases" {
            Some(json!({ "version": "9.9.9", "channel": "stable" }))
        } else if path.ends_with("/rollout") {
            Some(json!({ "rollout_percent": 50 }))
        } else if path.ends_with("/seal") {
            Some(json!({ "signature": "c2lnbmF0dXJl" }))
        } else {
            None
        };
        for (who, token, expected) in &callers {
            let (status, answer) = call(
                &server,
                endpoint.method.clone(),
                &path,
                *token,
                body.clone(),
            )
            .await;
            assert!(
                expected.contains(&status.as_u16()),
                "{} {path} with {who}: {status} {answer}",
                endpoint.method
            );
            assert!(
                answer["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{} {path} with {who}: no reason: {answer}",
                endpoint.method
            );
        }
    }

    // Nothing changed: users, plans and the log are as they were.
    let users_after = store
        .search_users(
            &orrery_store::UserSearch {
                limit: 100,
                ..Default::default()
            },
            server.clock_now(),
        )
        .await
        .unwrap();
    assert_eq!(users_after, users_before);
    assert_eq!(store.list_plans().await.unwrap(), plans_before);
    let entries_after = store
        .audit_log(&orrery_store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries_after, entries_before);
    // And the admin does reach every route.
    let (status, page) = call(
        &server,
        Method::GET,
        "/v1/admin/users",
        Some(&admin.access_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 3);
}

#[tokio::test]
async fn suspended_user_is_locked_out_at_once() {
    let server = TestServer::start().await.unwrap();
    let admin = register(&server, "operator@orrery.test").await;
    let member = register(&server, "member@orrery.test").await;
    set_plan(&server, &member, "pro").await;
    let key = api_key(&server, &member).await;
    let accounts = server.accounts();
    accounts.me(&member.access_token).await.unwrap();
    accounts.me(&key).await.unwrap();
    let mut feed = LiveFeed::connect(&server.url(), &member.access_token)
        .await
        .unwrap();

    let user = format!("/v1/admin/users/{}", member.account.id);
    let (status, changed) = call(
        &server,
        Method::POST,
        &format!("{user}/suspend"),
        Some(&admin.access_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["user"]["status"], "suspended");

    // Right after: the access token, the API key, the refresh token, a new
    // live feed and a new sign-in are all refused, and the open feed closes.
    for credential in [&member.access_token, &key] {
        let (status, _) = call(&server, Method::GET, "/v1/me", Some(credential), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert!(accounts.refresh(&member.refresh_token).await.is_err());
    assert!(
        LiveFeed::connect(&server.url(), &member.access_token)
            .await
            .is_err()
    );
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), feed.next())
        .await
        .expect("the open feed closed at once");
    assert!(matches!(closed, Ok(None) | Err(_)), "{closed:?}");
    let (status, refused) = call(
        &server,
        Method::POST,
        "/v1/auth/sign-in",
        None,
        Some(json!({ "email": "member@orrery.test", "password": TEST_PASSWORD })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("suspended"));
    // The list shows them as suspended.
    let (_, listed) = call(
        &server,
        Method::GET,
        "/v1/admin/users?status=suspended",
        Some(&admin.access_token),
        None,
    )
    .await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["users"][0]["email"], "member@orrery.test");

    // Reactivation restores sign-in, and the API key works again.
    let (status, changed) = call(
        &server,
        Method::POST,
        &format!("{user}/reactivate"),
        Some(&admin.access_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let session = accounts
        .sign_in("member@orrery.test", TEST_PASSWORD, "laptop")
        .await
        .unwrap();
    accounts.me(&session.access_token).await.unwrap();
    accounts.me(&key).await.unwrap();
    // The sessions suspension ended stay ended.
    assert!(accounts.me(&member.access_token).await.is_err());
    LiveFeed::connect(&server.url(), &session.access_token)
        .await
        .unwrap();
    // The admin sees the user whole: one device signed in again, the key,
    // usage against the plan, and the two actions just taken.
    let (status, detail) = call(&server, Method::GET, &user, Some(&admin.access_token), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["status"], "trialing", "new accounts start a trial");
    assert_eq!(detail["devices"].as_array().unwrap().len(), 1, "{detail}");
    assert_eq!(detail["api_keys"], 1);
    assert!(
        detail["usage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|metric| metric["metric"] == "api_calls" && metric["used"].as_u64() >= Some(2)),
        "{detail}"
    );
    let actions: Vec<&str> = detail["recent_admin_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.reactivate", "user.suspend"]);
    assert!(!detail.to_string().contains(&session.access_token));

    // An admin cannot suspend themselves (nor the last admin be suspended).
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("/v1/admin/users/{}/suspend", admin.account.id),
        Some(&admin.access_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn admin_inputs_are_checked_and_paging_past_the_end_is_empty() {
    let server = TestServer::start().await.unwrap();
    let admin = register(&server, "operator@orrery.test").await;
    for index in 0..4 {
        register(&server, &format!("user{index}@orrery.test")).await;
    }
    let token = Some(admin.access_token.as_str());
    let long = "x".repeat(10_000);
    let (_, plans) = call(&server, Method::GET, "/v1/plans", None, None).await;
    let pro = plans
        .as_array()
        .unwrap()
        .iter()
        .find(|plan| plan["key"] == "pro")
        .unwrap()
        .clone();
    let with = |field: &str, value: Value| {
        let mut plan = pro.clone();
        plan[field] = value;
        Some(plan)
    };
    let mut negative_limit = pro.clone();
    negative_limit["limits"]["runs"] = json!(-1);
    for (method, path, body) in [
        (
            Method::PUT,
            "/v1/admin/plans/pro".to_owned(),
            with("currency", json!("US$")),
        ),
        (
            Method::PUT,
            "/v1/admin/plans/pro".to_owned(),
            with("currency", json!("")),
        ),
        (
            Method::PUT,
            "/v1/admin/plans/pro".to_owned(),
            with("price_cents", json!(-100)),
        ),
        (
            Method::PUT,
            "/v1/admin/plans/pro".to_owned(),
            Some(negative_limit),
        ),
        (
            Method::GET,
            "/v1/admin/users?plan=platinum".to_owned(),
            None,
        ),
        (Method::GET, "/v1/admin/users?role=owner".to_owned(), None),
        (
            Method::GET,
            "/v1/admin/users?status=asleep".to_owned(),
            None,
        ),
        (
            Method::GET,
            "/v1/admin/users?sort=password".to_owned(),
            None,
        ),
        (Method::GET, "/v1/admin/users?page=0".to_owned(), None),
        (
            Method::GET,
            "/v1/admin/users?per_page=1000".to_owned(),
            None,
        ),
        (Method::GET, "/v1/admin/users?page=-1".to_owned(), None),
        (Method::GET, "/v1/admin/users?evil=1".to_owned(), None),
        (Method::GET, format!("/v1/admin/users?query={long}"), None),
        (Method::GET, "/v1/admin/users/42".to_owned(), None),
        (
            Method::GET,
            "/v1/admin/audit-log?actor=someone".to_owned(),
            None,
        ),
        (
            Method::GET,
            "/v1/admin/audit-log?action=user.obliterate".to_owned(),
            None,
        ),
        (
            Method::PUT,
            format!("/v1/admin/users/{}/plan", admin.account.id),
            Some(json!({ "plan": "platinum" })),
        ),
        (
            Method::PUT,
            format!("/v1/admin/users/{}/role", admin.account.id),
            Some(json!({ "role": "superuser" })),
        ),
        (
            Method::PUT,
            format!("/v1/admin/users/{}/trial", admin.account.id),
            Some(json!({ "ends_at": "2001-01-01T00:00:00Z" })),
        ),
        (
            Method::PUT,
            format!("/v1/admin/users/{}/trial", admin.account.id),
            Some(json!({ "ends_at": "next tuesday" })),
        ),
        (
            Method::PUT,
            format!("/v1/admin/users/{}/trial", admin.account.id),
            Some(json!({ "ends_at": "2999-01-01T00:00:00Z" })),
        ),
        (
            Method::PUT,
            "/v1/admin/users/not-a-uuid/plan".to_owned(),
            Some(json!({ "plan": "pro" })),
        ),
        (
            Method::PUT,
            format!("/v1/admin/users/{}/plan", Uuid::now_v7()),
            Some(json!({ "plan": "pro" })),
        ),
        (
            Method::PUT,
            format!("/v1/admin/users/{}/plan", admin.account.id),
            Some(json!({ "plan": "pro", "role": "admin" })),
        ),
    ] {
        let (status, answer) = call(&server, method.clone(), &path, token, body).await;
        assert!(
            status.is_client_error(),
            "{method} {}: {status} {answer}",
            &path[..path.len().min(80)]
        );
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(
        audit(&server, &admin.access_token, "").await["total"],
        0,
        "refused input changed nothing"
    );

    // Search by part of an address, any case; paging; past the end is empty.
    let (_, found) = call(
        &server,
        Method::GET,
        "/v1/admin/users?query=USER2",
        token,
        None,
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");
    let (_, found) = call(
        &server,
        Method::GET,
        "/v1/admin/users?query=%25",
        token,
        None,
    )
    .await;
    assert_eq!(found["total"], 0, "a wildcard is a character: {found}");
    let (_, page) = call(
        &server,
        Method::GET,
        "/v1/admin/users?sort=email&order=asc&per_page=2&page=2",
        token,
        None,
    )
    .await;
    let emails: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["user1@orrery.test", "user2@orrery.test"]);
    assert_eq!(page["total"], 5);
    let (status, past) = call(&server, Method::GET, "/v1/admin/users?page=99", token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(past["users"], json!([]));
    assert_eq!(past["total"], 5);
    let (_, admins) = call(
        &server,
        Method::GET,
        "/v1/admin/users?role=admin",
        token,
        None,
    )
    .await;
    assert_eq!(admins["total"], 1);
    // New accounts are in their trial.
    let (_, trialing) = call(
        &server,
        Method::GET,
        "/v1/admin/users?status=trialing",
        token,
        None,
    )
    .await;
    assert_eq!(trialing["total"], 5, "{trialing}");
    let (_, active) = call(
        &server,
        Method::GET,
        "/v1/admin/users?status=active&plan=free",
        token,
        None,
    )
    .await;
    assert_eq!(active["total"], 0, "{active}");
}

#[tokio::test]
async fn plan_change_in_admin_applies_to_next_decision() {
    let server = TestServer::start().await.unwrap();
    let admin = register(&server, "operator@orrery.test").await;
    let member = register(&server, "member@orrery.test").await;
    let decide = || async {
        call(
            &server,
            Method::POST,
            "/v1/policy/decide",
            Some(&member.access_token),
            Some(json!({ "kind": "manage_api_keys" })),
        )
        .await
        .1
    };
    assert_eq!(
        decide().await["allowed"],
        false,
        "the free plan has no API keys"
    );
    let (status, changed) = call(
        &server,
        Method::PUT,
        &format!("/v1/admin/users/{}/plan", member.account.id),
        Some(&admin.access_token),
        Some(json!({ "plan": "pro" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["user"]["plan"], "pro");
    assert_eq!(changed["audit"]["before"]["plan"], "free");
    assert_eq!(changed["audit"]["after"]["plan"], "pro");
    assert_eq!(
        decide().await["allowed"],
        true,
        "the next decision, with the same token, sees the new plan"
    );
    // And back.
    call(
        &server,
        Method::PUT,
        &format!("/v1/admin/users/{}/plan", member.account.id),
        Some(&admin.access_token),
        Some(json!({ "plan": "free" })),
    )
    .await;
    assert_eq!(decide().await["allowed"], false);
}

/// Every admin action of one run, on one server; returns the admin's token.
async fn admin_actions_leave_one_entry_each(server: &TestServer) -> String {
    let admin = register(server, "operator@orrery.test").await;
    let member = register(server, "member@orrery.test").await;
    let token = admin.access_token.clone();
    let user = format!("/v1/admin/users/{}", member.account.id);
    let plans: Vec<Value> = reqwest::get(format!("{}/v1/plans", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let trial_end = (server.clock_now() + chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut free = plans[0].clone();
    free["name"] = json!("Free, edited");
    let steps = [
        (
            Method::PUT,
            format!("{user}/plan"),
            Some(json!({ "plan": "pro" })),
            "user.plan",
        ),
        (
            Method::PUT,
            format!("{user}/role"),
            Some(json!({ "role": "admin" })),
            "user.role",
        ),
        (
            Method::PUT,
            format!("{user}/role"),
            Some(json!({ "role": "user" })),
            "user.role",
        ),
        (
            Method::POST,
            format!("{user}/suspend"),
            None,
            "user.suspend",
        ),
        (
            Method::POST,
            format!("{user}/reactivate"),
            None,
            "user.reactivate",
        ),
        (
            Method::PUT,
            format!("{user}/trial"),
            Some(json!({ "ends_at": trial_end })),
            "user.trial",
        ),
        (
            Method::PUT,
            format!("{user}/trial"),
            Some(json!({ "ends_at": null })),
            "user.trial",
        ),
        (
            Method::POST,
            format!("{user}/sessions/revoke"),
            None,
            "user.sessions.revoke",
        ),
        (
            Method::PUT,
            "/v1/admin/plans/free".to_owned(),
            Some(free),
            "plan.put",
        ),
    ];
    for (index, (method, path, body, action)) in steps.iter().enumerate() {
        if *action == "user.sessions.revoke" {
            // Signed in again (suspension ended every session), so signing
            // out everywhere ends something.
            server
                .accounts()
                .sign_in("member@orrery.test", TEST_PASSWORD, "desktop")
                .await
                .unwrap();
        }
        let (status, answer) = call(server, method.clone(), path, Some(&token), body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        let page = audit(server, &token, "").await;
        assert_eq!(page["total"], index + 1, "one entry per action: {page}");
        let entry = &page["entries"][0];
        assert_eq!(entry["action"], *action);
        assert_eq!(entry["actor_id"], admin.account.id);
        assert_eq!(entry["actor_email"], "operator@orrery.test");
        assert_eq!(entry["address"], "127.0.0.1");
        assert!(
            !entry["before"].is_null() && !entry["after"].is_null(),
            "{entry}"
        );
        assert_ne!(entry["before"], entry["after"], "{entry}");
    }
    let page = audit(server, &token, "?per_page=100").await;
    let text = page.to_string();
    for secret in [
        admin.access_token.as_str(),
        admin.refresh_token.as_str(),
        member.access_token.as_str(),
        member.refresh_token.as_str(),
        TEST_PASSWORD,
        "argon2",
    ] {
        assert!(!text.contains(secret), "the audit log holds a secret");
    }
    let filtered = audit(
        server,
        &token,
        &format!("?target={}&action=user.role", member.account.id),
    )
    .await;
    assert_eq!(filtered["total"], 2);
    assert_eq!(
        audit(server, &token, &format!("?actor={}", member.account.id)).await["total"],
        0
    );
    assert_eq!(chain(server, &token).await["chain"], "intact");
    token
}

/// A direct UPDATE and DELETE on the log fail on this database.
async fn direct_changes_fail(store_pool: &mut sqlx::AnyConnection) {
    use sqlx::Executor;
    for statement in [
        "UPDATE audit_log SET after_json = '{}' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 3",
        "DELETE FROM audit_log",
    ] {
        let refused = store_pool.execute(statement).await;
        let error = refused.expect_err(statement).to_string();
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
}

#[tokio::test]
async fn audit_log_is_append_only() {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    // SQLite (whatever database other tests' servers run on).
    let directory = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(
        Some(DatabaseLocation::Sqlite(directory.path().join("audit.db"))),
        |_| {},
    )
    .await
    .unwrap();
    let token = admin_actions_leave_one_entry_each(&server).await;
    let url = format!("sqlite://{}", directory.path().join("audit.db").display());
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    direct_changes_fail(&mut connection).await;
    assert_eq!(chain(&server, &token).await["chain"], "intact");
    // Someone who drops the trigger can edit an entry, but not unnoticed.
    connection
        .execute("DROP TRIGGER audit_log_no_update")
        .await
        .unwrap();
    connection
        .execute(r#"UPDATE audit_log SET after_json = '{"plan":"enterprise"}' WHERE seq = 1"#)
        .await
        .unwrap();
    let check = chain(&server, &token).await;
    assert_eq!(check["chain"], "broken", "{check}");
    assert_eq!(check["seq"], 1);

    // PostgreSQL.
    let postgres = PostgresServer::start().unwrap();
    let url = postgres.database("audit").await.unwrap();
    let server = TestServer::start_on(Some(DatabaseLocation::Postgres(url.clone())), |_| {})
        .await
        .unwrap();
    let token = admin_actions_leave_one_entry_each(&server).await;
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    direct_changes_fail(&mut connection).await;
    assert!(
        connection
            .execute("TRUNCATE audit_log")
            .await
            .unwrap_err()
            .to_string()
            .contains("append-only")
    );
    connection
        .execute("DROP TRIGGER audit_log_no_delete ON audit_log")
        .await
        .unwrap();
    connection
        .execute("DELETE FROM audit_log WHERE seq = 3")
        .await
        .unwrap();
    let check = chain(&server, &token).await;
    assert_eq!(check["chain"], "broken", "{check}");
    assert_eq!(check["seq"], 3, "{check}");
    let store = server.store().await.unwrap();
    assert!(matches!(
        store.verify_audit_chain().await.unwrap(),
        ChainCheck::Broken { seq: 3, .. }
    ));
}

/// Two admins acting on one user at once, many times, on PostgreSQL with two
/// server instances and on SQLite: every action is recorded once, the chain
/// never forks, and the user ends in a state one of them asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_admins_keep_one_chain() {
    let postgres = PostgresServer::start().unwrap();
    let url = postgres.database("concurrent").await.unwrap();
    let first = TestServer::start_on(Some(DatabaseLocation::Postgres(url.clone())), |_| {})
        .await
        .unwrap();
    let second = TestServer::start_on(Some(DatabaseLocation::Postgres(url)), |_| {})
        .await
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let sqlite = TestServer::start_on(
        Some(DatabaseLocation::Sqlite(directory.path().join("server.db"))),
        |_| {},
    )
    .await
    .unwrap();
    for (one, other) in [(&first, &second), (&sqlite, &sqlite)] {
        let admin = register(one, "operator@orrery.test").await;
        let deputy = register(one, "deputy@orrery.test").await;
        let member = register(one, "member@orrery.test").await;
        let user = format!("/v1/admin/users/{}", member.account.id);
        call(
            one,
            Method::PUT,
            &format!("/v1/admin/users/{}/role", deputy.account.id),
            Some(&admin.access_token),
            Some(json!({ "role": "admin" })),
        )
        .await;
        const ROUNDS: usize = 10;
        let mut tasks = Vec::new();
        for round in 0..ROUNDS {
            for (server, token) in [(one, &admin.access_token), (other, &deputy.access_token)] {
                let (method, path, body) = match round % 3 {
                    0 => (Method::POST, format!("{user}/suspend"), None),
                    1 => (Method::POST, format!("{user}/reactivate"), None),
                    _ => (
                        Method::PUT,
                        format!("{user}/plan"),
                        Some(
                            json!({ "plan": if token == &admin.access_token { "pro" } else { "enterprise" } }),
                        ),
                    ),
                };
                let (url, token) = (server.url(), token.clone());
                tasks.push(tokio::spawn(async move {
                    let mut request = reqwest::Client::new()
                        .request(method, format!("{url}{path}"))
                        .bearer_auth(token);
                    if let Some(body) = body {
                        request = request.json(&body);
                    }
                    request.send().await.unwrap().status()
                }));
            }
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), StatusCode::OK);
        }
        let page = audit(one, &admin.access_token, "?per_page=100").await;
        assert_eq!(page["total"], 1 + 2 * ROUNDS, "every action recorded once");
        assert_eq!(chain(one, &admin.access_token).await["chain"], "intact");
        let seqs: Vec<i64> = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(
            seqs,
            (1..=(1 + 2 * ROUNDS) as i64).rev().collect::<Vec<_>>()
        );
        // The user's state is what the last entry says it is.
        let (_, shown) = call(one, Method::GET, &user, Some(&admin.access_token), None).await;
        let last = &page["entries"][0]["after"];
        assert_eq!(shown["plan"], last["plan"]);
        assert_eq!(shown["status"] == "suspended", last["suspended"] == true);
    }
}

/// Two admins taking each other's admin role at the same moment, through two
/// instances on PostgreSQL and on SQLite: the rule "never no active admin"
/// holds, one change wins, the other is refused and leaves no entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_admins_demoting_each_other_leave_one() {
    let postgres = PostgresServer::start().unwrap();
    let url = postgres.database("demote").await.unwrap();
    let first = TestServer::start_on(Some(DatabaseLocation::Postgres(url.clone())), |_| {})
        .await
        .unwrap();
    let second = TestServer::start_on(Some(DatabaseLocation::Postgres(url)), |_| {})
        .await
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let sqlite = TestServer::start_on(
        Some(DatabaseLocation::Sqlite(directory.path().join("server.db"))),
        |_| {},
    )
    .await
    .unwrap();
    for (one, other) in [(&first, &second), (&sqlite, &sqlite)] {
        let admin = register(one, "operator@orrery.test").await;
        let deputy = register(one, "deputy@orrery.test").await;
        let (status, _) = call(
            one,
            Method::PUT,
            &format!("/v1/admin/users/{}/role", deputy.account.id),
            Some(&admin.access_token),
            Some(json!({ "role": "admin" })),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let demote = |server: &TestServer, token: &str, target: &str| {
            let (url, token) = (
                format!("{}/v1/admin/users/{target}/role", server.url()),
                token.to_owned(),
            );
            tokio::spawn(async move {
                reqwest::Client::new()
                    .put(url)
                    .bearer_auth(token)
                    .json(&json!({ "role": "user" }))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        };
        let by_admin = demote(one, &admin.access_token, &deputy.account.id);
        let by_deputy = demote(other, &deputy.access_token, &admin.account.id);
        let mut statuses = [by_admin.await.unwrap(), by_deputy.await.unwrap()];
        statuses.sort();
        // The second to run is refused: by the engine (no longer an admin)
        // or by the last-admin rule.
        assert_eq!(statuses[0], StatusCode::OK, "{statuses:?}");
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::CONFLICT].contains(&statuses[1]),
            "{statuses:?}"
        );
        let store = one.store().await.unwrap();
        let admins = store
            .search_users(
                &orrery_store::UserSearch {
                    role: Some(orrery_store::Role::Admin),
                    limit: 10,
                    ..Default::default()
                },
                one.clock_now(),
            )
            .await
            .unwrap();
        assert_eq!(admins.total, 1, "{admins:?}");
        let entries = store
            .audit_log(&orrery_store::AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(entries.total, 2, "the promotion and one demotion");
        assert!(matches!(
            store.verify_audit_chain().await.unwrap(),
            ChainCheck::Intact { entries: 2, .. }
        ));
    }
}

#[tokio::test]
async fn tenants_are_listed_with_their_members_and_usage() {
    let server = TestServer::start().await.unwrap();
    let admin = register(&server, "operator@orrery.test").await;
    let grace = register(&server, "grace@orrery.test").await;
    register(&server, "ada@orrery.test").await;
    let store = server.store().await.unwrap();
    let now = server.clock_now();
    let period = format!("{}", now.format("%Y-%m"));
    store
        .add_usage(
            grace.account.tenant_id.parse().unwrap(),
            grace.account.id.parse().unwrap(),
            orrery_domain::policy::Metric::Runs,
            &period,
            12,
        )
        .await
        .unwrap();
    let token = Some(admin.access_token.as_str());
    let (status, page) = call(&server, Method::GET, "/v1/admin/tenants", token, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 3);
    assert_eq!(page["period"], period);
    // Newest first.
    assert_eq!(page["tenants"][0]["members"][0]["email"], "ada@orrery.test");
    let (_, found) = call(
        &server,
        Method::GET,
        "/v1/admin/tenants?query=GRACE",
        token,
        None,
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");
    let tenant = &found["tenants"][0];
    assert_eq!(tenant["id"], grace.account.tenant_id);
    assert_eq!(tenant["members"][0]["id"], grace.account.id);
    assert_eq!(tenant["runs"], 12);
    assert_eq!(tenant["graphs"], 0);
    let (_, past) = call(
        &server,
        Method::GET,
        "/v1/admin/tenants?page=9",
        token,
        None,
    )
    .await;
    assert_eq!(past["tenants"], json!([]));
    assert_eq!(past["total"], 3);
    // A team is a tenant too, listed with its members and found by theirs.
    let team: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/teams", server.url()))
        .bearer_auth(&grace.access_token)
        .json(&json!({ "name": "Grace's lab" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, teams) = call(
        &server,
        Method::GET,
        "/v1/admin/tenants?query=lab",
        token,
        None,
    )
    .await;
    assert_eq!(teams["total"], 1, "{teams}");
    assert_eq!(teams["tenants"][0]["id"], team["id"]);
    assert_eq!(
        teams["tenants"][0]["members"][0]["email"],
        "grace@orrery.test"
    );
    let (_, by_member) = call(
        &server,
        Method::GET,
        "/v1/admin/tenants?query=grace@",
        token,
        None,
    )
    .await;
    assert_eq!(
        by_member["total"], 2,
        "her own tenant and her team: {by_member}"
    );
    for bad in ["/v1/admin/tenants?page=0", "/v1/admin/tenants?sort=name"] {
        let (status, _) = call(&server, Method::GET, bad, token, None).await;
        assert!(status.is_client_error(), "{bad}: {status}");
    }
    let (status, _) = call(
        &server,
        Method::GET,
        "/v1/admin/tenants",
        Some(&grace.access_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn published_prompts_are_listed_and_rolled_back() {
    let server = TestServer::start().await.unwrap();
    let admin = register(&server, "operator@orrery.test").await;
    let writer = orrery_e2e::TestDevice::register(&server, "laptop")
        .await
        .unwrap();
    let other = register(&server, "other@orrery.test").await;
    let token = Some(admin.access_token.as_str());

    // The writer publishes v1, then v2; v3 stays a draft.
    let prompt = writer
        .replica
        .save_prompt(&orrery_domain::Prompt::new("Trip planner"))
        .await
        .unwrap();
    let v1 = writer
        .replica
        .add_prompt_version(prompt.id, "Plan a trip to {{city}}.")
        .await
        .unwrap();
    let v2 = writer
        .replica
        .add_prompt_version(prompt.id, "Plan a {{days}}-day trip to {{city}}.")
        .await
        .unwrap();
    let v3 = writer
        .replica
        .add_prompt_version(prompt.id, "Draft: plan badly.")
        .await
        .unwrap();
    writer
        .replica
        .publish_prompt_version(prompt.id, v1.id)
        .await
        .unwrap();
    writer.client.sync_all(&writer.replica).await.unwrap();
    writer
        .replica
        .publish_prompt_version(prompt.id, v2.id)
        .await
        .unwrap();
    writer.client.sync_all(&writer.replica).await.unwrap();

    let (status, page) = call(&server, Method::GET, "/v1/admin/prompts", token, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 2, "drafts are not listed: {page}");
    let listed = page["versions"].as_array().unwrap();
    assert_eq!(listed[0]["version_id"], v2.id.to_string());
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(listed[0]["title"], "Trip planner");
    assert_eq!(listed[0]["published_by_email"], orrery_e2e::OWNER_EMAIL);
    assert_eq!(listed[0]["tenant_id"], writer.session.account.tenant_id);
    assert_eq!(listed[1]["version_id"], v1.id.to_string());
    assert_eq!(listed[1]["status"], "archived");
    assert_eq!(listed[1]["content"], "Plan a trip to {{city}}.");
    let (_, found) = call(
        &server,
        Method::GET,
        "/v1/admin/prompts?query=DAYS%7D%7D",
        token,
        None,
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["versions"][0]["version_id"], v2.id.to_string());

    let tenant = writer.session.account.tenant_id.clone();
    let rollback = format!("/v1/admin/prompts/{tenant}/{}/rollback", prompt.id);
    // Each refused with its reason, nothing changed.
    let refused = [
        (
            rollback.clone(),
            json!({ "version_id": v3.id }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            rollback.clone(),
            json!({ "version_id": v2.id }),
            StatusCode::CONFLICT,
        ),
        (
            rollback.clone(),
            json!({ "version_id": orrery_domain::PromptVersionId::new() }),
            StatusCode::NOT_FOUND,
        ),
        (
            rollback.clone(),
            json!({ "version_id": "v1; DROP TABLE" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            rollback.clone(),
            json!({ "version": v1.id }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/v1/admin/prompts/not-a-tenant/{}/rollback", prompt.id),
            json!({ "version_id": v1.id }),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(
                "/v1/admin/prompts/{}/{}/rollback",
                other.account.tenant_id, prompt.id
            ),
            json!({ "version_id": v1.id }),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, body, expected) in refused {
        let (status, answer) = call(&server, Method::POST, &path, token, Some(body.clone())).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|reason| !reason.is_empty()),
            "{answer}"
        );
    }
    let (status, _) = call(
        &server,
        Method::POST,
        &rollback,
        Some(&writer.session.access_token),
        Some(json!({ "version_id": v1.id })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a member cannot roll back");
    let (_, unchanged) = call(&server, Method::GET, "/v1/admin/prompts", token, None).await;
    assert_eq!(unchanged, page, "refused rollbacks changed nothing");

    // The writer's device hears of the rollback, a minute later, on its live feed.
    server.clock.advance(chrono::Duration::minutes(1));
    let mut feed = LiveFeed::connect(&server.url(), writer.token())
        .await
        .unwrap();
    let (status, rolled) = call(
        &server,
        Method::POST,
        &rollback,
        token,
        Some(json!({ "version_id": v1.id })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    assert_eq!(rolled["version_id"], v1.id.to_string());
    assert_eq!(rolled["previous_version_id"], v2.id.to_string());
    assert_eq!(rolled["audit"]["action"], "prompt.rollback");
    assert_eq!(
        rolled["audit"]["before"]["active_version"],
        v2.id.to_string()
    );
    assert_eq!(
        rolled["audit"]["after"]["active_version"],
        v1.id.to_string()
    );
    let heard = tokio::time::timeout(std::time::Duration::from_secs(20), feed.next())
        .await
        .expect("the feed spoke")
        .unwrap()
        .expect("a change");
    assert!(
        format!("{heard:?}").contains(&prompt.id.to_string()),
        "{heard:?}"
    );
    writer.client.sync_all(&writer.replica).await.unwrap();
    let synced = writer.replica.prompt(prompt.id).await.unwrap();
    assert_eq!(synced.active_version().unwrap().id, v1.id);
    assert_eq!(
        synced.version(v2.id).unwrap().status,
        orrery_domain::VersionStatus::Archived
    );

    let (_, after) = call(&server, Method::GET, "/v1/admin/prompts", token, None).await;
    assert_eq!(after["total"], 2);
    assert_eq!(after["versions"][0]["version_id"], v1.id.to_string());
    assert_eq!(after["versions"][0]["status"], "active");
    assert_eq!(
        after["versions"][0]["published_by_email"],
        "operator@orrery.test"
    );
    assert_eq!(after["versions"][1]["version_id"], v2.id.to_string());
    assert_eq!(
        after["versions"][1]["published_by_email"],
        orrery_e2e::OWNER_EMAIL
    );
    let entries = audit(&server, &admin.access_token, "?action=prompt.rollback").await;
    assert_eq!(entries["total"], 1, "{entries}");
    assert_eq!(chain(&server, &admin.access_token).await["chain"], "intact");
}

#[tokio::test]
async fn prompts_stored_before_the_version_table_are_listed_after_a_restart() {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let directory = tempfile::tempdir().unwrap();
    let location = DatabaseLocation::Sqlite(directory.path().join("server.db"));
    let server = TestServer::start_on(Some(location.clone()), |_| {})
        .await
        .unwrap();
    let admin = register(&server, "operator@orrery.test").await;
    let writer = orrery_e2e::TestDevice::register(&server, "laptop")
        .await
        .unwrap();
    let prompt = writer
        .replica
        .save_prompt(&orrery_domain::Prompt::new("Release notes"))
        .await
        .unwrap();
    let version = writer
        .replica
        .add_prompt_version(prompt.id, "Summarise {{changes}}.")
        .await
        .unwrap();
    writer
        .replica
        .publish_prompt_version(prompt.id, version.id)
        .await
        .unwrap();
    writer.client.sync_all(&writer.replica).await.unwrap();
    // As a server before the table existed had it: no rows.
    let url = format!("sqlite://{}", directory.path().join("server.db").display());
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM prompt_versions")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query("DELETE FROM server_facts WHERE fact = 'prompt_versions_materialised'")
        .execute(&mut connection)
        .await
        .unwrap();
    drop(connection);
    let token = Some(admin.access_token.as_str());
    let (_, empty) = call(&server, Method::GET, "/v1/admin/prompts", token, None).await;
    assert_eq!(empty["total"], 0, "{empty}");

    let restarted = TestServer::start_on(Some(location), |_| {}).await.unwrap();
    let (status, page) = call(&restarted, Method::GET, "/v1/admin/prompts", token, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["versions"][0]["version_id"], version.id.to_string());
    assert_eq!(page["versions"][0]["status"], "active");
    assert_eq!(
        page["versions"][0]["published_by"],
        Value::Null,
        "who published it is not known"
    );
}
