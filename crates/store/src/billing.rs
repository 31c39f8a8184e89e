//! Billing in the sync server's store: Stripe customers, subscriptions as last
//! learned from Stripe, processed webhook events (for idempotency) and invoices.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::accounts::timestamp;
use crate::events::{EventKind, NewEvent, record_event, record_event_once};
use crate::local::parse_id;
use crate::{ServerStore, StoreError};

/// A subscription's state, as Stripe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// Stripe's id.
    pub stripe_subscription_id: String,
    /// The plan it pays for.
    pub plan_key: String,
    /// Stripe's status (`trialing`, `active`, `past_due`, `canceled`, ...).
    pub status: String,
    /// Ends when the period ends.
    pub cancel_at_period_end: bool,
    /// When the paid period ends.
    pub current_period_end: DateTime<Utc>,
    /// Its price as monthly recurring revenue, cents
    /// (`orrery_domain::revenue::monthly_recurring_cents`), whatever its status.
    pub mrr_cents: i64,
}

/// An invoice as listed to its user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InvoiceRecord {
    /// Stripe's id.
    pub id: String,
    /// `paid`, `open`, ...
    pub status: String,
    /// Cents due.
    pub amount_due: i64,
    /// Cents paid.
    pub amount_paid: i64,
    /// ISO currency.
    pub currency: String,
    /// Stripe's page for it.
    pub hosted_url: Option<String>,
    /// When Stripe created it.
    pub created: String,
}

/// What a webhook says happened to an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceOutcome {
    /// It was paid.
    Paid,
    /// Payment attempt number `attempt` failed.
    PaymentFailed {
        /// Stripe's `attempt_count`.
        attempt: i64,
    },
}

impl ServerStore {
    /// The Stripe customer of a user.
    pub async fn stripe_customer(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT stripe_customer_id FROM billing_customers WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Remembers a user's Stripe customer.
    pub async fn set_stripe_customer(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        customer: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO billing_customers (user_id, tenant_id, stripe_customer_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id.to_string())
        .bind(tenant_id.to_string())
        .bind(customer)
        .bind(timestamp(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user (tenant, user) a Stripe customer belongs to.
    pub async fn customer_owner(&self, customer: &str) -> Result<Option<(Uuid, Uuid)>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, user_id FROM billing_customers WHERE stripe_customer_id = $1",
        )
        .bind(customer)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok((
                parse_id(&row.get::<String, _>("tenant_id"), "billing_customers")?,
                parse_id(&row.get::<String, _>("user_id"), "billing_customers")?,
            ))
        })
        .transpose()
    }

    /// Takes up a webhook event id; `false` if it was processed before or
    /// another request is at it.
    pub async fn record_stripe_event(
        &self,
        event_id: &str,
        event_type: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // New, or taken up before by a server that stopped before it was
        // done (its claim five minutes old): this request processes it.
        let claimed = sqlx::query(
            "INSERT INTO stripe_events (event_id, event_type, processed_at, done) VALUES ($1, $2, $3, 0)
             ON CONFLICT (event_id) DO UPDATE SET processed_at = excluded.processed_at
             WHERE stripe_events.done = 0 AND stripe_events.processed_at < $4",
        )
        .bind(event_id)
        .bind(event_type)
        .bind(timestamp(now))
        .bind(timestamp(now - chrono::Duration::minutes(5)))
        .execute(&self.pool)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Notes an event processed: Stripe's retries of it change nothing.
    pub async fn finish_stripe_event(&self, event_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE stripe_events SET done = 1 WHERE event_id = $1")
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets an event id (its processing failed, so Stripe's retry must run it).
    pub async fn forget_stripe_event(&self, event_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM stripe_events WHERE event_id = $1")
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a subscription's current state and sets the user's plan and
    /// standing from it, in one transaction: `plan` is what the user is on now
    /// (the paid plan while the subscription lives, `free` after it ends).
    /// The same transaction appends the subscription's change to the event
    /// log (state and MRR before and after) when anything the figures count
    /// changed, and a plan change when the user's plan moved.
    pub async fn apply_subscription(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        subscription: &SubscriptionRecord,
        plan: &str,
        payment_failed: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        use orrery_domain::revenue::{SubscriptionChange, SubscriptionSnapshot};
        let mut transaction = self.write_transaction().await?;
        let before = sqlx::query(
            "SELECT status, mrr_cents FROM subscriptions WHERE stripe_subscription_id = $1",
        )
        .bind(&subscription.stripe_subscription_id)
        .fetch_optional(&mut *transaction)
        .await?
        .map(|row| SubscriptionSnapshot {
            status: row.get("status"),
            mrr_cents: row.get("mrr_cents"),
        });
        let customer_paid_before: Option<i64> = sqlx::query_scalar(
            "SELECT ever_paid FROM subscriptions WHERE user_id = $1 AND ever_paid = 1 LIMIT 1",
        )
        .bind(user_id.to_string())
        .fetch_optional(&mut *transaction)
        .await?;
        let plan_before: Option<String> =
            sqlx::query_scalar("SELECT plan FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id.to_string())
                .bind(user_id.to_string())
                .fetch_optional(&mut *transaction)
                .await?;
        let after = SubscriptionSnapshot {
            status: subscription.status.clone(),
            mrr_cents: subscription.mrr_cents,
        };
        sqlx::query(
            "INSERT INTO subscriptions (stripe_subscription_id, user_id, tenant_id, plan_key, status, cancel_at_period_end, current_period_end, updated_at, mrr_cents, ever_paid)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (stripe_subscription_id) DO UPDATE SET plan_key = excluded.plan_key, status = excluded.status,
                 cancel_at_period_end = excluded.cancel_at_period_end, current_period_end = excluded.current_period_end,
                 updated_at = excluded.updated_at, mrr_cents = excluded.mrr_cents,
                 ever_paid = CASE WHEN subscriptions.ever_paid = 1 OR excluded.ever_paid = 1 THEN 1 ELSE 0 END",
        )
        .bind(&subscription.stripe_subscription_id)
        .bind(user_id.to_string())
        .bind(tenant_id.to_string())
        .bind(&subscription.plan_key)
        .bind(&subscription.status)
        .bind(subscription.cancel_at_period_end as i64)
        .bind(timestamp(subscription.current_period_end))
        .bind(timestamp(now))
        .bind(subscription.mrr_cents)
        .bind(i64::from(after.contribution() > 0))
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "UPDATE users SET plan = $1, payment_failed = $2 WHERE tenant_id = $3 AND id = $4",
        )
        .bind(plan)
        .bind(payment_failed as i64)
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .execute(&mut *transaction)
        .await?;
        if before.as_ref() != Some(&after) {
            let kind = match (&before, after.status.as_str()) {
                (None, _) => EventKind::SubscriptionCreated,
                (Some(_), "canceled" | "incomplete_expired") => EventKind::SubscriptionCanceled,
                (Some(_), _) => EventKind::SubscriptionUpdated,
            };
            let change = SubscriptionChange {
                subscription: subscription.stripe_subscription_id.clone(),
                plan: subscription.plan_key.clone(),
                before,
                after,
                customer_paid_before: customer_paid_before.is_some(),
            };
            record_event(
                &mut transaction,
                NewEvent {
                    kind,
                    tenant_id: Some(tenant_id),
                    user_id: Some(user_id),
                    subject: &subscription.stripe_subscription_id,
                    data: serde_json::to_value(&change)
                        .map_err(|error| StoreError::corrupt("events", error))?,
                    at: now,
                },
            )
            .await?;
        }
        if let Some(plan_before) = plan_before.filter(|before| before != plan) {
            record_event(
                &mut transaction,
                NewEvent {
                    data: serde_json::json!({ "before": plan_before, "after": plan, "by": "subscription" }),
                    ..NewEvent::of_user(EventKind::PlanChanged, tenant_id, user_id, now)
                },
            )
            .await?;
            let name = crate::outbox::plan_name(&mut transaction, plan).await?;
            crate::outbox::queue_user_mail(
                &mut transaction,
                user_id,
                "plan_changed",
                format!("plan_changed:{user_id}:{}", crate::accounts::timestamp(now)),
                serde_json::json!({ "plan": name }),
                now,
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// A user's subscription, if any.
    pub async fn subscription_of(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT stripe_subscription_id, plan_key, status, cancel_at_period_end, current_period_end, mrr_cents FROM subscriptions
             WHERE tenant_id = $1 AND user_id = $2 ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SubscriptionRecord {
                stripe_subscription_id: row.get("stripe_subscription_id"),
                plan_key: row.get("plan_key"),
                status: row.get("status"),
                cancel_at_period_end: row.get::<i64, _>("cancel_at_period_end") != 0,
                current_period_end: DateTime::parse_from_rfc3339(
                    &row.get::<String, _>("current_period_end"),
                )
                .map_err(|e| StoreError::corrupt("subscriptions", e))?
                .with_timezone(&Utc),
                mrr_cents: row.get("mrr_cents"),
            })
        })
        .transpose()
    }

    /// Whether a user's last payment failed.
    pub async fn payment_failed(&self, tenant_id: Uuid, user_id: Uuid) -> Result<bool, StoreError> {
        let failed: Option<i64> =
            sqlx::query_scalar("SELECT payment_failed FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id.to_string())
                .bind(user_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(failed.unwrap_or(0) != 0)
    }

    /// Stores (or updates) an invoice and appends what happened to it to the
    /// event log in the same transaction: `outcome` is the webhook's news
    /// (paid, or a payment attempt failed). Each payment and each failed
    /// attempt is recorded once, however often Stripe delivers it.
    pub async fn upsert_invoice(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        invoice: &InvoiceRecord,
        outcome: InvoiceOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut transaction = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO invoices (stripe_invoice_id, user_id, tenant_id, status, amount_due, amount_paid, currency, hosted_url, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (stripe_invoice_id) DO UPDATE SET status = excluded.status, amount_due = excluded.amount_due,
                 amount_paid = excluded.amount_paid, hosted_url = excluded.hosted_url",
        )
        .bind(&invoice.id)
        .bind(user_id.to_string())
        .bind(tenant_id.to_string())
        .bind(&invoice.status)
        .bind(invoice.amount_due)
        .bind(invoice.amount_paid)
        .bind(&invoice.currency)
        .bind(&invoice.hosted_url)
        .bind(&invoice.created)
        .execute(&mut *transaction)
        .await?;
        let (kind, subject) = match outcome {
            InvoiceOutcome::Paid => (EventKind::InvoicePaid, invoice.id.clone()),
            InvoiceOutcome::PaymentFailed { attempt } => (
                EventKind::InvoicePaymentFailed,
                format!("{}#{attempt}", invoice.id),
            ),
        };
        record_event_once(
            &mut transaction,
            NewEvent {
                subject: &subject,
                data: serde_json::json!({
                    "amount_due": invoice.amount_due,
                    "amount_paid": invoice.amount_paid,
                    "currency": invoice.currency,
                }),
                ..NewEvent::of_user(kind, tenant_id, user_id, now)
            },
        )
        .await?;
        let (template, amount) = match outcome {
            InvoiceOutcome::Paid => ("payment_succeeded", invoice.amount_paid),
            InvoiceOutcome::PaymentFailed { .. } => ("payment_failed", invoice.amount_due),
        };
        crate::outbox::queue_user_mail(
            &mut transaction,
            user_id,
            template,
            format!("{template}:{subject}"),
            serde_json::json!({ "amount": crate::outbox::amount_words(amount, &invoice.currency) }),
            now,
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// A user's invoices, newest first.
    pub async fn list_invoices(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> Result<Vec<InvoiceRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT stripe_invoice_id, status, amount_due, amount_paid, currency, hosted_url, created FROM invoices
             WHERE tenant_id = $1 AND user_id = $2 ORDER BY created DESC",
        )
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| InvoiceRecord {
                id: row.get("stripe_invoice_id"),
                status: row.get("status"),
                amount_due: row.get("amount_due"),
                amount_paid: row.get("amount_paid"),
                currency: row.get("currency"),
                hosted_url: row.get("hosted_url"),
                created: row.get("created"),
            })
            .collect())
    }
}
