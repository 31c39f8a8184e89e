//! Model providers behind one trait, [`Provider`], and its one implementation
//! over reqwest, [`HttpProvider`], which speaks three wire formats
//! (OpenAI-compatible chat completions, Anthropic messages, Gemini
//! `streamGenerateContent`), all streamed as server-sent events.
//!
//! A call runs on its own task and hands its answer over a channel as text
//! deltas followed by one [`Completion`] (or one error). The task owns the
//! HTTP request: cancelling the call's token, or dropping the
//! [`CompletionStream`], drops the request at once and closes its
//! connection. Connect errors, 429 (after the `Retry-After` the provider asks
//! for) and 5xx are retried with exponential backoff and jitter, but never
//! once part of the answer has streamed; other 4xx fail at once with the
//! provider's own message. Every call ends with one [`UsageEvent`].

mod anthropic;
mod gemini;
mod openai;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::RuntimeError;
use crate::settings::{CallLimits, ProviderKind, ProviderSettings};
use crate::sse::{SseError, SseEvent, SseParser};
use crate::tools::{ToolCall, ToolResult, ToolSpec};
use crate::usage::{PriceTable, UsageEvent, UsageOutcome, UsageSink};

/// Most bytes of an error answer read to find the provider's message.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Most characters of a provider's message kept in an error.
const MAX_MESSAGE_CHARS: usize = 500;
/// Deltas waiting for a slow reader before the call waits for it.
const CHANNEL_DEPTH: usize = 64;
/// Most tool calls read from one answer.
const MAX_TOOL_CALLS: usize = 32;

/// Who wrote a message of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person, or the runtime on their behalf.
    #[default]
    User,
    /// The model.
    Assistant,
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
    /// The tools the model called in this message (a model message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// What those calls gave (a user message that follows them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_results: Vec<ToolResult>,
}

impl Message {
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
            ..Self::default()
        }
    }

    /// A model message (earlier turns of a conversation).
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
            ..Self::default()
        }
    }

    /// The model's message that called `calls` (with any text it wrote).
    pub fn tool_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
            tool_calls: calls,
            ..Self::default()
        }
    }

    /// The answers to the calls of the message before.
    pub fn tool_results(results: Vec<ToolResult>) -> Self {
        Self {
            role: Role::User,
            tool_results: results,
            ..Self::default()
        }
    }
}

/// What to ask the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The system prompt, if any.
    pub system: Option<String>,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// A model other than the provider's, if the agent names one.
    pub model: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Most answer tokens.
    pub max_tokens: Option<u32>,
    /// Who asks (an agent's name, a sandbox step), carried into the usage event.
    pub label: Option<String>,
    /// The tools the model may call.
    pub tools: Vec<ToolSpec>,
}

impl ChatRequest {
    /// A request holding one user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            messages: vec![Message::user(content)],
            ..Self::default()
        }
    }

    /// This request with `system` as its system prompt.
    pub fn with_system(mut self, system: impl Into<String>) -> Self {
        self.system = Some(system.into());
        self
    }

    /// This request labelled `label` in usage events.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The characters sent, for estimates.
    fn characters(&self) -> usize {
        self.system.as_deref().map_or(0, str::len)
            + self
                .messages
                .iter()
                .map(|message| {
                    message.content.len()
                        + message
                            .tool_calls
                            .iter()
                            .map(|call| call.name.len() + call.arguments.len())
                            .sum::<usize>()
                        + message
                            .tool_results
                            .iter()
                            .map(|result| result.content.len())
                            .sum::<usize>()
                })
                .sum::<usize>()
            + self
                .tools
                .iter()
                .map(|tool| {
                    tool.name.len() + tool.description.len() + tool.parameters.to_string().len()
                })
                .sum::<usize>()
    }
}

/// Tokens used by one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
    /// Whether the provider reported both counts (otherwise they are
    /// estimated at four characters a token).
    pub reported: bool,
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The text, every delta joined.
    pub text: String,
    /// The model that was asked.
    pub model: String,
    /// Tokens in and out.
    pub usage: TokenUsage,
    /// Why the model stopped, in the provider's words (`stop`, `end_turn`, `STOP`…).
    pub stop_reason: Option<String>,
    /// How many requests it took.
    pub attempts: u32,
    /// From the first request to the end.
    pub latency: Duration,
    /// From the first request to the first piece of text.
    pub first_token: Option<Duration>,
    /// The tools the model called, in order (their answers go in the next request).
    pub tool_calls: Vec<ToolCall>,
}

/// What a streaming call hands over.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The next piece of text.
    Delta(String),
    /// The answer is complete; nothing follows.
    Done(Completion),
}

/// The receiving end of a call: deltas in order, then the completion or an
/// error. Dropping it cancels the call.
#[derive(Debug)]
pub struct CompletionStream {
    receiver: mpsc::Receiver<Result<StreamEvent, RuntimeError>>,
}

impl CompletionStream {
    /// A stream over `receiver`, for providers other than [`HttpProvider`]:
    /// deltas in order, then one completion or one error.
    pub fn new(receiver: mpsc::Receiver<Result<StreamEvent, RuntimeError>>) -> Self {
        Self { receiver }
    }

    /// The next event, or `None` once the completion or an error was handed over.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, RuntimeError>> {
        self.receiver.recv().await
    }

    /// Waits for the whole answer, calling `on_delta` with each piece of text.
    pub async fn for_each_delta(
        mut self,
        mut on_delta: impl FnMut(&str),
    ) -> Result<Completion, RuntimeError> {
        while let Some(event) = self.next().await {
            match event? {
                StreamEvent::Delta(text) => on_delta(&text),
                StreamEvent::Done(completion) => return Ok(completion),
            }
        }
        // The call's task ended without a word: only a panic does that.
        Err(RuntimeError::Interrupted {
            provider: "the provider",
            reason: "the call ended without an answer".into(),
        })
    }

    /// Waits for the whole answer.
    pub async fn collect(self) -> Result<Completion, RuntimeError> {
        self.for_each_delta(|_| {}).await
    }
}

/// A model provider.
pub trait Provider: Send + Sync {
    /// Its wire format.
    fn kind(&self) -> ProviderKind;

    /// The model asked for when a request names none.
    fn model(&self) -> &str;

    /// Starts a streaming call on the current tokio runtime. Cancelling
    /// `cancel` (or dropping the stream) stops it and drops its request.
    fn stream(&self, request: ChatRequest, cancel: CancellationToken) -> CompletionStream;
}

/// A provider over HTTP, in any of the three wire formats.
#[derive(Clone)]
pub struct HttpProvider {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    settings: ProviderSettings,
    api_key: Option<String>,
    client: reqwest::Client,
    format: &'static dyn WireFormat,
    usage: UsageSink,
    prices: PriceTable,
}

impl std::fmt::Debug for HttpProvider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HttpProvider")
            .field("settings", &self.inner.settings)
            .field(
                "api_key",
                &self.inner.api_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl HttpProvider {
    /// A provider for `settings`, using `api_key` (read from the keyring by
    /// the caller). Fails on invalid settings or a missing key.
    pub fn new(settings: ProviderSettings, api_key: Option<String>) -> Result<Self, RuntimeError> {
        settings.validate()?;
        let api_key = api_key.filter(|key| !key.trim().is_empty());
        if settings.kind.needs_api_key() && api_key.is_none() {
            return Err(RuntimeError::MissingApiKey {
                provider: settings.kind.label(),
            });
        }
        if api_key
            .as_deref()
            .is_some_and(|key| key.len() > 4_096 || key.chars().any(char::is_control))
        {
            return Err(RuntimeError::InvalidSettings(
                "the API key must be at most 4,096 characters, with no control characters".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(settings.limits.connect_timeout())
            .user_agent(concat!("orrery/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| RuntimeError::Http {
                provider: settings.kind.label(),
                reason: describe(&error),
            })?;
        let format: &'static dyn WireFormat = match settings.kind {
            ProviderKind::OpenAiCompatible => &openai::OpenAi,
            ProviderKind::Anthropic => &anthropic::Anthropic,
            ProviderKind::Gemini => &gemini::Gemini,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                api_key,
                client,
                format,
                usage: UsageSink::none(),
                prices: PriceTable::list_prices(),
            }),
        })
    }

    /// This provider reporting usage to `sink`.
    pub fn with_usage(mut self, sink: UsageSink) -> Self {
        Arc::make_mut(&mut self.inner).usage = sink;
        self
    }

    /// This provider estimating costs from `prices`.
    pub fn with_prices(mut self, prices: PriceTable) -> Self {
        Arc::make_mut(&mut self.inner).prices = prices;
        self
    }

    /// Its settings.
    pub fn settings(&self) -> &ProviderSettings {
        &self.inner.settings
    }
}

impl Provider for HttpProvider {
    fn kind(&self) -> ProviderKind {
        self.inner.settings.kind
    }

    fn model(&self) -> &str {
        &self.inner.settings.model
    }

    fn stream(&self, request: ChatRequest, cancel: CancellationToken) -> CompletionStream {
        let (sender, receiver) = mpsc::channel(CHANNEL_DEPTH);
        let inner = self.inner.clone();
        let model = request
            .model
            .clone()
            .filter(|model| !model.trim().is_empty())
            .unwrap_or_else(|| inner.settings.model.clone());
        let span = tracing::info_span!(
            "model_call",
            provider = ?inner.settings.kind,
            model = %model,
            label = request.label.as_deref().unwrap_or(""),
        );
        let call = Call {
            url: inner.format.url(inner.settings.base(), &model),
            body: inner.format.body(&model, &request),
            input_characters: request.characters(),
            label: request.label,
            model,
            inner,
            cancel,
            sender,
            started: Instant::now(),
            first_token: None,
            attempts: 0,
            text: String::new(),
            text_chars: 0,
            input_tokens: None,
            output_tokens: None,
            stop_reason: None,
            tool_calls: Vec::new(),
        };
        tokio::spawn(call.run().instrument(span));
        CompletionStream { receiver }
    }
}

/// One piece of an answer stream, decoded.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Chunk {
    /// Text to append (may be empty).
    pub text: String,
    /// Prompt tokens, if this chunk reports them.
    pub input_tokens: Option<u64>,
    /// Answer tokens so far, if this chunk reports them.
    pub output_tokens: Option<u64>,
    /// Why the model stopped, if it did.
    pub stop_reason: Option<String>,
    /// The provider marked the end of the stream.
    pub done: bool,
    /// Pieces of tool calls.
    pub tool_calls: Vec<ToolCallDelta>,
}

/// A piece of a tool call as it streams.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ToolCallDelta {
    /// Which call it continues (the provider's index); `None`: a whole new
    /// call (Gemini sends each call in one piece).
    pub index: Option<u64>,
    /// The call's id, when this piece carries it.
    pub id: Option<String>,
    /// The tool's name, when this piece carries it.
    pub name: Option<String>,
    /// More of the arguments' JSON text.
    pub arguments: String,
}

/// Why a chunk cannot be used.
#[derive(Debug, PartialEq)]
pub(crate) enum ChunkError {
    /// Not the JSON the format promises.
    Malformed(String),
    /// The provider reported an error; `retryable` when it says it is
    /// overloaded or failed internally.
    Provider { message: String, retryable: bool },
}

impl ChunkError {
    fn malformed(error: serde_json::Error) -> Self {
        ChunkError::Malformed(error.to_string())
    }
}

/// What differs between providers: the request's address, headers and body,
/// and how a stream event reads.
pub(crate) trait WireFormat: Send + Sync {
    /// Where to send the request.
    fn url(&self, base: &str, model: &str) -> String;
    /// The request with its headers (authentication, versions).
    fn authorise(
        &self,
        request: reqwest::RequestBuilder,
        api_key: Option<&str>,
    ) -> reqwest::RequestBuilder;
    /// The JSON body.
    fn body(&self, model: &str, request: &ChatRequest) -> serde_json::Value;
    /// Reads one stream event.
    fn decode(&self, event: &SseEvent) -> Result<Chunk, ChunkError>;
}

/// How one attempt failed.
enum Failure {
    /// Worth another attempt (if any are left and nothing streamed yet),
    /// not before `retry_after`.
    Retryable {
        error: RuntimeError,
        retry_after: Option<Duration>,
    },
    /// Final.
    Fatal(RuntimeError),
}

/// One call in flight, owned by its task.
struct Call {
    inner: Arc<Inner>,
    url: String,
    body: serde_json::Value,
    model: String,
    label: Option<String>,
    input_characters: usize,
    cancel: CancellationToken,
    sender: mpsc::Sender<Result<StreamEvent, RuntimeError>>,
    started: Instant,
    first_token: Option<Duration>,
    attempts: u32,
    text: String,
    text_chars: usize,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    stop_reason: Option<String>,
    /// Tool calls as they stream: (provider's index, id, name, arguments so far).
    tool_calls: Vec<(Option<u64>, Option<String>, String, String)>,
}

impl Call {
    fn provider(&self) -> &'static str {
        self.inner.settings.kind.label()
    }

    fn limits(&self) -> &CallLimits {
        &self.inner.settings.limits
    }

    async fn run(mut self) {
        let result = self.attempts_until_done().await;
        let outcome = match &result {
            Ok(()) => UsageOutcome::Completed,
            Err(RuntimeError::Cancelled) => UsageOutcome::Cancelled,
            Err(error) => UsageOutcome::Failed {
                error: error.to_string(),
            },
        };
        let usage = self.usage();
        let completion = Completion {
            text: std::mem::take(&mut self.text),
            model: self.model.clone(),
            usage,
            stop_reason: self.stop_reason.take(),
            attempts: self.attempts,
            latency: self.started.elapsed(),
            first_token: self.first_token,
            tool_calls: std::mem::take(&mut self.tool_calls)
                .into_iter()
                .enumerate()
                .map(|(position, (_, id, name, arguments))| ToolCall {
                    id: id.unwrap_or_else(|| format!("call_{position}")),
                    name,
                    arguments,
                })
                .collect(),
        };
        match &result {
            Ok(()) => tracing::info!(
                attempts = self.attempts,
                input_tokens = usage.input_tokens,
                output_tokens = usage.output_tokens,
                "answered"
            ),
            Err(error) => tracing::warn!(attempts = self.attempts, %error, "call failed"),
        }
        self.inner.usage.record(UsageEvent {
            provider: self.inner.settings.kind,
            model: self.model.clone(),
            label: self.label.clone(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            tokens_reported: usage.reported,
            latency_ms: millis(completion.latency),
            first_token_ms: completion.first_token.map(millis),
            attempts: self.attempts,
            cost_nanodollars: self.inner.prices.estimate(
                &self.model,
                usage.input_tokens,
                usage.output_tokens,
            ),
            outcome,
        });
        // Nobody may be listening any more (a dropped stream): that is fine.
        let _ = self
            .sender
            .send(result.map(|()| StreamEvent::Done(completion)))
            .await;
    }

    fn usage(&self) -> TokenUsage {
        let estimate = |characters: usize| characters.div_ceil(4) as u64;
        TokenUsage {
            input_tokens: self
                .input_tokens
                .unwrap_or_else(|| estimate(self.input_characters)),
            output_tokens: self
                .output_tokens
                .unwrap_or_else(|| estimate(self.text.len())),
            reported: self.input_tokens.is_some() && self.output_tokens.is_some(),
        }
    }

    async fn attempts_until_done(&mut self) -> Result<(), RuntimeError> {
        loop {
            self.attempts += 1;
            let (error, retry_after) = match self.attempt().await {
                Ok(()) => return Ok(()),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Retryable { error, retry_after }) => (error, retry_after),
            };
            if self.attempts >= self.limits().max_attempts || !self.text.is_empty() {
                return Err(error);
            }
            let delay = backoff(self.attempts, self.limits()).max(retry_after.unwrap_or_default());
            tracing::info!(attempt = self.attempts, delay_ms = millis(delay), %error, "retrying");
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(RuntimeError::Cancelled),
                () = self.sender.closed() => return Err(RuntimeError::Cancelled),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Waits for `future`, giving up on cancellation, on the reader going
    /// away, or after the idle timeout.
    async fn wait<T>(
        &self,
        future: impl Future<Output = T>,
        stage: &'static str,
    ) -> Result<T, Failure> {
        let idle = self.limits().idle_timeout();
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(Failure::Fatal(RuntimeError::Cancelled)),
            () = self.sender.closed() => Err(Failure::Fatal(RuntimeError::Cancelled)),
            result = tokio::time::timeout(idle, future) => result.map_err(|_| {
                Failure::Fatal(RuntimeError::Timeout { provider: self.provider(), stage, after: idle })
            }),
        }
    }

    async fn attempt(&mut self) -> Result<(), Failure> {
        let request = self
            .inner
            .client
            .post(&self.url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&self.body);
        let request = self
            .inner
            .format
            .authorise(request, self.inner.api_key.as_deref());
        let response = self
            .wait(request.send(), "waiting for the answer to begin")
            .await?
            .map_err(|error| self.transport_failure(&error))?;
        if !response.status().is_success() {
            return Err(self.status_failure(response).await);
        }

        let mut response = response;
        let mut parser = SseParser::new(self.limits().max_line_bytes);
        let mut events = Vec::new();
        loop {
            let chunk = self
                .wait(response.chunk(), "waiting for the next part of the answer")
                .await?;
            let finished = match chunk {
                Ok(Some(bytes)) => {
                    parser
                        .push(&bytes, &mut events)
                        .map_err(|error| self.stream_failure(error))?;
                    false
                }
                Ok(None) => {
                    parser
                        .finish(&mut events)
                        .map_err(|error| self.stream_failure(error))?;
                    true
                }
                Err(error) => {
                    return Err(
                        self.broken_stream(format!("the connection dropped: {}", describe(&error)))
                    );
                }
            };
            for event in events.drain(..) {
                if self.take(&event).await? {
                    return Ok(());
                }
            }
            if finished {
                // Some servers close without an end marker once the model
                // has stopped; a stream that closes before that is cut short.
                if self.stop_reason.is_some() {
                    return Ok(());
                }
                return Err(
                    self.broken_stream("the stream closed before the end of the answer".into())
                );
            }
        }
    }

    /// Takes one event; `true` when the stream is complete.
    async fn take(&mut self, event: &SseEvent) -> Result<bool, Failure> {
        let provider = self.provider();
        let chunk = match self.inner.format.decode(event) {
            Ok(chunk) => chunk,
            Err(ChunkError::Malformed(reason)) => {
                return Err(Failure::Fatal(RuntimeError::MalformedChunk {
                    provider,
                    reason,
                    excerpt: excerpt(&event.data),
                }));
            }
            Err(ChunkError::Provider { message, retryable }) => {
                let error = RuntimeError::ProviderError {
                    provider,
                    message: excerpt(&message),
                };
                return Err(if retryable {
                    Failure::Retryable {
                        error,
                        retry_after: None,
                    }
                } else {
                    Failure::Fatal(error)
                });
            }
        };
        if chunk.input_tokens.is_some() {
            self.input_tokens = chunk.input_tokens;
        }
        if chunk.output_tokens.is_some() {
            self.output_tokens = chunk.output_tokens;
        }
        if chunk.stop_reason.is_some() {
            self.stop_reason = chunk.stop_reason;
        }
        for delta in chunk.tool_calls {
            let known = delta.index.and_then(|index| {
                self.tool_calls
                    .iter()
                    .position(|(seen, ..)| *seen == Some(index))
            });
            let position = match known {
                Some(position) => position,
                None => {
                    if self.tool_calls.len() >= MAX_TOOL_CALLS {
                        return Err(Failure::Fatal(RuntimeError::MalformedChunk {
                            provider,
                            reason: format!("more than {MAX_TOOL_CALLS} tool calls in one answer"),
                            excerpt: excerpt(&event.data),
                        }));
                    }
                    self.tool_calls
                        .push((delta.index, None, String::new(), String::new()));
                    self.tool_calls.len() - 1
                }
            };
            let (_, id, name, arguments) = &mut self.tool_calls[position];
            if delta.id.is_some() {
                *id = delta.id;
            }
            if let Some(delta_name) = delta.name {
                name.push_str(&delta_name);
            }
            if arguments.len() + delta.arguments.len() > crate::tools::MAX_ARGUMENT_BYTES + 1 {
                return Err(Failure::Fatal(RuntimeError::MalformedChunk {
                    provider,
                    reason: "a tool call's arguments are larger than allowed".into(),
                    excerpt: excerpt(&event.data),
                }));
            }
            arguments.push_str(&delta.arguments);
        }
        if !chunk.text.is_empty() {
            let limit = self.limits().max_answer_chars;
            self.text_chars += chunk.text.chars().count();
            if self.text_chars > limit {
                return Err(Failure::Fatal(RuntimeError::AnswerTooLong {
                    provider,
                    limit,
                }));
            }
            self.first_token
                .get_or_insert_with(|| self.started.elapsed());
            self.text.push_str(&chunk.text);
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(Failure::Fatal(RuntimeError::Cancelled)),
                sent = self.sender.send(Ok(StreamEvent::Delta(chunk.text))) => {
                    if sent.is_err() {
                        return Err(Failure::Fatal(RuntimeError::Cancelled));
                    }
                }
            }
        }
        Ok(chunk.done)
    }

    fn stream_failure(&self, error: SseError) -> Failure {
        let provider = self.provider();
        Failure::Fatal(match error {
            SseError::LineTooLong { limit } | SseError::EventTooLarge { limit } => {
                RuntimeError::LineTooLong { provider, limit }
            }
        })
    }

    /// The stream broke: retried while nothing has streamed, final after.
    fn broken_stream(&self, reason: String) -> Failure {
        if self.text.is_empty() {
            Failure::Retryable {
                error: RuntimeError::Unavailable {
                    provider: self.provider(),
                    attempts: self.attempts,
                    last: reason,
                },
                retry_after: None,
            }
        } else {
            Failure::Fatal(RuntimeError::Interrupted {
                provider: self.provider(),
                reason,
            })
        }
    }

    fn transport_failure(&self, error: &reqwest::Error) -> Failure {
        let settings = &self.inner.settings;
        if error.is_connect() {
            let hint = if settings.is_local() && settings.kind == ProviderKind::OpenAiCompatible {
                format!(
                    "Start a local one with `ollama serve` (and `ollama pull {}`), or choose another provider on the Providers screen.",
                    self.model
                )
            } else {
                "Check the address and the network connection, or choose another provider on the Providers screen.".to_owned()
            };
            return Failure::Retryable {
                error: RuntimeError::NoProvider {
                    base_url: settings.base().to_owned(),
                    hint,
                },
                retry_after: None,
            };
        }
        if error.is_builder() {
            return Failure::Fatal(RuntimeError::Http {
                provider: self.provider(),
                reason: describe(error),
            });
        }
        // The connection was reset or closed before an answer: try again.
        Failure::Retryable {
            error: RuntimeError::Unavailable {
                provider: self.provider(),
                attempts: self.attempts,
                last: describe(error),
            },
            retry_after: None,
        }
    }

    async fn status_failure(&self, mut response: reqwest::Response) -> Failure {
        let provider = self.provider();
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY_BYTES {
            match self.wait(response.chunk(), "reading the error").await {
                Ok(Ok(Some(bytes))) => body.extend_from_slice(&bytes),
                Ok(Ok(None) | Err(_)) => break,
                // Cancelled while reading: that wins.
                Err(Failure::Fatal(RuntimeError::Cancelled)) => {
                    return Failure::Fatal(RuntimeError::Cancelled);
                }
                Err(_) => break,
            }
        }
        body.truncate(MAX_ERROR_BODY_BYTES);
        let message = error_message(&body, status);
        match status {
            429 => {
                let error = RuntimeError::RateLimited {
                    provider,
                    retry_after,
                    message,
                };
                let longest = Duration::from_millis(self.limits().max_retry_after_ms);
                if retry_after.is_some_and(|after| after > longest) {
                    Failure::Fatal(error)
                } else {
                    Failure::Retryable { error, retry_after }
                }
            }
            500..=599 => Failure::Retryable {
                error: RuntimeError::Unavailable {
                    provider,
                    attempts: self.attempts,
                    last: format!("HTTP {status}: {message}"),
                },
                retry_after: retry_after.filter(|after| {
                    *after <= Duration::from_millis(self.limits().max_retry_after_ms)
                }),
            },
            401 | 403 => Failure::Fatal(RuntimeError::Rejected {
                provider,
                status,
                message: format!("{message} (check the API key on the Providers screen)"),
            }),
            _ => Failure::Fatal(RuntimeError::Rejected {
                provider,
                status,
                message,
            }),
        }
    }
}

/// The wait before retry number `attempt` (1 for the first retry): the first
/// backoff doubled each time, capped, with "equal jitter" (between half and
/// all of it) so that many callers do not retry in step.
pub(crate) fn backoff(attempt: u32, limits: &CallLimits) -> Duration {
    let doubled = limits
        .initial_backoff_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(32));
    let ceiling = doubled.min(limits.max_backoff_ms);
    let floor = ceiling / 2;
    let jittered = if ceiling > floor {
        rand::random_range(floor..=ceiling)
    } else {
        ceiling
    };
    Duration::from_millis(jittered)
}

/// A `Retry-After` header: seconds, or an HTTP date.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or_default())
}

/// The provider's own message in an error answer: `error.message` (OpenAI,
/// Anthropic, Gemini), `error` as text (Ollama), `message`, or the start of
/// the text.
pub(crate) fn error_message(body: &[u8], status: u16) -> String {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let found = json
            .pointer("/error/message")
            .or_else(|| json.get("error").filter(|value| value.is_string()))
            .or_else(|| json.get("message"))
            .and_then(serde_json::Value::as_str);
        if let Some(message) = found {
            return excerpt(message);
        }
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        return match status {
            500..=599 => "the provider failed without a message".into(),
            _ => "no message".into(),
        };
    }
    excerpt(text.trim())
}

/// The start of a text, for messages.
fn excerpt(text: &str) -> String {
    let mut cut: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// An error and its causes, as one line.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Consecutive messages of one role, as (role, messages): Anthropic and
/// Gemini want turns to alternate, so they send these as one turn of
/// several parts (each text byte for byte, then tool calls or results).
pub(crate) fn turns(messages: &[Message]) -> Vec<(Role, Vec<&Message>)> {
    let mut turns: Vec<(Role, Vec<&Message>)> = Vec::new();
    for message in messages {
        match turns.last_mut() {
            Some((role, parts)) if *role == message.role => parts.push(message),
            _ => turns.push((message.role, vec![message])),
        }
    }
    turns
}

/// Whether a message's text is sent as a part: always for plain messages
/// (even empty, as before tools), only when there is some beside tool calls
/// or results.
pub(crate) fn sends_text(message: &Message) -> bool {
    (message.tool_calls.is_empty() && message.tool_results.is_empty())
        || !message.content.is_empty()
}

/// A tool call's arguments as a JSON object for the formats that want one
/// (Anthropic's `input`, Gemini's `args`): what the model sent when it is an
/// object, otherwise an empty one.
pub(crate) fn arguments_object(call: &ToolCall) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(&call.arguments) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        _ => serde_json::json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stays_capped() {
        let limits = CallLimits {
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            ..CallLimits::default()
        };
        for _ in 0..200 {
            let first = backoff(1, &limits).as_millis();
            assert!((50..=100).contains(&first), "{first}");
            let third = backoff(3, &limits).as_millis();
            assert!((200..=400).contains(&third), "{third}");
            let late = backoff(30, &limits).as_millis();
            assert!((500..=1_000).contains(&late), "{late}");
        }
        // Not always the same: the jitter spreads retries.
        let spread: std::collections::HashSet<_> = (0..50).map(|_| backoff(4, &limits)).collect();
        assert!(spread.len() > 1);
        let none = CallLimits {
            initial_backoff_ms: 0,
            max_backoff_ms: 0,
            ..CallLimits::default()
        };
        assert_eq!(backoff(3, &none), Duration::ZERO);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let later = (chrono::Utc::now() + chrono::TimeDelta::seconds(30)).to_rfc2822();
        headers.insert(reqwest::header::RETRY_AFTER, later.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn error_messages_come_from_each_providers_shape() {
        let openai = br#"{"error":{"message":"model not found","type":"invalid_request_error"}}"#;
        assert_eq!(error_message(openai, 404), "model not found");
        let anthropic =
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}"#;
        assert_eq!(error_message(anthropic, 400), "max_tokens: required");
        let gemini =
            br#"{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(error_message(gemini, 400), "API key not valid");
        let ollama = br#"{"error":"model 'llama9' not found"}"#;
        assert_eq!(error_message(ollama, 404), "model 'llama9' not found");
        assert_eq!(
            error_message(b"<html>Bad Gateway</html>", 502),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(
            error_message(b"", 503),
            "the provider failed without a message"
        );
        let long = "x".repeat(5_000);
        assert_eq!(
            error_message(long.as_bytes(), 400).chars().count(),
            MAX_MESSAGE_CHARS + 1
        );
    }

    #[test]
    fn consecutive_messages_of_one_role_make_one_turn() {
        let messages = [
            Message::user("a"),
            Message::user("b"),
            Message::assistant("c"),
            Message::user("d"),
        ];
        let texts: Vec<(Role, Vec<&str>)> = turns(&messages)
            .into_iter()
            .map(|(role, parts)| {
                (
                    role,
                    parts
                        .iter()
                        .map(|message| message.content.as_str())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            texts,
            [
                (Role::User, vec!["a", "b"]),
                (Role::Assistant, vec!["c"]),
                (Role::User, vec!["d"])
            ]
        );
    }
}
