//! The concurrent map behind both lookup keys.
//!
//! Reads (the established-flow path) must not take a lock shared by all
//! workers. papaya's reads are lock-free (an epoch guard held in a thread
//! local, no shared read-modify-write); dashmap's take a shard `RwLock` per
//! read. `benches/src/bin/map_lookup.rs` measures both on this lookup pattern
//! (docs/performance.md, "natcore"); this wrapper keeps the choice in one place.
//!
//! Writers hold the registry lock (see `table.rs`), so the map never sees two
//! writers for the same key; it still supports them.
//!
//! Keys are hashed with foldhash seeded per process: the tuples are chosen by
//! remote peers, so a fixed hash function would invite collision flooding.

use super::flow::Flow;
use std::hash::Hash;
use std::sync::Arc;

type FlowHasher = foldhash::fast::RandomState;

pub(crate) struct FlowMap<K> {
    inner: papaya::HashMap<K, Arc<Flow>, FlowHasher>,
}

impl<K: Hash + Eq> FlowMap<K> {
    pub(crate) fn new() -> Self {
        FlowMap {
            inner: papaya::HashMap::builder()
                .hasher(FlowHasher::default())
                .build(),
        }
    }

    /// Runs `f` on the flow under `key`, without cloning the `Arc`.
    #[inline]
    pub(crate) fn with<R>(&self, key: &K, f: impl FnOnce(&Arc<Flow>) -> R) -> Option<R> {
        let guard = self.inner.guard();
        self.inner.get(key, &guard).map(f)
    }

    pub(crate) fn get(&self, key: &K) -> Option<Arc<Flow>> {
        self.with(key, Arc::clone)
    }

    pub(crate) fn insert(&self, key: K, flow: Arc<Flow>) {
        let guard = self.inner.guard();
        self.inner.insert(key, flow, &guard);
    }

    pub(crate) fn remove(&self, key: &K) {
        let guard = self.inner.guard();
        self.inner.remove(key, &guard);
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// Visits every flow without any lock (a snapshot as of each entry's
    /// visit; concurrent inserts and removals may or may not be seen).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<Flow>)) {
        let guard = self.inner.guard();
        for (_, flow) in self.inner.iter(&guard) {
            f(flow);
        }
    }
}
