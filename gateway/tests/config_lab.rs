//! The lab's two example configs (deploy/lab/*.yaml) parse to exactly the
//! values the lab expects; and the schema defaults.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config_support;

use config_support::{lab_config, MINIMAL, WG_VECTORS};
use gateway::config::{
    Config, Export, ExportName, ExportTarget, HealthConfig, LocalConfig, NatConfig, PeerAddressing,
    PeerConfig, PeerEndpoint, TunnelConfig,
};
use gateway::keys::PublicKey;
use ipnet::Ipv4Net;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

fn net(text: &str) -> Ipv4Net {
    text.parse().unwrap()
}

fn lab_local() -> LocalConfig {
    LocalConfig {
        pod_cidrs: vec![net("10.244.0.0/16")],
        service_cidrs: vec![net("10.96.0.0/16")],
    }
}

fn lab_tunnel() -> TunnelConfig {
    TunnelConfig {
        name: "gw0".to_string(),
        underlay_mtu: 1500,
        mtu: 1420,
    }
}

fn export(namespace: &str, name: &str, cluster_ip: Ipv4Addr) -> Export {
    Export {
        name: ExportName {
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
        target: ExportTarget::ClusterIp(cluster_ip),
    }
}

fn lab_peer(name: &str, key: &str, endpoint: &str, global: &str) -> PeerConfig {
    PeerConfig {
        name: name.to_string(),
        public_key: PublicKey::from_base64(key).unwrap(),
        endpoint: Some(PeerEndpoint {
            text: endpoint.to_string(),
            addr: endpoint.parse::<SocketAddr>().unwrap(),
        }),
        addressing: PeerAddressing::Global(net(global)),
        persistent_keepalive: Some(10),
        preshared_key_file: None,
    }
}

#[test]
fn lab_cluster_a_parses_to_expected_values() {
    let peer_key = WG_VECTORS[1].1;
    let text = lab_config("cluster-a").replace("@CLUSTER_B_PUBLIC_KEY@", peer_key);
    let config = Config::from_yaml(&text).unwrap();

    assert_eq!(config.cluster_id, "cluster-a");
    assert_eq!(
        config.private_key_file,
        PathBuf::from("/run/gwlab/cluster-a/private.key")
    );
    assert_eq!(config.listen_port, 4500);
    assert_eq!(
        config.state_dir,
        PathBuf::from("/run/gwlab/cluster-a/state")
    );
    assert_eq!(
        config.admin_socket,
        PathBuf::from("/run/gwlab/cluster-a/admin.sock")
    );
    assert_eq!(
        config.metrics_address,
        Some("127.0.0.1:9898".parse().unwrap())
    );
    assert_eq!(config.tunnel, lab_tunnel());
    assert_eq!(config.local, lab_local());
    let g = &config.globalnet;
    assert_eq!(g.global_cidr, net("242.0.0.0/16"));
    assert_eq!(g.gateway_ip, Ipv4Addr::new(242, 0, 0, 1));
    assert_eq!(g.cluster_egress_ips, 8);
    assert!(g.egress_groups.is_empty());
    assert_eq!(
        g.exports,
        vec![export("shared", "echo-a", Ipv4Addr::new(10, 96, 0, 10))]
    );
    assert_eq!(config.nat, NatConfig::default());
    assert_eq!(config.health, HealthConfig::default());
    assert_eq!(
        config.peers,
        vec![lab_peer(
            "cluster-b",
            peer_key,
            "192.168.100.2:4500",
            "243.0.0.0/16"
        )]
    );

    // What the NAT engine and IPAM are built from.
    assert_eq!(
        config.local_cidrs(),
        vec![net("10.244.0.0/16"), net("10.96.0.0/16")]
    );
    assert_eq!(config.remote_global_blocks(), vec![net("243.0.0.0/16")]);
    assert!(config.routed_cidrs().is_empty());
    assert_eq!(config.tunnel_mtu(), 1420);
    assert_eq!(config.icmp_source(), Ipv4Addr::new(242, 0, 0, 1));
}

#[test]
fn lab_cluster_b_parses_to_expected_values() {
    let peer_key = WG_VECTORS[0].1;
    let text = lab_config("cluster-b").replace("@CLUSTER_A_PUBLIC_KEY@", peer_key);
    let config = Config::from_yaml(&text).unwrap();

    assert_eq!(config.cluster_id, "cluster-b");
    assert_eq!(
        config.private_key_file,
        PathBuf::from("/run/gwlab/cluster-b/private.key")
    );
    assert_eq!(config.listen_port, 4500);
    assert_eq!(
        config.state_dir,
        PathBuf::from("/run/gwlab/cluster-b/state")
    );
    assert_eq!(
        config.admin_socket,
        PathBuf::from("/run/gwlab/cluster-b/admin.sock")
    );
    assert_eq!(
        config.metrics_address,
        Some("127.0.0.1:9899".parse().unwrap())
    );
    assert_eq!(config.tunnel, lab_tunnel());
    assert_eq!(config.local, lab_local());
    let g = &config.globalnet;
    assert_eq!(g.global_cidr, net("243.0.0.0/16"));
    assert_eq!(g.gateway_ip, Ipv4Addr::new(243, 0, 0, 1));
    assert_eq!(g.cluster_egress_ips, 8);
    assert_eq!(
        g.exports,
        vec![export("shared", "echo", Ipv4Addr::new(10, 96, 0, 10))]
    );
    assert_eq!(
        config.peers,
        vec![lab_peer(
            "cluster-a",
            peer_key,
            "192.168.100.1:4500",
            "242.0.0.0/16"
        )]
    );
    assert_eq!(config.remote_global_blocks(), vec![net("242.0.0.0/16")]);
}

#[test]
fn lab_templates_name_their_placeholders() {
    // Unsubstituted, the templates fail with a hint rather than a base64 error.
    let error = Config::from_yaml(&lab_config("cluster-a")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "1 error in config:\n  peers[0].public_key: \"@CLUSTER_B_PUBLIC_KEY@\" is a placeholder \
         that was not replaced by the peer's public key (`gwctl pubkey < its private key`)"
    );
}

#[test]
fn defaults_follow_the_schema() {
    let config = Config::from_yaml(MINIMAL).unwrap();
    assert_eq!(config.listen_port, 4500);
    assert_eq!(config.state_dir, PathBuf::from("/var/lib/gateway"));
    assert_eq!(
        config.admin_socket,
        PathBuf::from("/run/gateway/admin.sock")
    );
    assert_eq!(
        config.metrics_address,
        Some("0.0.0.0:9898".parse().unwrap())
    );
    assert_eq!(config.tunnel, lab_tunnel());
    assert_eq!(config.globalnet.cluster_egress_ips, 8);
    assert!(config.globalnet.egress_groups.is_empty());
    assert!(config.globalnet.exports.is_empty());
    assert!(config.peers.is_empty());
    assert_eq!(
        config.nat,
        NatConfig {
            max_flows: 1_048_576,
            max_flows_per_source: 16_384,
            tcp_established_timeout: Duration::from_secs(7440),
            tcp_transitory_timeout: Duration::from_secs(240),
            udp_timeout: Duration::from_secs(300),
            icmp_timeout: Duration::from_secs(60),
        }
    );
    assert_eq!(
        config.health,
        HealthConfig {
            interval: Duration::from_secs(1),
            failures_before_error: 5,
        }
    );
    let only_pods = MINIMAL.replace("  service_cidrs: [10.96.0.0/16]\n", "");
    assert!(Config::from_yaml(&only_pods)
        .unwrap()
        .local
        .service_cidrs
        .is_empty());
}

#[test]
fn tunnel_mtu_default_follows_underlay_mtu() {
    let text = format!("{MINIMAL}tunnel:\n  underlay_mtu: 9000\n");
    let config = Config::from_yaml(&text).unwrap();
    assert_eq!(config.tunnel.underlay_mtu, 9000);
    assert_eq!(config.tunnel.mtu, 9000 - 80);
}

#[test]
fn empty_metrics_address_disables_metrics() {
    let text = format!("{MINIMAL}metrics_address: \"\"\n");
    assert_eq!(Config::from_yaml(&text).unwrap().metrics_address, None);
}

#[test]
fn full_schema_example_parses() {
    let text = format!(
        "\
cluster_id: cluster-a
private_key_file: /etc/gateway/private.key
listen_port: 4501
state_dir: /var/lib/gw
admin_socket: /run/gw/admin.sock
metrics_address: 0.0.0.0:9100
tunnel:
  name: wg-mc0
  underlay_mtu: 1500
  mtu: 1400
local:
  pod_cidrs: [10.244.0.0/16]
  service_cidrs: [10.96.0.0/16]
globalnet:
  global_cidr: 242.0.0.0/16
  cluster_egress_ips: 0
  egress_groups:
    - name: ns-payments
      sources: [10.244.8.0/24]
      ips: 2
  exports:
    - name: shared/echo
      cluster_ip: 10.96.0.10
    - name: shared/db
      headless_pods: [10.244.8.9, 10.244.8.10]
nat:
  max_flows: 1000
  max_flows_per_source: 100
  tcp_established_timeout: 2h4m
  tcp_transitory_timeout: 4m
  udp_timeout: 300s
  icmp_timeout: 1m
health:
  interval: 500ms
  failures_before_error: 3
peers:
  - name: cluster-b
    public_key: \"{}\"
    endpoint: localhost:4500
    global_cidr: 243.0.0.0/16
    persistent_keepalive: 0
    preshared_key_file: /etc/gateway/cluster-b.psk
  - name: plain-wg
    public_key: \"{}\"
    routed_cidrs: [10.10.0.0/16, 10.11.0.0/16]
",
        WG_VECTORS[0].1, WG_VECTORS[1].1
    );
    let config = Config::from_yaml(&text).unwrap();
    assert_eq!(config.listen_port, 4501);
    assert_eq!(config.tunnel.name, "wg-mc0");
    assert_eq!(config.tunnel.mtu, 1400);
    assert_eq!(config.globalnet.cluster_egress_ips, 0);
    let group = &config.globalnet.egress_groups[0];
    assert_eq!(group.name, "ns-payments");
    assert_eq!(group.sources, vec![net("10.244.8.0/24")]);
    assert_eq!(group.ips, 2);
    assert_eq!(
        config.globalnet.exports[1].target,
        ExportTarget::HeadlessPods(vec![
            Ipv4Addr::new(10, 244, 8, 9),
            Ipv4Addr::new(10, 244, 8, 10)
        ])
    );
    assert_eq!(config.nat.max_flows, 1000);
    assert_eq!(config.nat.max_flows_per_source, 100);
    assert_eq!(
        config.nat.tcp_established_timeout,
        Duration::from_secs(7440)
    );
    assert_eq!(config.nat.icmp_timeout, Duration::from_secs(60));
    assert_eq!(config.health.interval, Duration::from_millis(500));
    assert_eq!(config.health.failures_before_error, 3);
    let b = config.peer("cluster-b").unwrap();
    // A host name is resolved at load time.
    assert_eq!(b.endpoint.as_ref().unwrap().text, "localhost:4500");
    assert!(b.endpoint.as_ref().unwrap().addr.ip().is_loopback());
    assert_eq!(b.endpoint.as_ref().unwrap().addr.port(), 4500);
    assert_eq!(b.persistent_keepalive, None, "0 turns keepalive off");
    assert_eq!(
        b.preshared_key_file,
        Some(PathBuf::from("/etc/gateway/cluster-b.psk"))
    );
    let plain = config.peer("plain-wg").unwrap();
    assert_eq!(plain.endpoint, None);
    assert_eq!(
        config.routed_cidrs(),
        vec![net("10.10.0.0/16"), net("10.11.0.0/16")]
    );
    assert_eq!(config.remote_global_blocks(), vec![net("243.0.0.0/16")]);
    assert_eq!(
        config.summary().lines().last().unwrap(),
        "metrics: 0.0.0.0:9100; admin socket: /run/gw/admin.sock; state dir: /var/lib/gw"
    );
}
