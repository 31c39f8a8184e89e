//! `GET /v1/admin/tenants`: every tenant with its members, what it holds and
//! its usage this period, newest first; searched by a part of its name or
//! of a member's address, in pages.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use orrery_domain::policy::Action;
use orrery_store::TenantSummary;
use serde::{Deserialize, Serialize};

use super::{Admin, Paging};
use crate::http::{ApiContext, ApiError, Routes};

pub(super) fn router() -> Routes {
    Routes::new().add_admin(Method::GET, "/v1/admin/tenants", Action::ListUsers, list)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Part of the name or of a member's address.
    query: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[derive(Debug, Serialize)]
struct TenantList {
    tenants: Vec<TenantSummary>,
    total: u64,
    page: u64,
    per_page: u64,
    /// The usage period the figures count (`YYYY-MM`).
    period: String,
}

async fn list(
    State(context): State<ApiContext>,
    _admin: Admin,
    asked: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<TenantList>, ApiError> {
    let asked = super::query(asked)?;
    let paging = Paging::from_query(asked.page, asked.per_page)?;
    let text = super::search_text(asked.query.as_deref())?;
    let period = crate::http::policy::period_of(context.now());
    let page = context
        .store
        .list_tenants(text.as_deref(), &period, paging.offset(), paging.per_page)
        .await?;
    Ok(Json(TenantList {
        tenants: page.tenants,
        total: page.total,
        page: paging.page,
        per_page: paging.per_page,
        period,
    }))
}
