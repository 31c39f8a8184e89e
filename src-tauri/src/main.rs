//! The `orrery` desktop binary.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// mimalloc instead of the system allocator: merging and reading a received
/// 10k-node graph spent a third of its time in glibc malloc/free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    orrery_canvas::memory::configure_process_memory();
    // The canvas's winit loop and WebKitGTK share one process, and Xlib's error
    // handler is process-wide: a GLX error raised by WebKit's GL compositor is
    // picked up by winit and fails the canvas window's creation. WebKit's
    // non-GL mode draws these screens just as well, so use it unless the user
    // chose otherwise.
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        // SAFETY: no other thread has been started yet.
        unsafe { std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1") };
    }
    orrery_desktop::run();
}
