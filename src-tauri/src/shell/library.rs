//! The library screens' side of the shell: agents and prompts (with their
//! versions), written to the local replica first and synced like graphs.

use std::collections::BTreeMap;

use orrery_domain::{
    Agent, DocumentId, DocumentKind, GraphId, Prompt, PromptValidator, PromptVersion,
    PromptVersionId, ValidatorTarget,
};
use orrery_runtime::{ValidationFailure, ValidatorSet};
use orrery_store::LibrarySummary;
use serde::{Deserialize, Serialize};

use super::{Shell, ShellError};

/// An agent as the agent editor sends it: no id for a new one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(specta::Type)]
pub struct AgentDraft {
    /// The agent being edited, or `None` to create one.
    pub id: Option<DocumentId>,
    /// Its name.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Its system prompt.
    #[serde(default)]
    pub system_prompt: String,
    /// The model it runs on.
    #[serde(default)]
    pub model: String,
    /// Model parameters (a JSON object).
    #[serde(default)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Tools it may call, by name.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Whether it is shown to others.
    #[serde(default)]
    pub public: bool,
    /// For a custom agent: the graph it runs.
    #[serde(default)]
    pub graph: Option<GraphId>,
}

/// A prompt's own fields as the prompt editor sends them (versions are
/// written through their own commands).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(specta::Type)]
pub struct PromptDraft {
    /// The prompt being edited, or `None` to create one.
    pub id: Option<DocumentId>,
    /// Its title.
    pub title: String,
    /// The project it is organised in.
    #[serde(default)]
    pub project: String,
    /// The segment within the project.
    #[serde(default)]
    pub segment: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Free tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its validators; `None` leaves them as they are.
    #[serde(default)]
    pub validators: Option<Vec<PromptValidator>>,
}

/// A prompt as the prompt editor shows it: the prompt, and what its
/// validators on the prompt's text say of each version (F9: they run on
/// every save). Versions that pass are not listed.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct PromptView {
    /// The prompt.
    #[serde(flatten)]
    pub prompt: Prompt,
    /// Version → every check it fails.
    pub checks: BTreeMap<PromptVersionId, Vec<ValidationFailure>>,
}

impl std::ops::Deref for PromptView {
    type Target = Prompt;

    fn deref(&self) -> &Prompt {
        &self.prompt
    }
}

/// Compiles a prompt's validators (a regex or schema that does not compile
/// is refused with the validator's place) and runs those on the prompt's
/// text over every version.
fn check_prompt(prompt: Prompt) -> Result<PromptView, ShellError> {
    orrery_domain::check_prompt_validators(&prompt.validators)
        .map_err(|error| ShellError::Invalid(error.to_string()))?;
    let mut on_content = Vec::new();
    for (position, entry) in prompt.validators.iter().enumerate() {
        let compiled = ValidatorSet::compile(std::slice::from_ref(&entry.validator))
            .map_err(|error| ShellError::Invalid(format!("validator {}: {error}", position + 1)))?;
        if entry.target == ValidatorTarget::Content {
            on_content.push(compiled);
        }
    }
    let checks = prompt
        .versions
        .iter()
        .filter_map(|version| {
            let failures: Vec<ValidationFailure> = on_content
                .iter()
                .flat_map(|set| set.failures_of(&version.content, "the prompt text"))
                .collect();
            (!failures.is_empty()).then_some((version.id, failures))
        })
        .collect();
    Ok(PromptView { prompt, checks })
}

/// Trims every entry and drops empty ones (a tools or tags field typed as
/// "a, b, ").
fn tidy(list: Vec<String>) -> Vec<String> {
    list.into_iter()
        .map(|entry| entry.trim().to_owned())
        .filter(|entry| !entry.is_empty())
        .collect()
}

impl Shell {
    /// After an agent or prompt changed: sync soon, and tell the canvas what
    /// the library holds now (its palette and inspector).
    pub(super) async fn library_changed(&self) {
        self.inner.changed.notify_one();
        self.show_library().await;
    }

    /// Tells the canvas what the library holds (a canvas that is gone or a
    /// library that cannot be read leaves the palette as it was).
    pub(super) async fn show_library(&self) {
        match orrery_sessions::Catalog::read(&self.replica()).await {
            Ok(catalog) => {
                let _ = self
                    .inner
                    .canvas
                    .send(orrery_canvas::CanvasCommand::ShowLibrary(catalog));
            }
            Err(error) => tracing::warn!(%error, "the library could not be read for the canvas"),
        }
    }

    /// Every agent, prompt or session (by `kind`), most recently changed first.
    pub async fn list_library(
        &self,
        kind: DocumentKind,
    ) -> Result<Vec<LibrarySummary>, ShellError> {
        Ok(self.replica().list_documents(kind).await?)
    }

    /// One agent.
    pub async fn agent(&self, id: DocumentId) -> Result<Agent, ShellError> {
        Ok(self.replica().agent(id).await?)
    }

    /// Creates an agent or saves an edited one (only changed fields are
    /// written, so edits of other fields on other devices survive).
    pub async fn save_agent(&self, draft: AgentDraft) -> Result<Agent, ShellError> {
        self.check_writable()?;
        let agent = Agent {
            id: draft.id.unwrap_or_default(),
            name: draft.name.trim().to_owned(),
            description: draft.description,
            system_prompt: draft.system_prompt,
            model: draft.model.trim().to_owned(),
            parameters: draft.parameters,
            tools: tidy(draft.tools),
            public: draft.public,
            graph: draft.graph,
        };
        if let Some(graph) = agent.graph {
            // A custom agent runs a graph this device has.
            self.replica().graph(graph).await?;
        }
        if draft.id.is_some() {
            // Editing: the agent must exist (an unknown id is not a new agent).
            self.replica().agent(agent.id).await?;
        }
        let saved = self.replica().save_agent(&agent).await?;
        self.library_changed().await;
        Ok(saved)
    }

    /// A copy of an agent under a new id, named "… (copy)".
    pub async fn duplicate_agent(&self, id: DocumentId) -> Result<Agent, ShellError> {
        self.check_writable()?;
        let original = self.replica().agent(id).await?;
        let copy = Agent {
            id: DocumentId::new(),
            name: super::copy_name(&original.name, orrery_domain::MAX_TITLE_CHARS),
            ..original
        };
        let saved = self.replica().save_agent(&copy).await?;
        self.library_changed().await;
        Ok(saved)
    }

    /// Deletes an agent, prompt or session here, and on other devices when
    /// they sync.
    pub async fn delete_library_item(
        &self,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<(), ShellError> {
        self.check_writable()?;
        self.replica().delete_document(kind, id).await?;
        self.library_changed().await;
        Ok(())
    }

    /// One prompt with its versions, oldest first, and what its checks say.
    pub async fn prompt(&self, id: DocumentId) -> Result<PromptView, ShellError> {
        check_prompt(self.replica().prompt(id).await?)
    }

    /// Creates a prompt or saves an edited one's own fields; its versions
    /// are left as they are.
    pub async fn save_prompt(&self, draft: PromptDraft) -> Result<PromptView, ShellError> {
        self.check_writable()?;
        let (versions, validators) = match draft.id {
            Some(id) => {
                let current = self.replica().prompt(id).await?;
                (current.versions, current.validators)
            }
            None => (Vec::new(), Vec::new()),
        };
        let prompt = Prompt {
            id: draft.id.unwrap_or_default(),
            project: draft.project.trim().to_owned(),
            segment: draft.segment.trim().to_owned(),
            title: draft.title.trim().to_owned(),
            description: draft.description,
            tags: tidy(draft.tags),
            versions,
            validators: draft.validators.unwrap_or(validators),
        };
        // A validator that does not compile is refused before anything is written.
        check_prompt(prompt.clone())?;
        let saved = self.replica().save_prompt(&prompt).await?;
        self.library_changed().await;
        check_prompt(saved)
    }

    /// A copy of a prompt under a new id, titled "… (copy)", with copies of
    /// its versions (the active one stays active in the copy).
    pub async fn duplicate_prompt(&self, id: DocumentId) -> Result<PromptView, ShellError> {
        self.check_writable()?;
        let original = self.replica().prompt(id).await?;
        let copy = Prompt {
            id: DocumentId::new(),
            title: super::copy_name(&original.title, orrery_domain::MAX_TITLE_CHARS),
            versions: original
                .versions
                .iter()
                .map(|version| PromptVersion {
                    id: PromptVersionId::new(),
                    ..version.clone()
                })
                .collect(),
            ..original
        };
        let saved = self.replica().save_prompt(&copy).await?;
        self.library_changed().await;
        check_prompt(saved)
    }

    /// Adds a draft version holding `content` and returns the prompt.
    pub async fn add_prompt_version(
        &self,
        id: DocumentId,
        content: &str,
    ) -> Result<PromptView, ShellError> {
        self.check_writable()?;
        self.replica().add_prompt_version(id, content).await?;
        self.library_changed().await;
        self.prompt(id).await
    }

    /// Makes `version` the active one (the one active before is archived);
    /// publishing an archived version again rolls back to it. A version
    /// whose text fails the prompt's checks is not published.
    pub async fn publish_prompt_version(
        &self,
        id: DocumentId,
        version: PromptVersionId,
    ) -> Result<PromptView, ShellError> {
        self.check_writable()?;
        let current = self.prompt(id).await?;
        if let Some(failures) = current.checks.get(&version) {
            let number = current
                .versions
                .iter()
                .position(|candidate| candidate.id == version)
                .map_or(0, |position| position + 1);
            let failures: Vec<String> = failures.iter().map(ToString::to_string).collect();
            return Err(ShellError::Invalid(format!(
                "version {number} fails the prompt's checks and was not published: {}",
                failures.join("; ")
            )));
        }
        let prompt = self.replica().publish_prompt_version(id, version).await?;
        self.library_changed().await;
        check_prompt(prompt)
    }

    /// Saves graph `graph` as a custom agent named `name` (the graph's name
    /// when blank): an agent node naming it in any graph runs this graph's
    /// agents as one, nested to any depth. A name another agent has is refused.
    pub async fn save_graph_as_agent(
        &self,
        graph: GraphId,
        name: &str,
        description: &str,
    ) -> Result<Agent, ShellError> {
        self.check_writable()?;
        let graph = self.replica().graph(graph).await?;
        let name = match name.trim() {
            "" => graph.name.trim(),
            typed => typed,
        };
        let taken = self
            .replica()
            .list_documents(DocumentKind::Agent)
            .await?
            .into_iter()
            .any(|summary| summary.title.trim().to_lowercase() == name.to_lowercase());
        if taken {
            return Err(ShellError::Invalid(format!(
                "an agent named “{name}” exists already: choose another name"
            )));
        }
        let mut agent = Agent::new(name);
        agent.description = description.to_owned();
        agent.graph = Some(graph.id);
        let saved = self.replica().save_agent(&agent).await?;
        self.library_changed().await;
        Ok(saved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_named_within_the_limit() {
        assert_eq!(
            super::super::copy_name("Researcher", orrery_domain::MAX_TITLE_CHARS),
            "Researcher (copy)"
        );
        let long = "x".repeat(orrery_domain::MAX_TITLE_CHARS);
        let copy = super::super::copy_name(&long, orrery_domain::MAX_TITLE_CHARS);
        assert_eq!(copy.chars().count(), orrery_domain::MAX_TITLE_CHARS);
        assert!(copy.ends_with(" (copy)"));
    }

    #[test]
    fn lists_typed_with_stray_commas_are_tidied() {
        assert_eq!(
            tidy(vec![
                " search ".into(),
                String::new(),
                "  ".into(),
                "fetch".into()
            ]),
            vec!["search".to_owned(), "fetch".to_owned()]
        );
    }
}
