//! Finished runs on both sides of sync. On the device: the usage ledger, one
//! entry per run, kept until the server acknowledges it. On the server: each
//! entry counted once by its id — its `finished_runs` row, its `run.finished`
//! event and the runs and tokens it adds to the usage counters in one
//! transaction — and the figures the management window's Monitoring shows
//! (per day, per graph, per user).

use chrono::{DateTime, Duration, Utc};
use orrery_domain::policy::Metric;
use orrery_domain::runs::FinishedRun;
use orrery_domain::timestamp_key;
use sqlx::Row;
use uuid::Uuid;

use crate::accounts::timestamp;
use crate::events::{EventKind, NewEvent, day_of, record_event};
use crate::local::parse_id;
use crate::{LocalStore, ServerStore, StoreError, now_text};

/// How far back a run's start may put it (older starts count as this old).
const OLDEST_RUN_DAYS: i64 = 400;

impl LocalStore {
    /// Adds a finished run to the usage ledger (once: the same entry again
    /// changes nothing).
    pub async fn record_finished_run(&self, run: &FinishedRun) -> Result<(), StoreError> {
        let entry = serde_json::to_string(run)
            .map_err(|error| StoreError::corrupt("usage_ledger", error))?;
        sqlx::query(
            "INSERT INTO usage_ledger (id, entry, recorded_at) VALUES (?, ?, ?)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(run.id.to_string())
        .bind(entry)
        .bind(now_text())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ledger entries the server has not acknowledged yet, oldest first, at
    /// most `limit`.
    pub async fn unacknowledged_runs(&self, limit: usize) -> Result<Vec<FinishedRun>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT entry FROM usage_ledger WHERE acknowledged_at IS NULL ORDER BY id LIMIT ?",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        ledger_entries(&rows)
    }

    /// Marks ledger entries as held by the server.
    pub async fn acknowledge_runs(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        let now = now_text();
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for id in ids {
            sqlx::query("UPDATE usage_ledger SET acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL")
                .bind(&now)
                .bind(id.to_string())
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Runs and tokens of the ledger entries the server had not counted at
    /// `as_of` (RFC 3339): not acknowledged yet, or acknowledged after it.
    pub async fn runs_not_counted_at(&self, as_of: &str) -> Result<(u64, u64), StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT entry FROM usage_ledger WHERE acknowledged_at IS NULL OR acknowledged_at > ?",
        )
        .bind(as_of)
        .fetch_all(&self.pool)
        .await?;
        let runs = ledger_entries(&rows)?;
        let tokens = runs
            .iter()
            .fold(0_u64, |sum, run| sum.saturating_add(run.tokens()));
        Ok((runs.len() as u64, tokens))
    }

    /// Every ledger entry, oldest first (what this device ran).
    pub async fn finished_runs(&self) -> Result<Vec<FinishedRun>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT entry FROM usage_ledger ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        ledger_entries(&rows)
    }
}

/// Ledger entries from their stored JSON.
fn ledger_entries(rows: &[String]) -> Result<Vec<FinishedRun>, StoreError> {
    rows.iter()
        .map(|entry| {
            serde_json::from_str(entry).map_err(|error| StoreError::corrupt("usage_ledger", error))
        })
        .collect()
}

/// The answer to a report of finished runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunsCounted {
    /// Entries counted now.
    pub counted: u64,
    /// Entries already counted before.
    pub already_counted: u64,
}

/// The UTC day a run counts on: its start, within the last
/// [`OLDEST_RUN_DAYS`] days and not after `now`.
fn run_day(started_at: &str, now: DateTime<Utc>) -> String {
    let started = timestamp_key(started_at)
        .and_then(|(seconds, nanos)| DateTime::from_timestamp(seconds, nanos))
        .unwrap_or(now);
    day_of(started.clamp(now - Duration::days(OLDEST_RUN_DAYS), now))
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|error| StoreError::corrupt("finished_runs", error))
}

impl ServerStore {
    /// Counts a user's finished runs (checked by the caller): each entry
    /// not counted before gets its row, its `run.finished` event and adds
    /// one run and its tokens to the usage of `period`, all in one
    /// transaction; an entry counted before adds nothing. Concurrent reports
    /// of the same entries count each once (the row's key decides).
    pub async fn count_finished_runs(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        period: &str,
        runs: &[FinishedRun],
        now: DateTime<Utc>,
    ) -> Result<RunsCounted, StoreError> {
        let tenant = tenant_id.to_string();
        let user = user_id.to_string();
        let mut transaction = self.write_transaction().await?;
        let mut counted = 0_u64;
        let mut added_tokens = 0_u64;
        for run in runs {
            if !insert_finished_run(&mut transaction, tenant_id, user_id, run, now).await? {
                continue;
            }
            counted += 1;
            added_tokens = added_tokens.saturating_add(run.tokens());
        }
        for (metric, amount) in [(Metric::Runs, counted), (Metric::Tokens, added_tokens)] {
            add_to_counter(&mut transaction, &tenant, &user, metric, period, amount).await?;
        }
        transaction.commit().await?;
        Ok(RunsCounted {
            counted,
            already_counted: runs.len() as u64 - counted,
        })
    }
}

/// Adds `amount` to a user's counter of `metric` in `period`.
pub(crate) async fn add_to_counter(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant: &str,
    user: &str,
    metric: Metric,
    period: &str,
    amount: u64,
) -> Result<(), StoreError> {
    if amount == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO usage_counters (tenant_id, user_id, metric, period, used) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, user_id, metric, period) DO UPDATE SET used = usage_counters.used + excluded.used",
    )
    .bind(tenant)
    .bind(user)
    .bind(metric.as_str())
    .bind(period)
    .bind(to_i64(amount)?)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

/// Writes a finished run's row and its `run.finished` event, unless a row
/// with its id is there already (then nothing, and `false`).
pub(crate) async fn insert_finished_run(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant_id: Uuid,
    user_id: Uuid,
    run: &FinishedRun,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO finished_runs (tenant_id, run_id, user_id, graph_id, started_at, day, received_at, model,
             model_calls, input_tokens, output_tokens, latency_ms, cost_nanodollars, error, cancelled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (tenant_id, run_id) DO NOTHING",
    )
    .bind(tenant_id.to_string())
    .bind(run.id.to_string())
    .bind(user_id.to_string())
    .bind(run.graph_id.map(|graph| graph.to_string()))
    .bind(&run.started_at)
    .bind(run_day(&run.started_at, now))
    .bind(timestamp(now))
    .bind(&run.model)
    .bind(i64::from(run.model_calls))
    .bind(to_i64(run.input_tokens)?)
    .bind(to_i64(run.output_tokens)?)
    .bind(to_i64(run.latency_ms)?)
    .bind(run.cost_nanodollars.map(to_i64).transpose()?)
    .bind(run.error.as_deref())
    .bind(i64::from(run.cancelled))
    .execute(&mut **transaction)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        return Ok(false);
    }
    let graph = run
        .graph_id
        .map(|graph| graph.to_string())
        .unwrap_or_default();
    record_event(
        transaction,
        NewEvent {
            kind: EventKind::RunFinished,
            tenant_id: Some(tenant_id),
            user_id: Some(user_id),
            subject: &graph,
            data: serde_json::json!({
                "run_id": run.id,
                "tokens": run.tokens(),
                "latency_ms": run.latency_ms,
                "failed": run.failed(),
                "cancelled": run.cancelled,
                "model": run.model,
                "cost_nanodollars": run.cost_nanodollars,
            }),
            at: now,
        },
    )
    .await?;
    Ok(true)
}

/// Runs, errors, tokens and latency over some runs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunFigures {
    /// Runs finished.
    pub runs: i64,
    /// Runs that ended in an error.
    pub errors: i64,
    /// Runs the user cancelled.
    pub cancelled: i64,
    /// Tokens both ways.
    pub tokens: i64,
    /// Mean run time, milliseconds (0 without runs).
    pub mean_latency_ms: i64,
    /// Longest run time, milliseconds.
    pub max_latency_ms: i64,
    /// Estimated cost in nanodollars, of the runs whose cost is known.
    pub cost_nanodollars: i64,
}

/// One day of runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunDay {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: RunFigures,
}

/// One graph's runs in the window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GraphRuns {
    /// The graph.
    pub graph_id: String,
    /// Its name, when the server holds it.
    pub name: Option<String>,
    /// Its tenant's name.
    pub tenant_name: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: RunFigures,
}

/// One user's runs in the window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserRuns {
    /// The user.
    pub user_id: Uuid,
    /// Their address, unless they were deleted.
    pub email: Option<String>,
    /// Their figures.
    #[serde(flatten)]
    pub figures: RunFigures,
}

/// What Monitoring shows for a window of days.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunMonitoring {
    /// The whole window.
    pub totals: RunFigures,
    /// Each day of the window, oldest first (days without runs included).
    pub series: Vec<RunDay>,
    /// The graphs with the most runs, most first.
    pub graphs: Vec<GraphRuns>,
    /// The users with the most runs, most first.
    pub users: Vec<UserRuns>,
}

/// Which runs Monitoring counts.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this graph's.
    pub graph_id: Option<String>,
    /// Only this user's.
    pub user_id: Option<Uuid>,
}

/// Graphs and users listed at most.
const TOP_LISTED: usize = 20;

const FIGURE_COLUMNS: &str = "COUNT(*) AS runs,
    COALESCE(SUM(CASE WHEN r.error IS NOT NULL THEN 1 ELSE 0 END), 0) AS errors,
    COALESCE(SUM(r.cancelled), 0) AS cancelled,
    COALESCE(SUM(r.input_tokens + r.output_tokens), 0) AS tokens,
    COALESCE(SUM(r.latency_ms), 0) AS latency_total,
    COALESCE(MAX(r.latency_ms), 0) AS max_latency_ms,
    COALESCE(SUM(r.cost_nanodollars), 0) AS cost_nanodollars";

fn figures(row: &sqlx::any::AnyRow) -> RunFigures {
    let runs: i64 = row.get("runs");
    let latency_total: i64 = row.get("latency_total");
    RunFigures {
        runs,
        errors: row.get("errors"),
        cancelled: row.get("cancelled"),
        tokens: row.get("tokens"),
        mean_latency_ms: if runs > 0 { latency_total / runs } else { 0 },
        max_latency_ms: row.get("max_latency_ms"),
        cost_nanodollars: row.get("cost_nanodollars"),
    }
}

impl ServerStore {
    /// Runs from `from` to `to` (UTC days, `YYYY-MM-DD`, both included),
    /// optionally of one graph or one user: the totals, each day, and the
    /// graphs and users with the most runs.
    pub async fn run_monitoring(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        filter: &RunFilter,
    ) -> Result<RunMonitoring, StoreError> {
        let mut conditions = vec!["r.day >= $1".to_owned(), "r.day <= $2".to_owned()];
        let mut values = vec![from.to_string(), to.to_string()];
        if let Some(graph) = &filter.graph_id {
            values.push(graph.clone());
            conditions.push(format!("r.graph_id = ${}", values.len()));
        }
        if let Some(user) = filter.user_id {
            values.push(user.to_string());
            conditions.push(format!("r.user_id = ${}", values.len()));
        }
        let condition = conditions.join(" AND ");
        let run = |sql: String| {
            let values = values.clone();
            let pool = self.pool.clone();
            async move {
                let mut query = sqlx::query(&sql);
                for value in &values {
                    query = query.bind(value.as_str());
                }
                query.fetch_all(&pool).await
            }
        };
        // SUM over BIGINT is NUMERIC on PostgreSQL: cast the sums back.
        let columns = match self.backend() {
            crate::Backend::Postgres => FIGURE_COLUMNS
                .replace("), 0) AS", ")::BIGINT, 0) AS")
                .replace("COUNT(*) AS runs", "COUNT(*)::BIGINT AS runs"),
            crate::Backend::Sqlite => FIGURE_COLUMNS.to_owned(),
        };
        let totals = run(format!(
            "SELECT {columns} FROM finished_runs r WHERE {condition}"
        ))
        .await?;
        let totals = totals.first().map(figures).unwrap_or_default();
        let day_rows = run(format!(
            "SELECT r.day, {columns} FROM finished_runs r WHERE {condition} GROUP BY r.day ORDER BY r.day"
        ))
        .await?;
        let mut by_day: std::collections::HashMap<String, RunFigures> = day_rows
            .iter()
            .map(|row| (row.get::<String, _>("day"), figures(row)))
            .collect();
        let series = from
            .iter_days()
            .take_while(|day| *day <= to)
            .map(|day| {
                let day = day.to_string();
                RunDay {
                    figures: by_day.remove(&day).unwrap_or_default(),
                    day,
                }
            })
            .collect();
        let graph_rows = run(format!(
            "SELECT r.graph_id, MAX(g.name) AS name, MAX(t.name) AS tenant_name, {columns}
             FROM finished_runs r
             JOIN tenants t ON t.id = r.tenant_id
             LEFT JOIN graph_documents g ON g.tenant_id = r.tenant_id AND g.graph_id = r.graph_id
             WHERE {condition} AND r.graph_id IS NOT NULL
             GROUP BY r.tenant_id, r.graph_id ORDER BY runs DESC, r.graph_id LIMIT {TOP_LISTED}"
        ))
        .await?;
        let graphs = graph_rows
            .iter()
            .map(|row| GraphRuns {
                graph_id: row.get("graph_id"),
                name: row.get("name"),
                tenant_name: row.get("tenant_name"),
                figures: figures(row),
            })
            .collect();
        let user_rows = run(format!(
            "SELECT r.user_id, MAX(u.email) AS email, {columns}
             FROM finished_runs r LEFT JOIN users u ON u.id = r.user_id
             WHERE {condition}
             GROUP BY r.user_id ORDER BY runs DESC, r.user_id LIMIT {TOP_LISTED}"
        ))
        .await?;
        let users = user_rows
            .iter()
            .map(|row| {
                Ok(UserRuns {
                    user_id: parse_id(&row.get::<String, _>("user_id"), "finished_runs")?,
                    email: row.get("email"),
                    figures: figures(row),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(RunMonitoring {
            totals,
            series,
            graphs,
            users,
        })
    }
}
