//! Byte-level glue: classify, decide, rewrite in place, clamp the MSS.
//! Nothing here allocates or reads a clock.

use super::decide::{Decision, ErrorDecision};
use super::{Engine, Verdict};
use crate::mss;
use crate::nat::clock::Ticks;
use crate::nat::Direction;
use crate::stats::Counters;
use crate::wire::{self, Classified, PacketKind, Protocol};
use crate::DropReason;
use std::time::Instant;

const TCP_SYN: u8 = 0x02;

/// The rewrites only refuse bytes that no longer match their
/// classification, which cannot happen between `classify` and the rewrite on
/// the same buffer; should it ever, the packet is dropped, never half-sent.
const REWRITE_REFUSED: DropReason = DropReason::MalformedIp;

impl Engine {
    /// Translates a packet read from the TUN (local pod or service → peer
    /// cluster) in place. `reply` receives an ICMP error when the verdict is
    /// [`Verdict::Reply`] (576 bytes always suffice). Every `Err` is counted
    /// in `counters.drops`.
    pub fn handle_outbound(
        &self,
        now: Instant,
        packet: &mut [u8],
        reply: &mut [u8],
        counters: &mut Counters,
    ) -> Result<Verdict, DropReason> {
        let now = self.table.ticks(now);
        let result = self.outbound(now, packet, reply, counters);
        if let Err(reason) = result {
            counters.drop(reason);
        }
        result
    }

    /// Translates a decrypted packet from a peer (the caller has checked
    /// that its source lies in that peer's allowed block) in place.
    ///
    /// `reply` is part of the contract for symmetry with
    /// [`Engine::handle_outbound`]; inbound packets already fit the tunnel
    /// MTU, so no inbound path writes a reply today.
    pub fn handle_inbound(
        &self,
        now: Instant,
        packet: &mut [u8],
        _reply: &mut [u8],
        counters: &mut Counters,
    ) -> Result<Verdict, DropReason> {
        let now = self.table.ticks(now);
        let result = self.inbound(now, packet, counters);
        if let Err(reason) = result {
            counters.drop(reason);
        }
        result
    }

    fn outbound(
        &self,
        now: Ticks,
        packet: &mut [u8],
        reply: &mut [u8],
        counters: &mut Counters,
    ) -> Result<Verdict, DropReason> {
        let c = wire::classify(packet)?;
        let dir = Direction::Outbound;
        match c.kind {
            PacketKind::Flow {
                tuple,
                tcp_flags,
                echo_request,
            } => {
                if c.dont_fragment
                    && c.total_len > usize::from(self.config.tunnel_mtu)
                    && self.would_forward_outbound(now, &tuple)
                {
                    // Before any flow exists or any byte changes: the error
                    // must quote the packet exactly as its sender sent it.
                    return self.frag_needed(packet, &c, reply, counters);
                }
                match self.decide_outbound(now, &tuple, tcp_flags, echo_request, counters)? {
                    Decision::Passthrough => counters.passthrough[dir.index()] += 1,
                    Decision::Translate(to) => {
                        if !wire::rewrite_src(packet, &c, to.addr, to.port) {
                            return Err(REWRITE_REFUSED);
                        }
                        counters.translated[dir.index()] += 1;
                        if c.more_fragments {
                            let datagram = (tuple.src, tuple.dst, tuple.protocol.number(), c.ip_id);
                            self.frags.remember(now, dir, datagram, to.addr);
                        }
                    }
                }
                self.clamp(packet, &c, tuple.protocol, tcp_flags, counters);
            }
            PacketKind::IcmpError {
                outer_dst, inner, ..
            } => {
                match self.decide_outbound_error(now, outer_dst, &inner)? {
                    ErrorDecision::Passthrough => counters.passthrough[dir.index()] += 1,
                    ErrorDecision::Translate(flow) => {
                        // The quoted packet went global → local; it now shows
                        // global again, and the error comes from the global ip.
                        let global = flow.global;
                        let inner_dst = Some((global.addr, global.port));
                        if !wire::rewrite_icmp_error(
                            packet,
                            &c,
                            Some(global.addr),
                            None,
                            None,
                            inner_dst,
                        ) {
                            return Err(REWRITE_REFUSED);
                        }
                        counters.translated[dir.index()] += 1;
                        counters.icmp_errors_translated += 1;
                    }
                }
            }
            PacketKind::Fragment {
                protocol,
                src,
                dst,
                id,
            } => match self.frags.lookup(now, dir, (src, dst, protocol, id)) {
                Some(addr) => {
                    if !wire::rewrite_src(packet, &c, addr, 0) {
                        return Err(REWRITE_REFUSED);
                    }
                    counters.translated[dir.index()] += 1;
                    counters.fragments_translated += 1;
                }
                None if self.is_routed(dst) => counters.passthrough[dir.index()] += 1,
                None => return Err(DropReason::Fragment),
            },
        }
        Ok(Verdict::Forward { len: c.total_len })
    }

    fn inbound(
        &self,
        now: Ticks,
        packet: &mut [u8],
        counters: &mut Counters,
    ) -> Result<Verdict, DropReason> {
        let c = wire::classify(packet)?;
        let dir = Direction::Inbound;
        match c.kind {
            PacketKind::Flow {
                tuple,
                tcp_flags,
                echo_request,
            } => {
                match self.decide_inbound(now, &tuple, tcp_flags, echo_request, counters)? {
                    Decision::Passthrough => counters.passthrough[dir.index()] += 1,
                    Decision::Translate(to) => {
                        if !wire::rewrite_dst(packet, &c, to.addr, to.port) {
                            return Err(REWRITE_REFUSED);
                        }
                        counters.translated[dir.index()] += 1;
                        if c.more_fragments {
                            let datagram = (tuple.src, tuple.dst, tuple.protocol.number(), c.ip_id);
                            self.frags.remember(now, dir, datagram, to.addr);
                        }
                    }
                }
                self.clamp(packet, &c, tuple.protocol, tcp_flags, counters);
            }
            PacketKind::IcmpError {
                outer_src,
                outer_dst,
                inner,
                ..
            } => {
                match self.decide_inbound_error(now, outer_src, outer_dst, &inner)? {
                    ErrorDecision::Passthrough => counters.passthrough[dir.index()] += 1,
                    ErrorDecision::Translate(flow) => {
                        // The quoted packet went local → global; restore its
                        // local source and send the error to the local end.
                        let local = flow.local;
                        let inner_src = Some((local.addr, local.port));
                        if !wire::rewrite_icmp_error(
                            packet,
                            &c,
                            None,
                            Some(local.addr),
                            inner_src,
                            None,
                        ) {
                            return Err(REWRITE_REFUSED);
                        }
                        counters.translated[dir.index()] += 1;
                        counters.icmp_errors_translated += 1;
                    }
                }
            }
            PacketKind::Fragment {
                protocol,
                src,
                dst,
                id,
            } => match self.frags.lookup(now, dir, (src, dst, protocol, id)) {
                Some(addr) => {
                    if !wire::rewrite_dst(packet, &c, addr, 0) {
                        return Err(REWRITE_REFUSED);
                    }
                    counters.translated[dir.index()] += 1;
                    counters.fragments_translated += 1;
                }
                None if self.is_routed(src) && self.is_local(dst) => {
                    counters.passthrough[dir.index()] += 1
                }
                None => return Err(DropReason::Fragment),
            },
        }
        Ok(Verdict::Forward { len: c.total_len })
    }

    /// Whether an outbound flow packet would leave through the tunnel (as
    /// opposed to being dropped), without creating or touching any flow.
    fn would_forward_outbound(&self, now: Ticks, tuple: &crate::wire::FiveTuple) -> bool {
        self.table.find_inside(now, tuple).is_some()
            || self.is_routed(tuple.dst)
            || (self.is_remote_global(tuple.dst) && self.is_local(tuple.src))
    }

    /// Answers an oversized DF packet with ICMP "fragmentation needed"
    /// (RFC 1191) carrying the tunnel MTU. The packet itself is dropped and
    /// counted under `too_big` either way.
    fn frag_needed(
        &self,
        packet: &[u8],
        c: &Classified,
        reply: &mut [u8],
        counters: &mut Counters,
    ) -> Result<Verdict, DropReason> {
        let original = packet.get(..c.total_len).ok_or(DropReason::Truncated)?;
        let built = mss::build_frag_needed(
            original,
            self.config.tunnel_mtu,
            self.config.icmp_source,
            reply,
        );
        let len = built.ok_or(DropReason::TooBig)?;
        counters.drop(DropReason::TooBig);
        counters.frag_needed_sent += 1;
        Ok(Verdict::Reply { len })
    }

    /// RFC 9293 MSS clamping on every SYN and SYN-ACK we forward, both ways:
    /// the peer's advertised MSS must fit the tunnel's inner MTU.
    fn clamp(
        &self,
        packet: &mut [u8],
        c: &Classified,
        protocol: Protocol,
        tcp_flags: u8,
        counters: &mut Counters,
    ) {
        if protocol == Protocol::Tcp
            && tcp_flags & TCP_SYN != 0
            && mss::clamp_mss(packet, c, mss::mss_for_mtu(self.config.tunnel_mtu))
        {
            counters.mss_clamped += 1;
        }
    }
}
