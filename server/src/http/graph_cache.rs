//! Merged graph documents kept in memory between syncs, each at the stored
//! revision it was loaded or saved at.
//!
//! Loading a 10k-node graph means reading megabytes from the database and
//! importing them; a device that pulls what changed needs a few hundred
//! bytes. So the merge path keeps each document it used: the next request
//! for that graph checks the stored revision (one small query) and, when it
//! still matches, works on the document in memory. Another instance that
//! stored a newer revision makes the entry stale; it is dropped and the
//! document is read again. Entries are moved out while in use (merges into
//! one graph take turns), so there is never a copy to keep in step.
//!
//! Memory is bounded twice: each entry weighs what its stored bytes weigh
//! and past the budget the least recently used go; and while the process's
//! resident memory is over a ceiling, entries go oldest first whatever they
//! weigh (a document that has served many syncs holds several times its
//! stored bytes once its parts are decoded).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;

use orrery_domain::GraphId;
use orrery_sync::GraphDocument;
use uuid::Uuid;

/// A document held between requests.
pub(crate) struct CachedGraph {
    /// The stored revision it is at.
    pub revision: i64,
    pub document: GraphDocument,
    /// The bytes it is stored as (snapshot and updates): what the document
    /// weighs against the budget.
    pub stored_bytes: usize,
    /// The answer for a device that has nothing (the whole document as one
    /// snapshot), once made at this revision: the next such device gets the
    /// same bytes, shared, not copied.
    pub fresh_answer: Option<Bytes>,
}

impl CachedGraph {
    /// `document` at stored `revision`, stored as `stored_bytes`.
    pub fn new(revision: i64, document: GraphDocument, stored_bytes: usize) -> Self {
        Self {
            revision,
            document,
            stored_bytes,
            fresh_answer: None,
        }
    }

    fn weight(&self) -> usize {
        self.stored_bytes + self.fresh_answer.as_ref().map_or(0, Bytes::len)
    }
}

struct Entry {
    graph: CachedGraph,
    /// The graph's weight when it was kept.
    weight: usize,
    last_used: u64,
}

#[derive(Default)]
struct Entries {
    by_graph: HashMap<(Uuid, GraphId), Entry>,
    weight: usize,
    clock: u64,
}

/// The cache, shared by every request of one server instance.
pub(crate) struct GraphCache {
    entries: Mutex<Entries>,
    budget: usize,
    /// Resident memory of the whole process past which entries go, oldest
    /// first, whatever their weight says: a document used for a while holds
    /// much more than its stored bytes once its parts are decoded.
    resident_ceiling: usize,
}

impl GraphCache {
    /// A cache holding at most `budget` bytes' worth of documents, and none
    /// while the process holds more than `resident_ceiling` bytes.
    pub fn new(budget: usize, resident_ceiling: usize) -> Self {
        Self {
            entries: Mutex::default(),
            budget,
            resident_ceiling,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the document of `graph` if it is held at `revision`; one held at
    /// another revision is stale and dropped.
    pub fn take(&self, tenant: Uuid, graph: GraphId, revision: i64) -> Option<CachedGraph> {
        let taken = {
            let mut entries = self.lock();
            let entry = entries.by_graph.remove(&(tenant, graph))?;
            entries.weight -= entry.weight;
            entry.graph
        };
        // A stale document is dropped outside the lock (freeing a large one takes a while).
        (taken.revision == revision).then_some(taken)
    }

    /// Keeps a document for the next request, unless it alone weighs more
    /// than the budget; the least recently used go to make room.
    pub fn keep(&self, tenant: Uuid, graph: GraphId, cached: CachedGraph) {
        let weight = cached.weight();
        if weight > self.budget {
            return;
        }
        let mut evicted = Vec::new();
        {
            let mut entries = self.lock();
            entries.clock += 1;
            let last_used = entries.clock;
            entries.weight += weight;
            if let Some(old) = entries.by_graph.insert(
                (tenant, graph),
                Entry {
                    graph: cached,
                    weight,
                    last_used,
                },
            ) {
                entries.weight -= old.weight;
                evicted.push(old);
            }
            while entries.weight > self.budget {
                let Some(entry) = entries.pop_oldest() else {
                    break;
                };
                evicted.push(entry);
            }
        }
        drop(evicted);
        // Under memory pressure the oldest go one at a time (dropping one
        // gives its pages back at once: mimalloc purges without delay).
        while crate::memory::resident_bytes()
            .is_some_and(|resident| resident > self.resident_ceiling)
        {
            let Some(entry) = self.lock().pop_oldest() else {
                break;
            };
            drop(entry);
        }
    }
}

impl Entries {
    fn pop_oldest(&mut self) -> Option<Entry> {
        let oldest = self
            .by_graph
            .iter()
            .min_by_key(|(_, entry)| entry.last_used)
            .map(|(key, _)| *key)?;
        let entry = self.by_graph.remove(&oldest)?;
        self.weight -= entry.weight;
        Some(entry)
    }
}

impl GraphCache {
    /// Bytes' worth of documents held now.
    #[cfg(test)]
    fn weight(&self) -> usize {
        self.lock().weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(revision: i64, weight: usize) -> CachedGraph {
        CachedGraph::new(revision, GraphDocument::empty(GraphId::new()), weight)
    }

    #[test]
    fn a_document_comes_back_only_at_its_revision() {
        let cache = GraphCache::new(1_000, usize::MAX);
        let (tenant, graph) = (Uuid::new_v4(), GraphId::new());
        cache.keep(tenant, graph, cached(4, 100));
        assert!(
            cache.take(tenant, graph, 5).is_none(),
            "a stale revision came back"
        );
        assert!(
            cache.take(tenant, graph, 4).is_none(),
            "the stale entry was kept"
        );
        cache.keep(tenant, graph, cached(5, 100));
        assert_eq!(cache.take(tenant, graph, 5).map(|c| c.revision), Some(5));
        assert_eq!(cache.weight(), 0);
        // Another tenant's graph of the same id is another entry.
        cache.keep(tenant, graph, cached(1, 10));
        assert!(cache.take(Uuid::new_v4(), graph, 1).is_none());
    }

    #[test]
    fn under_memory_pressure_nothing_is_kept() {
        // A ceiling below what any process holds: every entry goes.
        let cache = GraphCache::new(1_000, 1);
        let (tenant, graph) = (Uuid::new_v4(), GraphId::new());
        cache.keep(tenant, graph, cached(1, 10));
        assert!(cache.take(tenant, graph, 1).is_none());
        assert_eq!(cache.weight(), 0);
    }

    #[test]
    fn the_budget_holds_by_evicting_the_least_recently_used() {
        let cache = GraphCache::new(250, usize::MAX);
        let tenant = Uuid::new_v4();
        let graphs: Vec<GraphId> = (0..4).map(|_| GraphId::new()).collect();
        for graph in &graphs[..2] {
            cache.keep(tenant, *graph, cached(1, 100));
        }
        // Using the first makes the second the oldest.
        let first = cache.take(tenant, graphs[0], 1).unwrap();
        cache.keep(tenant, graphs[0], first);
        cache.keep(tenant, graphs[2], cached(1, 100));
        assert!(cache.weight() <= 250);
        assert!(
            cache.take(tenant, graphs[1], 1).is_none(),
            "the oldest stayed"
        );
        assert!(cache.take(tenant, graphs[0], 1).is_some());
        // One document over the whole budget is not kept at all.
        cache.keep(tenant, graphs[3], cached(1, 251));
        assert!(cache.take(tenant, graphs[3], 1).is_none());
    }
}
