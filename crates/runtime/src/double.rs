//! A stand-in model provider (feature `double`): a real HTTP server on
//! 127.0.0.1 that speaks the three wire formats the runtime does, streaming
//! as server-sent events, so tests and benchmarks exercise the real client —
//! sockets, chunking, headers, status codes — with no model and no network.
//!
//! Each request takes the next scripted [`Reply`] (or the fallback once the
//! script is used up): a text split into N chunks, an HTTP error (500, 429
//! with `Retry-After`, 400 with the provider's error body), a hang (never
//! answer), a stall mid-stream, a malformed chunk, a dropped connection,
//! an error event, or raw bytes. It records every request (path, headers,
//! JSON body) and counts the requests still in flight, so a test can await
//! "every connection closed" instead of sleeping.
//!
//! It lives in the runtime behind a cargo feature (rather than in `tests/`)
//! so that the runtime's own tests, the sandbox's and `orrery-bench` can all
//! start one; nothing of it is compiled into the app.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::settings::{CallLimits, ProviderKind, ProviderSettings};
use crate::{HttpProvider, RuntimeError};

/// The key [`ProviderDouble::provider`] gives the providers it builds.
pub const DOUBLE_API_KEY: &str = "double-secret-key";

/// A gate a [`Reply::Gated`] waits behind until a test opens it.
#[derive(Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }

    /// Opens it: every reply waiting behind it goes on, and later ones do not wait.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn opened(&self) {
        let mut receiver = self.0.subscribe();
        let _ = receiver.wait_for(|open| *open).await;
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Gate(open: {})", *self.0.borrow())
    }
}

/// Chooses a reply from the request (which agent asks, what it says);
/// `None` falls through to the script.
pub type Responder = Arc<dyn Fn(&RecordedRequest) -> Option<Reply> + Send + Sync>;

/// What the double answers to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Streams `text` in `chunks` pieces, then the end of the answer with usage.
    Text {
        /// The answer.
        text: String,
        /// In how many pieces (at least one per character at most).
        chunks: usize,
        /// Prompt tokens reported.
        input_tokens: u64,
        /// Answer tokens reported.
        output_tokens: u64,
    },
    /// An HTTP error with the provider's error body.
    Status {
        /// The status code.
        status: u16,
        /// The message inside the error body.
        message: String,
        /// A `Retry-After` header, as sent.
        retry_after: Option<String>,
    },
    /// Never answers: no status line, no headers.
    Hang,
    /// Streams `text` in `chunks` pieces, then goes silent for ever.
    Stall {
        /// What is sent before the silence.
        text: String,
        /// In how many pieces.
        chunks: usize,
    },
    /// Streams `text`, then a chunk that is not valid JSON.
    Malformed {
        /// What is sent before the broken chunk.
        text: String,
    },
    /// Streams `text` in `chunks` pieces, then drops the connection.
    Drop {
        /// What is sent before the drop.
        text: String,
        /// In how many pieces.
        chunks: usize,
    },
    /// Streams `text`, then an error event in the provider's format.
    StreamError {
        /// What is sent before the error.
        text: String,
        /// The error's message.
        message: String,
    },
    /// Streams `text` (if any), then calls of tools (name, arguments), in
    /// the format's own way: OpenAI's `tool_calls` pieces, Anthropic's
    /// `tool_use` blocks with `input_json_delta`, Gemini's `functionCall`
    /// parts. Arguments stream in two pieces where the format splits them.
    ToolCalls {
        /// Text before the calls.
        text: String,
        /// Each call: the tool's name and its arguments (sent as they are:
        /// a JSON value, or a string of raw, possibly broken, JSON text).
        calls: Vec<(String, Value)>,
    },
    /// A 200 `text/event-stream` answer whose body is these pieces, as they are.
    Raw(Vec<Vec<u8>>),
    /// Waits (no status, no headers) until the gate opens, then answers.
    Gated(Gate, Box<Reply>),
}

impl Reply {
    /// `text` in three chunks, with usage 10 in / 3 out.
    pub fn text(text: impl Into<String>) -> Self {
        Self::chunked(text, 3)
    }

    /// `text` in `chunks` chunks, with usage 10 in / `chunks` out.
    pub fn chunked(text: impl Into<String>, chunks: usize) -> Self {
        Reply::Text {
            text: text.into(),
            chunks,
            input_tokens: 10,
            output_tokens: chunks as u64,
        }
    }

    /// This reply reporting `input` and `output` tokens (for [`Reply::Text`]).
    pub fn with_usage(mut self, input: u64, output: u64) -> Self {
        if let Reply::Text {
            input_tokens,
            output_tokens,
            ..
        } = &mut self
        {
            *input_tokens = input;
            *output_tokens = output;
        }
        self
    }

    /// HTTP `status` with `message` in the provider's error body.
    pub fn status(status: u16, message: impl Into<String>) -> Self {
        Reply::Status {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 asking to wait `seconds`.
    pub fn rate_limited(seconds: u64) -> Self {
        Reply::Status {
            status: 429,
            message: "rate limit reached; slow down".into(),
            retry_after: Some(seconds.to_string()),
        }
    }

    /// `text` in `chunks` pieces, then silence.
    pub fn stall(text: impl Into<String>, chunks: usize) -> Self {
        Reply::Stall {
            text: text.into(),
            chunks,
        }
    }

    /// `text` in `chunks` pieces, then a dropped connection.
    pub fn drop_after(text: impl Into<String>, chunks: usize) -> Self {
        Reply::Drop {
            text: text.into(),
            chunks,
        }
    }

    /// `text`, then a chunk that is not JSON.
    pub fn malformed_after(text: impl Into<String>) -> Self {
        Reply::Malformed { text: text.into() }
    }

    /// Calls of tools, with no text: each is (name, arguments as JSON).
    pub fn tool_calls(calls: impl IntoIterator<Item = (impl Into<String>, Value)>) -> Self {
        Reply::ToolCalls {
            text: String::new(),
            calls: calls
                .into_iter()
                .map(|(name, arguments)| (name.into(), arguments))
                .collect(),
        }
    }

    /// This reply, once `gate` opens.
    pub fn after(self, gate: &Gate) -> Self {
        Reply::Gated(gate.clone(), Box::new(self))
    }
}

/// One request the double received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// Which format the path belongs to (`None`: no format's path).
    pub kind: Option<ProviderKind>,
    /// The path.
    pub path: String,
    /// The query, if any.
    pub query: Option<String>,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when it was not JSON).
    pub body: Value,
}

impl RecordedRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The system prompt sent, in whichever format.
    pub fn system(&self) -> Option<String> {
        match self.kind? {
            ProviderKind::OpenAiCompatible => self.body["messages"]
                .as_array()?
                .iter()
                .find(|message| message["role"] == "system")
                .and_then(|message| message["content"].as_str())
                .map(str::to_owned),
            ProviderKind::Anthropic => self.body["system"].as_str().map(str::to_owned),
            ProviderKind::Gemini => self.body["systemInstruction"]["parts"][0]["text"]
                .as_str()
                .map(str::to_owned),
        }
    }

    /// The names of the tools offered, whichever the format.
    pub fn tool_names(&self) -> Vec<String> {
        let names = |tools: &Value, path: &[&str]| -> Vec<String> {
            tools
                .as_array()
                .map(|tools| {
                    tools
                        .iter()
                        .filter_map(|tool| {
                            path.iter()
                                .fold(tool, |value, key| &value[*key])
                                .as_str()
                                .map(str::to_owned)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        match self.kind {
            Some(ProviderKind::OpenAiCompatible) => {
                names(&self.body["tools"], &["function", "name"])
            }
            Some(ProviderKind::Anthropic) => names(&self.body["tools"], &["name"]),
            Some(ProviderKind::Gemini) => {
                names(&self.body["tools"][0]["functionDeclarations"], &["name"])
            }
            None => Vec::new(),
        }
    }

    /// The tool calls the conversation sent back, in order, as (call id,
    /// tool name, arguments as JSON), whichever the format (Gemini's calls
    /// carry the ids the runtime gave them).
    pub fn tool_calls_sent(&self) -> Vec<(String, String, Value)> {
        let mut calls = Vec::new();
        let messages = |key: &str| self.body[key].as_array().cloned().unwrap_or_default();
        match self.kind {
            Some(ProviderKind::OpenAiCompatible) => {
                for message in messages("messages") {
                    for call in message["tool_calls"].as_array().into_iter().flatten() {
                        let arguments = call["function"]["arguments"]
                            .as_str()
                            .and_then(|text| serde_json::from_str(text).ok())
                            .unwrap_or(Value::Null);
                        calls.push((
                            call["id"].as_str().unwrap_or_default().to_owned(),
                            call["function"]["name"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            arguments,
                        ));
                    }
                }
            }
            Some(ProviderKind::Anthropic) => {
                for message in messages("messages") {
                    for block in message["content"].as_array().into_iter().flatten() {
                        if block["type"] == "tool_use" {
                            calls.push((
                                block["id"].as_str().unwrap_or_default().to_owned(),
                                block["name"].as_str().unwrap_or_default().to_owned(),
                                block["input"].clone(),
                            ));
                        }
                    }
                }
            }
            Some(ProviderKind::Gemini) => {
                for content in messages("contents") {
                    for part in content["parts"].as_array().into_iter().flatten() {
                        let call = &part["functionCall"];
                        if call.is_object() {
                            calls.push((
                                call["id"].as_str().unwrap_or_default().to_owned(),
                                call["name"].as_str().unwrap_or_default().to_owned(),
                                call["args"].clone(),
                            ));
                        }
                    }
                }
            }
            None => {}
        }
        calls
    }

    /// The tool results sent back, in order, as (call id, content, is an
    /// error), whichever the format.
    pub fn tool_results(&self) -> Vec<(String, String, bool)> {
        let mut results = Vec::new();
        let messages = |key: &str| self.body[key].as_array().cloned().unwrap_or_default();
        match self.kind {
            Some(ProviderKind::OpenAiCompatible) => {
                for message in messages("messages") {
                    if message["role"] == "tool" {
                        let content = message["content"].as_str().unwrap_or_default().to_owned();
                        // OpenAI's tool messages have no error flag: the text says it.
                        results.push((
                            message["tool_call_id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            content,
                            false,
                        ));
                    }
                }
            }
            Some(ProviderKind::Anthropic) => {
                for message in messages("messages") {
                    for block in message["content"].as_array().into_iter().flatten() {
                        if block["type"] == "tool_result" {
                            results.push((
                                block["tool_use_id"].as_str().unwrap_or_default().to_owned(),
                                block["content"].as_str().unwrap_or_default().to_owned(),
                                block["is_error"] == true,
                            ));
                        }
                    }
                }
            }
            Some(ProviderKind::Gemini) => {
                for content in messages("contents") {
                    for part in content["parts"].as_array().into_iter().flatten() {
                        let response = &part["functionResponse"];
                        if response.is_object() {
                            let error = response["response"]["error"].as_str();
                            results.push((
                                response["id"].as_str().unwrap_or_default().to_owned(),
                                error
                                    .or(response["response"]["content"].as_str())
                                    .unwrap_or_default()
                                    .to_owned(),
                                error.is_some(),
                            ));
                        }
                    }
                }
            }
            None => {}
        }
        results
    }

    /// Every non-system message text sent, in order, whichever the format
    /// (Anthropic's content blocks and Gemini's parts one by one).
    pub fn texts(&self) -> Vec<String> {
        let strings = |values: &Value, key: &str| -> Vec<String> {
            values
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item[key].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let messages = |key: &str| self.body[key].as_array().cloned().unwrap_or_default();
        match self.kind {
            Some(ProviderKind::OpenAiCompatible) => messages("messages")
                .iter()
                .filter(|message| message["role"] != "system")
                .filter_map(|message| message["content"].as_str().map(str::to_owned))
                .collect(),
            Some(ProviderKind::Anthropic) => messages("messages")
                .iter()
                .flat_map(|message| strings(&message["content"], "text"))
                .collect(),
            Some(ProviderKind::Gemini) => messages("contents")
                .iter()
                .flat_map(|content| strings(&content["parts"], "text"))
                .collect(),
            None => Vec::new(),
        }
    }
}

struct DoubleState {
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Reply>,
    requests: Mutex<Vec<RecordedRequest>>,
    expected_key: Mutex<Option<String>>,
    responder: Mutex<Option<Responder>>,
    received: watch::Sender<usize>,
    in_flight: watch::Sender<usize>,
    peak_in_flight: std::sync::atomic::AtomicUsize,
}

/// Counts one request while it is alive: its handler, then its body.
struct InFlight(Arc<DoubleState>);

impl InFlight {
    fn new(state: &Arc<DoubleState>) -> Self {
        state.in_flight.send_modify(|count| {
            *count += 1;
            state
                .peak_in_flight
                .fetch_max(*count, std::sync::atomic::Ordering::SeqCst);
        });
        Self(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.send_modify(|count| *count -= 1);
    }
}

/// The running double. Dropping it stops accepting connections.
pub struct ProviderDouble {
    address: SocketAddr,
    state: Arc<DoubleState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ProviderDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ProviderDouble {
    /// Starts a double on a free port of 127.0.0.1. It answers "Hello from
    /// the double." until scripted otherwise.
    pub async fn start() -> std::io::Result<Self> {
        let state = Arc::new(DoubleState {
            script: Mutex::default(),
            fallback: Mutex::new(Reply::text("Hello from the double.")),
            requests: Mutex::default(),
            expected_key: Mutex::default(),
            responder: Mutex::default(),
            received: watch::channel(0).0,
            in_flight: watch::channel(0).0,
            peak_in_flight: std::sync::atomic::AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let app = Router::new().fallback(handle).with_state(state.clone());
        // Each streamed frame leaves at once, as from a provider's servers
        // (Nagle's algorithm would hold a frame back until the last is acknowledged).
        let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
            let _ = stream.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "the provider double stopped");
            }
        });
        Ok(Self {
            address,
            state,
            server,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL a provider of `kind` uses to reach it.
    pub fn base_url(&self, kind: ProviderKind) -> String {
        match kind {
            ProviderKind::OpenAiCompatible => format!("http://{}/v1", self.address),
            ProviderKind::Anthropic | ProviderKind::Gemini => format!("http://{}", self.address),
        }
    }

    /// Settings for `kind` pointing here, with quick retries (10–50 ms
    /// backoff) and short timeouts for tests.
    pub fn settings(&self, kind: ProviderKind) -> ProviderSettings {
        ProviderSettings {
            base_url: self.base_url(kind),
            limits: CallLimits {
                connect_timeout_ms: 2_000,
                idle_timeout_ms: 10_000,
                max_attempts: 4,
                initial_backoff_ms: 10,
                max_backoff_ms: 50,
                max_retry_after_ms: 5_000,
                ..CallLimits::default()
            },
            ..ProviderSettings::new(kind)
        }
    }

    /// A provider of `kind` talking to the double with [`DOUBLE_API_KEY`].
    pub fn provider(&self, kind: ProviderKind) -> Result<HttpProvider, RuntimeError> {
        HttpProvider::new(self.settings(kind), Some(DOUBLE_API_KEY.to_owned()))
    }

    /// Queues `reply` for the next request not yet scripted.
    pub fn push(&self, reply: Reply) {
        self.state
            .script
            .lock()
            .expect("script lock")
            .push_back(reply);
    }

    /// Queues several replies, in order.
    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .script
            .lock()
            .expect("script lock")
            .extend(replies);
    }

    /// The reply once the script is used up.
    pub fn set_fallback(&self, reply: Reply) {
        *self.state.fallback.lock().expect("fallback lock") = reply;
    }

    /// Chooses replies from the requests themselves (before the script):
    /// for calls made in parallel, whose order is not known.
    pub fn set_responder(
        &self,
        responder: impl Fn(&RecordedRequest) -> Option<Reply> + Send + Sync + 'static,
    ) {
        *self.state.responder.lock().expect("responder lock") = Some(Arc::new(responder));
    }

    /// The most requests that were in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.state
            .peak_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Refuses requests that do not carry `key` (401, as providers do).
    pub fn require_api_key(&self, key: impl Into<String>) {
        *self.state.expected_key.lock().expect("key lock") = Some(key.into());
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().expect("requests lock").clone()
    }

    /// Forgets the requests recorded so far (the count stays), so a long
    /// benchmark measures the caller's memory and not the double's record.
    pub fn forget_requests(&self) {
        self.state.requests.lock().expect("requests lock").clear();
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        *self.state.received.borrow()
    }

    /// How many requests are still open (handler running or body streaming).
    pub fn in_flight(&self) -> usize {
        *self.state.in_flight.borrow()
    }

    /// Waits until at least `count` requests were received.
    pub async fn wait_for_requests(&self, count: usize) {
        let mut receiver = self.state.received.subscribe();
        let _ = receiver.wait_for(|received| *received >= count).await;
    }

    /// Waits until exactly `count` requests are in flight.
    pub async fn wait_in_flight(&self, count: usize) {
        let mut receiver = self.state.in_flight.subscribe();
        let _ = receiver.wait_for(|in_flight| *in_flight == count).await;
    }
}

fn next_reply(state: &DoubleState, request: &RecordedRequest) -> Reply {
    let responder = state.responder.lock().expect("responder lock").clone();
    if let Some(reply) = responder.and_then(|responder| responder(request)) {
        return reply;
    }
    let scripted = state.script.lock().expect("script lock").pop_front();
    scripted.unwrap_or_else(|| state.fallback.lock().expect("fallback lock").clone())
}

/// Which format a path belongs to, and the model named in a Gemini path.
fn route(path: &str) -> Option<(ProviderKind, Option<String>)> {
    if path.ends_with("/chat/completions") {
        return Some((ProviderKind::OpenAiCompatible, None));
    }
    if path == "/v1/messages" || path.ends_with("/v1/messages") {
        return Some((ProviderKind::Anthropic, None));
    }
    let call = path.split("/v1beta/models/").nth(1)?;
    let model = call.strip_suffix(":streamGenerateContent")?;
    Some((ProviderKind::Gemini, Some(model.to_owned())))
}

async fn handle(
    State(state): State<Arc<DoubleState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let in_flight = InFlight::new(&state);
    let route = route(uri.path());
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let recorded = RecordedRequest {
        kind: route.as_ref().map(|(kind, _)| *kind),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(recorded.clone());
    state.received.send_modify(|count| *count += 1);

    let Some((kind, _)) = route else {
        return (
            StatusCode::NOT_FOUND,
            "no such route on the provider double",
        )
            .into_response();
    };
    if let Some(refusal) = check_request(&state, kind, &recorded) {
        return refusal;
    }
    let model = recorded.body["model"]
        .as_str()
        .unwrap_or("double-model")
        .to_owned();
    let include_usage = recorded.body["stream_options"]["include_usage"] == true;
    let mut reply = next_reply(&state, &recorded);
    while let Reply::Gated(gate, then) = reply {
        gate.opened().await;
        reply = *then;
    }
    match reply {
        Reply::Hang => {
            // Held until the client goes away (then hyper drops this future,
            // and `in_flight` with it).
            let _held = in_flight;
            std::future::pending::<()>().await;
            unreachable!()
        }
        Reply::Status {
            status,
            message,
            retry_after,
        } => error_response(kind, status, &message, retry_after.as_deref()),
        reply => stream_response(kind, &model, include_usage, reply, in_flight),
    }
}

/// What real providers check before answering.
fn check_request(
    state: &DoubleState,
    kind: ProviderKind,
    request: &RecordedRequest,
) -> Option<Response> {
    let key = match kind {
        ProviderKind::OpenAiCompatible => request
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer ")),
        ProviderKind::Anthropic => request.header("x-api-key"),
        ProviderKind::Gemini => request.header("x-goog-api-key"),
    };
    let expected = state.expected_key.lock().expect("key lock").clone();
    let key_missing = kind != ProviderKind::OpenAiCompatible && key.is_none();
    if key_missing || expected.is_some_and(|expected| key != Some(expected.as_str())) {
        return Some(error_response(
            kind,
            401,
            "invalid or missing API key",
            None,
        ));
    }
    if kind == ProviderKind::Anthropic && request.header("anthropic-version").is_none() {
        return Some(error_response(
            kind,
            400,
            "anthropic-version header is required",
            None,
        ));
    }
    if kind == ProviderKind::Gemini && request.query.as_deref() != Some("alt=sse") {
        return Some(error_response(
            kind,
            400,
            "the double only streams with alt=sse",
            None,
        ));
    }
    if request.body.is_null() {
        return Some(error_response(kind, 400, "the body is not JSON", None));
    }
    None
}

fn error_response(
    kind: ProviderKind,
    status: u16,
    message: &str,
    retry_after: Option<&str>,
) -> Response {
    let body = match kind {
        ProviderKind::OpenAiCompatible => json!({
            "error": {"message": message, "type": if status >= 500 { "server_error" } else { "invalid_request_error" }, "code": null}
        }),
        ProviderKind::Anthropic => json!({
            "type": "error",
            "error": {"type": match status { 429 => "rate_limit_error", 401 => "authentication_error", 500.. => "api_error", _ => "invalid_request_error" }, "message": message}
        }),
        ProviderKind::Gemini => json!({
            "error": {"code": status, "message": message, "status": match status { 429 => "RESOURCE_EXHAUSTED", 500.. => "INTERNAL", _ => "INVALID_ARGUMENT" }}
        }),
    };
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(retry_after) = retry_after {
        response = response.header(header::RETRY_AFTER, retry_after);
    }
    response
        .body(Body::from(body.to_string()))
        .expect("a valid error response")
}

/// How a streamed body ends.
enum Ending {
    Close,
    Stall,
    Drop,
}

fn stream_response(
    kind: ProviderKind,
    model: &str,
    include_usage: bool,
    reply: Reply,
    in_flight: InFlight,
) -> Response {
    let frames = Frames { kind, model };
    let (pieces, ending): (Vec<Vec<u8>>, Ending) = match reply {
        Reply::Text {
            text,
            chunks,
            input_tokens,
            output_tokens,
        } => {
            let mut pieces = frames.opening(input_tokens);
            pieces.extend(frames.deltas(&text, chunks, input_tokens));
            pieces.extend(frames.closing(input_tokens, output_tokens, include_usage));
            (pieces, Ending::Close)
        }
        Reply::Stall { text, chunks } => {
            let mut pieces = frames.opening(10);
            pieces.extend(frames.deltas(&text, chunks, 10));
            (pieces, Ending::Stall)
        }
        Reply::Drop { text, chunks } => {
            let mut pieces = frames.opening(10);
            pieces.extend(frames.deltas(&text, chunks, 10));
            (pieces, Ending::Drop)
        }
        Reply::Malformed { text } => {
            let mut pieces = frames.opening(10);
            pieces.extend(frames.deltas(&text, 1, 10));
            pieces.push(frames.malformed());
            (pieces, Ending::Close)
        }
        Reply::StreamError { text, message } => {
            let mut pieces = frames.opening(10);
            pieces.extend(frames.deltas(&text, 1, 10));
            pieces.push(frames.error(&message));
            (pieces, Ending::Close)
        }
        Reply::ToolCalls { text, calls } => {
            let mut pieces = frames.opening(10);
            pieces.extend(frames.deltas(&text, 1, 10));
            pieces.extend(frames.tool_calls(&calls, include_usage));
            (pieces, Ending::Close)
        }
        Reply::Raw(pieces) => (pieces, Ending::Close),
        Reply::Hang | Reply::Status { .. } | Reply::Gated(..) => {
            unreachable!("answered before streaming")
        }
    };
    let body = futures_util::stream::unfold(
        Some((pieces.into_iter(), ending, in_flight)),
        |state| async move {
            let (mut pieces, ending, in_flight) = state?;
            if let Some(piece) = pieces.next() {
                if pieces.len() == 0 && matches!(ending, Ending::Close) {
                    // The request stops counting before its last bytes leave,
                    // so a client that has read the whole answer never sees
                    // it still in flight.
                    drop(in_flight);
                    return Some((Ok(Bytes::from(piece)), None));
                }
                return Some((Ok(Bytes::from(piece)), Some((pieces, ending, in_flight))));
            }
            match ending {
                Ending::Close => None,
                Ending::Stall => {
                    // Silent until the client goes away and hyper drops the body.
                    let _held = in_flight;
                    std::future::pending::<()>().await;
                    None
                }
                Ending::Drop => {
                    // Let hyper flush what was sent (it does when the body is
                    // pending) before the connection goes: otherwise the
                    // pieces die in its buffer and the client sees no text.
                    tokio::task::yield_now().await;
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "the provider double drops the connection",
                        )),
                        None,
                    ))
                }
            }
        },
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .expect("a valid stream response")
}

/// Splits `text` into `chunks` pieces of about equal length, on character
/// boundaries (fewer when the text is shorter).
pub fn split_text(text: &str, chunks: usize) -> Vec<String> {
    let characters: Vec<char> = text.chars().collect();
    if characters.is_empty() {
        return Vec::new();
    }
    let chunks = chunks.clamp(1, characters.len());
    let size = characters.len().div_ceil(chunks);
    characters
        .chunks(size)
        .map(|piece| piece.iter().collect())
        .collect()
}

/// Stream frames in one provider's format.
struct Frames<'a> {
    kind: ProviderKind,
    model: &'a str,
}

impl Frames<'_> {
    fn data(&self, event: Option<&str>, json: &Value) -> Vec<u8> {
        match (self.kind, event) {
            // Gemini's server ends its lines with CRLF.
            (ProviderKind::Gemini, _) => format!("data: {json}\r\n\r\n").into_bytes(),
            (_, Some(event)) => format!("event: {event}\ndata: {json}\n\n").into_bytes(),
            (_, None) => format!("data: {json}\n\n").into_bytes(),
        }
    }

    fn opening(&self, input_tokens: u64) -> Vec<Vec<u8>> {
        match self.kind {
            ProviderKind::OpenAiCompatible => vec![b": the double is streaming\n\n".to_vec()],
            ProviderKind::Anthropic => vec![
                self.data(
                    Some("message_start"),
                    &json!({"type": "message_start", "message": {
                        "id": "msg_double", "type": "message", "role": "assistant", "model": self.model,
                        "content": [], "stop_reason": null,
                        "usage": {"input_tokens": input_tokens, "output_tokens": 1}
                    }}),
                ),
                self.data(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ),
                self.data(Some("ping"), &json!({"type": "ping"})),
            ],
            ProviderKind::Gemini => Vec::new(),
        }
    }

    fn deltas(&self, text: &str, chunks: usize, input_tokens: u64) -> Vec<Vec<u8>> {
        split_text(text, chunks)
            .into_iter()
            .enumerate()
            .map(|(index, piece)| match self.kind {
                ProviderKind::OpenAiCompatible => self.data(
                    None,
                    &json!({"id": "chatcmpl-double", "object": "chat.completion.chunk", "model": self.model,
                        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]}),
                ),
                ProviderKind::Anthropic => self.data(
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
                ),
                ProviderKind::Gemini => self.data(
                    None,
                    &json!({"candidates": [{"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}],
                        "usageMetadata": {"promptTokenCount": input_tokens, "candidatesTokenCount": index + 1},
                        "modelVersion": self.model}),
                ),
            })
            .collect()
    }

    fn closing(&self, input_tokens: u64, output_tokens: u64, include_usage: bool) -> Vec<Vec<u8>> {
        match self.kind {
            ProviderKind::OpenAiCompatible => {
                let mut frames = vec![self.data(
                    None,
                    &json!({"id": "chatcmpl-double", "object": "chat.completion.chunk", "model": self.model,
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                )];
                if include_usage {
                    frames.push(self.data(
                        None,
                        &json!({"id": "chatcmpl-double", "choices": [], "usage": {
                            "prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                            "total_tokens": input_tokens + output_tokens}}),
                    ));
                }
                frames.push(b"data: [DONE]\n\n".to_vec());
                frames
            }
            ProviderKind::Anthropic => vec![
                self.data(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": 0})),
                self.data(
                    Some("message_delta"),
                    &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                        "usage": {"output_tokens": output_tokens}}),
                ),
                self.data(Some("message_stop"), &json!({"type": "message_stop"})),
            ],
            ProviderKind::Gemini => vec![self.data(
                None,
                &json!({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}],
                    "usageMetadata": {"promptTokenCount": input_tokens, "candidatesTokenCount": output_tokens,
                        "totalTokenCount": input_tokens + output_tokens}}),
            )],
        }
    }

    /// Tool calls and the end of the answer (stop reason: tool use).
    fn tool_calls(&self, calls: &[(String, Value)], include_usage: bool) -> Vec<Vec<u8>> {
        // A string is raw JSON text as the model wrote it (maybe broken).
        let text_of = |arguments: &Value| match arguments {
            Value::String(raw) => raw.clone(),
            other => other.to_string(),
        };
        let halves = |text: &str| -> Vec<String> {
            let middle = text
                .char_indices()
                .nth(text.chars().count() / 2)
                .map_or(0, |(at, _)| at);
            vec![text[..middle].to_owned(), text[middle..].to_owned()]
        };
        let mut frames = Vec::new();
        match self.kind {
            ProviderKind::OpenAiCompatible => {
                for (index, (name, arguments)) in calls.iter().enumerate() {
                    frames.push(self.data(None, &json!({"id": "chatcmpl-double", "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, "id": format!("call_double_{index}"),
                            "type": "function", "function": {"name": name, "arguments": ""}}]}, "finish_reason": null}]})));
                    for piece in halves(&text_of(arguments)) {
                        frames.push(self.data(None, &json!({"id": "chatcmpl-double", "object": "chat.completion.chunk",
                            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, "function": {"arguments": piece}}]},
                                "finish_reason": null}]})));
                    }
                }
                frames.push(self.data(
                    None,
                    &json!({"id": "chatcmpl-double", "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
                ));
                if include_usage {
                    frames.push(self.data(None, &json!({"id": "chatcmpl-double", "choices": [],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})));
                }
                frames.push(b"data: [DONE]\n\n".to_vec());
            }
            ProviderKind::Anthropic => {
                frames.push(self.data(
                    Some("content_block_stop"),
                    &json!({"type": "content_block_stop", "index": 0}),
                ));
                for (position, (name, arguments)) in calls.iter().enumerate() {
                    let index = position + 1;
                    frames.push(self.data(Some("content_block_start"), &json!({"type": "content_block_start", "index": index,
                        "content_block": {"type": "tool_use", "id": format!("toolu_double_{position}"), "name": name, "input": {}}})));
                    for piece in halves(&text_of(arguments)) {
                        frames.push(self.data(
                            Some("content_block_delta"),
                            &json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece}}),
                        ));
                    }
                    frames.push(self.data(
                        Some("content_block_stop"),
                        &json!({"type": "content_block_stop", "index": index}),
                    ));
                }
                frames.push(self.data(Some("message_delta"), &json!({"type": "message_delta",
                    "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 5}})));
                frames.push(self.data(Some("message_stop"), &json!({"type": "message_stop"})));
            }
            ProviderKind::Gemini => {
                // Gemini's arguments are an object; raw text is sent as it is parsed.
                let parts: Vec<Value> = calls
                    .iter()
                    .map(|(name, arguments)| {
                        let args = match arguments {
                            Value::String(raw) => {
                                serde_json::from_str(raw).unwrap_or(Value::String(raw.clone()))
                            }
                            other => other.clone(),
                        };
                        json!({"functionCall": {"name": name, "args": args}})
                    })
                    .collect();
                frames.push(self.data(None, &json!({"candidates": [{"content": {"parts": parts, "role": "model"},
                    "finishReason": "STOP", "index": 0}],
                    "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}})));
            }
        }
        frames
    }

    fn malformed(&self) -> Vec<u8> {
        match self.kind {
            ProviderKind::OpenAiCompatible => b"data: {\"choices\":[{\"delta\":{\"content\":\"oops\"\n\n".to_vec(),
            ProviderKind::Anthropic => {
                b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\n\n".to_vec()
            }
            ProviderKind::Gemini => b"data: {\"candidates\":[{\"content\":\r\n\r\n".to_vec(),
        }
    }

    fn error(&self, message: &str) -> Vec<u8> {
        match self.kind {
            ProviderKind::OpenAiCompatible => {
                self.data(None, &json!({"error": {"message": message, "type": "server_error"}}))
            }
            ProviderKind::Anthropic => self.data(
                Some("error"),
                &json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}),
            ),
            ProviderKind::Gemini => self.data(
                None,
                &json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}),
            ),
        }
    }
}

/// How long tests wait for something that should happen at once before
/// calling it a failure (not a synchronisation delay: every wait ends as
/// soon as its condition holds).
pub const PATIENCE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_splits_on_character_boundaries() {
        assert_eq!(split_text("abcdefg", 3), ["abc", "def", "g"]);
        assert_eq!(split_text("añ✓", 10), ["a", "ñ", "✓"]);
        assert_eq!(split_text("", 3), Vec::<String>::new());
        assert_eq!(split_text("abc", 0), ["abc"]);
    }

    #[test]
    fn paths_map_to_formats() {
        assert_eq!(
            route("/v1/chat/completions"),
            Some((ProviderKind::OpenAiCompatible, None))
        );
        assert_eq!(route("/v1/messages"), Some((ProviderKind::Anthropic, None)));
        assert_eq!(
            route("/v1beta/models/gemini-2.0-flash:streamGenerateContent"),
            Some((ProviderKind::Gemini, Some("gemini-2.0-flash".into())))
        );
        assert_eq!(route("/v1/embeddings"), None);
    }
}
