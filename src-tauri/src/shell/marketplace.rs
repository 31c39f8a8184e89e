//! The Marketplace screen's calls: search and open listings, get one (its
//! copy is merged into the library on the server, and a sync brings it
//! here at once), review and report; list the user's own agents and
//! prompts, publish a new version, delist.

use orrery_account::{
    MarketListing, MarketListingDetail, MarketPage, MarketPurchase, MarketSearch, NewMarketListing,
};

use super::{Shell, ShellError};

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

    /// Gets a listing, then syncs so its copy is in the library now.
    pub async fn market_buy(&self, id: &str) -> Result<MarketPurchase, ShellError> {
        let accounts = &self.inner.accounts;
        let purchase = self
            .with_token(|token| async move { accounts.market_buy(&token, id).await })
            .await?;
        self.sync_now().await;
        Ok(purchase)
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
