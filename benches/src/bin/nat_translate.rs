//! natcore engine timings: established-flow translate, new-flow setup, and
//! lookups with 1,000,000 live flows. Prints ns per packet.
//!
//! Run: `cargo run --release -p benches --bin nat_translate`

use benches::flows::{self, PACKET_LEN};
use benches::timing::{ns_per_op, print};
use natcore::Counters;
use std::hint::black_box;
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_millis(1500);
const MILLION: usize = 1_000_000;

fn main() {
    let now = Instant::now();
    let mut counters = Counters::default();
    let mut reply = [0u8; 576];
    let mut buf = [0u8; PACKET_LEN];

    // New-flow setup: a fresh engine per round of 100k flows.
    let setup_packets = flows::packets(100_000);
    let mut setup = Vec::new();
    for _ in 0..3 {
        let engine = flows::engine(1 << 20);
        let t = Instant::now();
        for p in setup_packets.chunks_exact(PACKET_LEN) {
            buf.copy_from_slice(p);
            let _ = black_box(engine.handle_outbound(now, &mut buf, &mut reply, &mut counters));
        }
        setup.push(t.elapsed().as_nanos() as f64 / 100_000.0);
        assert_eq!(engine.table().len(), 100_000);
    }
    setup.sort_by(f64::total_cmp);
    println!(
        "{:<58} best {:>8.1} ns/flow  (3 rounds of 100k new flows)",
        "new-flow setup (handle_outbound, SNAT + port choice)", setup[0]
    );

    // One engine with 1M live flows for everything else.
    let engine = flows::engine(1 << 20);
    let packets = flows::packets(MILLION);
    let t = Instant::now();
    for p in packets.chunks_exact(PACKET_LEN) {
        buf.copy_from_slice(p);
        engine
            .handle_outbound(now, &mut buf, &mut reply, &mut counters)
            .ok();
    }
    println!(
        "{:<58} {:>8.1} ns/flow  (1M flows into one table)",
        "new-flow setup up to 1M flows",
        t.elapsed().as_nanos() as f64 / MILLION as f64
    );
    assert_eq!(engine.table().len(), MILLION, "every flow created");
    assert_eq!(counters.drops.iter().sum::<u64>(), 0);

    let packet = |i: usize| &packets[i * PACKET_LEN..(i + 1) * PACKET_LEN];
    for (label, n) in [
        ("1 flow (hot)", 1),
        ("10k flows, random order", 10_000),
        ("1M flows, random order", MILLION),
    ] {
        let pick = |i: usize| if n == 1 { 0 } else { flows::scattered(i, n) };
        // The packets come from a 36 MB arena: fetching packet k at random
        // misses the cache by itself, which a real worker (packet just read
        // into a hot buffer) does not pay. Measured alone and subtracted.
        let copy = ns_per_op(BUDGET, 100_000, |i| {
            buf.copy_from_slice(packet(pick(i)));
            black_box(&mut buf);
        });
        let f = ns_per_op(BUDGET, 100_000, |i| {
            buf.copy_from_slice(packet(pick(i)));
            let v = engine.handle_outbound(now, &mut buf, &mut reply, &mut counters);
            debug_assert!(v.is_ok());
            black_box(v).ok();
        });
        print(&format!("fetch packet only, {label}"), &copy);
        print(&format!("fetch + established translate, {label}"), &f);
        println!(
            "{:<58} best {:>8.1} ns/op",
            format!("=> established translate, {label}"),
            f.best_ns - copy.best_ns
        );
    }

    let table = engine.table();
    let ticks = table.ticks(now);
    let tuples: Vec<_> = (0..MILLION).map(flows::tuple).collect();
    for (label, n) in [
        ("flow lookup only, 10k flows random order", 10_000),
        ("flow lookup only, 1M flows random order", MILLION),
    ] {
        let f = ns_per_op(BUDGET, 100_000, |i| {
            let found = table.lookup_outbound(ticks, &tuples[flows::scattered(i, n)], 0);
            debug_assert!(found.is_some());
            black_box(found);
        });
        print(label, &f);
    }
    assert_eq!(
        counters.drops.iter().sum::<u64>(),
        0,
        "no packet was dropped"
    );
}
