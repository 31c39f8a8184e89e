//! One agent call end to end (F17): assemble the prompt from its active
//! version, call the provider, stream the text to the caller, then run the
//! prompt's validators on the output. Usage is reported by the provider for
//! every call, whatever its end.

use std::collections::BTreeMap;

use orrery_domain::{Agent, ChatMessage, ChatRole, Prompt, PromptVersionId};
use tokio_util::sync::CancellationToken;

use crate::RuntimeError;
use crate::prompt::{AssembledPrompt, assemble};
use crate::provider::{ChatRequest, Completion, Message, Provider, Role};
use crate::tools::{ToolBox, ToolCall, ToolResult};

/// Most earlier messages of a chat shown to the model with a new task.
pub const HISTORY_MESSAGES: usize = 40;
/// Most characters of earlier messages shown to the model with a new task.
pub const HISTORY_CHARS: usize = 32_000;
use crate::validate::{Validator, ValidatorSet};

/// What to run.
#[derive(Debug, Clone)]
pub struct AgentCall<'a> {
    /// The agent: system prompt, model, parameters.
    pub agent: &'a Agent,
    /// The prompt whose active version is filled in, if any.
    pub prompt: Option<&'a Prompt>,
    /// Values for the prompt's `{{variables}}`.
    pub variables: BTreeMap<String, String>,
    /// The user's task.
    pub task: String,
    /// Checks on the output.
    pub validators: Vec<Validator>,
    /// Earlier turns of the conversation, oldest first, sent before the
    /// prompt and the task (see [`chat_history`]).
    pub history: Vec<Message>,
}

impl<'a> AgentCall<'a> {
    /// `agent` asked `task`, with no prompt and no validators.
    pub fn new(agent: &'a Agent, task: impl Into<String>) -> Self {
        Self {
            agent,
            prompt: None,
            variables: BTreeMap::new(),
            task: task.into(),
            validators: Vec::new(),
            history: Vec::new(),
        }
    }

    /// This call continuing a conversation: `history`, oldest first.
    pub fn with_history(mut self, history: Vec<Message>) -> Self {
        self.history = history;
        self
    }

    /// This call with `prompt` filled from `variables`.
    pub fn with_prompt(
        mut self,
        prompt: &'a Prompt,
        variables: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> Self {
        self.prompt = Some(prompt);
        self.variables = variables
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        self
    }

    /// This call with `validators` run on the output.
    pub fn with_validators(mut self, validators: Vec<Validator>) -> Self {
        self.validators = validators;
        self
    }
}

/// A validated answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentAnswer {
    /// What was sent.
    pub assembled: AssembledPrompt,
    /// The prompt version used, if any.
    pub prompt_version: Option<PromptVersionId>,
    /// What came back, with usage.
    pub completion: Completion,
}

impl AgentAnswer {
    /// The answer's text.
    pub fn text(&self) -> &str {
        &self.completion.text
    }
}

/// Runs `call` on `provider`, calling `on_delta` with each piece of text as
/// it streams. Validators are compiled before the provider is called, so a
/// bad validator costs no tokens; an output that fails them is
/// [`RuntimeError::OutputRejected`] with every failure listed.
pub async fn run_agent(
    provider: &dyn Provider,
    call: AgentCall<'_>,
    cancel: CancellationToken,
    on_delta: impl FnMut(&str),
) -> Result<AgentAnswer, RuntimeError> {
    let validators = ValidatorSet::compile(&call.validators)?;
    let assembled = assemble(call.agent, call.prompt, &call.variables, &call.task)?;
    let mut request = assembled.request().with_label(call.agent.name.clone());
    request.messages.splice(0..0, call.history);
    let completion = provider
        .stream(request, cancel)
        .for_each_delta(on_delta)
        .await?;
    validators.check(&completion.text)?;
    Ok(AgentAnswer {
        prompt_version: assembled.version,
        assembled,
        completion,
    })
}

/// How far a model may go with tools in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolLimits {
    /// Rounds of calls (a model answer that calls tools, then their
    /// results) before the step stops.
    pub max_rounds: usize,
    /// Invalid calls (unknown tool, arguments that are not JSON or do not
    /// match the schema) handed back to the model as errors before the step
    /// fails with the reason.
    pub max_invalid_calls: usize,
}

impl Default for ToolLimits {
    fn default() -> Self {
        Self {
            max_rounds: 8,
            max_invalid_calls: 3,
        }
    }
}

/// What happens with tools during a step, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolEvent {
    /// The model asked for `call`; it runs now (after any confirmation).
    Called(ToolCall),
    /// The call gave this (an error result when it failed or was refused).
    Answered(ToolResult),
}

/// [`run_agent`] with tools: the model may call `tools`; each call is
/// checked and run by the box and its result goes back to the model, which
/// answers again, until it answers without calling any (then the
/// validators run on that answer). Invalid calls go back as error results,
/// at most `limits.max_invalid_calls` times, and then the step fails with the
/// reason; so does a model still calling after `limits.max_rounds` rounds.
/// `on_tool` hears every call and result. The answer's completion carries
/// the tokens of every round.
pub async fn run_agent_with_tools(
    provider: &dyn Provider,
    call: AgentCall<'_>,
    tools: &ToolBox,
    limits: ToolLimits,
    cancel: CancellationToken,
    on_delta: impl FnMut(&str),
    on_tool: impl FnMut(ToolEvent),
) -> Result<AgentAnswer, RuntimeError> {
    let validators = ValidatorSet::compile(&call.validators)?;
    let assembled = assemble(call.agent, call.prompt, &call.variables, &call.task)?;
    let mut request = assembled.request().with_label(call.agent.name.clone());
    request.messages.splice(0..0, call.history);
    let completion =
        complete_with_tools(provider, request, tools, limits, cancel, on_delta, on_tool).await?;
    validators.check(&completion.text)?;
    Ok(AgentAnswer {
        prompt_version: assembled.version,
        assembled,
        completion,
    })
}

/// The tool rounds of one request (see [`run_agent_with_tools`]): `request`
/// is sent with `tools` offered, each call the model makes is run and its
/// result sent back, until the model answers without calling. The
/// completion is that last answer, with the tokens and time of every round.
pub async fn complete_with_tools(
    provider: &dyn Provider,
    mut request: ChatRequest,
    tools: &ToolBox,
    limits: ToolLimits,
    cancel: CancellationToken,
    mut on_delta: impl FnMut(&str),
    mut on_tool: impl FnMut(ToolEvent),
) -> Result<Completion, RuntimeError> {
    request.tools = tools.specs();
    let mut invalid = 0;
    let mut rounds = 0;
    let mut input_tokens = 0;
    let mut output_tokens = 0;
    let mut reported = true;
    let started = std::time::Instant::now();
    loop {
        let mut completion = provider
            .stream(request.clone(), cancel.clone())
            .for_each_delta(&mut on_delta)
            .await?;
        input_tokens += completion.usage.input_tokens;
        output_tokens += completion.usage.output_tokens;
        reported &= completion.usage.reported;
        if completion.tool_calls.is_empty() {
            completion.usage.input_tokens = input_tokens;
            completion.usage.output_tokens = output_tokens;
            completion.usage.reported = reported;
            completion.latency = started.elapsed();
            return Ok(completion);
        }
        rounds += 1;
        if rounds > limits.max_rounds {
            return Err(RuntimeError::TooManyToolRounds {
                rounds: limits.max_rounds,
            });
        }
        let mut results = Vec::with_capacity(completion.tool_calls.len());
        for tool_call in &completion.tool_calls {
            on_tool(ToolEvent::Called(tool_call.clone()));
            let outcome = tools.run(tool_call, &cancel).await;
            match &outcome {
                Err(crate::tools::ToolError::Cancelled) => return Err(RuntimeError::Cancelled),
                Err(crate::tools::ToolError::Unavailable(reason)) => {
                    return Err(RuntimeError::ToolUnavailable {
                        tool: tool_call.name.clone(),
                        reason: reason.clone(),
                    });
                }
                _ => {}
            }
            let result = match outcome {
                Ok(content) => ToolResult {
                    call_id: tool_call.id.clone(),
                    name: tool_call.name.clone(),
                    content,
                    is_error: false,
                },
                Err(error) => {
                    if error.is_invalid_call() {
                        invalid += 1;
                        if invalid > limits.max_invalid_calls {
                            return Err(RuntimeError::InvalidToolCalls {
                                count: invalid,
                                last: format!(
                                    "`{}`: {error}",
                                    tool_call.name.chars().take(80).collect::<String>()
                                ),
                            });
                        }
                    }
                    ToolResult {
                        call_id: tool_call.id.clone(),
                        name: tool_call.name.clone(),
                        content: error.to_string(),
                        is_error: true,
                    }
                }
            };
            on_tool(ToolEvent::Answered(result.clone()));
            results.push(result);
        }
        request.messages.push(Message::tool_calls(
            std::mem::take(&mut completion.text),
            std::mem::take(&mut completion.tool_calls),
        ));
        request.messages.push(Message::tool_results(results));
    }
}

/// The end of a chat as turns for the model: the person's messages and the
/// agents' answers (the sandbox's and the manager's notes left out), at most
/// [`HISTORY_MESSAGES`] messages and [`HISTORY_CHARS`] characters, newest
/// kept, starting with the person (as every provider accepts).
pub fn chat_history(messages: &[ChatMessage]) -> Vec<Message> {
    let mut kept = Vec::new();
    let mut characters = 0;
    for message in messages.iter().rev() {
        let role = match message.role {
            ChatRole::User => Role::User,
            ChatRole::Agent => Role::Assistant,
            ChatRole::Manager | ChatRole::System => continue,
        };
        characters += message.text.chars().count();
        if kept.len() == HISTORY_MESSAGES || characters > HISTORY_CHARS {
            break;
        }
        kept.push(Message {
            role,
            content: message.text.clone(),
            ..Message::default()
        });
    }
    while kept
        .last()
        .is_some_and(|message| message.role == Role::Assistant)
    {
        kept.pop();
    }
    kept.reverse();
    kept
}

#[cfg(test)]
mod history_tests {
    use super::*;
    use orrery_domain::MessageId;

    fn said(role: ChatRole, text: &str) -> ChatMessage {
        ChatMessage {
            id: MessageId::new(),
            role,
            author: "someone".into(),
            text: text.into(),
            at: "2026-12-07T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_chat_becomes_turns_newest_kept_person_first() {
        let chat = [
            said(ChatRole::Agent, "Welcome."),
            said(ChatRole::User, "What is 2+2?"),
            said(ChatRole::System, "The run failed: timeout"),
            said(ChatRole::Agent, "Four."),
            said(ChatRole::User, "And 3+3?"),
        ];
        let turns = chat_history(&chat);
        assert_eq!(
            turns,
            vec![
                Message::user("What is 2+2?"),
                Message::assistant("Four."),
                Message::user("And 3+3?"),
            ]
        );
    }

    #[test]
    fn history_is_bounded_in_messages_and_characters() {
        let long: Vec<_> = (0..100)
            .map(|index| said(ChatRole::User, &format!("message {index}")))
            .collect();
        let turns = chat_history(&long);
        assert_eq!(turns.len(), HISTORY_MESSAGES);
        assert_eq!(turns.last().unwrap().content, "message 99");
        let big = [
            said(ChatRole::User, &"a".repeat(HISTORY_CHARS)),
            said(ChatRole::User, "short"),
        ];
        assert_eq!(chat_history(&big), vec![Message::user("short")]);
    }
}
