//! orrery-updates: the update feed's signed answers.
//!
//! Tauri's updater checks that a downloaded package is signed by the
//! release key and, with `requireSignedVersion`, that the signature names
//! the version the feed announced. It cannot tell a fresh answer from a
//! stale one: a mirror that keeps serving last month's "nothing newer"
//! freezes its users on an old version without anyone noticing. So the sync
//! server signs every answer of its feed with a second key (the feed key),
//! stating for whom it answers (target, architecture, current version,
//! channel, installation) and until when; the app refuses an answer that is
//! unsigned, signed by another key, meant for another request, expired, or
//! that offers a version that is not newer. Only then does it hand the
//! release to Tauri's updater, which checks the package itself.
//!
//! The statement travels in two headers ([`STATEMENT_HEADER`],
//! [`SIGNATURE_HEADER`]) of every answer, 200 and 204 alike. Keys and
//! signatures are minisign's, in the base64 form Tauri's CLI writes
//! (`tauri signer generate`), so one tool makes both keys.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod keys;
#[cfg(feature = "sign")]
pub use keys::UpdateSigner;
pub use keys::{KeyError, UpdateKey, signed_version};

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
pub use client::{CheckError, FeedClient};

/// The header holding the signed statement (base64 of its JSON).
pub const STATEMENT_HEADER: &str = "orrery-feed-statement";
/// The header holding the statement's minisign signature (base64, as Tauri writes them).
pub const SIGNATURE_HEADER: &str = "orrery-feed-signature";
/// How long a signed answer is good for.
pub const ANSWER_LIFETIME: Duration = Duration::hours(24);
/// How far in the future an answer's issue time may be (clocks differ).
pub const CLOCK_SKEW: Duration = Duration::minutes(10);
/// Longest release notes, in characters.
pub const MAX_NOTES_CHARS: usize = 8_000;
/// Longest installation id, in characters.
pub const MAX_INSTALLATION_CHARS: usize = 64;
/// Longest version text.
pub const MAX_VERSION_CHARS: usize = 64;

/// Which releases an installation is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Releases everyone gets.
    #[default]
    Stable,
    /// Stable releases and the betas before them.
    Beta,
}

impl Channel {
    /// Whether an installation on this channel is offered a release published on `release`.
    pub fn offers(self, release: Channel) -> bool {
        match self {
            Channel::Stable => release == Channel::Stable,
            Channel::Beta => true,
        }
    }

    /// The channel's name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Stable => "stable",
            Channel::Beta => "beta",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = RequestError;

    fn from_str(text: &str) -> Result<Self, RequestError> {
        match text {
            "stable" => Ok(Channel::Stable),
            "beta" => Ok(Channel::Beta),
            other => Err(RequestError(format!(
                "`{}` is not a channel: stable or beta",
                shown(other)
            ))),
        }
    }
}

/// What a request to the feed, or a release, got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// Where an update is installed: Tauri's updater target, naming the
/// operating system and the package kind (a `.deb` is replaced by a `.deb`,
/// an AppImage by an AppImage).
pub const TARGETS: &[&str] = &[
    "linux-deb",
    "linux-appimage",
    "linux-rpm",
    "windows-nsis",
    "windows-msi",
    "darwin-app",
];
/// Processor architectures, as Tauri names them.
pub const ARCHES: &[&str] = &["x86_64", "aarch64", "i686", "armv7"];

/// A target from a path or a form, or why not.
pub fn checked_target(text: &str) -> Result<&'static str, RequestError> {
    TARGETS
        .iter()
        .find(|target| **target == text)
        .copied()
        .ok_or_else(|| {
            RequestError(format!(
                "`{}` is not an update target: one of {}",
                shown(text),
                TARGETS.join(", ")
            ))
        })
}

/// An architecture from a path or a form, or why not.
pub fn checked_arch(text: &str) -> Result<&'static str, RequestError> {
    ARCHES
        .iter()
        .find(|arch| **arch == text)
        .copied()
        .ok_or_else(|| {
            RequestError(format!(
                "`{}` is not an architecture: one of {}",
                shown(text),
                ARCHES.join(", ")
            ))
        })
}

/// A semantic version (`1.4.0`, `1.5.0-beta.2`), or why not.
pub fn checked_version(text: &str) -> Result<semver::Version, RequestError> {
    if text.len() > MAX_VERSION_CHARS {
        return Err(RequestError(format!(
            "a version is at most {MAX_VERSION_CHARS} characters"
        )));
    }
    semver::Version::parse(text).map_err(|_| {
        RequestError(format!(
            "`{}` is not a version like 1.4.0 or 1.5.0-beta.1",
            shown(text)
        ))
    })
}

/// An installation id: 1 to 64 letters, digits and dashes (the app makes a
/// UUID once and keeps it).
pub fn checked_installation(text: &str) -> Result<&str, RequestError> {
    let fine = !text.is_empty()
        && text.len() <= MAX_INSTALLATION_CHARS
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if fine {
        Ok(text)
    } else {
        Err(RequestError(
            "the installation id is 1 to 64 letters, digits and dashes".into(),
        ))
    }
}

/// Where a release sits in the staged rollout for one installation: 0 to
/// 9,999, the same every time for the same installation and version, and
/// different between versions (so the first 10% of one release are not the
/// first 10% of every release).
pub fn rollout_bucket(installation: &str, version: &str) -> u32 {
    let digest = Sha256::new()
        .chain_update(b"orrery-rollout\0")
        .chain_update(version.as_bytes())
        .chain_update(b"\0")
        .chain_update(installation.as_bytes())
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 10_000
}

/// Whether a release rolled out to `percent` of installations reaches this
/// one. Raising the percentage only ever adds installations.
pub fn in_rollout(installation: &str, version: &str, percent: u8) -> bool {
    rollout_bucket(installation, version) < u32::from(percent.min(100)) * 100
}

/// A release as Tauri's updater reads it (its "dynamic" server format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedRelease {
    /// The version offered.
    pub version: String,
    /// What changed, shown to the user.
    pub notes: String,
    /// When it was published (RFC 3339).
    pub pub_date: String,
    /// Where the package is: a path on the server that answered, or a full URL.
    pub url: String,
    /// The package's minisign signature (base64), made with the release key.
    pub signature: String,
}

/// What one answer of the feed says, signed by the feed key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedStatement {
    /// The target asked about.
    pub target: String,
    /// The architecture asked about.
    pub arch: String,
    /// The version the asking installation runs.
    pub current_version: String,
    /// The channel asked about.
    pub channel: Channel,
    /// The installation that asked.
    pub installation: String,
    /// When the server answered.
    pub issued_at: DateTime<Utc>,
    /// After this the answer is refused.
    pub expires_at: DateTime<Utc>,
    /// The release offered, or `None`: nothing newer.
    pub release: Option<FeedRelease>,
}

/// A request to the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    /// See [`TARGETS`].
    pub target: String,
    /// See [`ARCHES`].
    pub arch: String,
    /// The running version.
    pub current_version: semver::Version,
    /// The user's channel.
    pub channel: Channel,
    /// This installation.
    pub installation: String,
}

impl CheckRequest {
    /// The statement answering this request.
    pub fn answer(&self, release: Option<FeedRelease>, now: DateTime<Utc>) -> FeedStatement {
        FeedStatement {
            target: self.target.clone(),
            arch: self.arch.clone(),
            current_version: self.current_version.to_string(),
            channel: self.channel,
            installation: self.installation.clone(),
            issued_at: now,
            expires_at: now + ANSWER_LIFETIME,
            release,
        }
    }

    /// The feed's path for this request, below the server's address.
    pub fn path(&self) -> String {
        format!(
            "/v1/updates/{}/{}/{}?channel={}&installation={}",
            self.target, self.arch, self.current_version, self.channel, self.installation
        )
    }
}

/// Why an answer of the feed was refused. Each says what a user would want
/// to know: the running version keeps running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// No signature came with the answer.
    #[error("the update server's answer is not signed")]
    Unsigned,
    /// Signed, but not with the key this app trusts.
    #[error("the update server's answer is signed by another key")]
    OtherKey,
    /// The signature does not match what was sent.
    #[error("the update server's answer does not match its signature")]
    BadSignature,
    /// The signed text is not a statement.
    #[error("the update server's answer cannot be read: {0}")]
    Malformed(String),
    /// The answer is for another request (another installation, version or channel).
    #[error("the update server answered another request ({0} differs)")]
    OtherRequest(&'static str),
    /// The answer is too old: served by a stale mirror or cache.
    #[error("the update server's answer expired at {0}; the server may be a stale copy")]
    Expired(DateTime<Utc>),
    /// Issued later than now: the clock here or there is wrong.
    #[error("the update server's answer is dated {0}, in the future; check the clock")]
    FromTheFuture(DateTime<Utc>),
    /// The offered version is not newer than the running one.
    #[error("the update server offered {offered}, which is not newer than {current}")]
    NotNewer {
        /// The version offered.
        offered: String,
        /// The version running.
        current: String,
    },
}

/// A statement and its signature, as the two headers carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAnswer {
    /// Base64 of the statement's JSON.
    pub statement: String,
    /// Base64 of its minisign signature.
    pub signature: String,
}

impl UpdateKey {
    /// Checks an answer of the feed against the request it answers: signed
    /// by this key, for this request, not expired, and offering only a newer
    /// version. Returns the release offered, if any.
    pub fn check_answer(
        &self,
        statement: Option<&str>,
        signature: Option<&str>,
        request: &CheckRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<FeedRelease>, FeedError> {
        let (Some(statement), Some(signature)) = (statement, signature) else {
            return Err(FeedError::Unsigned);
        };
        let bytes = keys::decode_base64(statement)
            .map_err(|_| FeedError::Malformed("the statement is not base64".into()))?;
        self.verify_bytes(&bytes, signature)?;
        let statement: FeedStatement = serde_json::from_slice(&bytes)
            .map_err(|error| FeedError::Malformed(error.to_string()))?;
        if statement.target != request.target {
            return Err(FeedError::OtherRequest("the target"));
        }
        if statement.arch != request.arch {
            return Err(FeedError::OtherRequest("the architecture"));
        }
        if statement.current_version != request.current_version.to_string() {
            return Err(FeedError::OtherRequest("the current version"));
        }
        if statement.channel != request.channel {
            return Err(FeedError::OtherRequest("the channel"));
        }
        if statement.installation != request.installation {
            return Err(FeedError::OtherRequest("the installation"));
        }
        if now >= statement.expires_at {
            return Err(FeedError::Expired(statement.expires_at));
        }
        if statement.issued_at > now + CLOCK_SKEW {
            return Err(FeedError::FromTheFuture(statement.issued_at));
        }
        if let Some(release) = &statement.release {
            let newer = semver::Version::parse(&release.version)
                .is_ok_and(|offered| offered > request.current_version);
            if !newer {
                return Err(FeedError::NotNewer {
                    offered: release.version.clone(),
                    current: request.current_version.to_string(),
                });
            }
        }
        Ok(statement.release)
    }
}

/// At most 60 characters of what someone sent, for an error message.
fn shown(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_is_stable_monotonic_and_roughly_even() {
        let installations: Vec<String> = (0..4_000).map(|n| format!("install-{n}")).collect();
        let at = |percent| {
            installations
                .iter()
                .filter(|id| in_rollout(id, "1.2.0", percent))
                .count()
        };
        // The same answer twice, and more installations as the percentage rises.
        assert_eq!(at(10), at(10));
        for id in &installations {
            if in_rollout(id, "1.2.0", 10) {
                assert!(in_rollout(id, "1.2.0", 50), "{id} left the rollout at 50%");
            }
        }
        assert_eq!(at(0), 0);
        assert_eq!(at(100), installations.len());
        let ten = at(10) as f64 / installations.len() as f64;
        assert!((0.07..0.13).contains(&ten), "10% reached {ten}");
        // Another version picks other installations.
        let same = installations
            .iter()
            .filter(|id| in_rollout(id, "1.2.0", 10) == in_rollout(id, "1.3.0", 10))
            .count();
        assert!(same < installations.len());
    }

    #[test]
    fn stable_is_never_offered_betas() {
        assert!(!Channel::Stable.offers(Channel::Beta));
        assert!(Channel::Stable.offers(Channel::Stable));
        assert!(Channel::Beta.offers(Channel::Beta));
        assert!(Channel::Beta.offers(Channel::Stable));
        assert!("nightly".parse::<Channel>().is_err());
    }

    #[test]
    fn requests_are_checked() {
        assert!(checked_target("linux-deb").is_ok());
        assert!(checked_target("../etc").is_err());
        assert!(checked_arch("x86_64").is_ok());
        assert!(checked_arch("sparc").is_err());
        assert!(checked_version("1.2.3-beta.1").is_ok());
        assert!(checked_version("1.2").is_err());
        assert!(checked_version(&"9".repeat(200)).is_err());
        assert!(checked_installation("0f1e-22").is_ok());
        assert!(checked_installation("").is_err());
        assert!(checked_installation("a/b").is_err());
        assert!(checked_installation(&"a".repeat(65)).is_err());
    }
}
