//! `/v1/me`: the signed-in user's profile, theme, settings and trial.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::Method;
use orrery_domain::api_scope::ApiScope;
use orrery_store::{ProfileChange, Role, Theme, UserRecord};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::check_name;
use super::{Access, ApiContext, ApiError, Routes, SignedIn};

/// Largest settings object accepted, serialised.
pub const MAX_SETTINGS_BYTES: usize = 16 * 1024;

pub(super) fn router() -> Routes {
    Routes::new()
        .add(Method::GET, "/v1/me", Access::SignedIn, current_user)
        .for_keys(ApiScope::AccountRead)
        .add(Method::PATCH, "/v1/me", Access::SignedIn, update_profile)
}

/// A user as the API shows them.
#[derive(Debug, Serialize)]
pub struct UserView {
    id: Uuid,
    tenant_id: Uuid,
    email: String,
    email_verified: bool,
    name: String,
    role: Role,
    plan: String,
    theme: Theme,
    settings: serde_json::Value,
    has_password: bool,
    /// OAuth providers linked to the account.
    providers: Vec<String>,
    trial_ends_at: Option<String>,
    /// Whole days left in the trial, rounded up; 0 once it has ended.
    trial_days_remaining: Option<i64>,
}

impl UserView {
    pub(super) async fn load(context: &ApiContext, user: &UserRecord) -> Result<Self, ApiError> {
        let providers = context
            .store
            .identity_providers(user.tenant_id, user.id)
            .await?;
        let now = context.now();
        Ok(Self {
            id: user.id,
            tenant_id: user.tenant_id,
            email: user.email.clone(),
            email_verified: user.email_verified,
            name: user.name.clone(),
            role: user.role,
            plan: user.plan.clone(),
            theme: user.theme,
            settings: serde_json::from_str(&user.settings)
                .unwrap_or_else(|_| serde_json::json!({})),
            has_password: user.password_hash.is_some(),
            providers,
            trial_ends_at: user.trial_ends_at.map(orrery_store::timestamp),
            trial_days_remaining: user.trial_ends_at.map(|ends| {
                let seconds = (ends - now).num_seconds();
                if seconds <= 0 {
                    0
                } else {
                    (seconds + 86_399) / 86_400
                }
            }),
        })
    }
}

#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "Account",
    summary = "Who you are",
    description = "The account the key belongs to: name, email, plan, role.",
    responses(
        (status = 200, description = "The account", body = Object),
        (status = 400, description = "Malformed: an id that is not a UUID, a body that is not JSON, a malformed Idempotency-Key", body = super::openapi::ErrorBody),
        (status = 401, description = "No key, or a key that is unknown, revoked or mistyped", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the scope this needs", body = super::openapi::ErrorBody),
        (status = 429, description = "The key's calls per minute are spent (see `Retry-After`), or the plan's API calls", body = super::openapi::ErrorBody),
    ),
    security(("api_key" = ["account:read"]))
)]
pub(super) async fn current_user(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<UserView>, ApiError> {
    let user = context
        .store
        .user(principal.tenant_id, principal.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".into()))?;
    Ok(Json(UserView::load(&context, &user).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileUpdate {
    name: Option<String>,
    theme: Option<Theme>,
    settings: Option<serde_json::Value>,
}

async fn update_profile(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    body: Result<Json<ProfileUpdate>, JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    let Json(update) = body?;
    let name = update
        .name
        .as_deref()
        .map(|name| check_name(name, "name"))
        .transpose()?;
    let settings = match update.settings {
        None => None,
        Some(value @ serde_json::Value::Object(_)) => {
            let text = value.to_string();
            if text.len() > MAX_SETTINGS_BYTES {
                return Err(ApiError::PayloadTooLarge(format!(
                    "settings must be at most {MAX_SETTINGS_BYTES} bytes as JSON"
                )));
            }
            Some(text)
        }
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "settings must be a JSON object".into(),
            ));
        }
    };
    let change = ProfileChange {
        name,
        theme: update.theme,
        settings,
    };
    let user = context
        .store
        .update_profile(
            principal.tenant_id,
            principal.user_id,
            &change,
            context.now(),
        )
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".into()))?;
    Ok(Json(UserView::load(&context, &user).await?))
}
