//! A user's data as an admin exports and deletes it, over HTTP on a real
//! server: the export is one archive with everything of theirs (and nothing
//! of anyone else's, and no secret); a deletion leaves no row that names
//! them in any table of the database (the audit log, the record of what
//! admins did, excepted), stops every credential and live feed at once, and
//! leaves other users untouched.

use std::time::Duration;

use orrery_domain::{Agent, ChatRole, Prompt, sample_graph};
use orrery_e2e::{TEST_PASSWORD, TestDevice, TestServer};
use orrery_store::{InvoiceOutcome, InvoiceRecord};
use orrery_sync::LiveFeed;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Column, Connection, Row, ValueRef};
use uuid::Uuid;

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.url()))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        headers,
    )
}

/// A user with something of everything: a graph, an agent, a prompt with a
/// version, a session with a chat, an API key, usage, a subscription and an
/// invoice. Returns their device and the API key.
async fn populated(server: &TestServer, email: &str, agent_name: &str) -> (TestDevice, String) {
    let device = TestDevice::signed_in(server, email, "laptop")
        .await
        .unwrap();
    let tenant: Uuid = device.session.account.tenant_id.parse().unwrap();
    let user: Uuid = device.session.account.id.parse().unwrap();
    let store = server.store().await.unwrap();
    store.set_plan(tenant, user, "pro").await.unwrap();

    let mut agent = Agent::new(agent_name);
    agent.system_prompt = format!("You are {agent_name}.");
    device.replica.save_agent(&agent).await.unwrap();
    let prompt = device
        .replica
        .save_prompt(&Prompt::new(&format!("{agent_name}'s prompt")))
        .await
        .unwrap();
    device
        .replica
        .add_prompt_version(prompt.id, "Summarise {{text}}.")
        .await
        .unwrap();
    let graph = device
        .replica
        .add_graph(sample_graph(&format!("{agent_name}'s crew"), 4, 7))
        .await
        .unwrap();
    let session = device
        .replica
        .create_session(&format!("{agent_name}'s run"), Some(graph.id))
        .await
        .unwrap();
    for (role, text) in [
        (ChatRole::User, format!("{agent_name}, plan a trip")),
        (ChatRole::Manager, "On it.".to_owned()),
    ] {
        device
            .replica
            .append_message(session.id, role, "someone", &text)
            .await
            .unwrap();
    }
    device.client.sync_all(&device.replica).await.unwrap();

    let (status, key, _) = call(
        server,
        Method::POST,
        "/v1/api-keys",
        device.token(),
        Some(json!({ "name": "ci" })),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let now = server.clock_now();
    store
        .add_usage(
            tenant,
            user,
            orrery_domain::policy::Metric::Runs,
            "2026-12",
            7,
        )
        .await
        .unwrap();
    store
        .apply_subscription(
            tenant,
            user,
            &orrery_store::SubscriptionRecord {
                stripe_subscription_id: format!("sub_{}", &user.simple().to_string()[..12]),
                plan_key: "pro".into(),
                status: "active".into(),
                cancel_at_period_end: false,
                current_period_end: now + chrono::Duration::days(30),
                mrr_cents: 1900,
            },
            "pro",
            false,
            now,
        )
        .await
        .unwrap();
    store
        .upsert_invoice(
            tenant,
            user,
            &InvoiceRecord {
                id: format!("in_{}", &user.simple().to_string()[..12]),
                status: "paid".into(),
                amount_due: 1900,
                amount_paid: 1900,
                currency: "usd".into(),
                hosted_url: None,
                created: orrery_store::timestamp(now),
            },
            InvoiceOutcome::Paid,
            now,
        )
        .await
        .unwrap();
    (device, key["key"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn user_export_contains_all_their_data() {
    let server = TestServer::start().await.unwrap();
    let operator = server
        .session_for("operator@orrery.test", "desk")
        .await
        .unwrap();
    let (grace, key) = populated(&server, "grace@orrery.test", "Researcher").await;
    let (_ada, _) = populated(&server, "ada@orrery.test", "Analyst").await;
    let grace_id = &grace.session.account.id;
    // Grace runs a team; the archive names it with her role.
    let created = reqwest::Client::new()
        .post(format!("{}/v1/teams", server.url()))
        .bearer_auth(grace.token())
        .json(&json!({ "name": "Grace's lab" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let path = format!("/v1/admin/users/{grace_id}/export");
    let (status, archive, headers) =
        call(&server, Method::GET, &path, &operator.access_token, None).await;
    assert_eq!(status, 200, "{archive}");
    assert!(
        headers[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(archive["format"], "orrery-user-export");
    assert_eq!(archive["account"]["email"], "grace@orrery.test");
    assert_eq!(archive["account"]["plan"], "pro");
    assert_eq!(archive["account"]["theme"], "system");
    assert_eq!(archive["teams"][0]["name"], "Grace's lab");
    assert_eq!(archive["teams"][0]["role"], "owner");
    // The graph, as the graph file format writes it, whole.
    let graphs = archive["graphs"].as_array().unwrap();
    assert_eq!(graphs.len(), 1);
    assert_eq!(graphs[0]["format"], orrery_domain::GRAPH_FILE_FORMAT);
    assert_eq!(graphs[0]["name"], "Researcher's crew");
    assert_eq!(graphs[0]["nodes"].as_array().unwrap().len(), 4);
    let graph = orrery_domain::import_graph(graphs[0].to_string().as_bytes()).unwrap();
    assert_eq!(graph.nodes.len(), 4, "the archive's graph imports back");
    // The library and the session with its chat.
    assert_eq!(archive["library"]["agents"][0]["name"], "Researcher");
    assert_eq!(
        archive["library"]["agents"][0]["system_prompt"],
        "You are Researcher."
    );
    assert_eq!(
        archive["library"]["prompts"][0]["title"],
        "Researcher's prompt"
    );
    assert_eq!(
        archive["library"]["prompts"][0]["versions"][0]["content"],
        "Summarise {{text}}."
    );
    assert_eq!(archive["sessions"][0]["title"], "Researcher's run");
    assert_eq!(
        archive["sessions"][0]["messages"].as_array().unwrap().len(),
        2
    );
    // Devices, keys (without their secret), usage, billing.
    assert!(!archive["devices"].as_array().unwrap().is_empty());
    assert_eq!(archive["api_keys"].as_array().unwrap().len(), 1);
    assert!(key.starts_with(archive["api_keys"][0]["prefix"].as_str().unwrap()));
    assert!(
        archive["usage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["metric"] == "runs" && row["used"] == 7)
    );
    assert_eq!(archive["subscriptions"][0]["status"], "active");
    assert_eq!(archive["invoices"][0]["amount_paid"], 1900);
    // Nothing of Ada's, and no secret.
    let text = archive.to_string();
    for foreign in [
        "Analyst",
        "ada@orrery.test",
        key.as_str(),
        "argon2",
        "password",
    ] {
        assert!(!text.contains(foreign), "the archive holds `{foreign}`");
    }
    // The export is in the audit log, with what was taken.
    let (_, log, _) = call(
        &server,
        Method::GET,
        "/v1/admin/audit-log?action=user.export",
        &operator.access_token,
        None,
    )
    .await;
    assert_eq!(log["entries"][0]["target_id"], *grace_id);
    assert_eq!(log["entries"][0]["after"]["graphs"], 1);
    // Only admins; ids of another shape and unknown ids are refused.
    let (status, _, _) = call(&server, Method::GET, &path, grace.token(), None).await;
    assert_eq!(status, 403);
    let (status, _, _) = call(
        &server,
        Method::GET,
        "/v1/admin/users/not-an-id/export",
        &operator.access_token,
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = call(
        &server,
        Method::GET,
        &format!("/v1/admin/users/{}/export", Uuid::now_v7()),
        &operator.access_token,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

/// Every text value of every table, with the table's name.
async fn every_value(database: &std::path::Path) -> Vec<(String, String)> {
    let url = format!("sqlite://{}?mode=ro", database.display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let mut values = Vec::new();
    for table in tables {
        let rows = sqlx::query(&format!("SELECT * FROM \"{table}\""))
            .fetch_all(&mut connection)
            .await
            .unwrap();
        for row in rows {
            for column in row.columns() {
                let raw = row.try_get_raw(column.ordinal()).unwrap();
                if raw.is_null() {
                    continue;
                }
                let text = row
                    .try_get::<String, _>(column.ordinal())
                    .ok()
                    .or_else(|| {
                        row.try_get::<Vec<u8>, _>(column.ordinal())
                            .ok()
                            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    })
                    .unwrap_or_default();
                values.push((table.clone(), text));
            }
        }
    }
    values
}

#[tokio::test]
async fn deleted_user_leaves_nothing_behind() {
    let server = TestServer::start().await.unwrap();
    let operator = server
        .session_for("operator@orrery.test", "desk")
        .await
        .unwrap();
    let (grace, key) = populated(&server, "grace@orrery.test", "Researcher").await;
    let (ada, _) = populated(&server, "ada@orrery.test", "Analyst").await;
    let grace_id = grace.session.account.id.clone();
    let grace_tenant = grace.session.account.tenant_id.clone();
    let ada_export_path = format!("/v1/admin/users/{}/export", ada.session.account.id);
    let (_, ada_before, _) = call(
        &server,
        Method::GET,
        &ada_export_path,
        &operator.access_token,
        None,
    )
    .await;
    let mut feed = LiveFeed::connect(&server.url(), grace.token())
        .await
        .unwrap();

    // An admin cannot delete themselves.
    let (status, body, _) = call(
        &server,
        Method::DELETE,
        &format!("/v1/admin/users/{}", operator.account.id),
        &operator.access_token,
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");

    let (status, deleted, _) = call(
        &server,
        Method::DELETE,
        &format!("/v1/admin/users/{grace_id}"),
        &operator.access_token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["audit"]["action"], "user.delete");

    // Every credential stops at once, the live feed included.
    let (status, _, _) = call(&server, Method::GET, "/v1/me", grace.token(), None).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&server, Method::GET, "/v1/me", &key, None).await;
    assert_eq!(status, 401);
    assert!(
        server
            .accounts()
            .refresh(&grace.session.refresh_token)
            .await
            .is_err()
    );
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match feed.next().await {
                Ok(Some(_)) => continue,
                _ => break,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the live feed closed");
    let (status, _, _) = call(
        &server,
        Method::DELETE,
        &format!("/v1/admin/users/{grace_id}"),
        &operator.access_token,
        None,
    )
    .await;
    assert_eq!(status, 404, "deleting twice finds no one");

    // No row of any table names them: not their id, their tenant, their
    // address or their work. The audit log keeps the record of the deletion.
    let values = every_value(&server.database).await;
    let traces = [
        grace_id.as_str(),
        grace_tenant.as_str(),
        "grace@orrery.test",
        "Researcher",
        "Researcher, plan a trip",
    ];
    let left: Vec<&(String, String)> = values
        .iter()
        .filter(|(table, text)| {
            table != "audit_log" && traces.iter().any(|trace| text.contains(trace))
        })
        .collect();
    assert!(left.is_empty(), "rows of theirs remain: {left:?}");
    assert!(
        values
            .iter()
            .any(|(table, text)| table == "audit_log" && text == "user.delete")
    );
    // The event log counts the deletion without naming anyone.
    assert!(
        values
            .iter()
            .any(|(table, text)| table == "events" && text == "account.deleted")
    );

    // Ada is untouched: her data and her sign-in.
    let (_, ada_after, _) = call(
        &server,
        Method::GET,
        &ada_export_path,
        &operator.access_token,
        None,
    )
    .await;
    let without_time = |mut archive: Value| {
        archive.as_object_mut().unwrap().remove("exported_at");
        archive
    };
    assert_eq!(without_time(ada_after), without_time(ada_before));
    let (status, _, _) = call(&server, Method::GET, "/v1/me", ada.token(), None).await;
    assert_eq!(status, 200);

    // The address is free again: a new, ordinary account.
    let again = server
        .accounts()
        .register("grace@orrery.test", TEST_PASSWORD, "Grace", "laptop")
        .await
        .unwrap();
    assert_ne!(again.account.id, grace_id);
    assert_eq!(again.account.role, "user");
}
