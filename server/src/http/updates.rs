//! `/v1/updates/*`: the desktop app's update feed (public). The feed
//! answers 204 when nothing newer is offered to the asking installation,
//! otherwise the release in Tauri's updater format; either way the answer
//! carries a statement signed with the feed key (see `orrery-updates`),
//! which the app checks before it believes a word. Packages are streamed
//! from their stored parts, one part in memory at a time.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orrery_updates::{
    Channel, CheckRequest, FeedRelease, SIGNATURE_HEADER, STATEMENT_HEADER, checked_arch,
    checked_installation, checked_target, checked_version, in_rollout,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{Access, ApiContext, ApiError, Routes};

/// Published releases a check looks through, newest first.
const RELEASES_LOOKED_AT: u32 = 200;

pub(super) fn router() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/v1/updates/{target}/{arch}/{current_version}",
            Access::Public,
            feed,
        )
        .add(
            Method::GET,
            "/v1/updates/packages/{release_id}/{target}/{arch}",
            Access::Public,
            package,
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    channel: Option<String>,
    installation: String,
}

fn bad(error: orrery_updates::RequestError) -> ApiError {
    ApiError::BadRequest(error.0)
}

/// The path of a release's package, below the server's address.
pub(crate) fn package_path(release: Uuid, target: &str, arch: &str) -> String {
    format!("/v1/updates/packages/{release}/{target}/{arch}")
}

async fn feed(
    State(context): State<ApiContext>,
    Path((target, arch, current_version)): Path<(String, String, String)>,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = super::admin::query(query)?;
    let request = CheckRequest {
        target: checked_target(&target).map_err(bad)?.to_owned(),
        arch: checked_arch(&arch).map_err(bad)?.to_owned(),
        current_version: checked_version(&current_version).map_err(bad)?,
        channel: query
            .channel
            .as_deref()
            .map(str::parse::<Channel>)
            .transpose()
            .map_err(bad)?
            .unwrap_or_default(),
        installation: checked_installation(&query.installation)
            .map_err(bad)?
            .to_owned(),
    };
    let Some(signer) = context.updates.feed_signer.clone() else {
        return Err(ApiError::NotFound(
            "this server does not offer updates (it has no feed key)".into(),
        ));
    };
    let channels: &[&str] = match request.channel {
        Channel::Stable => &["stable"],
        Channel::Beta => &["stable", "beta"],
    };
    let offered = context
        .store
        .offered_releases(channels, &request.target, &request.arch, RELEASES_LOOKED_AT)
        .await?;
    let newest = offered
        .into_iter()
        .filter_map(|release| {
            let version = semver::Version::parse(&release.version).ok()?;
            let reaches = version > request.current_version
                && in_rollout(
                    &request.installation,
                    &release.version,
                    release.rollout_percent,
                );
            reaches.then_some((version, release))
        })
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, release)| FeedRelease {
            url: package_path(release.id, &request.target, &request.arch),
            version: release.version,
            notes: release.notes,
            pub_date: release.published_at,
            signature: release.signature,
        });
    let statement = request.answer(newest.clone(), context.now());
    let signed = tokio::task::spawn_blocking(move || signer.sign_statement(&statement))
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    let mut response = match newest {
        Some(release) => axum::Json(release).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (STATEMENT_HEADER, signed.statement),
        (SIGNATURE_HEADER, signed.signature),
    ] {
        headers.insert(
            name,
            HeaderValue::from_str(&value).map_err(|error| ApiError::Internal(error.into()))?,
        );
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn package(
    State(context): State<ApiContext>,
    Path((release_id, target, arch)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let release: Uuid = release_id
        .parse()
        .map_err(|_| ApiError::BadRequest("the release id is not a UUID".into()))?;
    let target = checked_target(&target).map_err(bad)?;
    let arch = checked_arch(&arch).map_err(bad)?;
    let Some((parts, size)) = context
        .store
        .downloadable_package(release, target, arch)
        .await?
    else {
        return Err(ApiError::NotFound(
            "no such package, or its release is not published".into(),
        ));
    };
    let store = context.store.clone();
    let stream = futures_util::stream::unfold(0u32, move |part| {
        let store = store.clone();
        async move {
            if part >= parts {
                return None;
            }
            let bytes = match store.package_part(release, target, arch, part).await {
                Ok(Some(bytes)) => Ok(axum::body::Bytes::from(bytes)),
                Ok(None) => Err(std::io::Error::other("a part of the package is missing")),
                Err(error) => Err(std::io::Error::other(error.to_string())),
            };
            Some((bytes, part + 1))
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    Ok(response)
}
