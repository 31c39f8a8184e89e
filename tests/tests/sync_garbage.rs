//! Hostile bytes at the sync endpoint: the fuzz seed corpus plus frames made
//! here (bit flips, truncations, lying lengths, huge and nested versions,
//! random and foreign updates, wrong kinds, formats, sizes and content types).
//! Each is refused with a 4xx and a JSON reason, never a 5xx or a dropped
//! connection, and afterwards the server holds exactly what it held before.

use std::path::Path;
use std::time::Instant;

use loro::{Container, ExportMode, LoroDoc, LoroMap, ValueOrContainer, VersionVector};
use orrery_domain::{GraphId, sample_graph};
use orrery_e2e::{TestDevice, TestServer};
use orrery_sync::protocol::{CONTENT_TYPE, MAX_FRAME_BYTES, SyncRequest, SyncResponse};
use orrery_sync::{GraphDocument, Version};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// What the server must do with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 4xx with a JSON `message`; the case is checked to be refused by the
    /// decoder and merge before it is sent.
    Refused,
    /// Decided by the same decoder and merge the server uses (for mutations,
    /// which may happen to stay valid): refused ones must get a 4xx, ones
    /// that change nothing a 200; ones that would change the graph are not sent.
    AsDecoded,
    /// Not a sync body the server can take at all (a wrong graph or a body
    /// over the limit): must get the given 4xx with a JSON `message`.
    Status(u16),
    /// A harmless request in a hostile wrapper (a pull with a wrong content
    /// type): must get a 200 and change nothing.
    Answered,
}

struct Case {
    name: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    graph: Option<GraphId>,
    expect: Expect,
}

fn case(name: impl Into<String>, body: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        body,
        content_type: Some(CONTENT_TYPE),
        graph: None,
        expect,
    }
}

fn frame(client_version: Vec<u8>, updates: Vec<u8>) -> Vec<u8> {
    SyncRequest {
        client_version,
        updates,
    }
    .encode()
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Refused,
    Harmless,
    WouldChange,
}

/// What the server's decoder and merge make of `body` against the stored snapshot.
fn verdict(body: &[u8], graph: GraphId, snapshot: &[u8]) -> Verdict {
    let Ok(request) = SyncRequest::decode(body) else {
        return Verdict::Refused;
    };
    if Version::decode(&request.client_version).is_err() {
        return Verdict::Refused;
    }
    let mut document = GraphDocument::from_snapshot(graph, snapshot).unwrap();
    let before = document.version();
    match document.merge(&request.updates) {
        Err(_) => Verdict::Refused,
        Ok(()) if document.version() == before => Verdict::Harmless,
        Ok(()) => Verdict::WouldChange,
    }
}

#[tokio::test]
async fn sync_decoder_rejects_garbage() {
    let started = Instant::now();
    let server = TestServer::start().await.unwrap();
    let device = TestDevice::register(&server, "author").await.unwrap();
    let graph = device
        .replica
        .add_graph(sample_graph("Under attack", 6, 42))
        .await
        .unwrap();
    device.client.sync_all(&device.replica).await.unwrap();
    let token = device.token().to_owned();
    let tenant: uuid::Uuid = device.session.account.tenant_id.parse().unwrap();
    let http = reqwest::Client::new();
    let store = server.store().await.unwrap();
    let stored_before = store
        .load_graph_revision(tenant, graph.id)
        .await
        .unwrap()
        .expect("the graph was pushed");
    let snapshot_before = stored_before.snapshot.clone();
    let listing_before = listing(&http, &server, &token).await;

    // The server's document as a device sees it, and updates built on it.
    let pull = SyncRequest::default().encode();
    let pulled = http
        .post(format!("{}/v1/graphs/{}/sync", server.url(), graph.id))
        .bearer_auth(&token)
        .header("content-type", CONTENT_TYPE)
        .body(pull.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200);
    let pulled = pulled.bytes().await.unwrap();
    let answer = SyncResponse::decode(&pulled).unwrap();
    let server_doc = LoroDoc::new();
    server_doc.import(&answer.updates).unwrap();
    let server_version = server_doc.oplog_vv();
    let node_ids: Vec<String> = graph.nodes.keys().map(ToString::to_string).collect();
    let replica = |peer: u64| {
        let doc = LoroDoc::new();
        doc.set_peer_id(peer).unwrap();
        doc.import(&answer.updates).unwrap();
        doc
    };
    let node = |doc: &LoroDoc, index: usize| match doc.get_map("nodes").get(&node_ids[index]) {
        Some(ValueOrContainer::Container(Container::Map(map))) => map,
        _ => panic!("node {index} missing"),
    };

    // A valid push: another device moved a node.
    let mover = replica(0xF00D);
    for (axis, value) in [("x", 3.5), ("y", -1.0), ("z", 2.0)] {
        node(&mover, 0).insert(axis, value).unwrap();
    }
    mover.commit();
    let move_update = mover.export(ExportMode::updates(&server_version)).unwrap();
    let move_frame = frame(mover.oplog_vv().encode(), move_update.clone());
    assert_eq!(
        verdict(&move_frame, graph.id, &snapshot_before),
        Verdict::WouldChange,
        "the unmutated frame is a valid push"
    );

    let mut cases = Vec::new();

    // 1. The fuzz seeds that are not valid requests.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/sync_frame");
    let mut seeds_used = 0;
    for path in corpus_files(&corpus) {
        let body = std::fs::read(&path).unwrap();
        if SyncRequest::decode(&body).is_err() {
            seeds_used += 1;
            let name = path.file_name().unwrap().to_string_lossy();
            cases.push(case(format!("seed {name}"), body, Expect::Refused));
        }
    }
    assert!(
        seeds_used >= 5,
        "only {seeds_used} seeds in {}",
        corpus.display()
    );

    // The merge seeds are real updates built on the fuzz base document, not on
    // this server's: each is whatever the decoder and merge make of it here.
    let merge_corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/sync_merge");
    for path in corpus_files(&merge_corpus) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(&path).unwrap();
        cases.push(case(format!("merge seed {name}"), body, Expect::AsDecoded));
    }

    // 2. Every single-bit flip of the valid push.
    for bit in 0..move_frame.len() * 8 {
        let mut body = move_frame.clone();
        body[bit / 8] ^= 1 << (bit % 8);
        cases.push(case(format!("bit flip {bit}"), body, Expect::AsDecoded));
    }

    // 3. Every truncation of the frame, and of the update inside a well-formed frame.
    for cut in 0..move_frame.len() {
        let body = move_frame[..cut].to_vec();
        cases.push(case(format!("frame cut at {cut}"), body, Expect::Refused));
    }
    for cut in 1..move_update.len() {
        let body = frame(Vec::new(), move_update[..cut].to_vec());
        cases.push(case(format!("update cut at {cut}"), body, Expect::Refused));
    }

    // 4. Lengths that lie.
    let header = pull[..6].to_vec();
    let with = |parts: &[&[u8]]| parts.concat();
    let max = u32::MAX.to_le_bytes();
    let lying_lengths = [
        (
            "version length 4 GiB, nothing after",
            with(&[&header, &max]),
        ),
        (
            "version length 4 GiB, 64 bytes after",
            with(&[&header, &max, &[7; 64]]),
        ),
        (
            "updates length 4 GiB",
            with(&[&header, &0u32.to_le_bytes(), &max, &move_update]),
        ),
        (
            "updates length 2 GiB",
            with(&[&header, &0u32.to_le_bytes(), &(1u32 << 31).to_le_bytes()]),
        ),
        (
            "updates length one past the end",
            with(&[
                &header,
                &0u32.to_le_bytes(),
                &(move_update.len() as u32 + 1).to_le_bytes(),
                &move_update,
            ]),
        ),
        (
            "updates length one short",
            with(&[
                &header,
                &0u32.to_le_bytes(),
                &(move_update.len() as u32 - 1).to_le_bytes(),
                &move_update,
            ]),
        ),
        ("header only", header.clone()),
        ("no updates field", with(&[&header, &0u32.to_le_bytes()])),
        (
            "half a length",
            with(&[&header, &0u32.to_le_bytes(), &[0, 0]]),
        ),
    ];
    for (name, body) in lying_lengths {
        cases.push(case(name, body, Expect::Refused));
    }

    // 5. Nested, huge and malformed versions.
    let mut rng = StdRng::seed_from_u64(0x0ABB_A5EED);
    let mut random = |length: usize| {
        let mut bytes = vec![0; length];
        rng.fill_bytes(&mut bytes);
        bytes
    };
    let mut many_peers = VersionVector::new();
    for peer in 0..50_000u64 {
        many_peers.insert(peer.wrapping_mul(0x9E37_79B9_7F4A_7C15), peer as i32 + 1);
    }
    let mut negative = server_version.clone();
    negative.insert(42, -7);
    let garbage_update = b"not a loro update".to_vec();
    let bad_versions = [
        ("version is a whole frame", move_frame.clone()),
        (
            "version is a frame in a frame",
            frame(move_frame.clone(), Vec::new()),
        ),
        ("version is a snapshot", snapshot_before.clone()),
        ("version claims 2^64 peers", vec![0xFF; 10]),
        ("version of 1 MiB 0xFF", vec![0xFF; 1 << 20]),
        ("version of random bytes", random(300)),
    ];
    for (name, version) in bad_versions {
        cases.push(case(
            format!("{name}, pull"),
            frame(version.clone(), Vec::new()),
            Expect::AsDecoded,
        ));
        cases.push(case(
            format!("{name}, garbage update"),
            frame(version, garbage_update.clone()),
            Expect::Refused,
        ));
    }
    for (name, version) in [
        ("50,000 peers", many_peers.encode()),
        ("a negative counter", negative.encode()),
    ] {
        cases.push(case(
            format!("version with {name}, pull"),
            frame(version.clone(), Vec::new()),
            Expect::AsDecoded,
        ));
        cases.push(case(
            format!("version with {name}, garbage update"),
            frame(version, garbage_update.clone()),
            Expect::Refused,
        ));
    }

    // 6. Well-formed frames around updates that are not Loro updates.
    for length in [1, 2, 16, 100, 4096] {
        cases.push(case(
            format!("{length} random update bytes"),
            frame(server_version.encode(), random(length)),
            Expect::Refused,
        ));
    }
    let mut loro_magic = move_update[..8.min(move_update.len())].to_vec();
    loro_magic.extend(random(200));
    cases.push(case(
        "update with Loro's header, random body",
        frame(Vec::new(), loro_magic),
        Expect::Refused,
    ));
    let mut reversed = move_update.clone();
    reversed.reverse();
    cases.push(case(
        "update reversed",
        frame(Vec::new(), reversed),
        Expect::Refused,
    ));

    // 7. Real Loro updates from foreign documents and peers that break the graph.
    let foreign_export = |doc: &LoroDoc| {
        doc.commit();
        frame(
            doc.oplog_vv().encode(),
            doc.export(ExportMode::updates(&VersionVector::default()))
                .unwrap(),
        )
    };
    let foreign = LoroDoc::new();
    foreign.set_peer_id(0xBAD).unwrap();
    foreign
        .get_map("nodes")
        .insert_container("not-a-uuid", LoroMap::new())
        .unwrap();
    cases.push(case(
        "foreign document with a node that has no id",
        foreign_export(&foreign),
        Expect::Refused,
    ));
    let foreign = LoroDoc::new();
    foreign.set_peer_id(0xBAD + 1).unwrap();
    // The write with the higher Lamport time wins: after 64 writes it is ahead
    // of the server's, and the name becomes empty.
    for step in 0..64 {
        foreign.get_map("meta").insert("name", step).unwrap();
    }
    foreign.get_map("meta").insert("name", "").unwrap();
    cases.push(case(
        "foreign document that empties the name",
        foreign_export(&foreign),
        Expect::Refused,
    ));
    let foreign = LoroDoc::new();
    foreign.set_peer_id(0xBAD + 2).unwrap();
    for step in 0..64 {
        foreign.get_map("meta").insert("name", step).unwrap();
    }
    cases.push(case(
        "foreign document whose name is a number",
        foreign_export(&foreign),
        Expect::Refused,
    ));
    let foreign = LoroDoc::new();
    foreign.set_peer_id(0xBAD + 3).unwrap();
    let ghost = foreign
        .get_map("nodes")
        .insert_container(&uuid::Uuid::new_v4().to_string(), LoroMap::new())
        .unwrap();
    ghost.insert("kind", "warp drive").unwrap();
    cases.push(case(
        "foreign document with an unknown node kind",
        foreign_export(&foreign),
        Expect::Refused,
    ));
    let foreign = LoroDoc::new();
    foreign.set_peer_id(0xBAD + 4).unwrap();
    foreign
        .get_map("edges")
        .insert_container(&uuid::Uuid::new_v4().to_string(), LoroMap::new())
        .unwrap()
        .insert("from", "nowhere")
        .unwrap();
    cases.push(case(
        "foreign document with an edge from nowhere",
        foreign_export(&foreign),
        Expect::Refused,
    ));
    let hostile = replica(0xBAD + 5);
    node(&hostile, 1).insert("y", "up").unwrap();
    hostile.commit();
    cases.push(case(
        "same document, a node's y becomes text",
        frame(
            hostile.oplog_vv().encode(),
            hostile
                .export(ExportMode::updates(&server_version))
                .unwrap(),
        ),
        Expect::Refused,
    ));
    let whole = replica(0xBAD + 6);
    whole
        .get_map("meta")
        .insert("name", "x".repeat(10_000))
        .unwrap();
    whole.commit();
    cases.push(case(
        "snapshot whose name is too long",
        frame(Vec::new(), whole.export(ExportMode::Snapshot).unwrap()),
        Expect::Refused,
    ));

    // 8. Updates that reference history the server never saw.
    let ahead = replica(0xBAD + 7);
    node(&ahead, 2).insert("label", "first").unwrap();
    ahead.commit();
    let after_first = ahead.oplog_vv();
    node(&ahead, 2).insert("label", "second").unwrap();
    ahead.commit();
    cases.push(case(
        "second commit without the first",
        frame(
            ahead.oplog_vv().encode(),
            ahead.export(ExportMode::updates(&after_first)).unwrap(),
        ),
        Expect::Refused,
    ));
    let stranger = LoroDoc::new();
    stranger.set_peer_id(0xBAD + 8).unwrap();
    stranger.get_map("meta").insert("name", "Stranger").unwrap();
    stranger.commit();
    let stranger_first = stranger.oplog_vv();
    stranger
        .get_map("meta")
        .insert("name", "Stranger 2")
        .unwrap();
    stranger.commit();
    cases.push(case(
        "foreign document's second commit without its first",
        frame(
            Vec::new(),
            stranger
                .export(ExportMode::updates(&stranger_first))
                .unwrap(),
        ),
        Expect::Refused,
    ));

    // 9. Empty fields, kinds, formats, sizes, content types.
    cases.push(case("zero-length body", Vec::new(), Expect::Refused));
    cases.push(Case {
        graph: Some(GraphId::new()),
        ..case(
            "empty fields for a graph the server lacks",
            pull.clone(),
            Expect::Status(404),
        )
    });
    cases.push(case(
        "empty version, garbage update",
        frame(Vec::new(), vec![0]),
        Expect::Refused,
    ));
    cases.push(case(
        "the server's own answer sent back (kind 2)",
        pulled.to_vec(),
        Expect::Refused,
    ));
    for kind in [0u8, 3, 255] {
        let mut body = move_frame.clone();
        body[5] = kind;
        cases.push(case(format!("kind {kind}"), body, Expect::Refused));
    }
    for format in [0u8, 2, 255] {
        let mut body = move_frame.clone();
        body[4] = format;
        cases.push(case(format!("format {format}"), body, Expect::Refused));
    }
    let at_limit = frame(Vec::new(), random(MAX_FRAME_BYTES - 14));
    assert_eq!(at_limit.len(), MAX_FRAME_BYTES);
    cases.push(case("8 MiB of random update", at_limit, Expect::Refused));
    let over_limit = frame(Vec::new(), random(MAX_FRAME_BYTES - 13));
    assert_eq!(over_limit.len(), MAX_FRAME_BYTES + 1);
    cases.push(case("8 MiB + 1 body", over_limit, Expect::Status(413)));
    let json = br#"{"client_version":[],"updates":[1,2,3]}"#.to_vec();
    let garbage_frame = frame(Vec::new(), garbage_update.clone());
    for (content_type, body) in [
        (Some("application/json"), json.clone()),
        (Some("application/json"), garbage_frame.clone()),
        (Some("text/plain; charset=utf-8"), garbage_frame.clone()),
        (
            Some("application/x-www-form-urlencoded"),
            b"a=1&b=2".to_vec(),
        ),
        (
            Some("multipart/form-data; boundary=x"),
            garbage_frame.clone(),
        ),
        (None, garbage_frame.clone()),
    ] {
        cases.push(Case {
            content_type,
            ..case(
                format!("content type {content_type:?}, {} bytes", body.len()),
                body,
                Expect::Refused,
            )
        });
    }
    cases.push(Case {
        content_type: Some("text/plain"),
        ..case("a pull as text/plain", pull.clone(), Expect::Answered)
    });

    // Send them all.
    let (mut refused, mut answered, mut skipped) = (0, 0, 0);
    for case in &cases {
        let verdict = verdict(&case.body, graph.id, &snapshot_before);
        let refuse = match case.expect {
            Expect::Refused => {
                assert_eq!(
                    verdict,
                    Verdict::Refused,
                    "{}: the case is not hostile",
                    case.name
                );
                true
            }
            Expect::AsDecoded => match verdict {
                Verdict::Refused => true,
                Verdict::Harmless => false,
                Verdict::WouldChange => {
                    skipped += 1;
                    continue;
                }
            },
            Expect::Status(_) => true,
            Expect::Answered => false,
        };
        let path = format!("/v1/graphs/{}/sync", case.graph.unwrap_or(graph.id));
        let mut request = http
            .post(format!("{}{path}", server.url()))
            .bearer_auth(&token)
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{}: no answer ({error})", case.name));
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        assert!(
            status < 500,
            "{}: status {status}: {}",
            case.name,
            String::from_utf8_lossy(&body)
        );
        if refuse {
            refused += 1;
            match case.expect {
                Expect::Status(expected) => assert_eq!(status, expected, "{}", case.name),
                _ => assert!(
                    (400..500).contains(&status),
                    "{}: status {status}: {}",
                    case.name,
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ),
            }
            let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|error| {
                panic!(
                    "{}: answer is not JSON ({error}): {}",
                    case.name,
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                )
            });
            let message = answer["message"].as_str().unwrap_or_default();
            assert!(
                !message.trim().is_empty(),
                "{}: no message in {answer}",
                case.name
            );
        } else {
            answered += 1;
            assert_eq!(status, 200, "{}", case.name);
            SyncResponse::decode(&body)
                .unwrap_or_else(|error| panic!("{}: answer is not a frame: {error}", case.name));
        }
    }
    println!(
        "{} cases: {refused} refused, {answered} answered without a change, \
         {skipped} mutations still valid pushes (not sent); {seeds_used} fuzz seeds",
        cases.len()
    );

    // Nothing was stored: the listing and the snapshot are byte for byte the same.
    assert_eq!(listing(&http, &server, &token).await, listing_before);
    let stored_after = store
        .load_graph_revision(tenant, graph.id)
        .await
        .unwrap()
        .expect("the graph is still there");
    assert!(
        stored_after.snapshot == stored_before.snapshot
            && stored_after.updates == stored_before.updates
            && stored_after.head.revision == stored_before.head.revision,
        "the stored document changed"
    );
    // And a fresh device still receives the graph intact.
    let fresh = TestDevice::register(&server, "checker").await.unwrap();
    fresh.client.sync_all(&fresh.replica).await.unwrap();
    assert_eq!(fresh.replica.graph(graph.id).await.unwrap(), graph);
    println!("took {:?}", started.elapsed());
}

/// The files of a seed corpus directory, in name order.
fn corpus_files(directory: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

async fn listing(http: &reqwest::Client, server: &TestServer, token: &str) -> Vec<u8> {
    let response = http
        .get(format!("{}/v1/graphs", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

/// A 134-byte push found by `fuzz/` (sync_merge) on which Loro 1.17.1 asked
/// for about 2^59 elements while decoding an update block's header
/// (serde_columnar's `take_n_finalize` preallocated a count read from the
/// input). The allocation failed and the process aborted: no panic, so no
/// guard could catch it, and the whole server went down. The patched decoder
/// in `vendor/serde_columnar` refuses such counts; this answers 400.
#[tokio::test]
async fn sync_decoder_survives_a_huge_allocation_request() {
    let server = TestServer::start().await.unwrap();
    let device = TestDevice::register(&server, "author").await.unwrap();
    let graph = device
        .replica
        .add_graph(sample_graph("Allocation", 4, 7))
        .await
        .unwrap();
    device.client.sync_all(&device.replica).await.unwrap();
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus/sync_merge/regression_huge_allocation.bin"),
    )
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/graphs/{}/sync", server.url(), graph.id))
        .bearer_auth(device.token())
        .header("content-type", CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let fresh = TestDevice::register(&server, "checker").await.unwrap();
    fresh.client.sync_all(&fresh.replica).await.unwrap();
    assert_eq!(fresh.replica.graph(graph.id).await.unwrap(), graph);
}
