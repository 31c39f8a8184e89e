//! Bearer secrets: access and refresh tokens, API keys and reset codes are 32
//! random bytes, URL-safe base64, with a prefix that says what they are. Only
//! their SHA-256 is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of access tokens.
pub const ACCESS_PREFIX: &str = "oat_";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "ort_";
/// Prefix of API keys.
pub const API_KEY_PREFIX: &str = "ork_";
/// Prefix of password-reset codes.
pub const RESET_PREFIX: &str = "orp_";

/// Longest bearer value worth hashing; anything longer is refused unread.
pub const MAX_SECRET_CHARS: usize = 128;

/// A fresh secret with `prefix`.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a secret, as lower-case hex.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_unique_and_hashed() {
        let a = new_secret(ACCESS_PREFIX);
        let b = new_secret(ACCESS_PREFIX);
        assert!(a.starts_with("oat_") && a.len() == 4 + 43, "{a}");
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), hash_secret(&b));
    }
}
