//! `/v1/admin/marketplace/*`: what people reported about listings, newest
//! first, and taking a listing off the marketplace (a delisting and its
//! audit entry are one transaction; buyers keep what they bought);
//! refunding a purchase; and the platform's commission rate, audited.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::Method;
use orrery_domain::marketplace::{checked_commission, checked_report};
use orrery_domain::policy::Action;
use orrery_store::{AuditEntry, ReportRecord};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Admin;
use crate::http::market_sales::{self, RefundRequest, RefundView};
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
        .add_admin(
            Method::POST,
            "/v1/admin/marketplace/purchases/{purchase_id}/refund",
            Action::ModerateMarketplace,
            refund,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/marketplace/reconcile",
            Action::ModerateMarketplace,
            reconcile,
        )
        .add_admin(
            Method::GET,
            "/v1/admin/marketplace/commission",
            Action::ModerateMarketplace,
            commission,
        )
        .add_admin(
            Method::PUT,
            "/v1/admin/marketplace/commission",
            Action::ModerateMarketplace,
            set_commission,
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

/// Refunds a purchase as an admin: Stripe refunds it (transfer reversed,
/// fee given back) and the copy leaves the buyer's library.
async fn refund(
    State(context): State<ApiContext>,
    _admin: Admin,
    Path(purchase_id): Path<String>,
    body: Result<Json<RefundRequest>, JsonRejection>,
) -> Result<Json<RefundView>, ApiError> {
    let purchase = market_sales::purchase_id(&purchase_id)?;
    let reason = market_sales::refund_reason(body)?;
    let refunded = market_sales::refund(
        &context,
        purchase,
        &format!("refunded by an admin: {reason}"),
        market_sales::Refunder::Admin,
    )
    .await?;
    tracing::info!(%purchase, "refunded by an admin");
    Ok(Json(RefundView::of(refunded)))
}

/// The platform's commission on marketplace sales.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Commission {
    /// Basis points: 2000 is 20%.
    commission_bps: u32,
}

async fn commission(
    State(context): State<ApiContext>,
    _admin: Admin,
) -> Result<Json<Commission>, ApiError> {
    Ok(Json(Commission {
        commission_bps: market_sales::commission_bps(&context).await?,
    }))
}

async fn set_commission(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    body: Result<Json<Commission>, JsonRejection>,
) -> Result<Json<AuditEntry>, ApiError> {
    let Json(Commission { commission_bps }) = body?;
    checked_commission(commission_bps)
        .map_err(|error| ApiError::Unprocessable(error.to_string()))?;
    let before = market_sales::commission_bps(&context).await?;
    let entry = context
        .store
        .set_commission_bps(commission_bps, before, &admin.actor(peer), context.now())
        .await?;
    tracing::info!(commission_bps, "the marketplace commission was set");
    Ok(Json(entry))
}

/// Runs the reconciliation pass now (it also runs at start and hourly):
/// purchases Stripe lists as paid are settled and delivered.
async fn reconcile(
    State(context): State<ApiContext>,
    _admin: Admin,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<market_sales::Reconciled>, ApiError> {
    crate::http::body::refuse_body(body)?;
    Ok(Json(market_sales::reconcile(&context, false).await?))
}
