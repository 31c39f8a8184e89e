//! The runtime's one error type. Every message is written for the person at
//! the keyboard: what went wrong, with which provider, and what to do next.

use std::time::Duration;

/// Everything that can go wrong in the runtime.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    /// Provider settings that cannot be used.
    #[error("the provider settings are not valid: {0}")]
    InvalidSettings(String),

    /// A provider that needs an API key was given none.
    #[error("{provider} needs an API key; add one on the Providers screen")]
    MissingApiKey {
        /// The provider's name.
        provider: &'static str,
    },

    /// Nothing answers at the provider's address (connection refused, no
    /// such host, connect timeout), after the configured attempts.
    #[error("No model provider answers at {base_url}. {hint}")]
    NoProvider {
        /// The base URL that was tried.
        base_url: String,
        /// What to do about it.
        hint: String,
    },

    /// The provider went quiet for longer than the idle timeout.
    #[error("{provider} did not answer for {} s ({stage}); the call was abandoned", .after.as_secs_f64())]
    Timeout {
        /// The provider's name.
        provider: &'static str,
        /// What the runtime was waiting for.
        stage: &'static str,
        /// How long it waited.
        after: Duration,
    },

    /// The provider refused the request (a 4xx other than 429). Not retried.
    #[error("{provider} refused the request (HTTP {status}): {message}")]
    Rejected {
        /// The provider's name.
        provider: &'static str,
        /// The HTTP status.
        status: u16,
        /// The provider's own message, cut to a readable length.
        message: String,
    },

    /// The provider asked to wait longer than the runtime is willing to, or
    /// kept answering 429 until the attempts ran out.
    #[error("{provider} is rate limiting this key{}: {message}", retry_after_text(.retry_after))]
    RateLimited {
        /// The provider's name.
        provider: &'static str,
        /// What the provider last asked for.
        retry_after: Option<Duration>,
        /// The provider's own message.
        message: String,
    },

    /// The provider kept failing (5xx, dropped connections) until the
    /// attempts ran out.
    #[error("{provider} failed after {attempts} attempt{}; the last answer was {last}", if *.attempts == 1 { "" } else { "s" })]
    Unavailable {
        /// The provider's name.
        provider: &'static str,
        /// How many requests were made.
        attempts: u32,
        /// The last failure, in words.
        last: String,
    },

    /// The provider reported an error inside its answer stream.
    #[error("{provider} reported an error: {message}")]
    ProviderError {
        /// The provider's name.
        provider: &'static str,
        /// The provider's own message.
        message: String,
    },

    /// A chunk of the answer stream is not the JSON the provider's format
    /// promises.
    #[error("{provider} sent a chunk that is not valid JSON ({reason}): {excerpt}")]
    MalformedChunk {
        /// The provider's name.
        provider: &'static str,
        /// What is wrong with it.
        reason: String,
        /// The start of the chunk.
        excerpt: String,
    },

    /// A line of the answer stream was longer than allowed; reading stopped
    /// there so memory stays bounded.
    #[error("{provider} sent a line longer than {limit} bytes; the answer was abandoned")]
    LineTooLong {
        /// The provider's name.
        provider: &'static str,
        /// The limit in bytes.
        limit: usize,
    },

    /// The answer grew past the allowed length.
    #[error("{provider}'s answer grew past {limit} characters; the answer was abandoned")]
    AnswerTooLong {
        /// The provider's name.
        provider: &'static str,
        /// The limit in characters.
        limit: usize,
    },

    /// The connection broke or closed before the answer was complete. When
    /// part of the answer had already streamed the call is never retried.
    #[error("the connection to {provider} was lost before the answer was complete ({reason})")]
    Interrupted {
        /// The provider's name.
        provider: &'static str,
        /// What happened.
        reason: String,
    },

    /// Any other HTTP failure.
    #[error("talking to {provider} failed: {reason}")]
    Http {
        /// The provider's name.
        provider: &'static str,
        /// What happened.
        reason: String,
    },

    /// The call was cancelled (by the user, or because whoever waited for
    /// the answer went away).
    #[error("the call was cancelled")]
    Cancelled,

    /// The prompt has no published version to run.
    #[error("prompt “{prompt}” has no published version; publish one in the Library")]
    NoActiveVersion {
        /// The prompt's title.
        prompt: String,
    },

    /// The prompt uses variables that were given no value.
    #[error("the prompt needs values for: {}", .names.join(", "))]
    MissingVariables {
        /// The missing names, sorted.
        names: Vec<String>,
    },

    /// The filled prompt, or the request as a whole, is too large.
    #[error("{what} is {length} characters long; the limit is {limit}")]
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// Its length in characters.
        length: usize,
        /// The limit in characters.
        limit: usize,
    },

    /// There is nothing to ask: no prompt content and no task.
    #[error("there is nothing to send: the prompt and the task are both empty")]
    EmptyRequest,

    /// A validator that cannot be used (a bad regex, a bad schema).
    #[error("the {validator} validator is not valid: {reason}")]
    InvalidValidator {
        /// Which validator.
        validator: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The output failed one or more validators.
    #[error("the output was rejected: {}", join_failures(.0))]
    OutputRejected(Vec<crate::validate::ValidationFailure>),

    /// A sandbox plan or graph that cannot be run.
    #[error("the plan cannot be run: {0}")]
    InvalidPlan(String),

    /// The model kept calling tools wrongly (unknown tools, arguments that
    /// are not JSON or do not match the schema) past its allowance.
    #[error("the model made {count} invalid tool calls; the last: {last}")]
    InvalidToolCalls {
        /// How many.
        count: usize,
        /// What was wrong with the last one.
        last: String,
    },

    /// A tool could not run because what runs it is gone (an MCP server
    /// that exited mid-call).
    #[error("the tool `{tool}` is not available: {reason}")]
    ToolUnavailable {
        /// The tool.
        tool: String,
        /// Why.
        reason: String,
    },

    /// The model kept calling tools for more rounds than allowed.
    #[error("the model was still calling tools after {rounds} rounds; the step was stopped")]
    TooManyToolRounds {
        /// The allowance.
        rounds: usize,
    },

    /// A step of a sandbox run failed; the run stopped.
    #[error("step “{step}” ({agent}) failed: {error}")]
    StepFailed {
        /// The step's id.
        step: String,
        /// The agent's name.
        agent: String,
        /// What went wrong.
        error: Box<RuntimeError>,
    },
}

/// What the person can do about a failure, when one place in the app
/// fixes it: the chat offers it as a button beside the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    /// The provider's settings, key or model need looking at (the
    /// Providers screen).
    OpenProviders,
}

impl RuntimeError {
    /// What fixes this failure, if one place does: settings that cannot be
    /// used, a missing or refused key, nothing answering at the address, or
    /// a model the provider does not have are all mended on the Providers
    /// screen.
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            RuntimeError::InvalidSettings(_)
            | RuntimeError::MissingApiKey { .. }
            | RuntimeError::NoProvider { .. }
            | RuntimeError::Rejected {
                status: 401 | 403 | 404,
                ..
            } => Some(Remedy::OpenProviders),
            RuntimeError::StepFailed { error, .. } => error.remedy(),
            _ => None,
        }
    }

    /// Whether the call was cancelled.
    pub fn is_cancelled(&self) -> bool {
        match self {
            RuntimeError::Cancelled => true,
            RuntimeError::StepFailed { error, .. } => error.is_cancelled(),
            _ => false,
        }
    }
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(after) => format!(" (it asks to wait {} s)", after.as_secs()),
        None => String::new(),
    }
}

fn join_failures(failures: &[crate::validate::ValidationFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
