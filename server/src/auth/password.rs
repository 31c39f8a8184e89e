//! Passwords: argon2id hashing and the rules a new password must meet.
//!
//! Parameters: argon2id, 19 MiB of memory, 2 passes, 1 lane (OWASP's
//! recommended minimum for argon2id), a 16-byte random salt, 32-byte output,
//! stored as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`), so the
//! parameters travel with each hash and can be raised later.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (bounds hashing work per request).
pub const MAX_PASSWORD_CHARS: usize = 128;

fn hasher() -> Argon2<'static> {
    let params =
        Params::new(19 * 1024, 2, 1, Some(32)).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a new password was refused.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!(
            "password must be at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    if password.chars().any(char::is_control) {
        return Err("password must not contain control characters".into());
    }
    if password.trim().is_empty() {
        return Err("password must not be only spaces".into());
    }
    Ok(())
}

/// Hashes a password with a fresh salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id hashing with valid parameters does not fail")
        .to_string()
}

/// A hash of no one's password: verifying against it when the account does
/// not exist makes "no such account" take as long as "wrong password".
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("orrery-decoy-password"));

/// Whether `password` matches `stored` (a PHC string). With no stored hash the
/// work is done against a decoy and the answer is no.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let candidate = stored.unwrap_or(DECOY_HASH.as_str());
    let Ok(parsed) = PasswordHash::new(candidate) else {
        return false;
    };
    let matches = hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_their_parameters() {
        let hash = hash_password("correct horse battery");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("correct horse batterY", Some(&hash)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("x", Some("not a phc string")));
        assert_ne!(hash, hash_password("correct horse battery"), "salts differ");
    }

    #[test]
    fn new_password_rules() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password(&"a".repeat(129)).is_err());
        assert!(check_new_password("with\u{0}null").is_err());
        assert!(check_new_password("        ").is_err());
        assert!(check_new_password("pässwörd ok").is_ok());
    }
}
