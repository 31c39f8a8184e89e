//! `sandbox`: the sandbox orchestrator at scale.
//!
//! - `overhead_per_step_ms`: a run of `--agents` steps (a tree: each step
//!   uses the answer of its parent along an edge) with a provider that
//!   answers at once in-process, so the time is the orchestrator's own:
//!   planning, validation, dispatch, the messages along edges, events.
//!   Median over `--runs` runs of (run time / calls).
//! - `double_run_ms`: the same run against the provider double — a real
//!   HTTP server on loopback streaming SSE — with the process's resident
//!   memory before and after each of `--runs` runs, to show it stays bounded.

use std::sync::Arc;
use std::time::Instant;

use orrery_domain::Agent;
use orrery_runtime::double::{ProviderDouble, RecordedRequest, Reply};
use orrery_runtime::{
    CancellationToken, ChatRequest, Completion, CompletionStream, Provider, ProviderKind,
    Resolution, Sandbox, StreamEvent, Team, TokenUsage,
};
use serde_json::json;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Agents in the team (one step each).
    pub agents: usize,
    /// Runs per figure (the median is reported).
    pub runs: usize,
    /// Steps at once.
    pub parallel: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            agents: 200,
            runs: 5,
            parallel: 8,
        }
    }
}

/// The team: agent i uses the answer of agent (i − 1) / 2.
fn team(agents: usize) -> Team {
    let mut team = Team::new();
    for index in 0..agents {
        let mut agent = Agent::new(format!("Agent {index}"));
        agent.system_prompt = format!("You are agent {index}.");
        team.add(format!("a{index}"), agent);
    }
    for index in 1..agents {
        team.connect(&format!("a{}", (index - 1) / 2), &format!("a{index}"))
            .expect("both ends are members");
    }
    team
}

/// The manager's plan for that team: one step per agent, the last one final.
fn plan(agents: usize) -> String {
    let steps: Vec<serde_json::Value> = (0..agents)
        .map(|index| {
            let depends: Vec<String> = if index == 0 {
                Vec::new()
            } else {
                vec![format!("s{}", (index - 1) / 2)]
            };
            json!({ "id": format!("s{index}"), "agent": format!("a{index}"),
                    "task": format!("Part {index} of the task."), "depends_on": depends })
        })
        .collect();
    json!({ "steps": steps, "final": [format!("s{}", agents - 1)] }).to_string()
}

fn manager() -> Agent {
    let mut manager = Agent::new("Manager");
    manager.system_prompt = "You manage.".into();
    manager
}

/// Answers at once, without a network: the manager gets the plan, every
/// other agent a short answer.
struct InstantProvider {
    plan: String,
}

impl Provider for InstantProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::OpenAiCompatible
    }

    fn model(&self) -> &str {
        "instant"
    }

    fn stream(&self, request: ChatRequest, _cancel: CancellationToken) -> CompletionStream {
        let text = if request
            .system
            .as_deref()
            .is_some_and(|system| system.starts_with("You manage."))
        {
            self.plan.clone()
        } else {
            "Done: a short answer.".to_owned()
        };
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let _ = sender.try_send(Ok(StreamEvent::Delta(text.clone())));
        let _ = sender.try_send(Ok(StreamEvent::Done(Completion {
            text,
            model: "instant".into(),
            usage: TokenUsage::default(),
            stop_reason: Some("stop".into()),
            attempts: 1,
            latency: std::time::Duration::ZERO,
            first_token: None,
            tool_calls: Vec::new(),
        })));
        CompletionStream::new(receiver)
    }
}

/// One run; returns its wall time in ms and the number of calls it made.
async fn one_run(provider: Arc<dyn Provider>, options: &Options) -> anyhow::Result<(f64, usize)> {
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    // A panel that keeps up: events are drained as they come.
    let drain = tokio::spawn(async move {
        let mut count = 0usize;
        while received.recv().await.is_some() {
            count += 1;
        }
        count
    });
    let sandbox = Sandbox::new(provider, manager(), team(options.agents), events)
        .with_max_parallel(options.parallel)
        .with_resolution(Resolution::Vote);
    let started = Instant::now();
    let outcome = sandbox
        .run("Answer in parts.", CancellationToken::new())
        .await?;
    let elapsed = started.elapsed().as_secs_f64() * 1e3;
    drop(sandbox);
    anyhow::ensure!(
        outcome.answers.len() == options.agents,
        "every step answered"
    );
    drain.await?;
    // The manager's call plus one per step.
    Ok((elapsed, options.agents + 1))
}

fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs both measurements and returns the JSON line.
pub fn run(options: &Options) -> anyhow::Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let plan = plan(options.agents);
        let instant: Arc<dyn Provider> = Arc::new(InstantProvider { plan: plan.clone() });
        one_run(instant.clone(), options).await?; // warm-up
        let mut per_step = Vec::new();
        for _ in 0..options.runs {
            let (ms, calls) = one_run(instant.clone(), options).await?;
            per_step.push(ms / calls as f64);
        }

        let double = ProviderDouble::start().await?;
        double.set_responder(move |request: &RecordedRequest| {
            Some(
                if request
                    .system()
                    .unwrap_or_default()
                    .starts_with("You manage.")
                {
                    Reply::text(plan.clone())
                } else {
                    Reply::chunked("Done: a short answer streamed in pieces.", 4)
                },
            )
        });
        let over_http: Arc<dyn Provider> =
            Arc::new(double.provider(ProviderKind::OpenAiCompatible)?);
        let mut walls = Vec::new();
        let mut resident = vec![resident_mib()];
        for _ in 0..options.runs {
            let (ms, _) = one_run(over_http.clone(), options).await?;
            walls.push(ms);
            // The double records every request; that record is not the run's.
            double.forget_requests();
            resident.push(resident_mib());
        }
        let requests = double.request_count();
        anyhow::ensure!(
            requests == options.runs * (options.agents + 1),
            "the double saw {requests} requests"
        );
        Ok(json!({
            "bench": "sandbox",
            "agents": options.agents,
            "parallel": options.parallel,
            "runs": options.runs,
            "overhead_per_step_ms": (median(per_step) * 1000.0).round() / 1000.0,
            "double_run_ms": median(walls).round(),
            "double_requests": requests,
            "rss_mb_after_each_run": resident.iter().map(|mib| mib.round()).collect::<Vec<_>>(),
            "goals": { "overhead_per_step_ms": 1.0 },
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        }))
    })
}
