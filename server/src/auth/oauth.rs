//! Sign-in through OAuth 2 providers (Google, GitHub) for a native app
//! (RFC 8252): the desktop sends the user to the provider with a PKCE
//! challenge and a loopback redirect, catches the code, and hands code +
//! verifier to this server, which exchanges them at the provider's token
//! endpoint (the `oauth2` crate) and learns who the user is:
//!
//! - OpenID Connect providers (Google): the `id_token` is checked against the
//!   provider's JWKS (RS256 signature, issuer, audience, expiry), and the
//!   userinfo endpoint must name the same subject.
//! - GitHub: `/user` gives the account, `/user/emails` its primary verified
//!   address.
//!
//! Every endpoint is configuration, so tests point the same code at a local
//! provider.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeVerifier, RedirectUrl, StandardRevocableToken, StandardTokenResponse,
    TokenResponse, TokenUrl,
};
use orrery_domain::sign_in::{APP_REDIRECT_URI, OAuthRedirect};
use serde::{Deserialize, Serialize};

/// How a provider tells who signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenID Connect: a signed `id_token` plus userinfo.
    OpenIdConnect,
    /// GitHub's REST API.
    GitHub,
}

/// One OAuth provider's endpoints and this server's client registration there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthProvider {
    /// Short id used in routes: `google`, `github`.
    pub id: String,
    /// What the sign-in button says.
    pub display_name: String,
    /// How identity is read.
    pub kind: ProviderKind,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret, where the provider requires one even with PKCE.
    pub client_secret: Option<String>,
    /// Authorization endpoint (opened in the system browser).
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Userinfo (OIDC) or `/user` (GitHub).
    pub userinfo_url: String,
    /// GitHub's `/user/emails`.
    pub emails_url: Option<String>,
    /// The JWKS of an OIDC provider.
    pub jwks_url: Option<String>,
    /// Accepted `iss` values of an OIDC provider's id_tokens.
    pub issuers: Vec<String>,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
    /// Where the provider sends the browser back: a loopback listener (the
    /// default), or the app's `orrery://oauth/callback` for a client
    /// registered with it.
    pub redirect: OAuthRedirect,
}

impl OAuthProvider {
    /// Google, with this server's client registration.
    pub fn google(client_id: String, client_secret: Option<String>) -> Self {
        Self {
            id: "google".into(),
            display_name: "Google".into(),
            kind: ProviderKind::OpenIdConnect,
            client_id,
            client_secret,
            authorize_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            userinfo_url: "https://openidconnect.googleapis.com/v1/userinfo".into(),
            emails_url: None,
            jwks_url: Some("https://www.googleapis.com/oauth2/v3/certs".into()),
            issuers: vec![
                "https://accounts.google.com".into(),
                "accounts.google.com".into(),
            ],
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            redirect: OAuthRedirect::Loopback,
        }
    }

    /// GitHub, with this server's OAuth app registration.
    pub fn github(client_id: String, client_secret: Option<String>) -> Self {
        Self {
            id: "github".into(),
            display_name: "GitHub".into(),
            kind: ProviderKind::GitHub,
            client_id,
            client_secret,
            authorize_url: "https://github.com/login/oauth/authorize".into(),
            token_url: "https://github.com/login/oauth/access_token".into(),
            userinfo_url: "https://api.github.com/user".into(),
            emails_url: Some("https://api.github.com/user/emails".into()),
            jwks_url: None,
            issuers: Vec::new(),
            scopes: vec!["read:user".into(), "user:email".into()],
            redirect: OAuthRedirect::Loopback,
        }
    }
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's id.
    pub provider: String,
    /// The provider's stable id for the account.
    pub subject: String,
    /// The account's address, lower-cased.
    pub email: String,
    /// Whether the provider verified that address.
    pub email_verified: bool,
    /// A display name, if the provider has one.
    pub name: Option<String>,
}

/// Why a code could not be turned into an identity.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The request itself is wrong (bad redirect URI, empty code).
    #[error("{0}")]
    BadRequest(String),
    /// The provider refused the code or the verifier.
    #[error("{provider} refused the sign-in: {reason}")]
    Refused {
        /// The provider.
        provider: String,
        /// Its reason.
        reason: String,
    },
    /// The provider's answer cannot be trusted (bad signature, wrong audience...).
    #[error("{provider}'s answer failed verification: {reason}")]
    Untrusted {
        /// The provider.
        provider: String,
        /// What failed.
        reason: String,
    },
    /// The provider could not be reached or answered nonsense.
    #[error("{provider} could not be reached: {reason}")]
    Unreachable {
        /// The provider.
        provider: String,
        /// Why.
        reason: String,
    },
}

/// The extra field OpenID Connect adds to a token response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenField {
    /// The signed id_token (absent for plain OAuth providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type ProviderClient = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<IdTokenField, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Longest code or verifier accepted (RFC 7636 caps verifiers at 128).
const MAX_CODE_CHARS: usize = 2048;

/// Whether `uri` is a loopback redirect as RFC 8252 §7.3 describes:
/// `http://127.0.0.1:PORT/...` or `http://[::1]:PORT/...`.
pub fn check_loopback_redirect(uri: &str) -> Result<url::Url, OAuthError> {
    let parsed = url::Url::parse(uri)
        .map_err(|error| OAuthError::BadRequest(format!("redirect_uri is not a URL: {error}")))?;
    let loopback = matches!(parsed.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    if parsed.scheme() != "http" || !loopback || parsed.port().is_none() {
        return Err(OAuthError::BadRequest(
            "redirect_uri must be http://127.0.0.1:PORT/… (a loopback redirect)".into(),
        ));
    }
    Ok(parsed)
}

/// Checks `uri` against the redirect the provider is set up for: any
/// loopback port, or exactly the app's link.
pub fn check_redirect(redirect: OAuthRedirect, uri: &str) -> Result<url::Url, OAuthError> {
    match redirect {
        OAuthRedirect::Loopback => check_loopback_redirect(uri),
        OAuthRedirect::App if uri == APP_REDIRECT_URI => url::Url::parse(uri)
            .map_err(|error| OAuthError::BadRequest(format!("redirect_uri: {error}"))),
        OAuthRedirect::App => Err(OAuthError::BadRequest(format!(
            "redirect_uri must be {APP_REDIRECT_URI} for this provider"
        ))),
    }
}

#[derive(Deserialize)]
struct IdTokenClaims {
    sub: String,
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct OidcUserInfo {
    sub: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

impl OAuthProvider {
    fn client(&self, redirect_uri: &url::Url) -> Result<ProviderClient, OAuthError> {
        let misconfigured = |what: &str, error: url::ParseError| OAuthError::Unreachable {
            provider: self.id.clone(),
            reason: format!("the server's {what} for this provider is not a URL: {error}"),
        };
        let mut client = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(self.authorize_url.clone())
                    .map_err(|e| misconfigured("authorize URL", e))?,
            )
            .set_token_uri(
                TokenUrl::new(self.token_url.clone()).map_err(|e| misconfigured("token URL", e))?,
            )
            .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        if let Some(secret) = &self.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        Ok(client)
    }

    fn unreachable(&self, reason: impl ToString) -> OAuthError {
        OAuthError::Unreachable {
            provider: self.id.clone(),
            reason: reason.to_string(),
        }
    }

    fn untrusted(&self, reason: impl ToString) -> OAuthError {
        OAuthError::Untrusted {
            provider: self.id.clone(),
            reason: reason.to_string(),
        }
    }

    /// Exchanges an authorization code and its PKCE verifier for the identity
    /// of the account that approved it.
    pub async fn exchange(
        &self,
        http: &reqwest::Client,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<ProviderIdentity, OAuthError> {
        if code.is_empty() || code.len() > MAX_CODE_CHARS {
            return Err(OAuthError::BadRequest(format!(
                "code must be 1 to {MAX_CODE_CHARS} characters"
            )));
        }
        // RFC 7636 §4.1: 43 to 128 unreserved characters.
        let verifier_ok = (43..=128).contains(&code_verifier.len())
            && code_verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if !verifier_ok {
            return Err(OAuthError::BadRequest(
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)"
                    .into(),
            ));
        }
        let redirect = check_redirect(self.redirect, redirect_uri)?;
        let token = self
            .client(&redirect)?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(code_verifier.to_owned()))
            .request_async(http)
            .await
            .map_err(|error| match error {
                oauth2::RequestTokenError::ServerResponse(response) => OAuthError::Refused {
                    provider: self.id.clone(),
                    reason: response.to_string(),
                },
                other => self.unreachable(other),
            })?;
        let access_token = token.access_token().secret().clone();
        match self.kind {
            ProviderKind::OpenIdConnect => {
                let id_token = token
                    .extra_fields()
                    .id_token
                    .clone()
                    .ok_or_else(|| self.untrusted("the token response has no id_token"))?;
                self.verify_oidc(http, &id_token, &access_token).await
            }
            ProviderKind::GitHub => self.github_identity(http, &access_token).await,
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        http: &reqwest::Client,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<T, OAuthError> {
        let mut request = http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::USER_AGENT,
                concat!("orrery-server/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.unreachable(error))?;
        if !response.status().is_success() {
            return Err(self.unreachable(format!("{url} answered {}", response.status())));
        }
        response
            .json()
            .await
            .map_err(|error| self.unreachable(format!("{url} answered unreadable JSON: {error}")))
    }

    async fn verify_oidc(
        &self,
        http: &reqwest::Client,
        id_token: &str,
        access_token: &str,
    ) -> Result<ProviderIdentity, OAuthError> {
        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|error| self.untrusted(format!("id_token is not a JWT: {error}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(self.untrusted(format!(
                "id_token is signed with {:?}, expected RS256",
                header.alg
            )));
        }
        let jwks_url = self
            .jwks_url
            .as_deref()
            .ok_or_else(|| self.untrusted("no JWKS is configured for this provider"))?;
        let keys: JwkSet = self.get_json(http, jwks_url, None).await?;
        let jwk = match &header.kid {
            Some(kid) => keys.find(kid),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        }
        .ok_or_else(|| self.untrusted("id_token's key is not in the provider's JWKS"))?;
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|error| self.untrusted(format!("unusable JWKS key: {error}")))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.client_id]);
        validation.set_issuer(&self.issuers);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<IdTokenClaims>(id_token, &key, &validation)
            .map_err(|error| self.untrusted(format!("id_token: {error}")))?
            .claims;
        let info: OidcUserInfo = self
            .get_json(http, &self.userinfo_url, Some(access_token))
            .await?;
        if info.sub != claims.sub {
            return Err(self.untrusted("userinfo names a different account than the id_token"));
        }
        let email = claims.email.ok_or_else(|| {
            self.untrusted("the id_token carries no email (ask for the `email` scope)")
        })?;
        let email_verified = matches!(claims.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(claims.email_verified, Some(serde_json::Value::String(ref s)) if s == "true");
        Ok(ProviderIdentity {
            provider: self.id.clone(),
            subject: claims.sub,
            email: email.trim().to_lowercase(),
            email_verified,
            name: claims.name.or(info.name),
        })
    }

    async fn github_identity(
        &self,
        http: &reqwest::Client,
        access_token: &str,
    ) -> Result<ProviderIdentity, OAuthError> {
        let user: GitHubUser = self
            .get_json(http, &self.userinfo_url, Some(access_token))
            .await?;
        let emails_url = self
            .emails_url
            .as_deref()
            .ok_or_else(|| self.untrusted("no emails URL is configured for this provider"))?;
        let emails: Vec<GitHubEmail> = self.get_json(http, emails_url, Some(access_token)).await?;
        let primary = emails
            .iter()
            .find(|email| email.primary && email.verified)
            .or_else(|| emails.iter().find(|email| email.verified));
        let (email, email_verified) = match primary {
            Some(email) => (email.email.clone(), true),
            None => match emails.first() {
                Some(email) => (email.email.clone(), false),
                None => return Err(self.untrusted("the GitHub account has no email address")),
            },
        };
        Ok(ProviderIdentity {
            provider: self.id.clone(),
            subject: user.id.to_string(),
            email: email.trim().to_lowercase(),
            email_verified,
            name: user.name.or(Some(user.login)),
        })
    }
}

/// An HTTP client for talking to providers: no redirects followed (token
/// endpoints must answer directly), bounded time.
pub fn provider_http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("the provider HTTP client configuration is static and valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_redirects_are_accepted() {
        assert!(check_loopback_redirect("http://127.0.0.1:53682/callback").is_ok());
        assert!(check_loopback_redirect("http://[::1]:53682/callback").is_ok());
        for bad in [
            "https://127.0.0.1:53682/callback",
            "http://localhost:53682/callback",
            "http://evil.example:53682/callback",
            "http://127.0.0.1/callback",
            "not a url",
        ] {
            assert!(check_loopback_redirect(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_provider_takes_only_its_own_redirect() {
        let loopback = "http://127.0.0.1:53682/callback";
        assert!(check_redirect(OAuthRedirect::Loopback, loopback).is_ok());
        assert!(check_redirect(OAuthRedirect::Loopback, APP_REDIRECT_URI).is_err());
        assert!(check_redirect(OAuthRedirect::App, APP_REDIRECT_URI).is_ok());
        for bad in [
            loopback,
            "orrery://oauth/callback/",
            "orrery://oauth/callback?next=evil",
            "orrery://evil/callback",
            "ORRERY://oauth/callback",
        ] {
            assert!(check_redirect(OAuthRedirect::App, bad).is_err(), "{bad}");
        }
    }
}
