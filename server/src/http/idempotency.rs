//! `Idempotency-Key` on the public API's POSTs: the first answer to a key is
//! kept for 24 hours and a repeat of the request gets it again (with
//! `Idempotent-Replayed: true`); the same key with another request is 422;
//! a repeat while the first is still being answered is 409. Keys belong to
//! the caller (tenant and user). A server error is not kept: the key can be
//! tried again.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use orrery_store::{IdempotencyClaim, IdempotencyKey, Principal};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{ApiContext, ApiError};

/// The request header.
pub(super) const HEADER: &str = "idempotency-key";
/// The header on a kept answer given again.
pub(super) const REPLAYED: &str = "idempotent-replayed";
/// Longest key accepted.
pub(super) const MAX_KEY_CHARS: usize = 255;
/// Largest answer kept.
const MAX_KEPT_BYTES: usize = 64 * 1024;

/// A key this request claimed: its answer is kept under it.
#[derive(Debug, Clone)]
pub(super) struct Claim {
    tenant_id: Uuid,
    user_id: Uuid,
    key: String,
}

impl Claim {
    pub(super) fn key(&self) -> IdempotencyKey<'_> {
        IdempotencyKey {
            tenant_id: self.tenant_id,
            user_id: self.user_id,
            key: &self.key,
        }
    }
}

/// What to do with a request.
pub(super) enum Begun {
    /// Answer it; keep the answer under the claim, if it has a key.
    Fresh(Option<Claim>),
    /// Its key was answered before: this is that answer.
    Replay(Response),
}

/// The request's key, checked: 1 to 255 visible ASCII characters (a UUID,
/// say). A malformed key is refused before anything is done.
pub(super) fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::BadRequest(
            "send one Idempotency-Key header, not several".into(),
        ));
    }
    let key = value
        .to_str()
        .ok()
        .filter(|key| {
            !key.is_empty()
                && key.len() <= MAX_KEY_CHARS
                && key.bytes().all(|byte| byte.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters (a UUID serves well)"
            ))
        })?;
    Ok(Some(key.to_owned()))
}

/// What identifies a request under its key: method, path and the request
/// as the handler read it (so whitespace and field order do not matter).
pub(super) fn fingerprint(method: &str, path: &str, request: &serde_json::Value) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update(b" ");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(request.to_string().as_bytes());
    hash.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Claims the request's key, or finds the answer kept under it.
pub(super) async fn begin(
    context: &ApiContext,
    principal: &Principal,
    key: Option<String>,
    fingerprint: &str,
) -> Result<Begun, ApiError> {
    let Some(key) = key else {
        return Ok(Begun::Fresh(None));
    };
    let claim = Claim {
        tenant_id: principal.tenant_id,
        user_id: principal.user_id,
        key,
    };
    match context
        .store
        .claim_idempotency_key(claim.key(), fingerprint, context.now())
        .await?
    {
        IdempotencyClaim::Claimed => Ok(Begun::Fresh(Some(claim))),
        IdempotencyClaim::Replay { status, response } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut answer = (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                response,
            )
                .into_response();
            answer
                .headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
            Ok(Begun::Replay(answer))
        }
        IdempotencyClaim::InProgress => Err(ApiError::Conflict(
            "a request with this Idempotency-Key is still being answered; retry in a moment".into(),
        )),
        IdempotencyClaim::Mismatch => Err(ApiError::Unprocessable(
            "this Idempotency-Key was used with a different request; use a new key for a new request"
                .into(),
        )),
    }
}

/// Keeps `answer` under the claim (unless it is a server error, which
/// frees the key for a retry) and gives it back.
pub(super) async fn keep(
    context: &ApiContext,
    claim: Option<&Claim>,
    answer: Response,
) -> Result<Response, ApiError> {
    let Some(claim) = claim else {
        return Ok(answer);
    };
    if answer.status().is_server_error() {
        context.store.release_idempotency_key(claim.key()).await?;
        return Ok(answer);
    }
    let (parts, body) = answer.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_KEPT_BYTES)
        .await
        .map_err(|error| {
            ApiError::Internal(anyhow::anyhow!("an answer could not be kept: {error}"))
        })?;
    context
        .store
        .answer_idempotency_key(
            claim.key(),
            parts.status.as_u16(),
            &String::from_utf8_lossy(&bytes),
        )
        .await?;
    Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
}
