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
        .for_keys(orrery_domain::api_scope::ApiScope::AccountRead)
        .add(Method::POST, "/v1/policy/decide", Access::SignedIn, decide)
        .for_keys(orrery_domain::api_scope::ApiScope::AccountRead)
        .add_admin(
            Method::PUT,
            "/v1/admin/plans/{plan_key}",
            orrery_domain::policy::Action::EditPlans,
            put_plan,
        )
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
pub(super) struct UsageView {
    plan: Plan,
    period_resets_at: Option<String>,
    metrics: Vec<MetricUsage>,
    /// Whether the subscription is paid up (the engine refuses new metered
    /// work while a payment failed); devices decide offline with it.
    in_good_standing: bool,
}

#[utoipa::path(
    get,
    path = "/v1/usage",
    tag = "Account",
    summary = "Usage this period",
    description = "Runs, tokens, API calls and graphs used this billing period (and, in a team's workspace, its seats: members and pending invitations), the plan's limits, and when the period resets.",
    responses(
        (status = 200, description = "The usage", body = Object),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["account:read"]))
)]
pub(super) async fn usage(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<UsageView>, ApiError> {
    let plan =
        context.store.plan(&principal.plan).await?.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("unknown plan `{}`", principal.plan))
        })?;
    let usage = usage_of(&context, &principal).await?;
    let subject = super::policy::subject_of(&context, &principal).await?;
    // Seats count in a team's workspace only.
    let in_team = principal.team_role.is_some();
    let metrics = Metric::ALL
        .into_iter()
        .filter(|metric| *metric != Metric::NodesPerGraph)
        .filter(|metric| in_team || *metric != Metric::Seats)
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
        in_good_standing: subject.in_good_standing,
    }))
}

/// An action the desktop asks about before doing it (the engine's answer is
/// the answer; this route never counts usage).
///
/// Actions without parameters are empty struct variants, not unit ones:
/// serde lets a unit variant of an internally tagged enum ignore any other
/// fields, and `deny_unknown_fields` only reaches struct variants.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "kind")]
pub(super) enum AskedAction {
    RunAgent { agent: String, tokens: u64 },
    RunOwnAgents { tokens: u64 },
    UseChannel { channel: String },
    CreateGraph {},
    AddNodes { graph_nodes: u64, adding: u64 },
    ManageApiKeys {},
}

const MAX_ASKED_NAME_CHARS: usize = 100;

#[utoipa::path(
    post,
    path = "/v1/policy/decide",
    tag = "Account",
    summary = "Ask the policy engine",
    description = "Whether your plan allows an action now, why, and each limit it checked. Nothing is counted.",
    request_body(content = Object, description = "The action, e.g. `{\"action\": \"run_agent\", \"agent\": \"helper\", \"tokens\": 500}`"),
    responses(
        (status = 200, description = "The decision", body = Object),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["account:read"]))
)]
pub(super) async fn decide(
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
        AskedAction::RunOwnAgents { tokens } => Action::RunOwnAgents { tokens },
        AskedAction::UseChannel { channel } => Action::UseChannel(channel),
        AskedAction::CreateGraph {} => Action::CreateGraph,
        AskedAction::AddNodes {
            graph_nodes,
            adding,
        } => Action::AddNodes {
            graph_nodes,
            adding,
        },
        AskedAction::ManageApiKeys {} => Action::ManageApiKeys,
    };
    Ok(Json(
        super::policy::ask(&context, &principal, &action).await?,
    ))
}

/// Admins define plans: creates or replaces one. The key in the path must
/// match the body's; limits, agents and channels are checked for sense. The
/// admin gate has asked the policy engine (`Action::EditPlans`); the change
/// and its audit entry are one transaction.
async fn put_plan(
    State(context): State<ApiContext>,
    admin: super::admin::Admin,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    axum::extract::Path(plan_key): axum::extract::Path<String>,
    body: Result<Json<Plan>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Plan>, ApiError> {
    let Json(plan) = body?;
    let key_ok = |key: &str| {
        !key.is_empty()
            && key.len() <= 40
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !key_ok(&plan_key) || plan.key != plan_key {
        return Err(ApiError::Unprocessable(
            "the plan key must be 1–40 of a-z 0-9 - and match the path".into(),
        ));
    }
    super::auth::check_name(&plan.name, "plan name")?;
    if plan.price_cents > 10_000_000 || plan.trial_days > 365 {
        return Err(ApiError::Unprocessable(
            "price or trial is out of range".into(),
        ));
    }
    if !orrery_domain::policy::is_currency_code(&plan.currency) {
        return Err(ApiError::Unprocessable(
            "a price needs its currency: three lower-case letters of ISO 4217, like `usd` or `eur`"
                .into(),
        ));
    }
    if plan.key == "free" && plan.price_cents != 0 {
        return Err(ApiError::Unprocessable(
            "the free plan costs nothing".into(),
        ));
    }
    let name_ok = |name: &String| super::auth::check_name(name, "name").is_ok();
    let agents_ok = match &plan.agents {
        orrery_domain::policy::AgentAccess::All => true,
        orrery_domain::policy::AgentAccess::Only(agents) => {
            agents.len() <= 1000 && agents.iter().all(name_ok)
        }
    };
    if !agents_ok || plan.channels.len() > 20 || !plan.channels.iter().all(name_ok) {
        return Err(ApiError::Unprocessable(
            "agent and channel names must be 1–100 printable characters".into(),
        ));
    }
    context
        .store
        .put_plan_as_admin(&plan, &admin.actor(peer), context.now())
        .await?;
    tracing::info!(plan = %plan.key, admin = %admin.0.user_id, "plan changed");
    Ok(Json(plan))
}

#[cfg(test)]
mod tests {
    use super::AskedAction;

    #[test]
    fn asked_actions_refuse_unknown_fields_with_or_without_parameters() {
        let read = |json: &str| serde_json::from_str::<AskedAction>(json);
        assert!(matches!(
            read(r#"{"kind":"create_graph"}"#),
            Ok(AskedAction::CreateGraph {})
        ));
        assert!(read(r#"{"kind":"create_graph","evil":1}"#).is_err());
        assert!(read(r#"{"kind":"manage_api_keys","x":null}"#).is_err());
        assert!(read(r#"{"kind":"add_nodes","graph_nodes":1,"adding":2,"x":0}"#).is_err());
        assert!(read(r#"{"kind":"add_nodes","graph_nodes":-1,"adding":2}"#).is_err());
        assert!(
            read(r#"{"kind":"add_nodes","graph_nodes":18446744073709551616,"adding":2}"#).is_err()
        );
    }
}
