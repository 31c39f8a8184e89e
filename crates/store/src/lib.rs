//! orrery-store: SQL persistence for Orrery, through sqlx.
//!
//! [`LocalStore`] is the desktop's own SQLite database (WAL): graph documents as
//! opaque CRDT bytes plus rows materialised from them. [`ServerStore`] is the
//! sync server's database: devices and merged documents. This crate knows the
//! domain types but nothing of the CRDT library or the network: documents and
//! version vectors are byte strings that `orrery-sync` produces.

mod error;
mod local;
mod server;

pub use error::StoreError;
pub use local::{GraphSummary, LocalStore, StoredGraphDocument};
pub use server::{DeviceRecord, ServerGraphSummary, ServerStore};

/// Now, as RFC 3339 UTC text (the timestamp format of every table).
fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
