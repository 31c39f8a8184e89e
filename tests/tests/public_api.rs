//! The public API's runs on a real server, calling a provider double on
//! loopback with the key the tenant set (sealed at rest): a run streams its
//! events as Server-Sent Events and replays them after a reconnect, is
//! metered once with its real tokens, keeps its chat in the session, and can
//! be cancelled; an `Idempotency-Key` makes one run however many requests
//! carry it; keys' scopes and modes are enforced; and every new route
//! answers hostile input with a clear 4xx, storing and metering nothing.

use std::sync::Arc;

use orrery_domain::ChatRole;
use orrery_domain::api_scope::ApiKeyMode;
use orrery_e2e::runs::{RunTenant, parse_sse, start_server, start_server_with};
use orrery_runtime::ProviderKind;
use orrery_runtime::double::{DOUBLE_API_KEY, Gate, RecordedRequest, Reply};
use reqwest::StatusCode;
use serde_json::{Value, json};

const QUESTION: &str = "What is six times seven?";
const ANSWER: &str = "Six times seven is forty-two.";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn public_api_run_streams_and_is_metered() {
    let fixture = RunTenant::new("streams@orrery.test").await;
    let key = fixture.key(&["runs:write", "runs:read"], "live").await;
    assert!(key.starts_with("ork_live_"), "{key}");

    // The provider's key is kept sealed: not in the clear in the database.
    let stored = fixture
        .server
        .store()
        .await
        .unwrap()
        .run_provider(
            fixture.device.session.account.tenant_id.parse().unwrap(),
            ApiKeyMode::Live,
        )
        .await
        .unwrap()
        .unwrap();
    let sealed = stored.sealed_key.unwrap();
    assert!(
        !sealed
            .windows(DOUBLE_API_KEY.len())
            .any(|part| part == DOUBLE_API_KEY.as_bytes())
    );
    let listed: Value = fixture
        .http
        .get(fixture.url("/v1/run-providers"))
        .bearer_auth(fixture.device.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["mode"], "live");
    assert_eq!(listed[0]["has_api_key"], true);
    assert!(
        !listed.to_string().contains(DOUBLE_API_KEY),
        "the key is never shown again"
    );

    // An agent run: 202 with the run, queued, and where it is.
    fixture
        .double
        .push(Reply::chunked(ANSWER, 4).with_usage(31, 9));
    let started = fixture
        .start(
            &key,
            &format!("/v1/agents/{}/runs", fixture.agent.id),
            json!({ "input": QUESTION }),
        )
        .await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let run: Value = started.json().await.unwrap();
    let run_id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(run["state"], "running", "a free run slot starts it at once");
    assert_eq!(run["target"], "agent");
    assert_eq!(run["events_url"], format!("/v1/runs/{run_id}/events"));

    // Its events, in order, numbered, ending with the answer and its usage.
    let events = fixture.events(&key, &run_id, None).await;
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"run.queued"), "{kinds:?}");
    assert_eq!(kinds.get(1), Some(&"run.started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"run.succeeded"), "{kinds:?}");
    assert!(events.windows(2).all(|pair| pair[1].id == pair[0].id + 1));
    let streamed: String = events
        .iter()
        .filter(|event| event.kind == "message.delta")
        .map(|event| event.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, ANSWER);
    assert!(
        kinds
            .iter()
            .filter(|kind| **kind == "message.delta")
            .count()
            >= 2,
        "streamed in pieces"
    );
    let last = events.last().unwrap();
    assert_eq!(last.data["answer"], ANSWER);
    assert_eq!(last.data["usage"]["input_tokens"], 31);
    assert_eq!(last.data["usage"]["output_tokens"], 9);

    // The provider got the agent's instructions, the question, and the
    // tenant's key, unsealed.
    let requests = fixture.double.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].system().as_deref(), Some("You are the oracle."));
    assert!(
        requests[0]
            .texts()
            .iter()
            .any(|text| text.contains(QUESTION))
    );
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {DOUBLE_API_KEY}").as_str())
    );

    // A client that reconnects after event 2 gets the rest, from the store.
    let replayed = fixture.events(&key, &run_id, Some(2)).await;
    assert_eq!(replayed.first().map(|event| event.id), Some(3));
    assert_eq!(
        replayed
            .iter()
            .map(|event| event.kind.clone())
            .collect::<Vec<_>>(),
        kinds[2..]
            .iter()
            .map(|kind| kind.to_string())
            .collect::<Vec<_>>()
    );

    // The run as stored.
    let run: Value = fixture
        .get(&key, &format!("/v1/runs/{run_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["state"], "succeeded");
    assert_eq!(run["answer"], ANSWER);
    assert_eq!(run["input_tokens"], 31);
    assert_eq!(run["output_tokens"], 9);
    assert!(run["finished_at"].is_string());

    // Metered once: one run, its real tokens, and one API call per request
    // (start, stream, replay, read).
    let usage = fixture.usage().await;
    assert_eq!(usage.runs, 1);
    assert_eq!(usage.tokens, 40);
    assert_eq!(usage.api_calls, 4);

    // A graph run: the graph's agents as the team, the chat kept in a new
    // session that the tenant's devices sync.
    let plan = format!(
        r#"{{"steps": [{{"id": "s1", "agent": "{}", "task": "Write it."}}], "final": ["s1"]}}"#,
        fixture.writer.id
    );
    fixture
        .double
        .set_responder(move |request: &RecordedRequest| {
            let system = request.system().unwrap_or_default();
            Some(if system.starts_with("You manage.") {
                Reply::text(plan.clone()).with_usage(20, 10)
            } else {
                Reply::chunked("Written.", 2).with_usage(5, 3)
            })
        });
    let started = fixture
        .start(
            &key,
            &format!("/v1/graphs/{}/runs", fixture.graph.id),
            json!({ "input": "Write a line." }),
        )
        .await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let graph_run: Value = started.json().await.unwrap();
    let graph_run_id = graph_run["id"].as_str().unwrap().to_owned();
    let events = fixture.events(&key, &graph_run_id, None).await;
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    assert!(kinds.contains(&"session.started"), "{kinds:?}");
    assert!(kinds.contains(&"sandbox.plan_ready"), "{kinds:?}");
    assert!(kinds.contains(&"sandbox.step_finished"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"run.succeeded"), "{kinds:?}");
    assert_eq!(events.last().unwrap().data["answer"], "Written.");
    let session_id: orrery_domain::DocumentId = events
        .iter()
        .find(|event| event.kind == "session.started")
        .unwrap()
        .data["session_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    fixture
        .device
        .client
        .sync_all(&fixture.device.replica)
        .await
        .unwrap();
    let session = fixture.device.replica.session(session_id).await.unwrap();
    assert_eq!(session.graph, Some(fixture.graph.id));
    assert_eq!(
        session.messages.first().map(|message| message.role),
        Some(ChatRole::User)
    );
    assert_eq!(session.messages.first().unwrap().text, "Write a line.");
    assert!(
        session
            .messages
            .iter()
            .any(|message| message.text == "Written.")
    );
    let usage = fixture.usage().await;
    assert_eq!(usage.runs, 2);
    assert_eq!(usage.tokens, 40 + 38);

    // A run the caller cancels: it stops, says so, and keeps what it used.
    let gate = Gate::new();
    let held = gate.clone();
    fixture
        .double
        .set_responder(move |_: &RecordedRequest| Some(Reply::text("never").after(&held)));
    let started = fixture
        .start(
            &key,
            &format!("/v1/agents/{}/runs", fixture.agent.id),
            json!({ "input": "Wait." }),
        )
        .await;
    let cancelled_id = started.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    fixture.double.wait_in_flight(1).await;
    let cancel = fixture
        .start(&key, &format!("/v1/runs/{cancelled_id}/cancel"), json!({}))
        .await;
    assert_eq!(cancel.status(), StatusCode::ACCEPTED);
    let events = fixture.events(&key, &cancelled_id, None).await;
    assert_eq!(events.last().unwrap().kind, "run.cancelled");
    let run: Value = fixture
        .get(&key, &format!("/v1/runs/{cancelled_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["state"], "cancelled");
    let again = fixture
        .start(&key, &format!("/v1/runs/{cancelled_id}/cancel"), json!({}))
        .await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "an ended run is not cancelled twice"
    );
    gate.open();

    // `stream: true`: the answer is the run's event stream, in one request.
    fixture
        .double
        .set_responder(|_: &RecordedRequest| Some(Reply::chunked(ANSWER, 3).with_usage(7, 5)));
    let path = format!("/v1/agents/{}/runs", fixture.agent.id);
    let streamed_start = |stream: bool| {
        fixture
            .http
            .post(fixture.url(&path))
            .bearer_auth(&key)
            .header("Idempotency-Key", "stream-1")
            .json(&json!({ "input": QUESTION, "stream": stream }))
            .send()
    };
    let streamed = streamed_start(true).await.unwrap();
    assert_eq!(streamed.status(), StatusCode::OK);
    assert!(
        streamed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let location = streamed.headers()["location"].to_str().unwrap().to_owned();
    let events = parse_sse(&streamed.text().await.unwrap());
    assert_eq!(events.first().unwrap().kind, "run.queued");
    let streamed_id = events[0].data["run"]["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/runs/{streamed_id}"));
    assert_eq!(events.last().unwrap().kind, "run.succeeded");
    assert_eq!(events.last().unwrap().data["answer"], ANSWER);
    let asked = fixture.double.request_count();

    // The same request again with its key streams that run again, from the
    // start; the key with another body is refused.
    let again = streamed_start(true).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let replayed = parse_sse(&again.text().await.unwrap());
    assert_eq!(replayed.len(), events.len());
    assert_eq!(replayed[0].data["run"]["id"], streamed_id.as_str());
    assert_eq!(fixture.double.request_count(), asked, "no second run");
    assert_eq!(
        streamed_start(false).await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_waits_for_a_free_slot() {
    let server = start_server_with(true, |config| config.runs.max_concurrent = 1).await;
    let fixture = RunTenant::on(Arc::new(server), "slots@orrery.test").await;
    let key = fixture.key(&["runs:write", "runs:read"], "live").await;
    let gate = Gate::new();
    let held = gate.clone();
    fixture
        .double
        .set_responder(move |request: &RecordedRequest| {
            let first = request.texts().iter().any(|text| text.contains("First"));
            Some(if first {
                Reply::text("one").after(&held)
            } else {
                Reply::text("two")
            })
        });
    let path = format!("/v1/agents/{}/runs", fixture.agent.id);
    let first: Value = fixture
        .start(&key, &path, json!({ "input": "First" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["state"], "running");
    fixture.double.wait_in_flight(1).await;

    // The only slot is taken: the second run waits, queued, and says so.
    let second: Value = fixture
        .start(&key, &path, json!({ "input": "Second" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["state"], "queued");
    let second_id = second["id"].as_str().unwrap().to_owned();
    let read: Value = fixture
        .get(&key, &format!("/v1/runs/{second_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["state"], "queued");
    assert!(read["started_at"].is_null());

    // The first ends; the second takes the slot, starts and succeeds.
    gate.open();
    let events = fixture.events(&key, &second_id, None).await;
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"run.queued"));
    assert!(kinds.contains(&"run.started"), "{kinds:?}");
    assert_eq!(events.last().unwrap().data["answer"], "two");
    let read: Value = fixture
        .get(&key, &format!("/v1/runs/{second_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["state"], "succeeded");
    assert!(read["started_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_makes_one_run() {
    let fixture = Arc::new(RunTenant::new("idempotent@orrery.test").await);
    let key = fixture.key(&["runs:write", "runs:read"], "live").await;
    fixture
        .double
        .set_fallback(Reply::text(ANSWER).with_usage(10, 5));
    let path = format!("/v1/agents/{}/runs", fixture.agent.id);

    // Twelve clients send the same request with one key at once.
    let requests = (0..12).map(|_| {
        let fixture = fixture.clone();
        let key = key.clone();
        let path = path.clone();
        tokio::spawn(async move {
            let response = fixture
                .http
                .post(fixture.url(&path))
                .bearer_auth(&key)
                .header("Idempotency-Key", "order-7f3a")
                .json(&json!({ "input": QUESTION }))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        })
    });
    let mut run_ids = std::collections::BTreeSet::new();
    for answer in requests {
        let (status, body) = answer.await.unwrap();
        match status {
            StatusCode::ACCEPTED => {
                run_ids.insert(body["id"].as_str().unwrap().to_owned());
            }
            // Still being answered: the client retries with the same key.
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(run_ids.len(), 1, "one run for one key: {run_ids:?}");
    let run_id = run_ids.into_iter().next().unwrap();
    let events = fixture.events(&key, &run_id, None).await;
    assert_eq!(events.last().unwrap().kind, "run.succeeded");
    assert_eq!(
        fixture.double.request_count(),
        1,
        "the model was asked once"
    );
    assert_eq!(fixture.usage().await.runs, 1);

    // A repeat later gets the first answer again, marked as such.
    let repeat = fixture
        .http
        .post(fixture.url(&path))
        .bearer_auth(&key)
        .header("Idempotency-Key", "order-7f3a")
        // The same request, written differently.
        .body(format!("{{ \"input\" :  \"{QUESTION}\" }}"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(repeat.status(), StatusCode::ACCEPTED);
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    assert_eq!(repeat.json::<Value>().await.unwrap()["id"], run_id.as_str());

    // The same key with another request is refused, and runs nothing.
    let other = fixture
        .http
        .post(fixture.url(&path))
        .bearer_auth(&key)
        .header("Idempotency-Key", "order-7f3a")
        .json(&json!({ "input": "Something else" }))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(other.text().await.unwrap().contains("different request"));

    // A malformed key is refused before anything is done.
    for bad in ["", "has space", &"k".repeat(256)] {
        let response = fixture
            .http
            .post(fixture.url(&path))
            .bearer_auth(&key)
            .header("Idempotency-Key", bad)
            .json(&json!({ "input": QUESTION }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    // A refusal is kept under its key too: the retry is refused the same way.
    let missing = orrery_domain::DocumentId::new();
    for attempt in 0..2 {
        let refused = fixture
            .http
            .post(fixture.url(&format!("/v1/agents/{missing}/runs")))
            .bearer_auth(&key)
            .header("Idempotency-Key", "order-unknown-agent")
            .json(&json!({ "input": QUESTION }))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            refused.headers().contains_key("idempotent-replayed"),
            attempt == 1
        );
    }

    // After 24 hours the key is free again: a new run.
    fixture.server.clock.advance(chrono::Duration::hours(25));
    let later = fixture
        .http
        .post(fixture.url(&path))
        .bearer_auth(&key)
        .header("Idempotency-Key", "order-7f3a")
        .json(&json!({ "input": "Something else" }))
        .send()
        .await
        .unwrap();
    assert_eq!(later.status(), StatusCode::ACCEPTED);
    assert_ne!(later.json::<Value>().await.unwrap()["id"], run_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_key_scopes_are_enforced() {
    let fixture = RunTenant::new("scopes@orrery.test").await;
    fixture.double.set_fallback(Reply::text(ANSWER));
    let writer = fixture.key(&["runs:write"], "live").await;
    let reader = fixture.key(&["runs:read"], "live").await;
    let library = fixture.key(&["library:read"], "live").await;
    let tester = fixture.key(&["runs:write", "runs:read"], "test").await;
    assert!(tester.starts_with("ork_test_"), "{tester}");
    let path = format!("/v1/agents/{}/runs", fixture.agent.id);
    let body = json!({ "input": QUESTION });

    // Starting needs runs:write.
    for key in [&reader, &library] {
        let refused = fixture.start(key, &path, body.clone()).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused.text().await.unwrap().contains("runs:write"));
    }
    let started = fixture.start(&writer, &path, body.clone()).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let run_id = started.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Reading needs runs:read.
    let run_path = format!("/v1/runs/{run_id}");
    assert_eq!(
        fixture.get(&writer, &run_path).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        fixture
            .get(&writer, &format!("{run_path}/events"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        fixture.get(&library, &run_path).await.status(),
        StatusCode::FORBIDDEN
    );
    let events = fixture.events(&reader, &run_id, None).await;
    assert_eq!(events.last().unwrap().kind, "run.succeeded");
    // Cancelling needs runs:write.
    let cancel = fixture
        .start(&reader, &format!("{run_path}/cancel"), json!({}))
        .await;
    assert_eq!(cancel.status(), StatusCode::FORBIDDEN);

    // Keys never set providers.
    let set = fixture
        .http
        .put(fixture.url("/v1/run-providers/live"))
        .bearer_auth(&writer)
        .json(&json!({ "settings": fixture.double.settings(ProviderKind::OpenAiCompatible) }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::FORBIDDEN);

    // A test key sees no live run, and needs a test provider of its own.
    assert_eq!(
        fixture.get(&tester, &run_path).await.status(),
        StatusCode::NOT_FOUND
    );
    let no_provider = fixture.start(&tester, &path, body.clone()).await;
    assert_eq!(no_provider.status(), StatusCode::CONFLICT);
    assert!(
        no_provider
            .text()
            .await
            .unwrap()
            .contains("no provider is set for test runs")
    );
    let mut test_settings = fixture.double.settings(ProviderKind::OpenAiCompatible);
    test_settings.model = "test-model".into();
    let set = fixture
        .http
        .put(fixture.url("/v1/run-providers/test"))
        .bearer_auth(fixture.device.token())
        .json(&json!({ "settings": test_settings, "api_key": DOUBLE_API_KEY }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let test_run = fixture.start(&tester, &path, body.clone()).await;
    assert_eq!(test_run.status(), StatusCode::ACCEPTED);
    let test_run: Value = test_run.json().await.unwrap();
    assert_eq!(test_run["mode"], "test");
    let test_run_id = test_run["id"].as_str().unwrap();
    let events = fixture.events(&tester, test_run_id, None).await;
    assert_eq!(events.last().unwrap().kind, "run.succeeded");
    assert_eq!(
        fixture.double.requests().last().unwrap().body["model"],
        "test-model",
        "the test run called the test provider"
    );
    // ...and a live key does not see the test run.
    assert_eq!(
        fixture
            .get(&reader, &format!("/v1/runs/{test_run_id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Keys are listed with their mode and when they were last used.
    let keys: Value = fixture
        .http
        .get(fixture.url("/v1/api-keys"))
        .bearer_auth(fixture.device.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for listed in keys.as_array().unwrap() {
        assert!(listed["mode"] == "live" || listed["mode"] == "test");
        assert!(
            listed["last_used_at"].is_string(),
            "every key was used: {listed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_inputs_never_500() {
    let fixture = RunTenant::new("hostile@orrery.test").await;
    // Another tenant on the same server.
    let stranger = RunTenant::on(fixture.server.clone(), "stranger@orrery.test").await;
    // A server for many tenants, which calls no private address for them.
    let shared = start_server(false).await;
    let shared_session = shared
        .session_for("shared@orrery.test", "laptop")
        .await
        .unwrap();
    let key = fixture.key(&["runs:write", "runs:read"], "live").await;
    fixture.double.set_fallback(Reply::text(ANSWER));
    let agent_path = format!("/v1/agents/{}/runs", fixture.agent.id);
    let graph_path = format!("/v1/graphs/{}/runs", fixture.graph.id);
    let unknown = orrery_domain::DocumentId::new();
    let huge = "x".repeat(orrery_domain::MAX_MESSAGE_CHARS + 1);

    let mut refused = Vec::new();
    let bodies: Vec<(&str, String)> = vec![
        ("not json", "{input: ".into()),
        ("empty body", String::new()),
        ("wrong type", json!({ "input": 42 }).to_string()),
        ("missing input", json!({}).to_string()),
        (
            "unknown field",
            json!({ "input": "hi", "model": "gpt" }).to_string(),
        ),
        ("empty input", json!({ "input": "   " }).to_string()),
        ("input over its limit", json!({ "input": huge }).to_string()),
        (
            "malformed session",
            json!({ "input": "hi", "session_id": "../../etc" }).to_string(),
        ),
        (
            "unknown session",
            json!({ "input": "hi", "session_id": unknown }).to_string(),
        ),
        (
            "nested garbage",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        ),
        ("control characters", "\u{0}\u{1}\u{2}".into()),
    ];
    for path in [&agent_path, &graph_path] {
        for (what, body) in &bodies {
            let response = fixture
                .http
                .post(fixture.url(path))
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            refused.push((format!("{path} {what}"), response.status()));
        }
    }
    // Unknown, malformed and another tenant's targets.
    for path in [
        format!("/v1/agents/{unknown}/runs"),
        "/v1/agents/not-a-uuid/runs".into(),
        format!("/v1/agents/{}/runs", stranger.agent.id),
        format!("/v1/graphs/{}/runs", stranger.graph.id),
        format!("/v1/graphs/{unknown}/runs"),
        "/v1/graphs/%00%ff/runs".into(),
    ] {
        let response = fixture.start(&key, &path, json!({ "input": "hi" })).await;
        refused.push((path, response.status()));
    }
    // An oversized body is refused before it is read.
    let response = fixture
        .http
        .post(fixture.url(&agent_path))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    refused.push(("oversized body".into(), response.status()));
    // Runs: malformed, unknown and another tenant's ids; a bad Last-Event-ID.
    let stranger_key = stranger.key(&["runs:write", "runs:read"], "live").await;
    let strangers_run: Value = stranger
        .start(
            &stranger_key,
            &format!("/v1/agents/{}/runs", stranger.agent.id),
            json!({ "input": "hi" }),
        )
        .await
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/runs/not-a-uuid".to_owned(),
        format!("/v1/runs/{unknown}"),
        format!("/v1/runs/{unknown}/events"),
        "/v1/runs/%2e%2e/events".into(),
        format!("/v1/runs/{}", strangers_run["id"].as_str().unwrap()),
        format!("/v1/runs/{}/events", strangers_run["id"].as_str().unwrap()),
    ] {
        let response = fixture.get(&key, &path).await;
        refused.push((path, response.status()));
    }
    for path in [
        format!("/v1/runs/{unknown}/cancel"),
        "/v1/runs/x/cancel".into(),
    ] {
        let response = fixture.start(&key, &path, json!({})).await;
        refused.push((path, response.status()));
    }
    let response = fixture
        .http
        .get(fixture.url(&format!("/v1/runs/{unknown}/events")))
        .bearer_auth(&key)
        .header("Last-Event-ID", "minus one")
        .send()
        .await
        .unwrap();
    refused.push(("bad Last-Event-ID".into(), response.status()));
    // Providers: unknown modes, bad settings, a private address on a server
    // that forbids them, garbage.
    let mut remote = fixture.double.settings(ProviderKind::OpenAiCompatible);
    remote.base_url = "ftp://example.com".into();
    let own = (fixture.server.url(), fixture.device.token().to_owned());
    let other = (shared.url(), shared_session.access_token.clone());
    for (what, (base, token), mode, body) in [
        (
            "unknown mode",
            &own,
            "staging",
            json!({ "settings": fixture.double.settings(ProviderKind::OpenAiCompatible) }),
        ),
        ("bad scheme", &own, "live", json!({ "settings": remote })),
        (
            "garbage settings",
            &own,
            "live",
            json!({ "settings": { "kind": "telepathy" } }),
        ),
        (
            "missing key",
            &own,
            "live",
            json!({ "settings": { "kind": "anthropic", "base_url": "https://api.anthropic.com", "model": "claude" } }),
        ),
        (
            "private address",
            &other,
            "live",
            json!({ "settings": fixture.double.settings(ProviderKind::OpenAiCompatible) }),
        ),
        (
            "metadata address",
            &other,
            "test",
            json!({ "settings": { "kind": "open_ai_compatible", "base_url": "http://169.254.169.254/v1", "model": "m" } }),
        ),
    ] {
        let response = fixture
            .http
            .put(format!("{base}/v1/run-providers/{mode}"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        refused.push((format!("provider: {what}"), response.status()));
    }

    // Every route of runs, providers and channels, with every hostile body,
    // as a key and as the signed-in app.
    let new_routes: Vec<_> = orrery_server::http::endpoints()
        .into_iter()
        .filter(|endpoint| {
            [
                "/v1/agents/",
                "/v1/runs/{",
                "/v1/run-providers",
                "/v1/channels",
                "/v1/hooks/",
            ]
            .iter()
            .any(|prefix| endpoint.path.starts_with(prefix))
                || endpoint.path.ends_with("/runs")
        })
        .collect();
    assert!(new_routes.len() >= 14, "{new_routes:?}");
    let mut walked = Vec::new();
    let hostile: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        json!({ "input": 7, "bot_token": [], "settings": "x", "agent_id": "../x" })
            .to_string()
            .into_bytes(),
        json!({ "bot_token": "1:".to_owned() + &"a".repeat(5_000), "graph_id": unknown })
            .to_string()
            .into_bytes(),
        vec![0xff; 70 * 1024],
    ];
    for endpoint in &new_routes {
        let path = endpoint
            .path
            .replace("{agent_id}", &fixture.agent.id.to_string())
            .replace("{graph_id}", &fixture.graph.id.to_string())
            .replace("{run_id}", &unknown.to_string())
            .replace("{mode}", "live")
            .replace("{channel_id}", &unknown.to_string());
        for token in [key.as_str(), fixture.device.token()] {
            for body in &hostile {
                let response = fixture
                    .http
                    .request(endpoint.method.clone(), fixture.url(&path))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .header("X-Telegram-Bot-Api-Secret-Token", "guess")
                    .header("X-Hub-Signature-256", "sha256=00")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                walked.push((
                    format!("{} {path} ({} bytes)", endpoint.method, body.len()),
                    response.status(),
                ));
            }
        }
    }

    for (what, status) in &refused {
        assert!(status.is_client_error(), "{what}: {status}");
    }
    for (what, status) in &walked {
        assert!(!status.is_server_error(), "{what}: {status}");
        // Reads, and removals (which take no body), may succeed.
        if !what.starts_with("GET") && !what.starts_with("DELETE") {
            assert!(
                status.is_client_error(),
                "a hostile body changes nothing: {what}: {status}"
            );
        }
    }
    // The input over its limit and the other tenant's things are refused
    // with their reasons.
    let statuses: std::collections::BTreeMap<_, _> = refused.iter().cloned().collect();
    assert_eq!(
        statuses[&format!("{agent_path} input over its limit")],
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        statuses[&format!("/v1/agents/{}/runs", stranger.agent.id)],
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        statuses[&format!("/v1/graphs/{}/runs", stranger.graph.id)],
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        statuses["provider: private address"],
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Nothing ran, nothing was metered but the API calls themselves.
    assert_eq!(fixture.double.request_count(), 0);
    let usage = fixture.usage().await;
    assert_eq!((usage.runs, usage.tokens), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_is_served() {
    let server = start_server(false).await;
    let http = reqwest::Client::new();
    let document = http
        .get(format!("{}/v1/openapi.json", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(document.status(), StatusCode::OK);
    let document: Value = document.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let start = &document["paths"]["/v1/agents/{agent_id}/runs"]["post"];
    assert_eq!(start["security"][0]["api_key"][0], "runs:write");
    assert!(start["parameters"].to_string().contains("Idempotency-Key"));
    assert!(document["components"]["schemas"]["RunView"]["properties"]["events_url"].is_object());
    let page = http
        .get(format!("{}/v1/reference", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().await.unwrap();
    for words in [
        "Run an agent",
        "Follow a run&#x27;s events",
        "Cancel a run",
        "runs:read",
        "RunView",
    ] {
        assert!(page.contains(words), "the reference page lacks {words}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_of_a_stopped_instance_end_failed() {
    use orrery_server::agent_runs::RUNNER_SILENCE;
    use orrery_store::{AgentRunRecord, RunState, RunTarget};

    let fixture = RunTenant::new("instances@orrery.test").await;
    let key = fixture.key(&["runs:write", "runs:read"], "live").await;
    let store = fixture.server.store().await.unwrap();
    let now = fixture.server.clock_now();
    let account = &fixture.device.session.account;
    let run_of = |runner_note: &str| AgentRunRecord {
        id: uuid::Uuid::now_v7(),
        tenant_id: account.tenant_id.parse().unwrap(),
        user_id: account.id.parse().unwrap(),
        mode: ApiKeyMode::Live,
        target: RunTarget::Agent,
        target_id: fixture.agent.id.to_string(),
        session_id: None,
        input: runner_note.to_owned(),
        state: RunState::Running,
        answer: None,
        error: None,
        input_tokens: 0,
        output_tokens: 0,
        created_at: orrery_store::timestamp(now),
        started_at: Some(orrery_store::timestamp(now)),
        finished_at: None,
    };

    // Two instances share the database: one last said it was alive five
    // minutes ago (it died with its run), one just now.
    let (stopped, alive) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let orphan = run_of("left by the stopped instance");
    let going = run_of("going on the live instance");
    store
        .create_agent_run(&orphan, stopped, None)
        .await
        .unwrap();
    store.create_agent_run(&going, alive, None).await.unwrap();
    store
        .beat_run_runner(stopped, now - chrono::Duration::minutes(5))
        .await
        .unwrap();
    store.beat_run_runner(alive, now).await.unwrap();

    // A client follows the orphan: nothing comes while it is said to go.
    let follower = {
        let http = fixture.http.clone();
        let url = fixture.url(&format!("/v1/runs/{}/events", orphan.id));
        let key = key.clone();
        tokio::spawn(async move {
            let response = http.get(url).bearer_auth(key).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            parse_sse(&response.text().await.unwrap())
        })
    };

    // Another instance's heartbeat ends the orphan, and only it (this
    // server's own heartbeat may have got there first).
    store
        .fail_orphaned_agent_runs(now, now - RUNNER_SILENCE)
        .await
        .unwrap();
    let read = |id: uuid::Uuid| {
        let fixture = &fixture;
        let key = key.clone();
        async move {
            fixture
                .get(&key, &format!("/v1/runs/{id}"))
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let ended = read(orphan.id).await;
    assert_eq!(ended["state"], "failed");
    assert!(ended["error"].as_str().unwrap().contains("stopped"));
    assert_eq!(read(going.id).await["state"], "running");

    // The follower's stream ends with how the run ended.
    let events = follower.await.unwrap();
    let last = events.last().expect("an event");
    assert_eq!(last.kind, "run.failed");
    assert!(last.data["error"].as_str().unwrap().contains("stopped"));
}
