//! Billing through Stripe: Checkout to subscribe, the Customer Portal to
//! manage, and webhooks to learn what happened.
//!
//! Webhooks are verified (`Stripe-Signature`, HMAC-SHA256 over
//! `timestamp.payload`, 5-minute tolerance on the server's clock), processed
//! once per event id, and never trusted for order: every subscription event
//! makes the server fetch the subscription from Stripe and apply its current
//! state, so events arriving late or twice converge on what Stripe holds.
//! The API base, keys and price ids are configuration; tests point the same
//! async-stripe client at a local stand-in.

pub mod connect;
pub mod webhook;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use stripe::{
    CheckoutSession, CheckoutSessionMode, Client, CreateBillingPortalSession,
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
    CreateCustomer, Customer, CustomerId, Subscription, SubscriptionId, SubscriptionStatus,
};

/// Where Stripe is and how this server is registered with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// `https://api.stripe.com/` (or a test stand-in).
    pub api_base: String,
    /// The secret API key (`sk_...`).
    pub secret_key: String,
    /// The webhook endpoint's signing secret (`whsec_...`).
    pub webhook_secret: String,
    /// The signing secret of the Connect endpoint, which Stripe sends
    /// connected accounts' events to (`account.updated`, `payout.*`);
    /// `None` when both kinds come to one endpoint.
    pub connect_webhook_secret: Option<String>,
    /// Stripe price id for each paid plan key.
    pub prices: BTreeMap<String, String>,
    /// Where Checkout and the portal send the browser back to.
    pub return_url: String,
}

/// Why a billing call failed.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// Stripe refused or could not be reached.
    #[error("Stripe: {0}")]
    Stripe(#[from] stripe::StripeError),
    /// Stripe's answer lacks something we need.
    #[error("Stripe's answer is incomplete: {0}")]
    Incomplete(&'static str),
}

/// The Stripe client with this server's configuration.
#[derive(Clone)]
pub struct Billing {
    client: Client,
    config: StripeConfig,
}

impl Billing {
    /// The plans this server has a Stripe price for: the ones people can buy.
    pub fn purchasable_plans(&self) -> Vec<String> {
        self.config.prices.keys().cloned().collect()
    }
}

/// A subscription reduced to what the server keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// Stripe's id.
    pub id: String,
    /// The customer paying.
    pub customer: String,
    /// The plan key from the subscription's metadata.
    pub plan_key: String,
    /// Stripe's status.
    pub status: SubscriptionStatus,
    /// Ends at period end.
    pub cancel_at_period_end: bool,
    /// End of the paid period.
    pub current_period_end: DateTime<Utc>,
    /// Its price as monthly recurring revenue, cents, from its items and a
    /// forever discount (`orrery_domain::revenue`).
    pub mrr_cents: i64,
}

impl SubscriptionState {
    /// The plan the user is on while this is the state: the paid plan while
    /// the subscription lives (trialing, active, past due), `free` after.
    pub fn effective_plan(&self) -> &str {
        match self.status {
            SubscriptionStatus::Trialing
            | SubscriptionStatus::Active
            | SubscriptionStatus::PastDue => &self.plan_key,
            _ => "free",
        }
    }

    /// Whether a payment is outstanding.
    pub fn payment_failed(&self) -> bool {
        matches!(
            self.status,
            SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid
        )
    }
}

impl Billing {
    /// A client for `config`.
    pub fn new(config: StripeConfig) -> Self {
        Self {
            client: Client::from_url(config.api_base.as_str(), config.secret_key.clone()),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &StripeConfig {
        &self.config
    }

    /// Creates a Stripe customer for a user.
    pub async fn create_customer(
        &self,
        email: &str,
        tenant: &str,
        user: &str,
    ) -> Result<String, BillingError> {
        let mut params = CreateCustomer::new();
        params.email = Some(email);
        params.metadata = Some(
            [
                ("tenant_id".to_owned(), tenant.to_owned()),
                ("user_id".to_owned(), user.to_owned()),
            ]
            .into(),
        );
        // One customer per user, however many requests make it at once.
        let client = self
            .client
            .clone()
            .with_strategy(stripe::RequestStrategy::Idempotent(format!(
                "orrery-customer:{user}"
            )));
        Ok(
            connect::in_turn(|| Customer::create(&client, params.clone()))
                .await?
                .id
                .to_string(),
        )
    }

    /// Opens a Checkout Session subscribing `customer` to `plan` (a key with a
    /// configured price). Returns the page to open in the browser.
    /// A plan's trial (`trial_days`, 0 for none) goes to the new subscription.
    pub async fn checkout(
        &self,
        customer: &str,
        plan: &str,
        price: &str,
        user: &str,
        trial_days: u32,
    ) -> Result<String, BillingError> {
        let customer: CustomerId = customer
            .parse()
            .map_err(|_| BillingError::Incomplete("customer id"))?;
        let mut params = CreateCheckoutSession::new();
        params.mode = Some(CheckoutSessionMode::Subscription);
        params.customer = Some(customer);
        params.client_reference_id = Some(user);
        params.success_url = Some(&self.config.return_url);
        params.cancel_url = Some(&self.config.return_url);
        params.line_items = Some(vec![CreateCheckoutSessionLineItems {
            price: Some(price.to_owned()),
            quantity: Some(1),
            ..Default::default()
        }]);
        params.subscription_data = Some(CreateCheckoutSessionSubscriptionData {
            metadata: Some(
                [
                    ("plan".to_owned(), plan.to_owned()),
                    ("user_id".to_owned(), user.to_owned()),
                ]
                .into(),
            ),
            trial_period_days: (trial_days > 0).then_some(trial_days),
            ..Default::default()
        });
        let session = CheckoutSession::create(&self.client, params).await?;
        session
            .url
            .ok_or(BillingError::Incomplete("checkout session url"))
    }

    /// Opens the Customer Portal for `customer`.
    pub async fn portal(&self, customer: &str) -> Result<String, BillingError> {
        let customer: CustomerId = customer
            .parse()
            .map_err(|_| BillingError::Incomplete("customer id"))?;
        let mut params = CreateBillingPortalSession::new(customer);
        params.return_url = Some(&self.config.return_url);
        Ok(stripe::BillingPortalSession::create(&self.client, params)
            .await?
            .url)
    }

    /// The subscription as Stripe holds it now.
    pub async fn subscription(&self, id: &str) -> Result<SubscriptionState, BillingError> {
        let id: SubscriptionId = id
            .parse()
            .map_err(|_| BillingError::Incomplete("subscription id"))?;
        let subscription = Subscription::retrieve(&self.client, &id, &[]).await?;
        let plan_key =
            subscription
                .metadata
                .get("plan")
                .cloned()
                .ok_or(BillingError::Incomplete(
                    "the subscription's metadata names no plan",
                ))?;
        Ok(SubscriptionState {
            id: subscription.id.to_string(),
            customer: subscription.customer.id().to_string(),
            plan_key,
            status: subscription.status,
            cancel_at_period_end: subscription.cancel_at_period_end,
            current_period_end: Utc
                .timestamp_opt(subscription.current_period_end, 0)
                .single()
                .ok_or(BillingError::Incomplete("current_period_end"))?,
            mrr_cents: monthly_recurring_cents(&subscription),
        })
    }
}

/// What a subscription adds to MRR: its licensed recurring items, less a
/// discount that lasts forever.
fn monthly_recurring_cents(subscription: &Subscription) -> i64 {
    use orrery_domain::revenue::{self, ForeverDiscount, RecurringInterval, RecurringItem};
    use stripe::{CouponDuration, RecurringUsageType};
    let items: Vec<RecurringItem> = subscription
        .items
        .data
        .iter()
        .filter_map(|item| {
            let price = item.price.as_ref()?;
            let recurring = price.recurring.as_ref()?;
            Some(RecurringItem {
                unit_amount_cents: price.unit_amount?,
                quantity: item.quantity.unwrap_or(1),
                interval: match recurring.interval {
                    stripe::RecurringInterval::Day => RecurringInterval::Day,
                    stripe::RecurringInterval::Week => RecurringInterval::Week,
                    stripe::RecurringInterval::Month => RecurringInterval::Month,
                    stripe::RecurringInterval::Year => RecurringInterval::Year,
                },
                interval_count: recurring.interval_count,
                metered: recurring.usage_type == RecurringUsageType::Metered,
            })
        })
        .collect();
    let discount = subscription
        .discount
        .as_ref()
        .map(|discount| &discount.coupon)
        .filter(|coupon| coupon.duration == Some(CouponDuration::Forever))
        .and_then(|coupon| match (coupon.percent_off, coupon.amount_off) {
            (Some(percent), _) => Some(ForeverDiscount::PercentOff(percent)),
            (None, Some(cents)) => Some(ForeverDiscount::AmountOff(cents)),
            (None, None) => None,
        });
    revenue::monthly_recurring_cents(&items, discount)
}
