//! The marketplace on a real server: a seller lists an agent from their
//! library, buyers find it by full-text search with filters and sorts (on
//! SQLite and on PostgreSQL), get it — one copy however many times they ask
//! at once — and find it on every device; the copy runs whatever their
//! plan's agent list says; reviews are for buyers only; and hostile input
//! gets a clear 4xx with nothing stored.

use std::collections::BTreeSet;
use std::sync::Arc;

use orrery_domain::marketplace::{ListingDraft, ListingKind, Pricing};
use orrery_domain::policy::{Action, AgentAccess, Subject, Usage, decide};
use orrery_domain::{Agent, DocumentKind};
use orrery_e2e::postgres::PostgresServer;
use orrery_e2e::runs::RunTenant;
use orrery_e2e::{TestDevice, TestServer};
use orrery_runtime::double::Reply;
use orrery_store::{DatabaseLocation, NewListingVersion, PurchaseClaim};
use reqwest::StatusCode;
use serde_json::{Value, json};

const REVIEWER_PROMPT: &str = "You read contracts and flag risky clauses.";

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
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
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A seller with "Contract reviewer" in their library, synced.
async fn seller_with_agent(server: &TestServer, email: &str) -> (TestDevice, Agent) {
    let seller = TestDevice::signed_in(server, email, "studio")
        .await
        .unwrap();
    let mut agent = Agent::new("Contract reviewer");
    agent.description = "Flags risky clauses in contracts.".into();
    agent.system_prompt = REVIEWER_PROMPT.into();
    agent.model = "llama3.1:8b".into();
    let agent = seller.replica.save_agent(&agent).await.unwrap();
    seller.client.sync_all(&seller.replica).await.unwrap();
    (seller, agent)
}

fn free_listing(agent: &Agent) -> Value {
    json!({
        "kind": "agent",
        "item_id": agent.id,
        "title": "Contract reviewer",
        "description": "Reads a contract and flags risky clauses.",
        "tags": ["legal", "contracts"],
        "pricing": "free",
        "price_minor": 0,
        "currency": "usd",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_free_listing_reaches_every_device_once() {
    let server = TestServer::start().await.unwrap();
    let (seller, agent) = seller_with_agent(&server, "seller@orrery.test").await;
    let (status, listing) = call(
        &server,
        reqwest::Method::POST,
        "/v1/marketplace/listings",
        seller.token(),
        Some(free_listing(&agent)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{listing}");
    let listing_id = listing["id"].as_str().unwrap().to_owned();
    assert_eq!(listing["mine"], true);
    assert_eq!(listing["version"].as_str().unwrap().len(), 64, "a SHA-256");

    // The item is listed once: listing it again says where.
    let (status, again) = call(
        &server,
        reqwest::Method::POST,
        "/v1/marketplace/listings",
        seller.token(),
        Some(free_listing(&agent)),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        again["message"].as_str().unwrap().contains(&listing_id),
        "{again}"
    );

    // A buyer with two devices presses Get on both, eight times at once.
    let laptop = Arc::new(
        TestDevice::signed_in(&server, "buyer@orrery.test", "laptop")
            .await
            .unwrap(),
    );
    let desktop = TestDevice::signed_in(&server, "buyer@orrery.test", "desktop")
        .await
        .unwrap();
    let server = Arc::new(server);
    let buys: Vec<_> = (0..8)
        .map(|index| {
            let server = server.clone();
            let token = if index % 2 == 0 {
                laptop.token().to_owned()
            } else {
                desktop.token().to_owned()
            };
            let path = format!("/v1/marketplace/listings/{listing_id}/purchase");
            tokio::spawn(
                async move { call(&server, reqwest::Method::POST, &path, &token, None).await },
            )
        })
        .collect();
    let mut created = Vec::new();
    for buy in buys {
        let (status, body) = buy.await.unwrap();
        match status {
            StatusCode::CREATED => created.push(body),
            StatusCode::CONFLICT => {}
            other => panic!("a buy answered {other}: {body}"),
        }
    }
    assert_eq!(created.len(), 1, "one purchase: {created:?}");
    let copy_id = created[0]["item_id"].as_str().unwrap().to_owned();

    // Both devices get one copy: the buyer's own agent, with the seller's
    // instructions.
    for device in [&*laptop, &desktop] {
        device.client.sync_all(&device.replica).await.unwrap();
        let agents = device
            .replica
            .list_documents(DocumentKind::Agent)
            .await
            .unwrap();
        let copies: Vec<_> = agents
            .iter()
            .filter(|agent| agent.title == "Contract reviewer")
            .collect();
        assert_eq!(copies.len(), 1, "{agents:?}");
        assert_eq!(copies[0].id.to_string(), copy_id);
        let copy = device.replica.agent(copies[0].id).await.unwrap();
        assert_eq!(copy.system_prompt, REVIEWER_PROMPT);
        assert_ne!(copy.id, agent.id);
    }

    // The listing counts one purchase and shows it as the buyer's.
    let (_, shown) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v1/marketplace/listings/{listing_id}"),
        laptop.token(),
        None,
    )
    .await;
    assert_eq!(shown["purchases"], 1);
    assert_eq!(shown["owned"], true);
    assert!(
        shown["preview"]
            .as_str()
            .unwrap()
            .contains("Flags risky clauses")
    );
    assert!(
        !shown["preview"].as_str().unwrap().contains(REVIEWER_PROMPT),
        "the instructions are what is bought: not shown before"
    );
    let (_, purchases) = call(
        &server,
        reqwest::Method::GET,
        "/v1/marketplace/purchases",
        desktop.token(),
        None,
    )
    .await;
    assert_eq!(purchases.as_array().unwrap().len(), 1);

    // Reviews: the buyer may, once, and may change it; others may not.
    let review_path = format!("/v1/marketplace/listings/{listing_id}/review");
    for rating in [5, 4] {
        let (status, _) = call(
            &server,
            reqwest::Method::PUT,
            &review_path,
            laptop.token(),
            Some(json!({ "rating": rating, "body": "Caught a bad indemnity clause." })),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let stranger = TestDevice::signed_in(&server, "stranger@orrery.test", "phone")
        .await
        .unwrap();
    let (status, refused) = call(
        &server,
        reqwest::Method::PUT,
        &review_path,
        stranger.token(),
        Some(json!({ "rating": 1, "body": "Never used it." })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (_, shown) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v1/marketplace/listings/{listing_id}"),
        stranger.token(),
        None,
    )
    .await;
    assert_eq!(shown["rating"], 4.0);
    assert_eq!(shown["rating_count"], 1);
    assert_eq!(shown["reviews"].as_array().unwrap().len(), 1);
    assert_eq!(shown["owned"], false);

    // The seller cannot buy their own; a delisted listing is not found by
    // others but stays in what the buyer has.
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        &format!("/v1/marketplace/listings/{listing_id}/purchase"),
        seller.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/v1/marketplace/listings/{listing_id}"),
        seller.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v1/marketplace/listings/{listing_id}"),
        stranger.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, found) = call(
        &server,
        reqwest::Method::GET,
        "/v1/marketplace/listings?q=contract",
        stranger.token(),
        None,
    )
    .await;
    assert_eq!(found["total"], 0);
    let (status, _) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v1/marketplace/listings/{listing_id}"),
        laptop.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// Lists six items straight into the store (the paid ones as a seller with
/// a connected account would) and gives some purchases and ratings.
async fn search_fixture(server: &TestServer) -> (String, Vec<uuid::Uuid>) {
    let seller = TestDevice::signed_in(server, "catalogue@orrery.test", "studio")
        .await
        .unwrap();
    let tenant: uuid::Uuid = seller.session.account.tenant_id.parse().unwrap();
    let user: uuid::Uuid = seller.session.account.id.parse().unwrap();
    let store = server.store().await.unwrap();
    let start = server.clock_now();
    // (title, tags, description, kind, price)
    let items = [
        (
            "Contract reviewer",
            "legal review",
            "Reads agreements and flags risky clauses.",
            ListingKind::Agent,
            1_500,
        ),
        (
            "Clause finder",
            "legal contract",
            "Finds the clause you ask about.",
            ListingKind::Prompt,
            0,
        ),
        (
            "Lease helper",
            "housing",
            "Explains the terms of rental contracts.",
            ListingKind::Agent,
            500,
        ),
        (
            "Trip planner",
            "travel",
            "Plans a weekend away.",
            ListingKind::Agent,
            0,
        ),
        (
            "Poem writer",
            "writing",
            "Writes a short poem.",
            ListingKind::Prompt,
            2_500,
        ),
        (
            "Tax summary",
            "legal money",
            "Summarises a tax letter.",
            ListingKind::Prompt,
            900,
        ),
    ];
    let mut ids = Vec::new();
    for (index, (title, tags, description, kind, price)) in items.into_iter().enumerate() {
        let id = uuid::Uuid::now_v7();
        let draft = ListingDraft {
            title: title.into(),
            description: description.into(),
            tags: tags.split(' ').map(str::to_owned).collect(),
            pricing: if price == 0 {
                Pricing::Free
            } else {
                Pricing::OneOff
            },
            price_minor: price,
            currency: "usd".into(),
        };
        let version = format!("{index:064}");
        store
            .create_listing(
                id,
                (tenant, user),
                kind,
                &uuid::Uuid::now_v7().to_string(),
                &draft,
                &NewListingVersion {
                    version: &version,
                    content: "{}",
                    preview: description,
                },
                start + chrono::Duration::minutes(index as i64),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    // Purchases and ratings: Trip planner bought 3 times (rated 5, 5, 4),
    // Clause finder twice (rated 2), Lease helper once (rated 5).
    for (listing, ratings) in [(3, vec![5, 5, 4]), (1, vec![2, 2]), (2, vec![5])] {
        let record = store.listing(ids[listing]).await.unwrap().unwrap();
        for rating in ratings {
            let buyer = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
            let claimed = store
                .claim_purchase(
                    &record,
                    &record.current_version,
                    buyer,
                    "paid",
                    0,
                    None,
                    start,
                )
                .await
                .unwrap();
            assert!(matches!(claimed, PurchaseClaim::New(_)));
            assert!(
                store
                    .put_review(record.id, (buyer.1, "A buyer"), rating, "", start)
                    .await
                    .unwrap()
            );
        }
    }
    (seller.token().to_owned(), ids)
}

async fn titles(server: &TestServer, token: &str, query: &str) -> (Vec<String>, u64) {
    let (status, page) = call(
        server,
        reqwest::Method::GET,
        &format!("/v1/marketplace/listings?{query}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    (
        page["listings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|listing| listing["title"].as_str().unwrap().to_owned())
            .collect(),
        page["total"].as_u64().unwrap(),
    )
}

async fn search_answers_as_known(server: &TestServer) {
    let (token, _) = search_fixture(server).await;
    let search = |query: &'static str| titles(server, &token, query);

    // Words match titles first, then tags, then descriptions; "contract"
    // matches "contracts" (a word's start).
    assert_eq!(
        search("q=contract").await.0,
        ["Contract reviewer", "Clause finder", "Lease helper"],
        "a title outranks a tag, a tag a description"
    );
    assert_eq!(
        search("q=clause").await.0,
        ["Clause finder", "Contract reviewer"],
        "a title outranks a description"
    );
    assert_eq!(search("q=legal%20tax").await.0, ["Tax summary"]);
    // Query syntax is read as words.
    assert_eq!(search("q=%22clause%20OR%20*").await.0, Vec::<String>::new());
    assert_eq!(search("q=title%3Aclause%22").await.0, Vec::<String>::new());

    // Filters.
    assert_eq!(
        search("kind=prompt&sort=price_low").await.0,
        ["Clause finder", "Tax summary", "Poem writer"]
    );
    assert_eq!(
        search("free=true&sort=newest").await.0,
        ["Trip planner", "Clause finder"]
    );
    assert_eq!(
        search("min_price=500&max_price=1500&sort=price_high")
            .await
            .0,
        ["Contract reviewer", "Tax summary", "Lease helper"]
    );
    assert_eq!(
        search("tags=legal&sort=newest").await.0,
        ["Tax summary", "Clause finder", "Contract reviewer"]
    );
    assert_eq!(search("tags=legal,contract").await.0, ["Clause finder"]);
    assert_eq!(
        search("min_rating=4.5&sort=rating").await.0,
        ["Lease helper", "Trip planner"]
    );

    // Sorts and pages.
    assert_eq!(
        search("sort=most_bought&per_page=3").await,
        (
            vec![
                "Trip planner".to_owned(),
                "Clause finder".to_owned(),
                "Lease helper".to_owned()
            ],
            6
        )
    );
    assert_eq!(
        search("sort=newest&per_page=2&page=2").await.0,
        ["Trip planner", "Lease helper"]
    );
    assert_eq!(
        search("sort=price_high&per_page=2").await.0,
        ["Poem writer", "Contract reviewer"]
    );
    assert_eq!(search("sort=newest&page=99").await, (Vec::new(), 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn marketplace_search_filters_and_sorts() {
    let sqlite = TestServer::start().await.unwrap();
    search_answers_as_known(&sqlite).await;

    let postgres = PostgresServer::start().unwrap();
    let url = postgres.database("marketplace").await.unwrap();
    let server = TestServer::start_on(Some(DatabaseLocation::Postgres(url)), |_| {})
        .await
        .unwrap();
    search_answers_as_known(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bought_agent_is_allowed_whatever_the_plan() {
    let buyer = RunTenant::new("runner@orrery.test").await;
    let server = buyer.server.clone();
    let (seller, agent) = seller_with_agent(&server, "maker@orrery.test").await;
    let (_, listing) = call(
        &server,
        reqwest::Method::POST,
        "/v1/marketplace/listings",
        seller.token(),
        Some(free_listing(&agent)),
    )
    .await;
    let (status, bought) = call(
        &server,
        reqwest::Method::POST,
        &format!(
            "/v1/marketplace/listings/{}/purchase",
            listing["id"].as_str().unwrap()
        ),
        buyer.device.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bought}");
    let copy = bought["item_id"].as_str().unwrap().to_owned();

    // The buyer's plan lists only the platform's "Assistant": the engine
    // refuses "Contract reviewer" as a platform agent ...
    let store = server.store().await.unwrap();
    let mut plan = store.plan("pro").await.unwrap().unwrap();
    plan.agents = AgentAccess::Only(BTreeSet::from(["assistant".to_owned()]));
    store.put_plan(&plan, server.clock_now()).await.unwrap();
    let subject = Subject {
        in_good_standing: true,
        role: orrery_domain::policy::Role::User,
        suspended: false,
    };
    assert!(
        !decide(
            &subject,
            &Action::RunAgent {
                agent: "contract-reviewer".into(),
                tokens: 10
            },
            &plan,
            &Usage::default()
        )
        .allowed
    );

    // ... but the copy they bought is theirs, and runs.
    buyer
        .double
        .push(Reply::text("Clause 7 is risky.").with_usage(20, 5));
    let key = buyer.key(&["runs:write", "runs:read"], "live").await;
    let started = buyer
        .start(
            &key,
            &format!("/v1/agents/{copy}/runs"),
            json!({ "input": "Review this lease." }),
        )
        .await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let run: Value = started.json().await.unwrap();
    let events = buyer.events(&key, run["id"].as_str().unwrap(), None).await;
    assert_eq!(events.last().unwrap().kind, "run.succeeded");
    assert_eq!(events.last().unwrap().data["answer"], "Clause 7 is risky.");
    assert_eq!(
        buyer.double.requests()[0].system().as_deref(),
        Some(REVIEWER_PROMPT)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn marketplace_inputs_never_500() {
    let server = TestServer::start().await.unwrap();
    let (seller, agent) = seller_with_agent(&server, "hostile@orrery.test").await;
    let other = TestDevice::signed_in(&server, "other@orrery.test", "pc")
        .await
        .unwrap();
    let mut others_agent = Agent::new("Not yours");
    others_agent.system_prompt = "Mine.".into();
    let others_agent = other.replica.save_agent(&others_agent).await.unwrap();
    other.client.sync_all(&other.replica).await.unwrap();

    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = free_listing(&agent);
        change(&mut body);
        body
    };
    let hostile_listings = [
        with(&|body| body["price_minor"] = json!(-5)),
        with(&|body| {
            body["pricing"] = json!("one_off");
            body["price_minor"] = json!(100_000_000u64);
        }),
        with(&|body| body["pricing"] = json!("one_off")),
        with(&|body| body["currency"] = json!("btc")),
        with(&|body| body["title"] = json!("Bad\u{0007}title")),
        with(&|body| body["title"] = json!("x".repeat(500))),
        with(&|body| body["description"] = json!("y".repeat(50_000))),
        with(&|body| body["tags"] = json!((0..200).map(|n| format!("t{n}")).collect::<Vec<_>>())),
        with(&|body| body["tags"] = json!(["<script>alert(1)</script>"])),
        with(&|body| body["description"] = json!("<img src=x onerror=alert(1)>\u{202E}")),
        with(&|body| body["item_id"] = json!(others_agent.id)),
        with(&|body| body["item_id"] = json!(uuid::Uuid::now_v7())),
        with(&|body| body["item_id"] = json!("not-a-uuid")),
        with(&|body| body["kind"] = json!("graph")),
        with(&|body| body["surprise"] = json!(true)),
        json!("just a string"),
        json!({}),
    ];
    for body in hostile_listings {
        let (status, answer) = call(
            &server,
            reqwest::Method::POST,
            "/v1/marketplace/listings",
            seller.token(),
            Some(body.clone()),
        )
        .await;
        assert!(status.is_client_error(), "{body} → {status} {answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|reason| !reason.is_empty()),
            "{body}: a reason"
        );
    }
    let (_, selling) = call(
        &server,
        reqwest::Method::GET,
        "/v1/marketplace/selling",
        seller.token(),
        None,
    )
    .await;
    assert_eq!(selling.as_array().unwrap().len(), 0, "nothing was listed");

    // A real listing, then hostile use of it.
    let (_, listing) = call(
        &server,
        reqwest::Method::POST,
        "/v1/marketplace/listings",
        seller.token(),
        Some(free_listing(&agent)),
    )
    .await;
    let id = listing["id"].as_str().unwrap().to_owned();
    let long_search = format!("/v1/marketplace/listings?q={}", "a".repeat(10_000));
    let cases: Vec<(reqwest::Method, String, &str, Option<Value>)> = vec![
        (reqwest::Method::GET, long_search, other.token(), None),
        (
            reqwest::Method::GET,
            "/v1/marketplace/listings?sort=cheapest".into(),
            other.token(),
            None,
        ),
        (
            reqwest::Method::GET,
            "/v1/marketplace/listings?min_price=-1".into(),
            other.token(),
            None,
        ),
        (
            reqwest::Method::GET,
            "/v1/marketplace/listings?min_rating=NaN".into(),
            other.token(),
            None,
        ),
        (
            reqwest::Method::GET,
            "/v1/marketplace/listings?per_page=100000".into(),
            other.token(),
            None,
        ),
        (
            reqwest::Method::GET,
            "/v1/marketplace/listings?page=0".into(),
            other.token(),
            None,
        ),
        (
            reqwest::Method::GET,
            "/v1/marketplace/listings?tags=%3Cb%3E".into(),
            other.token(),
            None,
        ),
        (
            reqwest::Method::GET,
            "/v1/marketplace/listings/not-an-id".into(),
            other.token(),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/marketplace/listings/{id}/purchase"),
            seller.token(),
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("/v1/marketplace/listings/{id}/review"),
            other.token(),
            Some(json!({ "rating": 5 })),
        ),
        (
            reqwest::Method::PUT,
            format!("/v1/marketplace/listings/{id}/review"),
            other.token(),
            Some(json!({ "rating": 9 })),
        ),
        (
            reqwest::Method::PUT,
            format!("/v1/marketplace/listings/{id}/review"),
            other.token(),
            Some(json!({ "rating": 3, "body": "z".repeat(10_000) })),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/marketplace/listings/{id}/report"),
            other.token(),
            Some(json!({ "reason": "" })),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/marketplace/listings/{id}/report"),
            seller.token(),
            Some(json!({ "reason": "Mine" })),
        ),
        (
            reqwest::Method::PATCH,
            format!("/v1/marketplace/listings/{id}"),
            other.token(),
            Some(
                json!({ "title": "Stolen", "description": "x", "tags": [], "pricing": "free", "price_minor": 0, "currency": "usd" }),
            ),
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/marketplace/listings/{id}"),
            other.token(),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/marketplace/listings/{id}/versions"),
            other.token(),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/marketplace/listings/{}/purchase", uuid::Uuid::now_v7()),
            other.token(),
            None,
        ),
    ];
    for (method, path, token, body) in cases {
        let (status, answer) = call(&server, method.clone(), &path, token, body).await;
        assert!(
            status.is_client_error(),
            "{method} {} → {status} {answer}",
            path.chars().take(80).collect::<String>()
        );
    }
    // Nothing changed: the listing is as listed, bought by no one.
    let (_, shown) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v1/marketplace/listings/{id}"),
        seller.token(),
        None,
    )
    .await;
    assert_eq!(shown["title"], "Contract reviewer");
    assert_eq!(shown["state"], "listed");
    assert_eq!(shown["purchases"], 0);
    assert_eq!(shown["rating_count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reports_reach_the_admins_who_can_delist() {
    let server = TestServer::start().await.unwrap();
    // The first account of a server is its admin.
    let admin = TestDevice::signed_in(&server, "admin@orrery.test", "console")
        .await
        .unwrap();
    let (seller, agent) = seller_with_agent(&server, "dubious@orrery.test").await;
    let reporter = TestDevice::signed_in(&server, "watchful@orrery.test", "pc")
        .await
        .unwrap();
    let (_, listing) = call(
        &server,
        reqwest::Method::POST,
        "/v1/marketplace/listings",
        seller.token(),
        Some(free_listing(&agent)),
    )
    .await;
    let id = listing["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        &format!("/v1/marketplace/listings/{id}/report"),
        reporter.token(),
        Some(json!({ "reason": "It copies another seller's agent." })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // Only admins read reports and delist.
    let (status, _) = call(
        &server,
        reqwest::Method::GET,
        "/v1/admin/marketplace/reports",
        reporter.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, reports) = call(
        &server,
        reqwest::Method::GET,
        "/v1/admin/marketplace/reports",
        admin.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reports}");
    assert_eq!(reports[0]["listing_id"], id.as_str());
    assert_eq!(reports[0]["reason"], "It copies another seller's agent.");
    let (status, entry) = call(
        &server,
        reqwest::Method::POST,
        &format!("/v1/admin/marketplace/listings/{id}/delist"),
        admin.token(),
        Some(json!({ "reason": "Copied listing." })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert_eq!(entry["action"], "listing.delist");
    let (_, found) = call(
        &server,
        reqwest::Method::GET,
        "/v1/marketplace/listings?q=contract",
        reporter.token(),
        None,
    )
    .await;
    assert_eq!(found["total"], 0);
    // Handled reports leave the list; a second delisting finds nothing.
    let (_, reports) = call(
        &server,
        reqwest::Method::GET,
        "/v1/admin/marketplace/reports",
        admin.token(),
        None,
    )
    .await;
    assert_eq!(reports.as_array().unwrap().len(), 0);
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        &format!("/v1/admin/marketplace/listings/{id}/delist"),
        admin.token(),
        Some(json!({ "reason": "Again." })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
