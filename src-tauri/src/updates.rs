//! Updating the installed app: a check at start and every six hours (and
//! "Check for updates" in About), the release shown with its notes, and
//! "Install and restart" with a progress bar.
//!
//! The sync server's feed is asked by the shell (`shell::updates`), which
//! refuses an answer that is not signed by the feed key, is for another
//! request, has expired or offers no newer version. Only a release that
//! passed is handed to Tauri's updater (`restore_update`, which makes no
//! request of its own), configured with the release key and
//! `requireSignedVersion`: it downloads the package and installs it only if
//! the signature is the release key's and names that version. Any failure
//! leaves the running version running and is shown with its reason.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tauri::{AppHandle, Manager, State};
use tauri_plugin_updater::{Update, UpdaterExt};
use tauri_specta::Event;

use crate::commands::CommandError;
use crate::shell::Shell;

/// How often the app asks for updates while it runs.
pub const CHECK_EVERY: Duration = Duration::from_secs(6 * 60 * 60);
/// How long after start the first check waits (start-up comes first).
const FIRST_CHECK_AFTER: Duration = Duration::from_secs(20);

/// What a check found, as the webview shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type, tauri_specta::Event)]
#[tauri_specta(event_name = "update-state")]
pub struct UpdateCheck {
    /// `up_to_date`, `available`, `offline`, `unsupported` or `failed`.
    pub status: String,
    /// The running version.
    pub current_version: String,
    /// The version on offer, when `available`.
    pub version: Option<String>,
    /// What it changes, when `available`.
    pub notes: Option<String>,
    /// When it was published (RFC 3339), when `available`.
    pub pub_date: Option<String>,
    /// Why, when `unsupported` or `failed`.
    pub message: Option<String>,
}

/// How far a download is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type, tauri_specta::Event)]
#[tauri_specta(event_name = "update-progress")]
pub struct UpdateProgress {
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes in all, when the server said.
    pub total: Option<u64>,
    /// `downloading`, `installing` or `restarting`.
    pub stage: String,
}

/// The release found by the last check, ready for "Install and restart".
#[derive(Default)]
pub struct PendingUpdate(Mutex<Option<Update>>);

/// The keys this build trusts, from its configuration: the release key
/// (`plugins.updater.pubkey`) and the feed key
/// (`plugins.orrery-updates.feedPubkey`).
fn keys(app: &AppHandle) -> Result<(String, orrery_updates::UpdateKey), String> {
    let plugins = &app.config().plugins.0;
    let release = plugins
        .get("updater")
        .and_then(|updater| updater.get("pubkey"))
        .and_then(|key| key.as_str())
        .filter(|key| !key.trim().is_empty())
        .ok_or("this build has no release key, so it cannot check updates")?;
    let feed = plugins
        .get("orrery-updates")
        .and_then(|updates| updates.get("feedPubkey"))
        .and_then(|key| key.as_str())
        .filter(|key| !key.trim().is_empty())
        .ok_or("this build has no feed key, so it cannot check updates")?;
    let feed = orrery_updates::UpdateKey::from_tauri(feed)
        .map_err(|error| format!("this build's feed key is unusable: {error}"))?;
    Ok((release.to_owned(), feed))
}

/// The updater target of this copy: the kind of package it was installed
/// from (in a debug build, `ORRERY_UPDATE_TARGET` may name one for a copy
/// that was not: the feed is asked, nothing is installed from such a copy
/// by a release build).
fn target() -> Result<String, String> {
    if let Some(target) = std::env::var("ORRERY_UPDATE_TARGET")
        .ok()
        .filter(|_| cfg!(debug_assertions))
    {
        return orrery_updates::checked_target(&target)
            .map(str::to_owned)
            .map_err(|error| error.0);
    }
    use tauri::utils::config::BundleType;
    use tauri::utils::platform::bundle_type;
    match bundle_type() {
        Some(BundleType::Deb) => Ok("linux-deb".into()),
        Some(BundleType::AppImage) => Ok("linux-appimage".into()),
        Some(BundleType::Rpm) => Ok("linux-rpm".into()),
        Some(BundleType::Nsis) => Ok("windows-nsis".into()),
        Some(BundleType::Msi) => Ok("windows-msi".into()),
        Some(BundleType::App) => Ok("darwin-app".into()),
        _ => Err(
            "this copy of Orrery was not installed from a package; update it the way it was installed"
                .into(),
        ),
    }
}

fn answer(current: &str, status: &str, message: Option<String>) -> UpdateCheck {
    UpdateCheck {
        status: status.into(),
        current_version: current.into(),
        version: None,
        notes: None,
        pub_date: None,
        message,
    }
}

/// Checks for an update now; `quiet` (the timer's checks) only tells the
/// webview when one is available.
pub async fn check(app: &AppHandle, quiet: bool) -> UpdateCheck {
    let current = app.package_info().version.to_string();
    let result = check_inner(app, &current).await;
    if !quiet || result.status == "available" {
        let _ = result.clone().emit(app);
    }
    result
}

async fn check_inner(app: &AppHandle, current: &str) -> UpdateCheck {
    let (release_key, feed_key) = match keys(app) {
        Ok(keys) => keys,
        Err(message) => return answer(current, "unsupported", Some(message)),
    };
    let target = match target() {
        Ok(target) => target,
        Err(message) => return answer(current, "unsupported", Some(message)),
    };
    let shell = app.state::<Shell>();
    let version = app.package_info().version.clone();
    let release = match shell.check_feed(&feed_key, &target, &version).await {
        Ok(Some(release)) => release,
        Ok(None) => return answer(current, "up_to_date", None),
        Err(orrery_updates::CheckError::Offline) => {
            tracing::debug!("the update server cannot be reached; the check is skipped");
            return answer(current, "offline", None);
        }
        Err(error) => {
            tracing::warn!(%error, "an update check failed");
            return answer(current, "failed", Some(error.to_string()));
        }
    };
    let feed_url = format!("{}/v1/updates", shell.server_url());
    let updater = url::Url::parse(&feed_url)
        .map_err(|error| error.to_string())
        .and_then(|endpoint| {
            app.updater_builder()
                .pubkey(release_key)
                .target(target.clone())
                .endpoints(vec![endpoint])
                .map_err(|error| error.to_string())?
                .build()
                .map_err(|error| error.to_string())
        });
    let update = updater.and_then(|updater| {
        let manifest = serde_json::json!({
            "version": release.version,
            "notes": release.notes,
            "pub_date": release.pub_date,
            "platforms": { target.clone(): { "url": release.url, "signature": release.signature } },
        });
        updater
            .restore_update(manifest)
            .map_err(|error| error.to_string())
    });
    match update {
        Ok(Some(update)) => {
            let found = UpdateCheck {
                status: "available".into(),
                current_version: current.into(),
                version: Some(update.version.clone()),
                notes: update.body.clone(),
                pub_date: Some(release.pub_date.clone()),
                message: None,
            };
            *app.state::<PendingUpdate>()
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(update);
            found
        }
        Ok(None) => answer(current, "up_to_date", None),
        Err(message) => answer(current, "failed", Some(message)),
    }
}

/// Whether an AppImage can be replaced where it is; a clear reason if not.
fn appimage_writable() -> Result<(), String> {
    let Some(path) = std::env::var_os("APPIMAGE") else {
        return Ok(());
    };
    let path = std::path::PathBuf::from(path);
    let folder = path.parent().unwrap_or(std::path::Path::new("/"));
    match tempfile::tempfile_in(folder) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "Orrery cannot replace itself: {} is in a folder you cannot write to. Move the AppImage to a folder of yours (like ~/Applications) and update again.",
            path.display()
        )),
    }
}

/// Downloads the pending update with progress, installs it, and restarts
/// into it. On any failure the running version keeps running and the
/// reason comes back.
pub async fn install(app: &AppHandle) -> Result<(), CommandError> {
    let update = app
        .state::<PendingUpdate>()
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
        .ok_or_else(|| CommandError {
            code: "not_found",
            message: "no update is waiting; check for updates first".into(),
        })?;
    if update.target == "linux-appimage" {
        appimage_writable().map_err(|message| CommandError {
            code: "update_failed",
            message,
        })?;
    }
    let progress_app = app.clone();
    let mut downloaded = 0u64;
    let finished_app = app.clone();
    let result = update
        .download_and_install(
            move |chunk, total| {
                downloaded += chunk as u64;
                let _ = UpdateProgress {
                    downloaded,
                    total,
                    stage: "downloading".into(),
                }
                .emit(&progress_app);
            },
            move || {
                let _ = UpdateProgress {
                    downloaded: 0,
                    total: None,
                    stage: "installing".into(),
                }
                .emit(&finished_app);
            },
        )
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, "installing an update failed");
        return Err(CommandError {
            code: "update_failed",
            message: install_failure(&error),
        });
    }
    tracing::info!(version = %update.version, "update installed; restarting");
    let _ = UpdateProgress {
        downloaded: 0,
        total: None,
        stage: "restarting".into(),
    }
    .emit(app);
    app.restart();
}

/// A sentence for a failed download or install.
fn install_failure(error: &tauri_plugin_updater::Error) -> String {
    use tauri_plugin_updater::Error;
    match error {
        Error::Minisign(_) | Error::SignatureUtf8(_) | Error::Base64(_) => format!(
            "the update was not installed: its signature does not match the release key ({error})"
        ),
        Error::SignedVersionMismatch { .. } | Error::MissingSignedVersion => {
            format!("the update was not installed: {error}")
        }
        Error::InvalidUpdaterFormat => {
            "the update was not installed: the download is not a package of this kind (cut short or damaged)".into()
        }
        Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "the update was not installed: installing a package needs pkexec or sudo, and neither is installed".into()
        }
        Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => format!(
            "the update was not installed: Orrery may not write where it is installed ({io})"
        ),
        Error::PackageInstallFailed => {
            "the update was not installed: the package manager refused it (was the password prompt cancelled?)".into()
        }
        other => format!("the update was not installed: {other}"),
    }
}

/// Checks at start (after a short wait) and every [`CHECK_EVERY`].
pub fn start_checking(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(FIRST_CHECK_AFTER).await;
        loop {
            let _ = check(&app, true).await;
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}

/// Checks for an update now ("Check for updates").
#[tauri::command]
#[specta::specta]
pub async fn check_for_update(app: AppHandle) -> Result<UpdateCheck, CommandError> {
    Ok(check(&app, false).await)
}

/// Downloads and installs the update the last check found, then restarts.
#[tauri::command]
#[specta::specta]
pub async fn install_update(app: AppHandle) -> Result<(), CommandError> {
    install(&app).await
}

/// This installation's update channel and id.
#[tauri::command]
#[specta::specta]
pub async fn update_settings(
    shell: State<'_, Shell>,
) -> Result<crate::shell::UpdateSettings, CommandError> {
    Ok(shell.update_settings().await?)
}

/// Moves this installation to the `stable` or `beta` channel.
#[tauri::command]
#[specta::specta]
pub async fn set_update_channel(
    shell: State<'_, Shell>,
    channel: String,
) -> Result<crate::shell::UpdateSettings, CommandError> {
    Ok(shell.set_update_channel(&channel).await?)
}
