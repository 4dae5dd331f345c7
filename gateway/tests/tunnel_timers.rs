//! Two gateways over an in-memory network with boringtun's clock simulated:
//! handshake retries, rekeying, keepalives and session expiry, minutes of
//! protocol time in milliseconds. Needs `--features simulated-time` (the
//! clock is per thread: each test drives both sides from its own thread).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is the failure report

mod tunnel_support;

use std::time::Duration;

use gateway::tunnel::simulated_time;
use gateway::tunnel::PeerStatus;
use tunnel_support::*;

/// The period the runtime's timer thread calls `update_timers` with.
const TICK: Duration = Duration::from_millis(250);
/// boringtun retransmits an unanswered initiation after this long.
const REKEY_TIMEOUT: Duration = Duration::from_secs(5);

/// Moves the clock forward `by` in `TICK` steps, running both sides' timers
/// and delivering everything in flight (except what `drop` selects) after
/// each step, as the runtime's timer thread and UDP readers would.
fn run_for_except(pair: &mut Pair, by: Duration, mut drop: impl FnMut(&Datagram) -> bool) {
    let steps = by.as_millis() / TICK.as_millis();
    for _ in 0..steps {
        simulated_time::advance(TICK);
        pair.tick();
        pair.deliver_all_except(&mut drop);
    }
}

fn run_for(pair: &mut Pair, by: Duration) {
    run_for_except(pair, by, |_| false);
}

fn initiations(side: &Side) -> usize {
    side.sent.iter().filter(|d| d.is_initiation()).count()
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
    assert_eq!(pair.b.tun.len(), 1);
    assert_eq!(pair.b.tun[0].1, first);

    let info = pair.a.tunnels.peer_info(b_id).unwrap();
    assert_eq!(info.status, PeerStatus::Connected);
    assert_eq!(info.stats.handshake_timeouts, 1);
    assert_eq!(info.stats.handshakes_completed, 1);
    assert_eq!(info.stats.tx_packets, 1);
}
