//! Why a spec or a saved state was refused.

use super::owner::Owner;
use super::state::StateError;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("global block {block} has host bits set (did you mean {suggested}?)")]
    BlockHostBits { block: Ipv4Net, suggested: Ipv4Net },
    #[error("global block {block} is not inside 240.0.0.0/4")]
    BlockNotGlobal { block: Ipv4Net },
    #[error(
        "global block {block} is too small: a /32 leaves no room for the gateway address (block + 1)"
    )]
    BlockTooSmall { block: Ipv4Net },
    #[error("global block {block} overlaps local pod/service CIDR {local}")]
    BlockOverlapsLocal { block: Ipv4Net, local: Ipv4Net },
    #[error("global block {block} overlaps peer global block {peer}")]
    BlockOverlapsPeer { block: Ipv4Net, peer: Ipv4Net },
    #[error("cluster egress pool size is {count}, allowed 0..=20")]
    ClusterEgressIpsOutOfRange { count: u8 },
    #[error("egress group {group}: ips is {count}, allowed 1..=20")]
    GroupIpsOutOfRange { group: String, count: u8 },
    #[error("egress group {group} has no sources")]
    GroupWithoutSources { group: String },
    #[error("egress group {group}: source {cidr} is not inside any local pod/service CIDR")]
    GroupSourceOutsideLocal { group: String, cidr: Ipv4Net },
    #[error("egress group name {name:?} is used more than once")]
    DuplicateGroup { name: String },
    #[error("export name {name:?} is used more than once")]
    DuplicateExport { name: String },
    #[error("exported service {service}: pod {pod} is listed more than once")]
    DuplicatePod { service: String, pod: Ipv4Addr },
    #[error(
        "exported service {service}: target {target} is not inside any local pod/service CIDR"
    )]
    ExportTargetOutsideLocal { service: String, target: Ipv4Addr },
    #[error("{what} name {name:?} is invalid: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("global block {block} is exhausted: {owner} needs {needed} more IP(s), {free} free")]
    Exhausted {
        block: Ipv4Net,
        owner: Owner,
        needed: u32,
        free: u32,
    },
    #[error("saved IPAM state is unreadable: {0}")]
    CorruptState(#[from] StateError),
}
