//! Who holds global IPs, and how many each kind holds.

use std::fmt;
use std::net::Ipv4Addr;

/// Something that holds global IPs from the block.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// The cluster egress pool (Submariner's `ClusterGlobalEgressIP`).
    ClusterEgress,
    /// A dedicated egress group (Submariner's `GlobalEgressIP`), by name.
    EgressGroup(String),
    /// An exported ClusterIP service (`namespace/name`): one ingress IP.
    Ingress(String),
    /// One backing pod of an exported headless service: one IP that is both
    /// the pod's ingress and its egress address.
    HeadlessPod { service: String, pod: Ipv4Addr },
}

impl Owner {
    pub fn kind(&self) -> OwnerKind {
        match self {
            Owner::ClusterEgress => OwnerKind::ClusterEgress,
            Owner::EgressGroup(_) => OwnerKind::EgressGroup,
            Owner::Ingress(_) => OwnerKind::Ingress,
            Owner::HeadlessPod { .. } => OwnerKind::HeadlessPod,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::ClusterEgress => f.write_str("cluster egress pool"),
            Owner::EgressGroup(name) => write!(f, "egress group {name}"),
            Owner::Ingress(service) => write!(f, "exported service {service}"),
            Owner::HeadlessPod { service, pod } => {
                write!(f, "headless service {service} pod {pod}")
            }
        }
    }
}

/// The kind of an [`Owner`], for per-kind counts and metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnerKind {
    ClusterEgress,
    EgressGroup,
    Ingress,
    HeadlessPod,
}

impl OwnerKind {
    /// The `kind` label of `gateway_global_ips_allocated`: headless pod IPs
    /// count as ingress, as Submariner's `GlobalIngressIP` does.
    pub fn metric_label(self) -> &'static str {
        match self {
            OwnerKind::ClusterEgress => "cluster_egress",
            OwnerKind::EgressGroup => "egress_group",
            OwnerKind::Ingress | OwnerKind::HeadlessPod => "ingress",
        }
    }
}

/// The IPs one owner holds, lowest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerAllocation {
    pub owner: Owner,
    pub ips: Vec<Ipv4Addr>,
}

/// Allocated IPs per kind of owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocationCounts {
    pub cluster_egress: u32,
    pub egress_group: u32,
    pub ingress: u32,
    pub headless_pod: u32,
}

impl AllocationCounts {
    pub fn total(&self) -> u32 {
        self.cluster_egress + self.egress_group + self.ingress + self.headless_pod
    }

    pub fn of(&self, kind: OwnerKind) -> u32 {
        match kind {
            OwnerKind::ClusterEgress => self.cluster_egress,
            OwnerKind::EgressGroup => self.egress_group,
            OwnerKind::Ingress => self.ingress,
            OwnerKind::HeadlessPod => self.headless_pod,
        }
    }

    pub(crate) fn add(&mut self, kind: OwnerKind, n: u32) {
        let slot = match kind {
            OwnerKind::ClusterEgress => &mut self.cluster_egress,
            OwnerKind::EgressGroup => &mut self.egress_group,
            OwnerKind::Ingress => &mut self.ingress,
            OwnerKind::HeadlessPod => &mut self.headless_pod,
        };
        *slot = slot.saturating_add(n);
    }
}
