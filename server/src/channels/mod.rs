//! Messenger channels: the wire protocols of the Telegram Bot API
//! ([`telegram`]) and the WhatsApp Cloud API ([`whatsapp`]) — sending
//! answers (split at the platforms' length limits, retried as they ask),
//! reading their deliveries, checking their secrets. What a message does
//! (policy, session, run) is the HTTP layer's (`http/channels.rs`).

pub mod telegram;
pub mod whatsapp;

use std::time::Duration;

/// Where the channels' platforms are, and where they reach this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelsConfig {
    /// This server's public address (`ORRERY_PUBLIC_URL`), which the
    /// platforms deliver webhooks to; without it no bot can be connected.
    pub public_url: Option<String>,
    /// The Bot API (`ORRERY_TELEGRAM_API_BASE`, https://api.telegram.org).
    pub telegram_api_base: String,
    /// The Graph API (`ORRERY_WHATSAPP_API_BASE`, https://graph.facebook.com/v21.0).
    pub whatsapp_api_base: String,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            telegram_api_base: "https://api.telegram.org".into(),
            whatsapp_api_base: "https://graph.facebook.com/v21.0".into(),
        }
    }
}

/// Why a platform call failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The platform refused (a bad token, a chat that blocked the bot).
    #[error("{platform} refused: {reason}")]
    Refused {
        /// Telegram or WhatsApp.
        platform: &'static str,
        /// What it said.
        reason: String,
    },
    /// It could not be reached, or kept failing.
    #[error("{platform} could not be reached: {reason}")]
    Unreachable {
        /// Telegram or WhatsApp.
        platform: &'static str,
        /// Why.
        reason: String,
    },
}

/// Attempts per message sent.
pub(crate) const SEND_ATTEMPTS: usize = 5;
/// Longest wait a platform's `retry_after` is honoured for.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How long to wait before sending again after `attempt` failed: what the
/// platform asked for (`retry_after`), or a backoff doubling from 400 ms;
/// never more than [`MAX_RETRY_AFTER`].
pub(crate) fn retry_wait(attempt: usize, retry_after: Option<u64>) -> Duration {
    retry_after
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_millis(200 << attempt.min(8)))
        .min(MAX_RETRY_AFTER)
}

/// The HTTP client the channels share.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("orrery-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the channels' HTTP client builds")
}

/// Splits `text` into pieces of at most `limit` UTF-16 code units (how both
/// platforms count), preferring to cut after a paragraph, then a line, then
/// a space; the pieces joined are exactly `text`.
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut units = 0;
        let mut end = rest.len();
        for (index, character) in rest.char_indices() {
            units += character.len_utf16();
            if units > limit {
                end = index;
                break;
            }
        }
        if end < rest.len() {
            let head = &rest[..end];
            let cut = ["\n\n", "\n", " "]
                .iter()
                .find_map(|separator| {
                    head.rfind(separator)
                        .map(|at| at + separator.len())
                        .filter(|at| *at > end / 2)
                })
                .unwrap_or(end);
            end = cut;
        }
        pieces.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_answers_split_within_the_limit_and_join_back() {
        let text = format!("{}\n\n{}", "word ".repeat(1_500), "ünïcödé 😀 ".repeat(700));
        let pieces = split_text(&text, 4_096);
        assert!(pieces.len() >= 3, "{}", pieces.len());
        assert!(
            pieces
                .iter()
                .all(|piece| piece.encode_utf16().count() <= 4_096)
        );
        assert_eq!(pieces.concat(), text);
        // The first cut falls at the paragraph's end or a space, not mid-word.
        assert!(pieces[0].ends_with(' ') || pieces[0].ends_with('\n'));
        assert_eq!(split_text("short", 4_096), vec!["short".to_owned()]);
        assert!(split_text("", 10).is_empty());
        // A word longer than the limit is cut where it must be.
        let long = "x".repeat(25);
        assert_eq!(split_text(&long, 10).concat(), long);
    }
}
