//! Daily rollups of the event log (`metrics_daily`): one row of
//! [`DailyFigures`] per UTC day, so the admin overview reads a year of
//! figures in one small query however long the log grows.
//!
//! A day's row is the day before's state plus the day's events folded in
//! log order ([`DailyFigures::apply`]). [`ServerStore::refresh_metrics`]
//! recomputes from the day before the last one rolled up (a transaction that
//! committed late still lands) through today; [`ServerStore::rebuild_metrics`]
//! recomputes every day from the first event. Both fold the same way, so
//! they give the same rows.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures_util::TryStreamExt;
use orrery_domain::revenue::{DAILY_FIGURE_NAMES, DailyFigures, EventFacts, SubscriptionChange};
use sqlx::Row;

use crate::events::{EventKind, day_of};
use crate::{ServerStore, StoreError};

/// The server fact naming the newest event the rollup has seen (a refresh
/// with nothing newer and today rolled up does nothing).
const ROLLED_FACT: &str = "metrics_rolled_through";

/// One day's figures.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DailyRow {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// The figures.
    #[serde(flatten)]
    pub figures: DailyFigures,
}

/// What an event row contributes to the figures.
fn facts(kind: &str, data: &str) -> Result<EventFacts, StoreError> {
    let corrupt = |error: serde_json::Error| StoreError::corrupt("events", error);
    Ok(match EventKind::parse(kind) {
        Some(EventKind::AccountRegistered) => EventFacts::Registered,
        Some(EventKind::AccountDeleted) => EventFacts::Deleted,
        Some(EventKind::SignedIn) => EventFacts::SignedIn,
        Some(
            EventKind::SubscriptionCreated
            | EventKind::SubscriptionUpdated
            | EventKind::SubscriptionCanceled,
        ) => EventFacts::Subscription(
            serde_json::from_str::<SubscriptionChange>(data).map_err(corrupt)?,
        ),
        Some(EventKind::InvoicePaid) => EventFacts::InvoicePaid,
        Some(EventKind::InvoicePaymentFailed) => EventFacts::InvoiceFailed,
        Some(EventKind::RunFinished) => {
            #[derive(serde::Deserialize)]
            struct Run {
                #[serde(default)]
                tokens: i64,
                #[serde(default)]
                latency_ms: i64,
                #[serde(default)]
                failed: bool,
            }
            let run: Run = serde_json::from_str(data).map_err(corrupt)?;
            EventFacts::RunFinished {
                tokens: run.tokens,
                latency_ms: run.latency_ms,
                failed: run.failed,
            }
        }
        Some(EventKind::ApiCall) => EventFacts::ApiCall,
        Some(EventKind::PlanChanged | EventKind::AdminAction) | None => EventFacts::Other,
    })
}

fn parse_day(day: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|error| StoreError::corrupt("events", error))
}

fn columns() -> String {
    DAILY_FIGURE_NAMES.join(", ")
}

fn row_figures(row: &sqlx::any::AnyRow) -> DailyFigures {
    let mut values = [0i64; 24];
    for (value, name) in values.iter_mut().zip(DAILY_FIGURE_NAMES) {
        *value = row.get::<i64, _>(name);
    }
    DailyFigures::from_values(values)
}

/// Opens a day after `current` until `day` is open, each starting where the
/// last ended.
fn open_days_through(days: &mut Vec<DailyFigures>, current: &mut NaiveDate, day: NaiveDate) {
    while *current < day {
        let previous = *days.last().expect("a day is open");
        days.push(DailyFigures::following(&previous));
        *current += Duration::days(1);
    }
}

impl ServerStore {
    /// Brings the rollup up to `now`'s day: recomputes from the day before
    /// the last day rolled up. Cheap when little happened since.
    pub async fn refresh_metrics(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let last: Option<String> = sqlx::query_scalar("SELECT MAX(day) FROM metrics_daily")
            .fetch_one(&self.pool)
            .await?;
        // Nothing appended since the last roll-up, and today rolled: done.
        let latest = self.latest_event().await?;
        let rolled: Option<String> =
            sqlx::query_scalar("SELECT value FROM server_facts WHERE fact = $1")
                .bind(ROLLED_FACT)
                .fetch_optional(&self.pool)
                .await?;
        if last.as_deref() == Some(day_of(now).as_str())
            && rolled.is_some()
            && rolled == latest.map(|seq| seq.to_string())
        {
            return Ok(());
        }
        match last {
            Some(last) => {
                let from = parse_day(&last)? - Duration::days(1);
                self.roll_up_from(Some(from), now).await
            }
            None => self.roll_up_from(None, now).await,
        }
    }

    /// Recomputes every day from the first event (the rollup is derived data;
    /// this gives the same rows as the incremental refresh).
    pub async fn rebuild_metrics(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.roll_up_from(None, now).await
    }

    /// The newest event's number, if any.
    async fn latest_event(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT MAX(seq) FROM events")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Folds the events from `from` (`None`: the first event's day) through
    /// `now`'s day onto the day before `from`, and writes those days.
    async fn roll_up_from(
        &self,
        from: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let today = parse_day(&day_of(now))?;
        // Read before the fold: events appended meanwhile roll up next time.
        let latest = self.latest_event().await?;
        let from = match from {
            Some(from) => from,
            None => {
                let first: Option<String> = sqlx::query_scalar("SELECT MIN(day) FROM events")
                    .fetch_one(&self.pool)
                    .await?;
                match first {
                    Some(first) => parse_day(&first)?,
                    None => today,
                }
            }
        };
        let before_text = (from - Duration::days(1)).format("%Y-%m-%d").to_string();
        let from_text = from.format("%Y-%m-%d").to_string();
        let start = sqlx::query(&format!(
            "SELECT {} FROM metrics_daily WHERE day = $1",
            columns()
        ))
        .bind(&before_text)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| row_figures(&row))
        .unwrap_or_default();

        // The days from `from` through today, each starting from the last.
        let span = usize::try_from((today - from).num_days().max(0)).unwrap_or(0) + 1;
        let mut days: Vec<DailyFigures> = Vec::with_capacity(span);
        days.push(DailyFigures::following(&start));
        let mut current = from;
        let mut events =
            sqlx::query("SELECT day, kind, data FROM events WHERE day >= $1 ORDER BY day, seq")
                .bind(&from_text)
                .fetch(&self.pool);
        while let Some(row) = events.try_next().await? {
            let day = parse_day(&row.get::<String, _>("day"))?;
            if day > today {
                break;
            }
            open_days_through(&mut days, &mut current, day);
            let facts = facts(&row.get::<String, _>("kind"), &row.get::<String, _>("data"))?;
            days.last_mut().expect("a day is open").apply(&facts);
        }
        drop(events);
        open_days_through(&mut days, &mut current, today);

        let names = columns();
        let placeholders: Vec<String> = (2..=DAILY_FIGURE_NAMES.len() + 1)
            .map(|index| format!("${index}"))
            .collect();
        let updates: Vec<String> = DAILY_FIGURE_NAMES
            .iter()
            .map(|name| format!("{name} = excluded.{name}"))
            .collect();
        let upsert = format!(
            "INSERT INTO metrics_daily (day, {names}) VALUES ($1, {}) ON CONFLICT (day) DO UPDATE SET {}",
            placeholders.join(", "),
            updates.join(", ")
        );
        let mut transaction = self.write_transaction().await?;
        sqlx::query("DELETE FROM metrics_daily WHERE day >= $1")
            .bind(&from_text)
            .execute(&mut *transaction)
            .await?;
        for (offset, figures) in days.iter().enumerate() {
            let day = from + Duration::days(offset as i64);
            let mut query = sqlx::query(&upsert).bind(day.format("%Y-%m-%d").to_string());
            for value in figures.values() {
                query = query.bind(value);
            }
            query.execute(&mut *transaction).await?;
        }
        if let Some(latest) = latest {
            sqlx::query(
                "INSERT INTO server_facts (fact, value) VALUES ($1, $2)
                 ON CONFLICT (fact) DO UPDATE SET value = excluded.value",
            )
            .bind(ROLLED_FACT)
            .bind(latest.to_string())
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// The rolled-up days from `from` through `to` (inclusive, `YYYY-MM-DD`),
    /// oldest first, and the day before `from` if it was rolled up.
    pub async fn daily_metrics(
        &self,
        from: &str,
        to: &str,
    ) -> Result<(Option<DailyRow>, Vec<DailyRow>), StoreError> {
        let before = (parse_day(from)? - Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        let rows = sqlx::query(&format!(
            "SELECT day, {} FROM metrics_daily WHERE day >= $1 AND day <= $2 ORDER BY day",
            columns()
        ))
        .bind(&before)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut rows: Vec<DailyRow> = rows
            .iter()
            .map(|row| DailyRow {
                day: row.get("day"),
                figures: row_figures(row),
            })
            .collect();
        let before_row = if rows.first().is_some_and(|row| row.day == before) {
            Some(rows.remove(0))
        } else {
            None
        };
        Ok((before_row, rows))
    }
}
