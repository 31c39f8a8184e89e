//! Rebuilds this crate when a migration is added: `sqlx::migrate!` embeds the
//! migration folders, and Cargo cannot see new files in them on its own.

fn main() {
    for folder in ["local", "server", "server-postgres"] {
        println!("cargo:rerun-if-changed=../../migrations/{folder}");
    }
}
