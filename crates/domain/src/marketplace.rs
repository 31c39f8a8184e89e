//! The marketplace's rules (F22, F23): what a listing may say and cost, how
//! a price splits between the platform's commission and the seller, and what
//! a search may ask. Pure: the store keeps listings, the server admits them
//! through these checks.
//!
//! Money is in integer minor units (cents). The commission is a rate in
//! basis points (2,000 = 20%); the platform's fee is the price times the
//! rate rounded half up to a whole minor unit, and the seller gets the rest,
//! so fee and share always sum to the price.

use serde::{Deserialize, Serialize};

use crate::text::hidden_character;

/// Longest listing title.
pub const MAX_LISTING_TITLE_CHARS: usize = 120;
/// Longest listing description.
pub const MAX_LISTING_DESCRIPTION_CHARS: usize = 5_000;
/// Most tags on a listing.
pub const MAX_LISTING_TAGS: usize = 12;
/// Longest tag.
pub const MAX_TAG_CHARS: usize = 32;
/// Highest price, in minor units (10,000.00).
pub const MAX_PRICE_MINOR: u64 = 1_000_000;
/// Lowest price of something sold (Stripe's minimum charge is about 0.50).
pub const MIN_PAID_PRICE_MINOR: u64 = 100;
/// Currencies a listing may be priced in.
pub const CURRENCIES: [&str; 3] = ["usd", "eur", "gbp"];
/// The platform's commission until an admin sets another: 20%.
pub const DEFAULT_COMMISSION_BPS: u32 = 2_000;
/// The highest commission an admin may set: 50%.
pub const MAX_COMMISSION_BPS: u32 = 5_000;
/// Longest search text.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Most words of a search text that are searched for.
pub const MAX_SEARCH_TERMS: usize = 12;
/// Longest review.
pub const MAX_REVIEW_CHARS: usize = 4_000;
/// Longest report reason.
pub const MAX_REPORT_CHARS: usize = 1_000;
/// Listings per page of a search, and the most a caller may ask for.
pub const LISTINGS_PER_PAGE: u32 = 20;
/// The most listings one page may hold.
pub const MAX_LISTINGS_PER_PAGE: u32 = 50;

/// What a listing sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingKind {
    /// A library agent.
    Agent,
    /// A prompt, at one of its published versions.
    Prompt,
}

impl ListingKind {
    /// The kind of library document a listing of this kind sells.
    pub fn document_kind(self) -> crate::DocumentKind {
        match self {
            Self::Agent => crate::DocumentKind::Agent,
            Self::Prompt => crate::DocumentKind::Prompt,
        }
    }

    /// Its name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Prompt => "prompt",
        }
    }

    /// The kind named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "agent" => Some(Self::Agent),
            "prompt" => Some(Self::Prompt),
            _ => None,
        }
    }
}

/// How a listing is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pricing {
    /// Nothing: delivered at once.
    Free,
    /// Once.
    OneOff,
    /// Every month.
    Monthly,
}

impl Pricing {
    /// Its name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::OneOff => "one_off",
            Self::Monthly => "monthly",
        }
    }

    /// The pricing named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "free" => Some(Self::Free),
            "one_off" => Some(Self::OneOff),
            "monthly" => Some(Self::Monthly),
            _ => None,
        }
    }
}

/// What a seller says about a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingDraft {
    /// Its title.
    pub title: String,
    /// What it does, for buyers.
    pub description: String,
    /// Words to find it by.
    pub tags: Vec<String>,
    /// How it is paid for.
    pub pricing: Pricing,
    /// Its price in minor units (0 when free).
    pub price_minor: u64,
    /// Its currency (`usd`, `eur` or `gbp`).
    pub currency: String,
}

/// Why a listing, a review or a search was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketplaceError {
    /// A text that is empty, too long, or holds a hidden character.
    #[error("{0}")]
    Text(String),
    /// A price out of range or that does not fit the pricing.
    #[error("{0}")]
    Price(String),
    /// A currency other than the supported ones.
    #[error("the currency must be one of {}", CURRENCIES.join(", "))]
    Currency,
    /// Too many tags, or one that is not a word.
    #[error("{0}")]
    Tags(String),
    /// A rating outside 1–5.
    #[error("a rating is a whole number from 1 to 5")]
    Rating,
    /// A commission rate above the highest allowed.
    #[error("the commission is at most {MAX_COMMISSION_BPS} basis points (50%)")]
    Commission,
}

fn one_line(what: &str, text: &str, max: usize) -> Result<String, MarketplaceError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(MarketplaceError::Text(format!("the {what} is empty")));
    }
    if text.chars().count() > max {
        return Err(MarketplaceError::Text(format!(
            "the {what} is at most {max} characters"
        )));
    }
    if let Some(hidden) = hidden_character(text) {
        return Err(MarketplaceError::Text(format!(
            "the {what} holds a {} character (U+{:04X})",
            hidden.kind(),
            hidden.character() as u32
        )));
    }
    Ok(text.to_owned())
}

/// A longer text (a description, a review): lines are allowed, other
/// control characters and the characters that reorder or hide text are not.
fn paragraphs(
    what: &str,
    text: &str,
    max: usize,
    empty_ok: bool,
) -> Result<String, MarketplaceError> {
    let text = text.trim();
    if text.is_empty() && !empty_ok {
        return Err(MarketplaceError::Text(format!("the {what} is empty")));
    }
    if text.chars().count() > max {
        return Err(MarketplaceError::Text(format!(
            "the {what} is at most {max} characters"
        )));
    }
    for line in text.split('\n') {
        if let Some(hidden) = hidden_character(line.trim_end_matches('\r')) {
            return Err(MarketplaceError::Text(format!(
                "the {what} holds a {} character (U+{:04X})",
                hidden.kind(),
                hidden.character() as u32
            )));
        }
    }
    Ok(text.replace("\r\n", "\n"))
}

/// A tag as kept: lower case letters, digits and `-`, 1 to 32 of them.
pub fn normalize_tag(tag: &str) -> Result<String, MarketplaceError> {
    let tag = tag.trim().to_lowercase();
    if tag.is_empty()
        || tag.chars().count() > MAX_TAG_CHARS
        || !tag.chars().all(|c| c.is_alphanumeric() || c == '-')
    {
        return Err(MarketplaceError::Tags(format!(
            "a tag is 1 to {MAX_TAG_CHARS} letters, digits or `-` (`{}` is not)",
            tag.chars().take(40).collect::<String>()
        )));
    }
    Ok(tag)
}

impl ListingDraft {
    /// The draft as kept: texts trimmed and checked, tags normalised and
    /// without repeats, the price checked against the pricing.
    pub fn checked(&self) -> Result<Self, MarketplaceError> {
        let title = one_line("title", &self.title, MAX_LISTING_TITLE_CHARS)?;
        let description = paragraphs(
            "description",
            &self.description,
            MAX_LISTING_DESCRIPTION_CHARS,
            false,
        )?;
        if self.tags.len() > MAX_LISTING_TAGS {
            return Err(MarketplaceError::Tags(format!(
                "a listing has at most {MAX_LISTING_TAGS} tags"
            )));
        }
        let mut tags: Vec<String> = Vec::new();
        for tag in &self.tags {
            let tag = normalize_tag(tag)?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let currency = self.currency.trim().to_lowercase();
        if !CURRENCIES.contains(&currency.as_str()) {
            return Err(MarketplaceError::Currency);
        }
        match self.pricing {
            Pricing::Free if self.price_minor != 0 => {
                return Err(MarketplaceError::Price(
                    "a free listing has a price of 0".into(),
                ));
            }
            Pricing::OneOff | Pricing::Monthly
                if !(MIN_PAID_PRICE_MINOR..=MAX_PRICE_MINOR).contains(&self.price_minor) =>
            {
                return Err(MarketplaceError::Price(format!(
                    "a price is from {} to {} (in minor units: cents)",
                    MIN_PAID_PRICE_MINOR, MAX_PRICE_MINOR
                )));
            }
            _ => {}
        }
        Ok(Self {
            title,
            description,
            tags,
            pricing: self.pricing,
            price_minor: self.price_minor,
            currency,
        })
    }
}

/// A review's text, checked (it may be empty: a rating alone).
pub fn checked_review(rating: u8, text: &str) -> Result<String, MarketplaceError> {
    if !(1..=5).contains(&rating) {
        return Err(MarketplaceError::Rating);
    }
    paragraphs("review", text, MAX_REVIEW_CHARS, true)
}

/// A report's reason, checked.
pub fn checked_report(reason: &str) -> Result<String, MarketplaceError> {
    paragraphs("reason", reason, MAX_REPORT_CHARS, false)
}

/// A commission rate an admin may set, in basis points (0 to 50%).
pub fn checked_commission(bps: u32) -> Result<u32, MarketplaceError> {
    if bps > MAX_COMMISSION_BPS {
        return Err(MarketplaceError::Commission);
    }
    Ok(bps)
}

/// How a price splits: the platform's fee and the seller's share, in minor
/// units, summing to the price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// The platform's commission.
    pub fee_minor: u64,
    /// What the seller is paid.
    pub seller_minor: u64,
}

/// Splits `price_minor` at `rate_bps` (basis points, at most 10,000): the
/// fee is the exact commission rounded half up to a whole minor unit.
pub fn commission_split(price_minor: u64, rate_bps: u32) -> Split {
    let rate = u128::from(rate_bps.min(10_000));
    let fee = (u128::from(price_minor) * rate + 5_000) / 10_000;
    // fee <= price since rate <= 10,000.
    let fee_minor = u64::try_from(fee).unwrap_or(price_minor).min(price_minor);
    Split {
        fee_minor,
        seller_minor: price_minor - fee_minor,
    }
}

/// How search results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingSort {
    /// Best match first (newest first without a search text).
    #[default]
    Relevance,
    /// Newest first.
    Newest,
    /// Most bought first.
    MostBought,
    /// Best rated first.
    Rating,
    /// Cheapest first.
    PriceLow,
    /// Dearest first.
    PriceHigh,
}

impl ListingSort {
    /// The sort named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "relevance" => Some(Self::Relevance),
            "newest" => Some(Self::Newest),
            "most_bought" => Some(Self::MostBought),
            "rating" => Some(Self::Rating),
            "price_low" => Some(Self::PriceLow),
            "price_high" => Some(Self::PriceHigh),
            _ => None,
        }
    }
}

/// The words of a search text that are searched for: runs of letters and
/// digits, lower case, at most [`MAX_SEARCH_TERMS`]. Everything else (a
/// full-text engine's operators and quotes among it) separates words, so a
/// search is never read as query syntax.
pub fn search_terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.to_lowercase().chars().take(40).collect::<String>())
        .take(MAX_SEARCH_TERMS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn draft() -> ListingDraft {
        ListingDraft {
            title: "Contract reviewer".into(),
            description: "Reads a contract.\nFlags risky clauses.".into(),
            tags: vec!["Legal".into(), "contracts".into(), "legal".into()],
            pricing: Pricing::OneOff,
            price_minor: 1_500,
            currency: "USD".into(),
        }
    }

    proptest! {
        /// Fee and share always sum to the price, and the fee is the exact
        /// commission rounded to the nearest minor unit (halves up).
        #[test]
        fn commission_split_sums_to_price(price in 0u64..=MAX_PRICE_MINOR * 1_000, rate in 0u32..=10_000) {
            let split = commission_split(price, rate);
            prop_assert_eq!(split.fee_minor + split.seller_minor, price);
            let exact = price as f64 * rate as f64 / 10_000.0;
            prop_assert!((split.fee_minor as f64 - exact).abs() <= 0.5 + 1e-9);
            if (exact - exact.floor() - 0.5).abs() < 1e-9 {
                prop_assert_eq!(split.fee_minor as f64, exact.ceil());
            }
        }

        /// Whatever a search says, its terms are plain words.
        #[test]
        fn search_terms_are_plain_words(text in ".{0,300}") {
            let terms = search_terms(&text);
            prop_assert!(terms.len() <= MAX_SEARCH_TERMS);
            for term in terms {
                prop_assert!(!term.is_empty() && term.chars().all(char::is_alphanumeric));
            }
        }
    }

    #[test]
    fn a_split_at_twenty_percent() {
        assert_eq!(
            commission_split(1_999, DEFAULT_COMMISSION_BPS),
            Split {
                fee_minor: 400,
                seller_minor: 1_599
            }
        );
        assert_eq!(commission_split(5, 5_000).fee_minor, 3, "2.5 rounds up");
        assert_eq!(commission_split(0, 2_000).fee_minor, 0);
    }

    #[test]
    fn drafts_are_normalised_and_bad_ones_refused() {
        let checked = draft().checked().unwrap();
        assert_eq!(checked.tags, ["legal", "contracts"]);
        assert_eq!(checked.currency, "usd");
        let refused = |change: &dyn Fn(&mut ListingDraft)| {
            let mut bad = draft();
            change(&mut bad);
            bad.checked().unwrap_err()
        };
        assert_eq!(
            refused(&|d| d.currency = "btc".into()),
            MarketplaceError::Currency
        );
        assert!(matches!(
            refused(&|d| d.price_minor = MAX_PRICE_MINOR + 1),
            MarketplaceError::Price(_)
        ));
        assert!(matches!(
            refused(&|d| d.price_minor = 0),
            MarketplaceError::Price(_)
        ));
        assert!(matches!(
            refused(&|d| {
                d.pricing = Pricing::Free;
                d.price_minor = 10;
            }),
            MarketplaceError::Price(_)
        ));
        assert!(matches!(
            refused(&|d| d.title = "a\u{202E}b".into()),
            MarketplaceError::Text(_)
        ));
        assert!(matches!(
            refused(&|d| d.title = "x".repeat(121)),
            MarketplaceError::Text(_)
        ));
        assert!(matches!(
            refused(&|d| d.description = "a\u{0}b".into()),
            MarketplaceError::Text(_)
        ));
        assert!(matches!(
            refused(&|d| d.tags = (0..200).map(|n| format!("t{n}")).collect()),
            MarketplaceError::Tags(_)
        ));
        assert!(matches!(
            refused(&|d| d.tags = vec!["<script>".into()]),
            MarketplaceError::Tags(_)
        ));
        assert_eq!(checked_review(0, "meh"), Err(MarketplaceError::Rating));
        assert_eq!(checked_review(5, "  Great.  ").unwrap(), "Great.");
    }

    #[test]
    fn search_syntax_is_not_query_syntax() {
        assert_eq!(
            search_terms(r#"contract" OR title:*  NEAR(a b) -x"#),
            ["contract", "or", "title", "near", "a", "b", "x"]
        );
    }
}
