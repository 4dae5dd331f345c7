//! Running out of global IPs: a /28 holds 16 − 3 (network, gateway,
//! broadcast) = 13 allocatable addresses.
//! (Everything sits in `mod ipam_exhaustion` so `cargo test -p natcore ipam` selects it.)

// In tests a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

mod ipam_exhaustion {
    use natcore::ipam::{ExportKind, ExportSpec, GroupSpec, Ipam, IpamError, IpamSpec, Owner};
    use std::net::Ipv4Addr;

    const SLASH_28_CAPACITY: u32 = 16 - 3;

    fn spec_28(pool: u8) -> IpamSpec {
        let mut s = IpamSpec::new(
            "242.0.0.0/28".parse().unwrap(),
            vec![
                "10.244.0.0/16".parse().unwrap(),
                "10.96.0.0/16".parse().unwrap(),
            ],
        );
        s.cluster_egress_ips = pool;
        s
    }

    fn export(n: u8) -> ExportSpec {
        ExportSpec {
            name: format!("shared/svc-{n}"),
            kind: ExportKind::ClusterIp(Ipv4Addr::new(10, 96, 0, n)),
        }
    }

    #[test]
    fn a_28_fills_exactly_then_names_who_is_short() {
        let mut s = spec_28(8);
        s.groups.push(GroupSpec {
            name: "ns-payments".into(),
            sources: vec!["10.244.8.0/24".parse().unwrap()],
            ips: 5,
        });
        let full = Ipam::new(s.clone()).unwrap();
        assert_eq!(full.capacity(), SLASH_28_CAPACITY);
        assert_eq!(full.allocated_count(), SLASH_28_CAPACITY);
        assert_eq!(full.available_count(), 0);
        assert_eq!(
            full.ips_of(&Owner::EgressGroup("ns-payments".into()))
                .last(),
            Some(&Ipv4Addr::new(242, 0, 0, 14))
        );

        s.exports.push(export(1));
        let err = full.update(s).unwrap_err();
        assert_eq!(
            err.to_string(),
            "global block 242.0.0.0/28 is exhausted: exported service shared/svc-1 needs 1 more IP(s), 0 free"
        );
    }

    #[test]
    fn exhaustion_counts_what_the_owner_still_needs() {
        let mut s = spec_28(10);
        s.groups.push(GroupSpec {
            name: "ns-a".into(),
            sources: vec!["10.244.1.0/24".parse().unwrap()],
            ips: 4,
        });
        assert_eq!(
            Ipam::new(s).unwrap_err(),
            IpamError::Exhausted {
                block: "242.0.0.0/28".parse().unwrap(),
                owner: Owner::EgressGroup("ns-a".into()),
                needed: 4,
                free: 3,
            }
        );
    }

    #[test]
    fn a_refused_spec_leaves_the_running_allocation_usable() {
        let mut s = spec_28(0);
        s.exports.extend((1..=13).map(export));
        let full = Ipam::new(s.clone()).unwrap();
        let saved = full.to_bytes();

        // Growing the pool does not fit: refused as a whole.
        s.cluster_egress_ips = 1;
        assert!(matches!(
            Ipam::reconcile(s.clone(), Some(&saved)),
            Err(IpamError::Exhausted {
                needed: 1,
                free: 0,
                ..
            })
        ));
        // Removing an export makes room, and only its IP changes hands.
        s.exports.retain(|e| e.name != "shared/svc-7");
        let (after, notices) = Ipam::reconcile(s, Some(&saved)).unwrap();
        assert!(notices.is_empty());
        let freed = full.ips_of(&Owner::Ingress("shared/svc-7".into()));
        assert_eq!(after.ips_of(&Owner::ClusterEgress), freed);
        for a in after.allocations().iter().skip(1) {
            assert_eq!(full.ips_of(&a.owner), a.ips.as_slice());
        }
    }

    #[test]
    fn a_saved_state_larger_than_the_spec_still_fits_after_freeing() {
        // Saved: 13 exports. Now: 13 different exports. Old owners free everything.
        let mut s = spec_28(0);
        s.exports.extend((1..=13).map(export));
        let saved = Ipam::new(s.clone()).unwrap().to_bytes();
        s.exports = (21..=33).map(export).collect();
        let (ipam, _) = Ipam::reconcile(s, Some(&saved)).unwrap();
        assert_eq!(ipam.available_count(), 0);
    }
}
