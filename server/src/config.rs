//! Server configuration from the command line and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use orrery_store::DatabaseLocation;

use crate::auth::mailer::SmtpConfig;
use crate::auth::oauth::OAuthProvider;
use crate::auth::rate_limit::SignInLimits;
use crate::billing::StripeConfig;

/// Where the server listens, keeps its data, and whom it trusts for sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The database: a SQLite file (the default) or a PostgreSQL URL.
    pub database: DatabaseLocation,
    /// The address to listen on (loopback by default).
    pub listen: SocketAddr,
    /// OAuth providers users may sign in with (Google, GitHub).
    pub oauth_providers: Vec<OAuthProvider>,
    /// The SMTP server for account mail; `None` writes mail to the log.
    pub smtp: Option<SmtpConfig>,
    /// Length of the trial a new account gets, in days.
    pub trial_days: i64,
    /// Limits on failed sign-ins.
    pub sign_in_limits: SignInLimits,
    /// Stripe billing; `None` leaves billing off.
    pub stripe: Option<StripeConfig>,
    /// What one client, or all of them together, may hold of the server.
    pub limits: ServerLimits,
    /// How often the mail outbox is looked at for mail to send.
    pub mail_every: std::time::Duration,
    /// How long a mail a sender took is left to it before another may send
    /// it (a sender that crashed mid-send).
    pub mail_lease: std::time::Duration,
    /// Server-side runs: the secrets key, where providers may be, how many at once.
    pub runs: crate::agent_runs::RunsConfig,
    /// Messenger channels: this server's public address, the platforms' APIs.
    pub channels: crate::channels::ChannelsConfig,
    /// The desktop app's update feed: the key its answers are signed with,
    /// and the release key packages must be signed with.
    pub updates: UpdatesConfig,
}

/// The update feed's keys. Without a feed key the feed answers 404 ("this
/// server does not offer updates"); without a release key no package can
/// be sealed.
#[derive(Clone, Default)]
pub struct UpdatesConfig {
    /// Signs the feed's answers (`ORRERY_UPDATE_FEED_KEY`, with
    /// `ORRERY_UPDATE_FEED_KEY_PASSWORD` if it has one).
    pub feed_signer: Option<std::sync::Arc<orrery_updates::UpdateSigner>>,
    /// The public key release packages are signed with
    /// (`ORRERY_UPDATE_RELEASE_KEY`, the app's `plugins.updater.pubkey`).
    pub release_key: Option<orrery_updates::UpdateKey>,
}

impl std::fmt::Debug for UpdatesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdatesConfig")
            .field(
                "feed_key",
                &self
                    .feed_signer
                    .as_ref()
                    .map(|signer| signer.public_key().key_id()),
            )
            .field(
                "release_key",
                &self.release_key.as_ref().map(|key| key.key_id()),
            )
            .finish()
    }
}

impl PartialEq for UpdatesConfig {
    fn eq(&self, other: &Self) -> bool {
        let feed = |config: &Self| {
            config
                .feed_signer
                .as_ref()
                .map(|signer| signer.public_key().key_id())
        };
        let release = |config: &Self| config.release_key.as_ref().map(|key| key.key_id());
        feed(self) == feed(other) && release(self) == release(other)
    }
}

impl Eq for UpdatesConfig {}

/// Bounds on what clients may hold of the server: connections, time, request
/// bodies in memory, and accounts made from one address. Past a bound a
/// client is refused clearly (429, 503 with `Retry-After`, 408) or its
/// connection is closed, and legitimate clients keep being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections open at once; further ones are closed as they arrive.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, counted from when the
    /// connection opens or its previous response was sent: a connection idle
    /// this long between requests is closed too.
    pub header_timeout: std::time::Duration,
    /// Time a client has to send a whole request body.
    pub body_timeout: std::time::Duration,
    /// Bytes of request bodies held in memory at once, server-wide.
    pub body_bytes_in_flight: usize,
    /// How often a live-feed WebSocket is pinged; one that has not answered
    /// by the next ping is closed.
    pub live_ping_interval: std::time::Duration,
    /// Accounts one address may register per hour.
    pub registrations_per_address_per_hour: usize,
    /// Calls one API key may make per minute.
    pub api_key_calls_per_minute: usize,
    /// Bytes of merged graph documents kept in memory between syncs.
    pub graph_cache_bytes: usize,
    /// Resident memory past which the server keeps no graph document
    /// between syncs.
    pub cache_memory_ceiling_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(30),
            body_bytes_in_flight: 64 * 1024 * 1024,
            live_ping_interval: std::time::Duration::from_secs(20),
            registrations_per_address_per_hour: 20,
            api_key_calls_per_minute: 120,
            graph_cache_bytes: 192 * 1024 * 1024,
            cache_memory_ceiling_bytes: 400 * 1024 * 1024,
        }
    }
}

/// Days of trial a new account gets unless configured otherwise.
pub const DEFAULT_TRIAL_DAYS: i64 = 14;

impl ServerConfig {
    /// A configuration with defaults for everything but the database and address.
    pub fn new(database: impl Into<DatabaseLocation>, listen: SocketAddr) -> Self {
        Self {
            database: database.into(),
            listen,
            oauth_providers: Vec::new(),
            smtp: None,
            trial_days: DEFAULT_TRIAL_DAYS,
            sign_in_limits: SignInLimits::default(),
            stripe: None,
            limits: ServerLimits::default(),
            mail_every: std::time::Duration::from_secs(2),
            mail_lease: std::time::Duration::from_secs(300),
            runs: crate::agent_runs::RunsConfig::default(),
            channels: crate::channels::ChannelsConfig::default(),
            updates: UpdatesConfig::default(),
        }
    }
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

impl ServerConfig {
    /// Reads `--database PATH`, `--listen ADDR` and `--smtp HOST:PORT` (or
    /// `ORRERY_SERVER_DATABASE`, `ORRERY_SERVER_LISTEN`, `ORRERY_SMTP`),
    /// falling back to the user's data directory and 127.0.0.1:7878. OAuth
    /// providers come from `ORRERY_GOOGLE_CLIENT_ID` / `_SECRET` and
    /// `ORRERY_GITHUB_CLIENT_ID` / `_SECRET` (`ORRERY_GOOGLE_REDIRECT`,
    /// `ORRERY_GITHUB_REDIRECT`: `loopback` or `app`); SMTP credentials from
    /// `ORRERY_SMTP_USER` / `ORRERY_SMTP_PASSWORD`, the sender from
    /// `ORRERY_SMTP_FROM`.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut database = std::env::var("ORRERY_SERVER_DATABASE")
            .ok()
            .filter(|value| !value.is_empty())
            .map(|value| DatabaseLocation::parse(&value));
        let mut listen = std::env::var("ORRERY_SERVER_LISTEN").ok();
        let mut smtp = std::env::var("ORRERY_SMTP").ok();
        let mut limits = ServerLimits::default();
        let mut mail_lease = None;
        let mut runs = crate::agent_runs::RunsConfig::default();
        let mut secrets_key_file = None;
        let mut public_url = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let seconds = |n: u64| std::time::Duration::from_secs(n);
            let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            match arg.as_str() {
                "--max-connections" => limits.max_connections = count(number_arg(&mut args, &arg)?),
                "--header-timeout-secs" => {
                    limits.header_timeout = seconds(number_arg(&mut args, &arg)?)
                }
                "--body-timeout-secs" => {
                    limits.body_timeout = seconds(number_arg(&mut args, &arg)?)
                }
                "--body-budget-mib" => {
                    limits.body_bytes_in_flight =
                        count(number_arg(&mut args, &arg)?).saturating_mul(1024 * 1024)
                }
                "--live-ping-secs" => {
                    limits.live_ping_interval = seconds(number_arg(&mut args, &arg)?)
                }
                "--graph-cache-mib" => {
                    limits.graph_cache_bytes =
                        count(number_arg(&mut args, &arg)?).saturating_mul(1024 * 1024)
                }
                "--cache-memory-ceiling-mib" => {
                    limits.cache_memory_ceiling_bytes =
                        count(number_arg(&mut args, &arg)?).saturating_mul(1024 * 1024)
                }
                "--api-key-calls-per-minute" => {
                    limits.api_key_calls_per_minute = count(number_arg(&mut args, &arg)?)
                }
                "--registrations-per-hour" => {
                    limits.registrations_per_address_per_hour = count(number_arg(&mut args, &arg)?)
                }
                "--database" => {
                    database =
                        Some(DatabaseLocation::parse(&args.next().ok_or(
                            "--database needs a file path or a postgres:// URL",
                        )?))
                }
                "--mail-lease-secs" => mail_lease = Some(seconds(number_arg(&mut args, &arg)?)),
                "--max-concurrent-runs" => {
                    runs.max_concurrent = count(number_arg(&mut args, &arg)?)
                }
                "--allow-private-provider-hosts" => runs.private_provider_hosts = true,
                "--run-tools" => {
                    let list = args.next().ok_or(
                        "--run-tools needs a list such as calculator,current_time (or none)",
                    )?;
                    runs.allowed_tools = run_tools(&list)?;
                }
                "--secrets-key-file" => {
                    secrets_key_file = Some(args.next().ok_or("--secrets-key-file needs a path")?)
                }
                "--public-url" => {
                    public_url = Some(
                        args.next()
                            .ok_or("--public-url needs the server's https:// address")?,
                    )
                }
                "--listen" => listen = Some(args.next().ok_or("--listen needs host:port")?),
                "--smtp" => smtp = Some(args.next().ok_or("--smtp needs host:port")?),
                "--help" | "-h" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        let listen = listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let mut config = Self::new(
            database.unwrap_or_else(|| default_database().into()),
            listen
                .parse()
                .map_err(|_| format!("`{listen}` is not a host:port address"))?,
        );
        config.limits = limits;
        config.smtp = smtp.map(|address| smtp_config(&address)).transpose()?;
        if let Some(lease) = mail_lease {
            config.mail_lease = lease;
        }
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let secrets_key = match (secrets_key_file, env("ORRERY_SECRETS_KEY")) {
            (Some(path), _) => Some(std::fs::read_to_string(&path).map_err(|error| {
                format!("the secrets key file `{path}` could not be read: {error}")
            })?),
            (None, key) => key,
        };
        runs.secrets_key = secrets_key
            .map(|key| crate::agent_runs::sealed::SecretsKey::from_base64(&key))
            .transpose()
            .map_err(|error| error.to_string())?;
        config.runs = runs;
        config.channels.public_url = public_url.or_else(|| env("ORRERY_PUBLIC_URL"));
        if let Some(base) = env("ORRERY_TELEGRAM_API_BASE") {
            config.channels.telegram_api_base = base;
        }
        if let Some(base) = env("ORRERY_WHATSAPP_API_BASE") {
            config.channels.whatsapp_api_base = base;
        }
        if let Some(id) = env("ORRERY_GOOGLE_CLIENT_ID") {
            config.oauth_providers.push(OAuthProvider {
                redirect: redirect_setting(
                    env("ORRERY_GOOGLE_REDIRECT"),
                    "ORRERY_GOOGLE_REDIRECT",
                )?,
                ..OAuthProvider::google(id, env("ORRERY_GOOGLE_CLIENT_SECRET"))
            });
        }
        if let (Some(secret_key), Some(webhook_secret)) = (
            env("ORRERY_STRIPE_SECRET_KEY"),
            env("ORRERY_STRIPE_WEBHOOK_SECRET"),
        ) {
            let prices = [
                ("pro", "ORRERY_STRIPE_PRICE_PRO"),
                ("enterprise", "ORRERY_STRIPE_PRICE_ENTERPRISE"),
            ]
            .into_iter()
            .filter_map(|(plan, variable)| env(variable).map(|price| (plan.to_owned(), price)))
            .collect();
            config.stripe = Some(StripeConfig {
                api_base: env("ORRERY_STRIPE_API_BASE")
                    .unwrap_or_else(|| "https://api.stripe.com/".into()),
                secret_key,
                webhook_secret,
                connect_webhook_secret: env("ORRERY_STRIPE_CONNECT_WEBHOOK_SECRET"),
                prices,
                return_url: env("ORRERY_STRIPE_RETURN_URL")
                    .unwrap_or_else(|| "https://orrery.app/billing/done".into()),
            });
        }
        if let Some(key) = env("ORRERY_UPDATE_FEED_KEY") {
            let signer = orrery_updates::UpdateSigner::from_tauri(
                &key,
                env("ORRERY_UPDATE_FEED_KEY_PASSWORD").as_deref(),
            )
            .map_err(|error| format!("ORRERY_UPDATE_FEED_KEY: {error}"))?;
            config.updates.feed_signer = Some(std::sync::Arc::new(signer));
        }
        if let Some(key) = env("ORRERY_UPDATE_RELEASE_KEY") {
            config.updates.release_key = Some(
                orrery_updates::UpdateKey::from_tauri(&key)
                    .map_err(|error| format!("ORRERY_UPDATE_RELEASE_KEY: {error}"))?,
            );
        }
        if let Some(id) = env("ORRERY_GITHUB_CLIENT_ID") {
            config.oauth_providers.push(OAuthProvider {
                redirect: redirect_setting(
                    env("ORRERY_GITHUB_REDIRECT"),
                    "ORRERY_GITHUB_REDIRECT",
                )?,
                ..OAuthProvider::github(id, env("ORRERY_GITHUB_CLIENT_SECRET"))
            });
        }
        Ok(config)
    }
}

/// The tools runs may use: a comma-separated list of the tools a run can
/// use (`calculator`, `current_time`), or `none`.
fn run_tools(list: &str) -> Result<Vec<String>, String> {
    if list.trim() == "none" {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            orrery_runtime::tools::builtin::unconfigured(name)
                .map(|tool| tool.spec().name.clone())
                .ok_or_else(|| {
                    format!(
                        "--run-tools: `{}` is not a tool runs can use (calculator, current_time)",
                        name.chars().take(40).collect::<String>()
                    )
                })
        })
        .collect()
}

/// A provider's redirect setting (`loopback`, the default, or `app`).
fn redirect_setting(
    value: Option<String>,
    variable: &str,
) -> Result<orrery_domain::sign_in::OAuthRedirect, String> {
    value.map_or(Ok(Default::default()), |value| {
        orrery_domain::sign_in::OAuthRedirect::parse(&value)
            .map_err(|error| format!("{variable}: {error}"))
    })
}

const USAGE: &str = "usage: orrery-server [--database PATH|postgres://USER@HOST:PORT/DB] [--listen HOST:PORT] [--smtp HOST:PORT]
  limits: [--max-connections N] [--header-timeout-secs N] [--body-timeout-secs N]
          [--body-budget-mib N] [--live-ping-secs N] [--registrations-per-hour N]
          [--api-key-calls-per-minute N]
          [--graph-cache-mib N] [--cache-memory-ceiling-mib N]
  mail:   [--mail-lease-secs N] (how long a mail being sent is left to its sender: 300)
  runs:   [--max-concurrent-runs N] (512) [--allow-private-provider-hosts]
          [--run-tools LIST] (the tools tool nodes may give: calculator,current_time, or none)
          [--secrets-key-file PATH] (or ORRERY_SECRETS_KEY: 32 bytes in base64 that seal
          tenants' provider keys; `openssl rand -base64 32` makes one)
  channels: [--public-url https://HOST] (or ORRERY_PUBLIC_URL: where Telegram and WhatsApp
          deliver to; ORRERY_TELEGRAM_API_BASE and ORRERY_WHATSAPP_API_BASE move the platforms)
  updates: ORRERY_UPDATE_FEED_KEY (+ _PASSWORD) signs the feed's answers; ORRERY_UPDATE_RELEASE_KEY
          is the public key release packages must be signed with (both as `tauri signer` writes them)";

fn smtp_config(address: &str) -> Result<SmtpConfig, String> {
    let (host, port) = address
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host.to_owned(), port.parse::<u16>().ok()?)))
        .filter(|(host, _)| !host.is_empty())
        .ok_or_else(|| format!("`{address}` is not a host:port SMTP address"))?;
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let user = std::env::var("ORRERY_SMTP_USER").ok();
    let password = std::env::var("ORRERY_SMTP_PASSWORD").ok();
    Ok(SmtpConfig {
        host,
        port,
        starttls: !loopback,
        credentials: user.zip(password),
        from: std::env::var("ORRERY_SMTP_FROM")
            .unwrap_or_else(|_| "Orrery <no-reply@orrery.local>".into()),
    })
}

/// The number after a limit's flag: a whole number from 1 to 2³²−1.
fn number_arg(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<u64, String> {
    let value = args.next().ok_or(format!("{flag} needs a number"))?;
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
        .ok_or(format!(
            "{flag} needs a whole number from 1 to {}, not `{value}`",
            u32::MAX
        ))
}

fn default_database() -> PathBuf {
    orrery_store::default_data_directory().join("server.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn run_tools_are_named_or_none() {
        let default = ServerConfig::from_args(args(&[])).unwrap();
        assert_eq!(default.runs.allowed_tools, ["calculator", "current_time"]);
        let some = ServerConfig::from_args(args(&["--run-tools", "Current time"])).unwrap();
        assert_eq!(some.runs.allowed_tools, ["current_time"]);
        let none = ServerConfig::from_args(args(&["--run-tools", "none"])).unwrap();
        assert!(none.runs.allowed_tools.is_empty());
        for bad in ["http_get", "read_file", "calculator,rm"] {
            let refused = ServerConfig::from_args(args(&["--run-tools", bad])).unwrap_err();
            assert!(refused.contains("is not a tool runs can use"), "{refused}");
        }
        assert!(ServerConfig::from_args(args(&["--run-tools"])).is_err());
    }

    #[test]
    fn flags_are_read_and_garbage_refused() {
        let config = ServerConfig::from_args(args(&[
            "--database",
            "/tmp/x.db",
            "--listen",
            "127.0.0.1:0",
        ]))
        .unwrap();
        assert_eq!(
            config.database,
            DatabaseLocation::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(config.listen.port(), 0);
        assert!(
            ServerConfig::from_args(args(&["--listen", "nowhere"]))
                .unwrap_err()
                .contains("host:port")
        );
        assert!(
            ServerConfig::from_args(args(&["--frobnicate"]))
                .unwrap_err()
                .contains("unknown argument")
        );
        assert!(ServerConfig::from_args(args(&["--database"])).is_err());
        let limited = ServerConfig::from_args(args(&[
            "--max-connections",
            "64",
            "--header-timeout-secs",
            "2",
            "--body-budget-mib",
            "16",
            "--graph-cache-mib",
            "32",
        ]))
        .unwrap()
        .limits;
        assert_eq!(limited.max_connections, 64);
        assert_eq!(limited.header_timeout, std::time::Duration::from_secs(2));
        assert_eq!(limited.body_bytes_in_flight, 16 << 20);
        assert_eq!(limited.graph_cache_bytes, 32 << 20);
        for garbage in ["0", "-1", "99999999999999999999", "ten"] {
            assert!(
                ServerConfig::from_args(args(&["--max-connections", garbage]))
                    .unwrap_err()
                    .contains("whole number"),
                "{garbage}"
            );
        }
        let smtp = ServerConfig::from_args(args(&["--smtp", "127.0.0.1:2525"]))
            .unwrap()
            .smtp
            .unwrap();
        assert_eq!(
            (smtp.host.as_str(), smtp.port, smtp.starttls),
            ("127.0.0.1", 2525, false)
        );
        let smtp = ServerConfig::from_args(args(&["--smtp", "mail.example.com:587"]))
            .unwrap()
            .smtp
            .unwrap();
        assert!(smtp.starttls, "mail leaves the machine only over TLS");
        assert!(ServerConfig::from_args(args(&["--smtp", "nohost"])).is_err());
    }
}
