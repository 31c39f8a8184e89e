//! Bearer secrets: access and refresh tokens, API keys and reset codes are 32
//! random bytes, URL-safe base64, with a prefix that says what they are. Only
//! their SHA-256 is stored. An API key's prefix also says its mode
//! (`ork_live_`, `ork_test_`), and the key ends in a checksum (`_` and the
//! first 8 hex digits of the SHA-256 of what comes before), so a secret
//! scanner can tell a real key from a look-alike, and the server can refuse
//! a mistyped one, without the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orrery_domain::api_scope::ApiKeyMode;
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

/// Hex digits of an API key's checksum.
const CHECKSUM_DIGITS: usize = 8;
/// Length of an API key with its checksum, before keys said their mode.
const UNMODED_KEY_CHARS: usize = API_KEY_PREFIX.len() + 43 + 1 + CHECKSUM_DIGITS;
/// Length of an API key: prefix, mode (`live_` or `test_`), 32 random
/// bytes, checksum.
pub const API_KEY_CHARS: usize = UNMODED_KEY_CHARS + 5;

fn checksum(body: &str) -> String {
    hash_secret(body)[..CHECKSUM_DIGITS].to_owned()
}

/// The prefix of keys in `mode`: `ork_live_` or `ork_test_`.
pub fn api_key_prefix(mode: ApiKeyMode) -> String {
    format!("{API_KEY_PREFIX}{mode}_")
}

/// A fresh API key in `mode`: its prefix, 32 random bytes, and a checksum.
pub fn new_api_key(mode: ApiKeyMode) -> String {
    let body = new_secret(&api_key_prefix(mode));
    let checksum = checksum(&body);
    format!("{body}_{checksum}")
}

/// Whether `key` (starting with the prefix) ends in its checksum; `None`
/// for keys made before keys had one.
pub fn api_key_checksum_holds(key: &str) -> Option<bool> {
    let moded = [ApiKeyMode::Live, ApiKeyMode::Test]
        .iter()
        .any(|mode| key.starts_with(&api_key_prefix(*mode)));
    let expected = if moded {
        API_KEY_CHARS
    } else {
        UNMODED_KEY_CHARS
    };
    if key.len() != expected {
        return moded.then_some(false);
    }
    let (body, sum) = key.split_at(expected - CHECKSUM_DIGITS - 1);
    Some(
        sum.strip_prefix('_')
            .is_some_and(|sum| sum == checksum(body)),
    )
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

    #[test]
    fn api_keys_carry_a_checksum_a_scanner_can_check() {
        let key = new_api_key(ApiKeyMode::Live);
        assert_eq!(key.len(), API_KEY_CHARS, "{key}");
        assert!(key.starts_with("ork_live_"));
        assert!(new_api_key(ApiKeyMode::Test).starts_with("ork_test_"));
        // A moded key cut short is mistyped, not an old key.
        assert_eq!(
            api_key_checksum_holds(&key[..API_KEY_CHARS - 1]),
            Some(false)
        );
        assert_eq!(api_key_checksum_holds(&key), Some(true));
        // One character changed anywhere: the checksum no longer holds.
        let mut typo = key.clone().into_bytes();
        typo[10] = if typo[10] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            api_key_checksum_holds(&String::from_utf8(typo).unwrap()),
            Some(false)
        );
        // Keys made before the checksum are told apart by their length.
        assert_eq!(api_key_checksum_holds(&new_secret(API_KEY_PREFIX)), None);
    }
}
