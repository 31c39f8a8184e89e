//! One agent call end to end (F17): assemble the prompt from its active
//! version, call the provider, stream the text to the caller, then run the
//! prompt's validators on the output. Usage is reported by the provider for
//! every call, whatever its end.

use std::collections::BTreeMap;

use orrery_domain::{Agent, ChatMessage, ChatRole, Prompt, PromptVersionId};
use tokio_util::sync::CancellationToken;

use crate::RuntimeError;
use crate::prompt::{AssembledPrompt, assemble};
use crate::provider::{Completion, Message, Provider, Role};

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
