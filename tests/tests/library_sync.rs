//! Agents, prompts and sandbox sessions sync between devices through a real
//! server on loopback, the same way graphs do.

use std::collections::HashSet;
use std::time::Duration;

use orrery_domain::{
    Agent, ChatRole, DocumentId, DocumentKind, LibraryItem, Prompt, VersionStatus, sample_graph,
};
use orrery_e2e::{TestDevice, TestServer};
use orrery_sync::protocol::{CONTENT_TYPE, SyncRequest};
use orrery_sync::{LibraryDocument, LiveChange, LiveFeed, SyncError};
use serde_json::{Value, json};
use uuid::Uuid;

fn tenant_of(device: &TestDevice) -> Uuid {
    device.session.account.tenant_id.parse().unwrap()
}

fn researcher() -> Agent {
    let mut agent = Agent::new("Researcher");
    agent.description = "Finds sources".into();
    agent.system_prompt = "You research carefully.\nCite everything.".into();
    agent.model = "llama3.1:8b".into();
    agent.parameters.insert("temperature".into(), json!(0.2));
    agent.parameters.insert("max_tokens".into(), json!(512));
    agent.tools = vec!["web_search".into()];
    agent
}

async fn get(server: &TestServer, path: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_frame(server: &TestServer, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn agents_prompts_and_sessions_sync_between_devices() {
    let server = TestServer::start().await.unwrap();
    let a = TestDevice::register(&server, "laptop").await.unwrap();
    let b = TestDevice::register(&server, "desktop").await.unwrap();
    let mut feed = LiveFeed::connect(&server.url(), b.token()).await.unwrap();

    // Everything is created on A with no network involved.
    let agent = a.replica.save_agent(&researcher()).await.unwrap();
    let mut prompt = Prompt::new("Trip planner");
    prompt.project = "Travel".into();
    prompt.segment = "Planning".into();
    prompt.tags = vec!["travel".into(), "planning".into()];
    let prompt = a.replica.save_prompt(&prompt).await.unwrap();
    let first = a
        .replica
        .add_prompt_version(prompt.id, "Plan a trip to {{city}}.")
        .await
        .unwrap();
    a.replica
        .add_prompt_version(prompt.id, "Plan a {{days}}-day trip to {{city}}.")
        .await
        .unwrap();
    let prompt = a
        .replica
        .publish_prompt_version(prompt.id, first.id)
        .await
        .unwrap();
    assert_eq!(prompt.active_version().unwrap().id, first.id);
    let graph = a
        .replica
        .add_graph(sample_graph("Travel crew", 3, 2))
        .await
        .unwrap();
    let session = a
        .replica
        .create_session("Lisbon weekend", Some(graph.id))
        .await
        .unwrap();
    a.replica
        .append_message(
            session.id,
            ChatRole::User,
            "owner",
            "Plan a weekend in Lisbon",
        )
        .await
        .unwrap();
    a.replica
        .append_message(
            session.id,
            ChatRole::Manager,
            "manager",
            "Splitting into transport, food and sights.",
        )
        .await
        .unwrap();
    let session = a.replica.session(session.id).await.unwrap();
    assert_eq!(session.messages.len(), 2);
    for kind in DocumentKind::ALL {
        let listed = a.replica.list_documents(kind).await.unwrap();
        assert_eq!(listed.len(), 1, "{kind}");
        assert!(
            listed[0].pending_changes > 0 && !listed[0].synced_once,
            "{kind}"
        );
    }
    assert_eq!(
        a.replica.store().chat_messages(session.id).await.unwrap(),
        session.messages
    );

    let report = a.client.sync_all(&a.replica).await.unwrap();
    assert_eq!((report.documents_synced, report.documents_received), (3, 0));
    for kind in DocumentKind::ALL {
        let listed = a.replica.list_documents(kind).await.unwrap();
        assert_eq!(listed[0].pending_changes, 0, "{kind}");
        assert!(listed[0].synced_once, "{kind}");
    }

    // B hears of each document on the live feed.
    let mut heard = HashSet::new();
    while heard.len() < 3 {
        let change = tokio::time::timeout(Duration::from_secs(20), feed.next())
            .await
            .expect("the feed spoke")
            .unwrap();
        if let Some(LiveChange::Document { kind, id }) = change {
            heard.insert((kind, id));
        }
    }
    assert_eq!(
        heard,
        HashSet::from([
            (DocumentKind::Agent, agent.id),
            (DocumentKind::Prompt, prompt.id),
            (DocumentKind::Session, session.id),
        ])
    );

    let report = b.client.sync_all(&b.replica).await.unwrap();
    assert_eq!((report.documents_synced, report.documents_received), (3, 3));
    assert_eq!(b.replica.agent(agent.id).await.unwrap(), agent);
    assert_eq!(b.replica.prompt(prompt.id).await.unwrap(), prompt);
    assert_eq!(b.replica.session(session.id).await.unwrap(), session);
    assert_eq!(
        b.replica.store().chat_messages(session.id).await.unwrap(),
        session.messages
    );
    let listed = b
        .replica
        .list_documents(DocumentKind::Prompt)
        .await
        .unwrap();
    assert_eq!(listed[0].title, "Trip planner");
    assert_eq!(listed[0].summary["active_version"], json!(first.id));

    // The server lists what it merged, with titles, for the tenant.
    for (kind, title) in [
        (DocumentKind::Agent, "Researcher"),
        (DocumentKind::Prompt, "Trip planner"),
        (DocumentKind::Session, "Lisbon weekend"),
    ] {
        let (status, listing) = get(&server, &format!("/v1/library/{kind}"), a.token()).await;
        assert_eq!(status, 200);
        let listing = listing.as_array().unwrap();
        assert_eq!(listing.len(), 1, "{kind}: {listing:?}");
        assert_eq!(listing[0]["title"], title);
        assert_eq!(listing[0]["kind"], kind.as_str());
    }
    let remote = b
        .client
        .remote_documents(DocumentKind::Agent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(remote[0].summary["model"], "llama3.1:8b");
    // The server's materialised chat matches the document.
    let store = server.store().await.unwrap();
    assert_eq!(
        store
            .chat_messages(tenant_of(&a), session.id)
            .await
            .unwrap(),
        session.messages
    );

    // A second sync with nothing new changes nothing.
    let report = b.client.sync_all(&b.replica).await.unwrap();
    assert_eq!((report.documents_synced, report.documents_received), (3, 0));
}

#[tokio::test]
async fn concurrent_edits_to_library_documents_merge() {
    let server = TestServer::start().await.unwrap();
    let a = TestDevice::register(&server, "laptop").await.unwrap();
    let b = TestDevice::register(&server, "desktop").await.unwrap();

    let agent = a.replica.save_agent(&researcher()).await.unwrap();
    let prompt = a
        .replica
        .save_prompt(&Prompt::new("Summariser"))
        .await
        .unwrap();
    let v1 = a
        .replica
        .add_prompt_version(prompt.id, "Summarise: {{text}}")
        .await
        .unwrap();
    a.replica
        .publish_prompt_version(prompt.id, v1.id)
        .await
        .unwrap();
    let session = a.replica.create_session("Standup", None).await.unwrap();
    a.replica
        .append_message(session.id, ChatRole::User, "owner", "Morning!")
        .await
        .unwrap();
    a.client.sync_all(&a.replica).await.unwrap();
    b.client.sync_all(&b.replica).await.unwrap();

    // Offline on both: different fields of the agent change.
    let mut on_a = a.replica.agent(agent.id).await.unwrap();
    on_a.name = "Senior researcher".into();
    on_a.public = true;
    a.replica.save_agent(&on_a).await.unwrap();
    let mut on_b = b.replica.agent(agent.id).await.unwrap();
    on_b.model = "qwen2.5:14b".into();
    on_b.tools.push("calculator".into());
    on_b.parameters.insert("temperature".into(), json!(0.7));
    b.replica.save_agent(&on_b).await.unwrap();

    // Both publish a different new version of the prompt.
    let from_a = a
        .replica
        .add_prompt_version(prompt.id, "Summarise briefly: {{text}}")
        .await
        .unwrap();
    let from_b = b
        .replica
        .add_prompt_version(prompt.id, "Summarise in bullets: {{text}}")
        .await
        .unwrap();
    a.replica
        .publish_prompt_version(prompt.id, from_a.id)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    b.replica
        .publish_prompt_version(prompt.id, from_b.id)
        .await
        .unwrap();

    // Both append to the chat, interleaved in time.
    for (device, name) in [(&a, "alice"), (&b, "bob"), (&a, "alice"), (&b, "bob")] {
        device
            .replica
            .append_message(session.id, ChatRole::User, name, &format!("{name} here"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    a.client.sync_all(&a.replica).await.unwrap();
    b.client.sync_all(&b.replica).await.unwrap();
    a.client.sync_all(&a.replica).await.unwrap();

    let agent_a = a.replica.agent(agent.id).await.unwrap();
    assert_eq!(agent_a, b.replica.agent(agent.id).await.unwrap());
    assert_eq!(agent_a.name, "Senior researcher");
    assert!(agent_a.public);
    assert_eq!(agent_a.model, "qwen2.5:14b");
    assert_eq!(agent_a.tools, ["web_search", "calculator"]);
    assert_eq!(agent_a.parameters["temperature"], json!(0.7));
    assert_eq!(agent_a.system_prompt, agent.system_prompt);

    let prompt_a = a.replica.prompt(prompt.id).await.unwrap();
    assert_eq!(prompt_a, b.replica.prompt(prompt.id).await.unwrap());
    assert_eq!(prompt_a.versions.len(), 3);
    let active: Vec<_> = prompt_a
        .versions
        .iter()
        .filter(|version| version.status == VersionStatus::Active)
        .collect();
    assert_eq!(active.len(), 1, "exactly one active: {prompt_a:?}");
    assert_eq!(active[0].id, from_b.id, "the later publish wins");
    assert_eq!(
        prompt_a.version(from_a.id).unwrap().status,
        VersionStatus::Archived
    );
    assert_eq!(
        prompt_a.version(v1.id).unwrap().status,
        VersionStatus::Archived
    );

    let session_a = a.replica.session(session.id).await.unwrap();
    assert_eq!(session_a, b.replica.session(session.id).await.unwrap());
    let texts: Vec<_> = session_a
        .messages
        .iter()
        .map(|message| message.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "Morning!",
            "alice here",
            "bob here",
            "alice here",
            "bob here"
        ]
    );

    // What the server materialised matches the merged documents.
    let store = server.store().await.unwrap();
    let tenant = tenant_of(&a);
    assert_eq!(
        store.chat_messages(tenant, session.id).await.unwrap(),
        session_a.messages
    );
    let prompts = store
        .list_library_documents(tenant, DocumentKind::Prompt)
        .await
        .unwrap();
    assert_eq!(prompts[0].summary["active_version"], json!(from_b.id));
    let agents = store
        .list_library_documents(tenant, DocumentKind::Agent)
        .await
        .unwrap();
    assert_eq!(agents[0].title, "Senior researcher");
    assert_eq!(agents[0].summary["model"], "qwen2.5:14b");
}

#[tokio::test]
async fn library_sync_refuses_garbage_and_other_tenants() {
    let server = TestServer::start().await.unwrap();
    let alice = TestDevice::signed_in(&server, "alice@orrery.test", "laptop")
        .await
        .unwrap();
    let mallory = TestDevice::signed_in(&server, "mallory@orrery.test", "attacker")
        .await
        .unwrap();
    let id = DocumentId::new();
    let sync_path = format!("/v1/library/agent/{id}/sync");

    // Garbage is refused with a reason, and nothing is stored.
    let refusals = [
        b"GET / HTTP/1.1".to_vec(),
        SyncRequest {
            client_version: Vec::new(),
            updates: vec![0xFF; 64],
        }
        .encode(),
        SyncRequest {
            client_version: vec![0xFF; 8],
            updates: Vec::new(),
        }
        .encode(),
    ];
    for body in refusals {
        let (status, answer) = post_frame(&server, &sync_path, alice.token(), body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            !answer["message"].as_str().unwrap_or_default().is_empty(),
            "{answer}"
        );
    }
    // A prompt pushed where an agent is expected.
    let mut prompt = Prompt::new("Not an agent");
    prompt.id = id;
    let wrong_kind = LibraryDocument::create(&LibraryItem::Prompt(prompt)).unwrap();
    let frame = SyncRequest {
        client_version: Vec::new(),
        updates: wrong_kind.snapshot(),
    }
    .encode();
    let (status, answer) = post_frame(&server, &sync_path, alice.token(), frame).await;
    assert_eq!(status, 400);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("kind `prompt`"),
        "{answer}"
    );
    // A pull of something the server does not have.
    let (status, _) = post_frame(
        &server,
        &sync_path,
        alice.token(),
        SyncRequest::default().encode(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, listing) = get(&server, "/v1/library/agent", alice.token()).await;
    assert_eq!((status, listing), (200, json!([])));

    // Unknown kinds and malformed ids.
    let (status, _) = get(&server, "/v1/library/spaceship", alice.token()).await;
    assert_eq!(status, 404);
    let (status, answer) = post_frame(
        &server,
        &format!("/v1/library/spaceship/{id}/sync"),
        alice.token(),
        SyncRequest::default().encode(),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    let (status, _) = post_frame(
        &server,
        "/v1/library/agent/not-an-id/sync",
        alice.token(),
        SyncRequest::default().encode(),
    )
    .await;
    assert_eq!(status, 400);

    // Another tenant using the same document id gets a document of its own.
    let mut secret = researcher();
    secret.id = id;
    secret.name = "Alice's secret agent".into();
    secret.system_prompt = "The launch code is 0000.".into();
    alice.replica.save_agent(&secret).await.unwrap();
    let session = alice
        .replica
        .create_session("Alice's chat", None)
        .await
        .unwrap();
    alice
        .replica
        .append_message(session.id, ChatRole::User, "alice", "private words")
        .await
        .unwrap();
    alice.client.sync_all(&alice.replica).await.unwrap();

    // Mallory cannot pull Alice's session by its id.
    let error = mallory
        .client
        .sync_document(&mallory.replica, DocumentKind::Session, session.id)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SyncError::Server { status: 404, .. }),
        "{error}"
    );
    // Mallory pushes her own agent under Alice's id.
    let mut forged = Agent::new("Mallory's agent");
    forged.id = id;
    mallory.replica.save_agent(&forged).await.unwrap();
    let report = mallory.client.sync_all(&mallory.replica).await.unwrap();
    assert_eq!(report.documents_received, 0);
    assert_eq!(mallory.replica.agent(id).await.unwrap(), forged);
    for kind in DocumentKind::ALL {
        let (status, listing) = get(&server, &format!("/v1/library/{kind}"), mallory.token()).await;
        assert_eq!(status, 200);
        let text = listing.to_string();
        assert!(!text.contains("Alice"), "{kind}: {text}");
    }

    // Alice's documents are untouched, on the server and on a new device.
    let fresh = TestDevice::signed_in(&server, "alice@orrery.test", "second laptop")
        .await
        .unwrap();
    fresh.client.sync_all(&fresh.replica).await.unwrap();
    assert_eq!(fresh.replica.agent(id).await.unwrap(), secret);
    assert_eq!(
        fresh.replica.session(session.id).await.unwrap(),
        alice.replica.session(session.id).await.unwrap()
    );
    let store = server.store().await.unwrap();
    assert!(
        store
            .chat_messages(tenant_of(&mallory), session.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .chat_messages(tenant_of(&alice), session.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Two server instances sharing one PostgreSQL database: a merge on one is
/// heard live on the other, and chat messages appended and synced through
/// both at once all survive (a merge that lost the revision race merges
/// again), with the materialised rows matching.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn library_merges_through_two_postgres_instances() {
    use orrery_e2e::postgres::PostgresServer;
    use orrery_store::DatabaseLocation;

    let postgres = PostgresServer::start().unwrap();
    let location = DatabaseLocation::Postgres(postgres.database("library").await.unwrap());
    let first = TestServer::start_on(Some(location.clone()), |_| {})
        .await
        .unwrap();
    let second = TestServer::start_on(Some(location), |_| {}).await.unwrap();
    let a = TestDevice::register(&first, "laptop").await.unwrap();
    let b = TestDevice::register(&second, "desktop").await.unwrap();
    let mut feed = LiveFeed::connect(&second.url(), b.token()).await.unwrap();

    let session = a.replica.create_session("Shared", None).await.unwrap();
    a.client.sync_all(&a.replica).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(20), feed.next())
        .await
        .expect("instance 2 relayed the merge made on instance 1")
        .unwrap();
    assert_eq!(
        heard,
        Some(LiveChange::Document {
            kind: DocumentKind::Session,
            id: session.id
        })
    );
    b.client.sync_all(&b.replica).await.unwrap();

    async fn chat(device: &TestDevice, session: DocumentId, name: &str) {
        for round in 0..6 {
            device
                .replica
                .append_message(session, ChatRole::User, name, &format!("{name} {round}"))
                .await
                .unwrap();
            device
                .client
                .sync_document(&device.replica, DocumentKind::Session, session)
                .await
                .unwrap();
        }
    }
    tokio::join!(chat(&a, session.id, "a"), chat(&b, session.id, "b"));
    a.client.sync_all(&a.replica).await.unwrap();
    b.client.sync_all(&b.replica).await.unwrap();

    let on_a = a.replica.session(session.id).await.unwrap();
    assert_eq!(on_a, b.replica.session(session.id).await.unwrap());
    assert_eq!(on_a.messages.len(), 12);
    let store = first.store().await.unwrap();
    assert_eq!(
        store
            .chat_messages(tenant_of(&a), session.id)
            .await
            .unwrap(),
        on_a.messages
    );
}

#[tokio::test]
async fn a_deletion_reaches_every_device_and_wins_over_concurrent_edits() {
    let server = TestServer::start().await.unwrap();
    let a = TestDevice::register(&server, "laptop").await.unwrap();
    let agent = a.replica.save_agent(&researcher()).await.unwrap();
    let kept = a.replica.save_agent(&Agent::new("Writer")).await.unwrap();
    a.client.sync_all(&a.replica).await.unwrap();
    let b = TestDevice::register(&server, "desktop").await.unwrap();
    b.client.sync_all(&b.replica).await.unwrap();
    assert_eq!(
        b.replica
            .list_documents(DocumentKind::Agent)
            .await
            .unwrap()
            .len(),
        2
    );

    // A deletes while B, offline, edits the same agent.
    a.replica
        .delete_document(DocumentKind::Agent, agent.id)
        .await
        .unwrap();
    let listed: Vec<_> = a
        .replica
        .list_documents(DocumentKind::Agent)
        .await
        .unwrap()
        .into_iter()
        .map(|summary| summary.id)
        .collect();
    assert_eq!(listed, [kept.id], "gone from A's list at once");
    let mut edited = agent.clone();
    edited.model = "qwen2.5".into();
    b.replica.save_agent(&edited).await.unwrap();

    a.client.sync_all(&a.replica).await.unwrap();
    b.client.sync_all(&b.replica).await.unwrap();
    a.client.sync_all(&a.replica).await.unwrap();

    // Deleted everywhere: both devices' lists and the server's listing.
    for device in [&a, &b] {
        let ids: Vec<_> = device
            .replica
            .list_documents(DocumentKind::Agent)
            .await
            .unwrap()
            .into_iter()
            .map(|summary| summary.id)
            .collect();
        assert_eq!(ids, [kept.id]);
    }
    let (status, listing) = get(&server, "/v1/library/agent", a.token()).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [kept.id.to_string()]);
    // The edit merged into the tombstoned document (nothing is lost), and
    // a device that never had the agent does not fetch it.
    assert_eq!(a.replica.agent(agent.id).await.unwrap().model, "qwen2.5");
    let c = TestDevice::register(&server, "tablet").await.unwrap();
    c.client.sync_all(&c.replica).await.unwrap();
    assert_eq!(
        c.replica
            .list_documents(DocumentKind::Agent)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(c.replica.agent(agent.id).await.is_err());
}
