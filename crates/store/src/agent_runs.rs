//! Runs on the server (the public API): the provider each tenant's runs call
//! (its key sealed by the caller), each run's row and events, and the
//! `Idempotency-Key`s of the requests that started them.
//!
//! A run is created in the same transaction as its idempotency key's answer,
//! and ends in one transaction that writes its state, all its events, its
//! `finished_runs` row (what Monitoring reads) and the tokens it used beyond
//! what was counted when it was admitted.

use chrono::{DateTime, Duration, Utc};
use orrery_domain::api_scope::ApiKeyMode;
use orrery_domain::policy::Metric;
use orrery_domain::runs::FinishedRun;
use sqlx::Row;
use uuid::Uuid;

use crate::accounts::timestamp;
use crate::local::parse_id;
use crate::runs::{add_to_counter, insert_finished_run};
use crate::{ServerStore, StoreError};

/// How long an `Idempotency-Key`'s first answer is kept.
pub const IDEMPOTENCY_KEY_HOURS: i64 = 24;
/// A key whose request has had no answer for this long is taken to belong to
/// a request that died with its server, and may be claimed again.
const ABANDONED_CLAIM_SECS: i64 = 60;

/// What a run asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTarget {
    /// One library agent.
    Agent,
    /// A graph, as a team.
    Graph,
}

impl RunTarget {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunTarget::Agent => "agent",
            RunTarget::Graph => "graph",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "agent" => Ok(RunTarget::Agent),
            "graph" => Ok(RunTarget::Graph),
            other => Err(StoreError::corrupt(
                "agent_runs",
                format!("unknown target `{other}`"),
            )),
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Waiting for a free slot.
    Queued,
    /// Calling the model.
    Running,
    /// Ended with an answer.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Cancelled by its caller.
    Cancelled,
}

impl RunState {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        )
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "queued" => RunState::Queued,
            "running" => RunState::Running,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "cancelled" => RunState::Cancelled,
            other => {
                return Err(StoreError::corrupt(
                    "agent_runs",
                    format!("unknown state `{other}`"),
                ));
            }
        })
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentRunRecord {
    /// Its id.
    pub id: Uuid,
    /// Its tenant (never shown).
    #[serde(skip)]
    pub tenant_id: Uuid,
    /// Who started it.
    #[serde(skip)]
    pub user_id: Uuid,
    /// Live or test.
    pub mode: ApiKeyMode,
    /// Agent or graph.
    pub target: RunTarget,
    /// The agent's or graph's id.
    pub target_id: String,
    /// The session its chat is kept in, if any.
    pub session_id: Option<String>,
    /// What was asked.
    pub input: String,
    /// Where it stands.
    pub state: RunState,
    /// The final answer, once it succeeded.
    pub answer: Option<String>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// Prompt tokens, every call.
    pub input_tokens: u64,
    /// Answer tokens, every call.
    pub output_tokens: u64,
    /// RFC 3339.
    pub created_at: String,
    /// When it began calling the model.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
}

/// One event of a run, as stored and as streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEventRow {
    /// Its position in the run, from 1.
    pub seq: u64,
    /// Its type (`run.started`, `message.delta`, ...).
    pub kind: String,
    /// Its JSON.
    pub data: String,
    /// RFC 3339.
    pub at: String,
}

/// A tenant's provider for server-side runs as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRunProvider {
    /// `orrery_runtime::ProviderSettings` as JSON.
    pub settings: String,
    /// The provider's key, sealed by the server.
    pub sealed_key: Option<Vec<u8>>,
    /// When it was last set.
    pub updated_at: String,
}

/// What claiming an `Idempotency-Key` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// No request had the key: this one answers it.
    Claimed,
    /// The first request with the key was answered: this answer again.
    Replay {
        /// Its HTTP status.
        status: u16,
        /// Its JSON body.
        response: String,
    },
    /// The first request with the key has not been answered yet.
    InProgress,
    /// The key was used with another request.
    Mismatch,
}

/// An idempotency key's identity: whose, and the key.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyKey<'a> {
    /// The caller's tenant.
    pub tenant_id: Uuid,
    /// The caller.
    pub user_id: Uuid,
    /// The header's value.
    pub key: &'a str,
}

/// How a run ended, for [`ServerStore::finish_agent_run`].
#[derive(Debug, Clone)]
pub struct RunEnd<'a> {
    /// Succeeded, failed or cancelled.
    pub state: RunState,
    /// The answer, if it succeeded.
    pub answer: Option<&'a str>,
    /// Why not, if it did not.
    pub error: Option<&'a str>,
    /// Its usage, as the run meter summed it (its id is the run's).
    pub usage: &'a FinishedRun,
    /// Tokens counted when it was admitted (the rest is added now).
    pub tokens_counted: u64,
    /// The billing period its usage counts in.
    pub period: &'a str,
    /// Every event of the run, in order.
    pub events: &'a [RunEventRow],
}

/// Keeps the answer to a claimed key, on `executor` (the pool, or the
/// transaction that stores what the answer says).
async fn write_idempotency_answer<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    key: IdempotencyKey<'_>,
    status: u16,
    response: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $1, response = $2
         WHERE tenant_id = $3 AND user_id = $4 AND idem_key = $5",
    )
    .bind(i64::from(status))
    .bind(response)
    .bind(key.tenant_id.to_string())
    .bind(key.user_id.to_string())
    .bind(key.key)
    .execute(executor)
    .await?;
    Ok(())
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn run_from_row(row: &sqlx::any::AnyRow) -> Result<AgentRunRecord, StoreError> {
    let tokens = |column: &str| u64::try_from(row.get::<i64, _>(column)).unwrap_or(0);
    Ok(AgentRunRecord {
        id: parse_id(&row.get::<String, _>("id"), "agent_runs")?,
        tenant_id: parse_id(&row.get::<String, _>("tenant_id"), "agent_runs")?,
        user_id: parse_id(&row.get::<String, _>("user_id"), "agent_runs")?,
        mode: ApiKeyMode::parse(&row.get::<String, _>("mode"))
            .ok_or_else(|| StoreError::corrupt("agent_runs", "unknown mode"))?,
        target: RunTarget::parse(&row.get::<String, _>("target_kind"))?,
        target_id: row.get("target_id"),
        session_id: row.get("session_id"),
        input: row.get("input"),
        state: RunState::parse(&row.get::<String, _>("state"))?,
        answer: row.get("answer"),
        error: row.get("error"),
        input_tokens: tokens("input_tokens"),
        output_tokens: tokens("output_tokens"),
        created_at: row.get("created_at"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
    })
}

const RUN_COLUMNS: &str =
    "id, tenant_id, user_id, mode, target_kind, target_id, session_id, input, state,
     answer, error, input_tokens, output_tokens, created_at, started_at, finished_at";

impl ServerStore {
    /// Sets a tenant's provider for runs in `mode`.
    pub async fn put_run_provider(
        &self,
        tenant_id: Uuid,
        mode: ApiKeyMode,
        settings: &str,
        sealed_key: Option<&[u8]>,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO run_providers (tenant_id, mode, settings, sealed_key, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant_id, mode) DO UPDATE SET settings = excluded.settings,
                 sealed_key = excluded.sealed_key, updated_at = excluded.updated_at,
                 updated_by = excluded.updated_by",
        )
        .bind(tenant_id.to_string())
        .bind(mode.as_str())
        .bind(settings)
        .bind(sealed_key.map(<[u8]>::to_vec))
        .bind(timestamp(now))
        .bind(user_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A tenant's provider for runs in `mode`, if one is set.
    pub async fn run_provider(
        &self,
        tenant_id: Uuid,
        mode: ApiKeyMode,
    ) -> Result<Option<StoredRunProvider>, StoreError> {
        let row = sqlx::query(
            "SELECT settings, sealed_key, updated_at FROM run_providers WHERE tenant_id = $1 AND mode = $2",
        )
        .bind(tenant_id.to_string())
        .bind(mode.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| StoredRunProvider {
            settings: row.get("settings"),
            sealed_key: row.get("sealed_key"),
            updated_at: row.get("updated_at"),
        }))
    }

    /// Removes a tenant's provider for `mode`; whether there was one.
    pub async fn delete_run_provider(
        &self,
        tenant_id: Uuid,
        mode: ApiKeyMode,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM run_providers WHERE tenant_id = $1 AND mode = $2")
            .bind(tenant_id.to_string())
            .bind(mode.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims `key` for a request whose method, path and body hash to
    /// `request_hash`. Keys older than a day are forgotten first, and so is
    /// a claim that has gone unanswered for a minute (its server died).
    /// One transaction under the write lock: of two concurrent requests with
    /// one key, exactly one claims it.
    pub async fn claim_idempotency_key(
        &self,
        key: IdempotencyKey<'_>,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError> {
        let tenant = key.tenant_id.to_string();
        let user = key.user_id.to_string();
        let mut transaction = self.write_transaction().await?;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND idem_key = $3
               AND (created_at < $4 OR (status IS NULL AND created_at < $5))",
        )
        .bind(&tenant)
        .bind(&user)
        .bind(key.key)
        .bind(timestamp(now - Duration::hours(IDEMPOTENCY_KEY_HOURS)))
        .bind(timestamp(now - Duration::seconds(ABANDONED_CLAIM_SECS)))
        .execute(&mut *transaction)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, user_id, idem_key, request_hash, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, user_id, idem_key) DO NOTHING",
        )
        .bind(&tenant)
        .bind(&user)
        .bind(key.key)
        .bind(request_hash)
        .bind(timestamp(now))
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            == 1;
        let claim = if inserted {
            IdempotencyClaim::Claimed
        } else {
            let row = sqlx::query(
                "SELECT request_hash, status, response FROM idempotency_keys
                 WHERE tenant_id = $1 AND user_id = $2 AND idem_key = $3",
            )
            .bind(&tenant)
            .bind(&user)
            .bind(key.key)
            .fetch_one(&mut *transaction)
            .await?;
            let status: Option<i64> = row.get("status");
            if row.get::<String, _>("request_hash") != request_hash {
                IdempotencyClaim::Mismatch
            } else if let Some(status) = status {
                IdempotencyClaim::Replay {
                    status: u16::try_from(status).unwrap_or(500),
                    response: row.get::<Option<String>, _>("response").unwrap_or_default(),
                }
            } else {
                IdempotencyClaim::InProgress
            }
        };
        transaction.commit().await?;
        Ok(claim)
    }

    /// Keeps the answer to a claimed key (a refusal the caller should see
    /// again when it retries).
    pub async fn answer_idempotency_key(
        &self,
        key: IdempotencyKey<'_>,
        status: u16,
        response: &str,
    ) -> Result<(), StoreError> {
        write_idempotency_answer(&self.pool, key, status, response).await
    }

    /// Gives a claimed key back unanswered (the server failed; a retry
    /// should be tried afresh).
    pub async fn release_idempotency_key(&self, key: IdempotencyKey<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND idem_key = $3 AND status IS NULL",
        )
        .bind(key.tenant_id.to_string())
        .bind(key.user_id.to_string())
        .bind(key.key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets keys older than a day; how many went.
    pub async fn purge_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(timestamp(now - Duration::hours(IDEMPOTENCY_KEY_HOURS)))
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Stores a new run, queued, and with it the answer to the key that
    /// started it (`idempotency`: the key, the status and the JSON answer),
    /// in one transaction.
    pub async fn create_agent_run(
        &self,
        run: &AgentRunRecord,
        runner: Uuid,
        idempotency: Option<(IdempotencyKey<'_>, u16, &str)>,
    ) -> Result<(), StoreError> {
        let mut transaction = self.write_transaction().await?;
        sqlx::query(&format!(
            "INSERT INTO agent_runs ({RUN_COLUMNS}, runner)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        ))
        .bind(run.id.to_string())
        .bind(run.tenant_id.to_string())
        .bind(run.user_id.to_string())
        .bind(run.mode.as_str())
        .bind(run.target.as_str())
        .bind(&run.target_id)
        .bind(run.session_id.as_deref())
        .bind(&run.input)
        .bind(run.state.as_str())
        .bind(run.answer.as_deref())
        .bind(run.error.as_deref())
        .bind(to_i64(run.input_tokens))
        .bind(to_i64(run.output_tokens))
        .bind(&run.created_at)
        .bind(run.started_at.as_deref())
        .bind(run.finished_at.as_deref())
        .bind(runner.to_string())
        .execute(&mut *transaction)
        .await?;
        if let Some((key, status, response)) = idempotency {
            write_idempotency_answer(&mut *transaction, key, status, response).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Moves a queued run to running; `false` when it is no longer queued
    /// (cancelled while it waited).
    pub async fn start_agent_run(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE agent_runs SET state = 'running', started_at = $1 WHERE id = $2 AND state = 'queued'",
        )
        .bind(timestamp(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a run that has not ended: its state, answer or error, tokens,
    /// every event, its `finished_runs` row, and the tokens beyond those
    /// counted at admission added to the user's usage, in one transaction.
    /// `false` (and nothing written) when it had ended already.
    pub async fn finish_agent_run(
        &self,
        run: &AgentRunRecord,
        end: RunEnd<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.write_transaction().await?;
        let ended = sqlx::query(
            "UPDATE agent_runs SET state = $1, answer = $2, error = $3, input_tokens = $4,
                 output_tokens = $5, finished_at = $6
             WHERE id = $7 AND state IN ('queued', 'running')",
        )
        .bind(end.state.as_str())
        .bind(end.answer)
        .bind(end.error)
        .bind(to_i64(end.usage.input_tokens))
        .bind(to_i64(end.usage.output_tokens))
        .bind(timestamp(now))
        .bind(run.id.to_string())
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            == 1;
        if !ended {
            transaction.rollback().await?;
            return Ok(false);
        }
        for event in end.events {
            sqlx::query(
                "INSERT INTO agent_run_events (run_id, seq, kind, data, at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (run_id, seq) DO NOTHING",
            )
            .bind(run.id.to_string())
            .bind(to_i64(event.seq))
            .bind(&event.kind)
            .bind(&event.data)
            .bind(&event.at)
            .execute(&mut *transaction)
            .await?;
        }
        insert_finished_run(&mut transaction, run.tenant_id, run.user_id, end.usage, now).await?;
        add_to_counter(
            &mut transaction,
            &run.tenant_id.to_string(),
            &run.user_id.to_string(),
            Metric::Tokens,
            end.period,
            end.usage.tokens().saturating_sub(end.tokens_counted),
        )
        .await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// One of a tenant's runs.
    pub async fn agent_run(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Option<AgentRunRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM agent_runs WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(run_from_row)
        .transpose()
    }

    /// A run's stored events after `after_seq`, in order, at most `limit`.
    pub async fn agent_run_events(
        &self,
        id: Uuid,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<RunEventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, kind, data, at FROM agent_run_events WHERE run_id = $1 AND seq > $2
             ORDER BY seq LIMIT $3",
        )
        .bind(id.to_string())
        .bind(to_i64(after_seq))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| RunEventRow {
                seq: u64::try_from(row.get::<i64, _>("seq")).unwrap_or(0),
                kind: row.get("kind"),
                data: row.get("data"),
                at: row.get("at"),
            })
            .collect())
    }

    /// Ends, as failed, every run left queued or running by a server that
    /// stopped (called at start on SQLite, where one server owns the
    /// database); how many.
    pub async fn fail_interrupted_agent_runs(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE agent_runs SET state = 'failed', error = 'the server stopped during the run; start it again',
                 finished_at = $1 WHERE state IN ('queued', 'running')",
        )
        .bind(timestamp(now))
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Records that the server instance `runner` is alive at `now`.
    pub async fn beat_run_runner(
        &self,
        runner: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO run_runners (id, seen_at) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(runner.to_string())
        .bind(timestamp(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends, as failed, every run left queued or running by an instance not
    /// seen since `seen_since` (it died with its runs), and forgets
    /// instances silent for a day; how many runs.
    pub async fn fail_orphaned_agent_runs(
        &self,
        now: DateTime<Utc>,
        seen_since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let failed = sqlx::query(
            "UPDATE agent_runs SET state = 'failed',
                 error = 'the server instance running it stopped; start it again', finished_at = $1
             WHERE state IN ('queued', 'running') AND runner IS NOT NULL
               AND runner NOT IN (SELECT id FROM run_runners WHERE seen_at >= $2)",
        )
        .bind(timestamp(now))
        .bind(timestamp(seen_since))
        .execute(&self.pool)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM run_runners WHERE seen_at < $1")
            .bind(timestamp(now - Duration::days(1)))
            .execute(&self.pool)
            .await?;
        Ok(failed)
    }

    /// Every agent and prompt document of a tenant (not deleted), as
    /// `(kind, id, snapshot)`: what a graph run's team is built from.
    pub async fn library_snapshots(
        &self,
        tenant_id: Uuid,
        kinds: &[orrery_domain::DocumentKind],
    ) -> Result<
        Vec<(
            orrery_domain::DocumentKind,
            orrery_domain::DocumentId,
            Vec<u8>,
        )>,
        StoreError,
    > {
        let mut found = Vec::new();
        for kind in kinds {
            let rows = sqlx::query(
                "SELECT d.document_id, d.snapshot FROM library_documents d
                 WHERE d.tenant_id = $1 AND d.kind = $2 AND d.deleted_at IS NULL",
            )
            .bind(tenant_id.to_string())
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                found.push((
                    *kind,
                    parse_id(&row.get::<String, _>("document_id"), "library_documents")?,
                    row.get::<Vec<u8>, _>("snapshot"),
                ));
            }
        }
        Ok(found)
    }
}
