//! `orrery-bench load`: the sync server under mixed legitimate traffic and
//! attack, in a process of its own (the release `orrery-server` beside this
//! binary, default limits, SQLite).
//!
//! Legitimate: `--clients` (200) devices in 20 accounts, each from a loopback
//! address of its own, each holding the live feed open and, with a pause of
//! 0.5–1.5 s between requests, signing in, pulling and pushing node moves on
//! its account's 10k-node graph (now and then pulling all of it), editing
//! agents in the library, and reading its account and usage.
//!
//! Hostile, from other addresses, all the time: hashing floods (random
//! registrations, wrong passwords, made-up reset codes), 8 MiB garbage sync
//! bodies, and slow clients that drip their headers.
//!
//! After ten seconds of legitimate traffic alone, resident memory is read
//! (`rss_before_mb`); then the measured run; then, 30 s after it ended,
//! `rss_after_mb`. Prints one JSON line: `legit_5xx`, `legit_p99_ms`,
//! `peak_rss_mb`, `rss_after_mb`, `rss_before_mb`, latencies per kind of
//! request, and counts. `--no-attack` runs the same without the hostile
//! clients, for comparison.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use orrery_domain::{Agent, GraphId, LibraryItem, NodeId, Position, sample_graph_with_edges};
use orrery_store::{DatabaseLocation, ServerStore};
use orrery_sync::protocol::{CONTENT_TYPE, SyncRequest};
use orrery_sync::{GraphDocument, LibraryDocument, Version};
use rand::Rng;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;

const PASSWORD: &str = "correct horse battery staple";

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Legitimate devices.
    pub clients: usize,
    /// Seconds of mixed traffic.
    pub seconds: u64,
    /// Nodes of each account's graph.
    pub nodes: usize,
    /// Seconds to wait after the flood before reading resident memory.
    pub settle_seconds: u64,
    /// Legitimate traffic only (the comparison run).
    pub no_attack: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clients: 200,
            seconds: 60,
            nodes: 10_000,
            settle_seconds: 30,
            no_attack: false,
        }
    }
}

const ACCOUNTS: usize = 20;
/// Seconds of legitimate traffic before "before" is read.
const WARM_UP_SECONDS: u64 = 10;

fn address(block: u8, index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        block,
        (index / 250) as u8,
        (index % 250 + 1) as u8,
    ))
}

fn client_from(address: IpAddr) -> anyhow::Result<reqwest::Client> {
    // Like the desktop's clients: idle connections dropped after 5 s, before
    // the server's 10 s.
    Ok(reqwest::Client::builder()
        .local_address(address)
        .timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(5))
        .build()?)
}

/// The server process and its resident memory.
struct Server {
    child: tokio::process::Child,
    url: String,
    database: std::path::PathBuf,
    _directory: tempfile::TempDir,
}

impl Server {
    async fn start() -> anyhow::Result<Self> {
        let binary = std::env::current_exe()?
            .parent()
            .context("the bench binary has a directory")?
            .join("orrery-server");
        ensure!(
            binary.exists(),
            "{} is missing: cargo build --release -p orrery-server",
            binary.display()
        );
        let directory = tempfile::tempdir()?;
        let database = directory.path().join("server.db");
        let mut child = tokio::process::Command::new(&binary)
            .args([
                "--database",
                &database.display().to_string(),
                "--listen",
                "127.0.0.1:0",
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Ok(url.to_owned());
                }
            }
            bail!("the server ended before listening")
        })
        .await??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            url,
            database,
            _directory: directory,
        })
    }

    fn rss_mb(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))
                    .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

/// One account: its token for setup, its graph, and the document its
/// devices push moves from.
struct Account {
    email: String,
    graph: GraphId,
    nodes: Vec<NodeId>,
    document: tokio::sync::Mutex<(GraphDocument, Version)>,
    /// The version the server last acknowledged, as devices pull with it.
    acknowledged: Mutex<Vec<u8>>,
}

/// What the legitimate clients saw.
#[derive(Default)]
struct Tally {
    latencies_ms: Mutex<Vec<f64>>,
    /// The same, per kind of request.
    by_kind: Mutex<BTreeMap<&'static str, Vec<f64>>>,
    statuses: Mutex<BTreeMap<u16, u64>>,
    errors: AtomicU64,
}

impl Tally {
    fn record(&self, kind: &'static str, started: Instant, status: u16) {
        let ms = started.elapsed().as_secs_f64() * 1e3;
        self.latencies_ms.lock().unwrap().push(ms);
        self.by_kind
            .lock()
            .unwrap()
            .entry(kind)
            .or_default()
            .push(ms);
        *self.statuses.lock().unwrap().entry(status).or_default() += 1;
    }
}

pub fn run(options: &Options) -> anyhow::Result<Value> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_all(options))
}

async fn run_all(options: &Options) -> anyhow::Result<Value> {
    let server = Arc::new(Server::start().await?);
    let url = server.url.clone();

    // Setup: accounts on the Enterprise plan, each with a 10k-node graph.
    let store = ServerStore::open(&DatabaseLocation::Sqlite(server.database.clone())).await?;
    let mut accounts = Vec::new();
    for index in 0..ACCOUNTS {
        let http = client_from(address(2, index))?;
        let email = format!("team{index}@load.test");
        let session: Value = http
            .post(format!("{url}/v1/auth/register"))
            .json(&json!({ "email": email, "password": PASSWORD, "name": format!("Team {index}") }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let tenant = session["user"]["tenant_id"]
            .as_str()
            .context("tenant")?
            .parse()?;
        let user = session["user"]["id"].as_str().context("user")?.parse()?;
        store.set_plan(tenant, user, "enterprise").await?;
        let token = session["access_token"].as_str().context("token")?;
        let graph = sample_graph_with_edges("Load", options.nodes, options.nodes * 2, index as u64);
        let document = GraphDocument::create(&graph)?;
        let frame = SyncRequest {
            client_version: document.version().encode(),
            updates: document.updates_since(&GraphDocument::empty(graph.id).version()),
        }
        .encode();
        let response = http
            .post(format!("{url}/v1/graphs/{}/sync", graph.id))
            .bearer_auth(token)
            .header("content-type", CONTENT_TYPE)
            .body(frame)
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "setup push: {}",
            response.status()
        );
        let version = document.version();
        accounts.push(Arc::new(Account {
            email,
            graph: graph.id,
            nodes: graph.nodes.keys().copied().collect(),
            acknowledged: Mutex::new(version.encode()),
            document: tokio::sync::Mutex::new((document, version)),
        }));
    }
    drop(store);

    // Every device signs in from its own address and opens its live feed.
    let mut devices = Vec::new();
    for index in 0..options.clients {
        let http = client_from(address(3, index))?;
        let account = Arc::clone(&accounts[index % ACCOUNTS]);
        let session: Value = http
            .post(format!("{url}/v1/auth/sign-in"))
            .json(&json!({ "email": account.email, "password": PASSWORD }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = session["access_token"]
            .as_str()
            .context("token")?
            .to_owned();
        devices.push((index, http, account, token));
    }
    // Warm-up: ten seconds of legitimate traffic only, so "before" is a
    // server that has served every route (connection pools, statement
    // caches, threads) and "after" differs from it by what the flood left.
    {
        let running = Arc::new(AtomicBool::new(true));
        let warm_tally = Arc::new(Tally::default());
        let mut warm = tokio::task::JoinSet::new();
        for (index, http, account, token) in &devices {
            let (index, http, account, token) =
                (*index, http.clone(), Arc::clone(account), token.clone());
            let (url, tally, running) =
                (url.clone(), Arc::clone(&warm_tally), Arc::clone(&running));
            warm.spawn(
                async move { legit(index, http, account, token, url, tally, running).await },
            );
        }
        tokio::time::sleep(Duration::from_secs(WARM_UP_SECONDS)).await;
        running.store(false, Ordering::Relaxed);
        while let Some(done) = warm.join_next().await {
            done??;
        }
    }
    let rss_before_mb = settled_rss(&server).await;

    let tally = Arc::new(Tally::default());
    let running = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(Mutex::new(rss_before_mb));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, http, account, token) in devices {
        let (url, tally, running) = (url.clone(), Arc::clone(&tally), Arc::clone(&running));
        tasks.spawn(async move { legit(index, http, account, token, url, tally, running).await });
    }
    let hostile = Arc::new(AtomicU64::new(0));
    let attackers = usize::from(!options.no_attack);
    for index in 0..24 * attackers {
        let (url, running, hostile) = (url.clone(), Arc::clone(&running), Arc::clone(&hostile));
        tasks.spawn(async move { hashing_flood(index, url, running, hostile).await });
    }
    for index in 0..8 * attackers {
        let (url, running, hostile) = (url.clone(), Arc::clone(&running), Arc::clone(&hostile));
        tasks.spawn(async move { big_bodies(index, url, running, hostile).await });
    }
    for index in 0..50 * attackers {
        let (running, hostile) = (Arc::clone(&running), Arc::clone(&hostile));
        let target: SocketAddr = url.trim_start_matches("http://").parse()?;
        tasks.spawn(async move { slow_client(index, target, running, hostile).await });
    }
    let sampler = {
        let (server, peak, running) =
            (Arc::clone(&server), Arc::clone(&peak), Arc::clone(&running));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(100));
            while running.load(Ordering::Relaxed) {
                ticks.tick().await;
                let now = server.rss_mb();
                let mut peak = peak.lock().unwrap();
                *peak = peak.max(now);
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    running.store(false, Ordering::Relaxed);
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    sampler.await?;
    tokio::time::sleep(Duration::from_secs(options.settle_seconds)).await;
    let rss_after_mb = server.rss_mb();

    let mut latencies = tally.latencies_ms.lock().unwrap().clone();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let statuses = tally.statuses.lock().unwrap().clone();
    let legit_5xx: u64 = statuses
        .iter()
        .filter(|(status, _)| **status >= 500)
        .map(|(_, count)| count)
        .sum();
    let peak_rss_mb = *peak.lock().unwrap();
    let by_kind: BTreeMap<&str, Value> = tally
        .by_kind
        .lock()
        .unwrap()
        .iter_mut()
        .map(|(kind, values)| {
            values.sort_by(f64::total_cmp);
            let at = |p: f64| values[((values.len() as f64 * p) as usize).min(values.len() - 1)];
            (
                *kind,
                json!({ "n": values.len(), "p50_ms": round(at(0.5)), "p99_ms": round(at(0.99)) }),
            )
        })
        .collect();
    Ok(json!({
        "bench": "load",
        "clients": options.clients,
        "seconds": options.seconds,
        "graph_nodes": options.nodes,
        "legit_requests": latencies.len(),
        "legit_statuses": statuses,
        "legit_errors": tally.errors.load(Ordering::Relaxed),
        "legit_5xx": legit_5xx,
        "legit_p50_ms": round(percentile(0.50)),
        "legit_p99_ms": round(percentile(0.99)),
        "legit_by_kind": by_kind,
        "hostile_requests": hostile.load(Ordering::Relaxed),
        "rss_before_mb": round(rss_before_mb),
        "peak_rss_mb": round(peak_rss_mb),
        "rss_after_mb": round(rss_after_mb),
    }))
}

/// Resident memory once two readings a second apart agree within 1 MB.
async fn settled_rss(server: &Server) -> f64 {
    let mut last = server.rss_mb();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = server.rss_mb();
        if (now - last).abs() < 1.0 {
            return now;
        }
        last = now;
    }
    last
}

/// One legitimate device until the run ends.
async fn legit(
    index: usize,
    http: reqwest::Client,
    account: Arc<Account>,
    mut token: String,
    url: String,
    tally: Arc<Tally>,
    running: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    // The live feed stays open for the whole run, answering pings.
    let feed_url = url.clone();
    let feed_token = token.clone();
    let feed_running = Arc::clone(&running);
    let feed = tokio::spawn(async move {
        if let Ok(mut feed) = orrery_sync::LiveFeed::connect(&feed_url, &feed_token).await {
            while feed_running.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(500), feed.next()).await {
                    Ok(Ok(Some(_))) | Err(_) => {}
                    Ok(Ok(None) | Err(_)) => break,
                }
            }
        }
    });
    let agent = Agent::new(format!("Agent {index}"));
    let library = LibraryDocument::create(&LibraryItem::Agent(agent.clone()))?;
    let mut library_pushed =
        LibraryDocument::empty(orrery_domain::DocumentKind::Agent, agent.id).version();
    let mut step = 0usize;
    while running.load(Ordering::Relaxed) {
        let pause = rand::rng().random_range(500..1500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if !running.load(Ordering::Relaxed) {
            break;
        }
        step += 1;
        let roll = rand::rng().random_range(0..100);
        let mut started = Instant::now();
        let kind = match roll {
            0..5 => "sign_in",
            5..20 => "push",
            20..50 => "pull",
            50..55 => "full_pull",
            55..75 => "library",
            _ => "read",
        };
        let sent = if roll < 5 {
            // Sign in again (a new device session): argon2 on the server.
            let response = http
                .post(format!("{url}/v1/auth/sign-in"))
                .json(&json!({ "email": account.email, "password": PASSWORD }))
                .send()
                .await;
            match response {
                Ok(response) if response.status().is_success() => {
                    let status = response.status().as_u16();
                    let session: Value = response.json().await.unwrap_or_default();
                    if let Some(fresh) = session["access_token"].as_str() {
                        token = fresh.to_owned();
                    }
                    Ok(status)
                }
                Ok(response) => Ok(response.status().as_u16()),
                Err(error) => Err(error),
            }
        } else if roll < 20 {
            // Push a few node moves to the account's 10k-node graph. The
            // account's devices push one after another, each frame building
            // on the one before (as one device's frames do).
            let mut guard = account.document.lock().await;
            let (document, pushed) = &mut *guard;
            for op in 0..5 {
                let node = account.nodes[(step * 7 + op + index) % account.nodes.len()];
                let t = (step + op) as f32 * 0.37;
                document.move_node(node, Position::new(t.sin() * 50.0, t.cos() * 50.0, 0.0))?;
            }
            let frame = SyncRequest {
                client_version: document.version().encode(),
                updates: document.updates_since(pushed),
            }
            .encode();
            // Timed from here: waiting for the account's other devices is
            // the bench's doing (each real device has its own document).
            started = Instant::now();
            let sent = sync(
                &http,
                &url,
                &token,
                &format!("graphs/{}", account.graph),
                frame,
            )
            .await;
            if matches!(sent, Ok(status) if status < 300) {
                *pushed = document.version();
                *account.acknowledged.lock().unwrap() = pushed.encode();
            }
            drop(guard);
            sent
        } else if roll < 50 {
            // Pull what changed since the account's document.
            // What this device last heard the server has.
            let version = account.acknowledged.lock().unwrap().clone();
            let frame = SyncRequest {
                client_version: version,
                updates: Vec::new(),
            }
            .encode();
            sync(
                &http,
                &url,
                &token,
                &format!("graphs/{}", account.graph),
                frame,
            )
            .await
        } else if roll < 55 {
            // A fresh device: the whole 10k-node graph.
            sync(
                &http,
                &url,
                &token,
                &format!("graphs/{}", account.graph),
                SyncRequest::default().encode(),
            )
            .await
        } else if roll < 75 {
            // Edit the device's agent in the library.
            let mut edited = agent.clone();
            edited.description = format!("edit {step}");
            library.update_agent(&edited)?;
            let frame = SyncRequest {
                client_version: library.version().encode(),
                updates: library.updates_since(&library_pushed),
            }
            .encode();
            library_pushed = library.version();
            sync(
                &http,
                &url,
                &token,
                &format!("library/agent/{}", agent.id),
                frame,
            )
            .await
        } else {
            let path = match roll % 3 {
                0 => "/v1/me",
                1 => "/v1/usage",
                _ => "/v1/graphs",
            };
            http.get(format!("{url}{path}"))
                .bearer_auth(&token)
                .send()
                .await
                .map(|response| response.status().as_u16())
        };
        match sent {
            Ok(status) => tally.record(kind, started, status),
            Err(_) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    feed.abort();
    Ok(())
}

async fn sync(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    path: &str,
    frame: Vec<u8>,
) -> Result<u16, reqwest::Error> {
    let response = http
        .post(format!("{url}/v1/{path}/sync"))
        .bearer_auth(token)
        .header("content-type", CONTENT_TYPE)
        .body(frame)
        .send()
        .await?;
    let status = response.status().as_u16();
    // Read the answer: a device does.
    let _ = response.bytes().await?;
    Ok(status)
}

/// Registrations, wrong passwords and made-up reset codes, as fast as the
/// server answers.
async fn hashing_flood(
    index: usize,
    url: String,
    running: Arc<AtomicBool>,
    hostile: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let http = client_from(address(9, index))?;
    let mut n = 0u64;
    while running.load(Ordering::Relaxed) {
        n += 1;
        let (path, body) = match n % 3 {
            0 => (
                "/v1/auth/register",
                json!({ "email": format!("spam{index}-{n}@load.test"), "password": "spam spam spam", "name": "Spam" }),
            ),
            1 => (
                "/v1/auth/sign-in",
                json!({ "email": format!("team{}@load.test", n % ACCOUNTS as u64), "password": format!("guess {n}") }),
            ),
            _ => (
                "/v1/auth/password-reset/confirm",
                json!({ "code": format!("orp_guess-{n}"), "password": "a new password" }),
            ),
        };
        let _ = http.post(format!("{url}{path}")).json(&body).send().await;
        hostile.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// 8 MiB of garbage to a sync route, again and again.
async fn big_bodies(
    index: usize,
    url: String,
    running: Arc<AtomicBool>,
    hostile: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let http = client_from(address(10, index))?;
    let body = vec![0x5Au8; 8 * 1024 * 1024];
    while running.load(Ordering::Relaxed) {
        let _ = http
            .post(format!("{url}/v1/graphs/{}/sync", GraphId::new()))
            .header("content-type", CONTENT_TYPE)
            .body(body.clone())
            .send()
            .await;
        hostile.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Opens a connection and drips a header byte every 500 ms until cut off,
/// then opens another.
async fn slow_client(
    index: usize,
    target: SocketAddr,
    running: Arc<AtomicBool>,
    hostile: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    while running.load(Ordering::Relaxed) {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(address(11, index), 0))?;
        let Ok(mut stream) = socket.connect(target).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        hostile.fetch_add(1, Ordering::Relaxed);
        if stream
            .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
            .await
            .is_err()
        {
            continue;
        }
        while running.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if stream.write_all(b"X").await.is_err() {
                break;
            }
        }
    }
    Ok(())
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
