//! orrery-e2e: helpers for tests that cross programs — a real sync server on a
//! loopback port, desktop devices made of the shell's real local store, sync
//! client and account client (no window), and local stand-ins for services we
//! cannot reach from tests that speak their real protocols: an SMTP sink and
//! an OAuth 2 / OpenID Connect provider.

pub mod display;
pub mod messengers;
pub mod oauth_provider;
pub mod postgres;
pub mod runs;
pub mod smtp;
pub mod stripe;

use std::net::SocketAddr;
use std::sync::Arc;

use orrery_account::{AccountClient, Session};
use orrery_server::ServerConfig;
use orrery_server::auth::SteppedClock;
use orrery_store::{DatabaseLocation, LocalStore, ServerStore};
use orrery_sync::{Replica, SyncClient};
use tempfile::TempDir;

/// The password every test account uses.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

/// A sync server on 127.0.0.1 with its own SQLite database in a temp
/// directory (or a PostgreSQL database it is given), reading time from a
/// clock the test moves.
pub struct TestServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its SQLite database file (unused when it runs on PostgreSQL).
    pub database: std::path::PathBuf,
    /// Where its data is.
    pub location: DatabaseLocation,
    /// The PostgreSQL server started for it (`ORRERY_TEST_DATABASE=postgres`).
    _postgres: Option<postgres::PostgresServer>,
    /// The server's clock; `clock.advance(..)` steps past expiry and rate-limit windows.
    /// (A server in a process of its own reads the system clock: this one
    /// only starts at the same time.)
    pub clock: SteppedClock,
    /// The server's process, when it runs in one of its own.
    process: Option<tokio::process::Child>,
    _directory: TempDir,
}

impl TestServer {
    /// Starts a server on a free port with the default configuration.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `configure` adjusted its configuration.
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> anyhow::Result<Self> {
        Self::start_on(None, configure).await
    }

    /// Starts a server on `location` (`None`: a fresh SQLite file) after
    /// `configure` adjusted its configuration.
    pub async fn start_on(
        location: Option<DatabaseLocation>,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> anyhow::Result<Self> {
        let directory = tempfile::tempdir()?;
        let database = directory.path().join("server.db");
        // `ORRERY_TEST_DATABASE=postgres` runs every such server on a
        // PostgreSQL of its own instead of a SQLite file.
        let mut own_postgres = None;
        let location = match location {
            Some(location) => location,
            None if std::env::var("ORRERY_TEST_DATABASE").as_deref() == Ok("postgres") => {
                let server = postgres::PostgresServer::start()?;
                let url = server.database("orrery").await?;
                own_postgres = Some(server);
                DatabaseLocation::Postgres(url)
            }
            None => database.clone().into(),
        };
        let mut config = ServerConfig::new(location, "127.0.0.1:0".parse()?);
        configure(&mut config);
        let clock = SteppedClock::starting_at(chrono::Utc::now());
        let address = orrery_server::spawn_with_clock(&config, Arc::new(clock.clone())).await?;
        Ok(Self {
            address,
            database,
            location: config.database.clone(),
            _postgres: own_postgres,
            clock,
            process: None,
            _directory: directory,
        })
    }

    /// Starts the `orrery-server` program `binary` in a process of its own,
    /// on a fresh SQLite file and a free port, with `args` and `envs` added:
    /// for figures about the server alone, like its resident memory. The
    /// process ends when this is dropped.
    pub async fn start_process(
        binary: &std::path::Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        use tokio::io::AsyncBufReadExt as _;
        let directory = tempfile::tempdir()?;
        let database = directory.path().join("server.db");
        let mut child = tokio::process::Command::new(binary)
            .arg("--database")
            .arg(&database)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(envs.iter().copied())
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("{} could not be started", binary.display()))?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
        let address = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let address = url.trim_start_matches("http://").parse::<SocketAddr>()?;
                    return Ok(address);
                }
            }
            anyhow::bail!("the server ended before listening")
        })
        .await
        .context("the server did not listen within 30 s")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            address,
            location: database.clone().into(),
            database,
            _postgres: None,
            clock: SteppedClock::starting_at(chrono::Utc::now()),
            process: Some(child),
            _directory: directory,
        })
    }

    /// The server's process id, when it runs in a process of its own.
    pub fn process_id(&self) -> Option<u32> {
        self.process.as_ref()?.id()
    }

    /// The resident memory of the server's own process, in MiB (`None`
    /// when it runs in this process).
    pub fn process_resident_mib(&self) -> Option<f64> {
        let pid = self.process.as_ref()?.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<f64>()
            .ok()?;
        Some(kib / 1024.0)
    }

    /// The server's "now".
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use orrery_server::auth::Clock;
        self.clock.now()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The server's database, opened beside the server (for assertions and
    /// for what an admin would do, like changing a plan).
    pub async fn store(&self) -> anyhow::Result<ServerStore> {
        Ok(ServerStore::open(&self.location).await?)
    }

    /// An account client for this server.
    pub fn accounts(&self) -> AccountClient {
        AccountClient::new(&self.url())
    }

    /// Signs `email` in, registering the account first if the server lacks it.
    pub async fn session_for(&self, email: &str, device: &str) -> anyhow::Result<Session> {
        let accounts = self.accounts();
        match accounts.sign_in(email, TEST_PASSWORD, device).await {
            Ok(session) => Ok(session),
            Err(error) if error.is_signed_out() => {
                let name = email.split('@').next().unwrap_or("someone");
                Ok(accounts
                    .register(email, TEST_PASSWORD, name, device)
                    .await?)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// A route's path pattern (`/v1/graphs/{graph_id}/sync`) with each
/// `{name}` filled: from `given` when it names it, else with a value of the
/// right shape that belongs to no one (a fresh id, or the one word a
/// parameter takes, such as `agent` for `{kind}`).
pub fn route_path(pattern: &str, given: &[(&str, String)]) -> String {
    let mut path = String::with_capacity(pattern.len() + 64);
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}').expect("a route parameter closes");
        let name = &rest[open + 1..close];
        path.push_str(&rest[..open]);
        let value = given
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| {
                match name {
                    "kind" => "agent",
                    "provider" => "google",
                    "plan_key" => "pro",
                    "mode" => "live",
                    "token" => "onboarding",
                    "target" => "linux-deb",
                    "arch" => "x86_64",
                    "current_version" => "0.1.0",
                    _ => return uuid::Uuid::now_v7().to_string(),
                }
                .to_owned()
            });
        path.push_str(&value);
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    path
}

/// The account every [`TestDevice::register`] signs in to.
pub const OWNER_EMAIL: &str = "owner@orrery.test";

/// One desktop installation: its own local store, replica, session and sync client.
pub struct TestDevice {
    /// The replica every edit goes through.
    pub replica: Replica,
    /// The client that syncs it.
    pub client: SyncClient,
    /// The signed-in session.
    pub session: Session,
    _directory: TempDir,
}

impl TestDevice {
    /// A fresh device signed in to the server's owner account: every device
    /// made this way on one server belongs to the same user and tenant.
    pub async fn register(server: &TestServer, name: &str) -> anyhow::Result<Self> {
        Self::signed_in(server, OWNER_EMAIL, name).await
    }

    /// A fresh device signed in as `email` (registered on first use).
    pub async fn signed_in(server: &TestServer, email: &str, name: &str) -> anyhow::Result<Self> {
        let directory = tempfile::tempdir()?;
        let store = LocalStore::open(&directory.path().join("local.db")).await?;
        let session = server.session_for(email, name).await?;
        let client = SyncClient::new(&server.url(), &session.access_token);
        Ok(Self {
            replica: Replica::new(store),
            client,
            session,
            _directory: directory,
        })
    }

    /// A fresh device with `session`, on the server at `server_url` (a
    /// server in a process of its own).
    pub async fn with_session(server_url: &str, session: Session) -> anyhow::Result<Self> {
        let directory = tempfile::tempdir()?;
        let store = LocalStore::open(&directory.path().join("local.db")).await?;
        let client = SyncClient::new(server_url, &session.access_token);
        Ok(Self {
            replica: Replica::new(store),
            client,
            session,
            _directory: directory,
        })
    }

    /// The access token this device presents.
    pub fn token(&self) -> &str {
        &self.session.access_token
    }
}
