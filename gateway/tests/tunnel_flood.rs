//! A handshake-initiation flood against one gateway, in process (issue 5,
//! "abuse"): initiations that pass mac1 (made for our public key, by keys we
//! have no peer for) are processed up to the rate limit; beyond it every one
//! is answered with a cookie reply and costs no Diffie-Hellman; each is
//! counted; and the established tunnel carries data throughout.
//! The timed flood over real sockets is tests/netns (issue 5's ≥ 100k/s test).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is the failure report

mod tunnel_support;

use boringtun::noise::{Tunn, TunnResult};
use gateway::tunnel::{Inbound, TunnelDrop, TunnelLimits};
use std::net::SocketAddr;
use tunnel_support::*;
use x25519_dalek::{PublicKey, StaticSecret};

/// WireGuard message type of a cookie reply.
const COOKIE_REPLY: u8 = 3;
const FLOOD: usize = 600;
const HANDSHAKES_PER_SECOND: u64 = 50;

/// An initiation from a fresh key to `responder`: valid mac1, unknown sender.
fn bogus_initiation(responder: [u8; 32], index: u32) -> Vec<u8> {
    let (private, _) = keypair();
    let mut tunn = Tunn::new(
        StaticSecret::from(private),
        PublicKey::from(responder),
        None,
        None,
        index,
        None,
    );
    let mut buf = vec![0u8; 256];
    match tunn.format_handshake_initiation(&mut buf, false) {
        TunnResult::WriteToNetwork(packet) => packet.to_vec(),
        _ => panic!("boringtun made no initiation"),
    }
}

/// Attacker addresses: one per initiation, as a spoofing flood would use.
fn attacker(i: usize) -> SocketAddr {
    let i = i as u32;
    SocketAddr::from(([198, 51, (i >> 8) as u8, i as u8], 40000))
}

#[test]
fn a_flood_beyond_the_rate_limit_gets_cookie_replies_and_the_tunnel_keeps_working() {
    let limits = TunnelLimits {
        handshakes_per_second: HANDSHAKES_PER_SECOND,
        ..TunnelLimits::default()
    };
    let mut pair = Pair::with(limits, |_| {}, |_| {});
    pair.connect();
    let sent_before = pair.b.sent.len();

    let initiations: Vec<Vec<u8>> = (0..FLOOD)
        .map(|i| bogus_initiation(pair.b.public_key, i as u32))
        .collect();
    for (i, bytes) in initiations.iter().enumerate() {
        let d = Datagram {
            from: attacker(i),
            to: addr(B_ADDR),
            bytes: bytes.clone(),
        };
        let verdict = pair.b.receive(&mut pair.wire, &d);
        assert!(
            matches!(
                verdict,
                Inbound::Dropped(TunnelDrop::UnderLoad | TunnelDrop::UnknownPeer)
            ),
            "initiation {i}: {verdict:?}"
        );
        // Interleaved: A's data still gets through at every step.
        if i % 100 == 0 {
            let packet = Pair::a_to_b(format!("during flood {i}").as_bytes());
            pair.a_sends(std::slice::from_ref(&packet));
            let in_flight: Vec<Datagram> = pair.wire.drain(..).collect();
            for d in in_flight {
                if d.to == addr(B_ADDR) {
                    let _ = pair.b.receive(&mut pair.wire, &d);
                } else {
                    pair.lost.push(d); // B's cookie replies to the attackers
                }
            }
            assert_eq!(
                pair.b.tun.last().map(|(_, p)| p),
                Some(&packet),
                "data during the flood"
            );
        }
    }
    pair.wire.clear();

    let processed = pair.b.dropped(TunnelDrop::UnknownPeer);
    let under_load = pair.b.dropped(TunnelDrop::UnderLoad);
    assert_eq!(processed + under_load, FLOOD);
    // The limiter admits HANDSHAKES_PER_SECOND per second; the flood takes
    // well under a few seconds, so only a few windows' worth got a DH.
    assert!(
        processed <= 4 * HANDSHAKES_PER_SECOND as usize,
        "{processed} initiations got a Diffie-Hellman"
    );
    assert!(under_load >= FLOOD - 4 * HANDSHAKES_PER_SECOND as usize);
    // Each one over the limit was answered with a cookie reply to its sender.
    let cookies: Vec<&Datagram> = pair.b.sent[sent_before..]
        .iter()
        .filter(|d| d.kind() == COOKIE_REPLY)
        .collect();
    assert_eq!(cookies.len(), under_load);
    assert!(cookies
        .iter()
        .all(|d| d.from == addr(B_ADDR) && d.to.ip().to_string().starts_with("198.51.")));
    assert!(
        cookies.iter().all(|d| d.bytes.len() == 64),
        "cookie replies are 64 bytes"
    );
    // No handshake response went to any attacker.
    assert!(!pair.b.sent[sent_before..].iter().any(|d| d.kind() == 2));

    // After the flood the tunnel works both ways without a new handshake.
    let back = Pair::b_to_a(b"after the flood");
    pair.b_sends(std::slice::from_ref(&back));
    pair.deliver_all();
    assert_eq!(pair.a.tun.last().map(|(_, p)| p), Some(&back));
}
