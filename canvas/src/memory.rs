//! How a process that hosts the canvas manages memory. Call
//! [`configure_process_memory`] first thing in `main` of every binary that
//! runs the canvas (the desktop app and the `canvas` binary), before other
//! threads start.
//!
//! Measured with `orrery-bench canvas` under Xvfb + lavapipe:
//! - mimalloc (the Orrery binaries' allocator) returns freed memory to the
//!   system at once: v3 otherwise waits 1 s and acts only on a later
//!   allocation on the freeing thread, so what loading a graph builds and
//!   drops on threads that then sit idle stayed resident (100k nodes: ~85 MB);
//! - no transparent huge pages: mimalloc asks for them on its 1 GiB arena,
//!   and a 2 MiB page is resident whole as soon as one byte of it is used
//!   (idle canvas: ~40 MB; 10k nodes: 342 → 316 MB, frame times unchanged).
//!   This is what mimalloc's own `MIMALLOC_ALLOW_THP=0` does;
//! - glibc's malloc, which Mesa's rasteriser uses, keeps up to 64 MiB of
//!   freed memory per arena and serves blocks under 32 MiB from its arenas:
//!   by default it returned the rasteriser's per-frame vertex buffers to the
//!   system after every frame and faulted them in again on the next (a
//!   sixth of the CPU time at 100k nodes). 100k nodes: frame p50 96–101 →
//!   72–75 ms at the same resident size; 10k: +14 MB resident.

/// `mi_option_purge_delay` in the `mi_option_e` of the mimalloc (v3) that
/// libmimalloc-sys bundles; the crate names no constant for it.
const MIMALLOC_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Largest block glibc's malloc serves from its arenas rather than mapping
/// it on its own (its own ceiling for the adaptive threshold).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GLIBC_MMAP_THRESHOLD: libc::c_int = 32 << 20;
/// Freed memory at the top of a glibc arena kept for reuse before the arena
/// is trimmed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GLIBC_TRIM_THRESHOLD: libc::c_int = 64 << 20;

/// Applies the settings in the module documentation. Safe to call more
/// than once.
pub fn configure_process_memory() {
    // SAFETY: sets an allocator option; mimalloc reads it on its next purge.
    unsafe { libmimalloc_sys::mi_option_set(MIMALLOC_PURGE_DELAY, 0) }
    refuse_transparent_huge_pages();
    keep_glibc_arenas_warm();
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

fn keep_glibc_arenas_warm() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc's parameters; it returns 0 on a value
    // out of range, which leaves that parameter as it was.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD);
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
        configure_process_memory();
        assert_eq!(purge_delay(), 0);
        #[cfg(target_os = "linux")]
        assert!(transparent_huge_pages_refused());
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        assert!(
            !glibc_block_is_own_mapping(8 << 20),
            "an 8 MiB block is served from an arena"
        );
    }

    /// Whether glibc serves a block of `size` bytes by mapping it on its
    /// own: the IS_MMAPPED bit (0x2) of the size word before the block.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_block_is_own_mapping(size: usize) -> bool {
        // SAFETY: the block is live while its header is read, then freed once.
        unsafe {
            let block = libc::malloc(size).cast::<usize>();
            assert!(!block.is_null());
            let mapped = block.sub(1).read() & 0x2 != 0;
            libc::free(block.cast());
            mapped
        }
    }
}
