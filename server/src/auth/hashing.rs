//! The password-hashing pool: every argon2id hash and check the server does
//! runs here, on a fixed set of threads (one per core) fed by a bounded
//! queue. Each argon2id run takes 19 MiB and tens of milliseconds of CPU, so
//! the pool is what bounds the memory and CPU that hashing can take, however
//! many registrations, sign-ins or password changes arrive at once.
//!
//! Two queues feed the threads: sign-ins from addresses that signed in to
//! the account before go first, so a flood of strangers' hashing does not
//! keep the owner waiting; everything else queues behind them.
//!
//! The queues are sized for latency, not memory (a queued job holds only the
//! password): 96 per thread is a few seconds of work at most. When one is full
//! the request is turned away at once ([`HashingRefused::Busy`], a 503 with
//! `Retry-After`) instead of waiting behind a flood. And no one client
//! address may have more than [`PER_ADDRESS`] hashes queued or running
//! ([`HashingRefused::AddressBusy`], a 429), so a flood from a few addresses
//! cannot fill the queue in front of everyone else.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use crate::auth::password::{hash_password, verify_password};
use crate::auth::rate_limit::{AddressKey, HeldCounts};

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

/// Which queue a hash waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A sign-in from an address that signed in to the account before.
    Known,
    /// Everything else: registrations, resets, sign-ins from new places.
    Others,
}

#[derive(Default)]
struct Queues {
    known: VecDeque<Job>,
    others: VecDeque<Job>,
    closed: bool,
}

/// The queues and what the threads wait on.
struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
    /// Jobs each queue holds at most.
    capacity: usize,
}

/// Closes the queues when the last clone of the pool goes, ending the threads.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .closed = true;
        self.0.ready.notify_all();
    }
}

/// Threads that hash passwords, and the bounded queues in front of them.
#[derive(Clone)]
pub struct HashingPool {
    shared: Arc<Shared>,
    _closer: Arc<Closer>,
    threads: usize,
    /// Places each client address holds in the queues.
    by_address: HeldCounts<AddressKey>,
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
        let shared = Arc::new(Shared {
            queues: Mutex::default(),
            ready: Condvar::new(),
            capacity: queued.max(1),
        });
        for index in 0..threads {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("orrery-hash-{index}"))
                .spawn(move || run_jobs(&shared))
                .expect("starting a password-hashing thread");
        }
        Self {
            _closer: Arc::new(Closer(Arc::clone(&shared))),
            shared,
            threads,
            by_address: HeldCounts::default(),
        }
    }

    /// Runs `work` for a client at `address` on a hashing thread and waits
    /// for its answer.
    async fn run<T: Send + 'static>(
        &self,
        address: AddressKey,
        lane: Lane,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingRefused> {
        let turn = self
            .by_address
            .take(address, 1, PER_ADDRESS)
            .ok_or(HashingRefused::AddressBusy)?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The address's turn ends when the work is done, even if the
            // asker has gone (its connection closed), and before the answer
            // goes out, so the asker never sees its own turn still held.
            let done = work();
            drop(turn);
            let _ = answer.send(done);
        });
        {
            let mut queues = self.shared.queues.lock().unwrap_or_else(|p| p.into_inner());
            let queue = match lane {
                Lane::Known => &mut queues.known,
                Lane::Others => &mut queues.others,
            };
            if queue.len() >= self.shared.capacity {
                return Err(HashingRefused::Busy);
            }
            queue.push_back(job);
        }
        self.shared.ready.notify_one();
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
        self.run(address, Lane::Others, move || hash_password(&password))
            .await
    }

    /// Whether `password` matches `stored` (done against a decoy when there
    /// is no stored hash, so a missing account takes as long).
    pub async fn verify(
        &self,
        address: AddressKey,
        lane: Lane,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashingRefused> {
        self.run(address, lane, move || {
            verify_password(&password, stored.as_deref())
        })
        .await
    }
}

fn run_jobs(shared: &Shared) {
    loop {
        let job = {
            let mut queues = shared.queues.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(job) = queues
                    .known
                    .pop_front()
                    .or_else(|| queues.others.pop_front())
                {
                    break job;
                }
                if queues.closed {
                    return;
                }
                queues = shared.ready.wait(queues).unwrap_or_else(|p| p.into_inner());
            }
        };
        job();
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
                Lane::Others,
                "correct horse battery".into(),
                Some(hash.clone())
            )
            .await
            .unwrap()
        );
        assert!(
            !pool
                .verify(address(1), Lane::Others, "wrong".into(), Some(hash))
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn known_addresses_go_before_a_flood() {
        // One thread, kept busy; strangers fill their queue; the owner's
        // sign-in is queued last and still runs before every stranger's.
        let pool = HashingPool::new(1, 64);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (started, hold) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(address(200), Lane::Others, move || {
                    started.send(()).unwrap();
                    released.recv().unwrap();
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || hold.recv().unwrap())
            .await
            .unwrap();
        let mut waiting = Vec::new();
        for n in 0..6u8 {
            let (pool, order) = (pool.clone(), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                pool.run(address(n), Lane::Others, move || {
                    order.lock().unwrap().push("stranger")
                })
                .await
            }));
        }
        let queued = |pool: &HashingPool| {
            let queues = pool.shared.queues.lock().unwrap();
            queues.known.len() + queues.others.len()
        };
        while queued(&pool) < 6 {
            tokio::task::yield_now().await;
        }
        let (owner_pool, owner_order) = (pool.clone(), Arc::clone(&order));
        let owner = tokio::spawn(async move {
            owner_pool
                .run(address(100), Lane::Known, move || {
                    owner_order.lock().unwrap().push("owner")
                })
                .await
        });
        while queued(&pool) < 7 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        owner.await.unwrap().unwrap();
        for stranger in waiting {
            stranger.await.unwrap().unwrap();
        }
        let order = order.lock().unwrap();
        assert_eq!(order.len(), 7);
        assert_eq!(order[0], "owner", "{order:?}");
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
        assert!(pool.by_address.is_empty());
    }
}
