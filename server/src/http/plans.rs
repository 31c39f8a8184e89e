//! `GET /v1/plans` (what can be bought) and `GET /v1/usage` (the signed-in
//! user's usage against their plan's limits, for the billing screen).

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use orrery_domain::policy::{Metric, Plan};
use serde::Serialize;

use super::policy::usage_of;
use super::{Access, ApiContext, ApiError, Routes, SignedIn};

pub(super) fn router() -> Routes {
    Routes::new()
        .add(Method::GET, "/v1/plans", Access::Public, list_plans)
        .add(Method::GET, "/v1/usage", Access::SignedIn, usage)
}

async fn list_plans(State(context): State<ApiContext>) -> Result<Json<Vec<Plan>>, ApiError> {
    Ok(Json(context.store.list_plans().await?))
}

#[derive(Serialize)]
struct MetricUsage {
    metric: Metric,
    used: u64,
    /// `None`: unlimited.
    limit: Option<u64>,
}

#[derive(Serialize)]
struct UsageView {
    plan: Plan,
    period_resets_at: Option<String>,
    metrics: Vec<MetricUsage>,
}

async fn usage(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<UsageView>, ApiError> {
    let plan =
        context.store.plan(&principal.plan).await?.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("unknown plan `{}`", principal.plan))
        })?;
    let usage = usage_of(&context, &principal).await?;
    let metrics = Metric::ALL
        .into_iter()
        .filter(|metric| *metric != Metric::NodesPerGraph)
        .map(|metric| MetricUsage {
            metric,
            used: usage.of(metric),
            limit: plan.limits.of(metric),
        })
        .collect();
    Ok(Json(UsageView {
        plan,
        period_resets_at: usage.period_resets_at,
        metrics,
    }))
}
