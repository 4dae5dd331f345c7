//! Memory per flow at 1,000,000 live flows, counted two ways: heap bytes
//! live (a counting global allocator) and resident set size.
//!
//! Run: `cargo run --release -p benches --bin nat_memory`

use benches::alloc::{rss_bytes, CountingAlloc};
use benches::flows::{self, PACKET_LEN};
use natcore::Counters;
use std::time::Instant;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const FLOWS: usize = 1_000_000;

fn main() {
    let now = Instant::now();
    let mut counters = Counters::default();
    let mut reply = [0u8; 576];
    let mut buf = [0u8; PACKET_LEN];
    // Packets are generated one at a time so only the table stays allocated.
    let heap_before = ALLOC.live_bytes();
    let rss_before = rss_bytes().unwrap_or(0);
    let allocations_before = ALLOC.allocations();
    let engine = flows::engine(1 << 20);
    for i in 0..FLOWS {
        let t = flows::tuple(i);
        let p = natcore::testing::udp_packet((t.src, t.src_port), (t.dst, t.dst_port), b"payload!");
        buf.copy_from_slice(&p);
        engine
            .handle_outbound(now, &mut buf, &mut reply, &mut counters)
            .ok();
    }
    assert_eq!(engine.table().len(), FLOWS);
    let heap = ALLOC.live_bytes() - heap_before;
    let rss = rss_bytes().unwrap_or(0).saturating_sub(rss_before);
    println!("flows                              {FLOWS}");
    println!(
        "heap bytes live per flow           {:.1}",
        heap as f64 / FLOWS as f64
    );
    println!(
        "RSS growth per flow                {:.1}",
        rss as f64 / FLOWS as f64
    );
    println!(
        "allocations (incl. 1 packet/flow)  {:.2} per flow",
        (ALLOC.allocations() - allocations_before) as f64 / FLOWS as f64
    );

    // Established-flow translation must not allocate.
    let t = flows::tuple(42);
    let template =
        natcore::testing::udp_packet((t.src, t.src_port), (t.dst, t.dst_port), b"payload!");
    let before = ALLOC.allocations();
    for _ in 0..100_000 {
        buf.copy_from_slice(&template);
        engine
            .handle_outbound(now, &mut buf, &mut reply, &mut counters)
            .ok();
    }
    println!(
        "allocations per established packet {:.4}",
        (ALLOC.allocations() - before) as f64 / 100_000.0
    );
}
