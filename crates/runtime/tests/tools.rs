//! Agents that call tools, end to end over the provider double: the model's
//! calls in each provider's own streamed format, the arguments checked
//! against the tool's schema before anything runs, the built-in tools held
//! to their permissions, calls that need the user's confirmation, and the
//! tools of an MCP server started as a child process (a stand-in that
//! speaks MCP over stdio, `src/bin/mcp-double.rs`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orrery_domain::Agent;
use orrery_runtime::double::{PATIENCE, ProviderDouble, Reply};
use orrery_runtime::run::{ToolEvent, ToolLimits};
use orrery_runtime::tools::builtin::{Calculator, CurrentTime, HttpGet, ReadFile};
use orrery_runtime::tools::{Confirm, Tool, ToolFuture, ToolPermissions, ToolSpec};
use orrery_runtime::{
    AgentCall, CancellationToken, ProviderKind, RuntimeError, ToolBox, run_agent_with_tools,
};
use serde_json::{Value, json};

const KINDS: [ProviderKind; 3] = [
    ProviderKind::OpenAiCompatible,
    ProviderKind::Anthropic,
    ProviderKind::Gemini,
];

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} took longer than {PATIENCE:?}"),
    }
}

/// Runs `agent` on `task` with `tools` against the double as `kind`; the
/// answer's text (or the error), the streamed text, and the tool events.
async fn run(
    double: &ProviderDouble,
    kind: ProviderKind,
    tools: &ToolBox,
    limits: ToolLimits,
) -> (Result<String, RuntimeError>, String, Vec<ToolEvent>) {
    let provider = double.provider(kind).unwrap();
    let agent = Agent::new("Helper");
    let mut streamed = String::new();
    let mut events = Vec::new();
    let answer = within(
        "a run with tools",
        run_agent_with_tools(
            &provider,
            AgentCall::new(&agent, "What is six times seven?"),
            tools,
            limits,
            CancellationToken::new(),
            |delta| streamed.push_str(delta),
            |event| events.push(event),
        ),
    )
    .await;
    (
        answer.map(|answer| answer.text().to_owned()),
        streamed,
        events,
    )
}

/// A tool that counts its runs and answers with its argument `n` doubled.
struct Counter {
    spec: ToolSpec,
    permissions: ToolPermissions,
    runs: Arc<AtomicUsize>,
}

impl Counter {
    fn new(confirm: bool) -> (Self, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = Self {
            spec: ToolSpec {
                name: "double_it".into(),
                description: "Doubles a whole number from 1 to 10.".into(),
                parameters: json!({"type": "object",
                    "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 10}},
                    "required": ["n"], "additionalProperties": false}),
            },
            permissions: ToolPermissions {
                confirm,
                ..ToolPermissions::default()
            },
            runs: runs.clone(),
        };
        (counter, runs)
    }
}

impl Tool for Counter {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }
    fn permissions(&self) -> &ToolPermissions {
        &self.permissions
    }
    fn call<'a>(&'a self, arguments: &'a Value) -> ToolFuture<'a> {
        Box::pin(async move {
            self.runs.fetch_add(1, Ordering::SeqCst);
            Ok((arguments["n"].as_i64().unwrap_or(0) * 2).to_string())
        })
    }
}

#[tokio::test]
async fn tool_call_round_trip_in_every_provider_format() {
    for kind in KINDS {
        let double = ProviderDouble::start().await.unwrap();
        double.push_all([
            Reply::ToolCalls {
                text: "Let me work it out.".into(),
                calls: vec![
                    ("calculator".into(), json!({"expression": "6 * 7"})),
                    ("current_time".into(), json!({})),
                ],
            },
            Reply::text("Six times seven is 42."),
        ]);
        let tools = ToolBox::new()
            .with(Calculator::default())
            .with(CurrentTime::default());
        let (answer, streamed, events) = run(&double, kind, &tools, ToolLimits::default()).await;
        assert_eq!(answer.unwrap(), "Six times seven is 42.", "{kind:?}");
        assert_eq!(
            streamed, "Let me work it out.Six times seven is 42.",
            "{kind:?}: text before the calls streams too"
        );

        let requests = double.requests();
        assert_eq!(
            requests.len(),
            2,
            "{kind:?}: one call, then one with the results"
        );
        assert_eq!(
            requests[0].tool_names(),
            ["calculator", "current_time"],
            "{kind:?}: the tools are offered in the format's own shape"
        );
        let sent = requests[1].tool_calls_sent();
        assert_eq!(
            sent.iter()
                .map(|(_, name, arguments)| (name.as_str(), arguments.clone()))
                .collect::<Vec<_>>(),
            [
                ("calculator", json!({"expression": "6 * 7"})),
                ("current_time", json!({}))
            ],
            "{kind:?}: the model's calls go back as it made them"
        );
        let results = requests[1].tool_results();
        assert_eq!(results.len(), 2, "{kind:?}");
        assert_eq!(
            results[0].1, "42",
            "{kind:?}: the calculator's answer reaches the model"
        );
        assert!(
            !results[0].2 && !results[1].2,
            "{kind:?}: neither is an error"
        );
        assert!(
            chrono::DateTime::parse_from_rfc3339(results[1].1.split(' ').next().unwrap()).is_ok(),
            "{kind:?}: the time tool answered {}",
            results[1].1
        );
        for ((call_id, _, _), (result_id, _, _)) in sent.iter().zip(&results) {
            assert_eq!(call_id, result_id, "{kind:?}: each result names its call");
            assert!(!call_id.is_empty(), "{kind:?}");
        }
        // The events say what ran, in order.
        let names: Vec<String> = events
            .iter()
            .map(|event| match event {
                ToolEvent::Called(call) => format!("called {}", call.name),
                ToolEvent::Answered(result) => format!("answered {}", result.name),
            })
            .collect();
        assert_eq!(
            names,
            [
                "called calculator",
                "answered calculator",
                "called current_time",
                "answered current_time"
            ]
        );
    }
}

#[tokio::test]
async fn tool_arguments_are_validated_before_running() {
    for kind in KINDS {
        let double = ProviderDouble::start().await.unwrap();
        let (counter, runs) = Counter::new(false);
        let tools = ToolBox::new().with(counter);
        double.push_all([
            Reply::tool_calls([("double_it", json!({"n": "ten"}))]),
            Reply::tool_calls([("double_it", json!({"n": 30}))]),
            Reply::tool_calls([("double_it", json!({"n": 3}))]),
            Reply::text("It is 6."),
        ]);
        let (answer, _, _) = run(&double, kind, &tools, ToolLimits::default()).await;
        assert_eq!(answer.unwrap(), "It is 6.", "{kind:?}");
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "{kind:?}: only the call that matches the schema ran"
        );
        let last = double.requests().pop().unwrap();
        let results = last.tool_results();
        assert_eq!(results.len(), 3, "{kind:?}");
        assert!(
            results[0].1.contains("do not match the tool's schema") && results[0].1.contains("/n"),
            "{kind:?}: {}",
            results[0].1
        );
        assert!(
            results[1].1.contains("do not match"),
            "{kind:?}: {}",
            results[1].1
        );
        assert_eq!(results[2].1, "6", "{kind:?}");
        if kind != ProviderKind::OpenAiCompatible {
            assert_eq!(
                results
                    .iter()
                    .map(|(_, _, error)| *error)
                    .collect::<Vec<_>>(),
                [true, true, false],
                "{kind:?}: failures are marked as errors where the format can say so"
            );
        }
    }

    // Arguments that are not JSON at all, and a tool that does not exist,
    // count too: past the allowance the step fails with the reason, and no
    // further request is made.
    let double = ProviderDouble::start().await.unwrap();
    let (counter, runs) = Counter::new(false);
    let tools = ToolBox::new().with(counter);
    double.push_all([
        Reply::tool_calls([("double_it", Value::String(r#"{"n": 3"#.into()))]),
        Reply::tool_calls([("rm_rf", json!({}))]),
        Reply::tool_calls([("double_it", json!({}))]),
        Reply::tool_calls([("double_it", json!({"n": 1, "extra": true}))]),
        Reply::text("never asked"),
    ]);
    let (answer, _, _) = run(
        &double,
        ProviderKind::OpenAiCompatible,
        &tools,
        ToolLimits {
            max_rounds: 10,
            max_invalid_calls: 3,
        },
    )
    .await;
    let Err(RuntimeError::InvalidToolCalls { count, last }) = answer else {
        panic!("the step fails after three invalid calls: {answer:?}");
    };
    assert_eq!(count, 4);
    assert!(
        last.contains("double_it") && last.contains("schema"),
        "{last}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing ran");
    assert_eq!(
        double.request_count(),
        4,
        "no request after the step failed"
    );
    let results = double.requests()[3].tool_results();
    assert!(results[0].1.contains("not valid JSON"), "{}", results[0].1);
    assert!(
        results[1].1.contains("no tool called `rm_rf`"),
        "{}",
        results[1].1
    );

    // A model that never stops calling is stopped after its rounds.
    let double = ProviderDouble::start().await.unwrap();
    let (counter, runs) = Counter::new(false);
    let tools = ToolBox::new().with(counter);
    double.set_fallback(Reply::tool_calls([("double_it", json!({"n": 2}))]));
    let (answer, _, _) = run(
        &double,
        ProviderKind::Anthropic,
        &tools,
        ToolLimits {
            max_rounds: 2,
            max_invalid_calls: 3,
        },
    )
    .await;
    assert!(
        matches!(answer, Err(RuntimeError::TooManyToolRounds { rounds: 2 })),
        "{answer:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn tool_permission_and_confirmation_are_enforced() {
    // A site on loopback the HTTP tool may reach by one name and not by another.
    let site = ProviderDouble::start().await.unwrap();
    let port = site.address().port();
    let allowed = format!("http://127.0.0.1:{port}/page");
    let other_name = format!("http://localhost:{port}/page");

    let double = ProviderDouble::start().await.unwrap();
    double.push_all([
        Reply::tool_calls([
            ("http_get", json!({"url": allowed})),
            ("http_get", json!({"url": other_name})),
            ("http_get", json!({"url": "file:///etc/passwd"})),
        ]),
        Reply::text("Fetched."),
    ]);
    let tools = ToolBox::new().with(HttpGet::new(["127.0.0.1"], false));
    let (answer, _, _) = run(
        &double,
        ProviderKind::Anthropic,
        &tools,
        ToolLimits::default(),
    )
    .await;
    assert_eq!(answer.unwrap(), "Fetched.");
    let results = double.requests()[1].tool_results();
    assert!(
        results[0].1.starts_with("HTTP 404"),
        "the allowed host was reached: {}",
        results[0].1
    );
    assert!(
        results[1].1.contains("localhost is not one of the hosts"),
        "{}",
        results[1].1
    );
    assert!(
        results[2].1.contains("only http and https"),
        "{}",
        results[2].1
    );
    assert_eq!(site.request_count(), 1, "only the allowed host was asked");

    // Files: inside the folder, yes; outside it, by `..` or a link, no.
    let place = tempfile::tempdir().unwrap();
    let folder = place.path().join("notes");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("today.md"), "Buy milk.").unwrap();
    std::fs::write(place.path().join("secret.txt"), "the secret").unwrap();
    std::os::unix::fs::symlink(place.path().join("secret.txt"), folder.join("link.txt")).unwrap();
    let double = ProviderDouble::start().await.unwrap();
    double.push_all([
        Reply::tool_calls([
            ("read_file", json!({"path": "today.md"})),
            ("read_file", json!({"path": "../secret.txt"})),
            ("read_file", json!({"path": "link.txt"})),
            (
                "read_file",
                json!({"path": place.path().join("secret.txt").display().to_string()}),
            ),
        ]),
        Reply::text("Read."),
    ]);
    let tools = ToolBox::new().with(ReadFile::new(&folder, false));
    let (answer, _, _) = run(&double, ProviderKind::Gemini, &tools, ToolLimits::default()).await;
    assert_eq!(answer.unwrap(), "Read.");
    let results = double.requests()[1].tool_results();
    assert_eq!(results[0].1, "Buy milk.");
    for refused in &results[1..] {
        assert!(refused.2, "refused reads are errors: {refused:?}");
        assert!(!refused.1.contains("the secret"), "{refused:?}");
        assert!(refused.1.contains("not allowed"), "{refused:?}");
    }

    // Confirmation: with no one to ask the call is refused; a "no" is
    // respected; a "yes" runs it. The question names the call.
    let (counter, runs) = Counter::new(true);
    let tools = ToolBox::new().with(counter);
    let call = orrery_runtime::ToolCall {
        id: "call_1".into(),
        name: "double_it".into(),
        arguments: r#"{"n": 4}"#.into(),
    };
    let cancel = CancellationToken::new();
    let refused = tools.run(&call, &cancel).await.unwrap_err();
    assert!(
        refused.to_string().contains("once the user allows it"),
        "{refused}"
    );
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let answer_with = |allow: bool| -> Confirm {
        let asked = asked.clone();
        Arc::new(move |call: &orrery_runtime::ToolCall| {
            asked.lock().unwrap().push(call.arguments.clone());
            Box::pin(async move { allow }) as std::pin::Pin<Box<dyn Future<Output = bool> + Send>>
        })
    };
    let declined = tools
        .clone()
        .with_confirm(answer_with(false))
        .run(&call, &cancel)
        .await
        .unwrap_err();
    assert_eq!(declined.to_string(), "the user did not allow this call");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing ran without a yes");
    let allowed = tools
        .clone()
        .with_confirm(answer_with(true))
        .run(&call, &cancel)
        .await
        .unwrap();
    assert_eq!(allowed, "8");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(*asked.lock().unwrap(), [r#"{"n": 4}"#, r#"{"n": 4}"#]);

    // A tool that hangs is stopped by its timeout, and cancelling stops it at once.
    struct Hang(ToolSpec, ToolPermissions);
    impl Tool for Hang {
        fn spec(&self) -> &ToolSpec {
            &self.0
        }
        fn permissions(&self) -> &ToolPermissions {
            &self.1
        }
        fn call<'a>(&'a self, _: &'a Value) -> ToolFuture<'a> {
            Box::pin(std::future::pending())
        }
    }
    let hang = Hang(
        ToolSpec {
            name: "hang".into(),
            description: "Never answers.".into(),
            parameters: json!({"type": "object"}),
        },
        ToolPermissions::default(),
    );
    let tools = ToolBox::new()
        .with(hang)
        .with_timeout(std::time::Duration::from_millis(50));
    let call = orrery_runtime::ToolCall {
        id: "call_2".into(),
        name: "hang".into(),
        arguments: "{}".into(),
    };
    let timed_out = within("a hanging tool", tools.run(&call, &cancel))
        .await
        .unwrap_err();
    assert!(
        timed_out.to_string().contains("did not answer within"),
        "{timed_out}"
    );
    let tools = tools.with_timeout(std::time::Duration::from_secs(3600));
    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let stopped = within("a cancelled tool", tools.run(&call, &cancelled))
        .await
        .unwrap_err();
    assert_eq!(stopped.to_string(), "the run was cancelled");
}

/// The stand-in MCP server, logging each call to a file in `dir`.
fn mcp_double(dir: &std::path::Path) -> orrery_runtime::tools::mcp::StdioServer {
    orrery_runtime::tools::mcp::StdioServer {
        name: "double".into(),
        command: env!("CARGO_BIN_EXE_mcp-double").into(),
        arguments: Vec::new(),
        environment: vec![(
            "MCP_DOUBLE_LOG".into(),
            dir.join("calls.log").display().to_string(),
        )],
    }
}

/// The calls the stand-in MCP server ran, one line each.
fn mcp_calls(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The named tools of `server`, held to `permissions`.
fn mcp_tools(
    server: &orrery_runtime::tools::mcp::McpServer,
    names: &[&str],
    permissions: &ToolPermissions,
) -> ToolBox {
    let mut tools = ToolBox::new();
    for tool in server.tools(permissions) {
        if names.contains(&tool.spec().name.as_str()) {
            tools.add(tool).unwrap();
        }
    }
    tools
}

#[tokio::test]
async fn mcp_stdio_server_tools_are_callable() {
    let dir = tempfile::tempdir().unwrap();
    let server = within(
        "the MCP server to start",
        orrery_runtime::tools::mcp::McpServer::start_stdio(&mcp_double(dir.path())),
    )
    .await
    .unwrap();
    let names: Vec<&str> = server
        .specs()
        .iter()
        .map(|spec| spec.name.as_str())
        .collect();
    assert_eq!(names, ["add", "shout", "fail", "crash", "garble", "hang"]);
    assert_eq!(server.specs()[0].parameters["required"], json!(["a", "b"]));

    // A model calls two of its tools; their answers reach the model, and a
    // tool's own error goes back as an error result.
    let tools = mcp_tools(
        &server,
        &["add", "shout", "fail"],
        &ToolPermissions::default(),
    );
    for kind in KINDS {
        let double = ProviderDouble::start().await.unwrap();
        double.push_all([
            Reply::tool_calls([
                ("add", json!({"a": 2, "b": 3.5})),
                ("shout", json!({"text": "quiet"})),
                ("fail", json!({})),
            ]),
            Reply::text("Done."),
        ]);
        let (answer, _, _) = run(&double, kind, &tools, ToolLimits::default()).await;
        assert_eq!(answer.unwrap(), "Done.", "{kind:?}");
        let results = double.requests()[1].tool_results();
        assert_eq!(results[0].1, "5.5", "{kind:?}");
        assert_eq!(results[1].1, "QUIET", "{kind:?}");
        assert!(
            results[2].1.contains("failed on purpose"),
            "{kind:?}: {}",
            results[2].1
        );
        assert_eq!(
            double.requests()[0].tool_names(),
            ["add", "fail", "shout"],
            "{kind:?}: the server's tools are offered with their schemas"
        );
    }
    let calls = mcp_calls(dir.path());
    assert_eq!(calls.len(), 9, "three calls per format: {calls:?}");
    assert!(
        calls[0].starts_with("add ") && calls[0].contains("3.5"),
        "{calls:?}"
    );

    // Arguments that do not match the server's schema never reach it; a
    // server whose tools need confirmation runs nothing unconfirmed.
    let before = mcp_calls(dir.path()).len();
    let call = orrery_runtime::ToolCall {
        id: "call_9".into(),
        name: "add".into(),
        arguments: r#"{"a": "two"}"#.into(),
    };
    let cancel = CancellationToken::new();
    assert!(matches!(
        tools.run(&call, &cancel).await,
        Err(orrery_runtime::ToolError::InvalidArguments(_))
    ));
    let guarded = mcp_tools(
        &server,
        &["add"],
        &ToolPermissions {
            confirm: true,
            ..ToolPermissions::default()
        },
    );
    let call = orrery_runtime::ToolCall {
        arguments: r#"{"a": 1, "b": 1}"#.into(),
        ..call
    };
    assert!(matches!(
        guarded.run(&call, &cancel).await,
        Err(orrery_runtime::ToolError::NotAllowed(_))
    ));
    assert_eq!(mcp_calls(dir.path()).len(), before, "nothing ran");
    server.stop().await;

    // A command that is not there, or not an MCP server, is refused with the reason.
    let missing = orrery_runtime::tools::mcp::StdioServer {
        command: "/nonexistent/mcp-server".into(),
        ..mcp_double(dir.path())
    };
    let refused = orrery_runtime::tools::mcp::McpServer::start_stdio(&missing)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("could not be started"),
        "{refused}"
    );
    let not_mcp = orrery_runtime::tools::mcp::StdioServer {
        command: "/bin/cat".into(),
        arguments: vec!["/dev/null".into()],
        ..mcp_double(dir.path())
    };
    let refused = within(
        "a command that is not an MCP server",
        orrery_runtime::tools::mcp::McpServer::start_stdio(&not_mcp),
    )
    .await
    .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("did not answer as an MCP server"),
        "{refused}"
    );
}

#[tokio::test]
async fn mcp_server_crash_fails_one_step_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = within(
        "the MCP server to start",
        orrery_runtime::tools::mcp::McpServer::start_stdio(&mcp_double(dir.path())),
    )
    .await
    .unwrap();
    let mut tools = mcp_tools(
        &server,
        &["crash", "add", "garble"],
        &ToolPermissions::default(),
    );
    tools.add(Arc::new(Calculator::default())).unwrap();

    // A broken line from the server: the step goes on or fails with a
    // reason, and does not hang.
    let double = ProviderDouble::start().await.unwrap();
    double.push_all([
        Reply::tool_calls([("garble", json!({}))]),
        Reply::text("After the broken line."),
    ]);
    let (garbled, _, _) = run(
        &double,
        ProviderKind::OpenAiCompatible,
        &tools,
        ToolLimits::default(),
    )
    .await;
    if let Err(error) = &garbled {
        assert!(error.to_string().contains("double"), "{error}");
    }

    // The server dies in the middle of a call: that step fails, naming the
    // server, and makes no further request to the model.
    let double = ProviderDouble::start().await.unwrap();
    double.push_all([
        Reply::tool_calls([("crash", json!({}))]),
        Reply::text("never asked"),
    ]);
    let (crashed, _, events) = run(
        &double,
        ProviderKind::Anthropic,
        &tools,
        ToolLimits::default(),
    )
    .await;
    let Err(RuntimeError::ToolUnavailable { tool, reason }) = crashed else {
        panic!("the step fails: {crashed:?}");
    };
    assert_eq!(tool, "crash");
    assert!(reason.contains("MCP server `double` stopped"), "{reason}");
    assert_eq!(double.request_count(), 1);
    assert_eq!(events.len(), 1, "the call was heard, no answer: {events:?}");

    // The next step that uses the dead server fails the same clean way…
    let double = ProviderDouble::start().await.unwrap();
    double.push_all([Reply::tool_calls([("add", json!({"a": 1, "b": 2}))])]);
    let (again, _, _) = run(&double, ProviderKind::Gemini, &tools, ToolLimits::default()).await;
    assert!(
        matches!(&again, Err(RuntimeError::ToolUnavailable { tool, .. }) if tool == "add"),
        "{again:?}"
    );
    // …and nothing else breaks: other tools still work.
    let double = ProviderDouble::start().await.unwrap();
    double.push_all([
        Reply::tool_calls([("calculator", json!({"expression": "2 + 2"}))]),
        Reply::text("Four."),
    ]);
    let (fine, _, _) = run(
        &double,
        ProviderKind::OpenAiCompatible,
        &tools,
        ToolLimits::default(),
    )
    .await;
    assert_eq!(fine.unwrap(), "Four.");
    assert_eq!(double.requests()[1].tool_results()[0].1, "4");
}
