//! The management window's commands: the server's users, tenants, plans,
//! prompts, figures and audit log. The
//! server decides who may (admins only); these check the input's shape first
//! and pass the server's refusals on.

use orrery_account::{
    AdminOverview, AuditEntry, AuditPage, AuditQuery, UserAction, UserChange, UserDetail, UserPage,
    UserQuery,
};
use tauri::{AppHandle, Manager, State};

use super::CommandError;
use crate::shell::Shell;

/// Longest search text the server accepts.
const MAX_SEARCH_CHARS: usize = 200;
/// Longest plan key, role or filter value.
const MAX_KEY_CHARS: usize = 100;
/// Most rows a page may ask for.
const MAX_PER_PAGE: u64 = 100;

fn invalid(message: impl Into<String>) -> CommandError {
    CommandError {
        code: "invalid_input",
        message: message.into(),
    }
}

fn check_key(what: &str, value: Option<&str>) -> Result<(), CommandError> {
    match value {
        Some(value) if value.chars().count() > MAX_KEY_CHARS => Err(invalid(format!(
            "{what} is longer than {MAX_KEY_CHARS} characters"
        ))),
        _ => Ok(()),
    }
}

fn check_search(text: Option<&str>) -> Result<(), CommandError> {
    if text.is_some_and(|text| text.chars().count() > MAX_SEARCH_CHARS) {
        return Err(invalid(format!(
            "search for at most {MAX_SEARCH_CHARS} characters"
        )));
    }
    Ok(())
}

/// A list's search and page checked: the search trimmed, `None` when empty.
fn searched_page(query: Option<&str>, page: u64) -> Result<Option<&str>, CommandError> {
    check_search(query)?;
    check_paging(Some(page), None)?;
    Ok(query.map(str::trim).filter(|text| !text.is_empty()))
}

fn check_paging(page: Option<u64>, per_page: Option<u64>) -> Result<(), CommandError> {
    if page == Some(0) {
        return Err(invalid("pages are counted from 1"));
    }
    if per_page.is_some_and(|per_page| per_page == 0 || per_page > MAX_PER_PAGE) {
        return Err(invalid(format!("a page holds 1 to {MAX_PER_PAGE} rows")));
    }
    Ok(())
}

/// A page of the server's users: search by address or name, filter by plan,
/// role and status, sort, pages.
#[tauri::command]
#[specta::specta]
pub async fn admin_list_users(
    shell: State<'_, Shell>,
    query: UserQuery,
) -> Result<UserPage, CommandError> {
    check_search(query.query.as_deref())?;
    for (what, value) in [
        ("the plan", &query.plan),
        ("the role", &query.role),
        ("the status", &query.status),
        ("the sort", &query.sort),
        ("the order", &query.order),
    ] {
        check_key(what, value.as_deref())?;
    }
    check_paging(query.page, query.per_page)?;
    Ok(shell.admin_users(&query).await?)
}

/// A user id's shape, checked before it goes into a path.
fn check_user_id(user_id: &str) -> Result<(), CommandError> {
    if user_id.len() != 36 || !user_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(invalid("that is not a user id"));
    }
    Ok(())
}

/// One user, whole: the account, usage against the plan, devices, API keys,
/// invoices and the latest admin actions on them.
#[tauri::command]
#[specta::specta]
pub async fn admin_get_user(
    shell: State<'_, Shell>,
    user_id: String,
) -> Result<UserDetail, CommandError> {
    check_user_id(&user_id)?;
    Ok(shell.admin_user(&user_id).await?)
}

/// Changes one user: their plan, role or trial; suspends or reactivates
/// them, or signs them out of every device.
/// Answers the user after the change and the audit entry that records it.
#[tauri::command]
#[specta::specta]
pub async fn admin_change_user(
    shell: State<'_, Shell>,
    user_id: String,
    change: UserAction,
) -> Result<UserChange, CommandError> {
    check_user_id(&user_id)?;
    match &change {
        UserAction::Plan { plan } => check_key("the plan", Some(plan))?,
        UserAction::Role { role } => check_key("the role", Some(role))?,
        UserAction::Trial {
            ends_at: Some(ends_at),
        } => {
            let at = chrono::DateTime::parse_from_rfc3339(ends_at)
                .map_err(|_| invalid("the trial's end is a date and time"))?;
            if at <= chrono::Utc::now() {
                return Err(invalid(
                    "a trial cannot end in the past; end it now instead",
                ));
            }
        }
        UserAction::Suspend
        | UserAction::Reactivate
        | UserAction::Trial { ends_at: None }
        | UserAction::RevokeSessions => {}
    }
    Ok(shell.admin_change_user(&user_id, &change).await?)
}

/// A page of the server's audit log, newest first.
#[tauri::command]
#[specta::specta]
pub async fn admin_audit_log(
    shell: State<'_, Shell>,
    query: AuditQuery,
) -> Result<AuditPage, CommandError> {
    check_key("the action", query.action.as_deref())?;
    check_key("the target", query.target.as_deref())?;
    check_paging(query.page, query.per_page)?;
    Ok(shell.admin_audit_log(&query).await?)
}

/// The management window's label.
pub const ADMIN_WINDOW: &str = "admin";

/// Opens the management window (or brings it forward). It shows the same
/// screens bundle at `#admin`; the server still decides every call it makes.
pub fn show_admin_window(app: &tauri::AppHandle) -> Result<(), CommandError> {
    use tauri::Manager;
    if let Some(window) = app.get_webview_window(ADMIN_WINDOW) {
        let _ = window.show();
        let _ = window.set_focus();
        return Ok(());
    }
    tauri::WebviewWindowBuilder::new(
        app,
        ADMIN_WINDOW,
        tauri::WebviewUrl::App("index.html#admin".into()),
    )
    .title("Orrery — Manage")
    .inner_size(1180.0, 780.0)
    .min_inner_size(720.0, 480.0)
    .build()
    .map(|_| ())
    .map_err(|error| CommandError {
        code: "internal",
        message: format!("the management window could not open: {error}"),
    })
}

/// Opens the management window from the main window's "Manage".
#[tauri::command]
#[specta::specta]
pub fn open_admin_window(app: tauri::AppHandle) -> Result<(), CommandError> {
    show_admin_window(&app)
}

/// The windows the overview offers, in days.
const OVERVIEW_WINDOWS: [u32; 3] = [30, 90, 365];

/// The server's figures (users, subscriptions, revenue and its movements)
/// over the last 30, 90 or 365 days, with one point a day.
#[tauri::command]
#[specta::specta]
pub async fn admin_overview(
    shell: State<'_, Shell>,
    days: u32,
) -> Result<AdminOverview, CommandError> {
    if !OVERVIEW_WINDOWS.contains(&days) {
        return Err(invalid("the overview covers 30, 90 or 365 days"));
    }
    Ok(shell.admin_overview(days).await?)
}

/// Runs over the last 30, 90 or 365 days — per day, per graph, per user —
/// of one graph or one user when given.
#[tauri::command]
#[specta::specta]
pub async fn admin_monitoring(
    shell: State<'_, Shell>,
    days: u32,
    graph: Option<String>,
    user: Option<String>,
) -> Result<orrery_account::RunMonitoring, CommandError> {
    if !OVERVIEW_WINDOWS.contains(&days) {
        return Err(invalid("monitoring covers 30, 90 or 365 days"));
    }
    for (what, id) in [("graph", &graph), ("user", &user)] {
        if let Some(id) = id
            && uuid::Uuid::parse_str(id).is_err()
        {
            let shown: String = id.chars().take(60).collect();
            return Err(invalid(format!("`{shown}` is not a {what} id")));
        }
    }
    Ok(shell
        .admin_monitoring(days, graph.as_deref(), user.as_deref())
        .await?)
}

/// Writes `value` as pretty JSON to `name` in the Downloads folder; answers
/// the file's path.
async fn save_in_downloads(
    app: &AppHandle,
    name: &str,
    value: &serde_json::Value,
) -> Result<String, CommandError> {
    let storage = |message: String| CommandError {
        code: "storage",
        message,
    };
    let folder = app.path().download_dir().map_err(|error| {
        storage(format!(
            "there is no Downloads folder to save the export in: {error}"
        ))
    })?;
    let path = folder.join(name);
    let text = serde_json::to_vec_pretty(value)
        .map_err(|error| storage(format!("the export could not be written: {error}")))?;
    tokio::fs::create_dir_all(&folder)
        .await
        .and(tokio::fs::write(&path, text).await)
        .map_err(|error| {
            storage(format!(
                "the export could not be saved in {}: {error}",
                folder.display()
            ))
        })?;
    Ok(path.display().to_string())
}

/// Saves everything the server holds about one user as a JSON archive in
/// the Downloads folder; answers the file's path.
#[tauri::command]
#[specta::specta]
pub async fn admin_export_user(
    app: AppHandle,
    shell: State<'_, Shell>,
    user_id: String,
) -> Result<String, CommandError> {
    check_user_id(&user_id)?;
    let archive = shell.admin_export_user(&user_id).await?;
    save_in_downloads(&app, &format!("orrery-user-{user_id}.json"), &archive).await
}

/// Deletes one user with all their data; answers the audit entry.
#[tauri::command]
#[specta::specta]
pub async fn admin_delete_user(
    shell: State<'_, Shell>,
    user_id: String,
) -> Result<AuditEntry, CommandError> {
    check_user_id(&user_id)?;
    Ok(shell.admin_delete_user(&user_id).await?)
}

/// Longest plan or agent name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// Creates or replaces a plan: its name, price and currency, interval,
/// trial, limits, agents, channels and API keys. Checked here for shape;
/// the server checks again and records the change in the audit log.
#[tauri::command]
#[specta::specta]
pub async fn admin_save_plan(
    shell: State<'_, Shell>,
    plan: orrery_domain::policy::Plan,
) -> Result<orrery_domain::policy::Plan, CommandError> {
    check_key("the plan key", Some(&plan.key))?;
    if plan.name.trim().is_empty() || plan.name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "a plan's name is 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    if !orrery_domain::policy::is_currency_code(&plan.currency) {
        return Err(invalid(
            "a price needs its currency: three letters of ISO 4217, like usd or eur",
        ));
    }
    Ok(shell.admin_put_plan(&plan).await?)
}

/// A page of the server's tenants: their members, what they hold and their
/// usage this period; `query` matches a part of a name or an address.
#[tauri::command]
#[specta::specta]
pub async fn admin_list_tenants(
    shell: State<'_, Shell>,
    query: Option<String>,
    page: u64,
) -> Result<orrery_account::TenantPage, CommandError> {
    let query = searched_page(query.as_deref(), page)?;
    Ok(shell.admin_tenants(query, page).await?)
}

/// A page of every tenant's published prompt versions, most recently
/// published first; `query` matches a part of the title, the text, the
/// tenant or the publisher.
#[tauri::command]
#[specta::specta]
pub async fn admin_list_prompts(
    shell: State<'_, Shell>,
    query: Option<String>,
    page: u64,
) -> Result<orrery_account::PublishedPromptPage, CommandError> {
    let query = searched_page(query.as_deref(), page)?;
    Ok(shell.admin_prompts(query, page).await?)
}

/// Makes an earlier published version of a tenant's prompt the active one
/// again; the tenant's devices get it on their next sync.
#[tauri::command]
#[specta::specta]
pub async fn admin_roll_back_prompt(
    shell: State<'_, Shell>,
    tenant_id: String,
    prompt_id: String,
    version_id: String,
) -> Result<orrery_account::PromptRollback, CommandError> {
    for (what, id) in [
        ("tenant", &tenant_id),
        ("prompt", &prompt_id),
        ("version", &version_id),
    ] {
        if uuid::Uuid::parse_str(id).is_err() {
            let shown: String = id.chars().take(60).collect();
            return Err(invalid(format!("`{shown}` is not a {what} id")));
        }
    }
    Ok(shell
        .admin_roll_back_prompt(&tenant_id, &prompt_id, &version_id)
        .await?)
}

/// Longest email subject, and longest text or HTML part, in characters.
const MAX_MAIL_SUBJECT_CHARS: usize = 300;
const MAX_MAIL_PART_CHARS: usize = 20_000;

fn mail_parts(
    subject: String,
    text: String,
    html: String,
) -> Result<orrery_account::MailParts, CommandError> {
    if subject.chars().count() > MAX_MAIL_SUBJECT_CHARS {
        return Err(invalid(format!(
            "a subject is at most {MAX_MAIL_SUBJECT_CHARS} characters"
        )));
    }
    if text.chars().count() > MAX_MAIL_PART_CHARS || html.chars().count() > MAX_MAIL_PART_CHARS {
        return Err(invalid(format!(
            "each part is at most {MAX_MAIL_PART_CHARS} characters"
        )));
    }
    Ok(orrery_account::MailParts {
        subject,
        text,
        html,
    })
}

/// Every account-email template: its variables, the parts in use and the
/// parts it ships with.
#[tauri::command]
#[specta::specta]
pub async fn admin_mail_templates(
    shell: State<'_, Shell>,
) -> Result<Vec<orrery_account::MailTemplate>, CommandError> {
    Ok(shell.admin_mail_templates().await?)
}

/// Puts an edit of an account-email template in use (the server checks it).
#[tauri::command]
#[specta::specta]
pub async fn admin_save_mail_template(
    shell: State<'_, Shell>,
    key: String,
    subject: String,
    text: String,
    html: String,
) -> Result<orrery_account::MailTemplate, CommandError> {
    check_key("the template", Some(&key))?;
    let parts = mail_parts(subject, text, html)?;
    Ok(shell.admin_save_mail_template(&key, &parts).await?)
}

/// Uses the text an account-email template ships with again.
#[tauri::command]
#[specta::specta]
pub async fn admin_reset_mail_template(
    shell: State<'_, Shell>,
    key: String,
) -> Result<orrery_account::MailTemplate, CommandError> {
    check_key("the template", Some(&key))?;
    Ok(shell.admin_reset_mail_template(&key).await?)
}

/// Renders an account-email template's parts with sample values.
#[tauri::command]
#[specta::specta]
pub async fn admin_preview_mail_template(
    shell: State<'_, Shell>,
    key: String,
    subject: String,
    text: String,
    html: String,
) -> Result<orrery_account::MailPreview, CommandError> {
    check_key("the template", Some(&key))?;
    let parts = mail_parts(subject, text, html)?;
    Ok(shell.admin_preview_mail_template(&key, &parts).await?)
}

/// Most audit entries one export holds.
const MAX_EXPORTED_ENTRIES: u64 = 100_000;

/// Saves the audit log (with the screen's filters) as JSON in the Downloads
/// folder, oldest entry last as the server lists them; answers the path.
#[tauri::command]
#[specta::specta]
pub async fn admin_export_audit_log(
    app: AppHandle,
    shell: State<'_, Shell>,
    query: AuditQuery,
) -> Result<String, CommandError> {
    check_key("the action", query.action.as_deref())?;
    check_key("the target", query.target.as_deref())?;
    let mut entries = Vec::new();
    let mut page = 1;
    loop {
        let answer = shell
            .admin_audit_log(&AuditQuery {
                page: Some(page),
                per_page: Some(MAX_PER_PAGE),
                ..query.clone()
            })
            .await?;
        let last = answer.entries.len() < MAX_PER_PAGE as usize;
        entries.extend(answer.entries);
        if last || entries.len() as u64 >= MAX_EXPORTED_ENTRIES {
            break;
        }
        page += 1;
    }
    let archive = serde_json::json!({
        "format": "orrery-audit-log",
        "exported_at": chrono::Utc::now().to_rfc3339(),
        "action": query.action,
        "target": query.target,
        "entries": entries,
    });
    let name = format!(
        "orrery-audit-log-{}.json",
        chrono::Utc::now().format("%Y-%m-%d-%H%M%S")
    );
    save_in_downloads(&app, &name, &archive).await
}
