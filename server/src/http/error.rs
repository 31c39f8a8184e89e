//! The HTTP layer's one error type: client errors carry a reason, internal
//! errors are logged and never leaked.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orrery_store::StoreError;
use orrery_sync::SyncError;

/// An answer other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials were presented.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The endpoint exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Too many attempts; try again after the given number of seconds.
    #[error("{message}")]
    TooManyRequests {
        /// What is limited and until when.
        message: String,
        /// Seconds until a new attempt can succeed.
        retry_after_secs: u64,
    },
    /// The access policy engine said no: a feature outside the plan (403) or
    /// a limit reached (429, with the time the count resets).
    #[error("{}", decision.reason)]
    Denied {
        /// The engine's answer, limits included.
        decision: orrery_domain::policy::Decision,
        /// Seconds until a per-period limit resets, when one was reached.
        retry_after_secs: Option<u64>,
    },
    /// A service the server depends on (an OAuth provider) failed.
    #[error("{0}")]
    BadGateway(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what the server holds.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the endpoint accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Well-formed but unacceptable content.
    #[error("{0}")]
    Unprocessable(String),
    /// The server is at a bound it keeps (hashing queue, body bytes in
    /// memory); the request was not started and may be sent again later.
    #[error("{message}")]
    Busy {
        /// What is full.
        message: String,
        /// Seconds to wait before sending again.
        retry_after_secs: u64,
    },
    /// The client took too long to send its request.
    #[error("{0}")]
    RequestTimeout(String),
    /// Something failed on the server's side.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    /// For policy refusals: every limit that applied, with its numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<&'a [orrery_domain::policy::AppliedLimit]>,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            }
            ApiError::BadGateway(_) => (StatusCode::BAD_GATEWAY, "bad_gateway"),
            ApiError::Denied { decision, .. }
                if decision.limits.iter().any(|limit| !limit.holds()) =>
            {
                (StatusCode::TOO_MANY_REQUESTS, "limit_reached")
            }
            ApiError::Denied { .. } => (StatusCode::FORBIDDEN, "not_in_plan"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = ?error, "request failed");
        }
        let (status, code) = self.status_and_code();
        let body = ErrorBody {
            error: code,
            message: self.to_string(),
            limits: match &self {
                ApiError::Denied { decision, .. } => Some(&decision.limits),
                _ => None,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match &self {
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            ApiError::Denied {
                retry_after_secs, ..
            } => *retry_after_secs,
            ApiError::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        if let ApiError::Unauthorized(_) = &self {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Internal(error.into())
    }
}

impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::Store(error) => error.into(),
            SyncError::MissingDependencies => ApiError::Conflict(error.to_string()),
            SyncError::Frame(_)
            | SyncError::InvalidUpdate(_)
            | SyncError::InvalidDocument(_)
            | SyncError::Graph(_)
            | SyncError::Library(_) => ApiError::BadRequest(error.to_string()),
            SyncError::NoSuchGraph(_) | SyncError::NoSuchDocument(..) => {
                ApiError::NotFound(error.to_string())
            }
            SyncError::Offline { .. } | SyncError::Server { .. } => {
                ApiError::Internal(error.into())
            }
        }
    }
}

impl From<orrery_sync::protocol::FrameError> for ApiError {
    fn from(error: orrery_sync::protocol::FrameError) -> Self {
        ApiError::BadRequest(error.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(rejection.body_text()),
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(rejection.body_text()),
            _ => ApiError::BadRequest(rejection.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
                "the body exceeds the limit of {} bytes",
                orrery_sync::protocol::MAX_FRAME_BYTES
            )),
            _ => ApiError::BadRequest(rejection.body_text()),
        }
    }
}

impl From<crate::auth::hashing::HashingRefused> for ApiError {
    fn from(refused: crate::auth::hashing::HashingRefused) -> Self {
        use crate::auth::hashing::HashingRefused;
        match refused {
            HashingRefused::Busy => ApiError::Busy {
                message: refused.to_string(),
                retry_after_secs: 1,
            },
            HashingRefused::AddressBusy => ApiError::TooManyRequests {
                message: refused.to_string(),
                retry_after_secs: 1,
            },
        }
    }
}

impl From<crate::auth::oauth::OAuthError> for ApiError {
    fn from(error: crate::auth::oauth::OAuthError) -> Self {
        use crate::auth::oauth::OAuthError;
        match error {
            OAuthError::BadRequest(_) | OAuthError::Refused { .. } => {
                ApiError::BadRequest(error.to_string())
            }
            OAuthError::Untrusted { .. } => ApiError::Unauthorized(error.to_string()),
            OAuthError::Unreachable { .. } => ApiError::BadGateway(error.to_string()),
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}
