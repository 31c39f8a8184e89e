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
    /// `ORRERY_GITHUB_CLIENT_ID` / `_SECRET`; SMTP credentials from
    /// `ORRERY_SMTP_USER` / `ORRERY_SMTP_PASSWORD`, the sender from
    /// `ORRERY_SMTP_FROM`.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut database = std::env::var("ORRERY_SERVER_DATABASE")
            .ok()
            .filter(|value| !value.is_empty())
            .map(|value| DatabaseLocation::parse(&value));
        let mut listen = std::env::var("ORRERY_SERVER_LISTEN").ok();
        let mut smtp = std::env::var("ORRERY_SMTP").ok();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--database" => {
                    database =
                        Some(DatabaseLocation::parse(&args.next().ok_or(
                            "--database needs a file path or a postgres:// URL",
                        )?))
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
        config.smtp = smtp.map(|address| smtp_config(&address)).transpose()?;
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        if let Some(id) = env("ORRERY_GOOGLE_CLIENT_ID") {
            config.oauth_providers.push(OAuthProvider::google(
                id,
                env("ORRERY_GOOGLE_CLIENT_SECRET"),
            ));
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
                prices,
                return_url: env("ORRERY_STRIPE_RETURN_URL")
                    .unwrap_or_else(|| "https://orrery.app/billing/done".into()),
            });
        }
        if let Some(id) = env("ORRERY_GITHUB_CLIENT_ID") {
            config.oauth_providers.push(OAuthProvider::github(
                id,
                env("ORRERY_GITHUB_CLIENT_SECRET"),
            ));
        }
        Ok(config)
    }
}

const USAGE: &str = "usage: orrery-server [--database PATH|postgres://USER@HOST:PORT/DB] [--listen HOST:PORT] [--smtp HOST:PORT]";

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
