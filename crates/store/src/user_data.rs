//! Everything the server holds about one user, read out for an export and
//! removed for a deletion.
//!
//! A tenant is one person's today, so the user's tenant goes with them: its
//! graphs, library documents, chats and usage. What stays is what must: the
//! audit log (the record of what admins did, the deletion included) and the
//! event log with the user's ids redacted (the revenue history is the
//! server's, not the user's). The export and the deletion list the same
//! tables; a test checks that no other table holds a row of theirs.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::accounts::Role;
use crate::admin::{AuditDraft, append_audit, live_sessions, locked_user, user_audit_view};
use crate::events::{EventKind, NewEvent, record_event};
use crate::{AdminUser, AuditActor, AuditEntry, ServerStore, StoreError};

/// A stored CRDT document of the user's tenant.
#[derive(Debug, Clone)]
pub struct StoredDocument {
    /// `graph`, or the library kind (`agent`, `prompt`, `session`).
    pub kind: String,
    /// The document's id.
    pub id: String,
    /// Its name or title as listed.
    pub title: String,
    /// The merged document.
    pub snapshot: Vec<u8>,
}

/// The rows of one user, as an export reads them (never a password hash,
/// a token or an API key's secret).
#[derive(Debug, Clone)]
pub struct UserRows {
    /// The account.
    pub user: AdminUser,
    /// The account's settings (JSON) and theme.
    pub settings: serde_json::Value,
    /// Linked sign-in providers: `(provider, email)`.
    pub identities: Vec<serde_json::Value>,
    /// Signed-in devices, revoked ones included.
    pub devices: Vec<serde_json::Value>,
    /// API keys (name, prefix, scopes, times).
    pub api_keys: Vec<serde_json::Value>,
    /// Usage counters of every period.
    pub usage: Vec<serde_json::Value>,
    /// Subscriptions as Stripe last reported them.
    pub subscriptions: Vec<serde_json::Value>,
    /// Invoices.
    pub invoices: Vec<serde_json::Value>,
    /// The marketplace: what they bought (`purchases`), reviewed
    /// (`reviews`), listed (`listings`), and their selling account
    /// (`seller`: Stripe's account id and state).
    pub marketplace: serde_json::Value,
    /// The teams they belong to: the team, its name, their role, since when.
    pub teams: Vec<serde_json::Value>,
    /// The graphs and library documents of their tenant.
    pub documents: Vec<StoredDocument>,
}

/// The answer to a deletion.
#[derive(Debug)]
pub enum UserDeletion {
    /// Deleted; the audit entry that records it.
    Deleted(Box<AuditEntry>),
    /// No user has that id.
    NoSuchUser,
    /// They are the last active admin.
    LastAdmin,
}

/// The tables a user's rows live in, in the order a deletion empties them
/// (children first). `tenant`: the rows are keyed by tenant, else by user.
const USER_TABLES: [(&str, bool); 18] = [
    ("chat_messages", true),
    ("mail_outbox", true),
    ("finished_runs", true),
    ("prompt_versions", true),
    ("library_documents", true),
    ("graph_updates", true),
    ("graph_documents", true),
    ("usage_counters", true),
    ("invoices", true),
    ("subscriptions", true),
    ("billing_customers", true),
    ("password_resets", true),
    ("api_keys", true),
    ("identities", true),
    ("sessions", true),
    ("marketplace_sellers", true),
    ("users", false),
    ("tenants", false),
];

/// Takes a user about to be deleted out of their teams, inside the
/// deletion's transaction: a team only they were in goes with them (its
/// rows, then the tenant); in the others, what they last updated is
/// credited to the member who inherits it (the longest-standing owner,
/// else admin, else anyone), who becomes an owner when the team would
/// otherwise have none. Their membership rows go with the user.
async fn leave_teams(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    user: &str,
) -> Result<(), StoreError> {
    let teams: Vec<String> =
        sqlx::query_scalar("SELECT tenant_id FROM team_members WHERE user_id = $1")
            .bind(user)
            .fetch_all(&mut **transaction)
            .await?;
    for team in teams {
        let heirs: Vec<(String, String)> = sqlx::query(
            "SELECT user_id, role FROM team_members WHERE tenant_id = $1 AND user_id <> $2
             ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'editor' THEN 2 ELSE 3 END,
                      added_at, user_id",
        )
        .bind(&team)
        .bind(user)
        .fetch_all(&mut **transaction)
        .await?
        .iter()
        .map(|row| (row.get("user_id"), row.get("role")))
        .collect();
        let Some((heir, role)) = heirs.first() else {
            for (table, by_tenant) in USER_TABLES {
                if by_tenant {
                    sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1"))
                        .bind(&team)
                        .execute(&mut **transaction)
                        .await?;
                }
            }
            sqlx::query("DELETE FROM team_members WHERE tenant_id = $1")
                .bind(&team)
                .execute(&mut **transaction)
                .await?;
            sqlx::query("DELETE FROM team_invitations WHERE tenant_id = $1")
                .bind(&team)
                .execute(&mut **transaction)
                .await?;
            sqlx::query("DELETE FROM tenants WHERE id = $1")
                .bind(&team)
                .execute(&mut **transaction)
                .await?;
            continue;
        };
        for table in ["graph_documents", "library_documents"] {
            sqlx::query(&format!(
                "UPDATE {table} SET updated_by = $1 WHERE tenant_id = $2 AND updated_by = $3"
            ))
            .bind(heir)
            .bind(&team)
            .bind(user)
            .execute(&mut **transaction)
            .await?;
        }
        if role != "owner" {
            sqlx::query(
                "UPDATE team_members SET role = 'owner' WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(&team)
            .bind(heir)
            .execute(&mut **transaction)
            .await?;
        }
    }
    Ok(())
}

fn json_rows(rows: &[sqlx::any::AnyRow], columns: &[&str]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|row| {
            let mut object = serde_json::Map::new();
            for column in columns {
                let value = row
                    .try_get::<Option<String>, _>(*column)
                    .map(|text| text.map_or(serde_json::Value::Null, serde_json::Value::from))
                    .or_else(|_| {
                        row.try_get::<Option<i64>, _>(*column).map(|number| {
                            number.map_or(serde_json::Value::Null, serde_json::Value::from)
                        })
                    })
                    .unwrap_or(serde_json::Value::Null);
                object.insert((*column).to_owned(), value);
            }
            serde_json::Value::Object(object)
        })
        .collect()
}

impl ServerStore {
    /// Everything stored about `user_id`, or `None` if no user has it.
    pub async fn user_rows(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRows>, StoreError> {
        let Some(user) = self.admin_user(user_id, now).await? else {
            return Ok(None);
        };
        let id = user_id.to_string();
        let tenant = user.tenant_id.to_string();
        let settings_row = sqlx::query("SELECT settings, theme FROM users WHERE id = $1")
            .bind(&id)
            .fetch_one(&self.pool)
            .await?;
        let settings = serde_json::json!({
            "theme": settings_row.get::<String, _>("theme"),
            "settings": serde_json::from_str::<serde_json::Value>(&settings_row.get::<String, _>("settings"))
                .unwrap_or(serde_json::Value::Null),
        });
        let select = |sql: &'static str, bind: String| {
            let pool = self.pool.clone();
            async move {
                sqlx::query(sql)
                    .bind(bind)
                    .fetch_all(&pool)
                    .await
                    .map_err(StoreError::from)
            }
        };
        let identities = json_rows(
            &select("SELECT provider, email, created_at FROM identities WHERE user_id = $1 ORDER BY created_at", id.clone()).await?,
            &["provider", "email", "created_at"],
        );
        let devices = json_rows(
            &select("SELECT id, device_name, created_at, revoked_at, revoked_why FROM sessions WHERE user_id = $1 ORDER BY created_at", id.clone()).await?,
            &["id", "device_name", "created_at", "revoked_at", "revoked_why"],
        );
        let api_keys = json_rows(
            &select("SELECT id, name, prefix, scopes, created_at, rotated_at, last_used_at, revoked_at FROM api_keys WHERE user_id = $1 ORDER BY created_at", id.clone()).await?,
            &["id", "name", "prefix", "scopes", "created_at", "rotated_at", "last_used_at", "revoked_at"],
        );
        let usage = json_rows(
            &select("SELECT metric, period, used FROM usage_counters WHERE user_id = $1 ORDER BY period, metric", id.clone()).await?,
            &["metric", "period", "used"],
        );
        let subscriptions = json_rows(
            &select("SELECT stripe_subscription_id, plan_key, status, cancel_at_period_end, current_period_end, mrr_cents, updated_at FROM subscriptions WHERE user_id = $1 ORDER BY updated_at", id.clone()).await?,
            &["stripe_subscription_id", "plan_key", "status", "cancel_at_period_end", "current_period_end", "mrr_cents", "updated_at"],
        );
        let invoices = json_rows(
            &select("SELECT stripe_invoice_id, status, amount_due, amount_paid, currency, hosted_url, created FROM invoices WHERE user_id = $1 ORDER BY created", id.clone()).await?,
            &["stripe_invoice_id", "status", "amount_due", "amount_paid", "currency", "hosted_url", "created"],
        );
        let marketplace = serde_json::json!({
            "purchases": json_rows(
                &select("SELECT p.id, p.listing_id, l.title, p.version, p.state, p.amount_minor, p.currency, p.created_at, p.paid_at, p.refunded_at, p.refund_reason
                         FROM marketplace_purchases p JOIN marketplace_listings l ON l.id = p.listing_id
                         WHERE p.buyer_user = $1 ORDER BY p.created_at", id.clone()).await?,
                &["id", "listing_id", "title", "version", "state", "amount_minor", "currency", "created_at", "paid_at", "refunded_at", "refund_reason"],
            ),
            "reviews": json_rows(
                &select("SELECT listing_id, rating, body, created_at, updated_at FROM marketplace_reviews WHERE buyer_user = $1 ORDER BY created_at", id.clone()).await?,
                &["listing_id", "rating", "body", "created_at", "updated_at"],
            ),
            "listings": json_rows(
                &select("SELECT id, kind, title, description, tags, pricing, price_minor, currency, state, purchases, created_at
                         FROM marketplace_listings WHERE seller_tenant = $1 ORDER BY created_at", tenant.clone()).await?,
                &["id", "kind", "title", "description", "tags", "pricing", "price_minor", "currency", "state", "purchases", "created_at"],
            ),
            "seller": json_rows(
                &select("SELECT stripe_account, charges_enabled, payouts_enabled, details_submitted, created_at FROM marketplace_sellers WHERE tenant_id = $1", tenant.clone()).await?,
                &["stripe_account", "charges_enabled", "payouts_enabled", "details_submitted", "created_at"],
            ),
        });
        let teams = json_rows(
            &select("SELECT m.tenant_id AS team, t.name, m.role, m.added_at FROM team_members m JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1 ORDER BY m.added_at", id.clone()).await?,
            &["team", "name", "role", "added_at"],
        );
        let mut documents = Vec::new();
        for row in select(
            "SELECT graph_id, name, snapshot FROM graph_documents WHERE tenant_id = $1 ORDER BY graph_id",
            tenant.clone(),
        )
        .await?
        {
            documents.push(StoredDocument {
                kind: "graph".into(),
                id: row.get("graph_id"),
                title: row.get("name"),
                snapshot: row.get("snapshot"),
            });
        }
        for row in select(
            "SELECT kind, document_id, title, snapshot FROM library_documents WHERE tenant_id = $1 ORDER BY kind, document_id",
            tenant,
        )
        .await?
        {
            documents.push(StoredDocument {
                kind: row.get("kind"),
                id: row.get("document_id"),
                title: row.get("title"),
                snapshot: row.get("snapshot"),
            });
        }
        Ok(Some(UserRows {
            user,
            settings,
            identities,
            devices,
            api_keys,
            usage,
            subscriptions,
            invoices,
            marketplace,
            teams,
            documents,
        }))
    }

    /// Deletes a user with everything of theirs, as an admin, in one
    /// transaction with its audit entry: their tenant's rows, their
    /// credentials (so every token stops at once), and their ids in the
    /// event log (redacted). The server's last active admin cannot be
    /// deleted.
    pub async fn delete_user_as_admin(
        &self,
        user_id: Uuid,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<UserDeletion, StoreError> {
        let mut transaction = self.admin_transaction().await?;
        let Some(user) = locked_user(&mut transaction, self.backend(), user_id, now).await? else {
            transaction.rollback().await?;
            return Ok(UserDeletion::NoSuchUser);
        };
        let id = user_id.to_string();
        let tenant = user.tenant_id.to_string();
        if user.role == Role::Admin && user.suspended_at.is_none() {
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND suspended_at IS NULL AND id <> $1",
            )
            .bind(&id)
            .fetch_one(&mut *transaction)
            .await?;
            if others == 0 {
                transaction.rollback().await?;
                return Ok(UserDeletion::LastAdmin);
            }
        }
        let sessions = live_sessions(&mut transaction, &id).await?;
        let before = user_audit_view(&user, sessions);
        leave_teams(&mut transaction, &id).await?;
        // A seller's listings leave the marketplace; buyers keep what they
        // bought, and the purchases and the ledger keep naming the listing,
        // so the bare tenant row stays while any listing names it.
        sqlx::query("UPDATE marketplace_listings SET state = 'delisted' WHERE seller_tenant = $1")
            .bind(&tenant)
            .execute(&mut *transaction)
            .await?;
        let has_listings: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM marketplace_listings WHERE seller_tenant = $1",
        )
        .bind(&tenant)
        .fetch_one(&mut *transaction)
        .await?;
        for (table, by_tenant) in USER_TABLES {
            if table == "tenants" && has_listings > 0 {
                continue;
            }
            let sql = match (table, by_tenant) {
                ("users", _) => "DELETE FROM users WHERE id = $1".to_owned(),
                ("tenants", _) => "DELETE FROM tenants WHERE id = $1".to_owned(),
                (table, true) => format!("DELETE FROM {table} WHERE tenant_id = $1"),
                (table, false) => format!("DELETE FROM {table} WHERE user_id = $1"),
            };
            let bind = if table == "users" { &id } else { &tenant };
            sqlx::query(&sql)
                .bind(bind)
                .execute(&mut *transaction)
                .await?;
        }
        // The events keep what happened, not to whom.
        sqlx::query(
            "UPDATE events SET tenant_id = NULL, user_id = NULL WHERE user_id = $1 OR tenant_id = $2",
        )
        .bind(&id)
        .bind(&tenant)
        .execute(&mut *transaction)
        .await?;
        // Versions they published elsewhere (as an admin rolling back)
        // stay, published by no one named.
        sqlx::query("UPDATE prompt_versions SET published_by = NULL WHERE published_by = $1")
            .bind(&id)
            .execute(&mut *transaction)
            .await?;
        // The first account stays a fact (so no later registration becomes
        // admin by it), without naming them.
        sqlx::query(
            "UPDATE server_facts SET value = 'deleted' WHERE fact = 'first_account' AND value = $1",
        )
        .bind(&id)
        .execute(&mut *transaction)
        .await?;
        record_event(
            &mut transaction,
            NewEvent {
                kind: EventKind::AccountDeleted,
                tenant_id: None,
                user_id: None,
                subject: "",
                data: serde_json::json!({}),
                at: now,
            },
        )
        .await?;
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: "user.delete",
                target_kind: "user",
                target_id: &id,
                before,
                after: serde_json::Value::Null,
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(UserDeletion::Deleted(Box::new(entry)))
    }
}

impl ServerStore {
    /// Records in the audit log that an admin exported a user's data (what
    /// was taken: counts, never the data itself).
    pub async fn audit_user_export(
        &self,
        user_id: Uuid,
        summary: serde_json::Value,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, StoreError> {
        let mut transaction = self.admin_transaction().await?;
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: "user.export",
                target_kind: "user",
                target_id: &user_id.to_string(),
                before: serde_json::Value::Null,
                after: summary,
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(entry)
    }
}
