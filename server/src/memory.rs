//! Allocator settings of the server process.
//!
//! The server allocates in bursts: a flood of 8 MiB sync bodies, merges of
//! large graphs, argon2id's 19 MiB per hash. mimalloc keeps freed pages for a
//! second by default, and only purges them when the thread that freed them
//! allocates again; threads that then sit idle kept their share resident
//! after a flood ended. With the purge delay at 0, freed memory goes back to
//! the system as it is freed, and resident memory returns to where it was.

/// `mi_option_purge_delay` in the `mi_option_e` of the mimalloc (v3) that
/// libmimalloc-sys bundles; the crate names no constant for it.
const MIMALLOC_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Applies the settings above. Safe to call more than once; a process whose
/// allocator is not mimalloc is unaffected.
pub fn configure_process_memory() {
    // SAFETY: sets an allocator option; mimalloc reads it on its next purge.
    unsafe { libmimalloc_sys::mi_option_set(MIMALLOC_PURGE_DELAY, 0) }
}
