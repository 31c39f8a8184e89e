//! One agent call end to end (F17): assemble the prompt from its active
//! version, call the provider, stream the text to the caller, then run the
//! prompt's validators on the output. Usage is reported by the provider for
//! every call, whatever its end.

use std::collections::BTreeMap;

use orrery_domain::{Agent, Prompt, PromptVersionId};
use tokio_util::sync::CancellationToken;

use crate::RuntimeError;
use crate::prompt::{AssembledPrompt, assemble};
use crate::provider::{Completion, Provider};
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
        }
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
    let request = assembled.request().with_label(call.agent.name.clone());
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
