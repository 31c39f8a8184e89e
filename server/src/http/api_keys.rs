//! `/v1/api-keys`: keys for the public API, for Pro users. A key's secret is
//! shown once, when it is created or rotated; only its hash is kept.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use orrery_domain::api_scope::{ApiKeyMode, ApiScope, ApiScopes};
use orrery_domain::policy::Action;
use orrery_store::{ApiKeyRecord, NewApiKey, Principal};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::check_name;
use super::{Access, ApiContext, ApiError, Routes, SignedIn};
use crate::auth::secrets::{hash_secret, new_api_key};

/// Live keys one user may hold.
pub const MAX_KEYS_PER_USER: usize = 20;
/// Characters of a key shown in lists.
const SHOWN_PREFIX_CHARS: usize = 16;

pub(super) fn router() -> Routes {
    Routes::new()
        .add(Method::GET, "/v1/api-keys", Access::SignedIn, list_keys)
        .add(Method::POST, "/v1/api-keys", Access::SignedIn, create_key)
        .add(
            Method::POST,
            "/v1/api-keys/{key_id}/rotate",
            Access::SignedIn,
            rotate_key,
        )
        .add(
            Method::DELETE,
            "/v1/api-keys/{key_id}",
            Access::SignedIn,
            revoke_key,
        )
}

/// Keys are managed from a signed-in app, never with another key (these
/// routes open to no key scope, so `SignedIn` refuses keys; this says so
/// again where it matters most), and only on a plan that has them (the
/// policy engine decides).
async fn may_manage_keys(context: &ApiContext, principal: &Principal) -> Result<(), ApiError> {
    super::principal::require_app_session(
        principal,
        "API keys cannot manage API keys; sign in to manage them",
    )?;
    super::policy::allowed(context, principal, &Action::ManageApiKeys).await?;
    Ok(())
}

fn parse_key_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse()
        .map_err(|_| ApiError::BadRequest("key id must be a UUID".into()))
}

#[derive(Serialize)]
struct NewKey {
    #[serde(flatten)]
    record: ApiKeyRecord,
    /// The secret, shown this once.
    key: String,
}

fn mint(mode: ApiKeyMode) -> (String, String, String) {
    let key = new_api_key(mode);
    let prefix: String = key.chars().take(SHOWN_PREFIX_CHARS).collect();
    let hash = hash_secret(&key);
    (key, prefix, hash)
}

async fn list_keys(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<Vec<ApiKeyRecord>>, ApiError> {
    Ok(Json(
        context
            .store
            .list_api_keys(principal.tenant_id, principal.user_id)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    /// What the key may do (`orrery_domain::api_scope`); every scope when
    /// left out.
    scopes: Option<Vec<String>>,
    /// `live` (the default) or `test`.
    #[serde(default)]
    mode: Option<String>,
}

/// Scope names a request may list (each is short; more than every scope
/// twice is not a list of scopes).
const MAX_SCOPE_NAMES: usize = 2 * ApiScope::ALL.len();

async fn create_key(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    body: Result<Json<CreateKey>, JsonRejection>,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    let Json(request) = body?;
    let name = check_name(&request.name, "name")?;
    let scopes = match &request.scopes {
        None => ApiScopes::all(),
        Some(names) if names.len() > MAX_SCOPE_NAMES => {
            return Err(ApiError::Unprocessable(format!(
                "list at most {MAX_SCOPE_NAMES} scopes"
            )));
        }
        Some(names) => ApiScopes::from_names(names.iter().map(String::as_str))
            .map_err(|error| ApiError::Unprocessable(error.to_string()))?,
    };
    let mode = match request.mode.as_deref() {
        None => ApiKeyMode::Live,
        Some(name) => ApiKeyMode::parse(name)
            .ok_or_else(|| ApiError::Unprocessable("`mode` is `live` or `test`".into()))?,
    };
    may_manage_keys(&context, &principal).await?;
    let (key, prefix, hash) = mint(mode);
    // Counted and stored in one locked transaction: parallel creations
    // cannot pass the limit together.
    match context
        .store
        .create_api_key(
            principal.tenant_id,
            principal.user_id,
            &name,
            &prefix,
            &hash,
            scopes,
            mode,
            MAX_KEYS_PER_USER,
            context.now(),
        )
        .await?
    {
        NewApiKey::Created(record) => Ok((StatusCode::CREATED, Json(NewKey { record, key }))),
        NewApiKey::AtLimit(_) => Err(ApiError::Conflict(format!(
            "you already have {MAX_KEYS_PER_USER} keys; revoke one first"
        ))),
    }
}

async fn rotate_key(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(key_id): Path<String>,
) -> Result<Json<NewKey>, ApiError> {
    let key_id = parse_key_id(&key_id)?;
    may_manage_keys(&context, &principal).await?;
    let mode = context
        .store
        .list_api_keys(principal.tenant_id, principal.user_id)
        .await?
        .into_iter()
        .find(|record| record.id == key_id)
        .map(|record| record.mode)
        .ok_or_else(|| ApiError::NotFound("no such API key".into()))?;
    let (key, prefix, hash) = mint(mode);
    let rotated = context
        .store
        .rotate_api_key(
            principal.tenant_id,
            principal.user_id,
            key_id,
            &prefix,
            &hash,
            context.now(),
        )
        .await?;
    if !rotated {
        return Err(ApiError::NotFound("no such API key".into()));
    }
    let record = context
        .store
        .list_api_keys(principal.tenant_id, principal.user_id)
        .await?
        .into_iter()
        .find(|record| record.id == key_id)
        .ok_or_else(|| ApiError::NotFound("no such API key".into()))?;
    Ok(Json(NewKey { record, key }))
}

async fn revoke_key(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let key_id = parse_key_id(&key_id)?;
    super::principal::require_app_session(
        &principal,
        "API keys cannot manage API keys; sign in to manage them",
    )?;
    if context
        .store
        .revoke_api_key(
            principal.tenant_id,
            principal.user_id,
            key_id,
            context.now(),
        )
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("no such API key".into()))
    }
}
