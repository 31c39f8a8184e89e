//! Limits on guessing: sign-in attempts, registrations and reset mails.
//!
//! # Sign-in
//! An attempt is *taken* before the password is checked and counted as a
//! failure at once; a sign-in that succeeds gives it back. Checking the
//! limits and taking the attempt are one step under one lock, so a burst of
//! parallel guesses is counted as it arrives, not after the slow argon2 checks
//! finish (40 parallel wrong passwords: 5 are checked, 35 are refused).
//!
//! Three limits apply, each over a sliding window, in this order:
//! 1. per account *and* address (`per_account`, 5 in 15 minutes): the lock a
//!    guesser can trigger is the lock on their own address, so an attacker
//!    cannot lock the owner out from somewhere else;
//! 2. per address, across accounts (`per_address`, 20): one address spraying
//!    one password over many accounts;
//! 3. per account, from all addresses (`per_account_everywhere`, 100): a
//!    guessing campaign spread over many addresses. While it holds, only
//!    addresses that signed in to the account successfully before (within
//!    30 days) may still try: the owner's known places pass, new ones wait.
//!
//! A completed password reset (the emailed code) clears every lock on the
//! account. IPv6 addresses are counted by their /64, the block one
//! subscriber gets. Counts live in memory: one server instance decides for
//! itself, and what it keeps is bounded (expired entries are dropped as the
//! maps grow).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};

/// Limits for sign-in attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    /// Failures allowed per account from one address within the window.
    pub per_account: usize,
    /// Failures allowed per client address, across accounts.
    pub per_address: usize,
    /// Failures allowed per account from all addresses together; past it
    /// only addresses the account signed in from before may try.
    pub per_account_everywhere: usize,
    /// The sliding window.
    pub window: Duration,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 20,
            per_account_everywhere: 100,
            window: Duration::minutes(15),
        }
    }
}

/// How long a successful sign-in makes its address a known one.
const KNOWN_ADDRESS_FOR: Duration = Duration::days(30);
/// Known addresses kept per account (the most recent).
const KNOWN_ADDRESSES_PER_ACCOUNT: usize = 8;
/// Entries past which expired ones are swept out of a map.
const SWEEP_ABOVE: usize = 50_000;

/// Why an attempt is refused before the password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures for this account from this address.
    Account {
        /// When it may try again.
        retry_after: Duration,
    },
    /// Too many failures from this address.
    Address {
        /// When it may try again.
        retry_after: Duration,
    },
    /// Too many failures for this account from everywhere, and this address
    /// has not signed in to it before.
    AccountEverywhere {
        /// When it may try again.
        retry_after: Duration,
    },
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

impl From<IpAddr> for AddressKey {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(_) => AddressKey(address),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    AddressKey(IpAddr::V6(Ipv6Addr::from(bits)))
                }
            },
        }
    }
}

/// Times of recent events, oldest first, within a sliding window.
#[derive(Debug, Default)]
struct Window(VecDeque<DateTime<Utc>>);

impl Window {
    fn forget_before(&mut self, window: Duration, now: DateTime<Utc>) {
        while self.0.front().is_some_and(|at| *at + window <= now) {
            self.0.pop_front();
        }
    }

    /// With `limit` events in the window, how long until the oldest that
    /// counts leaves it.
    fn full(&mut self, limit: usize, window: Duration, now: DateTime<Utc>) -> Option<Duration> {
        self.forget_before(window, now);
        (self.0.len() >= limit).then(|| {
            let oldest = self.0[self.0.len() - limit];
            (oldest + window - now).max(Duration::seconds(1))
        })
    }

    /// Records an event, keeping at most `limit` (older ones no longer matter).
    fn push(&mut self, at: DateTime<Utc>, limit: usize) {
        self.0.push_back(at);
        while self.0.len() > limit.max(1) {
            self.0.pop_front();
        }
    }

    /// Takes back one event recorded at `at`.
    fn give_back(&mut self, at: DateTime<Utc>) {
        if let Some(index) = self.0.iter().rposition(|recorded| *recorded == at) {
            self.0.remove(index);
        }
    }

    fn is_live(&self, window: Duration, now: DateTime<Utc>) -> bool {
        self.0.back().is_some_and(|at| *at + window > now)
    }
}

/// Drops entries whose windows hold nothing recent, once a map is large.
fn sweep<K: Eq + Hash>(map: &mut HashMap<K, Window>, window: Duration, now: DateTime<Utc>) {
    if map.len() > SWEEP_ABOVE {
        map.retain(|_, log| log.is_live(window, now));
    }
}

/// What the limiter keeps about one account.
#[derive(Debug, Default)]
struct AccountState {
    everywhere: Window,
    by_address: HashMap<AddressKey, Window>,
    known: Vec<(AddressKey, DateTime<Utc>)>,
}

impl AccountState {
    fn knows(&self, address: AddressKey, now: DateTime<Utc>) -> bool {
        self.known
            .iter()
            .any(|(known, at)| *known == address && *at + KNOWN_ADDRESS_FOR > now)
    }

    fn is_live(&self, window: Duration, now: DateTime<Utc>) -> bool {
        self.everywhere.is_live(window, now)
            || self.by_address.values().any(|log| log.is_live(window, now))
            || self
                .known
                .iter()
                .any(|(_, at)| *at + KNOWN_ADDRESS_FOR > now)
    }
}

#[derive(Debug, Default)]
struct Counts {
    accounts: HashMap<String, AccountState>,
    addresses: HashMap<AddressKey, Window>,
}

/// Sign-in attempts per account, per address, and per account and address.
#[derive(Debug, Default)]
pub struct SignInLimiter {
    limits: SignInLimits,
    counts: Mutex<Counts>,
}

/// A sign-in attempt that was allowed. It counts as a failure from the
/// moment it is taken: dropped without a verdict — the client went away
/// while its password was being checked — it stays counted, so hanging up
/// early cannot buy unlimited guesses. [`Attempt::succeeded`] gives it back,
/// and so does [`Attempt::give_back`] when the server could not judge it.
#[must_use = "an attempt is given back only by `succeeded` or `give_back`"]
pub struct Attempt {
    limiter: Arc<SignInLimiter>,
    account: String,
    address: AddressKey,
    at: DateTime<Utc>,
    known: bool,
}

impl Attempt {
    /// Whether the account signed in from this address before (within 30
    /// days): its password check may go first.
    pub fn from_known_address(&self) -> bool {
        self.known
    }

    /// The password was wrong: the attempt stays counted.
    pub fn failed(self) {}

    /// The server could not judge the password (its hashing queue was full,
    /// its database failed): the attempt is not held against the client.
    pub fn give_back(self) {
        let mut counts = self.limiter.lock();
        if let Some(log) = counts.addresses.get_mut(&self.address) {
            log.give_back(self.at);
        }
        if let Some(state) = counts.accounts.get_mut(&self.account) {
            state.everywhere.give_back(self.at);
            if let Some(log) = state.by_address.get_mut(&self.address) {
                log.give_back(self.at);
            }
        }
    }

    /// The password was right: the attempt is given back, the account's
    /// failures from this address are forgotten, and the address becomes a
    /// known one for the account.
    pub fn succeeded(self) {
        let mut counts = self.limiter.lock();
        if let Some(log) = counts.addresses.get_mut(&self.address) {
            log.give_back(self.at);
        }
        let state = counts.accounts.entry(self.account.clone()).or_default();
        state.everywhere.give_back(self.at);
        state.by_address.remove(&self.address);
        state.known.retain(|(known, _)| *known != self.address);
        state.known.push((self.address, self.at));
        if state.known.len() > KNOWN_ADDRESSES_PER_ACCOUNT {
            state.known.remove(0);
        }
    }
}

impl SignInLimiter {
    /// A limiter with these limits.
    pub fn new(limits: SignInLimits) -> Self {
        Self {
            limits,
            counts: Mutex::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> SignInLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes an attempt for `account` from `address`, or says why not. The
    /// check and the count are one step: of any number of parallel attempts,
    /// at most the limit get through.
    pub fn attempt(
        self: &Arc<Self>,
        account: &str,
        address: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Attempt, Throttled> {
        let limits = self.limits;
        let address = AddressKey::from(address);
        let mut guard = self.lock();
        let counts = &mut *guard;
        let state = counts.accounts.entry(account.to_owned()).or_default();
        if let Some(wait) = state.by_address.entry(address).or_default().full(
            limits.per_account,
            limits.window,
            now,
        ) {
            return Err(Throttled::Account { retry_after: wait });
        }
        let address_log = counts.addresses.entry(address).or_default();
        if let Some(wait) = address_log.full(limits.per_address, limits.window, now) {
            return Err(Throttled::Address { retry_after: wait });
        }
        if let Some(wait) = state
            .everywhere
            .full(limits.per_account_everywhere, limits.window, now)
            && !state.knows(address, now)
        {
            return Err(Throttled::AccountEverywhere { retry_after: wait });
        }
        let known = state.knows(address, now);
        address_log.push(now, limits.per_address);
        state.everywhere.push(now, limits.per_account_everywhere);
        state
            .by_address
            .entry(address)
            .or_default()
            .push(now, limits.per_account);
        let window = limits.window;
        if counts.accounts.len() > SWEEP_ABOVE {
            counts
                .accounts
                .retain(|_, state| state.is_live(window, now));
        }
        sweep(&mut counts.addresses, window, now);
        drop(guard);
        Ok(Attempt {
            limiter: Arc::clone(self),
            account: account.to_owned(),
            address,
            at: now,
            known,
        })
    }

    /// Clears every lock on an account (its password was just reset through
    /// the emailed code). Addresses keep their own counts.
    pub fn clear_account(&self, account: &str) {
        let mut counts = self.lock();
        if let Some(state) = counts.accounts.get_mut(account) {
            state.everywhere = Window::default();
            state.by_address.clear();
        }
    }

    /// Entries held, for tests of the memory bound.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let counts = self.lock();
        (counts.accounts.len(), counts.addresses.len())
    }
}

/// A count of events per key over a sliding window (registrations per
/// address, reset mails per account): `take` checks and counts in one step.
#[derive(Debug)]
pub struct WindowLimiter<K> {
    limit: usize,
    window: Duration,
    logs: Mutex<HashMap<K, Window>>,
}

impl<K: Eq + Hash + Clone> WindowLimiter<K> {
    /// At most `limit` events per key in any `window`.
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            logs: Mutex::default(),
        }
    }

    /// Counts an event for `key`, or says how long until one is allowed.
    pub fn take(&self, key: &K, now: DateTime<Utc>) -> Result<(), Duration> {
        let mut logs = self
            .logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let log = logs.entry(key.clone()).or_default();
        if let Some(wait) = log.full(self.limit, self.window, now) {
            return Err(wait);
        }
        log.push(now, self.limit);
        sweep(&mut logs, self.window, now);
        Ok(())
    }

    /// Counts an event for `key` and says what is left of the window, or
    /// how long until one is allowed.
    pub fn reserve(&self, key: &K, now: DateTime<Utc>) -> Result<Quota, Duration> {
        let mut logs = self
            .logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let log = logs.entry(key.clone()).or_default();
        if let Some(wait) = log.full(self.limit, self.window, now) {
            return Err(wait);
        }
        log.push(now, self.limit);
        let remaining = self.limit.saturating_sub(log.0.len());
        // Until the oldest event counted leaves the window (one more fits).
        let oldest = log.0.front().copied().unwrap_or(now);
        let quota = Quota {
            limit: self.limit,
            remaining,
            reset_after: (oldest + self.window - now).max(Duration::seconds(1)),
            window: self.window,
        };
        sweep(&mut logs, self.window, now);
        Ok(quota)
    }

    /// Takes back an event counted at `at` (it turned out not to count: the
    /// credential was refused); a key left with nothing is forgotten.
    pub fn give_back(&self, key: &K, at: DateTime<Utc>) {
        let mut logs = self
            .logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(log) = logs.get_mut(key) {
            log.give_back(at);
            if log.0.is_empty() {
                logs.remove(key);
            }
        }
    }
}

/// What is left of a key's window after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Events allowed per window.
    pub limit: usize,
    /// Events left now.
    pub remaining: usize,
    /// Until one more event fits.
    pub reset_after: Duration,
    /// The window.
    pub window: Duration,
}

/// What each key holds at once (hashes queued, live feeds open, KiB of
/// request bodies in memory), with a cap per key. Taking checks and counts
/// in one step; the [`Held`] share gives its amount back when dropped, and a
/// key holding nothing is forgotten, so the map only holds keys in use.
#[derive(Debug)]
pub struct HeldCounts<K: Eq + Hash>(Arc<Mutex<HashMap<K, usize>>>);

impl<K: Eq + Hash> Default for HeldCounts<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<K: Eq + Hash> Clone for HeldCounts<K> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

/// A key's share of a [`HeldCounts`], given back when dropped.
#[derive(Debug)]
pub struct Held<K: Eq + Hash> {
    counts: HeldCounts<K>,
    key: K,
    amount: usize,
}

impl<K: Eq + Hash + Clone> HeldCounts<K> {
    /// Takes `amount` more for `key`, unless it would then hold more than `cap`.
    pub fn take(&self, key: K, amount: usize, cap: usize) -> Option<Held<K>> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let held = counts.get(&key).copied().unwrap_or(0);
        if held.saturating_add(amount) > cap {
            return None;
        }
        counts.insert(key.clone(), held + amount);
        Some(Held {
            counts: self.clone(),
            key,
            amount,
        })
    }

    /// Whether no key holds anything.
    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

impl<K: Eq + Hash> Drop for Held<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = counts.get_mut(&self.key) {
            *held = held.saturating_sub(self.amount);
            if *held == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_counts_cap_each_key_and_forget_keys_holding_nothing() {
        let counts = HeldCounts::default();
        let first = counts.take("a", 3, 4).unwrap();
        assert!(counts.take("a", 2, 4).is_none());
        let second = counts.take("a", 1, 4).unwrap();
        assert!(counts.take("b", 4, 4).is_some(), "other keys are apart");
        drop((first, second));
        assert!(counts.is_empty());
    }

    fn limiter(per_account: usize, per_address: usize, everywhere: usize) -> Arc<SignInLimiter> {
        Arc::new(SignInLimiter::new(SignInLimits {
            per_account,
            per_address,
            per_account_everywhere: everywhere,
            window: Duration::minutes(10),
        }))
    }

    #[test]
    fn account_locks_on_one_address_after_limit_and_unlocks_when_window_passes() {
        let limiter = limiter(3, 10, 100);
        let address: IpAddr = "127.0.0.1".parse().unwrap();
        let start = Utc::now();
        for minute in 0..3 {
            let now = start + Duration::minutes(minute);
            limiter.attempt("a@x.io", address, now).unwrap().failed();
        }
        let now = start + Duration::minutes(3);
        assert!(matches!(
            limiter.attempt("a@x.io", address, now),
            Err(Throttled::Account { retry_after }) if retry_after == Duration::minutes(7)
        ));
        assert!(
            limiter.attempt("b@x.io", address, now).is_ok(),
            "other accounts are unaffected"
        );
        assert!(
            limiter
                .attempt("a@x.io", "10.1.1.1".parse().unwrap(), now)
                .is_ok(),
            "the guesser's lock does not lock the owner out elsewhere"
        );
        assert!(
            limiter
                .attempt("a@x.io", address, start + Duration::minutes(10))
                .is_ok()
        );
    }

    #[test]
    fn attempts_are_counted_before_they_are_judged() {
        let limiter = limiter(5, 100, 100);
        let address: IpAddr = "127.0.0.1".parse().unwrap();
        let now = Utc::now();
        // Forty at once: the first five are taken while none has been judged.
        let taken: Vec<_> = (0..40)
            .filter_map(|_| limiter.attempt("a@x.io", address, now).ok())
            .collect();
        assert_eq!(taken.len(), 5);
        for attempt in taken {
            attempt.failed();
        }
        assert!(limiter.attempt("a@x.io", address, now).is_err());
    }

    #[test]
    fn success_and_unjudged_attempts_are_given_back_but_abandoned_ones_count() {
        let limiter = limiter(2, 100, 100);
        let address: IpAddr = "127.0.0.1".parse().unwrap();
        let now = Utc::now();
        limiter.attempt("a@x.io", address, now).unwrap().failed();
        limiter.attempt("a@x.io", address, now).unwrap().give_back();
        limiter.attempt("a@x.io", address, now).unwrap().succeeded();
        // The success forgot the failure, so two more fit.
        limiter.attempt("a@x.io", address, now).unwrap().failed();
        limiter.attempt("a@x.io", address, now).unwrap().failed();
        assert!(limiter.attempt("a@x.io", address, now).is_err());
        limiter.clear_account("a@x.io");
        // A client that hangs up mid-check keeps the attempt counted.
        drop(limiter.attempt("a@x.io", address, now).unwrap());
        drop(limiter.attempt("a@x.io", address, now).unwrap());
        assert!(limiter.attempt("a@x.io", address, now).is_err());
    }

    #[test]
    fn address_locks_across_accounts() {
        let limiter = limiter(3, 4, 100);
        let address: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Utc::now();
        for n in 0..4 {
            limiter
                .attempt(&format!("user{n}@x.io"), address, now)
                .unwrap()
                .failed();
        }
        assert!(matches!(
            limiter.attempt("new@x.io", address, now),
            Err(Throttled::Address { .. })
        ));
        assert!(
            limiter
                .attempt("new@x.io", "10.0.0.2".parse().unwrap(), now)
                .is_ok()
        );
    }

    #[test]
    fn a_campaign_from_many_addresses_leaves_known_addresses_in() {
        let limiter = limiter(5, 100, 10);
        let home: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Utc::now();
        limiter.attempt("a@x.io", home, now).unwrap().succeeded();
        for n in 0..10u8 {
            let address = IpAddr::from([198, 51, 100, n]);
            limiter.attempt("a@x.io", address, now).unwrap().failed();
        }
        assert!(matches!(
            limiter.attempt("a@x.io", "203.0.113.9".parse().unwrap(), now),
            Err(Throttled::AccountEverywhere { .. })
        ));
        assert!(
            limiter.attempt("a@x.io", home, now).is_ok(),
            "the owner's known address passes the account-wide lock"
        );
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_memory_is_swept() {
        let limiter = limiter(1, 2, 100);
        let now = Utc::now();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other_in_block: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        limiter.attempt("a@x.io", one, now).unwrap().failed();
        assert!(limiter.attempt("a@x.io", other_in_block, now).is_err());

        let limiter = limiter_with_window();
        let start = Utc::now();
        for n in 0..(SWEEP_ABOVE as u32 + 10) {
            let address = IpAddr::from(n.to_be_bytes());
            if let Ok(attempt) = limiter.attempt(&format!("u{n}"), address, start) {
                attempt.failed();
            }
        }
        let later = start + Duration::minutes(11);
        let _ = limiter.attempt("last", "10.9.9.9".parse().unwrap(), later);
        let (accounts, addresses) = limiter.held();
        // Swept each time a map passed the mark: what is left is what came after.
        assert!(accounts <= 20 && addresses <= 20, "{accounts} {addresses}");
    }

    fn limiter_with_window() -> Arc<SignInLimiter> {
        limiter(5, 20, 100)
    }

    #[test]
    fn window_limiter_takes_up_to_its_limit() {
        let limiter = WindowLimiter::new(2, Duration::hours(1));
        let now = Utc::now();
        assert!(limiter.take(&1, now).is_ok());
        assert!(limiter.take(&1, now).is_ok());
        assert_eq!(limiter.take(&1, now), Err(Duration::hours(1)));
        assert!(limiter.take(&2, now).is_ok());
        assert!(limiter.take(&1, now + Duration::hours(1)).is_ok());
    }
}
