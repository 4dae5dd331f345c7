//! A slow, obviously-correct reference model of the IPAM, and a scenario
//! that drives random spec changes through both and compares them.
//!
//! The model keeps a set of free addresses and a list of owners: on
//! each spec it frees what vanished owners and shrunk owners give back, then
//! hands the lowest free addresses to owners short of IPs, in spec order.
//! It shares no code with the real allocator. Used by the property tests
//! below and by `fuzz/fuzz_targets/ipam_model.rs`.

use super::model_addresses::AddressSet;
use super::{ExportKind, ExportSpec, GroupSpec, Ipam, IpamError, IpamSpec, Owner, OwnerKind};
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Blocks the scenario moves between: small enough to exhaust.
pub const SCENARIO_BLOCKS: [&str; 4] = [
    "242.0.0.0/26",
    "242.0.0.0/27",
    "242.0.1.0/27",
    "250.9.8.0/28",
];
/// Group slots, export slots and headless pod candidates per scenario.
const SLOTS: u8 = 8;

/// The addresses owners may hold, computed from scratch: everything in the
/// block except network, broadcast (prefix < 31) and block + 1. Small blocks
/// only (see [`AddressSet`]).
pub fn usable_addresses(block: Ipv4Net) -> Result<AddressSet, String> {
    let mut usable = AddressSet::empty(block)
        .ok_or_else(|| format!("{block}: the model handles /26 and smaller blocks"))?;
    let network = block.network();
    let gateway = Ipv4Addr::from(u32::from(network).wrapping_add(1));
    usable.extend(
        block
            .hosts()
            .chain([network, block.broadcast()])
            .filter(|ip| *ip != gateway)
            .filter(|ip| {
                block.prefix_len() >= 31 || (*ip != block.network() && *ip != block.broadcast())
            }),
    );
    Ok(usable)
}

/// Owners of a spec with their counts, in allocation order.
pub fn demands_of(spec: &IpamSpec) -> Vec<(Owner, usize)> {
    let mut demands = vec![(Owner::ClusterEgress, usize::from(spec.cluster_egress_ips))];
    for g in &spec.groups {
        demands.push((Owner::EgressGroup(g.name.clone()), usize::from(g.ips)));
    }
    for e in &spec.exports {
        match &e.kind {
            ExportKind::ClusterIp(_) => demands.push((Owner::Ingress(e.name.clone()), 1)),
            ExportKind::Headless(pods) => {
                for pod in pods {
                    let owner = Owner::HeadlessPod {
                        service: e.name.clone(),
                        pod: *pod,
                    };
                    demands.push((owner, 1));
                }
            }
        }
    }
    demands
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceModel {
    pub block: Ipv4Net,
    pub free: AddressSet,
    /// In allocation order, IPs sorted.
    pub owners: Vec<(Owner, Vec<Ipv4Addr>)>,
}

impl ReferenceModel {
    /// An empty model. Small blocks only (see [`AddressSet`]).
    pub fn new(block: Ipv4Net) -> Result<Self, String> {
        Ok(ReferenceModel {
            block,
            free: usable_addresses(block)?,
            owners: Vec::new(),
        })
    }

    pub fn capacity(&self) -> usize {
        self.free.len() + self.owners.iter().map(|(_, ips)| ips.len()).sum::<usize>()
    }

    /// The model after `spec`, or `None` when the block cannot hold it.
    pub fn apply(&self, spec: &IpamSpec) -> Option<ReferenceModel> {
        let demands = demands_of(spec);
        let mut free = self.free;
        for (owner, ips) in &self.owners {
            if !demands.iter().any(|(o, _)| o == owner) {
                free.extend(ips.iter().copied());
            }
        }
        let mut held = Vec::new();
        for (owner, count) in &demands {
            let mut ips = self
                .owners
                .iter()
                .find(|(o, _)| o == owner)
                .map(|(_, ips)| ips.clone())
                .unwrap_or_default();
            ips.sort();
            while ips.len() > *count {
                free.extend(ips.pop());
            }
            held.push((owner.clone(), ips, *count));
        }
        let short: usize = held.iter().map(|(_, ips, count)| count - ips.len()).sum();
        if short > free.len() {
            return None;
        }
        let mut owners = Vec::new();
        for (owner, mut ips, count) in held {
            while ips.len() < count {
                ips.extend(free.pop_first());
            }
            ips.sort();
            owners.push((owner, ips));
        }
        Some(ReferenceModel {
            block: self.block,
            free,
            owners,
        })
    }

    pub fn count_of(&self, kind: OwnerKind) -> usize {
        self.owners
            .iter()
            .filter(|(o, _)| o.kind() == kind)
            .map(|(_, ips)| ips.len())
            .sum()
    }
}

/// One change to the scenario's spec. Slots index a small fixed name space
/// so that operations hit existing owners often.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelOp {
    /// Cluster egress pool size (taken modulo 21).
    ResizePool(u8),
    /// Add a group or change its size (1..=20).
    PutGroup {
        slot: u8,
        ips: u8,
    },
    RemoveGroup {
        slot: u8,
    },
    /// Add or redefine an export as ClusterIP 10.96.0.`target`.
    PutClusterIp {
        slot: u8,
        target: u8,
    },
    /// Add or redefine an export as headless; bit i of `pods` selects
    /// pod 10.244.200.(i+1). Several services may share a pod.
    PutHeadless {
        slot: u8,
        pods: u8,
    },
    RemoveExport {
        slot: u8,
    },
    /// Move to another block of [`SCENARIO_BLOCKS`]: every saved IP is reported.
    MoveBlock(u8),
    /// Restart: the same spec, reloaded from the saved bytes.
    Restart,
}

impl ModelOp {
    /// Three bytes per operation, for fuzzers.
    pub fn decode(b: [u8; 3]) -> ModelOp {
        let slot = b[1] % SLOTS;
        match b[0] % 8 {
            0 => ModelOp::ResizePool(b[1]),
            1 => ModelOp::PutGroup { slot, ips: b[2] },
            2 => ModelOp::RemoveGroup { slot },
            3 => ModelOp::PutClusterIp { slot, target: b[2] },
            4 => ModelOp::PutHeadless { slot, pods: b[2] },
            5 => ModelOp::RemoveExport { slot },
            6 => ModelOp::MoveBlock(b[1]),
            _ => ModelOp::Restart,
        }
    }

    pub fn decode_all(data: &[u8]) -> Vec<ModelOp> {
        data.chunks_exact(3)
            .map(|c| ModelOp::decode([c[0], c[1], c[2]]))
            .collect()
    }
}

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Applied,
    /// Both the IPAM and the model refused the spec; the previous one stays.
    Exhausted,
}

fn parse_net(s: &str) -> Result<Ipv4Net, String> {
    s.parse().map_err(|e| format!("{s}: {e}"))
}

fn group_spec(slot: u8, ips: u8) -> GroupSpec {
    GroupSpec {
        name: format!("group-{slot}"),
        sources: vec![Ipv4Net::new_assert(Ipv4Addr::new(10, 244, slot, 0), 24)],
        ips,
    }
}

fn export_name(slot: u8) -> String {
    format!("ns/svc-{slot}")
}

fn headless_pods(mask: u8) -> Vec<Ipv4Addr> {
    (0..8u8)
        .filter(|bit| mask & (1 << bit) != 0)
        .map(|bit| Ipv4Addr::new(10, 244, 200, bit + 1))
        .collect()
}

fn put_export(spec: &mut IpamSpec, export: ExportSpec) {
    match spec.exports.iter_mut().find(|e| e.name == export.name) {
        Some(existing) => *existing = export,
        None => spec.exports.push(export),
    }
}

/// The IPAM and the model side by side, with the spec both follow.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub spec: IpamSpec,
    pub ipam: Ipam,
    pub model: ReferenceModel,
}

impl Scenario {
    /// Starts on `SCENARIO_BLOCKS[block_choice % 4]` with an empty pool.
    pub fn new(block_choice: u8) -> Result<Scenario, String> {
        let block = parse_net(SCENARIO_BLOCKS[usize::from(block_choice) % SCENARIO_BLOCKS.len()])?;
        let local = vec![parse_net("10.244.0.0/16")?, parse_net("10.96.0.0/16")?];
        let mut spec = IpamSpec::new(block, local);
        spec.cluster_egress_ips = 0;
        let ipam = Ipam::new(spec.clone()).map_err(|e| e.to_string())?;
        Ok(Scenario {
            spec,
            ipam,
            model: ReferenceModel::new(block)?,
        })
    }

    fn next_spec(&self, op: ModelOp) -> Result<IpamSpec, String> {
        let mut spec = self.spec.clone();
        match op {
            ModelOp::ResizePool(n) => spec.cluster_egress_ips = n % 21,
            ModelOp::PutGroup { slot, ips } => {
                let group = group_spec(slot, ips % 20 + 1);
                match spec.groups.iter_mut().find(|g| g.name == group.name) {
                    Some(existing) => *existing = group,
                    None => spec.groups.push(group),
                }
            }
            ModelOp::RemoveGroup { slot } => {
                spec.groups.retain(|g| g.name != group_spec(slot, 1).name)
            }
            ModelOp::PutClusterIp { slot, target } => put_export(
                &mut spec,
                ExportSpec {
                    name: export_name(slot),
                    kind: ExportKind::ClusterIp(Ipv4Addr::new(10, 96, 0, target)),
                },
            ),
            ModelOp::PutHeadless { slot, pods } => put_export(
                &mut spec,
                ExportSpec {
                    name: export_name(slot),
                    kind: ExportKind::Headless(headless_pods(pods)),
                },
            ),
            ModelOp::RemoveExport { slot } => spec.exports.retain(|e| e.name != export_name(slot)),
            ModelOp::MoveBlock(choice) => {
                spec.block =
                    parse_net(SCENARIO_BLOCKS[usize::from(choice) % SCENARIO_BLOCKS.len()])?;
            }
            ModelOp::Restart => {}
        }
        Ok(spec)
    }

    /// Applies `op` to the IPAM (both from memory and through saved bytes)
    /// and to the model; `Err` describes any divergence.
    pub fn step(&mut self, op: ModelOp) -> Result<StepOutcome, String> {
        let spec = self.next_spec(op)?;
        let via_memory = self.ipam.update(spec.clone());
        let via_bytes = Ipam::reconcile(spec.clone(), Some(&self.ipam.to_bytes()));
        if via_memory != via_bytes {
            return Err(format!(
                "{op:?}: update() and reconcile(to_bytes()) differ:\n{via_memory:?}\n{via_bytes:?}"
            ));
        }
        let block_moved = spec.block != self.spec.block;
        let model = if block_moved {
            ReferenceModel::new(spec.block)?.apply(&spec)
        } else {
            self.model.apply(&spec)
        };
        match (via_memory, model) {
            (Err(IpamError::Exhausted { .. }), None) => Ok(StepOutcome::Exhausted),
            (Ok((ipam, notices)), Some(model)) => {
                check_notices(&self.ipam, &spec, block_moved, &notices)
                    .map_err(|e| format!("{op:?}: {e}"))?;
                let previous = (!block_moved).then_some(&self.ipam);
                check_ipam(previous, &ipam, &spec).map_err(|e| format!("{op:?}: {e}"))?;
                check_against_model(&ipam, &model).map_err(|e| format!("{op:?}: {e}"))?;
                self.spec = spec;
                self.ipam = ipam;
                self.model = model;
                Ok(StepOutcome::Applied)
            }
            (ipam, model) => Err(format!(
                "{op:?}: IPAM gave {ipam:?} but the model {}",
                if model.is_some() {
                    "fits"
                } else {
                    "is exhausted"
                }
            )),
        }
    }
}

/// In-memory state never holds an invalid IP: the only notices come from a
/// block move, one per saved IP of a surviving owner.
fn check_notices(
    previous: &Ipam,
    spec: &IpamSpec,
    block_moved: bool,
    notices: &[super::Notice],
) -> Result<(), String> {
    if !block_moved {
        return match notices {
            [] => Ok(()),
            _ => Err(format!("unexpected notices {notices:?}")),
        };
    }
    let survivors: Vec<Owner> = demands_of(spec).into_iter().map(|(o, _)| o).collect();
    let expected: usize = previous
        .allocations()
        .iter()
        .filter(|a| survivors.contains(&a.owner))
        .map(|a| a.ips.len())
        .sum();
    let all_block_changed = notices
        .iter()
        .all(|n| matches!(n.problem, super::SavedIpProblem::BlockChanged { .. }));
    if notices.len() != expected || !all_block_changed {
        return Err(format!(
            "block move: expected {expected} BlockChanged notices, got {notices:?}"
        ));
    }
    Ok(())
}

/// Rules that hold for any IPAM, checked without the model: unique,
/// in-block, unreserved IPs; each owner holds its count; counts add up; the
/// plan agrees; and (given the previous IPAM on the same block) an owner
/// present in both keeps its IPs, or a subset/superset when it was resized.
pub fn check_ipam(previous: Option<&Ipam>, ipam: &Ipam, spec: &IpamSpec) -> Result<(), String> {
    let block = spec.block;
    let usable = usable_addresses(block)?;
    let mut seen = AddressSet::empty(block).ok_or("block too big for the checks")?;
    for a in ipam.allocations() {
        for ip in &a.ips {
            if !usable.contains(*ip) {
                return Err(format!(
                    "{ip} of {} is outside {block} or reserved",
                    a.owner
                ));
            }
            if !seen.insert(*ip) {
                return Err(format!("{ip} allocated twice"));
            }
        }
    }
    let demands = demands_of(spec);
    let held: BTreeMap<&Owner, &[Ipv4Addr]> = ipam
        .allocations()
        .iter()
        .map(|a| (&a.owner, a.ips.as_slice()))
        .collect();
    if held.len() != demands.len() {
        return Err(format!("{} owners, spec has {}", held.len(), demands.len()));
    }
    for (owner, count) in &demands {
        let ips = held.get(owner).copied().unwrap_or(&[]);
        if ips.len() != *count {
            return Err(format!("{owner} holds {} IPs, wants {count}", ips.len()));
        }
        if let Some(previous) = previous {
            let set_of = |ips: &[Ipv4Addr]| {
                let mut set = AddressSet::empty(block).ok_or("block too big for the checks")?;
                set.extend(ips.iter().copied());
                Ok::<_, String>(set)
            };
            let (before, after) = (set_of(previous.ips_of(owner))?, set_of(ips)?);
            let kept = if before.len() <= after.len() {
                before.is_subset(&after)
            } else {
                after.is_subset(&before)
            };
            if !kept {
                return Err(format!("{owner} moved from {before:?} to {after:?}"));
            }
        }
    }
    let allocated = u32::try_from(seen.len()).map_err(|e| e.to_string())?;
    let capacity = u32::try_from(usable.len()).map_err(|e| e.to_string())?;
    if ipam.allocated_count() != allocated
        || ipam.capacity() != capacity
        || ipam.available_count() != capacity - allocated
    {
        return Err(format!(
            "counts: allocated {} available {} capacity {}, expected {allocated} {} {capacity}",
            ipam.allocated_count(),
            ipam.available_count(),
            ipam.capacity(),
            capacity - allocated
        ));
    }
    if usable.contains(ipam.gateway_ip()) || !block.contains(&ipam.gateway_ip()) {
        return Err(format!("gateway IP {} is allocatable", ipam.gateway_ip()));
    }
    check_plan(ipam)
}

fn check_plan(ipam: &Ipam) -> Result<(), String> {
    let plan = ipam.plan();
    if plan.pool != ipam.ips_of(&Owner::ClusterEgress) {
        return Err(format!("plan pool {:?}", plan.pool));
    }
    for a in ipam.allocations() {
        for ip in &a.ips {
            let ok = match &a.owner {
                Owner::ClusterEgress | Owner::EgressGroup(_) => {
                    plan.is_egress_ip(*ip) && plan.ingress_target(*ip).is_none()
                }
                Owner::Ingress(_) => !plan.is_egress_ip(*ip) && plan.ingress_target(*ip).is_some(),
                Owner::HeadlessPod { pod, .. } => {
                    plan.is_egress_ip(*ip) && plan.ingress_target(*ip) == Some(*pod)
                }
            };
            if !ok {
                return Err(format!("plan disagrees about {ip} of {}", a.owner));
            }
        }
    }
    Ok(())
}

pub fn check_against_model(ipam: &Ipam, model: &ReferenceModel) -> Result<(), String> {
    let real: Vec<(Owner, Vec<Ipv4Addr>)> = ipam
        .allocations()
        .iter()
        .map(|a| (a.owner.clone(), a.ips.clone()))
        .collect();
    if real != model.owners {
        return Err(format!("IPAM {real:?}\nmodel {:?}", model.owners));
    }
    let counts = ipam.counts();
    for kind in [
        OwnerKind::ClusterEgress,
        OwnerKind::EgressGroup,
        OwnerKind::Ingress,
        OwnerKind::HeadlessPod,
    ] {
        if usize::try_from(counts.of(kind)).ok() != Some(model.count_of(kind)) {
            return Err(format!(
                "{kind:?} count {} vs model {}",
                counts.of(kind),
                model.count_of(kind)
            ));
        }
    }
    if usize::try_from(ipam.available_count()).ok() != Some(model.free.len()) {
        return Err(format!(
            "available {} vs model {}",
            ipam.available_count(),
            model.free.len()
        ));
    }
    Ok(())
}

/// The spec saved states are loaded against in [`check_loader`].
pub fn loader_spec() -> Result<IpamSpec, String> {
    let mut spec = IpamSpec::new(
        parse_net("242.0.0.0/26")?,
        vec![parse_net("10.244.0.0/16")?, parse_net("10.96.0.0/16")?],
    );
    spec.cluster_egress_ips = 2;
    spec.groups.push(group_spec(0, 2));
    spec.exports.push(ExportSpec {
        name: export_name(0),
        kind: ExportKind::ClusterIp(Ipv4Addr::new(10, 96, 0, 10)),
    });
    spec.exports.push(ExportSpec {
        name: export_name(1),
        kind: ExportKind::Headless(headless_pods(0b11)),
    });
    Ok(spec)
}

/// Feeds arbitrary bytes to the loader: it must refuse them with
/// `CorruptState` or produce a valid IPAM whose own bytes reload unchanged.
pub fn check_loader(bytes: &[u8]) -> Result<(), String> {
    let spec = loader_spec()?;
    match Ipam::reconcile(spec.clone(), Some(bytes)) {
        Err(IpamError::CorruptState(_)) => Ok(()),
        Err(other) => Err(format!("loader: unexpected error {other}")),
        Ok((ipam, notices)) => {
            check_ipam(None, &ipam, &spec)?;
            for n in &notices {
                if let Some(ip) = n.replacement {
                    if !ipam.ips_of(&n.owner).contains(&ip) {
                        return Err(format!("notice names {ip}, not held: {n}"));
                    }
                }
            }
            let again = Ipam::reconcile(spec, Some(&ipam.to_bytes()));
            match again {
                Ok((reloaded, renotices)) if reloaded == ipam && renotices.is_empty() => Ok(()),
                other => Err(format!("reload of saved bytes differs: {other:?}")),
            }
        }
    }
}
