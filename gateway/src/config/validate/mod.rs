//! Raw YAML values → typed [`Config`], checking every rule of the schema and
//! collecting all errors (each under its field path) before giving up.

mod globalnet;
mod overlaps;
mod peers;
mod values;

use self::values::{
    cidr_list, dns_label, int_in_range, interface_name, non_empty_path, positive_duration,
};
use super::defaults;
use super::error::{Errors, FieldError};
use super::model::{Config, HealthConfig, LocalConfig, NatConfig, TunnelConfig};
use super::mtu;
use super::raw::{RawConfig, RawHealth, RawLocal, RawNat, RawTunnel};
use ipnet::Ipv4Net;
use std::net::SocketAddr;

/// A CIDR with the field path it came from, for overlap and containment checks.
#[derive(Debug, Clone)]
struct Block {
    path: String,
    cidr: Ipv4Net,
    /// Index of the peer this block belongs to; `None` for our own blocks.
    peer: Option<usize>,
}

/// Flow-table size ceiling: at about 70 B per entry, 2^30 flows is ~75 GB.
const MAX_FLOWS_LIMIT: i64 = 1 << 30;
const MAX_FAILURES_BEFORE_ERROR: i64 = 1000;

pub(super) fn validate(raw: &RawConfig) -> Result<Config, Vec<FieldError>> {
    let mut errors = Errors::default();

    dns_label(&mut errors, "cluster_id", &raw.cluster_id);
    let private_key_file = non_empty_path(&mut errors, "private_key_file", &raw.private_key_file);
    let listen_port = match raw.listen_port {
        None => defaults::LISTEN_PORT,
        Some(port) => int_in_range(&mut errors, "listen_port", port, 1, i64::from(u16::MAX))
            .unwrap_or(defaults::LISTEN_PORT),
    };
    let state_dir = non_empty_path(
        &mut errors,
        "state_dir",
        raw.state_dir.as_deref().unwrap_or(defaults::STATE_DIR),
    );
    let admin_socket = non_empty_path(
        &mut errors,
        "admin_socket",
        raw.admin_socket
            .as_deref()
            .unwrap_or(defaults::ADMIN_SOCKET),
    );
    let metrics_address = metrics_address(&mut errors, raw.metrics_address.as_deref());
    let tunnel = tunnel(&mut errors, &raw.tunnel);
    // Where `wg` looks for a userspace implementation's socket.
    let uapi_socket = match raw.uapi_socket.as_deref() {
        None => Some(std::path::PathBuf::from(format!(
            "/var/run/wireguard/{}.sock",
            tunnel.name
        ))),
        Some("") => None,
        Some(path) => Some(std::path::PathBuf::from(path)),
    };
    let (local, local_blocks) = local(&mut errors, &raw.local);
    let globalnet = globalnet::validate(&mut errors, &raw.globalnet, &local_blocks);
    let nat = nat(&mut errors, &raw.nat);
    let health = health(&mut errors, &raw.health);
    let (peers, peer_blocks) = peers::validate(&mut errors, &raw.peers, &raw.cluster_id);

    let global_block = globalnet.as_ref().map(|g| Block {
        path: "globalnet.global_cidr".to_string(),
        cidr: g.global_cidr,
        peer: None,
    });
    overlaps::check(
        &mut errors,
        global_block.as_ref(),
        &local_blocks,
        &peer_blocks,
    );

    match globalnet {
        Some(globalnet) if errors.is_empty() => Ok(Config {
            cluster_id: raw.cluster_id.clone(),
            private_key_file,
            listen_port,
            state_dir,
            admin_socket,
            metrics_address,
            uapi_socket,
            tunnel,
            local,
            globalnet,
            nat,
            health,
            peers,
        }),
        _ => Err(errors.into_vec()),
    }
}

fn metrics_address(errors: &mut Errors, text: Option<&str>) -> Option<SocketAddr> {
    match text {
        None => Some(defaults::METRICS_ADDRESS),
        Some("") => None,
        Some(text) => match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                errors.add(
                    "metrics_address",
                    format!("{text:?} is not an address like 0.0.0.0:9898 (use \"\" to disable)"),
                );
                None
            }
        },
    }
}

fn tunnel(errors: &mut Errors, raw: &RawTunnel) -> TunnelConfig {
    let name = raw.name.as_deref().unwrap_or(defaults::TUNNEL_NAME);
    interface_name(errors, "tunnel.name", name);
    let underlay_mtu = match raw.underlay_mtu {
        None => Some(mtu::DEFAULT_UNDERLAY_MTU),
        Some(value) => {
            let (min, max) = (mtu::MIN_UNDERLAY_MTU, mtu::MAX_MTU);
            let checked = u16::try_from(value).ok().filter(|v| *v >= min);
            if checked.is_none() {
                errors.add(
                    "tunnel.underlay_mtu",
                    format!(
                        "{value} is out of range {min}..={max} ({min} = the smallest tunnel MTU \
                         {} + IPv4 {} + UDP {} + WireGuard {})",
                        mtu::MIN_TUNNEL_MTU,
                        mtu::IPV4_HEADER,
                        mtu::UDP_HEADER,
                        mtu::WIREGUARD_OVERHEAD
                    ),
                );
            }
            checked
        }
    };
    let mtu = match (raw.mtu, underlay_mtu) {
        (Some(value), underlay) => {
            let mtu: Option<u16> = int_in_range(
                errors,
                "tunnel.mtu",
                value,
                i64::from(mtu::MIN_TUNNEL_MTU),
                i64::from(mtu::MAX_MTU),
            );
            if let (Some(mtu), Some(underlay)) = (mtu, underlay) {
                let max = mtu::max_tunnel_mtu(underlay);
                if mtu > max {
                    errors.add(
                        "tunnel.mtu",
                        format!(
                            "{mtu} is larger than underlay_mtu − {} = {max}: an encrypted packet \
                             (IPv4 {} + UDP {} + WireGuard {} bytes of overhead) would not fit \
                             the underlay",
                            mtu::MIN_TUNNEL_OVERHEAD,
                            mtu::IPV4_HEADER,
                            mtu::UDP_HEADER,
                            mtu::WIREGUARD_OVERHEAD
                        ),
                    );
                }
            }
            mtu
        }
        (None, Some(underlay)) => {
            let mtu = mtu::default_tunnel_mtu(underlay);
            if mtu < mtu::MIN_TUNNEL_MTU {
                errors.add(
                    "tunnel.mtu",
                    format!(
                        "not set, and its default underlay_mtu − {} = {mtu} is below {}; set it \
                         explicitly (at most underlay_mtu − {} = {})",
                        mtu::DEFAULT_TUNNEL_OVERHEAD,
                        mtu::MIN_TUNNEL_MTU,
                        mtu::MIN_TUNNEL_OVERHEAD,
                        mtu::max_tunnel_mtu(underlay)
                    ),
                );
            }
            Some(mtu)
        }
        (None, None) => None,
    };
    let underlay_mtu = underlay_mtu.unwrap_or(mtu::DEFAULT_UNDERLAY_MTU);
    TunnelConfig {
        name: name.to_string(),
        underlay_mtu,
        mtu: mtu.unwrap_or_else(|| mtu::default_tunnel_mtu(underlay_mtu)),
    }
}

fn local(errors: &mut Errors, raw: &RawLocal) -> (LocalConfig, Vec<Block>) {
    if raw.pod_cidrs.is_empty() {
        errors.add("local.pod_cidrs", "at least one Pod CIDR is required");
    }
    let pods = cidr_list(errors, "local.pod_cidrs", &raw.pod_cidrs);
    let services = cidr_list(errors, "local.service_cidrs", &raw.service_cidrs);
    let config = LocalConfig {
        pod_cidrs: pods.iter().map(|(_, net)| *net).collect(),
        service_cidrs: services.iter().map(|(_, net)| *net).collect(),
    };
    let blocks = pods
        .into_iter()
        .chain(services)
        .map(|(path, cidr)| Block {
            path,
            cidr,
            peer: None,
        })
        .collect();
    (config, blocks)
}

fn nat(errors: &mut Errors, raw: &RawNat) -> NatConfig {
    let defaults = NatConfig::default();
    let max_flows = raw.max_flows.map_or(Some(defaults.max_flows), |value| {
        int_in_range(errors, "nat.max_flows", value, 1, MAX_FLOWS_LIMIT)
    });
    let max_flows_per_source =
        raw.max_flows_per_source
            .map_or(Some(defaults.max_flows_per_source), |value| {
                int_in_range(
                    errors,
                    "nat.max_flows_per_source",
                    value,
                    1,
                    MAX_FLOWS_LIMIT,
                )
            });
    if let (Some(max), Some(per_source)) = (max_flows, max_flows_per_source) {
        if per_source > max {
            errors.add(
                "nat.max_flows_per_source",
                format!("{per_source} is larger than nat.max_flows ({max})"),
            );
        }
    }
    let mut timeout = |path: &str, text: &Option<String>, default| {
        positive_duration(errors, path, text.as_deref(), default)
    };
    NatConfig {
        max_flows: max_flows.unwrap_or(defaults.max_flows),
        max_flows_per_source: max_flows_per_source.unwrap_or(defaults.max_flows_per_source),
        tcp_established_timeout: timeout(
            "nat.tcp_established_timeout",
            &raw.tcp_established_timeout,
            defaults.tcp_established_timeout,
        ),
        tcp_transitory_timeout: timeout(
            "nat.tcp_transitory_timeout",
            &raw.tcp_transitory_timeout,
            defaults.tcp_transitory_timeout,
        ),
        udp_timeout: timeout("nat.udp_timeout", &raw.udp_timeout, defaults.udp_timeout),
        icmp_timeout: timeout("nat.icmp_timeout", &raw.icmp_timeout, defaults.icmp_timeout),
    }
}

fn health(errors: &mut Errors, raw: &RawHealth) -> HealthConfig {
    let defaults = HealthConfig::default();
    HealthConfig {
        interval: positive_duration(
            errors,
            "health.interval",
            raw.interval.as_deref(),
            defaults.interval,
        ),
        failures_before_error: raw
            .failures_before_error
            .and_then(|value| {
                int_in_range(
                    errors,
                    "health.failures_before_error",
                    value,
                    1,
                    MAX_FAILURES_BEFORE_ERROR,
                )
            })
            .unwrap_or(defaults.failures_before_error),
    }
}
