//! The NAT's decisions at the 5-tuple level: which rewrite a packet gets, or
//! why it is dropped. The byte-level glue in `packet.rs` applies them.

use super::Engine;
use crate::nat::clock::Ticks;
use crate::nat::{Endpoint, FlowView};
use crate::stats::Counters;
use crate::wire::{FiveTuple, Protocol};
use crate::DropReason;
use std::net::Ipv4Addr;

const TCP_RST: u8 = 0x04;

/// What to do with a flow packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Forward untranslated (routed CIDRs).
    Passthrough,
    /// Rewrite the source (outbound) or the destination (inbound) to this.
    Translate(Endpoint),
}

/// What to do with an ICMP error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorDecision {
    Passthrough,
    /// Translate by the flow the quoted packet belongs to.
    Translate(FlowView),
}

/// Whether a packet that matches no flow may start one. A RST answers
/// something we have no state for; an echo reply answers a request we never
/// saw: neither opens a mapping.
fn may_start_flow(protocol: Protocol, tcp_flags: u8, echo_request: bool) -> bool {
    match protocol {
        Protocol::Tcp => tcp_flags & TCP_RST == 0,
        Protocol::Udp => true,
        Protocol::Icmp => echo_request,
    }
}

impl Engine {
    /// A packet read from the TUN.
    pub(crate) fn decide_outbound(
        &self,
        now: Ticks,
        tuple: &FiveTuple,
        tcp_flags: u8,
        echo_request: bool,
        counters: &mut Counters,
    ) -> Result<Decision, DropReason> {
        if let Some(global) = self.table.lookup_outbound(now, tuple, tcp_flags) {
            return Ok(Decision::Translate(global));
        }
        if self.is_routed(tuple.dst) {
            return Ok(Decision::Passthrough);
        }
        if !self.is_remote_global(tuple.dst) {
            return Err(DropReason::NoRoute);
        }
        if !self.is_local(tuple.src) {
            return Err(DropReason::NotLocalSource);
        }
        if !may_start_flow(tuple.protocol, tcp_flags, echo_request) {
            return Err(DropReason::NoFlow);
        }
        let plan = self.plan.load();
        let candidates = plan.egress_ips_for(tuple.src);
        self.table
            .create_egress(now, tuple, tcp_flags, candidates, counters)
            .map(Decision::Translate)
    }

    /// A decrypted packet from a peer.
    pub(crate) fn decide_inbound(
        &self,
        now: Ticks,
        tuple: &FiveTuple,
        tcp_flags: u8,
        echo_request: bool,
        counters: &mut Counters,
    ) -> Result<Decision, DropReason> {
        if let Some(local) = self.table.lookup_inbound(now, tuple, tcp_flags) {
            return Ok(Decision::Translate(local));
        }
        if self.is_routed(tuple.src) && self.is_local(tuple.dst) {
            return Ok(Decision::Passthrough);
        }
        let plan = self.plan.load();
        if !plan.owns(tuple.dst) {
            return Err(DropReason::NotOurs);
        }
        match plan.ingress_target(tuple.dst) {
            Some(target) => {
                if !may_start_flow(tuple.protocol, tcp_flags, echo_request) {
                    return Err(DropReason::NoFlow);
                }
                self.table
                    .create_ingress(now, tuple, tcp_flags, target, counters)
                    .map(Decision::Translate)
            }
            None if plan.is_egress_ip(tuple.dst) => Err(DropReason::NoFlow),
            None => Err(DropReason::NotExported),
        }
    }

    /// An ICMP error read from the TUN: its quoted packet came in through
    /// the tunnel, so it is one of a flow's inbound packets after translation.
    pub(crate) fn decide_outbound_error(
        &self,
        now: Ticks,
        outer_dst: Ipv4Addr,
        inner: &FiveTuple,
    ) -> Result<ErrorDecision, DropReason> {
        if let Some(flow) = self.table.find_inside(now, &inner.reversed()) {
            return Ok(ErrorDecision::Translate(flow));
        }
        if self.is_routed(outer_dst) {
            return Ok(ErrorDecision::Passthrough);
        }
        Err(DropReason::NoFlow)
    }

    /// An ICMP error from a peer: its quoted packet is one of a flow's
    /// outbound packets after translation.
    pub(crate) fn decide_inbound_error(
        &self,
        now: Ticks,
        outer_src: Ipv4Addr,
        outer_dst: Ipv4Addr,
        inner: &FiveTuple,
    ) -> Result<ErrorDecision, DropReason> {
        if let Some(flow) = self.table.find_outside(now, &inner.reversed()) {
            return Ok(ErrorDecision::Translate(flow));
        }
        if self.is_routed(outer_src) && self.is_local(outer_dst) {
            return Ok(ErrorDecision::Passthrough);
        }
        Err(DropReason::NoFlow)
    }
}
