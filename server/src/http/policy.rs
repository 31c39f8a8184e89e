//! Where routes ask the access policy engine (`orrery_domain::policy`). Routes
//! never check plans themselves: they call [`allowed`] for features and
//! [`meter`] for metered actions, which counts the action only if the engine
//! allowed it on the count it saw (compare-and-set, retried on a race).

use chrono::{DateTime, Datelike, TimeZone, Utc};
use orrery_domain::policy::{Action, Decision, Metric, Role, Subject, Usage, decide};
use orrery_store::{Principal, timestamp};

use super::{ApiContext, ApiError};

/// The billing period an instant falls in: its UTC month, `YYYY-MM`.
pub fn period_of(now: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", now.year(), now.month())
}

/// When the period that contains `now` ends.
pub fn period_resets_at(now: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists")
}

fn denied(decision: Decision, context: &ApiContext) -> ApiError {
    let now = context.now();
    let retry_after_secs = decision
        .limits
        .iter()
        .find(|limit| !limit.holds() && limit.metric.resets_each_period())
        .map(|_| (period_resets_at(now) - now).num_seconds().max(1) as u64);
    ApiError::Denied {
        decision,
        retry_after_secs,
    }
}

/// A principal's usage now, with the period's reset time.
pub(super) async fn usage_of(
    context: &ApiContext,
    principal: &Principal,
) -> Result<Usage, ApiError> {
    let now = context.now();
    let mut usage = context
        .store
        .usage(principal.tenant_id, principal.user_id, &period_of(now))
        .await?;
    usage.period_resets_at = Some(timestamp(period_resets_at(now)));
    Ok(usage)
}

async fn decision_for(
    context: &ApiContext,
    principal: &Principal,
    action: &Action,
) -> Result<(Decision, Usage), ApiError> {
    let plan = context.store.plan(&principal.plan).await?.ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "user is on unknown plan `{}`",
            principal.plan
        ))
    })?;
    let usage = usage_of(context, principal).await?;
    let subject = subject_of(context, principal).await?;
    Ok((decide(&subject, action, &plan, &usage), usage))
}

/// Who the engine is asked about: the principal's role and standing. A
/// principal is never suspended (credentials of suspended users resolve to
/// no one), so `suspended` is false here by construction.
pub(super) async fn subject_of(
    context: &ApiContext,
    principal: &Principal,
) -> Result<Subject, ApiError> {
    Ok(Subject {
        in_good_standing: !context
            .store
            .payment_failed(principal.tenant_id, principal.user_id)
            .await?,
        role: match principal.role {
            orrery_store::Role::User => Role::User,
            orrery_store::Role::Admin => Role::Admin,
        },
        suspended: false,
    })
}

/// The engine's answer for an operator capability (plan and usage play no
/// part in it, so they are not read): the admin routes' gate asks this.
pub(super) async fn administer(
    context: &ApiContext,
    principal: &Principal,
    action: &Action,
) -> Result<Decision, ApiError> {
    debug_assert!(action.is_administration());
    let subject = subject_of(context, principal).await?;
    let decision = decide(&subject, action, &NO_PLAN, &Usage::default());
    if decision.allowed {
        Ok(decision)
    } else {
        Err(ApiError::Forbidden(decision.reason))
    }
}

/// The plan administration is decided against: none applies to it.
static NO_PLAN: std::sync::LazyLock<orrery_domain::policy::Plan> =
    std::sync::LazyLock::new(|| orrery_domain::policy::Plan {
        key: "administration".into(),
        name: "Administration".into(),
        price_cents: 0,
        interval: orrery_domain::policy::BillingInterval::Month,
        limits: Default::default(),
        agents: orrery_domain::policy::AgentAccess::All,
        channels: Default::default(),
        api_keys: false,
        trial_days: 0,
        currency: "usd".into(),
    });

/// The engine's answer, allow or deny, without counting anything.
pub(super) async fn ask(
    context: &ApiContext,
    principal: &Principal,
    action: &Action,
) -> Result<Decision, ApiError> {
    Ok(decision_for(context, principal, action).await?.0)
}

/// Asks the engine about an unmetered action (a feature of the plan).
pub(super) async fn allowed(
    context: &ApiContext,
    principal: &Principal,
    action: &Action,
) -> Result<Decision, ApiError> {
    let (decision, _) = decision_for(context, principal, action).await?;
    if decision.allowed {
        Ok(decision)
    } else {
        Err(denied(decision, context))
    }
}

/// Asks the engine about a metered action and counts it when allowed. The
/// count moves only from the value the engine saw, so concurrent requests can
/// never take more than the limit.
pub(super) async fn meter(
    context: &ApiContext,
    principal: &Principal,
    action: &Action,
) -> Result<Decision, ApiError> {
    const ATTEMPTS: usize = 1_000;
    for _ in 0..ATTEMPTS {
        let (decision, usage) = decision_for(context, principal, action).await?;
        if !decision.allowed {
            return Err(denied(decision, context));
        }
        let period = period_of(context.now());
        let changes: Vec<_> = decision
            .limits
            .iter()
            .filter(|limit| limit.metric.resets_each_period())
            .map(|limit| (limit.metric, usage.of(limit.metric), limit.requested))
            .collect();
        // Metrics the plan does not limit are still counted, for the usage
        // screen: in the same transaction.
        let uncounted = unlimited_period_metrics(action, &decision);
        let counted = context
            .store
            .add_usage_if_unchanged(
                principal.tenant_id,
                principal.user_id,
                &period,
                &changes,
                &uncounted,
                matches!(action, Action::CallApi)
                    .then(|| (orrery_store::EventKind::ApiCall, context.now())),
            )
            .await?;
        if counted {
            return Ok(decision);
        }
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "usage could not be counted after {ATTEMPTS} attempts"
    )))
}

/// Per-period metrics of an action that the plan does not limit: `(metric, amount)`.
fn unlimited_period_metrics(action: &Action, decision: &Decision) -> Vec<(Metric, u64)> {
    let wanted: Vec<(Metric, u64)> = match action {
        Action::CallApi => vec![(Metric::ApiCalls, 1)],
        Action::RunAgent { tokens, .. } | Action::RunOwnAgents { tokens } => {
            vec![(Metric::Runs, 1), (Metric::Tokens, *tokens)]
        }
        _ => Vec::new(),
    };
    wanted
        .into_iter()
        .filter(|(metric, _)| decision.limits.iter().all(|limit| limit.metric != *metric))
        .collect()
}
