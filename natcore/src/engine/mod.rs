//! The engine: one call per packet, in place. (Skeleton: the contract is fixed,
//! the bodies are being written.)
//!
//! Pipeline for a packet read from the TUN (`handle_outbound`):
//!   validate → classify → [passthrough for routed CIDRs] → flow lookup by the
//!   packet's 5-tuple → (new flow: SNAT egress, or un-DNAT reply of an ingress
//!   flow) → rewrite addresses/ports + incremental checksums → MSS clamp → MTU check.
//! For a decrypted packet from a peer (`handle_inbound`):
//!   validate → classify → flow lookup → (new flow: DNAT to an exported target;
//!   reply: un-SNAT to the pod) → rewrite → MSS clamp.

use crate::{AddressPlan, Counters, DropReason, StatsSnapshot};
use ipnet::Ipv4Net;
use std::sync::Arc;
use std::time::Instant;

pub use crate::nat::{Limits, Timeouts};

/// Everything the engine needs besides the address plan.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Local Pod and Service CIDRs: the only legitimate outbound sources.
    pub local_cidrs: Vec<Ipv4Net>,
    /// Peers' global blocks: outbound traffic to these is SNATed.
    pub remote_global_blocks: Vec<Ipv4Net>,
    /// CIDRs of peers without Globalnet: routed both ways untranslated.
    pub routed_cidrs: Vec<Ipv4Net>,
    /// Inner MTU of the tunnel (1500 − 80 = 1420 by default).
    pub tunnel_mtu: u16,
    pub timeouts: Timeouts,
    pub limits: Limits,
}

/// What to do with a packet that was not dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The buffer now holds the translated packet of this length: send it on.
    Forward { len: usize },
    /// The packet was dropped, and an ICMP reply of this length (e.g.
    /// fragmentation-needed) was written to the reply buffer: send it back
    /// where the packet came from.
    Reply { len: usize },
}

/// The double-NAT engine. Shared by worker threads (`&self` everywhere).
pub struct Engine {
    _config: EngineConfig,
    _plan: Arc<AddressPlan>,
}

impl Engine {
    pub fn new(config: EngineConfig, plan: Arc<AddressPlan>) -> Self {
        Engine {
            _config: config,
            _plan: plan,
        }
    }
    // Contract, to be implemented:
    // pub fn handle_outbound(&self, now: Instant, packet: &mut [u8], reply: &mut [u8], counters: &mut Counters) -> Result<Verdict, DropReason>;
    // pub fn handle_inbound(&self, now: Instant, packet: &mut [u8], reply: &mut [u8], counters: &mut Counters) -> Result<Verdict, DropReason>;
    // pub fn handle_timeout(&self, now: Instant, counters: &mut Counters);
    // pub fn poll_timeout(&self) -> Option<Instant>;
    // pub fn set_plan(&self, plan: Arc<AddressPlan>);
    // pub fn flush(&self, counters: &mut Counters);  // add per-worker counts into the shared totals
    // pub fn stats(&self) -> StatsSnapshot;
}

#[allow(dead_code)]
fn _contract_types(_: Instant, _: &mut Counters, _: StatsSnapshot, _: DropReason) {}
