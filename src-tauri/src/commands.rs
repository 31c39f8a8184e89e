//! Tauri commands: thin wrappers that validate input and call [`Shell`].
//! Errors reach the webview as `{ code, message }`.

use orrery_domain::GraphId;
use orrery_store::GraphSummary;
use serde::Serialize;
use tauri::State;
use tauri_specta::Event;

use crate::events::LibraryChanged;

use crate::shell::{Shell, ShellError, SyncStatus};

mod admin;
mod channels;
mod library;
mod marketplace;
mod teams;
pub use admin::*;
pub use channels::*;
pub use library::*;
pub use marketplace::*;
pub use teams::*;

/// Every command the webview may call, with the types they take and give,
/// for Tauri's invoke handler and for the generated `ui/src/bindings.ts`
/// (`make bindings` writes it; a test fails while it is out of date).
pub fn bindings() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(tauri_specta::collect_commands![
            list_graphs,
            create_graph,
            add_sample_graph,
            rename_graph,
            delete_graph,
            restore_graph,
            list_deleted_graphs,
            duplicate_graph,
            list_templates,
            about,
            open_about_link,
            welcome_due,
            dismiss_welcome,
            add_template,
            open_graph,
            import_graph,
            export_graph,
            sync_status,
            account_state,
            register,
            sign_in,
            sign_in_with_provider,
            list_providers,
            sign_out,
            update_profile,
            request_password_reset,
            confirm_password_reset,
            billing_overview,
            start_checkout,
            open_billing_portal,
            list_library,
            get_agent,
            save_agent,
            duplicate_agent,
            save_graph_as_agent,
            get_prompt,
            save_prompt,
            duplicate_prompt,
            add_prompt_version,
            publish_prompt_version,
            delete_library_item,
            get_provider,
            save_provider,
            test_provider,
            list_teams,
            create_team,
            team_people,
            invite_to_team,
            revoke_team_invitation,
            change_team_role,
            remove_team_member,
            accept_team_invitation,
            list_workspaces,
            switch_workspace,
            copy_graph_to_team,
            graph_history,
            save_graph_version,
            graph_diff,
            show_graph_version,
            restore_graph_version,
            undo_restore,
            graph_prompt_history,
            list_channels,
            connect_channel,
            disconnect_channel,
            server_provider,
            share_provider_with_server,
            market_search,
            market_listing,
            market_buy,
            market_purchases,
            market_selling,
            market_create_listing,
            market_publish_version,
            market_review,
            market_report,
            market_delist,
            market_seller,
            market_start_selling,
            market_sales,
            market_refund,
            admin_market_reports,
            admin_delist_listing,
            admin_market_commission,
            admin_set_market_commission,
            admin_market_reconcile,
            admin_list_users,
            admin_get_user,
            admin_change_user,
            admin_audit_log,
            admin_overview,
            admin_export_user,
            admin_delete_user,
            admin_save_plan,
            admin_list_tenants,
            admin_list_prompts,
            admin_roll_back_prompt,
            admin_monitoring,
            admin_mail_templates,
            admin_save_mail_template,
            admin_reset_mail_template,
            admin_preview_mail_template,
            admin_export_audit_log,
            open_admin_window,
            crate::updates::check_for_update,
            crate::updates::install_update,
            crate::updates::update_settings,
            crate::updates::set_update_channel,
            crate::desktop::open_log_folder,
        ])
        // Commands throw their `CommandError`, as `invoke` does.
        .events(crate::events::all())
        .error_handling(tauri_specta::ErrorHandlingMode::Throw)
        // Counts and sizes are far below 2^53: plain numbers in TypeScript.
        .dangerously_cast_bigints_to_number()
}

/// How `ui/src/bindings.ts` is written.
pub fn typescript() -> specta_typescript::Typescript {
    specta_typescript::Typescript::default().header(concat!(
        "// Generated from the desktop's commands and events (src-tauri/src/commands.rs,\n",
        "// src-tauri/src/events.rs) by `make bindings`. Do not edit: change the Rust\n",
        "// definitions and run it again; a test fails while this file is out of date.\n",
    ))
}

/// An error as the webview sees it.
#[derive(Debug, Serialize, specta::Type)]
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

pub(crate) fn parse_graph_id(id: &str) -> Result<GraphId, CommandError> {
    id.parse()
        .map_err(|error: orrery_domain::IdError| CommandError {
            code: "invalid_input",
            message: error.to_string(),
        })
}

/// Every graph in the library.
#[tauri::command]
#[specta::specta]
pub async fn list_graphs(shell: State<'_, Shell>) -> Result<Vec<GraphSummary>, CommandError> {
    Ok(shell.list_graphs().await?)
}

/// Creates an empty graph.
#[tauri::command]
#[specta::specta]
pub async fn create_graph(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    name: String,
) -> Result<GraphSummary, CommandError> {
    let summary = shell.create_graph(&name).await?;
    let _ = LibraryChanged(summary.id.to_string()).emit(&app);
    Ok(summary)
}

/// Largest sample graph the library screen may ask for.
const MAX_SAMPLE_NODES: usize = 5_000;

/// Adds a sample graph.
#[tauri::command]
#[specta::specta]
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
    let _ = LibraryChanged(summary.id.to_string()).emit(&app);
    Ok(summary)
}

/// Renames a graph.
#[tauri::command]
#[specta::specta]
pub async fn rename_graph(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    id: String,
    name: String,
) -> Result<GraphSummary, CommandError> {
    let summary = shell.rename_graph(parse_graph_id(&id)?, &name).await?;
    let _ = LibraryChanged(id).emit(&app);
    Ok(summary)
}

/// Deletes a graph (restorable for 30 days); answers how it is listed among deleted graphs.
#[tauri::command]
#[specta::specta]
pub async fn delete_graph(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    id: String,
) -> Result<GraphSummary, CommandError> {
    let summary = shell.delete_graph(parse_graph_id(&id)?).await?;
    let _ = LibraryChanged(id).emit(&app);
    Ok(summary)
}

/// Brings back a deleted graph.
#[tauri::command]
#[specta::specta]
pub async fn restore_graph(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    id: String,
) -> Result<GraphSummary, CommandError> {
    let summary = shell.restore_graph(parse_graph_id(&id)?).await?;
    let _ = LibraryChanged(id).emit(&app);
    Ok(summary)
}

/// Deleted graphs that can still be restored.
#[tauri::command]
#[specta::specta]
pub async fn list_deleted_graphs(
    shell: State<'_, Shell>,
) -> Result<Vec<GraphSummary>, CommandError> {
    Ok(shell.list_deleted_graphs().await?)
}

/// Copies a graph under a new id.
#[tauri::command]
#[specta::specta]
pub async fn duplicate_graph(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    id: String,
) -> Result<GraphSummary, CommandError> {
    let summary = shell.duplicate_graph(parse_graph_id(&id)?).await?;
    let _ = LibraryChanged(summary.id.to_string()).emit(&app);
    Ok(summary)
}

/// What the About window shows.
#[tauri::command]
#[specta::specta]
pub fn about(app: tauri::AppHandle, shell: State<'_, Shell>) -> crate::shell::About {
    crate::shell::About {
        version: app.package_info().version.to_string(),
        ..shell.about()
    }
}

/// Opens one of the About window's links in the browser, by key.
#[tauri::command]
#[specta::specta]
pub fn open_about_link(key: String) -> Result<(), CommandError> {
    let Some(address) = crate::shell::about_link(&key) else {
        return Err(CommandError {
            code: "invalid_input",
            message: format!(
                "there is no link “{}”",
                key.chars().take(64).collect::<String>()
            ),
        });
    };
    let url = url::Url::parse(address).map_err(|error| CommandError {
        code: "internal",
        message: error.to_string(),
    })?;
    open_in_browser(&url).map_err(|message| CommandError {
        code: "browser",
        message,
    })
}

/// Whether the first-run welcome is still to be shown.
#[tauri::command]
#[specta::specta]
pub async fn welcome_due(shell: State<'_, Shell>) -> Result<bool, CommandError> {
    Ok(shell.welcome_due().await?)
}

/// Records that the welcome was dismissed; it is not shown again.
#[tauri::command]
#[specta::specta]
pub async fn dismiss_welcome(shell: State<'_, Shell>) -> Result<(), CommandError> {
    Ok(shell.dismiss_welcome().await?)
}

/// The templates a new graph can start from.
#[tauri::command]
#[specta::specta]
pub fn list_templates(shell: State<'_, Shell>) -> Vec<orrery_domain::templates::TemplateCard> {
    shell.templates()
}

/// Adds a template to the library and answers how its graph is listed.
#[tauri::command]
#[specta::specta]
pub async fn add_template(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    key: String,
) -> Result<GraphSummary, CommandError> {
    let summary = shell.add_template(&key).await?;
    let _ = LibraryChanged(summary.id.to_string()).emit(&app);
    Ok(summary)
}

/// Shows a graph in the canvas window.
#[tauri::command]
#[specta::specta]
pub async fn open_graph(shell: State<'_, Shell>, id: String) -> Result<(), CommandError> {
    Ok(shell.open_graph(parse_graph_id(&id)?).await?)
}

/// What the system file dialog answered.
type Picked = Option<std::path::PathBuf>;

/// What a file dialog is for.
struct FileRequest {
    title: &'static str,
    /// `Some(suggested file name)` to save, `None` to open.
    save_as: Option<String>,
}

/// Shows the system's file dialog (Tauri's dialog plugin: rfd's GTK
/// chooser, built on Tauri's main thread) over the main window and waits for
/// the answer without blocking any thread.
async fn file_dialog(app: &tauri::AppHandle, request: FileRequest) -> Result<Picked, CommandError> {
    use tauri::Manager;
    use tauri_plugin_dialog::DialogExt;
    let (answer, answered) = tokio::sync::oneshot::channel();
    let mut dialog = app
        .dialog()
        .file()
        .set_title(request.title)
        .add_filter("Orrery graph", &["json"])
        .add_filter("All files", &["*"]);
    if let Some(window) = app.get_webview_window("main") {
        dialog = dialog.set_parent(&window);
    }
    let deliver = move |picked: Option<tauri_plugin_dialog::FilePath>| {
        let picked = picked.and_then(|path| path.into_path().ok());
        tracing::info!(?picked, "file dialog answered");
        let _ = answer.send(picked);
    };
    match request.save_as {
        Some(name) => dialog.set_file_name(name).save_file(deliver),
        None => dialog.pick_file(deliver),
    }
    answered.await.map_err(|_| CommandError {
        code: "internal",
        message: "the file dialog closed without an answer".into(),
    })
}

/// Asks for a graph file and imports it as a new graph. `None` if the user
/// cancelled; an invalid file is refused with the reason and creates nothing.
#[tauri::command]
#[specta::specta]
pub async fn import_graph(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
) -> Result<Option<GraphSummary>, CommandError> {
    let picked = file_dialog(
        &app,
        FileRequest {
            title: "Import a graph",
            save_as: None,
        },
    )
    .await?;
    let Some(path) = picked else {
        return Ok(None);
    };
    let summary = shell.import_graph_file(&path).await?;
    let _ = LibraryChanged(summary.id.to_string()).emit(&app);
    Ok(Some(summary))
}

/// Asks where to save a graph and writes it there as a graph file. Returns
/// the path written, or `None` if the user cancelled.
#[tauri::command]
#[specta::specta]
pub async fn export_graph(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    id: String,
) -> Result<Option<String>, CommandError> {
    let id = parse_graph_id(&id)?;
    let name = shell
        .list_graphs()
        .await?
        .into_iter()
        .find(|graph| graph.id == id)
        .map(|graph| graph.name)
        .ok_or_else(|| CommandError {
            code: "not_found",
            message: format!("there is no graph {id}"),
        })?;
    let file_name = format!("{}.json", safe_file_name(&name));
    let picked = file_dialog(
        &app,
        FileRequest {
            title: "Export the graph",
            save_as: Some(file_name),
        },
    )
    .await?;
    let Some(path) = picked else {
        return Ok(None);
    };
    shell.export_graph_file(id, &path).await?;
    Ok(Some(path.display().to_string()))
}

/// A graph name as a file name: path separators and control characters
/// replaced, at most 100 characters, never empty.
fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '-',
            c if c.is_control() => '-',
            c => c,
        })
        .take(100)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    if trimmed.is_empty() {
        "graph".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Where sync stands.
#[tauri::command]
#[specta::specta]
pub async fn sync_status(shell: State<'_, Shell>) -> Result<SyncStatus, CommandError> {
    Ok(shell.sync_status().await)
}

// ---- Accounts: the webview sees the account, never a token. ----

use orrery_account::{ProfileUpdate, Provider};

use crate::shell::AccountState;

const MAX_FIELD_CHARS: usize = 1024;

fn bounded(value: &str, field: &str) -> Result<(), CommandError> {
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(CommandError {
            code: "invalid_input",
            message: format!("{field} is longer than {MAX_FIELD_CHARS} characters"),
        });
    }
    Ok(())
}

fn announce(app: &tauri::AppHandle, state: &AccountState) {
    let _ = state.clone().emit(app);
}

/// Who is signed in.
#[tauri::command]
#[specta::specta]
pub async fn account_state(shell: State<'_, Shell>) -> Result<AccountState, CommandError> {
    Ok(shell.account_state().await)
}

/// Creates an account and signs in.
#[tauri::command]
#[specta::specta]
pub async fn register(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    email: String,
    password: String,
    name: String,
) -> Result<AccountState, CommandError> {
    for (value, field) in [(&email, "email"), (&password, "password"), (&name, "name")] {
        bounded(value, field)?;
    }
    let state = shell.register(&email, &password, &name).await?;
    announce(&app, &state);
    Ok(state)
}

/// Signs in with email and password.
#[tauri::command]
#[specta::specta]
pub async fn sign_in(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    email: String,
    password: String,
) -> Result<AccountState, CommandError> {
    bounded(&email, "email")?;
    bounded(&password, "password")?;
    let state = shell.sign_in(&email, &password).await?;
    announce(&app, &state);
    Ok(state)
}

/// The providers offered for sign-in.
#[tauri::command]
#[specta::specta]
pub async fn list_providers(shell: State<'_, Shell>) -> Result<Vec<Provider>, CommandError> {
    Ok(shell.providers().await?)
}

/// Plans, usage, subscription and invoices for the billing screen.
#[tauri::command]
#[specta::specta]
pub async fn billing_overview(
    shell: State<'_, Shell>,
) -> Result<crate::shell::BillingOverview, CommandError> {
    Ok(shell.billing_overview().await?)
}

/// Opens Stripe Checkout for `plan` in the browser.
#[tauri::command]
#[specta::specta]
pub async fn start_checkout(shell: State<'_, Shell>, plan: String) -> Result<(), CommandError> {
    if !matches!(plan.as_str(), "pro" | "enterprise") {
        return Err(CommandError {
            code: "invalid_input",
            message: "only the pro and enterprise plans can be bought".into(),
        });
    }
    Ok(shell.start_checkout(&plan, open_in_browser).await?)
}

/// Opens the Stripe Customer Portal in the browser.
#[tauri::command]
#[specta::specta]
pub async fn open_billing_portal(shell: State<'_, Shell>) -> Result<(), CommandError> {
    Ok(shell.open_billing_portal(open_in_browser).await?)
}

/// Opens `url` in the user's browser: the one `$BROWSER` names when it is
/// set (the first of a `:`-separated list, `%s` standing for the URL, as
/// xdg-open reads it), otherwise the system's (xdg-open).
fn open_in_browser(url: &url::Url) -> Result<(), String> {
    let chosen = std::env::var("BROWSER").ok().and_then(|list| {
        list.split(':')
            .map(str::trim)
            .find(|entry| !entry.is_empty())
            .map(str::to_owned)
    });
    let (program, arguments) = match chosen {
        Some(entry) => browser_command(&entry, url.as_str()),
        None if cfg!(target_os = "macos") => ("open".to_owned(), vec![url.to_string()]),
        None => ("xdg-open".to_owned(), vec![url.to_string()]),
    };
    std::process::Command::new(&program)
        .args(&arguments)
        .spawn()
        .map(|_| ())
        .map_err(|error| format!("the browser could not be opened ({program}: {error})"))
}

/// A `$BROWSER` entry as a program and its arguments: words split on
/// spaces, `%s` replaced by the URL (appended when absent).
fn browser_command(entry: &str, url: &str) -> (String, Vec<String>) {
    let mut words = entry.split_whitespace().map(str::to_owned);
    let program = words.next().unwrap_or_default();
    let mut arguments: Vec<String> = words.collect();
    if arguments.iter().any(|word| word.contains("%s")) {
        for word in &mut arguments {
            *word = word.replace("%s", url);
        }
    } else {
        arguments.push(url.to_owned());
    }
    (program, arguments)
}

/// Signs in through Google or GitHub in the system browser.
#[tauri::command]
#[specta::specta]
pub async fn sign_in_with_provider(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    provider: String,
) -> Result<AccountState, CommandError> {
    bounded(&provider, "provider")?;
    let state = shell
        .sign_in_with_provider(&provider, open_in_browser)
        .await?;
    announce(&app, &state);
    Ok(state)
}

/// Signs out on this device and on the server.
#[tauri::command]
#[specta::specta]
pub async fn sign_out(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
) -> Result<AccountState, CommandError> {
    let state = shell.sign_out().await?;
    announce(&app, &state);
    Ok(state)
}

/// Changes the profile: name, theme (`light`, `dark`, `system`) or settings.
#[tauri::command]
#[specta::specta]
pub async fn update_profile(
    shell: State<'_, Shell>,
    app: tauri::AppHandle,
    name: Option<String>,
    theme: Option<String>,
    settings: Option<serde_json::Value>,
) -> Result<AccountState, CommandError> {
    if let Some(name) = &name {
        bounded(name, "name")?;
    }
    if let Some(theme) = &theme
        && !matches!(theme.as_str(), "light" | "dark" | "system")
    {
        return Err(CommandError {
            code: "invalid_input",
            message: "theme must be light, dark or system".into(),
        });
    }
    let state = shell
        .update_profile(&ProfileUpdate {
            name,
            theme,
            settings,
        })
        .await?;
    announce(&app, &state);
    Ok(state)
}

/// Mails a password-reset code.
#[tauri::command]
#[specta::specta]
pub async fn request_password_reset(
    shell: State<'_, Shell>,
    email: String,
) -> Result<(), CommandError> {
    bounded(&email, "email")?;
    Ok(shell.request_password_reset(&email).await?)
}

/// Sets a new password with a mailed code.
#[tauri::command]
#[specta::specta]
pub async fn confirm_password_reset(
    shell: State<'_, Shell>,
    code: String,
    password: String,
) -> Result<(), CommandError> {
    bounded(&code, "code")?;
    bounded(&password, "password")?;
    Ok(shell.confirm_password_reset(&code, &password).await?)
}

#[cfg(test)]
mod tests {
    use super::{browser_command, safe_file_name};

    #[test]
    fn browser_entries_take_the_url() {
        let url = "https://example.test/a?b=c";
        assert_eq!(
            browser_command("firefox", url),
            ("firefox".to_owned(), vec![url.to_owned()])
        );
        assert_eq!(
            browser_command("chromium --new-window %s", url),
            (
                "chromium".to_owned(),
                vec!["--new-window".to_owned(), url.to_owned()]
            )
        );
    }

    #[test]
    fn graph_names_become_safe_file_names() {
        assert_eq!(safe_file_name("Research team"), "Research team");
        assert_eq!(safe_file_name("../../etc/passwd"), "-..-etc-passwd");
        assert_eq!(safe_file_name("a\nb:c"), "a-b-c");
        assert_eq!(safe_file_name("  ...  "), "graph");
        assert_eq!(safe_file_name(&"x".repeat(500)).len(), 100);
    }
}
