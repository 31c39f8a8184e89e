//! Server configuration from the command line and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the server listens and keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The SQLite database file.
    pub database: PathBuf,
    /// The address to listen on (loopback by default).
    pub listen: SocketAddr,
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

impl ServerConfig {
    /// Reads `--database PATH` and `--listen ADDR` (or `ORRERY_SERVER_DATABASE`
    /// and `ORRERY_SERVER_LISTEN`), falling back to the user's data directory
    /// and 127.0.0.1:7878.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut database = std::env::var_os("ORRERY_SERVER_DATABASE").map(PathBuf::from);
        let mut listen = std::env::var("ORRERY_SERVER_LISTEN").ok();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--database" => {
                    database = Some(args.next().ok_or("--database needs a file path")?.into())
                }
                "--listen" => listen = Some(args.next().ok_or("--listen needs host:port")?),
                "--help" | "-h" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        let listen = listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        Ok(Self {
            database: database.unwrap_or_else(default_database),
            listen: listen
                .parse()
                .map_err(|_| format!("`{listen}` is not a host:port address"))?,
        })
    }
}

const USAGE: &str = "usage: orrery-server [--database PATH] [--listen HOST:PORT]";

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
        assert_eq!(config.database, PathBuf::from("/tmp/x.db"));
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
    }
}
