//! Desired addressing, as the gateway translates it from the config file,
//! and its validation into the list of owners and how many IPs each needs.

use super::block::Block;
use super::error::IpamError;
use super::owner::Owner;
use ipnet::Ipv4Net;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

/// Globalnet's range: every cluster's block lies inside it.
pub const GLOBAL_RANGE: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4);
/// Submariner's default: about 8 × 64k source ports for the whole cluster.
pub const DEFAULT_CLUSTER_EGRESS_IPS: u8 = 8;
/// Submariner's `ClusterGlobalEgressIP` bounds.
pub const CLUSTER_EGRESS_IPS: RangeInclusive<u8> = 0..=20;
/// Submariner's `GlobalEgressIP` bounds.
pub const GROUP_IPS: RangeInclusive<u8> = 1..=20;
/// Longest group or export name: a Kubernetes namespace (63) + '/' + a
/// DNS-subdomain object name (253) fits.
pub const MAX_NAME_LEN: usize = 63 + 1 + 253;

/// Everything the IPAM needs to know about one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpamSpec {
    /// This cluster's global block, inside 240.0.0.0/4.
    pub block: Ipv4Net,
    /// Local Pod and Service CIDRs: the block must not overlap them, and
    /// group sources and export targets must lie inside them.
    pub local_cidrs: Vec<Ipv4Net>,
    /// Peers' global blocks: ours must not overlap any.
    pub peer_blocks: Vec<Ipv4Net>,
    /// Size of the cluster egress pool, 0..=20.
    pub cluster_egress_ips: u8,
    pub groups: Vec<GroupSpec>,
    pub exports: Vec<ExportSpec>,
}

impl IpamSpec {
    /// A spec with the default pool size and no groups, exports or peers.
    pub fn new(block: Ipv4Net, local_cidrs: Vec<Ipv4Net>) -> Self {
        IpamSpec {
            block,
            local_cidrs,
            peer_blocks: Vec::new(),
            cluster_egress_ips: DEFAULT_CLUSTER_EGRESS_IPS,
            groups: Vec::new(),
            exports: Vec::new(),
        }
    }
}

/// Local sources with their own egress IPs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSpec {
    pub name: String,
    pub sources: Vec<Ipv4Net>,
    /// 1..=20.
    pub ips: u8,
}

/// An exported service (`namespace/name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSpec {
    pub name: String,
    pub kind: ExportKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// One global ingress IP leading to this ClusterIP.
    ClusterIp(Ipv4Addr),
    /// One global IP per backing pod (ingress and that pod's egress).
    Headless(Vec<Ipv4Addr>),
}

/// One owner and the number of IPs it must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Demand {
    pub(crate) owner: Owner,
    pub(crate) count: u32,
}

/// A spec that passed validation, in allocation order: pool, groups, then
/// exports (headless pods in listed order).
#[derive(Clone, Debug)]
pub(crate) struct ValidSpec {
    pub(crate) block: Block,
    pub(crate) demands: Vec<Demand>,
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Names end up as single tokens of the state file and in log lines.
pub(crate) fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("it is longer than 317 bytes")
    } else if !name.bytes().all(|b| b.is_ascii_graphic()) {
        Some("only printable ASCII without spaces is allowed")
    } else {
        None
    }
}

/// Keeps error messages readable when a name is hostile.
fn shorten(name: &str) -> String {
    const SHOWN: usize = 64;
    match name.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_owned(),
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), IpamError> {
    match name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(IpamError::InvalidName {
            what,
            name: shorten(name),
            reason,
        }),
    }
}

fn check_block(spec: &IpamSpec) -> Result<Block, IpamError> {
    let block = spec.block;
    if block != block.trunc() {
        return Err(IpamError::BlockHostBits {
            block,
            suggested: block.trunc(),
        });
    }
    if !GLOBAL_RANGE.contains(&block) {
        return Err(IpamError::BlockNotGlobal { block });
    }
    if block.prefix_len() == 32 {
        return Err(IpamError::BlockTooSmall { block });
    }
    if let Some(local) = spec.local_cidrs.iter().find(|l| overlaps(&block, l)) {
        return Err(IpamError::BlockOverlapsLocal {
            block,
            local: *local,
        });
    }
    if let Some(peer) = spec.peer_blocks.iter().find(|p| overlaps(&block, p)) {
        return Err(IpamError::BlockOverlapsPeer { block, peer: *peer });
    }
    Ok(Block::new(block))
}

impl IpamSpec {
    fn is_local(&self, ip: Ipv4Addr) -> bool {
        self.local_cidrs.iter().any(|l| l.contains(&ip))
    }

    fn check_groups(&self, demands: &mut Vec<Demand>) -> Result<(), IpamError> {
        let mut seen = BTreeSet::new();
        for group in &self.groups {
            check_name("egress group", &group.name)?;
            if !seen.insert(group.name.as_str()) {
                return Err(IpamError::DuplicateGroup {
                    name: group.name.clone(),
                });
            }
            if !GROUP_IPS.contains(&group.ips) {
                return Err(IpamError::GroupIpsOutOfRange {
                    group: group.name.clone(),
                    count: group.ips,
                });
            }
            if group.sources.is_empty() {
                return Err(IpamError::GroupWithoutSources {
                    group: group.name.clone(),
                });
            }
            let outside = group
                .sources
                .iter()
                .find(|s| !self.local_cidrs.iter().any(|l| l.contains(*s)));
            if let Some(cidr) = outside {
                return Err(IpamError::GroupSourceOutsideLocal {
                    group: group.name.clone(),
                    cidr: *cidr,
                });
            }
            demands.push(Demand {
                owner: Owner::EgressGroup(group.name.clone()),
                count: u32::from(group.ips),
            });
        }
        Ok(())
    }

    fn check_exports(&self, demands: &mut Vec<Demand>) -> Result<(), IpamError> {
        let mut seen = BTreeSet::new();
        for export in &self.exports {
            check_name("export", &export.name)?;
            if !seen.insert(export.name.as_str()) {
                return Err(IpamError::DuplicateExport {
                    name: export.name.clone(),
                });
            }
            let outside = |target: Ipv4Addr| IpamError::ExportTargetOutsideLocal {
                service: export.name.clone(),
                target,
            };
            match &export.kind {
                ExportKind::ClusterIp(target) => {
                    if !self.is_local(*target) {
                        return Err(outside(*target));
                    }
                    demands.push(Demand {
                        owner: Owner::Ingress(export.name.clone()),
                        count: 1,
                    });
                }
                ExportKind::Headless(pods) => {
                    let mut seen_pods = BTreeSet::new();
                    for pod in pods {
                        if !self.is_local(*pod) {
                            return Err(outside(*pod));
                        }
                        if !seen_pods.insert(*pod) {
                            return Err(IpamError::DuplicatePod {
                                service: export.name.clone(),
                                pod: *pod,
                            });
                        }
                        demands.push(Demand {
                            owner: Owner::HeadlessPod {
                                service: export.name.clone(),
                                pod: *pod,
                            },
                            count: 1,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks every rule and lists the owners in allocation order.
    pub(crate) fn validate(&self) -> Result<ValidSpec, IpamError> {
        let block = check_block(self)?;
        if !CLUSTER_EGRESS_IPS.contains(&self.cluster_egress_ips) {
            return Err(IpamError::ClusterEgressIpsOutOfRange {
                count: self.cluster_egress_ips,
            });
        }
        let mut demands = vec![Demand {
            owner: Owner::ClusterEgress,
            count: u32::from(self.cluster_egress_ips),
        }];
        self.check_groups(&mut demands)?;
        self.check_exports(&mut demands)?;
        Ok(ValidSpec { block, demands })
    }
}
