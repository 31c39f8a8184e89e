//! Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex hmac>[,v1=...]`,
//! where the HMAC-SHA256 (keyed with the endpoint's `whsec_` secret) covers
//! `"<t>.<raw body>"`. Events older than the tolerance are refused, so a
//! captured request cannot be replayed later.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far an event's timestamp may be from now (Stripe's default).
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No or unreadable `Stripe-Signature` header.
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    /// No signature matches the body.
    #[error("no signature in Stripe-Signature matches this body")]
    Mismatch,
    /// Signed too long ago (or in the future).
    #[error("the event was signed {0} s away from now, beyond the {TOLERANCE_SECS} s tolerance")]
    Stale(i64),
}

/// The `v1` signature of `payload` at `timestamp` with `secret`, hex.
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Checks a `Stripe-Signature` header against the raw body.
pub fn verify(
    secret: &str,
    header: Option<&str>,
    payload: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let header = header
        .filter(|h| h.len() <= 4096)
        .ok_or(SignatureError::Malformed)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let matched = signatures.iter().any(|signature| {
        let Some(bytes) = decode_hex(signature) else {
            return false;
        };
        mac.clone().verify_slice(&bytes).is_ok()
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    // The timestamp comes from outside: any i64 may arrive, and
    // `now - i64::MIN` overflows. An age that does not fit is as stale as
    // can be.
    let age = now.timestamp().checked_sub(timestamp).unwrap_or(i64::MAX);
    if age.checked_abs().is_none_or(|age| age > TOLERANCE_SECS) {
        return Err(SignatureError::Stale(age));
    }
    Ok(())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever numbers a signed header carries, checking it answers
        /// and never panics (debug builds panic on overflow).
        #[test]
        fn webhook_timestamps_never_overflow(timestamp in any::<i64>(), now in any::<i64>(), extra in "[0-9-]{0,25}") {
            let body = b"{}";
            let now = DateTime::<Utc>::from_timestamp(now.clamp(-8_000_000_000_000, 8_000_000_000_000), 0)
                .unwrap_or_else(Utc::now);
            let header = format!("t={timestamp},v1={}", sign("whsec_p", timestamp, body));
            let expected_fresh = now.timestamp().checked_sub(timestamp).is_some_and(|age| age.checked_abs().is_some_and(|age| age <= TOLERANCE_SECS));
            prop_assert_eq!(verify("whsec_p", Some(&header), body, now).is_ok(), expected_fresh);
            let garbage = format!("t={extra},v1=00");
            prop_assert!(verify("whsec_p", Some(&garbage), body, now).is_err());
        }
    }

    #[test]
    fn signatures_verify_and_tampering_is_caught() {
        let now = Utc::now();
        let body = br#"{"id":"evt_1"}"#;
        let header = format!(
            "t={},v1={}",
            now.timestamp(),
            sign("whsec_x", now.timestamp(), body)
        );
        assert_eq!(verify("whsec_x", Some(&header), body, now), Ok(()));
        assert_eq!(
            verify("whsec_y", Some(&header), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_x", Some(&header), br#"{"id":"evt_2"}"#, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_x", None, body, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("whsec_x", Some("t=1"), body, now),
            Err(SignatureError::Malformed)
        );
        for extreme in [i64::MIN, i64::MIN + 1, i64::MAX, -1, 0] {
            let header = format!("t={extreme},v1={}", sign("whsec_x", extreme, body));
            assert!(matches!(
                verify("whsec_x", Some(&header), body, now),
                Err(SignatureError::Stale(_))
            ));
        }
        let later = now + chrono::Duration::seconds(301);
        assert!(matches!(
            verify("whsec_x", Some(&header), body, later),
            Err(SignatureError::Stale(301))
        ));
    }
}
