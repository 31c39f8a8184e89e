//! orrery-sessions: sandbox sessions (F14) end to end.
//!
//! A session belongs to a graph. Its agent nodes become the team (each node
//! is the library agent of the same name, or a plain agent named after the
//! node), a library agent named "Manager" plans (a default manager if there
//! is none), and conflicting answers go to a library agent named "Judge" or,
//! without one, to a vote. The user's task runs through the sandbox
//! orchestrator of `orrery-runtime`; every [`SandboxEvent`] is passed on as
//! it happens (for the chat panel and the canvas), and the chat — the task,
//! the plan, each agent's answer, the decision and its reasons, the final
//! answer — is appended to the session's document in the order it happened,
//! so it is stored locally first and syncs like every other document. A
//! runner given a [`RunMeter`] also writes each run's usage (calls, tokens,
//! time, how it ended) into the usage ledger, which syncs to the server.

mod meter;
pub mod templates;

pub use meter::{RunMeter, finished_run};

use std::collections::BTreeMap;
use std::sync::Arc;

use orrery_domain::{
    Agent, ChatRole, DocumentId, DocumentKind, Graph, GraphId, MAX_MESSAGE_CHARS, Node, NodeKind,
    Prompt, Session, ValidatorTarget,
};
use orrery_runtime::sandbox::NestedTeam;
use orrery_runtime::{
    CancellationToken, Provider, Resolution, RuntimeError, Sandbox, SandboxEvent, SandboxOutcome,
    Team, fill_template,
};
use orrery_sync::{Replica, SyncError};
use serde::Serialize;
use tokio::sync::mpsc;

/// The name of the library agent that plans, when there is one.
pub const MANAGER_NAME: &str = "Manager";
/// The name of the library agent that settles conflicts, when there is one.
pub const JUDGE_NAME: &str = "Judge";
/// Who the user is in a session's chat.
pub const USER_AUTHOR: &str = "You";
/// Most steps running at once in one run.
pub const MAX_PARALLEL_STEPS: usize = 4;
/// Most levels of custom agents inside custom agents in one run.
pub const MAX_NESTING: usize = 16;
/// Most agents in one run, counting those inside custom agents.
pub const MAX_TEAM_AGENTS: usize = 1_024;
/// The `{{variables}}` a run fills in the prompt an agent works with.
pub const PROMPT_VARIABLES: [&str; 3] = ["task", "agent", "graph"];

/// What went wrong running a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The library or the store refused.
    #[error(transparent)]
    Library(#[from] SyncError),
    /// The model provider or the orchestrator failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The task is empty or too long.
    #[error("{0}")]
    InvalidTask(String),
    /// No template has this key.
    #[error("there is no template “{0}”")]
    NoSuchTemplate(String),
    /// The graph has no agent node to give the task to.
    #[error("the graph “{0}” has no agent nodes: add an agent to run a task")]
    NoAgents(String),
    /// A run is going already.
    #[error("a task is running already: wait for it or cancel it")]
    Busy,
    /// The team cannot be put together: a prompt without a published
    /// version, a custom agent that contains itself, and the like.
    #[error("{0}")]
    InvalidTeam(String),
}

impl SessionError {
    /// Whether the run stopped because it was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, SessionError::Runtime(error) if error.is_cancelled())
    }
}

/// The reason a run ended without an answer when the user cancelled it.
pub const CANCELLED_REASON: &str = "Run cancelled.";

/// What a run reports while it goes, for the chat panel and the canvas.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "update", rename_all = "snake_case")]
pub enum RunUpdate {
    /// The run began in `session`; `members` names each team member (a node
    /// id, at every level of custom agents) as the chat shows it.
    Started {
        /// The task.
        task: String,
        /// The session the chat is kept in.
        session: DocumentId,
        /// The graph.
        graph: GraphId,
        /// Node id → agent name.
        members: BTreeMap<String, String>,
    },
    /// Something happened in the orchestrator.
    Event(SandboxEvent),
    /// The run was not started, and why (an empty task, no agents, a run
    /// already going).
    Refused {
        /// Why.
        reason: String,
    },
    /// The run ended: its answer, or why it did not finish.
    Ended {
        /// The final answer, if there is one.
        answer: Option<String>,
        /// Why there is none (cancelled, or the error).
        reason: Option<String>,
        /// What fixes the error, if one place in the app does.
        remedy: Option<orrery_runtime::Remedy>,
    },
}

/// Runs sessions' tasks on one replica through one provider.
#[derive(Clone)]
pub struct SessionRunner {
    replica: Replica,
    provider: Arc<dyn Provider>,
    max_parallel: usize,
    meter: Option<RunMeter>,
    /// The tools tool nodes may give (`None`: every tool a run can use).
    allowed_tools: Option<Arc<std::collections::BTreeSet<String>>>,
}

impl SessionRunner {
    /// A runner that keeps chats in `replica` and calls `provider`.
    pub fn new(replica: Replica, provider: Arc<dyn Provider>) -> Self {
        Self {
            replica,
            provider,
            max_parallel: MAX_PARALLEL_STEPS,
            meter: None,
            allowed_tools: None,
        }
    }

    /// Tool nodes may give only these tools (by name; a server's operator
    /// chooses them); a run whose graph names another is refused.
    pub fn with_allowed_tools(
        mut self,
        tools: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.allowed_tools = Some(Arc::new(tools.into_iter().map(Into::into).collect()));
        self
    }

    /// Writes each run's usage, as `meter` measured it, into the replica's
    /// usage ledger when the run ends (before [`RunUpdate::Ended`] is sent).
    pub fn with_meter(mut self, meter: RunMeter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Adds the run that just ended to the usage ledger, if this runner
    /// meters its runs.
    async fn record_run(
        &self,
        graph: GraphId,
        started_at: String,
        started: std::time::Instant,
        error: Option<&str>,
        cancelled: bool,
    ) -> Result<(), SessionError> {
        let Some(meter) = &self.meter else {
            return Ok(());
        };
        let run = meter.finish(Some(graph), started_at, started.elapsed(), error, cancelled);
        self.replica
            .store()
            .record_finished_run(&run)
            .await
            .map_err(SyncError::from)?;
        Ok(())
    }

    /// At most `steps` steps at once (at least one).
    pub fn with_max_parallel(mut self, steps: usize) -> Self {
        self.max_parallel = steps.max(1);
        self
    }

    /// The most recent session over `graph`, if there is one.
    pub async fn existing_session(&self, graph: GraphId) -> Result<Option<Session>, SessionError> {
        session_of_graph(&self.replica, graph).await
    }

    /// The session of `graph`: the most recent one over it, or a new one.
    pub async fn session_for(&self, graph: &Graph) -> Result<Session, SessionError> {
        if let Some(session) = self.existing_session(graph.id).await? {
            return Ok(session);
        }
        let title: String = format!("Session: {}", graph.name)
            .chars()
            .take(orrery_domain::MAX_TITLE_CHARS)
            .collect();
        Ok(self.replica.create_session(&title, Some(graph.id)).await?)
    }

    /// Runs `task` on `graph`'s agents. Updates go to `updates` as they
    /// happen; the chat is appended to the graph's session in that order.
    /// Cancelling `cancel` stops every call; the chat then says so.
    pub async fn run(
        &self,
        graph: GraphId,
        task: &str,
        cancel: CancellationToken,
        updates: mpsc::UnboundedSender<RunUpdate>,
    ) -> Result<SandboxOutcome, SessionError> {
        let task = task.trim();
        if task.is_empty() {
            return Err(SessionError::InvalidTask(
                "type a task for the agents first".into(),
            ));
        }
        if task.chars().count() > MAX_MESSAGE_CHARS {
            return Err(SessionError::InvalidTask(format!(
                "a task is at most {MAX_MESSAGE_CHARS} characters"
            )));
        }
        let graph = self.replica.graph(graph).await?;
        let library = Library::read(&self.replica).await?;
        let manager = library.manager();
        let resolution = library.resolution();
        let mut builder = TeamBuilder {
            replica: &self.replica,
            library: &library,
            task,
            manager: &manager,
            resolution: &resolution,
            path: Vec::new(),
            agents: 0,
            names: BTreeMap::new(),
            allowed_tools: self.allowed_tools.as_deref(),
        };
        let team = builder.build(&graph, None).await?;
        let session = self.session_for(&graph).await?;
        let chat = Chat {
            replica: &self.replica,
            session: session.id,
            names: &builder.names,
            manager: manager.name.clone(),
            rejected: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        };
        chat.say(ChatRole::User, USER_AUTHOR, task).await?;
        let _ = updates.send(RunUpdate::Started {
            task: task.to_owned(),
            session: session.id,
            graph: graph.id,
            members: builder.names.clone(),
        });

        let started = std::time::Instant::now();
        let started_at = orrery_store::now_text();
        let (events, mut received) = mpsc::unbounded_channel();
        let sandbox = Sandbox::new(self.provider.clone(), manager, team, events)
            .with_max_parallel(self.max_parallel)
            .with_resolution(resolution);
        let owned_task = task.to_owned();
        let run_cancel = cancel.clone();
        let running = tokio::spawn(async move { sandbox.run(&owned_task, run_cancel).await });
        // Events are kept and passed on one at a time, in the order they came.
        while let Some(event) = received.recv().await {
            chat.record(&event).await?;
            let _ = updates.send(RunUpdate::Event(event));
        }
        let outcome = match running.await {
            Ok(outcome) => outcome,
            Err(panicked) => Err(RuntimeError::InvalidPlan(format!(
                "the orchestrator stopped unexpectedly: {panicked}"
            ))),
        };
        match outcome {
            Ok(outcome) => {
                self.record_run(graph.id, started_at, started, None, false)
                    .await?;
                let _ = updates.send(RunUpdate::Ended {
                    answer: Some(outcome.answer.clone()),
                    reason: None,
                    remedy: None,
                });
                Ok(outcome)
            }
            Err(error) => {
                let reason = if error.is_cancelled() {
                    CANCELLED_REASON.to_owned()
                } else {
                    format!("The run failed: {error}")
                };
                chat.say(ChatRole::System, "Sandbox", &reason).await?;
                self.record_run(
                    graph.id,
                    started_at,
                    started,
                    Some(&error.to_string()),
                    error.is_cancelled(),
                )
                .await?;
                let _ = updates.send(RunUpdate::Ended {
                    answer: None,
                    reason: Some(reason),
                    remedy: error.remedy(),
                });
                Err(error.into())
            }
        }
    }
}

/// The most recent session over `graph` in `replica`, if there is one (what
/// a host shows when the graph is opened).
pub async fn session_of_graph(
    replica: &Replica,
    graph: GraphId,
) -> Result<Option<Session>, SessionError> {
    let id = graph.to_string();
    let sessions = replica.list_documents(DocumentKind::Session).await?;
    match sessions.iter().find(|summary| {
        summary
            .summary
            .get("graph")
            .and_then(|value| value.as_str())
            == Some(&id)
    }) {
        Some(summary) => Ok(Some(replica.session(summary.id).await?)),
        None => Ok(None),
    }
}

/// The one run a host (the desktop, the canvas binary) lets go at a time:
/// starts it on a tokio runtime, passes its updates on, cancels it.
#[derive(Clone, Default)]
pub struct RunSlot {
    current: Arc<std::sync::Mutex<Option<CancellationToken>>>,
}

impl RunSlot {
    /// Starts `task` on `graph` with `runner` on `runtime`; every update goes
    /// to `on_update` in order (a run that cannot start sends `Refused`).
    /// Refused with [`SessionError::Busy`] while another run goes.
    pub fn start(
        &self,
        runner: SessionRunner,
        runtime: &tokio::runtime::Handle,
        graph: GraphId,
        task: String,
        on_update: impl Fn(RunUpdate) + Send + 'static,
    ) -> Result<(), SessionError> {
        let cancel = CancellationToken::new();
        {
            let mut current = self.current.lock().expect("run slot lock");
            if current.is_some() {
                return Err(SessionError::Busy);
            }
            *current = Some(cancel.clone());
        }
        let slot = self.clone();
        runtime.spawn(async move {
            let (updates, mut received) = mpsc::unbounded_channel();
            let run = runner.run(graph, &task, cancel, updates);
            tokio::pin!(run);
            let mut started = false;
            // Pass updates on while the run goes, then whatever is left.
            let outcome = loop {
                tokio::select! {
                    biased;
                    Some(update) = received.recv() => {
                        started |= matches!(update, RunUpdate::Started { .. });
                        on_update(update);
                    }
                    result = &mut run => break result,
                }
            };
            while let Ok(update) = received.try_recv() {
                started |= matches!(update, RunUpdate::Started { .. });
                on_update(update);
            }
            if let Err(error) = outcome
                && !started
            {
                on_update(RunUpdate::Refused {
                    reason: error.to_string(),
                });
            }
            slot.current.lock().expect("run slot lock").take();
        });
        Ok(())
    }

    /// Cancels the run going now; false if none is.
    pub fn cancel(&self) -> bool {
        match self.current.lock().expect("run slot lock").as_ref() {
            Some(cancel) => {
                cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether a run is going.
    pub fn is_running(&self) -> bool {
        self.current.lock().expect("run slot lock").is_some()
    }
}

/// What the library offers a graph, as the canvas shows it (the palette's
/// library agents, the inspector's line about a node): the same agents and
/// prompts a run would use, found by name the same way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Catalog {
    /// Agents, by name.
    pub agents: Vec<CatalogAgent>,
    /// Prompts, by title.
    pub prompts: Vec<CatalogPrompt>,
}

/// An agent in the [`Catalog`].
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CatalogAgent {
    /// Its name (what an agent node's label must say).
    pub name: String,
    /// Its model, if one is chosen.
    pub model: String,
    /// For a custom agent: the name of the graph it runs.
    pub runs_graph: Option<String>,
}

/// A prompt in the [`Catalog`].
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CatalogPrompt {
    /// Its title (what a prompt node's label must say).
    pub title: String,
    /// How many versions it has.
    pub versions: usize,
    /// The active version's place (from 1), if one is published.
    pub active_version: Option<usize>,
    /// Validators on every answer given with it.
    pub output_checks: usize,
}

impl Catalog {
    /// The catalog of `replica`'s library.
    pub async fn read(replica: &Replica) -> Result<Self, SessionError> {
        let library = Library::read(replica).await?;
        let graphs: BTreeMap<GraphId, String> = replica
            .list_graphs()
            .await?
            .into_iter()
            .map(|graph| (graph.id, graph.name))
            .collect();
        let agents = library
            .agents
            .values()
            .map(|agent| CatalogAgent {
                name: agent.name.trim().to_owned(),
                model: agent.model.clone(),
                runs_graph: agent.graph.map(|graph| {
                    graphs
                        .get(&graph)
                        .cloned()
                        .unwrap_or_else(|| "a graph not on this device".to_owned())
                }),
            })
            .collect();
        let prompts = library
            .prompts
            .values()
            .map(|prompt| CatalogPrompt {
                title: prompt.title.trim().to_owned(),
                versions: prompt.versions.len(),
                active_version: prompt
                    .active_version()
                    .and_then(|active| prompt.versions.iter().position(|v| v.id == active.id))
                    .map(|position| position + 1),
                output_checks: prompt
                    .validators
                    .iter()
                    .filter(|entry| entry.target == ValidatorTarget::Output)
                    .count(),
            })
            .collect();
        Ok(Self { agents, prompts })
    }

    /// The library agent an agent node labelled `label` runs as, if any.
    pub fn agent(&self, label: &str) -> Option<&CatalogAgent> {
        self.agents
            .iter()
            .find(|agent| key(&agent.name) == key(label))
    }

    /// The library prompt a prompt node labelled `label` stands for, if any.
    pub fn prompt(&self, label: &str) -> Option<&CatalogPrompt> {
        self.prompts
            .iter()
            .find(|prompt| key(&prompt.title) == key(label))
    }
}

/// The library as a run reads it: agents and prompts by lower-case name
/// (the most recently changed wins when two share a name).
struct Library {
    agents: BTreeMap<String, Agent>,
    prompts: BTreeMap<String, Prompt>,
}

impl Library {
    async fn read(replica: &Replica) -> Result<Self, SessionError> {
        let mut agents = BTreeMap::new();
        // Listed most recent first: keep the first of each name.
        for summary in replica.list_documents(DocumentKind::Agent).await? {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                agents.entry(key(&summary.title))
            {
                slot.insert(replica.agent(summary.id).await?);
            }
        }
        let mut prompts = BTreeMap::new();
        for summary in replica.list_documents(DocumentKind::Prompt).await? {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                prompts.entry(key(&summary.title))
            {
                slot.insert(replica.prompt(summary.id).await?);
            }
        }
        Ok(Self { agents, prompts })
    }

    /// The library's "Manager", or the default one.
    fn manager(&self) -> Agent {
        self.agents
            .get(&key(MANAGER_NAME))
            .cloned()
            .unwrap_or_else(default_manager)
    }

    /// The library's "Judge", or a vote.
    fn resolution(&self) -> Resolution {
        match self.agents.get(&key(JUDGE_NAME)) {
            Some(judge) => Resolution::Judge(judge.clone()),
            None => Resolution::Vote,
        }
    }

    /// The agent a node names: the library agent of its name, or a plain one.
    fn agent_of(&self, node: &Node) -> Agent {
        self.agents
            .get(&key(&node.label))
            .cloned()
            .unwrap_or_else(|| plain_agent(&node.label))
    }
}

/// How names are matched: trimmed, ignoring case.
fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Puts a run's team together from a graph, custom agents (agents that run
/// a graph of their own) as nested teams, to any depth.
struct TeamBuilder<'a> {
    replica: &'a Replica,
    library: &'a Library,
    task: &'a str,
    manager: &'a Agent,
    resolution: &'a Resolution,
    /// The custom agents being built, outermost first (to find cycles).
    path: Vec<(GraphId, String)>,
    /// The tools tool nodes may give (`None`: any a run can use).
    allowed_tools: Option<&'a std::collections::BTreeSet<String>>,
    /// Agents so far, counting every level.
    agents: usize,
    /// Node id → name at every level, for the chat.
    names: BTreeMap<String, String>,
}

type TeamFuture<'b> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Team, SessionError>> + Send + 'b>>;

impl<'a> TeamBuilder<'a> {
    /// The team of `graph`; `within` names the custom agent that runs it.
    fn build<'b>(&'b mut self, graph: &'b Graph, within: Option<&'b str>) -> TeamFuture<'b> {
        Box::pin(async move {
            let mut team = Team::new();
            let mut agent_nodes: Vec<&Node> = graph
                .nodes
                .values()
                .filter(|node| node.kind == NodeKind::Agent)
                .collect();
            agent_nodes.sort_by_key(|node| node.id);
            if agent_nodes.is_empty() {
                return Err(match within {
                    None => SessionError::NoAgents(graph.name.clone()),
                    Some(agent) => SessionError::InvalidTeam(format!(
                        "the custom agent “{agent}” runs the graph “{}”, which has no agent \
                         nodes: add an agent to it",
                        graph.name
                    )),
                });
            }
            for node in agent_nodes {
                let id = node.id.to_string();
                let mut agent = self.library.agent_of(node);
                self.names.insert(id.clone(), node.label.trim().to_owned());
                let prompt = self.prompt_of(graph, node);
                if let Some(prompt) = prompt {
                    agent.system_prompt = self.instructions(&agent, prompt, graph)?;
                }
                match agent.graph {
                    Some(inner) => {
                        let nested = self.nested(&agent, inner).await?;
                        team.nest(id.clone(), agent, nested);
                    }
                    None => {
                        self.agents += 1;
                        if self.agents > MAX_TEAM_AGENTS {
                            return Err(SessionError::InvalidTeam(format!(
                                "a run takes at most {MAX_TEAM_AGENTS} agents, counting those \
                                 inside custom agents"
                            )));
                        }
                        team.add(id.clone(), agent);
                    }
                }
                if let Some(prompt) = prompt {
                    let outputs: Vec<_> = prompt
                        .validators
                        .iter()
                        .filter(|entry| entry.target == ValidatorTarget::Output)
                        .map(|entry| entry.validator.clone())
                        .collect();
                    team.check_output(&id, prompt.title.clone(), &outputs)
                        .map_err(|error| {
                            SessionError::InvalidTeam(format!(
                                "the prompt “{}” cannot check answers: {error}",
                                prompt.title
                            ))
                        })?;
                }
            }
            for edge in graph.edges.values() {
                let (from, to) = (edge.from.to_string(), edge.to.to_string());
                if team.member(&from).is_some() && team.member(&to).is_some() {
                    team.connect(&from, &to)?;
                }
            }
            // A tool node joined to an agent gives it that tool.
            let mut tools: BTreeMap<String, orrery_runtime::ToolBox> = BTreeMap::new();
            for edge in graph.edges.values() {
                let (Some(source), Some(target)) =
                    (graph.nodes.get(&edge.from), graph.nodes.get(&edge.to))
                else {
                    continue;
                };
                let member = target.id.to_string();
                if source.kind != NodeKind::Tool
                    || target.kind != NodeKind::Agent
                    || team.member(&member).is_none()
                {
                    continue;
                }
                let tool = orrery_runtime::tools::builtin::unconfigured(&source.label).ok_or_else(
                    || {
                        SessionError::InvalidTeam(format!(
                            "the tool node “{}” names no tool a run can use: name it \
                             calculator or current_time",
                            source.label.trim()
                        ))
                    },
                )?;
                let name = &tool.spec().name;
                if self
                    .allowed_tools
                    .is_some_and(|allowed| !allowed.contains(name))
                {
                    return Err(SessionError::InvalidTeam(format!(
                        "the tool node “{}” names {name}, which runs here may not use",
                        source.label.trim()
                    )));
                }
                let given = tools.entry(member).or_default();
                if given.permissions(&tool.spec().name).is_none() {
                    given.add(tool).map_err(SessionError::InvalidTeam)?;
                }
            }
            for (member, given) in tools {
                team.give_tools(&member, given)?;
            }
            Ok(team)
        })
    }

    /// The library prompt an agent node works with: the prompt node with an
    /// edge into it that names a library prompt (the first by label).
    fn prompt_of(&self, graph: &Graph, node: &Node) -> Option<&'a Prompt> {
        let mut sources: Vec<&Node> = graph
            .edges
            .values()
            .filter(|edge| edge.to == node.id)
            .filter_map(|edge| graph.nodes.get(&edge.from))
            .filter(|source| source.kind == NodeKind::Prompt)
            .collect();
        sources.sort_by(|a, b| a.label.cmp(&b.label).then(a.id.cmp(&b.id)));
        sources
            .into_iter()
            .find_map(|source| self.library.prompts.get(&key(&source.label)))
    }

    /// The agent's instructions with `prompt`'s active version filled in.
    fn instructions(
        &self,
        agent: &Agent,
        prompt: &Prompt,
        graph: &Graph,
    ) -> Result<String, SessionError> {
        let version = orrery_runtime::prompt::active_version(prompt).map_err(|_| {
            SessionError::InvalidTeam(format!(
                "the prompt “{}” (on {}) has no published version: publish one in Prompts",
                prompt.title, agent.name
            ))
        })?;
        let values: BTreeMap<String, String> = [
            ("task", self.task),
            ("agent", agent.name.as_str()),
            ("graph", graph.name.as_str()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let filled = fill_template(&version.content, &values).map_err(|error| match error {
            RuntimeError::MissingVariables { names } => SessionError::InvalidTeam(format!(
                "the prompt “{}” (on {}) uses {}, which a run does not fill: a run fills {}",
                prompt.title,
                agent.name,
                names
                    .iter()
                    .map(|name| format!("{{{{{name}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                PROMPT_VARIABLES
                    .iter()
                    .map(|name| format!("{{{{{name}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            other => SessionError::Runtime(other),
        })?;
        Ok(if agent.system_prompt.trim().is_empty() {
            filled
        } else {
            format!("{}\n\n{filled}", agent.system_prompt.trim_end())
        })
    }

    /// The team inside the custom agent `agent`, which runs graph `inner`.
    async fn nested(&mut self, agent: &Agent, inner: GraphId) -> Result<NestedTeam, SessionError> {
        if let Some(start) = self.path.iter().position(|(graph, _)| *graph == inner) {
            let mut chain: Vec<&str> = self.path[start..]
                .iter()
                .map(|(_, name)| name.as_str())
                .collect();
            chain.push(&agent.name);
            return Err(SessionError::InvalidTeam(format!(
                "the custom agent “{}” contains itself ({}): remove one of them from the other's graph",
                agent.name,
                chain.join(" → ")
            )));
        }
        if self.path.len() >= MAX_NESTING {
            return Err(SessionError::InvalidTeam(format!(
                "custom agents are nested more than {MAX_NESTING} deep at “{}”",
                agent.name
            )));
        }
        let graph = self.replica.graph(inner).await.map_err(|error| {
            SessionError::InvalidTeam(format!(
                "the custom agent “{}” runs a graph this device cannot open ({error})",
                agent.name
            ))
        })?;
        self.path.push((inner, agent.name.clone()));
        let team = self.build(&graph, Some(&agent.name)).await;
        self.path.pop();
        Ok(NestedTeam {
            manager: self.manager.clone(),
            team: team?,
            resolution: self.resolution.clone(),
        })
    }
}

/// An agent for a node that names no library agent.
fn plain_agent(label: &str) -> Agent {
    let name = if label.trim().is_empty() {
        "Agent"
    } else {
        label.trim()
    };
    let mut agent = Agent::new(name);
    agent.system_prompt =
        format!("You are {name}, one agent of a team. Answer your part of the task briefly.");
    agent
}

/// The manager when the library has none.
fn default_manager() -> Agent {
    let mut agent = Agent::new(MANAGER_NAME);
    agent.system_prompt = "You coordinate a team of agents.".into();
    agent
}

/// A session's chat as a run writes it.
struct Chat<'a> {
    replica: &'a Replica,
    session: DocumentId,
    /// Node id → name at every level of the team.
    names: &'a BTreeMap<String, String>,
    manager: String,
    /// Steps whose answers failed their prompt's checks (their failure is
    /// said once, with the checks).
    rejected: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Chat<'_> {
    fn name_of<'b>(&'b self, member: &'b str) -> &'b str {
        self.names.get(member).map_or(member, String::as_str)
    }

    async fn say(&self, role: ChatRole, author: &str, text: &str) -> Result<(), SessionError> {
        self.replica
            .append_message(self.session, role, author, &bounded(text))
            .await?;
        Ok(())
    }

    /// Keeps what the chat shows of `event` (tokens are not kept: the
    /// finished answer is). What happens inside a custom agent is kept
    /// with its name in front: "Research team › Researcher".
    async fn record(&self, event: &SandboxEvent) -> Result<(), SessionError> {
        let mut event = event;
        let mut within = String::new();
        let mut step_path = String::new();
        while let SandboxEvent::Nested { step, agent, inner } = event {
            within.push_str(&format!("{agent} › "));
            step_path.push_str(&format!("{step}/"));
            event = inner;
        }
        let nested = !within.is_empty();
        let author = |name: &str| format!("{within}{name}");
        match event {
            SandboxEvent::PlanReady { plan } => {
                let steps: Vec<String> = plan
                    .steps
                    .iter()
                    .map(|step| {
                        format!("{}. {} — {}", step.id, self.name_of(&step.agent), step.task)
                    })
                    .collect();
                self.say(
                    ChatRole::Manager,
                    &author(&self.manager),
                    &format!("Plan:\n{}", steps.join("\n")),
                )
                .await
            }
            SandboxEvent::StepFinished { agent, text, .. } => {
                self.say(ChatRole::Agent, &author(self.name_of(agent)), text)
                    .await
            }
            SandboxEvent::OutputRejected {
                step,
                agent,
                prompt,
                text,
                failures,
            } => {
                self.rejected
                    .lock()
                    .expect("chat lock")
                    .insert(format!("{step_path}{step}"));
                let name = author(self.name_of(agent));
                self.say(ChatRole::Agent, &name, text).await?;
                let failures: Vec<String> = failures.iter().map(ToString::to_string).collect();
                self.say(
                    ChatRole::System,
                    "Sandbox",
                    &format!(
                        "{name}'s answer fails the checks of the prompt “{prompt}”:\n{}",
                        failures.join("\n")
                    ),
                )
                .await
            }
            SandboxEvent::StepFailed {
                step, agent, error, ..
            } => {
                let rejected = self
                    .rejected
                    .lock()
                    .expect("chat lock")
                    .contains(&format!("{step_path}{step}"));
                if rejected {
                    return Ok(());
                }
                self.say(
                    ChatRole::System,
                    "Sandbox",
                    &format!("{} failed: {error}", author(self.name_of(agent))),
                )
                .await
            }
            SandboxEvent::ConflictResolved { decision } => {
                let standings: Vec<String> = decision
                    .standings
                    .iter()
                    .map(|standing| {
                        format!(
                            "{}: {} — {}",
                            standing.step, standing.score, standing.reason
                        )
                    })
                    .collect();
                self.say(
                    ChatRole::System,
                    &author("Sandbox"),
                    &format!(
                        "Conflict settled by {}: {}\n{}",
                        decision.method,
                        decision.summary,
                        standings.join("\n")
                    ),
                )
                .await
            }
            // A custom agent's answer is its step's answer, said above.
            SandboxEvent::Finished { .. } if nested => Ok(()),
            SandboxEvent::Finished { answer } => {
                self.say(ChatRole::Manager, &self.manager, answer).await
            }
            // What a tool gave is kept in the chat, after the call.
            SandboxEvent::ToolAnswered {
                tool,
                content,
                is_error,
                ..
            } => {
                let shown: String = content.chars().take(500).collect();
                let text = if *is_error {
                    format!("{tool} failed: {shown}")
                } else {
                    format!("{tool} → {shown}")
                };
                self.say(ChatRole::System, "Tools", &text).await
            }
            SandboxEvent::ToolCalled { .. }
            | SandboxEvent::PlanRejected { .. }
            | SandboxEvent::StepStarted { .. }
            | SandboxEvent::StepToken { .. }
            | SandboxEvent::EdgeMessage { .. }
            | SandboxEvent::Nested { .. } => Ok(()),
        }
    }
}

/// `text` cut to fit one chat message.
fn bounded(text: &str) -> String {
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_answers_are_cut_to_one_message() {
        let long = "x".repeat(MAX_MESSAGE_CHARS + 10);
        let cut = bounded(&long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short"), "short");
    }
}
