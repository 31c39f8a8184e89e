//! Where the desktop keeps its session: the OS keyring (Secret Service over
//! D-Bus on Linux, through the `keyring` crate). One entry per sync server
//! holds the access token, the refresh token and the last known account, so
//! the app starts signed in, even offline. Tokens never go to the webview, the
//! local database or a plain file. Model providers' API keys are kept here
//! too, one entry per provider, and never leave the shell either.

use orrery_account::Session;

/// Why the keyring could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// No keyring service answers (no Secret Service on this desktop).
    #[error(
        "the system keyring is not available ({0}); you will need to sign in each time Orrery starts"
    )]
    Unavailable(String),
    /// The stored entry cannot be read back.
    #[error("the saved sign-in in the system keyring is unreadable ({0}); sign in again")]
    Corrupt(String),
}

/// The session store in the OS keyring.
#[derive(Debug, Clone)]
pub struct KeyringVault {
    service: String,
}

impl KeyringVault {
    /// Entries under keyring service `service` (the app uses `orrery`).
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
        }
    }

    fn entry(&self, server_url: &str) -> Result<keyring::Entry, VaultError> {
        keyring::Entry::new(&self.service, &format!("session {server_url}"))
            .map_err(|error| VaultError::Unavailable(error.to_string()))
    }

    async fn blocking<T: Send + 'static>(
        work: impl FnOnce() -> Result<T, VaultError> + Send + 'static,
    ) -> Result<T, VaultError> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| VaultError::Unavailable(error.to_string()))?
    }

    /// The session saved for `server_url`, if any.
    pub async fn load(&self, server_url: &str) -> Result<Option<Session>, VaultError> {
        let entry = self.entry(server_url)?;
        Self::blocking(move || match entry.get_password() {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|error| VaultError::Corrupt(error.to_string())),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(VaultError::Unavailable(error.to_string())),
        })
        .await
    }

    /// Saves (replaces) the session for `server_url`.
    pub async fn save(&self, server_url: &str, session: &Session) -> Result<(), VaultError> {
        let entry = self.entry(server_url)?;
        let text = serde_json::to_string(session).expect("a session serialises");
        Self::blocking(move || {
            entry
                .set_password(&text)
                .map_err(|error| VaultError::Unavailable(error.to_string()))
        })
        .await
    }

    /// Forgets the session for `server_url`.
    pub async fn clear(&self, server_url: &str) -> Result<(), VaultError> {
        let entry = self.entry(server_url)?;
        Self::blocking(move || match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(error) => Err(VaultError::Unavailable(error.to_string())),
        })
        .await
    }

    fn key_entry(&self, name: &str) -> Result<keyring::Entry, VaultError> {
        keyring::Entry::new(&self.service, &format!("api key {name}"))
            .map_err(|error| VaultError::Unavailable(error.to_string()))
    }

    /// The API key saved as `name`, if any.
    pub async fn api_key(&self, name: &str) -> Result<Option<String>, VaultError> {
        let entry = self.key_entry(name)?;
        Self::blocking(move || match entry.get_password() {
            Ok(key) => Ok(Some(key)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(VaultError::Unavailable(error.to_string())),
        })
        .await
    }

    /// Saves (replaces) the API key `name`; an empty key forgets it.
    pub async fn save_api_key(&self, name: &str, key: &str) -> Result<(), VaultError> {
        let entry = self.key_entry(name)?;
        let key = key.to_owned();
        Self::blocking(move || {
            if key.is_empty() {
                return match entry.delete_credential() {
                    Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                    Err(error) => Err(VaultError::Unavailable(error.to_string())),
                };
            }
            entry
                .set_password(&key)
                .map_err(|error| VaultError::Unavailable(error.to_string()))
        })
        .await
    }
}
