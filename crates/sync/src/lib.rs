//! orrery-sync: offline-first sync of graph documents and of the library
//! (agents, prompts, sandbox sessions: [`LibraryDocument`]).
//!
//! Graphs are CRDT documents ([`GraphDocument`], built on Loro — chosen by
//! `orrery-bench sync-merge`, see ARCHITECTURE.md). A [`Replica`] applies every
//! edit to the document and writes it to the local store first; a
//! [`SyncClient`] later exchanges updates since a version vector with the sync
//! server in one [`protocol`] round trip per graph. The server uses the same
//! document and protocol types to merge.
//!
//! This crate knows the domain and the store; it knows nothing of windows,
//! HTTP routing or accounts.

mod client;
mod document;
mod error;
mod guard;
mod library;
mod live;
pub mod protocol;
mod replica;

pub use client::{RemoteDocument, RemoteGraph, SyncClient, SyncReport, WORKSPACE_HEADER};
pub use document::{GraphDocument, GraphVersion, MAX_NAMED_VERSIONS, Merge, Version};
pub use error::SyncError;
pub use library::LibraryDocument;
pub use live::{LiveChange, LiveEdit, LiveFeed, PeerPresence};
pub use replica::Replica;
