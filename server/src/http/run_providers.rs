//! `/v1/run-providers`: the provider a tenant's server-side runs call, one
//! for live keys and one for test keys. Set from the signed-in app (never
//! with an API key); the provider's key is sealed at rest and never shown
//! again.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use orrery_domain::api_scope::ApiKeyMode;
use orrery_runtime::ProviderSettings;
use orrery_store::Principal;
use serde::Deserialize;

use super::{Access, ApiContext, ApiError, Routes, SignedIn};
use crate::agent_runs::providers::{ProviderError, ProviderView};

pub(super) fn router() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/v1/run-providers",
            Access::SignedIn,
            list_providers,
        )
        .add(
            Method::PUT,
            "/v1/run-providers/{mode}",
            Access::SignedIn,
            set_provider,
        )
        .add(
            Method::DELETE,
            "/v1/run-providers/{mode}",
            Access::SignedIn,
            remove_provider,
        )
}

fn parse_mode(mode: &str) -> Result<ApiKeyMode, ApiError> {
    ApiKeyMode::parse(mode)
        .ok_or_else(|| ApiError::NotFound("run providers are `live` or `test`".into()))
}

/// These routes open to no key scope, so `SignedIn` refuses keys already;
/// said again where a key's secret is handled.
fn refuse_keys(principal: &Principal) -> Result<(), ApiError> {
    super::principal::require_app_session(
        principal,
        "API keys cannot change run providers; sign in to change them",
    )
}

fn refused(error: ProviderError) -> ApiError {
    match error {
        ProviderError::Invalid(reason) => ApiError::Unprocessable(reason),
        ProviderError::NotSet(_) => ApiError::NotFound(error.to_string()),
        ProviderError::NoSecretsKey => ApiError::Conflict(error.to_string()),
        ProviderError::Sealed(_) | ProviderError::Store(_) | ProviderError::Corrupt(_) => {
            ApiError::Internal(error.into())
        }
    }
}

async fn list_providers(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<Vec<ProviderView>>, ApiError> {
    refuse_keys(&principal)?;
    Ok(Json(
        context
            .runs
            .providers()
            .list(principal.tenant_id)
            .await
            .map_err(refused)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetProvider {
    settings: ProviderSettings,
    /// The provider's key; kept sealed, never shown again.
    #[serde(default)]
    api_key: Option<String>,
}

async fn set_provider(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(mode): Path<String>,
    body: Result<Json<SetProvider>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let mode = parse_mode(&mode)?;
    refuse_keys(&principal)?;
    let Json(request) = body?;
    context
        .runs
        .providers()
        .set(
            principal.tenant_id,
            mode,
            &request.settings,
            request.api_key.as_deref(),
            principal.user_id,
            context.now(),
        )
        .await
        .map_err(refused)?;
    tracing::info!(tenant = %principal.tenant_id, %mode, "run provider set");
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_provider(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(mode): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mode = parse_mode(&mode)?;
    refuse_keys(&principal)?;
    if context
        .runs
        .providers()
        .remove(principal.tenant_id, mode)
        .await
        .map_err(refused)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no provider is set for {mode} runs"
        )))
    }
}
