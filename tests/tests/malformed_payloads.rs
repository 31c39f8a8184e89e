//! The sync endpoint refuses bad payloads with a reason and keeps the stored graph.

use orrery_domain::sample_graph;
use orrery_e2e::{TestDevice, TestServer};
use orrery_sync::protocol::{CONTENT_TYPE, MAX_FRAME_BYTES, SyncRequest};

async fn post_raw(
    server: &TestServer,
    token: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .header("content-type", CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

#[tokio::test]
async fn malformed_sync_payload_is_rejected() {
    let server = TestServer::start().await.unwrap();
    let device = TestDevice::register(&server, "author").await.unwrap();
    let graph = device
        .replica
        .add_graph(sample_graph("Guarded", 10, 21))
        .await
        .unwrap();
    device.client.sync_all(&device.replica).await.unwrap();
    let listed_before = server_graphs(&server, device.token()).await;

    let token = device.token().to_owned();
    let path = format!("/v1/graphs/{}/sync", graph.id);
    let valid = SyncRequest {
        client_version: Vec::new(),
        updates: b"not a loro update at all".to_vec(),
    }
    .encode();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty body", Vec::new(), 400, "header needs"),
        (
            "html garbage",
            b"<html>hello</html>".to_vec(),
            400,
            "bad magic",
        ),
        (
            "truncated frame",
            valid[..valid.len() - 5].to_vec(),
            400,
            "truncated",
        ),
        (
            "garbage update inside a valid frame",
            valid.clone(),
            400,
            "invalid update",
        ),
        (
            "future format",
            {
                let mut frame = valid.clone();
                frame[4] = 200;
                frame
            },
            400,
            "please update",
        ),
        ("oversized", vec![0u8; MAX_FRAME_BYTES + 1], 413, "limit"),
    ];
    for (name, body, expected_status, expected_reason) in cases {
        let (status, answer) = post_raw(&server, &token, &path, body).await;
        assert_eq!(status, expected_status, "{name}: {answer}");
        let message = answer["message"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        assert!(
            message.contains(expected_reason),
            "{name}: reason `{message}` should mention `{expected_reason}`"
        );
    }

    // A well-formed CRDT update that breaks the graph model: a node's x becomes text.
    let (status, answer) = post_raw(
        &server,
        &token,
        &path,
        hostile_update(&server, &token, &graph).await,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("node x"),
        "{answer}"
    );

    // Bad ids and missing credentials.
    let (status, answer) =
        post_raw(&server, &token, "/v1/graphs/not-a-uuid/sync", valid.clone()).await;
    assert_eq!(status, 400);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("not a valid graph id")
    );
    let (status, _) = post_raw(&server, "wrong-token", &path, valid).await;
    assert_eq!(status, 401);

    // The server still holds the graph as it was, and a fresh device receives it intact.
    // Same name, counts and last-merge time: nothing was written.
    assert_eq!(server_graphs(&server, &token).await, listed_before);
    let fresh = TestDevice::register(&server, "checker").await.unwrap();
    fresh.client.sync_all(&fresh.replica).await.unwrap();
    let received = fresh.replica.graph(graph.id).await.unwrap();
    assert_eq!(received, graph);
}

/// Pulls the server's document into a raw Loro document, sets a node's `x` to
/// text, and frames the resulting update as a sync request.
async fn hostile_update(server: &TestServer, token: &str, graph: &orrery_domain::Graph) -> Vec<u8> {
    let pull = SyncRequest::default().encode();
    let path = format!("/v1/graphs/{}/sync", graph.id);
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .body(pull)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer =
        orrery_sync::protocol::SyncResponse::decode(&response.bytes().await.unwrap()).unwrap();
    let document = loro::LoroDoc::new();
    document.import(&answer.updates).unwrap();
    let seen = document.oplog_vv();
    let node_id = graph.nodes.keys().next().unwrap().to_string();
    let Some(loro::ValueOrContainer::Container(loro::Container::Map(node))) =
        document.get_map("nodes").get(&node_id)
    else {
        panic!("node map missing");
    };
    node.insert("x", "far away").unwrap();
    document.commit();
    SyncRequest {
        client_version: document.oplog_vv().encode(),
        updates: document.export(loro::ExportMode::updates(&seen)).unwrap(),
    }
    .encode()
}

async fn server_graphs(server: &TestServer, token: &str) -> Vec<serde_json::Value> {
    reqwest::Client::new()
        .get(format!("{}/v1/graphs", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
