//! Prompt assembly: the prompt's active version, its `{{variables}}` filled
//! in, and the messages sent to the model (the agent's system prompt, the
//! filled prompt, the user's task).
//!
//! A variable is `{{name}}`, with any whitespace inside the braces
//! (`{{ name }}`); a name is letters, digits, `_`, `-` and `.`. Braces around
//! anything else (`{{"json": 1}}`) are left as they are. Values are inserted
//! as they are and never expanded again, so a value holding `{{other}}` stays
//! literal text.

use std::collections::{BTreeMap, BTreeSet};

use orrery_domain::{Agent, Prompt, PromptVersion, PromptVersionId, resolve_active_version};

use crate::RuntimeError;
use crate::provider::{ChatRequest, Message};

/// Longest prompt after filling, in characters.
pub const MAX_FILLED_CHARS: usize = 1_000_000;
/// Longest variable name, in characters.
pub const MAX_VARIABLE_NAME_CHARS: usize = 64;

/// A piece of a template.
enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// Splits a template into text and variables.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut at = 0;
    while let Some(found) = template[at..].find("{{") {
        let open = at + found;
        let inner_start = open + 2;
        let Some(length) = template[inner_start..].find("}}") else {
            break;
        };
        let inner = &template[inner_start..inner_start + length];
        let name = inner.trim();
        if is_variable_name(name) {
            if open > text_start {
                pieces.push(Piece::Text(&template[text_start..open]));
            }
            pieces.push(Piece::Variable(name));
            at = inner_start + length + 2;
            text_start = at;
        } else {
            // Not a variable: keep the first brace and look again after it,
            // so `{{{name}}}` still finds `{{name}}`.
            at = open + 1;
        }
    }
    if text_start < template.len() {
        pieces.push(Piece::Text(&template[text_start..]));
    }
    pieces
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_VARIABLE_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The variables a template uses, each once, in order of first use.
pub fn template_variables(template: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    pieces(template)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Variable(name) if seen.insert(name) => Some(name.to_owned()),
            _ => None,
        })
        .collect()
}

/// Fills `template`'s variables from `values`. Every variable must have a
/// value (the error lists those that do not); values are not expanded again.
pub fn fill_template(
    template: &str,
    values: &BTreeMap<String, String>,
) -> Result<String, RuntimeError> {
    let pieces = pieces(template);
    let missing: BTreeSet<&str> = pieces
        .iter()
        .filter_map(|piece| match piece {
            Piece::Variable(name) if !values.contains_key(*name) => Some(*name),
            _ => None,
        })
        .collect();
    if !missing.is_empty() {
        return Err(RuntimeError::MissingVariables {
            names: missing.into_iter().map(str::to_owned).collect(),
        });
    }
    let mut filled = String::with_capacity(template.len());
    let mut length = 0;
    for piece in pieces {
        let text = match piece {
            Piece::Text(text) => text,
            Piece::Variable(name) => values[name].as_str(),
        };
        length += text.chars().count();
        if length > MAX_FILLED_CHARS {
            return Err(RuntimeError::TooLarge {
                what: "the filled prompt",
                length,
                limit: MAX_FILLED_CHARS,
            });
        }
        filled.push_str(text);
    }
    Ok(filled)
}

/// The version of `prompt` the runtime uses: the one active version (when
/// concurrent publishes left several, the domain's rule picks one).
pub fn active_version(prompt: &Prompt) -> Result<PromptVersion, RuntimeError> {
    let mut versions = prompt.versions.clone();
    resolve_active_version(&mut versions);
    versions
        .into_iter()
        .find(|version| version.status == orrery_domain::VersionStatus::Active)
        .ok_or_else(|| RuntimeError::NoActiveVersion {
            prompt: prompt.title.clone(),
        })
}

/// Everything that is sent for one agent call.
#[derive(Debug, Clone, PartialEq)]
pub struct AssembledPrompt {
    /// The prompt version used, if the call had a prompt.
    pub version: Option<PromptVersionId>,
    /// The agent's system prompt, if it has one.
    pub system: Option<String>,
    /// The filled prompt (empty when the call had none).
    pub prompt: String,
    /// The user's task (may be empty when the prompt says it all).
    pub task: String,
    /// The model the agent names, if any.
    pub model: Option<String>,
    /// Sampling temperature from the agent's parameters.
    pub temperature: Option<f64>,
    /// Nucleus sampling from the agent's parameters.
    pub top_p: Option<f64>,
    /// Most answer tokens from the agent's parameters.
    pub max_tokens: Option<u32>,
}

impl AssembledPrompt {
    /// The request: the system prompt aside, then the filled prompt and the
    /// task as user messages, each exactly as assembled.
    pub fn request(&self) -> ChatRequest {
        let mut messages = Vec::new();
        if !self.prompt.is_empty() {
            messages.push(Message::user(self.prompt.clone()));
        }
        if !self.task.is_empty() {
            messages.push(Message::user(self.task.clone()));
        }
        ChatRequest {
            system: self.system.clone(),
            messages,
            model: self.model.clone(),
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_tokens,
            label: None,
            tools: Vec::new(),
        }
    }
}

/// Assembles a call of `agent`: its system prompt and parameters, the
/// active version of `prompt` (if any) filled from `values`, and `task`.
pub fn assemble(
    agent: &Agent,
    prompt: Option<&Prompt>,
    values: &BTreeMap<String, String>,
    task: &str,
) -> Result<AssembledPrompt, RuntimeError> {
    let (version, filled) = match prompt {
        Some(prompt) => {
            let version = active_version(prompt)?;
            let filled = fill_template(&version.content, values)?;
            (Some(version.id), filled)
        }
        None => (None, String::new()),
    };
    if filled.is_empty() && task.trim().is_empty() {
        return Err(RuntimeError::EmptyRequest);
    }
    let task_length = task.chars().count();
    if task_length > MAX_FILLED_CHARS {
        return Err(RuntimeError::TooLarge {
            what: "the task",
            length: task_length,
            limit: MAX_FILLED_CHARS,
        });
    }
    let parameter = |name: &str| {
        agent
            .parameters
            .get(name)
            .and_then(serde_json::Value::as_f64)
    };
    Ok(AssembledPrompt {
        version,
        system: Some(agent.system_prompt.clone()).filter(|system| !system.trim().is_empty()),
        prompt: filled,
        task: task.to_owned(),
        model: Some(agent.model.trim().to_owned()).filter(|model| !model.is_empty()),
        temperature: parameter("temperature"),
        top_p: parameter("top_p"),
        max_tokens: agent
            .parameters
            .get("max_tokens")
            .and_then(serde_json::Value::as_u64)
            .and_then(|tokens| u32::try_from(tokens).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_domain::VersionStatus;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn variables_are_filled_with_whitespace_inside_the_braces() {
        let template = "Dear {{name}}, from {{ city }} to {{\tcity\t}}.";
        assert_eq!(template_variables(template), ["name", "city"]);
        let filled =
            fill_template(template, &values(&[("name", "Ana"), ("city", "Porto")])).unwrap();
        assert_eq!(filled, "Dear Ana, from Porto to Porto.");
    }

    #[test]
    fn missing_variables_are_all_listed() {
        let error = fill_template("{{b}} {{a}} {{b}} {{c}}", &values(&[("c", "x")])).unwrap_err();
        assert_eq!(
            error,
            RuntimeError::MissingVariables {
                names: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(error.to_string(), "the prompt needs values for: a, b");
    }

    #[test]
    fn values_are_never_expanded_again() {
        let filled = fill_template(
            "{{first}} and {{second}}",
            &values(&[("first", "{{second}}"), ("second", "{{first}}")]),
        )
        .unwrap();
        assert_eq!(filled, "{{second}} and {{first}}");
    }

    #[test]
    fn braces_that_hold_no_name_are_left_alone() {
        let template = r#"JSON: {{"a": 1}} {{ }} {{ two words }} {{{x}}} {{unclosed"#;
        assert_eq!(template_variables(template), ["x"]);
        let filled = fill_template(template, &values(&[("x", "X")])).unwrap();
        assert_eq!(
            filled,
            r#"JSON: {{"a": 1}} {{ }} {{ two words }} {X} {{unclosed"#
        );
        assert_eq!(fill_template("", &BTreeMap::new()).unwrap(), "");
        assert_eq!(
            fill_template("ünïcødé {{ñ}}", &values(&[("ñ", "✓")])).unwrap(),
            "ünïcødé ✓"
        );
    }

    #[test]
    fn filled_prompts_are_bounded() {
        let big = "x".repeat(MAX_FILLED_CHARS / 2 + 1);
        let error = fill_template("{{a}}{{a}}", &values(&[("a", &big)])).unwrap_err();
        assert!(matches!(error, RuntimeError::TooLarge { .. }), "{error}");
    }

    #[test]
    fn assembly_uses_the_active_version_and_the_agent() {
        let mut agent = Agent::new("Writer");
        agent.system_prompt = "You write.".into();
        agent.model = "llama3.2".into();
        agent
            .parameters
            .insert("temperature".into(), serde_json::json!(0.3));
        agent
            .parameters
            .insert("max_tokens".into(), serde_json::json!(200));
        let mut prompt = Prompt::new("Letter");
        let mut draft = PromptVersion::draft("Draft {{x}}", "2026-11-23T10:00:00Z");
        let mut active = PromptVersion::draft("Active {{x}}", "2026-11-23T09:00:00Z");
        active.status = VersionStatus::Active;
        active.activated_at = Some("2026-11-23T09:30:00Z".into());
        draft.status = VersionStatus::Draft;
        prompt.versions = vec![active.clone(), draft];

        let assembled = assemble(&agent, Some(&prompt), &values(&[("x", "1")]), "Go").unwrap();
        assert_eq!(assembled.version, Some(active.id));
        assert_eq!(assembled.prompt, "Active 1");
        let request = assembled.request();
        assert_eq!(request.system.as_deref(), Some("You write."));
        assert_eq!(
            request.messages,
            [Message::user("Active 1"), Message::user("Go")]
        );
        assert_eq!(request.model.as_deref(), Some("llama3.2"));
        assert_eq!(request.temperature, Some(0.3));
        assert_eq!(request.max_tokens, Some(200));

        prompt
            .versions
            .retain(|version| version.status != VersionStatus::Active);
        let error = assemble(&agent, Some(&prompt), &BTreeMap::new(), "Go").unwrap_err();
        assert_eq!(
            error.to_string(),
            "prompt “Letter” has no published version; publish one in the Library"
        );
        assert_eq!(
            assemble(&agent, None, &BTreeMap::new(), "  "),
            Err(RuntimeError::EmptyRequest)
        );
    }
}
