//! `POST /v1/devices`: a device registers and gets the bearer token it syncs with.
//! Also the extractor that turns that token back into a device.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{ApiContext, ApiError};

const MAX_DEVICE_NAME_CHARS: usize = 100;

pub(super) fn router() -> Router<ApiContext> {
    Router::new().route("/v1/devices", post(register))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterDevice {
    name: String,
}

async fn register(
    State(context): State<ApiContext>,
    body: Result<Json<RegisterDevice>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(request) = body?;
    let name = request.name.trim();
    if name.is_empty() {
        return Err(ApiError::Unprocessable(
            "device name must not be empty".into(),
        ));
    }
    if name.chars().count() > MAX_DEVICE_NAME_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "device name is longer than {MAX_DEVICE_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(
            "device name must not contain control characters".into(),
        ));
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = URL_SAFE_NO_PAD.encode(secret);
    let device = context
        .store
        .register_device(name, &hash_token(&token))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "device_id": device.id.to_string(), "token": token })),
    ))
}

fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The device that made a request, from its `Authorization: Bearer` token.
#[derive(Debug, Clone)]
pub struct AuthenticatedDevice {
    /// The device's id.
    pub id: Uuid,
}

impl FromRequestParts<ApiContext> for AuthenticatedDevice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, context: &ApiContext) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .filter(|token| !token.is_empty() && token.len() <= 128)
            .ok_or(ApiError::Unauthorized)?;
        let device = context
            .store
            .device_by_token_hash(&hash_token(token))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(Self { id: device.id })
    }
}
