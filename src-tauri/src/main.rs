//! The `orrery` desktop binary.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    orrery_desktop::run();
}
