//! orrery-runtime: the agent runtime.
//!
//! - [`provider`]: model providers behind one trait ([`Provider`]), spoken
//!   over reqwest in three wire formats (OpenAI-compatible, Anthropic,
//!   Gemini) with streaming, timeouts, retries and cancellation;
//! - [`prompt`]: the active prompt version with its `{{variables}}` filled,
//!   and the messages of a call;
//! - [`validate`]: validators on outputs (regex, length, contains, JSON schema);
//! - [`usage`]: one usage event per call (tokens, latency, cost estimate, errors);
//! - [`run`]: one agent call end to end;
//! - [`sandbox`]: the headless orchestrator of a session's graph of agents;
//! - [`sse`]: the server-sent events parser the providers stream through;
//! - `double` (feature `double`): a stand-in provider on loopback for tests
//!   and benchmarks.
//!
//! It must not know plans, payments or access rules (callers ask the policy
//! engine before they call), nor storage, windows or the canvas.

mod error;
pub mod prompt;
pub mod provider;
pub mod run;
pub mod sandbox;
pub mod settings;
pub mod sse;
pub mod tools;
pub mod usage;
pub mod validate;

#[cfg(feature = "double")]
pub mod double;

pub use error::{Remedy, RuntimeError};
pub use prompt::{AssembledPrompt, assemble, fill_template, template_variables};
pub use provider::{
    ChatRequest, Completion, CompletionStream, HttpProvider, Message, Provider, Role, StreamEvent,
    TokenUsage,
};
pub use run::{
    AgentAnswer, AgentCall, ToolEvent, ToolLimits, chat_history, complete_with_tools, run_agent,
    run_agent_with_tools,
};
pub use sandbox::{
    Decision, Plan, PlanStep, Resolution, Sandbox, SandboxEvent, SandboxOutcome, Team,
};
pub use settings::{CallLimits, ProviderKind, ProviderSettings};
pub use tokio_util::sync::CancellationToken;
pub use tools::{Tool, ToolBox, ToolCall, ToolError, ToolPermissions, ToolResult, ToolSpec};
pub use usage::{ModelPrice, PriceTable, UsageEvent, UsageOutcome, UsageSink};
pub use validate::{Compile, ValidationFailure, Validator, ValidatorSet};
