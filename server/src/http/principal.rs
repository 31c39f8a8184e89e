//! The `SignedIn` extractor: turns `Authorization: Bearer <access token or
//! API key>` into the user and tenant behind it.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use orrery_domain::api_scope::ApiScope;
use orrery_domain::policy::Action;
use orrery_store::{Credential, Principal};

use super::{ApiContext, ApiError, RouteKeyScope};
use crate::auth::secrets::{
    ACCESS_PREFIX, API_KEY_PREFIX, MAX_SECRET_CHARS, api_key_checksum_holds, hash_secret,
};

/// Refuses a request made with an API key that lacks `scope` (sessions may
/// do everything their user may).
pub(crate) fn require_key_scope(principal: &Principal, scope: ApiScope) -> Result<(), ApiError> {
    match principal.credential {
        Credential::ApiKey { scopes, .. } if !scopes.allows(scope) => Err(ApiError::Forbidden(
            format!("this API key lacks the `{scope}` scope; create a key that has it"),
        )),
        _ => Ok(()),
    }
}

/// Refuses anything but the signed-in app (an API key, a channel's run)
/// with `refusal`: what manages keys, secrets and channels is the app's.
pub(crate) fn require_app_session(principal: &Principal, refusal: &str) -> Result<(), ApiError> {
    match principal.credential {
        Credential::Session(_) => Ok(()),
        Credential::ApiKey { .. } | Credential::Channel(_) => {
            Err(ApiError::Forbidden(refusal.to_owned()))
        }
    }
}

/// A request from a signed-in user. Handlers read the tenant from here and
/// from nowhere else.
#[derive(Debug, Clone)]
pub struct SignedIn(pub Principal);

impl FromRequestParts<ApiContext> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, context: &ApiContext) -> Result<Self, ApiError> {
        let missing = || {
            ApiError::Unauthorized("sign in first: this endpoint needs `Authorization: Bearer <access token or API key>`".into())
        };
        let value = parts.headers.get(AUTHORIZATION).ok_or_else(missing)?;
        let token = value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(missing)?;
        if token.len() > MAX_SECRET_CHARS {
            return Err(ApiError::Unauthorized(
                "the bearer token is not one this server issued".into(),
            ));
        }
        let now = context.now();
        let principal = if token.starts_with(ACCESS_PREFIX) {
            context
                .store
                .principal_by_access_token(&hash_secret(token), now)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "the access token has expired or was revoked; refresh it or sign in again"
                            .into(),
                    )
                })?
        } else if token.starts_with(API_KEY_PREFIX) {
            // A key whose checksum does not hold is no key: refused unread.
            if api_key_checksum_holds(token) == Some(false) {
                return Err(ApiError::Unauthorized(
                    "the API key is mistyped: its checksum does not match".into(),
                ));
            }
            let principal = context
                .store
                .principal_by_api_key(&hash_secret(token), now)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthorized("the API key is unknown or was revoked".into())
                })?;
            // A key calls only the routes its scopes open, and no route that
            // manages keys, the account, billing or the server. Refused calls
            // are not metered.
            match parts.extensions.get::<RouteKeyScope>() {
                Some(RouteKeyScope(Some(scope))) => require_key_scope(&principal, *scope)?,
                _ => {
                    return Err(ApiError::Forbidden(
                        "API keys cannot call this endpoint; sign in to the Orrery app for it"
                            .into(),
                    ));
                }
            }
            // Every request made with an API key is a metered API call.
            super::policy::meter(context, &principal, &Action::CallApi).await?;
            principal
        } else {
            return Err(ApiError::Unauthorized(
                "the bearer token is not one this server issued".into(),
            ));
        };
        Ok(SignedIn(principal))
    }
}
