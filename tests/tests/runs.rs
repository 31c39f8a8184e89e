//! Runs finished on a device reach the server through its usage ledger:
//! the real session runner meters a run's model calls (against the provider
//! double), the ledger entry syncs, the server counts each entry once —
//! sent again, or by many racing reports — in the user's usage and the event
//! log, refuses hostile reports whole, and the management window's
//! Monitoring shows the runs per day, per graph and per user.

use std::sync::Arc;

use orrery_domain::runs::{FinishedRun, RunReport};
use orrery_domain::{Graph, Node, NodeKind, Position};
use orrery_e2e::{TestDevice, TestServer};
use orrery_runtime::double::{ProviderDouble, Reply};
use orrery_runtime::{CancellationToken, ProviderKind};
use orrery_sessions::{RunMeter, SessionRunner};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

async fn post(server: &TestServer, token: &str, body: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/runs/finished", server.url()))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(server: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A graph of one agent, and the manager's plan that gives it the task.
fn one_agent_graph(name: &str) -> (Graph, String) {
    let mut graph = Graph::new(name);
    let writer = Node::new(NodeKind::Agent, "Writer", Position::new(0.0, 0.0, 0.0));
    graph.add_node(writer.clone());
    let plan = format!(
        r#"{{"steps": [{{"id": "s1", "agent": "{}", "task": "Write the line."}}], "final": ["s1"]}}"#,
        writer.id
    );
    (graph, plan)
}

async fn usage(server: &TestServer, device: &TestDevice) -> orrery_domain::policy::Usage {
    let account = &device.session.account;
    server
        .store()
        .await
        .unwrap()
        .usage(
            account.tenant_id.parse().unwrap(),
            account.id.parse().unwrap(),
            &server.clock_now().format("%Y-%m").to_string(),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finished_runs_are_counted_once_and_shown_in_monitoring() {
    let server = TestServer::start().await.unwrap();
    let admin = server
        .session_for("operator@orrery.test", "admin laptop")
        .await
        .unwrap();
    let device = TestDevice::register(&server, "laptop").await.unwrap();
    let (graph, plan) = one_agent_graph("Lisbon desk");
    device.replica.add_graph(graph.clone()).await.unwrap();

    // Two runs through the real runner, metered: one answers, one fails.
    let double = ProviderDouble::start().await.unwrap();
    double.push(Reply::text(plan.clone()).with_usage(30, 12));
    double.push(Reply::text("Lisbon, city of hills.").with_usage(50, 8));
    double.push(Reply::text(plan.clone()).with_usage(30, 12));
    double.push(Reply::status(400, "the model refused the request"));
    let (sink, meter) = RunMeter::new();
    let provider = double
        .provider(ProviderKind::OpenAiCompatible)
        .unwrap()
        .with_usage(sink);
    let runner = SessionRunner::new(device.replica.clone(), Arc::new(provider)).with_meter(meter);
    let run = |task: &'static str| {
        let runner = runner.clone();
        let graph = graph.id;
        async move {
            let (updates, _received) = tokio::sync::mpsc::unbounded_channel();
            runner
                .run(graph, task, CancellationToken::new(), updates)
                .await
        }
    };
    run("Describe Lisbon in one line.").await.unwrap();
    assert!(run("Describe Porto in one line.").await.is_err());
    let ledger = device.replica.store().finished_runs().await.unwrap();
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    let (answered, failed) = (&ledger[0], &ledger[1]);
    assert_eq!(answered.graph_id, Some(graph.id));
    assert_eq!((answered.input_tokens, answered.output_tokens), (80, 20));
    assert_eq!((answered.model_calls, answered.error.as_deref()), (2, None));
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|error| error.contains("refused")),
        "{failed:?}"
    );
    let before = usage(&server, &device).await;
    assert_eq!((before.runs, before.tokens), (0, 0));

    // The next sync reports both; the one after reports nothing new.
    let report = device.client.sync_all(&device.replica).await.unwrap();
    assert_eq!(report.runs_reported, 2);
    let tokens: u64 = ledger.iter().map(FinishedRun::tokens).sum();
    let after = usage(&server, &device).await;
    assert_eq!((after.runs, after.tokens), (2, tokens));
    assert!(
        device
            .replica
            .store()
            .unacknowledged_runs(10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        device
            .client
            .sync_all(&device.replica)
            .await
            .unwrap()
            .runs_reported,
        0
    );

    // The same report sent again — its answer lost, say — and by eight
    // racing clients at once counts nothing more.
    let report = serde_json::to_value(RunReport {
        runs: ledger.clone(),
    })
    .unwrap();
    let (status, receipt) = post(&server, device.token(), &report).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(
        (
            receipt["counted"].as_u64(),
            receipt["already_counted"].as_u64()
        ),
        (Some(0), Some(2))
    );
    let fresh = FinishedRun {
        id: Uuid::now_v7(),
        ..ledger[0].clone()
    };
    let racing = serde_json::to_value(RunReport {
        runs: vec![fresh.clone()],
    })
    .unwrap();
    let answers =
        futures_util::future::join_all((0..8).map(|_| post(&server, device.token(), &racing)))
            .await;
    let counted: u64 = answers
        .iter()
        .map(|(status, receipt)| {
            assert_eq!(*status, StatusCode::OK, "{receipt}");
            receipt["counted"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(counted, 1, "one of eight racing reports counts the entry");
    let after = usage(&server, &device).await;
    assert_eq!((after.runs, after.tokens), (3, tokens + fresh.tokens()));

    // Hostile reports are refused whole; nothing is counted.
    let too_many: Vec<FinishedRun> = (0..501)
        .map(|_| FinishedRun {
            id: Uuid::now_v7(),
            ..ledger[0].clone()
        })
        .collect();
    let mut twice = vec![ledger[0].clone(); 2];
    twice[0].id = Uuid::now_v7();
    twice[1].id = twice[0].id;
    let hostile = [
        json!({ "runs": too_many }),
        json!({ "runs": twice }),
        json!({ "runs": [FinishedRun { id: Uuid::now_v7(), model: "m".repeat(10_000), ..ledger[0].clone() }] }),
        json!({ "runs": [FinishedRun { id: Uuid::now_v7(), started_at: "yesterday".into(), ..ledger[0].clone() }] }),
        json!({ "runs": [{ "id": Uuid::now_v7(), "input_tokens": -5 }] }),
        json!({ "runs": [], "admin": true }),
        json!("not a report"),
    ];
    for body in &hostile {
        let (status, answer) = post(&server, device.token(), body).await;
        assert!(status.is_client_error(), "{status}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|text| !text.is_empty()),
            "{answer}"
        );
    }
    let (status, _) = post(&server, "not-a-token", &report).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        usage(&server, &device).await,
        after,
        "refused reports counted nothing"
    );

    // Monitoring: the runs per day, per graph and per user.
    let (status, seen) = get(&server, &admin.access_token, "/v1/admin/monitoring?days=30").await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["totals"]["runs"], 3);
    assert_eq!(seen["totals"]["errors"], 1);
    assert_eq!(seen["totals"]["tokens"], tokens + fresh.tokens());
    assert_eq!(seen["series"].as_array().unwrap().len(), 30);
    let today = seen["series"].as_array().unwrap().last().unwrap();
    assert_eq!(today["runs"], 3);
    assert_eq!(seen["graphs"][0]["graph_id"], graph.id.to_string());
    assert_eq!(seen["graphs"][0]["name"], "Lisbon desk");
    assert_eq!(seen["graphs"][0]["runs"], 3);
    assert_eq!(seen["users"][0]["email"], orrery_e2e::OWNER_EMAIL);
    let (_, other_graph) = get(
        &server,
        &admin.access_token,
        &format!(
            "/v1/admin/monitoring?graph={}",
            orrery_domain::GraphId::new()
        ),
    )
    .await;
    assert_eq!(other_graph["totals"]["runs"], 0, "{other_graph}");
    let (_, by_user) = get(
        &server,
        &admin.access_token,
        &format!("/v1/admin/monitoring?user={}", device.session.account.id),
    )
    .await;
    assert_eq!(by_user["totals"]["runs"], 3, "{by_user}");
    for bad in [
        "/v1/admin/monitoring?days=7",
        "/v1/admin/monitoring?graph=nope",
        "/v1/admin/monitoring?user=nope",
        "/v1/admin/monitoring?sort=runs",
    ] {
        let (status, _) = get(&server, &admin.access_token, bad).await;
        assert!(status.is_client_error(), "{bad}: {status}");
    }
    let (status, _) = get(&server, device.token(), "/v1/admin/monitoring").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
