//! Administration in the sync server's store: users of every tenant as an
//! operator sees them (search, filters, paging), the changes an admin makes
//! to them (plan, role, suspension), and the audit log those changes append
//! to.
//!
//! Every admin change and its audit entry are one transaction, so no change
//! goes unrecorded and no entry records a change that did not happen. Admin
//! transactions take turns: SQLite's write lock (`BEGIN IMMEDIATE`), and on
//! PostgreSQL an exclusive lock on `audit_log` taken first, so appends are
//! serialised and the hash chain cannot fork, on any number of instances.
//!
//! The log is append-only: triggers refuse `UPDATE` and `DELETE` (and
//! `TRUNCATE` on PostgreSQL). Each entry's hash covers its fields and the
//! previous entry's hash; [`ServerStore::verify_audit_chain`] recomputes the
//! chain. Entries hold views of users and plans, never credentials.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use crate::accounts::{Role, timestamp};
use crate::events::{EventKind, NewEvent, record_event};
use crate::local::parse_id;
use crate::{Backend, ServerStore, StoreError};

/// The previous hash of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where an account stands, as the admin's user list filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Signed up and paid up (or on a free plan).
    Active,
    /// Within the trial.
    Trialing,
    /// The last payment failed.
    PastDue,
    /// Suspended by an admin: no credential works.
    Suspended,
}

impl UserStatus {
    fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Trialing => "trialing",
            UserStatus::PastDue => "past_due",
            UserStatus::Suspended => "suspended",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "active" => Ok(UserStatus::Active),
            "trialing" => Ok(UserStatus::Trialing),
            "past_due" => Ok(UserStatus::PastDue),
            "suspended" => Ok(UserStatus::Suspended),
            other => Err(StoreError::corrupt(
                "users",
                format!("unknown status `{other}`"),
            )),
        }
    }
}

/// A user as an admin sees them (never a password hash or a token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdminUser {
    /// The user.
    pub id: Uuid,
    /// Their tenant.
    pub tenant_id: Uuid,
    /// Their address.
    pub email: String,
    /// Their display name.
    pub name: String,
    /// Their role on the server.
    pub role: Role,
    /// Their plan's key.
    pub plan: String,
    /// Where the account stands now.
    pub status: UserStatus,
    /// When the trial ends (RFC 3339), if they have one.
    pub trial_ends_at: Option<String>,
    /// When an admin suspended them, while suspended.
    pub suspended_at: Option<String>,
    /// When the account was created.
    pub created_at: String,
}

/// A signed-in device of a user, as an admin sees it (never its tokens).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceSession {
    /// The session.
    pub id: Uuid,
    /// The name the device gave.
    pub device_name: String,
    /// When it signed in.
    pub created_at: String,
}

/// How the user list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserSort {
    /// By creation time.
    #[default]
    CreatedAt,
    /// By address.
    Email,
    /// By display name.
    Name,
}

/// What the admin's user list asks for.
#[derive(Debug, Clone, Default)]
pub struct UserSearch {
    /// Part of the address or name, any case.
    pub text: Option<String>,
    /// Only users on this plan.
    pub plan: Option<String>,
    /// Only users with this role.
    pub role: Option<Role>,
    /// Only users in this standing.
    pub status: Option<UserStatus>,
    /// The order.
    pub sort: UserSort,
    /// Largest first.
    pub descending: bool,
    /// Users to skip.
    pub offset: u64,
    /// Users to return at most.
    pub limit: u64,
}

/// One page of users.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserPage {
    /// The users on this page.
    pub users: Vec<AdminUser>,
    /// How many users match, on all pages.
    pub total: u64,
}

/// A change an admin makes to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminUserChange {
    /// Move them to this plan.
    Plan(String),
    /// Give them this role.
    Role(Role),
    /// Suspend them: every session is revoked, API keys stop working, and
    /// they cannot sign in until reactivated.
    Suspend,
    /// Lift a suspension.
    Reactivate,
    /// End the trial at this time (`None`: end it now, no trial).
    Trial(Option<DateTime<Utc>>),
    /// Sign them out of every device (every session revoked).
    RevokeSessions,
}

impl AdminUserChange {
    /// The audit log's name for it.
    pub fn action_name(&self) -> &'static str {
        match self {
            AdminUserChange::Plan(_) => "user.plan",
            AdminUserChange::Role(_) => "user.role",
            AdminUserChange::Suspend => "user.suspend",
            AdminUserChange::Reactivate => "user.reactivate",
            AdminUserChange::Trial(_) => "user.trial",
            AdminUserChange::RevokeSessions => "user.sessions.revoke",
        }
    }
}

/// Who made an admin change, and from where.
#[derive(Debug, Clone)]
pub struct AuditActor {
    /// The admin.
    pub user_id: Uuid,
    /// The client address the request came from.
    pub address: String,
}

/// What an admin change led to.
#[derive(Debug, Clone)]
pub enum AdminChange {
    /// Applied and recorded.
    Done {
        /// The user after the change.
        user: Box<AdminUser>,
        /// The entry that records it.
        entry: Box<AuditEntry>,
    },
    /// No user has this id; nothing changed.
    NoSuchUser,
    /// No plan has this key; nothing changed.
    UnknownPlan,
    /// The change would leave the server without an active admin; nothing changed.
    LastAdmin,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Its place in the chain, from 1 without gaps.
    pub seq: i64,
    /// Its id.
    pub id: Uuid,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// The admin who acted.
    pub actor_id: Uuid,
    /// Their address at the time.
    pub actor_email: String,
    /// What they did (`user.plan`, `user.role`, `user.suspend`,
    /// `user.reactivate`, `user.trial`, `user.sessions.revoke`, `plan.put`).
    pub action: String,
    /// What kind of thing it was done to (`user`, `plan`).
    pub target_kind: String,
    /// Which one (a user id or a plan key).
    pub target_id: String,
    /// The target before, as JSON.
    pub before: serde_json::Value,
    /// The target after, as JSON.
    pub after: serde_json::Value,
    /// The client address the request came from.
    pub address: String,
    /// The hash of the entry before (zeros for the first).
    pub previous_hash: String,
    /// SHA-256 (hex) of this entry's fields and `previous_hash`.
    pub hash: String,
}

/// What the audit log's list asks for (newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries by this admin.
    pub actor: Option<Uuid>,
    /// Only entries of this action.
    pub action: Option<String>,
    /// Only entries about this target (user id or plan key).
    pub target: Option<String>,
    /// Entries to skip.
    pub offset: u64,
    /// Entries to return at most.
    pub limit: u64,
}

/// One page of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditPage {
    /// The entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// How many entries match, on all pages.
    pub total: u64,
}

/// What recomputing the chain found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "chain", rename_all = "snake_case")]
pub enum ChainCheck {
    /// Every entry is where it should be and hashes to what it says.
    Intact {
        /// Entries checked.
        entries: u64,
        /// The last entry's hash (keep it elsewhere to notice a cut tail).
        head: String,
    },
    /// The first entry that does not fit.
    Broken {
        /// Its place.
        seq: i64,
        /// What is wrong with it.
        reason: String,
    },
}

/// The status of a user row at `$now`, in SQL both databases speak.
fn status_sql(now_param: &str) -> String {
    format!(
        "CASE WHEN suspended_at IS NOT NULL THEN 'suspended'
              WHEN payment_failed <> 0 THEN 'past_due'
              WHEN trial_ends_at IS NOT NULL AND trial_ends_at > {now_param} THEN 'trialing'
              ELSE 'active' END"
    )
}

const ADMIN_USER_COLUMNS: &str =
    "id, tenant_id, email, name, role, plan, trial_ends_at, suspended_at, created_at";

fn admin_user(row: &AnyRow) -> Result<AdminUser, StoreError> {
    Ok(AdminUser {
        id: parse_id(&row.get::<String, _>("id"), "users")?,
        tenant_id: parse_id(&row.get::<String, _>("tenant_id"), "users")?,
        email: row.get("email"),
        name: row.get("name"),
        role: Role::parse(&row.get::<String, _>("role"))?,
        plan: row.get("plan"),
        status: UserStatus::parse(&row.get::<String, _>("status"))?,
        trial_ends_at: row.get("trial_ends_at"),
        suspended_at: row.get("suspended_at"),
        created_at: row.get("created_at"),
    })
}

/// `text` for a `LIKE … ESCAPE '\'` that finds it anywhere, any case.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for character in text.to_lowercase().chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// Numbered parameters for a query built in parts (every value is text).
#[derive(Default)]
struct Params(Vec<String>);

impl Params {
    fn add(&mut self, value: impl Into<String>) -> String {
        self.0.push(value.into());
        format!("${}", self.0.len())
    }

    fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        for value in &self.0 {
            query = query.bind(value.as_str());
        }
        query
    }
}

impl ServerStore {
    /// A page of the users of every tenant that match `search`; a page past
    /// the end is empty (with the total).
    pub async fn search_users(
        &self,
        search: &UserSearch,
        now: DateTime<Utc>,
    ) -> Result<UserPage, StoreError> {
        let mut params = Params::default();
        let status = status_sql(&params.add(timestamp(now)));
        let mut conditions = Vec::new();
        if let Some(text) = &search.text {
            if self.backend() == Backend::Sqlite && text.chars().count() >= 3 {
                // The trigram index (migration 0014): the text as one
                // phrase matches it anywhere, in any case.
                let phrase = params.add(format!("\"{}\"", text.replace('"', "\"\"")));
                conditions.push(format!(
                    "rowid IN (SELECT rowid FROM users_search WHERE users_search MATCH {phrase})"
                ));
            } else {
                // PostgreSQL answers this from its trigram indexes; shorter
                // texts on SQLite read every user.
                let pattern = contains_pattern(text);
                let email = params.add(pattern.clone());
                let name = params.add(pattern);
                conditions.push(format!(
                    "(LOWER(email) LIKE {email} ESCAPE '\\' OR LOWER(name) LIKE {name} ESCAPE '\\')"
                ));
            }
        }
        if let Some(plan) = &search.plan {
            conditions.push(format!("plan = {}", params.add(plan.as_str())));
        }
        if let Some(role) = search.role {
            conditions.push(format!("role = {}", params.add(role.as_str())));
        }
        if let Some(wanted) = search.status {
            conditions.push(format!("({status}) = {}", params.add(wanted.as_str())));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let column = match search.sort {
            UserSort::CreatedAt => "created_at",
            UserSort::Email => "email",
            UserSort::Name => "name",
        };
        let direction = if search.descending { "DESC" } else { "ASC" };
        // Offset and limit are numbers the caller checked, not text.
        let rows = params
            .bind(sqlx::query(&format!(
                "SELECT {ADMIN_USER_COLUMNS}, {status} AS status FROM users {filter}
                 ORDER BY {column} {direction}, id {direction} LIMIT {} OFFSET {}",
                search.limit, search.offset
            )))
            .fetch_all(&self.pool)
            .await?;
        let users = rows.iter().map(admin_user).collect::<Result<_, _>>()?;
        // The same parameters again (the status expression uses the first).
        let counting = format!(
            "SELECT COUNT(*) FROM (SELECT {status} AS status FROM users {filter}) AS matching"
        );
        let mut count = sqlx::query_scalar::<_, i64>(&counting);
        for value in &params.0 {
            count = count.bind(value.as_str());
        }
        let total = count.fetch_one(&self.pool).await?;
        Ok(UserPage {
            users,
            total: u64::try_from(total).map_err(|e| StoreError::corrupt("users", e))?,
        })
    }

    /// One user of any tenant, as an admin sees them.
    pub async fn admin_user(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<AdminUser>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ADMIN_USER_COLUMNS}, {} AS status FROM users WHERE id = $2",
            status_sql("$1")
        ))
        .bind(timestamp(now))
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(admin_user).transpose()
    }

    /// A user's live sessions (signed-in devices), newest first.
    pub async fn user_devices(&self, user_id: Uuid) -> Result<Vec<DeviceSession>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, device_name, created_at FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeviceSession {
                    id: parse_id(&row.get::<String, _>("id"), "sessions")?,
                    device_name: row.get("device_name"),
                    created_at: row.get("created_at"),
                })
            })
            .collect()
    }

    /// Applies an admin's change to a user and appends its audit entry, in
    /// one transaction.
    pub async fn change_user_as_admin(
        &self,
        user_id: Uuid,
        change: &AdminUserChange,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<AdminChange, StoreError> {
        let mut transaction = self.admin_transaction().await?;
        let Some(before) = locked_user(&mut transaction, self.backend(), user_id, now).await?
        else {
            transaction.rollback().await?;
            return Ok(AdminChange::NoSuchUser);
        };
        let now_text = timestamp(now);
        let id = user_id.to_string();
        let sessions_before = live_sessions(&mut transaction, &id).await?;
        let loses_admin = before.role == Role::Admin
            && matches!(
                change,
                AdminUserChange::Role(Role::User) | AdminUserChange::Suspend
            );
        if loses_admin {
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND suspended_at IS NULL AND id <> $1",
            )
            .bind(&id)
            .fetch_one(&mut *transaction)
            .await?;
            if others == 0 {
                transaction.rollback().await?;
                return Ok(AdminChange::LastAdmin);
            }
        }
        match change {
            AdminUserChange::Plan(plan) => {
                let known: Option<String> =
                    sqlx::query_scalar("SELECT key FROM plans WHERE key = $1")
                        .bind(plan)
                        .fetch_optional(&mut *transaction)
                        .await?;
                if known.is_none() {
                    transaction.rollback().await?;
                    return Ok(AdminChange::UnknownPlan);
                }
                sqlx::query("UPDATE users SET plan = $1, updated_at = $2 WHERE id = $3")
                    .bind(plan)
                    .bind(&now_text)
                    .bind(&id)
                    .execute(&mut *transaction)
                    .await?;
                if &before.plan != plan {
                    record_event(
                        &mut transaction,
                        NewEvent {
                            data: serde_json::json!({ "before": before.plan, "after": plan, "by": "admin" }),
                            ..NewEvent::of_user(
                                EventKind::PlanChanged,
                                before.tenant_id,
                                user_id,
                                now,
                            )
                        },
                    )
                    .await?;
                    let name = crate::outbox::plan_name(&mut transaction, plan).await?;
                    crate::outbox::queue_user_mail(
                        &mut transaction,
                        user_id,
                        "plan_changed",
                        format!("plan_changed:{user_id}:{now_text}"),
                        serde_json::json!({ "plan": name }),
                        now,
                    )
                    .await?;
                }
            }
            AdminUserChange::Role(role) => {
                sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
                    .bind(role.as_str())
                    .bind(&now_text)
                    .bind(&id)
                    .execute(&mut *transaction)
                    .await?;
            }
            AdminUserChange::Suspend => {
                sqlx::query(
                    "UPDATE users SET suspended_at = COALESCE(suspended_at, $1), updated_at = $2 WHERE id = $3",
                )
                .bind(&now_text)
                .bind(&now_text)
                .bind(&id)
                .execute(&mut *transaction)
                .await?;
                revoke_every_session(&mut transaction, &id, "account suspended", &now_text).await?;
            }
            AdminUserChange::RevokeSessions => {
                revoke_every_session(&mut transaction, &id, "signed out by an admin", &now_text)
                    .await?;
            }
            AdminUserChange::Trial(ends_at) => {
                sqlx::query("UPDATE users SET trial_ends_at = $1, updated_at = $2 WHERE id = $3")
                    .bind(ends_at.map(timestamp))
                    .bind(&now_text)
                    .bind(&id)
                    .execute(&mut *transaction)
                    .await?;
            }
            AdminUserChange::Reactivate => {
                sqlx::query("UPDATE users SET suspended_at = NULL, updated_at = $1 WHERE id = $2")
                    .bind(&now_text)
                    .bind(&id)
                    .execute(&mut *transaction)
                    .await?;
            }
        }
        let after = locked_user(&mut transaction, self.backend(), user_id, now)
            .await?
            .ok_or_else(|| StoreError::corrupt("users", "the changed user vanished"))?;
        let sessions_after = live_sessions(&mut transaction, &id).await?;
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: change.action_name(),
                target_kind: "user",
                target_id: &id,
                before: user_audit_view(&before, sessions_before),
                after: user_audit_view(&after, sessions_after),
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(AdminChange::Done {
            user: Box::new(after),
            entry: Box::new(entry),
        })
    }

    /// Creates or replaces a plan, as an admin, and appends its audit entry
    /// (the plan before, or `null`, and after) in the same transaction.
    pub async fn put_plan_as_admin(
        &self,
        plan: &orrery_domain::policy::Plan,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, StoreError> {
        let definition =
            serde_json::to_string(plan).map_err(|error| StoreError::corrupt("plans", error))?;
        let mut transaction = self.admin_transaction().await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT definition FROM plans WHERE key = $1")
                .bind(&plan.key)
                .fetch_optional(&mut *transaction)
                .await?;
        let before = match before {
            Some(text) => {
                serde_json::from_str(&text).map_err(|error| StoreError::corrupt("plans", error))?
            }
            None => serde_json::Value::Null,
        };
        sqlx::query(
            "INSERT INTO plans (key, definition, position, updated_at)
             VALUES ($1, $2, (SELECT COALESCE(MAX(position), -1) + 1 FROM plans), $3)
             ON CONFLICT (key) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
        )
        .bind(&plan.key)
        .bind(&definition)
        .bind(timestamp(now))
        .execute(&mut *transaction)
        .await?;
        let after =
            serde_json::to_value(plan).map_err(|error| StoreError::corrupt("plans", error))?;
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: "plan.put",
                target_kind: "plan",
                target_id: &plan.key,
                before,
                after,
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(entry)
    }

    /// A page of the audit log, newest first; a page past the end is empty.
    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<AuditPage, StoreError> {
        let mut params = Params::default();
        let mut conditions = Vec::new();
        if let Some(actor) = filter.actor {
            conditions.push(format!("actor_id = {}", params.add(actor.to_string())));
        }
        if let Some(action) = &filter.action {
            conditions.push(format!("action = {}", params.add(action.as_str())));
        }
        if let Some(target) = &filter.target {
            conditions.push(format!("target_id = {}", params.add(target.as_str())));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let rows = params
            .bind(sqlx::query(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log {where_clause} ORDER BY seq DESC LIMIT {} OFFSET {}",
                filter.limit, filter.offset
            )))
            .fetch_all(&self.pool)
            .await?;
        let entries = rows.iter().map(audit_entry).collect::<Result<_, _>>()?;
        let counting = format!("SELECT COUNT(*) FROM audit_log {where_clause}");
        let mut count = sqlx::query_scalar::<_, i64>(&counting);
        for value in &params.0 {
            count = count.bind(value.as_str());
        }
        let total = count.fetch_one(&self.pool).await?;
        Ok(AuditPage {
            entries,
            total: u64::try_from(total).map_err(|e| StoreError::corrupt("audit_log", e))?,
        })
    }

    /// Recomputes the audit log's hash chain from the first entry: numbers
    /// without gaps, each entry's previous hash the hash of the one before,
    /// each hash what its fields give.
    pub async fn verify_audit_chain(&self) -> Result<ChainCheck, StoreError> {
        const BATCH: i64 = 1000;
        let mut previous = GENESIS_HASH.to_owned();
        let mut expected_seq = 1i64;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT {BATCH}"
            ))
            .bind(expected_seq)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(ChainCheck::Intact {
                    entries: (expected_seq - 1) as u64,
                    head: previous,
                });
            }
            for row in &rows {
                let seq: i64 = row.get("seq");
                if seq != expected_seq {
                    return Ok(ChainCheck::Broken {
                        seq: expected_seq,
                        reason: format!("entry {expected_seq} is missing"),
                    });
                }
                let stored_previous: String = row.get("previous_hash");
                if stored_previous != previous {
                    return Ok(ChainCheck::Broken {
                        seq,
                        reason: "its previous hash is not the hash of the entry before".into(),
                    });
                }
                let fields = StoredFields::of(row);
                if fields.hash() != row.get::<String, _>("hash") {
                    return Ok(ChainCheck::Broken {
                        seq,
                        reason: "its contents do not match its hash".into(),
                    });
                }
                previous = row.get("hash");
                expected_seq += 1;
            }
        }
    }

    /// A write transaction for an admin change: on PostgreSQL it first takes
    /// the audit log's exclusive lock, so admin changes (and appends) take
    /// turns across instances; SQLite's write lock already does.
    pub(crate) async fn admin_transaction(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let mut transaction = self.write_transaction().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("LOCK TABLE audit_log IN EXCLUSIVE MODE")
                .execute(&mut *transaction)
                .await?;
        }
        Ok(transaction)
    }
}

const AUDIT_COLUMNS: &str = "seq, id, at, actor_id, actor_email, action, target_kind, target_id, before_json, after_json, address, previous_hash, hash";

fn audit_entry(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let json = |column: &str| {
        serde_json::from_str(&row.get::<String, _>(column))
            .map_err(|error| StoreError::corrupt("audit_log", error))
    };
    Ok(AuditEntry {
        seq: row.get("seq"),
        id: parse_id(&row.get::<String, _>("id"), "audit_log")?,
        at: row.get("at"),
        actor_id: parse_id(&row.get::<String, _>("actor_id"), "audit_log")?,
        actor_email: row.get("actor_email"),
        action: row.get("action"),
        target_kind: row.get("target_kind"),
        target_id: row.get("target_id"),
        before: json("before_json")?,
        after: json("after_json")?,
        address: row.get("address"),
        previous_hash: row.get("previous_hash"),
        hash: row.get("hash"),
    })
}

/// An entry's fields as stored, which its hash covers.
struct StoredFields {
    seq: i64,
    values: [String; 11],
}

impl StoredFields {
    fn of(row: &AnyRow) -> Self {
        let text = |column: &str| row.get::<String, _>(column);
        Self {
            seq: row.get("seq"),
            values: [
                text("id"),
                text("at"),
                text("actor_id"),
                text("actor_email"),
                text("action"),
                text("target_kind"),
                text("target_id"),
                text("before_json"),
                text("after_json"),
                text("address"),
                text("previous_hash"),
            ],
        }
    }

    /// SHA-256 (hex) of the fields as one JSON array: unambiguous however
    /// the texts read.
    fn hash(&self) -> String {
        let mut array = vec![serde_json::Value::from(self.seq)];
        array.extend(self.values.iter().cloned().map(serde_json::Value::from));
        let canonical = serde_json::Value::Array(array).to_string();
        Sha256::digest(canonical.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// The parts of a user an audit entry keeps: what admins change, nothing secret.
pub(crate) fn user_audit_view(user: &AdminUser, live_sessions: i64) -> serde_json::Value {
    serde_json::json!({
        "email": user.email,
        "plan": user.plan,
        "role": user.role,
        "suspended": user.suspended_at.is_some(),
        "trial_ends_at": user.trial_ends_at,
        "live_sessions": live_sessions,
    })
}

/// How many sessions of the user are signed in.
pub(crate) async fn live_sessions(
    transaction: &mut Transaction<'static, Any>,
    user_id: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&mut **transaction)
    .await?)
}

/// Ends every session of a user now: their access and refresh tokens with it.
async fn revoke_every_session(
    transaction: &mut Transaction<'static, Any>,
    user_id: &str,
    why: &str,
    now_text: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_why = $2 WHERE user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_text)
    .bind(why)
    .bind(user_id)
    .execute(&mut **transaction)
    .await?;
    sqlx::query(
        "DELETE FROM access_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)",
    )
    .bind(user_id)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

/// The user row an admin change works on; on PostgreSQL locked until
/// commit (SQLite's write lock covers the whole database).
pub(crate) async fn locked_user(
    transaction: &mut Transaction<'static, Any>,
    backend: Backend,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<AdminUser>, StoreError> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!(
        "SELECT {ADMIN_USER_COLUMNS}, {} AS status FROM users WHERE id = $2{lock}",
        status_sql("$1")
    ))
    .bind(timestamp(now))
    .bind(user_id.to_string())
    .fetch_optional(&mut **transaction)
    .await?;
    row.as_ref().map(admin_user).transpose()
}

pub(crate) struct AuditDraft<'a> {
    pub actor: &'a AuditActor,
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: &'a str,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub now: DateTime<Utc>,
}

/// Appends one entry after the last one, inside the caller's admin
/// transaction (which holds the lock that makes appends take turns).
pub(crate) async fn append_audit(
    transaction: &mut Transaction<'static, Any>,
    draft: AuditDraft<'_>,
) -> Result<AuditEntry, StoreError> {
    let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut **transaction)
        .await?;
    let (seq, previous_hash) = match last {
        Some(row) => (row.get::<i64, _>("seq") + 1, row.get::<String, _>("hash")),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let actor_email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(draft.actor.user_id.to_string())
        .fetch_optional(&mut **transaction)
        .await?
        .unwrap_or_default();
    let id = Uuid::now_v7();
    let at = timestamp(draft.now);
    let fields = StoredFields {
        seq,
        values: [
            id.to_string(),
            at.clone(),
            draft.actor.user_id.to_string(),
            actor_email.clone(),
            draft.action.to_owned(),
            draft.target_kind.to_owned(),
            draft.target_id.to_owned(),
            draft.before.to_string(),
            draft.after.to_string(),
            draft.actor.address.clone(),
            previous_hash.clone(),
        ],
    };
    let hash = fields.hash();
    let inserting = format!(
        "INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    let mut insert = sqlx::query(&inserting).bind(seq);
    for value in &fields.values {
        insert = insert.bind(value.as_str());
    }
    insert
        .bind(hash.as_str())
        .execute(&mut **transaction)
        .await?;
    // The event log counts admin actions; who did what to whom stays in the
    // audit log.
    record_event(
        transaction,
        NewEvent {
            kind: EventKind::AdminAction,
            tenant_id: None,
            user_id: Some(draft.actor.user_id),
            subject: "",
            data: serde_json::json!({ "action": draft.action, "target_kind": draft.target_kind, "audit_seq": seq }),
            at: draft.now,
        },
    )
    .await?;
    Ok(AuditEntry {
        seq,
        id,
        at,
        actor_id: draft.actor.user_id,
        actor_email,
        action: draft.action.to_owned(),
        target_kind: draft.target_kind.to_owned(),
        target_id: draft.target_id.to_owned(),
        before: draft.before,
        after: draft.after,
        address: draft.actor.address.clone(),
        previous_hash,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trigram index answers searches of three characters or more and
    /// follows renames and deletions; shorter ones read every user.
    #[tokio::test]
    async fn user_search_finds_any_part_and_follows_changes() {
        let directory = tempfile::tempdir().unwrap();
        let store = ServerStore::open_sqlite(&directory.path().join("server.db"))
            .await
            .unwrap();
        let now = Utc::now();
        let mut ids = Vec::new();
        for (email, name) in [
            ("grace@orrery.test", "Grace Hopper"),
            ("ada@orrery.test", "Ada Lovelace"),
            ("50%_off@orrery.test", "Percent \"Quote\""),
        ] {
            let user = crate::NewUser {
                email,
                email_verified: true,
                password_hash: None,
                name,
                trial_ends_at: None,
            };
            ids.push(store.create_user(&user, now).await.unwrap().unwrap());
        }
        let find = |text: &str| {
            let store = store.clone();
            let text = text.to_owned();
            async move {
                let search = UserSearch {
                    text: Some(text),
                    plan: None,
                    role: None,
                    status: None,
                    sort: UserSort::Email,
                    descending: false,
                    offset: 0,
                    limit: 25,
                };
                let page = store.search_users(&search, Utc::now()).await.unwrap();
                page.users
                    .into_iter()
                    .map(|user| user.email)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(find("HOPP").await, ["grace@orrery.test"]);
        assert_eq!(find("orrery.test").await.len(), 3);
        assert_eq!(
            find("%_o").await,
            ["50%_off@orrery.test"],
            "wildcards are literal"
        );
        assert_eq!(
            find("\"quote\"").await,
            ["50%_off@orrery.test"],
            "quotes are literal"
        );
        assert_eq!(
            find("ov").await,
            ["ada@orrery.test"],
            "two characters: a scan"
        );
        assert!(find("nobody").await.is_empty());
        let ada = &ids[1];
        store
            .update_profile(
                ada.tenant_id,
                ada.id,
                &crate::ProfileChange {
                    name: Some("Countess of Lovelace".into()),
                    ..Default::default()
                },
                now,
            )
            .await
            .unwrap();
        assert_eq!(find("countess").await, ["ada@orrery.test"]);
        assert!(find("Ada Lov").await.is_empty(), "the old name is gone");
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(ids[0].id.to_string())
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(
            find("hopper").await.is_empty(),
            "a deleted user is not found"
        );
    }

    #[test]
    fn search_patterns_match_wildcards_literally() {
        assert_eq!(contains_pattern("Ann"), "%ann%");
        assert_eq!(contains_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
