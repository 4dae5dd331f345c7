//! Why natcore dropped a packet. Small and `Copy` so the hot path can return it
//! by value; [`DropReason::as_str`] is the Prometheus label value.

/// A packet natcore refused to translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than the headers it claims (or than 20 bytes).
    Truncated,
    /// IPv4 header fields inconsistent: version, IHL < 5, total length vs buffer.
    MalformedIp,
    /// IPv4 header checksum does not verify.
    BadIpChecksum,
    /// The L4 header is malformed (TCP data offset, UDP length, ICMP too short).
    MalformedL4,
    /// IPv6: the product is IPv4-only, like Globalnet.
    Ipv6,
    /// Neither TCP, UDP nor ICMP.
    UnsupportedProtocol,
    /// An ICMP type we neither translate nor forward (redirects, timestamps, ...).
    UnsupportedIcmp,
    /// A fragment we cannot attribute to a flow.
    Fragment,
    /// Outbound destination is not in any peer's global block or routed CIDR.
    NoRoute,
    /// Outbound source is not one of our local Pod/Service CIDRs.
    NotLocalSource,
    /// Inbound destination is in our global block but is not an exported
    /// service's ingress IP (and not a reply to one of our egress flows).
    NotExported,
    /// Inbound destination is not in our global block at all (e.g. a raw Pod IP).
    NotOurs,
    /// Inbound packet (or ICMP error) to an egress IP that matches no flow.
    NoFlow,
    /// The source has no egress IP (empty pool and no group).
    NoEgressIp,
    /// Every port of every candidate egress IP is taken for this destination.
    PortsExhausted,
    /// The flow table is full.
    FlowLimit,
    /// This source address already holds its maximum number of flows.
    SourceFlowLimit,
    /// DF set and larger than the tunnel MTU: answered with ICMP frag-needed.
    TooBig,
}

impl DropReason {
    /// Every reason, in label order; used to pre-register metric children.
    pub const ALL: [DropReason; 18] = [
        DropReason::Truncated,
        DropReason::MalformedIp,
        DropReason::BadIpChecksum,
        DropReason::MalformedL4,
        DropReason::Ipv6,
        DropReason::UnsupportedProtocol,
        DropReason::UnsupportedIcmp,
        DropReason::Fragment,
        DropReason::NoRoute,
        DropReason::NotLocalSource,
        DropReason::NotExported,
        DropReason::NotOurs,
        DropReason::NoFlow,
        DropReason::NoEgressIp,
        DropReason::PortsExhausted,
        DropReason::FlowLimit,
        DropReason::SourceFlowLimit,
        DropReason::TooBig,
    ];

    /// Stable snake_case label for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::MalformedIp => "malformed_ip",
            DropReason::BadIpChecksum => "bad_ip_checksum",
            DropReason::MalformedL4 => "malformed_l4",
            DropReason::Ipv6 => "ipv6",
            DropReason::UnsupportedProtocol => "unsupported_protocol",
            DropReason::UnsupportedIcmp => "unsupported_icmp",
            DropReason::Fragment => "fragment",
            DropReason::NoRoute => "no_route",
            DropReason::NotLocalSource => "not_local_source",
            DropReason::NotExported => "not_exported",
            DropReason::NotOurs => "not_ours",
            DropReason::NoFlow => "no_flow",
            DropReason::NoEgressIp => "no_egress_ip",
            DropReason::PortsExhausted => "ports_exhausted",
            DropReason::FlowLimit => "flow_limit",
            DropReason::SourceFlowLimit => "source_flow_limit",
            DropReason::TooBig => "too_big",
        }
    }

    /// Index into per-reason counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_labels_are_unique() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let mut labels: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), DropReason::ALL.len());
    }
}
