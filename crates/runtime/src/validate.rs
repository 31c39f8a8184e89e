//! Validators on prompts (F9): regex, length, contains and JSON schema. They
//! run on every output a prompt produced; a failure names the validator and
//! says why, in words a prompt author can act on.
//!
//! Validators are compiled once (a bad pattern or schema is an error before
//! any model is called) and are bounded: patterns and schemas have size
//! limits, regexes run in linear time (the `regex` crate has no
//! backtracking), and schemas never fetch anything over the network.

use serde::{Deserialize, Serialize};

use crate::RuntimeError;

pub use orrery_domain::{MAX_PATTERN_CHARS, MAX_SCHEMA_BYTES, Validator};

/// Most schema violations listed in one failure.
const MAX_LISTED_VIOLATIONS: usize = 5;

/// Compiling a [`Validator`] (kept in `orrery-domain` as plain data).
pub trait Compile {
    /// Checks and prepares the validator.
    fn compile(&self) -> Result<CompiledValidator, RuntimeError>;
}

impl Compile for Validator {
    fn compile(&self) -> Result<CompiledValidator, RuntimeError> {
        let invalid = |reason: String| RuntimeError::InvalidValidator {
            validator: self.kind_name().to_owned(),
            reason,
        };
        let check = match self {
            Validator::Regex { pattern } => {
                let length = pattern.chars().count();
                if length > MAX_PATTERN_CHARS {
                    return Err(invalid(format!(
                        "the pattern is {length} characters long; the limit is {MAX_PATTERN_CHARS}"
                    )));
                }
                let regex = regex::RegexBuilder::new(pattern)
                    .size_limit(1 << 20)
                    .dfa_size_limit(1 << 20)
                    .build()
                    .map_err(|error| invalid(error.to_string()))?;
                Check::Regex(regex)
            }
            Validator::Length { min, max } => {
                if let (Some(min), Some(max)) = (min, max)
                    && min > max
                {
                    return Err(invalid(format!(
                        "the minimum ({min}) is larger than the maximum ({max})"
                    )));
                }
                if min.is_none() && max.is_none() {
                    return Err(invalid("give a minimum, a maximum or both".into()));
                }
                Check::Length {
                    min: *min,
                    max: *max,
                }
            }
            Validator::Contains { text, ignore_case } => {
                if text.is_empty() {
                    return Err(invalid("the text to look for is empty".into()));
                }
                let length = text.chars().count();
                if length > MAX_PATTERN_CHARS {
                    return Err(invalid(format!(
                        "the text is {length} characters long; the limit is {MAX_PATTERN_CHARS}"
                    )));
                }
                Check::Contains {
                    needle: if *ignore_case {
                        text.to_lowercase()
                    } else {
                        text.clone()
                    },
                    shown: text.clone(),
                    ignore_case: *ignore_case,
                }
            }
            Validator::JsonSchema { schema } => {
                let bytes = serde_json::to_vec(schema).map_or(usize::MAX, |json| json.len());
                if bytes > MAX_SCHEMA_BYTES {
                    return Err(invalid(format!(
                        "the schema is {bytes} bytes as JSON; the limit is {MAX_SCHEMA_BYTES}"
                    )));
                }
                let validator = jsonschema::validator_for(schema)
                    .map_err(|error| invalid(error.to_string()))?;
                Check::JsonSchema(Box::new(validator))
            }
        };
        Ok(CompiledValidator {
            label: self.label(),
            check,
        })
    }
}

/// Why an output failed one validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{validator} validator: {reason}")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ValidationFailure {
    /// Which validator (kind and what it checks).
    pub validator: String,
    /// Why the output failed it.
    pub reason: String,
}

enum Check {
    Regex(regex::Regex),
    Length {
        min: Option<usize>,
        max: Option<usize>,
    },
    Contains {
        needle: String,
        shown: String,
        ignore_case: bool,
    },
    JsonSchema(Box<jsonschema::Validator>),
}

/// A validator ready to run.
pub struct CompiledValidator {
    label: String,
    check: Check,
}

impl std::fmt::Debug for CompiledValidator {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CompiledValidator")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl CompiledValidator {
    /// Checks `output`.
    pub fn check(&self, output: &str) -> Result<(), ValidationFailure> {
        self.check_text(output, "the output")
    }

    /// Checks `text`, which failures call `noun` ("the output", "the prompt text").
    pub fn check_text(&self, output: &str, noun: &str) -> Result<(), ValidationFailure> {
        let fail = |reason: String| {
            Err(ValidationFailure {
                validator: self.label.clone(),
                reason,
            })
        };
        match &self.check {
            Check::Regex(regex) => {
                if !regex.is_match(output) {
                    return fail(format!("{noun} does not match the pattern"));
                }
            }
            Check::Length { min, max } => {
                let length = output.chars().count();
                if let Some(min) = min
                    && length < *min
                {
                    return fail(format!(
                        "{noun} is {length} characters long; the minimum is {min}"
                    ));
                }
                if let Some(max) = max
                    && length > *max
                {
                    return fail(format!(
                        "{noun} is {length} characters long; the maximum is {max}"
                    ));
                }
            }
            Check::Contains {
                needle,
                shown,
                ignore_case,
            } => {
                let found = if *ignore_case {
                    output.to_lowercase().contains(needle.as_str())
                } else {
                    output.contains(needle.as_str())
                };
                if !found {
                    return fail(format!("{noun} does not contain “{shown}”"));
                }
            }
            Check::JsonSchema(validator) => {
                let json = match serde_json::from_str::<serde_json::Value>(json_text(output)) {
                    Ok(json) => json,
                    Err(error) => return fail(format!("{noun} is not JSON ({error})")),
                };
                let violations: Vec<String> = validator
                    .iter_errors(&json)
                    .take(MAX_LISTED_VIOLATIONS + 1)
                    .map(|error| {
                        let path = error.instance_path().to_string();
                        let place = if path.is_empty() {
                            noun.to_owned()
                        } else {
                            format!("at {path}")
                        };
                        format!("{place}: {}", error.masked())
                    })
                    .collect();
                if !violations.is_empty() {
                    let mut reason = violations
                        .iter()
                        .take(MAX_LISTED_VIOLATIONS)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ");
                    if violations.len() > MAX_LISTED_VIOLATIONS {
                        reason.push_str("; and more");
                    }
                    return fail(reason);
                }
            }
        }
        Ok(())
    }
}

/// The JSON inside an output that is one fenced code block, or the output.
pub fn json_text(output: &str) -> &str {
    let trimmed = output.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return trimmed;
    };
    // Drop the info string (`json`) on the opening line.
    match body.split_once('\n') {
        Some((info, inner)) if !info.contains('`') => inner.trim(),
        _ => trimmed,
    }
}

/// Several validators, compiled once, run together.
#[derive(Debug, Default)]
pub struct ValidatorSet {
    validators: Vec<CompiledValidator>,
}

impl ValidatorSet {
    /// Compiles every validator; the first bad one is the error.
    pub fn compile(validators: &[Validator]) -> Result<Self, RuntimeError> {
        Ok(Self {
            validators: validators
                .iter()
                .map(Compile::compile)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Runs every validator on `output`; all failures, in order.
    pub fn failures(&self, output: &str) -> Vec<ValidationFailure> {
        self.failures_of(output, "the output")
    }

    /// Runs every validator on `text` (named `noun` in failures); all
    /// failures, in order.
    pub fn failures_of(&self, text: &str, noun: &str) -> Vec<ValidationFailure> {
        self.validators
            .iter()
            .filter_map(|validator| validator.check_text(text, noun).err())
            .collect()
    }

    /// Runs every validator; the error lists every failure.
    pub fn check(&self, output: &str) -> Result<(), RuntimeError> {
        let failures = self.failures(output);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(RuntimeError::OutputRejected(failures))
        }
    }

    /// How many validators there are.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reason(validator: &Validator, output: &str) -> String {
        validator
            .compile()
            .unwrap()
            .check(output)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn each_kind_accepts_good_output_and_says_why_bad_output_fails() {
        let regex = Validator::Regex {
            pattern: r"^\d{3}-\d{4}$".into(),
        };
        assert!(regex.compile().unwrap().check("555-1234").is_ok());
        assert_eq!(
            reason(&regex, "call me"),
            r"regex `^\d{3}-\d{4}$` validator: the output does not match the pattern"
        );

        let length = Validator::Length {
            min: Some(3),
            max: Some(5),
        };
        assert!(length.compile().unwrap().check("ñañá").is_ok());
        assert_eq!(
            reason(&length, "ab"),
            "length 3–5 validator: the output is 2 characters long; the minimum is 3"
        );
        assert!(reason(&length, "abcdef").contains("the maximum is 5"));

        let contains = Validator::Contains {
            text: "Sources:".into(),
            ignore_case: true,
        };
        assert!(
            contains
                .compile()
                .unwrap()
                .check("…\nSOURCES: a, b")
                .is_ok()
        );
        assert_eq!(
            reason(&contains, "no list"),
            "contains “Sources:” validator: the output does not contain “Sources:”"
        );

        let schema = Validator::JsonSchema {
            schema: json!({
                "type": "object",
                "required": ["name", "age"],
                "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}
            }),
        };
        let compiled = schema.compile().unwrap();
        assert!(compiled.check(r#"{"name": "Ana", "age": 30}"#).is_ok());
        assert!(
            compiled
                .check("```json\n{\"name\": \"Ana\", \"age\": 30}\n```")
                .is_ok()
        );
        let wrong = reason(&schema, r#"{"name": "Ana", "age": -1}"#);
        assert!(
            wrong.starts_with("JSON schema validator: at /age:"),
            "{wrong}"
        );
        let missing = reason(&schema, r#"{"name": "Ana"}"#);
        assert!(
            missing.contains("\"age\" is a required property"),
            "{missing}"
        );
        let not_json = reason(&schema, "Sure! Here it is: {name: Ana}");
        assert!(not_json.contains("the output is not JSON"), "{not_json}");
    }

    #[test]
    fn bad_validators_are_refused_before_any_call() {
        let error = Validator::Regex {
            pattern: "(unclosed".into(),
        }
        .compile()
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the regex validator is not valid"),
            "{error}"
        );
        let huge = Validator::Regex {
            pattern: "a{1000}{1000}".into(),
        };
        assert!(huge.compile().is_err(), "the compiled size is bounded");
        assert!(
            Validator::Length {
                min: Some(5),
                max: Some(1)
            }
            .compile()
            .is_err()
        );
        assert!(
            Validator::Length {
                min: None,
                max: None
            }
            .compile()
            .is_err()
        );
        assert!(
            Validator::Contains {
                text: String::new(),
                ignore_case: false
            }
            .compile()
            .is_err()
        );
        let schema = Validator::JsonSchema {
            schema: json!({"type": "not-a-type"}),
        };
        assert!(
            schema
                .compile()
                .unwrap_err()
                .to_string()
                .contains("JSON schema validator is not valid")
        );
    }

    #[test]
    fn a_set_lists_every_failure() {
        let set = ValidatorSet::compile(&[
            Validator::Length {
                min: Some(10),
                max: None,
            },
            Validator::Contains {
                text: "END".into(),
                ignore_case: false,
            },
        ])
        .unwrap();
        assert_eq!(set.len(), 2);
        let error = set.check("short").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the output was rejected: length ≥ 10 validator: the output is 5 characters long; \
             the minimum is 10; contains “END” validator: the output does not contain “END”"
        );
        assert!(set.check("long enough END").is_ok());
    }

    #[test]
    fn validators_read_from_json() {
        let validators: Vec<Validator> = serde_json::from_value(json!([
            {"kind": "regex", "pattern": "^ok"},
            {"kind": "length", "max": 10},
            {"kind": "contains", "text": "ok"},
            {"kind": "json_schema", "schema": {"type": "string"}}
        ]))
        .unwrap();
        assert_eq!(
            validators[1],
            Validator::Length {
                min: None,
                max: Some(10)
            }
        );
        assert_eq!(validators[3].kind_name(), "JSON schema");
    }
}
