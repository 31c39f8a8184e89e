//! The sync server's library: merged agent, prompt and session documents per
//! tenant, with what listing, search and admin read materialised beside them
//! (a summary per document, a session's chat as `chat_messages` rows, a
//! prompt's versions as `prompt_versions` rows). Same
//! rules as graph documents: `$n` placeholders for both databases, and a merge
//! is stored only over the revision it read.

use orrery_domain::{ChatMessage, DocumentId, DocumentKind, LibraryItem};
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use crate::local::{message_from_columns, parse_id};
use crate::prompt_versions::write_prompt_versions;
use crate::{ServerStore, StoreError, now_text};

/// One merged agent, prompt or session as the server lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServerLibrarySummary {
    /// What kind of item it is.
    pub kind: DocumentKind,
    /// The document.
    pub id: DocumentId,
    /// The agent's name, the prompt's or session's title.
    pub title: String,
    /// The listed facts of the item ([`LibraryItem::summary`]).
    pub summary: serde_json::Value,
    /// Last merge, RFC 3339 UTC.
    pub updated_at: String,
}

/// Messages written per `INSERT` (8 parameters each, far below either
/// database's limit on parameters).
const MESSAGES_PER_INSERT: usize = 100;

impl ServerStore {
    /// The merged document of one of a tenant's library items with its
    /// revision, which [`ServerStore::save_library_document`] expects back.
    pub async fn load_library_revision(
        &self,
        tenant_id: Uuid,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<Option<(Vec<u8>, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT snapshot, revision FROM library_documents
             WHERE tenant_id = $1 AND kind = $2 AND document_id = $3",
        )
        .bind(tenant_id.to_string())
        .bind(kind.as_str())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.get("snapshot"), row.get("revision"))))
    }

    /// Stores the merged document of a tenant's library item with what is
    /// listed about it (and, for a session, its messages), in one transaction,
    /// if the stored one is still at `read_revision` (`None`: the item must
    /// not exist yet). Returns `false`, storing nothing, when another merge got
    /// there first: read again, merge again.
    pub async fn save_library_document(
        &self,
        tenant_id: Uuid,
        item: &LibraryItem,
        snapshot: &[u8],
        user: Uuid,
        read_revision: Option<i64>,
        deleted_at: Option<&str>,
    ) -> Result<bool, StoreError> {
        let tenant = tenant_id.to_string();
        let id = item.id().to_string();
        let summary = item.summary().to_string();
        let mut transaction = self.write_transaction().await?;
        let done = match read_revision {
            None => {
                sqlx::query(
                    "INSERT INTO library_documents (tenant_id, kind, document_id, title, summary, snapshot, revision, updated_by, updated_at, deleted_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9)
                     ON CONFLICT (tenant_id, kind, document_id) DO NOTHING",
                )
                .bind(&tenant)
                .bind(item.kind().as_str())
                .bind(&id)
                .bind(item.title())
                .bind(&summary)
                .bind(snapshot)
                .bind(user.to_string())
                .bind(now_text())
                .bind(deleted_at)
                .execute(&mut *transaction)
                .await?
            }
            Some(revision) => {
                sqlx::query(
                    "UPDATE library_documents SET title = $1, summary = $2, snapshot = $3,
                         updated_by = $4, updated_at = $5, revision = revision + 1, deleted_at = $10
                     WHERE tenant_id = $6 AND kind = $7 AND document_id = $8 AND revision = $9",
                )
                .bind(item.title())
                .bind(&summary)
                .bind(snapshot)
                .bind(user.to_string())
                .bind(now_text())
                .bind(&tenant)
                .bind(item.kind().as_str())
                .bind(&id)
                .bind(revision)
                .bind(deleted_at)
                .execute(&mut *transaction)
                .await?
            }
        };
        if done.rows_affected() != 1 {
            transaction.rollback().await?;
            return Ok(false);
        }
        match item {
            LibraryItem::Session(session) => {
                write_messages(&mut transaction, &tenant, &id, &session.messages).await?;
            }
            LibraryItem::Prompt(prompt) => {
                write_prompt_versions(&mut transaction, &tenant, prompt, Some(user)).await?;
            }
            LibraryItem::Agent(_) => {}
        }
        transaction.commit().await?;
        Ok(true)
    }

    /// A tenant's merged items of `kind` not deleted, most recently changed first.
    pub async fn list_library_documents(
        &self,
        tenant_id: Uuid,
        kind: DocumentKind,
    ) -> Result<Vec<ServerLibrarySummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT document_id, title, summary, updated_at FROM library_documents
             WHERE tenant_id = $1 AND kind = $2 AND deleted_at IS NULL
             ORDER BY updated_at DESC, document_id",
        )
        .bind(tenant_id.to_string())
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ServerLibrarySummary {
                    kind,
                    id: parse_id(&row.get::<String, _>("document_id"), "library_documents")?,
                    title: row.get("title"),
                    summary: serde_json::from_str(&row.get::<String, _>("summary"))
                        .map_err(|error| StoreError::corrupt("library_documents", error))?,
                    updated_at: row.get("updated_at"),
                })
            })
            .collect()
    }

    /// A tenant's session's messages as materialised from its merged
    /// document, in order.
    pub async fn chat_messages(
        &self,
        tenant_id: Uuid,
        session: DocumentId,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT message_id, role, author, text, at FROM chat_messages
             WHERE tenant_id = $1 AND session_id = $2 ORDER BY position",
        )
        .bind(tenant_id.to_string())
        .bind(session.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                message_from_columns(
                    ["message_id", "role", "author", "text", "at"].map(|column| row.get(column)),
                    "chat_messages",
                )
            })
            .collect()
    }
}

/// Replaces a session's `chat_messages` rows with `messages`, in order.
async fn write_messages(
    transaction: &mut Transaction<'_, Any>,
    tenant: &str,
    session: &str,
    messages: &[ChatMessage],
) -> Result<(), StoreError> {
    // A chat mostly grows at its end: when the stored messages are the
    // start of the new ones, only the rest is written. A merge that put a
    // message in between (a device's offline message) rewrites them all.
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT message_id FROM chat_messages WHERE tenant_id = $1 AND session_id = $2 ORDER BY position",
    )
    .bind(tenant)
    .bind(session)
    .fetch_all(&mut **transaction)
    .await?;
    let grows = stored.len() <= messages.len()
        && stored
            .iter()
            .zip(messages)
            .all(|(stored, message)| *stored == message.id.to_string());
    let from = if grows {
        stored.len()
    } else {
        sqlx::query("DELETE FROM chat_messages WHERE tenant_id = $1 AND session_id = $2")
            .bind(tenant)
            .bind(session)
            .execute(&mut **transaction)
            .await?;
        0
    };
    for (chunk_index, chunk) in messages[from..].chunks(MESSAGES_PER_INSERT).enumerate() {
        let mut sql = String::from(
            "INSERT INTO chat_messages (tenant_id, session_id, message_id, position, role, author, text, at) VALUES ",
        );
        for row in 0..chunk.len() {
            let first = row * 8;
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for column in 1..=8 {
                if column > 1 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", first + column));
            }
            sql.push(')');
        }
        let mut query = sqlx::query(&sql);
        for (offset, message) in chunk.iter().enumerate() {
            let position = (from + chunk_index * MESSAGES_PER_INSERT + offset) as i64;
            query = query
                .bind(tenant)
                .bind(session)
                .bind(message.id.to_string())
                .bind(position)
                .bind(message.role.as_str())
                .bind(message.author.as_str())
                .bind(message.text.as_str())
                .bind(message.at.as_str());
        }
        query.execute(&mut **transaction).await?;
    }
    Ok(())
}
