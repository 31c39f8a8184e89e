//! The `orrery-server` binary: serves until Ctrl-C or SIGTERM.

/// mimalloc instead of the system allocator: merging and reading a received
/// 10k-node graph spent a third of its time in glibc malloc/free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use orrery_server::{BoundServer, ServerConfig};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orrery_server::memory::configure_process_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,loro_internal=warn")),
        )
        .init();
    let config = match ServerConfig::from_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let server = BoundServer::bind(&config).await?;
    let address = server.local_addr()?;
    tracing::info!(database = %config.database, "sync server listening on http://{address}");
    println!("listening on http://{address}");
    server.serve(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = interrupt => {},
        _ = terminate.recv() => {},
    }
}
