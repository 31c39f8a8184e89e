//! Accounts in the sync server's store: tenants, users, linked OAuth
//! identities, sessions with their access and refresh tokens, API keys and
//! password resets.
//!
//! Secrets never reach this layer: callers pass SHA-256 hashes of tokens and
//! argon2id strings of passwords. Times come from the caller (the server's
//! clock) so expiry is decided by one clock. Every read of tenant data takes
//! the tenant and filters on it.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use orrery_domain::api_scope::{ApiKeyMode, ApiScopes};

use crate::events::{EventKind, NewEvent, record_event};
use crate::local::parse_id;
use crate::{Backend, ServerStore, StoreError};

/// What a user may do across the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A regular account.
    User,
    /// An operator of this server (the first account registered on it).
    Admin,
}

impl Role {
    /// The stored name (`user`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::corrupt(
                "users",
                format!("unknown role `{other}`"),
            )),
        }
    }
}

/// The colour scheme a user chose for the whole app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Light.
    Light,
    /// Dark.
    Dark,
    /// Follow the operating system.
    System,
}

impl Theme {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
            Theme::System => "system",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "light" => Ok(Theme::Light),
            "dark" => Ok(Theme::Dark),
            "system" => Ok(Theme::System),
            other => Err(StoreError::corrupt(
                "users",
                format!("unknown theme `{other}`"),
            )),
        }
    }
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user.
    pub id: Uuid,
    /// The tenant every row the user authors belongs to.
    pub tenant_id: Uuid,
    /// Lower-cased address.
    pub email: String,
    /// Whether the address was confirmed (by an OAuth provider).
    pub email_verified: bool,
    /// argon2id PHC string, if the user has a password.
    pub password_hash: Option<String>,
    /// Display name.
    pub name: String,
    /// Server-wide role.
    pub role: Role,
    /// The plan's key (`free`, `pro`, ...).
    pub plan: String,
    /// Chosen theme.
    pub theme: Theme,
    /// Settings as a JSON object text.
    pub settings: String,
    /// When the trial ends, if the user has one.
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When an admin suspended the account, while it is suspended.
    pub suspended_at: Option<DateTime<Utc>>,
}

/// A user to create, with a tenant of their own.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Lower-cased address.
    pub email: &'a str,
    /// Whether the address is confirmed.
    pub email_verified: bool,
    /// argon2id PHC string, or none for OAuth-only accounts.
    pub password_hash: Option<&'a str>,
    /// Display name.
    pub name: &'a str,
    /// When the trial ends.
    pub trial_ends_at: Option<DateTime<Utc>>,
}

/// Changes to a profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    /// New display name.
    pub name: Option<String>,
    /// New theme.
    pub theme: Option<Theme>,
    /// New settings (JSON object text).
    pub settings: Option<String>,
}

/// Who presented a credential: resolved from an access token or an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: Uuid,
    /// The tenant the request works in: their own, or a team's they are a
    /// member of (the workspace they chose).
    pub tenant_id: Uuid,
    /// Their role.
    pub role: Role,
    /// The plan key the workspace works on: theirs, or the team's.
    pub plan: String,
    /// Their role in the team, when the workspace is a team's; `None` in
    /// their personal workspace, where they may do everything.
    pub team_role: Option<orrery_domain::team::TeamRole>,
    /// The session (for access tokens) or API key the credential belongs to.
    pub credential: Credential,
}

/// Which kind of credential authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An access token of this session.
    Session(Uuid),
    /// This API key, which may do what its scopes allow.
    ApiKey {
        /// The key.
        id: Uuid,
        /// What it may do.
        scopes: ApiScopes,
        /// Live or test.
        mode: ApiKeyMode,
    },
    /// A message to this messenger channel, answered on its owner's behalf.
    Channel(Uuid),
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was valid and is now used up; issue the next pair for this session.
    Rotated {
        /// The session (token family).
        session_id: Uuid,
        /// Its user.
        user_id: Uuid,
        /// The user's tenant.
        tenant_id: Uuid,
    },
    /// The token had been used before: the whole session is now revoked.
    Reused {
        /// The revoked session.
        session_id: Uuid,
    },
    /// The token expired, or its session was revoked.
    Expired,
    /// No such token.
    Unknown,
}

/// An API key as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyRecord {
    /// The key's id.
    pub id: Uuid,
    /// The name its owner gave it.
    pub name: String,
    /// The first characters of the key.
    pub prefix: String,
    /// When it was created.
    pub created_at: String,
    /// When it was last rotated.
    pub rotated_at: Option<String>,
    /// When it last authenticated a request.
    pub last_used_at: Option<String>,
    /// What it may do.
    #[serde(serialize_with = "scope_names")]
    pub scopes: ApiScopes,
    /// Live or test.
    pub mode: ApiKeyMode,
}

fn scope_names<S: serde::Serializer>(scopes: &ApiScopes, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(scopes.names())
}

fn parse_mode(text: &str) -> Result<ApiKeyMode, StoreError> {
    ApiKeyMode::parse(text)
        .ok_or_else(|| StoreError::corrupt("api_keys", format!("unknown key mode `{text}`")))
}

fn parse_scopes(text: &str) -> Result<ApiScopes, StoreError> {
    ApiScopes::parse(text).map_err(|error| StoreError::corrupt("api_keys", error))
}

/// What creating an API key led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewApiKey {
    /// Stored.
    Created(ApiKeyRecord),
    /// The user already holds this many live keys; nothing was stored.
    AtLimit(usize),
}

/// RFC 3339 text with milliseconds: sorts like the instant it names.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_time(text: &str, table: &'static str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| StoreError::corrupt(table, error))
}

const USER_COLUMNS: &str = "id, tenant_id, email, email_verified, password_hash, name, role, plan, theme, settings, trial_ends_at, created_at, suspended_at";

fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: parse_id(&row.get::<String, _>("id"), "users")?,
        tenant_id: parse_id(&row.get::<String, _>("tenant_id"), "users")?,
        email: row.get("email"),
        email_verified: row.get::<i64, _>("email_verified") != 0,
        password_hash: row.get("password_hash"),
        name: row.get("name"),
        role: Role::parse(&row.get::<String, _>("role"))?,
        plan: row.get("plan"),
        theme: Theme::parse(&row.get::<String, _>("theme"))?,
        settings: row.get("settings"),
        trial_ends_at: row
            .get::<Option<String>, _>("trial_ends_at")
            .map(|text| parse_time(&text, "users"))
            .transpose()?,
        created_at: parse_time(&row.get::<String, _>("created_at"), "users")?,
        suspended_at: row
            .get::<Option<String>, _>("suspended_at")
            .map(|text| parse_time(&text, "users"))
            .transpose()?,
    })
}

impl ServerStore {
    /// Creates a user in a new tenant of their own. The first account on a
    /// server becomes its admin. Returns `None` if the address is taken.
    pub async fn create_user(
        &self,
        user: &NewUser<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StoreError> {
        let mut transaction = self.write_transaction().await?;
        let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(user.email)
            .fetch_optional(&mut *transaction)
            .await?;
        if taken.is_some() {
            return Ok(None);
        }
        let tenant_id = Uuid::now_v7();
        let user_id = Uuid::now_v7();
        // The first account is a fact stored once: of two first registrations
        // at once (on PostgreSQL, possibly on two instances) exactly one
        // inserts it; the other waits for that commit and inserts nothing.
        let first = sqlx::query(
            "INSERT INTO server_facts (fact, value) VALUES ('first_account', $1) ON CONFLICT (fact) DO NOTHING",
        )
        .bind(user_id.to_string())
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            == 1;
        let role = if first { Role::Admin } else { Role::User };
        let now_text = timestamp(now);
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant_id.to_string())
            .bind(user.name)
            .bind(&now_text)
            .execute(&mut *transaction)
            .await?;
        // Another registration of the same address may have committed since
        // the check above (PostgreSQL reads committed rows): then nothing is
        // inserted and the address is taken.
        let inserted = sqlx::query(
            "INSERT INTO users (id, tenant_id, email, email_verified, password_hash, name, role, trial_ends_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(user_id.to_string())
        .bind(tenant_id.to_string())
        .bind(user.email)
        .bind(user.email_verified as i64)
        .bind(user.password_hash)
        .bind(user.name)
        .bind(role.as_str())
        .bind(user.trial_ends_at.map(timestamp))
        .bind(&now_text)
        .bind(&now_text)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if inserted == 0 {
            transaction.rollback().await?;
            return Ok(None);
        }
        record_event(
            &mut transaction,
            NewEvent::of_user(EventKind::AccountRegistered, tenant_id, user_id, now),
        )
        .await?;
        crate::outbox::queue_user_mail(
            &mut transaction,
            user_id,
            "welcome",
            format!("welcome:{user_id}"),
            serde_json::json!({}),
            now,
        )
        .await?;
        let record = fetch_user(&mut transaction, user_id).await?;
        transaction.commit().await?;
        Ok(record)
    }

    /// The user with this (lower-cased) address.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user `user_id` of tenant `tenant_id`.
    pub async fn user(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Applies a profile change and returns the updated user.
    pub async fn update_profile(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        change: &ProfileChange,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StoreError> {
        sqlx::query(
            "UPDATE users SET name = COALESCE($1, name), theme = COALESCE($2, theme),
                 settings = COALESCE($3, settings), updated_at = $4
             WHERE tenant_id = $5 AND id = $6",
        )
        .bind(change.name.as_deref())
        .bind(change.theme.map(Theme::as_str))
        .bind(change.settings.as_deref())
        .bind(timestamp(now))
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .execute(&self.pool)
        .await?;
        self.user(tenant_id, user_id).await
    }

    /// Sets a user's plan key (billing and admin use this).
    pub async fn set_plan(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        plan: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET plan = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(plan)
            .bind(tenant_id.to_string())
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The user an OAuth identity is linked to.
    pub async fn identity_user(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id =
                 (SELECT user_id FROM identities WHERE provider = $1 AND subject = $2)"
        ))
        .bind(provider)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Links an OAuth identity to a user, marking the address verified.
    pub async fn link_identity(
        &self,
        user: &UserRecord,
        provider: &str,
        subject: &str,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut transaction = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO identities (provider, subject, user_id, tenant_id, email, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, subject) DO NOTHING",
        )
        .bind(provider)
        .bind(subject)
        .bind(user.id.to_string())
        .bind(user.tenant_id.to_string())
        .bind(email)
        .bind(timestamp(now))
        .execute(&mut *transaction)
        .await?;
        sqlx::query("UPDATE users SET email_verified = 1 WHERE tenant_id = $1 AND id = $2")
            .bind(user.tenant_id.to_string())
            .bind(user.id.to_string())
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The providers linked to a user.
    pub async fn identity_providers(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT provider FROM identities WHERE tenant_id = $1 AND user_id = $2 ORDER BY provider",
        )
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Starts a session for a device and stores its first token pair.
    pub async fn create_session(
        &self,
        user: &UserRecord,
        device_name: &str,
        tokens: &TokenPairHashes,
        now: DateTime<Utc>,
    ) -> Result<Uuid, StoreError> {
        let session_id = Uuid::now_v7();
        let mut transaction = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, tenant_id, device_name, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session_id.to_string())
        .bind(user.id.to_string())
        .bind(user.tenant_id.to_string())
        .bind(device_name)
        .bind(timestamp(now))
        .execute(&mut *transaction)
        .await?;
        insert_token_pair(&mut transaction, session_id, tokens).await?;
        record_event(
            &mut transaction,
            NewEvent::of_user(EventKind::SignedIn, user.tenant_id, user.id, now),
        )
        .await?;
        transaction.commit().await?;
        Ok(session_id)
    }

    /// Presents a refresh token. A valid one is used up and the next pair is
    /// stored in the same transaction; one that was used before revokes its
    /// whole session (every access and refresh token of the family).
    pub async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        next: &TokenPairHashes,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let now_text = timestamp(now);
        let mut transaction = self.write_transaction().await?;
        let row = sqlx::query(
            "SELECT r.session_id, r.expires_at, r.used_at, s.revoked_at, s.user_id, s.tenant_id
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
             WHERE r.token_hash = $1",
        )
        .bind(presented_hash)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Unknown);
        };
        let session_id: Uuid = parse_id(&row.get::<String, _>("session_id"), "refresh_tokens")?;
        let user_id: Uuid = parse_id(&row.get::<String, _>("user_id"), "sessions")?;
        let tenant_id: Uuid = parse_id(&row.get::<String, _>("tenant_id"), "sessions")?;
        if row.get::<Option<String>, _>("revoked_at").is_some() {
            return Ok(RefreshOutcome::Expired);
        }
        if row.get::<Option<String>, _>("used_at").is_some() {
            revoke_session_in(
                &mut transaction,
                session_id,
                "refresh token reused",
                &now_text,
            )
            .await?;
            transaction.commit().await?;
            return Ok(RefreshOutcome::Reused { session_id });
        }
        if row.get::<String, _>("expires_at") <= now_text {
            return Ok(RefreshOutcome::Expired);
        }
        let used = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(&now_text)
        .bind(presented_hash)
        .execute(&mut *transaction)
        .await?;
        if used.rows_affected() != 1 {
            // Another request used it between our read and write: a reuse.
            revoke_session_in(
                &mut transaction,
                session_id,
                "refresh token reused",
                &now_text,
            )
            .await?;
            transaction.commit().await?;
            return Ok(RefreshOutcome::Reused { session_id });
        }
        insert_token_pair(&mut transaction, session_id, next).await?;
        transaction.commit().await?;
        Ok(RefreshOutcome::Rotated {
            session_id,
            user_id,
            tenant_id,
        })
    }

    /// Revokes a session: every token of it stops working at once.
    pub async fn revoke_session(
        &self,
        session_id: Uuid,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut transaction = self.write_transaction().await?;
        revoke_session_in(&mut transaction, session_id, why, &timestamp(now)).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Revokes every session of a user (after a password reset).
    pub async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sessions: Vec<String> =
            sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(user_id.to_string())
                .fetch_all(&self.pool)
                .await?;
        for session in sessions {
            self.revoke_session(parse_id(&session, "sessions")?, why, now)
                .await?;
        }
        Ok(())
    }

    /// The user behind an unexpired access token of a live session.
    pub async fn principal_by_access_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id AS session_id, u.id AS user_id, u.tenant_id, u.role, u.plan
             FROM access_tokens a
             JOIN sessions s ON s.id = a.session_id
             JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id
             WHERE a.token_hash = $1 AND a.expires_at > $2 AND s.revoked_at IS NULL
               AND u.suspended_at IS NULL",
        )
        .bind(token_hash)
        .bind(timestamp(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Principal {
                user_id: parse_id(&row.get::<String, _>("user_id"), "users")?,
                tenant_id: parse_id(&row.get::<String, _>("tenant_id"), "users")?,
                role: Role::parse(&row.get::<String, _>("role"))?,
                plan: row.get("plan"),
                team_role: None,
                credential: Credential::Session(parse_id(
                    &row.get::<String, _>("session_id"),
                    "sessions",
                )?),
            })
        })
        .transpose()
    }

    /// Stores a new API key (its hash) for a user, unless they already hold
    /// `limit` live keys. Counting and inserting are one transaction that
    /// holds the user's write lock (SQLite's database lock; the user's row on
    /// PostgreSQL), so parallel creations, on any number of server
    /// instances, cannot pass the limit together.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_api_key(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        name: &str,
        prefix: &str,
        key_hash: &str,
        scopes: ApiScopes,
        mode: ApiKeyMode,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<NewApiKey, StoreError> {
        let mut transaction = self.write_transaction().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT id FROM users WHERE id = $1 AND tenant_id = $2 FOR UPDATE")
                .bind(user_id.to_string())
                .bind(tenant_id.to_string())
                .fetch_optional(&mut *transaction)
                .await?;
        }
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .fetch_one(&mut *transaction)
        .await?;
        let live = usize::try_from(live).map_err(|e| StoreError::corrupt("api_keys", e))?;
        if live >= limit {
            transaction.rollback().await?;
            return Ok(NewApiKey::AtLimit(live));
        }
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, user_id, name, prefix, key_hash, created_at, scopes, mode)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .bind(name)
        .bind(prefix)
        .bind(key_hash)
        .bind(timestamp(now))
        .bind(scopes.to_string())
        .bind(mode.as_str())
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(NewApiKey::Created(ApiKeyRecord {
            id,
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            created_at: timestamp(now),
            rotated_at: None,
            last_used_at: None,
            scopes,
            mode,
        }))
    }

    /// A user's live API keys, newest first.
    pub async fn list_api_keys(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, created_at, rotated_at, last_used_at, scopes, mode FROM api_keys
             WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC",
        )
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ApiKeyRecord {
                    id: parse_id(&row.get::<String, _>("id"), "api_keys")?,
                    name: row.get("name"),
                    prefix: row.get("prefix"),
                    created_at: row.get("created_at"),
                    rotated_at: row.get("rotated_at"),
                    last_used_at: row.get("last_used_at"),
                    scopes: parse_scopes(&row.get::<String, _>("scopes"))?,
                    mode: parse_mode(&row.get::<String, _>("mode"))?,
                })
            })
            .collect()
    }

    /// Replaces a live key's secret; the old one stops working at once.
    pub async fn rotate_api_key(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        key_id: Uuid,
        prefix: &str,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET prefix = $1, key_hash = $2, rotated_at = $3
             WHERE tenant_id = $4 AND user_id = $5 AND id = $6 AND revoked_at IS NULL",
        )
        .bind(prefix)
        .bind(key_hash)
        .bind(timestamp(now))
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .bind(key_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes a live key.
    pub async fn revoke_api_key(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        key_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND id = $4 AND revoked_at IS NULL",
        )
        .bind(timestamp(now))
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .bind(key_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The user behind a live API key; records its use.
    pub async fn principal_by_api_key(
        &self,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>, StoreError> {
        let row = sqlx::query(
            "SELECT k.id AS key_id, k.scopes, k.mode, k.last_used_at, u.id AS user_id, u.tenant_id, u.role, u.plan
             FROM api_keys k JOIN users u ON u.id = k.user_id AND u.tenant_id = k.tenant_id
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND u.suspended_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let key_id: Uuid = parse_id(&row.get::<String, _>("key_id"), "api_keys")?;
        // The last use is kept to the minute: a key calling many times a
        // second writes it once a minute, not once a call.
        let last_used = row
            .get::<Option<String>, _>("last_used_at")
            .and_then(|at| DateTime::parse_from_rfc3339(&at).ok());
        if last_used.is_none_or(|at| now - at.with_timezone(&Utc) >= chrono::Duration::minutes(1)) {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(timestamp(now))
                .bind(key_id.to_string())
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(Principal {
            user_id: parse_id(&row.get::<String, _>("user_id"), "users")?,
            tenant_id: parse_id(&row.get::<String, _>("tenant_id"), "users")?,
            role: Role::parse(&row.get::<String, _>("role"))?,
            plan: row.get("plan"),
            team_role: None,
            credential: Credential::ApiKey {
                id: key_id,
                scopes: parse_scopes(&row.get::<String, _>("scopes"))?,
                mode: parse_mode(&row.get::<String, _>("mode"))?,
            },
        }))
    }

    /// Stores a password-reset token (its hash) for a user.
    pub async fn create_password_reset(
        &self,
        user: &UserRecord,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO password_resets (token_hash, user_id, tenant_id, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user.id.to_string())
            .bind(user.tenant_id.to_string())
            .bind(timestamp(expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user an unexpired, unused reset token belongs to: the id and the
    /// address. Checked before the new password is hashed, so a made-up code
    /// costs a lookup and not an argon2 hash.
    pub async fn password_reset_owner(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.email FROM password_resets r JOIN users u ON u.id = r.user_id
             WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2",
        )
        .bind(token_hash)
        .bind(timestamp(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok((
                parse_id(&row.get::<String, _>("id"), "users")?,
                row.get("email"),
            ))
        })
        .transpose()
    }

    /// Uses up an unexpired reset token and sets the new password in the same
    /// transaction. Returns the user, or `None` if the token is unknown,
    /// expired or already used.
    pub async fn complete_password_reset(
        &self,
        token_hash: &str,
        new_password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, StoreError> {
        let now_text = timestamp(now);
        let mut transaction = self.write_transaction().await?;
        let user: Option<String> = sqlx::query_scalar(
            "UPDATE password_resets SET used_at = $1
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3 RETURNING user_id",
        )
        .bind(&now_text)
        .bind(token_hash)
        .bind(&now_text)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(user) = user else { return Ok(None) };
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(new_password_hash)
            .bind(&now_text)
            .bind(&user)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(Some(parse_id(&user, "password_resets")?))
    }
}

/// SHA-256 hashes of an access and a refresh token, with their expiry.
#[derive(Debug, Clone)]
pub struct TokenPairHashes {
    /// Hash of the access token.
    pub access_hash: String,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// Hash of the refresh token.
    pub refresh_hash: String,
    /// When the refresh token expires.
    pub refresh_expires_at: DateTime<Utc>,
}

async fn insert_token_pair(
    transaction: &mut Transaction<'_, Any>,
    session_id: Uuid,
    tokens: &TokenPairHashes,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(&tokens.access_hash)
    .bind(session_id.to_string())
    .bind(timestamp(tokens.access_expires_at))
    .execute(&mut **transaction)
    .await?;
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(&tokens.refresh_hash)
    .bind(session_id.to_string())
    .bind(timestamp(tokens.refresh_expires_at))
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

async fn revoke_session_in(
    transaction: &mut Transaction<'_, Any>,
    session_id: Uuid,
    why: &str,
    now_text: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1), revoked_why = COALESCE(revoked_why, $2) WHERE id = $3")
        .bind(now_text)
        .bind(why)
        .bind(session_id.to_string())
        .execute(&mut **transaction)
        .await?;
    sqlx::query("DELETE FROM access_tokens WHERE session_id = $1")
        .bind(session_id.to_string())
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

async fn fetch_user(
    transaction: &mut Transaction<'_, Any>,
    user_id: Uuid,
) -> Result<Option<UserRecord>, StoreError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(user_id.to_string())
        .fetch_optional(&mut **transaction)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}
