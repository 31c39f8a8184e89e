//! Writes the seed corpora in `corpus/sync_frame/` and `corpus/sync_merge/`:
//! valid frames and near-valid ones, every update built on the fuzz base
//! document (see `orrery_fuzz::base`). Deterministic: running it again writes
//! the same bytes. From `fuzz/`: `cargo run --example gen_corpus`. Seeds named
//! `regression_*` are inputs fuzzing found; they are kept by hand, not written here.

use std::path::Path;

use loro::{Container, ExportMode, LoroDoc, LoroMap, ValueOrContainer, VersionVector};
use orrery_domain::sample_graph;
use orrery_fuzz::{EDITOR_PEER, base, loro_document};
use orrery_sync::protocol::{SyncRequest, SyncResponse};

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let (graph, snapshot) = base();
    let node_ids: Vec<String> = graph.nodes.keys().map(ToString::to_string).collect();
    let base_doc = LoroDoc::new();
    base_doc.import(snapshot).expect("import the base");
    let base_version = base_doc.oplog_vv();

    // Each edit comes from a replica of the base on another peer, exported as
    // the updates the base lacks, framed with the replica's version.
    let edit = |peer: u64, change: &dyn Fn(&LoroDoc)| -> Vec<u8> {
        let replica = LoroDoc::new();
        replica.set_peer_id(peer).expect("peer id");
        replica.import(snapshot).expect("import the base");
        change(&replica);
        replica.commit();
        SyncRequest {
            client_version: replica.oplog_vv().encode(),
            updates: replica
                .export(ExportMode::updates(&base_version))
                .expect("export updates"),
        }
        .encode()
    };
    let node = |doc: &LoroDoc, index: usize| -> LoroMap {
        match doc.get_map("nodes").get(&node_ids[index]) {
            Some(ValueOrContainer::Container(Container::Map(map))) => map,
            _ => panic!("base node {index} is missing"),
        }
    };

    let pull = SyncRequest::default().encode();
    let pull_at_base = SyncRequest {
        client_version: base_version.encode(),
        updates: Vec::new(),
    }
    .encode();
    let move_node = edit(EDITOR_PEER, &|doc| {
        let map = node(doc, 0);
        for (axis, value) in [("x", 4.0), ("y", -5.5), ("z", 6.25)] {
            map.insert(axis, value).expect("move");
        }
    });
    let rename = edit(EDITOR_PEER, &|doc| {
        doc.get_map("meta")
            .insert("name", "Renamed by fuzz")
            .expect("rename");
    });
    let add_node = edit(EDITOR_PEER, &|doc| {
        let map = doc
            .get_map("nodes")
            .insert_container("00000000-0000-4000-8000-00000000f022", LoroMap::new())
            .expect("add node");
        map.insert("kind", "output").expect("kind");
        map.insert("label", "Added").expect("label");
        for axis in ["x", "y", "z"] {
            map.insert(axis, 1.0).expect("position");
        }
    });
    let remove_node = edit(EDITOR_PEER, &|doc| {
        let removed = &node_ids[1];
        let edges = doc.get_map("edges");
        for edge in graph
            .edges
            .values()
            .filter(|edge| edge.from.to_string() == *removed || edge.to.to_string() == *removed)
        {
            edges.delete(&edge.id.to_string()).expect("delete edge");
        }
        doc.get_map("nodes").delete(removed).expect("delete node");
    });
    let x_as_text = edit(EDITOR_PEER, &|doc| {
        node(doc, 0).insert("x", "far away").expect("hostile x");
    });
    let bad_node_key = edit(EDITOR_PEER, &|doc| {
        doc.get_map("nodes")
            .insert_container("not-a-uuid", LoroMap::new())
            .expect("bad key");
    });
    // Two commits on one replica; only the second is sent, so the base lacks
    // what it depends on.
    let unknown_history = {
        let replica = LoroDoc::new();
        replica.set_peer_id(EDITOR_PEER).expect("peer id");
        replica.import(snapshot).expect("import the base");
        node(&replica, 2).insert("label", "first").expect("label");
        replica.commit();
        let after_first = replica.oplog_vv();
        node(&replica, 2).insert("label", "second").expect("label");
        replica.commit();
        SyncRequest {
            client_version: replica.oplog_vv().encode(),
            updates: replica
                .export(ExportMode::updates(&after_first))
                .expect("export"),
        }
        .encode()
    };
    // A whole other graph from another peer: nothing shared with the base.
    let foreign = loro_document(&sample_graph("Foreign", 3, 99), 3);
    let foreign_graph = SyncRequest {
        client_version: foreign.oplog_vv().encode(),
        updates: foreign
            .export(ExportMode::updates(&VersionVector::default()))
            .expect("export"),
    }
    .encode();
    let mut unknown_peer = base_version.clone();
    unknown_peer.insert(0xDEAD_BEEF, 12);
    let version_ahead = SyncRequest {
        client_version: unknown_peer.encode(),
        updates: Vec::new(),
    }
    .encode();
    let response = SyncResponse {
        server_version: base_version.encode(),
        updates: base_doc
            .export(ExportMode::updates(&VersionVector::default()))
            .expect("export"),
    }
    .encode();

    write(
        &corpus.join("sync_merge"),
        &[
            ("pull", &pull),
            ("pull_at_base", &pull_at_base),
            ("move_node", &move_node),
            ("rename", &rename),
            ("add_node", &add_node),
            ("remove_node", &remove_node),
            ("x_as_text", &x_as_text),
            ("bad_node_key", &bad_node_key),
            ("unknown_history", &unknown_history),
            ("foreign_graph", &foreign_graph),
            ("version_ahead", &version_ahead),
        ],
    );

    let with = |frame: &[u8], change: &dyn Fn(&mut Vec<u8>)| -> Vec<u8> {
        let mut frame = frame.to_vec();
        change(&mut frame);
        frame
    };
    let header = &pull[..6];
    write(
        &corpus.join("sync_frame"),
        &[
            ("pull", &pull),
            ("move_node", &move_node),
            ("response", &response),
            ("too_short", b"ORS"),
            ("bad_magic", b"GET / HTTP/1.1\r\n\r\n"),
            ("format_0", &with(&pull, &|f| f[4] = 0)),
            ("format_2", &with(&pull, &|f| f[4] = 2)),
            ("format_255", &with(&pull, &|f| f[4] = 255)),
            ("kind_0", &with(&pull, &|f| f[5] = 0)),
            ("kind_3", &with(&pull, &|f| f[5] = 3)),
            ("truncated", &move_node[..move_node.len() - 3]),
            ("trailing_byte", &with(&pull, &|f| f.push(0))),
            (
                "version_length_4gib",
                &with(header, &|f| f.extend_from_slice(&u32::MAX.to_le_bytes())),
            ),
            (
                "updates_length_4gib",
                &with(header, &|f| {
                    f.extend_from_slice(&0u32.to_le_bytes());
                    f.extend_from_slice(&u32::MAX.to_le_bytes());
                }),
            ),
            (
                "garbage_version",
                &SyncRequest {
                    client_version: vec![0xFF; 9],
                    updates: Vec::new(),
                }
                .encode(),
            ),
        ],
    );
}

fn write(directory: &Path, files: &[(&str, &[u8])]) {
    std::fs::create_dir_all(directory).expect("create the corpus directory");
    for (name, bytes) in files {
        std::fs::write(directory.join(format!("{name}.bin")), bytes).expect("write a seed");
    }
    let total: usize = files.iter().map(|(_, bytes)| bytes.len()).sum();
    println!(
        "{}: {} seeds, {total} bytes",
        directory.display(),
        files.len()
    );
}
