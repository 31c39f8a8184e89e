//! The Telegram Bot API: `getMe` to check a token, `setWebhook` with a
//! `secret_token` (Telegram then sends it in `X-Telegram-Bot-Api-Secret-Token`
//! with every update), `deleteWebhook`, and `sendMessage`, split at 4,096
//! characters and retried after the `retry_after` a 429 names.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ChannelError, SEND_ATTEMPTS, split_text};

/// The header a webhook delivery carries its secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Telegram's limit on one message.
pub const MAX_MESSAGE_CHARS: usize = 4_096;
const PLATFORM: &str = "Telegram";

/// Whether `token` looks like a bot token (`123456:ABC-...`); anything else
/// is refused before Telegram is called.
pub fn is_bot_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && id.len() <= 20
        && id.bytes().all(|byte| byte.is_ascii_digit())
        && (20..=100).contains(&secret.len())
        && secret
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// An update as Telegram delivers it (the fields a bot reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    /// Its id; a delivery sent again has the same one.
    pub update_id: i64,
    /// A new message, if the update is one.
    #[serde(default)]
    pub message: Option<Message>,
}

/// A message in a chat.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// Where it was written.
    pub chat: Chat,
    /// Its text, if it has any.
    #[serde(default)]
    pub text: Option<String>,
}

/// A chat.
#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    /// Its id.
    pub id: i64,
    /// A group's title.
    #[serde(default)]
    pub title: Option<String>,
    /// A person's first name.
    #[serde(default)]
    pub first_name: Option<String>,
}

/// A Bot API client.
#[derive(Clone)]
pub struct TelegramApi {
    http: reqwest::Client,
    base: String,
}

impl TelegramApi {
    /// A client of the Bot API at `base`.
    pub fn new(base: &str) -> Self {
        Self {
            http: super::http_client(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// Calls `method`; `Ok(result)`, or the error with the `retry_after`
    /// Telegram named, if any.
    async fn call(
        &self,
        token: &str,
        method: &str,
        body: &Value,
    ) -> Result<Result<Value, (ChannelError, Option<u64>)>, ChannelError> {
        let response = self
            .http
            .post(format!("{}/bot{token}/{method}", self.base))
            .json(body)
            .send()
            .await
            .map_err(|error| ChannelError::Unreachable {
                platform: PLATFORM,
                // Never the URL: it holds the token.
                reason: error.without_url().to_string(),
            })?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if answer["ok"] == true {
            return Ok(Ok(answer["result"].clone()));
        }
        let reason = answer["description"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}"));
        let retry_after = answer["parameters"]["retry_after"].as_u64();
        let error = if status.is_server_error() || status.as_u16() == 429 {
            ChannelError::Unreachable {
                platform: PLATFORM,
                reason,
            }
        } else {
            ChannelError::Refused {
                platform: PLATFORM,
                reason,
            }
        };
        Ok(Err((error, retry_after)))
    }

    async fn call_once(
        &self,
        token: &str,
        method: &str,
        body: &Value,
    ) -> Result<Value, ChannelError> {
        self.call(token, method, body)
            .await?
            .map_err(|(error, _)| error)
    }

    /// The bot's username; checks the token.
    pub async fn get_me(&self, token: &str) -> Result<String, ChannelError> {
        let me = self.call_once(token, "getMe", &json!({})).await?;
        Ok(me["username"].as_str().unwrap_or("bot").to_owned())
    }

    /// Sends updates to `url`, each with `secret`.
    pub async fn set_webhook(
        &self,
        token: &str,
        url: &str,
        secret: &str,
    ) -> Result<(), ChannelError> {
        self.call_once(
            token,
            "setWebhook",
            &json!({
                "url": url,
                "secret_token": secret,
                "allowed_updates": ["message"],
                "drop_pending_updates": true,
            }),
        )
        .await
        .map(drop)
    }

    /// Stops the updates.
    pub async fn delete_webhook(&self, token: &str) -> Result<(), ChannelError> {
        self.call_once(token, "deleteWebhook", &json!({}))
            .await
            .map(drop)
    }

    /// Sends `text` to `chat`, in pieces of at most 4,096 characters, each
    /// retried (after the `retry_after` Telegram names, or a short backoff)
    /// when Telegram is busy or unreachable.
    pub async fn send_message(
        &self,
        token: &str,
        chat: i64,
        text: &str,
    ) -> Result<usize, ChannelError> {
        let pieces = split_text(text, MAX_MESSAGE_CHARS);
        for piece in &pieces {
            let body = json!({ "chat_id": chat, "text": piece });
            let mut attempt = 0;
            loop {
                attempt += 1;
                let failure = match self.call(token, "sendMessage", &body).await {
                    Ok(Ok(_)) => break,
                    Ok(Err((ChannelError::Refused { platform, reason }, _))) => {
                        return Err(ChannelError::Refused { platform, reason });
                    }
                    Ok(Err((error, retry_after))) => (error, retry_after),
                    Err(error) => (error, None),
                };
                if attempt >= SEND_ATTEMPTS {
                    return Err(failure.0);
                }
                let wait = super::retry_wait(attempt, failure.1);
                tracing::debug!(
                    attempt,
                    ?wait,
                    "Telegram asked to wait before sending again"
                );
                tokio::time::sleep(wait).await;
            }
        }
        Ok(pieces.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_tokens_are_told_from_garbage() {
        assert!(is_bot_token("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        for bad in [
            "",
            "123456",
            ":AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "12a:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "1:short",
            "1:AAHdqTcvCH1vGWJxfSeofSAs0K5PALD/../x",
        ] {
            assert!(!is_bot_token(bad), "{bad}");
        }
    }
}
