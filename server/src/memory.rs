//! Allocator settings of the server process, so that resident memory goes
//! back to where it was after a flood.
//!
//! The server allocates in bursts: 8 MiB sync bodies, merges of large
//! graphs, argon2id's 19 MiB per hash, SQLite reading multi-megabyte
//! snapshots. Two allocators hold on to what was freed:
//! - mimalloc (Rust's allocations) keeps freed pages for a second by default
//!   and purges them only when the thread that freed them allocates again;
//!   threads that then sit idle kept their share. Purge delay 0 returns
//!   pages as they are freed.
//! - glibc's malloc (SQLite's allocations) gives each thread that allocates
//!   an arena of its own (sqlx runs every SQLite connection on a thread), and
//!   serves blocks of up to 32 MiB from the arenas once a large block has
//!   been freed (its mmap threshold adapts upward). Freed blocks in the
//!   middle of an arena stay resident: 175 MB of the server's 311 MB 45 s
//!   after a load run. Here glibc keeps two arenas, maps every block of
//!   256 KiB or more on its own (unmapped when freed), and trims at 1 MiB.
//!
//! A janitor thread asks both allocators every 10 s to give back what is
//! free (`malloc_trim`, `mi_collect`): what fragmentation leaves behind
//! between bursts goes back too.

use std::time::Duration;

/// `mi_option_purge_delay` in the `mi_option_e` of the mimalloc (v3) that
/// libmimalloc-sys bundles; the crate names no constant for it.
const MIMALLOC_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Blocks at least this large get a mapping of their own from glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GLIBC_MMAP_THRESHOLD: libc::c_int = 256 * 1024;
/// Free memory at the top of a glibc arena kept before it is trimmed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GLIBC_TRIM_THRESHOLD: libc::c_int = 1024 * 1024;
/// glibc arenas: more threads share them instead of each keeping its own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GLIBC_ARENAS: libc::c_int = 2;

/// How often the janitor gives free memory back.
pub const JANITOR_EVERY: Duration = Duration::from_secs(10);

/// Applies the settings above and starts the janitor. Call once, first
/// thing in `main`; a process whose allocator is not mimalloc is unaffected
/// by the mimalloc part.
pub fn configure_process_memory() {
    // SAFETY: sets an allocator option; mimalloc reads it on its next purge.
    unsafe { libmimalloc_sys::mi_option_set(MIMALLOC_PURGE_DELAY, 0) }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc's parameters; a value out of range
    // returns 0 and leaves that parameter as it was.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, GLIBC_ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD);
    }
    let _ = std::thread::Builder::new()
        .name("orrery-memory".into())
        .spawn(|| {
            loop {
                std::thread::sleep(JANITOR_EVERY);
                give_back_free_memory();
            }
        });
}

/// Returns free memory of both allocators to the system.
pub fn give_back_free_memory() {
    // SAFETY: both calls only release memory that is free.
    unsafe {
        libmimalloc_sys::mi_collect(true);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        libc::malloc_trim(0);
    }
}

/// The process's resident memory in bytes (Linux: `/proc/self/statm`), or
/// `None` where it cannot be read.
pub fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.checked_mul(usize::try_from(page_size).ok()?)
}
