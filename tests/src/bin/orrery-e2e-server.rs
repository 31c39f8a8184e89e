//! `orrery-e2e-server`: the real sync server (`orrery_server::BoundServer`)
//! in a process of its own, for tests that SIGKILL it.
//!
//! `orrery-e2e-server --database PATH --listen HOST:PORT` (the flags of
//! `orrery-server`). It prints `LISTENING <address>` once bound, then one line
//! per statement its database finished, `QUERY <statement on one line>`, and
//! `LOG <target> <message>` for the server's own info events (with
//! `--quiet` first, only warnings). It runs with the real server's allocator
//! settings, so tests can measure its memory. A test reads
//! these lines to know what the server is doing: the statement that reads a
//! graph's stored revision is the start of a merge, the server's "merged
//! updates" line (logged once the merge is committed) the end.

use std::fmt::Write as _;
use std::io::Write as _;

use orrery_server::{BoundServer, ServerConfig};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Prints each event it sees as one line on stdout.
struct LinePrinter;

#[derive(Default)]
struct Fields {
    message: String,
    statement: String,
    summary: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "db.statement" => self.statement = value.to_owned(),
            "summary" => self.summary = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl<S: tracing::Subscriber> Layer<S> for LinePrinter {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let target = event.metadata().target();
        let line = if target == "sqlx::query" {
            // sqlx leaves the statement empty when the summary is all of it.
            let statement = if fields.statement.is_empty() {
                &fields.summary
            } else {
                &fields.statement
            };
            format!("QUERY {}\n", one_line(statement))
        } else {
            format!("LOG {target} {}\n", one_line(&fields.message))
        };
        // One write per line, so lines from several threads never interleave.
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(line.as_bytes());
        let _ = stdout.flush();
    }
}

/// The allocator and its settings of the real `orrery-server`, so tests that
/// measure this process's memory measure what the server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orrery_server::memory::configure_process_memory();
    // `--quiet` first: only warnings, no line per query (for floods).
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let quiet = args.first().is_some_and(|arg| arg == "--quiet");
    if quiet {
        args.remove(0);
    }
    let filter = if quiet {
        "warn"
    } else {
        "warn,sqlx::query=debug,orrery_server=info"
    };
    tracing_subscriber::registry()
        .with(LinePrinter.with_filter(EnvFilter::new(filter)))
        .init();
    let config = match ServerConfig::from_args(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let server = BoundServer::bind(&config).await?;
    let address = server.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "LISTENING {address}")?;
        stdout.flush()?;
    }
    // Serves until killed: the test ends it with SIGKILL.
    server.serve(std::future::pending()).await?;
    Ok(())
}
