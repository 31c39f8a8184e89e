//! The money side of the marketplace (F22, F23): sellers connect a Stripe
//! account, buyers pay through Stripe Checkout, the item is delivered once
//! the payment is known, refunds take it back, and sellers see their sales.
//!
//! - `GET /v1/marketplace/seller`, `POST /v1/marketplace/seller/onboarding`:
//!   a tenant's Express connected account and a fresh Account Link to
//!   Stripe's forms. Stripe sends the browser back to
//!   `/v1/marketplace/onboarding/{token}/return` (which reads the account's
//!   state from Stripe) or, for an expired or used link, `.../refresh`
//!   (which makes a new one). `account.updated` keeps the state current.
//! - A paid purchase is `pending` with a Checkout Session (a destination
//!   charge to the seller, the commission as the application fee) until
//!   Stripe says it is paid: the `checkout.session.completed` webhook, or
//!   the reconciliation pass at start and every hour, which lists complete
//!   sessions from Stripe. Either way the session is read back from Stripe
//!   and must name the purchase, its listing and buyer, its amount and
//!   currency; then the purchase moves to `paid` with its ledger rows, once.
//! - Delivery copies the bought version into the buyer's library under an
//!   id derived from the payment, so a delivery repeated after a crash
//!   lands on the same item. A refund (by the seller or an admin, or one
//!   made in Stripe's dashboard: `charge.refunded`) reverses the transfer,
//!   gives the fee back, writes its ledger rows and deletes the copy, which
//!   every device of the buyer's then syncs; the buyer gets an email.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use orrery_domain::DocumentId;
use orrery_domain::marketplace::{DEFAULT_COMMISSION_BPS, checked_report};
use orrery_store::{
    ListingRecord, MailDraft, PayoutRecord, Principal, PurchaseRecord, SellerRecord, SellerState,
};
use orrery_sync::LibraryDocument;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Access, ApiContext, ApiError, Routes, SignedIn};
use crate::billing::Billing;
use crate::billing::connect::{ListingCheckout, PURCHASE_KEY, PaidCheckout};

/// Sales listed on the Sales screen.
const LISTED_SALES: u32 = 200;
/// How long a delivery may take before another takes it over.
pub(super) const DELIVERY_LEASE: chrono::Duration = chrono::Duration::seconds(60);
/// How far back a reconciliation pass looks for refunds made in Stripe
/// (its webhook missed): a day, with the hourly passes overlapping.
const RECONCILE_REFUNDS: chrono::Duration = chrono::Duration::hours(25);
/// Most refunds one pass reads.
const RECONCILE_MAX_REFUNDS: usize = 10_000;
/// Most complete Checkout Sessions one reconciliation pass reads.
const RECONCILE_MAX_SESSIONS: usize = 10_000;
/// How far before the oldest pending purchase a pass asks Stripe from.
const RECONCILE_MARGIN: chrono::Duration = chrono::Duration::hours(1);

pub(super) fn router() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/v1/marketplace/seller",
            Access::SignedIn,
            seller,
        )
        .add(
            Method::POST,
            "/v1/marketplace/seller/onboarding",
            Access::SignedIn,
            start_onboarding,
        )
        .add(
            Method::GET,
            "/v1/marketplace/onboarding/{token}/refresh",
            Access::Public,
            onboarding_refresh,
        )
        .add(
            Method::GET,
            "/v1/marketplace/onboarding/{token}/return",
            Access::Public,
            onboarding_return,
        )
        .add(
            Method::GET,
            "/v1/marketplace/sales",
            Access::SignedIn,
            sales,
        )
        .add(
            Method::POST,
            "/v1/marketplace/purchases/{purchase_id}/refund",
            Access::SignedIn,
            seller_refund,
        )
}

fn payments(context: &ApiContext) -> Result<&Billing, ApiError> {
    context.billing.as_deref().ok_or_else(|| {
        ApiError::NotFound("this server takes no payments: Stripe is not configured".into())
    })
}

/// The commission rate in force.
pub(super) async fn commission_bps(context: &ApiContext) -> Result<u32, ApiError> {
    Ok(context
        .store
        .commission_bps()
        .await?
        .unwrap_or(DEFAULT_COMMISSION_BPS))
}

/// A tenant's selling account, as the app shows it.
#[derive(Debug, Serialize)]
struct SellerView {
    /// This server takes payments at all.
    payments: bool,
    /// A Stripe account is connected.
    connected: bool,
    charges_enabled: bool,
    payouts_enabled: bool,
    details_submitted: bool,
    /// The platform's commission, basis points.
    commission_bps: u32,
}

/// The stored seller, with its state read again from Stripe while it
/// cannot take charges yet (a missed `account.updated` heals here).
async fn current_seller(
    context: &ApiContext,
    tenant: Uuid,
) -> Result<Option<SellerRecord>, ApiError> {
    let Some(mut seller) = context.store.seller(tenant).await? else {
        return Ok(None);
    };
    if !seller.state.charges_enabled
        && let Some(billing) = context.billing.as_deref()
    {
        match billing.seller_state(&seller.stripe_account).await {
            Ok(state) if state != seller.state => {
                context
                    .store
                    .set_seller_state(&seller.stripe_account, state, context.now())
                    .await?;
                seller.state = state;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "a seller's Stripe account could not be read"),
        }
    }
    Ok(Some(seller))
}

async fn seller(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<SellerView>, ApiError> {
    let seller = current_seller(&context, principal.tenant_id).await?;
    let state = seller
        .as_ref()
        .map(|seller| seller.state)
        .unwrap_or_default();
    Ok(Json(SellerView {
        payments: context.billing.is_some(),
        connected: seller.is_some(),
        charges_enabled: state.charges_enabled,
        payouts_enabled: state.payouts_enabled,
        details_submitted: state.details_submitted,
        commission_bps: commission_bps(&context).await?,
    }))
}

/// Where Stripe sends the browser back to: this server's public address,
/// or the address the app reached it at.
fn public_base(context: &ApiContext, headers: &HeaderMap) -> String {
    if let Some(base) = context.channels.public_url() {
        return base.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| {
            host.len() <= 255
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

#[derive(Debug, Serialize)]
struct OnboardingLink {
    /// Open in the system browser.
    url: String,
    expires_at: String,
}

/// A fresh onboarding link, with a new token in the URLs Stripe sends the
/// browser back to (the tokens of earlier links stop working; only the
/// token's hash is stored).
async fn onboarding_link(
    context: &ApiContext,
    billing: &Billing,
    seller: &SellerRecord,
    base: &str,
) -> Result<OnboardingLink, ApiError> {
    let token = crate::auth::secrets::new_secret("");
    context
        .store
        .rotate_onboarding_token(seller.tenant_id, &crate::auth::secrets::hash_secret(&token))
        .await?;
    let (url, expires_at) = billing
        .onboarding_link(
            &seller.stripe_account,
            &format!("{base}/v1/marketplace/onboarding/{token}/refresh"),
            &format!("{base}/v1/marketplace/onboarding/{token}/return"),
        )
        .await?;
    Ok(OnboardingLink {
        url,
        expires_at: orrery_store::timestamp(expires_at),
    })
}

async fn start_onboarding(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<OnboardingLink>, ApiError> {
    super::body::refuse_body(body)?;
    super::principal::require_app_session(
        &principal,
        "API keys cannot connect a Stripe account; sign in to the Orrery app for it",
    )?;
    let billing = payments(&context)?;
    let seller = match context.store.seller(principal.tenant_id).await? {
        Some(seller) => seller,
        None => {
            let user = context
                .store
                .user(principal.tenant_id, principal.user_id)
                .await?
                .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".into()))?;
            let account = billing
                .create_seller_account(principal.tenant_id, &user.email)
                .await?;
            let token = crate::auth::secrets::new_secret("");
            let seller = context
                .store
                .add_seller(
                    (principal.tenant_id, principal.user_id),
                    &account,
                    &crate::auth::secrets::hash_secret(&token),
                    context.now(),
                )
                .await?;
            tracing::info!(tenant = %principal.tenant_id, %account, "a seller account was created");
            seller
        }
    };
    Ok(Json(
        onboarding_link(&context, billing, &seller, &public_base(&context, &headers)).await?,
    ))
}

async fn seller_of_token(context: &ApiContext, token: &str) -> Result<SellerRecord, ApiError> {
    if token.len() > 64 {
        return Err(ApiError::NotFound("this link is not valid".into()));
    }
    context
        .store
        .seller_by_token(&crate::auth::secrets::hash_secret(token))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(
                "this link is not valid (it was replaced by a newer one): start again from Orrery"
                    .into(),
            )
        })
}

/// Stripe's link expired or was used: a new one, at once.
async fn onboarding_refresh(
    State(context): State<ApiContext>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Redirect, ApiError> {
    let billing = payments(&context)?;
    let seller = seller_of_token(&context, &token).await?;
    let link =
        onboarding_link(&context, billing, &seller, &public_base(&context, &headers)).await?;
    Ok(Redirect::to(&link.url))
}

const RETURN_PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Orrery — selling</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f6f7f9;color:#1c1f24}
main{max-width:28rem;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.25rem;margin:0 0 .5rem}@media (prefers-color-scheme:dark){body{background:#15171b;color:#e7e9ee}main{background:#1f2227}}</style>
</head><body><main><h1>TITLE</h1><p>TEXT</p></main></body></html>"#;

/// Stripe is done with the seller: their state, read from Stripe now.
async fn onboarding_return(
    State(context): State<ApiContext>,
    Path(token): Path<String>,
) -> Result<Html<String>, ApiError> {
    let billing = payments(&context)?;
    let seller = seller_of_token(&context, &token).await?;
    let state = billing.seller_state(&seller.stripe_account).await?;
    context
        .store
        .set_seller_state(&seller.stripe_account, state, context.now())
        .await?;
    let (title, text) = if state.charges_enabled {
        (
            "You can sell now",
            "Your Stripe account takes payments. Go back to Orrery: paid listings are open to you on the Marketplace's Selling tab.",
        )
    } else if state.details_submitted {
        (
            "Stripe is checking your details",
            "Stripe has your details and is reviewing them. Orrery shows when payments are enabled; until then you can list free items.",
        )
    } else {
        (
            "Stripe still needs some details",
            "Your Stripe account is not finished yet. Go back to Orrery and press “Continue with Stripe” on the Selling tab when you are ready.",
        )
    };
    Ok(Html(
        RETURN_PAGE.replace("TITLE", title).replace("TEXT", text),
    ))
}

/// The seller's account able to take charges, for listing or selling for
/// money; a clear refusal otherwise.
pub(super) async fn chargeable_seller(
    context: &ApiContext,
    tenant: Uuid,
) -> Result<SellerRecord, ApiError> {
    if context.billing.is_none() {
        return Err(ApiError::Conflict(
            "this server takes no payments (Stripe is not configured); list it free".into(),
        ));
    }
    match current_seller(context, tenant).await? {
        Some(seller) if seller.state.charges_enabled => Ok(seller),
        Some(_) => Err(ApiError::Conflict(
            "your Stripe account cannot take charges yet; finish Stripe's forms (Selling → Continue with Stripe), or list it free"
                .into(),
        )),
        None => Err(ApiError::Conflict(
            "selling for money needs a Stripe account: connect one on the Selling tab, or list it free"
                .into(),
        )),
    }
}

/// Gives a pending purchase its Checkout Session: the open one, or a new
/// one once the last can no longer be paid. Two devices asking at once ask
/// Stripe with the same idempotency key and get the same session. A last
/// session that was paid after all settles the purchase instead (the
/// answer is then `paid`); one about to expire is expired first, so a
/// purchase never has two sessions that can be paid.
pub(super) async fn open_checkout(
    context: &ApiContext,
    principal: &Principal,
    listing: &ListingRecord,
    purchase: PurchaseRecord,
) -> Result<PurchaseRecord, ApiError> {
    let billing = payments(context)?;
    let now = context.now();
    if let Some(last) = purchase.checkout_session.as_deref() {
        let open = purchase
            .checkout_expires_at
            .as_deref()
            .and_then(stored_time)
            .is_some_and(|at| at > now + chrono::Duration::minutes(5));
        if open {
            return Ok(purchase);
        }
        let session = billing.expire_checkout(last).await?;
        if session.paid {
            settle_checkout(context, &session, false).await?;
            return context
                .store
                .purchase_by_id(purchase.id)
                .await?
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a purchase went missing")));
        }
    }
    let seller = chargeable_seller(context, listing.seller_tenant).await?;
    let customer = super::billing::customer_for(context, billing, principal).await?;
    let split = orrery_domain::marketplace::commission_split(
        listing.draft.price_minor,
        commission_bps(context).await?,
    );
    let attempt = purchase.checkout_attempt + 1;
    let session = billing
        .listing_checkout(&ListingCheckout {
            purchase: purchase.id,
            attempt,
            listing: listing.id,
            version: &listing.current_version,
            buyer_user: purchase.buyer_user,
            customer: &customer,
            title: &listing.draft.title,
            amount_minor: listing.draft.price_minor,
            fee_minor: split.fee_minor,
            currency: &listing.draft.currency,
            seller_account: &seller.stripe_account,
        })
        .await?;
    tracing::info!(purchase = %purchase.id, session = %session.id, attempt, "a checkout was opened");
    context
        .store
        .record_checkout(
            purchase.id,
            attempt,
            (&session.id, &session.url, session.expires_at),
            (
                &listing.current_version,
                listing.draft.price_minor,
                split.fee_minor,
                &listing.draft.currency,
            ),
        )
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a purchase went missing")))
}

/// The id of the copy a purchase puts in the buyer's library: derived from
/// what paid for it (the Checkout Session; the purchase for a free item), so
/// a delivery done twice lands on one item.
pub(super) fn delivered_item_id(purchase: &PurchaseRecord) -> DocumentId {
    let paid_by = purchase
        .checkout_session
        .clone()
        .unwrap_or_else(|| purchase.id.to_string());
    let digest = Sha256::digest(format!("orrery marketplace delivery\0{paid_by}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    DocumentId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// What a settlement did with a Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settlement {
    /// Paid now (and delivered, unless a delivery was under way elsewhere).
    Settled,
    /// Paid before: nothing changed (its delivery was finished if needed).
    AlreadySettled,
    /// Not a payment this server delivers for: why.
    Ignored(&'static str),
}

/// Settles the purchase a Checkout Session paid for, from the session as
/// Stripe holds it: the one place a paid purchase becomes `paid`.
pub(crate) async fn settle_checkout(
    context: &ApiContext,
    session: &PaidCheckout,
    force_delivery: bool,
) -> Result<Settlement, ApiError> {
    if !session.paid {
        return Ok(Settlement::Ignored("the session is not paid"));
    }
    let Some(purchase_id) = session
        .metadata
        .get(PURCHASE_KEY)
        .and_then(|id| id.parse::<Uuid>().ok())
    else {
        return Ok(Settlement::Ignored("the session names no purchase"));
    };
    let Some((purchase, listing)) = context.store.purchase_with_listing(purchase_id).await? else {
        return Ok(Settlement::Ignored("the session names an unknown purchase"));
    };
    // Only the session this server made last for the purchase pays for
    // it: an older one (of a purchase refunded and bought again) or one
    // made elsewhere with the purchase's id in its metadata does not.
    if purchase.checkout_session.as_deref() != Some(session.id.as_str()) {
        tracing::warn!(session = %session.id, purchase = %purchase.id, "a paid checkout that is not its purchase's");
        return Ok(Settlement::Ignored(
            "the session is not the purchase's checkout",
        ));
    }
    let names = |key: &str, value: String| session.metadata.get(key) == Some(&value);
    if !names("listing_id", purchase.listing_id.to_string())
        || !names("buyer_user", purchase.buyer_user.to_string())
    {
        tracing::warn!(session = %session.id, purchase = %purchase.id, "a checkout names another listing or buyer than its purchase");
        return Ok(Settlement::Ignored(
            "the session is for another listing or buyer",
        ));
    }
    if session.amount_total != i64::try_from(purchase.amount_minor).ok()
        || session.currency.as_deref() != Some(purchase.currency.as_str())
    {
        tracing::warn!(session = %session.id, purchase = %purchase.id, "a checkout's amount differs from its purchase's");
        return Ok(Settlement::Ignored(
            "the session's amount differs from the purchase's",
        ));
    }
    let Some(payment_intent) = session.payment_intent.as_deref() else {
        return Ok(Settlement::Ignored("the session has no payment"));
    };
    let settled = match purchase.state.as_str() {
        "pending" => {
            context
                .store
                .settle_purchase(
                    &purchase,
                    listing.seller_tenant,
                    (&session.id, payment_intent),
                    context.now(),
                )
                .await?
        }
        "paid" => false,
        _ => return Ok(Settlement::Ignored("the purchase was refunded")),
    };
    if settled {
        tracing::info!(purchase = %purchase.id, session = %session.id, "a purchase was paid");
    }
    ensure_delivered(context, purchase.id, settled || force_delivery).await?;
    Ok(if settled {
        Settlement::Settled
    } else {
        Settlement::AlreadySettled
    })
}

/// Delivers a paid purchase's copy unless it was. `own_lease`: this caller
/// just started the delivery (it settled the purchase, or it is the pass
/// at start that finishes what a stopped server left); otherwise it waits
/// for a stale delivery to take over.
pub(crate) async fn ensure_delivered(
    context: &ApiContext,
    purchase: Uuid,
    own_lease: bool,
) -> Result<Option<String>, ApiError> {
    let Some((purchase, listing)) = context.store.purchase_with_listing(purchase).await? else {
        return Ok(None);
    };
    if purchase.state != "paid" {
        return Ok(None);
    }
    if let Some(item) = purchase.delivered_item {
        return Ok(Some(item));
    }
    if !own_lease {
        let now = context.now();
        if !context
            .store
            .take_over_delivery(purchase.id, now - DELIVERY_LEASE, now)
            .await?
        {
            return Ok(None);
        }
    }
    let item = super::marketplace::deliver(
        context,
        (purchase.buyer_tenant, purchase.buyer_user),
        &listing,
        &purchase.version,
        delivered_item_id(&purchase),
    )
    .await?;
    context
        .store
        .set_purchase_delivered(purchase.id, &item)
        .await?;
    tracing::info!(purchase = %purchase.id, %item, "a purchase was delivered");
    // A refund that landed while the copy was on its way takes it back.
    if let Some(now) = context.store.purchase_by_id(purchase.id).await?
        && now.state == "refunded"
    {
        revoke(context, &now, &listing).await?;
    }
    Ok(Some(item))
}

/// A stored RFC 3339 time, if it reads as one.
fn stored_time(at: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|at| at.with_timezone(&chrono::Utc))
}

/// Takes a refunded purchase's copy out of the buyer's library (a deletion
/// merged like a device's, so every device of theirs drops it) and tells
/// them by email.
async fn revoke(
    context: &ApiContext,
    purchase: &PurchaseRecord,
    listing: &ListingRecord,
) -> Result<(), ApiError> {
    let kind = listing.kind.document_kind();
    if let Some(item) = purchase.delivered_item.as_deref()
        && let Ok(id) = item.parse::<DocumentId>()
        && let Some((snapshot, _)) = context
            .store
            .load_library_revision(purchase.buyer_tenant, kind, id)
            .await?
    {
        let at = orrery_store::timestamp(context.now());
        let deletion = super::off_thread(move || -> Result<_, ApiError> {
            let document = LibraryDocument::from_snapshot(kind, id, &snapshot)
                .map_err(|error| ApiError::Internal(error.into()))?;
            let before = document.version();
            document
                .delete(&at)
                .map_err(|error| ApiError::Internal(error.into()))?;
            Ok((before.clone(), document.updates_since(&before)))
        })
        .await??;
        super::library::merge_from_server(
            context,
            purchase.buyer_tenant,
            purchase.buyer_user,
            kind,
            id,
            &deletion.0,
            deletion.1,
        )
        .await?;
        tracing::info!(purchase = %purchase.id, %item, "a refunded copy was taken back");
    }
    if let Some(buyer) = context
        .store
        .user(purchase.buyer_tenant, purchase.buyer_user)
        .await?
    {
        let amount = format!(
            "{:.2} {}",
            purchase.amount_minor as f64 / 100.0,
            purchase.currency.to_uppercase()
        );
        context
            .store
            .queue_mail(
                &MailDraft {
                    dedupe_key: format!(
                        "purchase_refunded:{}:{}",
                        purchase.id, purchase.created_at
                    ),
                    tenant_id: Some(purchase.buyer_tenant),
                    to: buyer.email,
                    template: "purchase_refunded".into(),
                    data: json!({
                        "name": buyer.name,
                        "title": listing.draft.title,
                        "amount": amount,
                    }),
                },
                context.now(),
            )
            .await?;
    }
    Ok(())
}

/// Who asks for a refund.
pub(crate) enum Refunder {
    /// The listing's seller (their tenant).
    Seller(Uuid),
    /// An admin.
    Admin,
}

/// Refunds a paid purchase in full through Stripe (transfer reversed, fee
/// given back), records it with its ledger rows and takes the copy back;
/// the purchase after.
pub(crate) async fn refund(
    context: &ApiContext,
    purchase_id: Uuid,
    reason: &str,
    by: Refunder,
) -> Result<PurchaseRecord, ApiError> {
    let billing = payments(context)?;
    let missing = || ApiError::NotFound("there is no such purchase".into());
    let (purchase, listing) = context
        .store
        .purchase_with_listing(purchase_id)
        .await?
        .ok_or_else(missing)?;
    if let Refunder::Seller(tenant) = by
        && listing.seller_tenant != tenant
    {
        return Err(missing());
    }
    match purchase.state.as_str() {
        "paid" => {}
        "refunded" => {
            return Err(ApiError::Conflict(format!(
                "this purchase was refunded already ({})",
                purchase.refunded_at.as_deref().unwrap_or("earlier")
            )));
        }
        _ => {
            return Err(ApiError::Conflict(
                "this purchase is not paid; there is nothing to refund".into(),
            ));
        }
    }
    let Some(payment_intent) = purchase.payment_intent.as_deref() else {
        return Err(ApiError::Conflict(
            "this item was free; there is nothing to refund".into(),
        ));
    };
    let refund = billing.refund_purchase(purchase.id, payment_intent).await?;
    if let Some(refunded) = context
        .store
        .refund_purchase(purchase.id, &refund, reason, context.now())
        .await?
    {
        tracing::info!(purchase = %purchase.id, %refund, "a purchase was refunded");
        revoke(context, &refunded, &listing).await?;
    }
    context
        .store
        .purchase_by_id(purchase.id)
        .await?
        .ok_or_else(missing)
}

/// `charge.refunded`: a refund made in Stripe (its dashboard) takes the
/// purchase back once its refunds, as Stripe lists them, cover the price.
pub(crate) async fn payment_refunded(
    context: &ApiContext,
    payment_intent: &str,
) -> Result<(), ApiError> {
    let billing = payments(context)?;
    let Some(purchase) = context.store.purchase_by_payment(payment_intent).await? else {
        return Ok(());
    };
    if purchase.state != "paid" {
        return Ok(());
    }
    let refunds = billing.refunds_of(payment_intent).await?;
    let refunded: i64 = refunds.iter().map(|(_, amount)| amount).sum();
    if refunded < i64::try_from(purchase.amount_minor).unwrap_or(i64::MAX) {
        tracing::info!(purchase = %purchase.id, refunded, "a partial refund leaves the purchase as it is");
        return Ok(());
    }
    let Some((refund, _)) = refunds.first() else {
        return Ok(());
    };
    if let Some(refunded) = context
        .store
        .refund_purchase(purchase.id, refund, "refunded in Stripe", context.now())
        .await?
        && let Some((_, listing)) = context.store.purchase_with_listing(purchase.id).await?
    {
        revoke(context, &refunded, &listing).await?;
    }
    Ok(())
}

/// `account.updated`: the seller's state as Stripe holds it now.
pub(crate) async fn account_updated(context: &ApiContext, account: &str) -> Result<(), ApiError> {
    let billing = payments(context)?;
    let state: SellerState = billing.seller_state(account).await?;
    if context
        .store
        .set_seller_state(account, state, context.now())
        .await?
        .is_some()
    {
        tracing::info!(%account, charges = state.charges_enabled, payouts = state.payouts_enabled, "a seller's account changed");
    }
    Ok(())
}

/// `payout.*` from a connected account: recorded for its seller's report.
pub(crate) async fn payout_reported(
    context: &ApiContext,
    account: &str,
    payout: &Value,
) -> Result<(), ApiError> {
    let text = |field: &str| payout.get(field).and_then(Value::as_str);
    let (Some(id), Some(amount), Some(currency), Some(status), Some(arrival)) = (
        text("id"),
        payout.get("amount").and_then(Value::as_i64),
        text("currency"),
        text("status"),
        payout.get("arrival_date").and_then(Value::as_i64),
    ) else {
        return Err(ApiError::BadRequest(
            "the payout lacks its id, amount, currency, status or arrival date".into(),
        ));
    };
    let arrival = chrono::DateTime::from_timestamp(arrival, 0)
        .ok_or_else(|| ApiError::BadRequest("the payout's arrival date is out of range".into()))?;
    context
        .store
        .record_payout(
            account,
            &PayoutRecord {
                id: id.chars().take(255).collect(),
                amount_minor: amount,
                currency: currency.chars().take(3).collect(),
                status: status.chars().take(32).collect(),
                arrival_date: orrery_store::timestamp(arrival),
            },
            context.now(),
        )
        .await?;
    Ok(())
}

/// What one reconciliation pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Reconciled {
    /// Purchases found paid in Stripe and settled now.
    pub settled: usize,
    /// Paid purchases whose delivery was finished now.
    pub delivered: usize,
    /// Paid purchases found refunded in Stripe (and taken back) now.
    pub refunded: usize,
}

/// The reconciliation pass: settles every purchase Stripe lists as paid
/// that no webhook settled, marks purchases whose checkout expired unpaid
/// `expired`, takes back what was refunded in Stripe without the server
/// hearing of it, and finishes every delivery a stopped server left undone
/// (`first`: the pass at start, which takes over deliveries at once; later
/// passes leave a delivery under way elsewhere its minute). Safe to run
/// beside webhooks and on several instances. A purchase that fails is
/// logged and left to the next pass; the others go on.
pub(crate) async fn reconcile(context: &ApiContext, first: bool) -> Result<Reconciled, ApiError> {
    let mut done = Reconciled::default();
    if let Some(billing) = context.billing.as_deref() {
        let now = context.now();
        let mut oldest_open = None;
        for purchase in context.store.purchases_awaiting_payment().await? {
            let expires = purchase
                .checkout_expires_at
                .as_deref()
                .and_then(stored_time);
            if expires.is_some_and(|at| at > now) {
                // They come oldest first: the first open one starts the window.
                oldest_open.get_or_insert(stored_time(&purchase.created_at).unwrap_or(now));
                continue;
            }
            // Its session can no longer be paid: settle it if it was paid
            // after all, or let Buy open it again.
            let outcome = async {
                let session = billing
                    .checkout_session(purchase.checkout_session.as_deref().unwrap_or_default())
                    .await?;
                if session.paid {
                    return Ok(
                        settle_checkout(context, &session, first).await? == Settlement::Settled
                    );
                }
                context.store.expire_purchase(purchase.id).await?;
                Ok::<bool, ApiError>(false)
            }
            .await;
            match outcome {
                Ok(true) => done.settled += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(purchase = %purchase.id, %error, "a purchase could not be reconciled")
                }
            }
        }
        if let Some(oldest) = oldest_open {
            for session in billing
                .completed_checkouts(oldest - RECONCILE_MARGIN, RECONCILE_MAX_SESSIONS)
                .await?
                .iter()
                .filter(|session| session.metadata.contains_key(PURCHASE_KEY))
            {
                match settle_checkout(context, session, first).await {
                    Ok(Settlement::Settled) => done.settled += 1,
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(session = %session.id, %error, "a paid checkout could not be settled")
                    }
                }
            }
        }
    }
    // Refunds made in Stripe whose `charge.refunded` never arrived: the
    // purchase is refunded here too, and the copy taken back.
    if let Some(billing) = context.billing.as_deref() {
        for payment in billing
            .refunded_payments_since(context.now() - RECONCILE_REFUNDS, RECONCILE_MAX_REFUNDS)
            .await?
        {
            let paid_here = context
                .store
                .purchase_by_payment(&payment)
                .await?
                .is_some_and(|purchase| purchase.state == "paid");
            if !paid_here {
                continue;
            }
            match payment_refunded(context, &payment).await {
                Ok(()) => done.refunded += 1,
                Err(error) => tracing::warn!(%payment, %error, "a refund could not be reconciled"),
            }
        }
    }
    for purchase in context.store.purchases_undelivered().await? {
        match ensure_delivered(context, purchase.id, first).await {
            Ok(Some(_)) => done.delivered += 1,
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(purchase = %purchase.id, %error, "a purchase could not be delivered")
            }
        }
    }
    Ok(done)
}

#[derive(Debug, Serialize)]
struct SalesMonthView {
    month: String,
    listing_id: Uuid,
    title: String,
    currency: String,
    sales: u64,
    gross_minor: i64,
    fee_minor: i64,
    refunds_minor: i64,
    net_minor: i64,
}

#[derive(Debug, Serialize)]
struct SaleView {
    purchase_id: Uuid,
    listing_id: Uuid,
    title: String,
    buyer: String,
    state: String,
    amount_minor: u64,
    fee_minor: u64,
    currency: String,
    created_at: String,
    refunded_at: Option<String>,
    refund_reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct PayoutView {
    id: String,
    amount_minor: i64,
    currency: String,
    status: String,
    arrival_date: String,
}

/// Totals of one currency over the whole report.
#[derive(Debug, Default, Serialize)]
struct SalesTotals {
    sales: u64,
    gross_minor: i64,
    fee_minor: i64,
    refunds_minor: i64,
    net_minor: i64,
}

#[derive(Debug, Serialize)]
struct SalesReport {
    months: Vec<SalesMonthView>,
    totals: BTreeMap<String, SalesTotals>,
    sales: Vec<SaleView>,
    payouts: Vec<PayoutView>,
}

async fn sales(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<SalesReport>, ApiError> {
    let tenant = principal.tenant_id;
    let months = context.store.sales_report(tenant).await?;
    let mut totals: BTreeMap<String, SalesTotals> = BTreeMap::new();
    for month in &months {
        let total = totals.entry(month.currency.clone()).or_default();
        total.sales += month.sales;
        total.gross_minor += month.gross_minor;
        total.fee_minor += month.fee_minor;
        total.refunds_minor += month.refunds_minor;
        total.net_minor += month.net_minor;
    }
    Ok(Json(SalesReport {
        months: months
            .into_iter()
            .map(|month| SalesMonthView {
                month: month.month,
                listing_id: month.listing_id,
                title: month.title,
                currency: month.currency,
                sales: month.sales,
                gross_minor: month.gross_minor,
                fee_minor: month.fee_minor,
                refunds_minor: month.refunds_minor,
                net_minor: month.net_minor,
            })
            .collect(),
        totals,
        sales: context
            .store
            .sales_of(tenant, LISTED_SALES)
            .await?
            .into_iter()
            .map(|sale| SaleView {
                purchase_id: sale.purchase.id,
                listing_id: sale.listing.id,
                title: sale.listing.draft.title,
                buyer: sale.buyer_name,
                state: sale.purchase.state,
                amount_minor: sale.purchase.amount_minor,
                fee_minor: sale.purchase.fee_minor,
                currency: sale.purchase.currency,
                created_at: sale.purchase.created_at,
                refunded_at: sale.purchase.refunded_at,
                refund_reason: sale.purchase.refund_reason,
            })
            .collect(),
        payouts: context
            .store
            .payouts_of(tenant)
            .await?
            .into_iter()
            .map(|payout| PayoutView {
                id: payout.id,
                amount_minor: payout.amount_minor,
                currency: payout.currency,
                status: payout.status,
                arrival_date: payout.arrival_date,
            })
            .collect(),
    }))
}

/// Why a purchase is refunded.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefundRequest {
    pub reason: String,
}

/// A purchase id from the path.
pub(super) fn purchase_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse()
        .map_err(|_| ApiError::BadRequest("the purchase id must be a UUID".into()))
}

/// A refund's reason, checked like a report's.
pub(super) fn refund_reason(
    body: Result<Json<RefundRequest>, JsonRejection>,
) -> Result<String, ApiError> {
    let Json(RefundRequest { reason }) = body?;
    checked_report(&reason).map_err(|error| ApiError::Unprocessable(error.to_string()))
}

/// A refunded purchase as the refunder sees it.
#[derive(Debug, Serialize)]
pub(super) struct RefundView {
    purchase_id: Uuid,
    state: String,
    refunded_at: Option<String>,
    amount_minor: u64,
    currency: String,
}

impl RefundView {
    pub(super) fn of(purchase: PurchaseRecord) -> Self {
        Self {
            purchase_id: purchase.id,
            state: purchase.state,
            refunded_at: purchase.refunded_at,
            amount_minor: purchase.amount_minor,
            currency: purchase.currency,
        }
    }
}

async fn seller_refund(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(id): Path<String>,
    body: Result<Json<RefundRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    super::principal::require_app_session(
        &principal,
        "API keys cannot refund sales; sign in to the Orrery app for it",
    )?;
    let id = purchase_id(&id)?;
    let reason = refund_reason(body)?;
    let purchase = refund(&context, id, &reason, Refunder::Seller(principal.tenant_id)).await?;
    Ok((StatusCode::OK, Json(RefundView::of(purchase))).into_response())
}
