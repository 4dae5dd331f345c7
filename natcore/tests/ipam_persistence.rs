//! Saving and reloading `natcore::ipam` state: the format, round trips,
//! damaged entries reported and re-allocated, corrupt files refused.
//! (Everything sits in `mod ipam_persistence` so `cargo test -p natcore ipam` selects it.)

// In tests a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

mod ipam_persistence {
    use natcore::ipam::{
        ExportKind, ExportSpec, GroupSpec, Ipam, IpamError, IpamSpec, LineProblem, Notice, Owner,
        ReservedRole, SavedIpProblem, StateError,
    };
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn ips(list: &[&str]) -> Vec<Ipv4Addr> {
        list.iter().map(|s| ip(s)).collect()
    }

    fn example() -> IpamSpec {
        let mut s = IpamSpec::new(
            "242.0.0.0/16".parse().unwrap(),
            vec![
                "10.244.0.0/16".parse().unwrap(),
                "10.96.0.0/16".parse().unwrap(),
            ],
        );
        s.cluster_egress_ips = 2;
        s.groups.push(GroupSpec {
            name: "ns-payments".into(),
            sources: vec!["10.244.8.0/24".parse().unwrap()],
            ips: 2,
        });
        s.exports.push(ExportSpec {
            name: "shared/echo".into(),
            kind: ExportKind::ClusterIp(ip("10.96.0.10")),
        });
        s.exports.push(ExportSpec {
            name: "shared/db".into(),
            kind: ExportKind::Headless(ips(&["10.244.8.9", "10.244.8.10"])),
        });
        s
    }

    fn load(spec: IpamSpec, text: &str) -> Result<(Ipam, Vec<Notice>), IpamError> {
        Ipam::reconcile(spec, Some(text.as_bytes()))
    }

    fn corrupt(text: &[u8]) -> String {
        match Ipam::reconcile(example(), Some(text)) {
            Err(e @ IpamError::CorruptState(_)) => e.to_string(),
            other => panic!("expected CorruptState, got {other:?}"),
        }
    }

    const EXAMPLE_STATE: &str = "\
natcore-ipam v1
# global IP allocations, one per line: pool IP | group NAME IP | ingress SERVICE IP | headless SERVICE POD_IP IP
block 242.0.0.0/16
pool 242.0.0.2
pool 242.0.0.3
group ns-payments 242.0.0.4
group ns-payments 242.0.0.5
ingress shared/echo 242.0.0.6
headless shared/db 10.244.8.9 242.0.0.7
headless shared/db 10.244.8.10 242.0.0.8
";

    #[test]
    fn the_saved_format_is_stable_text() {
        let ipam = Ipam::new(example()).unwrap();
        assert_eq!(String::from_utf8(ipam.to_bytes()).unwrap(), EXAMPLE_STATE);
    }

    #[test]
    fn a_round_trip_keeps_every_ip_even_out_of_first_fit_order() {
        // A history that leaves IPs where first fit would not put them today.
        let mut s = example();
        s.cluster_egress_ips = 0;
        let (a, _) = Ipam::new(example()).unwrap().update(s.clone()).unwrap();
        s.exports.push(ExportSpec {
            name: "shared/late".into(),
            kind: ExportKind::ClusterIp(ip("10.96.0.20")),
        });
        let (b, _) = a.update(s.clone()).unwrap();
        s.cluster_egress_ips = 4;
        let (c, _) = b.update(s.clone()).unwrap();
        assert_eq!(
            c.ips_of(&Owner::Ingress("shared/late".into())),
            ips(&["242.0.0.2"])
        );

        let (reloaded, notices) = Ipam::reconcile(s, Some(&c.to_bytes())).unwrap();
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(reloaded, c);
        assert_eq!(reloaded.plan(), c.plan());
    }

    #[test]
    fn a_version_1_file_written_by_hand_loads() {
        let text = "natcore-ipam v1\r\n\r\n  # edited at 3 a.m.\r\nblock 242.0.0.0/16\r\n\
                    pool   242.0.0.9\r\npool 242.0.0.8\r\n";
        let (ipam, notices) = load(example(), text).unwrap();
        assert!(notices.is_empty());
        assert_eq!(
            ipam.ips_of(&Owner::ClusterEgress),
            ips(&["242.0.0.8", "242.0.0.9"])
        );
        assert_eq!(
            ipam.ips_of(&Owner::EgressGroup("ns-payments".into())),
            ips(&["242.0.0.2", "242.0.0.3"])
        );
    }

    #[test]
    fn owners_missing_from_the_spec_free_their_ips() {
        let mut s = example();
        s.exports.clear();
        let (ipam, notices) = load(s.clone(), EXAMPLE_STATE).unwrap();
        assert!(notices.is_empty());
        assert_eq!(ipam.allocated_count(), 4);
        // The freed IPs go to the next owner first fit.
        s.exports.push(ExportSpec {
            name: "shared/new".into(),
            kind: ExportKind::ClusterIp(ip("10.96.0.30")),
        });
        let (ipam, _) = load(s, EXAMPLE_STATE).unwrap();
        assert_eq!(
            ipam.ips_of(&Owner::Ingress("shared/new".into())),
            ips(&["242.0.0.6"])
        );
    }

    #[test]
    fn invalid_saved_entries_are_reported_and_replaced_while_others_keep_theirs() {
        let text = "natcore-ipam v1
block 242.0.0.0/16
pool 242.0.0.1
pool 242.0.0.30
group ns-payments 242.0.0.40
group ns-payments 242.0.0.40
ingress shared/echo 242.0.0.30
headless shared/db 10.244.8.9 243.0.0.5
headless shared/db 10.244.8.10 242.0.255.255
ingress gone/svc 242.0.0.2
";
        let (ipam, notices) = load(example(), text).unwrap();
        let messages: Vec<String> = notices.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            messages,
            [
                "cluster egress pool: saved IP 242.0.0.1 is the gateway's own address; replaced by 242.0.0.2",
                "egress group ns-payments: saved IP 242.0.0.40 is listed twice; replaced by 242.0.0.3",
                "exported service shared/echo: saved IP 242.0.0.30 is already held by cluster egress pool; replaced by 242.0.0.4",
                "headless service shared/db pod 10.244.8.9: saved IP 243.0.0.5 is outside the global block 242.0.0.0/16; replaced by 242.0.0.5",
                "headless service shared/db pod 10.244.8.10: saved IP 242.0.255.255 is the block's broadcast address; replaced by 242.0.0.6",
            ]
        );
        assert_eq!(
            notices[0].problem,
            SavedIpProblem::Reserved(ReservedRole::Gateway)
        );
        assert_eq!(
            notices[2].problem,
            SavedIpProblem::Conflict {
                holder: Owner::ClusterEgress
            }
        );
        // Valid saved IPs stay put; the first claim of a contested IP wins.
        assert_eq!(
            ipam.ips_of(&Owner::ClusterEgress),
            ips(&["242.0.0.2", "242.0.0.30"])
        );
        assert_eq!(
            ipam.ips_of(&Owner::EgressGroup("ns-payments".into())),
            ips(&["242.0.0.3", "242.0.0.40"])
        );
        // Once saved again, the file is clean.
        let (again, notices) = Ipam::reconcile(example(), Some(&ipam.to_bytes())).unwrap();
        assert!(notices.is_empty());
        assert_eq!(again, ipam);
    }

    #[test]
    fn a_network_address_entry_is_reported() {
        let text = "natcore-ipam v1\nblock 242.0.0.0/16\ningress shared/echo 242.0.0.0\n";
        let (_, notices) = load(example(), text).unwrap();
        let echo: Vec<&Notice> = notices
            .iter()
            .filter(|n| n.owner == Owner::Ingress("shared/echo".into()))
            .collect();
        assert_eq!(echo.len(), 1);
        assert_eq!(
            echo[0].problem,
            SavedIpProblem::Reserved(ReservedRole::Network)
        );
    }

    #[test]
    fn a_shrunk_owner_with_a_bad_entry_needs_no_replacement() {
        let text = "natcore-ipam v1\nblock 242.0.0.0/16\npool 242.0.0.20\npool 242.0.0.21\n\
                    pool 242.0.0.1\n";
        let (ipam, notices) = load(example(), text).unwrap();
        assert_eq!(
            ipam.ips_of(&Owner::ClusterEgress),
            ips(&["242.0.0.20", "242.0.0.21"])
        );
        assert_eq!(
            notices[0].to_string(),
            "cluster egress pool: saved IP 242.0.0.1 is the gateway's own address; \
             dropped (its other saved IPs cover its count)"
        );
    }

    #[test]
    fn a_state_saved_for_another_block_is_reported_entry_by_entry() {
        let text = EXAMPLE_STATE.replace("242.0.", "243.0.");
        let (ipam, notices) = load(example(), &text).unwrap();
        assert_eq!(notices.len(), 7);
        assert!(notices.iter().all(|n| n.problem
            == SavedIpProblem::BlockChanged {
                saved: "243.0.0.0/16".parse().unwrap(),
                current: "242.0.0.0/16".parse().unwrap(),
            }));
        assert_eq!(
            notices[0].to_string(),
            "cluster egress pool: saved IP 243.0.0.2 was saved for block 243.0.0.0/16, \
             but the block is now 242.0.0.0/16; replaced by 242.0.0.2"
        );
        assert_eq!(ipam, Ipam::new(example()).unwrap());

        // Even a block that contains the old one starts over: nothing in a
        // state saved for another block is trusted.
        let mut wider = example();
        wider.block = "242.0.0.0/15".parse().unwrap();
        let (_, notices) = load(wider, EXAMPLE_STATE).unwrap();
        assert_eq!(notices.len(), 7);
    }

    #[test]
    fn corrupt_states_are_refused_with_the_line_and_the_problem() {
        let cases: [(&[u8], &str); 14] = [
            (b"", "it is empty"),
            (b"\xff\xfe", "it is not UTF-8 text (bad byte at offset 0)"),
            (b"{\"block\": 1}", "line 1 is \"{\\\"block\\\": 1}\", expected `natcore-ipam v1`"),
            (b"natcore-ipam v2\nblock 242.0.0.0/16\n", "it is format version \"v2\"; this build reads v1"),
            (b"natcore-ipam v1\npool 242.0.0.2\n", "line 2: an allocation before the `block` line"),
            (b"natcore-ipam v1\n", "it has no `block CIDR` line"),
            (b"natcore-ipam v1\nblock 242.0.0.0/16\nblock 242.0.0.0/16\n", "line 3: a second `block` line"),
            (b"natcore-ipam v1\nblock 242.0.0.0\n", "line 2: \"242.0.0.0\" is not an IPv4 CIDR"),
            (b"natcore-ipam v1\nblock 242.0.0.9/16\n", "line 2: block 242.0.0.9/16 has host bits set"),
            (b"natcore-ipam v1\nblock 242.0.0.0/16 extra\n", "line 2: wrong number of fields, expected `block CIDR`"),
            (b"natcore-ipam v1\nblock 242.0.0.0/16\ngroup ns-payments\n", "line 3: wrong number of fields, expected `group NAME IP`"),
            (b"natcore-ipam v1\nblock 242.0.0.0/16\negress x 242.0.0.2\n", "line 3: unknown keyword \"egress\" (expected block, pool, group, ingress or headless)"),
            (b"natcore-ipam v1\nblock 242.0.0.0/16\nheadless shared/db 10.244.8 242.0.0.2\n", "line 3: \"10.244.8\" is not an IPv4 address"),
            (b"natcore-ipam v1\nblock 242.0.0.0/16\ningress shared/\x01echo 242.0.0.2\n", "line 3: name \"shared/\\u{1}echo\" is invalid: only printable ASCII without spaces is allowed"),
        ];
        for (bytes, reason) in cases {
            assert_eq!(
                corrupt(bytes),
                format!("saved IPAM state is unreadable: {reason}"),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert!(matches!(
            Ipam::reconcile(example(), Some(b"natcore-ipam v1\nblock x\n")),
            Err(IpamError::CorruptState(StateError::Line {
                line: 2,
                problem: LineProblem::BadCidr { .. }
            }))
        ));
    }

    #[test]
    fn a_truncated_write_is_refused_or_loads_never_panics() {
        let full = EXAMPLE_STATE.as_bytes();
        for cut in 0..full.len() {
            match Ipam::reconcile(example(), Some(&full[..cut])) {
                Ok((ipam, _)) => assert_eq!(ipam.allocated_count(), 7),
                Err(IpamError::CorruptState(_)) => {}
                Err(other) => panic!("cut at {cut}: {other}"),
            }
        }
    }
}
