//! Releases of the desktop app (migration server/0024, pg 0020): drafts, the
//! signed packages uploaded to them in parts, publishing, the staged
//! rollout, and pulling a release back. Every change an admin makes is
//! audited in the same transaction; every change of state is conditional
//! on the state it leaves, so two admins racing cannot publish a release
//! twice or seal a package while it is being replaced.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::accounts::timestamp;
use crate::admin::{AuditActor, AuditDraft, AuditEntry, append_audit};
use crate::local::parse_id;
use crate::{ServerStore, StoreError};

/// A release and its packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    /// Its id.
    pub id: Uuid,
    /// Its semantic version.
    pub version: String,
    /// `stable` or `beta`.
    pub channel: String,
    /// What changed.
    pub notes: String,
    /// Share of installations offered it, 0 to 100.
    pub rollout_percent: u8,
    /// `draft`, `published` or `pulled`.
    pub state: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once published.
    pub published_at: Option<String>,
    /// RFC 3339, once pulled.
    pub pulled_at: Option<String>,
    /// Its packages, sealed or being uploaded.
    pub packages: Vec<PackageRecord>,
}

/// A release's package for one target and architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    /// Tauri's updater target (`linux-deb`).
    pub target: String,
    /// `x86_64`, ...
    pub arch: String,
    /// The file's name as built.
    pub file_name: String,
    /// Parts uploaded so far (while unsealed) or in all.
    pub parts: u32,
    /// Set once sealed: the release key's signature, size and SHA-256.
    pub sealed: Option<SealedPackage>,
}

/// What sealing a package records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPackage {
    /// The release key's minisign signature (base64).
    pub signature: String,
    /// Bytes in all.
    pub size_bytes: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// RFC 3339.
    pub sealed_at: String,
}

/// A published release the feed may offer for one target and architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedRelease {
    /// The release.
    pub id: Uuid,
    /// Its version.
    pub version: String,
    /// Its channel.
    pub channel: String,
    /// What changed.
    pub notes: String,
    /// Share of installations offered it.
    pub rollout_percent: u8,
    /// RFC 3339.
    pub published_at: String,
    /// The package's signature.
    pub signature: String,
}

/// A new release.
#[derive(Debug, Clone)]
pub struct ReleaseDraft<'a> {
    /// Its semantic version (unique).
    pub version: &'a str,
    /// `stable` or `beta`.
    pub channel: &'a str,
    /// What changed.
    pub notes: &'a str,
    /// Share of installations offered it once published.
    pub rollout_percent: u8,
}

/// What an admin's change of a release came to.
#[derive(Debug)]
pub enum ReleaseChange {
    /// Done, with the release as it is now and the audit entry.
    Done(Box<(ReleaseRecord, AuditEntry)>),
    /// No such release (or package).
    NotFound,
    /// Not in a state that allows it: why.
    Refused(String),
}

const RELEASE_COLUMNS: &str =
    "id, version, channel, notes, rollout_percent, state, created_at, published_at, pulled_at";

fn release_from_row(row: &AnyRow) -> Result<ReleaseRecord, StoreError> {
    let percent: i64 = row.get("rollout_percent");
    Ok(ReleaseRecord {
        id: parse_id(&row.get::<String, _>("id"), "releases")?,
        version: row.get("version"),
        channel: row.get("channel"),
        notes: row.get("notes"),
        rollout_percent: u8::try_from(percent)
            .map_err(|error| StoreError::corrupt("releases", error))?,
        state: row.get("state"),
        created_at: row.get("created_at"),
        published_at: row.get("published_at"),
        pulled_at: row.get("pulled_at"),
        packages: Vec::new(),
    })
}

fn release_json(release: &ReleaseRecord) -> serde_json::Value {
    serde_json::json!({
        "version": release.version,
        "channel": release.channel,
        "state": release.state,
        "rollout_percent": release.rollout_percent,
    })
}

impl ServerStore {
    /// Creates a draft release, audited. `None` if the version exists.
    pub async fn create_release(
        &self,
        draft: ReleaseDraft<'_>,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<Option<(ReleaseRecord, AuditEntry)>, StoreError> {
        let mut transaction = self.admin_transaction().await?;
        let id = Uuid::now_v7();
        let inserted = sqlx::query(
            "INSERT INTO releases (id, version, channel, notes, rollout_percent, state, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7)
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(draft.version)
        .bind(draft.channel)
        .bind(draft.notes)
        .bind(i64::from(draft.rollout_percent))
        .bind(actor.user_id.to_string())
        .bind(timestamp(now))
        .execute(&mut *transaction)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(None);
        }
        let release = ReleaseRecord {
            id,
            version: draft.version.to_owned(),
            channel: draft.channel.to_owned(),
            notes: draft.notes.to_owned(),
            rollout_percent: draft.rollout_percent,
            state: "draft".into(),
            created_at: timestamp(now),
            published_at: None,
            pulled_at: None,
            packages: Vec::new(),
        };
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: "release.create",
                target_kind: "release",
                target_id: &id.to_string(),
                before: serde_json::Value::Null,
                after: release_json(&release),
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(Some((release, entry)))
    }

    /// One release with its packages.
    pub async fn release(&self, id: Uuid) -> Result<Option<ReleaseRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {RELEASE_COLUMNS} FROM releases WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut release = release_from_row(&row)?;
        release.packages = self.packages_of(id).await?;
        Ok(Some(release))
    }

    /// The newest releases first, with their packages.
    pub async fn releases(&self, limit: u32) -> Result<Vec<ReleaseRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RELEASE_COLUMNS} FROM releases ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut releases = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut release = release_from_row(row)?;
            release.packages = self.packages_of(release.id).await?;
            releases.push(release);
        }
        Ok(releases)
    }

    async fn packages_of(&self, release: Uuid) -> Result<Vec<PackageRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.target, p.arch, p.file_name, p.signature, p.size_bytes, p.sha256, p.parts, p.sealed_at,
                    (SELECT COUNT(*) FROM release_package_parts q
                      WHERE q.release_id = p.release_id AND q.target = p.target AND q.arch = p.arch) AS uploaded
             FROM release_packages p WHERE p.release_id = $1 ORDER BY p.target, p.arch",
        )
        .bind(release.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let sealed_at: Option<String> = row.get("sealed_at");
                let uploaded: i64 = row.get("uploaded");
                let sealed = match sealed_at {
                    None => None,
                    Some(sealed_at) => Some(SealedPackage {
                        signature: row
                            .get::<Option<String>, _>("signature")
                            .unwrap_or_default(),
                        size_bytes: u64::try_from(
                            row.get::<Option<i64>, _>("size_bytes").unwrap_or(0),
                        )
                        .map_err(|error| StoreError::corrupt("release_packages", error))?,
                        sha256: row.get::<Option<String>, _>("sha256").unwrap_or_default(),
                        sealed_at,
                    }),
                };
                Ok(PackageRecord {
                    target: row.get("target"),
                    arch: row.get("arch"),
                    file_name: row.get("file_name"),
                    parts: u32::try_from(uploaded)
                        .map_err(|error| StoreError::corrupt("release_packages", error))?,
                    sealed,
                })
            })
            .collect()
    }

    /// Stores one part of a draft release's package (replacing a part of
    /// the same number), creating the package if it is new. Refused once
    /// the package is sealed or the release published.
    pub async fn put_package_part(
        &self,
        release: Uuid,
        target: &str,
        arch: &str,
        file_name: &str,
        part: u32,
        bytes: &[u8],
    ) -> Result<Result<(), String>, StoreError> {
        let mut transaction = self.write_transaction().await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM releases WHERE id = $1")
            .bind(release.to_string())
            .fetch_optional(&mut *transaction)
            .await?;
        match state.as_deref() {
            None => return Ok(Err("no such release".into())),
            Some("draft") => {}
            Some(state) => {
                return Ok(Err(format!(
                    "the release is {state}; packages are uploaded to drafts"
                )));
            }
        }
        sqlx::query(
            "INSERT INTO release_packages (release_id, target, arch, file_name) VALUES ($1, $2, $3, $4)
             ON CONFLICT (release_id, target, arch) DO UPDATE SET file_name = excluded.file_name
             WHERE release_packages.sealed_at IS NULL",
        )
        .bind(release.to_string())
        .bind(target)
        .bind(arch)
        .bind(file_name)
        .execute(&mut *transaction)
        .await?;
        let sealed: Option<String> = sqlx::query_scalar(
            "SELECT sealed_at FROM release_packages WHERE release_id = $1 AND target = $2 AND arch = $3",
        )
        .bind(release.to_string())
        .bind(target)
        .bind(arch)
        .fetch_one(&mut *transaction)
        .await?;
        if sealed.is_some() {
            return Ok(Err(
                "the package is sealed; discard it to upload it again".into()
            ));
        }
        sqlx::query(
            "INSERT INTO release_package_parts (release_id, target, arch, part, bytes) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (release_id, target, arch, part) DO UPDATE SET bytes = excluded.bytes",
        )
        .bind(release.to_string())
        .bind(target)
        .bind(arch)
        .bind(i64::from(part))
        .bind(bytes)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(Ok(()))
    }

    /// The numbers of a package's stored parts, in order.
    pub async fn package_part_numbers(
        &self,
        release: Uuid,
        target: &str,
        arch: &str,
    ) -> Result<Vec<u32>, StoreError> {
        let numbers: Vec<i64> = sqlx::query_scalar(
            "SELECT part FROM release_package_parts WHERE release_id = $1 AND target = $2 AND arch = $3 ORDER BY part",
        )
        .bind(release.to_string())
        .bind(target)
        .bind(arch)
        .fetch_all(&self.pool)
        .await?;
        numbers
            .into_iter()
            .map(|n| u32::try_from(n).map_err(|e| StoreError::corrupt("release_package_parts", e)))
            .collect()
    }

    /// One part of a package.
    pub async fn package_part(
        &self,
        release: Uuid,
        target: &str,
        arch: &str,
        part: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT bytes FROM release_package_parts WHERE release_id = $1 AND target = $2 AND arch = $3 AND part = $4",
        )
        .bind(release.to_string())
        .bind(target)
        .bind(arch)
        .bind(i64::from(part))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Seals a draft's package with its checked signature, audited. The
    /// parts must still be the `parts` that were checked.
    #[allow(clippy::too_many_arguments)]
    pub async fn seal_package(
        &self,
        release: Uuid,
        target: &str,
        arch: &str,
        sealed: &SealedPackage,
        parts: u32,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<ReleaseChange, StoreError> {
        let mut transaction = self.admin_transaction().await?;
        let stored: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM release_package_parts WHERE release_id = $1 AND target = $2 AND arch = $3",
        )
        .bind(release.to_string())
        .bind(target)
        .bind(arch)
        .fetch_one(&mut *transaction)
        .await?;
        if stored != i64::from(parts) {
            return Ok(ReleaseChange::Refused(
                "the package's parts changed while it was being checked; seal it again".into(),
            ));
        }
        let size = i64::try_from(sealed.size_bytes).unwrap_or(i64::MAX);
        let updated = sqlx::query(
            "UPDATE release_packages SET signature = $4, size_bytes = $5, sha256 = $6, parts = $7, sealed_at = $8
             WHERE release_id = $1 AND target = $2 AND arch = $3 AND sealed_at IS NULL
               AND EXISTS (SELECT 1 FROM releases r WHERE r.id = $1 AND r.state = 'draft')",
        )
        .bind(release.to_string())
        .bind(target)
        .bind(arch)
        .bind(&sealed.signature)
        .bind(size)
        .bind(&sealed.sha256)
        .bind(i64::from(parts))
        .bind(timestamp(now))
        .execute(&mut *transaction)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(ReleaseChange::Refused(
                "the package is already sealed, or the release is no longer a draft".into(),
            ));
        }
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: "release.package",
                target_kind: "release",
                target_id: &release.to_string(),
                before: serde_json::Value::Null,
                after: serde_json::json!({
                    "target": target, "arch": arch, "size_bytes": sealed.size_bytes, "sha256": sealed.sha256,
                }),
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        self.changed(release, entry).await
    }

    /// Removes a draft's package and its parts.
    pub async fn discard_package(
        &self,
        release: Uuid,
        target: &str,
        arch: &str,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.write_transaction().await?;
        sqlx::query(
            "DELETE FROM release_package_parts WHERE release_id = $1 AND target = $2 AND arch = $3
               AND EXISTS (SELECT 1 FROM releases r WHERE r.id = $1 AND r.state = 'draft')",
        )
        .bind(release.to_string())
        .bind(target)
        .bind(arch)
        .execute(&mut *transaction)
        .await?;
        let removed = sqlx::query(
            "DELETE FROM release_packages WHERE release_id = $1 AND target = $2 AND arch = $3
               AND EXISTS (SELECT 1 FROM releases r WHERE r.id = $1 AND r.state = 'draft')",
        )
        .bind(release.to_string())
        .bind(target)
        .bind(arch)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(removed.rows_affected() > 0)
    }

    async fn changed(&self, release: Uuid, entry: AuditEntry) -> Result<ReleaseChange, StoreError> {
        Ok(match self.release(release).await? {
            Some(record) => ReleaseChange::Done(Box::new((record, entry))),
            None => ReleaseChange::NotFound,
        })
    }

    /// Moves a release from `from` to `to` (publishing, pulling back),
    /// audited; publishing needs a sealed package and no package mid-upload.
    pub async fn move_release(
        &self,
        release: Uuid,
        from: &str,
        to: &str,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<ReleaseChange, StoreError> {
        let mut transaction = self.admin_transaction().await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM releases WHERE id = $1")
            .bind(release.to_string())
            .fetch_optional(&mut *transaction)
            .await?;
        let Some(state) = state else {
            return Ok(ReleaseChange::NotFound);
        };
        if state != from {
            return Ok(ReleaseChange::Refused(format!(
                "the release is {state}, not {from}"
            )));
        }
        if to == "published" {
            let (sealed, open): (i64, i64) = {
                let row = sqlx::query(
                    "SELECT COALESCE(SUM(CASE WHEN sealed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS sealed,
                            COALESCE(SUM(CASE WHEN sealed_at IS NULL THEN 1 ELSE 0 END), 0) AS open
                     FROM release_packages WHERE release_id = $1",
                )
                .bind(release.to_string())
                .fetch_one(&mut *transaction)
                .await?;
                (row.get("sealed"), row.get("open"))
            };
            if sealed == 0 {
                return Ok(ReleaseChange::Refused(
                    "a release needs at least one sealed package to be published".into(),
                ));
            }
            if open > 0 {
                return Ok(ReleaseChange::Refused(
                    "a package is still being uploaded: seal or discard it first".into(),
                ));
            }
        }
        let column = if to == "published" {
            "published_at"
        } else {
            "pulled_at"
        };
        sqlx::query(&format!(
            "UPDATE releases SET state = $2, {column} = $3 WHERE id = $1 AND state = $4"
        ))
        .bind(release.to_string())
        .bind(to)
        .bind(timestamp(now))
        .bind(from)
        .execute(&mut *transaction)
        .await?;
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: if to == "published" {
                    "release.publish"
                } else {
                    "release.pull"
                },
                target_kind: "release",
                target_id: &release.to_string(),
                before: serde_json::json!({ "state": from }),
                after: serde_json::json!({ "state": to }),
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        self.changed(release, entry).await
    }

    /// Sets the share of installations a release reaches, audited.
    pub async fn set_rollout(
        &self,
        release: Uuid,
        percent: u8,
        actor: &AuditActor,
        now: DateTime<Utc>,
    ) -> Result<ReleaseChange, StoreError> {
        let mut transaction = self.admin_transaction().await?;
        let before: Option<i64> =
            sqlx::query_scalar("SELECT rollout_percent FROM releases WHERE id = $1")
                .bind(release.to_string())
                .fetch_optional(&mut *transaction)
                .await?;
        let Some(before) = before else {
            return Ok(ReleaseChange::NotFound);
        };
        sqlx::query("UPDATE releases SET rollout_percent = $2 WHERE id = $1")
            .bind(release.to_string())
            .bind(i64::from(percent))
            .execute(&mut *transaction)
            .await?;
        let entry = append_audit(
            &mut transaction,
            AuditDraft {
                actor,
                action: "release.rollout",
                target_kind: "release",
                target_id: &release.to_string(),
                before: serde_json::json!({ "rollout_percent": before }),
                after: serde_json::json!({ "rollout_percent": percent }),
                now,
            },
        )
        .await?;
        transaction.commit().await?;
        self.changed(release, entry).await
    }

    /// Published releases on `channels` with a sealed package for the
    /// target and architecture, newest first (at most `limit`).
    pub async fn offered_releases(
        &self,
        channels: &[&str],
        target: &str,
        arch: &str,
        limit: u32,
    ) -> Result<Vec<OfferedRelease>, StoreError> {
        let beta = channels.contains(&"beta");
        let stable = channels.contains(&"stable");
        let rows = sqlx::query(
            "SELECT r.id, r.version, r.channel, r.notes, r.rollout_percent, r.published_at, p.signature
             FROM releases r JOIN release_packages p ON p.release_id = r.id
             WHERE r.state = 'published' AND p.target = $1 AND p.arch = $2 AND p.sealed_at IS NOT NULL
               AND ((r.channel = 'stable' AND $3 = 1) OR (r.channel = 'beta' AND $4 = 1))
             ORDER BY r.published_at DESC LIMIT $5",
        )
        .bind(target)
        .bind(arch)
        .bind(i64::from(stable))
        .bind(i64::from(beta))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let percent: i64 = row.get("rollout_percent");
                Ok(OfferedRelease {
                    id: parse_id(&row.get::<String, _>("id"), "releases")?,
                    version: row.get("version"),
                    channel: row.get("channel"),
                    notes: row.get("notes"),
                    rollout_percent: u8::try_from(percent)
                        .map_err(|error| StoreError::corrupt("releases", error))?,
                    published_at: row
                        .get::<Option<String>, _>("published_at")
                        .unwrap_or_default(),
                    signature: row
                        .get::<Option<String>, _>("signature")
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Whether a release's package may be downloaded (published, sealed),
    /// and how many parts and bytes it has.
    pub async fn downloadable_package(
        &self,
        release: Uuid,
        target: &str,
        arch: &str,
    ) -> Result<Option<(u32, u64)>, StoreError> {
        let row = sqlx::query(
            "SELECT p.parts, p.size_bytes FROM release_packages p JOIN releases r ON r.id = p.release_id
             WHERE p.release_id = $1 AND p.target = $2 AND p.arch = $3
               AND p.sealed_at IS NOT NULL AND r.state = 'published'",
        )
        .bind(release.to_string())
        .bind(target)
        .bind(arch)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let parts: Option<i64> = row.get("parts");
        let size: Option<i64> = row.get("size_bytes");
        Ok(Some((
            u32::try_from(parts.unwrap_or(0))
                .map_err(|e| StoreError::corrupt("release_packages", e))?,
            u64::try_from(size.unwrap_or(0))
                .map_err(|e| StoreError::corrupt("release_packages", e))?,
        )))
    }
}
