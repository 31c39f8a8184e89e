//! The sync server on PostgreSQL, as several instances sharing one database:
//! accounts made through one instance work on the other, an edit merged by
//! one is heard live by devices on the other, and concurrent merges of one
//! graph through both lose nothing. PostgreSQL is started here (initdb into a
//! temp directory), not assumed present.

use orrery_domain::{GraphId, Node, NodeId, NodeKind, Position, sample_graph};
use orrery_e2e::postgres::PostgresServer;
use orrery_e2e::{TestDevice, TestServer};
use orrery_store::DatabaseLocation;
use orrery_sync::LiveFeed;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_fan_out() {
    let postgres = PostgresServer::start().unwrap();
    let location = DatabaseLocation::Postgres(postgres.database("fan_out").await.unwrap());
    let first = TestServer::start_on(Some(location.clone()), |_| {})
        .await
        .unwrap();
    let second = TestServer::start_on(Some(location), |_| {}).await.unwrap();

    for instance in [&first, &second] {
        let health: serde_json::Value = reqwest::get(format!("{}/v1/health", instance.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["database"], "postgres", "{health}");
    }

    // One account: registered through the first instance, signed in through the second.
    let author = TestDevice::register(&first, "laptop").await.unwrap();
    let reader = TestDevice::register(&second, "desktop").await.unwrap();
    assert_eq!(author.session.account.id, reader.session.account.id);
    let stranger = TestDevice::signed_in(&second, "stranger@orrery.test", "elsewhere")
        .await
        .unwrap();
    let mut reader_feed = LiveFeed::connect(&second.url(), reader.token())
        .await
        .unwrap();
    let mut stranger_feed = LiveFeed::connect(&second.url(), stranger.token())
        .await
        .unwrap();

    // An edit merged by instance 1 reaches the device listening on instance 2.
    let graph = author
        .replica
        .add_graph(sample_graph("Fan-out", 12, 3))
        .await
        .unwrap();
    author.client.sync_all(&author.replica).await.unwrap();
    let guard = std::time::Duration::from_secs(20);
    let heard = tokio::time::timeout(guard, reader_feed.next())
        .await
        .expect("instance 2 relayed the merge made on instance 1")
        .unwrap();
    assert_eq!(
        heard.and_then(|change| change.changed_graph()),
        Some(graph.id)
    );
    reader
        .client
        .sync_graph(&reader.replica, graph.id)
        .await
        .unwrap();
    assert_eq!(reader.replica.graph(graph.id).await.unwrap(), graph);

    // Concurrent edits of the same graph, merged through both instances at
    // once: every edit survives (the stored revision makes a losing merge
    // merge again instead of overwriting).
    let (by_author, by_reader) = tokio::join!(
        edit_and_sync(&author, graph.id, "author"),
        edit_and_sync(&reader, graph.id, "reader")
    );
    author
        .client
        .sync_graph(&author.replica, graph.id)
        .await
        .unwrap();
    reader
        .client
        .sync_graph(&reader.replica, graph.id)
        .await
        .unwrap();
    let on_author = author.replica.graph(graph.id).await.unwrap();
    let on_reader = reader.replica.graph(graph.id).await.unwrap();
    assert_eq!(on_author, on_reader);
    for node in by_author.iter().chain(&by_reader) {
        assert!(on_author.nodes.contains_key(node), "node {node} was lost");
    }
    assert_eq!(on_author.nodes.len(), graph.nodes.len() + 2 * ROUNDS);

    // The shared database lists the merged result once.
    let tenant = author.session.account.tenant_id.parse().unwrap();
    let listed = first
        .store()
        .await
        .unwrap()
        .list_graph_documents(tenant)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].node_count as usize, on_author.nodes.len());

    // The stranger's feed names only the stranger's own graphs.
    let own = stranger
        .replica
        .add_graph(sample_graph("Mine", 2, 1))
        .await
        .unwrap();
    stranger.client.sync_all(&stranger.replica).await.unwrap();
    let heard = tokio::time::timeout(guard, stranger_feed.next())
        .await
        .expect("the stranger's feed spoke")
        .unwrap();
    assert_eq!(
        heard.and_then(|change| change.changed_graph()),
        Some(own.id)
    );
}

const ROUNDS: usize = 15;

/// Adds a node and syncs it, `ROUNDS` times; returns the nodes added.
async fn edit_and_sync(device: &TestDevice, graph: GraphId, label: &str) -> Vec<NodeId> {
    let mut added = Vec::new();
    for round in 0..ROUNDS {
        let node = Node::new(
            NodeKind::Tool,
            format!("{label} {round}"),
            Position::new(round as f32, 0.0, 0.0),
        );
        device.replica.add_node(graph, &node).await.unwrap();
        device
            .client
            .sync_graph(&device.replica, graph)
            .await
            .unwrap();
        added.push(node.id);
    }
    added
}
