//! From a validated [`Config`] to the inputs of natcore's IPAM and engine.

use crate::config::{Config, ExportTarget};
use natcore::engine::{Limits, Timeouts};
use natcore::ipam::{ExportKind, ExportSpec, GroupSpec, IpamSpec};
use natcore::EngineConfig;

/// The IPAM's desired state for this config.
pub fn ipam_spec(config: &Config) -> IpamSpec {
    let g = &config.globalnet;
    IpamSpec {
        block: g.global_cidr,
        local_cidrs: config.local.all_cidrs(),
        peer_blocks: config.remote_global_blocks(),
        cluster_egress_ips: g.cluster_egress_ips,
        groups: g
            .egress_groups
            .iter()
            .map(|grp| GroupSpec {
                name: grp.name.clone(),
                sources: grp.sources.clone(),
                ips: grp.ips,
            })
            .collect(),
        exports: g
            .exports
            .iter()
            .map(|e| ExportSpec {
                name: e.name.to_string(),
                kind: match &e.target {
                    ExportTarget::ClusterIp(ip) => ExportKind::ClusterIp(*ip),
                    ExportTarget::HeadlessPods(pods) => ExportKind::Headless(pods.clone()),
                },
            })
            .collect(),
    }
}

/// The NAT engine's settings for this config.
pub fn engine_config(config: &Config) -> EngineConfig {
    let nat = &config.nat;
    EngineConfig {
        local_cidrs: config.local_cidrs(),
        remote_global_blocks: config.remote_global_blocks(),
        routed_cidrs: config.routed_cidrs(),
        tunnel_mtu: config.tunnel_mtu(),
        icmp_source: config.icmp_source(),
        timeouts: Timeouts {
            tcp_established: nat.tcp_established_timeout,
            tcp_transitory: nat.tcp_transitory_timeout,
            udp: nat.udp_timeout,
            icmp: nat.icmp_timeout,
        },
        limits: Limits {
            max_flows: nat.max_flows,
            max_flows_per_source: nat.max_flows_per_source,
        },
    }
}
