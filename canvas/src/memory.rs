//! Process settings that keep a canvas host's resident memory down. Call
//! [`keep_resident_memory_low`] first thing in `main` of every binary that
//! runs the canvas (the desktop app and the `canvas` binary), before other
//! threads start.
//!
//! Both settings concern the allocator the Orrery binaries use (mimalloc) and
//! were measured with `orrery-bench canvas` under Xvfb + lavapipe:
//! - freed memory goes back to the system at once: mimalloc v3 otherwise
//!   waits 1 s and acts only on a later allocation on the freeing thread, so
//!   what loading a graph builds and drops on threads that then sit idle
//!   stayed resident (100k nodes: ~85 MB);
//! - no transparent huge pages: mimalloc asks for them on its 1 GiB arena,
//!   and a 2 MiB page is resident whole as soon as one byte of it is used
//!   (idle canvas: ~40 MB; 10k nodes: 342 → 316 MB, frame times unchanged).
//!   This is what mimalloc's own `MIMALLOC_ALLOW_THP=0` does.

/// `mi_option_purge_delay` in the `mi_option_e` of the mimalloc (v3) that
/// libmimalloc-sys bundles; the crate names no constant for it.
const MIMALLOC_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Applies both settings (see the module documentation). Safe to call more
/// than once.
pub fn keep_resident_memory_low() {
    // SAFETY: sets an allocator option; mimalloc reads it on its next purge.
    unsafe { libmimalloc_sys::mi_option_set(MIMALLOC_PURGE_DELAY, 0) }
    refuse_transparent_huge_pages();
}

/// Whether this process may no longer be given transparent huge pages.
pub fn transparent_huge_pages_refused() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_GET_THP_DISABLE takes no pointers and returns 0 or 1.
        unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

fn refuse_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes no pointers; it marks this
        // process's memory, existing and future, as not to be backed by
        // huge pages. Failing (a kernel without it) leaves memory as it was.
        let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_take_effect() {
        // SAFETY: reads an allocator option.
        let purge_delay = || unsafe { libmimalloc_sys::mi_option_get(MIMALLOC_PURGE_DELAY) };
        // purge_delay's default in mimalloc v3 (1000 ms) identifies the
        // option: its neighbours default to 0 or 1.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay(), 1000);
        }
        keep_resident_memory_low();
        assert_eq!(purge_delay(), 0);
        #[cfg(target_os = "linux")]
        assert!(transparent_huge_pages_refused());
    }
}
