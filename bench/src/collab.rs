//! `collab`: people of one team editing one graph together, against the
//! release server in a process of its own on loopback (SQLite).
//!
//! - `edit_to_peer_p50_ms` / `edit_to_peer_p99_ms` (keyed by people in the
//!   graph, `"2"`, `"10"`, `"50"`): one person moves a node and syncs; every
//!   other person's device hears the change on its live feed, takes in the
//!   edit it carries (syncing only when it cannot) and has the move. Two
//!   edits per team size warm up first and are not counted. The time from the edit to each peer having it,
//!   over `--edits` edits made one after another.
//! - `presence_msgs_per_s_max`: at 50 people, each sends presence at
//!   `--presence-rate` a second (over the server's limit) for
//!   `--presence-seconds`; the most messages any one person received from
//!   any one other person within one second.
//! - `server_cpu_cores`: the server process's CPU time over that presence
//!   phase divided by its wall time.
//! - `open_old_version_ms`: a 10k-node graph's document with a named
//!   version and 1,000 edits after it: reading the graph at that version
//!   from the document's history (median of 5).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use orrery_domain::Position;
use orrery_domain::sample_graph;
use orrery_domain::team::TeamRole;
use orrery_e2e::{TEST_PASSWORD, TestServer};
use orrery_sync::{LiveChange, LiveFeed, Replica, SyncClient};
use serde_json::json;
use uuid::Uuid;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Team sizes to measure edits at.
    pub people: Vec<usize>,
    /// Edits per team size.
    pub edits: usize,
    /// Presence messages each person tries to send per second.
    pub presence_rate: u32,
    /// How long the presence phase lasts.
    pub presence_seconds: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            people: vec![2, 10, 50],
            edits: 40,
            presence_rate: 30,
            presence_seconds: 3,
        }
    }
}

/// Edits made at each team size before any is measured.
const WARM_UP_EDITS: usize = 2;

fn percentile(values: &mut [f64], fraction: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((values.len() as f64 - 1.0) * fraction).round() as usize;
    values[index]
}

/// One person's device in the team.
struct Person {
    id: Uuid,
    token: String,
    replica: Replica,
    client: SyncClient,
    _directory: tempfile::TempDir,
}

/// CPU seconds (user + system) the process `pid` has used.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's closing parenthesis; utime and stime are
    // the 14th and 15th fields of the whole line.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

pub fn run(options: &Options) -> anyhow::Result<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(options))
}

async fn measure(options: &Options) -> anyhow::Result<String> {
    let binary = std::env::current_exe()?
        .parent()
        .context("the bench binary has a directory")?
        .join("orrery-server");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: cargo build --release -p orrery-server",
        binary.display()
    );
    let most = options.people.iter().copied().max().unwrap_or(2).max(2);
    let server = TestServer::start_process(
        &binary,
        &[
            "--registrations-per-hour",
            "100000",
            "--max-connections",
            "4096",
        ],
        &[],
    )
    .await?;
    let store = server.store().await?;
    let accounts = server.accounts();
    let http = reqwest::Client::new();

    // The team, its owner and everyone else, joined through invitations
    // (stored beside the server: its mail goes to the log).
    let mut people = Vec::with_capacity(most);
    for index in 0..most {
        let session = accounts
            .register(
                &format!("person{index}@orrery.test"),
                TEST_PASSWORD,
                &format!("Person {index}"),
                "bench",
            )
            .await?;
        let directory = tempfile::tempdir()?;
        let local = orrery_store::LocalStore::open(&directory.path().join("local.db")).await?;
        people.push(Person {
            id: session.account.id.parse()?,
            token: session.access_token.clone(),
            replica: Replica::new(local),
            client: SyncClient::new(&server.url(), &session.access_token),
            _directory: directory,
        });
    }
    let created: serde_json::Value = http
        .post(format!("{}/v1/teams", server.url()))
        .bearer_auth(&people[0].token)
        .json(&json!({ "name": "Bench team" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let team: Uuid = created["id"].as_str().context("team id")?.parse()?;
    let owner = people[0].id;
    for (index, person) in people.iter_mut().enumerate() {
        person.client = person.client.clone().in_workspace(Some(team));
        if index == 0 {
            continue;
        }
        let code = orrery_server::auth::secrets::new_secret("oin_");
        let now = chrono::Utc::now();
        store
            .create_invitation(
                &orrery_store::InvitationDraft {
                    team,
                    email: format!("person{index}@orrery.test"),
                    role: TeamRole::Editor,
                    token_hash: orrery_server::auth::secrets::hash_secret(&code),
                    invited_by: owner,
                    expires_at: now + chrono::Duration::days(1),
                    mail: orrery_store::MailDraft {
                        dedupe_key: format!("bench-invitation:{index}"),
                        tenant_id: Some(team),
                        to: format!("person{index}@orrery.test"),
                        template: "team_invitation".into(),
                        data: json!({ "inviter": "Person 0", "team": "Bench team", "role": "editor", "link": "", "code": "", "days": 1 }),
                    },
                },
                u64::MAX,
                u64::MAX,
                now,
            )
            .await?;
        http.post(format!("{}/v1/invitations/accept", server.url()))
            .bearer_auth(&person.token)
            .json(&json!({ "code": code }))
            .send()
            .await?
            .error_for_status()?;
    }

    let graph = people[0]
        .replica
        .add_graph(sample_graph("Shared", 200, 7))
        .await?;
    people[0].client.sync_all(&people[0].replica).await?;
    let node = *graph.nodes.keys().next().context("a node")?;

    let mut p50 = serde_json::Map::new();
    let mut p99 = serde_json::Map::new();
    let people = Arc::new(people);
    for &size in &options.people {
        let size = size.clamp(2, most);
        // Every peer follows the team's feed and syncs what it names.
        let (arrived, mut arrivals) =
            tokio::sync::mpsc::unbounded_channel::<(usize, f32, Instant)>();
        let mut followers = Vec::new();
        for peer in 1..size {
            let people = Arc::clone(&people);
            let arrived = arrived.clone();
            let url = server.url();
            let mut feed = LiveFeed::connect_in(&url, &people[peer].token, Some(team)).await?;
            followers.push(tokio::spawn(async move {
                let person = &people[peer];
                while let Ok(Some(change)) = feed.next().await {
                    // The edit comes on the feed; a graph announced without
                    // it is synced, as the app does.
                    let taken = match &change {
                        LiveChange::GraphEdit(edit) if edit.graph == graph.id => {
                            person.client.receive_edit(&person.replica, edit).await
                        }
                        LiveChange::Graph(id) if *id == graph.id => {
                            person
                                .client
                                .sync_graph_reporting(&person.replica, *id)
                                .await
                        }
                        _ => continue,
                    };
                    if taken.is_ok()
                        && let Ok(Some(seen)) = person.replica.node(graph.id, node).await
                    {
                        let x = seen.position.x;
                        if arrived.send((peer, x, Instant::now())).is_err() {
                            return;
                        }
                    }
                }
            }));
        }
        // Everyone starts from the same document.
        for person in people.iter().take(size) {
            person.client.sync_graph(&person.replica, graph.id).await?;
        }
        while arrivals.try_recv().is_ok() {}
        let mut latencies = Vec::with_capacity(options.edits * (size - 1));
        // The first edits warm each device's statements and leave its first
        // automatic history point (one a minute): not counted.
        for edit in 0..options.edits + WARM_UP_EDITS {
            let x = 1_000.0 + (size * 1_000 + edit) as f32;
            let started = Instant::now();
            people[0]
                .replica
                .move_node(graph.id, node, Position { x, y: 0.0, z: 0.0 })
                .await?;
            people[0]
                .client
                .sync_graph(&people[0].replica, graph.id)
                .await?;
            let mut waiting: std::collections::HashSet<usize> = (1..size).collect();
            while !waiting.is_empty() {
                let (peer, seen, at) =
                    tokio::time::timeout(Duration::from_secs(30), arrivals.recv())
                        .await
                        .context("a peer did not receive an edit within 30 s")?
                        .context("the followers stopped")?;
                if seen == x && waiting.remove(&peer) && edit >= WARM_UP_EDITS {
                    latencies.push((at - started).as_secs_f64() * 1_000.0);
                }
            }
        }
        for follower in followers {
            follower.abort();
        }
        p50.insert(size.to_string(), json!(percentile(&mut latencies, 0.5)));
        p99.insert(size.to_string(), json!(percentile(&mut latencies, 0.99)));
    }

    // Presence: everyone at once, each over the limit.
    let pid = server
        .process_id()
        .context("the server runs in its own process")?;
    let received: Arc<std::sync::Mutex<HashMap<(usize, Uuid, u64), u32>>> = Arc::default();
    let mut feeds = Vec::new();
    for (index, person) in people.iter().enumerate() {
        let feed = LiveFeed::connect_in(&server.url(), &person.token, Some(team)).await?;
        feeds.push((index, feed));
    }
    let begun = Instant::now();
    let cpu_before = cpu_seconds(pid).context("the server's CPU time")?;
    let mut tasks = Vec::new();
    for (index, mut feed) in feeds {
        let received = Arc::clone(&received);
        let rate = options.presence_rate.max(1);
        let seconds = options.presence_seconds.max(1);
        let graph = graph.id;
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
            let end = begun + Duration::from_secs(seconds);
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        if Instant::now() >= end {
                            return;
                        }
                        let _ = feed.show_presence(graph, Some([index as f64, 0.0, 0.0]), &[]).await;
                    }
                    change = feed.next() => match change {
                        Ok(Some(LiveChange::Presence(peer))) => {
                            let second = begun.elapsed().as_secs();
                            *received.lock().unwrap().entry((index, peer.user, second)).or_default() += 1;
                        }
                        Ok(Some(_)) => {}
                        _ => return,
                    },
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let wall = begun.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid).context("the server's CPU time")? - cpu_before;
    let presence_max = received
        .lock()
        .unwrap()
        .values()
        .copied()
        .max()
        .unwrap_or(0);

    Ok(json!({
        "benchmark": "collab",
        "people": options.people,
        "edits": options.edits,
        "edit_to_peer_p50_ms": p50,
        "edit_to_peer_p99_ms": p99,
        "presence_people": most,
        "presence_sent_per_s": options.presence_rate,
        "presence_msgs_per_s_max": presence_max,
        "server_cpu_cores": cpu / wall,
        "open_old_version_ms": open_old_version_ms()?,
    })
    .to_string())
}

/// Reading a 10k-node graph as it was 1,000 edits ago, from its history.
fn open_old_version_ms() -> anyhow::Result<f64> {
    let graph = orrery_domain::sample_graph_with_edges("Old version", 10_000, 10_000, 11);
    let document = orrery_sync::GraphDocument::create(&graph)?;
    let version = document.save_version("Before", "Bench", "2026-12-07T10:00:00.000Z")?;
    let nodes: Vec<_> = graph.nodes.keys().copied().collect();
    for edit in 0..1_000 {
        let node = nodes[edit * 7 % nodes.len()];
        document.move_node(
            node,
            Position {
                x: edit as f32,
                y: 1.0,
                z: -1.0,
            },
        )?;
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let old = document.graph_at(&version.frontiers)?;
        times.push(started.elapsed().as_secs_f64() * 1_000.0);
        anyhow::ensure!(old == graph, "the old version read back differs");
    }
    Ok(percentile(&mut times, 0.5))
}
