//! The password-hashing pool: every argon2id hash and check the server does
//! runs here, on a fixed set of threads (one per core) fed by a bounded
//! queue. Each argon2id run takes 19 MiB and tens of milliseconds of CPU, so
//! the pool is what bounds the memory and CPU that hashing can take, however
//! many registrations, sign-ins or password changes arrive at once.
//!
//! The queue is sized for latency, not memory (a queued job holds only the
//! password): 96 per thread is a few seconds of work at most. When it is full
//! the request is turned away at once ([`HashingRefused::Busy`], a 503 with
//! `Retry-After`) instead of waiting behind a flood. And no one client
//! address may have more than [`PER_ADDRESS`] hashes queued or running
//! ([`HashingRefused::AddressBusy`], a 429), so a flood from a few addresses
//! cannot fill the queue in front of everyone else.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use crate::auth::password::{hash_password, verify_password};
use crate::auth::rate_limit::AddressKey;

/// How many hashes may wait per hashing thread before requests are refused.
pub const QUEUED_PER_THREAD: usize = 96;
/// Hashes one client address may have queued or running at once.
pub const PER_ADDRESS: usize = 8;

type Job = Box<dyn FnOnce() + Send>;

/// Why a hash was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashingRefused {
    /// The queue is full: the server is hashing as fast as it can.
    #[error("the server is busy checking passwords; try again in a moment")]
    Busy,
    /// This client address already has its share of hashes in the queue.
    #[error("too many password checks at once from this address; try again in a moment")]
    AddressBusy,
}

/// Threads that hash passwords, and the bounded queue in front of them.
#[derive(Clone)]
pub struct HashingPool {
    queue: SyncSender<Job>,
    threads: usize,
    by_address: Arc<Mutex<HashMap<AddressKey, usize>>>,
}

/// An address's place in the queue, given back when its hash is done (or
/// its request went away).
struct AddressTurn {
    by_address: Arc<Mutex<HashMap<AddressKey, usize>>>,
    address: AddressKey,
}

impl Drop for AddressTurn {
    fn drop(&mut self) {
        let mut held = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

impl std::fmt::Debug for HashingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingPool")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl HashingPool {
    /// A pool with one thread per core.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
        Self::new(cores, cores * QUEUED_PER_THREAD)
    }

    /// A pool of `threads` threads with room for `queued` waiting hashes.
    /// The threads end when the last clone of the pool is dropped.
    pub fn new(threads: usize, queued: usize) -> Self {
        let threads = threads.max(1);
        let (queue, jobs) = std::sync::mpsc::sync_channel::<Job>(queued);
        let jobs = Arc::new(Mutex::new(jobs));
        for index in 0..threads {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("orrery-hash-{index}"))
                .spawn(move || run_jobs(&jobs))
                .expect("starting a password-hashing thread");
        }
        Self {
            queue,
            threads,
            by_address: Arc::default(),
        }
    }

    fn turn_for(&self, address: AddressKey) -> Result<AddressTurn, HashingRefused> {
        let mut held = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(address).or_default();
        if *count >= PER_ADDRESS {
            return Err(HashingRefused::AddressBusy);
        }
        *count += 1;
        Ok(AddressTurn {
            by_address: Arc::clone(&self.by_address),
            address,
        })
    }

    /// Runs `work` for a client at `address` on a hashing thread and waits
    /// for its answer.
    async fn run<T: Send + 'static>(
        &self,
        address: AddressKey,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingRefused> {
        let turn = self.turn_for(address)?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The address's turn ends when the work is done, even if the
            // asker has gone (its connection closed).
            let _turn = turn;
            let _ = answer.send(work());
        });
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(HashingRefused::Busy),
            Err(TrySendError::Disconnected(_)) => {
                unreachable!("hashing threads live as long as the pool")
            }
        }
        // A hashing thread never drops a job unanswered unless it panicked,
        // and argon2 with fixed parameters does not panic.
        answered.await.map_err(|_| HashingRefused::Busy)
    }

    /// An argon2id hash of a new password, for a client at `address`.
    pub async fn hash(
        &self,
        address: AddressKey,
        password: String,
    ) -> Result<String, HashingRefused> {
        self.run(address, move || hash_password(&password)).await
    }

    /// Whether `password` matches `stored` (done against a decoy when there
    /// is no stored hash, so a missing account takes as long).
    pub async fn verify(
        &self,
        address: AddressKey,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashingRefused> {
        self.run(address, move || {
            verify_password(&password, stored.as_deref())
        })
        .await
    }
}

fn run_jobs(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let jobs = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            jobs.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> AddressKey {
        AddressKey::from(std::net::IpAddr::from([10, 0, 0, last]))
    }

    #[tokio::test]
    async fn hashes_verify_and_a_full_queue_refuses_at_once() {
        let pool = HashingPool::new(1, 1);
        let hash = pool
            .hash(address(1), "correct horse battery".into())
            .await
            .unwrap();
        assert!(
            pool.verify(
                address(1),
                "correct horse battery".into(),
                Some(hash.clone())
            )
            .await
            .unwrap()
        );
        assert!(
            !pool
                .verify(address(1), "wrong".into(), Some(hash))
                .await
                .unwrap()
        );

        // One thread busy, one job queued: the rest are refused, not queued.
        let asks: Vec<_> = (0..8)
            .map(|n| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.hash(address(n), "another password".into()).await })
            })
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for ask in asks {
            match ask.await.unwrap() {
                Ok(_) => done += 1,
                Err(HashingRefused::Busy) => busy += 1,
                Err(HashingRefused::AddressBusy) => unreachable!("one each"),
            }
        }
        assert!(busy >= 1, "a full queue refuses ({done} done)");
        assert!(done >= 1 && done <= 8 - busy);
    }

    #[tokio::test]
    async fn one_address_holds_at_most_its_share_of_the_queue() {
        let pool = HashingPool::new(1, 64);
        let asks: Vec<_> = (0..(PER_ADDRESS + 4))
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.hash(address(7), "a password here".into()).await })
            })
            .collect();
        let mut refused = 0;
        for ask in asks {
            if ask.await.unwrap() == Err(HashingRefused::AddressBusy) {
                refused += 1;
            }
        }
        assert!(refused >= 4, "{refused}");
        // Others still get in, and the address's turns came back.
        assert!(pool.hash(address(8), "someone else".into()).await.is_ok());
        assert!(pool.hash(address(7), "again later".into()).await.is_ok());
        assert!(pool.by_address.lock().unwrap().is_empty());
    }
}
