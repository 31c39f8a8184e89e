//! `/v1/admin/users`: every tenant's users for the operator — search by
//! address or name, filter by plan, role and status, sort, page — and the
//! changes an admin makes to one: plan, role, trial, suspension, signing
//! out of every device. Each change and its
//! audit entry are one transaction in the store; a suspension also closes
//! the user's live feeds on every instance.
//!
//! Input is checked before anything is read: an unknown plan, role, status
//! or sort, a search over [`MAX_SEARCH_CHARS`](super::MAX_SEARCH_CHARS), a page out of range or a user
//! id that is not a UUID is a 4xx with the reason, and nothing changes. A
//! page past the last one is an empty page with the total.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::Method;
use orrery_domain::policy::{Action, Metric};
use orrery_store::{
    AdminChange, AdminUser, AdminUserChange, AuditEntry, AuditFilter, DeviceSession, InvoiceRecord,
    Role, UserSearch, UserSort, UserStatus,
};
use serde::{Deserialize, Serialize};

use super::{Admin, Paging, user_id};
use crate::http::{ApiContext, ApiError, Routes};

pub(super) fn router() -> Routes {
    Routes::new()
        .add_admin(Method::GET, "/v1/admin/users", Action::ListUsers, list)
        .add_admin(
            Method::GET,
            "/v1/admin/users/{user_id}",
            Action::ListUsers,
            show,
        )
        .add_admin(
            Method::PUT,
            "/v1/admin/users/{user_id}/plan",
            Action::ChangeUserPlan,
            change_plan,
        )
        .add_admin(
            Method::PUT,
            "/v1/admin/users/{user_id}/role",
            Action::ChangeUserRole,
            change_role,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/users/{user_id}/suspend",
            Action::SuspendUsers,
            suspend,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/users/{user_id}/reactivate",
            Action::SuspendUsers,
            reactivate,
        )
        .add_admin(
            Method::PUT,
            "/v1/admin/users/{user_id}/trial",
            Action::ChangeUserTrial,
            change_trial,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/users/{user_id}/sessions/revoke",
            Action::RevokeUserSessions,
            revoke_sessions,
        )
}

/// The furthest a trial may be extended, from now.
const MAX_TRIAL_DAYS: i64 = 366;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Part of the address or name.
    query: Option<String>,
    plan: Option<String>,
    role: Option<String>,
    status: Option<String>,
    /// `created_at` (default), `email` or `name`.
    sort: Option<String>,
    /// `asc` or `desc` (default: newest first for `created_at`, else `asc`).
    order: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[derive(Debug, Serialize)]
struct UserList {
    users: Vec<AdminUser>,
    total: u64,
    page: u64,
    per_page: u64,
}

fn parse_role(text: &str) -> Result<Role, ApiError> {
    match text {
        "user" => Ok(Role::User),
        "admin" => Ok(Role::Admin),
        _ => Err(ApiError::Unprocessable(
            "there is no such role: use `user` or `admin`".into(),
        )),
    }
}

fn parse_status(text: &str) -> Result<UserStatus, ApiError> {
    match text {
        "active" => Ok(UserStatus::Active),
        "trialing" => Ok(UserStatus::Trialing),
        "past_due" => Ok(UserStatus::PastDue),
        "suspended" => Ok(UserStatus::Suspended),
        _ => Err(ApiError::Unprocessable(
            "there is no such status: use `active`, `trialing`, `past_due` or `suspended`".into(),
        )),
    }
}

/// A plan key the store holds, or a 422.
async fn known_plan(context: &ApiContext, key: &str) -> Result<(), ApiError> {
    let plausible = !key.is_empty() && key.len() <= 40;
    if plausible && context.store.plan(key).await?.is_some() {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(
            "there is no such plan; GET /v1/plans lists them".into(),
        ))
    }
}

async fn list(
    State(context): State<ApiContext>,
    _admin: Admin,
    asked: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<UserList>, ApiError> {
    let asked = super::query(asked)?;
    let paging = Paging::from_query(asked.page, asked.per_page)?;
    let text = super::search_text(asked.query.as_deref())?;
    if let Some(plan) = &asked.plan {
        known_plan(&context, plan).await?;
    }
    let sort = match asked.sort.as_deref() {
        None | Some("created_at") => UserSort::CreatedAt,
        Some("email") => UserSort::Email,
        Some("name") => UserSort::Name,
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "sort by `created_at`, `email` or `name`".into(),
            ));
        }
    };
    let descending = match asked.order.as_deref() {
        None => sort == UserSort::CreatedAt,
        Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(ApiError::Unprocessable("order is `asc` or `desc`".into()));
        }
    };
    let search = UserSearch {
        text,
        plan: asked.plan,
        role: asked.role.as_deref().map(parse_role).transpose()?,
        status: asked.status.as_deref().map(parse_status).transpose()?,
        sort,
        descending,
        offset: paging.offset(),
        limit: paging.per_page,
    };
    let page = context.store.search_users(&search, context.now()).await?;
    Ok(Json(UserList {
        users: page.users,
        total: page.total,
        page: paging.page,
        per_page: paging.per_page,
    }))
}

/// One user as the admin window opens them: the account, usage against the
/// plan's limits this period, signed-in devices, API keys, invoices and the
/// latest admin actions on them.
#[derive(Debug, Serialize)]
struct UserDetail {
    #[serde(flatten)]
    user: AdminUser,
    usage: Vec<MetricUsage>,
    period_resets_at: Option<String>,
    devices: Vec<DeviceSession>,
    api_keys: usize,
    invoices: Vec<InvoiceRecord>,
    recent_admin_actions: Vec<AuditEntry>,
}

#[derive(Debug, Serialize)]
struct MetricUsage {
    metric: Metric,
    used: u64,
    /// `None`: unlimited.
    limit: Option<u64>,
}

/// Admin actions shown with a user.
const RECENT_ADMIN_ACTIONS: u64 = 10;

async fn show(
    State(context): State<ApiContext>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<UserDetail>, ApiError> {
    let id = user_id(&id)?;
    let now = context.now();
    let user = context
        .store
        .admin_user(id, now)
        .await?
        .ok_or_else(|| ApiError::NotFound("no user has this id".into()))?;
    let plan = context.store.plan(&user.plan).await?;
    let usage = context
        .store
        .usage(user.tenant_id, id, &crate::http::policy::period_of(now))
        .await?;
    let usage_view = Metric::ALL
        .into_iter()
        .filter(|metric| !matches!(metric, Metric::NodesPerGraph | Metric::Seats))
        .map(|metric| MetricUsage {
            metric,
            used: usage.of(metric),
            limit: plan.as_ref().and_then(|plan| plan.limits.of(metric)),
        })
        .collect();
    let recent = context
        .store
        .audit_log(&AuditFilter {
            target: Some(id.to_string()),
            limit: RECENT_ADMIN_ACTIONS,
            ..AuditFilter::default()
        })
        .await?;
    Ok(Json(UserDetail {
        usage: usage_view,
        period_resets_at: Some(orrery_store::timestamp(
            crate::http::policy::period_resets_at(now),
        )),
        devices: context.store.user_devices(id).await?,
        api_keys: context.store.list_api_keys(user.tenant_id, id).await?.len(),
        invoices: context.store.list_invoices(user.tenant_id, id).await?,
        recent_admin_actions: recent.entries,
        user,
    }))
}

/// What a change answers: the user after it and the entry that records it.
#[derive(Debug, Serialize)]
struct Changed {
    user: AdminUser,
    audit: AuditEntry,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanChange {
    plan: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: String,
}

async fn change_plan(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    body: Result<Json<PlanChange>, JsonRejection>,
) -> Result<Json<Changed>, ApiError> {
    let id = user_id(&id)?;
    let Json(PlanChange { plan }) = body?;
    known_plan(&context, &plan).await?;
    apply(&context, &admin, peer, id, AdminUserChange::Plan(plan)).await
}

async fn change_role(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    body: Result<Json<RoleChange>, JsonRejection>,
) -> Result<Json<Changed>, ApiError> {
    let id = user_id(&id)?;
    let Json(RoleChange { role }) = body?;
    let role = parse_role(&role)?;
    if id == admin.0.user_id && role != Role::Admin {
        return Err(ApiError::Conflict(
            "you cannot take away your own admin role; ask another admin".into(),
        ));
    }
    apply(&context, &admin, peer, id, AdminUserChange::Role(role)).await
}

async fn suspend(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    let id = user_id(&id)?;
    if id == admin.0.user_id {
        return Err(ApiError::Conflict(
            "you cannot suspend your own account; ask another admin".into(),
        ));
    }
    let changed = apply(&context, &admin, peer, id, AdminUserChange::Suspend).await?;
    // Feeds already open close now, on this instance and every other.
    context.live.disconnect_user(id).await;
    Ok(changed)
}

async fn reactivate(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    let id = user_id(&id)?;
    apply(&context, &admin, peer, id, AdminUserChange::Reactivate).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrialChange {
    /// When the trial ends (RFC 3339, in the future); `null` ends it now.
    ends_at: Option<String>,
}

async fn change_trial(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    body: Result<Json<TrialChange>, JsonRejection>,
) -> Result<Json<Changed>, ApiError> {
    let id = user_id(&id)?;
    let Json(TrialChange { ends_at }) = body?;
    let now = context.now();
    let ends_at = match ends_at {
        None => None,
        Some(text) => {
            let at = chrono::DateTime::parse_from_rfc3339(&text)
                .map_err(|_| {
                    ApiError::Unprocessable(
                        "ends_at is a time in RFC 3339, like 2027-01-31T00:00:00Z".into(),
                    )
                })?
                .with_timezone(&chrono::Utc);
            if at <= now {
                return Err(ApiError::Unprocessable(
                    "a trial cannot end in the past; send null to end it now".into(),
                ));
            }
            if at > now + chrono::Duration::days(MAX_TRIAL_DAYS) {
                return Err(ApiError::Unprocessable(format!(
                    "a trial ends within {MAX_TRIAL_DAYS} days"
                )));
            }
            Some(at)
        }
    };
    apply(&context, &admin, peer, id, AdminUserChange::Trial(ends_at)).await
}

async fn revoke_sessions(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    let id = user_id(&id)?;
    let changed = apply(&context, &admin, peer, id, AdminUserChange::RevokeSessions).await?;
    // Their devices' feeds close too (clients with API keys reconnect).
    context.live.disconnect_user(id).await;
    Ok(changed)
}

async fn apply(
    context: &ApiContext,
    admin: &Admin,
    peer: std::net::SocketAddr,
    id: uuid::Uuid,
    change: AdminUserChange,
) -> Result<Json<Changed>, ApiError> {
    let action = change.action_name();
    match context
        .store
        .change_user_as_admin(id, &change, &admin.actor(peer), context.now())
        .await?
    {
        AdminChange::Done { user, entry } => {
            tracing::info!(admin = %admin.0.user_id, user = %id, action, "admin changed a user");
            Ok(Json(Changed {
                user: *user,
                audit: *entry,
            }))
        }
        AdminChange::NoSuchUser => Err(ApiError::NotFound("no user has this id".into())),
        AdminChange::UnknownPlan => Err(ApiError::Unprocessable(
            "there is no such plan; GET /v1/plans lists them".into(),
        )),
        AdminChange::LastAdmin => Err(ApiError::Conflict(
            "this is the server's last active admin; make another admin first".into(),
        )),
    }
}
