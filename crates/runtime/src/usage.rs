//! Usage events: one per model call, whatever its end (answered, failed,
//! cancelled), with tokens in and out, latency, attempts and a cost
//! estimate from a configurable price table. The runtime only reports;
//! whoever listens (the desktop's meter, the server's usage table) decides
//! what a call is allowed to cost. Nothing here knows plans or payments.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ProviderKind;

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum UsageOutcome {
    /// The answer arrived whole.
    Completed,
    /// The call failed; `error` is the message the user saw.
    Failed {
        /// The error, in words.
        error: String,
    },
    /// The call was cancelled.
    Cancelled,
}

/// What one model call used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// Which wire format.
    pub provider: ProviderKind,
    /// Which model.
    pub model: String,
    /// Who asked (an agent's name, a sandbox step), if the caller said.
    pub label: Option<String>,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
    /// Whether the provider reported the token counts; when it did not,
    /// they are estimated from the text (four characters a token).
    pub tokens_reported: bool,
    /// From the first request to the end, in ms.
    pub latency_ms: u64,
    /// From the first request to the first piece of text, in ms.
    pub first_token_ms: Option<u64>,
    /// How many requests were made (retries included).
    pub attempts: u32,
    /// The estimated cost in nanodollars (10⁻⁹ USD), when the model's price
    /// is known.
    pub cost_nanodollars: Option<u64>,
    /// How the call ended.
    #[serde(flatten)]
    pub outcome: UsageOutcome,
}

impl UsageEvent {
    /// The estimated cost in US cents, for display.
    pub fn cost_cents(&self) -> Option<f64> {
        self.cost_nanodollars
            .map(|nanodollars| nanodollars as f64 / 10_000_000.0)
    }
}

/// Where usage events go: a callback, typically the sending half of a channel.
#[derive(Clone)]
pub struct UsageSink(Arc<dyn Fn(UsageEvent) + Send + Sync>);

impl UsageSink {
    /// Calls `record` with every event.
    pub fn new(record: impl Fn(UsageEvent) + Send + Sync + 'static) -> Self {
        Self(Arc::new(record))
    }

    /// A sink and the channel its events arrive on.
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<UsageEvent>) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        (
            Self::new(move |event| {
                // Nobody listening any more is not the runtime's problem.
                let _ = sender.send(event);
            }),
            receiver,
        )
    }

    /// A sink that drops every event.
    pub fn none() -> Self {
        Self::new(|_| {})
    }

    /// Reports `event`.
    pub fn record(&self, event: UsageEvent) {
        (self.0)(event);
    }
}

impl Default for UsageSink {
    fn default() -> Self {
        Self::none()
    }
}

impl std::fmt::Debug for UsageSink {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("UsageSink")
    }
}

/// One model's list price, in nanodollars (10⁻⁹ USD) per token — the same
/// number as US dollars per billion tokens: $3 per million tokens is 3,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Per prompt token.
    pub input_nanodollars_per_token: u64,
    /// Per answer token.
    pub output_nanodollars_per_token: u64,
}

impl ModelPrice {
    /// A price given in US dollars per million tokens, as price lists say.
    /// Fractions below a nanodollar per token are rounded to the nearest.
    pub fn per_million_tokens(input_usd: f64, output_usd: f64) -> Self {
        let nanodollars = |usd: f64| (usd * 1_000.0).round().max(0.0) as u64;
        Self {
            input_nanodollars_per_token: nanodollars(input_usd),
            output_nanodollars_per_token: nanodollars(output_usd),
        }
    }
}

/// Prices by model. A key is a model name, or a prefix ending in `*`
/// (`claude-3-5-haiku*`); an exact name wins over prefixes, and a longer
/// prefix over a shorter one. Models not in the table have no estimate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    /// Model name or prefix → price.
    pub models: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    /// An empty table: no estimates.
    pub fn new() -> Self {
        Self::default()
    }

    /// Published list prices of a few hosted models (USD per million tokens,
    /// as of 2025), as a starting point that settings override. Models
    /// served locally are free: the desktop adds `"*"` at zero for a local
    /// provider.
    pub fn list_prices() -> Self {
        Self::new()
            .with("gpt-4o-mini*", ModelPrice::per_million_tokens(0.15, 0.60))
            .with("gpt-4o*", ModelPrice::per_million_tokens(2.50, 10.00))
            .with(
                "claude-3-5-haiku*",
                ModelPrice::per_million_tokens(0.80, 4.00),
            )
            .with(
                "claude-3-5-sonnet*",
                ModelPrice::per_million_tokens(3.00, 15.00),
            )
            .with(
                "claude-sonnet-4*",
                ModelPrice::per_million_tokens(3.00, 15.00),
            )
            .with(
                "gemini-2.0-flash*",
                ModelPrice::per_million_tokens(0.10, 0.40),
            )
            .with(
                "gemini-1.5-flash*",
                ModelPrice::per_million_tokens(0.075, 0.30),
            )
    }

    /// This table with `pattern` priced at `price`.
    pub fn with(mut self, pattern: impl Into<String>, price: ModelPrice) -> Self {
        self.models.insert(pattern.into(), price);
        self
    }

    /// The price of `model`, if the table knows it.
    pub fn price(&self, model: &str) -> Option<ModelPrice> {
        if let Some(price) = self.models.get(model) {
            return Some(*price);
        }
        self.models
            .iter()
            .filter_map(|(pattern, price)| {
                let prefix = pattern.strip_suffix('*')?;
                model.starts_with(prefix).then_some((prefix.len(), *price))
            })
            .max_by_key(|(length, _)| *length)
            .map(|(_, price)| price)
    }

    /// The estimated cost of a call, in nanodollars.
    pub fn estimate(&self, model: &str, input_tokens: u64, output_tokens: u64) -> Option<u64> {
        let price = self.price(model)?;
        Some(
            input_tokens
                .saturating_mul(price.input_nanodollars_per_token)
                .saturating_add(output_tokens.saturating_mul(price.output_nanodollars_per_token)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_match_exact_names_then_the_longest_prefix() {
        let table = PriceTable::list_prices().with(
            "gpt-4o-mini-special",
            ModelPrice::per_million_tokens(1.0, 2.0),
        );
        assert_eq!(
            table.price("gpt-4o-mini-2024-07-18"),
            Some(ModelPrice::per_million_tokens(0.15, 0.60))
        );
        assert_eq!(
            table.price("gpt-4o-2024-08-06"),
            Some(ModelPrice::per_million_tokens(2.50, 10.00))
        );
        assert_eq!(
            table.price("gpt-4o-mini-special"),
            Some(ModelPrice::per_million_tokens(1.0, 2.0))
        );
        assert_eq!(table.price("llama3.2"), None);
        assert_eq!(table.estimate("llama3.2", 10, 10), None);
        // 1,000 tokens in at $3/M and 500 out at $15/M: 0.3 + 0.75 cents.
        let cost = table
            .estimate("claude-3-5-sonnet-latest", 1_000, 500)
            .unwrap();
        assert_eq!(cost, 3_000_000 + 7_500_000);
        // Fractions of a cent per million survive: $0.075/M is 75 per token.
        assert_eq!(
            table
                .price("gemini-1.5-flash-8b")
                .unwrap()
                .input_nanodollars_per_token,
            75
        );
        let local = PriceTable::new().with("*", ModelPrice::per_million_tokens(0.0, 0.0));
        assert_eq!(local.estimate("anything", 1_000_000, 1_000_000), Some(0));
    }

    #[test]
    fn events_serialise_with_their_outcome_inline() {
        let event = UsageEvent {
            provider: ProviderKind::Gemini,
            model: "gemini-2.0-flash".into(),
            label: Some("researcher".into()),
            input_tokens: 12,
            output_tokens: 34,
            tokens_reported: true,
            latency_ms: 250,
            first_token_ms: Some(80),
            attempts: 2,
            cost_nanodollars: Some(14_800),
            outcome: UsageOutcome::Failed {
                error: "boom".into(),
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["outcome"], "failed");
        assert_eq!(json["error"], "boom");
        assert_eq!(json["provider"], "gemini");
        let back: UsageEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert!((event.cost_cents().unwrap() - 0.00148).abs() < 1e-12);
    }
}
