//! The sign-in rate limiter: failed attempts are counted per account and per
//! client address over a sliding window. Past the limit the account (or the
//! address) is refused with the time until the oldest failure leaves the
//! window. A successful sign-in clears the account's failures.
//!
//! Counts live in memory: one server instance decides for itself (several
//! instances each allow the limit; issue 5's shared store can move them).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Limits for failed sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    /// Failures allowed per account within the window.
    pub per_account: usize,
    /// Failures allowed per client address within the window.
    pub per_address: usize,
    /// The sliding window.
    pub window: Duration,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 20,
            window: Duration::minutes(15),
        }
    }
}

/// Why a sign-in is refused before the password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures for this account.
    Account {
        /// When it may try again.
        retry_after: Duration,
    },
    /// Too many failures from this address.
    Address {
        /// When it may try again.
        retry_after: Duration,
    },
}

/// Failed sign-ins per account and per address.
#[derive(Debug, Default)]
pub struct SignInLimiter {
    limits: SignInLimits,
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    by_account: HashMap<String, VecDeque<DateTime<Utc>>>,
    by_address: HashMap<IpAddr, VecDeque<DateTime<Utc>>>,
}

fn retry_after(
    log: Option<&mut VecDeque<DateTime<Utc>>>,
    limit: usize,
    window: Duration,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let log = log?;
    while log.front().is_some_and(|at| *at + window <= now) {
        log.pop_front();
    }
    (log.len() >= limit).then(|| {
        let oldest = log[log.len() - limit];
        (oldest + window - now).max(Duration::seconds(1))
    })
}

impl SignInLimiter {
    /// A limiter with these limits.
    pub fn new(limits: SignInLimits) -> Self {
        Self {
            limits,
            failures: Mutex::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> SignInLimits {
        self.limits
    }

    /// Refuses an attempt while the account or the address is over its limit.
    pub fn check(
        &self,
        account: &str,
        address: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<(), Throttled> {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let limits = self.limits;
        if let Some(wait) = retry_after(
            failures.by_account.get_mut(account),
            limits.per_account,
            limits.window,
            now,
        ) {
            return Err(Throttled::Account { retry_after: wait });
        }
        if let Some(wait) = retry_after(
            failures.by_address.get_mut(&address),
            limits.per_address,
            limits.window,
            now,
        ) {
            return Err(Throttled::Address { retry_after: wait });
        }
        Ok(())
    }

    /// Counts a failed attempt.
    pub fn record_failure(&self, account: &str, address: IpAddr, now: DateTime<Utc>) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Bound memory: an address hammering with random accounts keeps at most
        // `per_address` entries per account key it touches in the window.
        let limits = self.limits;
        let account_log = failures.by_account.entry(account.to_owned()).or_default();
        account_log.push_back(now);
        while account_log.len() > limits.per_account {
            account_log.pop_front();
        }
        let address_log = failures.by_address.entry(address).or_default();
        address_log.push_back(now);
        while address_log.len() > limits.per_address {
            address_log.pop_front();
        }
        if failures.by_account.len() > 100_000 {
            let window = limits.window;
            failures
                .by_account
                .retain(|_, log| log.back().is_some_and(|at| *at + window > now));
        }
    }

    /// Forgets an account's failures after it signed in.
    pub fn record_success(&self, account: &str) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.by_account.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_locks_after_limit_and_unlocks_when_window_passes() {
        let limiter = SignInLimiter::new(SignInLimits {
            per_account: 3,
            per_address: 10,
            window: Duration::minutes(10),
        });
        let address: IpAddr = "127.0.0.1".parse().unwrap();
        let start = Utc::now();
        for minute in 0..3 {
            let now = start + Duration::minutes(minute);
            assert!(limiter.check("a@x.io", address, now).is_ok());
            limiter.record_failure("a@x.io", address, now);
        }
        let now = start + Duration::minutes(3);
        assert_eq!(
            limiter.check("a@x.io", address, now),
            Err(Throttled::Account {
                retry_after: Duration::minutes(7)
            })
        );
        assert!(
            limiter.check("b@x.io", address, now).is_ok(),
            "other accounts are unaffected"
        );
        assert!(
            limiter
                .check("a@x.io", address, start + Duration::minutes(10))
                .is_ok()
        );
    }

    #[test]
    fn address_locks_across_accounts() {
        let limiter = SignInLimiter::new(SignInLimits {
            per_account: 3,
            per_address: 4,
            window: Duration::minutes(10),
        });
        let address: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Utc::now();
        for n in 0..4 {
            limiter.record_failure(&format!("user{n}@x.io"), address, now);
        }
        assert!(matches!(
            limiter.check("new@x.io", address, now),
            Err(Throttled::Address { .. })
        ));
        assert!(
            limiter
                .check("new@x.io", "10.0.0.2".parse().unwrap(), now)
                .is_ok()
        );
    }
}
