//! What a desktop app is expected to do, through Tauri's own plugins: one
//! copy per user (a second launch brings the first forward and hands it its
//! arguments and `orrery://` links, then exits), `orrery://` deep links (a
//! graph, a marketplace listing, the end of a provider sign-in), the windows' sizes and positions
//! remembered (saved as they change, so a crash loses nothing), and the log
//! in a file rotated daily in the app's log folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use orrery_domain::GraphId;
use tauri::{AppHandle, Manager};
use tauri_plugin_window_state::{AppHandleExt, StateFlags};
use tauri_specta::Event;

use crate::shell::Shell;

/// The URL scheme the app answers (registered by the .deb's desktop entry).
pub const SCHEME: &str = "orrery";
/// The longest `orrery://` link opened (a sign-in's code and state fit many times over).
const MAX_LINK_BYTES: usize = 8 * 1024;
/// Log files kept (one per day).
const LOG_DAYS: usize = 7;
/// How long a window must be still before its size and place are saved.
const SAVE_AFTER: Duration = Duration::from_millis(400);

/// What an `orrery://` link asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeepLink {
    /// `orrery://graph/{id}`: open the graph on the canvas.
    Graph(GraphId),
    /// `orrery://marketplace/listing/{id}`: show the listing.
    Listing(uuid::Uuid),
    /// `orrery://oauth/callback?code=…&state=…`: a provider sign-in
    /// finishing (its code is never logged).
    SignIn(SignInCallback),
    /// `orrery://invite/{code}`: a team's invitation, offered on the Teams
    /// screen to join (its code is never logged).
    Invitation(InvitationCode),
}

/// An invitation's code from a link: a secret, so its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationCode(pub String);

impl std::fmt::Debug for InvitationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("orrery://invite/…")
    }
}

/// Longest invitation code a link may carry.
const MAX_INVITATION_CODE_CHARS: usize = 128;

/// A provider's redirect to the app: it carries a one-time code, so its
/// `Debug` shows only where it points.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInCallback(pub url::Url);

impl std::fmt::Debug for SignInCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}?…", orrery_domain::sign_in::APP_REDIRECT_URI)
    }
}

/// A launch argument as it may be logged: the query of an
/// `orrery://oauth/callback` link (a sign-in code) is left out.
pub fn loggable_argument(argument: &str) -> String {
    match argument.split_once('?') {
        Some((link, _)) if link == orrery_domain::sign_in::APP_REDIRECT_URI => format!("{link}?…"),
        _ => argument.chars().take(200).collect(),
    }
}

/// Reads an `orrery://` link, or says what is wrong with it.
pub fn parse_deep_link(text: &str) -> Result<DeepLink, String> {
    let shown = loggable_argument(&text.chars().take(100).collect::<String>());
    if text.len() > MAX_LINK_BYTES {
        return Err(format!("`{shown}…` is longer than a link Orrery opens"));
    }
    let url = url::Url::parse(text).map_err(|_| format!("`{shown}` is not a link"))?;
    if url.scheme() != SCHEME {
        return Err(format!("`{shown}` is not an {SCHEME}:// link"));
    }
    let mut parts = vec![url.host_str().unwrap_or_default().to_owned()];
    parts.extend(
        url.path_segments()
            .into_iter()
            .flatten()
            .filter(|part| !part.is_empty())
            .map(str::to_owned),
    );
    match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["graph", id] => id
            .parse()
            .map(DeepLink::Graph)
            .map_err(|_| format!("`{shown}` names no graph")),
        ["marketplace", "listing", id] => id
            .parse()
            .map(DeepLink::Listing)
            .map_err(|_| format!("`{shown}` names no listing")),
        ["oauth", "callback"] => Ok(DeepLink::SignIn(SignInCallback(url))),
        ["invite", code]
            if code.starts_with("oin_")
                && code.len() <= MAX_INVITATION_CODE_CHARS
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            Ok(DeepLink::Invitation(InvitationCode(code.to_owned())))
        }
        ["invite", ..] => Err(
            "that invitation link is damaged: paste the code from the mail on the Teams screen"
                .into(),
        ),
        _ => Err(format!(
            "`{}` is not a link Orrery knows: orrery://graph/ID, orrery://marketplace/listing/ID or orrery://invite/CODE",
            loggable_argument(&shown)
        )),
    }
}

/// Brings the main window forward.
pub fn focus_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Acts on the `orrery://` links among `arguments` (a launch's command line).
pub fn open_links(app: &AppHandle, arguments: &[String]) {
    for argument in arguments
        .iter()
        .filter(|argument| argument.starts_with(&format!("{SCHEME}:")))
    {
        match parse_deep_link(argument) {
            Ok(link) => open_link(app, link),
            Err(reason) => tracing::warn!(%reason, "a deep link was refused"),
        }
    }
}

fn open_link(app: &AppHandle, link: DeepLink) {
    tracing::info!(?link, "opening a deep link");
    match link {
        DeepLink::Graph(graph) => {
            let shell = app.state::<Shell>().inner().clone();
            let handle = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(error) = shell.open_graph(graph).await {
                    tracing::warn!(%error, %graph, "a deep link's graph could not be opened");
                    focus_main(&handle);
                    let _ = crate::events::Notice(format!(
                        "The link's graph could not be opened: {error}"
                    ))
                    .emit(&handle);
                }
            });
        }
        DeepLink::Listing(listing) => {
            focus_main(app);
            let _ = crate::events::OpenListing(listing.to_string()).emit(app);
        }
        // Joining is the person's choice: the Teams screen offers the
        // invitation with its code filled in.
        DeepLink::Invitation(InvitationCode(code)) => {
            focus_main(app);
            let _ = crate::events::OpenInvitation(code).emit(app);
        }
        // The sign-in that waits for it finishes (and tells the UI); the
        // main window comes forward from the browser.
        DeepLink::SignIn(SignInCallback(link)) => {
            focus_main(app);
            if let Err(error) = app.state::<Shell>().finish_provider_sign_in(link) {
                tracing::warn!(%error, "a sign-in link arrived with no sign-in waiting");
                let _ = crate::events::Notice(format!("That sign-in link was not used: {error}"))
                    .emit(app);
            }
        }
    }
}

/// Called by the single-instance plugin in the running app when the app is
/// launched again: the second launch's arguments arrive here, and it exits.
pub fn second_launch(app: &AppHandle, arguments: Vec<String>, _cwd: String) {
    let shown: Vec<String> = arguments
        .iter()
        .map(|argument| loggable_argument(argument))
        .collect();
    tracing::info!(arguments = ?shown, "a second launch handed over to this one");
    focus_main(app);
    open_links(app, &arguments);
}

/// One copy per user; with `ORRERY_DATA_DIR`, one copy per data folder
/// (another folder is another profile and runs beside it).
pub fn single_instance() -> tauri::plugin::TauriPlugin<tauri::Wry> {
    let builder = tauri_plugin_single_instance::Builder::new().callback(second_launch);
    match std::env::var_os("ORRERY_DATA_DIR") {
        Some(folder) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(folder.as_encoded_bytes());
            let short: String = digest[..8]
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            builder
                .dbus_id(format!("studio.orrery.desktop.profile_{short}"))
                .build()
        }
        None => builder.build(),
    }
}

/// Saves the windows' sizes and places once a window has been still for
/// [`SAVE_AFTER`] (the plugin itself saves only when the app exits).
pub fn save_window_state_soon(app: &AppHandle) {
    static GENERATION: AtomicU64 = AtomicU64::new(0);
    let mine = GENERATION.fetch_add(1, Ordering::SeqCst) + 1;
    tracing::debug!(generation = mine, "a window moved or was resized");
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(SAVE_AFTER).await;
        if GENERATION.load(Ordering::SeqCst) != mine {
            return;
        }
        // On the main thread: the plugin holds its lock while it reads the
        // windows, and reading a window from another thread waits for the
        // main thread, which may be waiting for that lock in a window event.
        let handle = app.clone();
        let _ = app.run_on_main_thread(move || match handle.save_window_state(StateFlags::all()) {
            Ok(()) => tracing::debug!("the windows' sizes were saved"),
            Err(error) => tracing::warn!(%error, "the windows' sizes could not be saved"),
        });
    });
}

/// The app's log folder: Tauri's `app_log_dir` on Linux
/// (`$XDG_DATA_HOME/studio.orrery.desktop/logs`), known before the app starts.
pub fn log_dir(identifier: &str) -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share"))
        })?;
    Some(data.join(identifier).join("logs"))
}

/// A daily-rotated log file in `folder`, keeping [`LOG_DAYS`] days.
pub fn rotated_log(
    folder: &std::path::Path,
) -> Option<tracing_appender::rolling::RollingFileAppender> {
    tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("orrery")
        .filename_suffix("log")
        .max_log_files(LOG_DAYS)
        .build(folder)
        .ok()
}

/// Opens the app's log folder in the file manager ("Open log folder").
#[tauri::command]
#[specta::specta]
pub fn open_log_folder(app: AppHandle) -> Result<String, crate::commands::CommandError> {
    let folder =
        log_dir(&app.config().identifier).ok_or_else(|| crate::commands::CommandError {
            code: "not_found",
            message: "this system names no folder for logs (HOME is not set)".into(),
        })?;
    std::fs::create_dir_all(&folder).map_err(|error| crate::commands::CommandError {
        code: "internal",
        message: format!("{}: {error}", folder.display()),
    })?;
    std::process::Command::new("xdg-open")
        .arg(&folder)
        .spawn()
        .map_err(|error| crate::commands::CommandError {
            code: "browser",
            message: format!(
                "no file manager could be opened ({error}); the logs are in {}",
                folder.display()
            ),
        })?;
    Ok(folder.display().to_string())
}

/// Whether a window's event should save the windows' state.
pub fn moved_or_resized(event: &tauri::WindowEvent) -> bool {
    matches!(
        event,
        tauri::WindowEvent::Moved(_) | tauri::WindowEvent::Resized(_)
    )
}

/// The file that keeps the canvas window's place and size (the canvas is a
/// Bevy window, which Tauri's window-state plugin does not see).
pub fn canvas_placement_file(data_directory: &std::path::Path) -> PathBuf {
    data_directory.join("canvas-window.json")
}

/// The canvas window's last placement; nothing (the defaults) when none was
/// saved or the file cannot be read.
pub fn load_canvas_placement(file: &std::path::Path) -> Option<orrery_canvas::WindowPlacement> {
    let text = std::fs::read_to_string(file).ok()?;
    match serde_json::from_str(&text) {
        Ok(placement) => Some(placement),
        Err(error) => {
            tracing::warn!(%error, file = %file.display(), "the canvas window's saved place is unreadable; ignored");
            None
        }
    }
}

/// Saves the canvas window's placement: written beside and renamed over, so
/// a crash mid-write keeps the previous one.
pub fn save_canvas_placement(file: &std::path::Path, placement: &orrery_canvas::WindowPlacement) {
    let partial = file.with_extension("json.partial");
    let written = serde_json::to_vec(placement)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&partial, bytes))
        .and_then(|()| std::fs::rename(&partial, file));
    match written {
        Ok(()) => tracing::debug!(?placement, "the canvas window's place was saved"),
        Err(error) => tracing::warn!(%error, "the canvas window's place could not be saved"),
    }
}

/// Keeps the log writer's worker alive for the app's life.
pub type LogGuard = Option<Arc<tracing_appender::non_blocking::WorkerGuard>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_links_are_read_and_bad_ones_refused() {
        let graph = GraphId::new();
        assert_eq!(
            parse_deep_link(&format!("orrery://graph/{graph}")),
            Ok(DeepLink::Graph(graph))
        );
        let listing = uuid::Uuid::now_v7();
        assert_eq!(
            parse_deep_link(&format!("orrery://marketplace/listing/{listing}")),
            Ok(DeepLink::Listing(listing))
        );
        for bad in [
            "https://graph/abc",
            "orrery://graph/not-an-id",
            "orrery://graph",
            "orrery://admin/users",
            "orrery://graph/../../etc",
            "not a link",
        ] {
            assert!(parse_deep_link(bad).is_err(), "{bad}");
        }
        let long = format!("orrery://graph/{}", "a".repeat(MAX_LINK_BYTES));
        assert!(parse_deep_link(&long).unwrap_err().contains("longer than"));
        let code = format!("oin_{}", "Ab3-_".repeat(8));
        let Ok(DeepLink::Invitation(invitation)) =
            parse_deep_link(&format!("orrery://invite/{code}"))
        else {
            panic!("an invitation link was not read");
        };
        assert_eq!(invitation.0, code);
        assert!(
            !format!("{invitation:?}").contains(&code),
            "the code stays out of logs"
        );
        for bad in [
            "orrery://invite/",
            "orrery://invite/not-a-code",
            "orrery://invite/oin_%3Cscript%3E",
            "orrery://invite/oin_a/extra",
        ] {
            assert!(parse_deep_link(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sign_in_links_are_read_and_never_logged_with_their_code() {
        let text = "orrery://oauth/callback?code=secret-code&state=s1";
        let Ok(DeepLink::SignIn(callback)) = parse_deep_link(text) else {
            panic!("a sign-in link");
        };
        assert_eq!(callback.0.as_str(), text);
        assert!(!format!("{callback:?}").contains("secret-code"));
        assert!(!loggable_argument(text).contains("secret-code"));
        assert_eq!(loggable_argument("--admin"), "--admin");
        let refused = parse_deep_link("orrery://oauth/elsewhere?code=secret-code").unwrap_err();
        assert!(refused.contains("not a link Orrery knows"), "{refused}");
    }
}
