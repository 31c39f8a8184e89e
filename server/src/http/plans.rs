//! `GET /v1/plans` (what can be bought), `GET /v1/usage` (the signed-in
//! user's usage against their plan's limits, for the billing screen) and
//! `POST /v1/policy/decide` (the engine's answer for an action the desktop is
//! about to take).

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
        .add(Method::POST, "/v1/policy/decide", Access::SignedIn, decide)
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

/// An action the desktop asks about before doing it (the engine's answer is
/// the answer; this route never counts usage).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "kind")]
enum AskedAction {
    RunAgent { agent: String, tokens: u64 },
    UseChannel { channel: String },
    CreateGraph,
    AddNodes { graph_nodes: u64, adding: u64 },
    ManageApiKeys,
}

const MAX_ASKED_NAME_CHARS: usize = 100;

async fn decide(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    body: Result<Json<AskedAction>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<orrery_domain::policy::Decision>, ApiError> {
    use orrery_domain::policy::Action;
    let Json(asked) = body?;
    let too_long = |name: &str| name.chars().count() > MAX_ASKED_NAME_CHARS;
    let action = match asked {
        AskedAction::RunAgent { agent, .. } | AskedAction::UseChannel { channel: agent }
            if too_long(&agent) =>
        {
            return Err(ApiError::Unprocessable(format!(
                "names are at most {MAX_ASKED_NAME_CHARS} characters"
            )));
        }
        AskedAction::RunAgent { agent, tokens } => Action::RunAgent { agent, tokens },
        AskedAction::UseChannel { channel } => Action::UseChannel(channel),
        AskedAction::CreateGraph => Action::CreateGraph,
        AskedAction::AddNodes {
            graph_nodes,
            adding,
        } => Action::AddNodes {
            graph_nodes,
            adding,
        },
        AskedAction::ManageApiKeys => Action::ManageApiKeys,
    };
    Ok(Json(
        super::policy::ask(&context, &principal, &action).await?,
    ))
}
