//! Teams through the real server: workspaces several people share, roles
//! the policy engine decides from, invitations by mail that work once and
//! expire, members removed losing access (live feed included) at once, two
//! people's devices editing one graph and converging, and presence on the
//! live feed that stays in its workspace and is never stored.

use std::time::Duration;

use orrery_domain::team::{INVITATIONS_PER_TEAM_PER_HOUR, PRESENCE_PER_SECOND};
use orrery_domain::{EditHistory, GraphEdit, NodeId, Position, sample_graph};
use orrery_e2e::smtp::SmtpSink;
use orrery_e2e::{TestDevice, TestServer};
use orrery_server::auth::mailer::SmtpConfig;
use orrery_server::http::{Access, endpoints};
use orrery_sync::protocol::SyncRequest;
use orrery_sync::{LiveChange, LiveFeed, SyncError, WORKSPACE_HEADER};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

const PATIENCE: Duration = Duration::from_secs(20);

/// A server that mails through a fresh SMTP sink.
async fn mailing_server() -> (SmtpSink, TestServer) {
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
        config.mail_every = Duration::from_millis(50);
    })
    .await
    .unwrap();
    (sink, server)
}

/// `method path` with `token` and a JSON body; the status and the JSON answer.
async fn call(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
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
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An access token of `email` (registered on first use).
async fn token_of(server: &TestServer, email: &str) -> String {
    server
        .session_for(email, "laptop")
        .await
        .unwrap()
        .access_token
}

async fn create_team(server: &TestServer, token: &str, name: &str) -> Uuid {
    let (status, team) = call(
        server,
        token,
        reqwest::Method::POST,
        "/v1/teams",
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    assert_eq!(team["role"], "owner");
    team["id"].as_str().unwrap().parse().unwrap()
}

async fn invite(
    server: &TestServer,
    token: &str,
    team: Uuid,
    email: &str,
    role: &str,
) -> (StatusCode, Value) {
    call(
        server,
        token,
        reqwest::Method::POST,
        &format!("/v1/teams/{team}/invitations"),
        Some(json!({ "email": email, "role": role })),
    )
    .await
}

async fn accept(server: &TestServer, token: &str, code: &str) -> (StatusCode, Value) {
    call(
        server,
        token,
        reqwest::Method::POST,
        "/v1/invitations/accept",
        Some(json!({ "code": code })),
    )
    .await
}

/// The invitation code mailed to `email` (the newest `count`-th such mail).
async fn mailed_code(sink: &SmtpSink, email: &str, count: usize) -> String {
    let mail = sink
        .wait_for_containing(&format!("To: {email}"), count, PATIENCE)
        .await;
    assert!(mail.len() >= count, "no invitation reached {email}");
    let data = &mail[count - 1].data;
    assert!(data.contains("orrery://invite/oin_"), "{data}");
    data.split_whitespace()
        .find(|word| word.starts_with("oin_"))
        .expect("the mail carries the code")
        .to_owned()
}

/// Invites `email` as `role` and has them accept; answers their token.
async fn join(
    server: &TestServer,
    sink: &SmtpSink,
    owner: &str,
    team: Uuid,
    email: &str,
    role: &str,
) -> String {
    let (status, body) = invite(server, owner, team, email, role).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let code = mailed_code(sink, email, 1).await;
    let session = server.session_for(email, "laptop").await.unwrap();
    let (status, joined) = accept(server, &session.access_token, &code).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["role"], role);
    session.access_token
}

/// Puts `email` (registered) on `plan`.
async fn put_on_plan(server: &TestServer, email: &str, plan: &str) {
    let account = server.session_for(email, "laptop").await.unwrap().account;
    let store = server.store().await.unwrap();
    assert!(
        store
            .set_plan(
                account.tenant_id.parse().unwrap(),
                account.id.parse().unwrap(),
                plan
            )
            .await
            .unwrap()
    );
}

/// The seats metric of `GET /v1/usage` in `team`'s workspace: (used, limit).
async fn seats_in(server: &TestServer, token: &str, team: Uuid) -> (u64, Option<u64>) {
    let usage: Value = reqwest::Client::new()
        .get(format!("{}/v1/usage", server.url()))
        .bearer_auth(token)
        .header(WORKSPACE_HEADER, team.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seats = usage["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|metric| metric["metric"] == "seats")
        .unwrap_or_else(|| panic!("a team's usage counts seats: {usage}"));
    (seats["used"].as_u64().unwrap(), seats["limit"].as_u64())
}

/// A fresh device of `email` working in `team`.
async fn team_device(server: &TestServer, email: &str, team: Uuid) -> TestDevice {
    let mut device = TestDevice::signed_in(server, email, "team laptop")
        .await
        .unwrap();
    device.client = device.client.clone().in_workspace(Some(team));
    device
}

#[tokio::test]
async fn invitation_is_single_use_and_expires() {
    let (sink, server) = mailing_server().await;
    let owner = token_of(&server, "olga@orrery.test").await;
    let team = create_team(&server, &owner, "Research").await;

    // Bad input is refused with its reason, and nothing is sent.
    for (email, role, status) in [
        ("not an address", "editor", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "bob@orrery.test",
            "emperor",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("olga@orrery.test", "editor", StatusCode::CONFLICT),
    ] {
        let (answer, body) = invite(&server, &owner, team, email, role).await;
        assert_eq!(answer, status, "{email} {role}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let stranger = token_of(&server, "mallory@orrery.test").await;
    let (status, _) = invite(&server, &stranger, team, "x@orrery.test", "viewer").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "outsiders do not see the team"
    );

    // The mail carries the app's link and the code; the code works once.
    let (status, sent) = invite(&server, &owner, team, "bob@orrery.test", "editor").await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let code = mailed_code(&sink, "bob@orrery.test", 1).await;
    let bob = token_of(&server, "bob@orrery.test").await;
    // Someone else holding the link cannot use it.
    let (status, body) = accept(&server, &stranger, &code).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Bob presses Join on two devices at once: one joins, one is told.
    let link = format!("orrery://invite/{code}");
    let (first, second) = tokio::join!(accept(&server, &bob, &code), accept(&server, &bob, &link));
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{first:?} {second:?}"
    );
    let (status, body) = accept(&server, &bob, &code).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["message"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    let (_, members) = call(
        &server,
        &owner,
        reqwest::Method::GET,
        &format!("/v1/teams/{team}/members"),
        None,
    )
    .await;
    let roles: Vec<(&str, &str)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [("olga@orrery.test", "owner"), ("bob@orrery.test", "editor")]
    );
    // Joining twice: a second invitation to a member is refused.
    let (status, _) = invite(&server, &owner, team, "bob@orrery.test", "viewer").await;
    assert_eq!(status, StatusCode::CONFLICT);
    // An editor cannot invite.
    let (status, body) = invite(&server, &bob, team, "eve@orrery.test", "viewer").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // A taken-back invitation does not work.
    let (_, taken_back) = invite(&server, &owner, team, "dora@orrery.test", "viewer").await;
    let dora_code = mailed_code(&sink, "dora@orrery.test", 1).await;
    let (status, _) = call(
        &server,
        &owner,
        reqwest::Method::DELETE,
        &format!(
            "/v1/teams/{team}/invitations/{}",
            taken_back["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let dora = token_of(&server, "dora@orrery.test").await;
    let (status, body) = accept(&server, &dora, &dora_code).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["message"].as_str().unwrap().contains("taken back"),
        "{body}"
    );

    // Seven days on, a link no one used has expired.
    let (_, _) = invite(&server, &owner, team, "carl@orrery.test", "viewer").await;
    let carl_code = mailed_code(&sink, "carl@orrery.test", 1).await;
    server
        .clock
        .advance(chrono::Duration::days(7) + chrono::Duration::minutes(1));
    let carl = token_of(&server, "carl@orrery.test").await;
    // (Olga's access token expired too; she signs in again.)
    let owner = token_of(&server, "olga@orrery.test").await;
    let (status, body) = accept(&server, &carl, &carl_code).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    // Garbage codes are refused without a lookup.
    for garbage in ["", "oat_not-an-invitation", &"oin_".repeat(100)] {
        let (status, _) = accept(&server, &carl, garbage).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{garbage}");
    }
    let (status, _) = accept(&server, &carl, &format!("oin_{}", "A".repeat(43))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The hourly count holds under parallel invitations (the earlier ones
    // were sent a week ago; the team's plan leaves seats for them all).
    put_on_plan(&server, "olga@orrery.test", "enterprise").await;
    let sends = (0..INVITATIONS_PER_TEAM_PER_HOUR + 15).map(|n| {
        let (server, owner) = (&server, &owner);
        async move {
            invite(
                server,
                owner,
                team,
                &format!("guest{n}@orrery.test"),
                "viewer",
            )
            .await
            .0
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    let sent = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(sent as u64, INVITATIONS_PER_TEAM_PER_HOUR, "{statuses:?}");
    assert_eq!(sent + refused, statuses.len(), "{statuses:?}");
}

/// Every route, called by a viewer inside the team: those that change
/// anything are refused with the viewer's reason; reading works.
#[tokio::test]
async fn viewer_cannot_change_a_team_graph() {
    let (sink, server) = mailing_server().await;
    let owner = token_of(&server, "olga@orrery.test").await;
    let team = create_team(&server, &owner, "Design").await;
    let viewer = join(&server, &sink, &owner, team, "vic@orrery.test", "viewer").await;

    let editor = team_device(&server, "olga@orrery.test", team).await;
    let graph = editor
        .replica
        .add_graph(sample_graph("Team plan", 8, 11))
        .await
        .unwrap();
    editor.client.sync_all(&editor.replica).await.unwrap();

    // The viewer's device receives the team's graph...
    let vic = team_device(&server, "vic@orrery.test", team).await;
    let report = vic.client.sync_all(&vic.replica).await.unwrap();
    assert_eq!(report.graphs_received, 1);
    assert_eq!(vic.replica.graph(graph.id).await.unwrap(), graph);
    // ...and an edit it sends is refused with the reason, changing nothing.
    let node = *graph.nodes.keys().next().unwrap();
    vic.replica
        .relabel_node(graph.id, node, "Vic was here")
        .await
        .unwrap();
    match vic.client.sync_graph(&vic.replica, graph.id).await {
        Err(SyncError::Server {
            status: 403,
            message,
        }) => {
            assert!(message.contains("viewer"), "{message}")
        }
        other => panic!("a viewer's edit was not refused: {other:?}"),
    }
    let fresh = team_device(&server, "olga@orrery.test", team).await;
    fresh.client.sync_all(&fresh.replica).await.unwrap();
    assert_eq!(fresh.replica.graph(graph.id).await.unwrap(), graph);

    // Every route, inside the team.
    let forged = {
        let document = orrery_sync::GraphDocument::create(&graph).unwrap();
        document.relabel_node(node, "Forged").unwrap();
        SyncRequest {
            client_version: Vec::new(),
            updates: document.snapshot(),
        }
        .encode()
    };
    let given = [
        ("graph_id", graph.id.to_string()),
        ("team_id", team.to_string()),
    ];
    let mut refused = 0;
    for endpoint in endpoints()
        .iter()
        .filter(|e| e.access == Access::SignedIn && e.path != "/v1/auth/sign-out")
    {
        let path = orrery_e2e::route_path(endpoint.path, &given);
        let body: reqwest::Body = if path.ends_with("/sync") {
            forged.clone().into()
        } else {
            "{}".into()
        };
        let response = reqwest::Client::new()
            .request(endpoint.method.clone(), format!("{}{path}", server.url()))
            .bearer_auth(&viewer)
            .header(WORKSPACE_HEADER, team.to_string())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            !status.is_server_error(),
            "{} {path}: {status} {text}",
            endpoint.method
        );
        let reads = endpoint.team_action == Some(orrery_domain::team::TeamAction::Read);
        let sends_changes = path.ends_with("/sync");
        if !reads || sends_changes {
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{} {path} let a viewer through: {text}",
                endpoint.method
            );
            refused += 1;
        }
    }
    assert!(refused >= 20, "only {refused} routes were tried");
    // Still exactly the owner's graph.
    fresh.client.sync_all(&fresh.replica).await.unwrap();
    assert_eq!(fresh.replica.graph(graph.id).await.unwrap(), graph);
    // Once made an editor, the same device's edit goes through.
    let vic_id = vic.session.account.id.clone();
    let (status, body) = call(
        &server,
        &owner,
        reqwest::Method::PATCH,
        &format!("/v1/teams/{team}/members/{vic_id}"),
        Some(json!({ "role": "editor" })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    vic.client.sync_graph(&vic.replica, graph.id).await.unwrap();
    fresh.client.sync_all(&fresh.replica).await.unwrap();
    assert_eq!(
        fresh.replica.graph(graph.id).await.unwrap().nodes[&node].label,
        "Vic was here"
    );
}

#[tokio::test]
async fn removed_member_loses_access_at_once() {
    let (sink, server) = mailing_server().await;
    let owner = token_of(&server, "olga@orrery.test").await;
    let team = create_team(&server, &owner, "Ops").await;
    let eve_token = join(&server, &sink, &owner, team, "eve@orrery.test", "editor").await;
    let olga = team_device(&server, "olga@orrery.test", team).await;
    let graph = olga
        .replica
        .add_graph(sample_graph("Runbook", 5, 21))
        .await
        .unwrap();
    olga.client.sync_all(&olga.replica).await.unwrap();
    let eve = team_device(&server, "eve@orrery.test", team).await;
    eve.client.sync_all(&eve.replica).await.unwrap();
    let mut feed = LiveFeed::connect_in(&server.url(), eve.token(), Some(team))
        .await
        .unwrap();
    // Her own workspace's feed stays open.
    let mut own_feed = LiveFeed::connect(&server.url(), eve.token()).await.unwrap();

    // The last owner cannot leave; an admin cannot remove an owner.
    let olga_id = olga.session.account.id.clone();
    let (status, body) = call(
        &server,
        &owner,
        reqwest::Method::DELETE,
        &format!("/v1/teams/{team}/members/{olga_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let eve_id = eve.session.account.id.clone();
    let (status, body) = call(
        &server,
        &owner,
        reqwest::Method::DELETE,
        &format!("/v1/teams/{team}/members/{eve_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // Her feed on the team closes now, without waiting for a ping.
    let next = tokio::time::timeout(PATIENCE, feed.next()).await.unwrap();
    assert!(matches!(next, Ok(None)), "{next:?}");
    // Her next request inside the team is refused, reading included.
    let response = reqwest::Client::new()
        .get(format!("{}/v1/graphs", server.url()))
        .bearer_auth(&eve_token)
        .header(WORKSPACE_HEADER, team.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    match eve.client.sync_all(&eve.replica).await {
        Err(SyncError::Server { status: 403, .. }) => {}
        other => panic!("a removed member synced: {other:?}"),
    }
    let refused = LiveFeed::connect_in(&server.url(), eve.token(), Some(team)).await;
    assert!(
        matches!(refused, Err(SyncError::Server { status: 403, .. })),
        "{refused:?}"
    );
    // Her device keeps what it had, read-only.
    assert_eq!(eve.replica.graph(graph.id).await.unwrap(), graph);
    let (_, teams) = call(&server, &eve_token, reqwest::Method::GET, "/v1/teams", None).await;
    assert_eq!(teams, json!([]));
    // Her own workspace is untouched: its feed still hears her own graphs.
    let personal = TestDevice::signed_in(&server, "eve@orrery.test", "desktop")
        .await
        .unwrap();
    let own = personal
        .replica
        .add_graph(sample_graph("Eve's own", 3, 22))
        .await
        .unwrap();
    personal.client.sync_all(&personal.replica).await.unwrap();
    let heard = tokio::time::timeout(PATIENCE, own_feed.next())
        .await
        .unwrap();
    assert_eq!(
        heard.unwrap().and_then(|change| change.changed_graph()),
        Some(own.id)
    );
}

#[tokio::test]
async fn two_people_edit_one_graph_and_converge() {
    let (sink, server) = mailing_server().await;
    let owner = token_of(&server, "ana@orrery.test").await;
    let team = create_team(&server, &owner, "Studio").await;
    join(&server, &sink, &owner, team, "ben@orrery.test", "editor").await;
    let ana = team_device(&server, "ana@orrery.test", team).await;
    let ben = team_device(&server, "ben@orrery.test", team).await;
    let graph = ana
        .replica
        .add_graph(sample_graph("Shared", 6, 31))
        .await
        .unwrap();
    ana.client.sync_all(&ana.replica).await.unwrap();
    ben.client.sync_all(&ben.replica).await.unwrap();
    assert_eq!(ben.replica.graph(graph.id).await.unwrap(), graph);
    let nodes: Vec<NodeId> = graph.nodes.keys().copied().collect();

    // Each person edits through their own command stack, as the canvas does.
    async fn edit(
        device: &TestDevice,
        history: &mut EditHistory,
        graph: orrery_domain::GraphId,
        make: impl FnOnce(&orrery_domain::Graph) -> GraphEdit,
    ) {
        let mut current = device.replica.graph(graph).await.unwrap();
        let edit = make(&current);
        let applied = history.apply(&mut current, edit).unwrap().clone();
        device.replica.apply_edit(graph, &applied).await.unwrap();
    }
    let mut ana_history = EditHistory::default();
    let mut ben_history = EditHistory::default();

    // Online: one after the other, each syncing.
    edit(&ana, &mut ana_history, graph.id, |g| {
        GraphEdit::RelabelNode {
            id: nodes[0],
            from: g.nodes[&nodes[0]].label.clone(),
            to: "Ana's label".into(),
        }
    })
    .await;
    ana.client.sync_all(&ana.replica).await.unwrap();
    ben.client.sync_all(&ben.replica).await.unwrap();
    edit(&ben, &mut ben_history, graph.id, |g| {
        GraphEdit::MoveNodes(vec![orrery_domain::NodeMove {
            id: nodes[1],
            from: g.nodes[&nodes[1]].position,
            to: Position {
                x: 40.0,
                y: 2.0,
                z: -3.0,
            },
        }])
    })
    .await;
    // Offline: both edit without syncing, including the same node.
    edit(&ana, &mut ana_history, graph.id, |g| {
        GraphEdit::remove_node(g, nodes[2]).unwrap()
    })
    .await;
    edit(&ben, &mut ben_history, graph.id, |g| {
        GraphEdit::RelabelNode {
            id: nodes[3],
            from: g.nodes[&nodes[3]].label.clone(),
            to: "Ben's label".into(),
        }
    })
    .await;
    edit(&ben, &mut ben_history, graph.id, |g| {
        GraphEdit::MoveNodes(vec![orrery_domain::NodeMove {
            id: nodes[2],
            from: g.nodes[&nodes[2]].position,
            to: Position {
                x: -9.0,
                y: 9.0,
                z: 9.0,
            },
        }])
    })
    .await;
    for _ in 0..2 {
        ben.client.sync_all(&ben.replica).await.unwrap();
        ana.client.sync_all(&ana.replica).await.unwrap();
    }
    let merged = ana.replica.graph(graph.id).await.unwrap();
    assert_eq!(ben.replica.graph(graph.id).await.unwrap(), merged);
    assert_eq!(merged.nodes[&nodes[0]].label, "Ana's label");
    assert_eq!(merged.nodes[&nodes[3]].label, "Ben's label");
    assert_eq!(
        merged.nodes[&nodes[1]].position,
        Position {
            x: 40.0,
            y: 2.0,
            z: -3.0
        }
    );
    assert!(
        !merged.nodes.contains_key(&nodes[2]),
        "Ana's removal stands"
    );

    // Undo touches only its author's edits: Ana undoes her removal and her
    // label; Ben's label and move stay.
    for _ in 0..2 {
        let mut current = ana.replica.graph(graph.id).await.unwrap();
        let inverse = ana_history.undo(&mut current).unwrap().unwrap();
        ana.replica.apply_edit(graph.id, &inverse).await.unwrap();
    }
    assert!(!ana_history.can_undo());
    for _ in 0..2 {
        ana.client.sync_all(&ana.replica).await.unwrap();
        ben.client.sync_all(&ben.replica).await.unwrap();
    }
    let undone = ben.replica.graph(graph.id).await.unwrap();
    assert_eq!(ana.replica.graph(graph.id).await.unwrap(), undone);
    assert_eq!(undone.nodes[&nodes[0]].label, graph.nodes[&nodes[0]].label);
    assert!(
        undone.nodes.contains_key(&nodes[2]),
        "Ana's removal was undone"
    );
    assert_eq!(undone.nodes[&nodes[3]].label, "Ben's label");
    assert_eq!(
        undone.nodes[&nodes[1]].position,
        Position {
            x: 40.0,
            y: 2.0,
            z: -3.0
        }
    );
}

#[tokio::test]
async fn presence_is_tenant_scoped_and_not_stored() {
    let (sink, server) = mailing_server().await;
    let owner = token_of(&server, "ana@orrery.test").await;
    let team = create_team(&server, &owner, "Studio").await;
    join(&server, &sink, &owner, team, "ben@orrery.test", "viewer").await;
    let ana = team_device(&server, "ana@orrery.test", team).await;
    let ben = team_device(&server, "ben@orrery.test", team).await;
    let graph = ana
        .replica
        .add_graph(sample_graph("Shared", 4, 41))
        .await
        .unwrap();
    ana.client.sync_all(&ana.replica).await.unwrap();
    // An outsider with a graph of his own.
    let carl = TestDevice::signed_in(&server, "carl@orrery.test", "laptop")
        .await
        .unwrap();
    let carls = carl
        .replica
        .add_graph(sample_graph("Carl's", 3, 42))
        .await
        .unwrap();
    carl.client.sync_all(&carl.replica).await.unwrap();

    let mut ana_feed = LiveFeed::connect_in(&server.url(), ana.token(), Some(team))
        .await
        .unwrap();
    let mut ben_feed = LiveFeed::connect_in(&server.url(), ben.token(), Some(team))
        .await
        .unwrap();
    let mut carl_feed = LiveFeed::connect(&server.url(), carl.token())
        .await
        .unwrap();

    // A viewer shows where they look; Ana sees Ben's marker and selection.
    let marker = NodeId::new();
    ben_feed
        .show_presence(graph.id, Some([1.5, -2.0, 3.25]), &[marker])
        .await
        .unwrap();
    let seen = tokio::time::timeout(PATIENCE, ana_feed.next())
        .await
        .unwrap()
        .unwrap();
    let Some(LiveChange::Presence(peer)) = seen else {
        panic!("Ana did not see Ben: {seen:?}");
    };
    assert_eq!(peer.user.to_string(), ben.session.account.id);
    assert_eq!(peer.name, "ben");
    assert_eq!(
        peer.colour,
        orrery_domain::team::presence_colour(&peer.user)
    );
    assert_eq!(peer.graph, graph.id);
    assert_eq!(peer.cursor, Some([1.5, -2.0, 3.25]));
    assert_eq!(peer.selection, vec![marker]);

    // Hostile presence is refused with its reason and relayed to no one.
    let carl_graph = carls.id.to_string();
    let ana_id = ana.session.account.id.clone();
    for (message, reason) in [
        (
            format!(
                r#"{{"presence":{{"graph":"{}","selection":[],"padding":"{}"}}}}"#,
                graph.id,
                "x".repeat(3000)
            ),
            "at most",
        ),
        (
            format!(
                r#"{{"presence":{{"graph":"{}","user":"{ana_id}"}}}}"#,
                graph.id
            ),
            "yourself",
        ),
        (
            format!(r#"{{"presence":{{"graph":"{carl_graph}"}}}}"#),
            "no graph",
        ),
        (r#"{"presence":{"graph":"not-an-id"}}"#.to_owned(), "graph"),
        (
            format!(
                r#"{{"presence":{{"graph":"{}","cursor":[1e308,1e308,1e400]}}}}"#,
                graph.id
            ),
            "",
        ),
        ("garbage".to_owned(), "not a presence message"),
    ] {
        ben_feed.send_text(message.clone()).await.unwrap();
        let answer = tokio::time::timeout(PATIENCE, ben_feed.next())
            .await
            .unwrap()
            .unwrap();
        match answer {
            Some(LiveChange::Refused(why)) => {
                assert!(why.contains(reason), "{why} for {message:.80}")
            }
            other => panic!("{message:.80} was not refused: {other:?}"),
        }
    }

    // The person's rate holds: a burst of 3× the rate reaches Ana at most
    // twice the rate (a burst may straddle two seconds), then Ben leaves.
    for n in 0..3 * PRESENCE_PER_SECOND {
        ben_feed
            .show_presence(graph.id, Some([n as f64, 0.0, 0.0]), &[])
            .await
            .unwrap();
    }
    drop(ben_feed);
    let mut relayed = 0;
    loop {
        match tokio::time::timeout(PATIENCE, ana_feed.next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(LiveChange::Presence(peer)) => {
                assert_eq!(peer.user.to_string(), ben.session.account.id);
                relayed += 1;
            }
            Some(LiveChange::PresenceLeft(user)) => {
                assert_eq!(user.to_string(), ben.session.account.id);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        (1..=2 * PRESENCE_PER_SECOND).contains(&relayed),
        "{relayed} of {} relayed",
        3 * PRESENCE_PER_SECOND
    );

    // Carl heard none of it: the first thing on his feed is his own change.
    carl.replica
        .rename_graph(carls.id, "Carl's, renamed")
        .await
        .unwrap();
    carl.client.sync_all(&carl.replica).await.unwrap();
    let first = tokio::time::timeout(PATIENCE, carl_feed.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.and_then(|change| change.changed_graph()),
        Some(carls.id)
    );
    // And Ana's own presence does not come back to her.
    ana_feed.show_presence(graph.id, None, &[]).await.unwrap();
    ana.replica
        .rename_graph(graph.id, "Shared, renamed")
        .await
        .unwrap();
    ana.client.sync_all(&ana.replica).await.unwrap();
    let next = tokio::time::timeout(PATIENCE, ana_feed.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next.and_then(|change| change.changed_graph()),
        Some(graph.id)
    );

    // Never stored: the marker's id is nowhere in the server's files.
    let directory = server.database.parent().unwrap();
    for entry in std::fs::read_dir(directory).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let needle = marker.to_string();
        assert!(
            !bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes()),
            "a presence message was written to the server's files"
        );
    }
}

#[tokio::test]
async fn version_history_diff_and_restore() {
    let (sink, server) = mailing_server().await;
    let owner = token_of(&server, "ana@orrery.test").await;
    let team = create_team(&server, &owner, "Studio").await;
    join(&server, &sink, &owner, team, "ben@orrery.test", "editor").await;
    let ana = team_device(&server, "ana@orrery.test", team).await;
    let ben = team_device(&server, "ben@orrery.test", team).await;
    let original = ana
        .replica
        .add_graph(orrery_domain::sample_graph_with_edges("Pipeline", 8, 7, 51))
        .await
        .unwrap();
    let saved = ana
        .replica
        .save_version(original.id, "Before the review", "Ana")
        .await
        .unwrap();
    // Bad names are refused and nothing is saved.
    for bad in ["", "tab\there", &"x".repeat(500)] {
        assert!(
            ana.replica
                .save_version(original.id, bad, "Ana")
                .await
                .is_err(),
            "{bad:?}"
        );
    }

    // Ana changes one of each kind of thing.
    let nodes: Vec<NodeId> = original.nodes.keys().copied().collect();
    let kept_edge = original
        .edges
        .values()
        .find(|edge| edge.from != nodes[0] && edge.to != nodes[0])
        .unwrap()
        .clone();
    ana.replica
        .remove_node(original.id, nodes[0])
        .await
        .unwrap();
    ana.replica
        .move_node(
            original.id,
            nodes[1],
            Position {
                x: 30.0,
                y: -4.0,
                z: 2.0,
            },
        )
        .await
        .unwrap();
    ana.replica
        .relabel_node(original.id, nodes[2], "Reviewer")
        .await
        .unwrap();
    let added = orrery_domain::Node::new(
        orrery_domain::NodeKind::Agent,
        "Editor",
        Position::default(),
    );
    ana.replica.add_node(original.id, &added).await.unwrap();
    let edge = orrery_domain::Edge::new(added.id, nodes[3]);
    ana.replica.add_edge(original.id, &edge).await.unwrap();
    ana.replica
        .apply_edit(original.id, &GraphEdit::RemoveEdge(kept_edge.clone()))
        .await
        .unwrap();
    let edited = ana.replica.graph(original.id).await.unwrap();
    ana.client.sync_all(&ana.replica).await.unwrap();

    // Ben's device has the named version, and a point where Ana's edits came in.
    ben.client.sync_all(&ben.replica).await.unwrap();
    ana.client.sync_all(&ana.replica).await.unwrap();
    ben.client.sync_all(&ben.replica).await.unwrap();
    let history = ben.replica.versions(original.id).await.unwrap();
    let named: Vec<_> = history.iter().filter(|version| version.named).collect();
    assert_eq!(named.len(), 1, "{history:?}");
    assert_eq!(
        (
            named[0].id.as_str(),
            named[0].name.as_str(),
            named[0].by.as_str()
        ),
        (saved.id.as_str(), "Before the review", "Ana")
    );
    // The version opens as it was, read from the history.
    assert_eq!(
        ben.replica
            .graph_at_version(original.id, Some(&saved.id))
            .await
            .unwrap(),
        original
    );
    assert!(
        ben.replica
            .graph_at_version(original.id, Some("no-such-version"))
            .await
            .is_err()
    );

    // The diff lists exactly what Ana changed.
    let diff = ben
        .replica
        .diff_versions(original.id, Some(&saved.id), None)
        .await
        .unwrap();
    assert_eq!(diff.removed_nodes, vec![nodes[0]]);
    assert_eq!(diff.moved_nodes, vec![nodes[1]]);
    assert_eq!(diff.relabelled_nodes, vec![nodes[2]]);
    assert_eq!(diff.added_nodes, vec![added.id]);
    assert!(diff.added_edges == vec![edge.id], "{diff:?}");
    let mut removed_edges: Vec<_> = original
        .edges
        .values()
        .filter(|each| each.from == nodes[0] || each.to == nodes[0] || each.id == kept_edge.id)
        .map(|each| each.id)
        .collect();
    removed_edges.sort();
    assert_eq!(diff.removed_edges, removed_edges);
    assert_eq!(diff.renamed, None);

    // Ben restores it as a new edit, through his edit history; Ana receives it.
    let mut history = EditHistory::default();
    let restore = ben
        .replica
        .restore_edit(original.id, &saved.id)
        .await
        .unwrap()
        .expect("the graph differs from the version");
    let mut current = ben.replica.graph(original.id).await.unwrap();
    let applied = history.apply(&mut current, restore).unwrap().clone();
    ben.replica.apply_edit(original.id, &applied).await.unwrap();
    ben.client.sync_all(&ben.replica).await.unwrap();
    ana.client.sync_all(&ana.replica).await.unwrap();
    assert_eq!(ana.replica.graph(original.id).await.unwrap(), original);
    // The named version is still there after the restore.
    assert!(
        ana.replica
            .versions(original.id)
            .await
            .unwrap()
            .iter()
            .any(|v| v.id == saved.id)
    );

    // Restoring is undoable: the undo reaches Ana too.
    let mut current = ben.replica.graph(original.id).await.unwrap();
    let undo = history.undo(&mut current).unwrap().unwrap();
    ben.replica.apply_edit(original.id, &undo).await.unwrap();
    ben.client.sync_all(&ben.replica).await.unwrap();
    ana.client.sync_all(&ana.replica).await.unwrap();
    assert_eq!(ana.replica.graph(original.id).await.unwrap(), edited);
}

#[tokio::test]
async fn a_deleted_owner_leaves_the_team_to_its_members() {
    let (sink, server) = mailing_server().await;
    // The server's operator (the first account).
    let operator = token_of(&server, "operator@orrery.test").await;
    let owner = token_of(&server, "olga@orrery.test").await;
    let team = create_team(&server, &owner, "Ops").await;
    let solo = create_team(&server, &owner, "Olga alone").await;
    join(&server, &sink, &owner, team, "bob@orrery.test", "editor").await;
    let olga = team_device(&server, "olga@orrery.test", team).await;
    let graph = olga
        .replica
        .add_graph(sample_graph("Runbook", 5, 61))
        .await
        .unwrap();
    olga.client.sync_all(&olga.replica).await.unwrap();
    let alone = team_device(&server, "olga@orrery.test", solo).await;
    alone
        .replica
        .add_graph(sample_graph("Only mine", 3, 62))
        .await
        .unwrap();
    alone.client.sync_all(&alone.replica).await.unwrap();

    // The operator deletes Olga, who last wrote the team's graph.
    let olga_id = olga.session.account.id.clone();
    let (status, body) = call(
        &server,
        &operator,
        reqwest::Method::DELETE,
        &format!("/v1/admin/users/{olga_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Bob inherits the team as its owner, with everything in it.
    let bob = team_device(&server, "bob@orrery.test", team).await;
    bob.client.sync_all(&bob.replica).await.unwrap();
    assert_eq!(bob.replica.graph(graph.id).await.unwrap(), graph);
    let (_, people) = call(
        &server,
        &bob.session.access_token,
        reqwest::Method::GET,
        &format!("/v1/teams/{team}/members"),
        None,
    )
    .await;
    assert_eq!(people["role"], "owner", "{people}");
    assert_eq!(people["members"].as_array().unwrap().len(), 1);
    // The team only Olga was in went with her.
    let store = server.store().await.unwrap();
    assert_eq!(store.team_name(solo).await.unwrap(), None);
    assert_eq!(store.team_name(team).await.unwrap().as_deref(), Some("Ops"));
}

#[tokio::test]
async fn a_team_holds_the_seats_of_its_plan() {
    let (_sink, server) = mailing_server().await;
    let owner = token_of(&server, "pia@orrery.test").await;
    let team = create_team(&server, &owner, "Seated").await;
    // The owner's plan is the team's: Free has three seats, the owner's one.
    assert_eq!(seats_in(&server, &owner, team).await, (1, Some(3)));
    let (status, personal) = call(&server, &owner, reqwest::Method::GET, "/v1/usage", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !personal["metrics"].to_string().contains("seats"),
        "a personal workspace has no seats: {personal}"
    );

    // Parallel invitations cannot pass the seats together; the refusal says why.
    let invite_many = |from: usize, count: usize| {
        let (server, owner) = (&server, &owner);
        futures_util::future::join_all((from..from + count).map(move |n| async move {
            invite(
                server,
                owner,
                team,
                &format!("seat{n}@orrery.test"),
                "editor",
            )
            .await
        }))
    };
    let answers = invite_many(0, 8).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(created.len(), 2, "{answers:?}");
    for (status, body) in answers
        .iter()
        .filter(|(status, _)| *status != StatusCode::CREATED)
    {
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("limit reached") && message.contains("3 seats"),
            "{message}"
        );
    }
    assert_eq!(seats_in(&server, &owner, team).await, (3, Some(3)));

    // Taking back an invitation gives its seat back.
    let (status, _) = call(
        &server,
        &owner,
        reqwest::Method::DELETE,
        &format!(
            "/v1/teams/{team}/invitations/{}",
            created[0]["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(seats_in(&server, &owner, team).await, (2, Some(3)));
    let (status, body) = invite(&server, &owner, team, "late@orrery.test", "viewer").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // On Pro the team has ten seats, held again under parallel invitations.
    put_on_plan(&server, "pia@orrery.test", "pro").await;
    let answers = invite_many(100, 12).await;
    let created = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 7, "{answers:?}");
    assert_eq!(seats_in(&server, &owner, team).await, (10, Some(10)));
}
