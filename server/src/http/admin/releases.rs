//! `/v1/admin/releases/*`: publishing the desktop app's releases. A release
//! starts as a draft; its signed packages are uploaded in parts (at most
//! [`PART_BYTES`] each, so no request holds a whole package) and sealed
//! with the release key's signature, which is checked here against the
//! server's release key and the release's version, reading one part at a
//! time. Publishing offers it to `rollout_percent` of its channel's
//! installations; pulling it back stops offering it. Each change is audited.

use std::io::{Read, Seek, SeekFrom};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{Method, StatusCode};
use orrery_domain::policy::Action;
use orrery_store::{ReleaseChange, ReleaseDraft, ReleaseRecord, SealedPackage, ServerStore};
use orrery_updates::{Channel, MAX_NOTES_CHARS, checked_arch, checked_target, checked_version};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Admin, query};
use crate::http::{ApiContext, ApiError, Routes};

/// The largest part of a package.
pub const PART_BYTES: usize = 4 * 1024 * 1024;
/// Parts in a package at most (256 MiB in all).
pub const MAX_PARTS: u32 = 64;
/// Releases listed at once.
const LISTED_RELEASES: u32 = 100;
/// Longest package file name.
const MAX_FILE_NAME_CHARS: usize = 200;

pub(super) fn router() -> Routes {
    Routes::new()
        .add_admin(
            Method::GET,
            "/v1/admin/releases",
            Action::PublishReleases,
            list,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/releases",
            Action::PublishReleases,
            create,
        )
        .add_admin(
            Method::GET,
            "/v1/admin/releases/{release_id}",
            Action::PublishReleases,
            show,
        )
        .add_admin_limited(
            Method::PUT,
            "/v1/admin/releases/{release_id}/packages/{target}/{arch}/parts/{part}",
            Action::PublishReleases,
            PART_BYTES,
            put_part,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/releases/{release_id}/packages/{target}/{arch}/seal",
            Action::PublishReleases,
            seal,
        )
        .add_admin(
            Method::DELETE,
            "/v1/admin/releases/{release_id}/packages/{target}/{arch}",
            Action::PublishReleases,
            discard,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/releases/{release_id}/publish",
            Action::PublishReleases,
            publish,
        )
        .add_admin(
            Method::POST,
            "/v1/admin/releases/{release_id}/pull",
            Action::PublishReleases,
            pull,
        )
        .add_admin(
            Method::PUT,
            "/v1/admin/releases/{release_id}/rollout",
            Action::PublishReleases,
            set_rollout,
        )
}

#[derive(Debug, Serialize)]
struct PackageView {
    target: String,
    arch: String,
    file_name: String,
    parts: u32,
    sealed: bool,
    size_bytes: Option<u64>,
    sha256: Option<String>,
}

#[derive(Debug, Serialize)]
struct ReleaseView {
    id: Uuid,
    version: String,
    channel: String,
    notes: String,
    rollout_percent: u8,
    state: String,
    created_at: String,
    published_at: Option<String>,
    pulled_at: Option<String>,
    packages: Vec<PackageView>,
}

impl From<ReleaseRecord> for ReleaseView {
    fn from(release: ReleaseRecord) -> Self {
        Self {
            id: release.id,
            version: release.version,
            channel: release.channel,
            notes: release.notes,
            rollout_percent: release.rollout_percent,
            state: release.state,
            created_at: release.created_at,
            published_at: release.published_at,
            pulled_at: release.pulled_at,
            packages: release
                .packages
                .into_iter()
                .map(|package| PackageView {
                    target: package.target,
                    arch: package.arch,
                    file_name: package.file_name,
                    parts: package.parts,
                    sealed: package.sealed.is_some(),
                    size_bytes: package.sealed.as_ref().map(|sealed| sealed.size_bytes),
                    sha256: package.sealed.map(|sealed| sealed.sha256),
                })
                .collect(),
        }
    }
}

fn release_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse()
        .map_err(|_| ApiError::BadRequest("the release id is not a UUID".into()))
}

fn rollout(percent: u16) -> Result<u8, ApiError> {
    u8::try_from(percent)
        .ok()
        .filter(|percent| *percent <= 100)
        .ok_or_else(|| ApiError::Unprocessable("the rollout is 0 to 100 percent".into()))
}

fn changed(change: ReleaseChange) -> Result<Json<ReleaseView>, ApiError> {
    match change {
        ReleaseChange::Done(done) => Ok(Json(done.0.into())),
        ReleaseChange::NotFound => Err(ApiError::NotFound("no such release".into())),
        ReleaseChange::Refused(reason) => Err(ApiError::Conflict(reason)),
    }
}

async fn list(
    State(context): State<ApiContext>,
    _admin: Admin,
) -> Result<Json<Vec<ReleaseView>>, ApiError> {
    Ok(Json(
        context
            .store
            .releases(LISTED_RELEASES)
            .await?
            .into_iter()
            .map(ReleaseView::from)
            .collect(),
    ))
}

async fn show(
    State(context): State<ApiContext>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<ReleaseView>, ApiError> {
    let release = context
        .store
        .release(release_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such release".into()))?;
    Ok(Json(release.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRelease {
    version: String,
    channel: String,
    #[serde(default)]
    notes: String,
    #[serde(default = "everyone")]
    rollout_percent: u16,
}

fn everyone() -> u16 {
    100
}

async fn create(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    body: Result<Json<NewRelease>, JsonRejection>,
) -> Result<(StatusCode, Json<ReleaseView>), ApiError> {
    let Json(release) = body.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let version = checked_version(&release.version)
        .map_err(|error| ApiError::Unprocessable(error.0))?
        .to_string();
    let channel: Channel = release
        .channel
        .parse()
        .map_err(|error: orrery_updates::RequestError| ApiError::Unprocessable(error.0))?;
    let notes = release.notes.trim();
    if notes.chars().count() > MAX_NOTES_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "release notes are at most {MAX_NOTES_CHARS} characters"
        )));
    }
    let draft = ReleaseDraft {
        version: &version,
        channel: channel.as_str(),
        notes,
        rollout_percent: rollout(release.rollout_percent)?,
    };
    let created = context
        .store
        .create_release(draft, &admin.actor(peer), context.now())
        .await?
        .ok_or_else(|| ApiError::Conflict(format!("version {version} already has a release")))?;
    Ok((StatusCode::CREATED, Json(created.0.into())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartQuery {
    file_name: String,
}

fn file_name(text: &str) -> Result<&str, ApiError> {
    let fine = !text.is_empty()
        && text.chars().count() <= MAX_FILE_NAME_CHARS
        && !text.starts_with('.')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if fine {
        Ok(text)
    } else {
        Err(ApiError::Unprocessable(
            "the file name is 1 to 200 letters, digits, dots, dashes, underscores and pluses"
                .into(),
        ))
    }
}

async fn put_part(
    State(context): State<ApiContext>,
    _admin: Admin,
    Path((id, target, arch, part)): Path<(String, String, String, String)>,
    query_string: Result<Query<PartQuery>, QueryRejection>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let release = release_id(&id)?;
    let target = checked_target(&target).map_err(|error| ApiError::BadRequest(error.0))?;
    let arch = checked_arch(&arch).map_err(|error| ApiError::BadRequest(error.0))?;
    let part: u32 = part
        .parse()
        .ok()
        .filter(|part| *part < MAX_PARTS)
        .ok_or_else(|| {
            ApiError::BadRequest(format!("the part number is 0 to {}", MAX_PARTS - 1))
        })?;
    let query = query(query_string)?;
    let name = file_name(&query.file_name)?;
    if bytes.is_empty() {
        return Err(ApiError::Unprocessable(
            "a part holds at least one byte".into(),
        ));
    }
    match context
        .store
        .put_package_part(release, target, arch, name, part, &bytes)
        .await?
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(reason) if reason == "no such release" => Err(ApiError::NotFound(reason)),
        Err(reason) => Err(ApiError::Conflict(reason)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seal {
    signature: String,
}

/// A package's stored parts read in order as one stream, a part at a time
/// (on a blocking thread: each part is fetched from the database as the
/// reader reaches it), hashing what it reads.
struct PartsReader {
    store: ServerStore,
    runtime: tokio::runtime::Handle,
    release: Uuid,
    target: &'static str,
    arch: &'static str,
    parts: u32,
    next: u32,
    current: Vec<u8>,
    offset: usize,
    sha256: Sha256,
    size: u64,
}

impl Read for PartsReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.offset == self.current.len() {
            if self.next == self.parts {
                return Ok(0);
            }
            let part = self
                .runtime
                .block_on(
                    self.store
                        .package_part(self.release, self.target, self.arch, self.next),
                )
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::other("a part went missing while it was read"))?;
            self.sha256.update(&part);
            self.size += part.len() as u64;
            self.current = part;
            self.offset = 0;
            self.next += 1;
        }
        let count = buffer.len().min(self.current.len() - self.offset);
        buffer[..count].copy_from_slice(&self.current[self.offset..self.offset + count]);
        self.offset += count;
        Ok(count)
    }
}

impl Seek for PartsReader {
    /// Only the rewind to the start minisign may ask for, before reading.
    fn seek(&mut self, position: SeekFrom) -> std::io::Result<u64> {
        match position {
            SeekFrom::Start(0) if self.next == 0 => Ok(0),
            SeekFrom::Current(0) => Ok(self.size - (self.current.len() - self.offset) as u64),
            _ => Err(std::io::Error::other(
                "package parts are read once, in order",
            )),
        }
    }
}

async fn seal(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path((id, target, arch)): Path<(String, String, String)>,
    body: Result<Json<Seal>, JsonRejection>,
) -> Result<Json<ReleaseView>, ApiError> {
    let Json(seal) = body.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let release_id = release_id(&id)?;
    let target = checked_target(&target).map_err(|error| ApiError::BadRequest(error.0))?;
    let arch = checked_arch(&arch).map_err(|error| ApiError::BadRequest(error.0))?;
    let Some(key) = context.updates.release_key.clone() else {
        return Err(ApiError::Conflict(
            "this server has no release key (ORRERY_UPDATE_RELEASE_KEY): packages cannot be checked".into(),
        ));
    };
    if seal.signature.len() > 4_096 {
        return Err(ApiError::Unprocessable("the signature is too long".into()));
    }
    let release = context
        .store
        .release(release_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such release".into()))?;
    let numbers = context
        .store
        .package_part_numbers(release_id, target, arch)
        .await?;
    if numbers.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no package for {target} {arch} was uploaded"
        )));
    }
    let parts = numbers.len() as u32;
    if numbers.iter().copied().ne(0..parts) {
        return Err(ApiError::Unprocessable(format!(
            "parts 0 to {} are needed; {} are there",
            numbers.last().copied().unwrap_or(0),
            numbers
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut reader = PartsReader {
        store: context.store.clone(),
        runtime: tokio::runtime::Handle::current(),
        release: release_id,
        target,
        arch,
        parts,
        next: 0,
        current: Vec::new(),
        offset: 0,
        sha256: Sha256::new(),
        size: 0,
    };
    let version = release.version.clone();
    let signature = seal.signature.trim().to_owned();
    let checked = {
        let signature = signature.clone();
        tokio::task::spawn_blocking(move || {
            let result = key.verify_package_from(&mut reader, &signature, &version);
            (result, reader)
        })
        .await
        .map_err(|error| ApiError::Internal(error.into()))?
    };
    let (result, reader) = checked;
    result.map_err(|error| ApiError::Unprocessable(error.to_string()))?;
    let sealed = SealedPackage {
        signature,
        size_bytes: reader.size,
        sha256: format!("{:x}", reader.sha256.finalize()),
        sealed_at: String::new(),
    };
    changed(
        context
            .store
            .seal_package(
                release_id,
                target,
                arch,
                &sealed,
                parts,
                &admin.actor(peer),
                context.now(),
            )
            .await?,
    )
}

async fn discard(
    State(context): State<ApiContext>,
    _admin: Admin,
    Path((id, target, arch)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let release = release_id(&id)?;
    let target = checked_target(&target).map_err(|error| ApiError::BadRequest(error.0))?;
    let arch = checked_arch(&arch).map_err(|error| ApiError::BadRequest(error.0))?;
    if context.store.discard_package(release, target, arch).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(
            "no such package on a draft release".into(),
        ))
    }
}

async fn publish(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<ReleaseView>, ApiError> {
    changed(
        context
            .store
            .move_release(
                release_id(&id)?,
                "draft",
                "published",
                &admin.actor(peer),
                context.now(),
            )
            .await?,
    )
}

async fn pull(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<ReleaseView>, ApiError> {
    changed(
        context
            .store
            .move_release(
                release_id(&id)?,
                "published",
                "pulled",
                &admin.actor(peer),
                context.now(),
            )
            .await?,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollout {
    rollout_percent: u16,
}

async fn set_rollout(
    State(context): State<ApiContext>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    body: Result<Json<Rollout>, JsonRejection>,
) -> Result<Json<ReleaseView>, ApiError> {
    let Json(body) = body.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let percent = rollout(body.rollout_percent)?;
    changed(
        context
            .store
            .set_rollout(release_id(&id)?, percent, &admin.actor(peer), context.now())
            .await?,
    )
}
