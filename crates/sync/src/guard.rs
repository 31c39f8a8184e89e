//! Calls into the CRDT library on bytes from outside: a panic becomes an
//! error, and a document a panic left poisoned is thrown away safely. Shared
//! by graph and library documents.

use std::panic::{AssertUnwindSafe, catch_unwind};

use loro::{ImportStatus, LoroDoc, LoroError};

use crate::SyncError;

/// Runs a call into the CRDT library on bytes from outside, turning a panic
/// into an error so hostile input cannot take the process down.
pub(crate) fn guarded<T>(call: impl FnOnce() -> T) -> Result<T, SyncError> {
    catch_unwind(AssertUnwindSafe(call))
        .map_err(|_| SyncError::InvalidUpdate("the update could not be decoded".into()))
}

/// Imports bytes from outside into `doc`, turning a panic in the CRDT library
/// into an error. A panic mid-import leaves the document's internal locks
/// poisoned, and such a document panics again when it is dropped (its implicit
/// commit), outside any guard: so after a panic `doc` becomes an empty
/// document and the poisoned one is dropped here, under a guard of its own.
/// The rest of that drop runs while unwinding and locks nothing (Loro 1.17), so
/// it cannot panic twice and abort; `fuzz/corpus/sync_merge/regression_*` and
/// the `sync_garbage` test cover this.
pub(crate) fn guarded_import(
    doc: &mut LoroDoc,
    bytes: &[u8],
) -> Result<Result<ImportStatus, LoroError>, SyncError> {
    guarded(|| doc.import(bytes)).inspect_err(|_| {
        let poisoned = std::mem::replace(doc, LoroDoc::new());
        let _ = catch_unwind(AssertUnwindSafe(move || drop(poisoned)));
    })
}
