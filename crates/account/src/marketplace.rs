//! The marketplace (`/v1/marketplace/*`) as the desktop's Marketplace
//! screen uses it: search listings, open one, get it, review and report
//! it; list one's own agents and prompts, publish a new version, delist.
//! The server checks everything; these calls carry the user's token.

use serde::{Deserialize, Serialize};

use crate::{AccountClient, AccountError};

/// A listing as the marketplace shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketListing {
    /// Its id.
    pub id: String,
    /// `agent` or `prompt`.
    pub kind: String,
    /// Its title.
    pub title: String,
    /// What it does.
    pub description: String,
    /// Words to find it by.
    pub tags: Vec<String>,
    /// `free`, `one_off` or `monthly`.
    pub pricing: String,
    /// Its price in minor units (cents).
    pub price_minor: u64,
    /// Its currency (`usd`, `eur`, `gbp`).
    pub currency: String,
    /// `listed` or `delisted`.
    pub state: String,
    /// The version buyers get now (a SHA-256).
    pub version: String,
    /// The seller's name.
    pub seller: String,
    /// How many have it.
    pub purchases: u64,
    /// Its average rating, if rated.
    pub rating: Option<f64>,
    /// How many rated it.
    pub rating_count: u64,
    /// The user has it.
    pub owned: bool,
    /// The user sells it.
    pub mine: bool,
    /// When it was listed.
    pub created_at: String,
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketPage {
    /// The listings.
    pub listings: Vec<MarketListing>,
    /// How many match in all.
    pub total: u64,
    /// This page (from 1).
    pub page: u64,
    /// Listings per page.
    pub per_page: u32,
}

/// What to search for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketSearch {
    /// Words.
    pub query: Option<String>,
    /// `agent` or `prompt`.
    pub kind: Option<String>,
    /// Free ones only.
    pub free_only: bool,
    /// Every one of these tags.
    pub tags: Vec<String>,
    /// At least this average rating.
    pub min_rating: Option<f64>,
    /// `relevance`, `newest`, `most_bought`, `rating`, `price_low`, `price_high`.
    pub sort: Option<String>,
    /// From 1.
    pub page: Option<u64>,
}

/// A published version of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketVersion {
    /// Its content's SHA-256.
    pub version: String,
    /// 1, 2, ...
    pub number: u64,
    /// When it was published.
    pub created_at: String,
}

/// A buyer's review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketReview {
    /// Who wrote it.
    pub author: String,
    /// 1 to 5.
    pub rating: u8,
    /// What they said.
    pub body: String,
    /// When.
    pub updated_at: String,
}

/// A listing opened: what it shows, its versions and reviews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketListingDetail {
    /// The listing.
    pub listing: MarketListing,
    /// What buyers see of it before they have it.
    pub preview: String,
    /// Its versions, newest first.
    pub versions: Vec<MarketVersion>,
    /// Its latest reviews.
    pub reviews: Vec<MarketReview>,
    /// The user's own review.
    pub your_review: Option<MarketReview>,
}

/// Listing one of the user's library items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NewMarketListing {
    /// `agent` or `prompt`.
    pub kind: String,
    /// The library item.
    pub item_id: String,
    /// Its title.
    pub title: String,
    /// What it does.
    pub description: String,
    /// Words to find it by.
    pub tags: Vec<String>,
    /// `free` or `one_off` (a paid listing needs a Stripe account that
    /// takes charges).
    pub pricing: String,
    /// Its price in minor units (cents); 0 when free.
    pub price_minor: u64,
    /// `usd`, `eur` or `gbp`.
    pub currency: String,
}

/// What the user has got from the marketplace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketPurchase {
    /// Its id.
    pub id: String,
    /// The listing.
    pub listing_id: String,
    /// The listing's title.
    pub title: String,
    /// `agent` or `prompt`.
    pub kind: String,
    /// The version got.
    pub version: String,
    /// `paid` (or got free), `pending` or `refunded`.
    pub state: String,
    /// What it cost, minor units.
    pub amount_minor: u64,
    /// Its currency.
    pub currency: String,
    /// The copy in the library.
    pub item_id: Option<String>,
    /// When.
    pub created_at: String,
    /// Where to pay, while it waits for its payment.
    #[serde(default)]
    pub checkout_url: Option<String>,
    /// When it was refunded (its copy left the library then).
    #[serde(default)]
    pub refunded_at: Option<String>,
    /// Why it was refunded.
    #[serde(default)]
    pub refund_reason: Option<String>,
}

/// The user's selling account: whether this server takes payments, and
/// what Stripe says of their connected account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketSeller {
    /// The server takes payments at all.
    pub payments: bool,
    /// A Stripe account is connected.
    pub connected: bool,
    /// It takes charges: paid listings are open.
    pub charges_enabled: bool,
    /// Stripe pays it out.
    pub payouts_enabled: bool,
    /// Stripe's forms are done.
    pub details_submitted: bool,
    /// The platform's commission, basis points (2000 is 20%).
    pub commission_bps: u32,
}

/// One listing's month in the sales report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketSalesMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// The listing.
    pub listing_id: String,
    /// Its title.
    pub title: String,
    /// Its currency.
    pub currency: String,
    /// Sales that month.
    pub sales: u64,
    /// What buyers paid, minor units.
    pub gross_minor: i64,
    /// The platform's fee.
    pub fee_minor: i64,
    /// Refunded.
    pub refunds_minor: i64,
    /// What the seller keeps.
    pub net_minor: i64,
}

/// One currency's totals over the whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketSalesTotals {
    /// Sales.
    pub sales: u64,
    /// What buyers paid, minor units.
    pub gross_minor: i64,
    /// The platform's fee.
    pub fee_minor: i64,
    /// Refunded.
    pub refunds_minor: i64,
    /// What the seller keeps.
    pub net_minor: i64,
}

/// One sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketSale {
    /// The purchase.
    pub purchase_id: String,
    /// The listing.
    pub listing_id: String,
    /// Its title.
    pub title: String,
    /// The buyer's name.
    pub buyer: String,
    /// `paid` or `refunded`.
    pub state: String,
    /// What was paid, minor units.
    pub amount_minor: u64,
    /// The platform's fee in it.
    pub fee_minor: u64,
    /// Its currency.
    pub currency: String,
    /// When.
    pub created_at: String,
    /// When it was refunded.
    pub refunded_at: Option<String>,
    /// Why.
    pub refund_reason: Option<String>,
}

/// A payout Stripe reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketPayout {
    /// Stripe's id.
    pub id: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Its currency.
    pub currency: String,
    /// `paid`, `pending`, `in_transit`, `failed`, ...
    pub status: String,
    /// When it arrives.
    pub arrival_date: String,
}

/// The seller's sales report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketSales {
    /// Per month and listing, newest month first.
    pub months: Vec<MarketSalesMonth>,
    /// Per currency.
    pub totals: std::collections::BTreeMap<String, MarketSalesTotals>,
    /// The latest sales, newest first.
    pub sales: Vec<MarketSale>,
    /// Payouts, newest first.
    pub payouts: Vec<MarketPayout>,
}

/// What a reconciliation pass caught up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketReconciled {
    /// Purchases found paid in Stripe and settled now.
    pub settled: u32,
    /// Deliveries finished now.
    pub delivered: u32,
    /// Purchases found refunded in Stripe, taken back now.
    pub refunded: u32,
}

#[derive(Deserialize)]
struct PageAddress {
    url: String,
}

fn path_id(id: &str) -> Result<&str, AccountError> {
    if id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        Ok(id)
    } else {
        Err(AccountError::Protocol(format!(
            "`{}` is not an id",
            id.chars().take(40).collect::<String>()
        )))
    }
}

impl AccountClient {
    /// A page of listings.
    pub async fn market_search(
        &self,
        access_token: &str,
        search: &MarketSearch,
    ) -> Result<MarketPage, AccountError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(text) = search
            .query
            .as_deref()
            .filter(|text| !text.trim().is_empty())
        {
            query.push(("q", text.trim().to_owned()));
        }
        if let Some(kind) = &search.kind {
            query.push(("kind", kind.clone()));
        }
        if search.free_only {
            query.push(("free", "true".into()));
        }
        if !search.tags.is_empty() {
            query.push(("tags", search.tags.join(",")));
        }
        if let Some(rating) = search.min_rating {
            query.push(("min_rating", rating.to_string()));
        }
        if let Some(sort) = &search.sort {
            query.push(("sort", sort.clone()));
        }
        if let Some(page) = search.page {
            query.push(("page", page.to_string()));
        }
        self.json(
            self.http
                .get(self.url("/v1/marketplace/listings"))
                .query(&query)
                .bearer_auth(access_token),
        )
        .await
    }

    /// One listing with its preview, versions and reviews.
    pub async fn market_listing(
        &self,
        access_token: &str,
        id: &str,
    ) -> Result<MarketListingDetail, AccountError> {
        let body: serde_json::Value = self
            .json(
                self.http
                    .get(self.url(&format!("/v1/marketplace/listings/{}", path_id(id)?)))
                    .bearer_auth(access_token),
            )
            .await?;
        let field = |name: &str| body.get(name).cloned().unwrap_or_default();
        let read = |error: serde_json::Error| AccountError::Protocol(error.to_string());
        Ok(MarketListingDetail {
            listing: serde_json::from_value(body.clone()).map_err(read)?,
            preview: field("preview").as_str().unwrap_or_default().to_owned(),
            versions: serde_json::from_value(field("versions")).map_err(read)?,
            reviews: serde_json::from_value(field("reviews")).map_err(read)?,
            your_review: serde_json::from_value(field("your_review")).map_err(read)?,
        })
    }

    /// Lists one of the user's library items.
    pub async fn market_create_listing(
        &self,
        access_token: &str,
        listing: &NewMarketListing,
    ) -> Result<MarketListing, AccountError> {
        self.json(
            self.http
                .post(self.url("/v1/marketplace/listings"))
                .bearer_auth(access_token)
                .json(&serde_json::json!({
                    "kind": listing.kind,
                    "item_id": listing.item_id,
                    "title": listing.title,
                    "description": listing.description,
                    "tags": listing.tags,
                    "pricing": listing.pricing,
                    "price_minor": listing.price_minor,
                    "currency": listing.currency,
                })),
        )
        .await
    }

    /// Gets a listing: its copy goes to the user's library.
    pub async fn market_buy(
        &self,
        access_token: &str,
        id: &str,
    ) -> Result<MarketPurchase, AccountError> {
        self.json(
            self.http
                .post(self.url(&format!(
                    "/v1/marketplace/listings/{}/purchase",
                    path_id(id)?
                )))
                .bearer_auth(access_token),
        )
        .await
    }

    /// What the user has got.
    pub async fn market_purchases(
        &self,
        access_token: &str,
    ) -> Result<Vec<MarketPurchase>, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/marketplace/purchases"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// What the user sells.
    pub async fn market_selling(
        &self,
        access_token: &str,
    ) -> Result<Vec<MarketListing>, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/marketplace/selling"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// Writes or rewrites the user's review of a listing they have.
    pub async fn market_review(
        &self,
        access_token: &str,
        id: &str,
        rating: u8,
        body: &str,
    ) -> Result<(), AccountError> {
        self.send(
            self.http
                .put(self.url(&format!("/v1/marketplace/listings/{}/review", path_id(id)?)))
                .bearer_auth(access_token)
                .json(&serde_json::json!({ "rating": rating, "body": body })),
        )
        .await?;
        Ok(())
    }

    /// Reports a listing to the admins.
    pub async fn market_report(
        &self,
        access_token: &str,
        id: &str,
        reason: &str,
    ) -> Result<(), AccountError> {
        self.send(
            self.http
                .post(self.url(&format!("/v1/marketplace/listings/{}/report", path_id(id)?)))
                .bearer_auth(access_token)
                .json(&serde_json::json!({ "reason": reason })),
        )
        .await?;
        Ok(())
    }

    /// Publishes the listed item as it is now; whether it changed.
    pub async fn market_publish_version(
        &self,
        access_token: &str,
        id: &str,
    ) -> Result<bool, AccountError> {
        let published: serde_json::Value = self
            .json(
                self.http
                    .post(self.url(&format!(
                        "/v1/marketplace/listings/{}/versions",
                        path_id(id)?
                    )))
                    .bearer_auth(access_token),
            )
            .await?;
        Ok(published["changed"].as_bool().unwrap_or(false))
    }

    /// The user's selling account.
    pub async fn market_seller(&self, access_token: &str) -> Result<MarketSeller, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/marketplace/seller"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// A fresh link to Stripe's onboarding forms (the account is made on
    /// first use): the page to open in the browser.
    pub async fn market_onboarding_page(&self, access_token: &str) -> Result<String, AccountError> {
        let page: PageAddress = self
            .json(
                self.http
                    .post(self.url("/v1/marketplace/seller/onboarding"))
                    .bearer_auth(access_token),
            )
            .await?;
        Ok(page.url)
    }

    /// The user's sales report.
    pub async fn market_sales(&self, access_token: &str) -> Result<MarketSales, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/marketplace/sales"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// Refunds a sale of the user's in full: the buyer's copy leaves their
    /// library.
    pub async fn market_refund(
        &self,
        access_token: &str,
        purchase_id: &str,
        reason: &str,
    ) -> Result<(), AccountError> {
        let _: serde_json::Value = self
            .json(
                self.http
                    .post(self.url(&format!(
                        "/v1/marketplace/purchases/{}/refund",
                        path_id(purchase_id)?
                    )))
                    .bearer_auth(access_token)
                    .json(&serde_json::json!({ "reason": reason })),
            )
            .await?;
        Ok(())
    }

    /// Takes one of the user's listings off the marketplace.
    pub async fn market_delist(&self, access_token: &str, id: &str) -> Result<(), AccountError> {
        self.send(
            self.http
                .delete(self.url(&format!("/v1/marketplace/listings/{}", path_id(id)?)))
                .bearer_auth(access_token),
        )
        .await?;
        Ok(())
    }
}

/// A report about a listing, as the management window lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MarketReport {
    /// The listing.
    pub listing_id: String,
    /// Its title.
    pub title: String,
    /// Who reported it.
    pub reporter_id: String,
    /// Why.
    pub reason: String,
    /// When.
    pub created_at: String,
}

impl AccountClient {
    /// Reports about listings still listed, newest first (admins only).
    pub async fn admin_market_reports(
        &self,
        access_token: &str,
    ) -> Result<Vec<MarketReport>, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/admin/marketplace/reports"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// The platform's commission on sales, basis points (admins only).
    pub async fn admin_market_commission(&self, access_token: &str) -> Result<u32, AccountError> {
        let body: serde_json::Value = self
            .json(
                self.http
                    .get(self.url("/v1/admin/marketplace/commission"))
                    .bearer_auth(access_token),
            )
            .await?;
        body["commission_bps"]
            .as_u64()
            .and_then(|bps| u32::try_from(bps).ok())
            .ok_or_else(|| AccountError::Protocol("the server sent no commission".into()))
    }

    /// Sets the commission, audited (admins only).
    pub async fn admin_set_market_commission(
        &self,
        access_token: &str,
        commission_bps: u32,
    ) -> Result<(), AccountError> {
        let _: serde_json::Value = self
            .json(
                self.http
                    .put(self.url("/v1/admin/marketplace/commission"))
                    .bearer_auth(access_token)
                    .json(&serde_json::json!({ "commission_bps": commission_bps })),
            )
            .await?;
        Ok(())
    }

    /// Runs the reconciliation pass now (admins only).
    pub async fn admin_market_reconcile(
        &self,
        access_token: &str,
    ) -> Result<MarketReconciled, AccountError> {
        self.json(
            self.http
                .post(self.url("/v1/admin/marketplace/reconcile"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// Takes a listing off the marketplace, with the reason for the audit
    /// log (admins only).
    pub async fn admin_delist_listing(
        &self,
        access_token: &str,
        id: &str,
        reason: &str,
    ) -> Result<(), AccountError> {
        let _: serde_json::Value = self
            .json(
                self.http
                    .post(self.url(&format!(
                        "/v1/admin/marketplace/listings/{}/delist",
                        path_id(id)?
                    )))
                    .bearer_auth(access_token)
                    .json(&serde_json::json!({ "reason": reason })),
            )
            .await?;
        Ok(())
    }
}
