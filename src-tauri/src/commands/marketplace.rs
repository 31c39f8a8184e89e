//! The Marketplace screen's commands: search and open listings, get one,
//! review and report; list one's own agents and prompts, publish a new
//! version, delist. Inputs are bounded here; the server checks the rest.

use orrery_account::{
    MarketListing, MarketListingDetail, MarketPage, MarketPurchase, MarketReconciled, MarketSales,
    MarketSearch, MarketSeller, NewMarketListing,
};
use tauri::State;

use super::CommandError;
use crate::shell::Shell;

fn invalid(message: impl ToString) -> CommandError {
    CommandError {
        code: "invalid_input",
        message: message.to_string(),
    }
}

/// Longest text a marketplace form may send (a description).
const MAX_TEXT_CHARS: usize = 5_000;

fn bounded(what: &str, text: &str, max: usize) -> Result<(), CommandError> {
    if text.chars().count() > max {
        return Err(invalid(format!("the {what} is at most {max} characters")));
    }
    Ok(())
}

/// A page of listings.
#[tauri::command]
#[specta::specta]
pub async fn market_search(
    shell: State<'_, Shell>,
    search: MarketSearch,
) -> Result<MarketPage, CommandError> {
    bounded("search", search.query.as_deref().unwrap_or_default(), 200)?;
    if search.tags.len() > 12 {
        return Err(invalid("filter by at most 12 tags"));
    }
    Ok(shell.market_search(&search).await?)
}

/// One listing with its preview, versions and reviews.
#[tauri::command]
#[specta::specta]
pub async fn market_listing(
    shell: State<'_, Shell>,
    id: String,
) -> Result<MarketListingDetail, CommandError> {
    Ok(shell.market_listing(&id).await?)
}

/// Gets a listing: a free one is in the library when this answers; a paid
/// one opens Stripe Checkout in the browser (the purchase is `pending`
/// until Stripe reports the payment).
#[tauri::command]
#[specta::specta]
pub async fn market_buy(
    shell: State<'_, Shell>,
    id: String,
) -> Result<MarketPurchase, CommandError> {
    Ok(shell.market_buy(&id, super::open_in_browser).await?)
}

/// The user's selling account.
#[tauri::command]
#[specta::specta]
pub async fn market_seller(shell: State<'_, Shell>) -> Result<MarketSeller, CommandError> {
    Ok(shell.market_seller().await?)
}

/// Opens Stripe's onboarding forms in the browser.
#[tauri::command]
#[specta::specta]
pub async fn market_start_selling(shell: State<'_, Shell>) -> Result<(), CommandError> {
    Ok(shell.market_start_selling(super::open_in_browser).await?)
}

/// The user's sales report.
#[tauri::command]
#[specta::specta]
pub async fn market_sales(shell: State<'_, Shell>) -> Result<MarketSales, CommandError> {
    Ok(shell.market_sales().await?)
}

/// Refunds one of the user's sales in full, with a reason the buyer sees.
#[tauri::command]
#[specta::specta]
pub async fn market_refund(
    shell: State<'_, Shell>,
    purchase_id: String,
    reason: String,
) -> Result<(), CommandError> {
    if reason.trim().is_empty() {
        return Err(invalid("say why you refund it; the buyer sees the reason"));
    }
    bounded("reason", &reason, 1_000)?;
    Ok(shell.market_refund(&purchase_id, &reason).await?)
}

/// The platform's commission on sales, basis points (admins only).
#[tauri::command]
#[specta::specta]
pub async fn admin_market_commission(shell: State<'_, Shell>) -> Result<u32, CommandError> {
    Ok(shell.admin_market_commission().await?)
}

/// Sets the platform's commission, basis points, 0 to 5000 (admins only).
#[tauri::command]
#[specta::specta]
pub async fn admin_set_market_commission(
    shell: State<'_, Shell>,
    commission_bps: u32,
) -> Result<(), CommandError> {
    if commission_bps > 5_000 {
        return Err(invalid("the commission is at most 50%"));
    }
    Ok(shell.admin_set_market_commission(commission_bps).await?)
}

/// Runs the marketplace's reconciliation pass now (admins only).
#[tauri::command]
#[specta::specta]
pub async fn admin_market_reconcile(
    shell: State<'_, Shell>,
) -> Result<MarketReconciled, CommandError> {
    Ok(shell.admin_market_reconcile().await?)
}

/// What the user has got from the marketplace.
#[tauri::command]
#[specta::specta]
pub async fn market_purchases(
    shell: State<'_, Shell>,
) -> Result<Vec<MarketPurchase>, CommandError> {
    Ok(shell.market_purchases().await?)
}

/// What the user sells.
#[tauri::command]
#[specta::specta]
pub async fn market_selling(shell: State<'_, Shell>) -> Result<Vec<MarketListing>, CommandError> {
    Ok(shell.market_selling().await?)
}

/// Lists one of the user's agents or prompts (free, or for a one-off price).
#[tauri::command]
#[specta::specta]
pub async fn market_create_listing(
    shell: State<'_, Shell>,
    listing: NewMarketListing,
) -> Result<MarketListing, CommandError> {
    bounded("title", &listing.title, 120)?;
    bounded("description", &listing.description, MAX_TEXT_CHARS)?;
    if listing.tags.len() > 12 {
        return Err(invalid("a listing has at most 12 tags"));
    }
    Ok(shell.market_create_listing(&listing).await?)
}

/// Publishes a listed item as it is now; whether it changed.
#[tauri::command]
#[specta::specta]
pub async fn market_publish_version(
    shell: State<'_, Shell>,
    id: String,
) -> Result<bool, CommandError> {
    Ok(shell.market_publish_version(&id).await?)
}

/// Writes the user's review (1–5 and a text) of a listing they have.
#[tauri::command]
#[specta::specta]
pub async fn market_review(
    shell: State<'_, Shell>,
    id: String,
    rating: u8,
    body: String,
) -> Result<(), CommandError> {
    if !(1..=5).contains(&rating) {
        return Err(invalid("a rating is from 1 to 5"));
    }
    bounded("review", &body, 4_000)?;
    Ok(shell.market_review(&id, rating, &body).await?)
}

/// Reports a listing to the admins.
#[tauri::command]
#[specta::specta]
pub async fn market_report(
    shell: State<'_, Shell>,
    id: String,
    reason: String,
) -> Result<(), CommandError> {
    bounded("reason", &reason, 1_000)?;
    Ok(shell.market_report(&id, &reason).await?)
}

/// Takes one of the user's listings off the marketplace.
#[tauri::command]
#[specta::specta]
pub async fn market_delist(shell: State<'_, Shell>, id: String) -> Result<(), CommandError> {
    Ok(shell.market_delist(&id).await?)
}

/// Reports about listings still listed (admins only; the server decides).
#[tauri::command]
#[specta::specta]
pub async fn admin_market_reports(
    shell: State<'_, Shell>,
) -> Result<Vec<orrery_account::MarketReport>, CommandError> {
    Ok(shell.admin_market_reports().await?)
}

/// Takes a listing off the marketplace, the reason going to the audit log
/// (admins only; the server decides).
#[tauri::command]
#[specta::specta]
pub async fn admin_delist_listing(
    shell: State<'_, Shell>,
    id: String,
    reason: String,
) -> Result<(), CommandError> {
    bounded("reason", &reason, 1_000)?;
    Ok(shell.admin_delist_listing(&id, &reason).await?)
}
