//! Messenger channels (Telegram bots, WhatsApp numbers) on the server: the
//! channel (its secrets sealed by the caller), which session each chat is,
//! and the messages received and sent. An inbound message is recorded under
//! its delivery's id first, so a delivery sent again is handled once.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::accounts::timestamp;
use crate::agent_runs::RunTarget;
use crate::local::parse_id;
use crate::{ServerStore, StoreError};

/// How many of a channel's last messages are listed.
pub const LISTED_MESSAGES: i64 = 20;

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// Its id (in its webhook's address).
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Who connected it (whose plan it runs on).
    pub user_id: Uuid,
    /// `telegram` or `whatsapp`.
    pub kind: String,
    /// What answers: an agent or a graph.
    pub target: RunTarget,
    /// Its id.
    pub target_id: String,
    /// The bot's username, or the number.
    pub name: String,
    /// WhatsApp: the phone number id answers are sent from.
    pub account_ref: Option<String>,
    /// The bot token or access token, sealed.
    pub sealed_token: Vec<u8>,
    /// WhatsApp: the app secret that signs deliveries, sealed.
    pub sealed_app_secret: Option<Vec<u8>>,
    /// SHA-256 of the secret a delivery presents (Telegram's secret token,
    /// WhatsApp's verify token).
    pub secret_hash: String,
    /// RFC 3339.
    pub created_at: String,
}

/// One message a channel received or sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelMessage {
    /// The chat (Telegram chat id, WhatsApp number).
    pub chat: String,
    /// `in` or `out`.
    pub direction: String,
    /// What it said.
    pub text: String,
    /// received, answered, refused, sent, failed or window_closed.
    pub status: String,
    /// Why, when it was refused or failed.
    pub detail: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// A message to record.
#[derive(Debug, Clone)]
pub struct NewChannelMessage<'a> {
    /// The channel.
    pub channel_id: Uuid,
    /// The chat.
    pub chat: &'a str,
    /// `in` or `out`.
    pub direction: &'a str,
    /// What it said.
    pub text: &'a str,
    /// Its status.
    pub status: &'a str,
    /// Why, if refused or failed.
    pub detail: Option<&'a str>,
    /// The delivery's id, for inbound messages.
    pub dedupe_key: Option<&'a str>,
    /// When.
    pub at: DateTime<Utc>,
}

const CHANNEL_COLUMNS: &str =
    "id, tenant_id, user_id, kind, target_kind, target_id, name, account_ref,
     sealed_token, sealed_app_secret, secret_hash, created_at";

fn channel_from_row(row: &sqlx::any::AnyRow) -> Result<ChannelRecord, StoreError> {
    Ok(ChannelRecord {
        id: parse_id(&row.get::<String, _>("id"), "channels")?,
        tenant_id: parse_id(&row.get::<String, _>("tenant_id"), "channels")?,
        user_id: parse_id(&row.get::<String, _>("user_id"), "channels")?,
        kind: row.get("kind"),
        target: match row.get::<String, _>("target_kind").as_str() {
            "graph" => RunTarget::Graph,
            _ => RunTarget::Agent,
        },
        target_id: row.get("target_id"),
        name: row.get("name"),
        account_ref: row.get("account_ref"),
        sealed_token: row.get("sealed_token"),
        sealed_app_secret: row.get("sealed_app_secret"),
        secret_hash: row.get("secret_hash"),
        created_at: row.get("created_at"),
    })
}

impl ServerStore {
    /// Connects a channel: the tenant's live channel of the same kind, if
    /// any, is disconnected in the same transaction.
    pub async fn connect_channel(
        &self,
        channel: &ChannelRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut transaction = self.write_transaction().await?;
        sqlx::query(
            "UPDATE channels SET disconnected_at = $1 WHERE tenant_id = $2 AND kind = $3 AND disconnected_at IS NULL",
        )
        .bind(timestamp(now))
        .bind(channel.tenant_id.to_string())
        .bind(&channel.kind)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(channel.id.to_string())
        .bind(channel.tenant_id.to_string())
        .bind(channel.user_id.to_string())
        .bind(&channel.kind)
        .bind(channel.target.as_str())
        .bind(&channel.target_id)
        .bind(&channel.name)
        .bind(channel.account_ref.as_deref())
        .bind(channel.sealed_token.clone())
        .bind(channel.sealed_app_secret.clone())
        .bind(&channel.secret_hash)
        .bind(&channel.created_at)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Disconnects the tenant's live channel of `kind`; the one it was.
    pub async fn disconnect_channel(
        &self,
        tenant_id: Uuid,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ChannelRecord>, StoreError> {
        let Some(channel) = self.tenant_channel(tenant_id, kind).await? else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE channels SET disconnected_at = $1 WHERE id = $2 AND disconnected_at IS NULL",
        )
        .bind(timestamp(now))
        .bind(channel.id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(Some(channel))
    }

    /// The tenant's live channel of `kind`.
    pub async fn tenant_channel(
        &self,
        tenant_id: Uuid,
        kind: &str,
    ) -> Result<Option<ChannelRecord>, StoreError> {
        self.live_channel_where("tenant_id", tenant_id, kind).await
    }

    /// A live channel by id, of `kind` (what a webhook names).
    pub async fn live_channel(
        &self,
        id: Uuid,
        kind: &str,
    ) -> Result<Option<ChannelRecord>, StoreError> {
        self.live_channel_where("id", id, kind).await
    }

    /// The live channel of `kind` whose `column` (`id` or `tenant_id`) is `value`.
    async fn live_channel_where(
        &self,
        column: &'static str,
        value: Uuid,
        kind: &str,
    ) -> Result<Option<ChannelRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE {column} = $1 AND kind = $2 AND disconnected_at IS NULL"
        ))
        .bind(value.to_string())
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(channel_from_row)
        .transpose()
    }

    /// Records a message. An inbound one whose `dedupe_key` was recorded
    /// before is not recorded again: `false`.
    pub async fn record_channel_message(
        &self,
        message: &NewChannelMessage<'_>,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO channel_messages (id, channel_id, chat_ref, direction, text, status, detail, dedupe_key, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(message.channel_id.to_string())
        .bind(message.chat)
        .bind(message.direction)
        .bind(message.text)
        .bind(message.status)
        .bind(message.detail)
        .bind(message.dedupe_key)
        .bind(timestamp(message.at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Sets an inbound message's status (answered, refused, ...).
    pub async fn set_channel_message_status(
        &self,
        dedupe_key: &str,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE channel_messages SET status = $1, detail = $2 WHERE dedupe_key = $3")
            .bind(status)
            .bind(detail)
            .bind(dedupe_key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A channel's last messages, newest first.
    pub async fn channel_messages(
        &self,
        channel_id: Uuid,
    ) -> Result<Vec<ChannelMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT chat_ref, direction, text, status, detail, at FROM channel_messages
             WHERE channel_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(channel_id.to_string())
        .bind(LISTED_MESSAGES)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| ChannelMessage {
                chat: row.get("chat_ref"),
                direction: row.get("direction"),
                text: row.get("text"),
                status: row.get("status"),
                detail: row.get("detail"),
                at: row.get("at"),
            })
            .collect())
    }

    /// The session a chat is kept in, and when the chat last wrote.
    pub async fn channel_chat(
        &self,
        channel_id: Uuid,
        chat: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT session_id, last_inbound_at FROM channel_chats WHERE channel_id = $1 AND chat_ref = $2",
        )
        .bind(channel_id.to_string())
        .bind(chat)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.get("session_id"), row.get("last_inbound_at"))))
    }

    /// Keeps the session a chat is in, and when it last wrote.
    pub async fn set_channel_chat(
        &self,
        channel_id: Uuid,
        chat: &str,
        session_id: &str,
        last_inbound_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO channel_chats (channel_id, chat_ref, session_id, last_inbound_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (channel_id, chat_ref) DO UPDATE SET session_id = excluded.session_id,
                 last_inbound_at = excluded.last_inbound_at",
        )
        .bind(channel_id.to_string())
        .bind(chat)
        .bind(session_id)
        .bind(timestamp(last_inbound_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a chat's session (`/reset`): the next message starts another.
    pub async fn reset_channel_chat(&self, channel_id: Uuid, chat: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM channel_chats WHERE channel_id = $1 AND chat_ref = $2")
            .bind(channel_id.to_string())
            .bind(chat)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
