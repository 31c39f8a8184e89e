//! The Teams screen's commands: teams, their people, invitations and roles.
//! Input is checked here for shape (ids are UUIDs, roles are one of four,
//! texts are bounded); what a role may do is the server's policy engine's.

use tauri::State;
use tauri_specta::Event;

use super::CommandError;
use crate::shell::Shell;

fn invalid(message: impl ToString) -> CommandError {
    CommandError {
        code: "invalid_input",
        message: message.to_string(),
    }
}

/// Longest name, address or code the screen may send.
const MAX_FIELD_CHARS: usize = 320;

fn bounded<'a>(value: &'a str, what: &str) -> Result<&'a str, CommandError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(invalid(format!(
            "{what} is at most {MAX_FIELD_CHARS} characters"
        )));
    }
    Ok(value)
}

/// `value` as an id (a UUID), or why not.
fn id(value: &str, what: &str) -> Result<uuid::Uuid, CommandError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(format!("{what} is not an id")))
}

fn role(value: &str) -> Result<&str, CommandError> {
    orrery_domain::team::TeamRole::parse(value)
        .map(|role| role.as_str())
        .ok_or_else(|| invalid("a role is owner, admin, editor or viewer"))
}

/// The teams the user belongs to.
#[tauri::command]
#[specta::specta]
pub async fn list_teams(
    shell: State<'_, Shell>,
) -> Result<Vec<orrery_account::Team>, CommandError> {
    Ok(shell.teams().await?)
}

/// Creates a team the user owns; the teams then.
#[tauri::command]
#[specta::specta]
pub async fn create_team(
    shell: State<'_, Shell>,
    name: String,
) -> Result<Vec<orrery_account::Team>, CommandError> {
    Ok(shell
        .create_team(bounded(&name, "the team's name")?)
        .await?)
}

/// A team's members and pending invitations.
#[tauri::command]
#[specta::specta]
pub async fn team_people(
    shell: State<'_, Shell>,
    team: String,
) -> Result<orrery_account::TeamPeople, CommandError> {
    Ok(shell
        .team_people(&id(&team, "the team")?.to_string())
        .await?)
}

/// Invites someone by email; the team's people then.
#[tauri::command]
#[specta::specta]
pub async fn invite_to_team(
    shell: State<'_, Shell>,
    team: String,
    email: String,
    role: String,
) -> Result<orrery_account::TeamPeople, CommandError> {
    Ok(shell
        .invite_to_team(
            &id(&team, "the team")?.to_string(),
            bounded(&email, "the address")?,
            self::role(&role)?,
        )
        .await?)
}

/// Takes back an invitation; the team's people then.
#[tauri::command]
#[specta::specta]
pub async fn revoke_team_invitation(
    shell: State<'_, Shell>,
    team: String,
    invitation: String,
) -> Result<orrery_account::TeamPeople, CommandError> {
    Ok(shell
        .revoke_team_invitation(
            &id(&team, "the team")?.to_string(),
            &id(&invitation, "the invitation")?.to_string(),
        )
        .await?)
}

/// Gives a member another role; the team's people then.
#[tauri::command]
#[specta::specta]
pub async fn change_team_role(
    shell: State<'_, Shell>,
    team: String,
    user: String,
    role: String,
) -> Result<orrery_account::TeamPeople, CommandError> {
    Ok(shell
        .change_team_role(
            &id(&team, "the team")?.to_string(),
            &id(&user, "the member")?.to_string(),
            self::role(&role)?,
        )
        .await?)
}

/// Removes a member, or leaves the team; the teams then.
#[tauri::command]
#[specta::specta]
pub async fn remove_team_member(
    shell: State<'_, Shell>,
    team: String,
    user: String,
) -> Result<Vec<orrery_account::Team>, CommandError> {
    Ok(shell
        .remove_team_member(
            &id(&team, "the team")?.to_string(),
            &id(&user, "the member")?.to_string(),
        )
        .await?)
}

/// Joins a team with an invitation's code or `orrery://invite/…` link.
#[tauri::command]
#[specta::specta]
pub async fn accept_team_invitation(
    shell: State<'_, Shell>,
    code: String,
) -> Result<orrery_account::JoinedTeam, CommandError> {
    Ok(shell
        .accept_team_invitation(bounded(&code, "the invitation's code")?)
        .await?)
}

/// The workspaces on offer (personal and each team) and the one in use.
#[tauri::command]
#[specta::specta]
pub async fn list_workspaces(
    shell: State<'_, Shell>,
) -> Result<crate::shell::Workspaces, CommandError> {
    Ok(shell.workspaces().await?)
}

/// Works in a team's workspace (`null`: the personal one) from now on.
#[tauri::command]
#[specta::specta]
pub async fn switch_workspace(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    team: Option<String>,
) -> Result<crate::shell::Workspaces, CommandError> {
    let team = team.map(|team| id(&team, "the team")).transpose()?;
    let workspaces = shell.switch_workspace(team).await?;
    let _ = crate::events::LibraryChanged(String::new()).emit(&app);
    Ok(workspaces)
}

/// Copies a graph of the personal workspace into a team's.
#[tauri::command]
#[specta::specta]
pub async fn copy_graph_to_team(
    shell: State<'_, Shell>,
    graph: String,
    team: String,
) -> Result<orrery_store::GraphSummary, CommandError> {
    let graph = super::parse_graph_id(&graph)?;
    let team = id(&team, "the team")?;
    Ok(shell.copy_graph_to_team(graph, team).await?)
}

/// A graph's history (named versions and sync points), newest first.
#[tauri::command]
#[specta::specta]
pub async fn graph_history(
    shell: State<'_, Shell>,
    graph: String,
) -> Result<Vec<crate::shell::HistoryPoint>, CommandError> {
    Ok(shell.graph_history(super::parse_graph_id(&graph)?).await?)
}

/// Names the graph as it is now ("Save version…"); the history then.
#[tauri::command]
#[specta::specta]
pub async fn save_graph_version(
    shell: State<'_, Shell>,
    graph: String,
    name: String,
) -> Result<Vec<crate::shell::HistoryPoint>, CommandError> {
    Ok(shell
        .save_graph_version(
            super::parse_graph_id(&graph)?,
            bounded(&name, "the version's name")?,
        )
        .await?)
}

/// What changed from version `from` to version `to` (null: now).
#[tauri::command]
#[specta::specta]
pub async fn graph_diff(
    shell: State<'_, Shell>,
    graph: String,
    from: Option<String>,
    to: Option<String>,
) -> Result<crate::shell::HistoryDiff, CommandError> {
    for version in [&from, &to].into_iter().flatten() {
        bounded(version, "a version")?;
    }
    Ok(shell
        .graph_diff(
            super::parse_graph_id(&graph)?,
            from.as_deref(),
            to.as_deref(),
        )
        .await?)
}

/// Shows a version of a graph on the canvas, read-only; with `compare`, the
/// later version `later` (null: the graph now) with each node that differs
/// from `version` in colour.
#[tauri::command]
#[specta::specta]
pub async fn show_graph_version(
    shell: State<'_, Shell>,
    graph: String,
    version: String,
    compare: bool,
    later: Option<String>,
) -> Result<(), CommandError> {
    if let Some(later) = &later {
        bounded(later, "a version")?;
    }
    Ok(shell
        .show_graph_version(
            super::parse_graph_id(&graph)?,
            bounded(&version, "a version")?,
            compare,
            later.as_deref(),
        )
        .await?)
}

/// Brings a graph back to a version as one new edit; whether anything changed.
#[tauri::command]
#[specta::specta]
pub async fn restore_graph_version(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    graph: String,
    version: String,
) -> Result<bool, CommandError> {
    let id = super::parse_graph_id(&graph)?;
    let changed = shell
        .restore_graph_version(id, bounded(&version, "a version")?)
        .await?;
    let _ = crate::events::LibraryChanged(id.to_string()).emit(&app);
    Ok(changed)
}

/// Takes a graph's last restore back.
#[tauri::command]
#[specta::specta]
pub async fn undo_restore(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    graph: String,
) -> Result<(), CommandError> {
    let id = super::parse_graph_id(&graph)?;
    shell.undo_restore(id).await?;
    let _ = crate::events::LibraryChanged(id.to_string()).emit(&app);
    Ok(())
}

/// The versions of the library prompts a graph's prompt nodes name.
#[tauri::command]
#[specta::specta]
pub async fn graph_prompt_history(
    shell: State<'_, Shell>,
    graph: String,
) -> Result<Vec<crate::shell::PromptHistory>, CommandError> {
    Ok(shell
        .graph_prompt_history(super::parse_graph_id(&graph)?)
        .await?)
}
