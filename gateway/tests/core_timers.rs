//! The two in-process gateways of `core_pair` under simulated time
//! (`--features simulated-time`): minutes of protocol time with the real
//! timer path (`timers_tick`: tunnel timers, NAT expiry, health probes) in
//! milliseconds. NAT flows must survive rekeying, and a lost handshake
//! message must cost one REKEY_TIMEOUT, not the flow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is the failure report

mod core_support;

use std::time::Duration;

use core_support::*;
use gateway::tunnel::{simulated_time, PeerStatus};
use natcore::testing::tcp_flags::{ACK, PSH, SYN};
use natcore::testing::{all_checksums_valid, tcp_options, tcp_packet, udp_packet};

/// The runtime's timer thread period (runtime.rs TIMER_TICK).
const TICK: Duration = Duration::from_millis(100);
const TICKS_PER_SECOND: u32 = 1000 / 100;
const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);
const REKEY_TIMEOUT: Duration = Duration::from_secs(5);
const SERVICE_PORT: u16 = 8080;
const CLIENT_PORT: u16 = 40_000;

/// Advances the clock by `by` in `TICK`s; each step runs `traffic`, both
/// timer threads, then delivers everything except what `drop` selects.
fn run_for(
    lab: &mut Lab,
    by: Duration,
    mut traffic: impl FnMut(&mut Lab),
    mut drop: impl FnMut(&Datagram) -> bool,
) {
    for _ in 0..by.as_millis() / TICK.as_millis() {
        simulated_time::advance(TICK);
        traffic(lab);
        lab.tick();
        lab.deliver_all_except(&mut drop);
    }
}

/// The receiver index of a data datagram: which session carried it.
fn receiver_index(d: &Datagram) -> u32 {
    u32::from_le_bytes(d.bytes[4..8].try_into().unwrap())
}

/// Opens a TCP connection from A's pod to B's export; returns the client
/// address B's service sees.
fn open_tcp(lab: &mut Lab) -> (std::net::Ipv4Addr, u16) {
    let export = lab.b.export_ip(B_EXPORT);
    let syn = tcp_packet(
        (POD, CLIENT_PORT),
        (export, SERVICE_PORT),
        SYN,
        &tcp_options::LINUX_SYN,
        b"",
    );
    lab.exchange(Side::A, &[syn]);
    let at_b = lab.b.take_tun();
    assert_eq!(at_b.len(), 1, "{at_b:x?}");
    let seen = fields(&at_b[0]);
    let client = (seen.src, seen.src_port);
    let syn_ack = tcp_packet(
        (CLUSTER_IP, SERVICE_PORT),
        client,
        SYN | ACK,
        &tcp_options::MSS_1460,
        b"",
    );
    lab.exchange(Side::B, &[syn_ack]);
    assert_eq!(lab.a.take_tun().len(), 1);
    client
}

#[test]
fn nat_flows_survive_rekeying_after_rekey_after_time() {
    let mut lab = Lab::new();
    let export = lab.b.export_ip(B_EXPORT);
    // The first timer turn probes the peer: the tunnel comes up.
    lab.tick();
    lab.deliver_all();
    assert_eq!(lab.a.peer().status, PeerStatus::Connected);
    let client = open_tcp(&mut lab);

    // One segment each way per second, for 130 s.
    let mut second = 0u32;
    let mut ticks = 0u32;
    let mut traffic = |lab: &mut Lab| {
        ticks += 1;
        if !ticks.is_multiple_of(TICKS_PER_SECOND) {
            return;
        }
        second += 1;
        let payload = second.to_be_bytes();
        let request = tcp_packet(
            (POD, CLIENT_PORT),
            (export, SERVICE_PORT),
            ACK | PSH,
            &[],
            &payload,
        );
        let answer = tcp_packet((CLUSTER_IP, SERVICE_PORT), client, ACK | PSH, &[], &payload);
        lab.send(Side::A, &[request]);
        lab.send(Side::B, &[answer]);
    };
    let handshakes = |lab: &Lab| {
        lab.a.peer().stats.handshakes_completed + lab.b.peer().stats.handshakes_completed
    };
    let delivered_before = lab.delivered.len();
    let initial = handshakes(&lab);
    run_for(&mut lab, REKEY_AFTER_TIME - TICK, &mut traffic, |_| false);
    let before_rekey = handshakes(&lab);
    assert_eq!(before_rekey, initial, "rekeyed before REKEY_AFTER_TIME");
    let sessions_before: Vec<u32> = lab.delivered[delivered_before..]
        .iter()
        .filter(|d| d.kind() == 4 && d.to == lab.b.underlay)
        .map(receiver_index)
        .collect();
    run_for(
        &mut lab,
        Duration::from_secs(10) + TICK,
        &mut traffic,
        |_| false,
    );
    assert!(
        handshakes(&lab) > before_rekey,
        "no new handshake after REKEY_AFTER_TIME: {:?} / {:?}",
        lab.a.peer(),
        lab.b.peer()
    );
    // The last data datagrams to B name a session that carried nothing
    // before the rekey.
    let last = lab
        .delivered
        .iter()
        .rev()
        .find(|d| d.kind() == 4 && d.to == lab.b.underlay)
        .unwrap();
    assert!(!sessions_before.contains(&receiver_index(last)));

    // Every segment arrived, in order, with the translation of the first.
    let at_b = lab.b.take_tun();
    let at_a = lab.a.take_tun();
    assert_eq!(second, 130);
    assert_eq!(at_b.len(), 130);
    assert_eq!(at_a.len(), 130);
    for (i, (b, a)) in at_b.iter().zip(&at_a).enumerate() {
        let payload = (i as u32 + 1).to_be_bytes();
        let expected_b = tcp_packet(client, (CLUSTER_IP, SERVICE_PORT), ACK | PSH, &[], &payload);
        let expected_a = tcp_packet(
            (export, SERVICE_PORT),
            (POD, CLIENT_PORT),
            ACK | PSH,
            &[],
            &payload,
        );
        assert_eq!(b, &expected_b, "segment {i} at B");
        assert_eq!(a, &expected_a, "segment {i} at A");
    }
    assert_eq!(lab.a.nat().live_flows(), 1);
    assert_eq!(lab.b.nat().live_flows(), 1);
    for side in [Side::A, Side::B] {
        let gateway = lab.side(side);
        let peer = gateway.peer();
        assert_eq!(peer.status, PeerStatus::Connected, "{side:?}");
        assert_eq!(peer.stats.drops.total(), 0, "{side:?}: {peer:?}");
        assert!(
            peer.last_handshake.unwrap() <= Duration::from_secs(11),
            "{side:?}"
        );
        // Health probes kept answering through the rekey.
        let health = gateway.core.shared.health.lock().unwrap();
        let stats = health.stats(&peer.name).unwrap();
        assert_eq!(stats.consecutive_failures, 0, "{side:?}: {stats:?}");
        assert!(stats.received >= 129, "{side:?}: {stats:?}");
    }
}

/// A's pod sends a SYN to B's export while the network loses every `lose`
/// message of the first second. Returns the lab with the SYN queued at A.
fn syn_while_losing(lose: fn(&Datagram) -> bool) -> (Lab, impl Fn(&Datagram) -> bool) {
    let mut lab = Lab::new();
    let export = lab.b.export_ip(B_EXPORT);
    let syn = tcp_packet(
        (POD, CLIENT_PORT),
        (export, SERVICE_PORT),
        SYN,
        &tcp_options::LINUX_SYN,
        b"",
    );
    let loss_window = Duration::from_secs(1);
    let lose_early = move |d: &Datagram| lose(d) && simulated_time::elapsed() < loss_window;
    // The SYN and both gateways' first probes start handshakes from both
    // sides at once, as when two gateways start together.
    lab.send(Side::A, &[syn]);
    lab.tick();
    lab.deliver_all_except(lose_early);
    assert_eq!(lab.lost.len(), 2, "one from each side: {:?}", lab.lost);
    (lab, lose_early)
}

/// The SYN reached B's service translated, and the connection works.
fn assert_syn_arrived_and_connection_works(lab: &mut Lab) {
    let export = lab.b.export_ip(B_EXPORT);
    let at_b = lab.b.take_tun();
    assert_eq!(at_b.len(), 1, "SYN not delivered: {at_b:x?}");
    let seen = fields(&at_b[0]);
    assert!(lab.a.egress_pool().contains(&seen.src));
    assert_eq!((seen.dst, seen.dst_port), (CLUSTER_IP, SERVICE_PORT));
    assert_eq!(tcp_mss(&at_b[0]), Some(TUNNEL_MTU - 40));
    assert!(all_checksums_valid(&at_b[0]));
    for side in [Side::A, Side::B] {
        let peer = lab.side(side).peer();
        assert_eq!(peer.status, PeerStatus::Connected, "{side:?}");
    }
    let syn_ack = tcp_packet(
        (CLUSTER_IP, SERVICE_PORT),
        (seen.src, seen.src_port),
        SYN | ACK,
        &tcp_options::MSS_1460,
        b"",
    );
    lab.exchange(Side::B, &[syn_ack]);
    let at_pod = lab.a.take_tun();
    assert_eq!(at_pod.len(), 1);
    let back = fields(&at_pod[0]);
    assert_eq!((back.src, back.src_port), (export, SERVICE_PORT));
    assert_eq!((back.dst, back.dst_port), (POD, CLIENT_PORT));
}

#[test]
fn lost_handshake_initiations_are_retried_after_rekey_timeout_and_the_queued_syn_arrives() {
    let (mut lab, lose_early) = syn_while_losing(Datagram::is_initiation);
    // Both sides wait for answers to their initiations; the probes sent
    // meanwhile queue behind them.
    run_for(&mut lab, REKEY_TIMEOUT - TICK, |_| {}, &lose_early);
    assert!(lab.b.take_tun().is_empty(), "arrived without a handshake");
    assert_eq!(lab.a.peer().status, PeerStatus::Connecting);

    run_for(&mut lab, TICK, |_| {}, &lose_early);
    assert_syn_arrived_and_connection_works(&mut lab);
    for side in [Side::A, Side::B] {
        let peer = lab.side(side).peer();
        assert_eq!(peer.stats.handshake_timeouts, 1, "{side:?}: {peer:?}");
    }
}

#[test]
fn lost_handshake_responses_are_recovered_by_the_next_probe() {
    let (mut lab, lose_early) = syn_while_losing(Datagram::is_response);
    // Answering the other side's initiation ends boringtun's own attempt (no
    // retransmission timer left), and neither answer arrived: each side
    // holds only an unconfirmed responder session. The next packet starts
    // a new handshake; the health probes send one every interval.
    let probe_interval = lab.a.config.health.interval;
    run_for(&mut lab, probe_interval - TICK, |_| {}, &lose_early);
    assert!(lab.b.take_tun().is_empty(), "arrived without a handshake");
    assert_eq!(lab.a.peer().status, PeerStatus::Connecting);

    run_for(&mut lab, TICK, |_| {}, &lose_early);
    assert_syn_arrived_and_connection_works(&mut lab);
}

/// Expired flows must stop counting against `nat.max_flows` and the
/// per-source limit within a timer tick of expiring, however many there are.
/// (Expiry used to run one 4,096-flow sweep per health interval, so 20,000
/// expired flows took five intervals and 1M took 256.)
#[test]
fn twenty_thousand_expired_flows_leave_the_table_in_one_timer_tick() {
    const PER_POD: u16 = 10_000; // two pods: under the 16,384 per-source limit
    const UDP_TIMEOUT: Duration = Duration::from_secs(5 * 60);
    let mut lab = Lab::new();
    let export = lab.b.export_ip(B_EXPORT);
    let engine = lab.a.core.shared.engine.clone();
    let (now, mut reply, mut counters) = (lab.now(), vec![0u8; 1500], natcore::Counters::default());
    let pods = [POD, std::net::Ipv4Addr::new(10, 244, 1, 11)];
    for pod in pods {
        for port in 0..PER_POD {
            let mut packet = udp_packet((pod, 20_000 + port), (export, SERVICE_PORT), b"x");
            let verdict = engine.handle_outbound(now, &mut packet, &mut reply, &mut counters);
            assert!(
                matches!(verdict, Ok(natcore::Verdict::Forward { .. })),
                "{verdict:?}"
            );
        }
    }
    engine.flush(&mut counters);
    assert_eq!(lab.a.nat().live_flows(), 2 * u64::from(PER_POD));

    simulated_time::advance(UDP_TIMEOUT + TICK);
    lab.tick();
    assert_eq!(
        lab.a.nat().live_flows(),
        0,
        "expired flows left after one tick"
    );
}
