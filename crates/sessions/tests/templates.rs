//! Every template runs end to end against the provider double, in each wire
//! format the runtime speaks: the manager's plan reaches every agent node,
//! each agent answers, and answers with a shape pass their prompt's checks.

use std::sync::Arc;

use orrery_domain::templates::{TEMPLATE_KEYS, template};
use orrery_domain::{Graph, Node, NodeKind};
use orrery_runtime::double::{PATIENCE, ProviderDouble, RecordedRequest, Reply};
use orrery_runtime::{CancellationToken, ProviderKind};
use orrery_sessions::SessionRunner;
use orrery_sessions::templates::add_template;
use orrery_store::LocalStore;
use orrery_sync::Replica;

const AT: &str = "2026-12-06T10:00:00.000Z";

/// The agent nodes in an order that respects the edges.
fn in_working_order(graph: &Graph) -> Vec<Node> {
    let mut left: Vec<&Node> = graph
        .nodes
        .values()
        .filter(|node| node.kind == NodeKind::Agent)
        .collect();
    left.sort_by(|a, b| a.position.x.total_cmp(&b.position.x));
    left.into_iter().cloned().collect()
}

/// A plan with one step per agent node, each after the agents that feed it.
fn plan_for(graph: &Graph) -> String {
    let agents = in_working_order(graph);
    let steps: Vec<serde_json::Value> = agents
        .iter()
        .map(|node| {
            let depends_on: Vec<String> = graph
                .edges
                .values()
                .filter(|edge| edge.to == node.id)
                .filter(|edge| agents.iter().any(|agent| agent.id == edge.from))
                .map(|edge| edge.from.to_string())
                .collect();
            serde_json::json!({
                "id": node.id.to_string(),
                "agent": node.id.to_string(),
                "task": format!("Do your part as {}.", node.label),
                "depends_on": depends_on,
            })
        })
        .collect();
    let last = agents.last().expect("a template has agents").id.to_string();
    serde_json::json!({ "steps": steps, "final": [last] }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_run_end_to_end() {
    for kind in ProviderKind::ALL {
        for key in TEMPLATE_KEYS {
            let directory = tempfile::tempdir().unwrap();
            let replica = Replica::new(
                LocalStore::open(&directory.path().join("local.db"))
                    .await
                    .unwrap(),
            );
            let graph = add_template(&replica, key, AT).await.unwrap();
            let expected = template(key, AT).unwrap();
            assert_eq!(graph.name, expected.title);

            let double = ProviderDouble::start().await.unwrap();
            let plan = plan_for(&graph);
            double.set_responder(move |request: &RecordedRequest| {
                let system = request.system().unwrap_or_default();
                Some(Reply::text(if system.starts_with("You coordinate a team") {
                    plan.clone()
                } else if system.contains("triage customer support") {
                    r#"{"category": "billing", "priority": "high", "summary": "Charged twice this month."}"#.to_owned()
                } else if system.contains("extract structured data") {
                    r#"{"title": "Lease", "date": "2026-01-31", "parties": ["Ada", "Grace"], "amount": 1200}"#.to_owned()
                } else {
                    format!("Answer to: {}", system.lines().next().unwrap_or_default())
                }))
            });
            let provider = Arc::new(double.provider(kind).unwrap());
            let runner = SessionRunner::new(replica.clone(), provider);
            let (updates, _received) = tokio::sync::mpsc::unbounded_channel();
            let outcome = tokio::time::timeout(
                PATIENCE,
                runner.run(
                    graph.id,
                    "A customer was charged twice for one order.",
                    CancellationToken::new(),
                    updates,
                ),
            )
            .await
            .unwrap_or_else(|_| panic!("{key} on {kind:?} took longer than {PATIENCE:?}"))
            .unwrap_or_else(|error| panic!("{key} on {kind:?}: {error}"));
            // Every agent node of the template was a step, and each answered.
            for node in in_working_order(&graph) {
                let answer = outcome
                    .answers
                    .get(&node.id.to_string())
                    .unwrap_or_else(|| panic!("{key} on {kind:?}: {} never answered", node.label));
                assert!(
                    !answer.trim().is_empty(),
                    "{key}: {} answered nothing",
                    node.label
                );
            }
            assert!(!outcome.answer.trim().is_empty());
            // The agents worked with the template's instructions: each call
            // after the plan carried its agent's system prompt.
            let systems: Vec<String> = double
                .requests()
                .iter()
                .filter_map(|request| request.system())
                .collect();
            for agent in &expected.agents {
                let first_line = agent.system_prompt.lines().next().unwrap();
                assert!(
                    systems.iter().any(|system| system.contains(first_line)),
                    "{key} on {kind:?}: no call carried {}'s instructions",
                    agent.name
                );
            }
        }
    }
}

#[tokio::test]
async fn a_template_keeps_the_users_own_agents_and_unknown_keys_are_refused() {
    let directory = tempfile::tempdir().unwrap();
    let replica = Replica::new(
        LocalStore::open(&directory.path().join("local.db"))
            .await
            .unwrap(),
    );
    let mut mine = orrery_domain::Agent::new("writer");
    mine.system_prompt = "My own writer.".into();
    replica.save_agent(&mine).await.unwrap();
    let first = add_template(&replica, "research-team", AT).await.unwrap();
    let second = add_template(&replica, "research-team", AT).await.unwrap();
    assert_ne!(
        first.id, second.id,
        "a template used twice makes two graphs"
    );
    let agents = replica
        .list_documents(orrery_domain::DocumentKind::Agent)
        .await
        .unwrap();
    let writers: Vec<_> = agents
        .iter()
        .filter(|agent| agent.title.eq_ignore_ascii_case("writer"))
        .collect();
    assert_eq!(writers.len(), 1, "the user's Writer stays the only one");
    assert_eq!(
        replica.agent(writers[0].id).await.unwrap().system_prompt,
        "My own writer."
    );
    // Researcher and Critic were added once, not twice.
    assert_eq!(agents.len(), 3);
    assert_eq!(
        replica
            .list_documents(orrery_domain::DocumentKind::Prompt)
            .await
            .unwrap()
            .len(),
        1
    );
    let error = add_template(&replica, "no-such-template", AT)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("there is no template"),
        "{error}"
    );
}
