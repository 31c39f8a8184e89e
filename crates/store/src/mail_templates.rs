//! Account-email templates an admin edited: one row per template key that
//! replaces the shipped parts (subject, text, HTML) until it is reset. Each
//! change and its audit entry are one transaction.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::accounts::timestamp;
use crate::admin::{AuditDraft, append_audit};
use crate::{AuditActor, AuditEntry, ServerStore, StoreError};

/// An edited template's parts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TemplateParts {
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// An edited template as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditedTemplate {
    /// Its key.
    pub key: String,
    /// Its parts.
    pub parts: TemplateParts,
    /// When it was last edited.
    pub updated_at: String,
}

impl ServerStore {
    /// Every edited template.
    pub async fn edited_mail_templates(&self) -> Result<Vec<EditedTemplate>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, subject, text, html, updated_at FROM mail_templates ORDER BY key",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| EditedTemplate {
                key: row.get("key"),
                parts: TemplateParts {
                    subject: row.get("subject"),
                    text: row.get("text"),
                    html: row.get("html"),
                },
                updated_at: row.get("updated_at"),
            })
            .collect())
    }

    /// Stores an admin's edit of template `key` (`Some`) or removes it, so
    /// the shipped parts apply again (`None`), with the audit entry (the
    /// parts before and after; `null` for the shipped ones), in one
    /// transaction.
    pub async fn put_mail_template_as_admin(
        &self,
        key: &str,
        parts: Option<&TemplateParts>,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, StoreError> {
        let mut transaction = self.admin_transaction().await?;
        let before = sqlx::query("SELECT subject, text, html FROM mail_templates WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *transaction)
            .await?
            .map(|row| {
                serde_json::json!({
                    "subject": row.get::<String, _>("subject"),
                    "text": row.get::<String, _>("text"),
                    "html": row.get::<String, _>("html"),
                })
            })
            .unwrap_or(serde_json::Value::Null);
        match parts {
            Some(parts) => {
                sqlx::query(
                    "INSERT INTO mail_templates (key, subject, text, html, updated_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (key) DO UPDATE SET subject = excluded.subject, text = excluded.text,
                         html = excluded.html, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(&parts.subject)
                .bind(&parts.text)
                .bind(&parts.html)
                .bind(timestamp(now))
                .execute(&mut *transaction)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM mail_templates WHERE key = $1")
                    .bind(key)
                    .execute(&mut *transaction)
                    .await?;
            }
        }
        let after = parts
            .map(|parts| serde_json::to_value(parts).unwrap_or(serde_json::Value::Null))
            .unwrap_or(serde_json::Value::Null);
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: if parts.is_some() {
                    "mail_template.put"
                } else {
                    "mail_template.reset"
                },
                target_kind: "mail_template",
                target_id: key,
                before,
                after,
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(entry)
    }
}
