//! Idle timeouts and table limits.
//!
//! A flow lives while packets keep arriving: it expires `timeout` after the
//! last packet seen in either direction, where `timeout` depends on the
//! protocol and, for TCP, on the connection's state.

use super::flow::TcpState;
use crate::wire::Protocol;
use std::time::Duration;

/// Flow idle timeouts. The defaults are the minimums the BEHAVE RFCs require
/// of a NAT (or their recommended values where one is given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// RFC 5382 REQ-5: an established TCP connection's idle timeout MUST NOT
    /// be less than 2 h 4 min (the 2-hour keep-alive interval plus 4 minutes).
    pub tcp_established: Duration,
    /// RFC 5382 REQ-5: partially open or closing connections (SYN seen one
    /// way only, FIN seen both ways, RST) may expire after 4 minutes (2 MSL).
    pub tcp_transitory: Duration,
    /// RFC 4787 REQ-5: a UDP mapping MUST NOT expire in less than 2 minutes;
    /// 5 minutes is RECOMMENDED.
    pub udp: Duration,
    /// RFC 5508 REQ-1: an ICMP query (echo) mapping MUST NOT expire in less
    /// than 60 seconds.
    pub icmp: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_established: Duration::from_secs(2 * 3600 + 4 * 60),
            tcp_transitory: Duration::from_secs(4 * 60),
            udp: Duration::from_secs(5 * 60),
            icmp: Duration::from_secs(60),
        }
    }
}

/// Table limits: the memory bound and the fairness bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Live flows in the whole table (drop reason `FlowLimit` beyond).
    pub max_flows: usize,
    /// Live flows originated by one source address: the local pod for egress
    /// flows, the remote global address for ingress flows (`SourceFlowLimit`).
    pub max_flows_per_source: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 1 << 20,
            max_flows_per_source: 1 << 14,
        }
    }
}

/// [`Timeouts`] in the table's millisecond ticks, looked up per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeoutMillis {
    tcp_established: u64,
    tcp_transitory: u64,
    udp: u64,
    icmp: u64,
}

impl TimeoutMillis {
    /// Longest timeout accepted: keeps tick arithmetic far from overflow.
    const MAX: u64 = 365 * 24 * 3600 * 1000; // one year in ms

    pub(crate) fn new(t: &Timeouts) -> Self {
        let ms = |d: Duration| {
            u64::try_from(d.as_millis())
                .unwrap_or(u64::MAX)
                .min(Self::MAX)
        };
        TimeoutMillis {
            tcp_established: ms(t.tcp_established),
            tcp_transitory: ms(t.tcp_transitory),
            udp: ms(t.udp),
            icmp: ms(t.icmp),
        }
    }

    pub(crate) fn for_flow(&self, protocol: Protocol, tcp: TcpState) -> u64 {
        match protocol {
            Protocol::Udp => self.udp,
            Protocol::Icmp => self.icmp,
            Protocol::Tcp => match tcp {
                TcpState::Established => self.tcp_established,
                TcpState::Opening | TcpState::Closing => self.tcp_transitory,
            },
        }
    }
}
