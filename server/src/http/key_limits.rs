//! Per API key rate limits: every request that presents an API key counts
//! against that key's calls per minute (`--api-key-calls-per-minute`, 120),
//! over a sliding window, checked and counted in one step so parallel calls
//! cannot pass it together. Answers carry the IETF `RateLimit-Policy` and
//! `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers: `q` the quota,
//! `w` the window, `r` what is left, `t` seconds until more is allowed); past
//! the limit a call gets 429 with `Retry-After` and reaches no handler.
//!
//! The count is keyed by the key's hash, before the key is looked up; a call
//! the server then refuses as unauthenticated is taken back, so made-up keys
//! neither use a real key's quota nor stay in memory.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiContext, ApiError};
use crate::auth::rate_limit::Quota;
use crate::auth::secrets::{API_KEY_PREFIX, hash_secret};

/// The policy's name in the fields.
const POLICY: &str = "api-key";

fn seconds(duration: chrono::Duration) -> i64 {
    duration.num_seconds().max(1)
}

fn fields(response: &mut Response, quota: &Quota) {
    let policy = format!(
        "\"{POLICY}\";q={};w={}",
        quota.limit,
        quota.window.num_seconds()
    );
    let left = format!(
        "\"{POLICY}\";r={};t={}",
        quota.remaining,
        seconds(quota.reset_after)
    );
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", left)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// Counts a call made with an API key, or refuses it past the key's limit.
pub(super) async fn limit_api_keys(
    State(context): State<ApiContext>,
    request: Request,
    next: Next,
) -> Response {
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| token.starts_with(API_KEY_PREFIX))
        .map(hash_secret);
    let Some(key) = key else {
        return next.run(request).await;
    };
    let now = context.now();
    match context.api_key_calls.reserve(&key, now) {
        Err(wait) => {
            let mut response = ApiError::TooManyRequests {
                message: format!(
                    "this API key made {} calls in the last minute, its limit; try again in {} s",
                    context.limits.api_key_calls_per_minute,
                    seconds(wait)
                ),
                retry_after_secs: u64::try_from(seconds(wait)).unwrap_or(1),
            }
            .into_response();
            fields(
                &mut response,
                &Quota {
                    limit: context.limits.api_key_calls_per_minute,
                    remaining: 0,
                    reset_after: wait,
                    window: chrono::Duration::minutes(1),
                },
            );
            response
        }
        Ok(quota) => {
            let mut response = next.run(request).await;
            if response.status() == StatusCode::UNAUTHORIZED {
                // Not a key of this server (or no longer): it counts for nothing.
                context.api_key_calls.give_back(&key, now);
            } else {
                fields(&mut response, &quota);
            }
            response
        }
    }
}
