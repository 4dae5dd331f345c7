//! Address-space rules across sections: every destination must map to exactly
//! one place (local, our global block, or one peer), or packets would be
//! translated or routed ambiguously.

use super::Block;
use crate::config::error::Errors;
use ipnet::Ipv4Net;

fn overlap(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn report(errors: &mut Errors, block: &Block, other: &Block, why: &str) {
    errors.add(
        &block.path,
        format!(
            "{} overlaps {} ({}){why}",
            block.cidr, other.path, other.cidr
        ),
    );
}

/// - our global block vs local Pod/Service CIDRs;
/// - each peer block vs our global block, our local CIDRs, and other peers' blocks.
///
/// The later of two overlapping blocks carries the error.
pub(super) fn check(errors: &mut Errors, global: Option<&Block>, local: &[Block], peers: &[Block]) {
    if let Some(global) = global {
        for local_block in local {
            if overlap(global.cidr, local_block.cidr) {
                report(errors, global, local_block, "");
            }
        }
    }
    for (index, block) in peers.iter().enumerate() {
        if let Some(global) = global {
            if overlap(block.cidr, global.cidr) {
                report(errors, block, global, ", this cluster's own global block");
            }
        }
        for local_block in local {
            if overlap(block.cidr, local_block.cidr) {
                report(errors, block, local_block, ", a local CIDR");
            }
        }
        for earlier in &peers[..index] {
            if earlier.peer != block.peer && overlap(block.cidr, earlier.cidr) {
                report(errors, block, earlier, ", another peer's block");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        assert!(overlap(net("10.0.0.0/8"), net("10.1.0.0/16")));
        assert!(overlap(net("10.1.0.0/16"), net("10.0.0.0/8")));
        assert!(overlap(net("10.1.0.0/16"), net("10.1.0.0/16")));
        assert!(!overlap(net("10.1.0.0/16"), net("10.2.0.0/16")));
        assert!(!overlap(net("242.0.0.0/16"), net("243.0.0.0/16")));
        assert!(overlap(net("0.0.0.0/0"), net("243.0.0.0/16")));
    }
}
