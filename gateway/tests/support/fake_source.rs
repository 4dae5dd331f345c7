//! A StatusSource with a canned, realistic snapshot: gateway cluster-a
//! (242.0.0.0/16) with two peers, cluster-b connected and cluster-c in error.
// Each test binary uses a different part; test support may unwrap.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use gateway::status::*;
use std::sync::Mutex;

pub type MtuAnswers = Vec<(String, Result<Option<u16>, String>)>;

pub struct FakeSource {
    pub status: Mutex<GatewayStatus>,
    /// What `reload` answers.
    pub reload_result: Mutex<Result<String, String>>,
    pub reload_calls: Mutex<u32>,
    /// What `mtu_probe` answers, per peer (others: Err "unknown peer").
    pub mtu: Mutex<MtuAnswers>,
    pub liveness: Mutex<Result<(), String>>,
}

impl FakeSource {
    pub fn new(status: GatewayStatus) -> Self {
        FakeSource {
            status: Mutex::new(status),
            reload_result: Mutex::new(Ok("2 peers (1 changed), 3 exports (1 added)".to_string())),
            reload_calls: Mutex::new(0),
            mtu: Mutex::new(vec![("cluster-b".to_string(), Ok(Some(1420)))]),
            liveness: Mutex::new(Ok(())),
        }
    }
}

impl StatusSource for FakeSource {
    fn status(&self) -> GatewayStatus {
        self.status.lock().unwrap().clone()
    }
    fn reload(&self) -> Result<String, String> {
        *self.reload_calls.lock().unwrap() += 1;
        self.reload_result.lock().unwrap().clone()
    }
    fn mtu_probe(&self, peer: &str) -> Result<Option<u16>, String> {
        self.mtu
            .lock()
            .unwrap()
            .iter()
            .find(|(name, _)| name == peer)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| Err(format!("unknown peer {peer:?}")))
    }
    fn liveness(&self) -> Result<(), String> {
        self.liveness.lock().unwrap().clone()
    }
}

fn count(label: &str, value: u64) -> Count {
    Count {
        label: label.to_string(),
        value,
    }
}

/// RTT histogram with the health prober's bucket bounds (cumulative counts).
fn rtt(avg_ms: f64, sent: u64, received: u64, loss: f64, failures: u32) -> RttView {
    let bounds = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    ];
    let buckets = bounds
        .iter()
        .map(|&b| {
            (
                b,
                if b * 1000.0 >= avg_ms {
                    received
                } else {
                    received / 10
                },
            )
        })
        .collect();
    RttView {
        last_seconds: (received > 0).then_some(avg_ms / 1000.0),
        min_seconds: (received > 0).then_some(avg_ms / 2000.0),
        avg_seconds: (received > 0).then_some(avg_ms / 1000.0),
        max_seconds: (received > 0).then_some(avg_ms * 3.0 / 1000.0),
        probes_sent: sent,
        probes_received: received,
        loss_ratio: loss,
        consecutive_failures: failures,
        histogram_buckets: buckets,
        histogram_sum_seconds: received as f64 * avg_ms / 1000.0,
        histogram_count: received,
    }
}

pub fn connected_peer() -> PeerView {
    PeerView {
        name: "cluster-b".to_string(),
        public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=".to_string(),
        endpoint: Some("192.0.2.20:4500".parse().unwrap()),
        configured_endpoint: Some("192.0.2.20:4500".parse().unwrap()),
        cidrs: vec!["243.0.0.0/16".parse().unwrap()],
        globalnet: true,
        status: ConnectionStatus::Connected,
        status_reason: None,
        last_handshake_age_seconds: Some(12.4),
        last_handshake_unix_seconds: Some(1_700_000_000.0),
        rx_bytes: 1_298_137_661,
        tx_bytes: 73_400_320,
        rx_packets: 912_345,
        tx_packets: 523_456,
        handshakes: 31,
        handshake_failures: 0,
        configured_endpoint_retries: 0,
        persistent_keepalive_seconds: Some(10),
        rtt: rtt(1.2, 3600, 3600, 0.0, 0),
    }
}

pub fn error_peer() -> PeerView {
    PeerView {
        name: "cluster-c".to_string(),
        public_key: "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=".to_string(),
        endpoint: Some("198.51.100.7:4500".parse().unwrap()),
        // Roamed away from its configured address.
        configured_endpoint: Some("198.51.100.9:4500".parse().unwrap()),
        cidrs: vec!["244.0.0.0/16".parse().unwrap()],
        globalnet: true,
        status: ConnectionStatus::Error,
        status_reason: Some("no handshake for 2m13s".to_string()),
        last_handshake_age_seconds: Some(133.0),
        last_handshake_unix_seconds: Some(1_699_999_879.4),
        rx_bytes: 10_240,
        tx_bytes: 2_048_000,
        rx_packets: 80,
        tx_packets: 1_600,
        handshakes: 2,
        handshake_failures: 14,
        configured_endpoint_retries: 2,
        persistent_keepalive_seconds: Some(10),
        rtt: rtt(35.0, 3600, 3400, 0.12, 9),
    }
}

/// The two-peer snapshot the tests share.
pub fn sample_status() -> GatewayStatus {
    GatewayStatus {
        cluster_id: "cluster-a".to_string(),
        public_key: "oN5xsmk2QKhBGSFAg7flTH6Fh4Q3KLJYVDxp7oXt1Ww=".to_string(),
        listen_port: 4500,
        gateway_ip: "242.0.0.1".parse().unwrap(),
        global_cidr: "242.0.0.0/16".parse().unwrap(),
        local_cidrs: vec![
            "10.244.0.0/16".parse().unwrap(),
            "10.96.0.0/12".parse().unwrap(),
        ],
        tunnel_device: "gw0".to_string(),
        tunnel_mtu: 1420,
        uptime_seconds: 11_045.0,
        ready: true,
        peers: vec![connected_peer(), error_peer()],
        exports: vec![
            ExportView {
                service: "shop/cart".to_string(),
                global_ip: "242.0.0.10".parse().unwrap(),
                target: "10.96.14.3".parse().unwrap(),
                headless: false,
            },
            ExportView {
                service: "db/postgres-0".to_string(),
                global_ip: "242.0.0.11".parse().unwrap(),
                target: "10.244.3.17".parse().unwrap(),
                headless: true,
            },
        ],
        egress: vec![
            EgressIpView {
                global_ip: "242.0.0.2".parse().unwrap(),
                owner: "cluster".to_string(),
                sources: vec![],
                ports_in_use: 1_204,
            },
            EgressIpView {
                global_ip: "242.0.0.3".parse().unwrap(),
                owner: "cluster".to_string(),
                sources: vec![],
                ports_in_use: 1_187,
            },
            EgressIpView {
                global_ip: "242.0.0.20".parse().unwrap(),
                owner: "payments".to_string(),
                sources: vec!["10.244.7.0/24".parse().unwrap()],
                ports_in_use: 42,
            },
        ],
        ipam: IpamView {
            cidr: Some("242.0.0.0/16".parse().unwrap()),
            cluster_egress: 2,
            egress_groups: 1,
            ingress: 2,
            available: 65_529,
        },
        nat: NatView {
            flows: vec![count("tcp", 2_301), count("udp", 120), count("icmp", 12)],
            tcp_states: vec![
                count("established", 2_250),
                count("syn_sent", 11),
                count("fin_wait", 40),
            ],
            flows_created_total: vec![
                count("tcp", 90_112),
                count("udp", 40_321),
                count("icmp", 977),
            ],
            flows_expired_total: vec![
                count("tcp", 87_811),
                count("udp", 40_201),
                count("icmp", 965),
            ],
            translations_outbound_total: 12_000_000,
            translations_inbound_total: 11_500_000,
            mss_clamped_total: 90_000,
            fragmentation_needed_sent_total: 3,
            drops_total: vec![
                count("not_exported", 25),
                count("no_route", 4),
                count("malformed_ip", 2),
            ],
            top_talkers: vec![count("10.244.1.10", 812), count("10.244.2.31", 400)],
            max_flows: 262_144,
            max_flows_per_source: 16_384,
        },
        config_reloads_ok: 3,
        config_reloads_rejected: 1,
        last_reload_error: None,
        state_save_errors: 0,
        last_state_error: None,
        data_path: DataPathView {
            bulk_scheduling: "enabled".to_string(),
            tun_rx_bulk: true,
            tun_rx_bulk_entered_total: 7,
            longest_turn_gap_seconds: [
                ("tun-rx", 0.2),
                ("udp-rx", 0.201),
                ("handshakes", 0.2),
                ("timers", 0.1),
            ]
            .into_iter()
            .map(|(thread, gap)| (thread.to_string(), gap))
            .collect(),
            rx_moderation_nap_us: 100,
            rx_moderation_naps_total: 4_321,
            solo: true,
            solo_switches_total: 12,
        },
    }
}
