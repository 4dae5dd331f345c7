//! Global address management for one cluster's global block.
//!
//! Submariner's Globalnet semantics: a cluster egress pool (default 8 IPs,
//! 0..=20), dedicated egress groups (1..=20 IPs each), one ingress IP per
//! exported ClusterIP service and one per backing pod of an exported headless
//! service. The block's first host is the gateway's own address and is never
//! allocated, nor are the network and broadcast addresses.
//!
//! Sans-IO: [`Ipam::reconcile`] takes the desired [`IpamSpec`] and the bytes
//! the gateway saved last time, and returns the new allocations plus
//! [`Notice`]s for saved IPs that could not be kept; [`Ipam::to_bytes`] gives
//! the bytes to save (the gateway writes them atomically). Allocation is
//! deterministic first fit, and an owner that exists in both the saved state
//! and the spec keeps exactly its saved IPs unless they are invalid (a pool
//! or group that shrank keeps its lowest ones; one that grew gets more).
//! [`Ipam::update`] does the same from the allocations in memory, for reloads.
//!
//! ```
//! use natcore::ipam::{ExportKind, ExportSpec, Ipam, IpamSpec};
//!
//! let mut spec = IpamSpec::new("242.0.0.0/16".parse()?, vec!["10.96.0.0/16".parse()?]);
//! spec.cluster_egress_ips = 2;
//! spec.exports.push(ExportSpec {
//!     name: "shared/echo".into(),
//!     kind: ExportKind::ClusterIp("10.96.0.10".parse()?),
//! });
//! let (ipam, notices) = Ipam::reconcile(spec.clone(), None)?;
//! assert!(notices.is_empty());
//! assert_eq!(ipam.gateway_ip().to_string(), "242.0.0.1");
//! assert_eq!(ipam.plan().ingress[0].global_ip.to_string(), "242.0.0.4");
//!
//! // After a restart, the same bytes give the same addresses.
//! let (reloaded, _) = Ipam::reconcile(spec, Some(&ipam.to_bytes()))?;
//! assert_eq!(reloaded, ipam);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod allocator;
mod block;
mod error;
#[cfg(any(test, feature = "testing"))]
pub mod model;
#[cfg(any(test, feature = "testing"))]
pub mod model_addresses;
#[cfg(test)]
mod model_proptest;
mod notice;
mod owner;
mod reconcile;
mod spec;
mod state;

pub use block::ReservedRole;
pub use error::IpamError;
pub use notice::{Notice, SavedIpProblem};
pub use owner::{AllocationCounts, Owner, OwnerAllocation, OwnerKind};
pub use spec::{
    ExportKind, ExportSpec, GroupSpec, IpamSpec, CLUSTER_EGRESS_IPS, DEFAULT_CLUSTER_EGRESS_IPS,
    GLOBAL_RANGE, GROUP_IPS, MAX_NAME_LEN,
};
pub use state::{LineProblem, StateError};

use crate::plan::{AddressPlan, EgressGroupPlan, IngressPlan};
use block::Block;
use ipnet::Ipv4Net;
use state::{SavedEntry, SavedState};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// The allocations of one cluster's global block for one spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipam {
    spec: IpamSpec,
    block: Block,
    /// One per owner, in allocation order: pool, groups, exports.
    allocations: Vec<OwnerAllocation>,
}

impl Ipam {
    /// Allocates for `spec`, keeping what `previous_state` (bytes from
    /// [`Ipam::to_bytes`]) recorded for owners that still exist. Saved IPs
    /// that cannot be kept are reported as [`Notice`]s and replaced.
    pub fn reconcile(
        spec: IpamSpec,
        previous_state: Option<&[u8]>,
    ) -> Result<(Ipam, Vec<Notice>), IpamError> {
        let saved = previous_state.map(state::parse).transpose()?;
        Self::reconcile_saved(spec, saved.as_ref())
    }

    /// A fresh allocation, as if nothing had been saved.
    pub fn new(spec: IpamSpec) -> Result<Ipam, IpamError> {
        Self::reconcile_saved(spec, None).map(|(ipam, _)| ipam)
    }

    /// Moves to a new spec (a config reload) from the allocations in memory:
    /// the same as `reconcile(spec, Some(&self.to_bytes()))`.
    pub fn update(&self, spec: IpamSpec) -> Result<(Ipam, Vec<Notice>), IpamError> {
        let saved = SavedState {
            block: self.block.net(),
            entries: self
                .allocations
                .iter()
                .flat_map(|a| {
                    a.ips.iter().map(|ip| SavedEntry {
                        owner: a.owner.clone(),
                        ip: *ip,
                    })
                })
                .collect(),
        };
        Self::reconcile_saved(spec, Some(&saved))
    }

    fn reconcile_saved(
        spec: IpamSpec,
        saved: Option<&SavedState>,
    ) -> Result<(Ipam, Vec<Notice>), IpamError> {
        let valid = spec.validate()?;
        let outcome = reconcile::reconcile(&valid, saved)?;
        let ipam = Ipam {
            spec,
            block: valid.block,
            allocations: outcome.allocations,
        };
        Ok((ipam, outcome.notices))
    }

    /// The state to persist, in the line format described in the `state` module.
    pub fn to_bytes(&self) -> Vec<u8> {
        state::write(self.block.net(), &self.allocations)
    }

    pub fn spec(&self) -> &IpamSpec {
        &self.spec
    }

    pub fn block(&self) -> Ipv4Net {
        self.block.net()
    }

    /// The block's first host: the gateway's TUN address and health-probe target.
    pub fn gateway_ip(&self) -> Ipv4Addr {
        self.block.gateway()
    }

    /// Every owner with its IPs, in allocation order: pool, groups, exports.
    pub fn allocations(&self) -> &[OwnerAllocation] {
        &self.allocations
    }

    /// The IPs `owner` holds; empty for an unknown owner.
    pub fn ips_of(&self, owner: &Owner) -> &[Ipv4Addr] {
        self.allocations
            .iter()
            .find(|a| &a.owner == owner)
            .map_or(&[], |a| a.ips.as_slice())
    }

    /// Who holds `ip`, if anyone.
    pub fn owner_of(&self, ip: Ipv4Addr) -> Option<&Owner> {
        self.allocations
            .iter()
            .find(|a| a.ips.contains(&ip))
            .map(|a| &a.owner)
    }

    /// Addresses owners may hold: the block minus network, broadcast and gateway.
    pub fn capacity(&self) -> u32 {
        self.block.capacity()
    }

    pub fn allocated_count(&self) -> u32 {
        self.counts().total()
    }

    pub fn available_count(&self) -> u32 {
        self.capacity().saturating_sub(self.allocated_count())
    }

    pub fn counts(&self) -> AllocationCounts {
        let mut counts = AllocationCounts::default();
        for a in &self.allocations {
            counts.add(
                a.owner.kind(),
                u32::try_from(a.ips.len()).unwrap_or(u32::MAX),
            );
        }
        counts
    }

    /// The snapshot the engine consults for new flows.
    pub fn plan(&self) -> AddressPlan {
        let ips: HashMap<&Owner, &[Ipv4Addr]> = self
            .allocations
            .iter()
            .map(|a| (&a.owner, a.ips.as_slice()))
            .collect();
        let ips_of = |owner: &Owner| ips.get(owner).map_or(Vec::new(), |ips| ips.to_vec());

        let mut plan = AddressPlan::new(self.block.net(), ips_of(&Owner::ClusterEgress));
        for group in &self.spec.groups {
            plan.groups.push(EgressGroupPlan {
                name: group.name.clone(),
                sources: group.sources.clone(),
                ips: ips_of(&Owner::EgressGroup(group.name.clone())),
            });
        }
        for export in &self.spec.exports {
            let service = export.name.clone();
            let targets = match &export.kind {
                ExportKind::ClusterIp(target) => {
                    vec![(Owner::Ingress(service.clone()), *target, false)]
                }
                ExportKind::Headless(pods) => pods
                    .iter()
                    .map(|pod| {
                        let owner = Owner::HeadlessPod {
                            service: service.clone(),
                            pod: *pod,
                        };
                        (owner, *pod, true)
                    })
                    .collect(),
            };
            for (owner, target, headless) in targets {
                for global_ip in ips_of(&owner) {
                    plan.ingress.push(IngressPlan {
                        service: service.clone(),
                        global_ip,
                        target,
                        headless,
                    });
                }
            }
        }
        plan
    }
}
