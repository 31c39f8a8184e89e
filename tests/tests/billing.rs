//! Plans and the access policy engine on the server: metered actions are
//! counted only when the engine allows them, atomically.

use std::sync::Arc;

use orrery_domain::policy::Metric;
use orrery_e2e::{TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

#[tokio::test]
async fn policy_denies_over_limit_concurrently() {
    let server = TestServer::start().await.unwrap();
    let session = server
        .accounts()
        .register("busy@orrery.test", TEST_PASSWORD, "Busy", "laptop")
        .await
        .unwrap();
    let (tenant, user) = (
        session.account.tenant_id.parse().unwrap(),
        session.account.id.parse().unwrap(),
    );
    let store = server.store().await.unwrap();
    store.set_plan(tenant, user, "pro").await.unwrap();
    let limit = store
        .plan("pro")
        .await
        .unwrap()
        .unwrap()
        .limits
        .api_calls
        .unwrap();
    let created: Value = reqwest::Client::new()
        .post(format!("{}/v1/api-keys", server.url()))
        .bearer_auth(&session.access_token)
        .json(&json!({ "name": "load" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = Arc::new(created["key"].as_str().unwrap().to_owned());

    // One API call left this month.
    let period = server.clock_now().format("%Y-%m").to_string();
    assert!(
        store
            .add_usage_if_unchanged(
                tenant,
                user,
                &period,
                &[(Metric::ApiCalls, 0, limit - 1)],
                &[],
                None
            )
            .await
            .unwrap()
    );

    let calls: Vec<_> = (0..50)
        .map(|_| {
            let (key, url) = (key.clone(), server.url());
            tokio::spawn(async move {
                let response = reqwest::Client::new()
                    .get(format!("{url}/v1/me"))
                    .bearer_auth(key.as_str())
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|value| value.to_str().unwrap().to_owned());
                (status, retry_after, response.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let succeeded = answers.iter().filter(|(status, ..)| *status == 200).count();
    assert_eq!(succeeded, 1, "exactly one call fits under the limit");
    for (status, retry_after, body) in answers.iter().filter(|(status, ..)| *status != 200) {
        assert_eq!(*status, 429, "{body}");
        assert_eq!(body["error"], "limit_reached");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("limit reached"), "{message}");
        assert!(
            message.contains(&format!("allows {limit} API calls per month")),
            "{message}"
        );
        assert!(message.contains("resets at"), "{message}");
        assert_eq!(body["limits"][0]["limit"], limit);
        assert!(body["limits"][0]["resets_at"].as_str().is_some());
        let seconds: u64 = retry_after
            .as_deref()
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!(seconds > 0 && seconds <= 31 * 86_400);
    }
    let usage: Value = reqwest::Client::new()
        .get(format!("{}/v1/usage", server.url()))
        .bearer_auth(&session.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_calls = usage["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "api_calls")
        .unwrap();
    assert_eq!(
        api_calls["used"], limit,
        "the counter stopped exactly at the limit: {usage}"
    );

    // A new month starts the count again.
    server.clock.advance(chrono::Duration::days(32));
    let response = reqwest::Client::new()
        .get(format!("{}/v1/me", server.url()))
        .bearer_auth(key.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn plans_are_listed_and_features_outside_the_plan_are_refused_by_the_engine() {
    let server = TestServer::start().await.unwrap();
    let plans: Vec<Value> = reqwest::get(format!("{}/v1/plans", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Vec<_> = plans
        .iter()
        .map(|plan| plan["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["free", "pro", "enterprise"]);
    assert_eq!(plans[1]["price_cents"], 1900);
    let session = server
        .accounts()
        .register("free@orrery.test", TEST_PASSWORD, "Free", "laptop")
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/api-keys", server.url()))
        .bearer_auth(&session.access_token)
        .json(&json!({ "name": "nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_in_plan");
    assert_eq!(
        body["message"],
        "API keys are not part of the Free plan; upgrade to Pro to create them"
    );
}

#[tokio::test]
async fn graph_and_node_limits_are_enforced_at_sync() {
    let server = TestServer::start().await.unwrap();
    let device = orrery_e2e::TestDevice::signed_in(&server, "maker@orrery.test", "laptop")
        .await
        .unwrap();
    let free = server
        .store()
        .await
        .unwrap()
        .plan("free")
        .await
        .unwrap()
        .unwrap();
    let (max_graphs, max_nodes) = (
        free.limits.graphs.unwrap(),
        free.limits.nodes_per_graph.unwrap(),
    );

    // One node over the plan's nodes per graph: refused, nothing stored, the edit stays local.
    let big = device
        .replica
        .add_graph(orrery_domain::sample_graph(
            "Too big",
            max_nodes as usize + 1,
            1,
        ))
        .await
        .unwrap();
    let error = device
        .client
        .sync_graph(&device.replica, big.id)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, orrery_sync::SyncError::Server { status: 429, .. }),
        "{error:?}"
    );
    assert!(
        message.contains(&format!("allows {max_nodes} nodes in one graph")),
        "{message}"
    );
    assert!(device.client.remote_graphs().await.unwrap().is_empty());
    assert!(
        device.replica.list_graphs().await.unwrap()[0].pending_changes > 0,
        "the local edit is kept"
    );

    // Graphs up to the limit sync; the next one is refused with the count.
    for n in 0..max_graphs {
        let graph = device
            .replica
            .add_graph(orrery_domain::sample_graph(&format!("G{n}"), 3, n))
            .await
            .unwrap();
        device
            .client
            .sync_graph(&device.replica, graph.id)
            .await
            .unwrap();
    }
    let extra = device
        .replica
        .add_graph(orrery_domain::sample_graph("One too many", 3, 99))
        .await
        .unwrap();
    let error = device
        .client
        .sync_graph(&device.replica, extra.id)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("allows {max_graphs} graphs")),
        "{error}"
    );
    assert_eq!(
        device.client.remote_graphs().await.unwrap().len() as u64,
        max_graphs
    );
}

#[tokio::test]
async fn admins_define_plans_and_the_engine_applies_them_at_once() {
    let server = TestServer::start().await.unwrap();
    let admin = server
        .accounts()
        .register("operator@orrery.test", TEST_PASSWORD, "Operator", "laptop")
        .await
        .unwrap();
    let user = server
        .accounts()
        .register("member@orrery.test", TEST_PASSWORD, "Member", "laptop")
        .await
        .unwrap();
    assert_eq!(admin.account.role, "admin");
    let mut free: Value = reqwest::get(format!("{}/v1/plans", server.url()))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()[0]
        .clone();
    free["agents"] = json!({ "kind": "only", "agents": ["helper", "analyst"] });
    let put = |token: String, body: Value, key: &'static str| {
        let url = format!("{}/v1/admin/plans/{key}", server.url());
        async move {
            reqwest::Client::new()
                .put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        put(user.access_token.clone(), free.clone(), "free").await,
        403,
        "members cannot change plans"
    );
    assert_eq!(
        put(admin.access_token.clone(), free.clone(), "pro").await,
        422,
        "the key must match the path"
    );
    let mut priced = free.clone();
    priced["price_cents"] = json!(500);
    assert_eq!(put(admin.access_token.clone(), priced, "free").await, 422);
    let mut unknown = free.clone();
    unknown["surprise"] = json!(true);
    assert_eq!(put(admin.access_token.clone(), unknown, "free").await, 422);

    let ask = json!({ "kind": "run_agent", "agent": "analyst", "tokens": 1 });
    let decide = |token: String| {
        let (url, ask) = (format!("{}/v1/policy/decide", server.url()), ask.clone());
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&ask)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(decide(user.access_token.clone()).await["allowed"], false);
    assert_eq!(put(admin.access_token.clone(), free, "free").await, 200);
    assert_eq!(
        decide(user.access_token.clone()).await["allowed"],
        true,
        "the new plan applies at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graph_limit_holds_under_concurrent_pushes() {
    let server = TestServer::start().await.unwrap();
    let free = server
        .store()
        .await
        .unwrap()
        .plan("free")
        .await
        .unwrap()
        .unwrap();
    let max_graphs = free.limits.graphs.unwrap();
    let first = orrery_e2e::TestDevice::signed_in(&server, "racer@orrery.test", "first")
        .await
        .unwrap();
    for n in 0..max_graphs - 1 {
        let graph = first
            .replica
            .add_graph(orrery_domain::sample_graph(&format!("G{n}"), 2, n))
            .await
            .unwrap();
        first
            .client
            .sync_graph(&first.replica, graph.id)
            .await
            .unwrap();
    }
    // Twelve devices push a new graph each at once; one slot is left.
    let mut devices = Vec::new();
    for n in 0..12u64 {
        let device =
            orrery_e2e::TestDevice::signed_in(&server, "racer@orrery.test", &format!("device {n}"))
                .await
                .unwrap();
        let graph = device
            .replica
            .add_graph(orrery_domain::sample_graph(
                &format!("Race {n}"),
                2,
                100 + n,
            ))
            .await
            .unwrap();
        devices.push((device, graph.id));
    }
    let pushes = devices
        .iter()
        .map(|(device, id)| device.client.sync_graph(&device.replica, *id));
    let outcomes = futures_util::future::join_all(pushes).await;
    assert_eq!(
        outcomes.iter().filter(|outcome| outcome.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        first.client.remote_graphs().await.unwrap().len() as u64,
        max_graphs
    );
}
