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
    let copy = ns_per_op(BUDGET, 100_000, |i| {
        buf.copy_from_slice(packet(i % 1024));
        black_box(&mut buf);
    });
    print("baseline: copy the packet into the work buffer", &copy);

    for (label, n) in [
        ("established translate, 1 flow (hot)", 1),
        ("established translate, 10k flows round-robin", 10_000),
        ("established translate, 1M flows scattered", MILLION),
    ] {
        let f = ns_per_op(BUDGET, 100_000, |i| {
            let k = if n == 1 { 0 } else { flows::scattered(i, n) };
            buf.copy_from_slice(packet(k));
            let v = engine.handle_outbound(now, &mut buf, &mut reply, &mut counters);
            debug_assert!(v.is_ok());
            black_box(v).ok();
        });
        print(label, &f);
    }

    let table = engine.table();
    let ticks = table.ticks(now);
    let tuples: Vec<_> = (0..MILLION).map(flows::tuple).collect();
    for (label, n) in [
        ("flow lookup only, 10k flows", 10_000),
        ("flow lookup only, 1M flows scattered", MILLION),
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
