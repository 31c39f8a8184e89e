//! What the fuzz targets and the corpus generator share: a base graph
//! document whose history is the same in every process, and the panic policy.
//!
//! Panics: the code under test catches panics inside the CRDT library and
//! turns them into errors (`GraphDocument`'s guard); what must never happen is
//! a panic escaping it, which would take a server request down. So by default
//! a caught panic is fine and an escaping one aborts with its message (and
//! backtrace, with `RUST_BACKTRACE=1`). Set `ORRERY_FUZZ_ABORT_ON_ANY_PANIC=1` to abort on every panic,
//! caught or not (libFuzzer's usual policy), to hunt bugs in Loro itself; the
//! seed `corpus/sync_merge/regression_loro_panic_poisons_doc.bin` panics
//! inside Loro (a `debug_assert!`), so that mode stops on it at once.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use loro::{LoroDoc, LoroMap};
use orrery_domain::{Graph, sample_graph};
use orrery_sync::GraphDocument;

/// The Loro peer that wrote the base document.
pub const BASE_PEER: u64 = 1;
/// The peer the generator's "other device" edits come from.
pub const EDITOR_PEER: u64 = 2;

/// The graph every merge starts from: four nodes, their edges.
pub fn base_graph() -> Graph {
    sample_graph("Fuzz base", 4, 7)
}

/// `graph` as a raw Loro document in `GraphDocument`'s layout, written by
/// `peer` in one commit, so its history (and every update built on it) is the
/// same in every process. `GraphDocument::create` would pick a random peer.
pub fn loro_document(graph: &Graph, peer: u64) -> LoroDoc {
    let doc = LoroDoc::new();
    doc.set_peer_id(peer).expect("a fixed peer id is accepted");
    doc.get_map("meta")
        .insert("name", graph.name.as_str())
        .expect("insert name");
    let nodes = doc.get_map("nodes");
    for node in graph.nodes.values() {
        let map = nodes
            .insert_container(&node.id.to_string(), LoroMap::new())
            .expect("insert node");
        map.insert("kind", node.kind.as_str()).expect("insert kind");
        map.insert("label", node.label.as_str())
            .expect("insert label");
        map.insert("x", f64::from(node.position.x))
            .expect("insert x");
        map.insert("y", f64::from(node.position.y))
            .expect("insert y");
        map.insert("z", f64::from(node.position.z))
            .expect("insert z");
    }
    let edges = doc.get_map("edges");
    for edge in graph.edges.values() {
        let map = edges
            .insert_container(&edge.id.to_string(), LoroMap::new())
            .expect("insert edge");
        map.insert("from", edge.from.to_string())
            .expect("insert from");
        map.insert("from_port", edge.from_port.as_str())
            .expect("insert from_port");
        map.insert("to", edge.to.to_string()).expect("insert to");
        map.insert("to_port", edge.to_port.as_str())
            .expect("insert to_port");
    }
    doc.commit();
    doc
}

/// The base graph and its document's snapshot, built once per process.
pub fn base() -> &'static (Graph, Vec<u8>) {
    static BASE: OnceLock<(Graph, Vec<u8>)> = OnceLock::new();
    BASE.get_or_init(|| {
        let graph = base_graph();
        let snapshot = loro_document(&graph, BASE_PEER)
            .export(loro::ExportMode::Snapshot)
            .expect("export the base snapshot");
        let document = GraphDocument::from_snapshot(graph.id, &snapshot)
            .expect("the base snapshot loads as a graph document");
        assert_eq!(
            document.to_graph().expect("the base document is a graph"),
            graph,
            "the fuzz base document no longer matches GraphDocument's layout"
        );
        (graph, snapshot)
    })
}

/// `updates` with Loro's header checksum recomputed, when they are a Loro
/// blob and the checksum is wrong; `None` otherwise. Header: magic `loro`, 16
/// checksum bytes, mode (2 bytes, big endian), body. The checksum covers the
/// mode and body: MD5 in all 16 bytes for the outdated modes 1 and 2; xxHash32
/// seeded with `LORO` in bytes 12..16 for fast snapshots (3) and updates (4).
pub fn fix_checksum(updates: &[u8]) -> Option<Vec<u8>> {
    if updates.len() < 22 || &updates[..4] != b"loro" {
        return None;
    }
    let covered = &updates[20..];
    let mut fixed = updates.to_vec();
    match updates[20..22] {
        [0, 1 | 2] => fixed[4..20].copy_from_slice(&md5::compute(covered).0),
        [0, 3 | 4] => {
            let checksum = xxhash_rust::xxh32::xxh32(covered, u32::from_le_bytes(*b"LORO"));
            fixed[16..20].copy_from_slice(&checksum.to_le_bytes());
        }
        _ => return None,
    }
    (fixed != updates).then_some(fixed)
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Called from each target's `init`: applies the panic policy (see the module
/// documentation) and builds the base document.
pub fn init() {
    if std::env::var_os("ORRERY_FUZZ_ABORT_ON_ANY_PANIC").is_none() {
        // Replaces libfuzzer-sys's aborting hook: a panic the code under test
        // catches is fine; one that escapes is reported by `check`.
        std::panic::set_hook(Box::new(|info| {
            let text = format!("{info}\n{}", std::backtrace::Backtrace::capture());
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(text));
        }));
    }
    base();
}

/// Runs one input; a panic that escapes `run` aborts with its message.
pub fn check<T>(run: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(value) => value,
        Err(_) => {
            let message = LAST_PANIC
                .with(|last| last.borrow_mut().take())
                .unwrap_or_else(|| "(message not recorded)".into());
            eprintln!("panic escaped the code under test: {message}");
            std::process::abort();
        }
    }
}
