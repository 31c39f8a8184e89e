//! Outgoing mail. The server talks SMTP through lettre; where no SMTP server is
//! configured (the bundled single-user server), mail is written to the log so
//! a local user can still finish a password reset.

use std::future::Future;
use std::pin::Pin;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// One message: a plain-text body and, where there is one, an HTML
/// alternative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The same message as HTML.
    pub html: Option<String>,
    /// Its `Message-ID` (`<id@host>`): the same for every attempt, so a
    /// message sent again after a crash is recognisably the same one.
    pub message_id: Option<String>,
}

/// Why a message was not handed over.
#[derive(Debug, thiserror::Error)]
#[error("mail to {to} was not sent: {reason}")]
pub struct MailError {
    to: String,
    reason: String,
}

/// Something that delivers mail.
pub trait Mailer: Send + Sync + 'static {
    /// Hands one message over for delivery.
    fn send<'a>(
        &'a self,
        mail: Mail,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;
}

/// Where and how to reach an SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Host name.
    pub host: String,
    /// Port (587 for STARTTLS submission, 25 or a test sink's port for plain).
    pub port: u16,
    /// Upgrade the connection with STARTTLS (required unless the host is loopback).
    pub starttls: bool,
    /// User name and password, if the server wants them.
    pub credentials: Option<(String, String)>,
    /// The From address.
    pub from: String,
}

/// Sends through an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// A mailer for `config`.
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        let mut builder = if config.starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        }
        .port(config.port)
        .timeout(Some(std::time::Duration::from_secs(15)));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: config.from.parse()?,
        })
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(
        &'a self,
        mail: Mail,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>> {
        Box::pin(async move {
            let failed = |reason: String| MailError {
                to: mail.to.clone(),
                reason,
            };
            let to: Mailbox = mail
                .to
                .parse()
                .map_err(|error| failed(format!("{error}")))?;
            let builder = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .message_id(mail.message_id.clone());
            let message = match &mail.html {
                Some(html) => {
                    builder.multipart(lettre::message::MultiPart::alternative_plain_html(
                        mail.body.clone(),
                        html.clone(),
                    ))
                }
                None => builder.body(mail.body.clone()),
            }
            .map_err(|error| failed(error.to_string()))?;
            self.transport
                .send(message)
                .await
                .map_err(|error| failed(error.to_string()))?;
            Ok(())
        })
    }
}

/// Writes mail to the server log instead of sending it.
#[derive(Debug, Default)]
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send<'a>(
        &'a self,
        mail: Mail,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>> {
        Box::pin(async move {
            tracing::warn!(to = %mail.to, subject = %mail.subject, body = %mail.body,
                "no SMTP server is configured (--smtp); this message was not sent");
            Ok(())
        })
    }
}
