//! Money in the marketplace (migration server/0023, pg 0019): sellers'
//! Stripe connected accounts, the Checkout Session behind each paid
//! purchase, settling a paid purchase and refunding one (each with its
//! ledger rows, in the transaction that moves the purchase), the
//! append-only `marketplace_transactions` ledger, the sales report, the
//! payouts Stripe reports, and the platform's commission rate.
//!
//! Every state change is conditional on the state it leaves (`pending` to
//! `paid`, `paid` to `refunded`), so however many webhooks, reconciliation
//! passes and refund requests race, each happens once, and the ledger rows
//! are written by the one that moved it. The ledger's rows are also unique
//! by Stripe's object, and triggers refuse to change or remove one.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::accounts::timestamp;
use crate::admin::{AuditActor, AuditDraft, AuditEntry, append_audit};
use crate::local::parse_id;
use crate::marketplace::{
    LISTING_COLUMNS, PURCHASE_ALIASED, PURCHASE_COLUMNS, count, listing_from_row,
    purchase_from_row, to_i64,
};
use crate::{ListingRecord, PurchaseRecord, ServerStore, StoreError};

/// The `server_facts` row holding the commission rate, in basis points.
const COMMISSION_FACT: &str = "marketplace_commission_bps";

/// A seller's Stripe connected account and what Stripe says it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerRecord {
    /// The seller's tenant.
    pub tenant_id: Uuid,
    /// Who set it up.
    pub user_id: Uuid,
    /// Stripe's account id (`acct_...`).
    pub stripe_account: String,
    /// Names the seller in the links Stripe sends the browser back to.
    pub onboarding_token: String,
    /// What Stripe says of the account.
    pub state: SellerState,
    /// RFC 3339.
    pub updated_at: String,
}

/// What Stripe says a connected account may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SellerState {
    /// It can take payments: paid listings are allowed.
    pub charges_enabled: bool,
    /// Stripe pays its balance out.
    pub payouts_enabled: bool,
    /// The seller finished Stripe's forms.
    pub details_submitted: bool,
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// The purchase.
    pub purchase_id: Uuid,
    /// `sale`, `fee`, `refund` or `fee_refund`.
    pub kind: String,
    /// Minor units, signed (see the migration).
    pub amount_minor: i64,
    /// Its currency.
    pub currency: String,
    /// Stripe's payment or refund behind it.
    pub stripe_ref: String,
    /// RFC 3339.
    pub created_at: String,
}

/// One listing's month in a seller's sales report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// The listing.
    pub listing_id: Uuid,
    /// Its title.
    pub title: String,
    /// Its currency.
    pub currency: String,
    /// Sales that month.
    pub sales: u64,
    /// What buyers paid.
    pub gross_minor: i64,
    /// The platform's commission, less what refunds gave back of it.
    pub fee_minor: i64,
    /// What was refunded (positive).
    pub refunds_minor: i64,
    /// What the seller keeps: gross - refunds - fee.
    pub net_minor: i64,
}

/// A payout Stripe reported for a seller's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRecord {
    /// Stripe's id (`po_...`).
    pub id: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Its currency.
    pub currency: String,
    /// Stripe's status (`paid`, `pending`, `in_transit`, `failed`, ...).
    pub status: String,
    /// When it arrives (or arrived), RFC 3339.
    pub arrival_date: String,
}

/// A sale as its seller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRecord {
    /// The purchase.
    pub purchase: PurchaseRecord,
    /// The listing.
    pub listing: ListingRecord,
    /// The buyer's name as shown.
    pub buyer_name: String,
}

fn seller_from_row(row: &sqlx::any::AnyRow) -> Result<SellerRecord, StoreError> {
    let flag = |column: &str| row.get::<i64, _>(column) != 0;
    Ok(SellerRecord {
        tenant_id: parse_id(&row.get::<String, _>("tenant_id"), "marketplace_sellers")?,
        user_id: parse_id(&row.get::<String, _>("user_id"), "marketplace_sellers")?,
        stripe_account: row.get("stripe_account"),
        onboarding_token: row.get("onboarding_token"),
        state: SellerState {
            charges_enabled: flag("charges_enabled"),
            payouts_enabled: flag("payouts_enabled"),
            details_submitted: flag("details_submitted"),
        },
        updated_at: row.get("updated_at"),
    })
}

const SELLER_COLUMNS: &str =
    "tenant_id, user_id, stripe_account, onboarding_token, charges_enabled,
     payouts_enabled, details_submitted, updated_at";

/// Writes a ledger row unless Stripe's object already has one of its kind.
async fn append_ledger(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    purchase: &PurchaseRecord,
    seller_tenant: Uuid,
    (kind, amount_minor, stripe_ref): (&str, i64, &str),
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO marketplace_transactions (id, purchase_id, listing_id, seller_tenant,
             buyer_user, kind, amount_minor, currency, stripe_ref, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (kind, stripe_ref) DO NOTHING",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(purchase.id.to_string())
    .bind(purchase.listing_id.to_string())
    .bind(seller_tenant.to_string())
    .bind(purchase.buyer_user.to_string())
    .bind(kind)
    .bind(amount_minor)
    .bind(&purchase.currency)
    .bind(stripe_ref)
    .bind(now)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

impl ServerStore {
    /// A tenant's seller account, if they set one up.
    pub async fn seller(&self, tenant: Uuid) -> Result<Option<SellerRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SELLER_COLUMNS} FROM marketplace_sellers WHERE tenant_id = $1"
        ))
        .bind(tenant.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| seller_from_row(&row))
        .transpose()
    }

    /// The seller whose onboarding links carry the token with this hash.
    pub async fn seller_by_token(&self, token: &str) -> Result<Option<SellerRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SELLER_COLUMNS} FROM marketplace_sellers WHERE onboarding_token = $1"
        ))
        .bind(token)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| seller_from_row(&row))
        .transpose()
    }

    /// Records a tenant's new connected account, unless they have one (two
    /// devices setting up at once): the stored one comes back either way.
    pub async fn add_seller(
        &self,
        (tenant, user): (Uuid, Uuid),
        stripe_account: &str,
        onboarding_token: &str,
        now: DateTime<Utc>,
    ) -> Result<SellerRecord, StoreError> {
        sqlx::query(
            "INSERT INTO marketplace_sellers (tenant_id, user_id, stripe_account, onboarding_token,
                 created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(stripe_account)
        .bind(onboarding_token)
        .bind(timestamp(now))
        .execute(&self.pool)
        .await?;
        self.seller(tenant)
            .await?
            .ok_or_else(|| StoreError::corrupt("marketplace_sellers", "the seller just stored"))
    }

    /// Gives a seller's onboarding links a new token (its hash stored):
    /// the links made before stop working.
    pub async fn rotate_onboarding_token(
        &self,
        tenant: Uuid,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE marketplace_sellers SET onboarding_token = $1 WHERE tenant_id = $2")
            .bind(token_hash)
            .bind(tenant.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a pending purchase whose Checkout Session expired unpaid as
    /// `expired` (Buy opens it again); `false` when it was not pending.
    pub async fn expire_purchase(&self, purchase: Uuid) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE marketplace_purchases SET state = 'expired' WHERE id = $1 AND state = 'pending'",
        )
        .bind(purchase.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Settles a pending purchase of a listing that became free: paid,
    /// for nothing, no ledger rows. `false` when it was not pending.
    pub async fn settle_as_free(
        &self,
        purchase: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = timestamp(now);
        let mut transaction = self.write_transaction().await?;
        let row: Option<String> = sqlx::query_scalar(
            "UPDATE marketplace_purchases SET state = 'paid', paid_at = $1, amount_minor = 0,
                 fee_minor = 0, checkout_session = NULL, checkout_url = NULL, delivery_started_at = $1
             WHERE id = $2 AND state = 'pending' RETURNING listing_id",
        )
        .bind(&now)
        .bind(purchase.to_string())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(listing) = row else {
            transaction.rollback().await?;
            return Ok(false);
        };
        sqlx::query("UPDATE marketplace_listings SET purchases = purchases + 1 WHERE id = $1")
            .bind(listing)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Applies what Stripe says of a connected account now; the seller's
    /// tenant, when the account is a seller's here.
    pub async fn set_seller_state(
        &self,
        stripe_account: &str,
        state: SellerState,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, StoreError> {
        let tenant: Option<String> = sqlx::query_scalar(
            "UPDATE marketplace_sellers SET charges_enabled = $1, payouts_enabled = $2,
                 details_submitted = $3, updated_at = $4
             WHERE stripe_account = $5 RETURNING tenant_id",
        )
        .bind(i64::from(state.charges_enabled))
        .bind(i64::from(state.payouts_enabled))
        .bind(i64::from(state.details_submitted))
        .bind(timestamp(now))
        .bind(stripe_account)
        .fetch_optional(&self.pool)
        .await?;
        tenant
            .map(|tenant| parse_id(&tenant, "marketplace_sellers"))
            .transpose()
    }

    /// The platform's commission in basis points, where an admin set one.
    pub async fn commission_bps(&self) -> Result<Option<u32>, StoreError> {
        let value: Option<String> =
            sqlx::query_scalar("SELECT value FROM server_facts WHERE fact = $1")
                .bind(COMMISSION_FACT)
                .fetch_optional(&self.pool)
                .await?;
        Ok(value.and_then(|value| value.parse().ok()))
    }

    /// Sets the commission rate as an admin, with its audit entry.
    pub async fn set_commission_bps(
        &self,
        bps: u32,
        before: u32,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, StoreError> {
        let mut transaction = self.admin_transaction().await?;
        sqlx::query(
            "INSERT INTO server_facts (fact, value) VALUES ($1, $2)
             ON CONFLICT (fact) DO UPDATE SET value = excluded.value",
        )
        .bind(COMMISSION_FACT)
        .bind(bps.to_string())
        .execute(&mut *transaction)
        .await?;
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: "marketplace.commission",
                target_kind: "marketplace",
                target_id: "commission",
                before: serde_json::json!({ "commission_bps": before }),
                after: serde_json::json!({ "commission_bps": bps }),
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(entry)
    }

    /// A purchase with its listing.
    pub async fn purchase_with_listing(
        &self,
        id: Uuid,
    ) -> Result<Option<(PurchaseRecord, ListingRecord)>, StoreError> {
        sqlx::query(&format!(
            "SELECT {PURCHASE_ALIASED}, {LISTING_COLUMNS}
             FROM marketplace_purchases p JOIN marketplace_listings l ON l.id = p.listing_id
                 LEFT JOIN users u ON u.id = l.seller_user
             WHERE p.id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| Ok((purchase_from_row(&row, "p_")?, listing_from_row(&row)?)))
        .transpose()
    }

    /// The purchase a Stripe payment paid for.
    pub async fn purchase_by_payment(
        &self,
        payment_intent: &str,
    ) -> Result<Option<PurchaseRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {PURCHASE_COLUMNS} FROM marketplace_purchases WHERE payment_intent = $1"
        ))
        .bind(payment_intent)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| purchase_from_row(&row, ""))
        .transpose()
    }

    /// Notes the Checkout Session made as a pending purchase's `attempt`
    /// (at its current price), unless a later attempt was noted first; the
    /// purchase as stored after.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_checkout(
        &self,
        purchase: Uuid,
        attempt: u64,
        (session, url, expires_at): (&str, &str, DateTime<Utc>),
        (version, amount_minor, fee_minor, currency): (&str, u64, u64, &str),
    ) -> Result<Option<PurchaseRecord>, StoreError> {
        sqlx::query(
            "UPDATE marketplace_purchases SET checkout_session = $1, checkout_url = $2,
                 checkout_expires_at = $3, checkout_attempt = $4, version = $5,
                 amount_minor = $6, fee_minor = $7, currency = $8
             WHERE id = $9 AND state = 'pending' AND checkout_attempt < $4",
        )
        .bind(session)
        .bind(url)
        .bind(timestamp(expires_at))
        .bind(to_i64(attempt))
        .bind(version)
        .bind(to_i64(amount_minor))
        .bind(to_i64(fee_minor))
        .bind(currency)
        .bind(purchase.to_string())
        .execute(&self.pool)
        .await?;
        self.purchase_by_id(purchase).await
    }

    /// A purchase.
    pub async fn purchase_by_id(&self, id: Uuid) -> Result<Option<PurchaseRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {PURCHASE_COLUMNS} FROM marketplace_purchases WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| purchase_from_row(&row, ""))
        .transpose()
    }

    /// Marks a pending purchase paid by `session` and `payment_intent`, with
    /// its sale and fee in the ledger, in one transaction. `false` when it
    /// was not pending (paid before, or refunded): nothing changes then.
    pub async fn settle_purchase(
        &self,
        purchase: &PurchaseRecord,
        seller_tenant: Uuid,
        (session, payment_intent): (&str, &str),
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = timestamp(now);
        let mut transaction = self.write_transaction().await?;
        let moved = sqlx::query(
            "UPDATE marketplace_purchases SET state = 'paid', paid_at = $1, checkout_session = $2,
                 payment_intent = $3, delivery_started_at = $1
             WHERE id = $4 AND state = 'pending'",
        )
        .bind(&now)
        .bind(session)
        .bind(payment_intent)
        .bind(purchase.id.to_string())
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            == 1;
        if !moved {
            transaction.rollback().await?;
            return Ok(false);
        }
        let amount = to_i64(purchase.amount_minor);
        let fee = to_i64(purchase.fee_minor);
        for row in [
            ("sale", amount, payment_intent),
            ("fee", fee, payment_intent),
        ] {
            append_ledger(&mut transaction, purchase, seller_tenant, row, &now).await?;
        }
        sqlx::query("UPDATE marketplace_listings SET purchases = purchases + 1 WHERE id = $1")
            .bind(purchase.listing_id.to_string())
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Marks a paid purchase refunded by Stripe's `refund`, with the refund
    /// and the fee given back in the ledger, in one transaction; the
    /// purchase as it was (with the copy to take back), or `None` when it
    /// was not paid.
    pub async fn refund_purchase(
        &self,
        purchase: Uuid,
        refund: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PurchaseRecord>, StoreError> {
        let now = timestamp(now);
        let mut transaction = self.write_transaction().await?;
        // The move first: of refunds racing, one moves it and writes the rows.
        let moved = sqlx::query(
            "UPDATE marketplace_purchases SET state = 'refunded', refunded_at = $1, refund_reason = $2
             WHERE id = $3 AND state = 'paid'",
        )
        .bind(&now)
        .bind(reason)
        .bind(purchase.to_string())
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            == 1;
        if !moved {
            transaction.rollback().await?;
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {PURCHASE_ALIASED}, l.seller_tenant FROM marketplace_purchases p
                 JOIN marketplace_listings l ON l.id = p.listing_id
             WHERE p.id = $1"
        ))
        .bind(purchase.to_string())
        .fetch_one(&mut *transaction)
        .await?;
        let record = purchase_from_row(&row, "p_")?;
        let seller_tenant = parse_id(
            &row.get::<String, _>("seller_tenant"),
            "marketplace_listings",
        )?;
        let amount = to_i64(record.amount_minor);
        let fee = to_i64(record.fee_minor);
        for row in [("refund", -amount, refund), ("fee_refund", -fee, refund)] {
            append_ledger(&mut transaction, &record, seller_tenant, row, &now).await?;
        }
        sqlx::query(
            "UPDATE marketplace_listings SET purchases = purchases - 1 WHERE id = $1 AND purchases > 0",
        )
        .bind(record.listing_id.to_string())
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(Some(record))
    }

    /// Pending purchases with a Checkout Session, oldest first: what a
    /// reconciliation pass asks Stripe about.
    pub async fn purchases_awaiting_payment(&self) -> Result<Vec<PurchaseRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PURCHASE_COLUMNS} FROM marketplace_purchases
             WHERE state = 'pending' AND checkout_session IS NOT NULL ORDER BY created_at LIMIT 1000"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| purchase_from_row(row, "")).collect()
    }

    /// Paid purchases whose copy is not in the buyer's library yet.
    pub async fn purchases_undelivered(&self) -> Result<Vec<PurchaseRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PURCHASE_COLUMNS} FROM marketplace_purchases
             WHERE state = 'paid' AND delivered_item IS NULL ORDER BY created_at LIMIT 1000"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| purchase_from_row(row, "")).collect()
    }

    /// A purchase's ledger rows, oldest first.
    pub async fn purchase_ledger(&self, purchase: Uuid) -> Result<Vec<LedgerRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT purchase_id, kind, amount_minor, currency, stripe_ref, created_at
             FROM marketplace_transactions WHERE purchase_id = $1 ORDER BY created_at, kind",
        )
        .bind(purchase.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LedgerRow {
                    purchase_id: parse_id(
                        &row.get::<String, _>("purchase_id"),
                        "marketplace_transactions",
                    )?,
                    kind: row.get("kind"),
                    amount_minor: row.get("amount_minor"),
                    currency: row.get("currency"),
                    stripe_ref: row.get("stripe_ref"),
                    created_at: row.get("created_at"),
                })
            })
            .collect()
    }

    /// A seller's sales per month and listing, newest month first, from
    /// the ledger.
    pub async fn sales_report(&self, seller_tenant: Uuid) -> Result<Vec<SalesMonth>, StoreError> {
        let rows = sqlx::query(
            "SELECT substr(t.created_at, 1, 7) AS month, t.listing_id, l.title, t.currency,
                 CAST(SUM(CASE WHEN t.kind = 'sale' THEN 1 ELSE 0 END) AS BIGINT) AS sales,
                 CAST(SUM(CASE WHEN t.kind = 'sale' THEN t.amount_minor ELSE 0 END) AS BIGINT) AS gross,
                 CAST(SUM(CASE WHEN t.kind IN ('fee', 'fee_refund') THEN t.amount_minor ELSE 0 END) AS BIGINT) AS fee,
                 CAST(SUM(CASE WHEN t.kind = 'refund' THEN -t.amount_minor ELSE 0 END) AS BIGINT) AS refunds
             FROM marketplace_transactions t JOIN marketplace_listings l ON l.id = t.listing_id
             WHERE t.seller_tenant = $1
             GROUP BY substr(t.created_at, 1, 7), t.listing_id, l.title, t.currency
             ORDER BY month DESC, l.title",
        )
        .bind(seller_tenant.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let gross: i64 = row.get("gross");
                let fee: i64 = row.get("fee");
                let refunds: i64 = row.get("refunds");
                Ok(SalesMonth {
                    month: row.get("month"),
                    listing_id: parse_id(
                        &row.get::<String, _>("listing_id"),
                        "marketplace_transactions",
                    )?,
                    title: row.get("title"),
                    currency: row.get("currency"),
                    sales: count(row, "sales"),
                    gross_minor: gross,
                    fee_minor: fee,
                    refunds_minor: refunds,
                    net_minor: gross - refunds - fee,
                })
            })
            .collect()
    }

    /// A seller's latest sales (paid and refunded), newest first.
    pub async fn sales_of(
        &self,
        seller_tenant: Uuid,
        limit: u32,
    ) -> Result<Vec<SaleRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PURCHASE_ALIASED}, {LISTING_COLUMNS}, COALESCE(b.name, 'a deleted account') AS buyer_name
             FROM marketplace_purchases p JOIN marketplace_listings l ON l.id = p.listing_id
                 LEFT JOIN users u ON u.id = l.seller_user LEFT JOIN users b ON b.id = p.buyer_user
             WHERE l.seller_tenant = $1 AND p.state IN ('paid', 'refunded')
             ORDER BY p.created_at DESC, p.id LIMIT $2"
        ))
        .bind(seller_tenant.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SaleRecord {
                    purchase: purchase_from_row(row, "p_")?,
                    listing: listing_from_row(row)?,
                    buyer_name: row.get("buyer_name"),
                })
            })
            .collect()
    }

    /// Records a payout Stripe reported for the seller with `stripe_account`
    /// (its latest status); `false` when the account is no seller's here.
    pub async fn record_payout(
        &self,
        stripe_account: &str,
        payout: &PayoutRecord,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let tenant: Option<String> = sqlx::query_scalar(
            "SELECT tenant_id FROM marketplace_sellers WHERE stripe_account = $1",
        )
        .bind(stripe_account)
        .fetch_optional(&self.pool)
        .await?;
        let Some(tenant) = tenant else {
            return Ok(false);
        };
        sqlx::query(
            "INSERT INTO marketplace_payouts (id, seller_tenant, amount_minor, currency, status,
                 arrival_date, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                 arrival_date = excluded.arrival_date, updated_at = excluded.updated_at",
        )
        .bind(&payout.id)
        .bind(tenant)
        .bind(payout.amount_minor)
        .bind(&payout.currency)
        .bind(&payout.status)
        .bind(&payout.arrival_date)
        .bind(timestamp(now))
        .execute(&self.pool)
        .await?;
        Ok(true)
    }

    /// A seller's payouts, newest first.
    pub async fn payouts_of(&self, seller_tenant: Uuid) -> Result<Vec<PayoutRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, amount_minor, currency, status, arrival_date FROM marketplace_payouts
             WHERE seller_tenant = $1 ORDER BY arrival_date DESC, id LIMIT 100",
        )
        .bind(seller_tenant.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| PayoutRecord {
                id: row.get("id"),
                amount_minor: row.get("amount_minor"),
                currency: row.get("currency"),
                status: row.get("status"),
                arrival_date: row.get("arrival_date"),
            })
            .collect())
    }
}
