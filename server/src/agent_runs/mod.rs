//! Runs on the server: an agent, or a graph as a team, asked through the
//! public API, with the same `orrery-runtime` and `orrery-sessions` code the
//! desktop runs.
//!
//! - A run is admitted by the HTTP layer (policy engine, idempotency key),
//!   stored `queued`, and handed to [`RunService::start`]. It waits for one
//!   of the server's run slots (`--max-concurrent-runs`), then calls the
//!   tenant's provider for the key's mode ([`providers`]).
//! - An agent run is one `run_agent` call. A graph run (or a custom agent's)
//!   works on a throwaway replica seeded with the tenant's graph, agents and
//!   prompts (and the session it continues); `SessionRunner` runs it exactly
//!   as on a desktop, and the session's new chat is merged into the server's
//!   copy like any device's sync.
//! - Every event is numbered and kept in memory while the run goes, for the
//!   run's event stream; when the run ends, its state, its events, its usage
//!   row and the tokens it used are stored in one transaction.

pub mod providers;
pub mod sealed;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use orrery_domain::{Agent, ChatMessage, ChatRole, DocumentId, DocumentKind, GraphId, MessageId};
use orrery_runtime::{AgentCall, CancellationToken, HttpProvider, RuntimeError, run_agent};
use orrery_sessions::{RunMeter, RunUpdate, SessionError, SessionRunner};
use orrery_store::{
    AgentRunRecord, LocalStore, RunEnd, RunEventRow, RunState, ServerStore, timestamp,
};
use orrery_sync::{Replica, Version};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, watch};
use uuid::Uuid;

use crate::auth::Clock;

pub use providers::RunsConfig;

/// Events one run keeps in memory; past this, streamed text is joined to
/// the previous piece instead of making new events.
const MAX_EVENTS_PER_RUN: usize = 4_096;

/// How often an instance says it is alive.
const RUNNER_BEAT: std::time::Duration = std::time::Duration::from_secs(15);
/// How long an instance may be silent before its runs are ended as failed.
pub const RUNNER_SILENCE: chrono::Duration = chrono::Duration::seconds(60);

/// Event types that end a run's stream.
pub const FINAL_EVENTS: [&str; 3] = ["run.succeeded", "run.failed", "run.cancelled"];

/// The session document a graph run wrote to, and what it changed: the
/// HTTP layer merges it like a device's sync.
pub struct SessionChanges {
    /// The tenant.
    pub tenant_id: Uuid,
    /// Who ran it.
    pub user_id: Uuid,
    /// The session.
    pub session: DocumentId,
    /// The server's version the changes start from.
    pub from: Version,
    /// The updates.
    pub updates: Vec<u8>,
}

/// Stores a graph run's session changes (the library merge).
pub type SessionWriter = Arc<
    dyn Fn(SessionChanges) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>
        + Send
        + Sync,
>;

/// What a graph run starts from: copies of the server's documents.
pub struct GraphSeed {
    /// The graph.
    pub graph: GraphId,
    /// Its document's version.
    pub version: Version,
    /// Its document.
    pub snapshot: Vec<u8>,
    /// The tenant's agents and prompts.
    pub library: Vec<(DocumentKind, DocumentId, Vec<u8>)>,
    /// The session the run continues, if the caller named one.
    pub session: Option<(DocumentId, Vec<u8>)>,
}

/// What a run does.
pub enum RunWork {
    /// One agent call; with a session (its id and document), the question
    /// and the answer are added to its chat.
    Agent(Box<Agent>, Option<(DocumentId, Vec<u8>)>),
    /// A graph as a team.
    Graph(Box<GraphSeed>),
}

/// The conversation so far of the session `id` (its document `snapshot`),
/// as turns for the model; none when it does not read.
async fn session_history(id: DocumentId, snapshot: Vec<u8>) -> Vec<orrery_runtime::Message> {
    let read = tokio::task::spawn_blocking(move || {
        orrery_sync::LibraryDocument::from_snapshot(DocumentKind::Session, id, &snapshot)
            .and_then(|document| document.to_session())
            .map(|session| orrery_runtime::chat_history(&session.messages))
    })
    .await;
    match read {
        Ok(Ok(history)) => history,
        Ok(Err(error)) => {
            tracing::warn!(session = %id, %error, "a session's chat could not be read; the run starts without it");
            Vec::new()
        }
        Err(error) => {
            tracing::warn!(session = %id, %error, "a session's chat could not be read");
            Vec::new()
        }
    }
}

/// One run going on this instance: its events so far and its cancellation.
pub struct LiveRun {
    log: Mutex<Vec<RunEventRow>>,
    count: watch::Sender<u64>,
    cancel: CancellationToken,
}

impl LiveRun {
    fn new() -> Self {
        Self {
            log: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
            cancel: CancellationToken::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RunEventRow>> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next event, numbered but not yet published.
    fn prepare(&self, kind: &str, data: serde_json::Value, at: String) -> RunEventRow {
        RunEventRow {
            seq: self.lock().len() as u64 + 1,
            kind: kind.to_owned(),
            data: data.to_string(),
            at,
        }
    }

    /// Publishes an event (streamed text past the cap joins the last piece).
    fn push(&self, kind: &str, data: serde_json::Value, at: String) {
        let mut log = self.lock();
        if log.len() >= MAX_EVENTS_PER_RUN
            && kind == "message.delta"
            && let Some(last) = log.last_mut().filter(|last| last.kind == kind)
            && let (Ok(mut joined), Some(text)) = (
                serde_json::from_str::<serde_json::Value>(&last.data),
                data.get("text").and_then(|text| text.as_str()),
            )
        {
            let before = joined["text"].as_str().unwrap_or_default().to_owned();
            joined["text"] = serde_json::Value::String(before + text);
            last.data = joined.to_string();
            return;
        }
        let seq = log.len() as u64 + 1;
        log.push(RunEventRow {
            seq,
            kind: kind.to_owned(),
            data: data.to_string(),
            at,
        });
        drop(log);
        self.count.send_replace(seq);
    }

    fn publish(&self, event: RunEventRow) {
        let seq = event.seq;
        self.lock().push(event);
        self.count.send_replace(seq);
    }

    /// Events after `seq`.
    pub fn events_after(&self, seq: u64) -> Vec<RunEventRow> {
        let log = self.lock();
        let from = usize::try_from(seq).unwrap_or(usize::MAX).min(log.len());
        log[from..].to_vec()
    }

    /// Hears each new event (its number).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.count.subscribe()
    }

    fn snapshot(&self) -> Vec<RunEventRow> {
        self.lock().clone()
    }
}

/// The runs of this server instance.
#[derive(Clone)]
pub struct RunService {
    inner: Arc<Inner>,
}

struct Inner {
    /// This instance, as its runs name it.
    runner: Uuid,
    store: ServerStore,
    clock: Arc<dyn Clock>,
    slots: Arc<Semaphore>,
    live: Mutex<HashMap<Uuid, Arc<LiveRun>>>,
    providers: providers::ProviderCache,
    /// The tools runs may use (the operator's choice).
    allowed_tools: Vec<String>,
}

/// How a run's admission was counted, so its end counts only the rest.
#[derive(Debug, Clone)]
pub struct Admission {
    /// Tokens counted when it was admitted.
    pub tokens_counted: u64,
    /// The billing period.
    pub period: String,
}

impl RunService {
    /// The runs of a server over `store`.
    pub fn new(store: ServerStore, clock: Arc<dyn Clock>, config: RunsConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                runner: Uuid::now_v7(),
                slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
                allowed_tools: config.allowed_tools.clone(),
                providers: providers::ProviderCache::new(store.clone(), config),
                store,
                clock,
                live: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// This instance's id, stored with each run it starts.
    pub fn runner(&self) -> Uuid {
        self.inner.runner
    }

    /// Says this instance is alive (before it starts any run), then again
    /// every [`RUNNER_BEAT`]; each time, ends as failed the runs of
    /// instances silent for [`RUNNER_SILENCE`]: they died with their runs
    /// (several instances share a PostgreSQL database).
    pub async fn start_heartbeat(&self) -> anyhow::Result<()> {
        self.beat().await?;
        let service = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RUNNER_BEAT);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(error) = service.beat().await {
                    tracing::warn!(%error, "this instance could not say it is alive");
                }
            }
        });
        Ok(())
    }

    async fn beat(&self) -> Result<(), orrery_store::StoreError> {
        let now = self.now();
        self.inner
            .store
            .beat_run_runner(self.inner.runner, now)
            .await?;
        let failed = self
            .inner
            .store
            .fail_orphaned_agent_runs(now, now - RUNNER_SILENCE)
            .await?;
        if failed > 0 {
            tracing::warn!(
                runs = failed,
                "runs of a server instance that stopped were ended as failed"
            );
        }
        Ok(())
    }

    /// The tenants' providers.
    pub fn providers(&self) -> &providers::ProviderCache {
        &self.inner.providers
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    fn live_runs(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<LiveRun>>> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The run, if it is going on this instance.
    pub fn live(&self, id: Uuid) -> Option<Arc<LiveRun>> {
        self.live_runs().get(&id).cloned()
    }

    /// Waits for a run of this instance to end: its last event's type and
    /// data (`answer` or `error`). `None` when it is not going here.
    pub async fn wait(&self, id: Uuid) -> Option<(String, serde_json::Value)> {
        let run = self.live(id)?;
        let mut heard = run.subscribe();
        let mut seen = 0;
        loop {
            for event in run.events_after(seen) {
                seen = event.seq;
                if FINAL_EVENTS.contains(&event.kind.as_str()) {
                    return Some((
                        event.kind,
                        serde_json::from_str(&event.data).unwrap_or_default(),
                    ));
                }
            }
            if heard.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Runs going on this instance.
    pub fn running(&self) -> usize {
        self.live_runs().len()
    }

    /// Asks a run going on this instance to stop; whether it was here.
    pub fn cancel(&self, id: Uuid) -> bool {
        match self.live(id) {
            Some(run) => {
                run.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Registers `run` and starts it in the background. `store_run` stores
    /// the run as it starts (queued, or running when a run slot is free at
    /// once, which spares the run a write before its first event); it runs
    /// after the run can be followed, and what it answers is returned with
    /// the run as stored.
    pub async fn start<F, T, E>(
        &self,
        mut run: AgentRunRecord,
        work: RunWork,
        provider: HttpProvider,
        admission: Admission,
        sessions: SessionWriter,
        store_run: impl FnOnce(AgentRunRecord) -> F,
    ) -> Result<(AgentRunRecord, T), E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let live = Arc::new(LiveRun::new());
        live.push("run.queued", json!({ "run": &run }), timestamp(self.now()));
        let slot = self.inner.slots.clone().try_acquire_owned().ok();
        if slot.is_some() {
            run.state = RunState::Running;
            run.started_at = Some(timestamp(self.now()));
        }
        self.live_runs().insert(run.id, live.clone());
        let stored = match store_run(run.clone()).await {
            Ok(stored) => stored,
            Err(error) => {
                self.live_runs().remove(&run.id);
                return Err(error);
            }
        };
        let started = run.clone();
        let service = self.clone();
        tokio::spawn(async move {
            let id = run.id;
            if let Err(error) = service
                .drive(run, slot, work, provider, admission, sessions, live.clone())
                .await
            {
                tracing::error!(run = %id, %error, "a run could not be stored as ended");
                // Its followers hear that it ended rather than wait forever.
                live.push(
                    "run.failed",
                    json!({ "run_id": id, "error": "the server could not store the run's end" }),
                    timestamp(service.now()),
                );
            }
            service.live_runs().remove(&id);
        });
        Ok((started, stored))
    }

    /// Runs `run` to its end: it waits for a slot unless it holds one
    /// (then it was stored running).
    #[allow(clippy::too_many_arguments)]
    async fn drive(
        &self,
        run: AgentRunRecord,
        held: Option<tokio::sync::OwnedSemaphorePermit>,
        work: RunWork,
        provider: HttpProvider,
        admission: Admission,
        sessions: SessionWriter,
        live: Arc<LiveRun>,
    ) -> anyhow::Result<()> {
        let stored_running = held.is_some();
        let slot = match held {
            Some(slot) => Some(slot),
            None => tokio::select! {
                slot = self.inner.slots.clone().acquire_owned() => Some(slot?),
                () = live.cancel.cancelled() => None,
            },
        };
        let started = Instant::now();
        let started_at = match &run.started_at {
            Some(at) if stored_running => at.clone(),
            _ => timestamp(self.now()),
        };
        let (sink, meter) = RunMeter::new();
        let graph = match &work {
            RunWork::Graph(seed) => Some(seed.graph),
            RunWork::Agent(..) => None,
        };
        let outcome = if slot.is_some()
            && (stored_running || self.inner.store.start_agent_run(run.id, self.now()).await?)
        {
            live.push(
                "run.started",
                json!({ "run_id": run.id, "started_at": started_at }),
                timestamp(self.now()),
            );
            let provider = provider.with_usage(sink);
            let cancel = live.cancel.clone();
            match work {
                RunWork::Agent(agent, session) => {
                    let delta_run = live.clone();
                    let clock = self.inner.clock.clone();
                    let asked_at = timestamp(self.now());
                    // A run in a session continues its conversation.
                    let history = match &session {
                        Some((id, snapshot)) => session_history(*id, snapshot.clone()).await,
                        None => Vec::new(),
                    };
                    let outcome = run_agent(
                        &provider,
                        AgentCall::new(&agent, run.input.clone()).with_history(history),
                        cancel,
                        |text| {
                            delta_run.push(
                                "message.delta",
                                json!({ "text": text }),
                                timestamp(clock.now()),
                            )
                        },
                    )
                    .await
                    .map(|answer| answer.completion.text)
                    .map_err(SessionError::from);
                    if let Some((session, snapshot)) = session {
                        self.keep_agent_chat(
                            &run, &agent, session, &snapshot, asked_at, &outcome, &sessions,
                        )
                        .await;
                    }
                    outcome
                }
                RunWork::Graph(seed) => {
                    self.run_graph(&run, *seed, provider, cancel, &live, &sessions)
                        .await
                }
            }
        } else {
            Err(SessionError::Runtime(RuntimeError::Cancelled))
        };
        drop(slot);

        let (state, answer, error) = match &outcome {
            Ok(answer) => (RunState::Succeeded, Some(answer.as_str()), None),
            Err(error) if error.is_cancelled() => (
                RunState::Cancelled,
                None,
                Some(orrery_sessions::CANCELLED_REASON.to_owned()),
            ),
            Err(error) => (RunState::Failed, None, Some(error.to_string())),
        };
        let mut usage = meter.finish(
            graph,
            started_at,
            started.elapsed(),
            (state == RunState::Failed)
                .then_some(error.as_deref())
                .flatten(),
            state == RunState::Cancelled,
        );
        usage.id = run.id;
        let last = live.prepare(
            match state {
                RunState::Succeeded => "run.succeeded",
                RunState::Cancelled => "run.cancelled",
                _ => "run.failed",
            },
            json!({
                "run_id": run.id,
                "answer": answer,
                "error": error,
                "usage": {
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "model_calls": usage.model_calls,
                    "latency_ms": usage.latency_ms,
                },
            }),
            timestamp(self.now()),
        );
        let mut events = live.snapshot();
        events.push(last.clone());
        self.inner
            .store
            .finish_agent_run(
                &run,
                RunEnd {
                    state,
                    answer,
                    error: error.as_deref(),
                    usage: &usage,
                    tokens_counted: admission.tokens_counted,
                    period: &admission.period,
                    events: &events,
                },
                self.now(),
            )
            .await?;
        live.publish(last);
        Ok(())
    }

    /// Adds an agent run's question and answer (or why there is none) to
    /// the session the caller named.
    #[allow(clippy::too_many_arguments)]
    async fn keep_agent_chat(
        &self,
        run: &AgentRunRecord,
        agent: &Agent,
        session: DocumentId,
        snapshot: &[u8],
        asked_at: String,
        outcome: &Result<String, SessionError>,
        sessions: &SessionWriter,
    ) {
        let answered_at = timestamp(self.now());
        let reply = match outcome {
            Ok(answer) => (ChatRole::Agent, agent.name.clone(), answer.clone()),
            Err(error) if error.is_cancelled() => (
                ChatRole::System,
                "Sandbox".to_owned(),
                orrery_sessions::CANCELLED_REASON.to_owned(),
            ),
            Err(error) => (
                ChatRole::System,
                "Sandbox".to_owned(),
                format!("The run failed: {error}"),
            ),
        };
        let changes = (|| -> Result<(Version, Vec<u8>), orrery_sync::SyncError> {
            let document = orrery_sync::LibraryDocument::from_snapshot(
                DocumentKind::Session,
                session,
                snapshot,
            )?;
            let from = document.version();
            for (role, author, text, at) in [
                (
                    ChatRole::User,
                    orrery_sessions::USER_AUTHOR.to_owned(),
                    run.input.clone(),
                    asked_at,
                ),
                (reply.0, reply.1, reply.2, answered_at),
            ] {
                let text: String = text
                    .chars()
                    .take(orrery_domain::MAX_MESSAGE_CHARS)
                    .collect();
                document.append_message(&ChatMessage {
                    id: MessageId::new(),
                    role,
                    author,
                    text,
                    at,
                })?;
            }
            Ok((from.clone(), document.updates_since(&from)))
        })();
        let result = match changes {
            Ok((from, updates)) => {
                sessions(SessionChanges {
                    tenant_id: run.tenant_id,
                    user_id: run.user_id,
                    session,
                    from,
                    updates,
                })
                .await
            }
            Err(error) => Err(error.into()),
        };
        if let Err(error) = result {
            tracing::warn!(run = %run.id, %error, "a run's chat could not be kept in its session");
        }
    }

    /// A graph run on a throwaway replica: seeded, run by `SessionRunner`,
    /// and its session's changes written back.
    async fn run_graph(
        &self,
        run: &AgentRunRecord,
        seed: GraphSeed,
        provider: HttpProvider,
        cancel: CancellationToken,
        live: &Arc<LiveRun>,
        sessions: &SessionWriter,
    ) -> Result<String, SessionError> {
        let folder = tempfile::tempdir().map_err(|error| {
            SessionError::InvalidTeam(format!("the run's workspace could not be made: {error}"))
        })?;
        let store = LocalStore::open(&folder.path().join("run.sqlite"))
            .await
            .map_err(orrery_sync::SyncError::from)?;
        let replica = Replica::new(store);
        replica
            .receive_graph(seed.graph, seed.version, &seed.snapshot)
            .await?;
        for (kind, id, snapshot) in &seed.library {
            // One unreadable document leaves the team without it, as on a device.
            if let Err(error) = replica.receive_document(*kind, *id, snapshot).await {
                tracing::warn!(%kind, %id, %error, "a library document was left out of a run");
            }
        }
        if let Some((id, snapshot)) = &seed.session {
            replica
                .receive_document(DocumentKind::Session, *id, snapshot)
                .await?;
        }
        let runner = SessionRunner::new(replica.clone(), Arc::new(provider))
            .with_allowed_tools(self.inner.allowed_tools.iter().cloned());
        let (updates, mut received) = mpsc::unbounded_channel();
        let task = run.input.clone();
        let running = runner.run(seed.graph, &task, cancel, updates);
        let clock = self.inner.clock.clone();
        let forward = async {
            let mut session = None;
            while let Some(update) = received.recv().await {
                let at = timestamp(clock.now());
                match update {
                    RunUpdate::Started {
                        session: id,
                        members,
                        ..
                    } => {
                        session = Some(id);
                        live.push(
                            "session.started",
                            json!({ "session_id": id, "members": members }),
                            at,
                        );
                    }
                    RunUpdate::Event(event) => {
                        let data = serde_json::to_value(&event).unwrap_or_default();
                        let kind = format!(
                            "sandbox.{}",
                            data.get("event")
                                .and_then(|kind| kind.as_str())
                                .unwrap_or("event")
                        );
                        live.push(&kind, data, at);
                    }
                    RunUpdate::Refused { .. } | RunUpdate::Ended { .. } => {}
                }
            }
            session
        };
        let (outcome, session) = tokio::join!(running, forward);
        if let Some(session) = session {
            let (from, changes) = replica
                .document_changes(DocumentKind::Session, session)
                .await?;
            if !changes.is_empty()
                && let Err(error) = sessions(SessionChanges {
                    tenant_id: run.tenant_id,
                    user_id: run.user_id,
                    session,
                    from,
                    updates: changes,
                })
                .await
            {
                tracing::warn!(run = %run.id, %error, "a run's chat could not be kept in its session");
            }
        }
        outcome.map(|outcome| outcome.answer)
    }
}
