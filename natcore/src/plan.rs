//! The address plan: an immutable snapshot of who owns which global IP.
//!
//! [`crate::ipam::Ipam`] decides the allocations and builds an [`AddressPlan`];
//! the engine consults it only when a *new* flow is created (established flows
//! never touch it), and the gateway swaps in a new plan on reload.

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// A set of local sources with dedicated global egress IPs (Submariner's
/// `GlobalEgressIP` for a namespace or a pod selector).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressGroupPlan {
    pub name: String,
    pub sources: Vec<Ipv4Net>,
    pub ips: Vec<Ipv4Addr>,
}

/// What an ingress global IP leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressPlan {
    /// `namespace/name` of the exported service.
    pub service: String,
    pub global_ip: Ipv4Addr,
    /// ClusterIP of the service, or the backing pod IP for a headless service.
    pub target: Ipv4Addr,
    /// Headless: `target` is a pod, and `global_ip` is also its egress source.
    pub headless: bool,
}

/// Immutable view of one cluster's global addressing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressPlan {
    /// This cluster's global block.
    pub block: Ipv4Net,
    /// Cluster egress pool (Submariner's `ClusterGlobalEgressIP`).
    pub pool: Vec<Ipv4Addr>,
    pub groups: Vec<EgressGroupPlan>,
    pub ingress: Vec<IngressPlan>,
}

impl AddressPlan {
    /// A plan with a block and a pool only.
    pub fn new(block: Ipv4Net, pool: Vec<Ipv4Addr>) -> Self {
        AddressPlan {
            block,
            pool,
            groups: Vec::new(),
            ingress: Vec::new(),
        }
    }

    /// Egress IPs a new flow from `src` may use, by Submariner's precedence:
    /// pod selector (a /32 group) > headless pod > namespace group (longest
    /// prefix) > cluster pool. Empty when the source has none.
    pub fn egress_ips_for(&self, src: Ipv4Addr) -> &[Ipv4Addr] {
        let pod_selector = self.groups.iter().find(|g| {
            g.sources
                .iter()
                .any(|n| n.prefix_len() == 32 && n.addr() == src)
        });
        if let Some(g) = pod_selector {
            return &g.ips;
        }
        if let Some(i) = self.ingress.iter().find(|i| i.headless && i.target == src) {
            return std::slice::from_ref(&i.global_ip);
        }
        let best = self
            .groups
            .iter()
            .filter_map(|g| {
                g.sources
                    .iter()
                    .filter(|n| n.contains(&src))
                    .map(|n| n.prefix_len())
                    .max()
                    .map(|len| (len, g))
            })
            .max_by_key(|(len, _)| *len);
        match best {
            Some((_, g)) => &g.ips,
            None => &self.pool,
        }
    }

    /// The exported target behind an ingress global IP.
    pub fn ingress_target(&self, global_ip: Ipv4Addr) -> Option<Ipv4Addr> {
        self.ingress
            .iter()
            .find(|i| i.global_ip == global_ip)
            .map(|i| i.target)
    }

    /// Whether `ip` is one of our egress IPs (pool, group or headless pod).
    pub fn is_egress_ip(&self, ip: Ipv4Addr) -> bool {
        self.pool.contains(&ip)
            || self.groups.iter().any(|g| g.ips.contains(&ip))
            || self.ingress.iter().any(|i| i.headless && i.global_ip == ip)
    }

    /// Whether `ip` lies in this cluster's global block.
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.block.contains(&ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn plan() -> AddressPlan {
        let mut p = AddressPlan::new("242.0.0.0/16".parse().unwrap(), vec![ip("242.0.0.1")]);
        p.groups.push(EgressGroupPlan {
            name: "ns-payments".into(),
            sources: vec!["10.244.8.0/24".parse().unwrap()],
            ips: vec![ip("242.0.0.20")],
        });
        p.groups.push(EgressGroupPlan {
            name: "pod-db".into(),
            sources: vec!["10.244.8.7/32".parse().unwrap()],
            ips: vec![ip("242.0.0.30")],
        });
        p.ingress.push(IngressPlan {
            service: "shared/echo".into(),
            global_ip: ip("242.0.0.40"),
            target: ip("10.96.0.10"),
            headless: false,
        });
        p.ingress.push(IngressPlan {
            service: "shared/db-0".into(),
            global_ip: ip("242.0.0.41"),
            target: ip("10.244.8.9"),
            headless: true,
        });
        p
    }

    #[test]
    fn egress_precedence_follows_submariner() {
        let p = plan();
        assert_eq!(p.egress_ips_for(ip("10.244.8.7")), &[ip("242.0.0.30")]);
        assert_eq!(p.egress_ips_for(ip("10.244.8.9")), &[ip("242.0.0.41")]);
        assert_eq!(p.egress_ips_for(ip("10.244.8.1")), &[ip("242.0.0.20")]);
        assert_eq!(p.egress_ips_for(ip("10.244.1.1")), &[ip("242.0.0.1")]);
    }

    #[test]
    fn ingress_and_ownership() {
        let p = plan();
        assert_eq!(p.ingress_target(ip("242.0.0.40")), Some(ip("10.96.0.10")));
        assert_eq!(p.ingress_target(ip("242.0.0.1")), None);
        assert!(p.is_egress_ip(ip("242.0.0.41")));
        assert!(!p.is_egress_ip(ip("242.0.0.40")));
        assert!(p.owns(ip("242.0.255.255")));
        assert!(!p.owns(ip("243.0.0.1")));
    }
}
