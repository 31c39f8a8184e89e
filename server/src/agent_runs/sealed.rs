//! Secrets sealed at rest with the operator's key: tenants' provider keys
//! for server-side runs. XChaCha20-Poly1305 with a random 24-byte nonce per
//! seal; the associated data names what the secret belongs to (tenant and
//! mode), so a sealed value copied to another row does not open.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Bytes of a nonce, stored before the ciphertext.
const NONCE_BYTES: usize = 24;
/// Version byte in front of every sealed value (a later cipher gets 2).
const FORMAT: u8 = 1;

/// The operator's 32-byte key (`ORRERY_SECRETS_KEY`, base64).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretsKey([u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretsKey(<redacted>)")
    }
}

/// Why a sealed value did not open.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The operator's key is not 32 bytes of base64.
    #[error(
        "the secrets key must be 32 bytes written in base64 (make one with `openssl rand -base64 32`)"
    )]
    BadKey,
    /// Wrong key, wrong owner, or damaged bytes.
    #[error(
        "a sealed secret did not open: the server's secrets key changed, or the row was altered"
    )]
    Unopened,
}

impl SecretsKey {
    /// Reads a key written in base64 (standard or URL-safe, padded or not).
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('='))
            })
            .map_err(|_| SealError::BadKey)?;
        Ok(Self(bytes.try_into().map_err(|_| SealError::BadKey)?))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The key in base64, as the operator gives it.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// Seals `secret` for `owner`.
    pub fn seal(&self, secret: &str, owner: &str) -> Vec<u8> {
        let mut nonce = [0_u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .expect("sealing a short secret cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`SecretsKey::seal`] sealed for `owner`.
    pub fn open(&self, sealed: &[u8], owner: &str) -> Result<String, SealError> {
        let (&format, rest) = sealed.split_first().ok_or(SealError::Unopened)?;
        if format != FORMAT || rest.len() < NONCE_BYTES {
            return Err(SealError::Unopened);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let plain = self
            .cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| SealError::Unopened)?;
        String::from_utf8(plain).map_err(|_| SealError::Unopened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_owner() {
        let key = SecretsKey::generate();
        let sealed = key.seal("sk-provider-secret", "tenant-a/live");
        assert!(
            !sealed
                .windows(b"sk-provider".len())
                .any(|window| window == b"sk-provider"),
            "the secret is not stored in the clear"
        );
        assert_eq!(
            key.open(&sealed, "tenant-a/live").unwrap(),
            "sk-provider-secret"
        );
        assert!(key.open(&sealed, "tenant-b/live").is_err(), "another owner");
        assert!(
            SecretsKey::generate()
                .open(&sealed, "tenant-a/live")
                .is_err(),
            "another key"
        );
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(
            key.open(&damaged, "tenant-a/live").is_err(),
            "altered bytes"
        );
        assert!(key.open(&[], "tenant-a/live").is_err());
        assert_ne!(
            sealed,
            key.seal("sk-provider-secret", "tenant-a/live"),
            "fresh nonce each time"
        );
        let again = SecretsKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(
            again.open(&sealed, "tenant-a/live").unwrap(),
            "sk-provider-secret"
        );
        assert!(SecretsKey::from_base64("c2hvcnQ=").is_err());
    }
}
