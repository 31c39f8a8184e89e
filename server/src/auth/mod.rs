//! Account security that is not HTTP: password hashing, token secrets, the
//! sign-in rate limiter, OAuth code exchange and the mailer. The routes in
//! `http::auth` put these together.

pub mod hashing;
pub mod mailer;
pub mod oauth;
pub mod password;
pub mod rate_limit;
pub mod secrets;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// The server's one source of "now": token expiry, trials, reset links and the
/// sign-in rate limiter all read it.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: lets tests (and tools) step past a
/// rate-limit window or a token's expiry without waiting.
#[derive(Debug, Clone)]
pub struct SteppedClock(Arc<Mutex<DateTime<Utc>>>);

impl SteppedClock {
    /// A clock standing at `start`.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for SteppedClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
