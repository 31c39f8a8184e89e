//! `POST /v1/runs/finished`: a device reports the runs it finished (its
//! usage ledger's entries not yet acknowledged). Each entry counts once by
//! its id, however often it is sent and however many reports race: its row,
//! its `run.finished` event and the runs and tokens it adds to this period's
//! usage are one transaction. The answer acknowledges every entry of the
//! report, so the device stops sending them.
//!
//! A report is checked whole before anything is stored: more than
//! [`MAX_RUNS_PER_REPORT`] entries, a field past its limit or an unknown
//! field is a 4xx with the reason, and nothing is counted.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::Method;
use orrery_domain::runs::{MAX_RUNS_PER_REPORT, RunReceipt, RunReport};

use super::{Access, ApiContext, ApiError, Routes, SignedIn};

/// Largest report: 500 entries of about 2.5 kB at most, with room.
const MAX_REPORT_BYTES: usize = 2 * 1024 * 1024;

pub(super) fn router() -> Routes {
    Routes::new()
        .add_limited(
            Method::POST,
            "/v1/runs/finished",
            Access::SignedIn,
            MAX_REPORT_BYTES,
            report_finished_runs,
        )
        // A device working in a team reports the runs it made there.
        .in_teams(orrery_domain::team::TeamAction::Run)
}

async fn report_finished_runs(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    body: Result<Json<RunReport>, JsonRejection>,
) -> Result<Json<RunReceipt>, ApiError> {
    let Json(report) = body?;
    if report.runs.len() > MAX_RUNS_PER_REPORT {
        return Err(ApiError::PayloadTooLarge(format!(
            "a report holds at most {MAX_RUNS_PER_REPORT} runs, not {}",
            report.runs.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (index, run) in report.runs.iter().enumerate() {
        run.validate()
            .map_err(|error| ApiError::Unprocessable(format!("run {index}: {error}")))?;
        if !seen.insert(run.id) {
            return Err(ApiError::Unprocessable(format!(
                "run {index}: the entry {} is in the report twice",
                run.id
            )));
        }
    }
    let now = context.now();
    let period = super::policy::period_of(now);
    let counted = context
        .store
        .count_finished_runs(
            principal.tenant_id,
            principal.user_id,
            &period,
            &report.runs,
            now,
        )
        .await?;
    if counted.counted > 0 {
        tracing::info!(user = %principal.user_id, runs = counted.counted, "counted finished runs");
    }
    Ok(Json(RunReceipt {
        counted: counted.counted,
        already_counted: counted.already_counted,
        acknowledged: report.runs.iter().map(|run| run.id).collect(),
    }))
}
