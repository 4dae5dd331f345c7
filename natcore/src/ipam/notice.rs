//! Saved allocations that could not be kept, reported instead of silently
//! shuffled.

use super::block::ReservedRole;
use super::owner::Owner;
use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

/// Why a saved IP was not given back to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SavedIpProblem {
    /// The state was saved for another block: nothing in it is trusted.
    BlockChanged { saved: Ipv4Net, current: Ipv4Net },
    /// The IP is not inside the current block.
    OutsideBlock { block: Ipv4Net },
    /// The IP is one the IPAM never hands out.
    Reserved(ReservedRole),
    /// The same owner lists the IP twice.
    Duplicate,
    /// An earlier line gave the IP to another owner, which keeps it.
    Conflict { holder: Owner },
}

impl fmt::Display for SavedIpProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SavedIpProblem::BlockChanged { saved, current } => {
                write!(
                    f,
                    "was saved for block {saved}, but the block is now {current}"
                )
            }
            SavedIpProblem::OutsideBlock { block } => {
                write!(f, "is outside the global block {block}")
            }
            SavedIpProblem::Reserved(role) => write!(f, "is {role}"),
            SavedIpProblem::Duplicate => f.write_str("is listed twice"),
            SavedIpProblem::Conflict { holder } => write!(f, "is already held by {holder}"),
        }
    }
}

/// A saved IP that was dropped, and what its owner got instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub owner: Owner,
    /// The IP the saved state gave the owner.
    pub saved_ip: Ipv4Addr,
    pub problem: SavedIpProblem,
    /// The IP allocated in its place; `None` when the owner's other saved IPs
    /// already cover its (possibly smaller) count.
    pub replacement: Option<Ipv4Addr>,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: saved IP {} {}; ",
            self.owner, self.saved_ip, self.problem
        )?;
        match self.replacement {
            Some(ip) => write!(f, "replaced by {ip}"),
            None => f.write_str("dropped (its other saved IPs cover its count)"),
        }
    }
}
