//! Trial reminders: a job (each hour, and at start) that queues "your trial
//! ends in 3 days", "… in 1 day" and "your trial has ended" for every trial
//! in that window. Each reminder's dedupe key names the user, the kind and
//! the trial's end, so however often the job runs — restarts, several
//! instances — each is queued once; a trial extended to a new end is
//! reminded of again.

use chrono::{DateTime, Duration, Utc};
use orrery_store::{MailDraft, ServerStore, StoreError, TrialEnding};
use serde_json::json;

/// How long after its end a trial's "ended" mail is still sent (a server
/// that was down for a while catches up; older trials are left alone).
const ENDED_WITHIN: Duration = Duration::days(7);

/// Which reminder a trial is due now, if any: `(kind, whole days left,
/// rounded up)`.
fn reminder(trial: &TrialEnding, now: DateTime<Utc>) -> Option<(&'static str, i64)> {
    let left = trial.ends_at - now;
    let days = (left.num_seconds() + 86_399) / 86_400;
    if left <= Duration::zero() {
        Some(("ended", 0))
    } else if left <= Duration::days(1) {
        Some(("1", days))
    } else if left <= Duration::days(3) {
        Some(("3", days))
    } else {
        None
    }
}

/// Queues every reminder due at `now`; answers how many were queued now.
pub async fn queue_reminders(store: &ServerStore, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let trials = store
        .trials_ending(now - ENDED_WITHIN, now + Duration::days(3))
        .await?;
    let plans = store.list_plans().await?;
    let mut queued = 0;
    for trial in trials {
        let Some((kind, days)) = reminder(&trial, now) else {
            continue;
        };
        let plan = plans
            .iter()
            .find(|plan| plan.key == trial.plan)
            .map_or_else(|| trial.plan.clone(), |plan| plan.name.clone());
        let (template, data) = if kind == "ended" {
            ("trial_ended", json!({ "name": trial.name, "plan": plan }))
        } else {
            (
                "trial_ending",
                json!({
                    "name": trial.name,
                    "plan": plan,
                    "days": days,
                    "ends_on": trial.ends_at.format("%Y-%m-%d").to_string(),
                }),
            )
        };
        let draft = MailDraft {
            dedupe_key: format!(
                "trial_{kind}:{}:{}",
                trial.user_id,
                orrery_store::timestamp(trial.ends_at)
            ),
            tenant_id: Some(trial.tenant_id),
            to: trial.email,
            template: template.to_owned(),
            data,
        };
        if store.queue_mail(&draft, now).await? {
            queued += 1;
        }
    }
    Ok(queued)
}
