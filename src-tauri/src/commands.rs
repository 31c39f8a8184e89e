//! Tauri commands: thin wrappers that validate input and call [`Shell`].
//! Errors reach the webview as `{ code, message }`.

use orrery_domain::GraphId;
use orrery_store::GraphSummary;
use serde::Serialize;
use tauri::{Emitter, State};

use crate::shell::{Shell, ShellError, SyncStatus};

/// An error as the webview sees it.
#[derive(Debug, Serialize)]
pub struct CommandError {
    /// A stable machine-readable code (`invalid_input`, `not_found`, `internal`).
    pub code: &'static str,
    /// A sentence for the user.
    pub message: String,
}

impl From<ShellError> for CommandError {
    fn from(error: ShellError) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

fn parse_graph_id(id: &str) -> Result<GraphId, CommandError> {
    id.parse()
        .map_err(|error: orrery_domain::IdError| CommandError {
            code: "invalid_input",
            message: error.to_string(),
        })
}

/// Every graph in the library.
#[tauri::command]
pub async fn list_graphs(shell: State<'_, Shell>) -> Result<Vec<GraphSummary>, CommandError> {
    Ok(shell.list_graphs().await?)
}

/// Creates an empty graph.
#[tauri::command]
pub async fn create_graph(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    name: String,
) -> Result<GraphSummary, CommandError> {
    let summary = shell.create_graph(&name).await?;
    let _ = app.emit("library-changed", summary.id.to_string());
    Ok(summary)
}

/// Largest sample graph the library screen may ask for.
const MAX_SAMPLE_NODES: usize = 5_000;

/// Adds a sample graph.
#[tauri::command]
pub async fn add_sample_graph(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    nodes: usize,
) -> Result<GraphSummary, CommandError> {
    if nodes == 0 || nodes > MAX_SAMPLE_NODES {
        return Err(CommandError {
            code: "invalid_input",
            message: format!("a sample graph has between 1 and {MAX_SAMPLE_NODES} nodes"),
        });
    }
    let summary = shell.add_sample_graph(nodes).await?;
    let _ = app.emit("library-changed", summary.id.to_string());
    Ok(summary)
}

/// Renames a graph.
#[tauri::command]
pub async fn rename_graph(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    id: String,
    name: String,
) -> Result<GraphSummary, CommandError> {
    let summary = shell.rename_graph(parse_graph_id(&id)?, &name).await?;
    let _ = app.emit("library-changed", id);
    Ok(summary)
}

/// Shows a graph in the canvas window.
#[tauri::command]
pub async fn open_graph(shell: State<'_, Shell>, id: String) -> Result<(), CommandError> {
    Ok(shell.open_graph(parse_graph_id(&id)?).await?)
}

/// Where sync stands.
#[tauri::command]
pub async fn sync_status(shell: State<'_, Shell>) -> Result<SyncStatus, CommandError> {
    Ok(shell.sync_status().await)
}
