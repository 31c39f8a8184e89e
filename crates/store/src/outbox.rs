//! The mail outbox: account emails queued in the transaction of what they
//! announce, once per `dedupe_key`, then claimed, sent and marked by the
//! server's sender (`orrery_server::notify::outbox`), with retries.

use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use crate::accounts::timestamp;
use crate::local::parse_id;
use crate::{ServerStore, StoreError};

/// A mail to queue.
#[derive(Debug, Clone)]
pub struct MailDraft {
    /// What makes two queued mails the same one (`welcome:<user>`).
    pub dedupe_key: String,
    /// The tenant it concerns (its rows go when the tenant is deleted).
    pub tenant_id: Option<Uuid>,
    /// The address.
    pub to: String,
    /// The template's key.
    pub template: String,
    /// The template's variables.
    pub data: serde_json::Value,
}

/// A queued mail.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedMail {
    /// The row (and the Message-ID's local part).
    pub id: Uuid,
    /// Its dedupe key.
    pub dedupe_key: String,
    /// The address.
    pub to: String,
    /// The template's key.
    pub template: String,
    /// The template's variables.
    pub data: serde_json::Value,
    /// Attempts made.
    pub attempts: i64,
    /// When it may be tried (the lease, once claimed).
    pub next_attempt_at: String,
    /// When it was sent.
    pub sent_at: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
}

const COLUMNS: &str =
    "id, dedupe_key, to_address, template, data, attempts, next_attempt_at, sent_at, last_error";

fn queued(row: &sqlx::any::AnyRow) -> Result<QueuedMail, StoreError> {
    Ok(QueuedMail {
        id: parse_id(&row.get::<String, _>("id"), "mail_outbox")?,
        dedupe_key: row.get("dedupe_key"),
        to: row.get("to_address"),
        template: row.get("template"),
        data: serde_json::from_str(&row.get::<String, _>("data"))
            .map_err(|error| StoreError::corrupt("mail_outbox", error))?,
        attempts: row.get("attempts"),
        next_attempt_at: row.get("next_attempt_at"),
        sent_at: row.get("sent_at"),
        last_error: row.get("last_error"),
    })
}

/// Queues `draft` inside the caller's transaction, unless a mail with its
/// dedupe key is already queued; answers whether it was queued now.
pub(crate) async fn queue_mail(
    transaction: &mut Transaction<'static, Any>,
    draft: &MailDraft,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let now = timestamp(now);
    let inserted = sqlx::query(
        "INSERT INTO mail_outbox (id, dedupe_key, tenant_id, to_address, template, data, created_at, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(&draft.dedupe_key)
    .bind(draft.tenant_id.map(|id| id.to_string()))
    .bind(&draft.to)
    .bind(&draft.template)
    .bind(draft.data.to_string())
    .bind(&now)
    .execute(&mut **transaction)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

impl ServerStore {
    /// Queues a mail on its own (what no other change carries: a password
    /// reset, a trial reminder); answers whether it was queued now.
    pub async fn queue_mail(
        &self,
        draft: &MailDraft,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.write_transaction().await?;
        let queued = queue_mail(&mut transaction, draft, now).await?;
        transaction.commit().await?;
        Ok(queued)
    }

    /// Mails due now, oldest first, at most `limit`.
    pub async fn due_mail(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1
             ORDER BY next_attempt_at, id LIMIT {limit}"
        ))
        .bind(timestamp(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(queued).collect()
    }

    /// Takes a due mail for sending until `lease_until`, if no other sender
    /// took it since it was read (`seen` is the `next_attempt_at` read).
    pub async fn claim_mail(
        &self,
        id: Uuid,
        seen: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE mail_outbox SET next_attempt_at = $1
             WHERE id = $2 AND next_attempt_at = $3 AND sent_at IS NULL",
        )
        .bind(timestamp(lease_until))
        .bind(id.to_string())
        .bind(seen)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    /// Marks a mail sent; `forget_data` clears its variables (a secret).
    pub async fn mail_sent(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        forget_data: bool,
    ) -> Result<(), StoreError> {
        let data = if forget_data { ", data = '{}'" } else { "" };
        sqlx::query(&format!(
            "UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL{data} WHERE id = $2"
        ))
        .bind(timestamp(at))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt; the mail is tried again at `retry_at`.
    pub async fn mail_failed(
        &self,
        id: Uuid,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(1_000).collect();
        sqlx::query(
            "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3",
        )
        .bind(timestamp(retry_at))
        .bind(error)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every queued mail, oldest first (what an operator or a test reads).
    pub async fn mail_outbox(&self) -> Result<Vec<QueuedMail>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mail_outbox ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(queued).collect()
    }

    /// Users whose trial ends before `until` or ended after `since`, with
    /// what a reminder says: `(tenant, address, name, plan name, trial end)`.
    pub async fn trials_ending(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<TrialEnding>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.tenant_id, u.id, u.email, u.name, u.plan, u.trial_ends_at FROM users u
             WHERE u.trial_ends_at IS NOT NULL AND u.trial_ends_at > $1 AND u.trial_ends_at <= $2
               AND u.suspended_at IS NULL
             ORDER BY u.trial_ends_at, u.id",
        )
        .bind(timestamp(since))
        .bind(timestamp(until))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let ends_at: String = row.get("trial_ends_at");
                Ok(TrialEnding {
                    tenant_id: parse_id(&row.get::<String, _>("tenant_id"), "users")?,
                    user_id: parse_id(&row.get::<String, _>("id"), "users")?,
                    email: row.get("email"),
                    name: row.get("name"),
                    plan: row.get("plan"),
                    ends_at: DateTime::parse_from_rfc3339(&ends_at)
                        .map_err(|error| StoreError::corrupt("users", error))?
                        .with_timezone(&Utc),
                })
            })
            .collect()
    }
}

/// A trial that ends soon or just ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialEnding {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Their address.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their plan's key.
    pub plan: String,
    /// When the trial ends.
    pub ends_at: DateTime<Utc>,
}

/// Queues `template` to a user inside the caller's transaction, with their
/// address, and their name added to `data`; answers whether it was queued now.
pub(crate) async fn queue_user_mail(
    transaction: &mut Transaction<'static, Any>,
    user_id: Uuid,
    template: &str,
    dedupe_key: String,
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(row) = sqlx::query("SELECT tenant_id, email, name FROM users WHERE id = $1")
        .bind(user_id.to_string())
        .fetch_optional(&mut **transaction)
        .await?
    else {
        return Ok(false);
    };
    let mut data = match data {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    data.insert("name".into(), row.get::<String, _>("name").into());
    let draft = MailDraft {
        dedupe_key,
        tenant_id: Some(parse_id(&row.get::<String, _>("tenant_id"), "users")?),
        to: row.get("email"),
        template: template.to_owned(),
        data: serde_json::Value::Object(data),
    };
    queue_mail(transaction, &draft, now).await
}

/// A plan's name as its definition says, or its key.
pub(crate) async fn plan_name(
    transaction: &mut Transaction<'static, Any>,
    key: &str,
) -> Result<String, StoreError> {
    let definition: Option<String> =
        sqlx::query_scalar("SELECT definition FROM plans WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut **transaction)
            .await?;
    Ok(definition
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|plan| plan["name"].as_str().map(str::to_owned))
        .unwrap_or_else(|| key.to_owned()))
}

/// An amount in minor units as people read it: `$19.00`, `€5.50`, `12.00 CHF`.
pub fn amount_words(minor_units: i64, currency: &str) -> String {
    let value = format!("{}.{:02}", minor_units / 100, (minor_units % 100).abs());
    match currency.to_ascii_lowercase().as_str() {
        "usd" => format!("${value}"),
        "eur" => format!("€{value}"),
        "gbp" => format!("£{value}"),
        other => format!("{value} {}", other.to_ascii_uppercase()),
    }
}
