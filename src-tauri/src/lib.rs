//! orrery-desktop: the Tauri shell.
//!
//! Windows and thin commands over the library crates: the main window lists
//! graphs (webview screens in `ui/`), the canvas window draws the open graph
//! (Bevy on its own thread in this process, see `orrery-canvas`). Every edit
//! goes to the local replica first; a background task syncs with the sync
//! server whenever the library changes and every few seconds. The logic lives
//! in [`shell::Shell`], which has no window and is what tests drive.

pub mod commands;
pub mod desktop;
pub mod events;
pub mod shell;
pub mod updates;
pub mod vault;

use std::time::Duration;

use orrery_canvas::{CanvasEvent, CanvasOptions, spawn_canvas_on_demand};
use tauri::Manager;
use tauri_specta::Event;
use tracing_subscriber::EnvFilter;

use crate::shell::Shell;

/// Where the sync server listens unless `ORRERY_SERVER_URL` says otherwise.
pub const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:7878";
/// How often the shell syncs when nothing asks it to.
const SYNC_INTERVAL: Duration = Duration::from_secs(10);

/// Starts the desktop app and blocks until it exits.
pub fn run() {
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new("info,sqlx=warn,wgpu=error,naga=warn,loro_internal=warn")
        })
    };
    // The log goes to `ORRERY_LOG_FILE` (appended) when set, otherwise to a
    // daily-rotated file in the app's log folder ("Open log folder" in
    // About), and to stderr as well.
    let context = tauri::generate_context!();
    let explicit = std::env::var_os("ORRERY_LOG_FILE").and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    let mut _log_guard: desktop::LogGuard = None;
    {
        use tracing_subscriber::prelude::*;
        let file_layer = match explicit {
            Some(file) => Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(file))
                    .boxed(),
            ),
            None => desktop::log_dir(&context.config().identifier)
                .and_then(|folder| desktop::rotated_log(&folder))
                .map(|appender| {
                    let (writer, guard) = tracing_appender::non_blocking(appender);
                    _log_guard = Some(std::sync::Arc::new(guard));
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(writer)
                        .boxed()
                }),
        };
        tracing_subscriber::registry()
            .with(filter())
            .with(file_layer)
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init();
    }
    let bindings = commands::bindings();
    let invoke_handler = bindings.invoke_handler();
    tauri::Builder::default()
        // First: a second launch hands over to the running copy and exits.
        .plugin(desktop::single_instance())
        .plugin(tauri_plugin_deep_link::init())
        .plugin(
            tauri_plugin_window_state::Builder::new()
                .with_state_flags(tauri_plugin_window_state::StateFlags::all())
                .build(),
        )
        .on_window_event(|window, event| {
            if desktop::moved_or_resized(event) {
                desktop::save_window_state_soon(window.app_handle());
            }
        })
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        // When the first screen is drawn (`orrery-bench startup` waits for this line).
        .on_page_load(|webview, payload| {
            if webview.label() == "main"
                && matches!(payload.event(), tauri::webview::PageLoadEvent::Finished)
            {
                tracing::info!("the main window loaded");
            }
        })
        .manage(updates::PendingUpdate::default())
        .setup(move |app| {
            bindings.mount_events(app);
            let data_directory = match std::env::var_os("ORRERY_DATA_DIR") {
                Some(directory) => directory.into(),
                None => app.path().app_data_dir()?,
            };
            std::fs::create_dir_all(&data_directory)?;
            let server_url =
                std::env::var("ORRERY_SERVER_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.into());
            // The canvas window appears when the user opens a graph; closing it
            // closes the graph and hides the window (see orrery-canvas).
            // It opens where it was last (desktop::save_canvas_placement).
            let placement_file = desktop::canvas_placement_file(&data_directory);
            // Bevy and the GPU start with the first graph opened, not with the app.
            let canvas = spawn_canvas_on_demand(CanvasOptions {
                placement: desktop::load_canvas_placement(&placement_file),
                ..CanvasOptions::default()
            });
            let vault = vault::KeyringVault::new(
                &std::env::var("ORRERY_KEYRING_SERVICE").unwrap_or_else(|_| "orrery".into()),
            );
            let shell = tauri::async_runtime::block_on(Shell::open(
                &data_directory.join("local.db"),
                &server_url,
                vault,
                canvas.commands,
            ))?;
            tracing::info!(
                version = %app.package_info().version,
                pid = std::process::id(),
                data = %data_directory.display(),
                server = %server_url,
                "desktop shell started"
            );
            app.manage(shell.clone());

            // Edits made on the canvas land in the local store, then the UI hears of them.
            let handle = app.handle().clone();
            let canvas_shell = shell.clone();
            std::thread::Builder::new()
                .name("canvas-events".into())
                .spawn(move || {
                    for event in canvas.events {
                        match event {
                            CanvasEvent::Edited { graph, edit } => {
                                let result = tauri::async_runtime::block_on(
                                    canvas_shell.apply_edit(graph, &edit),
                                );
                                match result {
                                    Ok(()) => {
                                        let _ =
                                            events::LibraryChanged(graph.to_string()).emit(&handle);
                                    }
                                    Err(error) => {
                                        tracing::error!(%error, "storing a canvas edit failed")
                                    }
                                }
                            }
                            CanvasEvent::RunTask { graph, task } => {
                                let result = tauri::async_runtime::block_on(
                                    canvas_shell.run_task(graph, task),
                                );
                                if let Err(error) = result {
                                    let _ = canvas_shell.refuse_run(error.to_string());
                                }
                            }
                            // "Open Providers" beside a failure: the main window
                            // comes forward on the Providers screen.
                            CanvasEvent::Remedy(orrery_runtime::Remedy::OpenProviders) => {
                                if let Some(window) = handle.get_webview_window("main") {
                                    let _ = window.show();
                                    let _ = window.set_focus();
                                }
                                let _ = events::OpenScreen("providers".into()).emit(&handle);
                            }
                            CanvasEvent::CancelRun => {
                                canvas_shell.cancel_run();
                            }
                            CanvasEvent::GraphClosed(graph) => canvas_shell.graph_closed(graph),
                            // Off a past version: the graph as it is now.
                            CanvasEvent::BackToNow(graph) => {
                                if let Err(error) =
                                    tauri::async_runtime::block_on(canvas_shell.open_graph(graph))
                                {
                                    tracing::warn!(%error, "the graph could not be shown again");
                                }
                            }
                            CanvasEvent::Failed(reason) => tracing::error!(%reason, "canvas"),
                            CanvasEvent::WindowPlaced(placement) => {
                                desktop::save_canvas_placement(&placement_file, &placement)
                            }
                            CanvasEvent::Closed => break,
                            CanvasEvent::Ready(_)
                            | CanvasEvent::ScreenshotSaved { .. }
                            | CanvasEvent::Measured(_)
                            => {}
                            CanvasEvent::SelectionChanged(nodes) => {
                                canvas_shell.selection_changed(nodes)
                            }
                            CanvasEvent::FocusChanged { graph, focus } => {
                                canvas_shell.focus_changed(graph, focus)
                            }
                        }
                    }
                })?;

            // Live feed: the server says which graph changed, the background sync runs at once.
            let live_shell = shell.clone();
            let live_handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                loop {
                    let mut switched = false;
                    let mut looking = live_shell.looking();
                    let team = live_shell.current_team();
                    match live_shell.live_feed_in(team).await {
                        Ok(mut feed) => loop {
                            tokio::select! {
                                change = feed.next() => match change {
                                    Ok(Some(
                                        change @ (orrery_sync::LiveChange::Presence(_)
                                        | orrery_sync::LiveChange::PresenceLeft(_)),
                                    )) => live_shell.peer_presence(&change),
                                    Ok(Some(orrery_sync::LiveChange::Refused(reason))) => {
                                        tracing::debug!(%reason, "presence refused")
                                    }
                                    // Another person's edit, taken in without a sync.
                                    Ok(Some(orrery_sync::LiveChange::GraphEdit(edit))) => {
                                        if live_shell.receive_edit(team, &edit).await {
                                            let _ = events::LibraryChanged(edit.graph.to_string())
                                                .emit(&live_handle);
                                        }
                                    }
                                    Ok(Some(_)) => live_shell.changed_elsewhere(),
                                    _ => break,
                                },
                                // Where this person looks, to the others.
                                now = live_shell.looking_changed(&mut looking) => {
                                    if let Some(graph) = now.graph
                                        && feed
                                            .show_presence(
                                                graph,
                                                now.focus.map(|[x, y, z]| [x.into(), y.into(), z.into()]),
                                                &now.selection,
                                            )
                                            .await
                                            .is_err()
                                    {
                                        break;
                                    }
                                }
                                // Another workspace: its own feed, at once.
                                () = live_shell.workspace_switched() => {
                                    switched = true;
                                    break;
                                }
                            }
                        },
                        Err(error) => {
                            tracing::debug!(%error, "live feed unavailable; syncing on the timer")
                        }
                    }
                    live_shell.forget_peers();
                    // Try again after a while, or at once in another workspace.
                    if !switched {
                        tokio::select! {
                            () = tokio::time::sleep(SYNC_INTERVAL) => {}
                            () = live_shell.workspace_switched() => {}
                        }
                    }
                }
            });

            // Background sync: on every change and on a timer; the UI hears the state.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                loop {
                    let status = shell.sync_now().await;
                    let _ = status.emit(&handle);
                    shell.wait_for_change(SYNC_INTERVAL).await;
                }
            });

            // Links the app was started with (`orrery orrery://graph/ID`).
            let arguments: Vec<String> = std::env::args().skip(1).collect();
            desktop::open_links(app.handle(), &arguments);
            // Not installed from a package (an AppImage), the scheme is
            // registered for this user at start; the .deb registers it itself.
            if std::env::var_os("APPIMAGE").is_some() {
                use tauri_plugin_deep_link::DeepLinkExt;
                if let Err(error) = app.deep_link().register_all() {
                    tracing::warn!(%error, "orrery:// links could not be registered");
                }
            }

            // Updates: a quiet check soon after start, then every six hours.
            updates::start_checking(app.handle());

            // `orrery --admin` opens the management window at start.
            if std::env::args().skip(1).any(|arg| arg == "--admin")
                && let Err(error) = commands::show_admin_window(app.handle())
            {
                tracing::error!(message = %error.message, "the management window");
            }
            Ok(())
        })
        .invoke_handler(invoke_handler)
        .run(context)
        .expect("the desktop app failed to start");
}
