//! A local SMTP sink for tests: accepts connections on 127.0.0.1, speaks
//! enough SMTP (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for a
//! real client to deliver, and keeps every message it received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// One delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender.
    pub from: String,
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed.
    pub data: String,
}

/// A running sink.
#[derive(Clone)]
pub struct SmtpSink {
    address: SocketAddr,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    arrived: Arc<Notify>,
}

impl SmtpSink {
    /// Starts listening on a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let sink = Self {
            address: listener.local_addr()?,
            received: Arc::default(),
            arrived: Arc::new(Notify::new()),
        };
        let worker = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let worker = worker.clone();
                tokio::spawn(async move {
                    let _ = worker.session(stream).await;
                });
            }
        });
        Ok(sink)
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` messages have arrived (or `timeout` passes).
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            let received = self.received();
            if received.len() >= count || tokio::time::Instant::now() >= deadline {
                return received;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Waits until at least `count` messages whose headers and body contain
    /// `text` have arrived (or `timeout` passes); answers those.
    pub async fn wait_for_containing(
        &self,
        text: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            let matching: Vec<ReceivedMail> = self
                .received()
                .into_iter()
                .filter(|mail| mail.data.contains(text))
                .collect();
            if matching.len() >= count || tokio::time::Instant::now() >= deadline {
                return matching;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    async fn session(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 orrery-test-sink ESMTP\r\n").await?;
        let (mut from, mut to) = (String::new(), Vec::new());
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_owned();
            let upper = command.to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                write
                    .write_all(b"250-orrery-test-sink\r\n250 8BITMIME\r\n")
                    .await?;
            } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                write.write_all(b"250 OK\r\n").await?;
            } else if upper.starts_with("MAIL FROM:") {
                from = command[10..].trim().trim_matches(['<', '>']).to_owned();
                write.write_all(b"250 OK\r\n").await?;
            } else if upper.starts_with("RCPT TO:") {
                to.push(command[8..].trim().trim_matches(['<', '>']).to_owned());
                write.write_all(b"250 OK\r\n").await?;
            } else if upper == "DATA" {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                self.received.lock().unwrap().push(ReceivedMail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                self.arrived.notify_waiters();
                write.write_all(b"250 OK: queued\r\n").await?;
            } else if upper == "RSET" {
                from.clear();
                to.clear();
                write.write_all(b"250 OK\r\n").await?;
            } else if upper == "QUIT" {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            } else {
                write.write_all(b"502 Command not implemented\r\n").await?;
            }
        }
    }
}
