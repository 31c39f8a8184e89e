//! The server's messenger channels (`/v1/channels`) and the provider its
//! runs call (`/v1/run-providers/live`), as the desktop's Channels screen
//! uses them. The server checks and keeps the secrets (sealed); these calls
//! carry the signed-in user's token.

use serde::{Deserialize, Serialize};

use crate::{AccountClient, AccountError};

/// A connected Telegram bot or WhatsApp number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MessengerChannel {
    /// Its id.
    pub id: String,
    /// `telegram` or `whatsapp`.
    pub kind: String,
    /// The bot's username, or the number.
    pub name: String,
    /// `agent` or `graph`: what answers.
    pub target: String,
    /// The agent's or graph's id.
    pub target_id: String,
    /// When it was connected.
    pub connected_at: String,
    /// Where the platform delivers messages.
    pub webhook_url: Option<String>,
    /// Its last messages, newest first.
    pub last_messages: Vec<ChannelMessage>,
}

/// A message a channel received or sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ChannelMessage {
    /// The chat (a Telegram chat id, a WhatsApp number).
    pub chat: String,
    /// `in` or `out`.
    pub direction: String,
    /// What it said.
    pub text: String,
    /// received, answered, refused, sent, failed or window_closed.
    pub status: String,
    /// Why, when it was refused or not sent.
    pub detail: Option<String>,
    /// When.
    pub at: String,
}

/// What connecting a channel takes: what answers, and the platform's secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ChannelConnection {
    /// `telegram` or `whatsapp`.
    pub kind: String,
    /// The agent that answers (or `graph_id`).
    pub agent_id: Option<String>,
    /// The graph that answers (or `agent_id`).
    pub graph_id: Option<String>,
    /// Telegram: the token BotFather gave.
    pub bot_token: Option<String>,
    /// WhatsApp: the number's id in Meta's app settings.
    pub phone_number_id: Option<String>,
    /// WhatsApp: the number as people see it.
    pub display_number: Option<String>,
    /// WhatsApp: the access token.
    pub access_token: Option<String>,
    /// WhatsApp: the app secret that signs deliveries.
    pub app_secret: Option<String>,
    /// WhatsApp: the verify token given to Meta's webhook settings.
    pub verify_token: Option<String>,
}

/// The provider the server calls for runs from bots and the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ServerProvider {
    /// `live` or `test`.
    pub mode: String,
    /// Its wire format.
    pub kind: String,
    /// Where it answers.
    pub base_url: String,
    /// The model.
    pub model: String,
    /// Whether a key is kept for it.
    pub has_api_key: bool,
    /// When it was set.
    pub updated_at: String,
}

impl AccountClient {
    /// The tenant's channels.
    pub async fn channels(
        &self,
        access_token: &str,
    ) -> Result<Vec<MessengerChannel>, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/channels"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// Connects a channel (replacing the tenant's channel of that kind).
    pub async fn connect_channel(
        &self,
        access_token: &str,
        connection: &ChannelConnection,
    ) -> Result<(), AccountError> {
        let mut body = serde_json::Map::new();
        let mut put = |name: &str, value: &Option<String>| {
            if let Some(value) = value {
                body.insert(name.into(), value.clone().into());
            }
        };
        put("agent_id", &connection.agent_id);
        put("graph_id", &connection.graph_id);
        let path = match connection.kind.as_str() {
            "telegram" => {
                put("bot_token", &connection.bot_token);
                "/v1/channels/telegram"
            }
            "whatsapp" => {
                put("phone_number_id", &connection.phone_number_id);
                put("display_number", &connection.display_number);
                put("access_token", &connection.access_token);
                put("app_secret", &connection.app_secret);
                put("verify_token", &connection.verify_token);
                "/v1/channels/whatsapp"
            }
            other => {
                return Err(AccountError::Protocol(format!(
                    "`{other}` is not a channel: telegram or whatsapp"
                )));
            }
        };
        let _: serde_json::Value = self
            .json(
                self.http
                    .put(self.url(path))
                    .bearer_auth(access_token)
                    .json(&body),
            )
            .await?;
        Ok(())
    }

    /// Disconnects the tenant's channel of `kind`.
    pub async fn disconnect_channel(
        &self,
        access_token: &str,
        kind: &str,
    ) -> Result<(), AccountError> {
        let path = match kind {
            "telegram" => "/v1/channels/telegram",
            "whatsapp" => "/v1/channels/whatsapp",
            other => {
                return Err(AccountError::Protocol(format!(
                    "`{other}` is not a channel: telegram or whatsapp"
                )));
            }
        };
        self.send(self.http.delete(self.url(path)).bearer_auth(access_token))
            .await?;
        Ok(())
    }

    /// The providers the server calls for the tenant's runs.
    pub async fn server_providers(
        &self,
        access_token: &str,
    ) -> Result<Vec<ServerProvider>, AccountError> {
        let views: Vec<serde_json::Value> = self
            .json(
                self.http
                    .get(self.url("/v1/run-providers"))
                    .bearer_auth(access_token),
            )
            .await?;
        Ok(views
            .iter()
            .map(|view| ServerProvider {
                mode: view["mode"].as_str().unwrap_or_default().to_owned(),
                kind: view["settings"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                base_url: view["settings"]["base_url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                model: view["settings"]["model"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                has_api_key: view["has_api_key"].as_bool().unwrap_or(false),
                updated_at: view["updated_at"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// Sets the provider the server calls for live runs: `settings` as the
    /// runtime writes them, and its key (sealed by the server).
    pub async fn set_server_provider(
        &self,
        access_token: &str,
        settings: &serde_json::Value,
        api_key: Option<&str>,
    ) -> Result<(), AccountError> {
        self.send(
            self.http
                .put(self.url("/v1/run-providers/live"))
                .bearer_auth(access_token)
                .json(&serde_json::json!({ "settings": settings, "api_key": api_key })),
        )
        .await?;
        Ok(())
    }
}
