//! What an API key may do. A key carries an explicit set of scopes, chosen
//! when it is created; each route a key may call names the one scope it needs,
//! and every other route (managing keys, changing the account, billing,
//! signing out, administration) refuses keys whatever their scopes.
//!
//! Scopes are written as in OAuth 2: space-separated names
//! (`"graphs:read library:read"`).
//!
//! A key is also either live or test ([`ApiKeyMode`]): its prefix says which,
//! and a test key's runs go to the tenant's test provider and are seen only
//! by test keys, as with payment APIs' test mode.

use std::fmt;

/// One thing an API key may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiScope {
    /// List graphs and pull them (sync without sending changes).
    GraphsRead,
    /// Send changes to graphs (sync with updates).
    GraphsWrite,
    /// List library documents and pull them.
    LibraryRead,
    /// Send changes to library documents.
    LibraryWrite,
    /// Read the account, its plan's usage, and ask the policy engine.
    AccountRead,
    /// Listen on the live change feed.
    Live,
    /// Start runs of agents and graphs, and cancel them (the public API).
    RunsWrite,
    /// Read runs and follow their events.
    RunsRead,
}

impl ApiScope {
    /// Every scope, in the order they are written.
    pub const ALL: [ApiScope; 8] = [
        ApiScope::GraphsRead,
        ApiScope::GraphsWrite,
        ApiScope::LibraryRead,
        ApiScope::LibraryWrite,
        ApiScope::AccountRead,
        ApiScope::Live,
        ApiScope::RunsWrite,
        ApiScope::RunsRead,
    ];

    /// Its written name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::GraphsRead => "graphs:read",
            ApiScope::GraphsWrite => "graphs:write",
            ApiScope::LibraryRead => "library:read",
            ApiScope::LibraryWrite => "library:write",
            ApiScope::AccountRead => "account:read",
            ApiScope::Live => "live",
            ApiScope::RunsWrite => "runs:write",
            ApiScope::RunsRead => "runs:read",
        }
    }

    /// The scope with this written name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for ApiScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a key works on live data or in test mode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyMode {
    /// Runs go to the tenant's live provider.
    #[default]
    Live,
    /// Runs go to the tenant's test provider; test keys see only test runs.
    Test,
}

impl ApiKeyMode {
    /// Its written name: `live` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyMode::Live => "live",
            ApiKeyMode::Test => "test",
        }
    }

    /// The mode with this written name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "live" => Some(ApiKeyMode::Live),
            "test" => Some(ApiKeyMode::Test),
            _ => None,
        }
    }
}

impl fmt::Display for ApiKeyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ApiScopes(u8);

/// Why a list of scopes was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiScopeError {
    /// A name that is not a scope.
    #[error(
        "unknown scope `{0}`; scopes are graphs:read, graphs:write, library:read, library:write, account:read, live, runs:write and runs:read"
    )]
    Unknown(String),
    /// No scope at all.
    #[error("a key needs at least one scope")]
    Empty,
}

impl ApiScopes {
    /// Every scope: what a key gets when none are named.
    pub fn all() -> Self {
        ApiScope::ALL.into_iter().collect()
    }

    /// Whether `scope` is in the set.
    pub fn allows(self, scope: ApiScope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes in the set, in written order.
    pub fn iter(self) -> impl Iterator<Item = ApiScope> {
        ApiScope::ALL
            .into_iter()
            .filter(move |scope| self.allows(*scope))
    }

    /// Reads space-separated names (as stored), refusing unknown ones.
    pub fn parse(text: &str) -> Result<Self, ApiScopeError> {
        Self::from_names(text.split_whitespace())
    }

    /// Reads a list of names, refusing unknown ones and an empty list.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ApiScopeError> {
        let mut scopes = ApiScopes::default();
        for name in names {
            let scope = ApiScope::parse(name)
                .ok_or_else(|| ApiScopeError::Unknown(name.chars().take(40).collect()))?;
            scopes.0 |= scope.bit();
        }
        if scopes.0 == 0 {
            return Err(ApiScopeError::Empty);
        }
        Ok(scopes)
    }

    /// The written names.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(ApiScope::as_str).collect()
    }
}

impl FromIterator<ApiScope> for ApiScopes {
    fn from_iter<T: IntoIterator<Item = ApiScope>>(scopes: T) -> Self {
        ApiScopes(scopes.into_iter().fold(0, |bits, scope| bits | scope.bit()))
    }
}

/// Space-separated, as stored.
impl fmt::Display for ApiScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(" "))
    }
}

impl fmt::Debug for ApiScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiScopes({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_refuse_unknown_names() {
        let scopes = ApiScopes::parse("library:read  graphs:read").unwrap();
        assert!(scopes.allows(ApiScope::GraphsRead));
        assert!(scopes.allows(ApiScope::LibraryRead));
        assert!(!scopes.allows(ApiScope::GraphsWrite));
        assert_eq!(scopes.to_string(), "graphs:read library:read");
        let runs = ApiScopes::parse("runs:read runs:write").unwrap();
        assert!(runs.allows(ApiScope::RunsRead) && runs.allows(ApiScope::RunsWrite));
        assert!(!runs.allows(ApiScope::Live));
        assert_eq!(
            ApiScopes::parse(&ApiScopes::all().to_string()),
            Ok(ApiScopes::all())
        );
        assert_eq!(
            ApiScopes::parse("graphs:read keys:manage"),
            Err(ApiScopeError::Unknown("keys:manage".into()))
        );
        assert_eq!(ApiScopes::parse(" "), Err(ApiScopeError::Empty));
    }
}
