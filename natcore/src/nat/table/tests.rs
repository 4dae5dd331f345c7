use super::*;
use crate::nat::flow::tcp_seen;
use std::net::Ipv4Addr;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const T0: Ticks = 1_000_000;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn tuple(p: Protocol, src: &str, sport: u16, dst: &str, dport: u16) -> FiveTuple {
    FiveTuple {
        protocol: p,
        src: ip(src),
        src_port: sport,
        dst: ip(dst),
        dst_port: dport,
    }
}

fn table() -> FlowTable {
    FlowTable::new(
        &Timeouts::default(),
        Limits {
            max_flows: 10_000,
            max_flows_per_source: 2_000,
        },
    )
}

fn consistent(t: &FlowTable) {
    let n = t.len();
    assert_eq!(t.map_sizes(), (n, n), "maps and registry disagree");
}

#[test]
fn egress_keeps_the_source_port_and_replies_find_the_pod() {
    let t = table();
    let mut c = Counters::default();
    let out = tuple(Protocol::Tcp, "10.244.1.10", 40000, "243.0.0.5", 8080);
    let g = t
        .create_egress(T0, &out, SYN, &[ip("242.0.0.2")], &mut c)
        .unwrap();
    assert_eq!(g, Endpoint::new(ip("242.0.0.2"), 40000));
    assert_eq!(c.flows_created, [0, 1, 0]);
    assert_eq!(t.lookup_outbound(T0 + 1, &out, ACK), Some(g));
    let reply = tuple(Protocol::Tcp, "243.0.0.5", 8080, "242.0.0.2", 40000);
    assert_eq!(
        t.lookup_inbound(T0 + 2, &reply, SYN | ACK),
        Some(Endpoint::new(ip("10.244.1.10"), 40000))
    );
    assert_eq!(
        t.lookup_inbound(T0 + 2, &out, 0),
        None,
        "inside key is not an outside key"
    );
    consistent(&t);
}

#[test]
fn a_clashing_port_searches_upward() {
    let t = table();
    let mut c = Counters::default();
    let ips = [ip("242.0.0.2")];
    let a = tuple(Protocol::Udp, "10.244.1.10", 65535, "243.0.0.5", 53);
    let b = tuple(Protocol::Udp, "10.244.1.11", 65535, "243.0.0.5", 53);
    let d = tuple(Protocol::Udp, "10.244.1.12", 65535, "243.0.0.6", 53);
    assert_eq!(
        t.create_egress(T0, &a, 0, &ips, &mut c).unwrap().port,
        65535
    );
    assert_eq!(
        t.create_egress(T0, &b, 0, &ips, &mut c).unwrap().port,
        1024,
        "wraps within ≥ 1024"
    );
    assert_eq!(
        t.create_egress(T0, &d, 0, &ips, &mut c).unwrap().port,
        65535,
        "other destination: free"
    );
    consistent(&t);
}

#[test]
fn creating_twice_returns_the_existing_flow() {
    let t = table();
    let mut c = Counters::default();
    let a = tuple(Protocol::Udp, "10.244.1.10", 5000, "243.0.0.5", 53);
    let g1 = t
        .create_egress(T0, &a, 0, &[ip("242.0.0.2")], &mut c)
        .unwrap();
    let g2 = t
        .create_egress(T0, &a, 0, &[ip("242.0.0.3")], &mut c)
        .unwrap();
    assert_eq!(g1, g2);
    assert_eq!(t.len(), 1);
    assert_eq!(c.flows_created[2], 1);
}

#[test]
fn privileged_ports_exhaust_then_spill_to_the_next_ip() {
    let t = FlowTable::new(
        &Timeouts::default(),
        Limits {
            max_flows: 5_000,
            max_flows_per_source: 10,
        },
    );
    let mut c = Counters::default();
    let one = [ip("242.0.0.2")];
    for i in 0..1023u32 {
        let src = Ipv4Addr::from(u32::from(ip("10.244.0.0")) + i);
        let tu = FiveTuple {
            protocol: Protocol::Tcp,
            src,
            src_port: 80,
            dst: ip("243.0.0.5"),
            dst_port: 443,
        };
        let g = t.create_egress(T0, &tu, SYN, &one, &mut c).unwrap();
        assert!((1..1024).contains(&g.port));
    }
    let next = tuple(Protocol::Tcp, "10.244.9.1", 80, "243.0.0.5", 443);
    assert_eq!(
        t.create_egress(T0, &next, SYN, &one, &mut c),
        Err(DropReason::PortsExhausted)
    );
    let two = [ip("242.0.0.2"), ip("242.0.0.3")];
    let g = t.create_egress(T0, &next, SYN, &two, &mut c).unwrap();
    assert_eq!(g, Endpoint::new(ip("242.0.0.3"), 80));
    assert_eq!(
        t.create_egress(T0, &next, SYN, &[], &mut c),
        Ok(g),
        "existing flow wins over the checks"
    );
    let other = tuple(Protocol::Tcp, "10.244.9.2", 80, "243.0.0.5", 443);
    assert_eq!(
        t.create_egress(T0, &other, SYN, &[], &mut c),
        Err(DropReason::NoEgressIp)
    );
    consistent(&t);
}

#[test]
fn limits_are_typed_drops() {
    let t = FlowTable::new(
        &Timeouts::default(),
        Limits {
            max_flows: 3,
            max_flows_per_source: 2,
        },
    );
    let mut c = Counters::default();
    let ips = [ip("242.0.0.2")];
    let mk = |src: &str, port| tuple(Protocol::Udp, src, port, "243.0.0.5", 53);
    t.create_egress(T0, &mk("10.244.1.1", 1), 0, &ips, &mut c)
        .unwrap();
    t.create_egress(T0, &mk("10.244.1.1", 2), 0, &ips, &mut c)
        .unwrap();
    assert_eq!(
        t.create_egress(T0, &mk("10.244.1.1", 3), 0, &ips, &mut c),
        Err(DropReason::SourceFlowLimit)
    );
    t.create_egress(T0, &mk("10.244.1.2", 1), 0, &ips, &mut c)
        .unwrap();
    assert_eq!(
        t.create_egress(T0, &mk("10.244.1.3", 1), 0, &ips, &mut c),
        Err(DropReason::FlowLimit)
    );
    let inbound = tuple(Protocol::Tcp, "243.0.0.9", 999, "242.0.0.40", 80);
    assert_eq!(
        t.create_ingress(T0, &inbound, SYN, ip("10.96.0.10"), &mut c),
        Err(DropReason::FlowLimit)
    );
    assert_eq!(t.len(), 3);
}

#[test]
fn ingress_keeps_ports_and_the_reply_finds_the_global_ip() {
    let t = table();
    let mut c = Counters::default();
    let inbound = tuple(Protocol::Tcp, "242.0.0.2", 40000, "243.0.0.5", 8080);
    let local = t
        .create_ingress(T0, &inbound, SYN, ip("10.96.0.10"), &mut c)
        .unwrap();
    assert_eq!(local, Endpoint::new(ip("10.96.0.10"), 8080));
    let reply = tuple(Protocol::Tcp, "10.96.0.10", 8080, "242.0.0.2", 40000);
    assert_eq!(
        t.lookup_outbound(T0 + 1, &reply, SYN | ACK),
        Some(Endpoint::new(ip("243.0.0.5"), 8080))
    );
    // Same target and ports reached through a second global IP: its inside
    // 5-tuple is taken, so it cannot be told apart from the first.
    let clash = tuple(Protocol::Tcp, "242.0.0.2", 40000, "243.0.0.6", 8080);
    assert_eq!(
        t.create_ingress(T0, &clash, SYN, ip("10.96.0.10"), &mut c),
        Err(DropReason::PortsExhausted)
    );
    consistent(&t);
}

#[test]
fn icmp_echo_identifiers_are_translated_like_ports() {
    let t = table();
    let mut c = Counters::default();
    let ips = [ip("242.0.0.2")];
    let a = tuple(Protocol::Icmp, "10.244.1.10", 7, "243.0.0.5", 7);
    let b = tuple(Protocol::Icmp, "10.244.1.11", 7, "243.0.0.5", 7);
    assert_eq!(t.create_egress(T0, &a, 0, &ips, &mut c).unwrap().port, 7);
    assert_eq!(t.create_egress(T0, &b, 0, &ips, &mut c).unwrap().port, 8);
    let reply_b = tuple(Protocol::Icmp, "243.0.0.5", 8, "242.0.0.2", 8);
    assert_eq!(
        t.lookup_inbound(T0, &reply_b, 0),
        Some(Endpoint::new(ip("10.244.1.11"), 7))
    );
}

#[test]
fn flows_expire_exactly_at_their_deadline() {
    let t = table();
    let mut c = Counters::default();
    let u = tuple(Protocol::Udp, "10.244.1.10", 5000, "243.0.0.5", 53);
    t.create_egress(T0, &u, 0, &[ip("242.0.0.2")], &mut c)
        .unwrap();
    let udp = 300_000; // default UDP timeout, ms
    assert!(
        t.lookup_outbound(T0 + udp - 1, &u, 0).is_some(),
        "refreshes"
    );
    let deadline = T0 + udp - 1 + udp;
    assert!(t.lookup_outbound(deadline - 1, &u, 0).is_some());
    assert_eq!(
        t.poll_timeout(),
        Some(T0 + udp),
        "a lower bound: the sweep has not run yet"
    );
    t.handle_timeout(T0 + udp, &mut c);
    assert_eq!(t.len(), 1, "refreshed flow survives the sweep");
    assert_eq!(t.poll_timeout(), Some(deadline - 1 + udp));
    let later = deadline - 1 + udp;
    assert!(
        t.lookup_outbound(later, &u, 0).is_none(),
        "expired flows are absent before the sweep"
    );
    t.handle_timeout(later, &mut c);
    assert_eq!(t.len(), 0);
    assert_eq!(c.flows_expired, [0, 0, 1]);
    assert_eq!(t.poll_timeout(), None);
    consistent(&t);
}

#[test]
fn tcp_timeouts_follow_the_connection_state() {
    let t = table();
    let mut c = Counters::default();
    let out = tuple(Protocol::Tcp, "10.244.1.10", 40000, "243.0.0.5", 8080);
    let back = tuple(Protocol::Tcp, "243.0.0.5", 8080, "242.0.0.2", 40000);
    t.create_egress(T0, &out, SYN, &[ip("242.0.0.2")], &mut c)
        .unwrap();
    assert_eq!(t.poll_timeout(), Some(T0 + 240_000), "SYN only: transitory");
    // stats() counts states by walking the lock-free map: [opening, established, closing].
    assert_eq!(t.stats().live_tcp, [1, 0, 0]);
    t.lookup_inbound(T0 + 10, &back, SYN | ACK).unwrap();
    t.handle_timeout(T0 + 240_000, &mut c);
    assert_eq!(t.len(), 1);
    assert_eq!(
        t.poll_timeout(),
        Some(T0 + 10 + 7_440_000),
        "established: 2 h 4 min"
    );
    assert_eq!(t.stats().live_tcp, [0, 1, 0]);
    t.lookup_outbound(T0 + 20, &out, FIN | ACK).unwrap();
    t.lookup_inbound(T0 + 30, &back, FIN | ACK).unwrap();
    assert_eq!(
        t.poll_timeout(),
        Some(T0 + 30 + 240_000),
        "closing shortens the deadline at once"
    );
    assert_eq!(t.stats().live_tcp, [0, 0, 1]);
    t.handle_timeout(T0 + 30 + 240_000, &mut c);
    assert!(t.is_empty());
}

#[test]
fn a_sweep_is_spread_over_calls_and_misses_nothing() {
    let t = table();
    let mut c = Counters::default();
    let n = SWEEP_BUDGET * 2 + 10;
    let ips = [ip("242.0.0.2")];
    let mut keep = Vec::new();
    for i in 0..n as u32 {
        let src = Ipv4Addr::from(u32::from(ip("10.244.0.0")) + i);
        let tu = FiveTuple {
            protocol: Protocol::Udp,
            src,
            src_port: 5000,
            dst: ip("243.0.0.5"),
            dst_port: 53,
        };
        t.create_egress(T0, &tu, 0, &ips, &mut c).unwrap();
        if i % 3 == 0 {
            keep.push(tu);
        }
    }
    let now = T0 + 300_000;
    for tu in &keep {
        t.lookup_outbound(now - 1, tu, 0).unwrap();
    }
    let mut calls = 0;
    while t.poll_timeout().is_some_and(|d| d <= now) {
        t.handle_timeout(now, &mut c);
        calls += 1;
        assert!(calls < 100);
    }
    assert!(calls >= 3, "bounded work per call: {calls} calls");
    assert_eq!(t.len(), keep.len());
    assert_eq!(c.flows_expired[2], (n - keep.len()) as u64);
    consistent(&t);
}

#[test]
fn an_expired_holder_of_a_port_is_reaped_for_a_new_flow() {
    let t = table();
    let mut c = Counters::default();
    let ips = [ip("242.0.0.2")];
    let a = tuple(Protocol::Udp, "10.244.1.10", 5000, "243.0.0.5", 53);
    let b = tuple(Protocol::Udp, "10.244.1.11", 5000, "243.0.0.5", 53);
    t.create_egress(T0, &a, 0, &ips, &mut c).unwrap();
    let g = t.create_egress(T0 + 300_000, &b, 0, &ips, &mut c).unwrap();
    assert_eq!(g.port, 5000, "a's expired flow no longer holds the port");
    assert_eq!(t.len(), 1);
    assert_eq!(c.flows_expired[2], 1);
    consistent(&t);
}

#[test]
fn export_import_keeps_flows_and_their_remaining_lifetime() {
    let t = table();
    let mut c = Counters::default();
    let out = tuple(Protocol::Tcp, "10.244.1.10", 40000, "243.0.0.5", 8080);
    let back = tuple(Protocol::Tcp, "243.0.0.5", 8080, "242.0.0.2", 40000);
    t.create_egress(T0, &out, SYN, &[ip("242.0.0.2")], &mut c)
        .unwrap();
    t.lookup_inbound(T0, &back, SYN | ACK).unwrap();
    let inbound = tuple(Protocol::Udp, "243.0.0.7", 999, "242.0.0.40", 53);
    t.create_ingress(T0, &inbound, 0, ip("10.96.0.10"), &mut c)
        .unwrap();
    let saved = t.export(T0 + 1000);
    assert_eq!(saved.len(), 2);
    let tcp = saved.iter().find(|r| r.protocol == Protocol::Tcp).unwrap();
    assert_eq!(tcp.tcp_seen, tcp_seen::OUTBOUND | tcp_seen::INBOUND);
    assert_eq!(tcp.remaining, Duration::from_millis(7_440_000 - 1000));

    let bytes = crate::nat::flows_to_bytes(&saved);
    let restored = FlowTable::new(&Timeouts::default(), Limits::default());
    let t1 = 50_000_000; // a different clock origin on the new table
    let report = restored.import(t1, &crate::nat::flows_from_bytes(&bytes).unwrap());
    assert_eq!(
        report,
        ImportReport {
            imported: 2,
            skipped: vec![]
        }
    );
    let again = restored.export(t1);
    let udp = again.iter().find(|r| r.protocol == Protocol::Udp).unwrap();
    assert_eq!(
        udp.remaining,
        Duration::from_millis(300_000 - 1000),
        "lifetime left is kept"
    );
    assert_eq!(
        restored.lookup_inbound(t1, &back, ACK),
        Some(Endpoint::new(ip("10.244.1.10"), 40000))
    );
    let reply = tuple(Protocol::Udp, "10.96.0.10", 53, "243.0.0.7", 999);
    assert_eq!(
        restored.lookup_outbound(t1, &reply, 0),
        Some(Endpoint::new(ip("242.0.0.40"), 53))
    );

    let report = restored.import(t1, &saved);
    assert_eq!(report.imported, 0);
    assert_eq!(
        report.skipped,
        vec![(0, ImportSkip::InsideTaken), (1, ImportSkip::InsideTaken)]
    );
    consistent(&restored);
}

#[test]
fn import_caps_lifetimes_and_skips_dead_records() {
    let t = table();
    let record = FlowRecord {
        protocol: Protocol::Udp,
        kind: FlowKind::Egress,
        local: Endpoint::new(ip("10.244.1.10"), 5000),
        global: Endpoint::new(ip("242.0.0.2"), 5000),
        remote: Endpoint::new(ip("243.0.0.5"), 53),
        tcp_seen: 0,
        remaining: Duration::from_secs(86_400),
    };
    let dead = FlowRecord {
        remaining: Duration::ZERO,
        ..record
    };
    let report = t.import(T0, &[dead, record]);
    assert_eq!(report.skipped, vec![(0, ImportSkip::Expired)]);
    assert_eq!(
        t.export(T0)[0].remaining,
        Duration::from_secs(300),
        "capped at the UDP timeout"
    );
}

#[test]
fn stats_count_ports_per_ip_and_top_talkers() {
    let t = table();
    let mut c = Counters::default();
    let ips = [ip("242.0.0.2")];
    for port in 0..5 {
        let tu = tuple(Protocol::Udp, "10.244.1.10", 5000 + port, "243.0.0.5", 53);
        t.create_egress(T0, &tu, 0, &ips, &mut c).unwrap();
    }
    let other = tuple(Protocol::Tcp, "10.244.1.11", 6000, "243.0.0.5", 80);
    t.create_egress(T0, &other, SYN, &[ip("242.0.0.3")], &mut c)
        .unwrap();
    let s = t.stats();
    assert_eq!(s.live_flows, [0, 1, 5]);
    assert_eq!(s.live_tcp, [1, 0, 0]);
    assert_eq!(
        s.egress_ports_in_use,
        vec![(ip("242.0.0.2"), 5), (ip("242.0.0.3"), 1)]
    );
    assert_eq!(
        s.top_talkers,
        vec![(ip("10.244.1.10"), 5), (ip("10.244.1.11"), 1)]
    );
}

#[test]
fn lookups_from_several_threads_while_flows_are_created() {
    let t = Arc::new(table());
    let mut c = Counters::default();
    let ips = [ip("242.0.0.2")];
    let mk = |i: u32| FiveTuple {
        protocol: Protocol::Udp,
        src: Ipv4Addr::from(u32::from(ip("10.244.0.0")) + i),
        src_port: 5000,
        dst: ip("243.0.0.5"),
        dst_port: 53,
    };
    for i in 0..500 {
        t.create_egress(T0, &mk(i), 0, &ips, &mut c).unwrap();
    }
    std::thread::scope(|s| {
        for _ in 0..2 {
            let t = Arc::clone(&t);
            s.spawn(move || {
                for round in 0..20 {
                    for i in 0..500 {
                        assert!(t.lookup_outbound(T0 + round, &mk(i), 0).is_some());
                    }
                }
            });
        }
        let t = Arc::clone(&t);
        s.spawn(move || {
            let mut c = Counters::default();
            for i in 500..1500 {
                t.create_egress(T0, &mk(i), 0, &ips, &mut c).unwrap();
            }
        });
    });
    assert_eq!(t.len(), 1500);
    consistent(&t);
}

#[test]
fn racing_creators_of_one_flow_agree() {
    let t = Arc::new(table());
    let ips = [ip("242.0.0.2"), ip("242.0.0.3")];
    let mk = |i: u32| FiveTuple {
        protocol: Protocol::Tcp,
        src: Ipv4Addr::from(u32::from(ip("10.244.0.0")) + i % 300),
        src_port: 40000,
        dst: ip("243.0.0.5"),
        dst_port: 443,
    };
    let results: Vec<Vec<Endpoint>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let t = Arc::clone(&t);
                s.spawn(move || {
                    let mut c = Counters::default();
                    (0..600)
                        .map(|i| t.create_egress(T0, &mk(i), SYN, &ips, &mut c).unwrap())
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results[0], results[1],
        "both threads saw the same mapping for each tuple"
    );
    assert_eq!(t.len(), 300);
    consistent(&t);
}
