//! `/v1/marketplace/*`: people list their agents and prompts, others find
//! them by full-text search with filters and sorts, get them, review them
//! and report them (F22, F23).
//!
//! - A listing sells one of the seller's library items. Each version
//!   published under it is a frozen copy of the item (a prompt at its
//!   active version), named by the SHA-256 of its content; publishing again
//!   after the item changed adds a version, and buyers get the current one.
//! - Getting a free listing copies its current version into the buyer's
//!   library at once, merged like a device's sync and announced on the live
//!   feed, so it reaches every device of theirs. One purchase per buyer and
//!   listing, however many ask at once. A copy is the buyer's own item: the
//!   policy engine allows running it whatever their plan's agent list says.
//! - Selling for money needs the seller's Stripe account (Connect); until
//!   it can take charges, only free listings are accepted.
//! - Reviews (1–5 and a text) are for buyers only, one per listing,
//!   editable; the listing's rating moves with them in one transaction.
//!
//! Every input is checked before anything is stored (`orrery_domain::
//! marketplace`): a 4xx with the reason, nothing stored.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use orrery_domain::marketplace::{
    self, LISTINGS_PER_PAGE, ListingDraft, ListingKind, ListingSort, MAX_LISTINGS_PER_PAGE,
    MAX_PRICE_MINOR, MAX_SEARCH_CHARS, Pricing,
};
use orrery_domain::{Agent, DocumentId, LibraryItem, Prompt, VersionStatus};
use orrery_store::{
    ListingCreated, ListingRecord, ListingSearch, NewListingVersion, Principal, PurchaseClaim,
};
use orrery_sync::{LibraryDocument, Version};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Access, ApiContext, ApiError, Routes, SignedIn};

/// Reviews shown with a listing.
const LISTED_REVIEWS: u32 = 50;
/// Longest preview of a prompt's text.
const PREVIEW_CHARS: usize = 2_000;

pub(super) fn router() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/v1/marketplace/listings",
            Access::SignedIn,
            search,
        )
        .add(
            Method::POST,
            "/v1/marketplace/listings",
            Access::SignedIn,
            create,
        )
        .add(
            Method::GET,
            "/v1/marketplace/listings/{listing_id}",
            Access::SignedIn,
            show,
        )
        .add(
            Method::PATCH,
            "/v1/marketplace/listings/{listing_id}",
            Access::SignedIn,
            edit,
        )
        .add(
            Method::DELETE,
            "/v1/marketplace/listings/{listing_id}",
            Access::SignedIn,
            delist,
        )
        .add(
            Method::POST,
            "/v1/marketplace/listings/{listing_id}/versions",
            Access::SignedIn,
            publish,
        )
        .add(
            Method::POST,
            "/v1/marketplace/listings/{listing_id}/purchase",
            Access::SignedIn,
            buy,
        )
        .add(
            Method::PUT,
            "/v1/marketplace/listings/{listing_id}/review",
            Access::SignedIn,
            review,
        )
        .add(
            Method::POST,
            "/v1/marketplace/listings/{listing_id}/report",
            Access::SignedIn,
            report,
        )
        .add(
            Method::GET,
            "/v1/marketplace/purchases",
            Access::SignedIn,
            purchases,
        )
        .add(
            Method::GET,
            "/v1/marketplace/selling",
            Access::SignedIn,
            selling,
        )
}

fn refused(error: marketplace::MarketplaceError) -> ApiError {
    ApiError::Unprocessable(error.to_string())
}

fn listing_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse()
        .map_err(|_| ApiError::BadRequest("the listing id must be a UUID".into()))
}

/// A listing as buyers and its seller see it.
#[derive(Debug, Serialize)]
pub(super) struct ListingView {
    id: Uuid,
    kind: ListingKind,
    title: String,
    description: String,
    tags: Vec<String>,
    pricing: Pricing,
    price_minor: u64,
    currency: String,
    state: String,
    version: String,
    seller: String,
    purchases: u64,
    rating: Option<f64>,
    rating_count: u64,
    /// The caller has it.
    owned: bool,
    /// The caller sells it.
    mine: bool,
    created_at: String,
    updated_at: String,
}

impl ListingView {
    fn of(listing: ListingRecord, principal: &Principal, owned: bool) -> Self {
        let rating = listing
            .rating()
            .map(|rating| (rating * 10.0).round() / 10.0);
        Self {
            mine: listing.seller_tenant == principal.tenant_id,
            id: listing.id,
            kind: listing.kind,
            title: listing.draft.title,
            description: listing.draft.description,
            tags: listing.draft.tags,
            pricing: listing.draft.pricing,
            price_minor: listing.draft.price_minor,
            currency: listing.draft.currency,
            state: listing.state,
            version: listing.current_version,
            seller: listing.seller_name,
            purchases: listing.purchases,
            rating,
            rating_count: listing.rating_count,
            owned,
            created_at: listing.created_at,
            updated_at: listing.updated_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    /// Words to find.
    q: Option<String>,
    kind: Option<String>,
    min_price: Option<u64>,
    max_price: Option<u64>,
    free: Option<bool>,
    /// Tags, separated by commas.
    tags: Option<String>,
    min_rating: Option<f64>,
    sort: Option<String>,
    page: Option<u64>,
    per_page: Option<u32>,
}

#[derive(Debug, Serialize)]
struct ListingPageView {
    listings: Vec<ListingView>,
    total: u64,
    page: u64,
    per_page: u32,
}

async fn search(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    asked: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<ListingPageView>, ApiError> {
    let asked = super::admin::query(asked)?;
    let text = asked.q.as_deref().unwrap_or_default();
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "a search is at most {MAX_SEARCH_CHARS} characters"
        )));
    }
    let kind = asked
        .kind
        .as_deref()
        .map(|kind| {
            ListingKind::parse(kind)
                .ok_or_else(|| ApiError::Unprocessable("kind is `agent` or `prompt`".into()))
        })
        .transpose()?;
    let sort = asked
        .sort
        .as_deref()
        .map(|sort| {
            ListingSort::parse(sort).ok_or_else(|| {
                ApiError::Unprocessable(
                    "sort by `relevance`, `newest`, `most_bought`, `rating`, `price_low` or `price_high`"
                        .into(),
                )
            })
        })
        .transpose()?
        .unwrap_or_default();
    for price in [asked.min_price, asked.max_price].into_iter().flatten() {
        if price > MAX_PRICE_MINOR {
            return Err(ApiError::Unprocessable(format!(
                "prices are at most {MAX_PRICE_MINOR} (minor units)"
            )));
        }
    }
    if let Some(rating) = asked.min_rating
        && !(rating.is_finite() && (0.0..=5.0).contains(&rating))
    {
        return Err(ApiError::Unprocessable("min_rating is from 0 to 5".into()));
    }
    let tags = match asked.tags.as_deref() {
        None => Vec::new(),
        Some(tags) => {
            let tags: Vec<_> = tags
                .split(',')
                .filter(|tag| !tag.trim().is_empty())
                .collect();
            if tags.len() > marketplace::MAX_LISTING_TAGS {
                return Err(ApiError::Unprocessable(format!(
                    "filter by at most {} tags",
                    marketplace::MAX_LISTING_TAGS
                )));
            }
            tags.into_iter()
                .map(marketplace::normalize_tag)
                .collect::<Result<Vec<_>, _>>()
                .map_err(refused)?
        }
    };
    let per_page = asked.per_page.unwrap_or(LISTINGS_PER_PAGE);
    if !(1..=MAX_LISTINGS_PER_PAGE).contains(&per_page) {
        return Err(ApiError::Unprocessable(format!(
            "per_page is from 1 to {MAX_LISTINGS_PER_PAGE}"
        )));
    }
    let page = asked.page.unwrap_or(1);
    if !(1..=10_000).contains(&page) {
        return Err(ApiError::Unprocessable("page is from 1 to 10,000".into()));
    }
    let found = context
        .store
        .search_listings(&ListingSearch {
            terms: marketplace::search_terms(text),
            kind,
            min_price: asked.min_price,
            max_price: asked.max_price,
            free_only: asked.free.unwrap_or(false),
            tags,
            min_rating: asked.min_rating,
            sort,
            limit: per_page,
            offset: (page - 1) * u64::from(per_page),
        })
        .await?;
    let owned = context.store.owned_listings(principal.user_id).await?;
    Ok(Json(ListingPageView {
        listings: found
            .listings
            .into_iter()
            .map(|listing| {
                let has = owned.contains(&listing.id);
                ListingView::of(listing, &principal, has)
            })
            .collect(),
        total: found.total,
        page,
        per_page,
    }))
}

/// What listing an item takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewListing {
    kind: ListingKind,
    /// The library item (its document id).
    item_id: String,
    #[serde(flatten)]
    draft: ListingDraft,
}

/// An item frozen for a listing: its content (JSON), hash and preview.
struct Frozen {
    content: String,
    version: String,
    preview: String,
}

/// The caller's library item of `kind` with `id`, frozen: an agent whole
/// (not its graph: custom agents are not sold yet), a prompt at its active
/// version.
async fn freeze(
    context: &ApiContext,
    tenant: Uuid,
    kind: ListingKind,
    id: &str,
) -> Result<Frozen, ApiError> {
    let id: DocumentId = id
        .parse()
        .map_err(|_| ApiError::BadRequest("item_id must be a UUID".into()))?;
    let document_kind = kind.document_kind();
    let missing = || {
        ApiError::NotFound(format!(
            "there is no {} with this id in your library (sync it first)",
            kind.as_str()
        ))
    };
    let (snapshot, _) = context
        .store
        .load_library_revision(tenant, document_kind, id)
        .await?
        .ok_or_else(missing)?;
    let item = super::off_thread(move || {
        let document = LibraryDocument::from_snapshot(document_kind, id, &snapshot)?;
        if document.deleted_at().is_some() {
            return Ok(None);
        }
        document.to_item().map(Some)
    })
    .await?
    .map_err(|error: orrery_sync::SyncError| ApiError::Internal(error.into()))?
    .ok_or_else(missing)?;
    let (content, preview) = match item {
        LibraryItem::Agent(agent) => {
            if agent.graph.is_some() {
                return Err(ApiError::Unprocessable(
                    "a custom agent (one that runs a graph) cannot be listed yet".into(),
                ));
            }
            let preview = agent_preview(&agent);
            (serde_json::to_string(&agent), preview)
        }
        LibraryItem::Prompt(mut prompt) => {
            let active = prompt
                .versions
                .iter()
                .find(|version| version.status == VersionStatus::Active)
                .cloned()
                .ok_or_else(|| {
                    ApiError::Unprocessable(
                        "the prompt has no published version: publish one first".into(),
                    )
                })?;
            prompt.versions = vec![active];
            let preview = prompt_preview(&prompt);
            (serde_json::to_string(&prompt), preview)
        }
        LibraryItem::Session(_) => return Err(missing()),
    };
    let content = content.map_err(|error| ApiError::Internal(error.into()))?;
    let version = Sha256::digest(content.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(Frozen {
        content,
        version,
        preview,
    })
}

/// What buyers see of an agent before they have it: what it is for, its
/// model and tools; not its instructions.
fn agent_preview(agent: &Agent) -> String {
    let mut preview = format!("{}\n", agent.name);
    if !agent.description.is_empty() {
        preview.push_str(&format!("{}\n", agent.description));
    }
    if !agent.model.is_empty() {
        preview.push_str(&format!("Model: {}\n", agent.model));
    }
    if !agent.tools.is_empty() {
        preview.push_str(&format!("Tools: {}\n", agent.tools.join(", ")));
    }
    preview
}

/// What buyers see of a prompt: its text (the start of it) and its variables.
fn prompt_preview(prompt: &Prompt) -> String {
    let text = prompt
        .versions
        .first()
        .map(|version| version.content.as_str())
        .unwrap_or_default();
    let shown: String = text.chars().take(PREVIEW_CHARS).collect();
    let variables = orrery_runtime::template_variables(text);
    let mut preview = shown;
    if text.chars().count() > PREVIEW_CHARS {
        preview.push('…');
    }
    if !variables.is_empty() {
        preview.push_str(&format!("\n\nVariables: {}", variables.join(", ")));
    }
    preview
}

async fn create(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    body: Result<Json<NewListing>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(asked) = body?;
    let draft = asked.draft.checked().map_err(refused)?;
    if draft.pricing == Pricing::Monthly {
        return Err(ApiError::Unprocessable(
            "monthly pricing is not sold on this server yet; choose free or a one-off price".into(),
        ));
    }
    if draft.pricing != Pricing::Free {
        super::market_sales::chargeable_seller(&context, principal.tenant_id).await?;
    }
    let frozen = freeze(&context, principal.tenant_id, asked.kind, &asked.item_id).await?;
    let id = Uuid::now_v7();
    let created = context
        .store
        .create_listing(
            id,
            (principal.tenant_id, principal.user_id),
            asked.kind,
            asked.item_id.trim(),
            &draft,
            &NewListingVersion {
                version: &frozen.version,
                content: &frozen.content,
                preview: &frozen.preview,
            },
            context.now(),
        )
        .await?;
    match created {
        ListingCreated::Listed => {}
        ListingCreated::AlreadyListed(existing) => {
            return Err(ApiError::Conflict(format!(
                "this item is listed already (listing {existing}); publish a new version there"
            )));
        }
    }
    tracing::info!(listing = %id, seller = %principal.user_id, "listed");
    let listing = context
        .store
        .listing(id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a new listing went missing")))?;
    Ok((
        StatusCode::CREATED,
        Json(ListingView::of(listing, &principal, false)),
    )
        .into_response())
}

/// A listing, its versions and its latest reviews.
#[derive(Debug, Serialize)]
struct ListingDetail {
    #[serde(flatten)]
    listing: ListingView,
    preview: String,
    versions: Vec<VersionView>,
    reviews: Vec<ReviewView>,
    /// The caller's own review, if any.
    your_review: Option<ReviewView>,
}

#[derive(Debug, Serialize)]
struct VersionView {
    version: String,
    number: u64,
    created_at: String,
}

#[derive(Debug, Serialize)]
struct ReviewView {
    author: String,
    rating: u8,
    body: String,
    updated_at: String,
}

/// A listing the caller may see: listed, or theirs, or one they bought.
async fn visible_listing(
    context: &ApiContext,
    principal: &Principal,
    id: &str,
) -> Result<(ListingRecord, bool), ApiError> {
    let id = listing_id(id)?;
    let missing = || ApiError::NotFound("there is no such listing".into());
    let listing = context.store.listing(id).await?.ok_or_else(missing)?;
    let owned = context
        .store
        .purchase_of(id, principal.user_id)
        .await?
        .is_some_and(|purchase| purchase.state == "paid");
    if listing.state != "listed" && listing.seller_tenant != principal.tenant_id && !owned {
        return Err(missing());
    }
    Ok((listing, owned))
}

async fn show(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<ListingDetail>, ApiError> {
    let (listing, owned) = visible_listing(&context, &principal, &id).await?;
    let versions = context.store.listing_versions(listing.id).await?;
    let reviews = context
        .store
        .listing_reviews(listing.id, LISTED_REVIEWS)
        .await?;
    let preview = versions
        .iter()
        .find(|version| version.version == listing.current_version)
        .map(|version| version.preview.clone())
        .unwrap_or_default();
    let view = |review: &orrery_store::ReviewRecord| ReviewView {
        author: review.buyer_name.clone(),
        rating: review.rating,
        body: review.body.clone(),
        updated_at: review.updated_at.clone(),
    };
    Ok(Json(ListingDetail {
        your_review: reviews
            .iter()
            .find(|review| review.buyer_user == principal.user_id)
            .map(view),
        reviews: reviews.iter().map(view).collect(),
        versions: versions
            .iter()
            .map(|version| VersionView {
                version: version.version.clone(),
                number: version.number,
                created_at: version.created_at.clone(),
            })
            .collect(),
        preview,
        listing: ListingView::of(listing, &principal, owned),
    }))
}

/// One of the caller's own listings, or 404.
async fn own_listing(
    context: &ApiContext,
    principal: &Principal,
    id: &str,
) -> Result<ListingRecord, ApiError> {
    let id = listing_id(id)?;
    context
        .store
        .listing(id)
        .await?
        .filter(|listing| listing.seller_tenant == principal.tenant_id)
        .ok_or_else(|| ApiError::NotFound("you have no such listing".into()))
}

async fn edit(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(id): Path<String>,
    body: Result<Json<ListingDraft>, JsonRejection>,
) -> Result<Json<ListingView>, ApiError> {
    let Json(asked) = body?;
    let listing = own_listing(&context, &principal, &id).await?;
    let draft = asked.checked().map_err(refused)?;
    if draft.pricing == Pricing::Monthly {
        return Err(ApiError::Unprocessable(
            "monthly pricing is not sold on this server yet; choose free or a one-off price".into(),
        ));
    }
    if draft.pricing != Pricing::Free {
        super::market_sales::chargeable_seller(&context, principal.tenant_id).await?;
    }
    if !context
        .store
        .update_listing(listing.id, principal.tenant_id, &draft, context.now())
        .await?
    {
        return Err(ApiError::Conflict(
            "the listing is delisted; it cannot be changed".into(),
        ));
    }
    let listing = own_listing(&context, &principal, &id).await?;
    Ok(Json(ListingView::of(listing, &principal, false)))
}

async fn delist(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let listing = own_listing(&context, &principal, &id).await?;
    context
        .store
        .delist_listing(listing.id, Some(principal.tenant_id), context.now())
        .await?;
    tracing::info!(listing = %listing.id, "delisted by its seller");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
struct Published {
    version: String,
    number: Option<u64>,
    /// `false` when the item had not changed since the current version.
    changed: bool,
}

async fn publish(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<Published>, ApiError> {
    let listing = own_listing(&context, &principal, &id).await?;
    if listing.state != "listed" {
        return Err(ApiError::Conflict(
            "the listing is delisted; list the item again instead".into(),
        ));
    }
    let frozen = freeze(
        &context,
        principal.tenant_id,
        listing.kind,
        &listing.item_id,
    )
    .await?;
    let number = context
        .store
        .publish_listing_version(
            listing.id,
            &NewListingVersion {
                version: &frozen.version,
                content: &frozen.content,
                preview: &frozen.preview,
            },
            context.now(),
        )
        .await?;
    Ok(Json(Published {
        changed: number.is_some(),
        version: frozen.version,
        number,
    }))
}

/// What a purchase gave.
#[derive(Debug, Serialize)]
struct PurchaseView {
    id: Uuid,
    listing_id: Uuid,
    title: String,
    kind: ListingKind,
    version: String,
    state: String,
    amount_minor: u64,
    currency: String,
    /// The copy in the buyer's library.
    item_id: Option<String>,
    created_at: String,
    /// Where to pay, while the purchase waits for its payment.
    checkout_url: Option<String>,
    /// When it was refunded (the copy left the library then), and why.
    refunded_at: Option<String>,
    refund_reason: Option<String>,
}

impl PurchaseView {
    fn of(purchase: orrery_store::PurchaseRecord, listing: ListingRecord) -> Self {
        let checkout_url = (purchase.state == "pending")
            .then(|| purchase.checkout_url.clone())
            .flatten();
        PurchaseView {
            id: purchase.id,
            listing_id: listing.id,
            title: listing.draft.title,
            kind: listing.kind,
            version: purchase.version,
            state: purchase.state,
            amount_minor: purchase.amount_minor,
            currency: purchase.currency,
            item_id: purchase.delivered_item,
            created_at: purchase.created_at,
            checkout_url,
            refunded_at: purchase.refunded_at,
            refund_reason: purchase.refund_reason,
        }
    }
}

/// Copies a listing's `version` into the buyer's library as their item
/// `id`, merged like a device's sync (so it reaches each of their devices);
/// its id. An item already there (a delivery that stopped before it was
/// noted) is left as it is.
pub(super) async fn deliver(
    context: &ApiContext,
    (tenant, user): (Uuid, Uuid),
    listing: &ListingRecord,
    version: &str,
    id: DocumentId,
) -> Result<String, ApiError> {
    let kind = listing.kind.document_kind();
    if context
        .store
        .load_library_revision(tenant, kind, id)
        .await?
        .is_some()
    {
        return Ok(id.to_string());
    }
    let content = context
        .store
        .listing_versions(listing.id)
        .await?
        .into_iter()
        .find(|stored| stored.version == version)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a bought version went missing")))?
        .content;
    let item = match listing.kind {
        ListingKind::Agent => {
            let mut agent: Agent =
                serde_json::from_str(&content).map_err(|error| ApiError::Internal(error.into()))?;
            agent.id = id;
            agent.public = false;
            agent.graph = None;
            LibraryItem::Agent(agent)
        }
        ListingKind::Prompt => {
            let mut prompt: Prompt =
                serde_json::from_str(&content).map_err(|error| ApiError::Internal(error.into()))?;
            prompt.id = id;
            LibraryItem::Prompt(prompt)
        }
    };
    let snapshot = super::off_thread(move || {
        LibraryDocument::create(&item).map(|document| document.snapshot())
    })
    .await?
    .map_err(|error| ApiError::Internal(error.into()))?;
    super::library::merge_from_server(
        context,
        tenant,
        user,
        kind,
        id,
        &Version::default(),
        snapshot,
    )
    .await?;
    Ok(id.to_string())
}

async fn buy(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (listing, _) = visible_listing(&context, &principal, &id).await?;
    if listing.state != "listed" {
        return Err(ApiError::Conflict(
            "this listing is no longer on the marketplace".into(),
        ));
    }
    if listing.seller_tenant == principal.tenant_id {
        return Err(ApiError::Conflict(
            "this is your own listing; it is in your library already".into(),
        ));
    }
    let paid = match listing.draft.pricing {
        Pricing::Free => false,
        Pricing::OneOff => true,
        Pricing::Monthly => {
            return Err(ApiError::Conflict(
                "monthly listings cannot be bought on this server yet; ask the seller for a one-off price"
                    .into(),
            ));
        }
    };
    let seller_account = if paid {
        Some(
            super::market_sales::chargeable_seller(&context, listing.seller_tenant)
                .await
                .map_err(|_| {
                    ApiError::Conflict(
                        "the seller cannot take payments right now; try again later".into(),
                    )
                })?
                .stripe_account,
        )
    } else {
        None
    };
    let split = marketplace::commission_split(
        listing.draft.price_minor,
        super::market_sales::commission_bps(&context).await?,
    );
    let claim = context
        .store
        .claim_purchase(
            &listing,
            &listing.current_version,
            (principal.tenant_id, principal.user_id),
            if paid { "pending" } else { "paid" },
            split.fee_minor,
            seller_account.as_deref(),
            context.now(),
        )
        .await?;
    let (mut purchase, mut status) = match claim {
        PurchaseClaim::New(purchase) => (purchase, StatusCode::CREATED),
        PurchaseClaim::Existing(purchase) if purchase.delivered_item.is_some() => {
            return Err(ApiError::Conflict(format!(
                "you have this already (purchase {}); it is in your library",
                purchase.id
            )));
        }
        PurchaseClaim::Existing(purchase) => (purchase, StatusCode::OK),
    };
    if purchase.state == "pending" && !paid {
        // Waiting for a payment when the listing became free: it is free.
        if let Some(session) = purchase.checkout_session.as_deref() {
            let billing = context.billing.as_deref().ok_or_else(|| {
                ApiError::Conflict("this server takes no payments now; try again later".into())
            })?;
            billing.expire_checkout(session).await?;
        }
        if context
            .store
            .settle_as_free(purchase.id, context.now())
            .await?
        {
            status = StatusCode::CREATED;
        }
    } else if purchase.state == "pending" {
        // Paid through Stripe Checkout: the webhook (or the reconciliation
        // pass) delivers once Stripe says it is paid, never this request.
        purchase =
            super::market_sales::open_checkout(&context, &principal, &listing, purchase).await?;
        if purchase.state == "pending" {
            return Ok((
                StatusCode::ACCEPTED,
                Json(PurchaseView::of(purchase, listing)),
            )
                .into_response());
        }
    }
    // Free (or paid before): deliver now, unless another request is at it.
    let new = status == StatusCode::CREATED;
    if super::market_sales::ensure_delivered(&context, purchase.id, new)
        .await?
        .is_none()
    {
        return Err(ApiError::Conflict(
            "your copy is on its way to your library; it shows up in a moment".into(),
        ));
    }
    if !new {
        // Another request (or an earlier one) bought it: one purchase
        // answers 201, every other one says so, whatever the timing.
        return Err(ApiError::Conflict(format!(
            "you have this already (purchase {}); it is in your library",
            purchase.id
        )));
    }
    tracing::info!(listing = %listing.id, purchase = %purchase.id, "delivered a free listing");
    let purchase = context
        .store
        .purchase_by_id(purchase.id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a purchase went missing")))?;
    Ok((status, Json(PurchaseView::of(purchase, listing))).into_response())
}

async fn purchases(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<Vec<PurchaseView>>, ApiError> {
    Ok(Json(
        context
            .store
            .purchases_of(principal.user_id)
            .await?
            .into_iter()
            .map(|(purchase, listing)| PurchaseView::of(purchase, listing))
            .collect(),
    ))
}

async fn selling(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<Vec<ListingView>>, ApiError> {
    Ok(Json(
        context
            .store
            .listings_of_seller(principal.tenant_id)
            .await?
            .into_iter()
            .map(|listing| ListingView::of(listing, &principal, false))
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReview {
    rating: u8,
    #[serde(default)]
    body: String,
}

async fn review(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(id): Path<String>,
    body: Result<Json<NewReview>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(asked) = body?;
    let text = marketplace::checked_review(asked.rating, &asked.body).map_err(refused)?;
    let (listing, _) = visible_listing(&context, &principal, &id).await?;
    let name = context
        .store
        .user(principal.tenant_id, principal.user_id)
        .await?
        .map(|user| user.name)
        .unwrap_or_default();
    let shown_name = if name.trim().is_empty() {
        "A buyer".to_owned()
    } else {
        name
    };
    if !context
        .store
        .put_review(
            listing.id,
            (principal.user_id, &shown_name),
            asked.rating,
            &text,
            context.now(),
        )
        .await?
    {
        return Err(ApiError::Forbidden(
            "only people who have this listing can review it".into(),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReport {
    reason: String,
}

async fn report(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(id): Path<String>,
    body: Result<Json<NewReport>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(asked) = body?;
    let reason = marketplace::checked_report(&asked.reason).map_err(refused)?;
    let (listing, _) = visible_listing(&context, &principal, &id).await?;
    if listing.seller_tenant == principal.tenant_id {
        return Err(ApiError::Conflict(
            "you cannot report your own listing".into(),
        ));
    }
    context
        .store
        .report_listing(listing.id, principal.user_id, &reason, context.now())
        .await?;
    Ok(StatusCode::ACCEPTED)
}
