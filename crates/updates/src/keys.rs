//! minisign keys in the form Tauri's CLI writes them: a public key is the
//! base64 of the text of a minisign public key file, a secret key the
//! base64 of a secret key file, a signature the base64 of a `.minisig`
//! file. The release key signs packages (offline, in the release
//! environment); the feed key signs the feed's answers (on the server).

use std::io::Cursor;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::FeedError;

/// Why a key or a package's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is not a minisign key in Tauri's form.
    #[error("not a minisign key in the form `tauri signer generate` writes: {0}")]
    BadKey(String),
    /// The signature is not a minisign signature in Tauri's form.
    #[error("not a minisign signature in the form `tauri signer sign` writes")]
    BadSignature,
    /// Signed by another key.
    #[error("the package is signed by another key")]
    OtherKey,
    /// The bytes are not the ones signed (tampered, truncated).
    #[error("the package does not match its signature (changed or cut short)")]
    Mismatch,
    /// The signature names no version (made without `--app-version`).
    #[error("the signature names no version; sign with `tauri signer sign --app-version`")]
    NoVersion,
    /// The signature names another version.
    #[error("the package is signed as version {signed}, not {expected}")]
    OtherVersion {
        /// In the signature.
        signed: String,
        /// The release's.
        expected: String,
    },
}

pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(text.trim())
}

fn decode_text(text: &str) -> Option<String> {
    decode_base64(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

fn signature_box(signature: &str) -> Option<minisign::SignatureBox> {
    minisign::SignatureBox::from_string(&decode_text(signature)?).ok()
}

/// The version a package's signature was made for: the `version:` field of
/// its trusted comment (`tauri signer sign --app-version`), as Tauri's
/// updater reads it. Only meaningful once the signature is verified.
pub fn signed_version(trusted_comment: &str) -> Option<&str> {
    trusted_comment
        .split('\t')
        .find_map(|field| field.strip_prefix("version:"))
}

/// A public key the app trusts.
#[derive(Clone)]
pub struct UpdateKey {
    key: minisign::PublicKey,
    text: String,
}

impl std::fmt::Debug for UpdateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("UpdateKey").field(&self.key_id()).finish()
    }
}

impl UpdateKey {
    /// A public key as Tauri's configuration holds it (base64 of the key
    /// file), or a bare minisign key line (`RW...`).
    pub fn from_tauri(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let key = match decode_text(text) {
            Some(file) if file.contains('\n') => {
                minisign::PublicKeyBox::from_string(&file).and_then(|boxed| boxed.into_public_key())
            }
            _ => minisign::PublicKey::from_base64(text),
        }
        .map_err(|error| KeyError::BadKey(error.to_string()))?;
        Ok(Self {
            key,
            text: text.to_owned(),
        })
    }

    /// The key as it was given.
    pub fn as_tauri(&self) -> &str {
        &self.text
    }

    /// minisign's key id, in hex (what `minisign -V` prints).
    pub fn key_id(&self) -> String {
        let keynum = self.key.keynum();
        keynum
            .iter()
            .rev()
            .map(|byte| format!("{byte:02X}"))
            .collect()
    }

    /// Checks bytes against a signature made with this key.
    pub(crate) fn verify_bytes(&self, bytes: &[u8], signature: &str) -> Result<(), FeedError> {
        let signature = signature_box(signature).ok_or(FeedError::BadSignature)?;
        if signature.keynum() != self.key.keynum() {
            return Err(FeedError::OtherKey);
        }
        minisign::verify(
            &self.key,
            &signature,
            Cursor::new(bytes),
            true,
            false,
            false,
        )
        .map_err(|_| FeedError::BadSignature)
    }

    /// Checks a release package as Tauri's updater will with
    /// `requireSignedVersion`: signed by this key, unchanged, and signed for
    /// `version`.
    pub fn verify_package(
        &self,
        bytes: &[u8],
        signature: &str,
        version: &str,
    ) -> Result<(), KeyError> {
        self.verify_package_from(&mut Cursor::new(bytes), signature, version)
    }

    /// [`Self::verify_package`] reading the package from `package` (read
    /// once, front to back).
    pub fn verify_package_from<R: std::io::Read + std::io::Seek>(
        &self,
        package: &mut R,
        signature: &str,
        version: &str,
    ) -> Result<(), KeyError> {
        let signature = signature_box(signature).ok_or(KeyError::BadSignature)?;
        if signature.keynum() != self.key.keynum() {
            return Err(KeyError::OtherKey);
        }
        minisign::verify(&self.key, &signature, package, true, false, false)
            .map_err(|_| KeyError::Mismatch)?;
        let comment = signature
            .trusted_comment()
            .map_err(|_| KeyError::BadSignature)?;
        let signed = signed_version(&comment).ok_or(KeyError::NoVersion)?;
        let same = match (
            semver::Version::parse(signed.trim_start_matches('v')),
            semver::Version::parse(version.trim_start_matches('v')),
        ) {
            (Ok(signed), Ok(expected)) => signed == expected,
            _ => signed == version,
        };
        if same {
            Ok(())
        } else {
            Err(KeyError::OtherVersion {
                signed: signed.to_owned(),
                expected: version.to_owned(),
            })
        }
    }
}

/// A secret key: the feed key on the server, or a release key where
/// packages are signed.
#[cfg(feature = "sign")]
pub struct UpdateSigner {
    secret: minisign::SecretKey,
    public: minisign::PublicKey,
}

#[cfg(feature = "sign")]
impl UpdateSigner {
    /// A new key pair, unencrypted (tests, and `make package` without a key).
    pub fn generate() -> Self {
        let pair = minisign::KeyPair::generate_unencrypted_keypair()
            .expect("the system's random source works");
        Self {
            secret: pair.sk,
            public: pair.pk,
        }
    }

    /// A secret key as `tauri signer generate` writes it (base64 of the key
    /// file), with its password if it has one.
    pub fn from_tauri(text: &str, password: Option<&str>) -> Result<Self, KeyError> {
        let file = decode_text(text)
            .ok_or_else(|| KeyError::BadKey("the secret key is not base64 text".into()))?;
        let open = |password: Option<String>| {
            let boxed = minisign::SecretKeyBox::from_string(&file)?;
            match password {
                Some(password) => boxed.into_secret_key(Some(password)),
                None => boxed.into_unencrypted_secret_key(),
            }
        };
        // `tauri signer generate` encrypts even with an empty password.
        let secret = match password {
            Some(password) => open(Some(password.to_owned())),
            None => open(None).or_else(|_| open(Some(String::new()))),
        }
        .map_err(|error| KeyError::BadKey(error.to_string()))?;
        let public = minisign::PublicKey::from_secret_key(&secret)
            .map_err(|error| KeyError::BadKey(error.to_string()))?;
        Ok(Self { secret, public })
    }

    /// The secret key in Tauri's form (unencrypted).
    pub fn to_tauri(&self) -> String {
        let file = self
            .secret
            .to_box(None)
            .expect("an unencrypted key boxes")
            .into_string();
        STANDARD.encode(file)
    }

    /// The public key in Tauri's form.
    pub fn public_key(&self) -> UpdateKey {
        let file = self
            .public
            .to_box()
            .expect("a public key boxes")
            .into_string();
        UpdateKey::from_tauri(&STANDARD.encode(file)).expect("a key just made reads back")
    }

    /// Signs `bytes` with `trusted_comment`, in Tauri's form.
    pub fn sign(&self, bytes: &[u8], trusted_comment: &str) -> String {
        let signature = minisign::sign(
            Some(&self.public),
            &self.secret,
            Cursor::new(bytes),
            Some(trusted_comment),
            Some("signature from orrery"),
        )
        .expect("signing with a decrypted key works");
        STANDARD.encode(signature.into_string())
    }

    /// Signs a release package for `version`, as `tauri signer sign
    /// --app-version` does.
    pub fn sign_package(&self, bytes: &[u8], file_name: &str, version: &str) -> String {
        let comment = format!(
            "timestamp:{}\tfile:{file_name}\tversion:{version}",
            chrono::Utc::now().timestamp()
        );
        self.sign(bytes, &comment)
    }

    /// Signs a statement of the feed.
    pub fn sign_statement(&self, statement: &crate::FeedStatement) -> crate::SignedAnswer {
        let bytes = serde_json::to_vec(statement).expect("a statement serializes");
        let signature = self.sign(
            &bytes,
            &format!("timestamp:{}\tfeed", statement.issued_at.timestamp()),
        );
        crate::SignedAnswer {
            statement: STANDARD.encode(&bytes),
            signature,
        }
    }
}

#[cfg(all(test, feature = "sign"))]
mod tests {
    use super::*;
    use crate::{Channel, CheckRequest, FeedRelease};
    use chrono::{Duration, Utc};

    fn request() -> CheckRequest {
        CheckRequest {
            target: "linux-deb".into(),
            arch: "x86_64".into(),
            current_version: semver::Version::new(0, 1, 0),
            channel: Channel::Stable,
            installation: "install-1".into(),
        }
    }

    fn release(version: &str) -> FeedRelease {
        FeedRelease {
            version: version.into(),
            notes: "Faster canvas".into(),
            pub_date: "2026-12-07T10:00:00Z".into(),
            url: "/v1/updates/artifacts/x/linux-deb/x86_64".into(),
            signature: "c2ln".into(),
        }
    }

    #[test]
    fn keys_round_trip_in_tauri_form() {
        let signer = UpdateSigner::generate();
        let again = UpdateSigner::from_tauri(&signer.to_tauri(), None).unwrap();
        assert_eq!(again.public_key().key_id(), signer.public_key().key_id());
        assert!(UpdateKey::from_tauri("not a key").is_err());
    }

    #[test]
    fn packages_are_checked_for_key_bytes_and_version() {
        let signer = UpdateSigner::generate();
        let key = signer.public_key();
        let package = b"a package".repeat(1000);
        let signature = signer.sign_package(&package, "orrery.deb", "0.1.1");
        key.verify_package(&package, &signature, "0.1.1").unwrap();
        assert_eq!(
            key.verify_package(&package, &signature, "0.1.2"),
            Err(KeyError::OtherVersion {
                signed: "0.1.1".into(),
                expected: "0.1.2".into()
            })
        );
        assert_eq!(
            key.verify_package(&package[..100], &signature, "0.1.1"),
            Err(KeyError::Mismatch)
        );
        let other = UpdateSigner::generate().sign_package(&package, "orrery.deb", "0.1.1");
        assert_eq!(
            key.verify_package(&package, &other, "0.1.1"),
            Err(KeyError::OtherKey)
        );
        let unversioned = signer.sign(&package, "timestamp:1\tfile:orrery.deb");
        assert_eq!(
            key.verify_package(&package, &unversioned, "0.1.1"),
            Err(KeyError::NoVersion)
        );
    }

    #[test]
    fn answers_are_refused_unless_fresh_signed_and_for_this_request() {
        let feed = UpdateSigner::generate();
        let key = feed.public_key();
        let now = Utc::now();
        let request = request();
        let good = feed.sign_statement(&request.answer(Some(release("0.1.1")), now));
        let check = |answer: &crate::SignedAnswer, at| {
            key.check_answer(
                Some(&answer.statement),
                Some(&answer.signature),
                &request,
                at,
            )
        };
        assert_eq!(check(&good, now).unwrap().unwrap().version, "0.1.1");
        assert_eq!(
            key.check_answer(Some(&good.statement), None, &request, now),
            Err(FeedError::Unsigned)
        );
        assert!(matches!(
            check(&good, now + Duration::hours(25)),
            Err(FeedError::Expired(_))
        ));
        let other_key =
            UpdateSigner::generate().sign_statement(&request.answer(Some(release("0.1.1")), now));
        assert_eq!(check(&other_key, now), Err(FeedError::OtherKey));
        // A statement swapped under another signature.
        let swapped = crate::SignedAnswer {
            statement: feed
                .sign_statement(&request.answer(Some(release("9.0.0")), now))
                .statement,
            signature: good.signature.clone(),
        };
        assert_eq!(check(&swapped, now), Err(FeedError::BadSignature));
        let older = feed.sign_statement(&request.answer(Some(release("0.0.9")), now));
        assert!(matches!(
            check(&older, now),
            Err(FeedError::NotNewer { .. })
        ));
        let mut elsewhere = request.clone();
        elsewhere.installation = "install-2".into();
        let for_another = feed.sign_statement(&elsewhere.answer(None, now));
        assert_eq!(
            check(&for_another, now),
            Err(FeedError::OtherRequest("the installation"))
        );
        let nothing = feed.sign_statement(&request.answer(None, now));
        assert_eq!(check(&nothing, now), Ok(None));
    }
}
