//! What users author besides graphs: agents, prompts (with their versions) and
//! sandbox sessions (with their chat messages). Plain values and their rules;
//! the sync layer keeps each one as a CRDT document and materialises it back
//! into these types.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::validator::{PromptValidator, check_prompt_validators};
use crate::{DocumentId, GraphId, MessageId, PromptVersionId};

/// Longest name or title (agent name, prompt title, session title, model,
/// project, segment, tool, tag, message author), in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Longest system prompt or prompt version content, in characters.
pub const MAX_PROMPT_CHARS: usize = 100_000;
/// Longest chat message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 100_000;
/// Most entries in a list field: an agent's tools and parameters, a prompt's tags.
pub const MAX_LIST_ITEMS: usize = 64;
/// Largest agent parameters object, as JSON bytes.
pub const MAX_PARAMETERS_BYTES: usize = 16 * 1024;
/// Most versions one prompt may hold.
pub const MAX_VERSIONS_PER_PROMPT: usize = 1_000;
/// Most messages one session may hold.
pub const MAX_MESSAGES_PER_SESSION: usize = 10_000;
/// Longest timestamp text accepted.
const MAX_TIMESTAMP_CHARS: usize = 64;

/// Why a library item is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LibraryError {
    /// A required text is empty after trimming.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A text is longer than allowed.
    #[error("{what} is {length} characters long; the limit is {limit}")]
    TooLong {
        /// Which text.
        what: &'static str,
        /// Its length in characters.
        length: usize,
        /// The limit in characters.
        limit: usize,
    },
    /// A text holds control characters where none are allowed.
    #[error("{0} must not contain control characters")]
    ControlCharacters(&'static str),
    /// A one-line text holds a control, direction-changing or invisible
    /// character (see [`crate::text`]).
    #[error("{what} must not contain the {hidden}")]
    HiddenCharacter {
        /// Which text.
        what: &'static str,
        /// The character refused.
        hidden: crate::text::HiddenCharacter,
    },
    /// A list holds more entries than allowed.
    #[error("{what} holds {count} entries; the limit is {limit}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// How many entries it holds.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The agent's parameters are too large.
    #[error("agent parameters are {0} bytes as JSON; the limit is {MAX_PARAMETERS_BYTES}")]
    ParametersTooLarge(usize),
    /// A timestamp that is not RFC 3339.
    #[error("{what} `{value}` is not an RFC 3339 timestamp")]
    InvalidTimestamp {
        /// Which timestamp.
        what: &'static str,
        /// The rejected text, cut to 64 characters.
        value: String,
    },
    /// A library kind that does not exist.
    #[error("unknown library kind `{0}` (expected agent, prompt or session)")]
    UnknownKind(String),
    /// A prompt version status that does not exist.
    #[error("unknown prompt version status `{0}` (expected draft, active or archived)")]
    UnknownStatus(String),
    /// A chat role that does not exist.
    #[error("unknown chat role `{0}` (expected user, agent, manager or system)")]
    UnknownRole(String),
    /// An id that appears twice in one list.
    #[error("{what} {id} appears twice")]
    Duplicate {
        /// Which kind of entry.
        what: &'static str,
        /// The repeated id.
        id: String,
    },
    /// More than one version of a prompt is active.
    #[error("a prompt has exactly one active version; {0} are marked active")]
    SeveralActive(usize),
    /// A prompt validator that cannot be kept as it is.
    #[error("validator {position} ({kind}) is not valid: {reason}")]
    InvalidValidator {
        /// Its place in the prompt's list, from 1.
        position: usize,
        /// Its kind.
        kind: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A prompt version the prompt does not hold.
    #[error("prompt version {0} is not in the prompt")]
    NoSuchVersion(PromptVersionId),
}

/// The kinds of library documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum DocumentKind {
    /// An agent.
    Agent,
    /// A prompt with its versions.
    Prompt,
    /// A sandbox session with its chat.
    Session,
}

impl DocumentKind {
    /// Every kind, in a stable order.
    pub const ALL: [DocumentKind; 3] = [
        DocumentKind::Agent,
        DocumentKind::Prompt,
        DocumentKind::Session,
    ];

    /// The kind's name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Agent => "agent",
            DocumentKind::Prompt => "prompt",
            DocumentKind::Session => "session",
        }
    }

    /// Reads a kind's name.
    pub fn parse(text: &str) -> Result<Self, LibraryError> {
        match text {
            "agent" => Ok(DocumentKind::Agent),
            "prompt" => Ok(DocumentKind::Prompt),
            "session" => Ok(DocumentKind::Session),
            other => Err(LibraryError::UnknownKind(other.chars().take(64).collect())),
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocumentKind {
    type Err = LibraryError;
    fn from_str(text: &str) -> Result<Self, LibraryError> {
        Self::parse(text)
    }
}

/// An agent (F6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Agent {
    /// The document.
    pub id: DocumentId,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its system prompt.
    pub system_prompt: String,
    /// The model it runs on.
    pub model: String,
    /// Model parameters (temperature and the like).
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// The tools it may call, by name.
    pub tools: Vec<String>,
    /// Whether it is shown to others.
    pub public: bool,
    /// For a custom agent (F10): the graph it runs, whose agents work as
    /// its team. An agent node naming this agent in another graph runs the
    /// whole graph, nested to any depth.
    #[serde(default)]
    pub graph: Option<GraphId>,
}

impl Agent {
    /// An agent named `name` with a fresh id and everything else empty.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            id: DocumentId::new(),
            name: name.into(),
            description: String::new(),
            system_prompt: String::new(),
            model: String::new(),
            parameters: serde_json::Map::new(),
            tools: Vec::new(),
            public: false,
            graph: None,
        }
    }

    /// Checks every field against the limits.
    pub fn validate(&self) -> Result<(), LibraryError> {
        check_line("agent name", &self.name, false)?;
        check_text(
            "agent description",
            &self.description,
            MAX_DESCRIPTION_CHARS,
        )?;
        check_text("system prompt", &self.system_prompt, MAX_PROMPT_CHARS)?;
        check_line("agent model", &self.model, true)?;
        check_list("agent tools", &self.tools)?;
        if self.parameters.len() > MAX_LIST_ITEMS {
            return Err(LibraryError::TooMany {
                what: "agent parameters",
                count: self.parameters.len(),
                limit: MAX_LIST_ITEMS,
            });
        }
        let bytes = serde_json::to_vec(&self.parameters).map_or(usize::MAX, |json| json.len());
        if bytes > MAX_PARAMETERS_BYTES {
            return Err(LibraryError::ParametersTooLarge(bytes));
        }
        Ok(())
    }
}

/// Where a prompt version stands (F8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum VersionStatus {
    /// Being written; not used.
    Draft,
    /// The version the runtime uses (one per prompt).
    Active,
    /// Was active once, or was superseded.
    Archived,
}

impl VersionStatus {
    /// The status's name.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Draft => "draft",
            VersionStatus::Active => "active",
            VersionStatus::Archived => "archived",
        }
    }

    /// Reads a status's name.
    pub fn parse(text: &str) -> Result<Self, LibraryError> {
        match text {
            "draft" => Ok(VersionStatus::Draft),
            "active" => Ok(VersionStatus::Active),
            "archived" => Ok(VersionStatus::Archived),
            other => Err(LibraryError::UnknownStatus(
                other.chars().take(64).collect(),
            )),
        }
    }
}

/// One version of a prompt's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PromptVersion {
    /// The version.
    pub id: PromptVersionId,
    /// The text, with `{{variables}}`.
    pub content: String,
    /// Draft, active or archived.
    pub status: VersionStatus,
    /// When it was written, RFC 3339.
    pub created_at: String,
    /// When it was last published, RFC 3339.
    pub activated_at: Option<String>,
}

impl PromptVersion {
    /// A draft holding `content`, written at `created_at`.
    pub fn draft(content: impl Into<String>, created_at: impl Into<String>) -> Self {
        Self {
            id: PromptVersionId::new(),
            content: content.into(),
            status: VersionStatus::Draft,
            created_at: created_at.into(),
            activated_at: None,
        }
    }

    /// Checks the version against the limits.
    pub fn validate(&self) -> Result<(), LibraryError> {
        check_text("prompt content", &self.content, MAX_PROMPT_CHARS)?;
        check_timestamp("prompt version created_at", &self.created_at)?;
        if let Some(at) = &self.activated_at {
            check_timestamp("prompt version activated_at", at)?;
        }
        Ok(())
    }
}

/// A prompt (F7) and its versions (F8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Prompt {
    /// The document.
    pub id: DocumentId,
    /// The project it is organised in (may be empty).
    pub project: String,
    /// The segment within the project (may be empty).
    pub segment: String,
    /// Its title.
    pub title: String,
    /// What it is for.
    pub description: String,
    /// Free tags.
    pub tags: Vec<String>,
    /// Its versions, oldest first (by `created_at`, then id).
    pub versions: Vec<PromptVersion>,
    /// Its validators (F9): on each saved version's text, or on every output.
    #[serde(default)]
    pub validators: Vec<PromptValidator>,
}

impl Prompt {
    /// A prompt titled `title` with a fresh id, no versions and everything else empty.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            id: DocumentId::new(),
            project: String::new(),
            segment: String::new(),
            title: title.into(),
            description: String::new(),
            tags: Vec::new(),
            versions: Vec::new(),
            validators: Vec::new(),
        }
    }

    /// The version the runtime uses, if one was published.
    pub fn active_version(&self) -> Option<&PromptVersion> {
        self.versions
            .iter()
            .find(|version| version.status == VersionStatus::Active)
    }

    /// One version by id.
    pub fn version(&self, id: PromptVersionId) -> Option<&PromptVersion> {
        self.versions.iter().find(|version| version.id == id)
    }

    /// Checks every field against the limits: at most one active version,
    /// no version id twice.
    pub fn validate(&self) -> Result<(), LibraryError> {
        check_line("prompt title", &self.title, false)?;
        check_line("prompt project", &self.project, true)?;
        check_line("prompt segment", &self.segment, true)?;
        check_text(
            "prompt description",
            &self.description,
            MAX_DESCRIPTION_CHARS,
        )?;
        check_list("prompt tags", &self.tags)?;
        check_prompt_validators(&self.validators)?;
        if self.versions.len() > MAX_VERSIONS_PER_PROMPT {
            return Err(LibraryError::TooMany {
                what: "prompt versions",
                count: self.versions.len(),
                limit: MAX_VERSIONS_PER_PROMPT,
            });
        }
        let mut seen = HashSet::new();
        for version in &self.versions {
            version.validate()?;
            if !seen.insert(version.id) {
                return Err(LibraryError::Duplicate {
                    what: "prompt version",
                    id: version.id.to_string(),
                });
            }
        }
        let active = self
            .versions
            .iter()
            .filter(|version| version.status == VersionStatus::Active)
            .count();
        if active > 1 {
            return Err(LibraryError::SeveralActive(active));
        }
        Ok(())
    }

    /// Puts the versions in their order: by `created_at`, then id.
    pub fn sort_versions(&mut self) {
        self.versions
            .sort_by_key(|version| (timestamp_key(&version.created_at), version.id));
    }
}

/// The rule that leaves one active version when concurrent publishes marked
/// several: the one published last (`activated_at`; on a tie, the larger id)
/// stays active and the others read as archived.
pub fn resolve_active_version(versions: &mut [PromptVersion]) {
    let winner = versions
        .iter()
        .filter(|version| version.status == VersionStatus::Active)
        .max_by_key(|version| {
            (
                version.activated_at.as_deref().and_then(timestamp_key),
                version.id,
            )
        })
        .map(|version| version.id);
    for version in versions.iter_mut() {
        if version.status == VersionStatus::Active && Some(version.id) != winner {
            version.status = VersionStatus::Archived;
        }
    }
}

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// The person at the keyboard.
    User,
    /// An agent of the session's graph.
    Agent,
    /// The manager agent that decomposes and dispatches.
    Manager,
    /// The sandbox itself.
    System,
}

impl ChatRole {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::User => "user",
            ChatRole::Agent => "agent",
            ChatRole::Manager => "manager",
            ChatRole::System => "system",
        }
    }

    /// Reads a role's name.
    pub fn parse(text: &str) -> Result<Self, LibraryError> {
        match text {
            "user" => Ok(ChatRole::User),
            "agent" => Ok(ChatRole::Agent),
            "manager" => Ok(ChatRole::Manager),
            "system" => Ok(ChatRole::System),
            other => Err(LibraryError::UnknownRole(other.chars().take(64).collect())),
        }
    }
}

/// One message of a sandbox session's chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The message.
    pub id: MessageId,
    /// Who wrote it.
    pub role: ChatRole,
    /// The agent's name, or the user's.
    pub author: String,
    /// What it says.
    pub text: String,
    /// When it was written, RFC 3339.
    pub at: String,
}

impl ChatMessage {
    /// Checks the message against the limits.
    pub fn validate(&self) -> Result<(), LibraryError> {
        check_line("message author", &self.author, false)?;
        check_text("message text", &self.text, MAX_MESSAGE_CHARS)?;
        check_timestamp("message time", &self.at)
    }
}

/// A sandbox session (F14): a named chat, optionally over a graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The document.
    pub id: DocumentId,
    /// Its title.
    pub title: String,
    /// The graph of agents it runs, if any.
    pub graph: Option<GraphId>,
    /// The chat, in order (by `at`, then id).
    pub messages: Vec<ChatMessage>,
}

impl Session {
    /// An empty session titled `title` with a fresh id.
    pub fn new(title: impl Into<String>, graph: Option<GraphId>) -> Self {
        Self {
            id: DocumentId::new(),
            title: title.into(),
            graph,
            messages: Vec::new(),
        }
    }

    /// Checks every field against the limits; no message id twice.
    pub fn validate(&self) -> Result<(), LibraryError> {
        check_line("session title", &self.title, false)?;
        if self.messages.len() > MAX_MESSAGES_PER_SESSION {
            return Err(LibraryError::TooMany {
                what: "session messages",
                count: self.messages.len(),
                limit: MAX_MESSAGES_PER_SESSION,
            });
        }
        let mut seen = HashSet::new();
        for message in &self.messages {
            message.validate()?;
            if !seen.insert(message.id) {
                return Err(LibraryError::Duplicate {
                    what: "message",
                    id: message.id.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Puts the messages in their order: by `at`, then id.
    pub fn sort_messages(&mut self) {
        self.messages
            .sort_by_key(|message| (timestamp_key(&message.at), message.id));
    }
}

/// Any library document's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LibraryItem {
    /// An agent.
    Agent(Agent),
    /// A prompt.
    Prompt(Prompt),
    /// A session.
    Session(Session),
}

impl LibraryItem {
    /// The document.
    pub fn id(&self) -> DocumentId {
        match self {
            LibraryItem::Agent(agent) => agent.id,
            LibraryItem::Prompt(prompt) => prompt.id,
            LibraryItem::Session(session) => session.id,
        }
    }

    /// Its kind.
    pub fn kind(&self) -> DocumentKind {
        match self {
            LibraryItem::Agent(_) => DocumentKind::Agent,
            LibraryItem::Prompt(_) => DocumentKind::Prompt,
            LibraryItem::Session(_) => DocumentKind::Session,
        }
    }

    /// What a listing shows first: the agent's name, the prompt's or session's title.
    pub fn title(&self) -> &str {
        match self {
            LibraryItem::Agent(agent) => &agent.name,
            LibraryItem::Prompt(prompt) => &prompt.title,
            LibraryItem::Session(session) => &session.title,
        }
    }

    /// Checks it against the limits.
    pub fn validate(&self) -> Result<(), LibraryError> {
        match self {
            LibraryItem::Agent(agent) => agent.validate(),
            LibraryItem::Prompt(prompt) => prompt.validate(),
            LibraryItem::Session(session) => session.validate(),
        }
    }

    /// The facts a listing, search or admin screen shows, without the large
    /// texts (system prompts, version contents, messages).
    pub fn summary(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            LibraryItem::Agent(agent) => json!({
                "description": agent.description,
                "model": agent.model,
                "tools": agent.tools,
                "public": agent.public,
                "graph": agent.graph,
            }),
            LibraryItem::Prompt(prompt) => json!({
                "project": prompt.project,
                "segment": prompt.segment,
                "description": prompt.description,
                "tags": prompt.tags,
                "versions": prompt.versions.len(),
                "active_version": prompt.active_version().map(|version| version.id),
                "validators": prompt.validators.len(),
            }),
            LibraryItem::Session(session) => json!({
                "graph": session.graph,
                "messages": session.messages.len(),
                "last_message_at": session.messages.last().map(|message| &message.at),
            }),
        }
    }
}

fn check_length(what: &'static str, text: &str, limit: usize) -> Result<(), LibraryError> {
    let length = text.chars().count();
    if length > limit {
        return Err(LibraryError::TooLong {
            what,
            length,
            limit,
        });
    }
    Ok(())
}

/// A one-line text: a name, a title, a tag.
fn check_line(what: &'static str, text: &str, allow_empty: bool) -> Result<(), LibraryError> {
    if !allow_empty && text.trim().is_empty() {
        return Err(LibraryError::Empty(what));
    }
    check_length(what, text, MAX_TITLE_CHARS)?;
    if let Some(hidden) = crate::text::hidden_character(text) {
        return Err(LibraryError::HiddenCharacter { what, hidden });
    }
    Ok(())
}

/// A multi-line text: line breaks and tabs are fine, other control characters are not.
fn check_text(what: &'static str, text: &str, limit: usize) -> Result<(), LibraryError> {
    check_length(what, text, limit)?;
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(LibraryError::ControlCharacters(what));
    }
    Ok(())
}

fn check_list(what: &'static str, items: &[String]) -> Result<(), LibraryError> {
    if items.len() > MAX_LIST_ITEMS {
        return Err(LibraryError::TooMany {
            what,
            count: items.len(),
            limit: MAX_LIST_ITEMS,
        });
    }
    items
        .iter()
        .try_for_each(|item| check_line(what, item, false))
}

/// Checks that `text` is an RFC 3339 timestamp.
pub fn check_timestamp(what: &'static str, text: &str) -> Result<(), LibraryError> {
    match timestamp_key(text) {
        Some(_) => Ok(()),
        None => Err(LibraryError::InvalidTimestamp {
            what,
            value: text.chars().take(64).collect(),
        }),
    }
}

/// An RFC 3339 timestamp as (seconds since 1970 UTC, nanoseconds), which
/// orders instants whatever offset or precision they were written with.
/// `None` when `text` is not RFC 3339.
pub fn timestamp_key(text: &str) -> Option<(i64, u32)> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.len() > MAX_TIMESTAMP_CHARS {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = bytes.get(range)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, byte)| bytes[at] != byte)
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0u32;
    if bytes[at] == b'.' {
        at += 1;
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        let digits = &bytes[start..at];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        let value = digits
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        nanos = value * 10u32.pow(9 - digits.len() as u32);
    }
    let offset = match bytes.get(at)? {
        b'Z' | b'z' if at + 1 == bytes.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == bytes.len() && bytes[at + 3] == b':' => {
            let (hours, minutes) = (number(at + 1..at + 3)?, number(at + 4..at + 6)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'+' { seconds } else { -seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((
        days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        nanos,
    ))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(status: VersionStatus, activated_at: Option<&str>) -> PromptVersion {
        PromptVersion {
            id: PromptVersionId::new(),
            content: "Hello {{name}}".into(),
            status,
            created_at: "2026-11-23T10:00:00.000Z".into(),
            activated_at: activated_at.map(str::to_owned),
        }
    }

    #[test]
    fn kinds_round_trip_and_unknown_kinds_are_named() {
        for kind in DocumentKind::ALL {
            assert_eq!(DocumentKind::parse(kind.as_str()), Ok(kind));
            assert_eq!(kind.to_string().parse::<DocumentKind>(), Ok(kind));
        }
        let error = DocumentKind::parse("graph").unwrap_err();
        assert!(error.to_string().contains("`graph`"), "{error}");
        assert!(VersionStatus::parse("live").is_err());
        assert!(ChatRole::parse("robot").is_err());
    }

    #[test]
    fn timestamps_order_instants_not_text() {
        let key = |text| timestamp_key(text).unwrap();
        assert_eq!(key("1970-01-01T00:00:00Z"), (0, 0));
        assert_eq!(key("2000-03-01T00:00:00Z").0, 951_868_800);
        assert_eq!(
            key("2026-11-23T10:00:00+02:00"),
            key("2026-11-23T08:00:00.000Z")
        );
        // Text order would put "05Z" after "05.5Z".
        assert!(key("2026-11-23T10:00:05Z") < key("2026-11-23T10:00:05.5Z"));
        assert_eq!(key("2026-11-23T10:00:05.5Z").1, 500_000_000);
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T10:00:00",
            "2026-11-23T10:00:00.Z",
            "2026-11-23T10:00:00+2:00",
            "2026-11-23T10:00:00Zjunk",
            "２026-11-23T10:00:00Z",
        ] {
            assert_eq!(timestamp_key(bad), None, "{bad}");
            assert!(check_timestamp("t", bad).is_err());
        }
        assert!(timestamp_key("2024-02-29T00:00:00Z").is_some());
        assert!(timestamp_key("2023-02-29T00:00:00Z").is_none());
    }

    #[test]
    fn agents_are_validated_with_clear_errors() {
        let mut agent = Agent::new("Researcher");
        agent.system_prompt = "You research.\nCarefully.".into();
        agent.tools = vec!["search".into(), "calculator".into()];
        agent
            .parameters
            .insert("temperature".into(), serde_json::json!(0.2));
        assert_eq!(agent.validate(), Ok(()));

        let mut bad = agent.clone();
        bad.name = "  ".into();
        assert_eq!(bad.validate(), Err(LibraryError::Empty("agent name")));
        bad.name = "x".repeat(MAX_TITLE_CHARS + 1);
        assert_eq!(
            bad.validate(),
            Err(LibraryError::TooLong {
                what: "agent name",
                length: MAX_TITLE_CHARS + 1,
                limit: MAX_TITLE_CHARS
            })
        );
        bad.name = "tab\tname".into();
        assert_eq!(
            bad.validate(),
            Err(LibraryError::HiddenCharacter {
                what: "agent name",
                hidden: crate::text::HiddenCharacter::Control('\t')
            })
        );
        bad.name = "Re\u{200B}searcher".into();
        assert!(matches!(
            bad.validate(),
            Err(LibraryError::HiddenCharacter { .. })
        ));

        let mut bad = agent.clone();
        bad.tools = (0..=MAX_LIST_ITEMS).map(|i| format!("tool{i}")).collect();
        let error = bad.validate().unwrap_err();
        assert!(
            error.to_string().contains("agent tools holds 65"),
            "{error}"
        );

        let mut bad = agent.clone();
        bad.system_prompt = "p".repeat(MAX_PROMPT_CHARS + 1);
        assert!(matches!(bad.validate(), Err(LibraryError::TooLong { .. })));

        let mut bad = agent;
        bad.parameters.insert(
            "huge".into(),
            serde_json::json!("x".repeat(MAX_PARAMETERS_BYTES)),
        );
        assert!(matches!(
            bad.validate(),
            Err(LibraryError::ParametersTooLarge(_))
        ));
    }

    #[test]
    fn prompts_and_sessions_are_validated() {
        let mut prompt = Prompt::new("Greeting");
        prompt.tags = vec!["onboarding".into()];
        prompt.versions = vec![
            version(VersionStatus::Active, Some("2026-11-23T10:00:00Z")),
            version(VersionStatus::Draft, None),
        ];
        assert_eq!(prompt.validate(), Ok(()));
        let mut bad = prompt.clone();
        bad.versions[1].status = VersionStatus::Active;
        assert_eq!(bad.validate(), Err(LibraryError::SeveralActive(2)));
        let mut bad = prompt.clone();
        bad.versions[1].content = "c".repeat(MAX_PROMPT_CHARS + 1);
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("prompt content")
        );
        let mut bad = prompt.clone();
        bad.versions[1].created_at = "tomorrow".into();
        assert!(matches!(
            bad.validate(),
            Err(LibraryError::InvalidTimestamp { .. })
        ));
        let mut bad = prompt;
        bad.versions[1].id = bad.versions[0].id;
        assert!(matches!(
            bad.validate(),
            Err(LibraryError::Duplicate { .. })
        ));

        let mut session = Session::new("Sandbox", None);
        let message = ChatMessage {
            id: MessageId::new(),
            role: ChatRole::User,
            author: "me".into(),
            text: "Plan a trip\nto Lisbon".into(),
            at: "2026-11-23T10:00:00.000Z".into(),
        };
        session.messages.push(message.clone());
        assert_eq!(session.validate(), Ok(()));
        session.messages.push(message);
        assert!(matches!(
            session.validate(),
            Err(LibraryError::Duplicate {
                what: "message",
                ..
            })
        ));
        session.messages.pop();
        session.messages[0].text = "x".repeat(MAX_MESSAGE_CHARS + 1);
        assert!(session.validate().is_err());
        session.messages[0].text = "bell\u{7}".into();
        assert_eq!(
            session.validate(),
            Err(LibraryError::ControlCharacters("message text"))
        );
    }

    #[test]
    fn exactly_one_version_stays_active() {
        let old = version(VersionStatus::Active, Some("2026-11-23T10:00:00Z"));
        let later = version(VersionStatus::Active, Some("2026-11-23T12:00:00+01:00"));
        let latest = version(VersionStatus::Active, Some("2026-11-23T11:30:00Z"));
        let draft = version(VersionStatus::Draft, None);
        let mut versions = vec![old.clone(), later.clone(), latest.clone(), draft.clone()];
        resolve_active_version(&mut versions);
        let statuses: Vec<_> = versions.iter().map(|version| version.status).collect();
        assert_eq!(
            statuses,
            [
                VersionStatus::Archived,
                VersionStatus::Archived,
                VersionStatus::Active,
                VersionStatus::Draft
            ]
        );
        // The same answer whatever order the versions come in.
        let mut reversed = vec![draft, latest.clone(), later, old];
        resolve_active_version(&mut reversed);
        assert_eq!(
            reversed
                .iter()
                .filter(|version| version.status == VersionStatus::Active)
                .map(|version| version.id)
                .collect::<Vec<_>>(),
            [latest.id]
        );

        // A tie on the time goes to the larger id.
        let a = version(VersionStatus::Active, Some("2026-11-23T10:00:00Z"));
        let b = version(VersionStatus::Active, Some("2026-11-23T10:00:00.000Z"));
        let larger = a.id.max(b.id);
        let mut tied = vec![a, b];
        resolve_active_version(&mut tied);
        let active: Vec<_> = tied
            .iter()
            .filter(|version| version.status == VersionStatus::Active)
            .map(|version| version.id)
            .collect();
        assert_eq!(active, [larger]);

        // Nothing published: nothing becomes active.
        let mut drafts = vec![version(VersionStatus::Draft, None)];
        resolve_active_version(&mut drafts);
        assert_eq!(drafts[0].status, VersionStatus::Draft);
    }

    #[test]
    fn summaries_leave_out_large_texts() {
        let mut agent = Agent::new("Writer");
        agent.system_prompt = "secret system prompt".into();
        let item = LibraryItem::Agent(agent);
        assert_eq!(item.kind(), DocumentKind::Agent);
        assert_eq!(item.title(), "Writer");
        assert!(!item.summary().to_string().contains("secret system prompt"));
    }
}
