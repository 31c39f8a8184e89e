//! orrery-bench: Orrery's benchmarks. One binary, one subcommand per figure,
//! each printing one JSON line on stdout.
//!
//! - `sync-merge`: replays one edit trace (node moves plus node adds/removes
//!   spread over several replicas) through Loro and through Automerge, merges
//!   the replicas, and prints both libraries' timings. This is how the CRDT
//!   library was chosen (ARCHITECTURE.md).
//! - `canvas`: the canvas binary drawing an N-node, M-edge sample graph under
//!   Xvfb + lavapipe: load time, frame time p50/p95, picking time, memory;
//!   with `--drag`, the frames of dragging a node.
//! - `layout`: milliseconds per Barnes–Hut layout iteration at N nodes.
//! - `sync`: the sync path against a real server on loopback: initial sync
//!   of a 10k-node graph, merge of 100k node moves, server throughput with 50
//!   pushing clients (SQLite, and PostgreSQL with `--postgres`) beside the raw
//!   SQLite upsert rate for the same rows.
//! - `sandbox`: the sandbox orchestrator's own cost per step and a
//!   200-agent run against the provider double, with memory after each run.
//! - `peer`: the same graph drawn by the canvas and by 3d-force-graph in
//!   headless Chromium, both frame rates and their ratio.
//! - `load`: the release sync server in its own process under 200 devices'
//!   mixed traffic plus hashing floods, 8 MiB bodies and slow clients: 5xx
//!   answers to legitimate requests, their p99 latency, resident memory.
//! - `admin`: the management window against a server holding 100k users,
//!   100k subscriptions and 1M events: user search p95, the overview's
//!   figures and 365-day series, a full rollup rebuild (SQLite, and
//!   PostgreSQL with `--postgres`).
//! - `api`: the public API and the Telegram channel against the provider
//!   double: request to first streamed token, 500 concurrent runs over 5
//!   rounds with resident memory after each, webhook to reply.
//! - `collab`: people of one team editing one graph: an edit on one device
//!   to every other device having it, at 2, 10 and 50 people; presence at
//!   50 people (what each receives per second, the server's CPU).
//! - `marketplace`: 100k listings and 1M purchases: search with filters p95
//!   over HTTP, and a free listing got on one device until it is in another
//!   device's library (SQLite, and PostgreSQL with `--postgres`).

/// mimalloc instead of the system allocator: merging and reading a received
/// 10k-node graph spent a third of its time in glibc malloc/free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod api;
mod canvas;
mod collab;
mod layout;
mod load;
mod marketplace;
mod peer;
mod sandbox;
mod startup;
mod sync;
mod sync_merge;

use anyhow::{Context, bail};

const USAGE: &str = "usage: orrery-bench sync-merge [--moves N] [--churn N] [--replicas N] [--base-nodes N] [--runs N]
       orrery-bench sync [--nodes N] [--edges N] [--moves N] [--clients N] [--pushes N] [--ops-per-push N] [--runs N] [--postgres]
       orrery-bench canvas [--nodes N] [--edges N] [--frames N] [--in-memory] [--drag]
       orrery-bench layout [--nodes N] [--iterations N]
       orrery-bench peer [--nodes N] [--edges N] [--frames N] [--peer-frames N]
       orrery-bench sandbox [--agents N] [--runs N] [--parallel N]
       orrery-bench load [--clients N] [--seconds N] [--nodes N] [--settle-seconds N] [--no-attack]
       orrery-bench admin [--users N] [--events N] [--searches N] [--overviews N] [--postgres]
       orrery-bench api [--runs N] [--concurrent N] [--rounds N] [--messages N]
       orrery-bench marketplace [--listings N] [--purchases N] [--searches N] [--gets N] [--postgres]
       orrery-bench startup [--runs N] [--idle-seconds N]
       orrery-bench collab [--edits N] [--presence-rate N] [--presence-seconds N]";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else {
        bail!("{USAGE}");
    };
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "sync-merge" => {
            let mut options = sync_merge::Options::default();
            parse_flags(&rest, &[], |flag, number| {
                match flag {
                    "--moves" => options.moves = number,
                    "--churn" => options.churn = number,
                    "--replicas" => options.replicas = number.max(2),
                    "--base-nodes" => options.base_nodes = number.max(1),
                    "--runs" => options.runs = number.max(1),
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", sync_merge::run(&options)?);
            Ok(())
        }
        "sandbox" => {
            let mut options = sandbox::Options::default();
            parse_flags(&rest, &[], |flag, number| {
                match flag {
                    "--agents" => {
                        options.agents = number.clamp(1, orrery_runtime::sandbox::MAX_STEPS)
                    }
                    "--runs" => options.runs = number.max(1),
                    "--parallel" => options.parallel = number.max(1),
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", sandbox::run(&options)?);
            Ok(())
        }
        "sync" => {
            let mut options = sync::Options::default();
            parse_flags(&rest, &["--postgres"], |flag, number| {
                match flag {
                    "--postgres" => options.postgres = true,
                    "--nodes" => options.nodes = number.max(2),
                    "--edges" => options.edges = number,
                    "--moves" => options.moves = number.max(1),
                    "--clients" => options.clients = number.max(1),
                    "--pushes" => options.pushes = number.max(1),
                    "--ops-per-push" => options.ops_per_push = number.max(1),
                    "--runs" => options.runs = number.max(1),
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", sync::run(&options)?);
            Ok(())
        }
        "canvas" => {
            let mut options = canvas::Options::default();
            parse_flags(&rest, &["--in-memory", "--drag"], |flag, number| {
                match flag {
                    "--in-memory" => options.in_memory = true,
                    "--drag" => options.drag = true,
                    "--nodes" => options.nodes = number.max(1),
                    "--edges" => options.edges = number,
                    "--frames" => options.frames = u32::try_from(number.max(1))?,
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", canvas::run(&options)?);
            Ok(())
        }
        "layout" => {
            let mut options = layout::Options::default();
            parse_flags(&rest, &[], |flag, number| {
                match flag {
                    "--nodes" => options.nodes = number.max(1),
                    "--iterations" => options.iterations = number.max(1),
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", layout::run(&options));
            Ok(())
        }
        "peer" => {
            let mut options = peer::Options::default();
            parse_flags(&rest, &[], |flag, number| {
                match flag {
                    "--nodes" => options.nodes = number.max(1),
                    "--edges" => options.edges = number,
                    "--frames" => options.frames = u32::try_from(number.max(1))?,
                    "--peer-frames" => options.peer_frames = u32::try_from(number.max(1))?,
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", peer::run(&options)?);
            Ok(())
        }
        "load" => {
            let mut options = load::Options::default();
            parse_flags(&rest, &["--no-attack"], |flag, number| {
                match flag {
                    "--no-attack" => options.no_attack = true,
                    "--clients" => options.clients = number.clamp(1, 1000),
                    "--seconds" => options.seconds = number.max(1) as u64,
                    "--nodes" => options.nodes = number.max(2),
                    "--settle-seconds" => options.settle_seconds = number as u64,
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", load::run(&options)?);
            Ok(())
        }
        "api" => {
            let mut options = api::Options::default();
            parse_flags(&rest, &[], |flag, number| {
                match flag {
                    "--runs" => options.runs = number.max(1),
                    "--concurrent" => options.concurrent = number.clamp(1, 2_000),
                    "--rounds" => options.rounds = number.max(1),
                    "--messages" => options.messages = number.max(1),
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", api::run(&options)?);
            Ok(())
        }
        "collab" => {
            let mut options = collab::Options::default();
            parse_flags(&rest, &[], |flag, number| {
                match flag {
                    "--edits" => options.edits = number.clamp(1, 10_000),
                    "--presence-rate" => options.presence_rate = number.clamp(1, 1_000) as u32,
                    "--presence-seconds" => options.presence_seconds = number.clamp(1, 600) as u64,
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", collab::run(&options)?);
            Ok(())
        }
        "startup" => {
            let mut options = startup::Options::default();
            parse_flags(&rest, &[], |flag, number| {
                match flag {
                    "--runs" => options.runs = number.clamp(1, 100),
                    "--idle-seconds" => options.idle_seconds = number as u64,
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", startup::run(&options)?);
            Ok(())
        }
        "marketplace" => {
            let mut options = marketplace::Options::default();
            parse_flags(&rest, &["--postgres"], |flag, number| {
                match flag {
                    "--postgres" => options.postgres = true,
                    "--listings" => options.listings = number.max(1),
                    "--purchases" => options.purchases = number,
                    "--searches" => options.searches = number.max(1),
                    "--gets" => options.gets = number.max(1),
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", marketplace::run(&options)?);
            Ok(())
        }
        "admin" => {
            let mut options = admin::Options::default();
            parse_flags(&rest, &["--postgres"], |flag, number| {
                match flag {
                    "--postgres" => options.postgres = true,
                    "--users" => options.users = number.max(1),
                    "--events" => options.events = number.max(1),
                    "--searches" => options.searches = number.max(1),
                    "--overviews" => options.overviews = number.max(1),
                    other => bail!("unknown flag `{other}`\n{USAGE}"),
                }
                Ok(())
            })?;
            println!("{}", admin::run(&options)?);
            Ok(())
        }
        "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown benchmark `{other}`\n{USAGE}"),
    }
}

/// Walks the flags: each `--flag N` calls `apply` with its number, and each
/// of the bare `switches` calls it with 0.
fn parse_flags(
    rest: &[String],
    switches: &[&str],
    mut apply: impl FnMut(&str, usize) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut flags = rest.iter();
    while let Some(flag) = flags.next() {
        if switches.contains(&flag.as_str()) {
            apply(flag, 0)?;
            continue;
        }
        let number = flags
            .next()
            .with_context(|| format!("{flag} needs a number"))?
            .parse()
            .with_context(|| format!("{flag} needs a number"))?;
        apply(flag, number)?;
    }
    Ok(())
}
