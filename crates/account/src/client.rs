//! HTTP client for the server's account routes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountError;

/// The signed-in user, as the server describes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Account {
    /// The user's id.
    pub id: String,
    /// Their tenant.
    pub tenant_id: String,
    /// Their address.
    pub email: String,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// Display name.
    pub name: String,
    /// `user` or `admin`.
    pub role: String,
    /// Plan key.
    pub plan: String,
    /// `light`, `dark` or `system`.
    pub theme: String,
    /// Free-form settings object.
    pub settings: serde_json::Value,
    /// Whether the account has a password (OAuth-only accounts do not).
    pub has_password: bool,
    /// Linked OAuth providers.
    pub providers: Vec<String>,
    /// When the trial ends.
    pub trial_ends_at: Option<String>,
    /// Whole days of trial left.
    pub trial_days_remaining: Option<i64>,
}

/// Tokens for one signed-in device plus who they belong to. Kept in the OS
/// keyring by the shell; never shown to the webview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Bearer for API calls, valid for 15 minutes.
    pub access_token: String,
    /// When `access_token` expires.
    pub access_expires_at: DateTime<Utc>,
    /// Single-use token that buys the next pair.
    pub refresh_token: String,
    /// The user as of the last answer.
    pub account: Account,
}

impl Session {
    /// Whether the access token is expired or about to be (within a minute).
    pub fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        self.access_expires_at - chrono::Duration::seconds(60) <= now
    }
}

/// An OAuth provider the server offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Provider {
    /// `google`, `github`.
    pub id: String,
    /// What the button says.
    pub name: String,
    /// The server's client id at the provider.
    pub client_id: String,
    /// Where the browser goes.
    pub authorize_url: String,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
    /// Where the provider sends the browser back (a loopback listener when
    /// the server does not say).
    #[serde(default)]
    pub redirect: orrery_domain::sign_in::OAuthRedirect,
}

/// A change to the profile; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ProfileUpdate {
    /// New display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `light`, `dark` or `system`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// A settings object replacing the old one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TokenPair {
    access_token: String,
    expires_in: i64,
    refresh_token: String,
    user: Account,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

/// Talks to one server's account routes.
#[derive(Debug, Clone)]
pub struct AccountClient {
    pub(crate) http: reqwest::Client,
    base_url: String,
}

impl AccountClient {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:7878`).
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            // The server closes connections idle for 10 s; dropping ours sooner
            // keeps requests off connections the server is about to close.
            .pool_idle_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client configuration is static and valid");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The server's address.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AccountError> {
        let response = request
            .send()
            .await
            .map_err(|error| AccountError::Offline {
                url: self.base_url.clone(),
                reason: if error.is_connect() {
                    "connection refused".into()
                } else {
                    error.to_string()
                },
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after_secs = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        let (code, message) = match response.json::<ErrorBody>().await {
            Ok(body) => (body.error, body.message),
            Err(_) => (
                "error".into(),
                status.canonical_reason().unwrap_or("error").to_owned(),
            ),
        };
        Err(AccountError::Refused {
            status: status.as_u16(),
            code,
            message,
            retry_after_secs,
        })
    }

    pub(crate) async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, AccountError> {
        self.send(request)
            .await?
            .json()
            .await
            .map_err(|error| AccountError::Protocol(error.to_string()))
    }

    async fn session(&self, request: reqwest::RequestBuilder) -> Result<Session, AccountError> {
        let pair: TokenPair = self.json(request).await?;
        Ok(Session {
            access_token: pair.access_token,
            access_expires_at: Utc::now() + chrono::Duration::seconds(pair.expires_in),
            refresh_token: pair.refresh_token,
            account: pair.user,
        })
    }

    /// Creates an account and signs this device in.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        name: &str,
        device: &str,
    ) -> Result<Session, AccountError> {
        self.session(
            self.http
                .post(self.url("/v1/auth/register"))
                .json(&serde_json::json!({
                    "email": email, "password": password, "name": name, "device_name": device,
                })),
        )
        .await
    }

    /// Signs in with email and password.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        device: &str,
    ) -> Result<Session, AccountError> {
        self.session(
            self.http
                .post(self.url("/v1/auth/sign-in"))
                .json(&serde_json::json!({
                    "email": email, "password": password, "device_name": device,
                })),
        )
        .await
    }

    /// Trades the refresh token for a new pair. The old refresh token is used
    /// up: store the new session before anything else.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, AccountError> {
        self.session(
            self.http
                .post(self.url("/v1/auth/refresh"))
                .json(&serde_json::json!({ "refresh_token": refresh_token })),
        )
        .await
    }

    /// Ends the session on the server.
    pub async fn sign_out(&self, access_token: &str) -> Result<(), AccountError> {
        self.send(
            self.http
                .post(self.url("/v1/auth/sign-out"))
                .bearer_auth(access_token),
        )
        .await?;
        Ok(())
    }

    /// The signed-in user.
    pub async fn me(&self, access_token: &str) -> Result<Account, AccountError> {
        self.json(self.http.get(self.url("/v1/me")).bearer_auth(access_token))
            .await
    }

    /// Changes name, theme or settings.
    pub async fn update_profile(
        &self,
        access_token: &str,
        update: &ProfileUpdate,
    ) -> Result<Account, AccountError> {
        self.json(
            self.http
                .patch(self.url("/v1/me"))
                .bearer_auth(access_token)
                .json(update),
        )
        .await
    }

    /// Asks for a reset code by mail (the answer is the same for unknown addresses).
    pub async fn request_password_reset(&self, email: &str) -> Result<(), AccountError> {
        self.send(
            self.http
                .post(self.url("/v1/auth/password-reset"))
                .json(&serde_json::json!({ "email": email })),
        )
        .await?;
        Ok(())
    }

    /// Sets a new password with a mailed code; every session is signed out.
    pub async fn confirm_password_reset(
        &self,
        code: &str,
        password: &str,
    ) -> Result<(), AccountError> {
        self.send(
            self.http
                .post(self.url("/v1/auth/password-reset/confirm"))
                .json(&serde_json::json!({ "code": code, "password": password })),
        )
        .await?;
        Ok(())
    }

    /// The plans on offer (the domain `Plan`, as JSON).
    pub async fn plans(&self) -> Result<serde_json::Value, AccountError> {
        self.json(self.http.get(self.url("/v1/plans"))).await
    }

    /// Usage against the plan's limits.
    pub async fn usage(&self, access_token: &str) -> Result<serde_json::Value, AccountError> {
        self.usage_in(access_token, None).await
    }

    /// Usage against the plan's limits in `team`'s workspace (its owner's
    /// plan, its seats); `None`: the personal workspace.
    pub async fn usage_in(
        &self,
        access_token: &str,
        team: Option<uuid::Uuid>,
    ) -> Result<serde_json::Value, AccountError> {
        let mut request = self
            .http
            .get(self.url("/v1/usage"))
            .bearer_auth(access_token);
        if let Some(team) = team {
            request = request.header(orrery_domain::team::WORKSPACE_HEADER, team.to_string());
        }
        self.json(request).await
    }

    /// The plan, usage and standing the policy engine decides with (what
    /// `/v1/usage` answers), for deciding runs while offline.
    pub async fn allowance(
        &self,
        access_token: &str,
    ) -> Result<
        (
            orrery_domain::policy::Plan,
            orrery_domain::policy::Usage,
            bool,
        ),
        AccountError,
    > {
        #[derive(serde::Deserialize)]
        struct Counted {
            metric: orrery_domain::policy::Metric,
            used: u64,
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            plan: orrery_domain::policy::Plan,
            period_resets_at: Option<String>,
            metrics: Vec<Counted>,
            #[serde(default = "paid_up")]
            in_good_standing: bool,
        }
        fn paid_up() -> bool {
            true
        }
        let answer: Answer = self
            .json(
                self.http
                    .get(self.url("/v1/usage"))
                    .bearer_auth(access_token),
            )
            .await?;
        let mut usage = orrery_domain::policy::Usage {
            period_resets_at: answer.period_resets_at,
            ..Default::default()
        };
        for counted in answer.metrics {
            use orrery_domain::policy::Metric;
            match counted.metric {
                Metric::Runs => usage.runs = counted.used,
                Metric::Tokens => usage.tokens = counted.used,
                Metric::ApiCalls => usage.api_calls = counted.used,
                Metric::Graphs => usage.graphs = counted.used,
                Metric::Seats => usage.seats = counted.used,
                Metric::NodesPerGraph => {}
            }
        }
        Ok((answer.plan, usage, answer.in_good_standing))
    }

    /// The current subscription, or JSON null.
    pub async fn subscription(
        &self,
        access_token: &str,
    ) -> Result<serde_json::Value, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/billing/subscription"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// Whether the server takes payments, and for which plans
    /// (`{"enabled": bool, "purchasable_plans": [...]}`).
    pub async fn billing_status(&self) -> Result<serde_json::Value, AccountError> {
        self.json(self.http.get(self.url("/v1/billing/status")))
            .await
    }

    /// Invoices, newest first.
    pub async fn invoices(&self, access_token: &str) -> Result<serde_json::Value, AccountError> {
        self.json(
            self.http
                .get(self.url("/v1/billing/invoices"))
                .bearer_auth(access_token),
        )
        .await
    }

    /// A Stripe Checkout page for upgrading to `plan`.
    pub async fn checkout_page(
        &self,
        access_token: &str,
        plan: &str,
    ) -> Result<String, AccountError> {
        let page: serde_json::Value = self
            .json(
                self.http
                    .post(self.url("/v1/billing/checkout"))
                    .bearer_auth(access_token)
                    .json(&serde_json::json!({ "plan": plan })),
            )
            .await?;
        page["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| AccountError::Protocol("no checkout url".into()))
    }

    /// The Stripe Customer Portal page.
    pub async fn portal_page(&self, access_token: &str) -> Result<String, AccountError> {
        let page: serde_json::Value = self
            .json(
                self.http
                    .post(self.url("/v1/billing/portal"))
                    .bearer_auth(access_token),
            )
            .await?;
        page["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| AccountError::Protocol("no portal url".into()))
    }

    /// The OAuth providers the server offers.
    pub async fn providers(&self) -> Result<Vec<Provider>, AccountError> {
        self.json(self.http.get(self.url("/v1/auth/providers")))
            .await
    }

    /// Hands a provider's code and the PKCE verifier to the server, which
    /// exchanges them and signs this device in.
    pub async fn complete_provider_sign_in(
        &self,
        provider: &str,
        authorization: &crate::loopback::Authorization,
        device: &str,
    ) -> Result<Session, AccountError> {
        self.session(
            self.http
                .post(self.url(&format!("/v1/auth/oauth/{provider}")))
                .json(&serde_json::json!({
                    "code": authorization.code,
                    "code_verifier": authorization.code_verifier,
                    "redirect_uri": authorization.redirect_uri,
                    "device_name": device,
                })),
        )
        .await
    }

    /// The whole desktop flow: get ready for the redirect the provider uses
    /// (a loopback listener, or `app_redirects` for `orrery://` links), let
    /// `open_browser` show the provider's page, wait (up to `timeout`) for
    /// the redirect, and exchange the code through the server.
    pub async fn sign_in_with_provider(
        &self,
        provider: &Provider,
        device: &str,
        app_redirects: Option<&crate::loopback::AppRedirects>,
        open_browser: impl FnOnce(&url::Url) -> Result<(), String>,
        timeout: Duration,
    ) -> Result<Session, AccountError> {
        let pending =
            crate::loopback::PendingAuthorization::start_with(provider, app_redirects).await?;
        open_browser(pending.authorize_url()).map_err(AccountError::Browser)?;
        let authorization = pending.wait(timeout).await?;
        self.complete_provider_sign_in(&provider.id, &authorization, device)
            .await
    }
}
