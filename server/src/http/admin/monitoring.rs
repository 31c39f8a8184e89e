//! `GET /v1/admin/monitoring`: runs over the last 30, 90 or 365 days —
//! runs, errors, cancellations, tokens, mean and longest run time, cost —
//! in total, per day, and for the graphs and users with the most runs;
//! narrowed to one graph (`graph`) or one user (`user`) when asked. Read
//! from the runs the event log records (`finished_runs`, one row per
//! `run.finished` event, written in the same transaction).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use chrono::Duration;
use orrery_domain::GraphId;
use orrery_domain::policy::Action;
use orrery_store::{RunFilter, RunMonitoring};
use serde::{Deserialize, Serialize};

use super::{Admin, user_id};
use crate::http::{ApiContext, ApiError, Routes};

pub(super) fn router() -> Routes {
    Routes::new().add_admin(
        Method::GET,
        "/v1/admin/monitoring",
        Action::ReadMetrics,
        monitoring,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitoringQuery {
    /// 30, 90 or 365.
    days: Option<i64>,
    /// Only this graph's runs.
    graph: Option<String>,
    /// Only this user's runs.
    user: Option<String>,
}

#[derive(Debug, Serialize)]
struct Monitoring {
    days: i64,
    /// The window's first and last day, `YYYY-MM-DD` (UTC).
    from: String,
    to: String,
    #[serde(flatten)]
    runs: RunMonitoring,
}

async fn monitoring(
    State(context): State<ApiContext>,
    _admin: Admin,
    asked: Result<Query<MonitoringQuery>, QueryRejection>,
) -> Result<Json<Monitoring>, ApiError> {
    let asked = super::query(asked)?;
    let days = asked.days.unwrap_or(30);
    if !super::overview::WINDOWS.contains(&days) {
        return Err(ApiError::Unprocessable(format!(
            "days must be one of 30, 90 or 365, not {days}"
        )));
    }
    let graph_id = match asked.graph.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<GraphId>()
                .map_err(|_| {
                    let shown: String = text.chars().take(60).collect();
                    ApiError::BadRequest(format!("`{shown}` is not a graph id (a UUID)"))
                })?
                .to_string(),
        ),
    };
    let user = match asked.user.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(user_id(text)?),
    };
    let to = context.now().date_naive();
    let from = to - Duration::days(days - 1);
    let runs = context
        .store
        .run_monitoring(
            from,
            to,
            &RunFilter {
                graph_id,
                user_id: user,
            },
        )
        .await?;
    Ok(Json(Monitoring {
        days,
        from: from.to_string(),
        to: to.to_string(),
        runs,
    }))
}
