//! The events the desktop sends its webview, typed: each is a Rust type, so
//! the generated `ui/src/bindings.ts` names it and its payload, and the
//! webview cannot listen for an event that does not exist.

use orrery_domain::{DocumentId, DocumentKind};
use serde::{Deserialize, Serialize};

/// A graph of the library changed (here, on the canvas, or by sync): its id.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
#[tauri_specta(event_name = "library-changed")]
pub struct LibraryChanged(pub String);

/// An agent, prompt or session changed here (a command) or came in by sync.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
#[tauri_specta(event_name = "library-item-changed")]
pub struct LibraryItemChanged {
    /// Which kind of item.
    pub kind: DocumentKind,
    /// Which item.
    pub id: DocumentId,
}

/// The canvas asks the main window for a screen by name (a failed run's
/// "Open Providers").
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
#[tauri_specta(event_name = "open-screen")]
pub struct OpenScreen(pub String);

/// An `orrery://marketplace/listing/{id}` link asks for a listing: its id.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
#[tauri_specta(event_name = "open-listing")]
pub struct OpenListing(pub String);

/// An `orrery://invite/{code}` link: the Teams screen offers to join.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
#[tauri_specta(event_name = "open-invitation")]
pub struct OpenInvitation(pub String);

/// Something the main window should tell the user that no command answered
/// (a deep link whose graph could not be opened).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
#[tauri_specta(event_name = "notice")]
pub struct Notice(pub String);

/// Every event, for the bindings and for Tauri's event registry.
pub fn all() -> tauri_specta::Events {
    tauri_specta::collect_events![
        LibraryChanged,
        LibraryItemChanged,
        OpenScreen,
        OpenListing,
        OpenInvitation,
        Notice,
        crate::shell::SyncStatus,
        crate::shell::AccountState,
        crate::updates::UpdateCheck,
        crate::updates::UpdateProgress,
    ]
}
