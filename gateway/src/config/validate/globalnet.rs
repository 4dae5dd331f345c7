//! `globalnet:` — the global block, egress pool and groups, exports.

use super::values::{cidr, cidr_list, dns_label, int_in_range, ipv4, is_dns_label, DNS_LABEL_RULE};
use super::Block;
use crate::config::defaults;
use crate::config::error::Errors;
use crate::config::model::{EgressGroup, Export, ExportName, ExportTarget, GlobalnetConfig};
use crate::config::raw::{RawEgressGroup, RawExport, RawGlobalnet};
use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// 240.0.0.0/4, "reserved for future use" (RFC 1112): never routed on the
/// Internet, so global blocks cannot clash with real destinations.
/// (Evaluated at compile time: an invalid prefix would fail the build.)
pub(super) const GLOBAL_RANGE: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4);

/// A global block (ours or a peer's) must sit inside 240.0.0.0/4 and must not
/// contain the limited broadcast address.
pub(super) fn global_block(errors: &mut Errors, path: &str, text: &str) -> Option<Ipv4Net> {
    let net = cidr(errors, path, text)?;
    if !GLOBAL_RANGE.contains(&net) {
        errors.add(
            path,
            format!(
                "{net} is not inside {GLOBAL_RANGE}, the reserved range global blocks come from"
            ),
        );
        return None;
    }
    if net.contains(&Ipv4Addr::BROADCAST) {
        errors.add(
            path,
            format!("{net} contains 255.255.255.255, the limited broadcast address"),
        );
        return None;
    }
    Some(net)
}

/// Addresses of a block that can be handed out: all but the network and
/// broadcast addresses, except in /31 and /32 (RFC 3021), which have none.
fn usable_addresses(net: Ipv4Net) -> u64 {
    let size = 1u64 << (32 - u32::from(net.prefix_len()));
    if net.prefix_len() >= 31 {
        size
    } else {
        size - 2
    }
}

fn inside_local(local: &[Block], net: Ipv4Net) -> bool {
    local.iter().any(|block| block.cidr.contains(&net))
}

const NOT_LOCAL: &str = "is not inside any local Pod or Service CIDR";

pub(super) fn validate(
    errors: &mut Errors,
    raw: &RawGlobalnet,
    local: &[Block],
) -> Option<GlobalnetConfig> {
    let global_cidr = global_block(errors, "globalnet.global_cidr", &raw.global_cidr);
    let cluster_egress_ips = match raw.cluster_egress_ips {
        None => Some(defaults::CLUSTER_EGRESS_IPS),
        Some(value) => int_in_range(
            errors,
            "globalnet.cluster_egress_ips",
            value,
            0,
            i64::from(defaults::MAX_EGRESS_IPS),
        ),
    };
    let egress_groups = egress_groups(errors, &raw.egress_groups, local);
    let exports = exports(errors, &raw.exports, local);

    let global_cidr = global_cidr?;
    let gateway_ip = global_cidr.hosts().next()?;
    let cluster_egress_ips = cluster_egress_ips?;
    check_capacity(
        errors,
        global_cidr,
        cluster_egress_ips,
        &egress_groups,
        &exports,
    );
    Some(GlobalnetConfig {
        global_cidr,
        gateway_ip,
        cluster_egress_ips,
        egress_groups,
        exports,
    })
}

fn egress_groups(errors: &mut Errors, raw: &[RawEgressGroup], local: &[Block]) -> Vec<EgressGroup> {
    let mut first_use: HashMap<&str, String> = HashMap::new();
    let mut groups = Vec::new();
    for (index, group) in raw.iter().enumerate() {
        let path = format!("globalnet.egress_groups[{index}]");
        let errors_before = errors.len();
        let name_path = format!("{path}.name");
        dns_label(errors, &name_path, &group.name);
        if let Some(first) = first_use.get(group.name.as_str()) {
            errors.add(
                &name_path,
                format!("{:?} is already used by {first}", group.name),
            );
        } else {
            first_use.insert(&group.name, path.clone());
        }
        let sources_path = format!("{path}.sources");
        if group.sources.is_empty() {
            errors.add(&sources_path, "at least one source CIDR is required");
        }
        let sources = cidr_list(errors, &sources_path, &group.sources);
        for (source_path, source) in &sources {
            if !inside_local(local, *source) {
                errors.add(source_path, format!("{source} {NOT_LOCAL}"));
            }
        }
        let ips = int_in_range(
            errors,
            &format!("{path}.ips"),
            group.ips,
            1,
            i64::from(defaults::MAX_EGRESS_IPS),
        );
        if let (Some(ips), true) = (ips, errors.len() == errors_before) {
            groups.push(EgressGroup {
                name: group.name.clone(),
                sources: sources.into_iter().map(|(_, net)| net).collect(),
                ips,
            });
        }
    }
    groups
}

fn export_name(errors: &mut Errors, path: &str, text: &str) -> Option<ExportName> {
    match text.split_once('/') {
        Some((namespace, name)) if is_dns_label(namespace) && is_dns_label(name) => {
            Some(ExportName {
                namespace: namespace.to_string(),
                name: name.to_string(),
            })
        }
        _ => {
            errors.add(
                path,
                format!(
                    "{text:?} is not namespace/name (e.g. shared/echo; each part {DNS_LABEL_RULE})"
                ),
            );
            None
        }
    }
}

fn exports(errors: &mut Errors, raw: &[RawExport], local: &[Block]) -> Vec<Export> {
    let mut first_name_use: HashMap<&str, String> = HashMap::new();
    let mut first_pod_use: HashMap<Ipv4Addr, String> = HashMap::new();
    let mut exports = Vec::new();
    for (index, export) in raw.iter().enumerate() {
        let path = format!("globalnet.exports[{index}]");
        let errors_before = errors.len();
        let name_path = format!("{path}.name");
        let name = export_name(errors, &name_path, &export.name);
        if let Some(first) = first_name_use.get(export.name.as_str()) {
            errors.add(
                &name_path,
                format!("{:?} is already used by {first}", export.name),
            );
        } else {
            first_name_use.insert(&export.name, path.clone());
        }
        let local_ip = |errors: &mut Errors, ip_path: &str, text: &str| {
            let ip = ipv4(errors, ip_path, text)?;
            if !inside_local(local, Ipv4Net::from(ip)) {
                errors.add(ip_path, format!("{ip} {NOT_LOCAL}"));
                return None;
            }
            Some(ip)
        };
        let target = match (&export.cluster_ip, &export.headless_pods) {
            (Some(text), None) => {
                local_ip(errors, &format!("{path}.cluster_ip"), text).map(ExportTarget::ClusterIp)
            }
            (None, Some(pods)) => {
                let pods_path = format!("{path}.headless_pods");
                if pods.is_empty() {
                    errors.add(&pods_path, "at least one pod IP is required");
                }
                let mut ips = Vec::new();
                for (pod_index, text) in pods.iter().enumerate() {
                    let pod_path = format!("{pods_path}[{pod_index}]");
                    let Some(ip) = local_ip(errors, &pod_path, text) else {
                        continue;
                    };
                    if let Some(first) = first_pod_use.get(&ip) {
                        errors.add(
                            &pod_path,
                            format!(
                                "{ip} is already exported by {first}; a pod has one global IP, \
                                 which is also its egress source"
                            ),
                        );
                    } else {
                        first_pod_use.insert(ip, pod_path);
                    }
                    ips.push(ip);
                }
                Some(ExportTarget::HeadlessPods(ips))
            }
            _ => {
                errors.add(
                    &path,
                    "set exactly one of cluster_ip (ClusterIP Service) or headless_pods \
                     (headless Service)",
                );
                None
            }
        };
        if let (Some(name), Some(target), true) = (name, target, errors.len() == errors_before) {
            exports.push(Export { name, target });
        }
    }
    exports
}

/// The block must hold every global IP the config asks for, or IPAM would
/// fail later at run time.
fn check_capacity(
    errors: &mut Errors,
    global_cidr: Ipv4Net,
    cluster_egress_ips: u8,
    groups: &[EgressGroup],
    exports: &[Export],
) {
    const GATEWAY_IPS: u64 = 1;
    let group_ips: u64 = groups.iter().map(|g| u64::from(g.ips)).sum();
    let export_ips: u64 = exports
        .iter()
        .map(|e| e.target.global_ips_needed() as u64)
        .sum();
    let needed = GATEWAY_IPS + u64::from(cluster_egress_ips) + group_ips + export_ips;
    let usable = usable_addresses(global_cidr);
    if needed > usable {
        errors.add(
            "globalnet.global_cidr",
            format!(
                "{global_cidr} has {usable} usable addresses but {needed} are needed \
                 ({GATEWAY_IPS} gateway + {cluster_egress_ips} cluster egress + {group_ips} egress \
                 group + {export_ips} export)"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_range_is_240_slash_4() {
        assert_eq!(GLOBAL_RANGE.to_string(), "240.0.0.0/4");
    }

    #[test]
    fn usable_address_counts() {
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap_or_default();
        assert_eq!(usable_addresses(net("242.0.0.0/16")), 65_534);
        assert_eq!(usable_addresses(net("242.0.0.0/30")), 2);
        assert_eq!(usable_addresses(net("242.0.0.0/31")), 2);
        assert_eq!(usable_addresses(net("242.0.0.0/32")), 1);
    }
}
