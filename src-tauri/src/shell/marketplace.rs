//! The Marketplace screen's calls: search and open listings, get one (its
//! copy is merged into the library on the server, and a sync brings it
//! here at once; a paid one opens Stripe Checkout in the browser, and the
//! copy arrives through the live feed once Stripe reports the payment),
//! review and report; list the user's own agents and prompts (paid ones
//! once Stripe's onboarding is done), publish a new version, delist; the
//! sales report and refunds.

use orrery_account::{
    MarketListing, MarketListingDetail, MarketPage, MarketPurchase, MarketReconciled, MarketSales,
    MarketSearch, MarketSeller, NewMarketListing,
};

use super::{Shell, ShellError, open_page};

impl Shell {
    /// A page of listings.
    pub async fn market_search(&self, search: &MarketSearch) -> Result<MarketPage, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.market_search(&token, search).await })
            .await
    }

    /// One listing, opened.
    pub async fn market_listing(&self, id: &str) -> Result<MarketListingDetail, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.market_listing(&token, id).await })
            .await
    }

    /// Gets a listing. A free one is in the library when this answers (a
    /// sync brings it); a paid one opens its Stripe Checkout page in the
    /// browser, and its copy comes once Stripe reports the payment.
    pub async fn market_buy(
        &self,
        id: &str,
        open_browser: impl FnOnce(&url::Url) -> Result<(), String>,
    ) -> Result<MarketPurchase, ShellError> {
        let accounts = &self.inner.accounts;
        let purchase = self
            .with_token(|token| async move { accounts.market_buy(&token, id).await })
            .await?;
        match purchase.checkout_url.as_deref() {
            Some(page) if purchase.state == "pending" => open_page(page, open_browser)?,
            _ => {
                self.sync_now().await;
            }
        }
        Ok(purchase)
    }

    /// The user's selling account.
    pub async fn market_seller(&self) -> Result<MarketSeller, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.market_seller(&token).await })
            .await
    }

    /// Opens Stripe's onboarding forms in the browser (a fresh link each
    /// time: one that expired or was used is never reopened).
    pub async fn market_start_selling(
        &self,
        open_browser: impl FnOnce(&url::Url) -> Result<(), String>,
    ) -> Result<(), ShellError> {
        let accounts = &self.inner.accounts;
        let page = self
            .with_token(|token| async move { accounts.market_onboarding_page(&token).await })
            .await?;
        open_page(&page, open_browser)
    }

    /// The user's sales report.
    pub async fn market_sales(&self) -> Result<MarketSales, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.market_sales(&token).await })
            .await
    }

    /// Refunds one of the user's sales.
    pub async fn market_refund(&self, purchase_id: &str, reason: &str) -> Result<(), ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(
            |token| async move { accounts.market_refund(&token, purchase_id, reason).await },
        )
        .await
    }

    /// The platform's commission, basis points (admins only).
    pub async fn admin_market_commission(&self) -> Result<u32, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_market_commission(&token).await })
            .await
    }

    /// Sets the platform's commission (admins only).
    pub async fn admin_set_market_commission(&self, bps: u32) -> Result<(), ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(
            |token| async move { accounts.admin_set_market_commission(&token, bps).await },
        )
        .await
    }

    /// Runs the marketplace's reconciliation pass now (admins only).
    pub async fn admin_market_reconcile(&self) -> Result<MarketReconciled, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_market_reconcile(&token).await })
            .await
    }

    /// What the user has got.
    pub async fn market_purchases(&self) -> Result<Vec<MarketPurchase>, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.market_purchases(&token).await })
            .await
    }

    /// What the user sells.
    pub async fn market_selling(&self) -> Result<Vec<MarketListing>, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.market_selling(&token).await })
            .await
    }

    /// Lists a library item: synced first, so the server has it as it is here.
    pub async fn market_create_listing(
        &self,
        listing: &NewMarketListing,
    ) -> Result<MarketListing, ShellError> {
        self.sync_now().await;
        let accounts = &self.inner.accounts;
        self.with_token(
            |token| async move { accounts.market_create_listing(&token, listing).await },
        )
        .await
    }

    /// Publishes a listed item as it is now (synced first); whether it changed.
    pub async fn market_publish_version(&self, id: &str) -> Result<bool, ShellError> {
        self.sync_now().await;
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.market_publish_version(&token, id).await })
            .await
    }

    /// Writes the user's review of a listing they have.
    pub async fn market_review(&self, id: &str, rating: u8, body: &str) -> Result<(), ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(
            |token| async move { accounts.market_review(&token, id, rating, body).await },
        )
        .await
    }

    /// Reports a listing.
    pub async fn market_report(&self, id: &str, reason: &str) -> Result<(), ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.market_report(&token, id, reason).await })
            .await
    }

    /// Takes one of the user's listings off the marketplace.
    pub async fn market_delist(&self, id: &str) -> Result<(), ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.market_delist(&token, id).await })
            .await
    }

    /// Reports about listings (admins only).
    pub async fn admin_market_reports(
        &self,
    ) -> Result<Vec<orrery_account::MarketReport>, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.admin_market_reports(&token).await })
            .await
    }

    /// Takes a listing off the marketplace (admins only).
    pub async fn admin_delist_listing(&self, id: &str, reason: &str) -> Result<(), ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(
            |token| async move { accounts.admin_delist_listing(&token, id, reason).await },
        )
        .await
    }
}
