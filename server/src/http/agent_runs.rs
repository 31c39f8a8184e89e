//! The public API's runs: `POST /v1/agents/{agent_id}/runs` and `POST
//! /v1/graphs/{graph_id}/runs` start one (`{"input": ..., "session_id": ...}`,
//! 202 with the run; with `"stream": true`, 200 with its event stream), `GET /v1/runs/{run_id}` reads it, `GET
//! /v1/runs/{run_id}/events` follows it as Server-Sent Events (from the
//! start, or after `Last-Event-ID`), `POST /v1/runs/{run_id}/cancel` stops
//! it. Keys need `runs:write` to start and cancel, `runs:read` to read; a
//! test key sees only test runs. Each POST honours `Idempotency-Key`.
//!
//! Admission, in order, and nothing is stored or counted when a step
//! refuses: the input and ids are checked, the key is claimed, the agent or
//! graph (and session) must be the caller's, the tenant must have a provider
//! for the key's mode, and the policy engine must allow a run of the
//! caller's own agents (which counts the run and its estimated tokens).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use orrery_domain::api_scope::{ApiKeyMode, ApiScope};
use orrery_domain::policy::Action;
use orrery_domain::{DocumentId, DocumentKind, GraphId, MAX_MESSAGE_CHARS};
use orrery_store::{AgentRunRecord, Credential, Principal, RunEventRow, RunState, RunTarget};
use orrery_sync::LibraryDocument;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::idempotency::{self, Begun, Claim};
use super::{Access, ApiContext, ApiError, Routes, SignedIn};
use crate::agent_runs::providers::ProviderError;
use crate::agent_runs::{
    Admission, FINAL_EVENTS, GraphSeed, LiveRun, RunWork, SessionChanges, SessionWriter,
};

/// Largest body a run request may have: an input of
/// [`MAX_MESSAGE_CHARS`] characters, written in JSON.
const MAX_RUN_BODY_BYTES: usize = 4 * MAX_MESSAGE_CHARS + 4 * 1024;
/// Stored events read per query while replaying.
const EVENTS_PER_READ: usize = 512;
/// How often a stream whose run goes on another instance looks for news.
const REMOTE_POLL: Duration = Duration::from_millis(500);

pub(super) fn router() -> Routes {
    Routes::new()
        .add_limited(
            Method::POST,
            "/v1/agents/{agent_id}/runs",
            Access::SignedIn,
            MAX_RUN_BODY_BYTES,
            start_agent_run,
        )
        .for_keys(ApiScope::RunsWrite)
        .add_limited(
            Method::POST,
            "/v1/graphs/{graph_id}/runs",
            Access::SignedIn,
            MAX_RUN_BODY_BYTES,
            start_graph_run,
        )
        .for_keys(ApiScope::RunsWrite)
        .add(Method::GET, "/v1/runs/{run_id}", Access::SignedIn, get_run)
        .for_keys(ApiScope::RunsRead)
        .add(
            Method::GET,
            "/v1/runs/{run_id}/events",
            Access::SignedIn,
            run_events,
        )
        .for_keys(ApiScope::RunsRead)
        .add(
            Method::POST,
            "/v1/runs/{run_id}/cancel",
            Access::SignedIn,
            cancel_run,
        )
        .for_keys(ApiScope::RunsWrite)
}

/// The mode a caller works in: a key's own, live for the app's sessions.
fn mode_of(principal: &Principal) -> ApiKeyMode {
    match principal.credential {
        Credential::ApiKey { mode, .. } => mode,
        Credential::Session(_) | Credential::Channel(_) => ApiKeyMode::Live,
    }
}

/// What starting a run takes.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StartRun {
    /// The task or question, at most 100,000 characters.
    #[schema(example = "Summarise this week's support tickets.")]
    input: String,
    /// A session of yours whose chat the run continues (for a graph, one of
    /// that graph's sessions); without it a graph run starts a new one.
    #[serde(default)]
    session_id: Option<String>,
    /// `true`: the answer is the run's event stream (`text/event-stream`,
    /// as on `events_url`) instead of the run as JSON, which spares a
    /// second request before the first token.
    #[serde(default)]
    stream: bool,
}

/// A run.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct RunView {
    /// Always `run`.
    #[schema(value_type = String, example = "run")]
    object: &'static str,
    /// Its id.
    #[schema(value_type = String, example = "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b")]
    id: Uuid,
    /// `live` or `test`: the mode of the key that started it.
    #[schema(value_type = String, example = "live")]
    mode: ApiKeyMode,
    /// `agent` or `graph`.
    #[schema(value_type = String, example = "agent")]
    target: RunTarget,
    /// The agent's or graph's id.
    target_id: String,
    /// The session its chat is kept in, if any.
    session_id: Option<String>,
    /// What was asked.
    input: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[schema(value_type = String, example = "succeeded")]
    state: RunState,
    /// The final answer, once it succeeded.
    answer: Option<String>,
    /// Why it failed, or that it was cancelled.
    error: Option<String>,
    /// Prompt tokens of every model call.
    input_tokens: u64,
    /// Answer tokens of every model call.
    output_tokens: u64,
    /// When it was asked for (RFC 3339).
    created_at: String,
    /// When it began calling the model.
    started_at: Option<String>,
    /// When it ended.
    finished_at: Option<String>,
    /// Where its events stream.
    events_url: String,
}

impl RunView {
    fn of(run: AgentRunRecord) -> Self {
        Self {
            object: "run",
            events_url: format!("/v1/runs/{}/events", run.id),
            id: run.id,
            mode: run.mode,
            target: run.target,
            target_id: run.target_id,
            session_id: run.session_id,
            input: run.input,
            state: run.state,
            answer: run.answer,
            error: run.error,
            input_tokens: run.input_tokens,
            output_tokens: run.output_tokens,
            created_at: run.created_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
        }
    }
}

/// Reads a JSON body: 400 for what is not JSON, 422 for JSON of the wrong shape.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => {
            ApiError::Unprocessable(format!("the request does not fit: {error}"))
        }
        _ => ApiError::BadRequest(format!("the body is not valid JSON: {error}")),
    })
}

fn parse_id<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, ApiError> {
    text.parse()
        .map_err(|_| ApiError::BadRequest(format!("{what} must be a UUID")))
}

/// What a run will ask of.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target {
    Agent(DocumentId),
    Graph(GraphId),
}

#[utoipa::path(
    post,
    path = "/v1/agents/{agent_id}/runs",
    tag = "Runs",
    summary = "Run an agent",
    description = "Starts a run of one of your library's agents on `input` (a custom agent runs its graph). The run starts (or queues while the server's run slots are taken) and this answers at once; follow it on its `events_url`, or send `stream: true` to have this answer be the run's event stream. With `session_id`, the question and answer are added to that session's chat.",
    params(
        ("agent_id" = String, Path, description = "The agent's id (a UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request safe: the first answer to a key is given again for 24 hours; the key with another request is 422"),
    ),
    request_body = StartRun,
    responses(
        (status = 202, description = "The run: running, or queued while every run slot of the server is taken", body = RunView, headers(("Location" = String, description = "Where the run is read"))),
        (status = 200, description = "With `stream: true`: the run's events, as on its `events_url`", content_type = "text/event-stream", body = String, headers(("Location" = String, description = "Where the run is read"))),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
        (status = 404, description = "No such agent (or session) in your library", body = super::openapi::ErrorBody),
        (status = 409, description = "No provider is set for this key's mode, or a request with this Idempotency-Key is still being answered", body = super::openapi::ErrorBody),
        (status = 422, description = "An empty or too long input, or an Idempotency-Key used with another request", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["runs:write"]))
)]
pub(super) async fn start_agent_run(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(agent_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&agent_id, "the agent id")?;
    start(&context, &principal, Target::Agent(id), &headers, body).await
}

#[utoipa::path(
    post,
    path = "/v1/graphs/{graph_id}/runs",
    tag = "Runs",
    summary = "Run a graph",
    description = "Starts a run of a graph's agents as a team on `input`: the manager plans, the members answer along the graph's edges, conflicts are settled. The chat is kept in a new session of the graph, or in `session_id`. With `stream: true` this answer is the run's event stream.",
    params(
        ("graph_id" = String, Path, description = "The graph's id (a UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request safe: the first answer to a key is given again for 24 hours; the key with another request is 422"),
    ),
    request_body = StartRun,
    responses(
        (status = 202, description = "The run: running, or queued while every run slot of the server is taken", body = RunView, headers(("Location" = String, description = "Where the run is read"))),
        (status = 200, description = "With `stream: true`: the run's events, as on its `events_url`", content_type = "text/event-stream", body = String, headers(("Location" = String, description = "Where the run is read"))),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
        (status = 404, description = "No such graph (or session)", body = super::openapi::ErrorBody),
        (status = 409, description = "No provider is set for this key's mode, or a request with this Idempotency-Key is still being answered", body = super::openapi::ErrorBody),
        (status = 422, description = "An empty or too long input, a session of another graph, or an Idempotency-Key used with another request", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["runs:write"]))
)]
pub(super) async fn start_graph_run(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(graph_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&graph_id, "the graph id")?;
    start(&context, &principal, Target::Graph(id), &headers, body).await
}

async fn start(
    context: &ApiContext,
    principal: &Principal,
    target: Target,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = idempotency::key_of(headers)?;
    let request: StartRun = parse_body(&body?)?;
    let input = request.input.trim().to_owned();
    if input.is_empty() {
        return Err(ApiError::Unprocessable(
            "`input` is empty: say what the agent should do".into(),
        ));
    }
    if input.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "`input` is at most {MAX_MESSAGE_CHARS} characters"
        )));
    }
    let session = request
        .session_id
        .as_deref()
        .map(|id| parse_id::<DocumentId>(id, "`session_id`"))
        .transpose()?;
    let (path, target_id) = match target {
        Target::Agent(id) => ("agents", id.to_string()),
        Target::Graph(id) => ("graphs", id.to_string()),
    };
    let fingerprint = idempotency::fingerprint(
        "POST",
        &format!("/v1/{path}/{target_id}/runs"),
        &serde_json::json!({ "input": input, "session_id": session, "stream": request.stream }),
    );
    let claim = match idempotency::begin(context, principal, key, &fingerprint).await? {
        // A repeated streamed start streams the first start's run again.
        Begun::Replay(answer) if request.stream && answer.status() == StatusCode::ACCEPTED => {
            let run = run_in_answer(answer).await?;
            let run = run_of(context, principal, &run.to_string()).await?;
            return Ok(stream_events(context.clone(), principal.tenant_id, &run, 0).into_response());
        }
        Begun::Replay(answer) => return Ok(answer),
        Begun::Fresh(claim) => claim,
    };
    match admit(
        context,
        principal,
        target,
        input,
        session,
        request.stream,
        claim.as_ref(),
    )
    .await
    {
        Ok(answer) => Ok(answer),
        Err(refused) => idempotency::keep(context, claim.as_ref(), refused.into_response()).await,
    }
}

/// Reads a library document of the caller's tenant that is not deleted.
async fn library_document(
    context: &ApiContext,
    tenant: Uuid,
    kind: DocumentKind,
    id: DocumentId,
) -> Result<Option<(LibraryDocument, Vec<u8>)>, ApiError> {
    let Some((snapshot, _)) = context
        .store
        .load_library_revision(tenant, kind, id)
        .await?
    else {
        return Ok(None);
    };
    let kept = snapshot.clone();
    let document = super::off_thread(move || LibraryDocument::from_snapshot(kind, id, &snapshot))
        .await?
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(document.deleted_at().is_none().then_some((document, kept)))
}

/// The caller's session, checked to belong to `graph` when one is given.
async fn session_of(
    context: &ApiContext,
    tenant: Uuid,
    session: Option<DocumentId>,
    graph: Option<GraphId>,
) -> Result<Option<(DocumentId, Vec<u8>)>, ApiError> {
    let Some(id) = session else { return Ok(None) };
    let (document, snapshot) = library_document(context, tenant, DocumentKind::Session, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("there is no session with this id".to_owned()))?;
    if let Some(graph) = graph {
        let over = document
            .to_session()
            .map_err(|error| ApiError::Internal(error.into()))?
            .graph;
        if over != Some(graph) {
            return Err(ApiError::Unprocessable(format!(
                "session {id} is not a session of graph {graph}; leave `session_id` out to start a new one"
            )));
        }
    }
    Ok(Some((id, snapshot)))
}

/// What a graph run starts from.
async fn graph_seed(
    context: &ApiContext,
    tenant: Uuid,
    graph: GraphId,
    session: Option<(DocumentId, Vec<u8>)>,
) -> Result<GraphSeed, ApiError> {
    let (held, _) = super::graphs::load(context, tenant, graph)
        .await?
        .filter(|(_, head)| !head.deleted)
        .ok_or_else(|| ApiError::NotFound("there is no graph with this id".to_owned()))?;
    let (version, snapshot) =
        super::off_thread(move || (held.document.version(), held.document.snapshot())).await?;
    let library = context
        .store
        .library_snapshots(tenant, &[DocumentKind::Agent, DocumentKind::Prompt])
        .await?;
    Ok(GraphSeed {
        graph,
        version,
        snapshot,
        library,
        session,
    })
}

fn provider_refused(error: ProviderError) -> ApiError {
    match error {
        ProviderError::NotSet(_) | ProviderError::Invalid(_) => {
            ApiError::Conflict(error.to_string())
        }
        ProviderError::NoSecretsKey => ApiError::Busy {
            message: error.to_string(),
            retry_after_secs: 3_600,
        },
        ProviderError::Sealed(_) | ProviderError::Store(_) | ProviderError::Corrupt(_) => {
            ApiError::Internal(error.into())
        }
    }
}

/// Tokens counted when a run is admitted: its input's, roughly (four
/// characters a token); what it really used is counted when it ends.
fn estimated_tokens(input: &str) -> u64 {
    (input.chars().count() as u64).div_ceil(4).max(1)
}

/// Where a graph run's chat goes: merged into the tenant's session like a
/// device's sync.
fn session_writer(context: &ApiContext) -> SessionWriter {
    let context = context.clone();
    Arc::new(move |changes: SessionChanges| {
        let context = context.clone();
        Box::pin(async move {
            super::library::merge_from_server(
                &context,
                changes.tenant_id,
                changes.user_id,
                DocumentKind::Session,
                changes.session,
                &changes.from,
                changes.updates,
            )
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))
        })
    })
}

/// The id of the run a kept `202` answer describes.
async fn run_in_answer(answer: Response) -> Result<Uuid, ApiError> {
    let bytes = axum::body::to_bytes(answer.into_body(), MAX_RUN_BODY_BYTES)
        .await
        .map_err(|error| {
            ApiError::Internal(anyhow::anyhow!("a kept answer was unreadable: {error}"))
        })?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|view| view["id"].as_str()?.parse().ok())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a kept run answer has no run id")))
}

#[allow(clippy::too_many_arguments)]
async fn admit(
    context: &ApiContext,
    principal: &Principal,
    target: Target,
    input: String,
    session: Option<DocumentId>,
    stream: bool,
    claim: Option<&Claim>,
) -> Result<Response, ApiError> {
    let (run, view) = launch(context, principal, target, input, session, claim).await?;
    if stream {
        let location = format!("/v1/runs/{}", run.id);
        let mut answer =
            stream_events(context.clone(), principal.tenant_id, &run, 0).into_response();
        if let Ok(location) = header::HeaderValue::from_str(&location) {
            answer.headers_mut().insert(header::LOCATION, location);
        }
        return Ok(answer);
    }
    Ok((
        StatusCode::ACCEPTED,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::LOCATION, format!("/v1/runs/{}", run.id)),
        ],
        view,
    )
        .into_response())
}

/// Admits and starts a run for `principal` (the public API and the
/// channels both start runs here): the target and session must be the
/// caller's, the tenant must have a provider for the caller's mode, and the
/// policy engine counts the run. The run as stored (running, or queued
/// while the run slots are taken) and its view (JSON).
pub(super) async fn launch(
    context: &ApiContext,
    principal: &Principal,
    target: Target,
    input: String,
    session: Option<DocumentId>,
    claim: Option<&Claim>,
) -> Result<(AgentRunRecord, String), ApiError> {
    let tenant = principal.tenant_id;
    let (work, target_kind, target_id) = match target {
        Target::Agent(id) => {
            let (document, _) = library_document(context, tenant, DocumentKind::Agent, id)
                .await?
                .ok_or_else(|| {
                    ApiError::NotFound("there is no agent with this id in your library".to_owned())
                })?;
            let agent = document
                .to_agent()
                .map_err(|error| ApiError::Internal(error.into()))?;
            match agent.graph {
                // A custom agent runs its graph.
                Some(graph) => {
                    let session = session_of(context, tenant, session, Some(graph)).await?;
                    let seed = graph_seed(context, tenant, graph, session).await?;
                    (
                        RunWork::Graph(Box::new(seed)),
                        RunTarget::Agent,
                        id.to_string(),
                    )
                }
                None => {
                    let session = session_of(context, tenant, session, None).await?;
                    (
                        RunWork::Agent(Box::new(agent), session),
                        RunTarget::Agent,
                        id.to_string(),
                    )
                }
            }
        }
        Target::Graph(graph) => {
            let session = session_of(context, tenant, session, Some(graph)).await?;
            let seed = graph_seed(context, tenant, graph, session).await?;
            (
                RunWork::Graph(Box::new(seed)),
                RunTarget::Graph,
                graph.to_string(),
            )
        }
    };
    let mode = mode_of(principal);
    let provider = context
        .runs
        .providers()
        .provider(tenant, mode)
        .await
        .map_err(provider_refused)?;
    let tokens = estimated_tokens(&input);
    // Counts the run and its estimated tokens, or refuses with the plan's reason.
    super::policy::meter(context, principal, &Action::RunOwnAgents { tokens }).await?;
    let now = context.now();
    let run = AgentRunRecord {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        user_id: principal.user_id,
        mode,
        target: target_kind,
        target_id,
        session_id: session.map(|id| id.to_string()),
        input,
        state: RunState::Queued,
        answer: None,
        error: None,
        input_tokens: 0,
        output_tokens: 0,
        created_at: orrery_store::timestamp(now),
        started_at: None,
        finished_at: None,
    };
    let store = context.store.clone();
    let claim = claim.cloned();
    let runner = context.runs.runner();
    let (run, view) = context
        .runs
        .start(
            run,
            work,
            provider,
            Admission {
                tokens_counted: tokens,
                period: super::policy::period_of(now),
            },
            session_writer(context),
            |run| async move {
                let view = serde_json::to_string(&RunView::of(run.clone()))
                    .map_err(|error| ApiError::Internal(error.into()))?;
                store
                    .create_agent_run(
                        &run,
                        runner,
                        claim.as_ref().map(|claim| {
                            (claim.key(), StatusCode::ACCEPTED.as_u16(), view.as_str())
                        }),
                    )
                    .await?;
                Ok::<_, ApiError>(view)
            },
        )
        .await?;
    tracing::info!(run = %run.id, %tenant, target = run.target.as_str(), state = run.state.as_str(), "run admitted");
    Ok((run, view))
}

/// One of the caller's runs in the caller's mode.
async fn run_of(
    context: &ApiContext,
    principal: &Principal,
    id: &str,
) -> Result<AgentRunRecord, ApiError> {
    let id: Uuid = parse_id(id, "the run id")?;
    context
        .store
        .agent_run(principal.tenant_id, id)
        .await?
        .filter(|run| run.mode == mode_of(principal))
        .ok_or_else(|| ApiError::NotFound("there is no run with this id".to_owned()))
}

#[utoipa::path(
    get,
    path = "/v1/runs/{run_id}",
    tag = "Runs",
    summary = "Read a run",
    description = "The run as it stands: queued, running, succeeded (with its answer), failed or cancelled (with why), and the tokens it used.",
    params(("run_id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
        (status = 404, description = "No such run (a test key sees only test runs)", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["runs:read"]))
)]
pub(super) async fn get_run(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(run_id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(RunView::of(
        run_of(&context, &principal, &run_id).await?,
    )))
}

#[utoipa::path(
    post,
    path = "/v1/runs/{run_id}/cancel",
    tag = "Runs",
    summary = "Cancel a run",
    description = "Asks a queued or running run to stop. The run ends `cancelled` (its stream says so); the tokens it used until then count.",
    params(
        ("run_id" = String, Path, description = "The run's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request safe: the first answer to a key is given again for 24 hours; the key with another request is 422"),
    ),
    responses(
        (status = 202, description = "Asked; the run as it was", body = RunView),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
        (status = 404, description = "No such run", body = super::openapi::ErrorBody),
        (status = 409, description = "The run has ended already", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["runs:write"]))
)]
pub(super) async fn cancel_run(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(run_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = idempotency::key_of(&headers)?;
    let fingerprint = idempotency::fingerprint(
        "POST",
        &format!("/v1/runs/{run_id}/cancel"),
        &serde_json::Value::Null,
    );
    let claim = match idempotency::begin(&context, &principal, key, &fingerprint).await? {
        Begun::Replay(answer) => return Ok(answer),
        Begun::Fresh(claim) => claim,
    };
    let answer = match cancel(&context, &principal, &run_id).await {
        Ok(view) => (StatusCode::ACCEPTED, Json(view)).into_response(),
        Err(refused) => refused.into_response(),
    };
    idempotency::keep(&context, claim.as_ref(), answer).await
}

async fn cancel(
    context: &ApiContext,
    principal: &Principal,
    run_id: &str,
) -> Result<RunView, ApiError> {
    let run = run_of(context, principal, run_id).await?;
    if run.state.is_final() {
        return Err(ApiError::Conflict(format!(
            "the run has ended ({}); there is nothing to cancel",
            run.state.as_str()
        )));
    }
    if !context.runs.cancel(run.id) {
        return Err(ApiError::Conflict(
            "the run is going on another server instance; send the cancel again in a moment".into(),
        ));
    }
    tracing::info!(run = %run.id, "run cancel asked");
    Ok(RunView::of(run))
}

/// The final event of a run that ended without one stored, numbered `seq`.
fn ending_of(run: &AgentRunRecord, seq: u64) -> RunEventRow {
    let kind = match run.state {
        RunState::Succeeded => "run.succeeded",
        RunState::Cancelled => "run.cancelled",
        _ => "run.failed",
    };
    RunEventRow {
        seq,
        kind: kind.to_owned(),
        data: serde_json::json!({ "run_id": run.id, "answer": run.answer, "error": run.error })
            .to_string(),
        at: run
            .finished_at
            .clone()
            .unwrap_or_else(|| run.created_at.clone()),
    }
}

/// Where a stream reads its events from.
enum Source {
    /// The run goes on this instance: its events in memory.
    Live(Arc<LiveRun>, tokio::sync::watch::Receiver<u64>),
    /// The run ended, or goes elsewhere: the stored events.
    Stored,
}

struct Stream {
    context: ApiContext,
    tenant: Uuid,
    run: Uuid,
    after: u64,
    pending: std::collections::VecDeque<RunEventRow>,
    source: Source,
    done: bool,
}

impl Stream {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.after = event.seq;
                self.done = FINAL_EVENTS.contains(&event.kind.as_str());
                let sse = Event::default()
                    .id(event.seq.to_string())
                    .event(event.kind)
                    .data(event.data);
                return Some((Ok(sse), self));
            }
            if self.done {
                return None;
            }
            match &mut self.source {
                Source::Live(run, heard) => {
                    let events = run.events_after(self.after);
                    if events.is_empty() {
                        if heard.changed().await.is_err() {
                            self.source = Source::Stored;
                        }
                        continue;
                    }
                    self.pending.extend(events);
                }
                Source::Stored => {
                    let events = match self
                        .context
                        .store
                        .agent_run_events(self.run, self.after, EVENTS_PER_READ)
                        .await
                    {
                        Ok(events) => events,
                        Err(error) => {
                            tracing::warn!(run = %self.run, %error, "a run's events could not be read");
                            return None;
                        }
                    };
                    if !events.is_empty() {
                        self.pending.extend(events);
                        continue;
                    }
                    // Nothing stored past here: the run goes on another
                    // instance (its events are stored when it ends) or
                    // here after all.
                    if let Some(live) = self.context.runs.live(self.run) {
                        let heard = live.subscribe();
                        self.source = Source::Live(live, heard);
                        continue;
                    }
                    match self.context.store.agent_run(self.tenant, self.run).await {
                        Ok(Some(run)) if !run.state.is_final() => {
                            tokio::time::sleep(REMOTE_POLL).await
                        }
                        // Ended without its events stored: its instance
                        // stopped. The stream still ends with how it ended.
                        Ok(Some(run)) => self.pending.push_back(ending_of(&run, self.after + 1)),
                        _ => return None,
                    }
                }
            }
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/runs/{run_id}/events",
    tag = "Runs",
    summary = "Follow a run's events",
    description = "Server-Sent Events, numbered from 1: `run.queued`, `run.started`, `message.delta` (an agent's answer as it streams), `session.started` and `sandbox.*` (a graph run's plan, steps and decisions), then one of `run.succeeded`, `run.failed` or `run.cancelled`, after which the stream ends. A client that reconnects with `Last-Event-ID` gets the events after that one; an ended run replays from the store.",
    params(
        ("run_id" = String, Path, description = "The run's id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "The last event received; the stream resumes after it"),
    ),
    responses(
        (status = 200, description = "The events, as `text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
        (status = 404, description = "No such run", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["runs:read"]))
)]
pub(super) async fn run_events(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(run_id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let after = match headers.get("last-event-id") {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "Last-Event-ID must be the number of an event of this run".into(),
                )
            })?,
    };
    let run = run_of(&context, &principal, &run_id).await?;
    Ok(stream_events(context, principal.tenant_id, &run, after))
}

/// The Server-Sent Events of `run` after event `after`: live while it goes
/// on this instance, else from the store.
fn stream_events(
    context: ApiContext,
    tenant: Uuid,
    run: &AgentRunRecord,
    after: u64,
) -> impl IntoResponse + use<> {
    let source = match context.runs.live(run.id) {
        Some(live) => {
            let heard = live.subscribe();
            Source::Live(live, heard)
        }
        None => Source::Stored,
    };
    let stream = Stream {
        tenant,
        run: run.id,
        after,
        pending: Default::default(),
        source,
        done: false,
        context,
    };
    let events = futures_util::stream::unfold(stream, Stream::next);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Sse::new(events).keep_alive(KeepAlive::default()),
    )
}
