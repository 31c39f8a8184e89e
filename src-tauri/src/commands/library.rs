//! Commands of the agent, prompt and provider screens.

use orrery_domain::{Agent, DocumentId, DocumentKind, PromptVersionId};
use orrery_store::LibrarySummary;
use tauri::State;
use tauri_specta::Event;

use super::CommandError;
use orrery_runtime::ProviderSettings;

use crate::shell::{AgentDraft, PromptDraft, PromptView, ProviderView, Shell};

fn invalid(message: impl ToString) -> CommandError {
    CommandError {
        code: "invalid_input",
        message: message.to_string(),
    }
}

fn parse_document_id(id: &str) -> Result<DocumentId, CommandError> {
    id.parse()
        .map_err(|error: orrery_domain::IdError| invalid(error))
}

fn parse_version_id(id: &str) -> Result<PromptVersionId, CommandError> {
    id.parse()
        .map_err(|error: orrery_domain::IdError| invalid(error))
}

/// Tells every screen that an agent or prompt changed.
fn announce(app: &tauri::AppHandle, kind: DocumentKind, id: DocumentId) {
    let _ = crate::events::LibraryItemChanged { kind, id }.emit(app);
}

/// Every agent or prompt (`kind`: `agent`, `prompt` or `session`), most
/// recently changed first.
#[tauri::command]
#[specta::specta]
pub async fn list_library(
    shell: State<'_, Shell>,
    kind: String,
) -> Result<Vec<LibrarySummary>, CommandError> {
    let kind = DocumentKind::parse(&kind).map_err(invalid)?;
    Ok(shell.list_library(kind).await?)
}

/// One agent.
#[tauri::command]
#[specta::specta]
pub async fn get_agent(shell: State<'_, Shell>, id: String) -> Result<Agent, CommandError> {
    Ok(shell.agent(parse_document_id(&id)?).await?)
}

/// Creates an agent (no id) or saves an edited one.
#[tauri::command]
#[specta::specta]
pub async fn save_agent(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    agent: AgentDraft,
) -> Result<Agent, CommandError> {
    let saved = shell.save_agent(agent).await?;
    announce(&app, DocumentKind::Agent, saved.id);
    Ok(saved)
}

/// Saves a graph as a custom agent (a blank name takes the graph's).
#[tauri::command]
#[specta::specta]
pub async fn save_graph_as_agent(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    graph: String,
    name: String,
    description: String,
) -> Result<Agent, CommandError> {
    let graph = super::parse_graph_id(&graph)?;
    let saved = shell
        .save_graph_as_agent(graph, &name, &description)
        .await?;
    announce(&app, DocumentKind::Agent, saved.id);
    Ok(saved)
}

/// Copies an agent.
#[tauri::command]
#[specta::specta]
pub async fn duplicate_agent(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    id: String,
) -> Result<Agent, CommandError> {
    let copy = shell.duplicate_agent(parse_document_id(&id)?).await?;
    announce(&app, DocumentKind::Agent, copy.id);
    Ok(copy)
}

/// Deletes an agent, prompt or session (`kind`) here and, once synced,
/// everywhere.
#[tauri::command]
#[specta::specta]
pub async fn delete_library_item(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    kind: String,
    id: String,
) -> Result<(), CommandError> {
    let kind = DocumentKind::parse(&kind).map_err(invalid)?;
    let id = parse_document_id(&id)?;
    shell.delete_library_item(kind, id).await?;
    announce(&app, kind, id);
    Ok(())
}

/// One prompt with its versions.
#[tauri::command]
#[specta::specta]
pub async fn get_prompt(shell: State<'_, Shell>, id: String) -> Result<PromptView, CommandError> {
    Ok(shell.prompt(parse_document_id(&id)?).await?)
}

/// Creates a prompt (no id) or saves an edited one's own fields.
#[tauri::command]
#[specta::specta]
pub async fn save_prompt(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    prompt: PromptDraft,
) -> Result<PromptView, CommandError> {
    let saved = shell.save_prompt(prompt).await?;
    announce(&app, DocumentKind::Prompt, saved.id);
    Ok(saved)
}

/// Copies a prompt with its versions.
#[tauri::command]
#[specta::specta]
pub async fn duplicate_prompt(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    id: String,
) -> Result<PromptView, CommandError> {
    let copy = shell.duplicate_prompt(parse_document_id(&id)?).await?;
    announce(&app, DocumentKind::Prompt, copy.id);
    Ok(copy)
}

/// Adds a draft version to a prompt.
#[tauri::command]
#[specta::specta]
pub async fn add_prompt_version(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    id: String,
    content: String,
) -> Result<PromptView, CommandError> {
    let id = parse_document_id(&id)?;
    let prompt = shell.add_prompt_version(id, &content).await?;
    announce(&app, DocumentKind::Prompt, id);
    Ok(prompt)
}

/// Publishes a version (publishing an archived one rolls back to it).
#[tauri::command]
#[specta::specta]
pub async fn publish_prompt_version(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    id: String,
    version: String,
) -> Result<PromptView, CommandError> {
    let id = parse_document_id(&id)?;
    let prompt = shell
        .publish_prompt_version(id, parse_version_id(&version)?)
        .await?;
    announce(&app, DocumentKind::Prompt, id);
    Ok(prompt)
}

/// The model provider sandbox runs call (never its API key).
#[tauri::command]
#[specta::specta]
pub async fn get_provider(shell: State<'_, Shell>) -> Result<ProviderView, CommandError> {
    Ok(shell.provider_view().await?)
}

/// Chooses the model provider; `api_key` goes to the system keyring (empty
/// forgets it, absent keeps the saved one).
#[tauri::command]
#[specta::specta]
pub async fn save_provider(
    shell: State<'_, Shell>,
    settings: ProviderSettings,
    api_key: Option<String>,
) -> Result<ProviderView, CommandError> {
    Ok(shell
        .save_provider_settings(&settings, api_key.as_deref())
        .await?)
}

/// Asks the provider for a one-word answer: what it said, or why it did not.
#[tauri::command]
#[specta::specta]
pub async fn test_provider(shell: State<'_, Shell>) -> Result<String, CommandError> {
    Ok(shell.test_provider().await?)
}
