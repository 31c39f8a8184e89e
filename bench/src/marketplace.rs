//! `marketplace`: the marketplace against a server holding `--listings`
//! listings (100k) and `--purchases` purchases (1M), on SQLite (FTS5) and,
//! with `--postgres`, on PostgreSQL (its full-text search).
//!
//! - `search_p95_ms` (and p50): `--searches` searches over HTTP, each one to
//!   three words drawn from the listings' vocabulary with a random filter
//!   (kind, free only, a tag, a minimum rating, a price range) and sort.
//! - `purchase_to_library_ms`: median of `--gets` paid listings bought by
//!   one device through Checkout (the local Stripe stand-in): from Stripe's
//!   `checkout.session.completed` webhook (signed, sent to the server) until
//!   the copy is in a second device's library (it syncs after the webhook's
//!   answer, as the live feed tells it to).
//! - `free_get_to_library_ms`: the same for free listings, from
//!   `POST .../purchase`.
//!
//! Rows are seeded with multi-row inserts straight into the database (the
//! search index follows through its triggers, or PostgreSQL's generated
//! column); the figures are taken through the server.

use std::time::Instant;

use anyhow::{Context, ensure};
use orrery_domain::DocumentKind;
use orrery_e2e::postgres::PostgresServer;
use orrery_e2e::stripe::{SECRET_KEY, StripeDouble, WEBHOOK_SECRET, deliver};
use orrery_e2e::{TestDevice, TestServer};
use orrery_store::DatabaseLocation;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::AnyPool;

use crate::admin::{insert_rows, percentile, round};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Listings seeded.
    pub listings: usize,
    /// Purchases seeded.
    pub purchases: usize,
    /// Searches timed.
    pub searches: usize,
    /// Free listings got and timed.
    pub gets: usize,
    /// PostgreSQL as well.
    pub postgres: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listings: 100_000,
            purchases: 1_000_000,
            searches: 300,
            gets: 20,
            postgres: false,
        }
    }
}

pub fn run(options: &Options) -> anyhow::Result<Value> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_all(options))
}

fn stripe_config(stripe: &StripeDouble) -> orrery_server::billing::StripeConfig {
    orrery_server::billing::StripeConfig {
        api_base: stripe.api_base(),
        secret_key: SECRET_KEY.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
        connect_webhook_secret: None,
        prices: Default::default(),
        return_url: "http://127.0.0.1/market-done".into(),
    }
}

async fn run_all(options: &Options) -> anyhow::Result<Value> {
    let stripe = StripeDouble::start().await?;
    let config = stripe_config(&stripe);
    let sqlite = TestServer::start_with(|server| server.stripe = Some(config)).await?;
    let figures = measure(&sqlite, &stripe, options).await?;
    let mut line = json!({
        "bench": "marketplace",
        "listings": options.listings,
        "purchases": options.purchases,
        "searches": options.searches,
        "search_p50_ms": figures.search_p50_ms,
        "search_p95_ms": figures.search_p95_ms,
        "purchase_to_library_ms": figures.purchase_to_library_ms,
        "free_get_to_library_ms": figures.free_get_to_library_ms,
        "seed_s": figures.seed_s,
        "goals": { "search_p95_ms": 30, "purchase_to_library_ms": 500 },
    });
    if options.postgres {
        let cluster = PostgresServer::start()?;
        let location = DatabaseLocation::Postgres(cluster.database("marketplace_bench").await?);
        let stripe = StripeDouble::start().await?;
        let config = stripe_config(&stripe);
        let server =
            TestServer::start_on(Some(location), |server| server.stripe = Some(config)).await?;
        let figures = measure(&server, &stripe, options).await?;
        line["postgres"] = json!({
            "search_p50_ms": figures.search_p50_ms,
            "search_p95_ms": figures.search_p95_ms,
            "purchase_to_library_ms": figures.purchase_to_library_ms,
            "free_get_to_library_ms": figures.free_get_to_library_ms,
            "seed_s": figures.seed_s,
        });
    }
    Ok(line)
}

struct Figures {
    search_p50_ms: f64,
    search_p95_ms: f64,
    purchase_to_library_ms: f64,
    free_get_to_library_ms: f64,
    seed_s: f64,
}

/// Words titles, descriptions and searches are made of: a few common ones
/// and a long tail, as real listings have.
fn vocabulary() -> Vec<String> {
    let common = [
        "contract",
        "review",
        "legal",
        "writer",
        "research",
        "support",
        "triage",
        "summary",
        "travel",
        "planner",
        "code",
        "email",
        "sales",
        "report",
        "tax",
        "invoice",
        "recipe",
        "tutor",
        "translate",
        "poem",
        "meeting",
        "notes",
        "lease",
        "health",
        "budget",
    ];
    let mut words: Vec<String> = common.iter().map(|word| (*word).to_owned()).collect();
    let syllables = [
        "ka", "lo", "mi", "ren", "tas", "vo", "zu", "pel", "dri", "qua", "sen", "tor",
    ];
    for a in syllables {
        for b in syllables {
            for c in ["", "a", "on", "is"] {
                words.push(format!("{a}{b}{c}"));
            }
        }
    }
    words
}

const TAGS: usize = 200;

async fn seed(
    pool: &AnyPool,
    seller: (&str, &str),
    options: &Options,
    now: chrono::DateTime<chrono::Utc>,
    rng: &mut StdRng,
) -> anyhow::Result<Vec<String>> {
    let words = vocabulary();
    let pick = |rng: &mut StdRng| -> String {
        // Zipf-like: the first words far more often.
        let index = ((rng.random::<f64>().powi(3)) * words.len() as f64) as usize;
        words[index.min(words.len() - 1)].clone()
    };
    let mut ids = Vec::with_capacity(options.listings);
    let mut rows = Vec::with_capacity(options.listings);
    let mut purchases_per = vec![0_i64; options.listings];
    for _ in 0..options.purchases {
        let index = ((rng.random::<f64>().powi(2)) * options.listings as f64) as usize;
        purchases_per[index.min(options.listings - 1)] += 1;
    }
    for (index, purchases) in purchases_per.iter().enumerate() {
        let id = uuid::Uuid::now_v7().to_string();
        let title = format!("{} {} {}", pick(rng), pick(rng), pick(rng));
        let description: Vec<String> = (0..15).map(|_| pick(rng)).collect();
        let tags: Vec<String> = (0..3)
            .map(|_| format!("tag{}", rng.random_range(0..TAGS)))
            .collect();
        let free = index % 3 == 0;
        let price = if free {
            0
        } else {
            rng.random_range(1..200) * 100
        };
        let rated = rng.random_range(0..20_i64);
        let at = orrery_store::timestamp(now - chrono::Duration::seconds(index as i64));
        rows.push(vec![
            json!(id),
            json!(seller.0),
            json!(seller.1),
            json!(if index % 2 == 0 { "agent" } else { "prompt" }),
            json!(uuid::Uuid::now_v7().to_string()),
            json!(title),
            json!(description.join(" ")),
            json!(tags.join(" ")),
            json!(if free { "free" } else { "one_off" }),
            json!(price),
            json!("usd"),
            json!("listed"),
            json!(format!("{index:064}")),
            json!(purchases),
            json!(rated * rng.random_range(1..=5_i64)),
            json!(rated),
            json!(at),
            json!(at),
        ]);
        ids.push(id);
    }
    insert_rows(
        pool,
        "marketplace_listings",
        &[
            "id",
            "seller_tenant",
            "seller_user",
            "kind",
            "item_id",
            "title",
            "description",
            "tags",
            "pricing",
            "price_minor",
            "currency",
            "state",
            "current_version",
            "purchases",
            "rating_sum",
            "rating_count",
            "created_at",
            "updated_at",
        ],
        &rows,
    )
    .await?;
    drop(rows);
    // The purchases, in slices (a million rows at once is a lot of memory).
    let at = orrery_store::timestamp(now);
    let mut written = 0;
    let mut slice = Vec::with_capacity(50_000);
    for (index, count) in purchases_per.iter().enumerate() {
        for _ in 0..*count {
            slice.push(vec![
                json!(uuid::Uuid::now_v7().to_string()),
                json!(ids[index]),
                json!(format!("{index:064}")),
                json!(uuid::Uuid::now_v7().to_string()),
                json!(uuid::Uuid::now_v7().to_string()),
                json!("paid"),
                json!(0),
                json!(0),
                json!("usd"),
                json!(at),
                json!(at),
            ]);
            if slice.len() == 50_000 {
                written += slice.len();
                insert_purchases(pool, &slice).await?;
                slice.clear();
            }
        }
    }
    written += slice.len();
    insert_purchases(pool, &slice).await?;
    ensure!(written == options.purchases, "purchases seeded: {written}");
    Ok(words)
}

async fn insert_purchases(pool: &AnyPool, rows: &[Vec<Value>]) -> anyhow::Result<()> {
    insert_rows(
        pool,
        "marketplace_purchases",
        &[
            "id",
            "listing_id",
            "version",
            "buyer_tenant",
            "buyer_user",
            "state",
            "amount_minor",
            "fee_minor",
            "currency",
            "delivery_started_at",
            "created_at",
        ],
        rows,
    )
    .await
}

/// A search as buyers make them: words, and now and then a filter and a sort.
fn search_query(words: &[String], rng: &mut StdRng) -> String {
    let mut query = Vec::new();
    let terms: Vec<&str> = (0..rng.random_range(1..=3))
        .map(|_| words[((rng.random::<f64>().powi(2)) * 40.0) as usize % words.len()].as_str())
        .collect();
    query.push(format!("q={}", terms.join("%20")));
    match rng.random_range(0..6) {
        0 => query.push("kind=agent".into()),
        1 => query.push("free=true".into()),
        2 => query.push(format!("tags=tag{}", rng.random_range(0..TAGS))),
        3 => query.push("min_rating=4".into()),
        4 => query.push("min_price=500&max_price=5000".into()),
        _ => {}
    }
    let sort =
        ["relevance", "newest", "most_bought", "rating", "price_low"][rng.random_range(0..5)];
    query.push(format!("sort={sort}"));
    query.join("&")
}

async fn measure(
    server: &TestServer,
    stripe: &StripeDouble,
    options: &Options,
) -> anyhow::Result<Figures> {
    let mut rng = StdRng::seed_from_u64(7);
    let seller = TestDevice::signed_in(server, "seller@bench.test", "studio").await?;
    sqlx::any::install_default_drivers();
    let url = match &server.location {
        DatabaseLocation::Sqlite(path) => format!("sqlite://{}", path.display()),
        DatabaseLocation::Postgres(url) => url.clone(),
    };
    let pool = AnyPool::connect(&url).await?;
    let started = Instant::now();
    let words = seed(
        &pool,
        (
            &seller.session.account.tenant_id,
            &seller.session.account.id,
        ),
        options,
        server.clock_now(),
        &mut rng,
    )
    .await?;
    let seed_s = started.elapsed().as_secs_f64();
    eprintln!("marketplace: seeded in {seed_s:.1} s");
    if matches!(server.location, DatabaseLocation::Postgres(_)) {
        sqlx::query("ANALYZE").execute(&pool).await?;
    }

    let buyer = TestDevice::signed_in(server, "buyer@bench.test", "laptop").await?;
    let client = reqwest::Client::new();
    let base = server.url();
    let mut searches = Vec::with_capacity(options.searches);
    for _ in 0..options.searches {
        let query = search_query(&words, &mut rng);
        let started = Instant::now();
        let response = client
            .get(format!("{base}/v1/marketplace/listings?{query}"))
            .bearer_auth(buyer.token())
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "{query}: {}",
            response.status()
        );
        let _: Value = response.json().await?;
        searches.push(started.elapsed().as_secs_f64() * 1_000.0);
    }

    eprintln!(
        "marketplace: {} searches, p95 {:.1} ms",
        searches.len(),
        percentile(searches.clone(), 0.95)
    );
    // Listings of the seller's real agents, got by the buyer's laptop and
    // looked for on their desktop: free ones, then paid ones (the seller
    // onboarded with the Stripe stand-in first).
    let desktop = TestDevice::signed_in(server, "buyer@bench.test", "desktop").await?;
    let until_on_desktop = |copy: String| {
        let desktop = &desktop;
        async move {
            loop {
                desktop.client.sync_all(&desktop.replica).await?;
                let library = desktop.replica.list_documents(DocumentKind::Agent).await?;
                if library.iter().any(|item| item.id.to_string() == copy) {
                    return anyhow::Ok(());
                }
            }
        }
    };
    let list = |index: usize, price: u64| {
        let (client, base, seller) = (&client, &base, &seller);
        async move {
            let mut agent = orrery_domain::Agent::new(format!("Bench agent {index}"));
            agent.system_prompt = "You help.".into();
            let agent = seller.replica.save_agent(&agent).await?;
            seller.client.sync_all(&seller.replica).await?;
            let listed: Value = client
                .post(format!("{base}/v1/marketplace/listings"))
                .bearer_auth(seller.token())
                .json(&json!({
                    "kind": "agent", "item_id": agent.id, "title": format!("Bench agent {index}"),
                    "description": "An agent.", "tags": [], "pricing": if price == 0 { "free" } else { "one_off" },
                    "price_minor": price, "currency": "usd",
                }))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok(listed["id"].as_str().context("a listing id")?.to_owned())
        }
    };
    let mut free_gets = Vec::with_capacity(options.gets);
    for index in 0..options.gets {
        let id = list(index, 0).await?;
        let started = Instant::now();
        let bought: Value = client
            .post(format!("{base}/v1/marketplace/listings/{id}/purchase"))
            .bearer_auth(buyer.token())
            .send()
            .await?
            .json()
            .await?;
        until_on_desktop(bought["item_id"].as_str().context("a copy")?.to_owned()).await?;
        free_gets.push(started.elapsed().as_secs_f64() * 1_000.0);
    }

    let onboarding: Value = client
        .post(format!("{base}/v1/marketplace/seller/onboarding"))
        .bearer_auth(seller.token())
        .send()
        .await?
        .json()
        .await?;
    ensure!(onboarding["url"].is_string(), "onboarding: {onboarding}");
    let account = stripe.accounts()[0]["id"]
        .as_str()
        .context("an account")?
        .to_owned();
    let updated = stripe.event("account.updated", stripe.finish_onboarding(&account));
    let (status, _) = deliver(
        &base,
        &updated,
        WEBHOOK_SECRET,
        chrono::Utc::now().timestamp(),
    )
    .await;
    ensure!(status == 200, "account.updated answered {status}");
    let mut paid_gets = Vec::with_capacity(options.gets);
    for index in 0..options.gets {
        let id = list(options.gets + index, 1_999).await?;
        let pending: Value = client
            .post(format!("{base}/v1/marketplace/listings/{id}/purchase"))
            .bearer_auth(buyer.token())
            .send()
            .await?
            .json()
            .await?;
        let url = pending["checkout_url"]
            .as_str()
            .context("a checkout")?
            .to_owned();
        let session = stripe
            .sessions()
            .into_iter()
            .find(|session| session["url"] == url.as_str())
            .context("the checkout's session")?;
        let paid = stripe.pay_checkout(session["id"].as_str().context("a session id")?);
        let event = stripe.event("checkout.session.completed", paid);
        let started = Instant::now();
        let (status, _) = deliver(
            &base,
            &event,
            WEBHOOK_SECRET,
            chrono::Utc::now().timestamp(),
        )
        .await;
        ensure!(status == 200, "the webhook answered {status}");
        let purchase: Value = client
            .get(format!("{base}/v1/marketplace/purchases"))
            .bearer_auth(desktop.token())
            .send()
            .await?
            .json()
            .await?;
        let copy = purchase
            .as_array()
            .and_then(|all| all.iter().find(|each| each["id"] == pending["id"]))
            .and_then(|each| each["item_id"].as_str())
            .context("the paid copy")?
            .to_owned();
        until_on_desktop(copy).await?;
        paid_gets.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    Ok(Figures {
        search_p50_ms: round(percentile(searches.clone(), 0.5)),
        search_p95_ms: round(percentile(searches, 0.95)),
        purchase_to_library_ms: round(percentile(paid_gets, 0.5)),
        free_get_to_library_ms: round(percentile(free_gets, 0.5)),
        seed_s: round(seed_s),
    })
}
