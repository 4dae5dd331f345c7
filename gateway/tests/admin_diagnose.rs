//! `gwctl diagnose`'s checks against crafted snapshots: each problem the
//! checklist knows is detected and explained, and a healthy gateway passes.
// Helpers outside #[test] fns may unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_source.rs"]
mod fake_source;

use fake_source::{connected_peer, sample_status};
use gateway::cli::diagnose::{diagnose, render, Check, MtuProber, Outcome, Report};
use gateway::cli::{Exit, Output};
use gateway::status::{ConnectionStatus, Count, GatewayStatus, PeerView};

fn healthy() -> GatewayStatus {
    let mut status = sample_status();
    status.peers[1] = PeerView {
        name: "cluster-c".to_string(),
        cidrs: vec!["244.0.0.0/16".parse().unwrap()],
        ..connected_peer()
    };
    status
}

fn run(status: &GatewayStatus) -> Report {
    let mut probe = |_: &str| Ok(Some(status.tunnel_mtu));
    diagnose(status, Some(&mut probe))
}

fn check<'r>(report: &'r Report, id: &str) -> &'r Check {
    report.checks.iter().find(|c| c.id == id).unwrap()
}

fn failed(report: &Report) -> Vec<&str> {
    report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .map(|c| c.id.as_str())
        .collect()
}

#[test]
fn healthy_gateway_passes_everything() {
    let report = run(&healthy());
    assert_eq!(failed(&report), Vec::<&str>::new());
    assert!(report.ok);
    assert_eq!(report.exit(), Exit::Ok);
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ready",
            "tunnels",
            "health",
            "cidr_overlap",
            "mtu",
            "drops",
            "nat_limits",
            "config"
        ]
    );
    let text = render(&report, Output::Table);
    assert!(
        text.lines().filter(|l| l.starts_with("✓ ")).count() == 8,
        "{text}"
    );
}

#[test]
fn error_peer_fails_tunnels_and_health_with_the_firewall_hint() {
    let report = run(&sample_status());
    assert_eq!(failed(&report), ["tunnels", "health"]);
    assert_eq!(report.exit(), Exit::Failed);
    let tunnels = check(&report, "tunnels");
    assert_eq!(
        tunnels.details,
        ["cluster-c: last handshake 2m13s ago with 198.51.100.7:4500 (config 198.51.100.9:4500) (status error: no handshake for 2m13s)"]
    );
    assert!(tunnels
        .cause
        .as_deref()
        .unwrap()
        .contains("UDP 4500 blocked"));
    assert!(tunnels
        .cause
        .as_deref()
        .unwrap()
        .contains("public key mismatch"));
    assert!(tunnels
        .fix
        .as_deref()
        .unwrap()
        .contains("open UDP 4500 both ways"));
    // cluster-c roamed away from its configured endpoint: the hint says so.
    assert!(tunnels
        .cause
        .as_deref()
        .unwrap()
        .contains("roamed to an address"));
    assert!(tunnels
        .fix
        .as_deref()
        .unwrap()
        .contains("set its peers[].endpoint and `gwctl reload`"));
    let health = check(&report, "health");
    assert!(
        health.details[1].starts_with("cluster-c: lossy:"),
        "{:?}",
        health.details
    );

    let text = render(&report, Output::Table);
    assert!(
        text.contains("✗ tunnels: 1 of 2 peers without a recent handshake\n"),
        "{text}"
    );
    assert!(text.contains("2 checks failed"), "{text}");
}

#[test]
fn missing_endpoint_and_never_handshaked_peers_are_named() {
    let mut status = healthy();
    status.peers[0].endpoint = None;
    status.peers[1].last_handshake_age_seconds = None;
    status.peers[1].configured_endpoint = status.peers[1].endpoint;
    let report = run(&status);
    let tunnels = check(&report, "tunnels");
    assert_eq!(tunnels.outcome, Outcome::Fail);
    // Neither roamed: no roaming hint.
    assert!(!tunnels.cause.as_deref().unwrap().contains("roamed"));
    assert!(
        tunnels.details[0].starts_with("cluster-b: no endpoint known"),
        "{:?}",
        tunnels.details
    );
    assert!(
        tunnels.details[1].starts_with("cluster-c: never completed a handshake"),
        "{:?}",
        tunnels.details
    );
    assert!(tunnels.fix.as_deref().unwrap().contains("peers[].endpoint"));
}

#[test]
fn expired_session_fails_even_when_status_says_connected() {
    let mut status = healthy();
    status.peers[1].last_handshake_age_seconds = Some(200.0);
    assert_eq!(check(&run(&status), "tunnels").outcome, Outcome::Fail);
    // Without keepalives an idle tunnel legitimately has an old handshake.
    status.peers[1].persistent_keepalive_seconds = None;
    assert_eq!(check(&run(&status), "tunnels").outcome, Outcome::Pass);
}

#[test]
fn unanswered_probes_fail_health() {
    let mut status = healthy();
    status.peers[0].rtt.probes_received = 0;
    status.peers[0].rtt.loss_ratio = 1.0;
    let report = run(&status);
    let health = check(&report, "health");
    assert_eq!(health.outcome, Outcome::Fail);
    assert!(
        health.details[0].contains("no probe ever answered"),
        "{:?}",
        health.details
    );
}

#[test]
fn not_ready_fails() {
    let mut status = healthy();
    status.ready = false;
    let report = run(&status);
    assert_eq!(failed(&report), ["ready"]);
    assert!(check(&report, "ready")
        .fix
        .as_deref()
        .unwrap()
        .contains("CAP_NET_ADMIN"));
}

#[test]
fn cidr_overlaps_are_found_between_owners() {
    // Global block inside a pod CIDR.
    let mut status = healthy();
    status.local_cidrs.push("242.0.0.0/8".parse().unwrap());
    let overlap = check(&run(&status), "cidr_overlap").clone();
    assert_eq!(overlap.outcome, Outcome::Fail);
    assert!(
        overlap
            .details
            .iter()
            .any(|d| d == "our global block 242.0.0.0/16 overlaps our local CIDR 242.0.0.0/8"),
        "{:?}",
        overlap.details
    );
    assert!(overlap.fix.as_deref().unwrap().contains("240.0.0.0/4"));

    // Two peers claim the same block.
    let mut status = healthy();
    status.peers[1].cidrs = vec!["243.0.128.0/17".parse().unwrap()];
    let overlap = check(&run(&status), "cidr_overlap").clone();
    assert_eq!(overlap.details, ["cluster-b's global block 243.0.0.0/16 overlaps cluster-c's global block 243.0.128.0/17"]);

    // A routed (non-Globalnet) peer with the same default Pod CIDR as ours.
    let mut status = healthy();
    status.peers[1].globalnet = false;
    status.peers[1].cidrs = vec!["10.244.0.0/16".parse().unwrap()];
    let overlap = check(&run(&status), "cidr_overlap").clone();
    assert_eq!(overlap.outcome, Outcome::Fail);
    assert!(
        overlap
            .fix
            .as_deref()
            .unwrap()
            .contains("turn on Globalnet"),
        "{:?}",
        overlap.fix
    );

    // Our own Pod and Service CIDRs may be anything relative to each other;
    // one peer's several blocks are not compared with each other.
    let mut status = healthy();
    status.local_cidrs = vec![
        "10.0.0.0/8".parse().unwrap(),
        "10.96.0.0/12".parse().unwrap(),
    ];
    status.peers[0].cidrs.push("243.0.1.0/24".parse().unwrap());
    assert_eq!(check(&run(&status), "cidr_overlap").outcome, Outcome::Pass);
}

#[test]
fn mtu_shortfall_names_the_size_that_passes() {
    let status = healthy();
    let mut probe = |peer: &str| -> Result<Option<u16>, String> {
        Ok(Some(if peer == "cluster-c" { 1380 } else { 1420 }))
    };
    let report = diagnose(&status, Some(&mut probe as &mut MtuProber<'_>));
    let mtu = check(&report, "mtu");
    assert_eq!(mtu.outcome, Outcome::Fail);
    assert_eq!(
        mtu.details,
        [
            "cluster-b: 1420 bytes pass (tunnel MTU 1420)",
            "cluster-c: tunnel MTU 1420 but only 1380 passes"
        ]
    );
    assert!(mtu.fix.as_deref().unwrap().starts_with(
        "tunnel MTU 1420 but only 1380 passes → lower tunnel.mtu to 1380 or fix the underlay MTU"
    ));

    let mut nothing = |_: &str| -> Result<Option<u16>, String> { Ok(None) };
    let report = diagnose(&status, Some(&mut nothing as &mut MtuProber<'_>));
    assert!(check(&report, "mtu")
        .fix
        .as_deref()
        .unwrap()
        .contains("drops DF packets"));
}

#[test]
fn mtu_is_skipped_when_it_cannot_be_probed() {
    let status = healthy();
    let mut broken =
        |_: &str| -> Result<Option<u16>, String> { Err("probing not supported".to_string()) };
    let report = diagnose(&status, Some(&mut broken as &mut MtuProber<'_>));
    let mtu = check(&report, "mtu");
    assert_eq!(mtu.outcome, Outcome::Skip);
    assert_eq!(
        mtu.details[0],
        "cluster-b: could not probe: probing not supported"
    );
    assert_eq!(
        check(&diagnose(&status, None), "mtu").outcome,
        Outcome::Skip
    );

    // Only connected peers are probed.
    let mut status = healthy();
    for p in &mut status.peers {
        p.status = ConnectionStatus::Connecting;
    }
    let mut never = |peer: &str| -> Result<Option<u16>, String> { panic!("probed {peer}") };
    let report = diagnose(&status, Some(&mut never as &mut MtuProber<'_>));
    assert_eq!(check(&report, "mtu").outcome, Outcome::Skip);
}

#[test]
fn frequent_configuration_drops_fail_with_a_hint() {
    let mut status = healthy();
    status.nat.translations_inbound_total = 1_000;
    status.nat.translations_outbound_total = 1_000;
    status.nat.drops_total = vec![
        Count {
            label: "not_exported".into(),
            value: 500,
        },
        Count {
            label: "ports_exhausted".into(),
            value: 100,
        },
        Count {
            label: "malformed_ip".into(),
            value: 900,
        },
    ];
    let report = run(&status);
    let drops = check(&report, "drops");
    assert_eq!(drops.outcome, Outcome::Fail);
    assert_eq!(drops.details[0], "malformed_ip: 900 packets (25.7% of all)");
    assert_eq!(
        drops.cause.as_deref(),
        Some("not_exported, ports_exhausted at or above 1.0% of all packets")
    );
    let fix = drops.fix.as_deref().unwrap();
    assert!(
        fix.contains("not_exported: ") && fix.contains("add it to globalnet.exports"),
        "{fix}"
    );
    assert!(
        fix.contains("ports_exhausted: ") && fix.contains("add cluster_egress_ips"),
        "{fix}"
    );
    assert!(!fix.contains("malformed_ip"), "noise has no hint: {fix}");

    // Malformed traffic alone is noise, not a failure.
    status.nat.drops_total = vec![Count {
        label: "malformed_ip".into(),
        value: 900,
    }];
    assert_eq!(check(&run(&status), "drops").outcome, Outcome::Pass);
    // A trickle of a configuration reason is shown with its hint but passes.
    status.nat.drops_total = vec![Count {
        label: "spoofed_source".into(),
        value: 1,
    }];
    let report = run(&status);
    let drops = check(&report, "drops");
    assert_eq!(drops.outcome, Outcome::Pass);
    assert!(render(&report, Output::Table).contains("    hint: spoofed_source: "));
}

#[test]
fn nat_table_near_its_limits_fails() {
    let mut status = healthy();
    status.nat.max_flows = 3_000; // 2433 live: 81%
    let report = run(&status);
    let nat = check(&report, "nat_limits");
    assert_eq!(nat.outcome, Outcome::Fail);
    assert_eq!(nat.summary, "NAT limits: the flow table at 80% or more");

    let mut status = healthy();
    status.nat.max_flows_per_source = 900; // busiest holds 812: 90%
    let nat = check(&run(&status), "nat_limits").clone();
    assert_eq!(nat.outcome, Outcome::Fail);
    assert!(
        nat.details[1].starts_with("busiest source 10.244.1.10 holds 812 of 900"),
        "{:?}",
        nat.details
    );
}

#[test]
fn rejected_reload_and_state_errors_fail_config() {
    let mut status = healthy();
    status.last_reload_error = Some("peers[0].public_key: not 32 bytes of base64".into());
    status.state_save_errors = 2;
    status.last_state_error = Some("ipam.state: No space left on device".into());
    let report = run(&status);
    let config = check(&report, "config");
    assert_eq!(config.outcome, Outcome::Fail);
    assert_eq!(
        config.details,
        [
            "last reload rejected: peers[0].public_key: not 32 bytes of base64",
            "2 state save errors, last: ipam.state: No space left on device"
        ]
    );
}

#[test]
fn state_errors_followed_by_a_successful_save_pass_config_with_a_note() {
    let mut status = healthy();
    status.state_save_errors = 3;
    status.last_state_error = None; // the latest save (a retry) succeeded
    let config = check(&run(&status), "config").clone();
    assert_eq!(config.outcome, Outcome::Pass);
    assert_eq!(
        config.details,
        ["3 state save errors earlier; the latest save succeeded"]
    );
}

#[test]
fn json_and_dump_outputs() {
    let report = run(&sample_status());
    let parsed: Report = serde_json::from_str(&render(&report, Output::Json)).unwrap();
    assert_eq!(parsed, report);
    let dump = render(&report, Output::Dump);
    let lines: Vec<Vec<&str>> = dump.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 8);
    assert!(lines.iter().all(|l| l.len() == 3));
    assert_eq!(lines[1][..2], ["tunnels", "fail"]);
    assert_eq!(lines[0][..2], ["ready", "pass"]);
}
