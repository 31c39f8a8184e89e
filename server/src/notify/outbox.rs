//! The sender: drains the mail outbox. Each due mail is claimed with a lease
//! (so two instances never send one mail at once), rendered from its
//! template, handed to the mailer with the row's id as its `Message-ID`, and
//! marked sent; a failure is recorded and tried again later, each wait twice
//! the last (a minute up to six hours). A crash between the hand-over and
//! the mark sends that one mail again when the lease ends, with the same
//! `Message-ID`, so the receiving side sees the same message; nothing queued
//! is ever lost.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orrery_store::{QueuedMail, ServerStore};

use super::templates;
use crate::auth::Clock;
use crate::auth::mailer::{Mail, Mailer};

/// Mails taken per pass.
const BATCH: u32 = 50;
/// The first wait after a failure; each next one doubles, up to [`LONGEST_WAIT`].
const FIRST_WAIT: chrono::Duration = chrono::Duration::minutes(1);
const LONGEST_WAIT: chrono::Duration = chrono::Duration::hours(6);

/// The wait before attempt `attempts + 1` of a mail that failed `attempts` times.
pub fn retry_wait(attempts: i64) -> chrono::Duration {
    let doublings = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    (FIRST_WAIT * 2_i32.pow(doublings)).min(LONGEST_WAIT)
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Mails handed to the mailer.
    pub sent: usize,
    /// Mails that failed (to be tried again).
    pub failed: usize,
}

/// Sends every mail due at `now` once; answers what it did.
/// `lease` is how long a claimed mail is left to this sender before another
/// may take it.
pub async fn send_due(
    store: &ServerStore,
    mailer: &dyn Mailer,
    host: &str,
    lease: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Pass, orrery_store::StoreError> {
    let mut pass = Pass::default();
    let due = store.due_mail(now, BATCH).await?;
    if due.is_empty() {
        return Ok(pass);
    }
    // What admins edited replaces the shipped parts.
    let edited = store.edited_mail_templates().await?;
    for mail in due {
        if !store
            .claim_mail(mail.id, &mail.next_attempt_at, now + lease)
            .await?
        {
            continue; // Another sender took it.
        }
        let parts = edited
            .iter()
            .find(|edit| edit.key == mail.template)
            .map(|edit| edit.parts.clone());
        match deliver(mailer, host, &mail, parts).await {
            Ok(secret) => {
                store.mail_sent(mail.id, now, secret).await?;
                tracing::info!(template = %mail.template, id = %mail.id, "mail sent");
                pass.sent += 1;
            }
            Err(reason) => {
                let retry_at = now + retry_wait(mail.attempts);
                tracing::warn!(template = %mail.template, id = %mail.id, %reason, %retry_at, "mail not sent; will try again");
                store.mail_failed(mail.id, retry_at, &reason).await?;
                pass.failed += 1;
            }
        }
    }
    Ok(pass)
}

/// Renders (from `parts`, or the shipped ones) and hands over one mail;
/// answers whether its data was a secret.
async fn deliver(
    mailer: &dyn Mailer,
    host: &str,
    mail: &QueuedMail,
    parts: Option<orrery_store::TemplateParts>,
) -> Result<bool, String> {
    let template = templates::template(&mail.template)
        .ok_or_else(|| format!("there is no template `{}`", mail.template))?;
    let parts = parts.unwrap_or_else(|| template.shipped());
    let rendered =
        templates::render(template, &parts, &mail.data).map_err(|error| error.to_string())?;
    mailer
        .send(Mail {
            to: mail.to.clone(),
            subject: rendered.subject,
            body: rendered.text,
            html: Some(rendered.html),
            message_id: Some(format!("<{}@{host}>", mail.id)),
        })
        .await
        .map_err(|error| error.to_string())?;
    Ok(template.secret)
}

/// Runs the sender until the process ends: a pass now, then one every
/// `every` (and the trial reminders each hour).
pub fn spawn(
    store: ServerStore,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    host: String,
    every: Duration,
    lease: Duration,
) {
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
    tokio::spawn(async move {
        let mut reminders_due = std::time::Instant::now();
        loop {
            let now = clock.now();
            if std::time::Instant::now() >= reminders_due {
                if let Err(error) = super::trials::queue_reminders(&store, now).await {
                    tracing::warn!(%error, "trial reminders could not be queued");
                }
                reminders_due = std::time::Instant::now() + Duration::from_secs(3_600);
            }
            if let Err(error) = send_due(&store, mailer.as_ref(), &host, lease, now).await {
                tracing::warn!(%error, "the mail outbox could not be read");
            }
            tokio::time::sleep(every).await;
        }
    });
}
