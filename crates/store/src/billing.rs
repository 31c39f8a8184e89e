//! Billing in the sync server's store: Stripe customers, subscriptions as last
//! learned from Stripe, processed webhook events (for idempotency) and invoices.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::accounts::timestamp;
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

    /// Records a webhook event id; `false` if it was processed before.
    pub async fn record_stripe_event(
        &self,
        event_id: &str,
        event_type: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO stripe_events (event_id, event_type, processed_at) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(event_type)
        .bind(timestamp(now))
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
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
    pub async fn apply_subscription(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        subscription: &SubscriptionRecord,
        plan: &str,
        payment_failed: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut transaction = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO subscriptions (stripe_subscription_id, user_id, tenant_id, plan_key, status, cancel_at_period_end, current_period_end, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (stripe_subscription_id) DO UPDATE SET plan_key = excluded.plan_key, status = excluded.status,
                 cancel_at_period_end = excluded.cancel_at_period_end, current_period_end = excluded.current_period_end,
                 updated_at = excluded.updated_at",
        )
        .bind(&subscription.stripe_subscription_id)
        .bind(user_id.to_string())
        .bind(tenant_id.to_string())
        .bind(&subscription.plan_key)
        .bind(&subscription.status)
        .bind(subscription.cancel_at_period_end as i64)
        .bind(timestamp(subscription.current_period_end))
        .bind(timestamp(now))
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
            "SELECT stripe_subscription_id, plan_key, status, cancel_at_period_end, current_period_end FROM subscriptions
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

    /// Stores (or updates) an invoice.
    pub async fn upsert_invoice(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        invoice: &InvoiceRecord,
    ) -> Result<(), StoreError> {
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
        .execute(&self.pool)
        .await?;
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
