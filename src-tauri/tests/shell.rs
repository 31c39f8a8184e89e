//! The shell's logic without a window: library commands, canvas hand-off,
//! accounts with the session in the OS keyring, and sync state.
//!
//! The keyring is the real Secret Service: `make test` runs the tests inside
//! `dbus-run-session` with an unlocked gnome-keyring (see scripts/test.sh).
//! Each test uses its own keyring service name.

use std::sync::Arc;
use std::sync::mpsc::channel;

use orrery_canvas::CanvasCommand;
use orrery_desktop::shell::{Shell, ShellError};
use orrery_desktop::vault::KeyringVault;
use orrery_server::auth::SteppedClock;
use orrery_server::{BoundServer, ServerConfig};
use tokio::sync::oneshot;

const PASSWORD: &str = "correct horse battery staple";

struct RunningServer {
    url: String,
    clock: SteppedClock,
    stop: Option<oneshot::Sender<()>>,
    finished: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    async fn start(database: &std::path::Path, listen: &str) -> Self {
        Self::start_with(database, listen, |_| {}).await
    }

    async fn start_with(
        database: &std::path::Path,
        listen: &str,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let mut config = ServerConfig::new(database.to_owned(), listen.parse().unwrap());
        configure(&mut config);
        let clock = SteppedClock::starting_at(chrono::Utc::now());
        let server = BoundServer::bind_with_clock(&config, Arc::new(clock.clone()))
            .await
            .unwrap();
        let url = format!("http://{}", server.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let finished = tokio::spawn(async move {
            server
                .serve(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            url,
            clock,
            stop: Some(stop),
            finished: Some(finished),
        }
    }

    async fn stop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.finished.take().unwrap().await.unwrap();
    }
}

fn vault() -> KeyringVault {
    KeyringVault::new(&format!("orrery-test-{}", uuid::Uuid::now_v7()))
}

#[tokio::test]
async fn library_commands_reach_store_canvas_and_server() {
    let directory = tempfile::tempdir().unwrap();
    let server = RunningServer::start(&directory.path().join("server.db"), "127.0.0.1:0").await;
    let vault = vault();
    let (canvas, canvas_commands) = channel();
    let shell = Shell::open(
        &directory.path().join("local.db"),
        &server.url,
        vault.clone(),
        canvas,
    )
    .await
    .unwrap();

    // A new library is empty until the user adds something; it works signed out.
    assert!(shell.list_graphs().await.unwrap().is_empty());
    assert!(!shell.account_state().await.signed_in);
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
    assert_eq!(status.state, "signed_out", "{status:?}");

    let state = shell
        .register("ada@orrery.test", PASSWORD, "Ada")
        .await
        .unwrap();
    assert!(state.signed_in);
    assert_eq!(state.account.unwrap().email, "ada@orrery.test");
    assert_eq!(state.keyring_problem, None, "the keyring took the session");
    let status = shell.sync_now().await;
    assert_eq!(status.state, "synced", "{status:?}");
    assert_eq!(status.pending_changes, 0);

    // A second start of the same installation is still signed in: the session
    // came back from the keyring, not from the local database.
    drop(shell);
    let database = std::fs::read(directory.path().join("local.db")).unwrap();
    assert!(
        !database.windows(4).any(|w| w == b"oat_" || w == b"ort_"),
        "no token in the local store"
    );
    let (canvas, _commands) = channel();
    let again = Shell::open(
        &directory.path().join("local.db"),
        &server.url,
        vault.clone(),
        canvas,
    )
    .await
    .unwrap();
    assert!(again.account_state().await.signed_in);
    assert_eq!(again.list_graphs().await.unwrap().len(), 3);
    assert_eq!(again.sync_now().await.state, "synced");

    // Theme and name changes reach the server and the saved session.
    let state = again
        .update_profile(&orrery_account::ProfileUpdate {
            theme: Some("dark".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(state.account.unwrap().theme, "dark");

    // Signing out forgets the session everywhere.
    again.sign_out().await.unwrap();
    drop(again);
    let (canvas, _commands) = channel();
    let signed_out = Shell::open(
        &directory.path().join("local.db"),
        &server.url,
        vault,
        canvas,
    )
    .await
    .unwrap();
    assert!(!signed_out.account_state().await.signed_in);
    assert_eq!(signed_out.sync_now().await.state, "signed_out");
    let wrong = signed_out
        .sign_in("ada@orrery.test", "not the password")
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), "unauthorized");
    assert!(
        wrong.to_string().contains("wrong email or password"),
        "{wrong}"
    );
    let state = signed_out
        .sign_in("ada@orrery.test", PASSWORD)
        .await
        .unwrap();
    assert_eq!(state.account.unwrap().theme, "dark");
}

#[tokio::test]
async fn works_offline_with_the_last_session_and_syncs_when_back() {
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("server.db");
    let mut server = RunningServer::start(&database, "127.0.0.1:0").await;
    let address = server.url.trim_start_matches("http://").to_owned();
    let (canvas, _commands) = channel();
    let shell = Shell::open(
        &directory.path().join("local.db"),
        &server.url,
        vault(),
        canvas,
    )
    .await
    .unwrap();
    shell
        .register("grace@orrery.test", PASSWORD, "Grace")
        .await
        .unwrap();

    server.stop().await;
    shell.create_graph("Written on a plane").await.unwrap();
    let status = shell.sync_now().await;
    assert_eq!(status.state, "offline");
    assert!(status.pending_changes > 0);
    assert!(status.message.unwrap().contains("cannot be reached"));
    assert_eq!(shell.sync_status().await.state, "offline");
    assert!(
        shell.account_state().await.signed_in,
        "offline is not signed out"
    );
    let error = shell
        .sign_in("grace@orrery.test", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "offline");

    // The server comes back on the same address, and its access token has
    // meanwhile expired: the shell refreshes and syncs.
    let server = RunningServer::start(&database, &address).await;
    server.clock.advance(chrono::Duration::minutes(20));
    let status = shell.sync_now().await;
    assert_eq!(status.state, "synced", "{status:?}");
    assert_eq!(status.pending_changes, 0);
}

#[tokio::test]
async fn billing_off_is_reported_to_the_screen() {
    let server = orrery_e2e::TestServer::start().await.unwrap();
    let directory = tempfile::tempdir().unwrap();
    let (canvas, _commands) = channel();
    let shell = Shell::open(
        &directory.path().join("local.db"),
        &server.url(),
        vault(),
        canvas,
    )
    .await
    .unwrap();
    shell
        .register("nobilling@orrery.test", PASSWORD, "Nobilling")
        .await
        .unwrap();
    let overview = shell.billing_overview().await.unwrap();
    assert!(!overview.billing_enabled);
    assert!(overview.purchasable_plans.is_empty());
    assert_eq!(overview.usage["plan"]["key"], "free");
}

#[tokio::test]
async fn billing_overview_and_checkout_open_stripe_pages() {
    use orrery_e2e::stripe::{SECRET_KEY, StripeDouble, WEBHOOK_SECRET};
    let stripe = StripeDouble::start().await.unwrap();
    let api_base = stripe.api_base();
    let server = orrery_e2e::TestServer::start_with(|config| {
        config.stripe = Some(orrery_server::billing::StripeConfig {
            api_base,
            secret_key: SECRET_KEY.into(),
            webhook_secret: WEBHOOK_SECRET.into(),
            connect_webhook_secret: None,
            prices: [("pro".to_owned(), "price_pro".to_owned())].into(),
            return_url: "http://127.0.0.1/done".into(),
        });
    })
    .await
    .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let (canvas, _commands) = channel();
    let shell = Shell::open(
        &directory.path().join("local.db"),
        &server.url(),
        vault(),
        canvas,
    )
    .await
    .unwrap();
    assert_eq!(
        shell.billing_overview().await.unwrap_err().code(),
        "signed_out"
    );
    shell
        .register("payer@orrery.test", PASSWORD, "Payer")
        .await
        .unwrap();

    let overview = shell.billing_overview().await.unwrap();
    assert_eq!(overview.plans.as_array().unwrap().len(), 3);
    assert_eq!(overview.usage["plan"]["key"], "free");
    assert!(overview.subscription.is_null());
    assert_eq!(overview.trial_days_remaining, Some(14));
    // Stripe is set up with a price for Pro only: the screen offers that one.
    assert!(overview.billing_enabled);
    assert_eq!(overview.purchasable_plans, ["pro"]);

    let mut opened = None;
    shell
        .start_checkout("pro", |url| {
            opened = Some(url.to_string());
            Ok(())
        })
        .await
        .unwrap();
    let opened = opened.expect("the browser was asked to open Checkout");
    assert!(
        opened.starts_with("https://checkout.stripe.test/c/pay/cs_test_"),
        "{opened}"
    );

    let mut portal = None;
    shell
        .open_billing_portal(|url| {
            portal = Some(url.to_string());
            Ok(())
        })
        .await
        .unwrap();
    assert!(portal.unwrap().starts_with("https://billing.stripe.test/"));
}

#[tokio::test]
async fn a_change_on_another_device_arrives_through_the_live_feed() {
    let directory = tempfile::tempdir().unwrap();
    let server = RunningServer::start(&directory.path().join("server.db"), "127.0.0.1:0").await;
    let (canvas, _a_commands) = channel();
    let a = Shell::open(&directory.path().join("a.db"), &server.url, vault(), canvas)
        .await
        .unwrap();
    let (canvas, b_commands) = channel();
    let b = Shell::open(&directory.path().join("b.db"), &server.url, vault(), canvas)
        .await
        .unwrap();
    a.register("hedy@orrery.test", PASSWORD, "Hedy")
        .await
        .unwrap();
    b.sign_in("hedy@orrery.test", PASSWORD).await.unwrap();
    let mut feed = b.live_feed().await.unwrap();
    let mut next_edit =
        async || match tokio::time::timeout(std::time::Duration::from_secs(20), feed.next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(orrery_sync::LiveChange::GraphEdit(edit)) => edit,
            other => panic!("an edit carried on the feed: {other:?}"),
        };

    // A graph B has never seen: the edit alone cannot make it, so B syncs it.
    let graph = a.create_graph("Made on A").await.unwrap();
    assert_eq!(a.sync_now().await.state, "synced");
    let created = next_edit().await;
    assert_eq!(created.graph, graph.id);
    b.receive_edit(None, &created).await;
    assert_eq!(b.list_graphs().await.unwrap()[0].name, "Made on A");

    // With the graph on B's canvas, A's next edit shows there as it arrives.
    b.open_graph(graph.id).await.unwrap();
    while b_commands.try_recv().is_ok() {}
    let node = orrery_domain::Node::new(
        orrery_domain::NodeKind::Agent,
        "Arrived live",
        orrery_domain::Position::default(),
    );
    a.apply_edit(graph.id, &orrery_domain::GraphEdit::AddNode(node.clone()))
        .await
        .unwrap();
    assert_eq!(a.sync_now().await.state, "synced");
    let added = next_edit().await;
    // Of another workspace's feed (one the app just left), it is ignored.
    assert!(!b.receive_edit(Some(uuid::Uuid::now_v7()), &added).await);
    assert!(b.receive_edit(None, &added).await);
    let shown = b_commands
        .try_iter()
        .find_map(|command| match command {
            CanvasCommand::Merged(graph) => Some(graph),
            _ => None,
        })
        .expect("the canvas was given the merged graph");
    assert_eq!(shown.nodes[&node.id].label, "Arrived live");
    assert_eq!(b.list_graphs().await.unwrap()[0].node_count, 1);
}

#[tokio::test]
async fn graph_files_are_exported_imported_and_bad_ones_refused() {
    let directory = tempfile::tempdir().unwrap();
    let (canvas, _canvas_commands) = channel();
    // No server: files work offline.
    let shell = Shell::open(
        &directory.path().join("local.db"),
        "http://127.0.0.1:9",
        vault(),
        canvas,
    )
    .await
    .unwrap();
    let sample = shell.add_sample_graph(30).await.unwrap();

    // Export, then import as a new graph with the same content.
    let file = directory.path().join("team.json");
    shell.export_graph_file(sample.id, &file).await.unwrap();
    assert!(!directory.path().join("team.json.partial").exists());
    let imported = shell.import_graph_file(&file).await.unwrap();
    assert_ne!(imported.id, sample.id);
    assert_eq!(
        (&imported.name, imported.node_count, imported.edge_count),
        (&sample.name, sample.node_count, sample.edge_count)
    );
    let original = shell.replica().graph(sample.id).await.unwrap();
    let copy = shell.replica().graph(imported.id).await.unwrap();
    assert_eq!(copy.nodes, original.nodes);
    assert_eq!(copy.edges, original.edges);

    // Bad files are refused with their reason, and nothing changes.
    let exported: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let mutated = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut file = exported.clone();
        change(&mut file);
        serde_json::to_vec(&file).unwrap()
    };
    let ghost = uuid::Uuid::new_v4().to_string();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "malformed",
            b"{\"format\": \"orrery-graph\", \"nodes\": [".to_vec(),
            "not a valid graph file",
        ),
        (
            "dangling edge",
            mutated(&|file| file["edges"][0]["to"] = ghost.clone().into()),
            "not in the graph",
        ),
        (
            "unknown kind",
            mutated(&|file| file["nodes"][0]["kind"] = "wizard".into()),
            "wizard",
        ),
        (
            "another format",
            mutated(&|file| file["version"] = 99.into()),
            "version 99",
        ),
        ("empty", Vec::new(), "not a valid graph file"),
    ];
    let before = shell.list_graphs().await.unwrap();
    for (name, bytes, reason) in cases {
        let path = directory
            .path()
            .join(format!("{}.json", name.replace(' ', "-")));
        std::fs::write(&path, bytes).unwrap();
        let error = shell.import_graph_file(&path).await.unwrap_err();
        assert_eq!(error.code(), "invalid_input", "{name}: {error}");
        assert!(error.to_string().contains(reason), "{name}: {error}");
    }
    // Ten times the largest graph file: refused before it is read.
    let huge = directory.path().join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(10 * orrery_domain::MAX_GRAPH_FILE_BYTES as u64)
        .unwrap();
    let error = shell.import_graph_file(&huge).await.unwrap_err();
    assert!(
        error.to_string().contains("graph files are at most"),
        "{error}"
    );
    let error = shell
        .import_graph_file(&directory.path().join("missing.json"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "file");
    let error = shell
        .export_graph_file(sample.id, &directory.path().join("no/such/dir/x.json"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "file");
    assert_eq!(shell.list_graphs().await.unwrap(), before);
    assert_eq!(shell.replica().graph(sample.id).await.unwrap(), original);
}

#[tokio::test]
async fn agents_and_prompts_are_edited_versioned_and_synced() {
    use orrery_desktop::shell::{AgentDraft, PromptDraft};
    use orrery_domain::{DocumentId, DocumentKind, VersionStatus};

    let directory = tempfile::tempdir().unwrap();
    let server = RunningServer::start(&directory.path().join("server.db"), "127.0.0.1:0").await;
    let (canvas, _commands) = channel();
    let shell = Shell::open(
        &directory.path().join("first.db"),
        &server.url,
        vault(),
        canvas,
    )
    .await
    .unwrap();
    shell
        .register("ada@orrery.test", PASSWORD, "Ada")
        .await
        .unwrap();

    // An agent: created, edited field by field, duplicated.
    let draft = AgentDraft {
        id: None,
        name: "  Researcher ".into(),
        description: "Finds sources".into(),
        system_prompt: "You research.\nCite sources.".into(),
        model: "llama3.2".into(),
        parameters: serde_json::json!({ "temperature": 0.2 })
            .as_object()
            .unwrap()
            .clone(),
        tools: vec![" search ".into(), String::new(), "fetch".into()],
        public: true,
        graph: None,
    };
    let agent = shell.save_agent(draft.clone()).await.unwrap();
    assert_eq!(agent.name, "Researcher");
    assert_eq!(agent.tools, ["search", "fetch"]);
    let edited = shell
        .save_agent(AgentDraft {
            id: Some(agent.id),
            model: "qwen2.5".into(),
            ..draft.clone()
        })
        .await
        .unwrap();
    assert_eq!((edited.id, edited.model.as_str()), (agent.id, "qwen2.5"));
    let copy = shell.duplicate_agent(agent.id).await.unwrap();
    assert_ne!(copy.id, agent.id);
    assert_eq!(copy.name, "Researcher (copy)");
    assert_eq!(copy.system_prompt, agent.system_prompt);

    // Bad input: a clear code, and nothing changes.
    let blank = shell
        .save_agent(AgentDraft {
            name: "   ".into(),
            ..draft.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(blank.code(), "invalid_input", "{blank}");
    let unknown = shell
        .save_agent(AgentDraft {
            id: Some(DocumentId::new()),
            ..draft.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "not_found", "{unknown}");
    let mut huge = serde_json::Map::new();
    huge.insert("blob".into(), "x".repeat(20_000).into());
    let oversized = shell
        .save_agent(AgentDraft {
            id: Some(agent.id),
            parameters: huge,
            ..draft.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(oversized.code(), "invalid_input", "{oversized}");
    assert_eq!(shell.agent(agent.id).await.unwrap(), edited);
    assert_eq!(
        shell.list_library(DocumentKind::Agent).await.unwrap().len(),
        2
    );

    // A prompt with versions: publish, roll back, duplicate.
    let prompt = shell
        .save_prompt(PromptDraft {
            id: None,
            title: "Welcome mail".into(),
            project: "Support".into(),
            segment: "Onboarding".into(),
            description: String::new(),
            tags: vec!["email".into()],
            validators: None,
        })
        .await
        .unwrap();
    let first = "Hello {{name}},\nwelcome aboard.";
    let second = "Hello {{ name }},\nwelcome to {{product}}.";
    let with_one = shell.add_prompt_version(prompt.id, first).await.unwrap();
    let with_two = shell.add_prompt_version(prompt.id, second).await.unwrap();
    let (v1, v2) = (with_one.versions[0].id, with_two.versions[1].id);
    shell.publish_prompt_version(prompt.id, v2).await.unwrap();
    let rolled_back = shell.publish_prompt_version(prompt.id, v1).await.unwrap();
    let active = rolled_back.active_version().unwrap();
    assert_eq!((active.id, active.content.as_str()), (v1, first));
    assert_eq!(
        rolled_back.version(v2).unwrap().status,
        VersionStatus::Archived
    );
    let renamed = shell
        .save_prompt(PromptDraft {
            id: Some(prompt.id),
            title: "Welcome e-mail".into(),
            project: "Support".into(),
            segment: "Onboarding".into(),
            description: "First contact".into(),
            tags: vec!["email".into()],
            validators: None,
        })
        .await
        .unwrap();
    assert_eq!(
        renamed.versions, rolled_back.versions,
        "saving fields keeps versions"
    );
    let prompt_copy = shell.duplicate_prompt(prompt.id).await.unwrap();
    assert_eq!(prompt_copy.versions.len(), 2);
    assert!(
        prompt_copy
            .versions
            .iter()
            .all(|version| renamed.version(version.id).is_none())
    );
    assert_eq!(prompt_copy.active_version().unwrap().content, first);
    let missing = shell
        .publish_prompt_version(prompt.id, orrery_domain::PromptVersionId::new())
        .await
        .unwrap_err();
    assert_eq!(missing.code(), "invalid_input", "{missing}");

    // The copy is deleted: gone from the list here, and from other devices.
    shell
        .delete_library_item(DocumentKind::Prompt, prompt_copy.id)
        .await
        .unwrap();
    let prompts = shell.list_library(DocumentKind::Prompt).await.unwrap();
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0].id, prompt.id);

    // Synced: another device of the same account gets all of it.
    assert_eq!(shell.sync_now().await.state, "synced");
    let (canvas, _commands) = channel();
    let other = Shell::open(
        &directory.path().join("second.db"),
        &server.url,
        vault(),
        canvas,
    )
    .await
    .unwrap();
    other.sign_in("ada@orrery.test", PASSWORD).await.unwrap();
    assert_eq!(other.sync_now().await.state, "synced");
    assert_eq!(
        other.list_library(DocumentKind::Agent).await.unwrap().len(),
        2
    );
    assert_eq!(other.agent(agent.id).await.unwrap(), edited);
    let arrived = other.prompt(prompt.id).await.unwrap();
    assert_eq!(arrived.title, "Welcome e-mail");
    assert_eq!(arrived.active_version().unwrap().content, first);
    assert_eq!(
        other
            .list_library(DocumentKind::Prompt)
            .await
            .unwrap()
            .len(),
        1,
        "the deleted copy stays deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_key_stays_in_the_keyring_and_a_canvas_task_runs_on_the_graph() {
    use orrery_domain::{Edge, Graph, Node, NodeKind, Position};
    use orrery_runtime::double::{Gate, ProviderDouble, RecordedRequest, Reply};
    use orrery_runtime::{ProviderKind, ProviderSettings};

    let directory = tempfile::tempdir().unwrap();
    let (canvas, canvas_commands) = channel();
    let shell = Shell::open(
        &directory.path().join("local.db"),
        "http://127.0.0.1:9",
        vault(),
        canvas,
    )
    .await
    .unwrap();

    // Nothing chosen: a local Ollama, which does not answer here.
    let view = shell.provider_view().await.unwrap();
    assert_eq!(view.settings, ProviderSettings::local());
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut nowhere = ProviderSettings::local();
    nowhere.base_url = format!("http://127.0.0.1:{closed}/v1");
    shell.save_provider_settings(&nowhere, None).await.unwrap();
    let error = shell.test_provider().await.unwrap_err();
    assert_eq!(error.code(), "offline", "{error}");
    assert!(error.to_string().contains("ollama serve"), "{error}");

    // A provider that wants a key: the key goes to the keyring only.
    let double = ProviderDouble::start().await.unwrap();
    double.require_api_key("sk-local-double");
    let settings = double.settings(ProviderKind::OpenAiCompatible);
    let bad = shell
        .save_provider_settings(
            &ProviderSettings {
                base_url: "ftp://models.example".into(),
                ..settings.clone()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "invalid_input", "{bad}");
    let view = shell
        .save_provider_settings(&settings, Some("sk-local-double"))
        .await
        .unwrap();
    assert!(view.has_api_key);
    // A test of the connection asks once: a failing provider is reported
    // at once, not after the retries a run would make.
    let asked = double.request_count();
    double.set_fallback(Reply::status(503, "loading the model"));
    let unavailable = shell.test_provider().await.unwrap_err();
    assert!(unavailable.to_string().contains("503"), "{unavailable}");
    assert_eq!(double.request_count(), asked + 1);
    double.set_fallback(Reply::text("OK"));
    assert_eq!(shell.test_provider().await.unwrap(), "OK");
    let stored = std::fs::read(directory.path().join("local.db")).unwrap();
    assert!(
        !stored
            .windows(15)
            .any(|window| window == b"sk-local-double"),
        "the key is not in the local store"
    );

    // A task typed in the canvas runs on the graph's agents; the canvas hears
    // the run start, its events and its end.
    let mut graph = Graph::new("Desk");
    let planner = Node::new(NodeKind::Agent, "Planner", Position::new(0.0, 0.0, 0.0));
    let writer = Node::new(NodeKind::Agent, "Writer", Position::new(3.0, 0.0, 0.0));
    graph.add_node(planner.clone());
    graph.add_node(writer.clone());
    graph.add_edge(Edge::new(planner.id, writer.id)).unwrap();
    let plan = format!(
        r#"{{"steps": [{{"id": "s1", "agent": "{}", "task": "Plan."}},
            {{"id": "s2", "agent": "{}", "task": "Write.", "depends_on": ["s1"]}}],
            "final": ["s2"]}}"#,
        planner.id, writer.id
    );
    // The writer answers once the gate opens: the run is still going when a
    // second task is asked for.
    let gate = Gate::new();
    let writer_gate = gate.clone();
    double.set_responder(move |request: &RecordedRequest| {
        let system = request.system().unwrap_or_default();
        Some(if system.contains("manager of a team") {
            Reply::text(plan.clone())
        } else if system.starts_with("You are Planner") {
            Reply::text("Three points.")
        } else {
            Reply::text("A short text.").after(&writer_gate)
        })
    });
    let replica_graph = shell.replica().add_graph(graph.clone()).await.unwrap();
    shell
        .run_task(replica_graph.id, "Write about Lisbon.".into())
        .await
        .unwrap();
    let busy = shell
        .run_task(replica_graph.id, "Again.".into())
        .await
        .unwrap_err();
    assert_eq!(busy.code(), "conflict", "{busy}");
    gate.open();
    let mut seen = Vec::new();
    loop {
        let command = canvas_commands
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the run reaches the canvas");
        let ended = matches!(command, CanvasCommand::RunEnded { .. });
        seen.push(command);
        if ended {
            break;
        }
    }
    assert!(
        matches!(&seen[0], CanvasCommand::RunStarted { task, .. } if task == "Write about Lisbon.")
    );
    assert!(matches!(
        seen.last(),
        Some(CanvasCommand::RunEnded { reason: None, .. })
    ));
    let session = shell
        .replica()
        .list_documents(orrery_domain::DocumentKind::Session)
        .await
        .unwrap();
    assert_eq!(session.len(), 1);
    let chat = shell.replica().session(session[0].id).await.unwrap();
    let texts: Vec<&str> = chat
        .messages
        .iter()
        .map(|message| message.text.as_str())
        .collect();
    assert_eq!(texts.first(), Some(&"Write about Lisbon."));
    assert_eq!(texts.last(), Some(&"A short text."));
    // Every call carried the key from the keyring.
    assert!(
        double
            .requests()
            .iter()
            .all(|request| request.header("authorization") == Some("Bearer sk-local-double"))
    );
    // Opening the graph shows its session's chat on the canvas.
    shell.open_graph(replica_graph.id).await.unwrap();
    let shown = std::iter::from_fn(|| canvas_commands.try_recv().ok())
        .find_map(|command| match command {
            CanvasCommand::ShowChat(messages) => Some(messages),
            _ => None,
        })
        .expect("the chat is shown");
    assert_eq!(shown.len(), chat.messages.len());
}

#[tokio::test]
async fn prompt_checks_run_on_every_save_and_graphs_are_saved_as_agents() {
    use orrery_desktop::shell::{AgentDraft, PromptDraft};
    use orrery_domain::{DocumentKind, PromptValidator, Validator, VersionStatus};

    let directory = tempfile::tempdir().unwrap();
    let server = RunningServer::start(&directory.path().join("server.db"), "127.0.0.1:0").await;
    let (canvas, _commands) = channel();
    let shell = Shell::open(
        &directory.path().join("first.db"),
        &server.url,
        vault(),
        canvas,
    )
    .await
    .unwrap();
    shell
        .register("ada@orrery.test", PASSWORD, "Ada")
        .await
        .unwrap();
    let draft = |validators: Option<Vec<PromptValidator>>| PromptDraft {
        id: None,
        title: "Greeting".into(),
        project: String::new(),
        segment: String::new(),
        description: String::new(),
        tags: Vec::new(),
        validators,
    };

    // Validators that cannot be used are refused before anything is written.
    let bad_regex = shell
        .save_prompt(draft(Some(vec![PromptValidator::on_output(
            Validator::Regex {
                pattern: "(unclosed".into(),
            },
        )])))
        .await
        .unwrap_err();
    assert_eq!(bad_regex.code(), "invalid_input");
    assert!(
        bad_regex
            .to_string()
            .starts_with("validator 1: the regex validator is not valid"),
        "{bad_regex}"
    );
    let backwards = shell
        .save_prompt(draft(Some(vec![
            PromptValidator::on_output(Validator::Contains {
                text: "Hi".into(),
                ignore_case: true,
            }),
            PromptValidator::on_content(Validator::Length {
                min: Some(9),
                max: Some(3),
            }),
        ])))
        .await
        .unwrap_err();
    assert_eq!(backwards.code(), "invalid_input");
    assert!(
        backwards
            .to_string()
            .contains("validator 2 (length) is not valid: the minimum (9) is larger"),
        "{backwards}"
    );
    assert!(
        shell
            .list_library(DocumentKind::Prompt)
            .await
            .unwrap()
            .is_empty()
    );

    // Content checks run on every save of a version; output checks do not.
    let checks = vec![
        PromptValidator::on_content(Validator::Length {
            min: None,
            max: Some(30),
        }),
        PromptValidator::on_content(Validator::Contains {
            text: "{{name}}".into(),
            ignore_case: false,
        }),
        PromptValidator::on_output(Validator::JsonSchema {
            schema: serde_json::json!({ "type": "object", "required": ["greeting"] }),
        }),
    ];
    let prompt = shell
        .save_prompt(draft(Some(checks.clone())))
        .await
        .unwrap();
    assert_eq!(prompt.validators, checks);
    let long = "Hello there, dear customer, welcome!";
    let view = shell.add_prompt_version(prompt.id, long).await.unwrap();
    let failing = view.versions[0].id;
    let failures: Vec<String> = view.checks[&failing]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        failures,
        [
            "length ≤ 30 validator: the prompt text is 36 characters long; the maximum is 30",
            "contains “{{name}}” validator: the prompt text does not contain “{{name}}”"
        ]
    );
    let refused = shell
        .publish_prompt_version(prompt.id, failing)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "invalid_input");
    assert!(
        refused.to_string().starts_with(
            "version 1 fails the prompt's checks and was not published: length ≤ 30 validator"
        ),
        "{refused}"
    );
    let still = shell.prompt(prompt.id).await.unwrap();
    assert_eq!(still.versions[0].status, VersionStatus::Draft);
    let view = shell
        .add_prompt_version(prompt.id, "Hello {{name}}!")
        .await
        .unwrap();
    let passing = view.versions[1].id;
    assert!(!view.checks.contains_key(&passing));
    assert!(
        view.checks.contains_key(&failing),
        "every version is checked"
    );
    let published = shell
        .publish_prompt_version(prompt.id, passing)
        .await
        .unwrap();
    assert_eq!(published.active_version().unwrap().id, passing);
    // Saving the prompt's fields without validators keeps them; a new list
    // replaces them and the versions are checked again.
    let kept = shell
        .save_prompt(PromptDraft {
            id: Some(prompt.id),
            description: "Says hello".into(),
            ..draft(None)
        })
        .await
        .unwrap();
    assert_eq!(kept.validators, checks);
    let relaxed = shell
        .save_prompt(PromptDraft {
            id: Some(prompt.id),
            ..draft(Some(vec![checks[2].clone()]))
        })
        .await
        .unwrap();
    assert!(relaxed.checks.is_empty(), "{:?}", relaxed.checks);

    // A graph saved as a custom agent; a taken name is refused.
    let graph = shell.add_sample_graph(6).await.unwrap();
    let custom = shell
        .save_graph_as_agent(graph.id, "  ", "The sample as one agent")
        .await
        .unwrap();
    assert_eq!(custom.name, graph.name);
    assert_eq!(custom.graph, Some(graph.id));
    let taken = shell
        .save_graph_as_agent(graph.id, &graph.name.to_uppercase(), "")
        .await
        .unwrap_err();
    assert_eq!(taken.code(), "invalid_input");
    assert!(taken.to_string().contains("exists already"), "{taken}");
    let unknown = shell
        .save_graph_as_agent(orrery_domain::GraphId::new(), "Ghost", "")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "not_found", "{unknown}");
    let ghost = shell
        .save_agent(AgentDraft {
            id: None,
            name: "Ghost".into(),
            description: String::new(),
            system_prompt: String::new(),
            model: String::new(),
            parameters: serde_json::Map::new(),
            tools: Vec::new(),
            public: false,
            graph: Some(orrery_domain::GraphId::new()),
        })
        .await
        .unwrap_err();
    assert_eq!(ghost.code(), "not_found", "{ghost}");
    let listed = shell.list_library(DocumentKind::Agent).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].summary["graph"], graph.id.to_string());

    // Another device gets the checks and the custom agent.
    assert_eq!(shell.sync_now().await.state, "synced");
    let (canvas, _commands) = channel();
    let other = Shell::open(
        &directory.path().join("second.db"),
        &server.url,
        vault(),
        canvas,
    )
    .await
    .unwrap();
    other.sign_in("ada@orrery.test", PASSWORD).await.unwrap();
    assert_eq!(other.sync_now().await.state, "synced");
    let arrived = other.prompt(prompt.id).await.unwrap();
    assert_eq!(arrived.validators, vec![checks[2].clone()]);
    assert_eq!(arrived.active_version().unwrap().id, passing);
    assert_eq!(other.agent(custom.id).await.unwrap().graph, Some(graph.id));
}

#[tokio::test]
async fn graphs_start_from_templates_and_are_deleted_restored_and_duplicated() {
    let directory = tempfile::tempdir().unwrap();
    let (canvas, commands) = channel();
    // No server: templates and deletion work offline.
    let shell = Shell::open(
        &directory.path().join("local.db"),
        "http://127.0.0.1:9",
        vault(),
        canvas,
    )
    .await
    .unwrap();
    // The welcome shows on the first start only.
    assert!(shell.welcome_due().await.unwrap());
    shell.dismiss_welcome().await.unwrap();
    assert!(!shell.welcome_due().await.unwrap());
    let about = shell.about();
    assert_eq!(about.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(about.server_url, "http://127.0.0.1:9");
    for link in &about.links {
        assert!(
            orrery_desktop::shell::about_link(link.key)
                .is_some_and(|url| url.starts_with("https://"))
        );
    }
    assert!(orrery_desktop::shell::about_link("javascript:alert(1)").is_none());
    let cards = shell.templates();
    assert_eq!(cards.len(), 4);
    assert!(
        cards
            .iter()
            .all(|card| !card.agents.is_empty() && !card.preview.edges.is_empty())
    );

    let triage = shell.add_template("support-triage").await.unwrap();
    assert_eq!(triage.name, "Support triage");
    assert_eq!((triage.node_count, triage.edge_count), (5, 4));
    let agents = shell
        .list_library(orrery_domain::DocumentKind::Agent)
        .await
        .unwrap();
    let names: Vec<_> = agents.iter().map(|agent| agent.title.as_str()).collect();
    assert!(
        names.contains(&"Triage agent") && names.contains(&"Reply writer"),
        "{names:?}"
    );
    // The canvas heard about the new library agents (its palette lists them).
    let told = commands.try_iter().any(|command| match command {
        CanvasCommand::ShowLibrary(catalog) => catalog.agent("Triage agent").is_some(),
        _ => false,
    });
    assert!(told, "the canvas was not sent the library after a template");
    let unknown = shell.add_template("../../etc/passwd").await.unwrap_err();
    assert_eq!(unknown.code(), "not_found");

    // Duplicate, then delete the original: the copy stays, the original
    // waits among deleted graphs until restored.
    let copy = shell.duplicate_graph(triage.id).await.unwrap();
    assert_eq!(copy.name, "Support triage (copy)");
    assert_eq!((copy.node_count, copy.edge_count), (5, 4));
    // Deleting the graph on the canvas closes it there; deleting one that
    // is not shown leaves the canvas alone.
    shell.open_graph(triage.id).await.unwrap();
    assert_eq!(shell.shown_graph(), Some(triage.id));
    let opened: Vec<_> = commands.try_iter().collect();
    assert!(opened.iter().any(|c| matches!(c, CanvasCommand::Show)));
    let other = shell.add_template("code-review").await.unwrap();
    shell.delete_graph(other.id).await.unwrap();
    assert!(
        !commands
            .try_iter()
            .any(|c| matches!(c, CanvasCommand::CloseGraph))
    );
    shell.restore_graph(other.id).await.unwrap();
    let deleted = shell.delete_graph(triage.id).await.unwrap();
    assert!(
        commands
            .try_iter()
            .any(|c| matches!(c, CanvasCommand::CloseGraph)),
        "the deleted graph stayed on the canvas"
    );
    // The canvas answers that it closed it.
    shell.graph_closed(triage.id);
    assert_eq!(shell.shown_graph(), None);
    assert!(deleted.deleted_at.is_some());
    let listed: Vec<_> = shell
        .list_graphs()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert!(listed.contains(&copy.id) && listed.contains(&other.id));
    assert!(!listed.contains(&triage.id));
    assert_eq!(shell.list_deleted_graphs().await.unwrap().len(), 1);
    let restored = shell.restore_graph(triage.id).await.unwrap();
    assert_eq!(restored.deleted_at, None);
    assert_eq!(shell.list_graphs().await.unwrap().len(), 3);
    // A graph deleted long ago, whose deletion never reached a server, is
    // purged at the next start (nothing to tell a server it never had).
    shell
        .replica()
        .delete_graph(copy.id, "2020-01-01T00:00:00.000Z")
        .await
        .unwrap();
    assert_eq!(shell.purge_deleted_graphs().await.unwrap(), 1);
    assert!(shell.list_deleted_graphs().await.unwrap().is_empty());
}

/// The management window's commands reach the server's admin routes with
/// the signed-in admin's token: users found by name, a plan changed and a
/// user suspended (each recorded in the audit log); the server refuses the
/// same calls to anyone else.
#[tokio::test]
async fn management_commands_reach_the_admin_routes() {
    use orrery_account::{AuditQuery, UserAction, UserQuery};

    let server = orrery_e2e::TestServer::start().await.unwrap();
    let directory = tempfile::tempdir().unwrap();
    let url = server.url();
    let open = |name: &str| {
        let (canvas, _commands) = channel();
        let store = directory.path().join(format!("{name}.db"));
        let url = url.clone();
        async move { Shell::open(&store, &url, vault(), canvas).await }
    };
    // The server's first account administers it.
    let admin = open("admin").await.unwrap();
    admin
        .register("operator@orrery.test", PASSWORD, "Operator")
        .await
        .unwrap();
    let member = open("member").await.unwrap();
    let grace = member
        .register("grace@orrery.test", PASSWORD, "Grace Hopper")
        .await
        .unwrap()
        .account
        .unwrap();

    let found = admin
        .admin_users(&UserQuery {
            query: Some("hopper".into()),
            ..UserQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.users[0].email, "grace@orrery.test");
    assert_eq!(found.users[0].id, grace.id);

    let changed = admin
        .admin_change_user(&grace.id, &UserAction::Plan { plan: "pro".into() })
        .await
        .unwrap();
    assert_eq!(changed.user.plan, "pro");
    assert_eq!(changed.audit.action, "user.plan");
    let unknown = admin
        .admin_change_user(
            &grace.id,
            &UserAction::Plan {
                plan: "platinum".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "invalid_input");

    // A trial set and ended, and every device signed out.
    let in_a_month = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let trial = admin
        .admin_change_user(
            &grace.id,
            &UserAction::Trial {
                ends_at: Some(in_a_month),
            },
        )
        .await
        .unwrap();
    assert_eq!(trial.user.status, "trialing");
    let ended = admin
        .admin_change_user(&grace.id, &UserAction::Trial { ends_at: None })
        .await
        .unwrap();
    assert_eq!(ended.user.status, "active");
    let past = admin
        .admin_change_user(
            &grace.id,
            &UserAction::Trial {
                ends_at: Some("2020-01-01T00:00:00Z".into()),
            },
        )
        .await;
    assert!(past.is_err(), "the server refuses a trial that ended");
    let revoked = admin
        .admin_change_user(&grace.id, &UserAction::RevokeSessions)
        .await
        .unwrap();
    assert_eq!(revoked.audit.action, "user.sessions.revoke");

    // Opened whole: the plan just set, usage against it, the change recorded.
    let detail = admin.admin_user(&grace.id).await.unwrap();
    assert_eq!(detail.user.plan, "pro");
    assert!(detail.usage.iter().any(|metric| metric.metric == "runs"));
    assert_eq!(
        detail.recent_admin_actions[0].action,
        "user.sessions.revoke"
    );
    assert!(
        detail
            .recent_admin_actions
            .iter()
            .any(|entry| entry.action == "user.plan")
    );
    assert!(admin.admin_user("not-an-id").await.is_err());

    let suspended = admin
        .admin_change_user(&grace.id, &UserAction::Suspend)
        .await
        .unwrap();
    assert_eq!(suspended.user.status, "suspended");
    // Locked out at once: the member's next call is refused.
    assert!(member.billing_overview().await.is_err());

    let log = admin.admin_audit_log(&AuditQuery::default()).await.unwrap();
    let actions: Vec<&str> = log
        .entries
        .iter()
        .map(|entry| entry.action.as_str())
        .collect();
    assert!(
        actions.contains(&"user.plan") && actions.contains(&"user.suspend"),
        "{actions:?}"
    );
    assert!(
        log.entries
            .iter()
            .all(|entry| entry.actor_email == "operator@orrery.test")
    );

    // The overview: both accounts registered today, a point a day.
    let overview = admin.admin_overview(30).await.unwrap();
    assert_eq!(overview.days, 30);
    assert_eq!(overview.series.len(), 30);
    assert_eq!(overview.figures.users_total, 2);
    assert_eq!(overview.figures.users_new, 2);
    assert_eq!(overview.series.last().unwrap().day, overview.to);

    // Monitoring, the published prompts and the email templates, through
    // the account client's real calls.
    let monitoring = admin.admin_monitoring(90, None, None).await.unwrap();
    assert_eq!((monitoring.days, monitoring.series.len()), (90, 90));
    assert_eq!(monitoring.totals.runs, 0);
    let by_user = admin
        .admin_monitoring(30, None, Some(&grace.id))
        .await
        .unwrap();
    assert_eq!(by_user.series.len(), 30);
    let prompts = admin.admin_prompts(Some("anything"), 1).await.unwrap();
    assert_eq!((prompts.total, prompts.page), (0, 1));
    let templates = admin.admin_mail_templates().await.unwrap();
    assert_eq!(
        templates.len(),
        orrery_server::notify::templates::TEMPLATES.len()
    );
    let welcome = templates
        .iter()
        .find(|template| template.key == "welcome")
        .unwrap();
    let mut parts = welcome.shipped.clone();
    parts.subject = "Hello {{ name }}".into();
    let preview = admin
        .admin_preview_mail_template("welcome", &parts)
        .await
        .unwrap();
    assert_eq!(preview.subject, "Hello <name>");
    parts.subject = "Hello {{ nickname }}".into();
    let refused = admin
        .admin_save_mail_template("welcome", &parts)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "invalid_input", "{refused}");
    assert!(refused.to_string().contains("nickname"), "{refused}");
    assert!(admin.admin_reset_mail_template("welcome").await.is_ok());

    // Her data as one archive, then her account deleted.
    let archive = admin.admin_export_user(&grace.id).await.unwrap();
    assert_eq!(archive["account"]["email"], "grace@orrery.test");
    let deleted = admin.admin_delete_user(&grace.id).await.unwrap();
    assert_eq!(deleted.action, "user.delete");
    assert!(admin.admin_user(&grace.id).await.is_err());

    // Anyone else is refused by the server.
    let other = open("other").await.unwrap();
    other
        .register("ada@orrery.test", PASSWORD, "Ada")
        .await
        .unwrap();
    assert!(other.admin_users(&UserQuery::default()).await.is_err());
    assert!(other.admin_audit_log(&AuditQuery::default()).await.is_err());
    assert!(other.admin_overview(30).await.is_err());
    assert!(other.admin_monitoring(30, None, None).await.is_err());
    assert!(other.admin_mail_templates().await.is_err());
}

/// A device of a user on a plan of two runs a month ("Tiny"), with a
/// one-agent graph and the provider double: synced once, so it knows its
/// allowance.
struct OfflineScene {
    _directory: tempfile::TempDir,
    database: std::path::PathBuf,
    server: RunningServer,
    address: String,
    shell: Shell,
    canvas_commands: std::sync::mpsc::Receiver<CanvasCommand>,
    store: orrery_store::ServerStore,
    tenant: uuid::Uuid,
    user: uuid::Uuid,
    graph: orrery_domain::GraphId,
    double: orrery_runtime::double::ProviderDouble,
}

impl OfflineScene {
    async fn start() -> Self {
        use orrery_domain::{Graph, Node, NodeKind, Position};
        use orrery_runtime::ProviderKind;
        use orrery_runtime::double::{ProviderDouble, RecordedRequest, Reply};
        use orrery_server::auth::Clock;

        let directory = tempfile::tempdir().unwrap();
        let database = directory.path().join("server.db");
        let server = RunningServer::start(&database, "127.0.0.1:0").await;
        let address = server.url.trim_start_matches("http://").to_owned();
        let (canvas, canvas_commands) = channel();
        let shell = Shell::open(
            &directory.path().join("local.db"),
            &server.url,
            vault(),
            canvas,
        )
        .await
        .unwrap();
        let state = shell
            .register("grace@orrery.test", PASSWORD, "Grace")
            .await
            .unwrap();
        let account = state.account.unwrap();
        let (tenant, user) = (
            account.tenant_id.parse().unwrap(),
            account.id.parse().unwrap(),
        );
        let store = orrery_store::ServerStore::open(&database.clone().into())
            .await
            .unwrap();
        let mut tiny = store.plan("free").await.unwrap().unwrap();
        tiny.key = "tiny".into();
        tiny.name = "Tiny".into();
        tiny.limits.runs = Some(2);
        tiny.limits.tokens = None;
        store.put_plan(&tiny, server.clock.now()).await.unwrap();
        store.set_plan(tenant, user, "tiny").await.unwrap();

        let double = ProviderDouble::start().await.unwrap();
        shell
            .save_provider_settings(&double.settings(ProviderKind::OpenAiCompatible), None)
            .await
            .unwrap();
        let mut graph = Graph::new("Desk");
        let writer = Node::new(NodeKind::Agent, "Writer", Position::new(0.0, 0.0, 0.0));
        graph.add_node(writer.clone());
        let plan = format!(
            r#"{{"steps": [{{"id": "s1", "agent": "{}", "task": "Write."}}], "final": ["s1"]}}"#,
            writer.id
        );
        double.set_responder(move |request: &RecordedRequest| {
            let system = request.system().unwrap_or_default();
            Some(if system.contains("manager of a team") {
                Reply::text(plan.clone())
            } else {
                Reply::text("A short text.")
            })
        });
        let graph = shell.replica().add_graph(graph).await.unwrap().id;
        assert_eq!(shell.sync_now().await.state, "synced");
        Self {
            _directory: directory,
            database,
            server,
            address,
            shell,
            canvas_commands,
            store,
            tenant,
            user,
            graph,
            double,
        }
    }

    /// Waits until the canvas hears a command `wanted` accepts.
    fn wait_for(&self, what: &str, wanted: impl Fn(&CanvasCommand) -> bool) -> CanvasCommand {
        loop {
            let command = self
                .canvas_commands
                .recv_timeout(std::time::Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("the canvas never heard {what}"));
            if wanted(&command) {
                return command;
            }
        }
    }

    /// Runs a task to its end (an answer).
    async fn run(&self, task: &str) {
        self.shell.run_task(self.graph, task.into()).await.unwrap();
        self.wait_for("the run end", |command| {
            matches!(command, CanvasCommand::RunEnded { reason: None, .. })
        });
    }

    /// The user's runs this period as the server counted them.
    async fn counted_runs(&self) -> u64 {
        use orrery_server::auth::Clock;
        let period = self.server.clock.now().format("%Y-%m").to_string();
        self.store
            .usage(self.tenant, self.user, &period)
            .await
            .unwrap()
            .runs
    }
}

/// Synced once, the device goes offline and runs twice on a plan of two
/// runs; the third run is refused by the allowance it had left (no model
/// call is made), and the chat panel is told that none is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_limit_offline_is_bounded_by_cached_allowance() {
    use orrery_domain::runs::Remaining;
    let mut scene = OfflineScene::start().await;
    scene.server.stop().await;
    scene.run("Task 1").await;
    scene.run("Task 2").await;
    scene.wait_for("that no run is left", |command| {
        matches!(
            command,
            CanvasCommand::ShowAllowance(Some(Remaining { runs: Some(0), .. }))
        )
    });
    let calls = scene.double.request_count();
    let refused = scene
        .shell
        .run_task(scene.graph, "One too many".into())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "limit_reached", "{refused}");
    assert!(refused.to_string().contains("Tiny"), "{refused}");
    assert_eq!(
        scene.double.request_count(),
        calls,
        "a refused run calls no model"
    );
}

/// Runs made offline reach the server once it is back, counted once however
/// often the device syncs; the server's count then decides as the cache did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_runs_are_metered_once_after_sync() {
    let mut scene = OfflineScene::start().await;
    scene.server.stop().await;
    scene.run("Task 1").await;
    scene.run("Task 2").await;
    assert_eq!(
        scene.counted_runs().await,
        0,
        "nothing reached the server yet"
    );

    scene.server = RunningServer::start(&scene.database, &scene.address).await;
    for _ in 0..3 {
        assert_eq!(scene.shell.sync_now().await.state, "synced");
    }
    assert_eq!(scene.counted_runs().await, 2);
    let refused = scene
        .shell
        .run_task(scene.graph, "Still too many".into())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "limit_reached", "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_connected_and_the_server_gets_this_apps_provider() {
    use orrery_e2e::messengers::{BOT_TOKEN, Messenger};
    use orrery_runtime::ProviderKind;
    use orrery_runtime::double::ProviderDouble;

    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("server.db");
    let telegram = Messenger::telegram().await.unwrap();
    let telegram_url = telegram.url();
    let mut server = RunningServer::start_with(&database, "127.0.0.1:0", |config| {
        config.runs.secrets_key = Some(orrery_server::agent_runs::sealed::SecretsKey::generate());
        config.runs.private_provider_hosts = true;
        config.channels.public_url = Some("https://bots.orrery.test".into());
        config.channels.telegram_api_base = telegram_url;
    })
    .await;
    let (canvas, _canvas_commands) = channel();
    let shell = Shell::open(
        &directory.path().join("local.db"),
        &server.url,
        vault(),
        canvas,
    )
    .await
    .unwrap();
    let account = shell
        .register("bots@orrery.test", PASSWORD, "Bots")
        .await
        .unwrap()
        .account
        .unwrap();
    let store = orrery_store::ServerStore::open(&database.clone().into())
        .await
        .unwrap();
    store
        .set_plan(
            account.tenant_id.parse().unwrap(),
            account.id.parse().unwrap(),
            "pro",
        )
        .await
        .unwrap();

    // The server has no provider until this app gives it its own, key and all.
    assert_eq!(shell.server_provider().await.unwrap(), None);
    let double = ProviderDouble::start().await.unwrap();
    shell
        .save_provider_settings(
            &double.settings(ProviderKind::OpenAiCompatible),
            Some("sk-shared"),
        )
        .await
        .unwrap();
    let shared = shell.share_provider_with_server().await.unwrap().unwrap();
    assert_eq!(shared.mode, "live");
    assert_eq!(shared.model, "llama3.2");
    assert!(shared.has_api_key);
    let stored = store
        .run_provider(
            account.tenant_id.parse().unwrap(),
            orrery_domain::api_scope::ApiKeyMode::Live,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.settings.contains("sk-shared") && stored.sealed_key.is_some());

    // A bot answered by a library agent, connected and disconnected.
    let agent = shell
        .save_agent(orrery_desktop::shell::AgentDraft {
            id: None,
            name: "Helper".into(),
            description: String::new(),
            system_prompt: "You help.".into(),
            model: "llama3.2".into(),
            parameters: Default::default(),
            tools: Vec::new(),
            public: false,
            graph: None,
        })
        .await
        .unwrap();
    shell.sync_now().await;
    assert!(shell.channels().await.unwrap().is_empty());
    let refused = shell
        .connect_channel(&orrery_account::ChannelConnection {
            kind: "telegram".into(),
            agent_id: Some(agent.id.to_string()),
            bot_token: Some("not a token".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("not a bot token"), "{refused}");
    let channels = shell
        .connect_channel(&orrery_account::ChannelConnection {
            kind: "telegram".into(),
            agent_id: Some(agent.id.to_string()),
            bot_token: Some(BOT_TOKEN.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0].name, "@orrery_test_bot");
    assert_eq!(channels[0].target_id, agent.id.to_string());
    assert!(
        channels[0]
            .webhook_url
            .as_deref()
            .unwrap()
            .starts_with("https://bots.orrery.test/v1/hooks/telegram/")
    );
    assert!(
        shell
            .disconnect_channel("telegram")
            .await
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_got_in_the_app_is_in_its_library() {
    use orrery_account::{MarketSearch, NewMarketListing};
    use orrery_desktop::shell::AgentDraft;
    use orrery_domain::DocumentKind;

    let directory = tempfile::tempdir().unwrap();
    let mut server = RunningServer::start(&directory.path().join("server.db"), "127.0.0.1:0").await;
    let open = |name: &str| {
        let path = directory.path().join(name);
        let url = server.url.clone();
        async move {
            let (canvas, _) = channel();
            Shell::open(&path, &url, vault(), canvas).await.unwrap()
        }
    };

    // A seller lists an agent from their app: the listing carries it as
    // the server has it (the app syncs first).
    let seller = open("seller.db").await;
    seller
        .register("seller@orrery.test", PASSWORD, "Grace")
        .await
        .unwrap();
    let agent = seller
        .save_agent(AgentDraft {
            id: None,
            name: "Contract reviewer".into(),
            description: "Flags risky clauses.".into(),
            system_prompt: "You read contracts.".into(),
            model: "llama3.1:8b".into(),
            parameters: Default::default(),
            tools: Vec::new(),
            public: false,
            graph: None,
        })
        .await
        .unwrap();
    let listed = seller
        .market_create_listing(&NewMarketListing {
            kind: "agent".into(),
            item_id: agent.id.to_string(),
            title: "Contract reviewer".into(),
            description: "Reads a contract and flags risky clauses.".into(),
            tags: vec!["legal".into()],
            pricing: "free".into(),
            price_minor: 0,
            currency: "usd".into(),
        })
        .await
        .unwrap();
    assert!(listed.mine);

    // A buyer finds it, gets it, and has it in this app's library at once.
    let buyer = open("buyer.db").await;
    buyer
        .register("buyer@orrery.test", PASSWORD, "Linus")
        .await
        .unwrap();
    let found = buyer
        .market_search(&MarketSearch {
            query: Some("contract".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.listings[0].seller, "Grace");
    let purchase = buyer
        .market_buy(&found.listings[0].id, |url| {
            panic!("a free listing opens no payment page ({url})")
        })
        .await
        .unwrap();
    let library = buyer.list_library(DocumentKind::Agent).await.unwrap();
    let copy = library
        .iter()
        .find(|item| Some(item.id.to_string()) == purchase.item_id)
        .expect("the copy is in the library");
    assert_eq!(copy.title, "Contract reviewer");
    assert_eq!(
        buyer.agent(copy.id).await.unwrap().system_prompt,
        "You read contracts."
    );
    let opened = buyer.market_listing(&listed.id).await.unwrap();
    assert!(opened.listing.owned);
    assert_eq!(opened.listing.purchases, 1);
    assert_eq!(buyer.market_purchases().await.unwrap().len(), 1);

    // A review from the buyer shows on the listing.
    buyer
        .market_review(&listed.id, 5, "Caught a bad clause.")
        .await
        .unwrap();
    let opened = seller.market_listing(&listed.id).await.unwrap();
    assert_eq!(opened.reviews[0].body, "Caught a bad clause.");
    assert_eq!(opened.listing.rating, Some(5.0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_listing_bought_in_the_app_arrives_once_stripe_confirms() {
    use orrery_account::{MarketSearch, NewMarketListing};
    use orrery_desktop::shell::AgentDraft;
    use orrery_domain::DocumentKind;
    use orrery_e2e::stripe::{SECRET_KEY, StripeDouble, WEBHOOK_SECRET, deliver};

    let stripe = StripeDouble::start().await.unwrap();
    let api_base = stripe.api_base();
    let server = orrery_e2e::TestServer::start_with(|config| {
        config.stripe = Some(orrery_server::billing::StripeConfig {
            api_base,
            secret_key: SECRET_KEY.into(),
            webhook_secret: WEBHOOK_SECRET.into(),
            connect_webhook_secret: None,
            prices: Default::default(),
            return_url: "http://127.0.0.1/done".into(),
        });
    })
    .await
    .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        let path = directory.path().join(name);
        let url = server.url();
        async move {
            let (canvas, _) = channel();
            Shell::open(&path, &url, vault(), canvas).await.unwrap()
        }
    };
    let signed = |event: &serde_json::Value| {
        let (url, event) = (server.url(), event.clone());
        async move { deliver(&url, &event, WEBHOOK_SECRET, chrono::Utc::now().timestamp()).await }
    };

    // The seller connects Stripe from the app: its forms open in the
    // browser; Stripe then says the account takes charges.
    let seller = open("seller.db").await;
    seller
        .register("seller@orrery.test", PASSWORD, "Grace")
        .await
        .unwrap();
    assert!(!seller.market_seller().await.unwrap().connected);
    let mut forms = None;
    seller
        .market_start_selling(|url| {
            forms = Some(url.to_string());
            Ok(())
        })
        .await
        .unwrap();
    assert!(forms.unwrap().starts_with("https://connect.stripe.test/"));
    let account = stripe.accounts()[0]["id"].as_str().unwrap().to_owned();
    let (status, _) =
        signed(&stripe.event("account.updated", stripe.finish_onboarding(&account))).await;
    assert_eq!(status, 200);
    assert!(seller.market_seller().await.unwrap().charges_enabled);
    let agent = seller
        .save_agent(AgentDraft {
            id: None,
            name: "Lease checker".into(),
            description: "Reads a lease.".into(),
            system_prompt: "You read leases.".into(),
            model: "llama3.1:8b".into(),
            parameters: Default::default(),
            tools: Vec::new(),
            public: false,
            graph: None,
        })
        .await
        .unwrap();
    seller
        .market_create_listing(&NewMarketListing {
            kind: "agent".into(),
            item_id: agent.id.to_string(),
            title: "Lease checker".into(),
            description: "Flags the clauses of a lease to ask about.".into(),
            tags: vec!["legal".into()],
            pricing: "one_off".into(),
            price_minor: 1_299,
            currency: "eur".into(),
        })
        .await
        .unwrap();

    // The buyer presses Buy: Checkout opens in the browser, nothing is in
    // the library yet.
    let buyer = open("buyer.db").await;
    buyer
        .register("buyer@orrery.test", PASSWORD, "Linus")
        .await
        .unwrap();
    let found = buyer
        .market_search(&MarketSearch {
            query: Some("lease".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut checkout = None;
    let purchase = buyer
        .market_buy(&found.listings[0].id, |url| {
            checkout = Some(url.to_string());
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(purchase.state, "pending");
    let checkout = checkout.expect("the browser was asked to open Checkout");
    assert_eq!(Some(checkout.as_str()), purchase.checkout_url.as_deref());
    let titles = |shell: &Shell| {
        let shell = shell.clone();
        async move {
            shell
                .list_library(DocumentKind::Agent)
                .await
                .unwrap()
                .into_iter()
                .filter(|item| item.title == "Lease checker")
                .count()
        }
    };
    assert_eq!(titles(&buyer).await, 0);

    // Stripe confirms the payment: after a sync the copy is in the app.
    let session = stripe
        .sessions()
        .into_iter()
        .find(|session| session["url"] == checkout.as_str())
        .unwrap();
    let paid = stripe.pay_checkout(session["id"].as_str().unwrap());
    let (status, _) = signed(&stripe.event("checkout.session.completed", paid)).await;
    assert_eq!(status, 200);
    buyer.sync_now().await;
    assert_eq!(titles(&buyer).await, 1);
    let purchases = buyer.market_purchases().await.unwrap();
    assert_eq!(
        (purchases[0].state.as_str(), purchases[0].amount_minor),
        ("paid", 1_299)
    );
    // The seller's report has the sale, less the 20% fee.
    let sales = seller.market_sales().await.unwrap();
    assert_eq!(sales.totals["eur"].net_minor, 1_299 - 260);
}

/// A published release of `version` on `channel` with a signed linux-deb
/// package, put straight into the server's store by its first user (the admin).
async fn release_on(
    server: &orrery_e2e::TestServer,
    signer: &orrery_updates::UpdateSigner,
    admin: uuid::Uuid,
    version: &str,
    channel: &str,
) {
    let store = server.store().await.unwrap();
    let actor = orrery_store::AuditActor {
        user_id: admin,
        address: "127.0.0.1".into(),
    };
    let now = chrono::Utc::now();
    let (release, _) = store
        .create_release(
            orrery_store::ReleaseDraft {
                version,
                channel,
                notes: "Faster canvas",
                rollout_percent: 100,
            },
            &actor,
            now,
        )
        .await
        .unwrap()
        .unwrap();
    let package = format!("the package of {version}").into_bytes();
    store
        .put_package_part(release.id, "linux-deb", "x86_64", "o.deb", 0, &package)
        .await
        .unwrap()
        .unwrap();
    let sealed = orrery_store::SealedPackage {
        signature: signer.sign_package(&package, "o.deb", version),
        size_bytes: package.len() as u64,
        sha256: String::new(),
        sealed_at: String::new(),
    };
    let change = store
        .seal_package(release.id, "linux-deb", "x86_64", &sealed, 1, &actor, now)
        .await
        .unwrap();
    assert!(
        matches!(change, orrery_store::ReleaseChange::Done(..)),
        "{change:?}"
    );
    let change = store
        .move_release(release.id, "draft", "published", &actor, now)
        .await
        .unwrap();
    assert!(
        matches!(change, orrery_store::ReleaseChange::Done(..)),
        "{change:?}"
    );
}

#[tokio::test]
async fn updates_are_checked_against_the_feed_key_and_the_channel_is_kept() {
    let feed = orrery_updates::UpdateSigner::generate();
    let feed_key = feed.public_key();
    let release_key = orrery_updates::UpdateSigner::generate();
    let release_public = release_key.public_key();
    let server = orrery_e2e::TestServer::start_with(move |config| {
        config.updates = orrery_server::config::UpdatesConfig {
            feed_signer: Some(Arc::new(feed)),
            release_key: Some(release_public),
        };
    })
    .await
    .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let open = || async {
        let (canvas, _commands) = channel();
        Shell::open(
            &directory.path().join("local.db"),
            &server.url(),
            vault(),
            canvas,
        )
        .await
        .unwrap()
    };
    let shell = open().await;
    let admin = shell
        .register("operator@orrery.test", PASSWORD, "Operator")
        .await
        .unwrap();
    let settings = shell.update_settings().await.unwrap();
    assert_eq!(settings.channel, "stable");
    assert!(uuid::Uuid::parse_str(&settings.installation).is_ok());
    assert!(matches!(
        shell.set_update_channel("nightly").await,
        Err(orrery_desktop::shell::ShellError::Invalid(_))
    ));

    let current: semver::Version = "0.1.0".parse().unwrap();
    assert_eq!(
        shell
            .check_feed(&feed_key, "linux-deb", &current)
            .await
            .unwrap(),
        None
    );
    let admin_id: uuid::Uuid = admin.account.unwrap().id.parse().unwrap();
    release_on(&server, &release_key, admin_id, "0.2.0-beta.1", "beta").await;
    // Stable is not offered the beta; after moving to beta (kept across a
    // restart, with the same installation id), it is.
    assert_eq!(
        shell
            .check_feed(&feed_key, "linux-deb", &current)
            .await
            .unwrap(),
        None
    );
    shell.set_update_channel("beta").await.unwrap();
    drop(shell);
    let shell = open().await;
    let again = shell.update_settings().await.unwrap();
    assert_eq!(again.channel, "beta");
    assert_eq!(again.installation, settings.installation);
    let offered = shell
        .check_feed(&feed_key, "linux-deb", &current)
        .await
        .unwrap()
        .expect("the beta is offered on the beta channel");
    assert_eq!(offered.version, "0.2.0-beta.1");
    assert!(offered.url.starts_with(&server.url()), "{}", offered.url);
    let package = reqwest::get(&offered.url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    release_key
        .public_key()
        .verify_package(&package, &offered.signature, "0.2.0-beta.1")
        .unwrap();
    // Answers checked against another feed key are refused.
    let stranger = orrery_updates::UpdateSigner::generate().public_key();
    assert!(matches!(
        shell.check_feed(&stranger, "linux-deb", &current).await,
        Err(orrery_updates::CheckError::Feed(
            orrery_updates::FeedError::OtherKey
        ))
    ));
}

/// Invites `email` to `team` as `role` straight in the server's database
/// (the server here mails to its log) and answers the invitation's code.
async fn invitation_code(
    database: &std::path::Path,
    team: uuid::Uuid,
    invited_by: uuid::Uuid,
    email: &str,
    role: orrery_domain::team::TeamRole,
) -> String {
    let store = orrery_store::ServerStore::open(&database.to_owned().into())
        .await
        .unwrap();
    let code = orrery_server::auth::secrets::new_secret("oin_");
    let now = chrono::Utc::now();
    let sent = store
        .create_invitation(
            &orrery_store::InvitationDraft {
                team,
                email: email.to_owned(),
                role,
                token_hash: orrery_server::auth::secrets::hash_secret(&code),
                invited_by,
                expires_at: now + chrono::Duration::days(7),
                mail: orrery_store::MailDraft {
                    dedupe_key: format!("test-invitation:{code}"),
                    tenant_id: Some(team),
                    to: email.to_owned(),
                    template: "team_invitation".into(),
                    data: serde_json::json!({}),
                },
            },
            50,
            200,
            now,
        )
        .await
        .unwrap();
    assert!(
        matches!(sent, orrery_store::InvitationSent::Sent(_)),
        "{sent:?}"
    );
    code
}

#[tokio::test]
async fn team_workspaces_keep_their_own_graphs_and_a_viewer_cannot_edit() {
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("server.db");
    let server = RunningServer::start(&database, "127.0.0.1:0").await;
    let (canvas, ada_canvas) = channel();
    let ada = Shell::open(
        &directory.path().join("ada.db"),
        &server.url,
        vault(),
        canvas,
    )
    .await
    .unwrap();
    let (canvas, vic_canvas) = channel();
    let vic = Shell::open(
        &directory.path().join("vic.db"),
        &server.url,
        vault(),
        canvas,
    )
    .await
    .unwrap();
    let ada_account = ada
        .register("ada@orrery.test", PASSWORD, "Ada")
        .await
        .unwrap()
        .account
        .unwrap();
    vic.register("vic@orrery.test", PASSWORD, "Vic")
        .await
        .unwrap();

    // Ada's personal graph, and a team she copies it into.
    let private = ada.create_graph("Ada's plan").await.unwrap();
    let teams = ada.create_team("Research").await.unwrap();
    let team: uuid::Uuid = teams[0].id.parse().unwrap();
    let copy = ada.copy_graph_to_team(private.id, team).await.unwrap();
    assert_ne!(copy.id, private.id, "a copy, not the personal graph itself");
    assert_eq!(ada.list_graphs().await.unwrap().len(), 1, "still personal");
    let workspaces = ada.switch_workspace(Some(team)).await.unwrap();
    assert_eq!(workspaces.current.as_deref(), Some(teams[0].id.as_str()));
    assert_eq!(workspaces.role.as_deref(), Some("owner"));
    let listed = ada.list_graphs().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id, listed[0].name.as_str()),
        (copy.id, "Ada's plan")
    );

    // Vic joins as a viewer and sees the team's graph, not Ada's own.
    let code = invitation_code(
        &database,
        team,
        ada_account.id.parse().unwrap(),
        "vic@orrery.test",
        orrery_domain::team::TeamRole::Viewer,
    )
    .await;
    let joined = vic.accept_team_invitation(&code).await.unwrap();
    assert_eq!(joined.role, "viewer");
    let refused = vic.switch_workspace(Some(uuid::Uuid::now_v7())).await;
    assert!(
        matches!(refused, Err(ShellError::Invalid(_))),
        "{refused:?}"
    );
    let workspaces = vic.switch_workspace(Some(team)).await.unwrap();
    assert!(!workspaces.writable);
    assert_eq!(vic.sync_now().await.state, "synced");
    let seen = vic.list_graphs().await.unwrap();
    assert_eq!(seen.iter().map(|g| g.id).collect::<Vec<_>>(), vec![copy.id]);

    // A viewer's edits are refused here, with the reason, before anything changes.
    let refused = vic.create_graph("Vic's").await.unwrap_err();
    assert_eq!(refused.code(), "read_only");
    assert!(
        refused.to_string().contains("viewer in Research"),
        "{refused}"
    );
    let graph = vic.replica().graph(copy.id).await.unwrap();
    let rename = orrery_domain::GraphEdit::RenameGraph {
        from: graph.name.clone(),
        to: "Vic was here".into(),
    };
    while vic_canvas.try_recv().is_ok() {}
    assert_eq!(
        vic.apply_edit(copy.id, &rename).await.unwrap_err().code(),
        "read_only"
    );
    // The canvas is told to show the graph as stored again, and why.
    let told: Vec<_> = std::iter::from_fn(|| vic_canvas.try_recv().ok()).collect();
    assert!(told.iter().any(
        |command| matches!(command, CanvasCommand::LoadGraph(shown) if shown.name == "Ada's plan")
    ));
    assert!(
        told.iter()
            .any(|command| matches!(command, CanvasCommand::Notify(why) if why.contains("viewer")))
    );
    assert_eq!(
        vic.replica().graph(copy.id).await.unwrap().name,
        "Ada's plan"
    );

    // Made an editor, Vic's edit goes through and reaches Ada's team workspace.
    ada.change_team_role(
        &team.to_string(),
        &vic.account_state().await.account.unwrap().id,
        "editor",
    )
    .await
    .unwrap();
    vic.switch_workspace(Some(team)).await.unwrap();
    // Ada has the graph open on her canvas while Vic edits it.
    ada.open_graph(copy.id).await.unwrap();
    while ada_canvas.try_recv().is_ok() {}
    vic.rename_graph(copy.id, "Research plan").await.unwrap();
    assert_eq!(vic.sync_now().await.state, "synced");
    assert_eq!(ada.sync_now().await.state, "synced");
    assert_eq!(ada.list_graphs().await.unwrap()[0].name, "Research plan");
    // Her canvas is handed the merged graph (not a load: her work stays).
    let told: Vec<_> = std::iter::from_fn(|| ada_canvas.try_recv().ok()).collect();
    assert!(
        told.iter().any(|command| matches!(command, CanvasCommand::Merged(graph) if graph.name == "Research plan")),
        "{told:?}"
    );
    assert!(
        !told
            .iter()
            .any(|command| matches!(command, CanvasCommand::LoadGraph(_)))
    );
    // A sync that brings nothing new hands the canvas no graph.
    assert_eq!(ada.sync_now().await.state, "synced");
    let told: Vec<_> = std::iter::from_fn(|| ada_canvas.try_recv().ok()).collect();
    assert!(
        !told.iter().any(|command| matches!(
            command,
            CanvasCommand::Merged(_) | CanvasCommand::LoadGraph(_)
        )),
        "{told:?}"
    );

    // Ada moves a node while Vic removes it: after her sync the canvas says
    // her change was merged away, once.
    let writer = orrery_domain::Node::new(
        orrery_domain::NodeKind::Agent,
        "Writer",
        orrery_domain::Position::default(),
    );
    ada.apply_edit(copy.id, &orrery_domain::GraphEdit::AddNode(writer.clone()))
        .await
        .unwrap();
    assert_eq!(ada.sync_now().await.state, "synced");
    assert_eq!(vic.sync_now().await.state, "synced");
    let moved = orrery_domain::GraphEdit::MoveNodes(vec![orrery_domain::NodeMove {
        id: writer.id,
        from: writer.position,
        to: orrery_domain::Position {
            x: 5.0,
            y: 0.0,
            z: 0.0,
        },
    }]);
    ada.apply_edit(copy.id, &moved).await.unwrap();
    let current = vic.replica().graph(copy.id).await.unwrap();
    vic.apply_edit(
        copy.id,
        &orrery_domain::GraphEdit::remove_node(&current, writer.id).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(vic.sync_now().await.state, "synced");
    while ada_canvas.try_recv().is_ok() {}
    assert_eq!(ada.sync_now().await.state, "synced");
    let told: Vec<_> = std::iter::from_fn(|| ada_canvas.try_recv().ok()).collect();
    let notices: Vec<_> = told
        .iter()
        .filter_map(|command| match command {
            CanvasCommand::Notify(notice) => Some(notice.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 1, "{told:?}");
    assert!(notices[0].contains("“Writer”"), "{}", notices[0]);
    assert!(
        !ada.replica()
            .graph(copy.id)
            .await
            .unwrap()
            .nodes
            .contains_key(&writer.id)
    );
    assert_eq!(ada.sync_now().await.state, "synced");
    assert!(
        !std::iter::from_fn(|| ada_canvas.try_recv().ok())
            .any(|command| matches!(command, CanvasCommand::Notify(_))),
        "said once"
    );

    // Presence: where Ada looks goes to her live feed; Vic, as the feed
    // relays him, is drawn on her canvas in his colour until he leaves.
    let mut looking = ada.looking();
    ada.selection_changed(vec![orrery_domain::NodeId::new()]);
    ada.focus_changed(copy.id, [1.0, 2.0, 3.0]);
    let now = ada.looking_changed(&mut looking).await;
    assert_eq!(
        (now.graph, now.focus),
        (Some(copy.id), Some([1.0, 2.0, 3.0]))
    );
    assert_eq!(now.selection.len(), 1);
    let vic_id: uuid::Uuid = vic
        .account_state()
        .await
        .account
        .unwrap()
        .id
        .parse()
        .unwrap();
    ada.peer_presence(&orrery_sync::LiveChange::Presence(
        orrery_sync::PeerPresence {
            user: vic_id,
            name: "Vic".into(),
            colour: "#30a46c".into(),
            graph: copy.id,
            cursor: Some([0.5, 0.0, -1.0]),
            selection: Vec::new(),
        },
    ));
    match ada_canvas.try_recv() {
        Ok(CanvasCommand::ShowPeers(peers)) => {
            assert_eq!(peers.len(), 1);
            assert_eq!(
                (peers[0].name.as_str(), peers[0].colour),
                ("Vic", [0x30, 0xa4, 0x6c])
            );
            assert_eq!(peers[0].focus, Some([0.5, 0.0, -1.0]));
        }
        other => panic!("the canvas was not shown Vic: {other:?}"),
    }
    ada.peer_presence(&orrery_sync::LiveChange::PresenceLeft(vic_id));
    assert!(
        matches!(ada_canvas.try_recv(), Ok(CanvasCommand::ShowPeers(peers)) if peers.is_empty())
    );

    // The history lists the versions of the library prompts the graph's
    // prompt nodes name.
    let mut brief = orrery_domain::Prompt::new("Brief");
    brief.versions.push(orrery_domain::PromptVersion::draft(
        "Be brief.",
        "2026-12-01T10:00:00.000Z",
    ));
    brief.versions.push(orrery_domain::PromptVersion::draft(
        "Be briefer.",
        "2026-12-02T10:00:00.000Z",
    ));
    ada.replica().save_prompt(&brief).await.unwrap();
    let node = orrery_domain::Node::new(
        orrery_domain::NodeKind::Prompt,
        "brief",
        orrery_domain::Position::default(),
    );
    ada.apply_edit(copy.id, &orrery_domain::GraphEdit::AddNode(node))
        .await
        .unwrap();
    let prompts = ada.graph_prompt_history(copy.id).await.unwrap();
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0].title, "Brief");
    assert_eq!(
        prompts[0]
            .versions
            .iter()
            .map(|v| (v.number, v.status.as_str()))
            .collect::<Vec<_>>(),
        vec![(2, "draft"), (1, "draft")]
    );

    // Back in her personal workspace, Ada's own graph is as it was.
    let workspaces = ada.switch_workspace(None).await.unwrap();
    assert_eq!(workspaces.current, None);
    let own = ada.list_graphs().await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(
        (own[0].id, own[0].name.as_str()),
        (private.id, "Ada's plan")
    );
}

#[tokio::test]
async fn a_version_opens_on_the_canvas_read_only_and_a_comparison_marks_what_changed() {
    use orrery_canvas::scene::DiffMark;
    let directory = tempfile::tempdir().unwrap();
    let (canvas, commands) = channel();
    // No server: the history is the local document's own.
    let shell = Shell::open(
        &directory.path().join("local.db"),
        "http://127.0.0.1:9",
        vault(),
        canvas,
    )
    .await
    .unwrap();
    let graph = shell.create_graph("Pipeline").await.unwrap();
    let planner = orrery_domain::Node::new(
        orrery_domain::NodeKind::Agent,
        "Planner",
        orrery_domain::Position::default(),
    );
    shell
        .apply_edit(
            graph.id,
            &orrery_domain::GraphEdit::AddNode(planner.clone()),
        )
        .await
        .unwrap();
    let history = shell
        .save_graph_version(graph.id, "Before the review")
        .await
        .unwrap();
    let version = history
        .iter()
        .find(|point| point.name == "Before the review")
        .unwrap()
        .id
        .clone();
    let writer = orrery_domain::Node::new(
        orrery_domain::NodeKind::Agent,
        "Writer",
        orrery_domain::Position::default(),
    );
    shell
        .apply_edit(graph.id, &orrery_domain::GraphEdit::AddNode(writer.clone()))
        .await
        .unwrap();
    shell
        .apply_edit(
            graph.id,
            &orrery_domain::GraphEdit::RelabelNode {
                id: planner.id,
                from: "Planner".into(),
                to: "Lead planner".into(),
            },
        )
        .await
        .unwrap();
    while commands.try_recv().is_ok() {}

    let shown = |commands: &std::sync::mpsc::Receiver<CanvasCommand>| {
        commands
            .try_iter()
            .find_map(|command| match command {
                CanvasCommand::ShowVersion { graph, version } => Some((graph, version)),
                _ => None,
            })
            .expect("the canvas was given the version")
    };
    // Opened: the graph as it was, nothing marked.
    shell
        .show_graph_version(graph.id, &version, false, None)
        .await
        .unwrap();
    let (then, view) = shown(&commands);
    assert_eq!(view.label, "Version “Before the review”");
    assert!(view.marks.is_empty());
    assert_eq!(then.nodes.len(), 1);
    assert_eq!(then.nodes[&planner.id].label, "Planner");
    assert_eq!(shell.shown_graph(), Some(graph.id));

    // Compared with now: now's graph, what changed marked.
    shell
        .show_graph_version(graph.id, &version, true, None)
        .await
        .unwrap();
    let (now, view) = shown(&commands);
    assert_eq!(view.label, "Changes since “Before the review”");
    assert_eq!(now.nodes[&planner.id].label, "Lead planner");
    assert_eq!(
        view.marks,
        std::collections::HashMap::from([
            (writer.id, DiffMark::Added),
            (planner.id, DiffMark::Relabelled)
        ])
    );

    // Two versions compared: the later one drawn, what changed between marked.
    let history = shell.save_graph_version(graph.id, "After").await.unwrap();
    let after = history
        .iter()
        .find(|point| point.name == "After")
        .unwrap()
        .id
        .clone();
    shell
        .apply_edit(
            graph.id,
            &orrery_domain::GraphEdit::RelabelNode {
                id: writer.id,
                from: "Writer".into(),
                to: "Editor".into(),
            },
        )
        .await
        .unwrap();
    shell
        .show_graph_version(graph.id, &version, true, Some(&after))
        .await
        .unwrap();
    let (later, view) = shown(&commands);
    assert_eq!(view.label, "Changes from “Before the review” to “After”");
    assert_eq!(
        later.nodes[&writer.id].label, "Writer",
        "the later version, not now"
    );
    assert_eq!(view.marks.len(), 2);

    // A version the graph does not have is refused with the reason.
    let refused = shell
        .show_graph_version(graph.id, "no-such-version", false, None)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("no version"), "{refused}");
}
