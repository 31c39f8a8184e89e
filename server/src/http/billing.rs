//! `/v1/billing/*`: whether billing is set up here, subscribe through Stripe
//! Checkout, manage in the Customer Portal, list invoices, see the
//! subscription; and `POST /v1/webhooks/stripe`, where Stripe reports what
//! happened.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::{HeaderMap, Method, StatusCode};
use orrery_store::{InvoiceOutcome, InvoiceRecord, Principal, SubscriptionRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Access, ApiContext, ApiError, Routes, SignedIn};
use crate::billing::{Billing, BillingError, connect, webhook};

/// Largest webhook body accepted.
const MAX_WEBHOOK_BYTES: usize = 512 * 1024;

pub(super) fn router() -> Routes {
    Routes::new()
        .add(Method::GET, "/v1/billing/status", Access::Public, status)
        .add(
            Method::POST,
            "/v1/billing/checkout",
            Access::SignedIn,
            checkout,
        )
        .add(Method::POST, "/v1/billing/portal", Access::SignedIn, portal)
        .add(
            Method::GET,
            "/v1/billing/subscription",
            Access::SignedIn,
            subscription,
        )
        .add(
            Method::GET,
            "/v1/billing/invoices",
            Access::SignedIn,
            invoices,
        )
        .add_limited(
            Method::POST,
            "/v1/webhooks/stripe",
            Access::Public,
            MAX_WEBHOOK_BYTES,
            stripe_webhook,
        )
}

/// Whether this server takes payments, and for which plans: the app offers
/// an upgrade only where one can go through, and says why not elsewhere.
#[derive(Serialize)]
struct BillingStatus {
    enabled: bool,
    purchasable_plans: Vec<String>,
}

async fn status(State(context): State<ApiContext>) -> Json<BillingStatus> {
    Json(match context.billing.as_deref() {
        Some(billing) => BillingStatus {
            enabled: true,
            purchasable_plans: billing.purchasable_plans(),
        },
        None => BillingStatus {
            enabled: false,
            purchasable_plans: Vec::new(),
        },
    })
}

fn billing(context: &ApiContext) -> Result<&Billing, ApiError> {
    context
        .billing
        .as_deref()
        .ok_or_else(|| ApiError::NotFound("billing is not configured on this server".into()))
}

impl From<BillingError> for ApiError {
    fn from(error: BillingError) -> Self {
        ApiError::BadGateway(error.to_string())
    }
}

pub(super) async fn customer_for(
    context: &ApiContext,
    billing: &Billing,
    principal: &Principal,
) -> Result<String, ApiError> {
    if let Some(customer) = context
        .store
        .stripe_customer(principal.tenant_id, principal.user_id)
        .await?
    {
        return Ok(customer);
    }
    let user = context
        .store
        .user(principal.tenant_id, principal.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".into()))?;
    let customer = billing
        .create_customer(
            &user.email,
            &principal.tenant_id.to_string(),
            &principal.user_id.to_string(),
        )
        .await?;
    context
        .store
        .set_stripe_customer(
            principal.tenant_id,
            principal.user_id,
            &customer,
            context.now(),
        )
        .await?;
    // Two requests at once made one customer (the idempotency key): the
    // stored one is it.
    Ok(context
        .store
        .stripe_customer(principal.tenant_id, principal.user_id)
        .await?
        .unwrap_or(customer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutRequest {
    plan: String,
}

#[derive(Serialize)]
struct BrowserPage {
    /// Open this in the system browser.
    url: String,
}

async fn checkout(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    body: Result<Json<CheckoutRequest>, JsonRejection>,
) -> Result<Json<BrowserPage>, ApiError> {
    let Json(request) = body?;
    let billing = billing(&context)?;
    let price = billing
        .config()
        .prices
        .get(&request.plan)
        .ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "`{}` is not a plan that can be bought",
                request.plan.chars().take(40).collect::<String>()
            ))
        })?
        .clone();
    if principal.plan == request.plan {
        return Err(ApiError::Conflict(format!(
            "you are already on the {} plan",
            request.plan
        )));
    }
    let customer = customer_for(&context, billing, &principal).await?;
    let trial_days = context
        .store
        .plan(&request.plan)
        .await?
        .map_or(0, |plan| plan.trial_days);
    let url = billing
        .checkout(
            &customer,
            &request.plan,
            &price,
            &principal.user_id.to_string(),
            trial_days,
        )
        .await?;
    Ok(Json(BrowserPage { url }))
}

async fn portal(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<BrowserPage>, ApiError> {
    let billing = billing(&context)?;
    let customer = context
        .store
        .stripe_customer(principal.tenant_id, principal.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound("there is no billing account yet; subscribe to a plan first".into())
        })?;
    Ok(Json(BrowserPage {
        url: billing.portal(&customer).await?,
    }))
}

#[derive(Serialize)]
struct SubscriptionView {
    plan: String,
    status: String,
    cancel_at_period_end: bool,
    current_period_end: String,
}

async fn subscription(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<Option<SubscriptionView>>, ApiError> {
    let record = context
        .store
        .subscription_of(principal.tenant_id, principal.user_id)
        .await?;
    Ok(Json(record.map(|record: SubscriptionRecord| {
        SubscriptionView {
            plan: record.plan_key,
            status: record.status,
            cancel_at_period_end: record.cancel_at_period_end,
            current_period_end: orrery_store::timestamp(record.current_period_end),
        }
    })))
}

async fn invoices(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<Vec<InvoiceRecord>>, ApiError> {
    Ok(Json(
        context
            .store
            .list_invoices(principal.tenant_id, principal.user_id)
            .await?,
    ))
}

/// Applies the subscription's state as Stripe holds it now.
async fn sync_subscription(
    context: &ApiContext,
    billing: &Billing,
    subscription_id: &str,
) -> Result<(), ApiError> {
    let state = billing.subscription(subscription_id).await?;
    let Some((tenant, user)) = context.store.customer_owner(&state.customer).await? else {
        tracing::warn!(customer = %state.customer, "subscription for a customer this server does not know");
        return Ok(());
    };
    if context.store.plan(&state.plan_key).await?.is_none() {
        return Err(ApiError::Unprocessable(format!(
            "the subscription names unknown plan `{}`",
            state.plan_key
        )));
    }
    let record = SubscriptionRecord {
        stripe_subscription_id: state.id.clone(),
        plan_key: state.plan_key.clone(),
        status: state.status.as_str().to_owned(),
        cancel_at_period_end: state.cancel_at_period_end,
        current_period_end: state.current_period_end,
        mrr_cents: state.mrr_cents,
    };
    context
        .store
        .apply_subscription(
            tenant,
            user,
            &record,
            state.effective_plan(),
            state.payment_failed(),
            context.now(),
        )
        .await?;
    tracing::info!(%tenant, %user, plan = state.effective_plan(), status = state.status.as_str(), "subscription applied");
    Ok(())
}

fn text<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field).and_then(Value::as_str)
}

/// Stores an invoice a webhook brought; `paid`: `invoice.paid`, else a
/// failed payment attempt.
async fn record_invoice(context: &ApiContext, invoice: &Value, paid: bool) -> Result<(), ApiError> {
    let (Some(id), Some(customer)) = (text(invoice, "id"), text(invoice, "customer")) else {
        return Err(ApiError::BadRequest(
            "the invoice has no id or customer".into(),
        ));
    };
    let Some((tenant, user)) = context.store.customer_owner(customer).await? else {
        return Ok(());
    };
    let created = invoice
        .get("created")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let record = InvoiceRecord {
        id: id.to_owned(),
        status: text(invoice, "status").unwrap_or("open").to_owned(),
        amount_due: invoice
            .get("amount_due")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
        amount_paid: invoice
            .get("amount_paid")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
        currency: text(invoice, "currency").unwrap_or("usd").to_owned(),
        hosted_url: text(invoice, "hosted_invoice_url").map(str::to_owned),
        created: chrono::DateTime::from_timestamp(created, 0)
            .map(orrery_store::timestamp)
            .unwrap_or_default(),
    };
    let outcome = if paid {
        InvoiceOutcome::Paid
    } else {
        InvoiceOutcome::PaymentFailed {
            attempt: invoice
                .get("attempt_count")
                .and_then(Value::as_i64)
                .unwrap_or(1),
        }
    };
    context
        .store
        .upsert_invoice(tenant, user, &record, outcome, context.now())
        .await?;
    Ok(())
}

async fn stripe_webhook(
    State(context): State<ApiContext>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let billing = billing(&context)?;
    let body = body?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok());
    // The platform's endpoint, or the Connect one (connected accounts'
    // events), which Stripe signs with a secret of its own.
    let config = billing.config();
    let verified = webhook::verify(&config.webhook_secret, signature, &body, context.now());
    let verified = match (&verified, &config.connect_webhook_secret) {
        (Err(webhook::SignatureError::Mismatch), Some(connect)) => {
            webhook::verify(connect, signature, &body, context.now())
        }
        _ => verified,
    };
    verified.map_err(|error| ApiError::BadRequest(error.to_string()))?;
    let event: Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("the event is not JSON: {error}")))?;
    let (Some(id), Some(kind)) = (text(&event, "id"), text(&event, "type")) else {
        return Err(ApiError::BadRequest("the event has no id or type".into()));
    };
    let object = event
        .pointer("/data/object")
        .cloned()
        .unwrap_or(Value::Null);
    if !context
        .store
        .record_stripe_event(id, kind, context.now())
        .await?
    {
        return Ok((
            StatusCode::OK,
            Json(serde_json::json!({ "received": true, "duplicate": true })),
        ));
    }
    let outcome = async {
        match kind {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded"
                if object
                    .pointer(&format!("/metadata/{}", connect::PURCHASE_KEY))
                    .is_some() =>
            {
                // A marketplace purchase: settled from the session as
                // Stripe holds it, never from the event's copy.
                let session = text(&object, "id")
                    .ok_or_else(|| ApiError::BadRequest("the session has no id".into()))?;
                let session = billing.checkout_session(session).await?;
                let settled = super::market_sales::settle_checkout(&context, &session, false).await?;
                tracing::info!(session = %session.id, ?settled, "a marketplace checkout was reported");
            }
            "account.updated" => {
                let account = text(&object, "id")
                    .ok_or_else(|| ApiError::BadRequest("the account has no id".into()))?;
                super::market_sales::account_updated(&context, account).await?;
            }
            "charge.refunded" => {
                if let Some(payment_intent) = text(&object, "payment_intent") {
                    super::market_sales::payment_refunded(&context, payment_intent).await?;
                }
            }
            "payout.paid" | "payout.failed" | "payout.created" | "payout.updated" => {
                if let Some(account) = text(&event, "account") {
                    super::market_sales::payout_reported(&context, account, &object).await?;
                }
            }
            "checkout.session.completed" => {
                if let (Some(customer), Some(user)) = (
                    text(&object, "customer"),
                    text(&object, "client_reference_id"),
                ) {
                    let user: Uuid = user.parse().map_err(|_| {
                        ApiError::BadRequest("client_reference_id is not a user id".into())
                    })?;
                    if let Some(owner) = context.store.customer_owner(customer).await?
                        && owner.1 != user
                    {
                        return Err(ApiError::BadRequest(
                            "the checkout's customer belongs to another user".into(),
                        ));
                    }
                }
                if let Some(subscription) = text(&object, "subscription") {
                    sync_subscription(&context, billing, subscription).await?;
                }
            }
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted" => {
                let subscription = text(&object, "id")
                    .ok_or_else(|| ApiError::BadRequest("the subscription has no id".into()))?;
                sync_subscription(&context, billing, subscription).await?;
            }
            "invoice.paid" | "invoice.payment_failed" => {
                record_invoice(&context, &object, kind == "invoice.paid").await?;
                if let Some(subscription) = text(&object, "subscription") {
                    sync_subscription(&context, billing, subscription).await?;
                }
            }
            other => tracing::debug!(event = other, "Stripe event ignored"),
        }
        Ok::<(), ApiError>(())
    }
    .await;
    if let Err(error) = outcome {
        // Not processed: let Stripe's retry run it again.
        context.store.forget_stripe_event(id).await?;
        return Err(error);
    }
    context.store.finish_stripe_event(id).await?;
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({ "received": true })),
    ))
}
