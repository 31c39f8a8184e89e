//! Provider settings as the desktop stores them: which wire format, where,
//! which model, which keyring entry holds the key, and the call limits
//! (timeouts, attempts, backoff, sizes). The key itself is kept in the OS
//! keyring by the desktop and handed to the runtime when a provider is built.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::RuntimeError;

/// Longest base URL accepted, in bytes.
pub const MAX_BASE_URL_BYTES: usize = 2_048;
/// Longest model name or key reference accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The wire formats the runtime speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ProviderKind {
    /// `POST {base}/chat/completions`: Ollama, llama.cpp server, vLLM, OpenAI.
    OpenAiCompatible,
    /// Anthropic's `POST {base}/v1/messages`.
    Anthropic,
    /// Gemini's `POST {base}/v1beta/models/{model}:streamGenerateContent`.
    Gemini,
}

impl ProviderKind {
    /// Every kind, in a stable order.
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::OpenAiCompatible,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
    ];

    /// The provider's name in messages.
    pub fn label(self) -> &'static str {
        match self {
            ProviderKind::OpenAiCompatible => "the OpenAI-compatible provider",
            ProviderKind::Anthropic => "Anthropic",
            ProviderKind::Gemini => "Gemini",
        }
    }

    /// Where the provider answers unless told otherwise: a local Ollama for
    /// the OpenAI-compatible format, the vendors' APIs for the others.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAiCompatible => "http://127.0.0.1:11434/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com",
        }
    }

    /// A model to start with.
    pub fn default_model(self) -> &'static str {
        match self {
            ProviderKind::OpenAiCompatible => "llama3.2",
            ProviderKind::Anthropic => "claude-3-5-haiku-latest",
            ProviderKind::Gemini => "gemini-2.0-flash",
        }
    }

    /// Whether calls need an API key.
    pub fn needs_api_key(self) -> bool {
        !matches!(self, ProviderKind::OpenAiCompatible)
    }
}

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ProviderSettings {
    /// The wire format.
    pub kind: ProviderKind,
    /// Where it answers, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// The model asked for unless an agent names its own.
    pub model: String,
    /// The name of the keyring entry that holds the API key, if any. The
    /// runtime never reads the keyring; the desktop passes the key in.
    #[serde(default)]
    pub api_key_ref: Option<String>,
    /// Timeouts, attempts and sizes.
    #[serde(default)]
    pub limits: CallLimits,
}

impl ProviderSettings {
    /// The defaults for `kind`: its usual address and a starting model.
    pub fn new(kind: ProviderKind) -> Self {
        Self {
            kind,
            base_url: kind.default_base_url().to_owned(),
            model: kind.default_model().to_owned(),
            api_key_ref: None,
            limits: CallLimits::default(),
        }
    }

    /// A local Ollama: `http://127.0.0.1:11434/v1`, `llama3.2`.
    pub fn local() -> Self {
        Self::new(ProviderKind::OpenAiCompatible)
    }

    /// Checks the settings: an http(s) URL with a host and no credentials,
    /// a model name, and limits within their bounds.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let invalid = |message: String| Err(RuntimeError::InvalidSettings(message));
        if self.base_url.len() > MAX_BASE_URL_BYTES {
            return invalid(format!(
                "the base URL is {} bytes long; the limit is {MAX_BASE_URL_BYTES}",
                self.base_url.len()
            ));
        }
        let url = match url::Url::parse(self.base_url.trim()) {
            Ok(url) => url,
            Err(error) => {
                return invalid(format!(
                    "the base URL `{}` is not a URL ({error})",
                    cut(&self.base_url, 100)
                ));
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            return invalid(format!(
                "the base URL must start with http:// or https://, not {}://",
                cut(url.scheme(), 20)
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return invalid("the base URL has no host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return invalid(
                "the base URL must not hold a user name or password; put the key in the API key field".into(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            return invalid("the base URL must not have a query (?…) or fragment (#…)".into());
        }
        check_name("model", &self.model, false)?;
        if let Some(reference) = &self.api_key_ref {
            check_name("API key reference", reference, false)?;
        }
        self.limits.validate()
    }

    /// The base URL without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.base_url.trim().trim_end_matches('/')
    }

    /// Whether the base URL points at this machine.
    pub(crate) fn is_local(&self) -> bool {
        match url::Url::parse(self.base())
            .ok()
            .and_then(|url| url.host().map(|host| host.to_owned()))
        {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(address)) => address.is_loopback(),
            Some(url::Host::Ipv6(address)) => address.is_loopback(),
            None => false,
        }
    }
}

fn check_name(what: &str, text: &str, allow_empty: bool) -> Result<(), RuntimeError> {
    if !allow_empty && text.trim().is_empty() {
        return Err(RuntimeError::InvalidSettings(format!(
            "the {what} must not be empty"
        )));
    }
    let length = text.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(RuntimeError::InvalidSettings(format!(
            "the {what} is {length} characters long; the limit is {MAX_NAME_CHARS}"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(RuntimeError::InvalidSettings(format!(
            "the {what} must not contain control characters"
        )));
    }
    Ok(())
}

fn cut(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// How long to wait, how often to try, how much to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CallLimits {
    /// Longest wait for a TCP (and TLS) connection, in ms.
    pub connect_timeout_ms: u64,
    /// Longest silence allowed while waiting for the answer's headers or
    /// for the next chunk, in ms. Local models can take a while to load.
    pub idle_timeout_ms: u64,
    /// Most requests per call (the first one included). Retries happen on
    /// connect errors, 429 and 5xx, and never once part of the answer has
    /// streamed.
    pub max_attempts: u32,
    /// The first backoff, in ms; each retry doubles it, with jitter.
    pub initial_backoff_ms: u64,
    /// The longest backoff, in ms.
    pub max_backoff_ms: u64,
    /// The longest `Retry-After` honoured, in ms; a provider asking for more
    /// fails the call at once with its request.
    pub max_retry_after_ms: u64,
    /// The longest line of the answer stream, in bytes.
    pub max_line_bytes: usize,
    /// The longest answer, in characters.
    pub max_answer_chars: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 5_000,
            idle_timeout_ms: 120_000,
            max_attempts: 4,
            initial_backoff_ms: 500,
            max_backoff_ms: 10_000,
            max_retry_after_ms: 60_000,
            max_line_bytes: 1024 * 1024,
            max_answer_chars: 1_000_000,
        }
    }
}

impl CallLimits {
    /// Checks every limit against its bounds.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let bounded = |what: &str, value: u64, low: u64, high: u64| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(RuntimeError::InvalidSettings(format!(
                    "{what} is {value}; it must be between {low} and {high}"
                )))
            }
        };
        bounded(
            "the connect timeout (ms)",
            self.connect_timeout_ms,
            50,
            120_000,
        )?;
        bounded("the idle timeout (ms)", self.idle_timeout_ms, 50, 3_600_000)?;
        bounded("the number of attempts", self.max_attempts.into(), 1, 10)?;
        bounded("the first backoff (ms)", self.initial_backoff_ms, 0, 60_000)?;
        bounded(
            "the longest backoff (ms)",
            self.max_backoff_ms,
            self.initial_backoff_ms,
            300_000,
        )?;
        bounded(
            "the longest Retry-After (ms)",
            self.max_retry_after_ms,
            0,
            3_600_000,
        )?;
        bounded(
            "the longest stream line (bytes)",
            self.max_line_bytes as u64,
            1024,
            16 * 1024 * 1024,
        )?;
        bounded(
            "the longest answer (characters)",
            self.max_answer_chars as u64,
            1,
            10_000_000,
        )
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(settings: &ProviderSettings) -> String {
        settings.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid_and_local_is_ollama() {
        for kind in ProviderKind::ALL {
            assert_eq!(ProviderSettings::new(kind).validate(), Ok(()), "{kind:?}");
        }
        let local = ProviderSettings::local();
        assert_eq!(local.base_url, "http://127.0.0.1:11434/v1");
        assert!(local.is_local());
        assert!(!ProviderSettings::new(ProviderKind::Anthropic).is_local());
    }

    #[test]
    fn settings_round_trip_through_json_with_defaults() {
        let json = r#"{"kind":"anthropic","base_url":"https://api.anthropic.com","model":"claude","api_key_ref":"orrery/anthropic"}"#;
        let settings: ProviderSettings = serde_json::from_str(json).unwrap();
        assert_eq!(settings.kind, ProviderKind::Anthropic);
        assert_eq!(settings.limits, CallLimits::default());
        let back: ProviderSettings =
            serde_json::from_str(&serde_json::to_string(&settings).unwrap()).unwrap();
        assert_eq!(back, settings);
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let mut settings = ProviderSettings::local();
        settings.base_url = "ftp://example.com".into();
        assert!(message(&settings).contains("http:// or https://"));
        settings.base_url = "not a url".into();
        assert!(message(&settings).contains("is not a URL"));
        settings.base_url = "https://user:secret@example.com".into();
        assert!(message(&settings).contains("user name or password"));
        settings.base_url = format!("https://example.com/{}", "a".repeat(MAX_BASE_URL_BYTES));
        assert!(message(&settings).contains("bytes long"));
        settings.base_url = "https://example.com/v1?key=1".into();
        assert!(message(&settings).contains("query"));

        let mut settings = ProviderSettings::local();
        settings.model = "  ".into();
        assert!(message(&settings).contains("model must not be empty"));
        settings.model = "m".repeat(MAX_NAME_CHARS + 1);
        assert!(message(&settings).contains("limit is 200"));
        settings.model = "llama\n3".into();
        assert!(message(&settings).contains("control characters"));

        let mut settings = ProviderSettings::local();
        settings.limits.max_attempts = 0;
        assert!(message(&settings).contains("number of attempts"));
        settings.limits.max_attempts = 3;
        settings.limits.max_line_bytes = usize::MAX;
        assert!(message(&settings).contains("stream line"));
    }
}
