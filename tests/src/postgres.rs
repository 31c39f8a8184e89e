//! A throwaway PostgreSQL server for tests: `initdb` into a temp directory,
//! `postgres` on a free loopback port with trust authentication, stopped and
//! removed when dropped. Nothing is assumed to be running on the machine; the
//! binaries come from the Debian `postgresql` package (`make test` installs
//! it). As root, the cluster runs as the `postgres` system user, because
//! PostgreSQL refuses to run as root.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use tempfile::TempDir;

/// A running PostgreSQL server.
pub struct PostgresServer {
    port: u16,
    server: Child,
    _directory: TempDir,
}

const USER: &str = "orrery";

impl PostgresServer {
    /// Creates a cluster and starts it; returns once it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let binaries = binaries()?;
        let directory = tempfile::Builder::new().prefix("orrery-pg-").tempdir()?;
        let owner = unprivileged_owner()?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(directory.path(), Some(uid), Some(gid))?;
        }
        let data = directory.path().join("data");
        let as_owner = |command: &mut Command| {
            if let Some((uid, gid)) = owner {
                command.uid(uid).gid(gid);
            }
        };

        let mut initdb = Command::new(binaries.join("initdb"));
        initdb
            .arg("--pgdata")
            .arg(&data)
            .args(["--username", USER, "--auth", "trust", "--encoding", "UTF8"])
            .args(["--locale", "C", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_owner(&mut initdb);
        let output = initdb.output().context("running initdb")?;
        if !output.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr));
        }

        let port = free_port()?;
        let mut postgres = Command::new(binaries.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(directory.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=200", "-c", "shared_buffers=32MB"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_owner(&mut postgres);
        let mut server = postgres.spawn().context("starting postgres")?;

        // Ready when the server says so on its log (it logs to stderr).
        let stderr = server.stderr.take().expect("stderr is piped");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("database system is ready to accept connections") {
                    let _ = ready_tx.send(Ok(()));
                } else if line.contains("FATAL") {
                    log.push(line);
                    let _ = ready_tx.send(Err(log.join("\n")));
                } else if log.len() < 50 {
                    log.push(line);
                }
            }
            let _ = ready_tx.send(Err(format!("postgres exited: {}", log.join("\n"))));
        });
        match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(())) => {}
            Ok(Err(log)) => {
                let _ = server.kill();
                bail!("postgres did not start: {log}");
            }
            Err(_) => {
                let _ = server.kill();
                bail!("postgres did not become ready within 60 s");
            }
        }
        Ok(Self {
            port,
            server,
            _directory: directory,
        })
    }

    /// The URL of database `name`, created on first use.
    pub async fn database(&self, name: &str) -> anyhow::Result<String> {
        use sqlx::Connection;
        anyhow::ensure!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "database names here are lower-case letters and underscores"
        );
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres")).await?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_optional(&mut admin)
                .await?;
        if exists.is_none() {
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await?;
        }
        admin.close().await?;
        Ok(self.url(name))
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown; the cluster is thrown away anyway.
        send_signal(self.server.id(), 3);
        if self.server.wait().is_err() {
            let _ = self.server.kill();
        }
    }
}

/// Sends `signal` to `pid` through the `kill` program (no libc binding here).
fn send_signal(pid: u32, signal: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// The directory holding `initdb` and `postgres`.
fn binaries() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ORRERY_POSTGRES_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context(
            "PostgreSQL is not installed (Debian package `postgresql`; `make test` installs it)",
        )?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
}

/// As root: the uid and gid of the `postgres` user; otherwise `None` (run as ourselves).
fn unprivileged_owner() -> anyhow::Result<Option<(u32, u32)>> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self")?.uid();
    if me != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres") && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .map(Some)
        .context("running as root and there is no `postgres` user to run PostgreSQL as")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
