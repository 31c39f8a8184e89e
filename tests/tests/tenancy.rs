//! Tenancy: every route of the real router, walked with another tenant's
//! credentials, and with none.

use std::collections::HashMap;

use orrery_domain::sample_graph;
use orrery_e2e::{TestDevice, TestServer};
use orrery_server::http::{Access, endpoints};
use orrery_sync::protocol::{SyncRequest, SyncResponse};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Everything tenant A can see about itself, through its own credentials.
#[derive(Debug, PartialEq)]
struct TenantView {
    me: Value,
    graphs: Value,
    api_keys: Value,
    graph_document: Vec<u8>,
}

async fn get_json(server: &TestServer, path: &str, token: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn view_of(server: &TestServer, token: &str, graph: &str) -> TenantView {
    let pull = reqwest::Client::new()
        .post(format!("{}/v1/graphs/{graph}/sync", server.url()))
        .bearer_auth(token)
        .body(SyncRequest::default().encode())
        .send()
        .await
        .unwrap();
    assert_eq!(pull.status(), 200);
    let answer = SyncResponse::decode(&pull.bytes().await.unwrap()).unwrap();
    TenantView {
        me: get_json(server, "/v1/me", token).await,
        graphs: get_json(server, "/v1/graphs", token).await,
        api_keys: get_json(server, "/v1/api-keys", token).await,
        graph_document: answer.updates,
    }
}

/// A request body each route might be tricked with; routes without one get `{}`.
fn hostile_body(
    method: &Method,
    path: &str,
    forged_sync: &[u8],
    forged_library_sync: &[u8],
) -> reqwest::Body {
    match (method.as_str(), path) {
        ("POST", "/v1/graphs/{graph_id}/sync") => reqwest::Body::from(forged_sync.to_vec()),
        ("POST", "/v1/library/{kind}/{document_id}/sync") => {
            reqwest::Body::from(forged_library_sync.to_vec())
        }
        ("PATCH", "/v1/me") => json!({ "name": "Mallory", "settings": { "owned": true } })
            .to_string()
            .into(),
        ("POST", "/v1/api-keys") => json!({ "name": "mallory" }).to_string().into(),
        ("POST", "/v1/agents/{agent_id}/runs") | ("POST", "/v1/graphs/{graph_id}/runs") => {
            json!({ "input": "Mallory's question" }).to_string().into()
        }
        ("POST", "/v1/auth/refresh") => json!({ "refresh_token": "ort_guess" }).to_string().into(),
        ("PATCH", "/v1/marketplace/listings/{listing_id}") => json!({
            "title": "Mallory's now", "description": "Taken over.", "tags": [],
            "pricing": "free", "price_minor": 0, "currency": "usd",
        })
        .to_string()
        .into(),
        ("PUT", "/v1/marketplace/listings/{listing_id}/review") => {
            json!({ "rating": 1, "body": "Mallory" }).to_string().into()
        }
        ("POST", "/v1/teams/{team_id}/invitations") => {
            json!({ "email": "mallory@orrery.test", "role": "owner" })
                .to_string()
                .into()
        }
        ("PATCH", "/v1/teams/{team_id}/members/{user_id}") => {
            json!({ "role": "viewer" }).to_string().into()
        }
        ("PATCH", "/v1/teams/{team_id}") => json!({ "name": "Mallory's team" }).to_string().into(),
        _ => "{}".into(),
    }
}

#[tokio::test]
async fn cross_tenant_access_is_denied() {
    let server = TestServer::start_with(|config| {
        config.runs.secrets_key = Some(orrery_server::agent_runs::sealed::SecretsKey::generate());
        config.runs.private_provider_hosts = true;
    })
    .await
    .unwrap();
    let double = orrery_runtime::double::ProviderDouble::start()
        .await
        .unwrap();
    double.set_fallback(orrery_runtime::double::Reply::text("Alice's secret answer"));
    // B registers first, so B is the server's admin: even that role reaches no other tenant's data.
    let mallory = TestDevice::signed_in(&server, "mallory@orrery.test", "attacker")
        .await
        .unwrap();
    let alice = TestDevice::signed_in(&server, "alice@orrery.test", "laptop")
        .await
        .unwrap();
    assert_eq!(mallory.session.account.role, "admin");
    let store = server.store().await.unwrap();
    for device in [&alice, &mallory] {
        let account = &device.session.account;
        store
            .set_plan(
                account.tenant_id.parse().unwrap(),
                account.id.parse().unwrap(),
                "pro",
            )
            .await
            .unwrap();
    }

    // Alice's data: a synced graph, an API key, settings.
    let graph = alice
        .replica
        .add_graph(sample_graph("Alice's secret plan", 12, 3))
        .await
        .unwrap();
    alice.client.sync_all(&alice.replica).await.unwrap();
    let key: Value = reqwest::Client::new()
        .post(format!("{}/v1/api-keys", server.url()))
        .bearer_auth(alice.token())
        .json(&json!({ "name": "alice-ci" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice_key_secret = key["key"].as_str().unwrap().to_owned();
    let alice_key_id = key["id"].as_str().unwrap().to_owned();
    server
        .accounts()
        .update_profile(
            alice.token(),
            &orrery_account::ProfileUpdate {
                settings: Some(json!({ "diary": "private" })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // A listing of Alice's (public by design) of an agent that is not the secret one.
    let mut helper = orrery_domain::Agent::new("Helper for everyone");
    helper.system_prompt = "You help.".into();
    let helper = alice.replica.save_agent(&helper).await.unwrap();
    alice.client.sync_all(&alice.replica).await.unwrap();
    let listing: Value = reqwest::Client::new()
        .post(format!("{}/v1/marketplace/listings", server.url()))
        .bearer_auth(alice.token())
        .json(&json!({
            "kind": "agent", "item_id": helper.id, "title": "Helper for everyone",
            "description": "Answers questions.", "tags": ["help"],
            "pricing": "free", "price_minor": 0, "currency": "usd",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice_listing = listing["id"].as_str().unwrap().to_owned();
    let mut secret_agent = orrery_domain::Agent::new("Alice's secret agent");
    secret_agent.system_prompt = "Alice's private instructions".into();
    let secret_agent = alice.replica.save_agent(&secret_agent).await.unwrap();
    alice.client.sync_all(&alice.replica).await.unwrap();
    // And a run of her agent, through her own provider.
    let set = reqwest::Client::new()
        .put(format!("{}/v1/run-providers/live", server.url()))
        .bearer_auth(alice.token())
        .json(&json!({
            "settings": double.settings(orrery_runtime::ProviderKind::OpenAiCompatible),
            "api_key": orrery_runtime::double::DOUBLE_API_KEY,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let alice_run: Value = reqwest::Client::new()
        .post(format!(
            "{}/v1/agents/{}/runs",
            server.url(),
            secret_agent.id
        ))
        .bearer_auth(alice.token())
        .json(&json!({ "input": "Alice's secret question" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice_run_id = alice_run["id"].as_str().unwrap().to_owned();
    // A team of Alice's, with an invitation out.
    let team: Value = reqwest::Client::new()
        .post(format!("{}/v1/teams", server.url()))
        .bearer_auth(alice.token())
        .json(&json!({ "name": "Alice's secret team" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice_team = team["id"].as_str().unwrap().to_owned();
    let invitation: Value = reqwest::Client::new()
        .post(format!(
            "{}/v1/teams/{alice_team}/invitations",
            server.url()
        ))
        .bearer_auth(alice.token())
        .json(&json!({ "email": "friend@orrery.test", "role": "editor" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice_invitation = invitation["id"].as_str().unwrap().to_owned();
    let team_before = get_json(
        &server,
        &format!("/v1/teams/{alice_team}/members"),
        alice.token(),
    )
    .await;
    let before = view_of(&server, alice.token(), &graph.id.to_string()).await;
    let agents_before = get_json(&server, "/v1/library/agent", alice.token()).await;

    // Mallory forges a sync for Alice's graph id: an update from her own copy of a graph.
    let forged_graph = orrery_domain::Graph {
        id: graph.id,
        ..sample_graph("Mallory was here", 3, 9)
    };
    let forged_doc = orrery_sync::GraphDocument::create(&forged_graph).unwrap();
    let forged_sync = SyncRequest {
        client_version: Vec::new(),
        updates: forged_doc.snapshot(),
    }
    .encode();

    // And one for Alice's agent id: her own agent under that id.
    let forged_agent = orrery_domain::Agent {
        id: secret_agent.id,
        ..orrery_domain::Agent::new("Mallory's agent")
    };
    let forged_agent_doc =
        orrery_sync::LibraryDocument::create(&orrery_domain::LibraryItem::Agent(forged_agent))
            .unwrap();
    let forged_library_sync = SyncRequest {
        client_version: Vec::new(),
        updates: forged_agent_doc.snapshot(),
    }
    .encode();

    let substitutions = HashMap::from([
        ("{graph_id}", graph.id.to_string()),
        ("{kind}", "agent".to_owned()),
        ("{document_id}", secret_agent.id.to_string()),
        ("{key_id}", alice_key_id.clone()),
        ("{provider}", "google".to_owned()),
        ("{plan_key}", "pro".to_owned()),
        ("{agent_id}", secret_agent.id.to_string()),
        ("{run_id}", alice_run_id.clone()),
        ("{mode}", "live".to_owned()),
        ("{channel_id}", uuid::Uuid::now_v7().to_string()),
        ("{listing_id}", alice_listing.clone()),
        ("{purchase_id}", uuid::Uuid::now_v7().to_string()),
        ("{token}", "alices-onboarding-token".to_owned()),
        // The update feed is public and holds nothing of any tenant.
        ("{target}", "linux-deb".to_owned()),
        ("{arch}", "x86_64".to_owned()),
        ("{current_version}", "0.1.0".to_owned()),
        ("{release_id}", uuid::Uuid::now_v7().to_string()),
        ("{team_id}", alice_team.clone()),
        ("{user_id}", alice.session.account.id.clone()),
        ("{invitation_id}", alice_invitation.clone()),
    ]);
    let secrets = [
        "alice@orrery.test",
        "Alice's secret plan",
        "Alice's secret agent",
        "Alice's private instructions",
        "Alice's secret question",
        "Alice's secret team",
        "friend@orrery.test",
        "Alice's secret answer",
        alice_run_id.as_str(),
        "private",
        alice.session.account.id.as_str(),
        alice.session.account.tenant_id.as_str(),
        alice_key_id.as_str(),
    ];
    let mut routes = endpoints();
    assert!(
        routes.len() >= 15,
        "the router lists its routes: {routes:?}"
    );
    // Operator routes reach every tenant by design (Mallory is the admin
    // here); who may call them is `every_admin_route_refuses_non_admins`'s.
    routes.retain(|endpoint| endpoint.access != Access::Admin);
    // Signing out ends Mallory's session, so it goes last.
    routes.sort_by_key(|endpoint| endpoint.path == "/v1/auth/sign-out");
    for endpoint in &routes {
        let mut path = endpoint.path.to_owned();
        for (placeholder, value) in &substitutions {
            path = path.replace(placeholder, value);
        }
        assert!(
            !path.contains('{'),
            "a new route parameter needs a value from tenant A here: {}",
            endpoint.path
        );
        let response = reqwest::Client::new()
            .request(endpoint.method.clone(), format!("{}{path}", server.url()))
            .bearer_auth(mallory.token())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(hostile_body(
                &endpoint.method,
                endpoint.path,
                &forged_sync,
                &forged_library_sync,
            ))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.bytes().await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(
            !status.is_server_error(),
            "{} {path}: {status} {text}",
            endpoint.method
        );
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{} {path} leaked `{secret}` to another tenant: {text}",
                endpoint.method
            );
        }
        if endpoint.path.contains("{key_id}") {
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{} {path}: {text}",
                endpoint.method
            );
        }
        if endpoint.path == "/v1/graphs/{graph_id}/sync" {
            // Mallory's push lands in Mallory's tenant only; her answer holds only her own updates.
            assert_eq!(status, StatusCode::OK);
            let answer = SyncResponse::decode(&body).unwrap();
            let mut seen = orrery_sync::GraphDocument::empty(graph.id);
            seen.merge(&answer.updates).unwrap();
            assert_eq!(seen.to_graph().unwrap().name, "Mallory was here");
        }
        if endpoint.path == "/v1/library/{kind}/{document_id}/sync" {
            // The same for a library document: Mallory gets her own agent back.
            assert_eq!(status, StatusCode::OK, "{text}");
            let answer = SyncResponse::decode(&body).unwrap();
            let mut seen = orrery_sync::LibraryDocument::empty(
                orrery_domain::DocumentKind::Agent,
                secret_agent.id,
            );
            seen.merge(&answer.updates).unwrap();
            assert_eq!(seen.to_agent().unwrap().name, "Mallory's agent");
        }
    }

    // Alice's listing is hers, as she listed it.
    let listing_after = get_json(
        &server,
        &format!("/v1/marketplace/listings/{alice_listing}"),
        alice.token(),
    )
    .await;
    assert_eq!(listing_after["title"], "Helper for everyone");
    assert_eq!(listing_after["state"], "listed");
    assert_eq!(listing_after["mine"], true);

    // Alice's team is as it was: no new member, the invitation still out.
    assert_eq!(
        get_json(
            &server,
            &format!("/v1/teams/{alice_team}/members"),
            alice.token()
        )
        .await,
        team_before
    );
    let teams = get_json(&server, "/v1/teams", alice.token()).await;
    assert_eq!(teams[0]["name"], "Alice's secret team");

    // Alice's data is exactly as it was, and her key still works.
    let after = view_of(&server, alice.token(), &graph.id.to_string()).await;
    assert_eq!(after, before);
    assert_eq!(
        get_json(&server, "/v1/library/agent", alice.token()).await,
        agents_before
    );
    server.accounts().me(&alice_key_secret).await.unwrap();
    let run: Value = get_json(&server, &format!("/v1/runs/{alice_run_id}"), alice.token()).await;
    assert_ne!(
        run["state"], "cancelled",
        "Mallory could not cancel Alice's run"
    );
    let providers = get_json(&server, "/v1/run-providers", alice.token()).await;
    assert_eq!(
        providers[0]["mode"], "live",
        "Alice's provider is still hers: {providers}"
    );
    let fresh = TestDevice::signed_in(&server, "alice@orrery.test", "second laptop")
        .await
        .unwrap();
    fresh.client.sync_all(&fresh.replica).await.unwrap();
    assert_eq!(fresh.replica.graph(graph.id).await.unwrap(), graph);
    assert_eq!(
        fresh.replica.agent(secret_agent.id).await.unwrap(),
        secret_agent
    );
}

#[tokio::test]
async fn every_signed_in_route_refuses_anonymous_and_forged_callers() {
    let server = TestServer::start().await.unwrap();
    let owner = TestDevice::signed_in(&server, "owner@orrery.test", "laptop")
        .await
        .unwrap();
    let graph = owner
        .replica
        .add_graph(sample_graph("Owned", 4, 1))
        .await
        .unwrap();
    owner.client.sync_all(&owner.replica).await.unwrap();
    let forged_access = format!("oat_{}", "A".repeat(43));
    for endpoint in endpoints()
        .iter()
        .filter(|endpoint| endpoint.access != Access::Public)
    {
        let path = orrery_e2e::route_path(endpoint.path, &[("graph_id", graph.id.to_string())]);
        for token in [
            None,
            Some(""),
            Some(forged_access.as_str()),
            Some("ork_nope"),
            Some("x".repeat(5000).as_str()),
        ] {
            let mut request = reqwest::Client::new()
                .request(endpoint.method.clone(), format!("{}{path}", server.url()));
            if let Some(token) = token {
                request = request.header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let response = request.body("{}").send().await.unwrap();
            assert_eq!(
                response.status(),
                401,
                "{} {path} with {:?}",
                endpoint.method,
                token.map(|t| &t[..t.len().min(10)])
            );
            assert!(
                response
                    .headers()
                    .contains_key(reqwest::header::WWW_AUTHENTICATE)
            );
        }
    }
}
