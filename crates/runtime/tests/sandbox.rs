//! Sandbox runs against the provider double: the manager's plan, dispatch
//! along the graph's edges (dependencies first, branches in parallel under a
//! bound), conflicts settled by a judge or a vote, cancellation of the run.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orrery_domain::Agent;
use orrery_runtime::double::{Gate, PATIENCE, ProviderDouble, RecordedRequest, Reply};
use orrery_runtime::{
    CancellationToken, ProviderKind, Resolution, RuntimeError, Sandbox, SandboxEvent, Team,
};

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} took longer than {PATIENCE:?}"),
    }
}

fn agent(name: &str, system: &str) -> Agent {
    let mut agent = Agent::new(name);
    agent.system_prompt = system.into();
    agent.description = format!("the team's {}", name.to_lowercase());
    agent
}

/// Researcher → Writer, Researcher → Fact-checker, Researcher → Editor.
fn team() -> Team {
    let mut team = Team::new();
    team.add("r", agent("Researcher", "You research."))
        .add("w", agent("Writer", "You write."))
        .add("f", agent("Fact-checker", "You check facts."))
        .add("e", agent("Editor", "You edit."));
    for to in ["w", "f", "e"] {
        team.connect("r", to).unwrap();
    }
    team
}

const TASK: &str = "Describe Lisbon in one line.";
const PLAN: &str = r#"{"steps": [
    {"id": "s1", "agent": "r", "task": "Collect facts about Lisbon."},
    {"id": "s2", "agent": "w", "task": "Write the line.", "depends_on": ["s1"]},
    {"id": "s3", "agent": "f", "task": "Write the line, facts only.", "depends_on": ["s1"]},
    {"id": "s4", "agent": "e", "task": "Write the line, edited.", "depends_on": ["s1"]}
], "final": ["s2", "s3", "s4"]}"#;
const RESEARCH: &str = "Lisbon has seven hills, trams and pastries.";
const WRITER: &str = "Lisbon: hills, trams, pastries.";
const CHECKER: &str = "Lisbon sits on seven hills.";
const EDITOR: &str = "  lisbon: hills, trams, pastries. ";
const SCORES: &str = r#"{"scores": [
    {"step": "s2", "score": 6, "reason": "lively but vague"},
    {"step": "s3", "score": 9, "reason": "accurate and short"},
    {"step": "s4", "score": 5, "reason": "same as s2"}
]}"#;

fn system_of(request: &RecordedRequest) -> String {
    request.system().unwrap_or_default()
}

/// Answers each agent by its system prompt; the three branches wait behind `gate`.
fn respond(gate: Option<Gate>) -> impl Fn(&RecordedRequest) -> Option<Reply> + Send + Sync {
    move |request| {
        let system = system_of(request);
        let gated = |reply: Reply| match &gate {
            Some(gate) => reply.after(gate),
            None => reply,
        };
        Some(if system.starts_with("You manage.") {
            Reply::text(PLAN)
        } else if system == "You research." {
            Reply::chunked(RESEARCH, 4)
        } else if system == "You write." {
            gated(Reply::text(WRITER))
        } else if system == "You check facts." {
            gated(Reply::text(CHECKER))
        } else if system == "You edit." {
            gated(Reply::text(EDITOR))
        } else if system == "You judge." {
            Reply::text(SCORES)
        } else {
            return None;
        })
    }
}

fn position(events: &[SandboxEvent], wanted: impl Fn(&SandboxEvent) -> bool) -> usize {
    events
        .iter()
        .position(wanted)
        .expect("the event was reported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_runs_along_the_team_edges_with_parallel_branches_and_a_judge() {
    let double = ProviderDouble::start().await.unwrap();
    let gate = Gate::new();
    double.set_responder(respond(Some(gate.clone())));
    let provider = Arc::new(double.provider(ProviderKind::OpenAiCompatible).unwrap());
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let sandbox = Sandbox::new(provider, agent("Manager", "You manage."), team(), events)
        .with_max_parallel(3)
        .with_resolution(Resolution::Judge(agent("Judge", "You judge.")));
    let run = tokio::spawn(async move { sandbox.run(TASK, CancellationToken::new()).await });

    // The three branches after the research are in flight at once: plan,
    // research and three branches were asked, and the three (held behind
    // the gate) are open together.
    within("five requests", double.wait_for_requests(5)).await;
    within("three parallel branches", double.wait_in_flight(3)).await;
    assert_eq!(double.request_count(), 5);
    gate.open();
    let outcome = within("the run", run).await.unwrap().unwrap();

    // The answers, and the conflict settled by the judge with its reasons.
    assert_eq!(outcome.answers["s1"], RESEARCH);
    assert_eq!(outcome.answers["s2"], WRITER);
    assert_eq!(outcome.answers["s3"], CHECKER);
    assert_eq!(outcome.answers["s4"], EDITOR);
    let decision = outcome.decision.clone().expect("a decision");
    assert_eq!(decision.method, "judge");
    assert_eq!(decision.winner, "s3");
    assert_eq!(
        decision
            .standings
            .iter()
            .map(|standing| (
                standing.step.as_str(),
                standing.score,
                standing.reason.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            ("s2", 6.0, "lively but vague"),
            ("s3", 9.0, "accurate and short"),
            ("s4", 5.0, "same as s2")
        ]
    );
    assert_eq!(
        decision.summary,
        "Judge scored s3 with 9/10: accurate and short"
    );
    assert_eq!(outcome.answer, CHECKER);

    // What each agent was sent: the manager sees the team and its edges;
    // each branch gets the research carried along its edge.
    let requests = double.requests();
    assert_eq!(requests.len(), 6);
    let manager = &requests[0];
    assert!(system_of(manager).contains("- r: Researcher — the team's researcher"));
    assert!(system_of(manager).contains("- r -> w"));
    assert_eq!(manager.texts(), [TASK]);
    let research = &requests[1];
    assert_eq!(system_of(research), "You research.");
    assert_eq!(
        research.texts(),
        [format!(
            "Overall task: {TASK}\n\nYour step: Collect facts about Lisbon."
        )]
    );
    for branch in &requests[2..5] {
        let text = &branch.texts()[0];
        assert!(
            text.ends_with(&format!(
                "Answers from earlier steps:\n\n[Researcher (s1)]\n{RESEARCH}"
            )),
            "{text}"
        );
    }
    let judge = &requests[5];
    assert_eq!(system_of(judge), "You judge.");
    for answer in [WRITER, CHECKER, EDITOR] {
        assert!(judge.texts()[0].contains(answer));
    }

    // The events tell the story in order.
    let mut events = Vec::new();
    while let Ok(event) = received.try_recv() {
        events.push(event);
    }
    assert!(matches!(&events[0], SandboxEvent::PlanReady { plan } if plan.steps.len() == 4));
    let research_done = position(
        &events,
        |event| matches!(event, SandboxEvent::StepFinished { step, .. } if step == "s1"),
    );
    let tokens: String = events
        .iter()
        .filter_map(|event| match event {
            SandboxEvent::StepToken { step, text } if step == "s1" => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(tokens, RESEARCH);
    for (step, agent) in [("s2", "Writer"), ("s3", "Fact-checker"), ("s4", "Editor")] {
        let carried = position(&events, |event| {
            matches!(event, SandboxEvent::EdgeMessage { from_step, to_step, from_agent, to_agent, text }
                if from_step == "s1" && to_step == step && from_agent == "Researcher"
                    && to_agent == agent && text == RESEARCH)
        });
        let started = position(
            &events,
            |event| matches!(event, SandboxEvent::StepStarted { step: started, .. } if started == step),
        );
        assert!(
            research_done < carried && carried < started,
            "{step}: {events:#?}"
        );
    }
    let settled = position(
        &events,
        |event| matches!(event, SandboxEvent::ConflictResolved { decision: recorded } if *recorded == decision),
    );
    assert!(matches!(events.last(), Some(SandboxEvent::Finished { answer }) if answer == CHECKER));
    assert_eq!(settled, events.len() - 2);
    assert_eq!(double.in_flight(), 0);
}

#[tokio::test]
async fn sandbox_votes_bounds_parallelism_and_asks_again_for_a_bad_plan() {
    let double = ProviderDouble::start().await.unwrap();
    let plans = Arc::new(AtomicUsize::new(0));
    let respond = respond(None);
    let asked = plans.clone();
    double.set_responder(move |request| {
        if system_of(request).starts_with("You manage.")
            && asked.fetch_add(1, Ordering::SeqCst) == 0
        {
            // A first plan whose step skips the graph's edges.
            return Some(Reply::text(
                r#"{"steps": [{"id": "a", "agent": "w", "task": "t"}, {"id": "b", "agent": "f", "task": "t", "depends_on": ["a"]}]}"#,
            ));
        }
        respond(request)
    });
    let provider = Arc::new(double.provider(ProviderKind::Anthropic).unwrap());
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let sandbox = Sandbox::new(provider, agent("Manager", "You manage."), team(), events)
        .with_max_parallel(1);
    let outcome = within("the run", sandbox.run(TASK, CancellationToken::new()))
        .await
        .unwrap();

    assert_eq!(
        plans.load(Ordering::SeqCst),
        2,
        "the manager was asked again"
    );
    let retry = &double.requests()[1];
    assert!(
        retry
            .texts()
            .last()
            .unwrap()
            .contains("no edge from w to f"),
        "{:?}",
        retry.texts()
    );
    // Writer and Editor agree (case and spaces aside): 2 votes to 1.
    let decision = outcome.decision.unwrap();
    assert_eq!(decision.method, "vote");
    assert_eq!(decision.winner, "s2");
    assert_eq!(
        decision.summary,
        "s2 wins: 2 of 3 final steps gave its answer"
    );
    assert_eq!(outcome.answer, WRITER);
    assert_eq!(double.peak_in_flight(), 1, "one step at a time");
    let mut rejected = false;
    while let Ok(event) = received.try_recv() {
        rejected |= matches!(event, SandboxEvent::PlanRejected { .. });
    }
    assert!(rejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_sandbox_run_stops_every_branch() {
    let double = ProviderDouble::start().await.unwrap();
    let respond = respond(None);
    double.set_responder(move |request| match system_of(request).as_str() {
        "You write." | "You check facts." | "You edit." => Some(Reply::stall("Working", 1)),
        _ => respond(request),
    });
    let provider = Arc::new(double.provider(ProviderKind::Gemini).unwrap());
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    let sandbox = Sandbox::new(provider, agent("Manager", "You manage."), team(), events);
    let cancel = CancellationToken::new();
    let run = tokio::spawn({
        let cancel = cancel.clone();
        async move { sandbox.run(TASK, cancel).await }
    });
    within("three stalled branches", double.wait_in_flight(3)).await;
    cancel.cancel();
    let result = within("the cancelled run", run).await.unwrap();
    assert_eq!(result.unwrap_err(), RuntimeError::Cancelled);
    within("every connection closed", double.wait_in_flight(0)).await;
}

/// A team member that is a whole team (a custom agent): its step is a run
/// of its own, planned by its manager, with its events passed on inside the
/// outer step's, its final answer carried along the outer edge, and every
/// call of both levels under one bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_team_runs_as_one_member_of_the_outer_team() {
    const INNER_PLAN: &str = r#"{"steps": [
        {"id": "i1", "agent": "r", "task": "Collect facts."},
        {"id": "i2", "agent": "f", "task": "Check them.", "depends_on": ["i1"]}
    ]}"#;
    const OUTER_PLAN: &str = r#"{"steps": [
        {"id": "s1", "agent": "desk", "task": "Research Lisbon."},
        {"id": "s2", "agent": "w", "task": "Write the line.", "depends_on": ["s1"]}
    ]}"#;
    let double = ProviderDouble::start().await.unwrap();
    double.set_responder(|request: &RecordedRequest| {
        let system = system_of(request);
        let asked = request.texts().join("\n");
        Some(if system.starts_with("You manage.") {
            // The inner manager is asked the outer step, with the outer task.
            if asked.contains("Your step: Research Lisbon.") {
                Reply::text(INNER_PLAN)
            } else {
                Reply::text(OUTER_PLAN)
            }
        } else if system == "You research." {
            Reply::text(RESEARCH)
        } else if system == "You check facts." {
            Reply::text(CHECKER)
        } else if system == "You write." {
            Reply::text(WRITER)
        } else {
            return None;
        })
    });
    let mut inner = Team::new();
    inner
        .add("r", agent("Researcher", "You research."))
        .add("f", agent("Fact-checker", "You check facts."));
    inner.connect("r", "f").unwrap();
    let mut outer = Team::new();
    outer.nest(
        "desk",
        agent("Research desk", "unused: a team answers"),
        orrery_runtime::sandbox::NestedTeam {
            manager: agent("Manager", "You manage."),
            team: inner,
            resolution: Resolution::Vote,
        },
    );
    outer.add("w", agent("Writer", "You write."));
    outer.connect("desk", "w").unwrap();
    assert!(outer.is_nested("desk") && !outer.is_nested("w"));
    assert_eq!(outer.agent_count(), 3, "the desk counts as its two agents");

    let provider = Arc::new(double.provider(ProviderKind::OpenAiCompatible).unwrap());
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let sandbox =
        Sandbox::new(provider, agent("Manager", "You manage."), outer, events).with_max_parallel(1);
    let outcome = within("the run", sandbox.run(TASK, CancellationToken::new()))
        .await
        .unwrap();
    drop(sandbox);

    // The desk's answer is its inner run's answer, and it reached the writer.
    assert_eq!(outcome.answers["s1"], CHECKER);
    assert_eq!(outcome.answer, WRITER);
    let requests = double.requests();
    let writer = requests
        .iter()
        .find(|request| system_of(request) == "You write.")
        .expect("the writer was asked");
    assert!(writer.texts().join("\n").contains(CHECKER));
    // The outer manager heard the desk described as a team.
    let outer_manager = &requests[0];
    assert!(
        system_of(outer_manager).contains("Research desk (a team of 2 agents working as one)"),
        "{}",
        system_of(outer_manager)
    );
    assert_eq!(double.peak_in_flight(), 1, "one bound over both levels");

    let mut seen = Vec::new();
    while let Ok(event) = received.try_recv() {
        seen.push(event);
    }
    let inner_of = |event: &SandboxEvent| match event {
        SandboxEvent::Nested { step, agent, inner } if step == "s1" && agent == "Research desk" => {
            Some((**inner).clone())
        }
        _ => None,
    };
    let inner_plan = position(&seen, |event| {
        matches!(inner_of(event), Some(SandboxEvent::PlanReady { .. }))
    });
    let inner_research = position(
        &seen,
        |event| matches!(inner_of(event), Some(SandboxEvent::StepFinished { ref text, .. }) if text == RESEARCH),
    );
    let desk_started = position(
        &seen,
        |event| matches!(event, SandboxEvent::StepStarted { step, .. } if step == "s1"),
    );
    let desk_done = position(
        &seen,
        |event| matches!(event, SandboxEvent::StepFinished { step, text, .. } if step == "s1" && text == CHECKER),
    );
    assert!(desk_started < inner_plan && inner_plan < inner_research && inner_research < desk_done);
    assert!(
        seen.iter()
            .filter(|event| matches!(event, SandboxEvent::Finished { .. }))
            .count()
            == 1,
        "the inner run's end is reported inside the desk's step only"
    );
}

/// A member with output checks (its prompt's validators): an answer that
/// fails them is reported with every failure and stops the run before the
/// steps that would have used it.
#[tokio::test]
async fn an_answer_failing_its_prompt_checks_stops_the_step() {
    let double = ProviderDouble::start().await.unwrap();
    double.set_responder(respond(None));
    let mut checked = team();
    checked
        .check_output(
            "r",
            "Fact sheet",
            &[
                orrery_runtime::Validator::Contains {
                    text: "Sources:".into(),
                    ignore_case: false,
                },
                orrery_runtime::Validator::Length {
                    min: None,
                    max: Some(20),
                },
            ],
        )
        .unwrap();
    let provider = Arc::new(double.provider(ProviderKind::OpenAiCompatible).unwrap());
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let sandbox = Sandbox::new(provider, agent("Manager", "You manage."), checked, events);
    let error = within("the run", sandbox.run(TASK, CancellationToken::new()))
        .await
        .unwrap_err();
    let RuntimeError::StepFailed { step, error, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(step, "s1");
    assert!(
        matches!(**error, RuntimeError::OutputRejected(ref failures) if failures.len() == 2),
        "{error}"
    );
    assert_eq!(
        double.request_count(),
        2,
        "plan and research; no branch ran"
    );
    let mut rejected = None;
    while let Ok(event) = received.try_recv() {
        if let SandboxEvent::OutputRejected {
            step,
            prompt,
            text,
            failures,
            ..
        } = event
        {
            rejected = Some((step, prompt, text, failures));
        }
    }
    let (step, prompt, text, failures) = rejected.expect("the rejection was reported");
    assert_eq!((step.as_str(), prompt.as_str()), ("s1", "Fact sheet"));
    assert_eq!(text, RESEARCH);
    assert_eq!(
        failures
            .iter()
            .map(|failure| failure.reason.as_str())
            .collect::<Vec<_>>(),
        [
            "the output does not contain “Sources:”",
            "the output is 43 characters long; the maximum is 20"
        ]
    );

    // A bad pattern is refused when the checks are set, before any call.
    let mut bad = team();
    let refused = bad.check_output(
        "r",
        "Broken",
        &[orrery_runtime::Validator::Regex {
            pattern: "(unclosed".into(),
        }],
    );
    assert!(matches!(
        refused,
        Err(RuntimeError::InvalidValidator { .. })
    ));
    assert!(bad.check_output("nobody", "x", &[]).is_err());
}
