//! A request frame through what the server does with it: decode the frame and
//! its version, merge its updates into the stored document (the fuzz base
//! graph) and into an empty one (a first push), read the graph back, store a
//! snapshot, answer with the updates the client lacks. Nothing may panic; a
//! refused merge changes nothing; an accepted one leaves a valid graph.
//!
//! Loro checks a checksum over each update before it parses it, so nearly
//! every mutation of an update stops there. A client can compute checksums,
//! so each update is also merged with its checksum made right
//! (`orrery_fuzz::fix_checksum`), which takes the mutations into Loro's decoder.

#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};
use orrery_domain::Graph;
use orrery_sync::protocol::SyncRequest;
use orrery_sync::{GraphDocument, Version};

fuzz_target!(init: orrery_fuzz::init(), |data: &[u8]| -> Corpus {
    orrery_fuzz::check(|| run(data))
});

fn run(data: &[u8]) -> Corpus {
    // Bytes that are not a request frame never reach the merge: keep them out
    // of the corpus so it grows with frames.
    let Ok(request) = SyncRequest::decode(data) else {
        return Corpus::Reject;
    };
    let client_version = Version::decode(&request.client_version).ok();
    let (graph, snapshot) = orrery_fuzz::base();
    merge(graph, snapshot, client_version.as_ref(), &request.updates);
    if let Some(fixed) = orrery_fuzz::fix_checksum(&request.updates) {
        merge(graph, snapshot, client_version.as_ref(), &fixed);
    }
    Corpus::Keep
}

fn merge(graph: &Graph, snapshot: &[u8], client_version: Option<&Version>, updates: &[u8]) {
    let mut stored =
        GraphDocument::from_snapshot(graph.id, snapshot).expect("the base snapshot loads");
    let before = stored.version();
    match stored.merge(updates) {
        Ok(()) => {
            let merged = stored
                .to_graph()
                .expect("a merge that was accepted leaves a valid graph");
            if stored.version() != before {
                let reloaded = GraphDocument::from_snapshot(graph.id, &stored.snapshot())
                    .expect("the merged snapshot loads");
                assert_eq!(
                    reloaded
                        .to_graph()
                        .expect("the reloaded snapshot is a graph"),
                    merged,
                    "the stored snapshot reads back as a different graph"
                );
            }
        }
        Err(_) => {
            assert_eq!(
                stored.version(),
                before,
                "a refused merge changed the version"
            );
            assert_eq!(
                &stored
                    .to_graph()
                    .expect("a refused merge left a valid graph"),
                graph,
                "a refused merge changed the graph"
            );
        }
    }
    if let Some(client_version) = client_version {
        let _ = stored.updates_since(client_version);
        let _ = stored.version().operations_missing_from(client_version);
    }

    // A first push: the server merges into an empty document.
    let mut fresh = GraphDocument::empty(graph.id);
    if fresh.merge(updates).is_ok() && !updates.is_empty() {
        fresh
            .to_graph()
            .expect("a first push that was accepted is a valid graph");
        let _ = fresh.snapshot();
        if let Some(client_version) = client_version {
            let _ = fresh.updates_since(client_version);
        }
    }
}
