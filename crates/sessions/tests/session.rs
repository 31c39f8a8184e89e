//! A sandbox session end to end against the provider double: the graph's
//! agent nodes as the team, the manager's plan, parallel branches along the
//! graph's edges, a conflict settled by the judge, and the chat kept in the
//! session's document in the order it happened.

use std::future::Future;
use std::sync::Arc;

use orrery_domain::{Agent, ChatRole, Edge, Graph, Node, NodeKind, Position};
use orrery_runtime::double::{Gate, PATIENCE, ProviderDouble, RecordedRequest, Reply};
use orrery_runtime::{CancellationToken, ProviderKind, SandboxEvent};
use orrery_sessions::{RunUpdate, SessionRunner};
use orrery_store::LocalStore;
use orrery_sync::Replica;

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} took longer than {PATIENCE:?}"),
    }
}

const TASK: &str = "Describe Lisbon in one line.";
const RESEARCH: &str = "Lisbon has seven hills, trams and pastries.";
const WRITER: &str = "Lisbon: hills, trams, pastries.";
const CHECKER: &str = "Lisbon sits on seven hills.";
const EDITOR: &str = "Lisbon, city of hills and trams.";

struct Team {
    graph: Graph,
    researcher: Node,
    writer: Node,
    checker: Node,
    editor: Node,
}

/// Researcher → Writer, Researcher → Fact-checker, Researcher → Editor, and
/// a tool node that is not part of the team.
fn team_graph() -> Team {
    let mut graph = Graph::new("Lisbon desk");
    let node = |label: &str, x: f32| Node::new(NodeKind::Agent, label, Position::new(x, 0.0, 0.0));
    let (researcher, writer, checker, editor) = (
        node("Researcher", 0.0),
        node("Writer", 3.0),
        node("Fact-checker", 6.0),
        node("Editor", 9.0),
    );
    for member in [&researcher, &writer, &checker, &editor] {
        graph.add_node(member.clone());
    }
    let tool = Node::new(NodeKind::Tool, "Search", Position::new(0.0, 3.0, 0.0));
    graph.add_node(tool.clone());
    for to in [&writer, &checker, &editor] {
        graph.add_edge(Edge::new(researcher.id, to.id)).unwrap();
    }
    Team {
        graph,
        researcher,
        writer,
        checker,
        editor,
    }
}

fn library_agent(name: &str, system: &str) -> Agent {
    let mut agent = Agent::new(name);
    agent.system_prompt = system.into();
    agent
}

fn plan(team: &Team) -> String {
    format!(
        r#"{{"steps": [
            {{"id": "s1", "agent": "{}", "task": "Collect facts about Lisbon."}},
            {{"id": "s2", "agent": "{}", "task": "Write the line.", "depends_on": ["s1"]}},
            {{"id": "s3", "agent": "{}", "task": "Write the line, facts only.", "depends_on": ["s1"]}},
            {{"id": "s4", "agent": "{}", "task": "Write the line, edited.", "depends_on": ["s1"]}}
        ], "final": ["s2", "s3", "s4"]}}"#,
        team.researcher.id, team.writer.id, team.checker.id, team.editor.id
    )
}

const SCORES: &str = r#"{"scores": [
    {"step": "s2", "score": 6, "reason": "lively but vague"},
    {"step": "s3", "score": 9, "reason": "accurate and short"},
    {"step": "s4", "score": 5, "reason": "flowery"}
]}"#;

async fn replica_in(directory: &std::path::Path) -> Replica {
    Replica::new(LocalStore::open(&directory.join("local.db")).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_run_dispatches_along_graph() {
    let directory = tempfile::tempdir().unwrap();
    let replica = replica_in(directory.path()).await;
    let team = team_graph();
    replica.add_graph(team.graph.clone()).await.unwrap();
    // The library: a manager, a judge, and the researcher with its own prompt;
    // the other members are plain agents named after their nodes.
    for (name, system) in [
        ("Manager", "You manage."),
        ("Judge", "You judge."),
        ("Researcher", "You research."),
    ] {
        replica
            .save_agent(&library_agent(name, system))
            .await
            .unwrap();
    }

    let double = ProviderDouble::start().await.unwrap();
    let gate = Gate::new();
    let plan_text = plan(&team);
    let branches_gate = gate.clone();
    double.set_responder(move |request: &RecordedRequest| {
        let system = request.system().unwrap_or_default();
        Some(if system.starts_with("You manage.") {
            Reply::text(plan_text.clone())
        } else if system.starts_with("You research.") {
            Reply::chunked(RESEARCH, 4)
        } else if system.starts_with("You are Writer") {
            Reply::text(WRITER).after(&branches_gate)
        } else if system.starts_with("You are Fact-checker") {
            Reply::text(CHECKER).after(&branches_gate)
        } else if system.starts_with("You are Editor") {
            Reply::text(EDITOR).after(&branches_gate)
        } else if system.starts_with("You judge.") {
            Reply::text(SCORES)
        } else {
            return None;
        })
    });
    let provider = Arc::new(double.provider(ProviderKind::OpenAiCompatible).unwrap());
    let runner = SessionRunner::new(replica.clone(), provider).with_max_parallel(3);
    let (updates, mut received) = tokio::sync::mpsc::unbounded_channel();
    let graph_id = team.graph.id;
    let running = {
        let runner = runner.clone();
        tokio::spawn(async move {
            runner
                .run(graph_id, TASK, CancellationToken::new(), updates)
                .await
        })
    };

    // Plan, research, then the three branches in flight together.
    within("five requests", double.wait_for_requests(5)).await;
    within("three parallel branches", double.wait_in_flight(3)).await;
    gate.open();
    let outcome = within("the run", running).await.unwrap().unwrap();
    assert_eq!(outcome.answers["s1"], RESEARCH);
    let decision = outcome.decision.clone().expect("the conflict was settled");
    assert_eq!(
        (decision.method.as_str(), decision.winner.as_str()),
        ("judge", "s3")
    );
    assert_eq!(outcome.answer, CHECKER);

    // The research reached each branch along its edge.
    let mut updates = Vec::new();
    while let Ok(update) = received.try_recv() {
        updates.push(update);
    }
    let Some(RunUpdate::Started {
        session, members, ..
    }) = updates.first().cloned()
    else {
        panic!("the run starts with Started: {updates:?}");
    };
    assert_eq!(members.len(), 4, "the tool node is not a member");
    let carried: Vec<(String, String)> = updates
        .iter()
        .filter_map(|update| match update {
            RunUpdate::Event(SandboxEvent::EdgeMessage {
                from_step,
                from_agent,
                to_agent,
                text,
                ..
            }) => {
                assert_eq!((from_step.as_str(), text.as_str()), ("s1", RESEARCH));
                Some((from_agent.clone(), to_agent.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(carried.len(), 3);
    let mut receivers: Vec<&str> = carried
        .iter()
        .map(|(from, to)| {
            assert_eq!(from, "Researcher");
            to.as_str()
        })
        .collect();
    receivers.sort();
    assert_eq!(receivers, ["Editor", "Fact-checker", "Writer"]);
    assert!(matches!(
        updates.last(),
        Some(RunUpdate::Ended { answer: Some(answer), reason: None, .. }) if answer == CHECKER
    ));

    // The chat, in the order it happened, as stored (a fresh replica on the
    // same file reads it back).
    let finished_order: Vec<String> = updates
        .iter()
        .filter_map(|update| match update {
            RunUpdate::Event(SandboxEvent::StepFinished { agent, .. }) => Some(agent.clone()),
            _ => None,
        })
        .collect();
    drop(replica);
    let stored = replica_in(directory.path())
        .await
        .session(session)
        .await
        .unwrap();
    assert_eq!(stored.graph, Some(team.graph.id));
    let chat: Vec<(ChatRole, String)> = stored
        .messages
        .iter()
        .map(|message| (message.role, message.author.clone()))
        .collect();
    let mut expected = vec![
        (ChatRole::User, "You".to_owned()),
        (ChatRole::Manager, "Manager".to_owned()),
    ];
    expected.extend(
        finished_order
            .iter()
            .map(|name| (ChatRole::Agent, name.clone())),
    );
    expected.push((ChatRole::System, "Sandbox".to_owned()));
    expected.push((ChatRole::Manager, "Manager".to_owned()));
    assert_eq!(chat, expected);
    assert_eq!(finished_order[0], "Researcher");
    assert_eq!(stored.messages[0].text, TASK);
    assert!(
        stored.messages[1]
            .text
            .starts_with("Plan:\ns1. Researcher — Collect facts")
    );
    let decision_text = &stored.messages[6].text;
    assert!(
        decision_text.contains("Conflict settled by judge"),
        "{decision_text}"
    );
    assert!(
        decision_text.contains("accurate and short"),
        "{decision_text}"
    );
    assert_eq!(stored.messages[7].text, CHECKER);
    let times: Vec<&str> = stored
        .messages
        .iter()
        .map(|message| message.at.as_str())
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "{times:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops_its_calls_and_says_so_in_the_chat() {
    let directory = tempfile::tempdir().unwrap();
    let replica = replica_in(directory.path()).await;
    let team = team_graph();
    replica.add_graph(team.graph.clone()).await.unwrap();
    replica
        .save_agent(&library_agent("Manager", "You manage."))
        .await
        .unwrap();
    let double = ProviderDouble::start().await.unwrap();
    let plan_text = plan(&team);
    double.set_responder(move |request: &RecordedRequest| {
        let system = request.system().unwrap_or_default();
        Some(if system.starts_with("You manage.") {
            Reply::text(plan_text.clone())
        } else {
            // Every member starts answering, then goes silent.
            Reply::stall("Working on it", 2)
        })
    });
    let provider = Arc::new(double.provider(ProviderKind::OpenAiCompatible).unwrap());
    let runner = SessionRunner::new(replica.clone(), provider);
    let (updates, mut received) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let running = {
        let (runner, cancel, graph) = (runner.clone(), cancel.clone(), team.graph.id);
        tokio::spawn(async move { runner.run(graph, TASK, cancel, updates).await })
    };
    // The researcher's tokens arrive; then the user cancels.
    loop {
        match within("a token", received.recv()).await {
            Some(RunUpdate::Event(SandboxEvent::StepToken { .. })) => break,
            Some(_) => continue,
            None => panic!("the run ended before any token"),
        }
    }
    assert_eq!(double.in_flight(), 1);
    cancel.cancel();
    let error = within("the cancelled run", running)
        .await
        .unwrap()
        .unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    within("every call closed", double.wait_in_flight(0)).await;
    let session = runner.session_for(&team.graph).await.unwrap();
    let last = session.messages.last().unwrap();
    assert_eq!(
        (last.role, last.text.as_str()),
        (ChatRole::System, "Run cancelled.")
    );
}

#[tokio::test]
async fn bad_tasks_and_graphs_without_agents_are_refused_before_any_call() {
    let directory = tempfile::tempdir().unwrap();
    let replica = replica_in(directory.path()).await;
    let mut lonely = Graph::new("Tools only");
    lonely.add_node(Node::new(
        NodeKind::Tool,
        "Search",
        Position::new(0.0, 0.0, 0.0),
    ));
    replica.add_graph(lonely.clone()).await.unwrap();
    let team = team_graph();
    replica.add_graph(team.graph.clone()).await.unwrap();
    let double = ProviderDouble::start().await.unwrap();
    let provider = Arc::new(double.provider(ProviderKind::OpenAiCompatible).unwrap());
    let runner = SessionRunner::new(replica.clone(), provider);
    let run = |graph, task: String| {
        let runner = runner.clone();
        async move {
            let (updates, _received) = tokio::sync::mpsc::unbounded_channel();
            runner
                .run(graph, &task, CancellationToken::new(), updates)
                .await
        }
    };
    let empty = run(team.graph.id, "  \n ".into()).await.unwrap_err();
    assert!(empty.to_string().contains("type a task"), "{empty}");
    let long = run(team.graph.id, "x".repeat(100_001)).await.unwrap_err();
    assert!(
        long.to_string().contains("at most 100000 characters"),
        "{long}"
    );
    let no_agents = run(lonely.id, "Find things".into()).await.unwrap_err();
    assert!(
        no_agents.to_string().contains("has no agent nodes"),
        "{no_agents}"
    );
    let unknown = run(orrery_domain::GraphId::new(), "Find things".into())
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("not in the library"),
        "{unknown}"
    );
    assert_eq!(double.request_count(), 0);
    assert!(
        replica
            .list_documents(orrery_domain::DocumentKind::Session)
            .await
            .unwrap()
            .is_empty(),
        "nothing was written"
    );
}

/// A session whose only library agent is the manager.
async fn with_manager(directory: &std::path::Path) -> Replica {
    let replica = replica_in(directory).await;
    replica
        .save_agent(&library_agent("Manager", "You manage."))
        .await
        .unwrap();
    replica
}

/// Runs `task` on `graph` to its end; the updates come back with the outcome.
async fn run_to_end(
    runner: &SessionRunner,
    graph: orrery_domain::GraphId,
) -> (
    Result<orrery_runtime::SandboxOutcome, orrery_sessions::SessionError>,
    Vec<RunUpdate>,
) {
    let (updates, mut received) = tokio::sync::mpsc::unbounded_channel();
    let outcome = within(
        "the run",
        runner.run(graph, TASK, CancellationToken::new(), updates),
    )
    .await;
    let mut seen = Vec::new();
    while let Ok(update) = received.try_recv() {
        seen.push(update);
    }
    (outcome, seen)
}

/// A prompt node with an edge into an agent node: the library prompt of
/// that name is the agent's instructions (its active version, with the
/// run's `{{variables}}` filled), and the prompt's output validators check
/// every answer the agent gives with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_node_instructs_its_agent_and_its_validators_check_every_output() {
    use orrery_domain::{PromptValidator, Validator};
    let directory = tempfile::tempdir().unwrap();
    let replica = with_manager(directory.path()).await;
    let mut graph = Graph::new("Fact desk");
    let at = |x: f32| Position::new(x, 0.0, 0.0);
    let sheet = Node::new(NodeKind::Prompt, "Fact sheet", at(0.0));
    let researcher = Node::new(NodeKind::Agent, "Researcher", at(3.0));
    let writer = Node::new(NodeKind::Agent, "Writer", at(6.0));
    for node in [&sheet, &researcher, &writer] {
        graph.add_node(node.clone());
    }
    graph.add_edge(Edge::new(sheet.id, researcher.id)).unwrap();
    graph.add_edge(Edge::new(researcher.id, writer.id)).unwrap();
    replica.add_graph(graph.clone()).await.unwrap();

    // The prompt: no published version yet.
    let mut prompt = orrery_domain::Prompt::new("Fact sheet");
    prompt.validators = vec![
        PromptValidator::on_output(Validator::Contains {
            text: "Sources:".into(),
            ignore_case: false,
        }),
        // Checks the prompt's text, not answers: it does not stop a run.
        PromptValidator::on_content(Validator::Length {
            min: None,
            max: Some(5),
        }),
    ];
    let prompt = replica.save_prompt(&prompt).await.unwrap();

    let double = ProviderDouble::start().await.unwrap();
    let plan_text = format!(
        r#"{{"steps": [
            {{"id": "s1", "agent": "{}", "task": "Collect facts."}},
            {{"id": "s2", "agent": "{}", "task": "Write the line.", "depends_on": ["s1"]}}
        ]}}"#,
        researcher.id, writer.id
    );
    let research = Arc::new(std::sync::Mutex::new(RESEARCH.to_owned()));
    let answer = research.clone();
    double.set_responder(move |request: &RecordedRequest| {
        let system = request.system().unwrap_or_default();
        Some(if system.starts_with("You manage.") {
            Reply::text(plan_text.clone())
        } else if system.starts_with("You are Researcher") {
            Reply::text(answer.lock().unwrap().clone())
        } else if system.starts_with("You are Writer") {
            Reply::text(WRITER)
        } else {
            return None;
        })
    });
    let provider = Arc::new(double.provider(ProviderKind::OpenAiCompatible).unwrap());
    let runner = SessionRunner::new(replica.clone(), provider);

    let (unpublished, _) = run_to_end(&runner, graph.id).await;
    let unpublished = unpublished.unwrap_err().to_string();
    assert!(
        unpublished.contains("the prompt “Fact sheet” (on Researcher) has no published version"),
        "{unpublished}"
    );
    // A version using a variable a run does not fill is refused by name.
    let odd = replica
        .add_prompt_version(prompt.id, "Write for {{audience}}.")
        .await
        .unwrap();
    replica
        .publish_prompt_version(prompt.id, odd.id)
        .await
        .unwrap();
    let (unfilled, _) = run_to_end(&runner, graph.id).await;
    let unfilled = unfilled.unwrap_err().to_string();
    assert!(
        unfilled.contains("uses {{audience}}, which a run does not fill: a run fills {{task}}, {{agent}}, {{graph}}"),
        "{unfilled}"
    );
    assert_eq!(double.request_count(), 0, "refused before any call");

    let good = replica
        .add_prompt_version(
            prompt.id,
            "As {{agent}} of {{graph}}, list facts for: {{task}} End with Sources:",
        )
        .await
        .unwrap();
    replica
        .publish_prompt_version(prompt.id, good.id)
        .await
        .unwrap();

    // An answer without "Sources:" fails the prompt's check: the step stops
    // there, and the chat keeps the answer and the failed check.
    let (rejected, updates) = run_to_end(&runner, graph.id).await;
    assert!(rejected.is_err());
    let asked = double.requests();
    let researcher_call = asked
        .iter()
        .find(|request| {
            request
                .system()
                .unwrap_or_default()
                .starts_with("You are Researcher")
        })
        .expect("the researcher was asked");
    assert!(
        researcher_call.system().unwrap().ends_with(&format!(
            "As Researcher of Fact desk, list facts for: {TASK} End with Sources:"
        )),
        "{:?}",
        researcher_call.system()
    );
    assert!(
        !asked.iter().any(|request| request
            .system()
            .unwrap_or_default()
            .starts_with("You are Writer")),
        "the writer never got the rejected answer"
    );
    assert!(updates.iter().any(|update| matches!(
        update,
        RunUpdate::Event(SandboxEvent::OutputRejected { prompt, .. }) if prompt == "Fact sheet"
    )));
    let session = runner.session_for(&graph).await.unwrap();
    let chat: Vec<(&str, &str)> = session
        .messages
        .iter()
        .map(|message| (message.author.as_str(), message.text.as_str()))
        .collect();
    assert_eq!(
        chat[chat.len() - 3..],
        [
            ("Researcher", RESEARCH),
            (
                "Sandbox",
                "Researcher's answer fails the checks of the prompt “Fact sheet”:\n\
                 contains “Sources:” validator: the output does not contain “Sources:”"
            ),
            (
                "Sandbox",
                "The run failed: step “s1” (Researcher) failed: the output was rejected: \
                 contains “Sources:” validator: the output does not contain “Sources:”"
            ),
        ]
    );

    // An answer that passes goes on to the writer.
    *research.lock().unwrap() = format!("{RESEARCH} Sources: a guidebook.");
    let (passed, _) = run_to_end(&runner, graph.id).await;
    assert_eq!(passed.unwrap().answer, WRITER);
}

/// A custom agent is a graph saved as one agent: an agent node naming it
/// runs that graph's agents as a team of their own, and custom agents nest
/// (here two levels deep). One that ends up containing itself is refused
/// before any call, naming the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_agent_runs_its_graph_nested_and_one_containing_itself_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let replica = with_manager(directory.path()).await;
    let at = |x: f32| Position::new(x, 0.0, 0.0);
    let agent_node = |label: &str, x: f32| Node::new(NodeKind::Agent, label, at(x));

    // "Archive": one archivist.
    let mut archive = Graph::new("Archive");
    let archivist = agent_node("Archivist", 0.0);
    archive.add_node(archivist.clone());
    // "Research desk": the Archive custom agent → a fact-checker.
    let mut desk = Graph::new("Research desk");
    let (archive_node, checker) = (agent_node("Archive", 0.0), agent_node("Fact-checker", 3.0));
    desk.add_node(archive_node.clone());
    desk.add_node(checker.clone());
    desk.add_edge(Edge::new(archive_node.id, checker.id))
        .unwrap();
    // "Lisbon article": the Research desk custom agent → a writer.
    let mut article = Graph::new("Lisbon article");
    let (desk_node, writer) = (agent_node("Research desk", 0.0), agent_node("Writer", 3.0));
    article.add_node(desk_node.clone());
    article.add_node(writer.clone());
    article
        .add_edge(Edge::new(desk_node.id, writer.id))
        .unwrap();
    for graph in [&archive, &desk, &article] {
        replica.add_graph(graph.clone()).await.unwrap();
    }
    for (name, graph) in [("Archive", archive.id), ("Research desk", desk.id)] {
        let mut custom = Agent::new(name);
        custom.description = format!("the {name} graph as one agent");
        custom.graph = Some(graph);
        replica.save_agent(&custom).await.unwrap();
    }

    let double = ProviderDouble::start().await.unwrap();
    // Each manager plans for the team its system prompt describes.
    let plans = [
        (
            archivist.id.to_string(),
            format!(
                r#"{{"steps": [{{"id": "a1", "agent": "{}", "task": "Find records."}}]}}"#,
                archivist.id
            ),
        ),
        (
            checker.id.to_string(),
            format!(
                r#"{{"steps": [{{"id": "d1", "agent": "{}", "task": "Dig."}},
                    {{"id": "d2", "agent": "{}", "task": "Check.", "depends_on": ["d1"]}}]}}"#,
                archive_node.id, checker.id
            ),
        ),
        (
            writer.id.to_string(),
            format!(
                r#"{{"steps": [{{"id": "s1", "agent": "{}", "task": "Research."}},
                    {{"id": "s2", "agent": "{}", "task": "Write.", "depends_on": ["s1"]}}]}}"#,
                desk_node.id, writer.id
            ),
        ),
    ];
    double.set_responder(move |request: &RecordedRequest| {
        let system = request.system().unwrap_or_default();
        Some(if system.starts_with("You manage.") {
            let (_, plan) = plans
                .iter()
                .find(|(member, _)| system.contains(member.as_str()))?;
            Reply::text(plan.clone())
        } else if system.starts_with("You are Archivist") {
            Reply::text(RESEARCH)
        } else if system.starts_with("You are Fact-checker") {
            Reply::text(CHECKER)
        } else if system.starts_with("You are Writer") {
            Reply::text(WRITER)
        } else {
            return None;
        })
    });
    let provider = Arc::new(double.provider(ProviderKind::OpenAiCompatible).unwrap());
    let runner = SessionRunner::new(replica.clone(), provider);
    let (outcome, updates) = run_to_end(&runner, article.id).await;
    let outcome = outcome.unwrap();
    assert_eq!(
        outcome.answers["s1"], CHECKER,
        "the desk answers with its inner run's answer"
    );
    assert_eq!(outcome.answer, WRITER);
    let writer_call = double
        .requests()
        .into_iter()
        .find(|request| {
            request
                .system()
                .unwrap_or_default()
                .starts_with("You are Writer")
        })
        .unwrap();
    assert!(writer_call.texts().join("\n").contains(CHECKER));
    let Some(RunUpdate::Started { members, .. }) = updates.first() else {
        panic!("{updates:?}");
    };
    assert_eq!(
        members.len(),
        5,
        "every level's members are named: {members:?}"
    );

    let session = runner.session_for(&article).await.unwrap();
    let authors: Vec<&str> = session
        .messages
        .iter()
        .map(|message| message.author.as_str())
        .collect();
    assert_eq!(
        authors,
        [
            "You",
            "Manager",
            "Research desk › Manager",
            "Research desk › Archive › Manager",
            "Research desk › Archive › Archivist",
            "Research desk › Archive",
            "Research desk › Fact-checker",
            "Research desk",
            "Writer",
            "Manager",
        ]
    );
    assert_eq!(session.messages[4].text, RESEARCH);
    assert_eq!(session.messages[7].text, CHECKER);

    // The Archive's graph gets a Research desk node: the desk now contains
    // itself through the archive. Refused before any call, nothing written.
    replica
        .apply_edit(
            archive.id,
            &orrery_domain::GraphEdit::AddNode(agent_node("Research desk", 3.0)),
        )
        .await
        .unwrap();
    let calls = double.request_count();
    let (refused, _) = run_to_end(&runner, article.id).await;
    let refused = refused.unwrap_err().to_string();
    assert!(
        refused.contains(
            "the custom agent “Research desk” contains itself (Research desk → Archive → Research desk)"
        ),
        "{refused}"
    );
    assert_eq!(double.request_count(), calls);
    let after = runner.session_for(&article).await.unwrap();
    assert_eq!(
        after.messages.len(),
        session.messages.len(),
        "nothing was written"
    );
}

/// A tool node joined to an agent node gives that agent the tool in a run:
/// the model is offered it, its calls run, what it gave goes back to the
/// model and into the chat; a tool node that names no tool a run can use
/// is refused before any call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_nodes_give_their_agents_tools() {
    let directory = tempfile::tempdir().unwrap();
    let replica = with_manager(directory.path()).await;
    let mut graph = Graph::new("Sums");
    let at = |x: f32| Position::new(x, 0.0, 0.0);
    let calculator = Node::new(NodeKind::Tool, "Calculator", at(0.0));
    let counter = Node::new(NodeKind::Agent, "Counter", at(3.0));
    let writer = Node::new(NodeKind::Agent, "Writer", at(6.0));
    for node in [&calculator, &counter, &writer] {
        graph.add_node(node.clone());
    }
    graph
        .add_edge(Edge::new(calculator.id, counter.id))
        .unwrap();
    graph.add_edge(Edge::new(counter.id, writer.id)).unwrap();
    replica.add_graph(graph.clone()).await.unwrap();

    let double = ProviderDouble::start().await.unwrap();
    let plan_text = format!(
        r#"{{"steps": [
            {{"id": "s1", "agent": "{}", "task": "Add the numbers."}},
            {{"id": "s2", "agent": "{}", "task": "Say the sum.", "depends_on": ["s1"]}}
        ]}}"#,
        counter.id, writer.id
    );
    double.set_responder(move |request: &RecordedRequest| {
        let system = request.system().unwrap_or_default();
        Some(if system.starts_with("You manage.") {
            Reply::text(plan_text.clone())
        } else if system.starts_with("You are Counter") && request.tool_results().is_empty() {
            Reply::tool_calls([("calculator", serde_json::json!({"expression": "19 + 23"}))])
        } else if system.starts_with("You are Counter") {
            Reply::text("The sum is 42.")
        } else if system.starts_with("You are Writer") {
            Reply::text("Forty-two.")
        } else {
            return None;
        })
    });
    let provider = Arc::new(double.provider(ProviderKind::OpenAiCompatible).unwrap());
    let runner = SessionRunner::new(replica.clone(), provider);
    let (outcome, updates) = run_to_end(&runner, graph.id).await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.answers["s1"], "The sum is 42.");

    let requests = double.requests();
    let counter_requests: Vec<_> = requests
        .iter()
        .filter(|request| {
            request
                .system()
                .unwrap_or_default()
                .starts_with("You are Counter")
        })
        .collect();
    assert_eq!(counter_requests.len(), 2, "a call, then the answer");
    assert_eq!(counter_requests[0].tool_names(), ["calculator"]);
    assert_eq!(counter_requests[1].tool_results()[0].1, "42");
    let writer_request = requests
        .iter()
        .find(|request| {
            request
                .system()
                .unwrap_or_default()
                .starts_with("You are Writer")
        })
        .unwrap();
    assert!(
        writer_request.tool_names().is_empty(),
        "only the joined agent has the tool"
    );
    assert!(
        updates.iter().any(|update| matches!(update,
            RunUpdate::Event(SandboxEvent::ToolAnswered { tool, content, is_error: false, .. })
                if tool == "calculator" && content == "42")),
        "the chat hears what the tool gave"
    );
    let Some(RunUpdate::Started { session, .. }) = updates.first() else {
        panic!("{updates:?}");
    };
    let chat = replica.session(*session).await.unwrap();
    assert!(
        chat.messages
            .iter()
            .any(|message| message.role == ChatRole::System && message.text == "calculator → 42"),
        "the chat keeps it"
    );

    // A tool node that names no tool a run can use is refused, with its name.
    let mut unknown = graph.clone();
    if let Some(node) = unknown.nodes.get_mut(&calculator.id) {
        node.label = "Web search".into();
    }
    unknown.id = orrery_domain::GraphId::new();
    replica.add_graph(unknown.clone()).await.unwrap();
    let before = double.request_count();
    let (refused, _) = run_to_end(&runner, unknown.id).await;
    let refused = refused.unwrap_err().to_string();
    assert!(
        refused.contains("the tool node “Web search” names no tool"),
        "{refused}"
    );
    assert_eq!(double.request_count(), before, "no model was called");
}
