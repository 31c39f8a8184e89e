//! The marketplace's side of Stripe: sellers' connected accounts (Connect,
//! Express) onboarded through Account Links, Checkout Sessions with a
//! destination charge to the seller and the platform's commission as the
//! application fee, and refunds that reverse the transfer and give the fee
//! back.
//!
//! Every call that creates something carries an idempotency key naming what
//! it is for (a tenant's account, a purchase's nth Checkout Session, a
//! purchase's refund), so two devices asking at once, or a retry after a
//! lost answer, get the one object Stripe made the first time.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use orrery_store::SellerState;
use stripe::{
    Account, AccountId, AccountLink, AccountLinkType, AccountType, CheckoutSession,
    CheckoutSessionId, CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus,
    CreateAccount, CreateAccountCapabilities, CreateAccountCapabilitiesCardPayments,
    CreateAccountCapabilitiesTransfers, CreateAccountLink, CreateCheckoutSession,
    CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionLineItemsPriceDataProductData, CreateCheckoutSessionPaymentIntentData,
    CreateCheckoutSessionPaymentIntentDataTransferData, CreateRefund, Currency, CustomerId,
    ListCheckoutSessions, ListRefunds, PaymentIntentId, Refund, RequestStrategy,
};

use super::{Billing, BillingError};

/// The metadata key naming the purchase a Checkout Session pays for.
pub const PURCHASE_KEY: &str = "orrery_purchase";

/// A Checkout Session for one purchase of a listing.
#[derive(Debug, Clone)]
pub struct ListingCheckout<'a> {
    /// The purchase it pays for.
    pub purchase: uuid::Uuid,
    /// Which session of this purchase it is (1, 2, ...: a new one only
    /// once the last expired); part of the idempotency key.
    pub attempt: u64,
    /// The listing and version bought.
    pub listing: uuid::Uuid,
    /// The version's hash.
    pub version: &'a str,
    /// The buyer.
    pub buyer_user: uuid::Uuid,
    /// The buyer's Stripe customer.
    pub customer: &'a str,
    /// What the buyer sees on the page.
    pub title: &'a str,
    /// Price, minor units.
    pub amount_minor: u64,
    /// The platform's commission in it.
    pub fee_minor: u64,
    /// `usd`, `eur` or `gbp`.
    pub currency: &'a str,
    /// The seller's connected account.
    pub seller_account: &'a str,
}

/// A Checkout Session as Stripe made it.
#[derive(Debug, Clone)]
pub struct OpenCheckout {
    /// Its id.
    pub id: String,
    /// Where the buyer pays.
    pub url: String,
    /// When it stops being payable.
    pub expires_at: DateTime<Utc>,
}

/// A Checkout Session as Stripe holds it now, reduced to what settling a
/// purchase checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidCheckout {
    /// Its id.
    pub id: String,
    /// Whether it is complete and paid.
    pub paid: bool,
    /// Its metadata (set by this server when it made the session).
    pub metadata: HashMap<String, String>,
    /// What was charged, minor units.
    pub amount_total: Option<i64>,
    /// In which currency, lower case.
    pub currency: Option<String>,
    /// The payment behind it.
    pub payment_intent: Option<String>,
}

impl PaidCheckout {
    fn of(session: CheckoutSession) -> Self {
        Self {
            id: session.id.to_string(),
            paid: session.status == Some(CheckoutSessionStatus::Complete)
                && session.payment_status == CheckoutSessionPaymentStatus::Paid,
            metadata: session.metadata.unwrap_or_default(),
            amount_total: session.amount_total,
            currency: session.currency.map(|currency| currency.to_string()),
            payment_intent: session.payment_intent.map(|intent| intent.id().to_string()),
        }
    }
}

fn currency(code: &str) -> Result<Currency, BillingError> {
    match code {
        "usd" => Ok(Currency::USD),
        "eur" => Ok(Currency::EUR),
        "gbp" => Ok(Currency::GBP),
        _ => Err(BillingError::Incomplete("a currency the marketplace takes")),
    }
}

fn timestamp(seconds: i64) -> Result<DateTime<Utc>, BillingError> {
    Utc.timestamp_opt(seconds, 0)
        .single()
        .ok_or(BillingError::Incomplete("a timestamp"))
}

/// Runs a keyed creation, again while Stripe answers that a request with
/// the same idempotency key is still in flight (409: two devices pressing
/// at once); then Stripe answers both with the one object made. It asks
/// again for up to [`IN_FLIGHT_PATIENCE`] (the first request may be slow),
/// waiting 100 ms, then twice as long each time up to a second.
pub(crate) async fn in_turn<T, F, Fut>(mut call: F) -> Result<T, stripe::StripeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, stripe::StripeError>>,
{
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        match call().await {
            Err(stripe::StripeError::Stripe(error))
                if error.http_status == 409 && started.elapsed() < IN_FLIGHT_PATIENCE =>
            {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(1));
            }
            answer => return answer,
        }
    }
}

/// How long a creation waits for another in flight under its key.
const IN_FLIGHT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

fn account_id(id: &str) -> Result<AccountId, BillingError> {
    id.parse()
        .map_err(|_| BillingError::Incomplete("a connected account id"))
}

impl Billing {
    fn idempotent(&self, key: String) -> stripe::Client {
        self.client
            .clone()
            .with_strategy(RequestStrategy::Idempotent(key))
    }

    /// Creates the Express connected account a tenant sells through (one
    /// per tenant, whoever asks first).
    pub async fn create_seller_account(
        &self,
        tenant: uuid::Uuid,
        email: &str,
    ) -> Result<String, BillingError> {
        let mut params = CreateAccount::new();
        params.type_ = Some(AccountType::Express);
        params.email = Some(email);
        params.capabilities = Some(CreateAccountCapabilities {
            card_payments: Some(CreateAccountCapabilitiesCardPayments {
                requested: Some(true),
            }),
            transfers: Some(CreateAccountCapabilitiesTransfers {
                requested: Some(true),
            }),
            ..Default::default()
        });
        params.metadata = Some([("tenant_id".to_owned(), tenant.to_string())].into());
        let client = self.idempotent(format!("orrery-seller-account:{tenant}"));
        Ok(in_turn(|| Account::create(&client, params.clone()))
            .await?
            .id
            .to_string())
    }

    /// A fresh onboarding link for a connected account: Stripe sends the
    /// browser to `return_url` when the seller is done, and to `refresh_url`
    /// when the link expired or was used already (which makes a new one).
    pub async fn onboarding_link(
        &self,
        account: &str,
        refresh_url: &str,
        return_url: &str,
    ) -> Result<(String, DateTime<Utc>), BillingError> {
        let mut params =
            CreateAccountLink::new(account_id(account)?, AccountLinkType::AccountOnboarding);
        params.refresh_url = Some(refresh_url);
        params.return_url = Some(return_url);
        let link = AccountLink::create(&self.client, params).await?;
        Ok((link.url, timestamp(link.expires_at)?))
    }

    /// What Stripe says a connected account may do now.
    pub async fn seller_state(&self, account: &str) -> Result<SellerState, BillingError> {
        let account = Account::retrieve(&self.client, &account_id(account)?, &[]).await?;
        Ok(SellerState {
            charges_enabled: account.charges_enabled.unwrap_or(false),
            payouts_enabled: account.payouts_enabled.unwrap_or(false),
            details_submitted: account.details_submitted.unwrap_or(false),
        })
    }

    /// Opens the Checkout Session of a purchase: a destination charge to
    /// the seller with the commission as the application fee.
    pub async fn listing_checkout(
        &self,
        checkout: &ListingCheckout<'_>,
    ) -> Result<OpenCheckout, BillingError> {
        let customer: CustomerId = checkout
            .customer
            .parse()
            .map_err(|_| BillingError::Incomplete("customer id"))?;
        let metadata: HashMap<String, String> = [
            (PURCHASE_KEY.to_owned(), checkout.purchase.to_string()),
            ("listing_id".to_owned(), checkout.listing.to_string()),
            ("version".to_owned(), checkout.version.to_owned()),
            ("buyer_user".to_owned(), checkout.buyer_user.to_string()),
        ]
        .into();
        let amount = i64::try_from(checkout.amount_minor)
            .map_err(|_| BillingError::Incomplete("a price that fits"))?;
        let fee = i64::try_from(checkout.fee_minor)
            .map_err(|_| BillingError::Incomplete("a fee that fits"))?;
        let mut params = CreateCheckoutSession::new();
        params.mode = Some(CheckoutSessionMode::Payment);
        params.customer = Some(customer);
        let reference = checkout.purchase.to_string();
        params.client_reference_id = Some(&reference);
        params.success_url = Some(&self.config.return_url);
        params.cancel_url = Some(&self.config.return_url);
        // Stripe's default lifetime (24 hours): no `expires_at`, so that two
        // requests for the same attempt send the same parameters, as an
        // idempotency key requires.
        params.metadata = Some(metadata.clone());
        params.line_items = Some(vec![CreateCheckoutSessionLineItems {
            quantity: Some(1),
            price_data: Some(CreateCheckoutSessionLineItemsPriceData {
                currency: currency(checkout.currency)?,
                unit_amount: Some(amount),
                product_data: Some(CreateCheckoutSessionLineItemsPriceDataProductData {
                    name: checkout.title.to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        params.payment_intent_data = Some(CreateCheckoutSessionPaymentIntentData {
            application_fee_amount: Some(fee),
            transfer_data: Some(CreateCheckoutSessionPaymentIntentDataTransferData {
                destination: checkout.seller_account.to_owned(),
                ..Default::default()
            }),
            metadata: Some(metadata),
            ..Default::default()
        });
        let client = self.idempotent(format!(
            "orrery-listing-checkout:{}:{}",
            checkout.purchase, checkout.attempt
        ));
        let session = in_turn(|| CheckoutSession::create(&client, params.clone())).await?;
        Ok(OpenCheckout {
            id: session.id.to_string(),
            url: session
                .url
                .ok_or(BillingError::Incomplete("checkout session url"))?,
            expires_at: timestamp(session.expires_at)?,
        })
    }

    /// A Checkout Session as Stripe holds it now.
    pub async fn checkout_session(&self, id: &str) -> Result<PaidCheckout, BillingError> {
        let id: CheckoutSessionId = id
            .parse()
            .map_err(|_| BillingError::Incomplete("checkout session id"))?;
        Ok(PaidCheckout::of(
            CheckoutSession::retrieve(&self.client, &id, &[]).await?,
        ))
    }

    /// Expires an open Checkout Session, so it can no longer be paid: the
    /// session as Stripe holds it after (a session paid in the meantime
    /// cannot be expired and comes back as it is).
    pub async fn expire_checkout(&self, id: &str) -> Result<PaidCheckout, BillingError> {
        let session_id: CheckoutSessionId = id
            .parse()
            .map_err(|_| BillingError::Incomplete("checkout session id"))?;
        match CheckoutSession::expire(&self.client, &session_id).await {
            Ok(session) => Ok(PaidCheckout::of(session)),
            Err(stripe::StripeError::Stripe(error)) if error.http_status == 400 => {
                self.checkout_session(id).await
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Every complete Checkout Session created since `since`, from
    /// Stripe's list, page by page (at most `max` of them).
    pub async fn completed_checkouts(
        &self,
        since: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<PaidCheckout>, BillingError> {
        let mut found = Vec::new();
        let mut after: Option<CheckoutSessionId> = None;
        loop {
            let mut params = ListCheckoutSessions::new();
            params.status = Some(CheckoutSessionStatus::Complete);
            params.created = Some(stripe::RangeQuery::gte(since.timestamp()));
            params.limit = Some(100);
            params.starting_after = after.clone();
            let page = CheckoutSession::list(&self.client, &params).await?;
            after = page.data.last().map(|session| session.id.clone());
            let more = page.has_more;
            found.extend(page.data.into_iter().map(PaidCheckout::of));
            if !more || after.is_none() || found.len() >= max {
                return Ok(found);
            }
        }
    }

    /// Refunds a purchase's payment in full, reversing the transfer to the
    /// seller and giving the platform's fee back; Stripe's refund id.
    pub async fn refund_purchase(
        &self,
        purchase: uuid::Uuid,
        payment_intent: &str,
    ) -> Result<String, BillingError> {
        let intent: PaymentIntentId = payment_intent
            .parse()
            .map_err(|_| BillingError::Incomplete("payment intent id"))?;
        let mut params = CreateRefund::new();
        params.payment_intent = Some(intent);
        params.reverse_transfer = Some(true);
        params.refund_application_fee = Some(true);
        params.metadata = Some([(PURCHASE_KEY.to_owned(), purchase.to_string())].into());
        // Keyed by the payment: a purchase bought again after a refund is
        // another payment, refunded under another key.
        let client = self.idempotent(format!("orrery-listing-refund:{payment_intent}"));
        Ok(in_turn(|| Refund::create(&client, params.clone()))
            .await?
            .id
            .to_string())
    }

    /// The payments refunded since `since`, as Stripe lists its refunds
    /// (at most `max` refunds read): each payment once.
    pub async fn refunded_payments_since(
        &self,
        since: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<String>, BillingError> {
        let mut payments = Vec::new();
        let mut read = 0;
        let mut after: Option<stripe::RefundId> = None;
        loop {
            let mut params = ListRefunds::new();
            params.created = Some(stripe::RangeQuery::gte(since.timestamp()));
            params.limit = Some(100);
            params.starting_after = after.clone();
            let page = Refund::list(&self.client, &params).await?;
            read += page.data.len();
            after = page.data.last().map(|refund| refund.id.clone());
            for refund in &page.data {
                if let Some(intent) = &refund.payment_intent {
                    let intent = intent.id().to_string();
                    if !payments.contains(&intent) {
                        payments.push(intent);
                    }
                }
            }
            if !page.has_more || after.is_none() || read >= max {
                return Ok(payments);
            }
        }
    }

    /// A payment's refunds as Stripe lists them: `(id, amount)` of each
    /// that succeeded.
    pub async fn refunds_of(
        &self,
        payment_intent: &str,
    ) -> Result<Vec<(String, i64)>, BillingError> {
        let intent: PaymentIntentId = payment_intent
            .parse()
            .map_err(|_| BillingError::Incomplete("payment intent id"))?;
        let mut params = ListRefunds::new();
        params.payment_intent = Some(intent);
        params.limit = Some(100);
        Ok(Refund::list(&self.client, &params)
            .await?
            .data
            .into_iter()
            .filter(|refund| refund.status.as_deref() == Some("succeeded"))
            .map(|refund| (refund.id.to_string(), refund.amount))
            .collect())
    }
}
