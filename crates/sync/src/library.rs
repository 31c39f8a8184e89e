//! Agents, prompts and sandbox sessions as Loro CRDT documents, one document
//! per item, synced exactly like graphs (same [`Version`], same wire frame).
//!
//! Layout: root map `fields` { kind, and the item's own fields }; a prompt
//! adds root map `versions` { version id → map { content, status,
//! created_at, activated_at } }; a session adds root list `messages` [ map {
//! id, role, author, text, at } ].
//!
//! - Every field is last-writer-wins on its own, and writers write only the
//!   fields that changed, so concurrent edits of different fields both
//!   survive. Whole lists (an agent's tools, a prompt's tags) and the agent's
//!   parameters (JSON text) are one value each.
//! - Messages are appended to a list, so appends on two devices both survive;
//!   they are materialised in (`at`, id) order.
//! - A deletion is a tombstone field (`deleted_at`) among the fields: the
//!   document stays (so the deletion syncs) and the item leaves listings.
//! - Concurrent publishes can leave several versions marked active; the one
//!   published last is active and the others read as archived
//!   ([`orrery_domain::resolve_active_version`]), the same on every replica.

use loro::{
    Container, ExportMode, LoroDoc, LoroList, LoroMap, LoroValue, ValueOrContainer, VersionVector,
};
use orrery_domain::{
    Agent, ChatMessage, ChatRole, DocumentId, DocumentKind, LibraryError, LibraryItem, Prompt,
    PromptVersion, PromptVersionId, Session, VersionStatus, resolve_active_version,
};

use crate::guard::guarded_import;
use crate::{SyncError, Version};

const FIELDS: &str = "fields";
const VERSIONS: &str = "versions";
const MESSAGES: &str = "messages";
/// The tombstone field of a deleted item.
const DELETED_AT: &str = "deleted_at";

/// One library item's CRDT document.
pub struct LibraryDocument {
    id: DocumentId,
    kind: DocumentKind,
    doc: LoroDoc,
}

impl std::fmt::Debug for LibraryDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibraryDocument")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn crdt_error(error: impl std::fmt::Display) -> SyncError {
    SyncError::InvalidDocument(error.to_string())
}

fn invalid(message: impl Into<String>) -> SyncError {
    SyncError::InvalidDocument(message.into())
}

impl LibraryDocument {
    /// An empty document of `kind` for `id`, to be filled by merging updates.
    pub fn empty(kind: DocumentKind, id: DocumentId) -> Self {
        Self {
            id,
            kind,
            doc: LoroDoc::new(),
        }
    }

    /// A document holding `item`, after validating it.
    pub fn create(item: &LibraryItem) -> Result<Self, SyncError> {
        item.validate()?;
        let document = Self::empty(item.kind(), item.id());
        let fields = document.fields();
        fields
            .insert("kind", item.kind().as_str())
            .map_err(crdt_error)?;
        match item {
            LibraryItem::Agent(agent) => document.write_agent(agent, None)?,
            LibraryItem::Prompt(prompt) => {
                document.write_prompt_fields(prompt, None)?;
                for version in &prompt.versions {
                    document.write_version(version, None)?;
                }
            }
            LibraryItem::Session(session) => {
                document.write_session_fields(&session.title, session.graph, None)?;
                for message in &session.messages {
                    document.write_message(message)?;
                }
            }
        }
        document.doc.commit();
        Ok(document)
    }

    /// A document from a stored snapshot.
    pub fn from_snapshot(
        kind: DocumentKind,
        id: DocumentId,
        snapshot: &[u8],
    ) -> Result<Self, SyncError> {
        let mut document = Self::empty(kind, id);
        guarded_import(&mut document.doc, snapshot)?.map_err(crdt_error)?;
        Ok(document)
    }

    /// The item this document is.
    pub fn id(&self) -> DocumentId {
        self.id
    }

    /// What kind of item it is.
    pub fn kind(&self) -> DocumentKind {
        self.kind
    }

    /// The whole document, history included, for storage.
    pub fn snapshot(&self) -> Vec<u8> {
        self.doc
            .export(ExportMode::Snapshot)
            .expect("exporting a snapshot of a live document cannot fail")
    }

    /// The operations this document has seen.
    pub fn version(&self) -> Version {
        // `Version` keeps its vector private to `document.rs`; its encoding is
        // the vector's own, so this round trip is exact.
        Version::decode(&self.doc.oplog_vv().encode())
            .expect("a live document's version vector decodes")
    }

    /// The updates a replica at `version` lacks (empty when it lacks nothing).
    pub fn updates_since(&self, version: &Version) -> Vec<u8> {
        let theirs = VersionVector::decode(&version.encode()).unwrap_or_default();
        let ours = self.doc.oplog_vv();
        if ours == theirs || theirs.partial_cmp(&ours) == Some(std::cmp::Ordering::Greater) {
            return Vec::new();
        }
        self.doc
            .export(ExportMode::updates(&theirs))
            .expect("exporting updates of a live document cannot fail")
    }

    /// Merges updates from another replica. The updates are tried on a copy
    /// first: if they do not decode, depend on unknown changes, or would leave
    /// a document that is not a valid item of this kind, nothing changes here.
    pub fn merge(&mut self, updates: &[u8]) -> Result<(), SyncError> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut trial = Self {
            id: self.id,
            kind: self.kind,
            doc: self.doc.fork(),
        };
        let status = guarded_import(&mut trial.doc, updates)?
            .map_err(|error| SyncError::InvalidUpdate(error.to_string()))?;
        if status.pending.is_some() {
            return Err(SyncError::MissingDependencies);
        }
        trial.to_item()?;
        // The checked copy becomes this replica (under this replica's peer):
        // importing the same bytes again would cost as much as the first time.
        trial
            .doc
            .set_peer_id(self.doc.peer_id())
            .map_err(crdt_error)?;
        self.doc = trial.doc;
        Ok(())
    }

    /// The item as plain values, checked against the model.
    pub fn to_item(&self) -> Result<LibraryItem, SyncError> {
        let LoroValue::Map(root) = self.doc.get_deep_value() else {
            return Err(invalid("document root is not a map"));
        };
        let Some(LoroValue::Map(fields)) = root.get(FIELDS) else {
            return Err(invalid(format!("document has no {} fields", self.kind)));
        };
        let kind = text(fields.get("kind"), "document kind")?;
        if kind != self.kind.as_str() {
            return Err(invalid(format!(
                "document holds kind `{}` where kind `{}` was expected",
                kind.chars().take(64).collect::<String>(),
                self.kind
            )));
        }
        let item = match self.kind {
            DocumentKind::Agent => LibraryItem::Agent(read_agent(self.id, fields)?),
            DocumentKind::Prompt => {
                LibraryItem::Prompt(read_prompt(self.id, fields, root.get(VERSIONS))?)
            }
            DocumentKind::Session => {
                LibraryItem::Session(read_session(self.id, fields, root.get(MESSAGES))?)
            }
        };
        item.validate()?;
        Ok(item)
    }

    /// The agent this document is.
    pub fn to_agent(&self) -> Result<Agent, SyncError> {
        match self.to_item()? {
            LibraryItem::Agent(agent) => Ok(agent),
            _ => Err(self.not_a(DocumentKind::Agent)),
        }
    }

    /// The prompt this document is, exactly one version active if any was published.
    pub fn to_prompt(&self) -> Result<Prompt, SyncError> {
        match self.to_item()? {
            LibraryItem::Prompt(prompt) => Ok(prompt),
            _ => Err(self.not_a(DocumentKind::Prompt)),
        }
    }

    /// The session this document is, messages in order.
    pub fn to_session(&self) -> Result<Session, SyncError> {
        match self.to_item()? {
            LibraryItem::Session(session) => Ok(session),
            _ => Err(self.not_a(DocumentKind::Session)),
        }
    }

    fn not_a(&self, wanted: DocumentKind) -> SyncError {
        invalid(format!(
            "document {} holds kind `{}` where kind `{wanted}` was expected",
            self.id, self.kind
        ))
    }

    /// Marks the item deleted at `at` (RFC 3339). A deletion wins over
    /// edits made concurrently elsewhere: the fields stay, the item leaves
    /// the listings.
    pub fn delete(&self, at: &str) -> Result<(), SyncError> {
        orrery_domain::check_timestamp("deleted_at", at)?;
        if self.deleted_at().is_some() {
            return Ok(());
        }
        self.fields().insert(DELETED_AT, at).map_err(crdt_error)?;
        self.doc.commit();
        Ok(())
    }

    /// When the item was deleted, if it was.
    pub fn deleted_at(&self) -> Option<String> {
        match self.fields().get(DELETED_AT) {
            Some(ValueOrContainer::Value(LoroValue::String(at))) => Some(at.to_string()),
            _ => None,
        }
    }

    /// Changes an agent to `agent`, writing only the fields that differ.
    pub fn update_agent(&self, agent: &Agent) -> Result<(), SyncError> {
        self.check_id(agent.id)?;
        agent.validate()?;
        let current = self.to_agent()?;
        self.write_agent(agent, Some(&current))?;
        self.doc.commit();
        Ok(())
    }

    /// Changes a prompt's own fields (title, project, segment, description,
    /// tags) and its versions to those of `prompt`, writing only what differs.
    /// Versions `prompt` lacks are kept.
    pub fn update_prompt(&self, prompt: &Prompt) -> Result<(), SyncError> {
        self.check_id(prompt.id)?;
        prompt.validate()?;
        let current = self.to_prompt()?;
        let mut merged = current.clone();
        for version in &prompt.versions {
            match merged.versions.iter_mut().find(|old| old.id == version.id) {
                Some(old) => *old = version.clone(),
                None => merged.versions.push(version.clone()),
            }
        }
        merged.title.clone_from(&prompt.title);
        merged.project.clone_from(&prompt.project);
        merged.segment.clone_from(&prompt.segment);
        merged.description.clone_from(&prompt.description);
        merged.tags.clone_from(&prompt.tags);
        merged.validate()?;
        self.write_prompt_fields(prompt, Some(&current))?;
        for version in &prompt.versions {
            self.write_version(version, current.version(version.id))?;
        }
        self.doc.commit();
        Ok(())
    }

    /// Adds a version to a prompt.
    pub fn add_prompt_version(&self, version: &PromptVersion) -> Result<(), SyncError> {
        let mut prompt = self.to_prompt()?;
        if prompt.version(version.id).is_some() {
            return Err(LibraryError::Duplicate {
                what: "prompt version",
                id: version.id.to_string(),
            }
            .into());
        }
        prompt.versions.push(version.clone());
        prompt.validate()?;
        self.write_version(version, None)?;
        self.doc.commit();
        Ok(())
    }

    /// Makes `version` the active one as of `at` (RFC 3339); the version that
    /// was active becomes archived.
    pub fn publish_prompt_version(
        &self,
        version: PromptVersionId,
        at: &str,
    ) -> Result<(), SyncError> {
        orrery_domain::check_timestamp("publish time", at)?;
        self.to_prompt()?
            .version(version)
            .ok_or(LibraryError::NoSuchVersion(version))?;
        let versions = self.versions();
        for (key, value) in raw_versions(&versions) {
            if key == version.to_string() {
                continue;
            }
            if let ValueOrContainer::Container(Container::Map(map)) = value
                && matches!(map.get("status"), Some(ValueOrContainer::Value(LoroValue::String(status))) if status.as_str() == "active")
            {
                map.insert("status", VersionStatus::Archived.as_str())
                    .map_err(crdt_error)?;
            }
        }
        let map = self.version_map(version)?;
        map.insert("status", VersionStatus::Active.as_str())
            .map_err(crdt_error)?;
        map.insert("activated_at", at).map_err(crdt_error)?;
        self.doc.commit();
        Ok(())
    }

    /// Changes a session's title and graph, writing only what differs.
    pub fn update_session(
        &self,
        title: &str,
        graph: Option<orrery_domain::GraphId>,
    ) -> Result<(), SyncError> {
        let current = self.to_session()?;
        let mut changed = current.clone();
        changed.title = title.to_owned();
        changed.graph = graph;
        changed.validate()?;
        self.write_session_fields(title, graph, Some(&current))?;
        self.doc.commit();
        Ok(())
    }

    /// Appends a message to a session's chat.
    pub fn append_message(&self, message: &ChatMessage) -> Result<(), SyncError> {
        let mut session = self.to_session()?;
        session.messages.push(message.clone());
        session.validate()?;
        self.write_message(message)?;
        self.doc.commit();
        Ok(())
    }

    fn check_id(&self, id: DocumentId) -> Result<(), SyncError> {
        if id == self.id {
            Ok(())
        } else {
            Err(invalid(format!(
                "document {} cannot be written with the content of {id}",
                self.id
            )))
        }
    }

    fn fields(&self) -> LoroMap {
        self.doc.get_map(FIELDS)
    }

    fn versions(&self) -> LoroMap {
        self.doc.get_map(VERSIONS)
    }

    fn messages(&self) -> LoroList {
        self.doc.get_list(MESSAGES)
    }

    fn version_map(&self, id: PromptVersionId) -> Result<LoroMap, SyncError> {
        match self.versions().get(&id.to_string()) {
            Some(ValueOrContainer::Container(Container::Map(map))) => Ok(map),
            _ => Err(LibraryError::NoSuchVersion(id).into()),
        }
    }

    fn write_agent(&self, agent: &Agent, current: Option<&Agent>) -> Result<(), SyncError> {
        let fields = self.fields();
        let texts = [
            ("name", &agent.name, current.map(|old| &old.name)),
            (
                "description",
                &agent.description,
                current.map(|old| &old.description),
            ),
            (
                "system_prompt",
                &agent.system_prompt,
                current.map(|old| &old.system_prompt),
            ),
            ("model", &agent.model, current.map(|old| &old.model)),
        ];
        for (key, new, old) in texts {
            if old != Some(new) {
                fields.insert(key, new.as_str()).map_err(crdt_error)?;
            }
        }
        if current.map(|old| &old.parameters) != Some(&agent.parameters) {
            let json = serde_json::to_string(&agent.parameters)
                .map_err(|error| invalid(error.to_string()))?;
            fields.insert("parameters", json).map_err(crdt_error)?;
        }
        if current.map(|old| &old.tools) != Some(&agent.tools) {
            fields
                .insert("tools", agent.tools.clone())
                .map_err(crdt_error)?;
        }
        if current.map(|old| old.public) != Some(agent.public) {
            fields.insert("public", agent.public).map_err(crdt_error)?;
        }
        if current.map(|old| old.graph) != Some(agent.graph) {
            let value = match agent.graph {
                Some(graph) => LoroValue::from(graph.to_string()),
                None => LoroValue::Null,
            };
            fields.insert("graph", value).map_err(crdt_error)?;
        }
        Ok(())
    }

    fn write_prompt_fields(
        &self,
        prompt: &Prompt,
        current: Option<&Prompt>,
    ) -> Result<(), SyncError> {
        let fields = self.fields();
        let texts = [
            ("title", &prompt.title, current.map(|old| &old.title)),
            ("project", &prompt.project, current.map(|old| &old.project)),
            ("segment", &prompt.segment, current.map(|old| &old.segment)),
            (
                "description",
                &prompt.description,
                current.map(|old| &old.description),
            ),
        ];
        for (key, new, old) in texts {
            if old != Some(new) {
                fields.insert(key, new.as_str()).map_err(crdt_error)?;
            }
        }
        if current.map(|old| &old.tags) != Some(&prompt.tags) {
            fields
                .insert("tags", prompt.tags.clone())
                .map_err(crdt_error)?;
        }
        if current.map(|old| &old.validators) != Some(&prompt.validators) {
            // The list is one value: validators are edited as a set.
            let json = serde_json::to_string(&prompt.validators)
                .map_err(|error| invalid(error.to_string()))?;
            fields.insert("validators", json).map_err(crdt_error)?;
        }
        Ok(())
    }

    fn write_version(
        &self,
        version: &PromptVersion,
        current: Option<&PromptVersion>,
    ) -> Result<(), SyncError> {
        let map = match current {
            Some(_) => self.version_map(version.id)?,
            None => self
                .versions()
                .insert_container(&version.id.to_string(), LoroMap::new())
                .map_err(crdt_error)?,
        };
        if current.map(|old| &old.content) != Some(&version.content) {
            map.insert("content", version.content.as_str())
                .map_err(crdt_error)?;
        }
        if current.map(|old| old.status) != Some(version.status) {
            map.insert("status", version.status.as_str())
                .map_err(crdt_error)?;
        }
        if current.map(|old| &old.created_at) != Some(&version.created_at) {
            map.insert("created_at", version.created_at.as_str())
                .map_err(crdt_error)?;
        }
        if current.map(|old| &old.activated_at) != Some(&version.activated_at) {
            let value = match &version.activated_at {
                Some(at) => LoroValue::from(at.as_str()),
                None => LoroValue::Null,
            };
            map.insert("activated_at", value).map_err(crdt_error)?;
        }
        Ok(())
    }

    fn write_session_fields(
        &self,
        title: &str,
        graph: Option<orrery_domain::GraphId>,
        current: Option<&Session>,
    ) -> Result<(), SyncError> {
        let fields = self.fields();
        if current.map(|old| old.title.as_str()) != Some(title) {
            fields.insert("title", title).map_err(crdt_error)?;
        }
        if current.map(|old| old.graph) != Some(graph) {
            let value = match graph {
                Some(graph) => LoroValue::from(graph.to_string()),
                None => LoroValue::Null,
            };
            fields.insert("graph", value).map_err(crdt_error)?;
        }
        Ok(())
    }

    fn write_message(&self, message: &ChatMessage) -> Result<(), SyncError> {
        let list = self.messages();
        let map = list
            .insert_container(list.len(), LoroMap::new())
            .map_err(crdt_error)?;
        map.insert("id", message.id.to_string())
            .map_err(crdt_error)?;
        map.insert("role", message.role.as_str())
            .map_err(crdt_error)?;
        map.insert("author", message.author.as_str())
            .map_err(crdt_error)?;
        map.insert("text", message.text.as_str())
            .map_err(crdt_error)?;
        map.insert("at", message.at.as_str()).map_err(crdt_error)?;
        Ok(())
    }
}

fn raw_versions(versions: &LoroMap) -> Vec<(String, ValueOrContainer)> {
    let mut entries = Vec::new();
    versions.for_each(|key, value| entries.push((key.to_owned(), value)));
    entries
}

type Fields = loro::LoroMapValue;

fn text(value: Option<&LoroValue>, what: &str) -> Result<String, SyncError> {
    match value {
        Some(LoroValue::String(text)) => Ok(text.to_string()),
        _ => Err(invalid(format!("{what} is missing or not text"))),
    }
}

fn optional_text(value: Option<&LoroValue>, what: &str) -> Result<Option<String>, SyncError> {
    match value {
        None | Some(LoroValue::Null) => Ok(None),
        Some(LoroValue::String(text)) => Ok(Some(text.to_string())),
        _ => Err(invalid(format!("{what} is not text"))),
    }
}

fn text_list(value: Option<&LoroValue>, what: &str) -> Result<Vec<String>, SyncError> {
    match value {
        Some(LoroValue::List(items)) => items.iter().map(|item| text(Some(item), what)).collect(),
        _ => Err(invalid(format!("{what} is missing or not a list"))),
    }
}

fn parse_id<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, SyncError> {
    text.parse().map_err(|_| {
        invalid(format!(
            "{what} `{}` is not an id",
            text.chars().take(40).collect::<String>()
        ))
    })
}

fn read_agent(id: DocumentId, fields: &Fields) -> Result<Agent, SyncError> {
    let parameters = text(fields.get("parameters"), "agent parameters")?;
    let parameters = match serde_json::from_str(&parameters) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err(invalid("agent parameters are not a JSON object")),
    };
    let public = match fields.get("public") {
        Some(LoroValue::Bool(public)) => *public,
        _ => return Err(invalid("agent public flag is missing or not true/false")),
    };
    Ok(Agent {
        id,
        name: text(fields.get("name"), "agent name")?,
        description: text(fields.get("description"), "agent description")?,
        system_prompt: text(fields.get("system_prompt"), "system prompt")?,
        model: text(fields.get("model"), "agent model")?,
        parameters,
        tools: text_list(fields.get("tools"), "agent tools")?,
        public,
        // Absent in agents written before custom agents.
        graph: optional_text(fields.get("graph"), "agent graph")?
            .map(|graph| parse_id(&graph, "agent graph"))
            .transpose()?,
    })
}

fn read_prompt(
    id: DocumentId,
    fields: &Fields,
    versions: Option<&LoroValue>,
) -> Result<Prompt, SyncError> {
    let mut prompt = Prompt {
        id,
        title: text(fields.get("title"), "prompt title")?,
        project: text(fields.get("project"), "prompt project")?,
        segment: text(fields.get("segment"), "prompt segment")?,
        description: text(fields.get("description"), "prompt description")?,
        tags: text_list(fields.get("tags"), "prompt tags")?,
        versions: Vec::new(),
        // Absent in prompts written before validators were kept.
        validators: match optional_text(fields.get("validators"), "prompt validators")? {
            None => Vec::new(),
            Some(json) => serde_json::from_str(&json)
                .map_err(|error| invalid(format!("prompt validators are not valid: {error}")))?,
        },
    };
    match versions {
        None => {}
        Some(LoroValue::Map(versions)) => {
            for (key, value) in versions.iter() {
                let LoroValue::Map(version) = value else {
                    return Err(invalid(format!("prompt version {key} is not a map")));
                };
                let status = text(version.get("status"), "prompt version status")?;
                prompt.versions.push(PromptVersion {
                    id: parse_id(key, "prompt version key")?,
                    content: text(version.get("content"), "prompt content")?,
                    status: VersionStatus::parse(&status)?,
                    created_at: text(version.get("created_at"), "prompt version created_at")?,
                    activated_at: optional_text(
                        version.get("activated_at"),
                        "prompt version activated_at",
                    )?,
                });
            }
        }
        Some(_) => return Err(invalid("`versions` is not a map")),
    }
    resolve_active_version(&mut prompt.versions);
    prompt.sort_versions();
    Ok(prompt)
}

fn read_session(
    id: DocumentId,
    fields: &Fields,
    messages: Option<&LoroValue>,
) -> Result<Session, SyncError> {
    let graph = optional_text(fields.get("graph"), "session graph")?
        .map(|graph| parse_id(&graph, "session graph"))
        .transpose()?;
    let mut session = Session {
        id,
        title: text(fields.get("title"), "session title")?,
        graph,
        messages: Vec::new(),
    };
    match messages {
        None => {}
        Some(LoroValue::List(messages)) => {
            for value in messages.iter() {
                let LoroValue::Map(message) = value else {
                    return Err(invalid("a session message is not a map"));
                };
                let role = text(message.get("role"), "message role")?;
                session.messages.push(ChatMessage {
                    id: parse_id(&text(message.get("id"), "message id")?, "message id")?,
                    role: ChatRole::parse(&role)?,
                    author: text(message.get("author"), "message author")?,
                    text: text(message.get("text"), "message text")?,
                    at: text(message.get("at"), "message time")?,
                });
            }
        }
        Some(_) => return Err(invalid("`messages` is not a list")),
    }
    session.sort_messages();
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_domain::MessageId;

    fn replica_of(document: &LibraryDocument) -> LibraryDocument {
        let mut copy = LibraryDocument::empty(document.kind(), document.id());
        copy.merge(&document.updates_since(&Version::default()))
            .unwrap();
        copy
    }

    /// Exchanges what each lacks, as two syncs through a server would.
    fn exchange(a: &mut LibraryDocument, b: &mut LibraryDocument) {
        let (a_seen, b_seen) = (a.version(), b.version());
        let from_a = a.updates_since(&b_seen);
        let from_b = b.updates_since(&a_seen);
        a.merge(&from_b).unwrap();
        b.merge(&from_a).unwrap();
    }

    fn agent() -> Agent {
        let mut agent = Agent::new("Researcher");
        agent.description = "Finds things".into();
        agent.system_prompt = "You research.".into();
        agent.model = "llama3".into();
        agent
            .parameters
            .insert("temperature".into(), serde_json::json!(0.2));
        agent.tools = vec!["search".into()];
        agent
    }

    fn message(text: &str, at: &str) -> ChatMessage {
        ChatMessage {
            id: MessageId::new(),
            role: ChatRole::User,
            author: "me".into(),
            text: text.into(),
            at: at.into(),
        }
    }

    #[test]
    fn items_round_trip_through_documents() {
        let agent = agent();
        let document = LibraryDocument::create(&LibraryItem::Agent(agent.clone())).unwrap();
        assert_eq!(document.to_agent().unwrap(), agent);
        let restored =
            LibraryDocument::from_snapshot(DocumentKind::Agent, agent.id, &document.snapshot())
                .unwrap();
        assert_eq!(restored.to_agent().unwrap(), agent);

        let mut prompt = Prompt::new("Greeting");
        prompt.tags = vec!["hello".into()];
        prompt.versions = vec![PromptVersion::draft("Hi {{name}}", "2026-11-23T10:00:00Z")];
        let document = LibraryDocument::create(&LibraryItem::Prompt(prompt.clone())).unwrap();
        assert_eq!(replica_of(&document).to_prompt().unwrap(), prompt);

        let mut session = Session::new("Trip", Some(orrery_domain::GraphId::new()));
        session.messages = vec![message("hello", "2026-11-23T10:00:00Z")];
        let document = LibraryDocument::create(&LibraryItem::Session(session.clone())).unwrap();
        assert_eq!(replica_of(&document).to_session().unwrap(), session);
    }

    #[test]
    fn concurrent_edits_of_different_agent_fields_both_survive() {
        let agent = agent();
        let mut a = LibraryDocument::create(&LibraryItem::Agent(agent.clone())).unwrap();
        let mut b = replica_of(&a);
        let mut on_a = agent.clone();
        on_a.name = "Renamed on A".into();
        a.update_agent(&on_a).unwrap();
        let mut on_b = agent.clone();
        on_b.model = "qwen".into();
        on_b.tools.push("calculator".into());
        b.update_agent(&on_b).unwrap();
        exchange(&mut a, &mut b);
        let merged = a.to_agent().unwrap();
        assert_eq!(merged, b.to_agent().unwrap());
        assert_eq!(merged.name, "Renamed on A");
        assert_eq!(merged.model, "qwen");
        assert_eq!(merged.tools, ["search", "calculator"]);
    }

    #[test]
    fn concurrent_publishes_leave_one_active_version() {
        let mut prompt = Prompt::new("Greeting");
        let first = PromptVersion::draft("v1", "2026-11-23T10:00:00Z");
        prompt.versions = vec![first.clone()];
        let mut a = LibraryDocument::create(&LibraryItem::Prompt(prompt)).unwrap();
        a.publish_prompt_version(first.id, "2026-11-23T10:00:01Z")
            .unwrap();
        let mut b = replica_of(&a);
        let on_a = PromptVersion::draft("v2 from A", "2026-11-23T10:01:00Z");
        let on_b = PromptVersion::draft("v2 from B", "2026-11-23T10:01:00Z");
        a.add_prompt_version(&on_a).unwrap();
        b.add_prompt_version(&on_b).unwrap();
        a.publish_prompt_version(on_a.id, "2026-11-23T10:02:00Z")
            .unwrap();
        b.publish_prompt_version(on_b.id, "2026-11-23T10:03:00Z")
            .unwrap();
        exchange(&mut a, &mut b);
        let merged = a.to_prompt().unwrap();
        assert_eq!(merged, b.to_prompt().unwrap());
        assert_eq!(merged.versions.len(), 3);
        assert_eq!(merged.active_version().unwrap().id, on_b.id);
        assert_eq!(
            merged.version(on_a.id).unwrap().status,
            VersionStatus::Archived
        );
        assert_eq!(
            merged.version(first.id).unwrap().status,
            VersionStatus::Archived
        );
    }

    #[test]
    fn concurrent_appends_both_survive_in_order() {
        let session = Session::new("Chat", None);
        let mut a = LibraryDocument::create(&LibraryItem::Session(session)).unwrap();
        let mut b = replica_of(&a);
        let first = message("from A", "2026-11-23T10:00:02Z");
        let second = message("from B", "2026-11-23T10:00:01Z");
        a.append_message(&first).unwrap();
        b.append_message(&second).unwrap();
        exchange(&mut a, &mut b);
        let merged = a.to_session().unwrap();
        assert_eq!(merged, b.to_session().unwrap());
        assert_eq!(merged.messages, [second, first]);
    }

    #[test]
    fn bad_updates_change_nothing() {
        let agent = agent();
        let mut document = LibraryDocument::create(&LibraryItem::Agent(agent.clone())).unwrap();
        let version = document.version();
        for garbage in [&b"hello"[..], &[0xFF; 64][..], &document.snapshot()[..10]] {
            assert!(document.merge(garbage).is_err());
        }
        // A prompt's history pushed into an agent document.
        let mut prompt = Prompt::new("Not an agent");
        prompt.id = agent.id;
        let other = LibraryDocument::create(&LibraryItem::Prompt(prompt)).unwrap();
        let mut fresh = LibraryDocument::empty(DocumentKind::Agent, agent.id);
        let error = fresh
            .merge(&other.updates_since(&Version::default()))
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("holds kind `prompt` where kind `agent`"),
            "{error}"
        );
        // A field broken by a hostile replica.
        let hostile = replica_of(&document);
        let seen = hostile.version();
        hostile.fields().insert("public", "yes").unwrap();
        hostile.doc.commit();
        let error = document.merge(&hostile.updates_since(&seen)).unwrap_err();
        assert!(error.to_string().contains("public"), "{error}");
        assert_eq!(document.version(), version);
        assert_eq!(document.to_agent().unwrap(), agent);
    }

    #[test]
    fn hostile_validators_and_custom_agent_graphs_are_refused() {
        use orrery_domain::{PromptValidator, Validator};
        let mut prompt = Prompt::new("Checked");
        prompt.validators = vec![PromptValidator::on_output(Validator::Contains {
            text: "Sources:".into(),
            ignore_case: false,
        })];
        let mut document = LibraryDocument::create(&LibraryItem::Prompt(prompt.clone())).unwrap();
        assert_eq!(
            document.to_prompt().unwrap(),
            prompt,
            "validators round-trip"
        );
        let version = document.version();
        let many = serde_json::to_string(&vec![prompt.validators[0].clone(); 17]).unwrap();
        for (value, says) in [
            ("not json".to_owned(), "prompt validators are not valid"),
            (
                r#"[{"kind":"regex"}]"#.to_owned(),
                "prompt validators are not valid",
            ),
            (many, "prompt validators holds 17 entries"),
            (
                r#"[{"kind":"length","min":9,"max":3}]"#.to_owned(),
                "validator 1 (length) is not valid",
            ),
        ] {
            let hostile = replica_of(&document);
            let seen = hostile.version();
            hostile
                .fields()
                .insert("validators", value.as_str())
                .unwrap();
            hostile.doc.commit();
            let error = document.merge(&hostile.updates_since(&seen)).unwrap_err();
            assert!(error.to_string().contains(says), "{value}: {error}");
            assert_eq!(document.version(), version);
        }
        assert_eq!(document.to_prompt().unwrap(), prompt);

        let mut custom = agent();
        custom.graph = Some(orrery_domain::GraphId::new());
        let mut document = LibraryDocument::create(&LibraryItem::Agent(custom.clone())).unwrap();
        assert_eq!(
            document.to_agent().unwrap(),
            custom,
            "the graph round-trips"
        );
        let hostile = replica_of(&document);
        let seen = hostile.version();
        hostile.fields().insert("graph", "not-a-graph").unwrap();
        hostile.doc.commit();
        let error = document.merge(&hostile.updates_since(&seen)).unwrap_err();
        assert!(error.to_string().contains("agent graph"), "{error}");
        assert_eq!(document.to_agent().unwrap(), custom);
    }

    #[test]
    fn writers_write_only_what_changed() {
        let agent = agent();
        let document = LibraryDocument::create(&LibraryItem::Agent(agent.clone())).unwrap();
        let before = document.version();
        document.update_agent(&agent).unwrap();
        assert_eq!(document.version(), before);
        let mut renamed = agent;
        renamed.name = "Other".into();
        document.update_agent(&renamed).unwrap();
        assert_eq!(document.version().operations_missing_from(&before), 1);
    }
}
