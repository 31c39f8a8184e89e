//! `orrery-bench sync`: the sync path's figures, medians over `--runs`.
//!
//! - `initial_sync_ms`: a fresh device pulls a 10k-node, 20k-edge graph from
//!   the server over loopback (list, pull, merge, materialise, local store).
//! - `merge_moves_ms`: a replica merges one update holding 100k node moves
//!   (`GraphDocument::merge`, as the server does: checked on a copy first).
//! - `server_ops_per_s`: 50 clients push prepared frames of node moves to
//!   their own graphs at once; operations merged and stored per second.
//! - `raw_sqlite_rows_per_s`: the same number of rows, as large as the
//!   documents the server stored, upserted straight into SQLite by 50 tasks:
//!   the storage ceiling the server's rate is compared with.
//!
//! With `--postgres` the server figures are taken again on a throwaway
//! PostgreSQL cluster (started here).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use orrery_domain::{GraphId, NodeId, Position, sample_graph_with_edges};
use orrery_e2e::TestServer;
use orrery_e2e::postgres::PostgresServer;
use orrery_store::{DatabaseLocation, LocalStore};
use orrery_sync::protocol::{CONTENT_TYPE, SyncRequest};
use orrery_sync::{GraphDocument, Replica, SyncClient, Version};
use serde_json::json;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Nodes in the initial-sync graph.
    pub nodes: usize,
    /// Edges in the initial-sync graph.
    pub edges: usize,
    /// Node moves in the merged update.
    pub moves: usize,
    /// Concurrent pushing clients.
    pub clients: usize,
    /// Pushes per client and run.
    pub pushes: usize,
    /// Node moves per push.
    pub ops_per_push: usize,
    /// Runs per figure (the median is reported).
    pub runs: usize,
    /// Also measure on PostgreSQL.
    pub postgres: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: 10_000,
            edges: 20_000,
            moves: 100_000,
            clients: 50,
            pushes: 20,
            ops_per_push: 100,
            runs: 5,
            postgres: false,
        }
    }
}

/// Runs every measurement and returns the JSON line.
pub fn run(options: &Options) -> anyhow::Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_all(options))
}

async fn run_all(options: &Options) -> anyhow::Result<serde_json::Value> {
    let merge_moves_ms = median(
        (0..options.runs)
            .map(|run| merge_moves(options, run as u64))
            .collect::<anyhow::Result<Vec<_>>>()?,
    );

    let sqlite = TestServer::start().await?;
    let sqlite_figures = server_figures(&sqlite, options).await?;
    let raw = raw_sqlite_rows_per_s(options, sqlite_figures.stored_bytes).await?;
    let mut line = json!({
        "bench": "sync",
        "nodes": options.nodes,
        "edges": options.edges,
        "moves": options.moves,
        "clients": options.clients,
        "ops_per_push": options.ops_per_push,
        "runs": options.runs,
        "merge_moves_ms": round(merge_moves_ms),
        "initial_sync_ms": round(sqlite_figures.initial_sync_ms),
        "initial_server_answer_ms": round(sqlite_figures.initial_answer_ms),
        "initial_merge_ms": round(sqlite_figures.initial_merge_ms),
        "initial_push_ms": round(sqlite_figures.initial_push_ms),
        "server_ops_per_s": round(sqlite_figures.ops_per_s),
        "raw_sqlite_rows_per_s": round(raw),
        "raw_sqlite_ops_per_s": round(raw * options.ops_per_push as f64),
        "server_share_of_raw": round(sqlite_figures.ops_per_s / (raw * options.ops_per_push as f64)),
        "goals": {
            "initial_sync_ms": 300,
            "merge_moves_ms": 1000,
            "server_ops_per_s": 20000
        }
    });
    if options.postgres {
        let cluster = PostgresServer::start()?;
        let location = DatabaseLocation::Postgres(cluster.database("bench").await?);
        let server = TestServer::start_on(Some(location), |_| {}).await?;
        let figures = server_figures(&server, options).await?;
        line["postgres"] = json!({
            "initial_sync_ms": round(figures.initial_sync_ms),
            "initial_push_ms": round(figures.initial_push_ms),
            "server_ops_per_s": round(figures.ops_per_s),
        });
    }
    Ok(line)
}

/// One update of `moves` node moves, merged into a replica of the graph.
fn merge_moves(options: &Options, seed: u64) -> anyhow::Result<f64> {
    let graph = sample_graph_with_edges("Merge", options.nodes, options.edges, seed);
    let author = GraphDocument::create(&graph)?;
    let mut replica = GraphDocument::empty(graph.id);
    replica.merge(&author.updates_since(&GraphDocument::empty(graph.id).version()))?;
    let ids: Vec<NodeId> = graph.nodes.keys().copied().collect();
    for step in 0..options.moves {
        let id = ids[(step * 7919 + seed as usize) % ids.len()];
        author.move_node(id, wander(step))?;
    }
    let updates = author.updates_since(&replica.version());
    let started = Instant::now();
    replica.merge(&updates)?;
    let elapsed = started.elapsed().as_secs_f64() * 1e3;
    ensure!(
        replica.version() == author.version(),
        "the merge missed operations"
    );
    Ok(elapsed)
}

struct ServerFigures {
    initial_sync_ms: f64,
    /// Of which: the server answering an empty device over HTTP.
    initial_answer_ms: f64,
    /// Of which: merging that answer into an empty document and reading the graph.
    initial_merge_ms: f64,
    initial_push_ms: f64,
    ops_per_s: f64,
    /// Average size of a stored document after the pushes.
    stored_bytes: usize,
}

async fn server_figures(server: &TestServer, options: &Options) -> anyhow::Result<ServerFigures> {
    // One account on the Enterprise plan (no graph or node limits).
    let session = server.session_for("bench@orrery.test", "bench").await?;
    let store = server.store().await?;
    let tenant = session.account.tenant_id.parse()?;
    let user = session.account.id.parse()?;
    store.set_plan(tenant, user, "enterprise").await?;
    let token = session.access_token.clone();

    // Initial sync: push once, then fresh devices pull.
    let author = device(server, &token).await?;
    let graph = sample_graph_with_edges("Initial", options.nodes, options.edges, 7);
    author.replica.add_graph(graph.clone()).await?;
    let started = Instant::now();
    author.client.sync_all(&author.replica).await?;
    let initial_push_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut pulls = Vec::new();
    let (mut answers, mut merges) = (Vec::new(), Vec::new());
    let http = reqwest::Client::new();
    for _ in 0..options.runs {
        // The parts: the server's answer to an empty device, and merging it.
        let started = Instant::now();
        let answer = pull(&http, &server.url(), &token, graph.id).await?;
        answers.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        let mut document = GraphDocument::empty(graph.id);
        document.merge(&answer.updates)?;
        ensure!(
            document.to_graph()?.nodes.len() == options.nodes,
            "incomplete answer"
        );
        merges.push(started.elapsed().as_secs_f64() * 1e3);

        let fresh = device(server, &token).await?;
        let started = Instant::now();
        fresh.client.sync_all(&fresh.replica).await?;
        pulls.push(started.elapsed().as_secs_f64() * 1e3);
        ensure!(
            fresh.replica.graph(graph.id).await?.nodes.len() == options.nodes,
            "the pulled graph is incomplete"
        );
    }

    // Throughput: every client owns a small graph and pushes prepared frames.
    let mut clients = Vec::new();
    for index in 0..options.clients {
        let graph = sample_graph_with_edges("Pusher", 100, 150, 1000 + index as u64);
        let document = GraphDocument::create(&graph)?;
        let frame = SyncRequest {
            client_version: document.version().encode(),
            updates: document.updates_since(&GraphDocument::empty(graph.id).version()),
        }
        .encode();
        post(&http, server, &token, graph.id, frame).await?;
        let ids: Vec<NodeId> = graph.nodes.keys().copied().collect();
        clients.push((graph.id, document, ids));
    }
    let mut rates = Vec::new();
    for run in 0..options.runs {
        let mut prepared = Vec::new();
        for (graph_id, document, ids) in &clients {
            let mut frames = Vec::new();
            let mut pushed: Version = document.version();
            for push in 0..options.pushes {
                for op in 0..options.ops_per_push {
                    let step = (run * options.pushes + push) * options.ops_per_push + op;
                    document.move_node(ids[step % ids.len()], wander(step))?;
                }
                frames.push(
                    SyncRequest {
                        client_version: document.version().encode(),
                        updates: document.updates_since(&pushed),
                    }
                    .encode(),
                );
                pushed = document.version();
            }
            prepared.push((*graph_id, frames));
        }
        let token = Arc::new(token.clone());
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (graph_id, frames) in prepared {
            let (http, token, url) = (http.clone(), token.clone(), server.url());
            tasks.spawn(async move {
                for frame in frames {
                    post_to(&http, &url, &token, graph_id, frame).await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        let ops = options.clients * options.pushes * options.ops_per_push;
        rates.push(ops as f64 / started.elapsed().as_secs_f64());
    }
    let mut stored = 0;
    for (graph_id, _, _) in &clients {
        let graph = store
            .load_graph_revision(tenant, *graph_id)
            .await?
            .context("a pushed graph is missing on the server")?;
        stored += graph.snapshot.len() + graph.updates.iter().map(Vec::len).sum::<usize>();
    }
    Ok(ServerFigures {
        initial_sync_ms: median(pulls),
        initial_answer_ms: median(answers),
        initial_merge_ms: median(merges),
        initial_push_ms,
        ops_per_s: median(rates),
        stored_bytes: stored / options.clients.max(1),
    })
}

/// Upserts as many rows as the throughput run stored, each `row_bytes` long,
/// from `clients` tasks into a SQLite file set up like the server's.
async fn raw_sqlite_rows_per_s(options: &Options, row_bytes: usize) -> anyhow::Result<f64> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let directory = tempfile::tempdir()?;
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(directory.path().join("raw.db"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(std::time::Duration::from_secs(10)),
        )
        .await?;
    sqlx::query(
        "CREATE TABLE documents (owner TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL,
             revision INTEGER NOT NULL, PRIMARY KEY (owner, id))",
    )
    .execute(&pool)
    .await?;
    let body = vec![0x5A_u8; row_bytes.max(1)];
    let mut rates = Vec::new();
    for _ in 0..options.runs {
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for client in 0..options.clients {
            let (pool, body, pushes) = (pool.clone(), body.clone(), options.pushes);
            tasks.spawn(async move {
                for push in 0..pushes {
                    sqlx::query(
                        "INSERT INTO documents (owner, id, body, revision) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (owner, id) DO UPDATE SET body = excluded.body, revision = excluded.revision",
                    )
                    .bind("bench")
                    .bind(client.to_string())
                    .bind(&body)
                    .bind(push as i64)
                    .execute(&pool)
                    .await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        rates.push((options.clients * options.pushes) as f64 / started.elapsed().as_secs_f64());
    }
    Ok(median(rates))
}

struct Device {
    replica: Replica,
    client: SyncClient,
    _directory: tempfile::TempDir,
}

async fn device(server: &TestServer, token: &str) -> anyhow::Result<Device> {
    let directory = tempfile::tempdir()?;
    let store = LocalStore::open(&directory.path().join("local.db")).await?;
    Ok(Device {
        replica: Replica::new(store),
        client: SyncClient::new(&server.url(), token),
        _directory: directory,
    })
}

/// What the server answers a device that has nothing of `graph`.
async fn pull(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    graph: GraphId,
) -> anyhow::Result<orrery_sync::protocol::SyncResponse> {
    let response = http
        .post(format!("{url}/v1/graphs/{graph}/sync"))
        .bearer_auth(token)
        .header("content-type", CONTENT_TYPE)
        .body(SyncRequest::default().encode())
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "pull refused: {}",
        response.status()
    );
    Ok(orrery_sync::protocol::SyncResponse::decode(
        &response.bytes().await?,
    )?)
}

async fn post(
    http: &reqwest::Client,
    server: &TestServer,
    token: &str,
    graph: GraphId,
    frame: Vec<u8>,
) -> anyhow::Result<()> {
    post_to(http, &server.url(), token, graph, frame).await
}

async fn post_to(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    graph: GraphId,
    frame: Vec<u8>,
) -> anyhow::Result<()> {
    let response = http
        .post(format!("{url}/v1/graphs/{graph}/sync"))
        .bearer_auth(token)
        .header("content-type", CONTENT_TYPE)
        .body(frame)
        .send()
        .await?;
    let status = response.status();
    ensure!(
        status.is_success(),
        "push refused with {status}: {}",
        response.text().await.unwrap_or_default()
    );
    Ok(())
}

/// A deterministic position for step `step`.
fn wander(step: usize) -> Position {
    let t = step as f32 * 0.37;
    Position::new(t.sin() * 50.0, t.cos() * 50.0, (t * 0.5).sin() * 20.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
