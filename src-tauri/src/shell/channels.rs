//! The Channels screen's calls: the tenant's Telegram bot and WhatsApp
//! number on the server, and the provider the server calls for them (this
//! app's own provider, copied with its key from the keyring).

use super::{Shell, ShellError};

impl Shell {
    /// The tenant's channels, with their last messages.
    pub async fn channels(&self) -> Result<Vec<orrery_account::MessengerChannel>, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.channels(&token).await })
            .await
    }

    /// Connects a channel; the channels as they are then.
    pub async fn connect_channel(
        &self,
        connection: &orrery_account::ChannelConnection,
    ) -> Result<Vec<orrery_account::MessengerChannel>, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.connect_channel(&token, connection).await })
            .await?;
        self.channels().await
    }

    /// Disconnects the channel of `kind`; the channels as they are then.
    pub async fn disconnect_channel(
        &self,
        kind: &str,
    ) -> Result<Vec<orrery_account::MessengerChannel>, ShellError> {
        let accounts = &self.inner.accounts;
        self.with_token(|token| async move { accounts.disconnect_channel(&token, kind).await })
            .await?;
        self.channels().await
    }

    /// The provider the server calls for live runs, if one is set.
    pub async fn server_provider(
        &self,
    ) -> Result<Option<orrery_account::ServerProvider>, ShellError> {
        let accounts = &self.inner.accounts;
        let providers = self
            .with_token(|token| async move { accounts.server_providers(&token).await })
            .await?;
        Ok(providers
            .into_iter()
            .find(|provider| provider.mode == "live"))
    }

    /// Gives the server this app's provider (settings, and the key from the
    /// keyring) for runs from bots and the API.
    pub async fn share_provider_with_server(
        &self,
    ) -> Result<Option<orrery_account::ServerProvider>, ShellError> {
        let mut settings = self.provider_settings().await?;
        let key = match &settings.api_key_ref {
            Some(name) => self.inner.vault.api_key(name).await?,
            None => None,
        };
        // The keyring entry's name means nothing on the server.
        settings.api_key_ref = None;
        let settings = serde_json::to_value(&settings).expect("provider settings serialise");
        let accounts = &self.inner.accounts;
        self.with_token(|token| {
            let settings = &settings;
            let key = key.as_deref();
            async move { accounts.set_server_provider(&token, settings, key).await }
        })
        .await?;
        self.server_provider().await
    }
}
