//! The marketplace on the server (migration server/0022, pg 0018): listings
//! and their published versions, full-text search (FTS5 on SQLite, a
//! weighted `tsvector` on PostgreSQL), purchases (one per buyer and
//! listing), reviews (the listing's rating sum and count move with them, in
//! one transaction) and reports.

use chrono::{DateTime, Utc};
use orrery_domain::marketplace::{ListingDraft, ListingKind, ListingSort, Pricing};
use sqlx::Row;
use uuid::Uuid;

use crate::accounts::timestamp;
use crate::admin::{AuditActor, AuditDraft, AuditEntry, append_audit};
use crate::local::parse_id;
use crate::server::Backend;
use crate::{ServerStore, StoreError};

/// A listing as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingRecord {
    /// Its id.
    pub id: Uuid,
    /// The seller's tenant.
    pub seller_tenant: Uuid,
    /// The seller.
    pub seller_user: Uuid,
    /// The seller's name as shown.
    pub seller_name: String,
    /// What it sells.
    pub kind: ListingKind,
    /// The seller's library document it was listed from.
    pub item_id: String,
    /// What the seller says of it.
    pub draft: ListingDraft,
    /// `listed` or `delisted`.
    pub state: String,
    /// The version buyers get now.
    pub current_version: String,
    /// How many bought it.
    pub purchases: u64,
    /// Sum of its ratings.
    pub rating_sum: u64,
    /// How many rated it.
    pub rating_count: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl ListingRecord {
    /// Its average rating, if anyone rated it.
    pub fn rating(&self) -> Option<f64> {
        (self.rating_count > 0).then(|| self.rating_sum as f64 / self.rating_count as f64)
    }
}

/// One published version of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingVersion {
    /// The SHA-256 of its content, hex: its name.
    pub version: String,
    /// 1, 2, ...
    pub number: u64,
    /// The item as JSON.
    pub content: String,
    /// What buyers are shown of it (plain text).
    pub preview: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A version to publish.
#[derive(Debug, Clone)]
pub struct NewListingVersion<'a> {
    /// Its content's hash.
    pub version: &'a str,
    /// The item as JSON.
    pub content: &'a str,
    /// Its preview.
    pub preview: &'a str,
}

/// A search of listed listings.
#[derive(Debug, Clone, Default)]
pub struct ListingSearch {
    /// Plain words (see `orrery_domain::marketplace::search_terms`); a
    /// listing matches when it holds every one (as a word's start).
    pub terms: Vec<String>,
    /// Only this kind.
    pub kind: Option<ListingKind>,
    /// Only from this price, minor units.
    pub min_price: Option<u64>,
    /// Only up to this price.
    pub max_price: Option<u64>,
    /// Only free ones.
    pub free_only: bool,
    /// Only those with every one of these tags.
    pub tags: Vec<String>,
    /// Only those rated at least this on average.
    pub min_rating: Option<f64>,
    /// The order.
    pub sort: ListingSort,
    /// Listings per page.
    pub limit: u32,
    /// Listings skipped.
    pub offset: u64,
}

/// A page of listings and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingPage {
    /// The listings.
    pub listings: Vec<ListingRecord>,
    /// How many match.
    pub total: u64,
}

/// A purchase as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseRecord {
    /// Its id.
    pub id: Uuid,
    /// The listing.
    pub listing_id: Uuid,
    /// The version bought.
    pub version: String,
    /// The buyer's tenant.
    pub buyer_tenant: Uuid,
    /// The buyer.
    pub buyer_user: Uuid,
    /// `pending`, `paid` or `refunded`.
    pub state: String,
    /// What was paid, minor units.
    pub amount_minor: u64,
    /// The platform's commission in it.
    pub fee_minor: u64,
    /// Its currency.
    pub currency: String,
    /// The copy in the buyer's library, once delivered.
    pub delivered_item: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The Stripe Checkout Session paying for it (paid listings).
    pub checkout_session: Option<String>,
    /// Where that session is paid.
    pub checkout_url: Option<String>,
    /// When that session expires, RFC 3339.
    pub checkout_expires_at: Option<String>,
    /// How many sessions were made for it.
    pub checkout_attempt: u64,
    /// Stripe's payment, once paid.
    pub payment_intent: Option<String>,
    /// The seller's connected account the payment goes to.
    pub seller_account: Option<String>,
    /// When it was refunded, RFC 3339.
    pub refunded_at: Option<String>,
    /// Why, as the refunder said.
    pub refund_reason: Option<String>,
}

/// A review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRecord {
    /// Who wrote it.
    pub buyer_user: Uuid,
    /// Their name as shown.
    pub buyer_name: String,
    /// 1 to 5.
    pub rating: u8,
    /// What they said.
    pub body: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A report about a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    /// The listing.
    pub listing_id: Uuid,
    /// Its title.
    pub title: String,
    /// Who reported it.
    pub reporter_user: Uuid,
    /// Why.
    pub reason: String,
    /// RFC 3339.
    pub created_at: String,
}

/// Listings with their seller's name (`l` and `u`).
pub(crate) const LISTINGS: &str =
    "marketplace_listings l LEFT JOIN users u ON u.id = l.seller_user";

pub(crate) const LISTING_COLUMNS: &str = "l.id, l.seller_tenant, l.seller_user, COALESCE(u.name, 'a former seller') AS seller_name, l.kind, l.item_id, l.title, l.description,
     l.tags, l.pricing, l.price_minor, l.currency, l.state, l.current_version, l.purchases,
     l.rating_sum, l.rating_count, l.created_at, l.updated_at";

pub(crate) const PURCHASE_COLUMNS: &str =
    "id, listing_id, version, buyer_tenant, buyer_user, state, amount_minor,
     fee_minor, currency, delivered_item, created_at, checkout_session, checkout_url,
     checkout_expires_at, checkout_attempt, payment_intent, seller_account, refunded_at,
     refund_reason";

/// [`PURCHASE_COLUMNS`] of `p`, each named with `p_` beside a listing's.
pub(crate) const PURCHASE_ALIASED: &str =
    "p.id AS p_id, p.listing_id AS p_listing_id, p.version AS p_version,
     p.buyer_tenant AS p_buyer_tenant, p.buyer_user AS p_buyer_user, p.state AS p_state,
     p.amount_minor AS p_amount_minor, p.fee_minor AS p_fee_minor, p.currency AS p_currency,
     p.delivered_item AS p_delivered_item, p.created_at AS p_created_at,
     p.checkout_session AS p_checkout_session, p.checkout_url AS p_checkout_url,
     p.checkout_expires_at AS p_checkout_expires_at, p.checkout_attempt AS p_checkout_attempt,
     p.payment_intent AS p_payment_intent, p.seller_account AS p_seller_account,
     p.refunded_at AS p_refunded_at, p.refund_reason AS p_refund_reason";

pub(crate) fn count(row: &sqlx::any::AnyRow, column: &str) -> u64 {
    u64::try_from(row.get::<i64, _>(column)).unwrap_or(0)
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn listing_from_row(row: &sqlx::any::AnyRow) -> Result<ListingRecord, StoreError> {
    let corrupt = |what: &str| StoreError::corrupt("marketplace_listings", what);
    let tags: String = row.get("tags");
    Ok(ListingRecord {
        id: parse_id(&row.get::<String, _>("id"), "marketplace_listings")?,
        seller_tenant: parse_id(
            &row.get::<String, _>("seller_tenant"),
            "marketplace_listings",
        )?,
        seller_user: parse_id(&row.get::<String, _>("seller_user"), "marketplace_listings")?,
        seller_name: row.get("seller_name"),
        kind: ListingKind::parse(&row.get::<String, _>("kind")).ok_or_else(|| corrupt("kind"))?,
        item_id: row.get("item_id"),
        draft: ListingDraft {
            title: row.get("title"),
            description: row.get("description"),
            tags: tags.split_whitespace().map(str::to_owned).collect(),
            pricing: Pricing::parse(&row.get::<String, _>("pricing"))
                .ok_or_else(|| corrupt("pricing"))?,
            price_minor: count(row, "price_minor"),
            currency: row.get("currency"),
        },
        state: row.get("state"),
        current_version: row.get("current_version"),
        purchases: count(row, "purchases"),
        rating_sum: count(row, "rating_sum"),
        rating_count: count(row, "rating_count"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

/// A purchase from a row whose purchase columns are named with `prefix`
/// (empty when the row is the purchase's alone).
pub(crate) fn purchase_from_row(
    row: &sqlx::any::AnyRow,
    prefix: &str,
) -> Result<PurchaseRecord, StoreError> {
    let column = |name: &str| format!("{prefix}{name}");
    let id = |name: &str| {
        parse_id(
            &row.get::<String, _>(column(name).as_str()),
            "marketplace_purchases",
        )
    };
    Ok(PurchaseRecord {
        id: id("id")?,
        listing_id: id("listing_id")?,
        version: row.get(column("version").as_str()),
        buyer_tenant: id("buyer_tenant")?,
        buyer_user: id("buyer_user")?,
        state: row.get(column("state").as_str()),
        amount_minor: count(row, &column("amount_minor")),
        fee_minor: count(row, &column("fee_minor")),
        currency: row.get(column("currency").as_str()),
        delivered_item: row.get(column("delivered_item").as_str()),
        created_at: row.get(column("created_at").as_str()),
        checkout_session: row.get(column("checkout_session").as_str()),
        checkout_url: row.get(column("checkout_url").as_str()),
        checkout_expires_at: row.get(column("checkout_expires_at").as_str()),
        checkout_attempt: count(row, &column("checkout_attempt")),
        payment_intent: row.get(column("payment_intent").as_str()),
        seller_account: row.get(column("seller_account").as_str()),
        refunded_at: row.get(column("refunded_at").as_str()),
        refund_reason: row.get(column("refund_reason").as_str()),
    })
}

/// Values bound to a query built piece by piece, as text or integers.
#[derive(Default)]
struct Binds(Vec<Bound>);

enum Bound {
    Text(String),
    Integer(i64),
    Real(f64),
}

impl Binds {
    fn text(&mut self, value: impl Into<String>) -> String {
        self.0.push(Bound::Text(value.into()));
        format!("${}", self.0.len())
    }

    fn integer(&mut self, value: i64) -> String {
        self.0.push(Bound::Integer(value));
        format!("${}", self.0.len())
    }

    fn real(&mut self, value: f64) -> String {
        self.0.push(Bound::Real(value));
        format!("${}", self.0.len())
    }

    fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for value in &self.0 {
            query = match value {
                Bound::Text(text) => query.bind(text.as_str()),
                Bound::Integer(number) => query.bind(*number),
                Bound::Real(number) => query.bind(*number),
            };
        }
        query
    }
}

/// What creating a listing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingCreated {
    /// Listed.
    Listed,
    /// The item is listed already, under this listing.
    AlreadyListed(Uuid),
}

/// What a purchase's claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseClaim {
    /// A new purchase, recorded.
    New(PurchaseRecord),
    /// The buyer has one for this listing already.
    Existing(PurchaseRecord),
}

impl ServerStore {
    /// Lists an item: the listing and its first version, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_listing(
        &self,
        id: Uuid,
        (seller_tenant, seller_user): (Uuid, Uuid),
        kind: ListingKind,
        item_id: &str,
        draft: &ListingDraft,
        version: &NewListingVersion<'_>,
        now: DateTime<Utc>,
    ) -> Result<ListingCreated, StoreError> {
        let now = timestamp(now);
        let mut transaction = self.write_transaction().await?;
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM marketplace_listings WHERE seller_tenant = $1 AND kind = $2 AND item_id = $3",
        )
        .bind(seller_tenant.to_string())
        .bind(kind.as_str())
        .bind(item_id)
        .fetch_optional(&mut *transaction)
        .await?;
        if let Some(existing) = existing {
            transaction.rollback().await?;
            return Ok(ListingCreated::AlreadyListed(parse_id(
                &existing,
                "marketplace_listings",
            )?));
        }
        sqlx::query(
            "INSERT INTO marketplace_listings (id, seller_tenant, seller_user, kind, item_id, title,
                 description, tags, pricing, price_minor, currency, state, current_version,
                 created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'listed', $12, $13, $13)",
        )
        .bind(id.to_string())
        .bind(seller_tenant.to_string())
        .bind(seller_user.to_string())
        .bind(kind.as_str())
        .bind(item_id)
        .bind(&draft.title)
        .bind(&draft.description)
        .bind(draft.tags.join(" "))
        .bind(draft.pricing.as_str())
        .bind(to_i64(draft.price_minor))
        .bind(&draft.currency)
        .bind(version.version)
        .bind(&now)
        .execute(&mut *transaction)
        .await?;
        insert_version(&mut transaction, id, version, 1, &now).await?;
        transaction.commit().await?;
        Ok(ListingCreated::Listed)
    }

    /// Changes what a listing says (its seller's); whether it was theirs.
    pub async fn update_listing(
        &self,
        id: Uuid,
        seller_tenant: Uuid,
        draft: &ListingDraft,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE marketplace_listings SET title = $1, description = $2, tags = $3, pricing = $4,
                 price_minor = $5, currency = $6, updated_at = $7
             WHERE id = $8 AND seller_tenant = $9 AND state = 'listed'",
        )
        .bind(&draft.title)
        .bind(&draft.description)
        .bind(draft.tags.join(" "))
        .bind(draft.pricing.as_str())
        .bind(to_i64(draft.price_minor))
        .bind(&draft.currency)
        .bind(timestamp(now))
        .bind(id.to_string())
        .bind(seller_tenant.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Publishes `version` under a listing and makes it the one buyers get;
    /// its number, or `None` when it is the current one already (the item
    /// did not change). A version published before is made current again.
    pub async fn publish_listing_version(
        &self,
        id: Uuid,
        version: &NewListingVersion<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let now = timestamp(now);
        let mut transaction = self.write_transaction().await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT current_version FROM marketplace_listings WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *transaction)
                .await?;
        if current.as_deref() == Some(version.version) || current.is_none() {
            transaction.rollback().await?;
            return Ok(None);
        }
        let known: Option<i64> = sqlx::query_scalar(
            "SELECT number FROM marketplace_versions WHERE listing_id = $1 AND version = $2",
        )
        .bind(id.to_string())
        .bind(version.version)
        .fetch_optional(&mut *transaction)
        .await?;
        let number = match known {
            Some(number) => number,
            None => {
                let last: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(number), 0) FROM marketplace_versions WHERE listing_id = $1",
                )
                .bind(id.to_string())
                .fetch_one(&mut *transaction)
                .await?;
                insert_version(&mut transaction, id, version, last + 1, &now).await?;
                last + 1
            }
        };
        sqlx::query(
            "UPDATE marketplace_listings SET current_version = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(version.version)
        .bind(&now)
        .bind(id.to_string())
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(Some(u64::try_from(number).unwrap_or(0)))
    }

    /// Takes a listing off the marketplace (buyers keep what they bought);
    /// `seller_tenant` limits it to the seller's own, `None` is an admin.
    pub async fn delist_listing(
        &self,
        id: Uuid,
        seller_tenant: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE marketplace_listings SET state = 'delisted', updated_at = $1
             WHERE id = $2 AND state = 'listed' AND ($3 = '' OR seller_tenant = $3)",
        )
        .bind(timestamp(now))
        .bind(id.to_string())
        .bind(
            seller_tenant
                .map(|tenant| tenant.to_string())
                .unwrap_or_default(),
        )
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Takes a listing off the marketplace as an admin, with its audit
    /// entry, in one transaction; `None` when it is not listed.
    pub async fn delist_listing_as_admin(
        &self,
        id: Uuid,
        reason: &str,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<Option<AuditEntry>, StoreError> {
        let mut transaction = self.admin_transaction().await?;
        let title: Option<String> = sqlx::query_scalar(
            "SELECT title FROM marketplace_listings WHERE id = $1 AND state = 'listed'",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(title) = title else {
            transaction.rollback().await?;
            return Ok(None);
        };
        sqlx::query(
            "UPDATE marketplace_listings SET state = 'delisted', updated_at = $1 WHERE id = $2",
        )
        .bind(timestamp(now))
        .bind(id.to_string())
        .execute(&mut *transaction)
        .await?;
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: "listing.delist",
                target_kind: "listing",
                target_id: &id.to_string(),
                before: serde_json::json!({ "title": title, "state": "listed" }),
                after: serde_json::json!({ "title": title, "state": "delisted", "reason": reason }),
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(Some(entry))
    }

    /// A listing, listed or not.
    pub async fn listing(&self, id: Uuid) -> Result<Option<ListingRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {LISTING_COLUMNS} FROM {LISTINGS} WHERE l.id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| listing_from_row(&row))
        .transpose()
    }

    /// A seller's listings, newest first.
    pub async fn listings_of_seller(
        &self,
        seller_tenant: Uuid,
    ) -> Result<Vec<ListingRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {LISTING_COLUMNS} FROM {LISTINGS} WHERE l.seller_tenant = $1
             ORDER BY l.created_at DESC, l.id"
        ))
        .bind(seller_tenant.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(listing_from_row)
        .collect()
    }

    /// A listing's versions, newest first.
    pub async fn listing_versions(&self, id: Uuid) -> Result<Vec<ListingVersion>, StoreError> {
        Ok(sqlx::query(
            "SELECT version, number, content, preview, created_at FROM marketplace_versions
             WHERE listing_id = $1 ORDER BY number DESC",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| ListingVersion {
            version: row.get("version"),
            number: count(row, "number"),
            content: row.get("content"),
            preview: row.get("preview"),
            created_at: row.get("created_at"),
        })
        .collect())
    }

    /// A page of listed listings matching `search`.
    pub async fn search_listings(&self, search: &ListingSearch) -> Result<ListingPage, StoreError> {
        let mut binds = Binds::default();
        let mut conditions = vec!["l.state = 'listed'".to_owned()];
        // What is counted, and what is ranked and paged (the same, with the
        // full-text rank beside each match on SQLite).
        let mut count_from = "marketplace_listings l".to_owned();
        let mut ranked_from = count_from.clone();
        let mut rank = None;
        if !search.terms.is_empty() {
            match self.backend() {
                Backend::Sqlite => {
                    // Each term quoted (they are plain words), as a prefix;
                    // bm25 is lower for better matches, a title counting most.
                    // The matches drive the join (CROSS JOIN keeps them the
                    // outer loop): each is one rowid lookup in the listings,
                    // however many listings there are.
                    let query = binds.text(
                        search
                            .terms
                            .iter()
                            .map(|term| format!("\"{term}\"*"))
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                    count_from = format!(
                        "(SELECT rowid AS hit FROM marketplace_search WHERE marketplace_search MATCH {query}) s
                         CROSS JOIN marketplace_listings l ON l.rowid = s.hit"
                    );
                    // bm25 only where the order is relevance: it is
                    // computed for every match.
                    if search.sort == ListingSort::Relevance {
                        ranked_from = format!(
                            "(SELECT rowid AS hit, bm25(marketplace_search, 10.0, 5.0, 1.0) AS rank
                               FROM marketplace_search WHERE marketplace_search MATCH {query}) s
                             CROSS JOIN marketplace_listings l ON l.rowid = s.hit"
                        );
                        rank = Some("s.rank".to_owned());
                    } else {
                        ranked_from = count_from.clone();
                    }
                }
                Backend::Postgres => {
                    let query = binds.text(
                        search
                            .terms
                            .iter()
                            .map(|term| format!("{term}:*"))
                            .collect::<Vec<_>>()
                            .join(" & "),
                    );
                    conditions.push(format!("l.search @@ to_tsquery('simple', {query})"));
                    // ts_rank is higher for better matches: negated, so that
                    // both engines sort ascending. Only where the order is
                    // relevance: it is computed for every match.
                    if search.sort == ListingSort::Relevance {
                        rank = Some(format!(
                            "(-ts_rank(l.search, to_tsquery('simple', {query}), 0))"
                        ));
                    }
                }
            }
        }
        if let Some(kind) = search.kind {
            conditions.push(format!("l.kind = {}", binds.text(kind.as_str())));
        }
        if search.free_only {
            conditions.push("l.pricing = 'free'".to_owned());
        }
        if let Some(min) = search.min_price {
            conditions.push(format!("l.price_minor >= {}", binds.integer(to_i64(min))));
        }
        if let Some(max) = search.max_price {
            conditions.push(format!("l.price_minor <= {}", binds.integer(to_i64(max))));
        }
        for tag in &search.tags {
            // Tags are single words kept separated by spaces.
            let padded = binds.text(format!("% {tag} %"));
            conditions.push(format!("(' ' || l.tags || ' ') LIKE {padded}"));
        }
        if let Some(rating) = search.min_rating {
            conditions.push(format!(
                "l.rating_count > 0 AND l.rating_sum >= {} * l.rating_count",
                binds.real(rating)
            ));
        }
        let filter = conditions.join(" AND ");
        let order = match (search.sort, &rank) {
            (ListingSort::Relevance, Some(rank)) => format!("{rank} ASC, l.purchases DESC, l.id"),
            (ListingSort::Relevance | ListingSort::Newest, _) => "l.created_at DESC, l.id".into(),
            (ListingSort::MostBought, _) => "l.purchases DESC, l.created_at DESC, l.id".into(),
            (ListingSort::Rating, _) => {
                "CASE WHEN l.rating_count = 0 THEN 0 ELSE CAST(l.rating_sum AS REAL) / l.rating_count END DESC,
                 l.rating_count DESC, l.id"
                    .into()
            }
            (ListingSort::PriceLow, _) => "l.price_minor ASC, l.created_at DESC, l.id".into(),
            (ListingSort::PriceHigh, _) => "l.price_minor DESC, l.created_at DESC, l.id".into(),
        };
        // One pass over the matches, carrying only what the order needs:
        // the page's ids and, beside each, how many match in all. The page's
        // rows are read after, by id (sorting narrow rows, not whole
        // listings with their descriptions).
        // Limit and offset are numbers the caller checked, not text.
        let page = binds
            .bind(sqlx::query(&format!(
                "SELECT l.id AS id, COUNT(*) OVER () AS total FROM {ranked_from} WHERE {filter}
                 ORDER BY {order} LIMIT {} OFFSET {}",
                search.limit, search.offset
            )))
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = match page.first() {
            Some(row) => row.get("total"),
            None if search.offset == 0 => 0,
            // Past the last page: how many there are, for the pager.
            None => binds
                .bind(sqlx::query(&format!(
                    "SELECT COUNT(*) AS total FROM {count_from} WHERE {filter}"
                )))
                .fetch_one(&self.pool)
                .await?
                .get("total"),
        };
        let ids: Vec<String> = page.iter().map(|row| row.get("id")).collect();
        let mut listings = Vec::with_capacity(ids.len());
        if !ids.is_empty() {
            let mut by_id = Binds::default();
            let placeholders = ids
                .iter()
                .map(|id| by_id.text(id.as_str()))
                .collect::<Vec<_>>()
                .join(", ");
            let rows = by_id
                .bind(sqlx::query(&format!(
                    "SELECT {LISTING_COLUMNS} FROM {LISTINGS} WHERE l.id IN ({placeholders})"
                )))
                .fetch_all(&self.pool)
                .await?;
            let mut found: std::collections::HashMap<String, ListingRecord> = rows
                .iter()
                .map(|row| Ok((row.get::<String, _>("id"), listing_from_row(row)?)))
                .collect::<Result<_, StoreError>>()?;
            listings.extend(ids.iter().filter_map(|id| found.remove(id)));
        }
        Ok(ListingPage {
            listings,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    /// Records a buyer's purchase of a listing's `version` (`paid` for a
    /// free listing, `pending` while a paid one waits for its payment to
    /// `seller_account`), unless they have one for it: one per buyer and
    /// listing, however many ask at once. A purchase that was refunded, or
    /// whose checkout expired unpaid, is opened again, as new.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_purchase(
        &self,
        listing: &ListingRecord,
        version: &str,
        (buyer_tenant, buyer_user): (Uuid, Uuid),
        state: &str,
        fee_minor: u64,
        seller_account: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<PurchaseClaim, StoreError> {
        let mut transaction = self.write_transaction().await?;
        let existing = sqlx::query(&format!(
            "SELECT {PURCHASE_COLUMNS} FROM marketplace_purchases WHERE listing_id = $1 AND buyer_user = $2"
        ))
        .bind(listing.id.to_string())
        .bind(buyer_user.to_string())
        .fetch_optional(&mut *transaction)
        .await?
        .map(|row| purchase_from_row(&row, ""))
        .transpose()?;
        if let Some(existing) = &existing
            && !matches!(existing.state.as_str(), "refunded" | "expired")
        {
            transaction.rollback().await?;
            return Ok(PurchaseClaim::Existing(existing.clone()));
        }
        let purchase = PurchaseRecord {
            id: existing
                .as_ref()
                .map_or_else(Uuid::now_v7, |existing| existing.id),
            listing_id: listing.id,
            version: version.to_owned(),
            buyer_tenant,
            buyer_user,
            state: state.to_owned(),
            amount_minor: listing.draft.price_minor,
            fee_minor,
            currency: listing.draft.currency.clone(),
            delivered_item: None,
            created_at: timestamp(now),
            checkout_session: None,
            checkout_url: None,
            checkout_expires_at: None,
            checkout_attempt: existing
                .as_ref()
                .map_or(0, |existing| existing.checkout_attempt),
            payment_intent: None,
            seller_account: seller_account.map(str::to_owned),
            refunded_at: None,
            refund_reason: None,
        };
        let paid_at = (state == "paid").then(|| purchase.created_at.clone());
        if existing.is_some() {
            let reopened = sqlx::query(
                "UPDATE marketplace_purchases SET version = $1, state = $2, amount_minor = $3,
                     fee_minor = $4, currency = $5, delivered_item = NULL, created_at = $6,
                     paid_at = $7, delivery_started_at = $6, checkout_session = NULL,
                     checkout_url = NULL, checkout_expires_at = NULL, payment_intent = NULL,
                     seller_account = $8, refunded_at = NULL, refund_reason = NULL
                 WHERE id = $9 AND state = $10",
            )
            .bind(&purchase.version)
            .bind(state)
            .bind(to_i64(purchase.amount_minor))
            .bind(to_i64(fee_minor))
            .bind(&purchase.currency)
            .bind(&purchase.created_at)
            .bind(paid_at)
            .bind(seller_account)
            .bind(purchase.id.to_string())
            .bind(existing.as_ref().map(|existing| existing.state.clone()))
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if reopened == 0 {
                // Another request opened it again first (PostgreSQL lets
                // both read it before either wrote).
                transaction.rollback().await?;
                return Ok(PurchaseClaim::Existing(
                    self.purchase_of(listing.id, buyer_user)
                        .await?
                        .ok_or_else(|| {
                            StoreError::corrupt("marketplace_purchases", "a purchase went missing")
                        })?,
                ));
            }
        } else {
            sqlx::query(
                "INSERT INTO marketplace_purchases (id, listing_id, version, buyer_tenant, buyer_user,
                     state, amount_minor, fee_minor, currency, created_at, paid_at,
                     delivery_started_at, seller_account)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $12)",
            )
            .bind(purchase.id.to_string())
            .bind(purchase.listing_id.to_string())
            .bind(&purchase.version)
            .bind(buyer_tenant.to_string())
            .bind(buyer_user.to_string())
            .bind(state)
            .bind(to_i64(purchase.amount_minor))
            .bind(to_i64(fee_minor))
            .bind(&purchase.currency)
            .bind(&purchase.created_at)
            .bind(paid_at)
            .bind(seller_account)
            .execute(&mut *transaction)
            .await?;
        }
        if state == "paid" {
            sqlx::query("UPDATE marketplace_listings SET purchases = purchases + 1 WHERE id = $1")
                .bind(listing.id.to_string())
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(PurchaseClaim::New(purchase))
    }

    /// Lets this request deliver a purchase whose delivery began before
    /// `stale_before` and never ended (its request stopped); `false` while
    /// another request is at it, or when it was delivered.
    pub async fn take_over_delivery(
        &self,
        purchase: Uuid,
        stale_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE marketplace_purchases SET delivery_started_at = $1
             WHERE id = $2 AND state = 'paid' AND delivered_item IS NULL AND delivery_started_at < $3",
        )
        .bind(timestamp(now))
        .bind(purchase.to_string())
        .bind(timestamp(stale_before))
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Notes the copy a purchase put in the buyer's library.
    pub async fn set_purchase_delivered(
        &self,
        purchase: Uuid,
        item: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE marketplace_purchases SET delivered_item = $1 WHERE id = $2")
            .bind(item)
            .bind(purchase.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The listings a buyer has paid for (or got free).
    pub async fn owned_listings(&self, buyer_user: Uuid) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT listing_id FROM marketplace_purchases WHERE buyer_user = $1 AND state = 'paid'",
        )
        .bind(buyer_user.to_string())
        .fetch_all(&self.pool)
        .await?;
        ids.iter()
            .map(|id| parse_id(id, "marketplace_purchases"))
            .collect()
    }

    /// A buyer's purchase of a listing, if any.
    pub async fn purchase_of(
        &self,
        listing: Uuid,
        buyer_user: Uuid,
    ) -> Result<Option<PurchaseRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {PURCHASE_COLUMNS} FROM marketplace_purchases WHERE listing_id = $1 AND buyer_user = $2"
        ))
        .bind(listing.to_string())
        .bind(buyer_user.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| purchase_from_row(&row, ""))
        .transpose()
    }

    /// A buyer's purchases with their listings, newest first.
    pub async fn purchases_of(
        &self,
        buyer_user: Uuid,
    ) -> Result<Vec<(PurchaseRecord, ListingRecord)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PURCHASE_ALIASED}, {LISTING_COLUMNS}
             FROM marketplace_purchases p JOIN marketplace_listings l ON l.id = p.listing_id
                 LEFT JOIN users u ON u.id = l.seller_user
             WHERE p.buyer_user = $1 ORDER BY p.created_at DESC, p.id"
        ))
        .bind(buyer_user.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((purchase_from_row(row, "p_")?, listing_from_row(row)?)))
            .collect()
    }

    /// Writes or rewrites a buyer's review of a listing they bought (paid);
    /// the listing's rating moves with it in one transaction. `false` when
    /// they did not buy it.
    pub async fn put_review(
        &self,
        listing: Uuid,
        (buyer_user, buyer_name): (Uuid, &str),
        rating: u8,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = timestamp(now);
        let mut transaction = self.write_transaction().await?;
        let bought: Option<String> = sqlx::query_scalar(
            "SELECT id FROM marketplace_purchases WHERE listing_id = $1 AND buyer_user = $2 AND state = 'paid'",
        )
        .bind(listing.to_string())
        .bind(buyer_user.to_string())
        .fetch_optional(&mut *transaction)
        .await?;
        if bought.is_none() {
            transaction.rollback().await?;
            return Ok(false);
        }
        let before: Option<i64> = sqlx::query_scalar(
            "SELECT rating FROM marketplace_reviews WHERE listing_id = $1 AND buyer_user = $2",
        )
        .bind(listing.to_string())
        .bind(buyer_user.to_string())
        .fetch_optional(&mut *transaction)
        .await?;
        let rating = i64::from(rating);
        match before {
            Some(previous) => {
                sqlx::query(
                    "UPDATE marketplace_reviews SET rating = $1, body = $2, buyer_name = $3, updated_at = $4
                     WHERE listing_id = $5 AND buyer_user = $6",
                )
                .bind(rating)
                .bind(body)
                .bind(buyer_name)
                .bind(&now)
                .bind(listing.to_string())
                .bind(buyer_user.to_string())
                .execute(&mut *transaction)
                .await?;
                sqlx::query(
                    "UPDATE marketplace_listings SET rating_sum = rating_sum + $1 WHERE id = $2",
                )
                .bind(rating - previous)
                .bind(listing.to_string())
                .execute(&mut *transaction)
                .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO marketplace_reviews (listing_id, buyer_user, buyer_name, rating, body, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(listing.to_string())
                .bind(buyer_user.to_string())
                .bind(buyer_name)
                .bind(rating)
                .bind(body)
                .bind(&now)
                .execute(&mut *transaction)
                .await?;
                sqlx::query(
                    "UPDATE marketplace_listings SET rating_sum = rating_sum + $1, rating_count = rating_count + 1
                     WHERE id = $2",
                )
                .bind(rating)
                .bind(listing.to_string())
                .execute(&mut *transaction)
                .await?;
            }
        }
        transaction.commit().await?;
        Ok(true)
    }

    /// A listing's reviews, newest first, at most `limit`.
    pub async fn listing_reviews(
        &self,
        listing: Uuid,
        limit: u32,
    ) -> Result<Vec<ReviewRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT buyer_user, buyer_name, rating, body, updated_at FROM marketplace_reviews
             WHERE listing_id = $1 ORDER BY updated_at DESC, buyer_user LIMIT {limit}"
        ))
        .bind(listing.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(ReviewRecord {
                buyer_user: parse_id(&row.get::<String, _>("buyer_user"), "marketplace_reviews")?,
                buyer_name: row.get("buyer_name"),
                rating: u8::try_from(row.get::<i64, _>("rating")).unwrap_or(0),
                body: row.get("body"),
                updated_at: row.get("updated_at"),
            })
        })
        .collect()
    }

    /// Records a report about a listing; `false` when this person reported
    /// it already.
    pub async fn report_listing(
        &self,
        listing: Uuid,
        reporter: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO marketplace_reports (id, listing_id, reporter_user, reason, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (listing_id, reporter_user) DO NOTHING",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(listing.to_string())
        .bind(reporter.to_string())
        .bind(reason)
        .bind(timestamp(now))
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Reports about listings still listed, newest first.
    pub async fn listing_reports(&self, limit: u32) -> Result<Vec<ReportRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT r.listing_id, l.title, r.reporter_user, r.reason, r.created_at
             FROM marketplace_reports r JOIN marketplace_listings l ON l.id = r.listing_id
             WHERE l.state = 'listed' ORDER BY r.created_at DESC, r.id LIMIT {limit}"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(ReportRecord {
                listing_id: parse_id(&row.get::<String, _>("listing_id"), "marketplace_reports")?,
                title: row.get("title"),
                reporter_user: parse_id(
                    &row.get::<String, _>("reporter_user"),
                    "marketplace_reports",
                )?,
                reason: row.get("reason"),
                created_at: row.get("created_at"),
            })
        })
        .collect()
    }
}

async fn insert_version(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    listing: Uuid,
    version: &NewListingVersion<'_>,
    number: i64,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO marketplace_versions (listing_id, version, number, content, preview, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(listing.to_string())
    .bind(version.version)
    .bind(number)
    .bind(version.content)
    .bind(version.preview)
    .bind(now)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}
