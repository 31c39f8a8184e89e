//! The sandbox orchestrator (F14), headless: a manager agent is asked for a
//! plan as JSON (steps, each for one agent of the team, with dependencies);
//! the plan is validated against the team's graph (every dependency must
//! follow an edge, no cycles); the steps run in topological order
//! (petgraph), independent branches in parallel under a bound (a
//! semaphore), each step receiving its dependencies' answers as the
//! messages carried along the edges; when several final steps answer the
//! same question and disagree, a judge agent scores them or the answers are
//! put to a vote, and the decision is recorded with its reasons. Everything
//! that happens is reported as [`SandboxEvent`]s for the chat panel and the
//! canvas; cancelling the token stops the whole run and every call in it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use orrery_domain::{Agent, Graph, Node, NodeKind};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::RuntimeError;
use crate::provider::{ChatRequest, Message, Provider};
use crate::run::{ToolEvent, ToolLimits, complete_with_tools};
use crate::tools::ToolBox;
use crate::validate::{ValidationFailure, Validator, ValidatorSet, json_text};

/// Most steps in one plan (a team of a few hundred agents, each once).
pub const MAX_STEPS: usize = 256;
/// Longest step id, in characters.
pub const MAX_STEP_ID_CHARS: usize = 64;
/// Longest step task, in characters.
pub const MAX_STEP_TASK_CHARS: usize = 10_000;
/// How often the manager may answer with an invalid plan before the run fails.
pub const PLAN_ATTEMPTS: usize = 2;

/// The agents of a session's graph and the edges between them.
#[derive(Debug, Clone, Default)]
pub struct Team {
    members: BTreeMap<String, Agent>,
    edges: BTreeSet<(String, String)>,
    /// Members whose answers are checked (the validators of their prompt).
    checks: BTreeMap<String, Arc<OutputChecks>>,
    /// Members that are whole teams (custom agents).
    nested: BTreeMap<String, Arc<NestedTeam>>,
    /// The tools members may call (the tool nodes joined to them).
    tools: BTreeMap<String, ToolBox>,
}

/// The checks on one member's answers: the output validators of the prompt
/// it works with, compiled.
#[derive(Debug)]
pub struct OutputChecks {
    /// The prompt the validators come from, as failures name it.
    pub source: String,
    validators: ValidatorSet,
}

/// A member that is a whole team itself (a custom agent, F10): its step is
/// a run of its own, planned by `manager`, with conflicts settled by
/// `resolution`; its answer is the step's answer.
#[derive(Debug, Clone)]
pub struct NestedTeam {
    /// Plans the inner run.
    pub manager: Agent,
    /// The inner team (which may nest further).
    pub team: Team,
    /// How the inner run settles conflicts.
    pub resolution: Resolution,
}

impl Team {
    /// An empty team.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `agent` as member `id` (a graph node's id, or any stable key).
    pub fn add(&mut self, id: impl Into<String>, agent: Agent) -> &mut Self {
        self.members.insert(id.into(), agent);
        self
    }

    /// Lets member `id` call `tools` in its steps.
    pub fn give_tools(&mut self, id: &str, tools: ToolBox) -> Result<&mut Self, RuntimeError> {
        if !self.members.contains_key(id) {
            return Err(RuntimeError::InvalidPlan(format!(
                "the team has no agent “{id}”"
            )));
        }
        if tools.is_empty() {
            self.tools.remove(id);
        } else {
            self.tools.insert(id.to_owned(), tools);
        }
        Ok(self)
    }

    /// The tools member `id` may call, if any.
    pub fn tools_of(&self, id: &str) -> Option<&ToolBox> {
        self.tools.get(id)
    }

    /// Connects member `from` to member `to`: `to` may take `from`'s answers.
    pub fn connect(&mut self, from: &str, to: &str) -> Result<&mut Self, RuntimeError> {
        for id in [from, to] {
            if !self.members.contains_key(id) {
                return Err(RuntimeError::InvalidPlan(format!(
                    "the team has no agent “{id}”"
                )));
            }
        }
        self.edges.insert((from.to_owned(), to.to_owned()));
        Ok(self)
    }

    /// Checks every answer of member `id` with the output validators
    /// `validators` of the prompt `source`. They are compiled now, so a bad
    /// pattern or schema is refused before any model is called.
    pub fn check_output(
        &mut self,
        id: &str,
        source: impl Into<String>,
        validators: &[Validator],
    ) -> Result<&mut Self, RuntimeError> {
        if !self.members.contains_key(id) {
            return Err(RuntimeError::InvalidPlan(format!(
                "the team has no agent “{id}”"
            )));
        }
        if validators.is_empty() {
            self.checks.remove(id);
            return Ok(self);
        }
        let checks = OutputChecks {
            source: source.into(),
            validators: ValidatorSet::compile(validators)?,
        };
        self.checks.insert(id.to_owned(), Arc::new(checks));
        Ok(self)
    }

    /// Adds member `id`, named and described by `agent`, that runs `inner`
    /// as a whole (a custom agent).
    pub fn nest(&mut self, id: impl Into<String>, agent: Agent, inner: NestedTeam) -> &mut Self {
        let id = id.into();
        self.nested.insert(id.clone(), Arc::new(inner));
        self.members.insert(id, agent);
        self
    }

    /// Whether member `id` is a whole team.
    pub fn is_nested(&self, id: &str) -> bool {
        self.nested.contains_key(id)
    }

    /// Every agent in the team, counting the members of nested teams (and
    /// not the nested teams themselves).
    pub fn agent_count(&self) -> usize {
        self.members
            .keys()
            .map(|id| match self.nested.get(id) {
                Some(inner) => inner.team.agent_count(),
                None => 1,
            })
            .sum()
    }

    /// The team of a graph: every agent node for which `agent_of` finds an
    /// agent (keyed by the node's id), and the edges between such nodes.
    pub fn from_graph(graph: &Graph, agent_of: impl Fn(&Node) -> Option<Agent>) -> Self {
        let mut team = Self::new();
        for node in graph.nodes.values() {
            if node.kind == NodeKind::Agent
                && let Some(agent) = agent_of(node)
            {
                team.add(node.id.to_string(), agent);
            }
        }
        for edge in graph.edges.values() {
            let (from, to) = (edge.from.to_string(), edge.to.to_string());
            if team.members.contains_key(&from) && team.members.contains_key(&to) {
                team.edges.insert((from, to));
            }
        }
        team
    }

    /// A member by id.
    pub fn member(&self, id: &str) -> Option<&Agent> {
        self.members.get(id)
    }

    /// Whether `from` is connected to `to`.
    pub fn connected(&self, from: &str, to: &str) -> bool {
        self.edges.contains(&(from.to_owned(), to.to_owned()))
    }

    /// How the team reads to the manager.
    fn describe(&self) -> String {
        let mut text = String::from("Agents (id: name — what it does):\n");
        for (id, agent) in &self.members {
            let team = match self.nested.get(id) {
                Some(inner) => format!(
                    " (a team of {} agents working as one)",
                    inner.team.agent_count()
                ),
                None => String::new(),
            };
            text.push_str(&format!(
                "- {id}: {}{team} — {}\n",
                agent.name, agent.description
            ));
        }
        text.push_str("Edges (an agent may use the answers of the agents with an edge to it):\n");
        if self.edges.is_empty() {
            text.push_str("- none\n");
        }
        for (from, to) in &self.edges {
            text.push_str(&format!("- {from} -> {to}\n"));
        }
        text
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    /// The step's id, unique in the plan.
    pub id: String,
    /// The team member that does it.
    pub agent: String,
    /// What it is asked.
    pub task: String,
    /// Steps whose answers it needs.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// The manager's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The steps.
    pub steps: Vec<PlanStep>,
    /// The steps whose answer is the run's answer. Several final steps are
    /// alternative answers to the same question: if they disagree the
    /// conflict is resolved. Empty: the steps nothing depends on.
    #[serde(default, rename = "final")]
    pub final_steps: Vec<String>,
}

/// The JSON schema a plan must satisfy before its meaning is checked.
fn plan_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "required": ["steps"],
        "properties": {
            "steps": {
                "type": "array", "minItems": 1, "maxItems": MAX_STEPS,
                "items": {
                    "type": "object",
                    "required": ["id", "agent", "task"],
                    "properties": {
                        "id": {"type": "string", "minLength": 1, "maxLength": MAX_STEP_ID_CHARS},
                        "agent": {"type": "string", "minLength": 1},
                        "task": {"type": "string", "minLength": 1, "maxLength": MAX_STEP_TASK_CHARS},
                        "depends_on": {"type": "array", "maxItems": MAX_STEPS, "items": {"type": "string"}}
                    }
                }
            },
            "final": {"type": "array", "maxItems": MAX_STEPS, "items": {"type": "string"}}
        }
    })
}

impl Plan {
    /// Reads and checks a manager's answer against `team`: the schema, then
    /// unique ids, known agents and steps, dependencies along the team's
    /// edges, no cycles. The steps' dependency graph comes back with it.
    pub fn parse(answer: &str, team: &Team) -> Result<(Plan, PlanGraph), RuntimeError> {
        let schema = ValidatorSet::compile(&[Validator::JsonSchema {
            schema: plan_schema(),
        }])?;
        schema.check(answer).map_err(|error| match error {
            RuntimeError::OutputRejected(failures) => RuntimeError::InvalidPlan(
                failures
                    .iter()
                    .map(|failure| failure.reason.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => other,
        })?;
        let plan: Plan = serde_json::from_str(json_text(answer))
            .map_err(|error| RuntimeError::InvalidPlan(error.to_string()))?;
        let graph = plan.check(team)?;
        Ok((plan, graph))
    }

    fn check(&self, team: &Team) -> Result<PlanGraph, RuntimeError> {
        let invalid = |message: String| Err(RuntimeError::InvalidPlan(message));
        let mut graph = DiGraph::<usize, ()>::new();
        let mut index_of = HashMap::new();
        for (position, step) in self.steps.iter().enumerate() {
            if team.member(&step.agent).is_none() {
                return invalid(format!(
                    "step “{}” names agent “{}”, which is not in the session's graph",
                    step.id, step.agent
                ));
            }
            if index_of
                .insert(step.id.as_str(), graph.add_node(position))
                .is_some()
            {
                return invalid(format!("step id “{}” is used twice", step.id));
            }
        }
        for step in &self.steps {
            for dependency in &step.depends_on {
                let Some(&from) = index_of.get(dependency.as_str()) else {
                    return invalid(format!(
                        "step “{}” depends on “{dependency}”, which is not a step",
                        step.id
                    ));
                };
                let source = &self.steps[graph[from]];
                if source.agent != step.agent && !team.connected(&source.agent, &step.agent) {
                    return invalid(format!(
                        "step “{}” needs “{dependency}”, but there is no edge from {} to {} in the graph",
                        step.id, source.agent, step.agent
                    ));
                }
                graph.update_edge(from, index_of[step.id.as_str()], ());
            }
        }
        let order = petgraph::algo::toposort(&graph, None).map_err(|cycle| {
            RuntimeError::InvalidPlan(format!(
                "the steps depend on each other in a cycle (through “{}”)",
                self.steps[graph[cycle.node_id()]].id
            ))
        })?;
        for id in &self.final_steps {
            if !index_of.contains_key(id.as_str()) {
                return invalid(format!("the final step “{id}” is not a step"));
            }
        }
        Ok(PlanGraph {
            order: order.into_iter().map(|index| graph[index]).collect(),
            graph,
        })
    }

    /// The final steps: as named, or the steps nothing depends on.
    fn finals(&self) -> Vec<usize> {
        if !self.final_steps.is_empty() {
            return self
                .final_steps
                .iter()
                .filter_map(|id| self.steps.iter().position(|step| &step.id == id))
                .collect();
        }
        (0..self.steps.len())
            .filter(|&position| {
                let id = &self.steps[position].id;
                !self.steps.iter().any(|step| step.depends_on.contains(id))
            })
            .collect()
    }
}

/// A plan's steps as a dependency graph (node weights are step positions),
/// with a topological order.
#[derive(Debug, Clone)]
pub struct PlanGraph {
    graph: DiGraph<usize, ()>,
    order: Vec<usize>,
}

impl PlanGraph {
    /// The steps' positions in an order where every step follows its dependencies.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    fn node(&self, position: usize) -> NodeIndex {
        self.graph
            .node_indices()
            .find(|&index| self.graph[index] == position)
            .expect("every step is a node")
    }

    fn dependencies(&self, position: usize) -> Vec<usize> {
        let mut found: Vec<usize> = self
            .graph
            .neighbors_directed(self.node(position), petgraph::Direction::Incoming)
            .map(|index| self.graph[index])
            .collect();
        found.sort_unstable();
        found
    }

    fn dependents(&self, position: usize) -> Vec<usize> {
        let mut found: Vec<usize> = self
            .graph
            .neighbors_directed(self.node(position), petgraph::Direction::Outgoing)
            .map(|index| self.graph[index])
            .collect();
        found.sort_unstable();
        found
    }
}

/// How disagreeing final answers are settled.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// A judge agent scores each answer from 0 to 10 with a reason; the best wins.
    Judge(Agent),
    /// The answer given by the most final steps wins (answers compared
    /// without case or surrounding whitespace); a tie goes to the earlier step.
    Vote,
}

/// One answer's standing in a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    /// The step.
    pub step: String,
    /// The judge's score (0–10), or the answer's votes.
    pub score: f64,
    /// Why.
    pub reason: String,
}

/// How a conflict was settled, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// `judge` or `vote`.
    pub method: String,
    /// The winning step.
    pub winner: String,
    /// Every candidate's standing.
    pub standings: Vec<Standing>,
    /// The decision in one sentence.
    pub summary: String,
}

/// What a run reports as it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SandboxEvent {
    /// The manager's plan was accepted.
    PlanReady {
        /// The plan.
        plan: Plan,
    },
    /// The manager's answer was not a valid plan; it is asked again.
    PlanRejected {
        /// Why.
        reason: String,
    },
    /// A step's agent was called.
    StepStarted {
        /// The step.
        step: String,
        /// The team member.
        agent: String,
    },
    /// A piece of a step's answer.
    StepToken {
        /// The step.
        step: String,
        /// The text.
        text: String,
    },
    /// A step answered.
    StepFinished {
        /// The step.
        step: String,
        /// The team member.
        agent: String,
        /// The answer.
        text: String,
    },
    /// A step's answer failed the checks of the prompt its agent works
    /// with; the step fails.
    OutputRejected {
        /// The step.
        step: String,
        /// The team member.
        agent: String,
        /// The prompt whose validators failed.
        prompt: String,
        /// The rejected answer.
        text: String,
        /// Every failed check.
        failures: Vec<ValidationFailure>,
    },
    /// Something happened inside a step whose member is a whole team (a
    /// custom agent): the inner run's own event.
    Nested {
        /// The outer step.
        step: String,
        /// The outer member (the custom agent's name).
        agent: String,
        /// What happened inside.
        inner: Box<SandboxEvent>,
    },
    /// A step failed; the run stops.
    StepFailed {
        /// The step.
        step: String,
        /// The team member.
        agent: String,
        /// Why.
        error: String,
        /// What fixes it, if one place in the app does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remedy: Option<crate::Remedy>,
    },
    /// An answer travelled along an edge to a step that needs it.
    EdgeMessage {
        /// The step that answered.
        from_step: String,
        /// The step that receives it.
        to_step: String,
        /// The member that answered.
        from_agent: String,
        /// The member that receives it.
        to_agent: String,
        /// The answer.
        text: String,
    },
    /// Disagreeing final answers were settled.
    ConflictResolved {
        /// The decision.
        decision: Decision,
    },
    /// A step's agent called a tool; it runs now.
    ToolCalled {
        /// The step.
        step: String,
        /// The tool.
        tool: String,
        /// The arguments, as the model sent them.
        arguments: String,
    },
    /// The tool answered the step's call (`is_error`: it failed or was refused).
    ToolAnswered {
        /// The step.
        step: String,
        /// The tool.
        tool: String,
        /// What it gave, or what went wrong.
        content: String,
        /// Whether `content` says what went wrong.
        is_error: bool,
    },
    /// The run's answer.
    Finished {
        /// The answer.
        answer: String,
    },
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxOutcome {
    /// The plan that ran.
    pub plan: Plan,
    /// Each step's answer, by step id.
    pub answers: BTreeMap<String, String>,
    /// How a conflict was settled, if there was one.
    pub decision: Option<Decision>,
    /// The run's answer.
    pub answer: String,
}

/// A sandbox run's settings.
pub struct Sandbox {
    provider: Arc<dyn Provider>,
    manager: Agent,
    team: Team,
    max_parallel: usize,
    resolution: Resolution,
    events: mpsc::UnboundedSender<SandboxEvent>,
    /// Shared with nested runs, so all calls of one run stay within the bound.
    permits: Option<Arc<Semaphore>>,
}

impl Sandbox {
    /// A sandbox where `manager` plans for `team`, calling `provider`,
    /// reporting to `events`; at most 4 steps at once, conflicts put to a vote.
    pub fn new(
        provider: Arc<dyn Provider>,
        manager: Agent,
        team: Team,
        events: mpsc::UnboundedSender<SandboxEvent>,
    ) -> Self {
        Self {
            provider,
            manager,
            team,
            max_parallel: 4,
            resolution: Resolution::Vote,
            events,
            permits: None,
        }
    }

    /// At most `steps` steps at once (at least one).
    pub fn with_max_parallel(mut self, steps: usize) -> Self {
        self.max_parallel = steps.max(1);
        self
    }

    /// Conflicts settled by `resolution`.
    pub fn with_resolution(mut self, resolution: Resolution) -> Self {
        self.resolution = resolution;
        self
    }

    fn emit(&self, event: SandboxEvent) {
        // A closed panel does not stop the run.
        let _ = self.events.send(event);
    }

    /// Runs `task` to its answer. Cancelling `cancel` stops every call.
    pub async fn run(
        &self,
        task: &str,
        cancel: CancellationToken,
    ) -> Result<SandboxOutcome, RuntimeError> {
        let span = tracing::info_span!("sandbox_run", manager = %self.manager.name);
        self.run_in_span(task, cancel).instrument(span).await
    }

    async fn run_in_span(
        &self,
        task: &str,
        cancel: CancellationToken,
    ) -> Result<SandboxOutcome, RuntimeError> {
        let (plan, graph) = self.plan(task, &cancel).await?;
        tracing::info!(steps = plan.steps.len(), "plan accepted");
        self.emit(SandboxEvent::PlanReady { plan: plan.clone() });
        let answers = self.dispatch(task, &plan, &graph, &cancel).await?;
        let finals = plan.finals();
        let (answer, decision) = self.settle(task, &plan, &finals, &answers, &cancel).await?;
        if let Some(decision) = &decision {
            tracing::info!(winner = %decision.winner, method = %decision.method, "conflict settled");
            self.emit(SandboxEvent::ConflictResolved {
                decision: decision.clone(),
            });
        }
        self.emit(SandboxEvent::Finished {
            answer: answer.clone(),
        });
        Ok(SandboxOutcome {
            answers: plan
                .steps
                .iter()
                .zip(answers)
                .map(|(step, answer)| (step.id.clone(), answer))
                .collect(),
            plan,
            decision,
            answer,
        })
    }

    /// Asks the manager for a plan, once more if the first is not valid.
    async fn plan(
        &self,
        task: &str,
        cancel: &CancellationToken,
    ) -> Result<(Plan, PlanGraph), RuntimeError> {
        let system = format!(
            "{}\n\nYou are the manager of a team of agents. Split the user's task into steps for \
             the agents below. Answer with JSON only: {{\"steps\": [{{\"id\": \"s1\", \"agent\": \
             \"<agent id>\", \"task\": \"...\", \"depends_on\": [\"<step id>\"]}}], \"final\": \
             [\"<step id>\"]}}. A step may depend on another only along an edge of the graph. \
             Several final steps are alternative answers to the same question.\n\n{}",
            self.manager.system_prompt.trim(),
            self.team.describe()
        );
        let mut request = ChatRequest::user(task)
            .with_system(system.trim_start())
            .with_label(self.manager.name.clone());
        request.model = Some(self.manager.model.clone()).filter(|model| !model.is_empty());
        let mut last_error = None;
        for _ in 0..PLAN_ATTEMPTS {
            let answer = self
                .provider
                .stream(request.clone(), cancel.child_token())
                .collect()
                .await?;
            match Plan::parse(&answer.text, &self.team) {
                Ok(plan) => return Ok(plan),
                Err(error) => {
                    self.emit(SandboxEvent::PlanRejected {
                        reason: error.to_string(),
                    });
                    request.messages.push(Message::assistant(answer.text));
                    request.messages.push(Message::user(format!(
                        "That plan cannot be run: {error}. Answer again with a valid plan, JSON only."
                    )));
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// Runs every step, dependencies first, independent steps in parallel.
    async fn dispatch(
        &self,
        task: &str,
        plan: &Plan,
        graph: &PlanGraph,
        cancel: &CancellationToken,
    ) -> Result<Vec<String>, RuntimeError> {
        let run_cancel = cancel.child_token();
        // Stop every call still running if this function returns early.
        let _stop_on_return = run_cancel.clone().drop_guard();
        let permits = self
            .permits
            .clone()
            .unwrap_or_else(|| Arc::new(Semaphore::new(self.max_parallel)));
        let mut waiting: Vec<usize> = (0..plan.steps.len())
            .map(|position| graph.dependencies(position).len())
            .collect();
        let mut answers: Vec<Option<String>> = vec![None; plan.steps.len()];
        let mut running = JoinSet::new();
        let start =
            |position: usize,
             answers: &[Option<String>],
             running: &mut JoinSet<(usize, Result<String, RuntimeError>)>| {
                let step = &plan.steps[position];
                let agent = self.team.member(&step.agent).expect("checked").clone();
                let inputs: Vec<(String, String)> = graph
                    .dependencies(position)
                    .into_iter()
                    .map(|dependency| {
                        let source = &plan.steps[dependency];
                        let name = self
                            .team
                            .member(&source.agent)
                            .map_or("", |agent| &agent.name);
                        (
                            format!("{name} ({})", source.id),
                            answers[dependency].clone().unwrap_or_default(),
                        )
                    })
                    .collect();
                let text = step_text(task, step, &inputs);
                let work = match self.team.nested.get(&step.agent) {
                    Some(inner) => StepWork::Team(Box::new(Sandbox {
                        provider: self.provider.clone(),
                        manager: inner.manager.clone(),
                        team: inner.team.clone(),
                        max_parallel: self.max_parallel,
                        resolution: inner.resolution.clone(),
                        events: self.events.clone(),
                        permits: Some(permits.clone()),
                    })),
                    None => StepWork::Call(step_request(&agent, text.clone())),
                };
                let checks = self.team.checks.get(&step.agent).cloned();
                let tools = self.team.tools.get(&step.agent).cloned();
                let provider = self.provider.clone();
                let permits = permits.clone();
                let events = self.events.clone();
                let cancel = run_cancel.child_token();
                let step_id = step.id.clone();
                running.spawn(async move {
                    let result = match work {
                        StepWork::Call(request) => {
                            let Ok(_permit) = permits.acquire_owned().await else {
                                return (position, Err(RuntimeError::Cancelled));
                            };
                            if cancel.is_cancelled() {
                                return (position, Err(RuntimeError::Cancelled));
                            }
                            let _ = events.send(SandboxEvent::StepStarted {
                                step: step_id.clone(),
                                agent: agent.name.clone(),
                            });
                            let on_delta = |text: &str| {
                                let _ = events.send(SandboxEvent::StepToken {
                                    step: step_id.clone(),
                                    text: text.to_owned(),
                                });
                            };
                            match &tools {
                                None => provider
                                    .stream(request, cancel)
                                    .for_each_delta(on_delta)
                                    .await
                                    .map(|completion| completion.text),
                                Some(tools) => complete_with_tools(
                                    &*provider,
                                    request,
                                    tools,
                                    ToolLimits::default(),
                                    cancel,
                                    on_delta,
                                    |event| {
                                        let _ = events.send(match event {
                                            ToolEvent::Called(call) => SandboxEvent::ToolCalled {
                                                step: step_id.clone(),
                                                tool: call.name,
                                                arguments: call.arguments,
                                            },
                                            ToolEvent::Answered(result) => {
                                                SandboxEvent::ToolAnswered {
                                                    step: step_id.clone(),
                                                    tool: result.name,
                                                    content: result.content,
                                                    is_error: result.is_error,
                                                }
                                            }
                                        });
                                    },
                                )
                                .await
                                .map(|completion| completion.text),
                            }
                        }
                        StepWork::Team(inner) => {
                            // A whole team: no permit held here (its own
                            // calls take them), its events passed on inside
                            // this step's.
                            let _ = events.send(SandboxEvent::StepStarted {
                                step: step_id.clone(),
                                agent: agent.name.clone(),
                            });
                            run_nested(inner, text, cancel, step_id.clone(), agent.name.clone())
                                .await
                                .map(|outcome| outcome.answer)
                        }
                    };
                    let result = result.and_then(|text| match &checks {
                        Some(checks) => {
                            let failures = checks.validators.failures(&text);
                            if failures.is_empty() {
                                return Ok(text);
                            }
                            let _ = events.send(SandboxEvent::OutputRejected {
                                step: step_id.clone(),
                                agent: agent.name.clone(),
                                prompt: checks.source.clone(),
                                text,
                                failures: failures.clone(),
                            });
                            Err(RuntimeError::OutputRejected(failures))
                        }
                        None => Ok(text),
                    });
                    (position, result)
                });
            };
        for &position in graph.order() {
            if waiting[position] == 0 {
                start(position, &answers, &mut running);
            }
        }
        while let Some(joined) = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(RuntimeError::Cancelled),
            joined = running.join_next() => joined,
        } {
            let (position, result) = joined.map_err(|error| {
                RuntimeError::InvalidPlan(format!("a step stopped unexpectedly: {error}"))
            })?;
            let step = &plan.steps[position];
            let agent_name = self
                .team
                .member(&step.agent)
                .map_or_else(String::new, |agent| agent.name.clone());
            let text = match result {
                Ok(text) => text,
                Err(error) => {
                    if !error.is_cancelled() {
                        self.emit(SandboxEvent::StepFailed {
                            step: step.id.clone(),
                            agent: agent_name.clone(),
                            error: error.to_string(),
                            remedy: error.remedy(),
                        });
                    }
                    return Err(if cancel.is_cancelled() {
                        RuntimeError::Cancelled
                    } else {
                        RuntimeError::StepFailed {
                            step: step.id.clone(),
                            agent: agent_name,
                            error: Box::new(error),
                        }
                    });
                }
            };
            self.emit(SandboxEvent::StepFinished {
                step: step.id.clone(),
                agent: agent_name.clone(),
                text: text.clone(),
            });
            answers[position] = Some(text.clone());
            for dependent in graph.dependents(position) {
                let target = &plan.steps[dependent];
                self.emit(SandboxEvent::EdgeMessage {
                    from_step: step.id.clone(),
                    to_step: target.id.clone(),
                    from_agent: agent_name.clone(),
                    to_agent: self
                        .team
                        .member(&target.agent)
                        .map_or_else(String::new, |agent| agent.name.clone()),
                    text: text.clone(),
                });
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    start(dependent, &answers, &mut running);
                }
            }
        }
        Ok(answers.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// The run's answer: the one final answer, the answer the final steps
    /// agree on, or the winner of the conflict.
    async fn settle(
        &self,
        task: &str,
        plan: &Plan,
        finals: &[usize],
        answers: &[String],
        cancel: &CancellationToken,
    ) -> Result<(String, Option<Decision>), RuntimeError> {
        let candidates: Vec<usize> = finals.to_vec();
        let agreed = candidates
            .iter()
            .map(|&position| normalise(&answers[position]))
            .collect::<BTreeSet<_>>()
            .len()
            <= 1;
        if candidates.is_empty() {
            return Ok((String::new(), None));
        }
        if agreed {
            return Ok((answers[candidates[0]].clone(), None));
        }
        let decision = match &self.resolution {
            Resolution::Vote => vote(plan, &candidates, answers),
            Resolution::Judge(judge) => {
                self.judge(judge, task, plan, &candidates, answers, cancel)
                    .await?
            }
        };
        let winner = plan
            .steps
            .iter()
            .position(|step| step.id == decision.winner)
            .expect("the winner is a candidate");
        Ok((answers[winner].clone(), Some(decision)))
    }

    async fn judge(
        &self,
        judge: &Agent,
        task: &str,
        plan: &Plan,
        candidates: &[usize],
        answers: &[String],
        cancel: &CancellationToken,
    ) -> Result<Decision, RuntimeError> {
        let mut prompt = format!("The task was:\n{task}\n\nThe candidate answers:\n");
        for &position in candidates {
            prompt.push_str(&format!(
                "\n[{}]\n{}\n",
                plan.steps[position].id, answers[position]
            ));
        }
        prompt.push_str(
            "\nScore every answer from 0 to 10 for how well it does the task. Answer with JSON \
             only: {\"scores\": [{\"step\": \"<step id>\", \"score\": 0, \"reason\": \"...\"}]}",
        );
        let mut request = ChatRequest::user(prompt).with_label(judge.name.clone());
        if !judge.system_prompt.trim().is_empty() {
            request.system = Some(judge.system_prompt.clone());
        }
        request.model = Some(judge.model.clone()).filter(|model| !model.is_empty());
        let answer = self
            .provider
            .stream(request, cancel.child_token())
            .collect()
            .await?;
        #[derive(Deserialize)]
        struct Scores {
            scores: Vec<Standing>,
        }
        let schema = ValidatorSet::compile(&[Validator::JsonSchema {
            schema: serde_json::json!({
                "type": "object", "required": ["scores"],
                "properties": {"scores": {"type": "array", "items": {
                    "type": "object", "required": ["step", "score", "reason"],
                    "properties": {"step": {"type": "string"}, "score": {"type": "number", "minimum": 0, "maximum": 10},
                                   "reason": {"type": "string"}}}}}
            }),
        }])?;
        let invalid = |why: String| RuntimeError::InvalidPlan(format!("the judge's answer {why}"));
        schema
            .check(&answer.text)
            .map_err(|error| invalid(format!("is not valid ({error})")))?;
        let scores: Scores = serde_json::from_str(json_text(&answer.text))
            .map_err(|error| invalid(format!("is not valid ({error})")))?;
        // Candidates in plan order; each keeps the judge's score for it.
        let mut standings = Vec::new();
        for &position in candidates {
            let id = &plan.steps[position].id;
            let Some(standing) = scores.scores.iter().find(|standing| &standing.step == id) else {
                return Err(invalid(format!("does not score step “{id}”")));
            };
            standings.push(standing.clone());
        }
        let best = standings
            .iter()
            .enumerate()
            .max_by(|(a_at, a), (b_at, b)| a.score.total_cmp(&b.score).then(b_at.cmp(a_at)))
            .map(|(_, standing)| standing.clone())
            .expect("at least two candidates");
        Ok(Decision {
            method: "judge".into(),
            summary: format!(
                "{} scored {} with {}/10: {}",
                judge.name, best.step, best.score, best.reason
            ),
            winner: best.step,
            standings,
        })
    }
}

/// The request for one step: the agent's system prompt, the overall task,
/// the step's own task, and the answers carried to it along the edges.
/// What one step does: call its agent, or run its team.
enum StepWork {
    Call(ChatRequest),
    Team(Box<Sandbox>),
}

/// Runs a nested team's sandbox on `task`, passing each of its events on
/// inside a [`SandboxEvent::Nested`] of the outer step. Boxed: runs nest.
fn run_nested(
    mut inner: Box<Sandbox>,
    task: String,
    cancel: CancellationToken,
    step: String,
    member: String,
) -> NestedRun {
    Box::pin(async move {
        let (events, mut received) = mpsc::unbounded_channel();
        let outer = std::mem::replace(&mut inner.events, events);
        // `inner` (and with it the sender) is dropped when its run ends,
        // which ends the forwarding.
        let run = async move { inner.run(&task, cancel).await };
        let forward = async {
            while let Some(event) = received.recv().await {
                let _ = outer.send(SandboxEvent::Nested {
                    step: step.clone(),
                    agent: member.clone(),
                    inner: Box::new(event),
                });
            }
        };
        let (outcome, ()) = tokio::join!(run, forward);
        outcome
    })
}

/// A nested run, boxed so that runs can nest.
type NestedRun = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<SandboxOutcome, RuntimeError>> + Send>,
>;

/// What a step is asked: the overall task, its own part, and the answers
/// carried to it along the edges.
fn step_text(task: &str, step: &PlanStep, inputs: &[(String, String)]) -> String {
    let mut text = format!("Overall task: {task}\n\nYour step: {}", step.task);
    if !inputs.is_empty() {
        text.push_str("\n\nAnswers from earlier steps:");
        for (from, answer) in inputs {
            text.push_str(&format!("\n\n[{from}]\n{answer}"));
        }
    }
    text
}

/// The call of one agent's step.
fn step_request(agent: &Agent, text: String) -> ChatRequest {
    let mut request = ChatRequest::user(text).with_label(agent.name.clone());
    if !agent.system_prompt.trim().is_empty() {
        request.system = Some(agent.system_prompt.clone());
    }
    request.model = Some(agent.model.clone()).filter(|model| !model.is_empty());
    let parameter = |name: &str| {
        agent
            .parameters
            .get(name)
            .and_then(serde_json::Value::as_f64)
    };
    request.temperature = parameter("temperature");
    request.top_p = parameter("top_p");
    request
}

fn normalise(answer: &str) -> String {
    answer.trim().to_lowercase()
}

/// The answer most final steps gave wins; a tie goes to the earliest step.
fn vote(plan: &Plan, candidates: &[usize], answers: &[String]) -> Decision {
    let votes = |position: usize| {
        candidates
            .iter()
            .filter(|&&other| normalise(&answers[other]) == normalise(&answers[position]))
            .count()
    };
    let standings: Vec<Standing> = candidates
        .iter()
        .map(|&position| {
            let votes = votes(position);
            Standing {
                step: plan.steps[position].id.clone(),
                score: votes as f64,
                reason: format!(
                    "{votes} of {} final steps gave this answer",
                    candidates.len()
                ),
            }
        })
        .collect();
    let most = candidates
        .iter()
        .map(|&position| votes(position))
        .max()
        .unwrap_or(0);
    let leaders: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&position| votes(position) == most)
        .collect();
    let winner = plan.steps[leaders[0]].id.clone();
    let distinct_leaders = leaders
        .iter()
        .map(|&position| normalise(&answers[position]))
        .collect::<BTreeSet<_>>()
        .len();
    let summary = if distinct_leaders > 1 {
        format!("a tie at {most} votes; the earliest step, {winner}, wins")
    } else {
        format!(
            "{winner} wins: {most} of {} final steps gave its answer",
            candidates.len()
        )
    };
    Decision {
        method: "vote".into(),
        winner,
        standings,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> Team {
        let mut team = Team::new();
        for (id, name) in [("r", "Researcher"), ("w", "Writer"), ("c", "Critic")] {
            team.add(id, Agent::new(name));
        }
        team.connect("r", "w").unwrap();
        team.connect("r", "c").unwrap();
        team
    }

    fn error(answer: &str) -> String {
        Plan::parse(answer, &team()).unwrap_err().to_string()
    }

    #[test]
    fn plans_are_checked_against_the_graph() {
        let (plan, graph) = Plan::parse(
            r#"```json
            {"steps": [
                {"id": "s2", "agent": "w", "task": "write", "depends_on": ["s1"]},
                {"id": "s1", "agent": "r", "task": "research"},
                {"id": "s3", "agent": "c", "task": "check", "depends_on": ["s1"]}
            ]}
            ```"#,
            &team(),
        )
        .unwrap();
        let order: Vec<&str> = graph
            .order()
            .iter()
            .map(|&position| plan.steps[position].id.as_str())
            .collect();
        assert_eq!(order[0], "s1", "dependencies first: {order:?}");
        assert_eq!(plan.finals(), [0, 2]);

        assert!(error("not json").contains("the output is not JSON"));
        assert!(error(r#"{"steps": []}"#).contains("plan cannot be run"));
        assert!(
            error(r#"{"steps": [{"id": "s1", "agent": "x", "task": "t"}]}"#)
                .contains("agent “x”, which is not in the session's graph")
        );
        assert!(
            error(r#"{"steps": [{"id": "s1", "agent": "r", "task": "t"}, {"id": "s1", "agent": "w", "task": "t"}]}"#)
                .contains("used twice")
        );
        assert!(
            error(r#"{"steps": [{"id": "s1", "agent": "r", "task": "t", "depends_on": ["s9"]}]}"#)
                .contains("“s9”, which is not a step")
        );
        // Writer → Critic has no edge.
        assert!(
            error(r#"{"steps": [{"id": "s1", "agent": "w", "task": "t"}, {"id": "s2", "agent": "c", "task": "t", "depends_on": ["s1"]}]}"#)
                .contains("no edge from w to c")
        );
        // A cycle, even along edges both ways.
        let mut cyclic = team();
        cyclic.connect("w", "r").unwrap();
        let cycle = Plan::parse(
            r#"{"steps": [{"id": "a", "agent": "r", "task": "t", "depends_on": ["b"]}, {"id": "b", "agent": "w", "task": "t", "depends_on": ["a"]}]}"#,
            &cyclic,
        )
        .unwrap_err();
        assert!(cycle.to_string().contains("cycle"), "{cycle}");
        assert!(
            error(r#"{"steps": [{"id": "s1", "agent": "r", "task": "t"}], "final": ["s7"]}"#)
                .contains("final step “s7”")
        );
    }

    #[test]
    fn votes_go_to_the_most_common_answer_then_the_earliest() {
        let plan = Plan {
            steps: ["a", "b", "c"]
                .into_iter()
                .map(|id| PlanStep {
                    id: id.into(),
                    agent: "r".into(),
                    task: "t".into(),
                    depends_on: vec![],
                })
                .collect(),
            final_steps: vec![],
        };
        let answers = [
            "Porto".to_owned(),
            " lisbon ".to_owned(),
            "Lisbon".to_owned(),
        ];
        let decision = vote(&plan, &[0, 1, 2], &answers);
        assert_eq!(decision.winner, "b");
        assert_eq!(decision.standings[0].score, 1.0);
        assert_eq!(
            decision.standings[1].reason,
            "2 of 3 final steps gave this answer"
        );
        let answers = ["Porto".to_owned(), "Lisbon".to_owned(), "Faro".to_owned()];
        let decision = vote(&plan, &[0, 1, 2], &answers);
        assert_eq!(decision.winner, "a");
        assert!(
            decision.summary.starts_with("a tie"),
            "{}",
            decision.summary
        );
    }
}
