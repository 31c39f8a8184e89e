//! The windowless half of updates: this installation's id and channel
//! (local settings), and asking the sync server's feed, whose signed answer
//! is checked by `orrery-updates` before anything reads it. Downloading and
//! installing is Tauri's updater, in `crate::updates`.

use orrery_updates::{CheckError, CheckRequest, FeedClient, FeedRelease, UpdateKey};
use serde::Serialize;

use super::{Shell, ShellError};
use orrery_sync::SyncError;

/// The local setting holding this installation's id (made once).
const INSTALLATION: &str = "update_installation";
/// The local setting holding the update channel.
const CHANNEL: &str = "update_channel";

/// How this installation is updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct UpdateSettings {
    /// `stable` or `beta`.
    pub channel: String,
    /// This installation's id: decides where it falls in a staged rollout.
    pub installation: String,
}

impl Shell {
    /// This installation's update settings (its id is made on first use).
    pub async fn update_settings(&self) -> Result<UpdateSettings, ShellError> {
        let store = self.inner.device.store();
        let installation = match store.setting(INSTALLATION).await.map_err(SyncError::from)? {
            Some(id) => id,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                store
                    .set_setting(INSTALLATION, &id)
                    .await
                    .map_err(SyncError::from)?;
                id
            }
        };
        let channel = store
            .setting(CHANNEL)
            .await
            .map_err(SyncError::from)?
            .filter(|channel| channel.parse::<orrery_updates::Channel>().is_ok())
            .unwrap_or_else(|| orrery_updates::Channel::Stable.to_string());
        Ok(UpdateSettings {
            channel,
            installation,
        })
    }

    /// Moves this installation to another channel.
    pub async fn set_update_channel(&self, channel: &str) -> Result<UpdateSettings, ShellError> {
        let channel: orrery_updates::Channel = channel
            .parse()
            .map_err(|error: orrery_updates::RequestError| ShellError::Invalid(error.0))?;
        self.inner
            .device
            .store()
            .set_setting(CHANNEL, channel.as_str())
            .await
            .map_err(SyncError::from)?;
        self.update_settings().await
    }

    /// Asks the sync server's feed for a release newer than `current` for
    /// `target` on this machine's architecture, trusting answers signed
    /// with `feed_key` only.
    pub async fn check_feed(
        &self,
        feed_key: &UpdateKey,
        target: &str,
        current: &semver::Version,
    ) -> Result<Option<FeedRelease>, CheckError> {
        let settings = self
            .update_settings()
            .await
            .map_err(|error| CheckError::Refused(error.to_string()))?;
        let request = CheckRequest {
            target: target.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            current_version: current.clone(),
            channel: settings.channel.parse().unwrap_or_default(),
            installation: settings.installation,
        };
        FeedClient::new(&self.inner.server_url, feed_key.clone())
            .check(&request, chrono::Utc::now())
            .await
    }

    /// The sync server's address.
    pub fn server_url(&self) -> &str {
        &self.inner.server_url
    }
}
