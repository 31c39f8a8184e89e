//! The tools every agent can be given: `http_get` (a page from an
//! allow-listed host), `read_file` (a file inside a folder the user picked),
//! `calculator` (arithmetic) and `current_time`. Each enforces its own
//! declared permissions: the HTTP tool reaches only its hosts, redirects
//! included; the file tool reads only inside its folder, symbolic links
//! resolved first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Tool, ToolError, ToolFuture, ToolPermissions, ToolSpec};
use crate::provider::describe;

/// Most bytes of a page or file handed to the model.
pub const MAX_READ_BYTES: usize = 256 * 1024;
/// Longest expression the calculator reads.
const MAX_EXPRESSION_CHARS: usize = 1_000;
/// Deepest nesting of parentheses the calculator follows.
const MAX_DEPTH: usize = 64;

/// The built-in tools that need no settings (no hosts, no folder), by the
/// name a tool node gives: `calculator` and `current_time` (case, spaces
/// and hyphens aside: "Current time" names `current_time`).
pub fn unconfigured(name: &str) -> Option<std::sync::Arc<dyn Tool>> {
    let name: String = name
        .trim()
        .chars()
        .map(|c| {
            if c == ' ' || c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    match name.as_str() {
        "calculator" => Some(std::sync::Arc::new(Calculator::default())),
        "current_time" => Some(std::sync::Arc::new(CurrentTime::default())),
        _ => None,
    }
}

/// `http_get`: the text of a page on one of the allowed hosts.
pub struct HttpGet {
    spec: ToolSpec,
    permissions: ToolPermissions,
    client: reqwest::Client,
}

impl HttpGet {
    /// May reach `hosts` (names, exact) only; `confirm` asks the user first.
    pub fn new(hosts: impl IntoIterator<Item = impl Into<String>>, confirm: bool) -> Self {
        let hosts: Vec<String> = hosts
            .into_iter()
            .map(|host| host.into().trim_end_matches('.').to_ascii_lowercase())
            .collect();
        let permissions = ToolPermissions {
            hosts: hosts.clone(),
            folder: None,
            confirm,
        };
        // Redirects are followed only to allowed hosts.
        let allowed = permissions.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            let host = attempt.url().host_str().unwrap_or_default().to_owned();
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if allowed.allows_host(&host) {
                attempt.follow()
            } else {
                attempt.error(format!("a redirect to {host}, which is not allowed"))
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("orrery/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with these settings builds");
        Self {
            spec: ToolSpec {
                name: "http_get".into(),
                description: format!(
                    "Fetches a web page or API answer with HTTP GET and returns its status and text. Only these hosts can be reached: {}.",
                    if hosts.is_empty() {
                        "none".to_owned()
                    } else {
                        hosts.join(", ")
                    }
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {"url": {"type": "string", "description": "An http or https URL.", "maxLength": 2048}},
                    "required": ["url"],
                    "additionalProperties": false
                }),
            },
            permissions,
            client,
        }
    }
}

impl Tool for HttpGet {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn permissions(&self) -> &ToolPermissions {
        &self.permissions
    }

    fn call<'a>(&'a self, arguments: &'a Value) -> ToolFuture<'a> {
        Box::pin(async move {
            let text = arguments["url"].as_str().unwrap_or_default();
            let url = url::Url::parse(text)
                .map_err(|error| ToolError::Failed(format!("`{text}` is not a URL: {error}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ToolError::NotAllowed(format!(
                    "only http and https URLs, not {}:",
                    url.scheme()
                )));
            }
            let host = url.host_str().unwrap_or_default();
            if !self.permissions.allows_host(host) {
                return Err(ToolError::NotAllowed(format!(
                    "{host} is not one of the hosts this tool may reach ({})",
                    if self.permissions.hosts.is_empty() {
                        "none".to_owned()
                    } else {
                        self.permissions.hosts.join(", ")
                    }
                )));
            }
            let mut response = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|error| ToolError::Failed(describe(&error)))?;
            let status = response.status();
            let mut body = Vec::new();
            let mut cut = false;
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|error| ToolError::Failed(describe(&error)))?
            {
                let room = MAX_READ_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    cut = true;
                    break;
                }
            }
            let mut text = format!(
                "HTTP {}\n\n{}",
                status.as_u16(),
                String::from_utf8_lossy(&body)
            );
            if cut {
                text.push_str(&format!("\n… (cut at {MAX_READ_BYTES} bytes)"));
            }
            Ok(text)
        })
    }
}

/// `read_file`: a text file inside one folder.
pub struct ReadFile {
    spec: ToolSpec,
    permissions: ToolPermissions,
    root: Option<PathBuf>,
}

impl ReadFile {
    /// Reads inside `folder` only; `confirm` asks the user first.
    pub fn new(folder: impl Into<PathBuf>, confirm: bool) -> Self {
        let folder = folder.into();
        let root = std::fs::canonicalize(&folder).ok();
        Self {
            spec: ToolSpec {
                name: "read_file".into(),
                description: "Reads a text file from the folder the user chose and returns its contents. Paths are relative to that folder.".into(),
                parameters: json!({
                    "type": "object",
                    "properties": {"path": {"type": "string", "description": "A path inside the folder, such as notes/today.md.", "minLength": 1, "maxLength": 1024}},
                    "required": ["path"],
                    "additionalProperties": false
                }),
            },
            permissions: ToolPermissions {
                hosts: Vec::new(),
                folder: Some(folder),
                confirm,
            },
            root,
        }
    }

    /// The file `relative` names, if it lies inside the folder.
    fn resolve(&self, relative: &str) -> Result<PathBuf, ToolError> {
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| ToolError::Failed("the tool's folder does not exist any more".into()))?;
        let asked = Path::new(relative);
        if asked.is_absolute() {
            return Err(ToolError::NotAllowed(
                "paths are relative to the chosen folder".into(),
            ));
        }
        let path = std::fs::canonicalize(root.join(asked))
            .map_err(|error| ToolError::Failed(format!("`{relative}`: {error}")))?;
        if !path.starts_with(root) {
            return Err(ToolError::NotAllowed(format!(
                "`{relative}` is outside the folder this tool may read"
            )));
        }
        Ok(path)
    }
}

impl Tool for ReadFile {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn permissions(&self) -> &ToolPermissions {
        &self.permissions
    }

    fn call<'a>(&'a self, arguments: &'a Value) -> ToolFuture<'a> {
        Box::pin(async move {
            let relative = arguments["path"].as_str().unwrap_or_default();
            let path = self.resolve(relative)?;
            let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<(Vec<u8>, bool)> {
                use std::io::Read;
                let file = std::fs::File::open(&path)?;
                if !file.metadata()?.is_file() {
                    return Err(std::io::Error::other("not a file"));
                }
                let mut bytes = Vec::new();
                file.take(MAX_READ_BYTES as u64 + 1)
                    .read_to_end(&mut bytes)?;
                let cut = bytes.len() > MAX_READ_BYTES;
                bytes.truncate(MAX_READ_BYTES);
                Ok((bytes, cut))
            })
            .await
            .map_err(|error| ToolError::Failed(error.to_string()))?
            .map_err(|error| ToolError::Failed(format!("`{relative}`: {error}")))?;
            let (bytes, cut) = bytes;
            let mut text = String::from_utf8_lossy(&bytes).into_owned();
            if cut {
                text.push_str(&format!("\n… (cut at {MAX_READ_BYTES} bytes)"));
            }
            Ok(text)
        })
    }
}

/// `calculator`: + − × ÷, `%`, `^`, parentheses and decimals.
pub struct Calculator {
    spec: ToolSpec,
    permissions: ToolPermissions,
}

impl Default for Calculator {
    fn default() -> Self {
        Self {
            spec: ToolSpec {
                name: "calculator".into(),
                description: "Evaluates an arithmetic expression with + - * / % ^, parentheses and decimal numbers, such as (2 + 3) * 4.5.".into(),
                parameters: json!({
                    "type": "object",
                    "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": MAX_EXPRESSION_CHARS}},
                    "required": ["expression"],
                    "additionalProperties": false
                }),
            },
            permissions: ToolPermissions::default(),
        }
    }
}

impl Tool for Calculator {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn permissions(&self) -> &ToolPermissions {
        &self.permissions
    }

    fn call<'a>(&'a self, arguments: &'a Value) -> ToolFuture<'a> {
        Box::pin(async move {
            let expression = arguments["expression"].as_str().unwrap_or_default();
            let value = evaluate(expression).map_err(ToolError::Failed)?;
            Ok(format_number(value))
        })
    }
}

/// A number as people write it: integers without a fraction.
fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Evaluates an arithmetic expression (see [`Calculator`]).
pub fn evaluate(expression: &str) -> Result<f64, String> {
    if expression.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(format!(
            "the expression is longer than {MAX_EXPRESSION_CHARS} characters"
        ));
    }
    let mut parser = Parser {
        text: expression.as_bytes(),
        at: 0,
        depth: 0,
    };
    let value = parser.sum()?;
    parser.skip_space();
    if parser.at < parser.text.len() {
        return Err(format!(
            "unexpected `{}` at character {}",
            char::from(parser.text[parser.at]),
            parser.at + 1
        ));
    }
    if !value.is_finite() {
        return Err("the result is not a finite number (a division by zero?)".into());
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.at).copied()
    }

    /// sum := product (('+' | '-') product)*
    fn sum(&mut self) -> Result<f64, String> {
        let mut value = self.product()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.at += 1;
            let right = self.product()?;
            value = if op == b'+' {
                value + right
            } else {
                value - right
            };
        }
        Ok(value)
    }

    /// product := unary (('*' | '/' | '%') unary)*
    fn product(&mut self) -> Result<f64, String> {
        let mut value = self.unary()?;
        while let Some(op @ (b'*' | b'/' | b'%')) = self.peek() {
            self.at += 1;
            let right = self.unary()?;
            value = match op {
                b'*' => value * right,
                b'/' if right == 0.0 => return Err("division by zero".into()),
                b'/' => value / right,
                _ if right == 0.0 => return Err("remainder of a division by zero".into()),
                _ => value % right,
            };
        }
        Ok(value)
    }

    /// power := atom ('^' unary)?   (right-associative: 2^3^2 is 2^9)
    fn power(&mut self) -> Result<f64, String> {
        let base = self.atom()?;
        if self.peek() == Some(b'^') {
            self.at += 1;
            let exponent = self.nested(Self::unary)?;
            return Ok(base.powf(exponent));
        }
        Ok(base)
    }

    /// unary := '-' unary | '+' unary | power   (-2^2 is -(2^2))
    fn unary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(b'-') => {
                self.at += 1;
                Ok(-self.nested(Self::unary)?)
            }
            Some(b'+') => {
                self.at += 1;
                self.nested(Self::unary)
            }
            _ => self.power(),
        }
    }

    /// atom := number | '(' sum ')'
    fn atom(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                let value = self.nested(Self::sum)?;
                if self.peek() != Some(b')') {
                    return Err(format!("a `)` is missing at character {}", self.at + 1));
                }
                self.at += 1;
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                let start = self.at;
                while self
                    .text
                    .get(self.at)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'.')
                {
                    self.at += 1;
                }
                let number = std::str::from_utf8(&self.text[start..self.at]).unwrap_or_default();
                number
                    .parse()
                    .map_err(|_| format!("`{number}` is not a number"))
            }
            Some(c) => Err(format!(
                "unexpected `{}` at character {}",
                char::from(c),
                self.at + 1
            )),
            None => Err("the expression ends too soon".into()),
        }
    }

    /// Runs `step` one level deeper, refusing runaway nesting.
    fn nested(&mut self, step: fn(&mut Self) -> Result<f64, String>) -> Result<f64, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        let value = step(self);
        self.depth -= 1;
        value
    }
}

/// `current_time`: the date and time now, in UTC or at an offset.
pub struct CurrentTime {
    spec: ToolSpec,
    permissions: ToolPermissions,
}

impl Default for CurrentTime {
    fn default() -> Self {
        Self {
            spec: ToolSpec {
                name: "current_time".into(),
                description: "Returns the current date and time (RFC 3339) and the day of the week, in UTC or at a UTC offset such as +02:00.".into(),
                parameters: json!({
                    "type": "object",
                    "properties": {"utc_offset": {"type": "string", "pattern": "^[+-](0[0-9]|1[0-4]):[0-5][0-9]$"}},
                    "additionalProperties": false
                }),
            },
            permissions: ToolPermissions::default(),
        }
    }
}

impl Tool for CurrentTime {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn permissions(&self) -> &ToolPermissions {
        &self.permissions
    }

    fn call<'a>(&'a self, arguments: &'a Value) -> ToolFuture<'a> {
        Box::pin(async move {
            let offset = match arguments["utc_offset"].as_str() {
                None => chrono::FixedOffset::east_opt(0),
                Some(text) => {
                    let sign = if text.starts_with('-') { -1 } else { 1 };
                    let hours: i32 = text[1..3].parse().unwrap_or(0);
                    let minutes: i32 = text[4..6].parse().unwrap_or(0);
                    chrono::FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
                }
            }
            .ok_or_else(|| ToolError::Failed("that offset is out of range".into()))?;
            let now = chrono::Utc::now().with_timezone(&offset);
            Ok(format!(
                "{} ({})",
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                now.format("%A")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calculator_reads_arithmetic_and_refuses_the_rest() {
        assert_eq!(evaluate("1 + 2 * 3"), Ok(7.0));
        assert_eq!(evaluate("(1 + 2) * 3"), Ok(9.0));
        assert_eq!(evaluate("2 ^ 3 ^ 2"), Ok(512.0));
        assert_eq!(evaluate("-2 ^ 2"), Ok(-4.0));
        assert_eq!(evaluate("2 ^ -1"), Ok(0.5));
        assert_eq!(evaluate("10 % 4 - .5"), Ok(1.5));
        assert_eq!(evaluate(" 7 / 2 "), Ok(3.5));
        assert!(evaluate("1 / 0").unwrap_err().contains("zero"));
        assert!(evaluate("2 +").is_err());
        assert!(evaluate("2 + x").unwrap_err().contains("`x`"));
        assert!(evaluate("(1 + 2").unwrap_err().contains(")"));
        assert!(evaluate("1.2.3").is_err());
        assert!(evaluate("10 ^ 400").is_err(), "an infinite result");
        let deep = format!("{}1{}", "(".repeat(400), ")".repeat(400));
        let refused = evaluate(&deep).unwrap_err();
        assert!(refused.contains("nested"), "{refused}");
        assert!(evaluate(&"-".repeat(900)).is_err());
        assert_eq!(format_number(7.0), "7");
        assert_eq!(format_number(3.5), "3.5");
    }
}
