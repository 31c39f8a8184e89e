//! `/v1/admin/overview`: the server's figures over the last 30, 90 or 365
//! days (users, subscriptions, trials, MRR and its movements, ARR, ARPU,
//! churn), with the window before for comparison and one point per day for
//! the charts; and `/v1/admin/metrics/rebuild`, which recomputes the daily
//! rollups from the event log. Definitions: `orrery_domain::revenue`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use chrono::{Duration, NaiveDate};
use orrery_domain::policy::Action;
use orrery_domain::revenue::{DailyFigures, WindowFigures};
use orrery_store::DailyRow;
use serde::{Deserialize, Serialize};

use super::Admin;
use crate::http::{ApiContext, ApiError, Routes};

/// The windows the overview offers, in days.
pub const WINDOWS: [i64; 3] = [30, 90, 365];

pub(super) fn router() -> Routes {
    Routes::new()
        .add_admin(
            Method::GET,
            "/v1/admin/overview",
            Action::ReadMetrics,
            overview,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/metrics/rebuild",
            Action::ReadMetrics,
            rebuild,
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverviewQuery {
    /// 30, 90 or 365.
    days: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Overview {
    /// The window's length.
    days: i64,
    /// Its first and last day, `YYYY-MM-DD` (UTC; the last is today).
    from: String,
    to: String,
    /// The window's figures.
    figures: WindowFigures,
    /// The same figures over the window before, for comparison.
    previous: WindowFigures,
    /// One point per day of the window, oldest first.
    series: Vec<DailyRow>,
}

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Every day from `from` through `to`: the rolled-up row, or for days before
/// the first event, an empty one.
fn every_day(
    from: NaiveDate,
    to: NaiveDate,
    before: Option<&DailyRow>,
    rows: &[DailyRow],
) -> Vec<DailyRow> {
    let mut rows = rows.iter().peekable();
    let mut last = before.map(|row| row.figures).unwrap_or_default();
    let mut series = Vec::new();
    let mut day = from;
    while day <= to {
        let text = day_text(day);
        let figures = match rows.peek() {
            Some(row) if row.day == text => {
                last = row.figures;
                rows.next();
                last
            }
            _ => DailyFigures::following(&last),
        };
        series.push(DailyRow { day: text, figures });
        day += Duration::days(1);
    }
    series
}

async fn overview(
    State(context): State<ApiContext>,
    _admin: Admin,
    asked: Result<Query<OverviewQuery>, QueryRejection>,
) -> Result<Json<Overview>, ApiError> {
    let asked = super::query(asked)?;
    let days = asked.days.unwrap_or(30);
    if !WINDOWS.contains(&days) {
        return Err(ApiError::Unprocessable(format!(
            "days must be one of 30, 90 or 365, not {days}"
        )));
    }
    let now = context.now();
    context.store.refresh_metrics(now).await?;
    let to = now.date_naive();
    let from = to - Duration::days(days - 1);
    let previous_from = from - Duration::days(days);
    let (before, rows) = context
        .store
        .daily_metrics(&day_text(previous_from), &day_text(to))
        .await?;
    let all = every_day(previous_from, to, before.as_ref(), &rows);
    let split = usize::try_from(days).unwrap_or_default();
    let (previous_days, window_days) = all.split_at(all.len() - split);
    let figures_of = |rows: &[DailyRow]| rows.iter().map(|row| row.figures).collect::<Vec<_>>();
    let previous = WindowFigures::over(
        before.as_ref().map(|row| &row.figures),
        &figures_of(previous_days),
    );
    let figures = WindowFigures::over(
        previous_days.last().map(|row| &row.figures),
        &figures_of(window_days),
    );
    Ok(Json(Overview {
        days,
        from: day_text(from),
        to: day_text(to),
        figures,
        previous,
        series: window_days.to_vec(),
    }))
}

#[derive(Debug, Serialize)]
struct Rebuilt {
    rebuilt: bool,
}

/// Rebuilds the rollups. The route takes no body: one sent is refused, so a
/// client that meant another route hears so.
async fn rebuild(
    State(context): State<ApiContext>,
    _admin: Admin,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Rebuilt>, ApiError> {
    crate::http::body::refuse_body(body)?;
    context.store.rebuild_metrics(context.now()).await?;
    Ok(Json(Rebuilt { rebuilt: true }))
}
