//! The WhatsApp Cloud API: the webhook's verification handshake
//! (`hub.mode=subscribe`, `hub.verify_token`, echo `hub.challenge`),
//! deliveries signed with the app secret (`X-Hub-Signature-256:
//! sha256=<HMAC-SHA256 of the raw body>`, checked in constant time), and
//! text answers sent through `POST /{phone-number-id}/messages`, split at
//! 4,096 characters and retried when the Graph API is busy. A business may
//! answer freely only within 24 hours of the person's last message.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::{ChannelError, SEND_ATTEMPTS, split_text};

/// The header a delivery's signature is in.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// WhatsApp's limit on one text message.
pub const MAX_MESSAGE_CHARS: usize = 4_096;
/// Hours after a person's last message in which a business may answer.
pub const REPLY_WINDOW_HOURS: i64 = 24;
/// Longest `hub.challenge` echoed.
pub const MAX_CHALLENGE_CHARS: usize = 128;
const PLATFORM: &str = "WhatsApp";

/// Whether `signature` (the header's value) is the app secret's HMAC of `body`.
pub fn signature_holds(app_secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
        .collect()
}

/// A delivery (the fields a bot reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Delivery {
    /// `whatsapp_business_account`.
    pub object: String,
    /// Changes, by account.
    #[serde(default)]
    pub entry: Vec<Entry>,
}

/// One account's changes.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// The changes.
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// One change.
#[derive(Debug, Clone, Deserialize)]
pub struct Change {
    /// What changed.
    pub value: ChangeValue,
}

/// Messages received (statuses of sent ones are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct ChangeValue {
    /// New messages.
    #[serde(default)]
    pub messages: Vec<InboundMessage>,
}

/// A message a person sent.
#[derive(Debug, Clone, Deserialize)]
pub struct InboundMessage {
    /// Their number.
    pub from: String,
    /// The message's id (`wamid...`); a delivery sent again has the same one.
    pub id: String,
    /// `text`, `image`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The text, for text messages.
    #[serde(default)]
    pub text: Option<TextBody>,
}

/// A text message's body.
#[derive(Debug, Clone, Deserialize)]
pub struct TextBody {
    /// What it says.
    pub body: String,
}

impl Delivery {
    /// Every message in the delivery.
    pub fn messages(&self) -> impl Iterator<Item = &InboundMessage> {
        self.entry
            .iter()
            .flat_map(|entry| &entry.changes)
            .flat_map(|change| &change.value.messages)
    }
}

/// A Graph API client.
#[derive(Clone)]
pub struct WhatsAppApi {
    http: reqwest::Client,
    base: String,
}

impl WhatsAppApi {
    /// A client of the Graph API at `base` (with its version).
    pub fn new(base: &str) -> Self {
        Self {
            http: super::http_client(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// Sends `text` to `to` from the number `phone_number_id`, in pieces of
    /// at most 4,096 characters, each retried when the Graph API is busy.
    pub async fn send_text(
        &self,
        access_token: &str,
        phone_number_id: &str,
        to: &str,
        text: &str,
    ) -> Result<usize, ChannelError> {
        let pieces = split_text(text, MAX_MESSAGE_CHARS);
        for piece in &pieces {
            let body = json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": { "preview_url": false, "body": piece },
            });
            let mut attempt = 0;
            loop {
                attempt += 1;
                let sent = self
                    .http
                    .post(format!("{}/{phone_number_id}/messages", self.base))
                    .bearer_auth(access_token)
                    .json(&body)
                    .send()
                    .await;
                let (error, retry_after) = match sent {
                    Ok(response) if response.status().is_success() => break,
                    Ok(response) => {
                        let status = response.status();
                        let retry_after = response
                            .headers()
                            .get("retry-after")
                            .and_then(|value| value.to_str().ok())
                            .and_then(|value| value.parse::<u64>().ok());
                        let answer: serde_json::Value = response.json().await.unwrap_or_default();
                        let reason = answer["error"]["message"]
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("HTTP {status}"));
                        if !(status.is_server_error() || status.as_u16() == 429) {
                            return Err(ChannelError::Refused {
                                platform: PLATFORM,
                                reason,
                            });
                        }
                        (
                            ChannelError::Unreachable {
                                platform: PLATFORM,
                                reason,
                            },
                            retry_after,
                        )
                    }
                    Err(error) => (
                        ChannelError::Unreachable {
                            platform: PLATFORM,
                            reason: error.without_url().to_string(),
                        },
                        None,
                    ),
                };
                if attempt >= SEND_ATTEMPTS {
                    return Err(error);
                }
                tokio::time::sleep(super::retry_wait(attempt, retry_after)).await;
            }
        }
        Ok(pieces.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_hold_only_for_the_secret_and_the_exact_body() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let header = format!("sha256={hex}");
        assert!(signature_holds("app-secret", body, &header));
        assert!(!signature_holds("other-secret", body, &header));
        assert!(!signature_holds("app-secret", b"{}", &header));
        assert!(!signature_holds("app-secret", body, &hex));
        assert!(!signature_holds("app-secret", body, "sha256=zz"));
        assert!(!signature_holds("app-secret", body, ""));
    }
}
