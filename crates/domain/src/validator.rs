//! Validators kept on a prompt (F9): what each checks (regex, length,
//! contains, JSON schema) and what it checks it on — the prompt's own text
//! each time a version is saved, or every output an agent produced with the
//! prompt. This is the stored description and its size limits; the runtime
//! compiles and runs them.

use serde::{Deserialize, Serialize};

use crate::library::LibraryError;

/// Longest regex pattern or `contains` text, in characters.
pub const MAX_PATTERN_CHARS: usize = 1_000;
/// Largest JSON schema, as JSON bytes.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Most validators on one prompt.
pub const MAX_VALIDATORS_PER_PROMPT: usize = 16;

/// A check on a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Validator {
    /// The text must match the pattern somewhere (anchor it with `^…$`
    /// to match the whole text).
    Regex {
        /// The pattern (Rust `regex` syntax).
        pattern: String,
    },
    /// The text's length in characters must be within bounds.
    Length {
        /// Fewest characters, if any.
        #[serde(default)]
        min: Option<usize>,
        /// Most characters, if any.
        #[serde(default)]
        max: Option<usize>,
    },
    /// The text must contain this.
    Contains {
        /// The text.
        text: String,
        /// Whether case is ignored.
        #[serde(default)]
        ignore_case: bool,
    },
    /// The text must be JSON valid against the schema. A text that is one
    /// fenced code block (```json … ```) is read inside the fence.
    JsonSchema {
        /// The schema (any draft the runtime knows; defaults to 2020-12).
        schema: serde_json::Value,
    },
}

impl Validator {
    /// The validator's kind, as messages name it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Validator::Regex { .. } => "regex",
            Validator::Length { .. } => "length",
            Validator::Contains { .. } => "contains",
            Validator::JsonSchema { .. } => "JSON schema",
        }
    }

    /// The validator as a failure names it: its kind and what it checks.
    pub fn label(&self) -> String {
        match self {
            Validator::Regex { pattern } => {
                format!("regex `{}`", pattern.chars().take(80).collect::<String>())
            }
            Validator::Length { min, max } => match (min, max) {
                (Some(min), Some(max)) => format!("length {min}–{max}"),
                (Some(min), None) => format!("length ≥ {min}"),
                (None, Some(max)) => format!("length ≤ {max}"),
                (None, None) => "length".into(),
            },
            Validator::Contains { text, .. } => {
                format!("contains “{}”", text.chars().take(80).collect::<String>())
            }
            Validator::JsonSchema { .. } => "JSON schema".into(),
        }
    }

    /// Checks the sizes and the simple rules (a pattern, a text to look
    /// for, bounds in order); whether a pattern or schema compiles is the
    /// runtime's check.
    pub fn check_limits(&self) -> Result<(), String> {
        match self {
            Validator::Regex { pattern } => {
                if pattern.is_empty() {
                    return Err("the pattern is empty".into());
                }
                bounded_chars("the pattern", pattern)
            }
            Validator::Length { min, max } => match (min, max) {
                (None, None) => Err("give a minimum, a maximum or both".into()),
                (Some(min), Some(max)) if min > max => Err(format!(
                    "the minimum ({min}) is larger than the maximum ({max})"
                )),
                _ => Ok(()),
            },
            Validator::Contains { text, .. } => {
                if text.is_empty() {
                    return Err("the text to look for is empty".into());
                }
                bounded_chars("the text", text)
            }
            Validator::JsonSchema { schema } => {
                let bytes = serde_json::to_vec(schema).map_or(usize::MAX, |json| json.len());
                if bytes > MAX_SCHEMA_BYTES {
                    return Err(format!(
                        "the schema is {bytes} bytes as JSON; the limit is {MAX_SCHEMA_BYTES}"
                    ));
                }
                if !(schema.is_object() || schema.is_boolean()) {
                    return Err("a JSON schema is an object (or true / false)".into());
                }
                Ok(())
            }
        }
    }
}

fn bounded_chars(what: &str, text: &str) -> Result<(), String> {
    let length = text.chars().count();
    if length > MAX_PATTERN_CHARS {
        return Err(format!(
            "{what} is {length} characters long; the limit is {MAX_PATTERN_CHARS}"
        ));
    }
    Ok(())
}

/// What a prompt's validator checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ValidatorTarget {
    /// Every output an agent produced with the prompt.
    #[default]
    Output,
    /// The prompt's own text, each time a version is saved (a version that
    /// fails cannot be published).
    Content,
}

/// A validator kept on a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PromptValidator {
    /// What it checks.
    #[serde(default)]
    pub target: ValidatorTarget,
    /// The check.
    #[serde(flatten)]
    pub validator: Validator,
}

impl PromptValidator {
    /// A validator of every output.
    pub fn on_output(validator: Validator) -> Self {
        Self {
            target: ValidatorTarget::Output,
            validator,
        }
    }

    /// A validator of the prompt's own text.
    pub fn on_content(validator: Validator) -> Self {
        Self {
            target: ValidatorTarget::Content,
            validator,
        }
    }
}

/// Checks a prompt's validators: how many, and each one's limits.
pub fn check_prompt_validators(validators: &[PromptValidator]) -> Result<(), LibraryError> {
    if validators.len() > MAX_VALIDATORS_PER_PROMPT {
        return Err(LibraryError::TooMany {
            what: "prompt validators",
            count: validators.len(),
            limit: MAX_VALIDATORS_PER_PROMPT,
        });
    }
    for (position, entry) in validators.iter().enumerate() {
        entry
            .validator
            .check_limits()
            .map_err(|reason| LibraryError::InvalidValidator {
                position: position + 1,
                kind: entry.validator.kind_name(),
                reason,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_validators_read_back_with_their_target() {
        let json = r#"[{"kind":"regex","pattern":"^ok"},
                       {"kind":"length","max":10,"target":"content"}]"#;
        let validators: Vec<PromptValidator> = serde_json::from_str(json).unwrap();
        assert_eq!(validators[0].target, ValidatorTarget::Output);
        assert_eq!(
            validators[1],
            PromptValidator::on_content(Validator::Length {
                min: None,
                max: Some(10)
            })
        );
        let again: Vec<PromptValidator> =
            serde_json::from_str(&serde_json::to_string(&validators).unwrap()).unwrap();
        assert_eq!(again, validators);
    }

    #[test]
    fn limits_are_named_with_the_validator() {
        let many = vec![
            PromptValidator::on_output(Validator::Contains {
                text: "x".into(),
                ignore_case: false
            });
            MAX_VALIDATORS_PER_PROMPT + 1
        ];
        assert!(matches!(
            check_prompt_validators(&many),
            Err(LibraryError::TooMany { .. })
        ));
        let bad = [
            PromptValidator::on_output(Validator::Regex {
                pattern: "ok".into(),
            }),
            PromptValidator::on_content(Validator::Length {
                min: Some(5),
                max: Some(2),
            }),
        ];
        let error = check_prompt_validators(&bad).unwrap_err().to_string();
        assert!(error.contains("validator 2 (length)"), "{error}");
        assert!(error.contains("minimum (5) is larger"), "{error}");
        for hostile in [
            Validator::Regex {
                pattern: "a".repeat(MAX_PATTERN_CHARS + 1),
            },
            Validator::Regex {
                pattern: String::new(),
            },
            Validator::Contains {
                text: String::new(),
                ignore_case: true,
            },
            Validator::JsonSchema {
                schema: serde_json::json!("a string"),
            },
            Validator::JsonSchema {
                schema: serde_json::json!({ "description": "x".repeat(MAX_SCHEMA_BYTES) }),
            },
        ] {
            assert!(hostile.check_limits().is_err(), "{hostile:?}");
        }
    }
}
