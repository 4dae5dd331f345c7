//! Scaling of established-flow work from 1 to 2 threads, with 1,000,000 live
//! flows: each worker owns its own flows (as the gateway pins a flow to one
//! worker in both directions), both share the one engine.
//!
//! Run: `cargo run --release -p benches --bin nat_threads`

use benches::flows::{self, PACKET_LEN};
use natcore::{Counters, Engine};
use std::hint::black_box;
use std::time::{Duration, Instant};

const FLOWS: usize = 1_000_000;
const OPS_PER_THREAD: usize = 5_000_000;
const ROUNDS: usize = 3;

fn lookups(engine: &Engine, tuples: &[natcore::wire::FiveTuple], worker: usize, workers: usize) {
    let table = engine.table();
    let ticks = table.ticks(Instant::now());
    let per_worker = tuples.len() / workers;
    let mine = &tuples[worker * per_worker..(worker + 1) * per_worker];
    for i in 0..OPS_PER_THREAD {
        black_box(table.lookup_outbound(ticks, &mine[flows::scattered(i, mine.len())], 0));
    }
}

fn translate(engine: &Engine, packets: &[u8], worker: usize, workers: usize) {
    let now = Instant::now();
    let per_worker = packets.len() / PACKET_LEN / workers;
    let mut buf = [0u8; PACKET_LEN];
    let mut reply = [0u8; 576];
    let mut counters = Counters::default();
    for i in 0..OPS_PER_THREAD {
        let k = worker * per_worker + flows::scattered(i, per_worker);
        buf.copy_from_slice(&packets[k * PACKET_LEN..(k + 1) * PACKET_LEN]);
        black_box(engine.handle_outbound(now, &mut buf, &mut reply, &mut counters)).ok();
    }
    engine.flush(&mut counters);
}

/// Best of ROUNDS: million operations per second with `workers` threads.
fn throughput(workers: usize, work: impl Fn(usize, usize) + Sync) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::thread::scope(|s| {
            for w in 0..workers {
                let work = &work;
                s.spawn(move || work(w, workers));
            }
        });
        best = best.min(t.elapsed());
    }
    (workers * OPS_PER_THREAD) as f64 / best.as_secs_f64() / 1e6
}

fn main() {
    let engine = flows::engine(1 << 20);
    let packets = flows::packets(FLOWS);
    let mut counters = Counters::default();
    let (mut buf, mut reply) = ([0u8; PACKET_LEN], [0u8; 576]);
    for p in packets.chunks_exact(PACKET_LEN) {
        buf.copy_from_slice(p);
        engine
            .handle_outbound(Instant::now(), &mut buf, &mut reply, &mut counters)
            .ok();
    }
    assert_eq!(engine.table().len(), FLOWS);
    let tuples: Vec<_> = (0..FLOWS).map(flows::tuple).collect();
    println!(
        "cores available: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // The first 10k flows: a cache-resident working set, where any line
    // written by both workers would show.
    let (hot_tuples, hot_packets) = (&tuples[..10_000], &packets[..10_000 * PACKET_LEN]);
    for (label, one, two) in [
        (
            "flow lookups (10k of 1M flows)",
            throughput(1, |w, n| lookups(&engine, hot_tuples, w, n)),
            throughput(2, |w, n| lookups(&engine, hot_tuples, w, n)),
        ),
        (
            "full translate (10k of 1M flows)",
            throughput(1, |w, n| translate(&engine, hot_packets, w, n)),
            throughput(2, |w, n| translate(&engine, hot_packets, w, n)),
        ),
        (
            "flow lookups (1M flows)",
            throughput(1, |w, n| lookups(&engine, &tuples, w, n)),
            throughput(2, |w, n| lookups(&engine, &tuples, w, n)),
        ),
        (
            "full translate (1M flows)",
            throughput(1, |w, n| translate(&engine, &packets, w, n)),
            throughput(2, |w, n| translate(&engine, &packets, w, n)),
        ),
    ] {
        println!("{label:<34} 1 thread {one:>7.2} Mops/s   2 threads {two:>7.2} Mops/s   speed-up {:.2}x", two / one);
    }
    let s = engine.stats();
    assert_eq!(s.totals.drops.iter().sum::<u64>(), 0, "no packet dropped");
}
