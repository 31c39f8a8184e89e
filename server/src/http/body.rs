//! Request bodies are admitted before they are read: every body is read in
//! full here, within the body timeout, and only while the server-wide budget
//! of body bytes in memory has room for it, and the client's address holds
//! no more than a quarter of that budget (or one body, if a body is larger
//! than that quarter). A body over the largest any route
//! accepts is refused from its `Content-Length` without reading it. Past the
//! budget the answer is 503 with `Retry-After`, so however many clients send
//! large bodies at once, the memory they take is bounded. Routes then apply
//! their own, smaller limits to the bytes read here.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiContext, ApiError};
use crate::auth::rate_limit::AddressKey;

/// The largest body any route accepts: a sync frame.
pub const MAX_REQUEST_BODY_BYTES: usize = orrery_sync::protocol::MAX_FRAME_BYTES;

/// Permits of the budget semaphore: one per KiB, and never fewer than the
/// largest body takes (a smaller budget would refuse every such body).
pub(super) fn budget_permits(bytes: usize) -> usize {
    (bytes.max(MAX_REQUEST_BODY_BYTES) / 1024).min(tokio::sync::Semaphore::MAX_PERMITS)
}

fn busy() -> Response {
    ApiError::Busy {
        message: "the server is receiving more data than it holds at once; send again shortly"
            .into(),
        retry_after_secs: 1,
    }
    .into_response()
}

/// The middleware: see the module documentation.
pub(super) async fn admit(
    State(context): State<ApiContext>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let declared = match parts.headers.get(CONTENT_LENGTH) {
        None => None,
        Some(value) => match value
            .to_str()
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
        {
            Some(length) => Some(length),
            None => {
                return ApiError::BadRequest("Content-Length is not a number".into())
                    .into_response();
            }
        },
    };
    let chunked = parts.headers.contains_key(TRANSFER_ENCODING);
    if !chunked && declared.unwrap_or(0) == 0 {
        // No body (GET, WebSocket upgrades, empty POSTs): nothing to hold.
        return next.run(Request::from_parts(parts, body)).await;
    }
    let limit = MAX_REQUEST_BODY_BYTES;
    let reserve = match declared {
        Some(length) if length > limit as u64 => {
            return ApiError::PayloadTooLarge(format!(
                "the body is {length} bytes, over the limit of {limit} bytes that any endpoint accepts"
            ))
            .into_response();
        }
        // `Content-Length` fits a usize: it is at most `limit`.
        Some(length) => length as usize,
        None => limit,
    };
    let kib = reserve.div_ceil(1024).max(1);
    let budget = budget_permits(context.limits.body_bytes_in_flight);
    let address = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| AddressKey::from(peer.ip()));
    // A quarter of the budget per address, or one body if it is larger.
    let per_address = (budget / 4).max(kib.min(budget));
    let _share = match address {
        Some(address) => match context.body_held.take(address, kib, per_address) {
            Some(share) => Some(share),
            None => return busy(),
        },
        None => None,
    };
    let Ok(permits) = u32::try_from(kib) else {
        return busy();
    };
    let Ok(_permit) = Arc::clone(&context.body_budget).try_acquire_many_owned(permits) else {
        return busy();
    };
    let read = tokio::time::timeout(
        context.limits.body_timeout,
        axum::body::to_bytes(body, limit),
    )
    .await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            return if too_large {
                ApiError::PayloadTooLarge(format!(
                    "the body exceeds the limit of {limit} bytes that any endpoint accepts"
                ))
            } else {
                ApiError::BadRequest(format!("the request body could not be read: {error}"))
            }
            .into_response();
        }
        Err(_) => {
            return ApiError::RequestTimeout(format!(
                "the request body did not arrive within {} s",
                context.limits.body_timeout.as_secs()
            ))
            .into_response();
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// For routes that take no body: a body sent anyway is refused, so a
/// client that thinks it says something learns it does not.
pub(crate) fn refuse_body(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(), super::ApiError> {
    if !body?.is_empty() {
        return Err(super::ApiError::BadRequest(
            "this route takes no body; POST it empty".into(),
        ));
    }
    Ok(())
}
