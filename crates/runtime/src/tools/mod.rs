//! Tools agents call (function calling). A tool is a name, a description, a
//! JSON Schema for its arguments and a declared [`ToolPermissions`]: the
//! hosts it may reach, the folder it may read, whether each call waits for
//! the user's confirmation. [`ToolBox`] holds an agent's tools and runs the
//! calls a model makes: the arguments are checked against the schema before
//! anything runs, a tool that needs confirmation asks through the box's
//! [`Confirm`], and every run has a timeout and stops when the run is
//! cancelled. What goes wrong becomes an error result the model reads (see
//! [`crate::run::run_agent_with_tools`] for how many it may get).
//!
//! The built-in tools are in [`builtin`]: an HTTP GET of allow-listed hosts,
//! reading a file from a folder the user picked, a calculator, and the
//! current date and time.

pub mod builtin;
pub mod mcp;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Longest tool name (what the three providers accept: letters, digits,
/// `_` and `-`, 64 at most).
pub const MAX_TOOL_NAME_CHARS: usize = 64;
/// Longest tool description sent to the model.
pub const MAX_TOOL_DESCRIPTION_CHARS: usize = 2_000;
/// Largest arguments a model may send to one call.
pub const MAX_ARGUMENT_BYTES: usize = 64 * 1024;
/// Most characters of a tool's answer handed back to the model.
pub const MAX_RESULT_CHARS: usize = 32_000;
/// How long a tool may run unless the box says otherwise.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the model is told about a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// How the model names it.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// A JSON Schema (an object schema) for its arguments.
    pub parameters: Value,
}

/// What a tool may do, declared with it and enforced when it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolPermissions {
    /// Host names it may reach (exact, lower case); empty: no network.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The folder it may read files from; `None`: no files.
    #[serde(default)]
    pub folder: Option<PathBuf>,
    /// Whether each call waits for the user to allow it.
    #[serde(default)]
    pub confirm: bool,
}

impl ToolPermissions {
    /// Whether `host` is one it may reach.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }
}

/// A call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (made up when the provider gives none).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as the model sent them (JSON text, possibly broken).
    pub arguments: String,
}

/// What a call gave, handed back to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The call's id.
    pub call_id: String,
    /// The tool's name (Gemini answers by name).
    pub name: String,
    /// The answer, or what went wrong.
    pub content: String,
    /// Whether `content` says what went wrong.
    pub is_error: bool,
}

/// Why a call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The model named a tool the agent does not have.
    #[error("there is no tool called `{0}`")]
    Unknown(String),
    /// The arguments are not JSON (or too large).
    #[error("the arguments are not valid JSON: {0}")]
    NotJson(String),
    /// The arguments do not match the tool's schema.
    #[error("the arguments do not match the tool's schema: {0}")]
    InvalidArguments(String),
    /// The call needs something the tool was not allowed.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The user said no.
    #[error("the user did not allow this call")]
    Declined,
    /// The tool ran past its time.
    #[error("the tool did not answer within {} s", .0.as_secs_f32())]
    TimedOut(Duration),
    /// The run was cancelled while the tool ran.
    #[error("the run was cancelled")]
    Cancelled,
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
    /// What runs the tool is gone (an MCP server that exited): the step
    /// stops rather than let the model try again.
    #[error("{0}")]
    Unavailable(String),
}

impl ToolError {
    /// Whether the model's call itself was wrong (counted against the
    /// model's allowance of invalid calls).
    pub fn is_invalid_call(&self) -> bool {
        matches!(
            self,
            ToolError::Unknown(_) | ToolError::NotJson(_) | ToolError::InvalidArguments(_)
        )
    }
}

/// What a tool's run hands back.
pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = Result<String, ToolError>> + Send + 'a>>;

/// A tool an agent can call.
pub trait Tool: Send + Sync {
    /// What the model is told.
    fn spec(&self) -> &ToolSpec;
    /// What it may do.
    fn permissions(&self) -> &ToolPermissions;
    /// Runs it with arguments already checked against the schema.
    fn call<'a>(&'a self, arguments: &'a Value) -> ToolFuture<'a>;
}

/// Asks the user whether a call may run; `true` allows it.
pub type Confirm =
    Arc<dyn Fn(&ToolCall) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// A tool with its compiled schema.
struct Registered {
    tool: Arc<dyn Tool>,
    schema: jsonschema::Validator,
}

/// An agent's tools, ready to run the calls a model makes.
#[derive(Clone, Default)]
pub struct ToolBox {
    tools: BTreeMap<String, Arc<Registered>>,
    confirm: Option<Confirm>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for ToolBox {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ToolBox")
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .field("confirm", &self.confirm.is_some())
            .finish_non_exhaustive()
    }
}

/// Checks a tool's spec: a name the providers accept, a description of
/// bounded length, and an object schema that compiles.
pub fn check_spec(spec: &ToolSpec) -> Result<jsonschema::Validator, String> {
    let name_ok = !spec.name.is_empty()
        && spec.name.chars().count() <= MAX_TOOL_NAME_CHARS
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        return Err(format!(
            "a tool's name is 1 to {MAX_TOOL_NAME_CHARS} letters, digits, `_` or `-`; `{}` is not",
            spec.name.chars().take(80).collect::<String>()
        ));
    }
    if spec.description.chars().count() > MAX_TOOL_DESCRIPTION_CHARS {
        return Err(format!(
            "the description of `{}` is longer than {MAX_TOOL_DESCRIPTION_CHARS} characters",
            spec.name
        ));
    }
    if spec.parameters.get("type").and_then(Value::as_str) != Some("object") {
        return Err(format!(
            "the parameters of `{}` must be a JSON Schema of type \"object\"",
            spec.name
        ));
    }
    if serde_json::to_vec(&spec.parameters).map_or(true, |bytes| bytes.len() > MAX_ARGUMENT_BYTES) {
        return Err(format!("the schema of `{}` is too large", spec.name));
    }
    jsonschema::validator_for(&spec.parameters)
        .map_err(|error| format!("the schema of `{}` is not valid: {error}", spec.name))
}

impl ToolBox {
    /// An empty box: no tools, no one to confirm, the default timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tool`; refused when its spec is not valid or the name is taken.
    pub fn add(&mut self, tool: Arc<dyn Tool>) -> Result<(), String> {
        let schema = check_spec(tool.spec())?;
        let name = tool.spec().name.clone();
        if self.tools.contains_key(&name) {
            return Err(format!("two tools are called `{name}`"));
        }
        self.tools
            .insert(name, Arc::new(Registered { tool, schema }));
        Ok(())
    }

    /// This box with `tool` added (panics on a bad spec: for tools built in code).
    pub fn with(mut self, tool: impl Tool + 'static) -> Self {
        self.add(Arc::new(tool)).expect("a valid built-in tool");
        self
    }

    /// Calls of tools that need confirmation ask `confirm` first; without
    /// it they are refused.
    pub fn with_confirm(mut self, confirm: Confirm) -> Self {
        self.confirm = Some(confirm);
        self
    }

    /// Each call may run at most `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether it holds no tool.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// What the model is told, by name.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .values()
            .map(|registered| registered.tool.spec().clone())
            .collect()
    }

    /// A tool's declared permissions.
    pub fn permissions(&self, name: &str) -> Option<&ToolPermissions> {
        self.tools
            .get(name)
            .map(|registered| registered.tool.permissions())
    }

    /// Checks `call` (the tool exists, the arguments are JSON that matches
    /// its schema) without running it.
    pub fn check(&self, call: &ToolCall) -> Result<Value, ToolError> {
        let registered = self
            .tools
            .get(&call.name)
            .ok_or_else(|| ToolError::Unknown(call.name.chars().take(80).collect()))?;
        if call.arguments.len() > MAX_ARGUMENT_BYTES {
            return Err(ToolError::NotJson(format!(
                "{} bytes is more than the {MAX_ARGUMENT_BYTES} allowed",
                call.arguments.len()
            )));
        }
        let text = if call.arguments.trim().is_empty() {
            "{}"
        } else {
            call.arguments.as_str()
        };
        let arguments: Value =
            serde_json::from_str(text).map_err(|error| ToolError::NotJson(error.to_string()))?;
        let problems: Vec<String> = registered
            .schema
            .iter_errors(&arguments)
            .take(3)
            .map(|error| {
                let path = error.instance_path().to_string();
                if path.is_empty() {
                    error.to_string()
                } else {
                    format!("{path}: {error}")
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(ToolError::InvalidArguments(problems.join("; ")));
        }
        Ok(arguments)
    }

    /// Runs `call`: checked, confirmed when the tool asks for it, run with
    /// the timeout, stopped by `cancel`. The answer is cut to
    /// [`MAX_RESULT_CHARS`].
    pub async fn run(
        &self,
        call: &ToolCall,
        cancel: &CancellationToken,
    ) -> Result<String, ToolError> {
        let arguments = self.check(call)?;
        let registered = self.tools[&call.name].clone();
        if registered.tool.permissions().confirm {
            let Some(confirm) = &self.confirm else {
                return Err(ToolError::NotAllowed(format!(
                    "`{}` runs only once the user allows it, and no one can be asked here",
                    call.name
                )));
            };
            let allowed = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(ToolError::Cancelled),
                allowed = confirm(call) => allowed,
            };
            if !allowed {
                return Err(ToolError::Declined);
            }
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TOOL_TIMEOUT);
        let answer = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(ToolError::Cancelled),
            answer = tokio::time::timeout(timeout, registered.tool.call(&arguments)) => {
                answer.map_err(|_| ToolError::TimedOut(timeout))?
            }
        }?;
        Ok(cut(answer, MAX_RESULT_CHARS))
    }
}

/// `text` cut to `limit` characters, saying so.
fn cut(text: String, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}… (cut at {limit} characters)", &text[..end]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Echo(ToolSpec, ToolPermissions);

    impl Tool for Echo {
        fn spec(&self) -> &ToolSpec {
            &self.0
        }
        fn permissions(&self) -> &ToolPermissions {
            &self.1
        }
        fn call<'a>(&'a self, arguments: &'a Value) -> ToolFuture<'a> {
            Box::pin(async move { Ok(arguments["text"].as_str().unwrap_or("").repeat(2)) })
        }
    }

    fn echo(name: &str) -> Echo {
        Echo(
            ToolSpec {
                name: name.into(),
                description: "Says it twice.".into(),
                parameters: json!({"type": "object", "properties": {"text": {"type": "string", "maxLength": 10}}, "required": ["text"]}),
            },
            ToolPermissions::default(),
        )
    }

    fn call(name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: "call_1".into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn specs_are_checked_when_added() {
        let mut tools = ToolBox::new();
        assert!(tools.add(Arc::new(echo("echo"))).is_ok());
        assert!(
            tools
                .add(Arc::new(echo("echo")))
                .unwrap_err()
                .contains("two tools")
        );
        assert!(tools.add(Arc::new(echo("bad name!"))).is_err());
        assert!(tools.add(Arc::new(echo(&"x".repeat(65)))).is_err());
        let mut not_object = echo("list");
        not_object.0.parameters = json!({"type": "array"});
        assert!(
            tools
                .add(Arc::new(not_object))
                .unwrap_err()
                .contains("object")
        );
        let mut broken = echo("broken");
        broken.0.parameters = json!({"type": "object", "properties": {"a": {"type": 12}}});
        assert!(
            tools
                .add(Arc::new(broken))
                .unwrap_err()
                .contains("not valid")
        );
    }

    #[tokio::test]
    async fn calls_are_checked_before_they_run() {
        let tools = ToolBox::new().with(echo("echo"));
        let cancel = CancellationToken::new();
        assert_eq!(
            tools.run(&call("echo", r#"{"text":"ab"}"#), &cancel).await,
            Ok("abab".into())
        );
        assert!(matches!(
            tools.run(&call("missing", "{}"), &cancel).await,
            Err(ToolError::Unknown(name)) if name == "missing"
        ));
        assert!(matches!(
            tools.run(&call("echo", r#"{"text":"#), &cancel).await,
            Err(ToolError::NotJson(_))
        ));
        let Err(ToolError::InvalidArguments(reason)) =
            tools.run(&call("echo", r#"{"text": 5}"#), &cancel).await
        else {
            panic!("a number is not a string");
        };
        assert!(reason.contains("/text"), "{reason}");
        assert!(matches!(
            tools
                .run(&call("echo", r#"{"text":"far too long here"}"#), &cancel)
                .await,
            Err(ToolError::InvalidArguments(_))
        ));
        let huge = format!(r#"{{"text":"{}"}}"#, "a".repeat(MAX_ARGUMENT_BYTES));
        assert!(matches!(
            tools.run(&call("echo", &huge), &cancel).await,
            Err(ToolError::NotJson(_))
        ));
        assert!(ToolError::NotJson(String::new()).is_invalid_call());
        assert!(!ToolError::Declined.is_invalid_call());
    }

    #[test]
    fn long_answers_are_cut() {
        assert_eq!(cut("abc".into(), 5), "abc");
        assert_eq!(cut("añcdef".into(), 2), "añ… (cut at 2 characters)");
    }
}
