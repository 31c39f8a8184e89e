//! Sync between devices through a real server on loopback.

use orrery_domain::{Edge, NodeId, Position, sample_graph};
use orrery_e2e::{TestDevice, TestServer};
use orrery_sync::{GraphDocument, SyncError, Version};

#[tokio::test]
async fn edit_travels_to_second_device() {
    let server = TestServer::start().await.unwrap();
    let a = TestDevice::register(&server, "laptop").await.unwrap();
    let b = TestDevice::register(&server, "desktop").await.unwrap();

    // A creates a graph and syncs; B receives it.
    let graph = a
        .replica
        .add_graph(sample_graph("Travel plan", 6, 11))
        .await
        .unwrap();
    a.client.sync_all(&a.replica).await.unwrap();
    let report = b.client.sync_all(&b.replica).await.unwrap();
    assert_eq!(report.graphs_received, 1);
    assert_eq!(b.replica.graph(graph.id).await.unwrap(), graph);

    // Offline, each device edits: A moves one node and connects two others,
    // B renames a third node. Nothing touches the network.
    let ids: Vec<NodeId> = graph.nodes.keys().copied().collect();
    let moved_to = Position::new(7.5, -2.0, 3.25);
    a.replica
        .move_node(graph.id, ids[0], moved_to)
        .await
        .unwrap();
    let edge = Edge::new(ids[1], ids[2]);
    a.replica.add_edge(graph.id, &edge).await.unwrap();
    b.replica
        .relabel_node(graph.id, ids[3], "Renamed on B")
        .await
        .unwrap();
    let pending = a.replica.list_graphs().await.unwrap()[0].pending_changes;
    assert!(pending > 0, "A's offline edits are pending");

    // Both sync (A, B, then A again to receive B's edit).
    a.client.sync_graph(&a.replica, graph.id).await.unwrap();
    b.client.sync_graph(&b.replica, graph.id).await.unwrap();
    a.client.sync_graph(&a.replica, graph.id).await.unwrap();

    let on_a = a.replica.graph(graph.id).await.unwrap();
    let on_b = b.replica.graph(graph.id).await.unwrap();
    assert_eq!(on_a, on_b, "both devices hold the same graph");
    assert_eq!(on_a.nodes[&ids[0]].position, moved_to);
    assert_eq!(on_a.edges.get(&edge.id), Some(&edge));
    assert_eq!(on_a.nodes[&ids[3]].label, "Renamed on B");
    // The materialised rows in each local store agree with the documents.
    assert_eq!(
        a.replica.store().load_graph(graph.id).await.unwrap(),
        Some(on_a)
    );
    assert_eq!(
        b.replica.store().load_graph(graph.id).await.unwrap(),
        Some(on_b)
    );
    assert_eq!(a.replica.list_graphs().await.unwrap()[0].pending_changes, 0);
}

#[tokio::test]
async fn sync_with_server_down_reports_offline_and_keeps_edits() {
    let server = TestServer::start().await.unwrap();
    let device = TestDevice::register(&server, "plane").await.unwrap();
    let graph = device
        .replica
        .add_graph(sample_graph("Offline", 3, 4))
        .await
        .unwrap();
    // A client pointed at a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let offline_client = orrery_sync::SyncClient::new(&dead_url, device.token());
    let error = offline_client
        .sync_graph(&device.replica, graph.id)
        .await
        .unwrap_err();
    assert!(matches!(error, SyncError::Offline { .. }), "{error}");
    assert_eq!(device.replica.graph(graph.id).await.unwrap(), graph);
    assert!(device.replica.list_graphs().await.unwrap()[0].pending_changes > 0);
}

/// A graph added whole is stored without a document held open: it is read
/// back from its rows, counts all of its operations as pending, and its first
/// edit opens the stored document and lands on top of it.
#[tokio::test]
async fn added_graph_opens_its_document_on_first_edit() {
    let server = TestServer::start().await.unwrap();
    let device = TestDevice::register(&server, "studio").await.unwrap();
    let graph = device
        .replica
        .add_graph(sample_graph("Whole", 5, 7))
        .await
        .unwrap();
    assert_eq!(device.replica.graph(graph.id).await.unwrap(), graph);
    let created = GraphDocument::create(&graph).unwrap();
    let all_operations = i64::try_from(
        created
            .version()
            .operations_missing_from(&Version::default()),
    )
    .unwrap();
    assert!(all_operations > 0);
    assert_eq!(
        device.replica.list_graphs().await.unwrap()[0].pending_changes,
        all_operations
    );
    let unknown = orrery_domain::GraphId::new();
    assert!(matches!(
        device.replica.graph(unknown).await,
        Err(SyncError::NoSuchGraph(id)) if id == unknown
    ));

    let node = *graph.nodes.keys().next().unwrap();
    let edited = device
        .replica
        .relabel_node(graph.id, node, "Edited first")
        .await
        .unwrap();
    let mut expected = graph.clone();
    expected.nodes.get_mut(&node).unwrap().label = "Edited first".into();
    assert_eq!(edited, expected);
    assert_eq!(device.replica.graph(graph.id).await.unwrap(), expected);
    assert!(
        device.replica.list_graphs().await.unwrap()[0].pending_changes > all_operations,
        "the edit is pending beside the graph's own operations"
    );
    device.client.sync_all(&device.replica).await.unwrap();
    let other = TestDevice::register(&server, "second").await.unwrap();
    other.client.sync_all(&other.replica).await.unwrap();
    assert_eq!(other.replica.graph(graph.id).await.unwrap(), expected);
}

#[tokio::test]
async fn graph_is_pushed_again_to_a_server_that_lost_it() {
    let first = TestServer::start().await.unwrap();
    let device = TestDevice::register(&first, "survivor").await.unwrap();
    let graph = device
        .replica
        .add_graph(sample_graph("Kept", 4, 8))
        .await
        .unwrap();
    device.client.sync_all(&device.replica).await.unwrap();

    // The server is replaced by one with an empty database.
    let second = TestServer::start().await.unwrap();
    let session = second
        .session_for(orrery_e2e::OWNER_EMAIL, "survivor")
        .await
        .unwrap();
    let fresh = orrery_sync::SyncClient::new(&second.url(), &session.access_token);
    fresh.sync_graph(&device.replica, graph.id).await.unwrap();

    let other = TestDevice::register(&second, "newcomer").await.unwrap();
    other.client.sync_all(&other.replica).await.unwrap();
    assert_eq!(other.replica.graph(graph.id).await.unwrap(), graph);
}

/// A second device listening on the live feed hears of an edit as soon as the
/// server merged it, syncs, and has the edit; another tenant hears nothing of it.
#[tokio::test]
async fn edit_reaches_a_listening_device_live() {
    use orrery_sync::{LiveChange, LiveFeed};
    let server = TestServer::start().await.unwrap();
    let a = TestDevice::register(&server, "laptop").await.unwrap();
    let b = TestDevice::register(&server, "desktop").await.unwrap();
    let stranger = TestDevice::signed_in(&server, "stranger@orrery.test", "elsewhere")
        .await
        .unwrap();
    let mut feed = LiveFeed::connect(&server.url(), b.token()).await.unwrap();
    let mut stranger_feed = LiveFeed::connect(&server.url(), stranger.token())
        .await
        .unwrap();

    let graph = a
        .replica
        .add_graph(sample_graph("Live", 6, 5))
        .await
        .unwrap();
    a.client.sync_all(&a.replica).await.unwrap();
    let guard = std::time::Duration::from_secs(20);
    let change = tokio::time::timeout(guard, feed.next())
        .await
        .expect("the feed spoke")
        .unwrap();
    assert_eq!(
        change.as_ref().and_then(LiveChange::changed_graph),
        Some(graph.id)
    );
    b.client.sync_graph(&b.replica, graph.id).await.unwrap();
    assert_eq!(b.replica.graph(graph.id).await.unwrap(), graph);

    // The next edit travels on the feed itself: B takes it in with no
    // round trip (its client points at a closed port), and an edit that
    // builds on one B missed is synced instead.
    let node = *graph.nodes.keys().next().unwrap();
    let mut edits = Vec::new();
    for x in [10.0, 20.0, 30.0] {
        let position = orrery_domain::Position { x, y: 0.0, z: 0.0 };
        a.replica.move_node(graph.id, node, position).await.unwrap();
        a.client.sync_all(&a.replica).await.unwrap();
        match tokio::time::timeout(guard, feed.next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(LiveChange::GraphEdit(edit)) => edits.push(edit),
            other => panic!("a small edit is carried on the feed: {other:?}"),
        }
    }
    let unreachable = orrery_sync::SyncClient::new("http://127.0.0.1:9", b.token());
    assert!(
        unreachable
            .receive_edit(&b.replica, &edits[0])
            .await
            .unwrap()
    );
    assert_eq!(
        b.replica.graph(graph.id).await.unwrap().nodes[&node]
            .position
            .x,
        10.0
    );
    // One node reads alone; a node the graph does not have is none.
    let moved = b.replica.node(graph.id, node).await.unwrap().unwrap();
    assert_eq!(moved.position.x, 10.0);
    assert_eq!(
        b.replica
            .node(graph.id, orrery_domain::NodeId::new())
            .await
            .unwrap(),
        None
    );
    // The move was appended after the stored snapshot: a fresh replica over
    // the same store reads the document back with it.
    let fresh = orrery_sync::Replica::new(b.replica.store().clone());
    assert_eq!(
        fresh
            .node(graph.id, node)
            .await
            .unwrap()
            .unwrap()
            .position
            .x,
        10.0
    );
    // The move rewrote the moved node's row, and the store reads back the
    // graph the document holds.
    assert_eq!(
        b.replica
            .store()
            .load_graph(graph.id)
            .await
            .unwrap()
            .unwrap(),
        b.replica.graph(graph.id).await.unwrap()
    );
    // Taken in twice: nothing new, still no round trip.
    assert!(
        !unreachable
            .receive_edit(&b.replica, &edits[0])
            .await
            .unwrap()
    );
    // The second edit was missed: the third cannot be taken in alone.
    let missed = unreachable.receive_edit(&b.replica, &edits[2]).await;
    assert!(
        matches!(missed, Err(orrery_sync::SyncError::Offline { .. })),
        "{missed:?}"
    );
    assert_eq!(
        b.replica.graph(graph.id).await.unwrap().nodes[&node]
            .position
            .x,
        10.0
    );
    assert!(b.client.receive_edit(&b.replica, &edits[2]).await.unwrap());
    assert_eq!(
        b.replica.graph(graph.id).await.unwrap(),
        a.replica.graph(graph.id).await.unwrap()
    );
    // B has nothing of its own to send: the versions the feed carried count
    // as the server's.
    let pending: i64 = b
        .replica
        .list_graphs()
        .await
        .unwrap()
        .iter()
        .map(|graph| graph.pending_changes)
        .sum();
    assert_eq!(pending, 0);
    // A carried edit that does not decode changes nothing: the graph is
    // synced instead.
    let mut garbage = edits[1].clone();
    garbage.update = b"not an update".to_vec();
    let refused = unreachable.receive_edit(&b.replica, &garbage).await;
    assert!(
        matches!(refused, Err(orrery_sync::SyncError::Offline { .. })),
        "{refused:?}"
    );
    assert!(!b.client.receive_edit(&b.replica, &garbage).await.unwrap());
    assert_eq!(
        b.replica.graph(graph.id).await.unwrap(),
        a.replica.graph(graph.id).await.unwrap()
    );

    // The stranger's first message is about the stranger's own graph.
    let own = stranger
        .replica
        .add_graph(sample_graph("Mine", 2, 1))
        .await
        .unwrap();
    stranger.client.sync_all(&stranger.replica).await.unwrap();
    let change = tokio::time::timeout(guard, stranger_feed.next())
        .await
        .expect("the feed spoke")
        .unwrap();
    assert_eq!(
        change.and_then(|change| change.changed_graph()),
        Some(own.id)
    );

    // Without a valid token there is no feed.
    let refused = LiveFeed::connect(&server.url(), "oat_forged")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, orrery_sync::SyncError::Server { status: 401, .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn delete_graph_can_be_undone_and_syncs() {
    let server = TestServer::start().await.unwrap();
    let a = TestDevice::register(&server, "laptop").await.unwrap();
    let b = TestDevice::register(&server, "desktop").await.unwrap();
    let graph = a
        .replica
        .add_graph(sample_graph("Old pipeline", 5, 21))
        .await
        .unwrap();
    a.client.sync_all(&a.replica).await.unwrap();
    b.client.sync_all(&b.replica).await.unwrap();
    let store = server.store().await.unwrap();
    let tenant = a.session.account.tenant_id.parse().unwrap();
    let user = a.session.account.id.parse().unwrap();
    let graphs_counted = || async { store.usage(tenant, user, "2026-12").await.unwrap().graphs };
    assert_eq!(graphs_counted().await, 1);

    // A deletes it: gone from A's library at once, kept among deleted graphs.
    a.replica
        .delete_graph(graph.id, "2026-12-06T10:00:00.000Z")
        .await
        .unwrap();
    assert!(a.replica.list_graphs().await.unwrap().is_empty());
    let deleted = a.replica.list_deleted_graphs().await.unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        deleted[0].deleted_at.as_deref(),
        Some("2026-12-06T10:00:00.000Z")
    );
    assert!(deleted[0].pending_changes > 0, "the deletion waits to sync");

    // The deletion syncs: the server stops listing and counting it, and B
    // loses it from its library too.
    a.client.sync_all(&a.replica).await.unwrap();
    assert!(a.client.remote_graphs().await.unwrap().is_empty());
    assert_eq!(
        graphs_counted().await,
        0,
        "a deleted graph no longer counts against the plan"
    );
    b.client.sync_all(&b.replica).await.unwrap();
    assert!(b.replica.list_graphs().await.unwrap().is_empty());
    assert_eq!(b.replica.list_deleted_graphs().await.unwrap().len(), 1);

    // Undo on B: the graph is back everywhere, whole.
    b.replica.restore_graph(graph.id).await.unwrap();
    b.client.sync_all(&b.replica).await.unwrap();
    a.client.sync_all(&a.replica).await.unwrap();
    for device in [&a, &b] {
        let listed = device.replica.list_graphs().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].deleted_at, None);
        assert!(
            device
                .replica
                .list_deleted_graphs()
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(device.replica.graph(graph.id).await.unwrap(), graph);
    }
    assert_eq!(a.client.remote_graphs().await.unwrap().len(), 1);
    assert_eq!(graphs_counted().await, 1);

    // A fresh device signing in later gets the graph, not a tombstone.
    let c = TestDevice::register(&server, "tablet").await.unwrap();
    let report = c.client.sync_all(&c.replica).await.unwrap();
    assert_eq!(report.graphs_received, 1);
    assert_eq!(c.replica.graph(graph.id).await.unwrap(), graph);
}

#[tokio::test]
async fn small_pushes_are_appended_then_folded_into_the_snapshot() {
    let server = TestServer::start().await.unwrap();
    let a = TestDevice::register(&server, "laptop").await.unwrap();
    let graph = a
        .replica
        .add_graph(sample_graph("Appended", 300, 23))
        .await
        .unwrap();
    a.client.sync_all(&a.replica).await.unwrap();
    let store = server.store().await.unwrap();
    let tenant = a.session.account.tenant_id.parse().unwrap();
    let stored = || async {
        store
            .load_graph_revision(tenant, graph.id)
            .await
            .unwrap()
            .unwrap()
    };
    let first = stored().await;
    assert!(first.updates.is_empty(), "a new graph is stored whole");

    let ids: Vec<NodeId> = graph.nodes.keys().copied().collect();
    let mut saw_fold = false;
    for step in 0..40usize {
        let to = Position::new(step as f32, 1.0, -2.0);
        a.replica
            .move_node(graph.id, ids[step % ids.len()], to)
            .await
            .unwrap();
        a.client.sync_graph(&a.replica, graph.id).await.unwrap();
        let now = stored().await;
        if now.updates.is_empty() {
            // Folded: the updates went into a new snapshot.
            saw_fold = true;
            assert_ne!(now.snapshot, first.snapshot);
        } else if !saw_fold {
            // Appended: the snapshot is untouched and each move is one small row.
            assert_eq!(now.updates.len(), step + 1);
            assert_eq!(
                now.snapshot, first.snapshot,
                "an appended move rewrote the snapshot"
            );
            assert!(now.updates.iter().all(|update| update.len() < 4096));
        }
        // Snapshot plus updates is always the whole graph, as a new device sees it.
        if step % 9 == 0 || step == 39 {
            let fresh = TestDevice::register(&server, &format!("fresh {step}"))
                .await
                .unwrap();
            fresh.client.sync_all(&fresh.replica).await.unwrap();
            assert_eq!(
                fresh.replica.graph(graph.id).await.unwrap(),
                a.replica.graph(graph.id).await.unwrap()
            );
        }
    }
    assert!(
        saw_fold,
        "40 stored updates were never folded into a snapshot"
    );
    let last = stored().await;
    let document = GraphDocument::from_stored(graph.id, &last.snapshot, &last.updates).unwrap();
    assert_eq!(
        document.to_graph().unwrap(),
        a.replica.graph(graph.id).await.unwrap()
    );
}

#[tokio::test]
async fn moves_are_appended_to_the_local_store_and_read_back_after_a_restart() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("local.db");
    let store = orrery_store::LocalStore::open(&path).await.unwrap();
    let replica = orrery_sync::Replica::new(store.clone());
    let graph = replica
        .add_graph(sample_graph("Appended", 30, 2))
        .await
        .unwrap();
    let nodes: Vec<NodeId> = graph.nodes.keys().copied().collect();
    // More moves than are appended before a new snapshot, and a relabel.
    for step in 0..150 {
        let node = nodes[step % nodes.len()];
        replica
            .move_node(graph.id, node, Position::new(step as f32, 1.0, -1.0))
            .await
            .unwrap();
    }
    replica
        .relabel_node(graph.id, nodes[3], "Renamed here")
        .await
        .unwrap();
    let expected = replica.graph(graph.id).await.unwrap();
    // Rows written node by node match the document.
    assert_eq!(store.load_graph(graph.id).await.unwrap().unwrap(), expected);
    assert!(
        store.list_graphs().await.unwrap()[0].pending_changes > 150,
        "every move waits for the server"
    );
    store.close().await;

    // After a restart the document is the snapshot and what followed it.
    let reopened = orrery_sync::Replica::new(orrery_store::LocalStore::open(&path).await.unwrap());
    let node = reopened.node(graph.id, nodes[3]).await.unwrap().unwrap();
    assert_eq!(node.label, "Renamed here");
    assert_eq!(reopened.graph(graph.id).await.unwrap(), expected);
}
