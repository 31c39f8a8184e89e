//! The shell's logic without a window: library commands, canvas hand-off and sync state.

use std::sync::mpsc::channel;

use orrery_canvas::CanvasCommand;
use orrery_desktop::shell::Shell;
use orrery_server::ServerConfig;

async fn start_server(directory: &std::path::Path) -> String {
    let config = ServerConfig {
        database: directory.join("server.db"),
        listen: "127.0.0.1:0".parse().unwrap(),
    };
    format!("http://{}", orrery_server::spawn(&config).await.unwrap())
}

#[tokio::test]
async fn library_commands_reach_store_canvas_and_server() {
    let directory = tempfile::tempdir().unwrap();
    let url = start_server(directory.path()).await;
    let (canvas, canvas_commands) = channel();
    let shell = Shell::open(&directory.path().join("local.db"), &url, canvas)
        .await
        .unwrap();

    // A new library is empty until the user adds something.
    assert!(shell.list_graphs().await.unwrap().is_empty());
    let sample = shell.add_sample_graph(24).await.unwrap();
    assert_eq!((sample.node_count, sample.edge_count), (24, 23));
    let second = shell.add_sample_graph(5).await.unwrap();
    assert_ne!(sample.id, second.id);

    let created = shell.create_graph("  Support desk ").await.unwrap();
    assert_eq!(created.name, "Support desk");
    let renamed = shell
        .rename_graph(created.id, "Support team")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Support team");
    let error = shell.rename_graph(created.id, "\u{7}").await.unwrap_err();
    assert_eq!(error.code(), "invalid_input");
    assert_eq!(shell.list_graphs().await.unwrap().len(), 3);

    shell.open_graph(created.id).await.unwrap();
    match canvas_commands.try_recv().unwrap() {
        CanvasCommand::LoadGraph(graph) => assert_eq!(graph.name, "Support team"),
        other => panic!("expected LoadGraph, got {other:?}"),
    }
    assert!(matches!(
        canvas_commands.try_recv().unwrap(),
        CanvasCommand::Show
    ));

    let status = shell.sync_now().await;
    assert_eq!(status.state, "synced", "{status:?}");
    assert_eq!(status.pending_changes, 0);

    // A second start of the same installation keeps its library and device.
    drop(shell);
    let (canvas, _commands) = channel();
    let again = Shell::open(&directory.path().join("local.db"), &url, canvas)
        .await
        .unwrap();
    assert_eq!(again.list_graphs().await.unwrap().len(), 3);
    assert_eq!(again.sync_now().await.state, "synced");
}

#[tokio::test]
async fn unreachable_server_reads_as_offline_with_pending_changes() {
    let directory = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (canvas, _commands) = channel();
    let shell = Shell::open(&directory.path().join("local.db"), &url, canvas)
        .await
        .unwrap();
    shell.create_graph("Written on a plane").await.unwrap();
    let status = shell.sync_now().await;
    assert_eq!(status.state, "offline");
    assert!(status.pending_changes > 0);
    assert!(status.message.unwrap().contains("cannot be reached"));
    assert_eq!(shell.sync_status().await.state, "offline");
}
