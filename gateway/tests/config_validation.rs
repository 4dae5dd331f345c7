//! One test per validation rule, each with its exact message; all errors are
//! reported together; schema (shape) errors name the field and the position.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config_support;

use config_support::{MINIMAL, WG_VECTORS};
use gateway::config::{Config, ConfigError, TextLocation};

const KEY_B: &str = WG_VECTORS[0].1;
const KEY_C: &str = WG_VECTORS[1].1;

/// Every field error as `path: message`.
fn errors_of(text: &str) -> Vec<String> {
    match Config::from_yaml(text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(ConfigError::Invalid(errors)) => errors.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("expected field errors, got: {other}"),
    }
}

fn single_error(text: &str) -> String {
    let errors = errors_of(text);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    errors.into_iter().next().unwrap()
}

fn with(old: &str, new: &str) -> String {
    assert!(MINIMAL.contains(old), "{old:?} not in MINIMAL");
    MINIMAL.replacen(old, new, 1)
}

/// MINIMAL ends with the `globalnet:` section, so more of its keys can follow.
fn with_globalnet(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

fn with_peers(peers: &str) -> String {
    format!("{MINIMAL}peers:\n{peers}")
}

fn peer_b(extra: &str) -> String {
    format!("  - name: cluster-b\n    public_key: \"{KEY_B}\"\n{extra}")
}

// --- top-level scalars ---

#[test]
fn cluster_id_must_be_a_dns_label() {
    assert_eq!(
        single_error(&with("cluster_id: cluster-a", "cluster_id: Cluster_A")),
        "cluster_id: \"Cluster_A\" is not a valid DNS label (1-63 characters of a-z, 0-9 and \
         '-', not starting or ending with '-')"
    );
}

#[test]
fn private_key_file_must_not_be_empty() {
    assert_eq!(
        single_error(&with(
            "private_key_file: /etc/gateway/private.key",
            "private_key_file: \"\""
        )),
        "private_key_file: must not be empty"
    );
}

#[test]
fn listen_port_must_be_nonzero() {
    assert_eq!(
        single_error(&format!("{MINIMAL}listen_port: 0\n")),
        "listen_port: 0 is out of range 1..=65535"
    );
    assert_eq!(
        single_error(&format!("{MINIMAL}listen_port: 65536\n")),
        "listen_port: 65536 is out of range 1..=65535"
    );
}

#[test]
fn state_dir_and_admin_socket_must_not_be_empty() {
    assert_eq!(
        errors_of(&format!("{MINIMAL}state_dir: \"\"\nadmin_socket: \"\"\n")),
        vec![
            "state_dir: must not be empty",
            "admin_socket: must not be empty"
        ]
    );
}

#[test]
fn metrics_address_must_be_a_socket_address() {
    assert_eq!(
        single_error(&format!("{MINIMAL}metrics_address: localhost\n")),
        "metrics_address: \"localhost\" is not an address like 0.0.0.0:9898 (use \"\" to disable)"
    );
}

// --- tunnel ---

#[test]
fn tunnel_name_must_be_a_valid_interface_name() {
    assert_eq!(
        single_error(&format!("{MINIMAL}tunnel:\n  name: a-very-long-name0\n")),
        "tunnel.name: \"a-very-long-name0\" is not a valid interface name: 1 to 15 bytes, \
         without '/', ':' or whitespace"
    );
}

#[test]
fn underlay_mtu_must_fit_the_smallest_tunnel_mtu() {
    assert_eq!(
        single_error(&format!(
            "{MINIMAL}tunnel:\n  underlay_mtu: 635\n  mtu: 576\n"
        )),
        "tunnel.underlay_mtu: 635 is out of range 636..=65535 (636 = the smallest tunnel MTU \
         576 + IPv4 20 + UDP 8 + WireGuard 32)"
    );
    assert_eq!(
        single_error(&format!("{MINIMAL}tunnel:\n  underlay_mtu: 65536\n")),
        "tunnel.underlay_mtu: 65536 is out of range 636..=65535 (636 = the smallest tunnel MTU \
         576 + IPv4 20 + UDP 8 + WireGuard 32)"
    );
}

#[test]
fn tunnel_mtu_must_be_at_least_576() {
    assert_eq!(
        single_error(&format!("{MINIMAL}tunnel:\n  mtu: 575\n")),
        "tunnel.mtu: 575 is out of range 576..=65535"
    );
}

#[test]
fn tunnel_mtu_must_fit_the_underlay() {
    // 1500 − 60 = 1440 is the largest that fits an IPv4 underlay.
    assert!(Config::from_yaml(&format!("{MINIMAL}tunnel:\n  mtu: 1440\n")).is_ok());
    assert_eq!(
        single_error(&format!("{MINIMAL}tunnel:\n  mtu: 1441\n")),
        "tunnel.mtu: 1441 is larger than underlay_mtu − 60 = 1440: an encrypted packet (IPv4 20 \
         + UDP 8 + WireGuard 32 bytes of overhead) would not fit the underlay"
    );
}

#[test]
fn default_tunnel_mtu_must_not_fall_below_576() {
    assert_eq!(
        single_error(&format!("{MINIMAL}tunnel:\n  underlay_mtu: 640\n")),
        "tunnel.mtu: not set, and its default underlay_mtu − 80 = 560 is below 576; set it \
         explicitly (at most underlay_mtu − 60 = 580)"
    );
}

// --- local ---

#[test]
fn at_least_one_pod_cidr() {
    assert_eq!(
        single_error(&with("pod_cidrs: [10.244.0.0/16]", "pod_cidrs: []")),
        "local.pod_cidrs: at least one Pod CIDR is required"
    );
}

#[test]
fn cidrs_must_parse() {
    assert_eq!(
        single_error(&with(
            "pod_cidrs: [10.244.0.0/16]",
            "pod_cidrs: [10.244.0.0]"
        )),
        "local.pod_cidrs[0]: \"10.244.0.0\" is not an IPv4 CIDR like 10.244.0.0/16"
    );
    assert_eq!(
        single_error(&with(
            "service_cidrs: [10.96.0.0/16]",
            "service_cidrs: [10.96.0.0/16, \"fd00::/8\"]"
        )),
        "local.service_cidrs[1]: \"fd00::/8\": IPv6 is not supported"
    );
}

#[test]
fn cidrs_must_not_have_host_bits() {
    assert_eq!(
        single_error(&with(
            "pod_cidrs: [10.244.0.0/16]",
            "pod_cidrs: [10.244.0.1/16]"
        )),
        "local.pod_cidrs[0]: 10.244.0.1/16 has host bits set; did you mean 10.244.0.0/16?"
    );
}

// --- globalnet ---

#[test]
fn global_cidr_must_be_inside_240_slash_4() {
    assert_eq!(
        single_error(&with(
            "global_cidr: 242.0.0.0/16",
            "global_cidr: 100.64.0.0/16"
        )),
        "globalnet.global_cidr: 100.64.0.0/16 is not inside 240.0.0.0/4, the reserved range \
         global blocks come from"
    );
}

#[test]
fn global_cidr_must_not_contain_broadcast() {
    assert_eq!(
        single_error(&with(
            "global_cidr: 242.0.0.0/16",
            "global_cidr: 255.255.0.0/16"
        )),
        "globalnet.global_cidr: 255.255.0.0/16 contains 255.255.255.255, the limited broadcast \
         address"
    );
}

#[test]
fn global_cidr_must_not_overlap_local_cidrs() {
    assert_eq!(
        single_error(&with(
            "service_cidrs: [10.96.0.0/16]",
            "service_cidrs: [242.0.128.0/17]"
        )),
        "globalnet.global_cidr: 242.0.0.0/16 overlaps local.service_cidrs[0] (242.0.128.0/17)"
    );
}

#[test]
fn global_cidr_must_hold_every_requested_ip() {
    // /29: 6 usable; 1 gateway + 4 egress + 2 group + 1 export = 8.
    let text = with("global_cidr: 242.0.0.0/16", "global_cidr: 242.0.0.0/29").replace(
        "global_cidr: 242.0.0.0/29\n",
        "global_cidr: 242.0.0.0/29\n  cluster_egress_ips: 4\n  egress_groups:\n    - name: g\n      \
         sources: [10.244.1.0/24]\n      ips: 2\n  exports:\n    - name: a/b\n      cluster_ip: \
         10.96.0.1\n",
    );
    assert_eq!(
        single_error(&text),
        "globalnet.global_cidr: 242.0.0.0/29 has 6 usable addresses but 8 are needed (1 gateway \
         + 4 cluster egress + 2 egress group + 1 export)"
    );
}

#[test]
fn cluster_egress_ips_at_most_20() {
    assert_eq!(
        single_error(&with_globalnet("  cluster_egress_ips: 21\n")),
        "globalnet.cluster_egress_ips: 21 is out of range 0..=20"
    );
}

#[test]
fn egress_group_names_are_valid_and_unique() {
    let text = with_globalnet(
        "  egress_groups:\n    - name: payments\n      sources: [10.244.1.0/24]\n      ips: 1\n    \
         - name: payments\n      sources: [10.244.2.0/24]\n      ips: 1\n    - name: Bad_Name\n      \
         sources: [10.244.3.0/24]\n      ips: 1\n",
    );
    assert_eq!(
        errors_of(&text),
        vec![
            "globalnet.egress_groups[1].name: \"payments\" is already used by \
             globalnet.egress_groups[0]",
            "globalnet.egress_groups[2].name: \"Bad_Name\" is not a valid DNS label (1-63 \
             characters of a-z, 0-9 and '-', not starting or ending with '-')",
        ]
    );
}

#[test]
fn egress_group_sources_must_be_inside_local_cidrs() {
    let text = with_globalnet(
        "  egress_groups:\n    - name: g\n      sources: [10.244.1.0/24, 10.0.0.0/8]\n      ips: 1\n",
    );
    assert_eq!(
        single_error(&text),
        "globalnet.egress_groups[0].sources[1]: 10.0.0.0/8 is not inside any local Pod or \
         Service CIDR"
    );
}

#[test]
fn egress_group_needs_sources() {
    let text = with_globalnet("  egress_groups:\n    - name: g\n      sources: []\n      ips: 1\n");
    assert_eq!(
        single_error(&text),
        "globalnet.egress_groups[0].sources: at least one source CIDR is required"
    );
}

#[test]
fn egress_group_ips_between_1_and_20() {
    let group = |ips: u32| {
        with_globalnet(&format!(
            "  egress_groups:\n    - name: g\n      sources: [10.244.1.0/24]\n      ips: {ips}\n"
        ))
    };
    assert_eq!(
        single_error(&group(0)),
        "globalnet.egress_groups[0].ips: 0 is out of range 1..=20"
    );
    assert_eq!(
        single_error(&group(21)),
        "globalnet.egress_groups[0].ips: 21 is out of range 1..=20"
    );
}

#[test]
fn export_names_are_namespace_slash_name() {
    let text = with_globalnet("  exports:\n    - name: echo\n      cluster_ip: 10.96.0.10\n");
    assert_eq!(
        single_error(&text),
        "globalnet.exports[0].name: \"echo\" is not namespace/name (e.g. shared/echo; each part \
         1-63 characters of a-z, 0-9 and '-', not starting or ending with '-')"
    );
    let text = with_globalnet("  exports:\n    - name: a/b/c\n      cluster_ip: 10.96.0.10\n");
    assert_eq!(
        single_error(&text),
        "globalnet.exports[0].name: \"a/b/c\" is not namespace/name (e.g. shared/echo; each \
         part 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-')"
    );
}

#[test]
fn export_names_are_unique() {
    let text = with_globalnet(
        "  exports:\n    - name: shared/echo\n      cluster_ip: 10.96.0.10\n    - name: \
         shared/echo\n      cluster_ip: 10.96.0.11\n",
    );
    assert_eq!(
        single_error(&text),
        "globalnet.exports[1].name: \"shared/echo\" is already used by globalnet.exports[0]"
    );
}

#[test]
fn export_has_exactly_one_target() {
    let expected = |i: usize| {
        format!(
            "globalnet.exports[{i}]: set exactly one of cluster_ip (ClusterIP Service) or \
             headless_pods (headless Service)"
        )
    };
    let text = with_globalnet(
        "  exports:\n    - name: shared/none\n    - name: shared/both\n      cluster_ip: \
         10.96.0.10\n      headless_pods: [10.244.0.5]\n",
    );
    assert_eq!(errors_of(&text), vec![expected(0), expected(1)]);
}

#[test]
fn export_targets_must_be_local() {
    let text = with_globalnet(
        "  exports:\n    - name: shared/echo\n      cluster_ip: 10.97.0.10\n    - name: \
         shared/db\n      headless_pods: [10.244.0.5, 192.168.1.1]\n",
    );
    assert_eq!(
        errors_of(&text),
        vec![
            "globalnet.exports[0].cluster_ip: 10.97.0.10 is not inside any local Pod or Service \
             CIDR",
            "globalnet.exports[1].headless_pods[1]: 192.168.1.1 is not inside any local Pod or \
             Service CIDR",
        ]
    );
}

#[test]
fn export_ips_must_parse() {
    let text = with_globalnet("  exports:\n    - name: shared/echo\n      cluster_ip: 10.96.0\n");
    assert_eq!(
        single_error(&text),
        "globalnet.exports[0].cluster_ip: \"10.96.0\" is not an IPv4 address like 10.96.0.10"
    );
}

#[test]
fn headless_export_needs_pods() {
    let text = with_globalnet("  exports:\n    - name: shared/db\n      headless_pods: []\n");
    assert_eq!(
        single_error(&text),
        "globalnet.exports[0].headless_pods: at least one pod IP is required"
    );
}

#[test]
fn headless_pod_exported_once() {
    let text = with_globalnet(
        "  exports:\n    - name: shared/db\n      headless_pods: [10.244.0.5]\n    - name: \
         shared/db2\n      headless_pods: [10.244.0.5]\n",
    );
    assert_eq!(
        single_error(&text),
        "globalnet.exports[1].headless_pods[0]: 10.244.0.5 is already exported by \
         globalnet.exports[0].headless_pods[0]; a pod has one global IP, which is also its \
         egress source"
    );
}

// --- nat and health ---

#[test]
fn nat_limits_are_positive_and_consistent() {
    assert_eq!(
        single_error(&format!("{MINIMAL}nat:\n  max_flows: 0\n")),
        "nat.max_flows: 0 is out of range 1..=1073741824"
    );
    assert_eq!(
        single_error(&format!(
            "{MINIMAL}nat:\n  max_flows: 1000\n  max_flows_per_source: 1001\n"
        )),
        "nat.max_flows_per_source: 1001 is larger than nat.max_flows (1000)"
    );
}

#[test]
fn nat_timeouts_are_durations() {
    assert_eq!(
        single_error(&format!("{MINIMAL}nat:\n  udp_timeout: 5min\n")),
        "nat.udp_timeout: \"5min\": unknown unit \"min\" (units: ms, s, m, h, d)"
    );
    assert_eq!(
        single_error(&format!("{MINIMAL}nat:\n  icmp_timeout: \"60\"\n")),
        "nat.icmp_timeout: \"60\": missing unit after 60; write e.g. \"60s\" (units: ms, s, m, h, d)"
    );
    assert_eq!(
        single_error(&format!("{MINIMAL}nat:\n  tcp_transitory_timeout: 0s\n")),
        "nat.tcp_transitory_timeout: \"0s\" must be greater than 0"
    );
}

#[test]
fn health_values_are_positive() {
    assert_eq!(
        errors_of(&format!(
            "{MINIMAL}health:\n  interval: 0ms\n  failures_before_error: 0\n"
        )),
        vec![
            "health.interval: \"0ms\" must be greater than 0",
            "health.failures_before_error: 0 is out of range 1..=1000",
        ]
    );
}

// --- peers ---

#[test]
fn peer_names_are_labels_unique_and_not_ours() {
    let text = with_peers(&format!(
        "{}  - name: cluster-b\n    public_key: \"{KEY_C}\"\n    global_cidr: 244.0.0.0/16\n  - \
         name: cluster-a\n    public_key: \"{}\"\n    global_cidr: 245.0.0.0/16\n  - name: B\n    \
         public_key: \"{}\"\n    global_cidr: 246.0.0.0/16\n",
        peer_b("    global_cidr: 243.0.0.0/16\n"),
        WG_VECTORS[0].0.replace('+', "A"),
        "x".repeat(43) + "=",
    ));
    let errors = errors_of(&text);
    assert_eq!(
        errors[0],
        "peers[1].name: \"cluster-b\" is already used by peers[0]"
    );
    assert_eq!(
        errors[1],
        "peers[2].name: \"cluster-a\" is this cluster's own cluster_id"
    );
    assert_eq!(
        errors[2],
        "peers[3].name: \"B\" is not a valid DNS label (1-63 characters of a-z, 0-9 and '-', not \
         starting or ending with '-')"
    );
}

#[test]
fn peer_public_key_must_be_a_wg_key() {
    let text =
        with_peers("  - name: cluster-b\n    public_key: \"abc\"\n    global_cidr: 243.0.0.0/16\n");
    assert_eq!(
        single_error(&text),
        "peers[0].public_key: not a WireGuard public key: expected 44 base64 characters encoding \
         32 bytes (the format of `wg genkey` / `wg pubkey`), got 3 characters"
    );
    let text = with_peers(&format!(
        "  - name: cluster-b\n    public_key: \"{}\"\n    global_cidr: 243.0.0.0/16\n",
        "!".repeat(43) + "="
    ));
    assert_eq!(
        single_error(&text),
        "peers[0].public_key: not a WireGuard public key: not valid base64 (standard alphabet \
         with `=` padding, the format of `wg genkey` / `wg pubkey`)"
    );
}

#[test]
fn peer_public_keys_are_unique() {
    let text = with_peers(&format!(
        "{}  - name: cluster-c\n    public_key: \"{KEY_B}\"\n    global_cidr: 244.0.0.0/16\n",
        peer_b("    global_cidr: 243.0.0.0/16\n")
    ));
    assert_eq!(
        single_error(&text),
        "peers[1].public_key: same public key as peers[0] (cluster-b)"
    );
}

#[test]
fn peer_endpoint_must_be_host_and_port() {
    let text = with_peers(&peer_b(
        "    endpoint: 192.168.100.2\n    global_cidr: 243.0.0.0/16\n",
    ));
    assert_eq!(
        single_error(&text),
        "peers[0].endpoint: \"192.168.100.2\" is not host:port (e.g. 192.168.100.2:4500 or \
         gw.example.com:4500)"
    );
    let text = with_peers(&peer_b(
        "    endpoint: 192.168.100.2:0\n    global_cidr: 243.0.0.0/16\n",
    ));
    assert_eq!(
        single_error(&text),
        "peers[0].endpoint: \"192.168.100.2:0\": port must not be 0"
    );
}

#[test]
fn peer_endpoint_host_must_resolve() {
    // `.invalid` never resolves (RFC 2606).
    let text = with_peers(&peer_b(
        "    endpoint: gateway.example.invalid:4500\n    global_cidr: 243.0.0.0/16\n",
    ));
    let error = single_error(&text);
    assert!(
        error.starts_with(
            "peers[0].endpoint: cannot resolve \"gateway.example.invalid:4500\" (peer cluster-b): "
        ),
        "{error}"
    );
}

#[test]
fn peer_has_exactly_one_of_global_or_routed_cidrs() {
    let expected =
        "peers[0]: set exactly one of global_cidr (peer runs Globalnet) or routed_cidrs \
                    (peer without Globalnet, routed untranslated)";
    assert_eq!(single_error(&with_peers(&peer_b(""))), expected);
    assert_eq!(
        single_error(&with_peers(&peer_b(
            "    global_cidr: 243.0.0.0/16\n    routed_cidrs: [10.10.0.0/16]\n"
        ))),
        expected
    );
    assert_eq!(
        single_error(&with_peers(&peer_b("    routed_cidrs: []\n"))),
        "peers[0].routed_cidrs: at least one CIDR is required"
    );
}

#[test]
fn peer_global_cidr_must_be_inside_240_slash_4() {
    assert_eq!(
        single_error(&with_peers(&peer_b("    global_cidr: 10.10.0.0/16\n"))),
        "peers[0].global_cidr: 10.10.0.0/16 is not inside 240.0.0.0/4, the reserved range global \
         blocks come from"
    );
}

#[test]
fn peer_block_must_not_overlap_our_global_cidr() {
    assert_eq!(
        single_error(&with_peers(&peer_b("    global_cidr: 242.0.0.0/8\n"))),
        "peers[0].global_cidr: 242.0.0.0/8 overlaps globalnet.global_cidr (242.0.0.0/16), this \
         cluster's own global block"
    );
}

#[test]
fn routed_cidrs_must_not_overlap_local_cidrs() {
    assert_eq!(
        single_error(&with_peers(&peer_b(
            "    routed_cidrs: [10.10.0.0/16, 10.244.5.0/24]\n"
        ))),
        "peers[0].routed_cidrs[1]: 10.244.5.0/24 overlaps local.pod_cidrs[0] (10.244.0.0/16), a \
         local CIDR"
    );
}

#[test]
fn peer_blocks_must_not_overlap_each_other() {
    let text = with_peers(&format!(
        "{}  - name: cluster-c\n    public_key: \"{KEY_C}\"\n    global_cidr: 243.0.128.0/17\n",
        peer_b("    global_cidr: 243.0.0.0/16\n")
    ));
    assert_eq!(
        single_error(&text),
        "peers[1].global_cidr: 243.0.128.0/17 overlaps peers[0].global_cidr (243.0.0.0/16), \
         another peer's block"
    );
}

#[test]
fn peer_keepalive_and_psk_path() {
    let text = with_peers(&peer_b(
        "    global_cidr: 243.0.0.0/16\n    persistent_keepalive: 65536\n    preshared_key_file: \
         \"\"\n",
    ));
    assert_eq!(
        errors_of(&text),
        vec![
            "peers[0].persistent_keepalive: 65536 is out of range 0..=65535",
            "peers[0].preshared_key_file: must not be empty",
        ]
    );
}

// --- reporting ---

#[test]
fn all_errors_are_reported_together() {
    let text = format!(
        "\
cluster_id: cluster_a
private_key_file: /etc/gateway/private.key
listen_port: 0
tunnel:
  mtu: 1500
local:
  pod_cidrs: [10.244.0.0/16]
globalnet:
  global_cidr: 10.0.0.0/8
  cluster_egress_ips: 30
peers:
  - name: cluster-b
    public_key: \"{KEY_B}\"
    global_cidr: 243.0.0.0/16
  - name: cluster-c
    public_key: \"{KEY_C}\"
    global_cidr: 243.0.0.0/24
"
    );
    let error = Config::from_yaml(&text).unwrap_err();
    assert_eq!(
        error.to_string(),
        "6 errors in config:
  cluster_id: \"cluster_a\" is not a valid DNS label (1-63 characters of a-z, 0-9 and '-', not starting or ending with '-')
  listen_port: 0 is out of range 1..=65535
  tunnel.mtu: 1500 is larger than underlay_mtu − 60 = 1440: an encrypted packet (IPv4 20 + UDP 8 + WireGuard 32 bytes of overhead) would not fit the underlay
  globalnet.global_cidr: 10.0.0.0/8 is not inside 240.0.0.0/4, the reserved range global blocks come from
  globalnet.cluster_egress_ips: 30 is out of range 0..=20
  peers[1].global_cidr: 243.0.0.0/24 overlaps peers[0].global_cidr (243.0.0.0/16), another peer's block"
    );
    assert_eq!(error.field_errors().len(), 6);
    assert_eq!(error.field_errors()[5].path, "peers[1].global_cidr");
}

#[test]
fn unknown_field_is_an_error_with_its_path_and_position() {
    let text = format!("{MINIMAL}tunnel:\n  mut: 1400\n");
    match Config::from_yaml(&text).unwrap_err() {
        ConfigError::Syntax { location, message } => {
            assert_eq!(location, Some(TextLocation { line: 9, column: 3 }));
            assert_eq!(
                message,
                "tunnel: unknown field `mut`, expected one of `name`, `underlay_mtu`, `mtu`"
            );
        }
        other => panic!("expected a syntax error, got {other}"),
    }
    let text = format!("{MINIMAL}listen_prot: 4500\n");
    assert_eq!(
        Config::from_yaml(&text).unwrap_err().to_string(),
        "line 8, column 1: unknown field `listen_prot`, expected one of `cluster_id`, \
         `private_key_file`, `listen_port`, `state_dir`, `admin_socket`, `metrics_address`, \
         `uapi_socket`, `tunnel`, `local`, `globalnet`, `nat`, `health`, `peers`"
    );
}

#[test]
fn yaml_syntax_error_reports_line_and_column() {
    let text = "cluster_id: cluster-a\nlocal:\n  pod_cidrs: [10.244.0.0/16\nglobalnet: {}\n";
    match Config::from_yaml(text).unwrap_err() {
        ConfigError::Syntax {
            location: Some(at), ..
        } => assert_eq!(at.line, 4),
        other => panic!("expected a located syntax error, got {other}"),
    }
}

#[test]
fn missing_required_field_and_wrong_type_are_named() {
    let text = MINIMAL.replace("cluster_id: cluster-a\n", "");
    assert_eq!(
        Config::from_yaml(&text).unwrap_err().to_string(),
        "line 1, column 1: missing field `cluster_id`"
    );
    let text = format!("{MINIMAL}listen_port: four\n");
    assert_eq!(
        Config::from_yaml(&text).unwrap_err().to_string(),
        "line 8, column 14: listen_port: invalid type: string \"four\", expected i64"
    );
}

#[test]
fn config_file_that_cannot_be_read_is_named() {
    let error = Config::load(std::path::Path::new("/nonexistent/gateway.yaml")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot read config file /nonexistent/gateway.yaml: No such file or directory (os error 2)"
    );
}
