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
    assert_eq!(change, Some(LiveChange::Graph(graph.id)));
    b.client.sync_graph(&b.replica, graph.id).await.unwrap();
    assert_eq!(b.replica.graph(graph.id).await.unwrap(), graph);

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
    assert_eq!(change, Some(LiveChange::Graph(own.id)));

    // Without a valid token there is no feed.
    let refused = LiveFeed::connect(&server.url(), "oat_forged")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, orrery_sync::SyncError::Server { status: 401, .. }),
        "{refused:?}"
    );
}
