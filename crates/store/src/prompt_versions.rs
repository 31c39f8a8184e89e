//! Prompt versions across the server, as the management window sees them:
//! every version of every prompt materialised from its merged document
//! (`prompt_versions`, rewritten with the document in the same transaction),
//! with who published each one; the published ones listed newest first and
//! searched; and an admin's rollback stored with its audit entry in one
//! transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use orrery_domain::{DocumentId, LibraryItem, Prompt, PromptVersionId};
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use crate::admin::{AuditDraft, append_audit, contains_pattern};
use crate::local::parse_id;
use crate::{AuditActor, AuditEntry, ServerStore, StoreError, now_text};

/// One published version of a prompt, with where it lives and who published it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublishedPromptVersion {
    /// The tenant the prompt belongs to.
    pub tenant_id: Uuid,
    /// The tenant's name.
    pub tenant_name: String,
    /// The prompt.
    pub prompt_id: DocumentId,
    /// The prompt's title.
    pub title: String,
    /// The version.
    pub version_id: PromptVersionId,
    /// `active` (what the runtime uses now) or `archived`.
    pub status: String,
    /// Its text.
    pub content: String,
    /// When it was written, RFC 3339.
    pub created_at: String,
    /// When it was last published, RFC 3339.
    pub activated_at: String,
    /// Who published it last, when known.
    pub published_by: Option<Uuid>,
    /// Their address, when known.
    pub published_by_email: Option<String>,
}

/// A page of published versions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublishedPromptPage {
    /// This page, most recently published first.
    pub versions: Vec<PublishedPromptVersion>,
    /// How many match, on every page.
    pub total: u64,
}

/// The server fact saying stored prompts were materialised.
const MATERIALISED_FACT: &str = "prompt_versions_materialised";

/// Published versions listed per query at most.
const MAX_LISTED: u64 = 100;

impl ServerStore {
    /// A page of published prompt versions of every tenant, most recently
    /// published first; `text` matches a part of the prompt's title, the
    /// version's text, the tenant's name or the publisher's address.
    /// Prompts that were deleted are left out.
    pub async fn list_published_prompt_versions(
        &self,
        text: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<PublishedPromptPage, StoreError> {
        let limit = limit.min(MAX_LISTED);
        let from = "FROM prompt_versions v
             JOIN library_documents d ON d.tenant_id = v.tenant_id AND d.kind = 'prompt' AND d.document_id = v.prompt_id
             JOIN tenants t ON t.id = v.tenant_id
             LEFT JOIN users u ON u.id = v.published_by
             WHERE v.activated_at IS NOT NULL AND d.deleted_at IS NULL";
        let matching = if text.is_some() {
            " AND (LOWER(d.title) LIKE $1 ESCAPE '\\' OR LOWER(v.content) LIKE $1 ESCAPE '\\'
                   OR LOWER(t.name) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(u.email, '')) LIKE $1 ESCAPE '\\')"
        } else {
            ""
        };
        let pattern = text.map(contains_pattern);
        let listing = format!(
            "SELECT v.tenant_id, t.name AS tenant_name, v.prompt_id, d.title, v.version_id, v.status, v.content,
                    v.created_at, v.activated_at, v.published_by, u.email AS published_by_email
             {from}{matching}
             ORDER BY v.activated_at DESC, v.version_id DESC LIMIT {limit} OFFSET {offset}"
        );
        let mut query = sqlx::query(&listing);
        if let Some(pattern) = &pattern {
            query = query.bind(pattern.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let versions = rows
            .iter()
            .map(published_version)
            .collect::<Result<_, _>>()?;
        let counting = format!("SELECT COUNT(*) {from}{matching}");
        let mut count = sqlx::query_scalar::<_, i64>(&counting);
        if let Some(pattern) = &pattern {
            count = count.bind(pattern.as_str());
        }
        let total = count.fetch_one(&self.pool).await?;
        Ok(PublishedPromptPage {
            versions,
            total: u64::try_from(total)
                .map_err(|error| StoreError::corrupt("prompt_versions", error))?,
        })
    }

    /// Stores a prompt an admin rolled back (`item`, its merged `snapshot`)
    /// over the revision it was read at, with its versions and the audit
    /// entry, in one transaction. `None`, storing nothing, when another merge
    /// stored first: read again and roll back again.
    #[allow(clippy::too_many_arguments)]
    pub async fn store_prompt_rollback(
        &self,
        tenant_id: Uuid,
        prompt: &Prompt,
        snapshot: &[u8],
        read_revision: i64,
        actor: &AuditActor,
        before: serde_json::Value,
        after: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Option<AuditEntry>, StoreError> {
        let tenant = tenant_id.to_string();
        let id = prompt.id.to_string();
        let item = LibraryItem::Prompt(prompt.clone());
        let mut transaction = self.admin_transaction().await?;
        let updated = sqlx::query(
            "UPDATE library_documents SET title = $1, summary = $2, snapshot = $3,
                 updated_by = $4, updated_at = $5, revision = revision + 1
             WHERE tenant_id = $6 AND kind = 'prompt' AND document_id = $7 AND revision = $8",
        )
        .bind(item.title())
        .bind(item.summary().to_string())
        .bind(snapshot)
        .bind(actor.user_id.to_string())
        .bind(now_text())
        .bind(&tenant)
        .bind(&id)
        .bind(read_revision)
        .execute(&mut *transaction)
        .await?;
        if updated.rows_affected() != 1 {
            transaction.rollback().await?;
            return Ok(None);
        }
        write_prompt_versions(&mut transaction, &tenant, prompt, Some(actor.user_id)).await?;
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: "prompt.rollback",
                target_kind: "prompt",
                target_id: &id,
                before,
                after,
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(Some(entry))
    }

    /// Prompts whose versions were never materialised (stored before
    /// `prompt_versions` existed, or without versions): `(tenant, prompt,
    /// snapshot)`, at most `limit` of them, in order after `after`.
    pub async fn prompts_without_versions(
        &self,
        after: Option<(Uuid, DocumentId)>,
        limit: u64,
    ) -> Result<Vec<(Uuid, DocumentId, Vec<u8>)>, StoreError> {
        let (tenant, document) = after
            .map(|(tenant, document)| (tenant.to_string(), document.to_string()))
            .unwrap_or_default();
        let rows = sqlx::query(&format!(
            "SELECT d.tenant_id, d.document_id, d.snapshot FROM library_documents d
             WHERE d.kind = 'prompt' AND (d.tenant_id > $1 OR (d.tenant_id = $1 AND d.document_id > $2))
               AND NOT EXISTS (
                 SELECT 1 FROM prompt_versions v WHERE v.tenant_id = d.tenant_id AND v.prompt_id = d.document_id)
             ORDER BY d.tenant_id, d.document_id LIMIT {limit}"
        ))
        .bind(tenant)
        .bind(document)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_id(&row.get::<String, _>("tenant_id"), "library_documents")?,
                    parse_id(&row.get::<String, _>("document_id"), "library_documents")?,
                    row.get("snapshot"),
                ))
            })
            .collect()
    }

    /// Whether the prompts stored before `prompt_versions` existed were
    /// materialised (once, at the first start with the table).
    pub async fn prompt_versions_materialised(&self) -> Result<bool, StoreError> {
        let fact: Option<String> =
            sqlx::query_scalar("SELECT value FROM server_facts WHERE fact = $1")
                .bind(MATERIALISED_FACT)
                .fetch_optional(&self.pool)
                .await?;
        Ok(fact.is_some())
    }

    /// Records that they were.
    pub async fn mark_prompt_versions_materialised(&self) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO server_facts (fact, value) VALUES ($1, $2) ON CONFLICT (fact) DO NOTHING",
        )
        .bind(MATERIALISED_FACT)
        .bind(now_text())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes the versions of a prompt stored before `prompt_versions`
    /// existed, published by no one known.
    pub async fn materialise_prompt_versions(
        &self,
        tenant_id: Uuid,
        prompt: &Prompt,
    ) -> Result<(), StoreError> {
        let mut transaction = self.write_transaction().await?;
        write_prompt_versions(&mut transaction, &tenant_id.to_string(), prompt, None).await?;
        transaction.commit().await?;
        Ok(())
    }
}

fn published_version(row: &sqlx::any::AnyRow) -> Result<PublishedPromptVersion, StoreError> {
    Ok(PublishedPromptVersion {
        tenant_id: parse_id(&row.get::<String, _>("tenant_id"), "prompt_versions")?,
        tenant_name: row.get("tenant_name"),
        prompt_id: parse_id(&row.get::<String, _>("prompt_id"), "prompt_versions")?,
        title: row.get("title"),
        version_id: parse_id(&row.get::<String, _>("version_id"), "prompt_versions")?,
        status: row.get("status"),
        content: row.get("content"),
        created_at: row.get("created_at"),
        activated_at: row.get("activated_at"),
        published_by: row
            .get::<Option<String>, _>("published_by")
            .map(|id| parse_id(&id, "prompt_versions"))
            .transpose()?,
        published_by_email: row.get("published_by_email"),
    })
}

/// Rewrites a prompt's `prompt_versions` rows from `prompt`. A version
/// published again (a new `activated_at`) is recorded as published by
/// `publisher`; one whose publication did not change keeps its publisher.
pub(crate) async fn write_prompt_versions(
    transaction: &mut Transaction<'_, Any>,
    tenant: &str,
    prompt: &Prompt,
    publisher: Option<Uuid>,
) -> Result<(), StoreError> {
    let prompt_id = prompt.id.to_string();
    let rows = sqlx::query(
        "SELECT version_id, activated_at, published_by FROM prompt_versions
         WHERE tenant_id = $1 AND prompt_id = $2",
    )
    .bind(tenant)
    .bind(&prompt_id)
    .fetch_all(&mut **transaction)
    .await?;
    let known: HashMap<String, (Option<String>, Option<String>)> = rows
        .iter()
        .map(|row| {
            (
                row.get::<String, _>("version_id"),
                (row.get("activated_at"), row.get("published_by")),
            )
        })
        .collect();
    sqlx::query("DELETE FROM prompt_versions WHERE tenant_id = $1 AND prompt_id = $2")
        .bind(tenant)
        .bind(&prompt_id)
        .execute(&mut **transaction)
        .await?;
    for version in &prompt.versions {
        let version_id = version.id.to_string();
        let published_by = match (&version.activated_at, known.get(&version_id)) {
            (None, _) => None,
            (Some(at), Some((Some(known_at), known_by))) if at == known_at => known_by.clone(),
            (Some(_), _) => publisher.map(|user| user.to_string()),
        };
        sqlx::query(
            "INSERT INTO prompt_versions (tenant_id, prompt_id, version_id, status, content, created_at, activated_at, published_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant)
        .bind(&prompt_id)
        .bind(&version_id)
        .bind(version.status.as_str())
        .bind(version.content.as_str())
        .bind(version.created_at.as_str())
        .bind(version.activated_at.as_deref())
        .bind(published_by)
        .execute(&mut **transaction)
        .await?;
    }
    Ok(())
}
