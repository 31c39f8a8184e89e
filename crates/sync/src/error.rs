//! The sync layer's one error type.

use orrery_domain::{DocumentId, DocumentKind, GraphError, GraphId, LibraryError};
use orrery_store::StoreError;

use crate::protocol::FrameError;

/// What went wrong editing, storing or syncing a graph document.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The edit breaks a rule of the graph model.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The graph is not in the local store.
    #[error("graph {0} is not in the library")]
    NoSuchGraph(GraphId),
    /// An agent, prompt or session breaks a rule of the library model.
    #[error(transparent)]
    Library(#[from] LibraryError),
    /// The agent, prompt or session is not in the local store.
    #[error("{0} {1} is not in the library")]
    NoSuchDocument(DocumentKind, DocumentId),
    /// Document bytes that do not decode, or decode to something that is not a graph.
    #[error("invalid graph document: {0}")]
    InvalidDocument(String),
    /// An update that does not decode or would break the document.
    #[error("invalid update: {0}")]
    InvalidUpdate(String),
    /// An update that needs changes this replica has never seen.
    #[error("update depends on changes this replica does not have; sync from the start")]
    MissingDependencies,
    /// A malformed wire frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sync server cannot be reached.
    #[error("the sync server at {url} cannot be reached: {reason}")]
    Offline {
        /// The server's address.
        url: String,
        /// Why the connection failed.
        reason: String,
    },
    /// The sync server refused the request.
    #[error("the sync server answered {status}: {message}")]
    Server {
        /// HTTP status code.
        status: u16,
        /// The reason it gave.
        message: String,
    },
}
