//! Egress groups and headless exports through the engine, with the address
//! plan built by the IPAM from a spec (not by hand): which global IP a new
//! flow leaves from, by Submariner's precedence, and that a headless pod's
//! global IP works both ways.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use natcore::engine::Limits;
use natcore::ipam::{ExportKind, ExportSpec, GroupSpec, Ipam, IpamSpec, Owner};
use natcore::testing;
use natcore::{Counters, DropReason, Engine};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

const HEADLESS_POD: &str = "10.244.9.9";
const REMOTE_SERVICE: (&str, u16) = ("243.0.0.5", 53);

/// Cluster A's spec: a pool of 2, a namespace group (10.244.5.0/24, 2 IPs),
/// a pod-selector group for one pod of that namespace (10.244.5.99/32, 1 IP),
/// and a headless export backed by one pod.
fn ipam_a() -> Ipam {
    let mut spec = IpamSpec::new(
        net("242.0.0.0/24"),
        vec![net("10.244.0.0/16"), net("10.96.0.0/16")],
    );
    spec.cluster_egress_ips = 2;
    spec.groups.push(GroupSpec {
        name: "ns-payments".into(),
        sources: vec![net("10.244.5.0/24")],
        ips: 2,
    });
    spec.groups.push(GroupSpec {
        name: "pod-ledger".into(),
        sources: vec![net("10.244.5.99/32")],
        ips: 1,
    });
    spec.exports.push(ExportSpec {
        name: "shared/db".into(),
        kind: ExportKind::Headless(vec![ip(HEADLESS_POD)]),
    });
    Ipam::new(spec).unwrap()
}

fn engine_from(ipam: &Ipam) -> Engine {
    Engine::new(config_a(Limits::default()), Arc::new(ipam.plan()))
}

/// The source address A's gateway gives a new UDP flow from `pod`.
fn egress_source(engine: &Engine, now: Instant, pod: &str, port: u16) -> Ipv4Addr {
    let packet = testing::udp_packet(
        (ip(pod), port),
        (ip(REMOTE_SERVICE.0), REMOTE_SERVICE.1),
        b"q",
    );
    tuple_of(&forward(engine, now, true, &packet)).src
}

#[test]
fn each_source_leaves_from_its_own_owners_ips() {
    let ipam = ipam_a();
    let engine = engine_from(&ipam);
    let now = Instant::now();
    let pool = ipam.ips_of(&Owner::ClusterEgress);
    let namespace = ipam.ips_of(&Owner::EgressGroup("ns-payments".into()));
    let selector = ipam.ips_of(&Owner::EgressGroup("pod-ledger".into()));
    assert_eq!((pool.len(), namespace.len(), selector.len()), (2, 2, 1));

    // Several pods of the namespace: always one of the group's IPs.
    for last in [1u8, 7, 200] {
        let src = egress_source(&engine, now, &format!("10.244.5.{last}"), 4000);
        assert!(namespace.contains(&src), "10.244.5.{last} left as {src}");
    }
    // A pod selector beats its namespace's group.
    assert_eq!(
        egress_source(&engine, now, "10.244.5.99", 4000),
        selector[0]
    );
    // Everyone else: the cluster pool.
    let other = egress_source(&engine, now, "10.244.1.10", 4000);
    assert!(pool.contains(&other), "10.244.1.10 left as {other}");
    // A headless pod leaves from its own ingress IP (Submariner: the pod's
    // GlobalIngressIP is also its egress source).
    let headless_ip = ipam.ips_of(&Owner::HeadlessPod {
        service: "shared/db".into(),
        pod: ip(HEADLESS_POD),
    })[0];
    assert_eq!(egress_source(&engine, now, HEADLESS_POD, 4000), headless_ip);
    // The four owners' IPs are pairwise distinct, so the checks above mean something.
    let mut all: Vec<Ipv4Addr> = [pool, namespace, selector, &[headless_ip]].concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 6);
}

#[test]
fn a_group_member_gets_its_replies_back() {
    let ipam = ipam_a();
    let engine = engine_from(&ipam);
    let now = Instant::now();
    let query = testing::udp_packet(
        (ip("10.244.5.7"), 5353),
        (ip(REMOTE_SERVICE.0), REMOTE_SERVICE.1),
        b"query",
    );
    let out = tuple_of(&forward(&engine, now, true, &query));
    let answer = testing::udp_packet((out.dst, out.dst_port), (out.src, out.src_port), b"answer");
    assert_eq!(
        forward(&engine, now, false, &answer),
        testing::udp_packet(
            (ip(REMOTE_SERVICE.0), REMOTE_SERVICE.1),
            (ip("10.244.5.7"), 5353),
            b"answer"
        )
    );
}

#[test]
fn a_headless_pods_global_ip_is_reachable_and_answers_from_itself() {
    let ipam = ipam_a();
    let engine = engine_from(&ipam);
    let now = Instant::now();
    let headless_ip = ipam.ips_of(&Owner::HeadlessPod {
        service: "shared/db".into(),
        pod: ip(HEADLESS_POD),
    })[0];

    // B's client (from B's egress IP 243.0.0.2) to the pod's global IP:
    // DNAT to the pod itself, port preserved.
    let request = testing::udp_packet((ip("243.0.0.2"), 33000), (headless_ip, 5432), b"hi");
    assert_eq!(
        forward(&engine, now, false, &request),
        testing::udp_packet((ip("243.0.0.2"), 33000), (ip(HEADLESS_POD), 5432), b"hi")
    );
    // The pod's reply leaves from its global IP, the address B talked to.
    let reply = testing::udp_packet((ip(HEADLESS_POD), 5432), (ip("243.0.0.2"), 33000), b"ok");
    assert_eq!(
        forward(&engine, now, true, &reply),
        testing::udp_packet((headless_ip, 5432), (ip("243.0.0.2"), 33000), b"ok")
    );
}

#[test]
fn group_ips_take_no_unsolicited_traffic() {
    let ipam = ipam_a();
    let engine = engine_from(&ipam);
    let now = Instant::now();
    for group_ip in ipam.ips_of(&Owner::EgressGroup("ns-payments".into())) {
        let probe = testing::udp_packet((ip("243.0.0.2"), 40000), (*group_ip, 22), b"x");
        let mut counters = Counters::default();
        let verdict = run(&engine, now, false, &probe, &mut counters);
        assert_eq!(verdict.err(), Some(DropReason::NoFlow), "to {group_ip}");
        assert_eq!(counters.drops[DropReason::NoFlow.index()], 1);
    }
}
