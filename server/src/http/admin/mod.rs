//! `/v1/admin/*`: what the operator of the server manages, one module per
//! resource (`users`, `audit`, `overview`, `tenants`, `prompts`, `monitoring`, `mail_templates`, `user_data`, `marketplace`, `releases`; plans are edited in `plans.rs`). Every route
//! here is added with [`Routes::add_admin`](super::Routes), so [`gate`]
//! decides before any handler runs: it signs the caller in (a suspended
//! user's credentials resolve to no one: 401), refuses API keys (403), and
//! asks the policy engine for the route's operator action (403 unless the
//! caller is an admin). Handlers take the admin from [`Admin`].

mod audit;
mod mail_templates;
mod marketplace;
mod monitoring;
mod overview;
mod prompts;
mod releases;
mod tenants;
mod user_data;
mod users;

use std::net::SocketAddr;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use orrery_domain::policy::Action;
use orrery_store::{AuditActor, Principal};

use super::{ApiContext, ApiError, Routes, SignedIn};

pub(super) fn router() -> Routes {
    Routes::new()
        .merge(users::router())
        .merge(audit::router())
        .merge(overview::router())
        .merge(user_data::router())
        .merge(tenants::router())
        .merge(prompts::router())
        .merge(monitoring::router())
        .merge(mail_templates::router())
        .merge(marketplace::router())
        .merge(releases::router())
}

/// The admin a gated request comes from (put there by [`gate`]).
#[derive(Debug, Clone)]
pub(crate) struct Admin(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Admin>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "an admin handler ran on a route without the admin gate"
            ))
        })
    }
}

impl Admin {
    /// The admin as the audit log records them, with the address the
    /// request came from.
    pub(crate) fn actor(&self, peer: SocketAddr) -> AuditActor {
        AuditActor {
            user_id: self.0.user_id,
            address: peer.ip().to_string(),
        }
    }
}

/// Lets the request through only if its caller may do `action`.
pub(super) async fn gate(action: Action, request: Request, next: Next) -> Response {
    let Some(context) = request.extensions().get::<ApiContext>().cloned() else {
        return ApiError::Internal(anyhow::anyhow!("the admin gate has no context"))
            .into_response();
    };
    let (mut parts, body) = request.into_parts();
    let principal = match SignedIn::from_request_parts(&mut parts, &context).await {
        Ok(SignedIn(principal)) => principal,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = super::policy::administer(&context, &principal, &action).await {
        return error.into_response();
    }
    parts.extensions.insert(Admin(principal));
    next.run(Request::from_parts(parts, body)).await
}

/// Pages of admin lists: 1-based, at most [`MAX_PER_PAGE`] items. A page past
/// the end is an empty page (with the total), not an error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    pub page: u64,
    pub per_page: u64,
}

/// Items on one page at most.
pub const MAX_PER_PAGE: u64 = 100;
/// Items on a page unless asked otherwise.
pub const DEFAULT_PER_PAGE: u64 = 25;
/// The last page number accepted (so offsets stay small numbers).
pub const MAX_PAGE: u64 = 100_000;

impl Paging {
    pub(crate) fn from_query(page: Option<u64>, per_page: Option<u64>) -> Result<Self, ApiError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(ApiError::Unprocessable(format!(
                "page must be 1 to {MAX_PAGE}"
            )));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::Unprocessable(format!(
                "per_page must be 1 to {MAX_PER_PAGE}"
            )));
        }
        Ok(Self { page, per_page })
    }

    pub(crate) fn offset(self) -> u64 {
        (self.page - 1) * self.per_page
    }
}

/// A query string's fields, or a 400 that says what is wrong with it.
pub(crate) fn query<T: serde::de::DeserializeOwned>(
    query: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    query
        .map(|axum::extract::Query(value)| value)
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

/// Longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// A list's search text: trimmed, `None` when empty, a 422 when longer than
/// [`MAX_SEARCH_CHARS`].
pub(crate) fn search_text(text: Option<&str>) -> Result<Option<String>, ApiError> {
    match text.map(str::trim) {
        Some(text) if text.chars().count() > MAX_SEARCH_CHARS => Err(ApiError::Unprocessable(
            format!("the search is at most {MAX_SEARCH_CHARS} characters"),
        )),
        Some("") | None => Ok(None),
        Some(text) => Ok(Some(text.to_owned())),
    }
}

/// A user id from the path, or a 400 naming the shape it should have.
pub(crate) fn user_id(text: &str) -> Result<uuid::Uuid, ApiError> {
    text.parse().map_err(|_| {
        let shown: String = text.chars().take(60).collect();
        ApiError::BadRequest(format!("`{shown}` is not a user id (a UUID)"))
    })
}
