//! `/v1/admin/marketplace/*`: what people reported about listings, newest
//! first, and taking a listing off the marketplace. A delisting and its
//! audit entry are one transaction; buyers keep what they bought.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::Method;
use orrery_domain::marketplace::checked_report;
use orrery_domain::policy::Action;
use orrery_store::{AuditEntry, ReportRecord};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Admin;
use crate::http::{ApiContext, ApiError, Routes};

/// Reports listed at once.
const LISTED_REPORTS: u32 = 200;

pub(super) fn router() -> Routes {
    Routes::new()
        .add_admin(
            Method::GET,
            "/v1/admin/marketplace/reports",
            Action::ModerateMarketplace,
            reports,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/marketplace/listings/{listing_id}/delist",
            Action::ModerateMarketplace,
            delist,
        )
}

#[derive(Debug, Serialize)]
struct ReportView {
    listing_id: Uuid,
    title: String,
    reporter_id: Uuid,
    reason: String,
    created_at: String,
}

async fn reports(
    State(context): State<ApiContext>,
    _admin: Admin,
) -> Result<Json<Vec<ReportView>>, ApiError> {
    Ok(Json(
        context
            .store
            .listing_reports(LISTED_REPORTS)
            .await?
            .into_iter()
            .map(|report: ReportRecord| ReportView {
                listing_id: report.listing_id,
                title: report.title,
                reporter_id: report.reporter_user,
                reason: report.reason,
                created_at: report.created_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Delisting {
    /// Why, for the audit log.
    reason: String,
}

async fn delist(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(listing_id): Path<String>,
    body: Result<Json<Delisting>, JsonRejection>,
) -> Result<Json<AuditEntry>, ApiError> {
    let listing: Uuid = listing_id
        .parse()
        .map_err(|_| ApiError::BadRequest("the listing id must be a UUID".into()))?;
    let Json(Delisting { reason }) = body?;
    let reason =
        checked_report(&reason).map_err(|error| ApiError::Unprocessable(error.to_string()))?;
    let entry = context
        .store
        .delist_listing_as_admin(listing, &reason, &admin.actor(peer), context.now())
        .await?
        .ok_or_else(|| ApiError::NotFound("there is no listed listing with this id".into()))?;
    tracing::info!(%listing, "delisted by an admin");
    Ok(Json(entry))
}
