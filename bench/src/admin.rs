//! `orrery-bench admin`: the management window's figures against a real
//! server on loopback holding 100k users, 100k subscriptions and 1M events
//! (SQLite, and PostgreSQL with `--postgres`): user search p95 over HTTP,
//! the overview's figures and 365-day series, and a full rebuild of the
//! daily rollups from the event log.
//!
//! The rows are written straight into the server's database in large
//! transactions (the same columns and formats the store writes), so seeding
//! a year of history takes seconds, not the hours a million requests would.

use std::time::Instant;

use anyhow::{Context, ensure};
use orrery_e2e::TestServer;
use orrery_e2e::postgres::PostgresServer;
use orrery_store::DatabaseLocation;
use serde_json::{Value, json};
use sqlx::{AnyPool, Executor};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Users, each with one subscription.
    pub users: usize,
    /// Events in the log.
    pub events: usize,
    /// Searches timed.
    pub searches: usize,
    /// Overviews timed.
    pub overviews: usize,
    /// Also on PostgreSQL.
    pub postgres: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            users: 100_000,
            events: 1_000_000,
            searches: 200,
            overviews: 20,
            postgres: false,
        }
    }
}

/// Runs every measurement and returns the JSON line.
pub fn run(options: &Options) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_all(options))
}

async fn run_all(options: &Options) -> anyhow::Result<Value> {
    let sqlite = TestServer::start().await?;
    let figures = measure(&sqlite, options).await?;
    let mut line = json!({
        "bench": "admin",
        "users": options.users,
        "events": options.events,
        "searches": options.searches,
        "user_search_p50_ms": figures.search_p50_ms,
        "user_search_p95_ms": figures.search_p95_ms,
        "overview_ms": figures.overview_ms,
        "rollup_rebuild_s": figures.rebuild_s,
        "seed_s": figures.seed_s,
        "goals": { "user_search_p95_ms": 50, "overview_ms": 100, "rollup_rebuild_s": 30 },
    });
    if options.postgres {
        let cluster = PostgresServer::start()?;
        let location = DatabaseLocation::Postgres(cluster.database("admin_bench").await?);
        let server = TestServer::start_on(Some(location), |_| {}).await?;
        let figures = measure(&server, options).await?;
        line["postgres"] = json!({
            "user_search_p50_ms": figures.search_p50_ms,
            "user_search_p95_ms": figures.search_p95_ms,
            "overview_ms": figures.overview_ms,
            "rollup_rebuild_s": figures.rebuild_s,
            "seed_s": figures.seed_s,
        });
    }
    Ok(line)
}

struct Figures {
    search_p50_ms: f64,
    search_p95_ms: f64,
    /// Median of the overview's answers (figures and a 365-day series).
    overview_ms: f64,
    rebuild_s: f64,
    seed_s: f64,
}

pub(crate) fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

pub(crate) fn percentile(mut samples: Vec<f64>, share: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let index = ((samples.len() as f64 - 1.0) * share).round() as usize;
    samples[index.min(samples.len() - 1)]
}

async fn measure(server: &TestServer, options: &Options) -> anyhow::Result<Figures> {
    // The first account administers the server.
    let admin = server
        .session_for("operator@orrery.test", "bench")
        .await?
        .access_token;
    sqlx::any::install_default_drivers();
    let url = match &server.location {
        DatabaseLocation::Sqlite(path) => format!("sqlite://{}", path.display()),
        DatabaseLocation::Postgres(url) => url.clone(),
    };
    let pool = AnyPool::connect(&url).await?;
    let started = Instant::now();
    seed(&pool, options, server.clock_now()).await?;
    let seed_s = started.elapsed().as_secs_f64();
    let client = reqwest::Client::new();
    let base = server.url();

    // A full rebuild from the event log, over HTTP.
    let started = Instant::now();
    let response = client
        .post(format!("{base}/v1/admin/metrics/rebuild"))
        .bearer_auth(&admin)
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "rebuild: {}",
        response.status()
    );
    let rebuild_s = started.elapsed().as_secs_f64();

    // The overview of a year, read again and again (a refresh with nothing
    // new, then the figures and 365 points).
    let mut overview = Vec::new();
    for _ in 0..options.overviews {
        let started = Instant::now();
        let answer: Value = client
            .get(format!("{base}/v1/admin/overview?days=365"))
            .bearer_auth(&admin)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        overview.push(started.elapsed().as_secs_f64() * 1e3);
        ensure!(answer["series"].as_array().map(Vec::len) == Some(365));
        ensure!(
            answer["figures"]["users_total"]
                .as_i64()
                .unwrap_or_default()
                >= options.users as i64,
            "the overview counts the seeded users: {}",
            answer["figures"]
        );
    }

    // Searches for a part of an address or a name, a page of 25.
    let mut searches = Vec::new();
    for index in 0..options.searches {
        let term = match index % 3 {
            0 => format!("person{}", (index * 7919) % options.users),
            1 => format!("Name {}", (index * 104_729) % options.users),
            _ => "nobody-matches-this".to_owned(),
        };
        let started = Instant::now();
        let answer: Value = client
            .get(format!("{base}/v1/admin/users"))
            .query(&[("query", term.as_str()), ("per_page", "25")])
            .bearer_auth(&admin)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        searches.push(started.elapsed().as_secs_f64() * 1e3);
        ensure!(answer["total"].is_u64(), "a search answers a total");
    }
    Ok(Figures {
        search_p50_ms: round(percentile(searches.clone(), 0.5)),
        search_p95_ms: round(percentile(searches, 0.95)),
        overview_ms: round(percentile(overview, 0.5)),
        rebuild_s: round(rebuild_s),
        seed_s: round(seed_s),
    })
}

/// Rows per multi-row insert.
const BATCH: usize = 500;

pub(crate) async fn insert_rows(
    pool: &AnyPool,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> anyhow::Result<()> {
    let mut transaction = pool.begin().await?;
    for chunk in rows.chunks(BATCH) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut index = 1;
        for (row_number, _) in chunk.iter().enumerate() {
            if row_number > 0 {
                sql.push_str(", ");
            }
            let placeholders: Vec<String> = (0..columns.len())
                .map(|_| {
                    let placeholder = format!("${index}");
                    index += 1;
                    placeholder
                })
                .collect();
            sql.push('(');
            sql.push_str(&placeholders.join(", "));
            sql.push(')');
        }
        let mut query = sqlx::query(&sql);
        for row in chunk {
            for value in row {
                query = match value {
                    Value::Null => query.bind(None::<String>),
                    Value::Number(number) => query.bind(number.as_i64().context("an integer")?),
                    Value::String(text) => query.bind(text.clone()),
                    other => query.bind(other.to_string()),
                };
            }
        }
        transaction.execute(query).await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// A year of history: users registering over 365 days, each with a
/// subscription (trials that convert, plans that change, some cancelled),
/// and sign-ins filling the log to `options.events`.
async fn seed(
    pool: &AnyPool,
    options: &Options,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let at = |day_offset: i64, second: i64| {
        let when =
            now - chrono::Duration::days(365 - day_offset) + chrono::Duration::seconds(second);
        (
            orrery_store::timestamp(when),
            when.format("%Y-%m-%d").to_string(),
        )
    };
    let mut tenants = Vec::with_capacity(options.users);
    let mut users = Vec::with_capacity(options.users);
    let mut subscriptions = Vec::with_capacity(options.users);
    let mut events = Vec::with_capacity(options.events);
    for index in 0..options.users {
        let tenant = uuid::Uuid::now_v7().to_string();
        let user = uuid::Uuid::now_v7().to_string();
        let day = (index * 365 / options.users.max(1)) as i64;
        let (created, created_day) = at(day, (index % 80_000) as i64);
        let plan = if index % 4 == 0 { "free" } else { "pro" };
        tenants.push(vec![
            json!(tenant),
            json!(format!("Name {index}")),
            json!(created),
        ]);
        users.push(vec![
            json!(user),
            json!(tenant),
            json!(format!("person{index}@orrery.test")),
            json!(format!("Name {index}")),
            json!("user"),
            json!(plan),
            json!(created),
            json!(created),
        ]);
        events.push(vec![
            json!(created),
            json!(created_day),
            json!("account.registered"),
            json!(tenant),
            json!(user),
            json!(""),
            json!("{}"),
        ]);
        let subscription = format!("sub_bench_{index}");
        let mrr = if index % 10 == 0 { 9900 } else { 1900 };
        let status = if index % 9 == 0 { "canceled" } else { "active" };
        subscriptions.push(vec![
            json!(subscription),
            json!(user),
            json!(tenant),
            json!("pro"),
            json!(status),
            json!(0),
            json!(created),
            json!(created),
            json!(mrr),
            json!(1),
        ]);
        let change = |before: Value, after: Value, paid: bool| {
            json!({ "subscription": subscription, "plan": "pro", "before": before, "after": after, "customer_paid_before": paid })
                .to_string()
        };
        // A trial that converts a day later, and for some a cancellation.
        events.push(vec![
            json!(created),
            json!(created_day),
            json!("subscription.created"),
            json!(tenant),
            json!(user),
            json!(subscription),
            json!(change(
                Value::Null,
                json!({ "status": "trialing", "mrr_cents": mrr }),
                false
            )),
        ]);
        let (converted, converted_day) = at((day + 1).min(365), (index % 80_000) as i64);
        events.push(vec![
            json!(converted),
            json!(converted_day),
            json!("subscription.updated"),
            json!(tenant),
            json!(user),
            json!(subscription),
            json!(change(
                json!({ "status": "trialing", "mrr_cents": mrr }),
                json!({ "status": "active", "mrr_cents": mrr }),
                false
            )),
        ]);
        if status == "canceled" {
            let (ended, ended_day) = at((day + 30).min(365), (index % 80_000) as i64);
            events.push(vec![
                json!(ended),
                json!(ended_day),
                json!("subscription.canceled"),
                json!(tenant),
                json!(user),
                json!(subscription),
                json!(change(
                    json!({ "status": "active", "mrr_cents": mrr }),
                    json!({ "status": "canceled", "mrr_cents": mrr }),
                    true
                )),
            ]);
        }
    }
    let mut sign_in = 0usize;
    while events.len() < options.events {
        let index = (sign_in * 7919) % options.users.max(1);
        // Sign-ins after registration, spread over the rest of the year.
        let registered = (index * 365 / options.users.max(1)) as i64;
        let day = registered + (sign_in as i64 * 31) % (366 - registered).max(1);
        let (when, when_day) = at(day, (sign_in % 80_000) as i64);
        events.push(vec![
            json!(when),
            json!(when_day),
            json!("account.signed_in"),
            tenants[index][0].clone(),
            users[index][0].clone(),
            json!(""),
            json!("{}"),
        ]);
        sign_in += 1;
    }
    // The log in time order, as the server appends it.
    events.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
    insert_rows(pool, "tenants", &["id", "name", "created_at"], &tenants).await?;
    insert_rows(
        pool,
        "users",
        &[
            "id",
            "tenant_id",
            "email",
            "name",
            "role",
            "plan",
            "created_at",
            "updated_at",
        ],
        &users,
    )
    .await?;
    insert_rows(
        pool,
        "subscriptions",
        &[
            "stripe_subscription_id",
            "user_id",
            "tenant_id",
            "plan_key",
            "status",
            "cancel_at_period_end",
            "current_period_end",
            "updated_at",
            "mrr_cents",
            "ever_paid",
        ],
        &subscriptions,
    )
    .await?;
    insert_rows(
        pool,
        "events",
        &[
            "at",
            "day",
            "kind",
            "tenant_id",
            "user_id",
            "subject",
            "data",
        ],
        &events,
    )
    .await?;
    Ok(())
}
