//! Allocation rules and spec validation of `natcore::ipam`.
//! (Everything sits in `mod ipam_rules` so `cargo test -p natcore ipam` selects it.)

// In tests a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

mod ipam_rules {
    use natcore::ipam::{
        ExportKind, ExportSpec, GroupSpec, Ipam, IpamError, IpamSpec, Owner, OwnerKind,
    };
    use natcore::plan::{AddressPlan, EgressGroupPlan, IngressPlan};
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn ips(list: &[&str]) -> Vec<Ipv4Addr> {
        list.iter().map(|s| ip(s)).collect()
    }

    fn spec(block: &str) -> IpamSpec {
        IpamSpec::new(
            block.parse().unwrap(),
            vec![
                "10.244.0.0/16".parse().unwrap(),
                "10.96.0.0/16".parse().unwrap(),
            ],
        )
    }

    fn cluster_ip(name: &str, target: &str) -> ExportSpec {
        ExportSpec {
            name: name.into(),
            kind: ExportKind::ClusterIp(ip(target)),
        }
    }

    fn headless(name: &str, pods: &[&str]) -> ExportSpec {
        ExportSpec {
            name: name.into(),
            kind: ExportKind::Headless(ips(pods)),
        }
    }

    fn group(name: &str, source: &str, n: u8) -> GroupSpec {
        GroupSpec {
            name: name.into(),
            sources: vec![source.parse().unwrap()],
            ips: n,
        }
    }

    /// The seed's example: pool 2, one group, one ClusterIP and one headless export.
    fn example() -> IpamSpec {
        let mut s = spec("242.0.0.0/16");
        s.cluster_egress_ips = 2;
        s.groups.push(group("ns-payments", "10.244.8.0/24", 2));
        s.exports.push(cluster_ip("shared/echo", "10.96.0.10"));
        s.exports
            .push(headless("shared/db", &["10.244.8.9", "10.244.8.10"]));
        s
    }

    fn error_of(s: IpamSpec) -> String {
        Ipam::new(s).unwrap_err().to_string()
    }

    #[test]
    fn first_fit_in_spec_order_and_the_plan_the_engine_gets() {
        let ipam = Ipam::new(example()).unwrap();
        assert_eq!(ipam.gateway_ip(), ip("242.0.0.1"));
        let expected = AddressPlan {
            block: "242.0.0.0/16".parse().unwrap(),
            pool: ips(&["242.0.0.2", "242.0.0.3"]),
            groups: vec![EgressGroupPlan {
                name: "ns-payments".into(),
                sources: vec!["10.244.8.0/24".parse().unwrap()],
                ips: ips(&["242.0.0.4", "242.0.0.5"]),
            }],
            ingress: vec![
                IngressPlan {
                    service: "shared/echo".into(),
                    global_ip: ip("242.0.0.6"),
                    target: ip("10.96.0.10"),
                    headless: false,
                },
                IngressPlan {
                    service: "shared/db".into(),
                    global_ip: ip("242.0.0.7"),
                    target: ip("10.244.8.9"),
                    headless: true,
                },
                IngressPlan {
                    service: "shared/db".into(),
                    global_ip: ip("242.0.0.8"),
                    target: ip("10.244.8.10"),
                    headless: true,
                },
            ],
        };
        assert_eq!(ipam.plan(), expected);
        // The headless pod's global IP is also its egress source.
        assert_eq!(
            ipam.plan().egress_ips_for(ip("10.244.8.9")),
            &[ip("242.0.0.7")]
        );
    }

    #[test]
    fn default_pool_is_eight() {
        let ipam = Ipam::new(spec("242.0.0.0/16")).unwrap();
        assert_eq!(ipam.ips_of(&Owner::ClusterEgress).len(), 8);
        assert_eq!(ipam.ips_of(&Owner::ClusterEgress)[0], ip("242.0.0.2"));
    }

    #[test]
    fn introspection_by_owner_and_kind() {
        let ipam = Ipam::new(example()).unwrap();
        let owners: Vec<String> = ipam
            .allocations()
            .iter()
            .map(|a| a.owner.to_string())
            .collect();
        assert_eq!(
            owners,
            [
                "cluster egress pool",
                "egress group ns-payments",
                "exported service shared/echo",
                "headless service shared/db pod 10.244.8.9",
                "headless service shared/db pod 10.244.8.10",
            ]
        );
        let counts = ipam.counts();
        assert_eq!(
            (
                counts.cluster_egress,
                counts.egress_group,
                counts.ingress,
                counts.headless_pod
            ),
            (2, 2, 1, 2)
        );
        assert_eq!(ipam.allocated_count(), 7);
        assert_eq!(ipam.capacity(), 65_536 - 3);
        assert_eq!(ipam.available_count(), 65_536 - 3 - 7);
        assert_eq!(
            ipam.owner_of(ip("242.0.0.6")),
            Some(&Owner::Ingress("shared/echo".into()))
        );
        assert_eq!(ipam.owner_of(ip("242.0.0.1")), None);
        assert_eq!(OwnerKind::HeadlessPod.metric_label(), "ingress");
        assert_eq!(OwnerKind::ClusterEgress.metric_label(), "cluster_egress");
        assert_eq!(OwnerKind::EgressGroup.metric_label(), "egress_group");
    }

    #[test]
    fn reserved_addresses_are_never_allocated() {
        // A /29 has 8 addresses: network, gateway and broadcast leave 5.
        let mut s = spec("242.0.0.0/29");
        s.cluster_egress_ips = 5;
        let ipam = Ipam::new(s).unwrap();
        assert_eq!(
            ipam.ips_of(&Owner::ClusterEgress),
            ips(&[
                "242.0.0.2",
                "242.0.0.3",
                "242.0.0.4",
                "242.0.0.5",
                "242.0.0.6"
            ])
        );
        assert_eq!(ipam.available_count(), 0);
    }

    #[test]
    fn a_31_has_one_usable_address_below_the_gateway() {
        let mut s = spec("242.0.0.0/31");
        s.cluster_egress_ips = 1;
        let ipam = Ipam::new(s).unwrap();
        assert_eq!(ipam.gateway_ip(), ip("242.0.0.1"));
        assert_eq!(ipam.ips_of(&Owner::ClusterEgress), ips(&["242.0.0.0"]));
    }

    #[test]
    fn adding_an_export_anywhere_moves_nobody() {
        let before = Ipam::new(example()).unwrap();
        let mut s = example();
        s.exports.insert(0, cluster_ip("shared/new", "10.96.0.11"));
        s.groups.insert(0, group("ns-new", "10.244.9.0/24", 1));
        let (after, notices) = before.update(s).unwrap();
        assert!(notices.is_empty());
        for a in before.allocations() {
            assert_eq!(after.ips_of(&a.owner), a.ips.as_slice(), "{}", a.owner);
        }
        assert_eq!(
            after.ips_of(&Owner::EgressGroup("ns-new".into())),
            ips(&["242.0.0.9"])
        );
        assert_eq!(
            after.ips_of(&Owner::Ingress("shared/new".into())),
            ips(&["242.0.0.10"])
        );
    }

    #[test]
    fn a_removed_export_frees_its_ip_for_the_next_one() {
        let before = Ipam::new(example()).unwrap();
        let mut s = example();
        s.exports.retain(|e| e.name != "shared/echo");
        let (without, _) = before.update(s.clone()).unwrap();
        assert_eq!(without.owner_of(ip("242.0.0.6")), None);
        s.exports.push(cluster_ip("shared/other", "10.96.0.12"));
        let (after, _) = without.update(s).unwrap();
        assert_eq!(
            after.owner_of(ip("242.0.0.6")),
            Some(&Owner::Ingress("shared/other".into()))
        );
    }

    #[test]
    fn resizing_keeps_the_lowest_ips_and_adds_first_fit() {
        let before = Ipam::new(example()).unwrap();
        let mut s = example();
        s.cluster_egress_ips = 1;
        let (shrunk, _) = before.update(s.clone()).unwrap();
        assert_eq!(shrunk.ips_of(&Owner::ClusterEgress), ips(&["242.0.0.2"]));
        s.cluster_egress_ips = 3;
        let (grown, _) = shrunk.update(s).unwrap();
        // .3 was freed by the shrink: first fit takes it back, then .9.
        assert_eq!(
            grown.ips_of(&Owner::ClusterEgress),
            ips(&["242.0.0.2", "242.0.0.3", "242.0.0.9"])
        );
        assert_eq!(
            grown.ips_of(&Owner::EgressGroup("ns-payments".into())),
            ips(&["242.0.0.4", "242.0.0.5"])
        );
    }

    #[test]
    fn headless_pods_are_keyed_by_service_and_pod() {
        let before = Ipam::new(example()).unwrap();
        let mut s = example();
        s.exports[1] = headless("shared/db", &["10.244.8.10", "10.244.8.11"]);
        // Another service backed by the same pod gets its own IP.
        s.exports
            .push(headless("shared/db-replica", &["10.244.8.10"]));
        let (after, _) = before.update(s).unwrap();
        let pod = |service: &str, pod: &str| Owner::HeadlessPod {
            service: service.into(),
            pod: ip(pod),
        };
        assert_eq!(
            after.ips_of(&pod("shared/db", "10.244.8.10")),
            ips(&["242.0.0.8"])
        );
        assert_eq!(
            after.ips_of(&pod("shared/db", "10.244.8.11")),
            ips(&["242.0.0.7"])
        );
        assert_eq!(
            after.ips_of(&pod("shared/db-replica", "10.244.8.10")),
            ips(&["242.0.0.9"])
        );
    }

    #[test]
    fn a_clusterip_target_change_keeps_the_global_ip() {
        let before = Ipam::new(example()).unwrap();
        let mut s = example();
        s.exports[0] = cluster_ip("shared/echo", "10.96.0.99");
        let (after, _) = before.update(s).unwrap();
        assert_eq!(
            after.plan().ingress_target(ip("242.0.0.6")),
            Some(ip("10.96.0.99"))
        );
    }

    #[test]
    fn block_must_be_a_network_inside_class_e_with_room_for_the_gateway() {
        assert_eq!(
            error_of(spec("242.0.0.5/16")),
            "global block 242.0.0.5/16 has host bits set (did you mean 242.0.0.0/16?)"
        );
        assert_eq!(
            error_of(spec("10.200.0.0/16")),
            "global block 10.200.0.0/16 is not inside 240.0.0.0/4"
        );
        assert_eq!(
            error_of(spec("224.0.0.0/3")),
            "global block 224.0.0.0/3 is not inside 240.0.0.0/4"
        );
        assert_eq!(
            error_of(spec("242.0.0.7/32")),
            "global block 242.0.0.7/32 is too small: a /32 leaves no room for the gateway address (block + 1)"
        );
        assert!(Ipam::new(spec("240.0.0.0/4")).is_ok());
        assert!(matches!(
            Ipam::new(spec("10.200.0.0/16")),
            Err(IpamError::BlockNotGlobal { .. })
        ));
    }

    #[test]
    fn block_must_not_overlap_local_cidrs_or_peers() {
        let mut s = spec("242.0.0.0/16");
        s.local_cidrs.push("242.0.5.0/24".parse().unwrap());
        assert_eq!(
            error_of(s),
            "global block 242.0.0.0/16 overlaps local pod/service CIDR 242.0.5.0/24"
        );
        let mut s = spec("242.0.0.0/16");
        s.local_cidrs.push("240.0.0.0/4".parse().unwrap());
        assert_eq!(
            error_of(s),
            "global block 242.0.0.0/16 overlaps local pod/service CIDR 240.0.0.0/4"
        );
        let mut s = spec("242.0.0.0/16");
        s.peer_blocks.push("243.0.0.0/16".parse().unwrap());
        s.peer_blocks.push("242.0.0.0/8".parse().unwrap());
        assert_eq!(
            error_of(s),
            "global block 242.0.0.0/16 overlaps peer global block 242.0.0.0/8"
        );
    }

    #[test]
    fn counts_must_be_in_range() {
        let mut s = spec("242.0.0.0/16");
        s.cluster_egress_ips = 21;
        assert_eq!(
            error_of(s),
            "cluster egress pool size is 21, allowed 0..=20"
        );
        let mut s = spec("242.0.0.0/16");
        s.cluster_egress_ips = 0;
        assert!(Ipam::new(s).is_ok());
        for bad in [0, 21] {
            let mut s = spec("242.0.0.0/16");
            s.groups.push(group("ns-a", "10.244.1.0/24", bad));
            assert_eq!(
                error_of(s),
                format!("egress group ns-a: ips is {bad}, allowed 1..=20")
            );
        }
    }

    #[test]
    fn group_sources_must_be_local() {
        let mut s = spec("242.0.0.0/16");
        s.groups.push(group("ns-a", "10.245.1.0/24", 1));
        assert_eq!(
            error_of(s),
            "egress group ns-a: source 10.245.1.0/24 is not inside any local pod/service CIDR"
        );
        // Wider than the pod CIDR it starts in.
        let mut s = spec("242.0.0.0/16");
        s.groups.push(group("ns-a", "10.0.0.0/8", 1));
        assert!(matches!(
            Ipam::new(s),
            Err(IpamError::GroupSourceOutsideLocal { .. })
        ));
        let mut s = spec("242.0.0.0/16");
        s.groups.push(GroupSpec {
            name: "ns-a".into(),
            sources: vec![],
            ips: 1,
        });
        assert_eq!(error_of(s), "egress group ns-a has no sources");
    }

    #[test]
    fn export_targets_must_be_local() {
        let mut s = spec("242.0.0.0/16");
        s.exports.push(cluster_ip("shared/echo", "192.168.1.1"));
        assert_eq!(
            error_of(s),
            "exported service shared/echo: target 192.168.1.1 is not inside any local pod/service CIDR"
        );
        let mut s = spec("242.0.0.0/16");
        s.exports
            .push(headless("shared/db", &["10.244.1.1", "172.16.0.1"]));
        assert!(matches!(
            Ipam::new(s),
            Err(IpamError::ExportTargetOutsideLocal { .. })
        ));
    }

    #[test]
    fn names_must_be_unique_and_printable() {
        let mut s = spec("242.0.0.0/16");
        s.groups.push(group("ns-a", "10.244.1.0/24", 1));
        s.groups.push(group("ns-a", "10.244.2.0/24", 1));
        assert_eq!(
            error_of(s),
            "egress group name \"ns-a\" is used more than once"
        );
        let mut s = spec("242.0.0.0/16");
        s.exports.push(cluster_ip("shared/echo", "10.96.0.1"));
        s.exports.push(headless("shared/echo", &[]));
        assert_eq!(
            error_of(s),
            "export name \"shared/echo\" is used more than once"
        );
        // A group and an export may share a name: they are different owners.
        let mut s = spec("242.0.0.0/16");
        s.groups.push(group("shared", "10.244.1.0/24", 1));
        s.exports.push(cluster_ip("shared", "10.96.0.1"));
        assert!(Ipam::new(s).is_ok());

        let mut s = spec("242.0.0.0/16");
        s.exports
            .push(headless("shared/db", &["10.244.1.1", "10.244.1.1"]));
        assert_eq!(
            error_of(s),
            "exported service shared/db: pod 10.244.1.1 is listed more than once"
        );
        let mut s = spec("242.0.0.0/16");
        s.exports.push(cluster_ip("shared/my echo", "10.96.0.1"));
        assert_eq!(
            error_of(s),
            "export name \"shared/my echo\" is invalid: only printable ASCII without spaces is allowed"
        );
        let mut s = spec("242.0.0.0/16");
        s.groups.push(group("", "10.244.1.0/24", 1));
        assert_eq!(
            error_of(s),
            "egress group name \"\" is invalid: it is empty"
        );
        let mut s = spec("242.0.0.0/16");
        s.groups.push(group(&"g".repeat(1000), "10.244.1.0/24", 1));
        let message = error_of(s);
        assert!(
            message.ends_with("is invalid: it is longer than 317 bytes"),
            "{message}"
        );
        assert!(message.len() < 200, "the name is shortened: {message}");
    }
}
