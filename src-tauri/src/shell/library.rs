//! The library screens' side of the shell: agents and prompts (with their
//! versions), written to the local replica first and synced like graphs.

use orrery_domain::{Agent, DocumentId, DocumentKind, Prompt, PromptVersion, PromptVersionId};
use orrery_store::LibrarySummary;
use serde::Deserialize;

use super::{Shell, ShellError};

/// An agent as the agent editor sends it: no id for a new one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
}

/// A prompt's own fields as the prompt editor sends them (versions are
/// written through their own commands).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
}

/// The name a copy gets: "Name (copy)", cut to stay a valid name.
fn copy_name(name: &str) -> String {
    const SUFFIX: &str = " (copy)";
    let room = orrery_domain::MAX_TITLE_CHARS - SUFFIX.chars().count();
    let kept: String = name.chars().take(room).collect();
    format!("{}{SUFFIX}", kept.trim_end())
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
    /// Every agent, prompt or session (by `kind`), most recently changed first.
    pub async fn list_library(
        &self,
        kind: DocumentKind,
    ) -> Result<Vec<LibrarySummary>, ShellError> {
        Ok(self.inner.replica.list_documents(kind).await?)
    }

    /// One agent.
    pub async fn agent(&self, id: DocumentId) -> Result<Agent, ShellError> {
        Ok(self.inner.replica.agent(id).await?)
    }

    /// Creates an agent or saves an edited one (only changed fields are
    /// written, so edits of other fields on other devices survive).
    pub async fn save_agent(&self, draft: AgentDraft) -> Result<Agent, ShellError> {
        let agent = Agent {
            id: draft.id.unwrap_or_default(),
            name: draft.name.trim().to_owned(),
            description: draft.description,
            system_prompt: draft.system_prompt,
            model: draft.model.trim().to_owned(),
            parameters: draft.parameters,
            tools: tidy(draft.tools),
            public: draft.public,
        };
        if draft.id.is_some() {
            // Editing: the agent must exist (an unknown id is not a new agent).
            self.inner.replica.agent(agent.id).await?;
        }
        let saved = self.inner.replica.save_agent(&agent).await?;
        self.inner.changed.notify_one();
        Ok(saved)
    }

    /// A copy of an agent under a new id, named "… (copy)".
    pub async fn duplicate_agent(&self, id: DocumentId) -> Result<Agent, ShellError> {
        let original = self.inner.replica.agent(id).await?;
        let copy = Agent {
            id: DocumentId::new(),
            name: copy_name(&original.name),
            ..original
        };
        let saved = self.inner.replica.save_agent(&copy).await?;
        self.inner.changed.notify_one();
        Ok(saved)
    }

    /// Deletes an agent, prompt or session here, and on other devices when
    /// they sync.
    pub async fn delete_library_item(
        &self,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<(), ShellError> {
        self.inner.replica.delete_document(kind, id).await?;
        self.inner.changed.notify_one();
        Ok(())
    }

    /// One prompt with its versions, oldest first.
    pub async fn prompt(&self, id: DocumentId) -> Result<Prompt, ShellError> {
        Ok(self.inner.replica.prompt(id).await?)
    }

    /// Creates a prompt or saves an edited one's own fields; its versions
    /// are left as they are.
    pub async fn save_prompt(&self, draft: PromptDraft) -> Result<Prompt, ShellError> {
        let versions = match draft.id {
            Some(id) => self.inner.replica.prompt(id).await?.versions,
            None => Vec::new(),
        };
        let prompt = Prompt {
            id: draft.id.unwrap_or_default(),
            project: draft.project.trim().to_owned(),
            segment: draft.segment.trim().to_owned(),
            title: draft.title.trim().to_owned(),
            description: draft.description,
            tags: tidy(draft.tags),
            versions,
        };
        let saved = self.inner.replica.save_prompt(&prompt).await?;
        self.inner.changed.notify_one();
        Ok(saved)
    }

    /// A copy of a prompt under a new id, titled "… (copy)", with copies of
    /// its versions (the active one stays active in the copy).
    pub async fn duplicate_prompt(&self, id: DocumentId) -> Result<Prompt, ShellError> {
        let original = self.inner.replica.prompt(id).await?;
        let copy = Prompt {
            id: DocumentId::new(),
            title: copy_name(&original.title),
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
        let saved = self.inner.replica.save_prompt(&copy).await?;
        self.inner.changed.notify_one();
        Ok(saved)
    }

    /// Adds a draft version holding `content` and returns the prompt.
    pub async fn add_prompt_version(
        &self,
        id: DocumentId,
        content: &str,
    ) -> Result<Prompt, ShellError> {
        self.inner.replica.add_prompt_version(id, content).await?;
        self.inner.changed.notify_one();
        Ok(self.inner.replica.prompt(id).await?)
    }

    /// Makes `version` the active one (the one active before is archived);
    /// publishing an archived version again rolls back to it.
    pub async fn publish_prompt_version(
        &self,
        id: DocumentId,
        version: PromptVersionId,
    ) -> Result<Prompt, ShellError> {
        let prompt = self
            .inner
            .replica
            .publish_prompt_version(id, version)
            .await?;
        self.inner.changed.notify_one();
        Ok(prompt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_named_within_the_limit() {
        assert_eq!(copy_name("Researcher"), "Researcher (copy)");
        let long = "x".repeat(orrery_domain::MAX_TITLE_CHARS);
        let copy = copy_name(&long);
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
