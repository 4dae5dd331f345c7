//! One NAT flow: three endpoints fixed at creation, plus the little mutable
//! state the fast path updates (last seen, TCP flags seen) held in atomics so
//! that any worker can update it through a shared reference.
//!
//! Both flow kinds have the same shape. Seen from this gateway a flow joins a
//! `local` endpoint (pod or service, inside the cluster), the `global`
//! endpoint that stands for it in the global address space, and a `remote`
//! endpoint (always a global address of a peer cluster, or an address of a
//! routed peer):
//!
//! ```text
//!             outbound: src local → global          (packet read from the TUN)
//!   local ───────────────────────────────────▶ remote
//!   local ◀─────────────────────────────────── remote
//!             inbound:  dst global → local          (packet from the tunnel)
//! ```
//!
//! An egress flow (SNAT) is started by a local pod: `local` is the pod's
//! ip:port, `global` the chosen egress ip:port. An ingress flow (DNAT) is
//! started by a remote peer: `global` is an exported service's global ip and
//! the port it was asked for, `local` the service's target and the same port.

use super::clock::Ticks;
use super::key::{Inside, Outside};
use super::timeouts::TimeoutMillis;
use crate::wire::{FiveTuple, Protocol};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

const TCP_FIN: u8 = 0x01;
const TCP_RST: u8 = 0x04;

/// An address and a port (or ICMP echo identifier).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl Endpoint {
    pub const fn new(addr: Ipv4Addr, port: u16) -> Self {
        Endpoint { addr, port }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.addr, self.port)
    }
}

/// Which side of the gateway a packet came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Direction {
    /// Read from the TUN: local pod or service towards a peer cluster.
    Outbound = 0,
    /// Decrypted from a peer: towards a local pod or service.
    Inbound = 1,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Outbound, Direction::Inbound];

    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// Who started the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FlowKind {
    /// Started by a local source: SNAT to a global egress address.
    Egress = 0,
    /// Started by a peer towards an exported service: DNAT to its target.
    Ingress = 1,
}

/// TCP connection state as far as the NAT needs it (RFC 5382 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// Packets seen one way only (e.g. a SYN waiting for its SYN-ACK): transitory.
    Opening,
    /// Packets seen both ways, no RST, not FIN both ways.
    Established,
    /// FIN seen in both directions, or a RST: transitory.
    Closing,
}

impl TcpState {
    pub const ALL: [TcpState; 3] = [TcpState::Opening, TcpState::Established, TcpState::Closing];

    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            TcpState::Opening => "opening",
            TcpState::Established => "established",
            TcpState::Closing => "closing",
        }
    }
}

/// Bits of [`Flow`]'s TCP tracking byte (also the byte saved in a flow record).
pub mod tcp_seen {
    /// Some segment went outbound.
    pub const OUTBOUND: u8 = 0x01;
    /// Some segment came inbound.
    pub const INBOUND: u8 = 0x02;
    /// A FIN went outbound.
    pub const FIN_OUTBOUND: u8 = 0x04;
    /// A FIN came inbound.
    pub const FIN_INBOUND: u8 = 0x08;
    /// A RST went either way.
    pub const RST: u8 = 0x10;
    /// Every defined bit.
    pub const MASK: u8 = 0x1f;
}

/// The state those bits amount to.
pub const fn tcp_state(seen: u8) -> TcpState {
    use tcp_seen::*;
    let fin_both = FIN_OUTBOUND | FIN_INBOUND;
    if seen & RST != 0 || seen & fin_both == fin_both {
        TcpState::Closing
    } else if seen & (OUTBOUND | INBOUND) == OUTBOUND | INBOUND {
        TcpState::Established
    } else {
        TcpState::Opening
    }
}

/// The bits a TCP segment with `flags` going `dir` contributes.
pub const fn tcp_seen_bits(dir: Direction, flags: u8) -> u8 {
    let (seen, fin) = match dir {
        Direction::Outbound => (tcp_seen::OUTBOUND, tcp_seen::FIN_OUTBOUND),
        Direction::Inbound => (tcp_seen::INBOUND, tcp_seen::FIN_INBOUND),
    };
    let mut bits = seen;
    if flags & TCP_FIN != 0 {
        bits |= fin;
    }
    if flags & TCP_RST != 0 {
        bits |= tcp_seen::RST;
    }
    bits
}

/// The 5-tuple of outbound packets of a flow joining `local` and `remote`.
/// An echo packet carries its identifier in both "ports".
pub fn inside_key(protocol: Protocol, local: Endpoint, remote: Endpoint) -> Inside {
    let remote_port = match protocol {
        Protocol::Icmp => local.port,
        _ => remote.port,
    };
    Inside(FiveTuple {
        protocol,
        src: local.addr,
        src_port: local.port,
        dst: remote.addr,
        dst_port: remote_port,
    })
}

/// The 5-tuple of inbound packets of a flow joining `remote` and `global`.
pub fn outside_key(protocol: Protocol, remote: Endpoint, global: Endpoint) -> Outside {
    let remote_port = match protocol {
        Protocol::Icmp => global.port,
        _ => remote.port,
    };
    Outside(FiveTuple {
        protocol,
        src: remote.addr,
        src_port: remote_port,
        dst: global.addr,
        dst_port: global.port,
    })
}

/// A flow entry, shared by both lookup maps and the sweep list.
#[derive(Debug)]
pub struct Flow {
    protocol: Protocol,
    kind: FlowKind,
    local: Endpoint,
    global: Endpoint,
    remote: Endpoint,
    /// Tick of the last packet seen either way.
    last_seen: AtomicU64,
    /// [`tcp_seen`] bits (TCP only).
    tcp: AtomicU8,
    /// Index of this flow in the registry's list; written under its lock only.
    slot: AtomicU32,
}

impl Flow {
    #[allow(clippy::too_many_arguments)] // a flow is exactly these fields
    pub(crate) fn new(
        protocol: Protocol,
        kind: FlowKind,
        local: Endpoint,
        global: Endpoint,
        remote: Endpoint,
        last_seen: Ticks,
        tcp_seen: u8,
    ) -> Self {
        // An ICMP echo flow has no remote "port": its identifier is the
        // local/global port on each side.
        let remote = match protocol {
            Protocol::Icmp => Endpoint::new(remote.addr, 0),
            _ => remote,
        };
        let tcp = if protocol == Protocol::Tcp {
            tcp_seen & tcp_seen::MASK
        } else {
            0
        };
        Flow {
            protocol,
            kind,
            local,
            global,
            remote,
            last_seen: AtomicU64::new(last_seen),
            tcp: AtomicU8::new(tcp),
            slot: AtomicU32::new(u32::MAX),
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
    pub fn kind(&self) -> FlowKind {
        self.kind
    }
    pub fn local(&self) -> Endpoint {
        self.local
    }
    pub fn global(&self) -> Endpoint {
        self.global
    }
    pub fn remote(&self) -> Endpoint {
        self.remote
    }

    /// The source this flow counts against for the per-source limit: whoever
    /// started it.
    pub fn originator(&self) -> Ipv4Addr {
        match self.kind {
            FlowKind::Egress => self.local.addr,
            FlowKind::Ingress => self.remote.addr,
        }
    }

    /// The 5-tuple of this flow's outbound packets before translation.
    pub fn inside_key(&self) -> Inside {
        inside_key(self.protocol, self.local, self.remote)
    }

    /// The 5-tuple of this flow's inbound packets before translation.
    pub fn outside_key(&self) -> Outside {
        outside_key(self.protocol, self.remote, self.global)
    }

    pub fn tcp_seen(&self) -> u8 {
        self.tcp.load(Relaxed)
    }

    pub fn tcp_state(&self) -> TcpState {
        tcp_state(self.tcp_seen())
    }

    pub(crate) fn last_seen(&self) -> Ticks {
        self.last_seen.load(Relaxed)
    }

    pub(crate) fn expires_at(&self, timeouts: &TimeoutMillis) -> Ticks {
        self.last_seen()
            .saturating_add(timeouts.for_flow(self.protocol, self.tcp_state()))
    }

    pub(crate) fn is_live(&self, now: Ticks, timeouts: &TimeoutMillis) -> bool {
        now < self.expires_at(timeouts)
    }

    /// Records a packet going `dir`. Returns true if it moved the flow into
    /// [`TcpState::Closing`] (its deadline shortened).
    ///
    /// Hot path: plain loads first, so a flow in steady state costs no atomic
    /// read-modify-write and its cache line is written at most once per ms.
    pub(crate) fn observe(&self, now: Ticks, dir: Direction, tcp_flags: u8) -> bool {
        let mut closed = false;
        if self.protocol == Protocol::Tcp {
            let add = tcp_seen_bits(dir, tcp_flags);
            let old = self.tcp.load(Relaxed);
            if old & add != add {
                let prev = self.tcp.fetch_or(add, Relaxed);
                closed = tcp_state(prev) != TcpState::Closing
                    && tcp_state(prev | add) == TcpState::Closing;
            }
        }
        if self.last_seen.load(Relaxed) < now {
            self.last_seen.store(now, Relaxed);
        }
        closed
    }

    pub(crate) fn slot(&self) -> usize {
        self.slot.load(Relaxed) as usize
    }

    pub(crate) fn set_slot(&self, slot: usize) {
        self.slot
            .store(u32::try_from(slot).unwrap_or(u32::MAX), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nat::timeouts::Timeouts;

    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;

    fn ep(a: [u8; 4], port: u16) -> Endpoint {
        Endpoint::new(Ipv4Addr::from(a), port)
    }

    fn tcp_flow() -> Flow {
        Flow::new(
            Protocol::Tcp,
            FlowKind::Egress,
            ep([10, 244, 1, 10], 40000),
            ep([242, 0, 0, 2], 40000),
            ep([243, 0, 0, 5], 8080),
            100,
            tcp_seen_bits(Direction::Outbound, SYN),
        )
    }

    #[test]
    fn keys_are_the_untranslated_tuples_of_each_direction() {
        let f = tcp_flow();
        assert_eq!(
            f.inside_key().0,
            FiveTuple {
                protocol: Protocol::Tcp,
                src: Ipv4Addr::new(10, 244, 1, 10),
                src_port: 40000,
                dst: Ipv4Addr::new(243, 0, 0, 5),
                dst_port: 8080,
            }
        );
        assert_eq!(
            f.outside_key().0,
            FiveTuple {
                protocol: Protocol::Tcp,
                src: Ipv4Addr::new(243, 0, 0, 5),
                src_port: 8080,
                dst: Ipv4Addr::new(242, 0, 0, 2),
                dst_port: 40000,
            }
        );
    }

    #[test]
    fn icmp_keys_use_the_identifier_of_their_side() {
        let f = Flow::new(
            Protocol::Icmp,
            FlowKind::Egress,
            ep([10, 244, 1, 10], 7),
            ep([242, 0, 0, 2], 9),
            ep([243, 0, 0, 5], 1234),
            0,
            0,
        );
        let i = f.inside_key().0;
        assert_eq!((i.src_port, i.dst_port), (7, 7));
        let o = f.outside_key().0;
        assert_eq!((o.src_port, o.dst_port), (9, 9));
        assert_eq!(f.remote().port, 0);
    }

    #[test]
    fn tcp_state_follows_rfc5382_phases() {
        let t = TimeoutMillis::new(&Timeouts::default());
        let f = tcp_flow();
        assert_eq!(f.tcp_state(), TcpState::Opening);
        assert_eq!(f.expires_at(&t), 100 + 240_000);
        assert!(!f.observe(200, Direction::Inbound, SYN | ACK));
        assert_eq!(f.tcp_state(), TcpState::Established);
        assert_eq!(f.expires_at(&t), 200 + 7_440_000);
        assert!(!f.observe(300, Direction::Outbound, TCP_FIN | ACK));
        assert_eq!(f.tcp_state(), TcpState::Established);
        assert!(f.observe(400, Direction::Inbound, TCP_FIN | ACK));
        assert_eq!(f.tcp_state(), TcpState::Closing);
        assert!(!f.observe(500, Direction::Outbound, ACK), "already closing");
        assert_eq!(f.expires_at(&t), 500 + 240_000);
    }

    #[test]
    fn rst_closes_and_last_seen_never_goes_back() {
        let f = tcp_flow();
        assert!(f.observe(50, Direction::Inbound, TCP_RST));
        assert_eq!(f.tcp_state(), TcpState::Closing);
        assert_eq!(
            f.last_seen(),
            100,
            "an older `now` does not move last_seen back"
        );
    }
}
