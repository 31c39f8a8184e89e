//! The provider each tenant's server-side runs call, one per key mode (live,
//! test): settings checked like the desktop's, the provider's API key sealed
//! with the operator's secrets key, and built providers kept between runs
//! (one HTTP client per tenant and mode, rebuilt when the settings change).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use orrery_domain::api_scope::ApiKeyMode;
use orrery_runtime::{HttpProvider, ProviderSettings};
use orrery_store::{ServerStore, StoreError};
use uuid::Uuid;

use super::sealed::{SealError, SecretsKey};

/// How the server runs agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsConfig {
    /// The operator's key that seals tenants' provider keys; without one,
    /// tenants cannot set providers that need a key.
    pub secrets_key: Option<SecretsKey>,
    /// Whether tenants' providers may be on loopback or private addresses
    /// (a server for one person or for tests; off on a shared server, so
    /// tenants cannot reach the operator's own network through it).
    pub private_provider_hosts: bool,
    /// Runs calling models at once; later runs wait, queued.
    pub max_concurrent: usize,
    /// The tools a run's tool nodes may give its agents (by name):
    /// `calculator` and `current_time` unless the operator says otherwise
    /// (`--run-tools`); tools that reach the network or files never run here.
    pub allowed_tools: Vec<String>,
}

impl Default for RunsConfig {
    fn default() -> Self {
        Self {
            secrets_key: None,
            private_provider_hosts: false,
            max_concurrent: 512,
            allowed_tools: vec!["calculator".into(), "current_time".into()],
        }
    }
}

/// Why a provider could not be set or used.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Settings the runtime refuses, or an address not allowed here.
    #[error("{0}")]
    Invalid(String),
    /// The operator set no secrets key, so no key can be kept.
    #[error("this server keeps no provider keys: its operator has not set ORRERY_SECRETS_KEY")]
    NoSecretsKey,
    /// No provider is set for the mode.
    #[error(
        "no provider is set for {0} runs: set one in Orrery's Channels screen (\"Use this app's provider\") or with PUT /v1/run-providers/{0}"
    )]
    NotSet(ApiKeyMode),
    /// A stored key did not open.
    #[error(transparent)]
    Sealed(#[from] SealError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored provider's settings do not read.
    #[error("the stored run provider could not be read: {0}")]
    Corrupt(String),
}

/// A tenant's provider as shown to them (never with its key).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProviderView {
    /// Live or test.
    pub mode: ApiKeyMode,
    /// The settings.
    pub settings: ProviderSettings,
    /// Whether a key is kept for it.
    pub has_api_key: bool,
    /// When it was last set.
    pub updated_at: String,
}

/// Whether an address is one a tenant's provider may not use on a shared
/// server: loopback, private, link-local, unspecified or `localhost`.
fn is_private_host(host: &url::Host<&str>) -> bool {
    let ip = match host {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            return name == "localhost" || name.ends_with(".localhost");
        }
        url::Host::Ipv4(ip) => IpAddr::V4(*ip),
        url::Host::Ipv6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(*ip),
        },
    };
    match ip {
        IpAddr::V4(ip) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64 // 100.64/10
        }
        IpAddr::V6(ip) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (ip.segments()[0] & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// Built providers, by tenant and mode, with the settings' time.
pub struct ProviderCache {
    store: ServerStore,
    config: RunsConfig,
    built: Mutex<HashMap<(Uuid, ApiKeyMode), (String, HttpProvider)>>,
}

/// Most tenants' providers kept built at once.
const MAX_BUILT: usize = 4_096;

fn owner(tenant: Uuid, mode: ApiKeyMode) -> String {
    format!("run-provider/{tenant}/{mode}")
}

impl ProviderCache {
    pub(super) fn new(store: ServerStore, config: RunsConfig) -> Self {
        Self {
            store,
            config,
            built: Mutex::new(HashMap::new()),
        }
    }

    fn built(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(Uuid, ApiKeyMode), (String, HttpProvider)>> {
        self.built
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The operator's secrets key, if one was given.
    pub fn secrets_key(&self) -> Option<&SecretsKey> {
        self.config.secrets_key.as_ref()
    }

    /// Checks settings as a tenant gives them.
    pub fn check(
        &self,
        settings: &ProviderSettings,
        api_key: Option<&str>,
    ) -> Result<(), ProviderError> {
        settings
            .validate()
            .map_err(|error| ProviderError::Invalid(error.to_string()))?;
        let url = url::Url::parse(settings.base_url.trim()).map_err(|error| {
            ProviderError::Invalid(format!("the base URL is not valid: {error}"))
        })?;
        if !self.config.private_provider_hosts && url.host().as_ref().is_some_and(is_private_host) {
            return Err(ProviderError::Invalid(
                "the base URL points at a loopback or private address, which this server does not call for tenants".into(),
            ));
        }
        // Building it checks the key's presence and form.
        HttpProvider::new(settings.clone(), api_key.map(str::to_owned))
            .map_err(|error| ProviderError::Invalid(error.to_string()))?;
        Ok(())
    }

    /// Sets a tenant's provider for `mode`: checked, its key sealed.
    pub async fn set(
        &self,
        tenant: Uuid,
        mode: ApiKeyMode,
        settings: &ProviderSettings,
        api_key: Option<&str>,
        user: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), ProviderError> {
        let api_key = api_key.map(str::trim).filter(|key| !key.is_empty());
        self.check(settings, api_key)?;
        let sealed = match api_key {
            None => None,
            Some(key) => Some(
                self.config
                    .secrets_key
                    .as_ref()
                    .ok_or(ProviderError::NoSecretsKey)?
                    .seal(key, &owner(tenant, mode)),
            ),
        };
        let json = serde_json::to_string(settings)
            .map_err(|error| ProviderError::Invalid(error.to_string()))?;
        self.store
            .put_run_provider(tenant, mode, &json, sealed.as_deref(), user, now)
            .await?;
        self.built().remove(&(tenant, mode));
        Ok(())
    }

    /// Removes a tenant's provider for `mode`; whether there was one.
    pub async fn remove(&self, tenant: Uuid, mode: ApiKeyMode) -> Result<bool, ProviderError> {
        self.built().remove(&(tenant, mode));
        Ok(self.store.delete_run_provider(tenant, mode).await?)
    }

    /// A tenant's providers as shown to them.
    pub async fn list(&self, tenant: Uuid) -> Result<Vec<ProviderView>, ProviderError> {
        let mut views = Vec::new();
        for mode in [ApiKeyMode::Live, ApiKeyMode::Test] {
            if let Some(stored) = self.store.run_provider(tenant, mode).await? {
                views.push(ProviderView {
                    mode,
                    settings: serde_json::from_str(&stored.settings)
                        .map_err(|error| ProviderError::Corrupt(error.to_string()))?,
                    has_api_key: stored.sealed_key.is_some(),
                    updated_at: stored.updated_at,
                });
            }
        }
        Ok(views)
    }

    /// The provider a run in `mode` calls, built once per settings change.
    pub async fn provider(
        &self,
        tenant: Uuid,
        mode: ApiKeyMode,
    ) -> Result<HttpProvider, ProviderError> {
        let stored = self
            .store
            .run_provider(tenant, mode)
            .await?
            .ok_or(ProviderError::NotSet(mode))?;
        if let Some((at, provider)) = self.built().get(&(tenant, mode))
            && *at == stored.updated_at
        {
            return Ok(provider.clone());
        }
        let settings: ProviderSettings = serde_json::from_str(&stored.settings)
            .map_err(|error| ProviderError::Corrupt(error.to_string()))?;
        let api_key = match &stored.sealed_key {
            None => None,
            Some(sealed) => Some(
                self.config
                    .secrets_key
                    .as_ref()
                    .ok_or(ProviderError::NoSecretsKey)?
                    .open(sealed, &owner(tenant, mode))?,
            ),
        };
        let provider = HttpProvider::new(settings, api_key)
            .map_err(|error| ProviderError::Invalid(error.to_string()))?;
        let mut built = self.built();
        if built.len() >= MAX_BUILT {
            built.clear();
        }
        built.insert((tenant, mode), (stored.updated_at, provider.clone()));
        Ok(provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_loopback_hosts_are_told_apart_from_public_ones() {
        for private in [
            "http://127.0.0.1:11434/v1",
            "http://localhost/v1",
            "http://api.localhost/v1",
            "http://10.1.2.3/v1",
            "http://192.168.0.10/v1",
            "http://169.254.169.254/latest",
            "http://[::1]:8080/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
        ] {
            let url = url::Url::parse(private).unwrap();
            assert!(is_private_host(&url.host().unwrap()), "{private}");
        }
        for public in [
            "https://api.anthropic.com",
            "https://8.8.8.8/v1",
            "https://[2001:db8::1]/",
        ] {
            let url = url::Url::parse(public).unwrap();
            assert!(!is_private_host(&url.host().unwrap()), "{public}");
        }
    }
}
