//! The lookup pattern of the established-flow path — a 16-byte 5-tuple key
//! to an `Arc` of a ~48-byte flow entry, read by every worker, written only
//! on flow setup — on dashmap 6 (sharded RwLocks: each read is an atomic
//! read-modify-write on a shard lock) and papaya 0.2 (lock-free reads), both
//! with the engine's foldhash hasher, 1 and 2 threads.
//!
//! Run: `cargo run --release -p benches --bin map_lookup`

use benches::flows;
use natcore::nat::Inside;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Hasher = foldhash::fast::RandomState;
/// Stands in for a flow entry (three endpoints, atomics): 48 bytes.
type Entry = Arc<[u64; 6]>;

const OPS_PER_THREAD: usize = 5_000_000;
const ROUNDS: usize = 3;

trait Map: Sync {
    fn name(&self) -> &'static str;
    fn insert(&self, k: Inside, v: Entry);
    fn lookup(&self, k: &Inside) -> u64;
}

struct Papaya(papaya::HashMap<Inside, Entry, Hasher>);
struct Dash(dashmap::DashMap<Inside, Entry, Hasher>);

impl Map for Papaya {
    fn name(&self) -> &'static str {
        "papaya 0.2"
    }
    fn insert(&self, k: Inside, v: Entry) {
        self.0.pin().insert(k, v);
    }
    fn lookup(&self, k: &Inside) -> u64 {
        let guard = self.0.guard();
        self.0.get(k, &guard).map_or(0, |e| e[0])
    }
}

impl Map for Dash {
    fn name(&self) -> &'static str {
        "dashmap 6"
    }
    fn insert(&self, k: Inside, v: Entry) {
        self.0.insert(k, v);
    }
    fn lookup(&self, k: &Inside) -> u64 {
        self.0.get(k).map_or(0, |e| e[0])
    }
}

/// Best of ROUNDS, ns per lookup per thread.
fn run(map: &dyn Map, keys: &[Inside], threads: usize) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::thread::scope(|s| {
            for w in 0..threads {
                s.spawn(move || {
                    let part = keys.len() / threads;
                    let mine = &keys[w * part..(w + 1) * part];
                    let mut sum = 0u64;
                    for i in 0..OPS_PER_THREAD {
                        sum = sum.wrapping_add(map.lookup(&mine[flows::scattered(i, mine.len())]));
                    }
                    black_box(sum);
                });
            }
        });
        best = best.min(t.elapsed());
    }
    best.as_nanos() as f64 / OPS_PER_THREAD as f64
}

fn main() {
    for n in [10_000usize, 1_000_000] {
        let keys: Vec<Inside> = (0..n).map(|i| Inside(flows::tuple(i))).collect();
        let maps: [Box<dyn Map>; 2] = [
            Box::new(Dash(dashmap::DashMap::with_hasher(Hasher::default()))),
            Box::new(Papaya(
                papaya::HashMap::builder().hasher(Hasher::default()).build(),
            )),
        ];
        for map in &maps {
            for (i, k) in keys.iter().enumerate() {
                map.insert(*k, Arc::new([i as u64; 6]));
            }
            let one = run(map.as_ref(), &keys, 1);
            let two = run(map.as_ref(), &keys, 2);
            println!(
                "{:<11} {:>9} entries: 1 thread {:>6.1} ns/lookup, 2 threads {:>6.1} ns/lookup each ({:.2}x throughput)",
                map.name(), n, one, two, 2.0 * one / two
            );
        }
    }
}
