//! gwctl's status commands: golden tables, JSON that parses back, stable
//! dumps, exit codes against a real admin socket, and the clap surface.
// Helpers outside #[test] fns may unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_source.rs"]
mod fake_source;
#[path = "support/temp_dir.rs"]
mod temp_dir;

use clap::{CommandFactory, Parser};
use fake_source::{connected_peer, sample_status, FakeSource};
use gateway::admin::serve_admin;
use gateway::cli::{
    self, diagnose, egress, exports, nat, peers, Exit, Output, StatusCommand, Target,
};
use gateway::status::{ConnectionStatus, ExportView, GatewayStatus, NatView, PeerView};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use temp_dir::TempDir;

/// What gwctl's skeleton will look like once the lead splices us in.
#[derive(Parser)]
#[command(name = "gwctl")]
struct Gwctl {
    #[command(subcommand)]
    command: StatusCommand,
}

fn parse(args: &[&str]) -> StatusCommand {
    Gwctl::try_parse_from(std::iter::once("gwctl").chain(args.iter().copied()))
        .unwrap()
        .command
}

fn all_connected() -> GatewayStatus {
    let mut status = sample_status();
    status.peers[1] = PeerView {
        name: "cluster-c".to_string(),
        cidrs: vec!["244.0.0.0/16".parse().unwrap()],
        ..connected_peer()
    };
    status
}

/// Runs a command against a fake daemon serving `status` (or against no
/// daemon at all when `status` is None); returns exit, stdout, stderr.
fn run(status: Option<GatewayStatus>, args: &[&str]) -> (Exit, String, String) {
    let dir = TempDir::new("cli");
    let socket = dir.path().join("admin.sock");
    if let Some(status) = status {
        serve_admin(&socket, Arc::new(FakeSource::new(status))).unwrap();
    }
    run_on(&socket, args)
}

fn run_on(socket: &Path, args: &[&str]) -> (Exit, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = cli::run_with(&parse(args), socket, &mut out, &mut err);
    (
        exit,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

const PEERS_TABLE: &str = "\
gateway cluster-a  global 242.0.0.0/16  gw0 mtu 1420  udp port 4500  ready  up 3h4m

CLUSTER    ENDPOINT                                      SUBNETS       HANDSHAKE  RX         TX         RTT AVG  LOSS   STATUS
cluster-b  192.0.2.20:4500                               243.0.0.0/16  12s ago    1.21 GiB   70.00 MiB  1.20ms   0.0%   connected
cluster-c  198.51.100.7:4500 (config 198.51.100.9:4500)  244.0.0.0/16  2m13s ago  10.00 KiB  1.95 MiB   35.0ms   12.0%  error: no handshake for 2m13s

1 of 2 connections established; run `gwctl diagnose` for causes and fixes
";

const PEERS_DUMP: &str = "\
cluster-a\toN5xsmk2QKhBGSFAg7flTH6Fh4Q3KLJYVDxp7oXt1Ww=\t4500\t242.0.0.0/16\tgw0\t1420\ttrue
cluster-b\txTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\t192.0.2.20:4500\t243.0.0.0/16\tconnected\t1700000000\t1298137661\t73400320\t0.001200\t0.0000\t10\t(none)\t192.0.2.20:4500
cluster-c\tTrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\t198.51.100.7:4500\t244.0.0.0/16\terror\t1699999879\t10240\t2048000\t0.035000\t0.1200\t10\tno handshake for 2m13s\t198.51.100.9:4500
";

#[test]
fn peers_table_is_golden() {
    assert_eq!(peers::render(&sample_status(), Output::Table), PEERS_TABLE);
}

#[test]
fn peers_table_says_when_bulk_scheduling_was_refused() {
    let mut status = sample_status();
    status.data_path.bulk_scheduling = "refused".to_string();
    let table = peers::render(&status, Output::Table);
    assert_eq!(
        table.lines().next().unwrap(),
        "gateway cluster-a  global 242.0.0.0/16  gw0 mtu 1420  udp port 4500  ready  up 3h4m  bulk scheduling REFUSED"
    );
    // Everything after the first line is as without it.
    assert_eq!(
        table.split_once('\n').unwrap().1,
        PEERS_TABLE.split_once('\n').unwrap().1
    );
}

#[test]
fn a_status_from_an_older_gateway_without_data_path_still_parses() {
    let mut json = serde_json::to_value(sample_status()).unwrap();
    json.as_object_mut().unwrap().remove("data_path").unwrap();
    let parsed: GatewayStatus = serde_json::from_value(json).unwrap();
    assert_eq!(parsed.data_path, Default::default());
    assert_eq!(parsed.peers, sample_status().peers);
}

#[test]
fn peers_dump_is_stable_and_tab_separated() {
    let dump = peers::render(&sample_status(), Output::Dump);
    assert_eq!(dump, PEERS_DUMP);
    // Hostile names cannot shift columns.
    let mut status = sample_status();
    status.peers[1].status_reason = Some("bad\treason\nsecond line".to_string());
    let dump = peers::render(&status, Output::Dump);
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[1..].iter().all(|l| l.split('\t').count() == 13));
    assert!(lines[2].ends_with("\tbad reason second line\t198.51.100.9:4500"));
}

#[test]
fn peers_json_parses_back() {
    let json = peers::render(&sample_status(), Output::Json);
    let parsed: Vec<PeerView> = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, sample_status().peers);
}

#[test]
fn peers_table_marks_never_and_unknown() {
    let mut status = sample_status();
    let p = &mut status.peers[1];
    p.endpoint = None;
    p.last_handshake_age_seconds = None;
    p.status = ConnectionStatus::Connecting;
    p.rtt = Default::default();
    let table = peers::render(&status, Output::Table);
    let row = table.lines().find(|l| l.starts_with("cluster-c")).unwrap();
    let cells: Vec<&str> = row
        .split("  ")
        .filter(|c| !c.trim().is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        cells,
        [
            "cluster-c",
            "(none)",
            "244.0.0.0/16",
            "never",
            "10.00 KiB",
            "1.95 MiB",
            "-",
            "-",
            "connecting: no handshake for 2m13s"
        ]
    );
    status.peers.clear();
    assert!(peers::render(&status, Output::Table).contains("no peers configured"));
}

#[test]
fn exports_egress_nat_tables_are_golden() {
    let status = sample_status();
    assert_eq!(
        exports::render(&status, Output::Table),
        "\
SERVICE        GLOBAL IP   TARGET       HEADLESS
db/postgres-0  242.0.0.11  10.244.3.17  yes
shop/cart      242.0.0.10  10.96.14.3   no
"
    );
    assert_eq!(
        egress::render(&status, Output::Table),
        "\
global block 242.0.0.0/16: 2 cluster egress, 1 egress group, 2 ingress, 65529 available

GLOBAL IP   OWNER     SOURCES        PORTS IN USE
242.0.0.2   cluster   (all local)    1204
242.0.0.3   cluster   (all local)    1187
242.0.0.20  payments  10.244.7.0/24  42
"
    );
    assert_eq!(
        nat::render(&status, Output::Table),
        "\
flows             2433 of 262144 (0.9%)
by protocol       tcp 2301, udp 120, icmp 12
tcp states        established 2250, fin_wait 40, syn_sent 11
created           tcp 90112, udp 40321, icmp 977
expired           tcp 87811, udp 40201, icmp 965
translated        12000000 outbound, 11500000 inbound
mss clamped       90000
frag-needed sent  3
per-source limit  16384

TOP TALKER   FLOWS  OF PER-SOURCE LIMIT
10.244.1.10  812    5.0%
10.244.2.31  400    2.4%

DROP REASON   PACKETS
not_exported  25
no_route      4
malformed_ip  2
(`gwctl diagnose` explains the reasons)
"
    );
}

#[test]
fn exports_egress_nat_json_and_dump() {
    let status = sample_status();
    let parsed: Vec<ExportView> =
        serde_json::from_str(&exports::render(&status, Output::Json)).unwrap();
    assert_eq!(parsed.len(), 2);
    assert!(parsed.iter().all(|e| status.exports.contains(e)));
    assert_eq!(
        exports::render(&status, Output::Dump),
        "db/postgres-0\t242.0.0.11\t10.244.3.17\ttrue\nshop/cart\t242.0.0.10\t10.96.14.3\tfalse\n"
    );

    let parsed: egress::EgressReport =
        serde_json::from_str(&egress::render(&status, Output::Json)).unwrap();
    assert_eq!(parsed.ipam, status.ipam);
    assert_eq!(parsed.egress.len(), 3);
    assert_eq!(
        egress::render(&status, Output::Dump),
        "242.0.0.2\tcluster\t(none)\t1204\n242.0.0.3\tcluster\t(none)\t1187\n242.0.0.20\tpayments\t10.244.7.0/24\t42\n"
    );

    let parsed: NatView = serde_json::from_str(&nat::render(&status, Output::Json)).unwrap();
    assert_eq!(parsed, status.nat);
    let dump = nat::render(&status, Output::Dump);
    assert!(dump.starts_with("limit\tmax_flows\t262144\nlimit\tmax_flows_per_source\t16384\n"));
    assert!(
        dump.contains("\ndrops\tnot_exported\t25\ndrops\tno_route\t4\ndrops\tmalformed_ip\t2\n")
    );
    assert!(dump.lines().all(|l| l.split('\t').count() == 3));
}

#[test]
fn empty_tables_say_what_to_do() {
    let mut status = sample_status();
    status.exports.clear();
    status.egress.clear();
    status.nat = NatView::default();
    assert!(exports::render(&status, Output::Table).contains("globalnet.exports"));
    assert!(egress::render(&status, Output::Table).contains("cluster_egress_ips"));
    assert!(nat::render(&status, Output::Table).contains("no packets dropped"));
    assert_eq!(exports::render(&status, Output::Json), "[]\n");
    assert_eq!(exports::render(&status, Output::Dump), "");
}

#[test]
fn peers_exit_codes_follow_connection_status() {
    let (exit, out, err) = run(Some(all_connected()), &["peers"]);
    assert_eq!(exit, Exit::Ok, "{err}");
    assert!(out.contains("All connections (2) are established"), "{out}");

    let (exit, out, _) = run(Some(sample_status()), &["peers"]);
    assert_eq!(exit, Exit::Failed);
    assert_eq!(out, PEERS_TABLE);

    let (exit, out, _) = run(Some(sample_status()), &["peers", "-o", "dump"]);
    assert_eq!((exit, out.as_str()), (Exit::Failed, PEERS_DUMP));
}

#[test]
fn unreachable_gateway_exits_2_and_says_what_to_check() {
    for args in [
        &["peers"][..],
        &["exports"],
        &["egress", "-o", "json"],
        &["nat"],
        &["diagnose"],
        &["reload"],
    ] {
        let (exit, out, err) = run(None, args);
        assert_eq!(exit, Exit::Unreachable, "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(
            err.starts_with("gwctl: cannot reach the gateway at "),
            "{err}"
        );
        assert!(err.contains("Is the gateway running"), "{err}");
        assert!(err.contains("--socket"), "{err}");
    }
}

#[test]
fn socket_option_overrides_the_default() {
    let dir = TempDir::new("cli");
    let socket = dir.path().join("custom.sock");
    serve_admin(&socket, Arc::new(FakeSource::new(all_connected()))).unwrap();
    let nowhere = PathBuf::from("/nonexistent/gateway/admin.sock");
    let (exit, _, err) = run_on(&nowhere, &["peers", "--socket", socket.to_str().unwrap()]);
    assert_eq!(exit, Exit::Ok, "{err}");
    let (exit, _, err) = run_on(&nowhere, &["peers"]);
    assert_eq!(exit, Exit::Unreachable);
    assert!(err.contains("/nonexistent/gateway/admin.sock"));
}

#[test]
fn reload_prints_summary_or_rejection() {
    let dir = TempDir::new("cli");
    let socket = dir.path().join("admin.sock");
    let source = Arc::new(FakeSource::new(sample_status()));
    serve_admin(&socket, source.clone()).unwrap();

    let (exit, out, _) = run_on(&socket, &["reload"]);
    assert_eq!(exit, Exit::Ok);
    assert_eq!(out, "reloaded: 2 peers (1 changed), 3 exports (1 added)\n");

    *source.reload_result.lock().unwrap() = Err("line 12: unknown field `exprots`".to_string());
    let (exit, out, _) = run_on(&socket, &["reload"]);
    assert_eq!(exit, Exit::Failed);
    assert!(
        out.starts_with("reload rejected: line 12: unknown field `exprots`\n"),
        "{out}"
    );
    assert!(out.contains("previous configuration"));

    let (exit, out, _) = run_on(&socket, &["reload", "-o", "json"]);
    assert_eq!(exit, Exit::Failed);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["error"], "line 12: unknown field `exprots`");
}

#[test]
fn diagnose_over_the_socket_probes_mtu_and_fails_on_problems() {
    let dir = TempDir::new("cli");
    let socket = dir.path().join("admin.sock");
    let source = Arc::new(FakeSource::new(all_connected()));
    source
        .mtu
        .lock()
        .unwrap()
        .push(("cluster-c".to_string(), Ok(Some(1420))));
    serve_admin(&socket, source.clone()).unwrap();

    let (exit, out, err) = run_on(&socket, &["diagnose"]);
    assert_eq!(exit, Exit::Ok, "{out}{err}");
    assert!(
        out.contains("✓ MTU: packets of the tunnel MTU (1420) pass"),
        "{out}"
    );
    assert!(out.contains("all checks passed"));

    // The underlay loses 40 bytes toward cluster-c.
    source.mtu.lock().unwrap()[1].1 = Ok(Some(1380));
    let (exit, out, _) = run_on(&socket, &["diagnose"]);
    assert_eq!(exit, Exit::Failed);
    assert!(
        out.contains("tunnel MTU 1420 but only 1380 passes → lower tunnel.mtu to 1380 or fix the underlay MTU"),
        "{out}"
    );

    let (exit, out, _) = run_on(&socket, &["diagnose", "--no-mtu-probe", "-o", "json"]);
    assert_eq!(exit, Exit::Ok);
    let report: diagnose::Report = serde_json::from_str(&out).unwrap();
    let mtu = report.checks.iter().find(|c| c.id == "mtu").unwrap();
    assert_eq!(mtu.outcome, diagnose::Outcome::Skip);
}

#[test]
fn clap_surface_parses_and_helps() {
    assert_eq!(
        parse(&["peers", "-o", "json", "--socket", "/tmp/x.sock"]),
        StatusCommand::Peers {
            target: Target {
                socket: Some("/tmp/x.sock".into()),
                output: Output::Json
            }
        }
    );
    assert_eq!(
        parse(&["nat"]),
        StatusCommand::Nat {
            target: Target::default()
        }
    );
    assert!(matches!(
        parse(&["diagnose", "--no-mtu-probe"]),
        StatusCommand::Diagnose {
            no_mtu_probe: true,
            ..
        }
    ));
    assert!(Gwctl::try_parse_from(["gwctl", "peers", "-o", "yaml"]).is_err());
    Gwctl::command().debug_assert();
    let mut cmd = Gwctl::command();
    for name in ["peers", "exports", "egress", "nat", "diagnose", "reload"] {
        let sub = cmd.find_subcommand_mut(name).unwrap();
        let help = sub.render_long_help().to_string();
        assert!(help.contains("Examples:"), "{name}: {help}");
        assert!(help.contains("--socket <PATH>"), "{name}");
        assert!(help.contains("-o, --output <OUTPUT>"), "{name}");
    }
}
