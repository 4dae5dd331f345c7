//! From a validated spec and saved allocations to the new allocations.
//!
//! 1. Every saved IP of an owner that still exists is claimed again, in file
//!    order, unless it is outside the block, reserved, listed twice, or
//!    already claimed by another owner (the first claim wins); those become
//!    [`Notice`]s. IPs of owners that no longer exist are simply not claimed.
//! 2. An owner that now needs fewer IPs keeps its lowest ones.
//! 3. Owners short of IPs get the lowest free ones (first fit), in spec
//!    order: pool, groups, exports. Nothing claimed in step 1 ever moves, so
//!    adding an owner never disturbs another.

use super::allocator::Allocator;
use super::error::IpamError;
use super::notice::{Notice, SavedIpProblem};
use super::owner::{Owner, OwnerAllocation};
use super::spec::ValidSpec;
use super::state::SavedState;
use std::collections::HashMap;
use std::net::Ipv4Addr;

pub(crate) struct Outcome {
    /// One per demand, in the spec's order.
    pub(crate) allocations: Vec<OwnerAllocation>,
    pub(crate) notices: Vec<Notice>,
}

/// Per owner: the saved IPs it keeps and the ones it cannot.
struct Claims {
    kept: Vec<Vec<Ipv4Addr>>,
    dropped: Vec<Vec<(Ipv4Addr, SavedIpProblem)>>,
}

fn claim_saved(spec: &ValidSpec, saved: &SavedState, allocator: &mut Allocator) -> Claims {
    let owners = spec.demands.len();
    let mut claims = Claims {
        kept: vec![Vec::new(); owners],
        dropped: vec![Vec::new(); owners],
    };
    let index: HashMap<&Owner, usize> = spec
        .demands
        .iter()
        .enumerate()
        .map(|(i, d)| (&d.owner, i))
        .collect();
    let block = spec.block;
    for entry in &saved.entries {
        let Some(&owner) = index.get(&entry.owner) else {
            continue; // the owner is gone: its IP stays free
        };
        let ip = entry.ip;
        let problem = if saved.block != block.net() {
            Some(SavedIpProblem::BlockChanged {
                saved: saved.block,
                current: block.net(),
            })
        } else if !block.contains(ip) {
            Some(SavedIpProblem::OutsideBlock { block: block.net() })
        } else if let Some(role) = block.reserved_role(ip) {
            Some(SavedIpProblem::Reserved(role))
        } else {
            match allocator.holder(ip) {
                Some(holder) if holder == owner => Some(SavedIpProblem::Duplicate),
                Some(holder) => Some(SavedIpProblem::Conflict {
                    holder: spec.demands[holder].owner.clone(),
                }),
                None => {
                    allocator.claim(ip, owner);
                    claims.kept[owner].push(ip);
                    None
                }
            }
        };
        if let Some(problem) = problem {
            claims.dropped[owner].push((ip, problem));
        }
    }
    claims
}

pub(crate) fn reconcile(
    spec: &ValidSpec,
    saved: Option<&SavedState>,
) -> Result<Outcome, IpamError> {
    let mut allocator = Allocator::new(spec.block);
    let mut claims = match saved {
        Some(saved) => claim_saved(spec, saved, &mut allocator),
        None => Claims {
            kept: vec![Vec::new(); spec.demands.len()],
            dropped: vec![Vec::new(); spec.demands.len()],
        },
    };

    for (demand, kept) in spec.demands.iter().zip(&mut claims.kept) {
        kept.sort_unstable();
        let keep = usize::try_from(demand.count).unwrap_or(usize::MAX);
        for surplus in kept.split_off(keep.min(kept.len())) {
            allocator.release(surplus);
        }
    }

    let mut allocations = Vec::with_capacity(spec.demands.len());
    let mut notices = Vec::new();
    for (i, demand) in spec.demands.iter().enumerate() {
        let kept = std::mem::take(&mut claims.kept[i]);
        let held = u32::try_from(kept.len()).unwrap_or(u32::MAX);
        let needed = demand.count.saturating_sub(held);
        let free = allocator.free_count();
        let exhausted = || IpamError::Exhausted {
            block: spec.block.net(),
            owner: demand.owner.clone(),
            needed,
            free,
        };
        if needed > free {
            return Err(exhausted());
        }
        let mut fresh = Vec::new();
        for _ in 0..needed {
            fresh.push(allocator.take_lowest(i).ok_or_else(exhausted)?);
        }
        for (k, (saved_ip, problem)) in std::mem::take(&mut claims.dropped[i])
            .into_iter()
            .enumerate()
        {
            notices.push(Notice {
                owner: demand.owner.clone(),
                saved_ip,
                problem,
                replacement: fresh.get(k).copied(),
            });
        }
        let mut ips = kept;
        ips.extend(fresh);
        ips.sort_unstable();
        allocations.push(OwnerAllocation {
            owner: demand.owner.clone(),
            ips,
        });
    }
    Ok(Outcome {
        allocations,
        notices,
    })
}
