//! Crashes: SIGKILL a desktop device mid-write and mid-push, and the sync
//! server mid-merge; after a restart every acknowledged edit is there and
//! sync completes.
//!
//! Both sides run as real processes of their own (`orrery-e2e-device`,
//! `orrery-e2e-server`, built from `src/bin/`) over real SQLite files, so a
//! kill leaves exactly what a crash leaves. The test learns what each process
//! is doing from the lines it prints — the device says `WROTE <id>` once the
//! local store committed a node and `PUSHED` once the server acknowledged a
//! sync; the server prints every statement its database finished — and kills
//! on a chosen line. No sleep stands in for knowing what happened.
//!
//! The promises checked after every kill:
//! - both SQLite files (the device's, the server's) pass
//!   `PRAGMA integrity_check` and open again;
//! - every node the device said it wrote (`WROTE`) is in its graph after the
//!   restart, in the document and in the rows materialised from it;
//! - every node of a push the device saw acknowledged (`PUSHED`) is on the
//!   server, even after the server itself was killed;
//! - the restarted device syncs, is left with no pending change, and the
//!   server then holds every node the device has.
//!
//! Where each kill landed (before or after the write it interrupted was
//! stored) is printed, so `--nocapture` shows which moments a run reached.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use orrery_domain::{GraphId, NodeId, sample_graph};
use orrery_e2e::TEST_PASSWORD;
use orrery_store::{LocalStore, ServerStore};
use orrery_sync::{GraphDocument, Replica, SyncClient};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use uuid::Uuid;

const DEVICE: &str = env!("CARGO_BIN_EXE_orrery-e2e-device");
const SERVER: &str = env!("CARGO_BIN_EXE_orrery-e2e-server");

/// How long a process may stay silent before the test gives up on it: a
/// guard against hanging forever, never a way of waiting for something.
const SILENCE: Duration = Duration::from_secs(60);

/// The statement with which the server reads a graph's stored revision: the
/// first thing a merge does once the request is in (the document itself may
/// already be in the server's memory).
const MERGE_LOADS: &str = "QUERY SELECT revision, node_count, edge_count";
/// What the server logs once a merge is stored (committed: a merge may write
/// more than one statement, in one transaction).
const MERGE_STORES: &str = "LOG orrery_server::http::graphs merged updates";
/// The statement with which the server lists a tenant's graphs.
const LISTS_GRAPHS: &str = "QUERY SELECT graph_id, name, node_count";

/// A child process whose stdout arrives line by line on a channel (read by a
/// task of its own, so a process never blocks on a full pipe while the test
/// listens to another one).
struct Process {
    name: String,
    child: Child,
    lines: mpsc::UnboundedReceiver<(Instant, String)>,
    /// Every line read so far, for failure messages.
    heard: Vec<String>,
    /// When the latest line read arrived from the pipe.
    heard_at: Option<Instant>,
    /// When it was sent SIGKILL.
    killed_at: Option<Instant>,
}

impl Process {
    fn spawn(name: &str, program: &str, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {name}: {error}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if sender.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Self {
            name: name.to_owned(),
            child,
            lines,
            heard: Vec::new(),
            heard_at: None,
            killed_at: None,
        }
    }

    fn context(&self) -> String {
        let start = self.heard.len().saturating_sub(8);
        format!("{}'s last lines: {:#?}", self.name, &self.heard[start..])
    }

    /// The next line, or `None` once the process closed its stdout.
    async fn next(&mut self) -> Option<String> {
        let line = tokio::time::timeout(SILENCE, self.lines.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} said nothing for {SILENCE:?}; {}",
                    self.name,
                    self.context()
                )
            });
        let (at, line) = line?;
        self.heard.push(line.clone());
        self.heard_at = Some(at);
        Some(line)
    }

    /// Reads lines, handing each to `heard`, until one starts with `prefix`;
    /// returns that line.
    async fn until(&mut self, prefix: &str, mut heard: impl FnMut(&str)) -> String {
        loop {
            match self.next().await {
                Some(line) => {
                    heard(&line);
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                None => panic!(
                    "{} ended before saying `{prefix}`: {:?}; {}",
                    self.name,
                    self.child.wait().await,
                    self.context()
                ),
            }
        }
    }

    /// SIGKILLs the process, reaps it, and returns the lines it had printed
    /// that the test had not read yet (all printed before it died).
    async fn kill(&mut self) -> Vec<String> {
        self.child.start_kill().expect("SIGKILL");
        self.killed_at = Some(Instant::now());
        self.child.wait().await.expect("reaping it");
        self.rest().await
    }

    /// Reads to the end of its output.
    async fn rest(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.next().await {
            lines.push(line);
        }
        lines
    }

    /// Reads to the end and checks the process exited successfully.
    async fn finish(&mut self) -> Vec<String> {
        let lines = self.rest().await;
        let status = self.child.wait().await.expect("waiting for it");
        assert!(
            status.success(),
            "{} failed: {status}; {}",
            self.name,
            self.context()
        );
        lines
    }
}

/// What the device said in one run of `edit`.
#[derive(Default)]
struct Ledger {
    /// The node of the write under way (`WRITING`).
    writing: Option<NodeId>,
    /// Every node it said it wrote, in order.
    wrote: Vec<NodeId>,
    /// How many nodes were written when the latest `PUSHING` was said.
    written_at_push: usize,
    /// `PUSHING` lines said.
    pushes: usize,
    /// `PUSHED` lines said.
    pushed: usize,
    /// Nodes the server acknowledged (written before a `PUSHING` that was
    /// followed by `PUSHED`).
    on_server: BTreeSet<NodeId>,
    /// The reasons of its `SYNC-FAILED` lines.
    failures: Vec<String>,
}

impl Ledger {
    fn hear(&mut self, line: &str) {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let id = || -> NodeId { rest.parse().expect("a node id") };
        match word {
            "WRITING" => self.writing = Some(id()),
            "WROTE" => self.wrote.push(id()),
            "PUSHING" => {
                self.pushes += 1;
                self.written_at_push = self.wrote.len();
            }
            "PUSHED" => {
                self.pushed += 1;
                self.on_server.extend(&self.wrote[..self.written_at_push]);
            }
            "SYNC-FAILED" => self.failures.push(rest.to_owned()),
            _ => {}
        }
    }

    fn hear_all(&mut self, lines: &[String]) {
        for line in lines {
            self.hear(line);
        }
    }

    /// Nodes written before the latest `PUSHING`.
    fn sent_in_latest_push(&self) -> &[NodeId] {
        &self.wrote[..self.written_at_push]
    }
}

/// One account, one graph, one device store and one server database.
struct Scene {
    directory: tempfile::TempDir,
    server_database: PathBuf,
    device_database: PathBuf,
    address: String,
    token: String,
    tenant: Uuid,
    graph: GraphId,
    /// Nodes that must be in the device's graph from now on.
    on_device: BTreeSet<NodeId>,
    /// Nodes that must be on the server from now on.
    on_server: BTreeSet<NodeId>,
    /// Where each kill landed, for the record.
    outcomes: Vec<String>,
}

impl Scene {
    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn start_server(database: &Path, listen: &str) -> Process {
        let database = database.to_str().expect("a UTF-8 path");
        Process::spawn(
            "the server",
            SERVER,
            &["--database", database, "--listen", listen],
        )
    }

    /// Has the server list the graphs and reads its lines up to that
    /// request's statement: whatever it prints after is news. (A line
    /// already printed may still be on its way through the pipe when a
    /// request ends; this request's line comes after it.)
    async fn catch_up(&self, server: &mut Process) {
        SyncClient::new(&self.url(), &self.token)
            .remote_graphs()
            .await
            .expect("the server lists graphs");
        server.until(LISTS_GRAPHS, |_| {}).await;
    }

    fn device(&self, mode: &[&str]) -> Process {
        let graph = self.graph.to_string();
        let url = self.url();
        let database = self.device_database.to_str().expect("a UTF-8 path");
        let mut args = vec![database, &url, &self.token, &graph];
        args.extend_from_slice(mode);
        Process::spawn(&format!("the device ({})", mode[0]), DEVICE, &args)
    }

    /// The nodes of the graph in the server's database, opened beside the
    /// server (or after it died) the way a restarted server opens it.
    async fn server_nodes(&self) -> BTreeSet<NodeId> {
        let store = ServerStore::open_sqlite(&self.server_database)
            .await
            .expect("the server database opens");
        let stored = store
            .load_graph_revision(self.tenant, self.graph)
            .await
            .expect("the server database reads")
            .expect("the server has the graph");
        let document = GraphDocument::from_stored(self.graph, &stored.snapshot, &stored.updates)
            .expect("the stored document loads");
        document
            .to_graph()
            .expect("the stored document is a graph")
            .nodes
            .into_keys()
            .collect()
    }

    async fn assert_server_holds(&self, nodes: &BTreeSet<NodeId>, when: &str) {
        let on_server = self.server_nodes().await;
        let missing: Vec<_> = nodes.difference(&on_server).collect();
        assert!(
            missing.is_empty(),
            "{when}: {} acknowledged node(s) missing on the server: {missing:?}",
            missing.len()
        );
    }

    /// Restarts the device after a kill: everything it acknowledged is in its
    /// graph, it syncs, nothing is left pending, and the server then holds
    /// every node it has. Returns whether `in_flight` survived.
    async fn restart_device(&mut self, ledger: &Ledger, in_flight: Option<NodeId>) -> bool {
        integrity_check(&self.device_database).await;
        integrity_check(&self.server_database).await;
        let mut device = self.device(&["verify"]);
        let mut local = BTreeSet::new();
        let mut rows_match = None;
        device
            .until("LOCAL ", |line| match line.split_once(' ') {
                Some(("NODE", id)) => {
                    local.insert(id.parse::<NodeId>().expect("a node id"));
                }
                _ if line == "ROWS-MATCH" => rows_match = Some(true),
                _ if line == "ROWS-DIFFER" => rows_match = Some(false),
                _ => {}
            })
            .await;
        assert_eq!(
            rows_match,
            Some(true),
            "the store's rows agree with its document"
        );
        let lost: Vec<_> = self
            .on_device
            .iter()
            .chain(&ledger.wrote)
            .filter(|id| !local.contains(id))
            .collect();
        assert!(
            lost.is_empty(),
            "{} node(s) the device said it wrote are gone after the restart: {lost:?}",
            lost.len()
        );
        let mut pending = None;
        device
            .until("SYNCED ", |line| {
                if let Some(count) = line.strip_prefix("PENDING ") {
                    pending = Some(count.parse::<i64>().expect("a count"));
                }
            })
            .await;
        device.finish().await;
        assert_eq!(pending, Some(0), "nothing is pending after the sync");
        self.assert_server_holds(&local, "after the restarted device synced")
            .await;
        let survived = in_flight.is_some_and(|id| local.contains(&id));
        self.on_device = local.clone();
        self.on_server = local;
        survived
    }
}

/// Opens `path` as SQLite and runs `PRAGMA integrity_check`.
async fn integrity_check(path: &Path) {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false);
    let mut connection = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap_or_else(|error| panic!("{} does not open: {error}", path.display()));
    let verdict: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut connection)
        .await
        .expect("integrity_check runs");
    assert_eq!(verdict, ["ok"], "{} is damaged", path.display());
    connection.close().await.expect("closing");
}

/// Kills the device on the `WRITING` line of its `nth` write, while the
/// write is under way.
async fn kill_device_mid_write(scene: &mut Scene, nth: usize) {
    let mut device = scene.device(&["edit", "--batch", "1", "--push-every", "1000000"]);
    let mut ledger = Ledger::default();
    let mut writes = 0;
    while writes < nth {
        device.until("WRITING ", |line| ledger.hear(line)).await;
        writes += 1;
    }
    let printed = device.kill().await;
    ledger.hear_all(&printed);
    let in_flight = ledger.writing;
    let acknowledged = in_flight.is_some_and(|id| ledger.wrote.contains(&id));
    let survived = scene.restart_device(&ledger, in_flight).await;
    scene.outcomes.push(format!(
        "device killed during write {nth}: the write was {}",
        match (survived, acknowledged) {
            (false, _) => "lost (killed before its commit; it was never acknowledged)",
            (true, false) => "kept (killed after its commit, before WROTE)",
            (true, true) => "kept and acknowledged (killed after WROTE)",
        }
    ));
}

/// Kills the device on its `PUSHING` line for its `nth` push.
async fn kill_device_on_pushing(scene: &mut Scene, nth: usize) {
    let mut device = scene.device(&["edit", "--batch", "1", "--push-every", "8"]);
    let mut ledger = Ledger::default();
    while ledger.pushes < nth {
        device.until("PUSHING", |line| ledger.hear(line)).await;
    }
    let sent = ledger.sent_in_latest_push().to_vec();
    let printed = device.kill().await;
    ledger.hear_all(&printed);
    integrity_check(&scene.server_database).await;
    let mut acknowledged = scene.on_server.clone();
    acknowledged.extend(&ledger.on_server);
    scene
        .assert_server_holds(&acknowledged, "after the device died pushing")
        .await;
    let server = scene.server_nodes().await;
    let reached = sent.iter().all(|id| server.contains(id));
    scene.restart_device(&ledger, None).await;
    scene.outcomes.push(format!(
        "device killed on PUSHING {nth}: {}",
        if ledger.pushed >= nth {
            "after it heard PUSHED"
        } else if reached {
            "after the server merged the push, before the device heard back"
        } else {
            "before the server merged the push"
        }
    ));
}

/// Kills the device once the server stored its `nth` push, before the device
/// took in the answer.
async fn kill_device_after_server_stored(scene: &mut Scene, server: &mut Process, nth: usize) {
    scene.catch_up(server).await;
    let mut device = scene.device(&["edit", "--batch", "1", "--push-every", "8"]);
    let mut ledger = Ledger::default();
    while ledger.pushes < nth {
        device.until("PUSHING", |line| ledger.hear(line)).await;
    }
    let sent = ledger.sent_in_latest_push().to_vec();
    // Every push of this device adds nodes, so each is stored once.
    for _ in 0..nth {
        server.until(MERGE_STORES, |_| {}).await;
    }
    let printed = device.kill().await;
    ledger.hear_all(&printed);
    integrity_check(&scene.server_database).await;
    let mut acknowledged = scene.on_server.clone();
    acknowledged.extend(&ledger.on_server);
    // The server stored the push: it is on the server whatever the device heard.
    acknowledged.extend(&sent);
    scene
        .assert_server_holds(&acknowledged, "after the server stored a push")
        .await;
    scene.restart_device(&ledger, None).await;
    scene.outcomes.push(format!(
        "device killed once the server stored push {nth}: {}",
        if ledger.pushed >= nth {
            "after it heard PUSHED"
        } else {
            "before it took in the server's answer"
        }
    ));
}

/// Has the device write `batch` nodes in one write and push them, and kills
/// the server on the statement that loads the graph for that merge. Returns
/// the restarted server and whether the kill landed before the merge was
/// stored.
async fn kill_server_mid_merge(
    scene: &mut Scene,
    mut server: Process,
    batch: usize,
) -> (Process, bool) {
    scene.catch_up(&mut server).await;
    let batch = batch.to_string();
    let mut device = scene.device(&[
        "edit",
        "--batch",
        &batch,
        "--push-every",
        "1",
        "--pushes",
        "1",
    ]);
    let mut ledger = Ledger::default();
    device.until("PUSHING", |line| ledger.hear(line)).await;
    server.until(MERGE_LOADS, |_| {}).await;
    let loaded_at = server.heard_at.expect("a line arrived");
    let printed = server.kill().await;
    let killed_after = server.killed_at.expect("killed") - loaded_at;
    let stored_before_death = printed.iter().any(|line| line.starts_with(MERGE_STORES));
    // The device's sync fails (or, had the kill come late, succeeds); either
    // way it goes on and stops after this one push.
    let printed = device.finish().await;
    ledger.hear_all(&printed);

    integrity_check(&scene.server_database).await;
    scene
        .assert_server_holds(&scene.on_server.clone(), "after the server died mid-merge")
        .await;
    scene
        .assert_server_holds(&ledger.on_server, "after the server died mid-merge")
        .await;
    let server_nodes = scene.server_nodes().await;
    let pushed = ledger.sent_in_latest_push();
    let stored = pushed.iter().filter(|id| server_nodes.contains(id)).count();
    assert!(
        stored == 0 || stored == pushed.len(),
        "a merge is stored whole or not at all: {stored} of {} nodes",
        pushed.len()
    );
    let landed_mid_merge = stored == 0;
    assert_eq!(
        landed_mid_merge, !stored_before_death,
        "the server's last words agree with its database"
    );
    if landed_mid_merge {
        assert_eq!(
            (ledger.pushed, ledger.failures.len()),
            (0, 1),
            "a device whose push died with the server knows it failed"
        );
    }

    let mut server = Scene::start_server(&scene.server_database, &scene.address);
    let listening = server.until("LISTENING ", |_| {}).await;
    assert_eq!(listening, format!("LISTENING {}", scene.address));
    scene.restart_device(&ledger, None).await;
    // The restarted device pushed the same nodes again: how long that merge
    // took from loading the graph to storing it is the window the kill aimed at.
    let window = if landed_mid_merge {
        server.until(MERGE_LOADS, |_| {}).await;
        let loaded_at = server.heard_at.expect("a line arrived");
        server.until(MERGE_STORES, |_| {}).await;
        format!(
            ", of the {:?} the same merge took unkilled",
            server.heard_at.expect("a line arrived") - loaded_at
        )
    } else {
        String::new()
    };
    scene.outcomes.push(format!(
        "server killed {killed_after:?} after loading the graph for a {}-node merge{window}: {}",
        pushed.len(),
        if landed_mid_merge {
            format!(
                "mid-merge, before it stored anything; the device heard `{}`",
                ledger.failures[0]
            )
        } else {
            "too late, after it stored the merge".to_owned()
        }
    ));
    (server, landed_mid_merge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_sync_loses_nothing() {
    let started = Instant::now();
    let directory = tempfile::tempdir().unwrap();
    let server_database = directory.path().join("server.db");
    let device_database = directory.path().join("device.db");
    let mut server = Scene::start_server(&server_database, "127.0.0.1:0");
    let listening = server.until("LISTENING ", |_| {}).await;
    let address = listening["LISTENING ".len()..].to_owned();
    let url = format!("http://{address}");

    // An account on a plan that takes thousands of nodes per graph (an
    // admin's change, beside the server): the mid-merge round pushes many.
    let session = orrery_account::AccountClient::new(&url)
        .register(
            "crash@orrery.test",
            TEST_PASSWORD,
            "Crash",
            "crashing desktop",
        )
        .await
        .unwrap();
    let tenant: Uuid = session.account.tenant_id.parse().unwrap();
    let user: Uuid = session.account.id.parse().unwrap();
    {
        let admin = ServerStore::open_sqlite(&server_database).await.unwrap();
        assert!(admin.set_plan(tenant, user, "enterprise").await.unwrap());
    }

    // The desktop creates a graph and pushes it once, then quits.
    let graph = {
        let replica = Replica::new(LocalStore::open(&device_database).await.unwrap());
        let graph = replica
            .add_graph(sample_graph("Crash test", 6, 5))
            .await
            .unwrap();
        SyncClient::new(&url, &session.access_token)
            .sync_graph(&replica, graph.id)
            .await
            .unwrap();
        replica.store().close().await;
        graph
    };
    let first: BTreeSet<NodeId> = graph.nodes.keys().copied().collect();
    let mut scene = Scene {
        directory,
        server_database,
        device_database,
        address,
        token: session.access_token.clone(),
        tenant,
        graph: graph.id,
        on_device: first.clone(),
        on_server: first,
        outcomes: Vec::new(),
    };
    scene
        .assert_server_holds(&scene.on_server.clone(), "after the first push")
        .await;

    // The device, mid-write (twice, on a small and a larger graph).
    kill_device_mid_write(&mut scene, 12).await;
    kill_device_mid_write(&mut scene, 40).await;
    // The device, mid-push: as it starts pushing, and once the server stored
    // the push but before the device took in the answer.
    kill_device_on_pushing(&mut scene, 2).await;
    kill_device_after_server_stored(&mut scene, &mut server, 2).await;
    // The server, mid-merge: until a kill lands before the merge is stored.
    let mut mid_merge = false;
    for _ in 0..3 {
        let landed;
        (server, landed) = kill_server_mid_merge(&mut scene, server, 3000).await;
        if landed {
            mid_merge = true;
            break;
        }
    }
    for outcome in &scene.outcomes {
        println!("{outcome}");
    }
    assert!(mid_merge, "no server kill landed mid-merge in 3 tries");

    // After it all, a second desktop pulls the whole graph from the server.
    let fresh = scene.directory.path().join("fresh.db");
    let replica = Replica::new(LocalStore::open(&fresh).await.unwrap());
    SyncClient::new(&scene.url(), &scene.token)
        .sync_graph(&replica, scene.graph)
        .await
        .unwrap();
    let pulled: BTreeSet<NodeId> = replica
        .graph(scene.graph)
        .await
        .unwrap()
        .nodes
        .into_keys()
        .collect();
    assert_eq!(pulled, scene.on_device, "a fresh device gets every node");
    server.kill().await;
    println!(
        "{} nodes survived {} kills in {:?}",
        pulled.len(),
        scene.outcomes.len(),
        started.elapsed()
    );
}

/// The mail outbox through a crash: twelve accounts queue twelve welcome
/// mails with their registrations; the server is SIGKILLed as the third
/// reaches the SMTP sink (handed over, perhaps not yet marked sent). Started
/// again, it sends the rest, and a mail caught mid-send once more, with the
/// same Message-ID, when its lease ends: every mail arrives, and none
/// arrives as two different messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_survives_kill_without_loss_or_duplicate() {
    const ACCOUNTS: usize = 12;
    let sink = orrery_e2e::smtp::SmtpSink::start().await.unwrap();
    let smtp = sink.address().to_string();
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("server.db");
    let database_arg = database.to_str().expect("a UTF-8 path").to_owned();
    let start = || {
        Process::spawn(
            "the server",
            SERVER,
            &[
                "--database",
                &database_arg,
                "--listen",
                "127.0.0.1:0",
                "--smtp",
                &smtp,
                "--mail-lease-secs",
                "1",
            ],
        )
    };
    let mut server = start();
    let listening = server.until("LISTENING ", |_| {}).await;
    let url = format!("http://{}", &listening["LISTENING ".len()..]);
    let accounts = orrery_account::AccountClient::new(&url);
    let addresses: BTreeSet<String> = (0..ACCOUNTS)
        .map(|index| format!("mail{index}@orrery.test"))
        .collect();
    for address in &addresses {
        accounts
            .register(address, TEST_PASSWORD, "Reader", "laptop")
            .await
            .unwrap();
    }
    sink.wait_for(3, SILENCE).await;
    server.kill().await;

    let mut server = start();
    server.until("LISTENING ", |_| {}).await;
    let deadline = Instant::now() + SILENCE;
    let by_recipient = loop {
        let mut by_recipient: std::collections::BTreeMap<String, BTreeSet<String>> =
            Default::default();
        for mail in sink.received() {
            let id = mail
                .data
                .lines()
                .find_map(|line| line.strip_prefix("Message-ID: "))
                .expect("a Message-ID")
                .trim()
                .to_owned();
            for to in mail.to {
                by_recipient.entry(to).or_default().insert(id.clone());
            }
        }
        if by_recipient.len() == ACCOUNTS || Instant::now() > deadline {
            break by_recipient;
        }
        sink.wait_for(sink.received().len() + 1, Duration::from_secs(5))
            .await;
    };
    assert_eq!(
        by_recipient.keys().cloned().collect::<BTreeSet<_>>(),
        addresses,
        "every queued mail arrived"
    );
    for (to, ids) in &by_recipient {
        assert_eq!(ids.len(), 1, "{to} got one message, not {ids:?}");
    }
    let deliveries = sink.received().len();
    assert!(
        deliveries <= ACCOUNTS + 1,
        "at most the mail caught mid-send arrived twice, as the same message: {deliveries}"
    );
    // And the outbox knows: once the server marked the last one (it says a
    // line per statement, so each turn waits for it to do something).
    let store = ServerStore::open_sqlite(&database).await.unwrap();
    loop {
        let outbox = store.mail_outbox().await.unwrap();
        assert_eq!(outbox.len(), ACCOUNTS);
        if outbox.iter().all(|mail| mail.sent_at.is_some()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox still holds unsent mail: {outbox:?}"
        );
        server.next().await;
    }
    server.kill().await;
}
