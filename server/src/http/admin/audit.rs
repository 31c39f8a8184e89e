//! `/v1/admin/audit-log`: the operator's record of every admin action (who,
//! what, target, before and after, when, from which address), newest first,
//! filtered by actor, action or target; and `/v1/admin/audit-log/verify`,
//! which recomputes the hash chain. No route changes the log: the store
//! appends to it in the same transaction as each admin change, and refuses
//! UPDATE and DELETE on it.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use orrery_domain::policy::Action;
use orrery_store::{AuditEntry, AuditFilter, ChainCheck};
use serde::{Deserialize, Serialize};

use super::{Admin, Paging};
use crate::http::{ApiContext, ApiError, Routes};

/// The actions entries are recorded under.
pub const AUDIT_ACTIONS: [&str; 12] = [
    "user.plan",
    "user.role",
    "user.suspend",
    "user.reactivate",
    "user.trial",
    "user.sessions.revoke",
    "user.export",
    "user.delete",
    "plan.put",
    "prompt.rollback",
    "mail_template.put",
    "mail_template.reset",
];

/// Longest target filter, in characters (a user id or a plan key).
const MAX_TARGET_CHARS: usize = 100;

pub(super) fn router() -> Routes {
    Routes::new()
        .add_admin(
            Method::GET,
            "/v1/admin/audit-log",
            Action::ReadAuditLog,
            list,
        )
        .add_admin(
            Method::GET,
            "/v1/admin/audit-log/verify",
            Action::ReadAuditLog,
            verify,
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// An admin's user id.
    actor: Option<String>,
    /// One of [`AUDIT_ACTIONS`].
    action: Option<String>,
    /// A user id or a plan key.
    target: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[derive(Debug, Serialize)]
struct EntryList {
    entries: Vec<AuditEntry>,
    total: u64,
    page: u64,
    per_page: u64,
}

async fn list(
    State(context): State<ApiContext>,
    _admin: Admin,
    asked: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EntryList>, ApiError> {
    let asked = super::query(asked)?;
    let paging = Paging::from_query(asked.page, asked.per_page)?;
    let actor = asked.actor.as_deref().map(super::user_id).transpose()?;
    if let Some(action) = &asked.action
        && !AUDIT_ACTIONS.contains(&action.as_str())
    {
        return Err(ApiError::Unprocessable(format!(
            "there is no such action; use one of {}",
            AUDIT_ACTIONS.join(", ")
        )));
    }
    if let Some(target) = &asked.target
        && (target.is_empty() || target.chars().count() > MAX_TARGET_CHARS)
    {
        return Err(ApiError::Unprocessable(format!(
            "the target is 1 to {MAX_TARGET_CHARS} characters: a user id or a plan key"
        )));
    }
    let page = context
        .store
        .audit_log(&AuditFilter {
            actor,
            action: asked.action,
            target: asked.target,
            offset: paging.offset(),
            limit: paging.per_page,
        })
        .await?;
    Ok(Json(EntryList {
        entries: page.entries,
        total: page.total,
        page: paging.page,
        per_page: paging.per_page,
    }))
}

async fn verify(
    State(context): State<ApiContext>,
    _admin: Admin,
) -> Result<Json<ChainCheck>, ApiError> {
    let check = context.store.verify_audit_chain().await?;
    if let ChainCheck::Broken { seq, reason } = &check {
        tracing::error!(seq, reason, "the audit log's hash chain is broken");
    }
    Ok(Json(check))
}
