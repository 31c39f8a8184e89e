//! orrery-server: the bundled sync server.
//!
//! One axum application over one database (SQLite by default, or PostgreSQL
//! shared by several instances): accounts
//! (register, sign-in with password or OAuth, rotating refresh tokens, API
//! keys, password reset), the graph list, and the sync endpoint that merges a
//! tenant's graph documents from many devices. Routes live in [`http`], one
//! module per resource; account security that is not HTTP in [`auth`]; the
//! database in `orrery-store`; the document model and wire format in
//! `orrery-sync`. The server holds no state beyond the database, per-document
//! merge locks and failed sign-in counts, so it can be restarted at any time.

pub mod agent_runs;
pub mod auth;
pub mod billing;
pub mod channels;
pub mod config;
pub mod http;
pub mod memory;
pub mod notify;
pub mod serve;

use std::net::SocketAddr;
use std::sync::Arc;

use auth::mailer::{LogMailer, Mailer, SmtpMailer};
use auth::rate_limit::SignInLimiter;
use auth::{Clock, SystemClock};
pub use config::ServerConfig;
use orrery_store::{DatabaseLocation, ServerStore};
use tokio::net::TcpListener;

/// A server bound to its address and ready to serve.
pub struct BoundServer {
    listener: TcpListener,
    router: axum::Router,
    limits: config::ServerLimits,
}

impl BoundServer {
    /// Opens the database and binds the listener, without serving yet.
    pub async fn bind(config: &ServerConfig) -> anyhow::Result<Self> {
        Self::bind_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`BoundServer::bind`], reading time from `clock`.
    pub async fn bind_with_clock(
        config: &ServerConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        if let DatabaseLocation::Sqlite(path) = &config.database
            && let Some(parent) = path.parent()
        {
            std::fs::create_dir_all(parent)?;
        }
        let store = ServerStore::open(&config.database).await?;
        http::materialise_prompt_versions(&store).await?;
        if store.backend() == orrery_store::Backend::Sqlite {
            // One server owns a SQLite database: a run it left unfinished
            // died with it.
            let interrupted = store.fail_interrupted_agent_runs(clock.now()).await?;
            if interrupted > 0 {
                tracing::warn!(
                    runs = interrupted,
                    "runs left going by the last server were ended as failed"
                );
            }
        }
        spawn_idempotency_purge(store.clone(), Arc::clone(&clock));
        let mailer: Arc<dyn Mailer> = match &config.smtp {
            Some(smtp) => Arc::new(SmtpMailer::new(smtp)?),
            None => Arc::new(LogMailer),
        };
        let listener = TcpListener::bind(config.listen).await?;
        notify::outbox::spawn(
            store.clone(),
            mailer,
            Arc::clone(&clock),
            config
                .smtp
                .as_ref()
                .and_then(|smtp| {
                    smtp.from
                        .rsplit_once('@')
                        .map(|(_, host)| host.trim_end_matches('>').to_owned())
                })
                .unwrap_or_else(|| "orrery.local".to_owned()),
            config.mail_every,
            config.mail_lease,
        );
        let context = http::ApiContext::new(http::ApiParts {
            store,
            clock,
            sign_in_limiter: Arc::new(SignInLimiter::new(config.sign_in_limits)),
            providers: config.oauth_providers.clone(),
            trial_days: config.trial_days,
            billing: config.stripe.clone().map(billing::Billing::new),
            limits: config.limits,
            runs: config.runs.clone(),
            channels: config.channels.clone(),
            updates: config.updates.clone(),
        });
        context.start_live_relay().await?;
        context.start_run_heartbeat().await?;
        context.start_marketplace_reconciliation().await;
        let router = http::api_router(context);
        Ok(Self {
            listener,
            router,
            limits: config.limits,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve::serve(self.listener, self.router, self.limits, shutdown).await
    }
}

/// Forgets `Idempotency-Key`s older than a day, once an hour.
fn spawn_idempotency_purge(store: ServerStore, clock: Arc<dyn Clock>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3_600));
        loop {
            every.tick().await;
            if let Err(error) = store.purge_idempotency_keys(clock.now()).await {
                tracing::warn!(%error, "old idempotency keys could not be purged");
            }
        }
    });
}

/// Starts a server in the background on this runtime and returns its address.
/// Used by tests and by the desktop's bundled mode.
pub async fn spawn(config: &ServerConfig) -> anyhow::Result<SocketAddr> {
    spawn_with_clock(config, Arc::new(SystemClock)).await
}

/// Like [`spawn`], reading time from `clock`.
pub async fn spawn_with_clock(
    config: &ServerConfig,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<SocketAddr> {
    let server = BoundServer::bind_with_clock(config, clock).await?;
    let address = server.local_addr()?;
    tokio::spawn(server.serve(std::future::pending()));
    Ok(address)
}
