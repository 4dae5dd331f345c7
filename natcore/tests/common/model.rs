//! A slow, obviously-correct reference model of the NAT (wireguard-go's
//! `allowedips_rand_test.go` style): a `Vec` of flows searched linearly,
//! expired flows filtered out on every step, the port search written out as
//! a plain loop. It shares nothing with the engine but the address plan and
//! the egress-IP hash (a policy, not a mechanism).

use ipnet::Ipv4Net;
use natcore::nat::ports::egress_ip_start;
use natcore::wire::{FiveTuple, Protocol};
use natcore::{AddressPlan, DropReason};
use std::net::Ipv4Addr;

pub const SYN: u8 = 0x02;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Egress,
    Ingress,
}

#[derive(Clone, Debug)]
pub struct ModelFlow {
    pub protocol: Protocol,
    pub kind: Kind,
    pub local: (Ipv4Addr, u16),
    pub global: (Ipv4Addr, u16),
    pub remote: (Ipv4Addr, u16),
    pub last_seen_ms: u64,
    pub out_seen: bool,
    pub in_seen: bool,
    pub fin_out: bool,
    pub fin_in: bool,
    pub rst: bool,
}

impl ModelFlow {
    /// The tuple its outbound packets carry before translation.
    fn inside(&self) -> FiveTuple {
        let remote_port = if self.protocol == Protocol::Icmp {
            self.local.1
        } else {
            self.remote.1
        };
        FiveTuple {
            protocol: self.protocol,
            src: self.local.0,
            src_port: self.local.1,
            dst: self.remote.0,
            dst_port: remote_port,
        }
    }

    /// The tuple its inbound packets carry before translation.
    fn outside(&self) -> FiveTuple {
        let remote_port = if self.protocol == Protocol::Icmp {
            self.global.1
        } else {
            self.remote.1
        };
        FiveTuple {
            protocol: self.protocol,
            src: self.remote.0,
            src_port: remote_port,
            dst: self.global.0,
            dst_port: self.global.1,
        }
    }

    fn originator(&self) -> Ipv4Addr {
        match self.kind {
            Kind::Egress => self.local.0,
            Kind::Ingress => self.remote.0,
        }
    }

    pub fn is_tcp_established(&self) -> bool {
        self.out_seen && self.in_seen && !self.rst && !(self.fin_out && self.fin_in)
    }

    fn timeout_ms(&self, t: &ModelTimeouts) -> u64 {
        match self.protocol {
            Protocol::Udp => t.udp,
            Protocol::Icmp => t.icmp,
            Protocol::Tcp if self.is_tcp_established() => t.tcp_established,
            Protocol::Tcp => t.tcp_transitory,
        }
    }

    fn see(&mut self, now: u64, outbound: bool, flags: u8) {
        self.last_seen_ms = self.last_seen_ms.max(now);
        if self.protocol != Protocol::Tcp {
            return;
        }
        if outbound {
            self.out_seen = true;
            self.fin_out |= flags & FIN != 0;
        } else {
            self.in_seen = true;
            self.fin_in |= flags & FIN != 0;
        }
        self.rst |= flags & RST != 0;
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ModelTimeouts {
    pub tcp_established: u64,
    pub tcp_transitory: u64,
    pub udp: u64,
    pub icmp: u64,
}

/// What the model expects of a flow packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Passthrough,
    /// The tuple the packet must leave with.
    Translated(FiveTuple),
}

/// What the model expects of an ICMP error: outer (src, dst) and inner tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectError {
    Passthrough,
    Translated {
        outer: (Ipv4Addr, Ipv4Addr),
        inner: FiveTuple,
    },
}

pub struct Model {
    pub local: Vec<Ipv4Net>,
    pub remote_blocks: Vec<Ipv4Net>,
    pub routed: Vec<Ipv4Net>,
    pub plan: AddressPlan,
    pub timeouts: ModelTimeouts,
    pub max_flows: usize,
    pub max_per_source: usize,
    pub flows: Vec<ModelFlow>,
}

fn within(nets: &[Ipv4Net], ip: Ipv4Addr) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

fn may_start(protocol: Protocol, flags: u8, echo_request: bool) -> bool {
    match protocol {
        Protocol::Tcp => flags & RST == 0,
        Protocol::Udp => true,
        Protocol::Icmp => echo_request,
    }
}

impl Model {
    /// Forgets every flow idle for its whole timeout.
    pub fn expire(&mut self, now: u64) {
        let t = self.timeouts;
        self.flows
            .retain(|f| now < f.last_seen_ms + f.timeout_ms(&t));
    }

    fn room_for(&self, source: Ipv4Addr) -> Result<(), DropReason> {
        if self.flows.len() >= self.max_flows {
            return Err(DropReason::FlowLimit);
        }
        if self
            .flows
            .iter()
            .filter(|f| f.originator() == source)
            .count()
            >= self.max_per_source
        {
            return Err(DropReason::SourceFlowLimit);
        }
        Ok(())
    }

    pub fn outbound(
        &mut self,
        now: u64,
        t: FiveTuple,
        flags: u8,
        echo_request: bool,
    ) -> Result<Expect, DropReason> {
        self.expire(now);
        if let Some(f) = self.flows.iter_mut().find(|f| f.inside() == t) {
            f.see(now, true, flags);
            let (src, src_port) = f.global;
            return Ok(Expect::Translated(FiveTuple {
                src,
                src_port,
                dst_port: icmp_id(t, src_port),
                ..t
            }));
        }
        if within(&self.routed, t.dst) {
            return Ok(Expect::Passthrough);
        }
        if !within(&self.remote_blocks, t.dst) {
            return Err(DropReason::NoRoute);
        }
        if !within(&self.local, t.src) {
            return Err(DropReason::NotLocalSource);
        }
        if !may_start(t.protocol, flags, echo_request) {
            return Err(DropReason::NoFlow);
        }
        let candidates = self.plan.egress_ips_for(t.src).to_vec();
        if candidates.is_empty() {
            return Err(DropReason::NoEgressIp);
        }
        self.room_for(t.src)?;
        let first = egress_ip_start(t.src, candidates.len());
        for i in 0..candidates.len() {
            let ip = candidates[(first + i) % candidates.len()];
            // The port classes: echo identifiers any; < 1024 stay < 1024 (not 0).
            let (lo, hi): (u32, u32) = match t.protocol {
                Protocol::Icmp => (0, 65535),
                _ if t.src_port >= 1024 => (1024, 65535),
                _ => (1, 1023),
            };
            let start = if (lo..=hi).contains(&u32::from(t.src_port)) {
                u32::from(t.src_port)
            } else {
                lo
            };
            let mut port = start;
            loop {
                let candidate = ModelFlow {
                    protocol: t.protocol,
                    kind: Kind::Egress,
                    local: (t.src, t.src_port),
                    global: (ip, port as u16),
                    remote: (
                        t.dst,
                        if t.protocol == Protocol::Icmp {
                            0
                        } else {
                            t.dst_port
                        },
                    ),
                    last_seen_ms: now,
                    out_seen: false,
                    in_seen: false,
                    fin_out: false,
                    fin_in: false,
                    rst: false,
                };
                if !self
                    .flows
                    .iter()
                    .any(|f| f.outside() == candidate.outside())
                {
                    let mut flow = candidate;
                    flow.see(now, true, flags);
                    self.flows.push(flow);
                    let src_port = port as u16;
                    return Ok(Expect::Translated(FiveTuple {
                        src: ip,
                        src_port,
                        dst_port: icmp_id(t, src_port),
                        ..t
                    }));
                }
                port = if port == hi { lo } else { port + 1 };
                if port == start {
                    break;
                }
            }
        }
        Err(DropReason::PortsExhausted)
    }

    pub fn inbound(
        &mut self,
        now: u64,
        t: FiveTuple,
        flags: u8,
        echo_request: bool,
    ) -> Result<Expect, DropReason> {
        self.expire(now);
        if let Some(f) = self.flows.iter_mut().find(|f| f.outside() == t) {
            f.see(now, false, flags);
            let (dst, dst_port) = f.local;
            let src_port = if t.protocol == Protocol::Icmp {
                dst_port
            } else {
                t.src_port
            };
            return Ok(Expect::Translated(FiveTuple {
                dst,
                dst_port,
                src_port,
                ..t
            }));
        }
        if within(&self.routed, t.src) && within(&self.local, t.dst) {
            return Ok(Expect::Passthrough);
        }
        if !self.plan.owns(t.dst) {
            return Err(DropReason::NotOurs);
        }
        let Some(target) = self.plan.ingress_target(t.dst) else {
            return Err(if self.plan.is_egress_ip(t.dst) {
                DropReason::NoFlow
            } else {
                DropReason::NotExported
            });
        };
        if !may_start(t.protocol, flags, echo_request) {
            return Err(DropReason::NoFlow);
        }
        self.room_for(t.src)?;
        let mut flow = ModelFlow {
            protocol: t.protocol,
            kind: Kind::Ingress,
            local: (target, t.dst_port),
            global: (t.dst, t.dst_port),
            remote: (
                t.src,
                if t.protocol == Protocol::Icmp {
                    0
                } else {
                    t.src_port
                },
            ),
            last_seen_ms: now,
            out_seen: false,
            in_seen: false,
            fin_out: false,
            fin_in: false,
            rst: false,
        };
        if self.flows.iter().any(|f| f.inside() == flow.inside()) {
            return Err(DropReason::PortsExhausted);
        }
        flow.see(now, false, flags);
        self.flows.push(flow);
        Ok(Expect::Translated(FiveTuple { dst: target, ..t }))
    }

    /// An ICMP error read from the TUN, quoting `inner` (a packet that came
    /// in through the tunnel and was delivered).
    pub fn outbound_error(
        &mut self,
        now: u64,
        outer: (Ipv4Addr, Ipv4Addr),
        inner: FiveTuple,
    ) -> Result<ExpectError, DropReason> {
        self.expire(now);
        if let Some(f) = self.flows.iter().find(|f| f.inside() == inner.reversed()) {
            let (g, gp) = f.global;
            let src_port = if inner.protocol == Protocol::Icmp {
                gp
            } else {
                inner.src_port
            };
            return Ok(ExpectError::Translated {
                outer: (g, outer.1),
                inner: FiveTuple {
                    dst: g,
                    dst_port: gp,
                    src_port,
                    ..inner
                },
            });
        }
        if within(&self.routed, outer.1) {
            return Ok(ExpectError::Passthrough);
        }
        Err(DropReason::NoFlow)
    }

    /// An ICMP error from a peer, quoting `inner` (a packet we sent).
    pub fn inbound_error(
        &mut self,
        now: u64,
        outer: (Ipv4Addr, Ipv4Addr),
        inner: FiveTuple,
    ) -> Result<ExpectError, DropReason> {
        self.expire(now);
        if let Some(f) = self.flows.iter().find(|f| f.outside() == inner.reversed()) {
            let (l, lp) = f.local;
            let dst_port = if inner.protocol == Protocol::Icmp {
                lp
            } else {
                inner.dst_port
            };
            return Ok(ExpectError::Translated {
                outer: (outer.0, l),
                inner: FiveTuple {
                    src: l,
                    src_port: lp,
                    dst_port,
                    ..inner
                },
            });
        }
        if within(&self.routed, outer.0) && within(&self.local, outer.1) {
            return Ok(ExpectError::Passthrough);
        }
        Err(DropReason::NoFlow)
    }

    pub fn live_by_protocol(&self) -> [u64; 3] {
        let count = |p| self.flows.iter().filter(|f| f.protocol == p).count() as u64;
        [
            count(Protocol::Icmp),
            count(Protocol::Tcp),
            count(Protocol::Udp),
        ]
    }
}

/// For an echo packet both "ports" are the identifier.
fn icmp_id(t: FiveTuple, translated: u16) -> u16 {
    if t.protocol == Protocol::Icmp {
        translated
    } else {
        t.dst_port
    }
}
