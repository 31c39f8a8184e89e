//! Plans and usage in the sync server's store.
//!
//! Plans are stored as JSON of [`orrery_domain::policy::Plan`]. Usage counters
//! change only through [`ServerStore::add_usage_if_unchanged`], a
//! compare-and-set: the caller read the count, the policy engine allowed the
//! action on that count, and the count moves only if nobody moved it in
//! between. Under concurrency a limit is therefore never exceeded.

use chrono::{DateTime, Utc};
use orrery_domain::policy::{Metric, Plan, Usage};
use sqlx::Row;
use uuid::Uuid;

use crate::events::{EventKind, NewEvent, record_event};
use crate::{ServerStore, StoreError};

impl ServerStore {
    /// The plan with `key`.
    pub async fn plan(&self, key: &str) -> Result<Option<Plan>, StoreError> {
        let definition: Option<String> =
            sqlx::query_scalar("SELECT definition FROM plans WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        definition
            .map(|text| {
                serde_json::from_str(&text).map_err(|error| StoreError::corrupt("plans", error))
            })
            .transpose()
    }

    /// Every plan, in the order they are offered.
    pub async fn list_plans(&self) -> Result<Vec<Plan>, StoreError> {
        let rows = sqlx::query("SELECT definition FROM plans ORDER BY position, key")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                serde_json::from_str(&row.get::<String, _>("definition"))
                    .map_err(|error| StoreError::corrupt("plans", error))
            })
            .collect()
    }

    /// A user's usage in `period` (`YYYY-MM`), with the graphs their tenant holds.
    pub async fn usage(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        period: &str,
    ) -> Result<Usage, StoreError> {
        let rows = sqlx::query(
            "SELECT metric, used FROM usage_counters WHERE tenant_id = $1 AND user_id = $2 AND period = $3",
        )
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .bind(period)
        .fetch_all(&self.pool)
        .await?;
        let mut usage = Usage::default();
        for row in rows {
            let used = u64::try_from(row.get::<i64, _>("used"))
                .map_err(|e| StoreError::corrupt("usage_counters", e))?;
            match row.get::<String, _>("metric").as_str() {
                "runs" => usage.runs = used,
                "tokens" => usage.tokens = used,
                "api_calls" => usage.api_calls = used,
                _ => {}
            }
        }
        let graphs: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM graph_documents WHERE tenant_id = $1 AND deleted_at IS NULL",
        )
        .bind(tenant_id.to_string())
        .fetch_one(&self.pool)
        .await?;
        usage.graphs = graphs as u64;
        // Seats of a team workspace: its members and the invitations still
        // open (a personal workspace has none).
        let seats: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM team_members WHERE tenant_id = $1)
                  + (SELECT COUNT(*) FROM team_invitations WHERE tenant_id = $1
                     AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2)",
        )
        .bind(tenant_id.to_string())
        .bind(crate::timestamp(chrono::Utc::now()))
        .fetch_one(&self.pool)
        .await?;
        usage.seats = seats as u64;
        Ok(usage)
    }

    /// Adds to per-period counters if every one still reads what the caller
    /// saw: `changes` are `(metric, expected, amount)`. All move or none do
    /// (one transaction). Returns whether they moved; on `false` read again and
    /// ask again. When they move, the same transaction also adds `uncounted`
    /// (`(metric, amount)`: metrics the plan does not limit, kept for the
    /// usage screen) and appends `event` (a kind and its time) to the event
    /// log: one write for the whole of an action's metering.
    pub async fn add_usage_if_unchanged(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        period: &str,
        changes: &[(Metric, u64, u64)],
        uncounted: &[(Metric, u64)],
        event: Option<(EventKind, DateTime<Utc>)>,
    ) -> Result<bool, StoreError> {
        let to_i64 =
            |value: u64| i64::try_from(value).map_err(|e| StoreError::corrupt("usage_counters", e));
        if changes.is_empty() && uncounted.is_empty() && event.is_none() {
            return Ok(true);
        }
        let mut transaction = self.write_transaction().await?;
        for &(metric, expected, amount) in changes {
            sqlx::query(
                "INSERT INTO usage_counters (tenant_id, user_id, metric, period, used) VALUES ($1, $2, $3, $4, 0)
                 ON CONFLICT (tenant_id, user_id, metric, period) DO NOTHING",
            )
            .bind(tenant_id.to_string())
            .bind(user_id.to_string())
            .bind(metric.as_str())
            .bind(period)
            .execute(&mut *transaction)
            .await?;
            let moved = sqlx::query(
                "UPDATE usage_counters SET used = used + $1
                 WHERE tenant_id = $2 AND user_id = $3 AND metric = $4 AND period = $5 AND used = $6",
            )
            .bind(to_i64(amount)?)
            .bind(tenant_id.to_string())
            .bind(user_id.to_string())
            .bind(metric.as_str())
            .bind(period)
            .bind(to_i64(expected)?)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
                == 1;
            if !moved {
                transaction.rollback().await?;
                return Ok(false);
            }
        }
        let (tenant, user) = (tenant_id.to_string(), user_id.to_string());
        for &(metric, amount) in uncounted {
            crate::runs::add_to_counter(&mut transaction, &tenant, &user, metric, period, amount)
                .await?;
        }
        if let Some((kind, at)) = event {
            record_event(
                &mut transaction,
                NewEvent::of_user(kind, tenant_id, user_id, at),
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(true)
    }

    /// Adds `amount` to a per-period counter unconditionally (for metrics the
    /// plan does not limit).
    pub async fn add_usage(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        metric: Metric,
        period: &str,
        amount: u64,
    ) -> Result<(), StoreError> {
        let amount = i64::try_from(amount).map_err(|e| StoreError::corrupt("usage_counters", e))?;
        sqlx::query(
            "INSERT INTO usage_counters (tenant_id, user_id, metric, period, used) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant_id, user_id, metric, period) DO UPDATE SET used = usage_counters.used + excluded.used",
        )
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .bind(metric.as_str())
        .bind(period)
        .bind(amount)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl ServerStore {
    /// Creates or replaces a plan (admins define plans).
    pub async fn put_plan(
        &self,
        plan: &Plan,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let definition =
            serde_json::to_string(plan).map_err(|error| StoreError::corrupt("plans", error))?;
        sqlx::query(
            "INSERT INTO plans (key, definition, position, updated_at)
             VALUES ($1, $2, (SELECT COALESCE(MAX(position), -1) + 1 FROM plans), $3)
             ON CONFLICT (key) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
        )
        .bind(&plan.key)
        .bind(definition)
        .bind(crate::timestamp(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
