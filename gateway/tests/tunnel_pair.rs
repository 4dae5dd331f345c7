//! Two gateways over an in-memory network: handshake, data both ways,
//! anti-spoofing, garbage, roaming, peer set changes. These need no clock
//! movement, so they run with and without the `simulated-time` feature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is the failure report

mod tunnel_support;

use gateway::tunnel::{
    DatagramBatch, Inbound, PeerSetChange, PeerStatus, TunnelDrop, TunnelDropCounts, TunnelError,
    TunnelLimits, Tunnels,
};
use tunnel_support::*;

#[test]
fn handshake_completes_and_data_flows_both_ways() {
    let mut pair = Pair::new();
    let b_id_at_a = pair.a.peer("cluster-b");
    let a_id_at_b = pair.b.peer("cluster-a");

    pair.connect();
    assert_eq!(pair.b.tun.len(), 1);
    assert_eq!(pair.b.tun[0].0, a_id_at_b);

    let packets: Vec<_> = (0..20u8).map(|i| Pair::b_to_a(&[i; 100])).collect();
    assert_eq!(pair.b_sends(&packets), 20);
    pair.deliver_all();
    let got: Vec<_> = pair.a.tun.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(got, packets);
    assert!(pair.a.tun.iter().all(|(peer, _)| *peer == b_id_at_a));

    let a_view = pair.a.tunnels.peer_info(b_id_at_a).unwrap();
    assert_eq!(a_view.status, PeerStatus::Connected);
    assert_eq!(a_view.endpoint, Some(addr(B_ADDR)));
    assert!(a_view.last_handshake.is_some());
    assert_eq!(a_view.stats.handshakes_completed, 1);
    assert_eq!(a_view.stats.rx_packets, 20);
    assert_eq!(a_view.stats.rx_bytes, 20 * (28 + 100));
    assert_eq!(a_view.stats.tx_packets, 1, "the queued first packet");
    assert_eq!(a_view.stats.queued_packets, 1);
    assert_eq!(a_view.stats.handshake_timeouts, 0);
    assert_eq!(a_view.stats.drops.total(), 0);

    let b_view = pair.b.tunnels.peer_info(a_id_at_b).unwrap();
    assert_eq!(b_view.stats.handshakes_completed, 1);
    assert_eq!(b_view.stats.tx_packets, 20);
    assert_eq!(b_view.stats.rx_packets, 1);
    assert_eq!(b_view.status, PeerStatus::Connected);
    assert_eq!(pair.a.drops.total() + pair.b.drops.total(), 0);
}

#[test]
fn a_batch_for_one_peer_is_one_datagram_per_packet_with_32_bytes_overhead() {
    let mut pair = Pair::new();
    pair.connect();
    let peer = pair.a.peer("cluster-b");
    let packets: Vec<_> = (0..8u8).map(|i| Pair::a_to_b(&vec![i; 1000])).collect();
    let before = pair.a.sent.len();
    assert_eq!(pair.a.send_to_peer(&mut pair.wire, peer, &packets), 8);
    let sent = &pair.a.sent[before..];
    assert_eq!(sent.len(), 8);
    for (d, p) in sent.iter().zip(&packets) {
        assert_eq!(d.to, addr(B_ADDR));
        assert_eq!(d.bytes.len(), p.len() + 32);
    }
    pair.deliver_all();
    assert_eq!(pair.b.tun.len(), 1 + 8);
}

#[test]
fn inner_source_outside_the_peers_cidrs_is_dropped_as_spoofed() {
    let mut pair = Pair::new();
    pair.connect();
    let a = pair.b.peer("cluster-a");
    // Not in B's block, and in A's own block: both must be refused by A.
    let spoofed = [
        ipv4_udp(ip("10.9.9.9"), ip("242.0.0.10"), b"x"),
        ipv4_udp(ip("242.0.0.99"), ip("242.0.0.10"), b"x"),
    ];
    // B's tunnel layer does not police sources on the way out (natcore does).
    assert_eq!(pair.b.send_to_peer(&mut pair.wire, a, &spoofed), 2);
    pair.deliver_all();
    assert_eq!(pair.a.dropped(TunnelDrop::SpoofedSource), 2);
    assert!(pair.a.tun.is_empty());
    let stats = pair
        .a
        .tunnels
        .peer_info(pair.a.peer("cluster-b"))
        .unwrap()
        .stats;
    assert_eq!(stats.drops.get(TunnelDrop::SpoofedSource), 2);
    assert_eq!(stats.rx_packets, 0);

    // A legitimate source still gets through.
    pair.b_sends(&[Pair::b_to_a(b"ok")]);
    pair.deliver_all();
    assert_eq!(pair.a.tun.len(), 1);
}

#[test]
fn a_source_in_another_peers_block_is_spoofed_too() {
    let mut pair = Pair::new();
    let (_, c_public) = keypair();
    pair.a
        .tunnels
        .add_peer(spec("cluster-c", c_public, None, "244.0.0.0/16"))
        .unwrap();
    pair.connect();
    let a = pair.b.peer("cluster-a");
    let as_c = ipv4_udp(ip("244.0.0.1"), ip("242.0.0.10"), b"x");
    pair.b.send_to_peer(&mut pair.wire, a, &[as_c]);
    pair.deliver_all();
    assert_eq!(pair.a.dropped(TunnelDrop::SpoofedSource), 1);
}

#[test]
fn ipv6_inner_packets_are_dropped() {
    let mut pair = Pair::new();
    pair.connect();
    let a = pair.b.peer("cluster-a");
    pair.b.send_to_peer(&mut pair.wire, a, &[ipv6(b"v6")]);
    pair.deliver_all();
    assert_eq!(pair.a.dropped(TunnelDrop::Ipv6Inner), 1);
    assert!(pair.a.tun.is_empty());
}

/// Deterministic bytes (xorshift), so a failure reproduces.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn garbage_is_dropped_by_reason_and_the_tunnel_keeps_working() {
    let mut pair = Pair::new();
    // Keep copies of the handshake and of a data datagram from B to A.
    pair.connect();
    let init = pair
        .a
        .sent
        .iter()
        .find(|d| d.is_initiation())
        .unwrap()
        .clone();
    pair.b_sends(&[Pair::b_to_a(b"first")]);
    let data = pair.b.sent.last().unwrap().clone();
    pair.deliver_all();
    assert_eq!(pair.a.tun.len(), 1);
    let from_b = addr(B_ADDR);
    let inject = |pair: &mut Pair, to_a: bool, bytes: Vec<u8>| {
        let d = Datagram {
            from: if to_a { from_b } else { addr(A_ADDR) },
            to: if to_a { addr(A_ADDR) } else { from_b },
            bytes,
        };
        if to_a {
            pair.a.receive(&mut pair.wire, &d)
        } else {
            pair.b.receive(&mut pair.wire, &d)
        }
    };

    // Random bytes of every small length and some large ones.
    for len in (0..200).chain([1000, 1452, 9000, 65_000]) {
        let verdict = inject(&mut pair, true, noise(len as u64 + 1, len));
        assert!(matches!(verdict, Inbound::Dropped(_)), "{len}: {verdict:?}");
    }
    // Each message type with the wrong length.
    for (kind, len) in [(1u8, 147), (1, 149), (2, 91), (3, 63), (4, 31)] {
        let mut bytes = vec![0u8; len];
        bytes[0] = kind;
        assert_eq!(
            inject(&mut pair, true, bytes),
            Inbound::Dropped(TunnelDrop::Malformed)
        );
    }
    // A fresh datagram, truncated or with a bit flipped: still a data
    // message, but the tag cannot verify. Neither burns its counter.
    pair.b_sends(&[Pair::b_to_a(b"second")]);
    let fresh = pair.wire.pop_front().unwrap();
    assert_eq!(
        inject(
            &mut pair,
            true,
            fresh.bytes[..fresh.bytes.len() - 1].to_vec()
        ),
        Inbound::Dropped(TunnelDrop::DecryptFailed)
    );
    let mut flipped = fresh.bytes.clone();
    flipped[20] ^= 1;
    assert_eq!(
        inject(&mut pair, true, flipped),
        Inbound::Dropped(TunnelDrop::DecryptFailed)
    );
    assert!(matches!(
        inject(&mut pair, true, fresh.bytes.clone()),
        Inbound::Packet { .. }
    ));
    // Replay of a datagram already accepted.
    assert_eq!(
        inject(&mut pair, true, data.bytes.clone()),
        Inbound::Dropped(TunnelDrop::Replay)
    );
    // A receiver index that names no peer of ours.
    let mut unknown = data.bytes.clone();
    unknown[7] ^= 0xff; // top byte of the 24-bit peer index
    assert_eq!(
        inject(&mut pair, true, unknown),
        Inbound::Dropped(TunnelDrop::UnknownPeer)
    );
    // Our peer, but a session slot that does not exist.
    let mut no_session = data.bytes.clone();
    no_session[4] ^= 0x04;
    assert_eq!(
        inject(&mut pair, true, no_session),
        Inbound::Dropped(TunnelDrop::NoSession)
    );
    // An initiation with a corrupted mac1 (not for our key).
    let mut bad_mac = init.bytes.clone();
    bad_mac[120] ^= 1;
    assert_eq!(
        inject(&mut pair, false, bad_mac),
        Inbound::Dropped(TunnelDrop::BadMac)
    );
    // The same initiation again: its timestamp is not newer.
    assert_eq!(
        inject(&mut pair, false, init.bytes.clone()),
        Inbound::Dropped(TunnelDrop::Replay)
    );
    // A response nobody asked for, and a cookie reply with a bad tag.
    let mut response = vec![0u8; 92];
    response[0] = 2;
    response[8..12].copy_from_slice(&data.bytes[4..8]);
    assert!(matches!(
        inject(&mut pair, true, response),
        Inbound::Dropped(TunnelDrop::BadMac)
    ));
    let mut cookie = vec![0u8; 64];
    cookie[0] = 3;
    cookie[4..8].copy_from_slice(&data.bytes[4..8]);
    assert!(matches!(
        inject(&mut pair, true, cookie),
        Inbound::Dropped(TunnelDrop::HandshakeRejected | TunnelDrop::DecryptFailed)
    ));
    // Nothing garbage did reached the TUN, and nothing was sent in reply.
    assert_eq!(pair.a.tun.len(), 2);
    assert!(pair.wire.is_empty());

    // The established tunnel still works both ways, without a new handshake.
    pair.b_sends(&[Pair::b_to_a(b"still")]);
    pair.a_sends(&[Pair::a_to_b(b"here")]);
    pair.deliver_all();
    assert_eq!(pair.a.tun.last().unwrap().1, Pair::b_to_a(b"still"));
    assert_eq!(pair.b.tun.last().unwrap().1, Pair::a_to_b(b"here"));
    let info = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(info.stats.handshakes_completed, 1);
    assert_eq!(info.status, PeerStatus::Connected);
}

#[test]
fn a_receive_buffer_too_small_for_the_datagram_is_oversized_not_a_panic() {
    let mut pair = Pair::new();
    pair.connect();
    pair.b_sends(&[Pair::b_to_a(&[7; 1000])]);
    let d = pair.wire.pop_front().unwrap();
    let mut small = [0u8; 500];
    let mut sink = DatagramBatch::new(4, pair.a.tunnels.datagram_capacity());
    let verdict = pair
        .a
        .tunnels
        .handle_datagram(d.from, &d.bytes, &mut small, &mut sink);
    assert_eq!(verdict, Inbound::Dropped(TunnelDrop::Oversized));
    // The same datagram with room is fine (the failed attempt consumed nothing).
    assert!(matches!(
        pair.a.receive(&mut pair.wire, &d),
        Inbound::Packet { .. }
    ));
}

#[test]
fn roaming_peer_is_followed_to_its_new_address() {
    let mut pair = Pair::new();
    pair.connect();
    let b_id = pair.a.peer("cluster-b");

    // B's NAT rebinds: its datagrams now come from another address.
    let moved = addr("198.51.100.7:40001");
    pair.b.source = moved;
    pair.b.addresses.push(moved);
    pair.b_sends(&[Pair::b_to_a(b"from the new place")]);
    pair.deliver_all();
    assert_eq!(pair.a.tun.len(), 1);
    let info = pair.a.tunnels.peer_info(b_id).unwrap();
    assert_eq!(info.endpoint, Some(moved));
    assert_eq!(info.stats.endpoint_changes, 1);

    let before = pair.a.sent.len();
    pair.a_sends(&[Pair::a_to_b(b"reply")]);
    assert_eq!(pair.a.sent[before].to, moved);
    pair.deliver_all();
    assert_eq!(pair.b.tun.last().unwrap().1, Pair::a_to_b(b"reply"));
}

#[test]
fn unauthenticated_datagrams_do_not_move_the_endpoint() {
    let mut pair = Pair::new();
    pair.connect();
    pair.b_sends(&[Pair::b_to_a(b"x")]);
    let mut d = pair.wire.pop_front().unwrap();
    d.bytes[30] ^= 1; // breaks the tag
    d.from = addr("203.0.113.66:666");
    assert_eq!(
        pair.a.receive(&mut pair.wire, &d),
        Inbound::Dropped(TunnelDrop::DecryptFailed)
    );
    let info = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(info.endpoint, Some(addr(B_ADDR)));
}

#[test]
fn a_peer_without_endpoint_is_learned_from_its_handshake() {
    let mut pair = Pair::with(TunnelLimits::default(), |b| b.endpoint = None, |_| {});
    let b_id = pair.a.peer("cluster-b");
    // A cannot reach B yet: counted, nothing sent, nothing queued.
    assert_eq!(pair.a_sends(&[Pair::a_to_b(b"lost")]), 0);
    assert_eq!(pair.a.drops.get(TunnelDrop::NoEndpoint), 1);
    assert!(pair.wire.is_empty());
    let info = pair.a.tunnels.peer_info(b_id).unwrap();
    assert_eq!(info.endpoint, None);
    assert_eq!(info.status, PeerStatus::Connecting);

    // B connects to A; A learns where B is and can answer.
    pair.b_sends(&[Pair::b_to_a(b"hi")]);
    pair.deliver_all();
    assert_eq!(pair.a.tun.len(), 1);
    assert_eq!(
        pair.a.tunnels.peer_info(b_id).unwrap().endpoint,
        Some(addr(B_ADDR))
    );
    pair.a_sends(&[Pair::a_to_b(b"hello back")]);
    pair.deliver_all();
    assert_eq!(pair.b.tun.len(), 1);
}

#[test]
fn outbound_refusals_are_counted_never_panics() {
    let mut pair = Pair::new();
    pair.connect();
    let tunnels = &pair.a.tunnels;
    let peer = pair.a.peer("cluster-b");
    let mut drops = TunnelDropCounts::default();

    // Sink buffers shorter than packet + 32, and a sink with no room at all.
    let packet = Pair::a_to_b(&[1; 500]);
    let mut short = DatagramBatch::new(4, 500 + 31);
    assert_eq!(
        tunnels.encapsulate_batch(peer, [packet.as_slice()], &mut short, &mut drops),
        0
    );
    let mut full = DatagramBatch::new(0, 2000);
    assert_eq!(
        tunnels.encapsulate_batch(peer, [packet.as_slice()], &mut full, &mut drops),
        0
    );
    assert_eq!(drops.get(TunnelDrop::BufferTooSmall), 2);

    // Too large for the configured MTU, and empty.
    let mut sink = DatagramBatch::new(4, 70_000);
    let huge = Pair::a_to_b(&vec![0; tunnels.limits().max_packet_len]);
    assert_eq!(
        tunnels.encapsulate_batch(peer, [huge.as_slice(), &[]], &mut sink, &mut drops),
        0
    );
    assert_eq!(drops.get(TunnelDrop::PacketTooLarge), 1);
    assert_eq!(drops.get(TunnelDrop::InvalidInnerPacket), 1);

    // Routed: not IPv4, and a destination no peer covers.
    let unrouted = ipv4_udp(ip("242.0.0.1"), ip("8.8.8.8"), b"x");
    assert_eq!(
        tunnels.encapsulate_routed([&b"\x60garbage"[..], &unrouted], &mut sink, &mut drops),
        0
    );
    assert_eq!(drops.get(TunnelDrop::InvalidInnerPacket), 2);
    assert_eq!(drops.get(TunnelDrop::NoRoute), 1);

    // A peer id that does not exist (e.g. removed meanwhile).
    let (_, c_public) = keypair();
    let c = tunnels
        .add_peer(spec("c", c_public, None, "244.0.0.0/16"))
        .unwrap();
    tunnels.remove_peer(c).unwrap();
    assert_eq!(
        tunnels.encapsulate_batch(c, [packet.as_slice()], &mut sink, &mut drops),
        0
    );
    assert_eq!(drops.get(TunnelDrop::UnknownPeer), 1);
    assert!(sink.is_empty());

    // The peer counts what was its own.
    let stats = tunnels.peer_info(peer).unwrap().stats;
    assert_eq!(stats.drops.get(TunnelDrop::BufferTooSmall), 2);
    assert_eq!(stats.drops.get(TunnelDrop::PacketTooLarge), 1);

    // And the tunnel still works.
    pair.a_sends(&[Pair::a_to_b(b"fine")]);
    pair.deliver_all();
    assert_eq!(pair.b.tun.last().unwrap().1, Pair::a_to_b(b"fine"));
}

#[test]
fn routed_batches_go_to_the_longest_prefix_peer() {
    let mut pair = Pair::new();
    let (_, c_public) = keypair();
    // C owns a /24 inside B's /16.
    let c = pair
        .a
        .tunnels
        .add_peer(spec(
            "cluster-c",
            c_public,
            Some("192.0.2.3:4500"),
            "243.0.7.0/24",
        ))
        .unwrap();
    let b = pair.a.peer("cluster-b");
    assert_eq!(
        pair.a.tunnels.peer_for_destination(ip("243.0.7.9")),
        Some(c)
    );
    assert_eq!(
        pair.a.tunnels.peer_for_destination(ip("243.0.8.9")),
        Some(b)
    );
    assert_eq!(pair.a.tunnels.peer_for_destination(ip("242.0.0.1")), None);

    let to_c = ipv4_udp(ip("242.0.0.1"), ip("243.0.7.9"), b"c");
    let to_b = ipv4_udp(ip("242.0.0.1"), ip("243.0.8.9"), b"b");
    pair.a_sends(&[to_b.clone(), to_c.clone(), to_c, to_b]);
    // No sessions yet: one initiation each; the rest queue behind them.
    let destinations: Vec<_> = pair.wire.iter().map(|d| (d.to, d.kind())).collect();
    assert_eq!(
        destinations,
        vec![(addr(B_ADDR), 1), (addr("192.0.2.3:4500"), 1)]
    );
    assert_eq!(pair.a.tunnels.peer_info(b).unwrap().stats.queued_packets, 2);
    assert_eq!(pair.a.tunnels.peer_info(c).unwrap().stats.queued_packets, 2);
}

#[test]
fn peer_set_changes_keep_the_other_peers_sessions() {
    let mut pair = Pair::new();
    pair.connect();
    let b_id = pair.a.peer("cluster-b");
    let mut b_spec = spec("cluster-b", pair.b.public_key, Some(B_ADDR), B_BLOCK);
    let (_, c_public) = keypair();
    let c_spec = spec("cluster-c", c_public, None, "244.0.0.0/16");

    // Add C and widen B's CIDRs in one reload.
    b_spec.allowed_cidrs.push("10.10.0.0/16".parse().unwrap());
    let change = pair
        .a
        .tunnels
        .set_peers(vec![b_spec.clone(), c_spec.clone()])
        .unwrap();
    let c_id = pair.a.peer("cluster-c");
    assert_eq!(
        change,
        PeerSetChange {
            added: vec![c_id],
            removed: vec![],
            kept: vec![b_id],
        }
    );
    assert_eq!(
        pair.a.tunnels.peer_for_destination(ip("10.10.1.1")),
        Some(b_id)
    );

    // B's session survived: data flows with no new handshake, and B may now
    // use its new CIDR as a source.
    pair.b_sends(&[ipv4_udp(ip("10.10.1.1"), ip("242.0.0.10"), b"new cidr")]);
    pair.a_sends(&[Pair::a_to_b(b"still one handshake")]);
    pair.deliver_all();
    assert_eq!(pair.a.tun.len(), 1);
    assert_eq!(pair.b.tun.len(), 2);
    let b_info = pair.a.tunnels.peer_info(b_id).unwrap();
    assert_eq!(b_info.stats.handshakes_completed, 1);
    assert!(pair.a.sent.iter().filter(|d| d.is_initiation()).count() == 1);

    // Remove C; B still unaffected. Then B itself: its datagrams are unknown.
    let change = pair.a.tunnels.set_peers(vec![b_spec]).unwrap();
    assert_eq!(change.removed, vec![c_id]);
    pair.a.tunnels.remove_peer(b_id).unwrap();
    assert!(pair.a.tunnels.peers().is_empty());
    pair.b_sends(&[Pair::b_to_a(b"gone")]);
    pair.deliver_all();
    assert_eq!(pair.a.dropped(TunnelDrop::UnknownPeer), 1);
    assert_eq!(
        pair.a.tunnels.remove_peer(b_id),
        Err(TunnelError::UnknownPeer { id: b_id })
    );
}

#[test]
fn a_new_preshared_key_restarts_only_that_peers_handshake() {
    let psk = [9u8; 32];
    let mut pair = Pair::with(
        TunnelLimits::default(),
        |b| b.preshared_key = Some(psk),
        |a| a.preshared_key = Some(psk),
    );
    pair.connect();
    let b_id = pair.a.peer("cluster-b");
    // Both sides rotate the key: sessions restart, ids and counters stay.
    let rotated = [10u8; 32];
    let mut a_spec = spec("cluster-b", pair.b.public_key, Some(B_ADDR), B_BLOCK);
    a_spec.preshared_key = Some(rotated);
    let mut b_spec = spec("cluster-a", pair.a.public_key, Some(A_ADDR), A_BLOCK);
    b_spec.preshared_key = Some(rotated);
    assert_eq!(
        pair.a.tunnels.set_peers(vec![a_spec]).unwrap().kept,
        vec![b_id]
    );
    pair.b.tunnels.set_peers(vec![b_spec]).unwrap();

    pair.a_sends(&[Pair::a_to_b(b"after rotation")]);
    assert!(pair.wire[0].is_initiation());
    pair.deliver_all();
    assert_eq!(
        pair.b.tun.last().unwrap().1,
        Pair::a_to_b(b"after rotation")
    );
    let info = pair.a.tunnels.peer_info(b_id).unwrap();
    assert_eq!(info.stats.handshakes_completed, 2);
    assert_eq!(info.stats.rx_packets + info.stats.tx_packets, 2);
}

#[test]
fn mismatched_preshared_keys_never_connect() {
    let mut pair = Pair::with(
        TunnelLimits::default(),
        |b| b.preshared_key = Some([1; 32]),
        |a| a.preshared_key = Some([2; 32]),
    );
    pair.a_sends(&[Pair::a_to_b(b"x")]);
    pair.deliver_all();
    assert!(pair.b.tun.is_empty());
    assert_eq!(pair.a.dropped(TunnelDrop::HandshakeRejected), 1);
    let info = pair.a.tunnels.peer_info(pair.a.peer("cluster-b")).unwrap();
    assert_eq!(info.status, PeerStatus::Connecting);
    assert_eq!(info.stats.handshakes_completed, 0);
    // B answered, but A never confirmed the session: not complete there either.
    let at_b = pair.b.tunnels.peer_info(pair.b.peer("cluster-a")).unwrap();
    assert_eq!(at_b.stats.handshakes_completed, 0);
    // boringtun's responder sends on a session only once the initiator used it.
    assert_eq!(at_b.status, PeerStatus::Connecting);
}

#[test]
fn invalid_peer_sets_are_refused_and_change_nothing() {
    let (a_private, a_public) = keypair();
    let (_, b_public) = keypair();
    let (_, c_public) = keypair();
    let b = spec("b", b_public, None, B_BLOCK);
    let tunnels = Tunnels::new(a_private, TunnelLimits::default(), vec![b.clone()]).unwrap();
    let b_id = tunnels.peer_id("b").unwrap();

    let same_name = spec("b", c_public, None, "244.0.0.0/16");
    assert!(matches!(
        tunnels.set_peers(vec![b.clone(), same_name.clone()]),
        Err(TunnelError::DuplicateName { .. })
    ));
    assert!(matches!(
        tunnels.add_peer(same_name),
        Err(TunnelError::PeerExists { .. })
    ));
    assert!(matches!(
        tunnels.add_peer(spec("c", b_public, None, "244.0.0.0/16")),
        Err(TunnelError::DuplicatePublicKey { .. })
    ));
    assert!(matches!(
        tunnels.add_peer(spec("me", a_public, None, "244.0.0.0/16")),
        Err(TunnelError::OwnPublicKey { .. })
    ));
    let clash = tunnels.add_peer(spec("c", c_public, None, "243.0.9.9/16"));
    assert_eq!(
        clash,
        Err(TunnelError::DuplicateAllowedCidr {
            cidr: B_BLOCK.parse().unwrap(),
            first: "b".into(),
            second: "c".into(),
        })
    );
    assert!(clash.unwrap_err().to_string().contains("243.0.0.0/16"));

    let peers = tunnels.peers();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].id, b_id);
    assert_eq!(tunnels.peer_for_destination(ip("244.0.0.1")), None);
}
