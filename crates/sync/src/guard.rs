//! Calls into the CRDT library on bytes from outside: a panic becomes an
//! error, and a document a panic left poisoned is thrown away safely. Shared
//! by graph and library documents.
//!
//! A panic inside a guard is expected (hostile bytes), so it is not printed
//! by the process's panic hook, which would write the message and, with
//! `RUST_BACKTRACE` set, a 150-line backtrace for every hostile frame: an
//! attacker could grow the log at will. The guard installs a hook (once,
//! chained to the one before it, which still sees every other panic) that
//! keeps a guarded panic's message, and logs one line with the reason, at
//! most one every [`QUIET_SECS`] seconds with the count of those it held back.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use loro::{ImportStatus, LoroDoc, LoroError};

use crate::SyncError;

/// Seconds between two log lines about refused updates.
pub const QUIET_SECS: u64 = 10;

thread_local! {
    /// How many guards this thread is inside.
    static GUARDED: Cell<u32> = const { Cell::new(0) };
    /// The message of the last guarded panic on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();
/// When the last line was logged, in seconds since the Unix epoch.
static LAST_LOGGED: AtomicU64 = AtomicU64::new(0);
/// Guarded panics not logged since that line.
static HELD_BACK: AtomicU64 = AtomicU64::new(0);

fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) > 0 {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                let place = info
                    .location()
                    .map(|at| format!(" at {}:{}", at.file(), at.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|last| *last.borrow_mut() = Some(format!("{message}{place}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Logs one line for a refused update, unless one was logged less than
/// [`QUIET_SECS`] ago (then it is counted and told with the next line).
fn log_refused(reason: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let last = LAST_LOGGED.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= QUIET_SECS
        && LAST_LOGGED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let held_back = HELD_BACK.swap(0, Ordering::Relaxed);
        tracing::warn!(
            reason = %reason.chars().take(200).collect::<String>(),
            held_back,
            "refused an update the CRDT library could not decode"
        );
    } else {
        HELD_BACK.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs a call into the CRDT library on bytes from outside, turning a panic
/// into an error so hostile input cannot take the process down.
pub(crate) fn guarded<T>(call: impl FnOnce() -> T) -> Result<T, SyncError> {
    install_hook();
    GUARDED.with(|depth| depth.set(depth.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(call));
    GUARDED.with(|depth| depth.set(depth.get() - 1));
    result.map_err(|_| {
        let reason = LAST_PANIC
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        log_refused(&reason);
        SyncError::InvalidUpdate("the update could not be decoded".into())
    })
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
        let _ = guarded(move || drop(poisoned));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guarded_panic_is_an_error_and_is_not_printed_by_the_hook() {
        // The hook installed by the guard keeps the message for the guard
        // instead of printing it: a hook that printed would leave nothing in
        // LAST_PANIC for the guard to log.
        let result = guarded(|| -> u8 { panic!("bad column count 7") });
        assert!(matches!(result, Err(SyncError::InvalidUpdate(_))));
        install_hook();
        GUARDED.with(|depth| depth.set(depth.get() + 1));
        let _ = catch_unwind(|| panic!("kept for the guard"));
        GUARDED.with(|depth| depth.set(depth.get() - 1));
        let kept = LAST_PANIC.with(|last| last.borrow_mut().take()).unwrap();
        assert!(kept.starts_with("kept for the guard at "), "{kept}");
        assert_eq!(GUARDED.with(Cell::get), 0);
    }

    #[test]
    fn refusals_are_logged_at_most_once_per_quiet_period() {
        LAST_LOGGED.store(0, Ordering::Relaxed);
        HELD_BACK.store(0, Ordering::Relaxed);
        log_refused("first");
        for _ in 0..100 {
            log_refused("again");
        }
        assert!(HELD_BACK.load(Ordering::Relaxed) >= 100);
        assert!(LAST_LOGGED.load(Ordering::Relaxed) > 0);
    }
}
