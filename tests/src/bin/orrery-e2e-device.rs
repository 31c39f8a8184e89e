//! `orrery-e2e-device`: a desktop installation without a window — the shell's
//! real local store, replica and sync client in a process of its own, for
//! tests that SIGKILL it.
//!
//! `orrery-e2e-device DB URL TOKEN GRAPH edit [--batch B] [--push-every K] [--pushes N]`
//! adds nodes to graph GRAPH forever (or until it tried N pushes), B nodes per
//! local write (one undo step, like a paste). Before a write it prints
//! `WRITING <id>` for each node of it, and `WROTE <id>` only once the write
//! returned, that is once the local store committed it: what the user saw
//! saved. After every K writes it prints `PUSHING`, syncs the graph, and prints
//! `PUSHED <nodes written so far>` once the server acknowledged the sync (so
//! every node written before `PUSHING` is on the server), or
//! `SYNC-FAILED <reason>` and goes on writing (the server may be down). After
//! the N-th push it prints `DONE` and exits.
//!
//! `orrery-e2e-device DB URL TOKEN GRAPH verify` opens the store as a restarted
//! app would, prints `ROWS-MATCH` or `ROWS-DIFFER` (whether the rows
//! materialised in the store agree with the document), `NODE <id>` for every
//! node of the graph and `LOCAL <count>`, then syncs (retrying a few times,
//! `SYNC-FAILED <reason>` each) and prints `PENDING <changes>` and
//! `SYNCED <attempts>`.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use orrery_domain::{GraphEdit, GraphId, Node, NodeKind, Position};
use orrery_store::LocalStore;
use orrery_sync::{Replica, SyncClient};

/// Writes `text` to stdout in one piece and flushes it, so a reader sees
/// whole lines as soon as they are true.
fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .expect("stdout is open");
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Device {
    replica: Replica,
    client: SyncClient,
    graph: GraphId,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [database, url, token, graph, mode, options @ ..] = args.as_slice() else {
        bail!("usage: orrery-e2e-device DB URL TOKEN GRAPH (edit [options] | verify)");
    };
    let store = LocalStore::open(&PathBuf::from(database))
        .await
        .context("opening the local store")?;
    let device = Device {
        replica: Replica::new(store),
        client: SyncClient::new(url, token),
        graph: graph.parse().context("the graph id")?,
    };
    match mode.as_str() {
        "edit" => edit(&device, options).await,
        "verify" => verify(&device).await,
        other => bail!("unknown mode `{other}`"),
    }
}

async fn edit(device: &Device, options: &[String]) -> anyhow::Result<()> {
    let mut batch = 1_usize;
    let mut push_every = 10_u64;
    let mut max_pushes = None;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        let value: u64 = options
            .next()
            .with_context(|| format!("{option} needs a number"))?
            .parse()?;
        match option.as_str() {
            "--batch" => batch = usize::try_from(value)?.max(1),
            "--push-every" => push_every = value.max(1),
            "--pushes" => max_pushes = Some(value),
            other => bail!("unknown option `{other}`"),
        }
    }
    let mut written = 0_u64;
    let mut writes = 0_u64;
    let mut pushes = 0_u64;
    loop {
        let nodes: Vec<Node> = (0..batch)
            .map(|index| {
                let n = written + index as u64;
                Node::new(
                    NodeKind::Tool,
                    format!("killed-{n}"),
                    Position::new(n as f32, (n % 17) as f32, 0.0),
                )
            })
            .collect();
        let lines = |word: &str| {
            nodes
                .iter()
                .map(|node| format!("{word} {}\n", node.id))
                .collect::<String>()
        };
        say(&lines("WRITING"));
        if let [node] = nodes.as_slice() {
            device.replica.add_node(device.graph, node).await?;
        } else {
            let edit = GraphEdit::Batch(nodes.iter().cloned().map(GraphEdit::AddNode).collect());
            device.replica.apply_edit(device.graph, &edit).await?;
        }
        // The write returned: the store committed it.
        say(&lines("WROTE"));
        written += nodes.len() as u64;
        writes += 1;
        if writes.is_multiple_of(push_every) {
            say("PUSHING\n");
            match device
                .client
                .sync_graph(&device.replica, device.graph)
                .await
            {
                Ok(()) => say(&format!("PUSHED {written}\n")),
                Err(error) => say(&format!("SYNC-FAILED {}\n", one_line(&error.to_string()))),
            }
            pushes += 1;
            if max_pushes == Some(pushes) {
                say("DONE\n");
                return Ok(());
            }
        }
    }
}

async fn verify(device: &Device) -> anyhow::Result<()> {
    let graph = device.replica.graph(device.graph).await?;
    let rows = device.replica.store().load_graph(device.graph).await?;
    say(if rows.as_ref() == Some(&graph) {
        "ROWS-MATCH\n"
    } else {
        "ROWS-DIFFER\n"
    });
    let nodes: String = graph
        .nodes
        .keys()
        .map(|id| format!("NODE {id}\n"))
        .collect();
    say(&nodes);
    say(&format!("LOCAL {}\n", graph.nodes.len()));
    const ATTEMPTS: u32 = 20;
    for attempt in 1..=ATTEMPTS {
        match device
            .client
            .sync_graph(&device.replica, device.graph)
            .await
        {
            Ok(()) => {
                let pending = device
                    .replica
                    .list_graphs()
                    .await?
                    .into_iter()
                    .find(|summary| summary.id == device.graph)
                    .map_or(-1, |summary| summary.pending_changes);
                say(&format!("PENDING {pending}\nSYNCED {attempt}\n"));
                return Ok(());
            }
            Err(error) => {
                say(&format!("SYNC-FAILED {}\n", one_line(&error.to_string())));
                // A retry's back-off, not a synchronisation: the test starts
                // this mode only once the server said it listens.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    bail!("no sync succeeded in {ATTEMPTS} attempts")
}
