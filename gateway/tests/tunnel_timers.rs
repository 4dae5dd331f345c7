//! Two gateways over an in-memory network with boringtun's clock simulated:
//! handshake retries, rekeying, keepalives and session expiry, minutes of
//! protocol time in milliseconds. Needs `--features simulated-time` (the
//! clock is per thread: each test drives both sides from its own thread,
//! starting at zero).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is the failure report

mod tunnel_support;

use std::cell::Cell;
use std::time::Duration;

use gateway::tunnel::simulated_time;
use gateway::tunnel::{Inbound, PeerError, PeerStatus, TunnelDrop, TunnelLimits};
use tunnel_support::*;

/// The longest `update_timers` period boringtun tolerates (the runtime's
/// timer thread uses 100 ms); exact multiples keep expected times exact.
const TICK: Duration = Duration::from_millis(250);
/// WireGuard's timers (boringtun 0.7 has no retry jitter).
const REKEY_TIMEOUT: Duration = Duration::from_secs(5);
const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);
const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);
const REKEY_ATTEMPT_TIME: Duration = Duration::from_secs(90);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keys are zeroed after this long without a new handshake:
/// REJECT_AFTER_TIME × 3.
const KEYS_ZEROED_AFTER: Duration = Duration::from_secs(180 * 3);

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Moves the clock forward `by` in `TICK` steps. Each step: `before_tick`
/// (traffic), both sides' timers, then everything in flight is delivered
/// except what `drop` selects — as the runtime's TUN readers, timer thread
/// and UDP readers would.
fn run_with(
    pair: &mut Pair,
    by: Duration,
    mut before_tick: impl FnMut(&mut Pair),
    mut drop: impl FnMut(&Datagram) -> bool,
) {
    assert_eq!(
        by.as_millis() % TICK.as_millis(),
        0,
        "{by:?} is not whole ticks"
    );
    let steps = by.as_millis() / TICK.as_millis();
    for _ in 0..steps {
        simulated_time::advance(TICK);
        before_tick(pair);
        pair.tick();
        pair.deliver_all_except(&mut drop);
    }
}

/// Idle: only timers run.
fn run_for(pair: &mut Pair, by: Duration) {
    run_with(pair, by, |_| {}, |_| false);
}

fn run_until(pair: &mut Pair, at: Duration) {
    let now = simulated_time::elapsed();
    assert!(at >= now, "{at:?} is in the past ({now:?})");
    run_for(pair, at - now);
}

fn initiations(side: &Side) -> usize {
    side.sent.iter().filter(|d| d.is_initiation()).count()
}

fn keepalives(side: &Side) -> usize {
    side.sent.iter().filter(|d| d.is_keepalive()).count()
}

/// The receiver index a data datagram names: which session it uses.
fn receiver_index(d: &Datagram) -> u32 {
    u32::from_le_bytes(d.bytes[4..8].try_into().unwrap())
}

/// Idles for `by` and returns the simulated times (whole ticks) at which
/// `side` sent datagrams matching `what`.
fn send_times(
    pair: &mut Pair,
    by: Duration,
    side: fn(&Pair) -> &Side,
    what: fn(&Datagram) -> bool,
) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..by.as_millis() / TICK.as_millis() {
        let before = side(pair).sent.len();
        run_for(pair, TICK);
        let now = simulated_time::elapsed();
        times.extend(
            side(pair).sent[before..]
                .iter()
                .filter(|d| what(d))
                .map(|_| now),
        );
    }
    times
}

fn a(pair: &Pair) -> &Side {
    &pair.a
}

fn b(pair: &Pair) -> &Side {
    &pair.b
}

/// A UDP packet from A's block to B's carrying `seq`.
fn numbered_a_to_b(seq: u32) -> Vec<u8> {
    Pair::a_to_b(&seq.to_be_bytes())
}

fn numbered_b_to_a(seq: u32) -> Vec<u8> {
    Pair::b_to_a(&seq.to_be_bytes())
}

/// Both sides send one numbered packet per second; returns what each sent.
struct Traffic {
    step: u32,
    a_sent: Vec<Vec<u8>>,
    b_sent: Vec<Vec<u8>>,
}

impl Traffic {
    fn new() -> Traffic {
        Traffic {
            step: 0,
            a_sent: Vec::new(),
            b_sent: Vec::new(),
        }
    }

    /// Called once per tick.
    fn step(&mut self, pair: &mut Pair) {
        self.step += 1;
        let ticks_per_second = (1000 / TICK.as_millis()) as u32;
        if !self.step.is_multiple_of(ticks_per_second) {
            return;
        }
        let seq = self.step / ticks_per_second;
        let (to_b, to_a) = (numbered_a_to_b(seq), numbered_b_to_a(seq));
        pair.a_sends(std::slice::from_ref(&to_b));
        pair.b_sends(std::slice::from_ref(&to_a));
        self.a_sent.push(to_b);
        self.b_sent.push(to_a);
    }
}

fn tun_packets(side: &Side) -> Vec<Vec<u8>> {
    side.tun.iter().map(|(_, p)| p.clone()).collect()
}

/// Receiver indices of A's data datagrams (keepalives included), each run of
/// equal values once: the sessions A used, in order.
fn sessions_used(side: &Side) -> Vec<u32> {
    let mut used: Vec<u32> = side
        .sent
        .iter()
        .filter(|d| d.kind() == 4)
        .map(receiver_index)
        .collect();
    used.dedup();
    used
}

/// True the first time `matches`: a network that loses one datagram.
fn lose_once(lost: &Cell<bool>, matches: bool) -> bool {
    let lose = matches && !lost.get();
    if lose {
        lost.set(true);
    }
    lose
}

fn no_inbound_drops(side: &Side) -> bool {
    !side
        .inbound
        .iter()
        .any(|v| matches!(v, Inbound::Dropped(_)))
}

#[test]
fn a_lost_initiation_is_retried_after_rekey_timeout_and_the_packet_arrives() {
    let mut pair = Pair::new();
    let b_id = pair.a.peer("cluster-b");
    let first = Pair::a_to_b(b"queued behind the handshake");
    pair.a_sends(std::slice::from_ref(&first));
    // The network loses the initiation.
    pair.deliver_all_except(|d| d.is_initiation());
    assert_eq!(pair.lost.len(), 1);
    assert!(pair.b.tun.is_empty());
    assert_eq!(
        pair.a.tunnels.peer_info(b_id).unwrap().status,
        PeerStatus::Connecting
    );

    // Just before REKEY_TIMEOUT: no retry yet.
    run_for(&mut pair, REKEY_TIMEOUT - TICK);
    assert_eq!(initiations(&pair.a), 1, "retried too early");
    assert!(pair.b.tun.is_empty());

    // At REKEY_TIMEOUT the retry goes out, the handshake completes and the
    // queued packet is delivered.
    run_for(&mut pair, TICK);
    assert_eq!(initiations(&pair.a), 2, "no retry at REKEY_TIMEOUT");
    assert_eq!(tun_packets(&pair.b), vec![first]);

    let info = pair.a.tunnels.peer_info(b_id).unwrap();
    assert_eq!(info.status, PeerStatus::Connected);
    assert_eq!(info.stats.handshake_timeouts, 1);
    assert_eq!(info.stats.handshakes_completed, 1);
    assert_eq!(info.stats.tx_packets, 1);
}

#[test]
fn a_lost_handshake_response_is_recovered_by_the_initiators_retry() {
    let mut pair = Pair::new();
    let first = Pair::a_to_b(b"queued behind the handshake");
    pair.a_sends(std::slice::from_ref(&first));
    let lost_one = Cell::new(false);
    let lose_first_response = |d: &Datagram| lose_once(&lost_one, d.kind() == 2);
    pair.deliver_all_except(&lose_first_response);
    assert!(lost_one.get(), "B never answered");
    assert!(pair.b.tun.is_empty());

    run_with(
        &mut pair,
        REKEY_TIMEOUT - TICK,
        |_| {},
        &lose_first_response,
    );
    assert_eq!(initiations(&pair.a), 1, "retried too early");
    // B answered but A never confirmed: not a completed handshake at B.
    let at_b = pair.b.tunnels.peer_info(pair.b.peer("cluster-a")).unwrap();
    assert_eq!(at_b.stats.handshakes_completed, 0);

    run_for(&mut pair, TICK);
    assert_eq!(initiations(&pair.a), 2);
    assert_eq!(pair.b.sent.iter().filter(|d| d.kind() == 2).count(), 2);
    assert_eq!(tun_packets(&pair.b), vec![first]);
    let at_a = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(at_a.stats.handshake_timeouts, 1);
    assert_eq!(at_a.stats.handshakes_completed, 1);
    assert_eq!(at_a.status, PeerStatus::Connected);
    let at_b = pair.b.tunnels.peer_info(pair.b.peer("cluster-a")).unwrap();
    assert_eq!(at_b.stats.handshakes_completed, 1);
    assert_eq!(at_b.status, PeerStatus::Connected);
    assert!(no_inbound_drops(&pair.a) && no_inbound_drops(&pair.b));
}

#[test]
fn the_initiator_rekeys_after_rekey_after_time_and_no_packet_is_lost() {
    let mut pair = Pair::new();
    pair.connect();
    let mut traffic = Traffic::new();
    traffic.a_sent.push(pair.b.tun[0].1.clone());

    run_with(
        &mut pair,
        REKEY_AFTER_TIME - TICK,
        |p| traffic.step(p),
        |_| false,
    );
    assert_eq!(initiations(&pair.a), 1, "rekeyed before REKEY_AFTER_TIME");
    let before = sessions_used(&pair.a);
    assert_eq!(before.len(), 1, "{before:x?}");

    run_with(&mut pair, TICK, |p| traffic.step(p), |_| false);
    assert_eq!(initiations(&pair.a), 2, "no rekey at REKEY_AFTER_TIME");
    run_with(&mut pair, secs(10), |p| traffic.step(p), |_| false);
    // Only the original initiator rekeys on time.
    assert_eq!(initiations(&pair.b), 0);

    // A switched to the new session once, and stayed there.
    let after = sessions_used(&pair.a);
    assert_eq!(after.len(), 2, "{after:x?}");
    assert_eq!(after[0], before[0]);
    // Every packet arrived, once, in order, across the switch.
    assert_eq!(traffic.a_sent.len(), 1 + 130);
    assert_eq!(tun_packets(&pair.b), traffic.a_sent);
    assert_eq!(tun_packets(&pair.a), traffic.b_sent);
    assert!(no_inbound_drops(&pair.a) && no_inbound_drops(&pair.b));

    for (side, name) in [(&pair.a, "cluster-b"), (&pair.b, "cluster-a")] {
        let info = side.tunnels.peer_info(side.peer(name)).unwrap();
        assert_eq!(info.stats.handshakes_completed, 2, "{name}");
        assert_eq!(info.last_handshake, Some(secs(10)), "{name}");
        assert_eq!(info.status, PeerStatus::Connected, "{name}");
    }
}

#[test]
fn a_lost_rekey_initiation_is_retried_while_the_old_session_carries_data() {
    let mut pair = Pair::new();
    pair.connect();
    let mut traffic = Traffic::new();
    traffic.a_sent.push(pair.b.tun[0].1.clone());
    let lost_one = Cell::new(false);
    let lose_the_rekey = |d: &Datagram| lose_once(&lost_one, d.is_initiation());

    run_with(
        &mut pair,
        REKEY_AFTER_TIME + REKEY_TIMEOUT - TICK,
        |p| traffic.step(p),
        &lose_the_rekey,
    );
    assert!(lost_one.get(), "no rekey initiation to lose");
    assert_eq!(initiations(&pair.a), 2);
    // Still on the first session, and nothing lost meanwhile.
    assert_eq!(sessions_used(&pair.a).len(), 1);
    assert_eq!(tun_packets(&pair.b), traffic.a_sent);
    let info = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(info.status, PeerStatus::Connected);
    assert_eq!(info.stats.handshakes_completed, 1);

    run_with(&mut pair, TICK, |p| traffic.step(p), &lose_the_rekey);
    assert_eq!(
        initiations(&pair.a),
        3,
        "no retry REKEY_TIMEOUT after the lost one"
    );
    run_with(&mut pair, secs(5), |p| traffic.step(p), &lose_the_rekey);
    assert_eq!(sessions_used(&pair.a).len(), 2);
    assert_eq!(tun_packets(&pair.b), traffic.a_sent);
    assert_eq!(tun_packets(&pair.a), traffic.b_sent);
    let info = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(info.stats.handshakes_completed, 2);
    assert_eq!(info.stats.handshake_timeouts, 1);
    assert_eq!(info.last_handshake, Some(secs(5)));
}

#[test]
fn an_unanswered_handshake_gives_up_after_rekey_attempt_time_and_recovers_later() {
    let mut pair = Pair::new();
    let b_id = pair.a.peer("cluster-b");
    pair.a_sends(&[Pair::a_to_b(b"never delivered")]);
    let b_unreachable = |d: &Datagram| d.to == addr(B_ADDR);

    run_with(&mut pair, REKEY_ATTEMPT_TIME - TICK, |_| {}, b_unreachable);
    // One initiation every REKEY_TIMEOUT: 0 s, 5 s, … 85 s.
    assert_eq!(initiations(&pair.a), 18);
    let info = pair.a.tunnels.peer_info(b_id).unwrap();
    assert_eq!(info.status, PeerStatus::Connecting);
    assert_eq!(info.stats.handshake_timeouts, 17);
    assert_eq!(info.stats.handshake_failures, 0);

    run_with(&mut pair, TICK, |_| {}, b_unreachable);
    let info = pair.a.tunnels.peer_info(b_id).unwrap();
    assert_eq!(info.stats.handshake_failures, 1);
    assert_eq!(
        info.status,
        PeerStatus::Error(PeerError::NoHandshakeResponse)
    );
    // Without persistent keepalive, boringtun stays silent until traffic.
    run_with(&mut pair, secs(30), |_| {}, b_unreachable);
    assert_eq!(initiations(&pair.a), 18);
    assert_eq!(
        pair.a
            .tunnels
            .peer_info(b_id)
            .unwrap()
            .stats
            .handshake_failures,
        1
    );

    // The network heals; new traffic connects. The packet queued during the
    // failed attempt was discarded with it.
    let fresh = Pair::a_to_b(b"after the outage");
    pair.a_sends(std::slice::from_ref(&fresh));
    pair.deliver_all();
    assert_eq!(tun_packets(&pair.b), vec![fresh]);
    let info = pair.a.tunnels.peer_info(b_id).unwrap();
    assert_eq!(info.status, PeerStatus::Connected);
    assert_eq!(info.stats.handshakes_completed, 1);
}

#[test]
fn a_passive_keepalive_goes_out_keepalive_timeout_after_the_receivers_last_send() {
    let mut pair = Pair::new();
    pair.connect(); // B's last send: its handshake response, at 0 s.
    run_until(&mut pair, secs(3));
    pair.a_sends(&[Pair::a_to_b(b"one way")]);
    pair.deliver_all();

    let b_keepalives = send_times(&mut pair, secs(30), b, Datagram::is_keepalive);
    assert_eq!(b_keepalives, vec![KEEPALIVE_TIMEOUT]);
    // The keepalive told A its data arrived: A does not re-handshake.
    assert_eq!(initiations(&pair.a), 1);
    assert_eq!(keepalives(&pair.a), 1, "only the handshake confirmation");
}

#[test]
fn a_lost_passive_keepalive_makes_the_sender_rehandshake() {
    let mut pair = Pair::new();
    pair.connect();
    run_until(&mut pair, secs(3));
    pair.a_sends(&[Pair::a_to_b(b"one way")]);
    pair.deliver_all();

    // A sent data and hears nothing back for KEEPALIVE + REKEY_TIMEOUT
    // (counted from the last packet it received, at 0 s).
    run_with(
        &mut pair,
        secs(15) - secs(3) - TICK,
        |_| {},
        |d| d.is_keepalive(),
    );
    assert_eq!(initiations(&pair.a), 1);
    run_with(&mut pair, TICK, |_| {}, |d| d.is_keepalive());
    assert_eq!(initiations(&pair.a), 2);
    let info = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(info.stats.handshakes_completed, 2);
}

#[test]
fn a_data_reply_replaces_the_passive_keepalive_and_the_last_receiver_sends_it() {
    let mut pair = Pair::new();
    pair.connect();
    run_until(&mut pair, secs(3));
    pair.a_sends(&[Pair::a_to_b(b"ping")]);
    pair.deliver_all();
    run_until(&mut pair, secs(3) + TICK);
    pair.b_sends(&[Pair::b_to_a(b"pong")]);
    pair.deliver_all();

    let mut a_times = Vec::new();
    let mut b_times = Vec::new();
    for _ in 0..(secs(30).as_millis() / TICK.as_millis()) {
        let (a_before, b_before) = (keepalives(&pair.a), keepalives(&pair.b));
        run_for(&mut pair, TICK);
        let now = simulated_time::elapsed();
        a_times.extend((a_before..keepalives(&pair.a)).map(|_| now));
        b_times.extend((b_before..keepalives(&pair.b)).map(|_| now));
    }
    // A last sent at 3 s; it received B's reply after that.
    assert_eq!(a_times, vec![secs(3) + KEEPALIVE_TIMEOUT]);
    assert_eq!(b_times, Vec::<Duration>::new());
    assert_eq!(initiations(&pair.a) + initiations(&pair.b), 1);
}

#[test]
fn persistent_keepalive_is_sent_at_its_interval_when_idle() {
    let mut pair = Pair::with(
        TunnelLimits::default(),
        |b| b.persistent_keepalive = Some(25),
        |_| {},
    );
    pair.connect();
    let b_sent_before = pair.b.sent.len();

    let times = send_times(&mut pair, secs(100), a, Datagram::is_keepalive);
    assert_eq!(times, vec![secs(25), secs(50), secs(75), secs(100)]);
    assert_eq!(pair.b.sent.len(), b_sent_before, "B has nothing to say");
    assert_eq!(
        pair.b
            .inbound
            .iter()
            .filter(|v| **v == Inbound::Control)
            .count(),
        2 + 4,
        "initiation, handshake confirmation, 4 keepalives"
    );
    let info = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(info.status, PeerStatus::Connected);
    assert_eq!(info.stats.tx_packets, 1, "keepalives are not data");
}

#[test]
fn persistent_keepalive_brings_the_tunnel_up_without_traffic() {
    let mut pair = Pair::with(
        TunnelLimits::default(),
        |b| b.persistent_keepalive = Some(25),
        |_| {},
    );
    run_until(&mut pair, secs(25) - TICK);
    assert!(pair.a.sent.is_empty());
    run_for(&mut pair, TICK);
    assert_eq!(initiations(&pair.a), 1);
    for (side, name) in [(&pair.a, "cluster-b"), (&pair.b, "cluster-a")] {
        let info = side.tunnels.peer_info(side.peer(name)).unwrap();
        assert_eq!(info.status, PeerStatus::Connected, "{name}");
        assert_eq!(info.stats.handshakes_completed, 1, "{name}");
    }
    // Data now needs no handshake.
    pair.a_sends(&[Pair::a_to_b(b"ready")]);
    assert_eq!(pair.wire.len(), 1);
    assert_eq!(pair.wire[0].kind(), 4);
    pair.deliver_all();
    assert_eq!(tun_packets(&pair.b), vec![Pair::a_to_b(b"ready")]);
    assert!(no_inbound_drops(&pair.a) && no_inbound_drops(&pair.b));
}

#[test]
fn last_handshake_age_follows_simulated_time() {
    let mut pair = Pair::new();
    let (a_id, b_id) = (pair.a.peer("cluster-b"), pair.b.peer("cluster-a"));
    assert_eq!(pair.a.tunnels.peer_info(a_id).unwrap().last_handshake, None);
    run_until(&mut pair, secs(7));
    pair.connect();
    for age in [secs(0), secs(37), secs(129)] {
        run_until(&mut pair, secs(7) + age);
        let at_a = pair.a.tunnels.peer_info(a_id).unwrap();
        let at_b = pair.b.tunnels.peer_info(b_id).unwrap();
        assert_eq!(at_a.last_handshake, Some(age));
        assert_eq!(at_b.last_handshake, Some(age));
        assert_eq!(at_a.status, PeerStatus::Connected);
        // gwctl's view is the same.
        assert_eq!(pair.a.tunnels.peers()[0].last_handshake, Some(age));
    }
}

#[test]
fn idle_sessions_expire_and_the_next_packet_starts_a_new_handshake() {
    let mut pair = Pair::new();
    let (a_id, b_id) = (pair.a.peer("cluster-b"), pair.b.peer("cluster-a"));
    pair.connect();
    // A copy of the first data datagram (any data sent after the handshake
    // would make the initiator rekey: idle means idle). Replayed while the
    // session lives, it is a replay; after, data for a session that is gone.
    let copy = pair
        .a
        .sent
        .iter()
        .find(|d| d.kind() == 4 && !d.is_keepalive())
        .unwrap()
        .clone();
    run_until(&mut pair, secs(1));
    assert_eq!(
        pair.b.receive(&mut pair.wire, &copy),
        Inbound::Dropped(TunnelDrop::Replay)
    );

    run_until(&mut pair, REJECT_AFTER_TIME);
    assert!(pair
        .a
        .tunnels
        .peer_info(a_id)
        .unwrap()
        .last_handshake
        .is_some());
    run_for(&mut pair, TICK);
    // REJECT_AFTER_TIME: both sides dropped the session and its keys.
    for (side, id) in [(&pair.a, a_id), (&pair.b, b_id)] {
        let info = side.tunnels.peer_info(id).unwrap();
        assert_eq!(info.last_handshake, None);
        assert_ne!(info.status, PeerStatus::Connected);
    }
    assert_eq!(
        pair.b.receive(&mut pair.wire, &copy),
        Inbound::Dropped(TunnelDrop::NoSession)
    );

    // REJECT_AFTER_TIME × 3 (540 s): boringtun reports the connection
    // expired and zeroes its handshake state too (invisible from outside).
    // An idle tunnel is not an error, and nobody sends anything.
    run_until(&mut pair, KEYS_ZEROED_AFTER + secs(60));
    assert!(pair.wire.is_empty());
    for (side, id) in [(&pair.a, a_id), (&pair.b, b_id)] {
        let info = side.tunnels.peer_info(id).unwrap();
        assert_eq!(info.last_handshake, None);
        assert_eq!(info.status, PeerStatus::Connecting);
        assert_eq!(info.stats.handshake_failures, 0);
    }
    assert_eq!(initiations(&pair.a) + initiations(&pair.b), 1);

    // The next packet is queued behind a new handshake and delivered.
    let next = Pair::a_to_b(b"after nine minutes");
    pair.a_sends(std::slice::from_ref(&next));
    assert!(pair.wire[0].is_initiation());
    pair.deliver_all();
    assert_eq!(pair.b.tun.last().unwrap().1, next);
    let info = pair.a.tunnels.peer_info(a_id).unwrap();
    assert_eq!(info.stats.handshakes_completed, 2);
    assert_eq!(info.last_handshake, Some(secs(0)));
    assert_eq!(info.status, PeerStatus::Connected);
}

#[test]
fn an_idle_tunnel_with_persistent_keepalive_never_looks_down() {
    // Submariner's configuration: both sides keep alive every 10 s, nobody
    // sends data. Whoever is the initiator must keep the keys fresh.
    let mut pair = Pair::with(
        TunnelLimits::default(),
        |b| b.persistent_keepalive = Some(10),
        |a| a.persistent_keepalive = Some(10),
    );
    pair.connect();
    let (a_id, b_id) = (pair.a.peer("cluster-b"), pair.b.peer("cluster-a"));
    let mut worst_age = Duration::ZERO;
    for _ in 0..(KEYS_ZEROED_AFTER * 2).as_secs() {
        run_for(&mut pair, secs(1));
        for (side, id) in [(&pair.a, a_id), (&pair.b, b_id)] {
            let info = side.tunnels.peer_info(id).unwrap();
            let now = simulated_time::elapsed();
            assert_eq!(info.status, PeerStatus::Connected, "at {now:?}: {info:?}");
            worst_age = worst_age.max(info.last_handshake.unwrap());
        }
    }
    assert!(worst_age < secs(130), "{worst_age:?}");
    // A, the initiator, renegotiated every REKEY_AFTER_TIME (120 s, …,
    // 1080 s); B left it to A, as WireGuard's responder does.
    let at_a = pair.a.tunnels.peer_info(a_id).unwrap();
    assert_eq!(at_a.stats.handshakes_completed, 1 + 1080 / 120);
    assert_eq!(initiations(&pair.a), 1 + 1080 / 120);
    assert_eq!(initiations(&pair.b), 0);
    assert!(no_inbound_drops(&pair.a) && no_inbound_drops(&pair.b));
}

#[test]
fn an_idle_tunnel_started_from_both_sides_at_once_never_looks_down() {
    // Both gateways start together and each initiates; which one then counts
    // as "the initiator" depends on message order. Someone must still keep
    // the keys fresh.
    let mut pair = Pair::with(
        TunnelLimits::default(),
        |b| b.persistent_keepalive = Some(10),
        |a| a.persistent_keepalive = Some(10),
    );
    pair.a_sends(&[Pair::a_to_b(b"from a")]);
    pair.b_sends(&[Pair::b_to_a(b"from b")]);
    pair.deliver_all();
    assert_eq!((pair.a.tun.len(), pair.b.tun.len()), (1, 1));
    let (a_id, b_id) = (pair.a.peer("cluster-b"), pair.b.peer("cluster-a"));
    for _ in 0..(KEYS_ZEROED_AFTER * 2).as_secs() {
        run_for(&mut pair, secs(1));
        for (side, id) in [(&pair.a, a_id), (&pair.b, b_id)] {
            let info = side.tunnels.peer_info(id).unwrap();
            let now = simulated_time::elapsed();
            assert_eq!(info.status, PeerStatus::Connected, "at {now:?}: {info:?}");
        }
    }
    assert!(no_inbound_drops(&pair.a) && no_inbound_drops(&pair.b));
}

/// Delivers the datagram just sent (the oldest in flight) to `to` as if it
/// came from `from`: an authenticated packet from there, so `to` roams.
fn deliver_as_if_from(pair: &mut Pair, to: fn(&mut Pair) -> &mut Side, from: &str) {
    let mut d = pair.wire.pop_front().unwrap();
    d.from = addr(from);
    let mut wire = std::mem::take(&mut pair.wire);
    assert!(matches!(
        to(pair).receive(&mut wire, &d),
        Inbound::Packet { .. }
    ));
    pair.wire = wire;
}

/// One tick in which A sends packet `seq` (and `seq` moves on).
fn tick_with_a_sending(pair: &mut Pair, seq: &mut u32) {
    run_with(
        pair,
        TICK,
        |pair| {
            pair.a_sends(&[numbered_a_to_b(*seq)]);
            *seq += 1;
        },
        |_| false,
    );
}

/// Both ends roamed to addresses that then died (a relay between them went
/// away mid-conversation: the lab saw it). Standard WireGuard would keep
/// sending to the dead addresses for ever; ours retries the configured
/// endpoint on every other unanswered initiation, and the answer moves both
/// ends back.
#[test]
fn peers_roamed_to_dead_addresses_come_back_through_the_configured_endpoints() {
    const DEAD_RELAY_INNER: &str = "192.0.2.1:4599";
    const DEAD_RELAY_OUTER: &str = "192.0.2.1:4600";
    let mut pair = Pair::new();
    pair.connect();
    // B's next datagram reaches A as if from the relay's inner port, A's
    // next reaches B as if from its outer port: each roams there.
    pair.b_sends(&[numbered_b_to_a(1)]);
    deliver_as_if_from(&mut pair, |p| &mut p.a, DEAD_RELAY_INNER);
    pair.a_sends(&[numbered_a_to_b(2)]);
    deliver_as_if_from(&mut pair, |p| &mut p.b, DEAD_RELAY_OUTER);
    let endpoint = |side: &Side, peer: &str| {
        side.tunnels
            .peer_info(side.peer(peer))
            .unwrap()
            .endpoint
            .unwrap()
    };
    assert_eq!(endpoint(&pair.a, "cluster-b"), addr(DEAD_RELAY_INNER));
    assert_eq!(endpoint(&pair.b, "cluster-a"), addr(DEAD_RELAY_OUTER));

    // A keeps sending; nothing comes back until a retry reaches B.
    let started = simulated_time::elapsed();
    let mut seq = 3;
    let mut recovered_at = None;
    for _ in 0..(secs(60).as_millis() / TICK.as_millis()) {
        tick_with_a_sending(&mut pair, &mut seq);
        if endpoint(&pair.a, "cluster-b") == addr(B_ADDR)
            && endpoint(&pair.b, "cluster-a") == addr(A_ADDR)
        {
            recovered_at = Some(simulated_time::elapsed() - started);
            break;
        }
    }
    // Data unanswered for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT starts a
    // handshake (to the dead address); its first retry, REKEY_TIMEOUT later,
    // goes to the configured endpoint.
    let expected = KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + REKEY_TIMEOUT;
    let recovered_at = recovered_at.expect("both ends back on the configured endpoints");
    assert!(
        recovered_at <= expected + secs(1),
        "recovered after {recovered_at:?}, expected about {expected:?}"
    );
    let a_info = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(a_info.stats.configured_endpoint_retries, 1);
    assert_eq!(a_info.status, PeerStatus::Connected);
    // Traffic flows again: the next packet arrives.
    let before = pair.b.tun.len();
    pair.a_sends(&[numbered_a_to_b(seq)]);
    pair.deliver_all();
    assert_eq!(pair.b.tun.len(), before + 1);
}

/// The fallback only alternates while the learned endpoint goes unanswered:
/// a peer that answers where it roamed to is never sent anywhere else.
#[test]
fn a_peer_answering_at_its_learned_endpoint_keeps_it() {
    const MOVED: &str = "192.0.2.12:4501";
    let mut pair = Pair::new();
    pair.connect();
    // B now lives at another address; A learns it from B's packet.
    pair.b.source = addr(MOVED);
    pair.b.addresses = vec![addr(MOVED)];
    pair.b_sends(&[numbered_b_to_a(1)]);
    pair.deliver_all();
    // Rekeying and keepalives for 10 minutes with traffic both ways.
    for seq in 0..(secs(600).as_millis() / TICK.as_millis()) as u32 {
        run_with(
            &mut pair,
            TICK,
            |pair| {
                pair.a_sends(&[numbered_a_to_b(seq)]);
                pair.b_sends(&[numbered_b_to_a(seq)]);
            },
            |_| false,
        );
    }
    let info = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(info.endpoint, Some(addr(MOVED)));
    assert_eq!(info.stats.configured_endpoint_retries, 0);
    assert!(info.stats.handshakes_completed >= 5, "{:?}", info.stats);
    assert!(
        pair.lost.is_empty(),
        "nothing sent to the old address: {:?}",
        pair.lost.first()
    );
}

/// A reload that changes the configured endpoint changes the fallback too.
#[test]
fn the_fallback_follows_a_reloaded_endpoint() {
    const RELOADED: &str = "192.0.2.22:4500";
    const DEAD: &str = "192.0.2.99:4500";
    let mut pair = Pair::new();
    pair.connect();
    // B is reachable at a second address too; A's config now names it.
    pair.b.addresses.push(addr(RELOADED));
    let a_sees_b = spec("cluster-b", pair.b.public_key, Some(RELOADED), B_BLOCK);
    pair.a.tunnels.set_peers(vec![a_sees_b]).unwrap();
    // Then B's datagram reaches A from an address that is about to die.
    pair.b_sends(&[numbered_b_to_a(1)]);
    deliver_as_if_from(&mut pair, |p| &mut p.a, DEAD);
    let sent_before = pair.a.sent.len();
    let mut seq = 2;
    for _ in 0..(secs(30).as_millis() / TICK.as_millis()) {
        tick_with_a_sending(&mut pair, &mut seq);
    }
    let initiation_targets: Vec<_> = pair.a.sent[sent_before..]
        .iter()
        .filter(|d| d.is_initiation())
        .map(|d| d.to)
        .collect();
    assert_eq!(
        initiation_targets,
        [addr(DEAD), addr(RELOADED)],
        "the first initiation to the learned address, the retry to the reloaded one"
    );
    let info = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(info.configured_endpoint, Some(addr(RELOADED)));
    // B answered from its own address; A follows it there.
    assert_eq!(info.endpoint, Some(addr(B_ADDR)));
    assert_eq!(info.status, PeerStatus::Connected);
}
