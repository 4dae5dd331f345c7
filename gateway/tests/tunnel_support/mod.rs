//! An in-process harness: two gateways (clusters A and B) whose `Tunnels`
//! talk through an in-memory "network" of datagrams with fake addresses. No
//! root, no sockets; deterministic given the same calls.
// Each test binary uses a different part of it; `pub` is for them, not an API.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};

use gateway::tunnel::{
    DatagramBatch, Inbound, PeerId, PeerSpec, TunnelDrop, TunnelDropCounts, TunnelLimits, Tunnels,
};
use rand_core::OsRng;
use x25519_dalek::{PublicKey, StaticSecret};

/// Cluster A's global block (its egress IPs are sources in it).
pub const A_BLOCK: &str = "242.0.0.0/16";
/// Cluster B's global block.
pub const B_BLOCK: &str = "243.0.0.0/16";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A fresh X25519 key pair: (private, public).
pub fn keypair() -> ([u8; 32], [u8; 32]) {
    let secret = StaticSecret::random_from_rng(OsRng);
    let public = PublicKey::from(&secret);
    (secret.to_bytes(), public.to_bytes())
}

/// A minimal valid IPv4/UDP packet (header checksum included).
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let sum: u32 = p[..20]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let folded = (folded & 0xffff) + (folded >> 16);
    p[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&7u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

/// A minimal IPv6 packet (header + payload), for the IPv4-only check.
pub fn ipv6(payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40 + payload.len()];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[40..].copy_from_slice(payload);
    p
}

/// A datagram on the fake network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

impl Datagram {
    /// WireGuard message type (1 init, 2 response, 3 cookie, 4 data).
    pub fn kind(&self) -> u8 {
        self.bytes[0]
    }

    pub fn is_initiation(&self) -> bool {
        self.kind() == 1
    }

    pub fn is_keepalive(&self) -> bool {
        self.kind() == 4 && self.bytes.len() == 32
    }
}

/// One gateway.
pub struct Side {
    pub tunnels: Tunnels,
    pub public_key: [u8; 32],
    /// The source address the network shows for our datagrams.
    pub source: SocketAddr,
    /// Datagrams to any of these reach us.
    pub addresses: Vec<SocketAddr>,
    /// Packets handed to the TUN, with the peer they came from.
    pub tun: Vec<(PeerId, Vec<u8>)>,
    /// Every inbound verdict, in order.
    pub inbound: Vec<Inbound>,
    /// Outbound and timer drops.
    pub drops: TunnelDropCounts,
    /// Every datagram we sent.
    pub sent: Vec<Datagram>,
    out: Vec<u8>,
    batch: DatagramBatch,
}

impl Side {
    pub fn new(
        private_key: [u8; 32],
        address: SocketAddr,
        limits: TunnelLimits,
        peers: Vec<PeerSpec>,
    ) -> Side {
        let tunnels = Tunnels::new(private_key, limits, peers).unwrap();
        let capacity = tunnels.datagram_capacity();
        Side {
            public_key: tunnels.public_key(),
            tunnels,
            source: address,
            addresses: vec![address],
            tun: Vec::new(),
            inbound: Vec::new(),
            drops: TunnelDropCounts::default(),
            sent: Vec::new(),
            out: vec![0; 65536],
            batch: DatagramBatch::new(512, capacity),
        }
    }

    fn drain(&mut self, wire: &mut VecDeque<Datagram>) {
        for (to, bytes) in self.batch.iter() {
            let d = Datagram {
                from: self.source,
                to,
                bytes: bytes.to_vec(),
            };
            self.sent.push(d.clone());
            wire.push_back(d);
        }
        self.batch.clear();
    }

    /// Routes and encrypts `packets` (as the TUN read path does).
    pub fn send(&mut self, wire: &mut VecDeque<Datagram>, packets: &[Vec<u8>]) -> usize {
        let n = self.tunnels.encapsulate_routed(
            packets.iter().map(Vec::as_slice),
            &mut self.batch,
            &mut self.drops,
        );
        self.drain(wire);
        n
    }

    /// Encrypts `packets` for one peer, bypassing the routing table.
    pub fn send_to_peer(
        &mut self,
        wire: &mut VecDeque<Datagram>,
        peer: PeerId,
        packets: &[Vec<u8>],
    ) -> usize {
        let n = self.tunnels.encapsulate_batch(
            peer,
            packets.iter().map(Vec::as_slice),
            &mut self.batch,
            &mut self.drops,
        );
        self.drain(wire);
        n
    }

    /// Hands one datagram to the tunnel layer (as the UDP read path does).
    pub fn receive(&mut self, wire: &mut VecDeque<Datagram>, d: &Datagram) -> Inbound {
        let verdict =
            self.tunnels
                .handle_datagram(d.from, &d.bytes, &mut self.out, &mut self.batch);
        if let Inbound::Packet { peer, len } = verdict {
            self.tun.push((peer, self.out[..len].to_vec()));
        }
        self.inbound.push(verdict);
        self.drain(wire);
        verdict
    }

    pub fn tick(&mut self, wire: &mut VecDeque<Datagram>) {
        self.tunnels.update_timers(&mut self.batch, &mut self.drops);
        self.drain(wire);
    }

    /// Inbound drops of `reason` so far.
    pub fn dropped(&self, reason: TunnelDrop) -> usize {
        self.inbound
            .iter()
            .filter(|v| **v == Inbound::Dropped(reason))
            .count()
    }

    /// The only peer's id.
    pub fn peer(&self, name: &str) -> PeerId {
        self.tunnels.peer_id(name).unwrap()
    }
}

/// Which side a datagram reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To {
    A,
    B,
    Nobody,
}

/// Clusters A and B and the network between them.
pub struct Pair {
    pub a: Side,
    pub b: Side,
    pub wire: VecDeque<Datagram>,
    /// Datagrams no side listens for, or that a filter dropped.
    pub lost: Vec<Datagram>,
}

pub const A_ADDR: &str = "192.0.2.1:4500";
pub const B_ADDR: &str = "192.0.2.2:4500";

/// A's view of B (name "cluster-b") and B's view of A ("cluster-a").
pub fn spec(name: &str, public_key: [u8; 32], endpoint: Option<&str>, block: &str) -> PeerSpec {
    PeerSpec {
        name: name.to_owned(),
        public_key,
        endpoint: endpoint.map(addr),
        allowed_cidrs: vec![block.parse().unwrap()],
        persistent_keepalive: None,
        preshared_key: None,
    }
}

impl Pair {
    /// A and B, each with the other as its only peer, endpoints configured.
    pub fn new() -> Pair {
        Pair::with(TunnelLimits::default(), |_| {}, |_| {})
    }

    /// Like `new`, after `edit_a` changes A's spec of B and `edit_b` B's spec
    /// of A.
    pub fn with(
        limits: TunnelLimits,
        edit_a: impl FnOnce(&mut PeerSpec),
        edit_b: impl FnOnce(&mut PeerSpec),
    ) -> Pair {
        let (a_private, a_public) = keypair();
        let (b_private, b_public) = keypair();
        let mut a_sees_b = spec("cluster-b", b_public, Some(B_ADDR), B_BLOCK);
        let mut b_sees_a = spec("cluster-a", a_public, Some(A_ADDR), A_BLOCK);
        edit_a(&mut a_sees_b);
        edit_b(&mut b_sees_a);
        Pair {
            a: Side::new(a_private, addr(A_ADDR), limits, vec![a_sees_b]),
            b: Side::new(b_private, addr(B_ADDR), limits, vec![b_sees_a]),
            wire: VecDeque::new(),
            lost: Vec::new(),
        }
    }

    /// Delivers the oldest datagram in flight, unless `drop` says to lose it.
    pub fn deliver_one(&mut self, drop: &mut impl FnMut(&Datagram) -> bool) -> Option<To> {
        let d = self.wire.pop_front()?;
        if drop(&d) {
            self.lost.push(d);
            return Some(To::Nobody);
        }
        Some(if self.a.addresses.contains(&d.to) {
            let _ = self.a.receive(&mut self.wire, &d);
            To::A
        } else if self.b.addresses.contains(&d.to) {
            let _ = self.b.receive(&mut self.wire, &d);
            To::B
        } else {
            self.lost.push(d);
            To::Nobody
        })
    }

    /// Delivers until nothing is in flight, losing what `drop` selects.
    pub fn deliver_all_except(&mut self, mut drop: impl FnMut(&Datagram) -> bool) {
        for _ in 0..100_000 {
            if self.deliver_one(&mut drop).is_none() {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    pub fn deliver_all(&mut self) {
        self.deliver_all_except(|_| false);
    }

    pub fn tick(&mut self) {
        self.a.tick(&mut self.wire);
        self.b.tick(&mut self.wire);
    }

    /// A sends `packets` (routed by destination).
    pub fn a_sends(&mut self, packets: &[Vec<u8>]) -> usize {
        self.a.send(&mut self.wire, packets)
    }

    /// B sends `packets` (routed by destination).
    pub fn b_sends(&mut self, packets: &[Vec<u8>]) -> usize {
        self.b.send(&mut self.wire, packets)
    }

    /// A packet from A's block to B's, and back.
    pub fn a_to_b(payload: &[u8]) -> Vec<u8> {
        ipv4_udp(ip("242.0.0.10"), ip("243.0.0.20"), payload)
    }

    pub fn b_to_a(payload: &[u8]) -> Vec<u8> {
        ipv4_udp(ip("243.0.0.20"), ip("242.0.0.10"), payload)
    }

    /// A's first packet triggers the handshake; it arrives once it completes.
    pub fn connect(&mut self) {
        let first = Pair::a_to_b(b"hello");
        self.a_sends(std::slice::from_ref(&first));
        self.deliver_all();
        assert_eq!(self.b.tun.last().map(|(_, p)| p), Some(&first), "handshake");
    }
}
