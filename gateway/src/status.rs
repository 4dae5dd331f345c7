//! Read-only snapshots of a running gateway, for `gwctl` (admin API) and
//! Prometheus. The daemon builds them on request from its shared state; no
//! hot-path code touches these types.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

/// Connection status with the meanings `subctl show connections` users know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Connected,
    Connecting,
    Error,
}

impl ConnectionStatus {
    pub const ALL: [ConnectionStatus; 3] = [
        ConnectionStatus::Connected,
        ConnectionStatus::Connecting,
        ConnectionStatus::Error,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::Connecting => "connecting",
            ConnectionStatus::Error => "error",
        }
    }
}

/// Health-probe RTT figures; durations in seconds (f64) for JSON and Prometheus.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RttView {
    pub last_seconds: Option<f64>,
    pub min_seconds: Option<f64>,
    pub avg_seconds: Option<f64>,
    pub max_seconds: Option<f64>,
    pub probes_sent: u64,
    pub probes_received: u64,
    /// Lost / sent over the last 1000 probes.
    pub loss_ratio: f64,
    pub consecutive_failures: u32,
    /// Cumulative histogram of all RTT samples: (upper bound seconds, count ≤ bound).
    pub histogram_buckets: Vec<(f64, u64)>,
    pub histogram_sum_seconds: f64,
    pub histogram_count: u64,
}

/// One peer gateway, as `gwctl peers` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    pub name: String,
    /// Public key, base64 as `wg` prints it (public keys are not secret).
    pub public_key: String,
    /// Endpoint in use (after roaming), if any is known.
    pub endpoint: Option<SocketAddr>,
    /// The endpoint the config names, if any: where handshakes fall back to
    /// while a learned `endpoint` goes unanswered.
    #[serde(default)]
    pub configured_endpoint: Option<SocketAddr>,
    /// The peer's global block, or its routed CIDRs for a non-Globalnet peer.
    pub cidrs: Vec<Ipv4Net>,
    pub globalnet: bool,
    pub status: ConnectionStatus,
    /// Why the status is not `connected` (e.g. "no handshake for 2m13s", "5 health probes lost").
    pub status_reason: Option<String>,
    pub last_handshake_age_seconds: Option<f64>,
    /// Unix time of the last completed handshake.
    pub last_handshake_unix_seconds: Option<f64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub handshakes: u64,
    pub handshake_failures: u64,
    /// Handshake retries sent to the configured endpoint because the
    /// learned one in use went unanswered.
    #[serde(default)]
    pub configured_endpoint_retries: u64,
    pub persistent_keepalive_seconds: Option<u16>,
    pub rtt: RttView,
}

/// An exported service and its global ingress IP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportView {
    pub service: String,
    pub global_ip: Ipv4Addr,
    pub target: Ipv4Addr,
    pub headless: bool,
}

/// An egress IP and who uses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressIpView {
    pub global_ip: Ipv4Addr,
    /// "cluster" for the pool, the group name, or the headless service/pod.
    pub owner: String,
    /// Source CIDRs it serves (empty for the pool: every local source).
    pub sources: Vec<Ipv4Net>,
    /// NAT flows currently using this IP (each holds one port for its destination).
    pub ports_in_use: u64,
}

/// Global IP accounting for `submariner_global_IP_*`-style metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamView {
    pub cidr: Option<Ipv4Net>,
    pub cluster_egress: u64,
    pub egress_groups: u64,
    pub ingress: u64,
    pub available: u64,
}

/// A labelled count (protocol, state, drop reason, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub label: String,
    pub value: u64,
}

/// NAT table figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatView {
    /// Live flows by protocol ("tcp", "udp", "icmp").
    pub flows: Vec<Count>,
    /// Live TCP flows by state.
    pub tcp_states: Vec<Count>,
    pub flows_created_total: Vec<Count>,
    pub flows_expired_total: Vec<Count>,
    pub translations_outbound_total: u64,
    pub translations_inbound_total: u64,
    pub mss_clamped_total: u64,
    pub fragmentation_needed_sent_total: u64,
    /// Drops by reason: natcore's reasons and the tunnel's (one label space).
    pub drops_total: Vec<Count>,
    /// Sources holding the most flows.
    pub top_talkers: Vec<Count>,
    pub max_flows: u64,
    pub max_flows_per_source: u64,
}

/// The values of [`DataPathView::bulk_scheduling`] (also the metric's
/// `state` label): one list, so status, metrics and gwctl agree.
pub mod bulk_scheduling_state {
    pub const ENABLED: &str = "enabled";
    pub const DISABLED: &str = "disabled";
    pub const REFUSED: &str = "refused";
    pub const ALL: [&str; 3] = [ENABLED, DISABLED, REFUSED];
}

/// How the data path's outbound thread is scheduled (tun-rx's bulk mode;
/// docs/architecture.md, "Threads and what each owns").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataPathView {
    /// [`bulk_scheduling_state`]: "enabled"; "disabled"
    /// (`GATEWAY_BULK_SCHEDULING=off`); "refused" (the kernel or a seccomp
    /// profile refused `sched_setscheduler`). Empty from a gateway older than
    /// this field.
    pub bulk_scheduling: String,
    /// tun-rx runs as `SCHED_BATCH` now (it carries bulk traffic).
    pub tun_rx_bulk: bool,
    /// Times tun-rx switched to `SCHED_BATCH` since start.
    pub tun_rx_bulk_entered_total: u64,
    /// Each data-path thread's longest gap between two turns of its loop
    /// since start, in seconds, by thread name (`/healthz` fails at 10 s).
    /// Absent from older gateways' answers.
    #[serde(default)]
    pub longest_turn_gap_seconds: BTreeMap<String, f64>,
    /// udp-rx's receive-moderation nap in microseconds; 0: off
    /// (`GATEWAY_RX_MODERATION_US=off`). Absent from older gateways' answers.
    #[serde(default)]
    pub rx_moderation_nap_us: u64,
    /// Naps udp-rx took since start because datagrams kept arriving a few
    /// at a time (see `daemon/rx_moderation.rs`).
    #[serde(default)]
    pub rx_moderation_naps_total: u64,
    /// tun-rx reads the UDP socket too and udp-rx is parked: the tunnel is
    /// quiet (`daemon/solo.rs`). Always false with `GATEWAY_SOLO_WHEN_QUIET=off`.
    #[serde(default)]
    pub solo: bool,
    /// Hand-overs of the UDP socket between tun-rx and udp-rx since start.
    #[serde(default)]
    pub solo_switches_total: u64,
}

/// Everything `gwctl` and the metrics endpoint show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatewayStatus {
    pub cluster_id: String,
    pub public_key: String,
    pub listen_port: u16,
    pub gateway_ip: Ipv4Addr,
    pub global_cidr: Ipv4Net,
    pub local_cidrs: Vec<Ipv4Net>,
    pub tunnel_device: String,
    pub tunnel_mtu: u16,
    pub uptime_seconds: f64,
    pub ready: bool,
    pub peers: Vec<PeerView>,
    pub exports: Vec<ExportView>,
    pub egress: Vec<EgressIpView>,
    pub ipam: IpamView,
    pub nat: NatView,
    pub config_reloads_ok: u64,
    pub config_reloads_rejected: u64,
    pub last_reload_error: Option<String>,
    pub state_save_errors: u64,
    pub last_state_error: Option<String>,
    /// Absent from older gateways' answers, hence the default.
    #[serde(default)]
    pub data_path: DataPathView,
}

/// What the admin API and metrics endpoint ask of the daemon.
pub trait StatusSource: Send + Sync {
    fn status(&self) -> GatewayStatus;
    /// Re-reads the config file (same as SIGHUP); Ok(summary) or Err(why rejected).
    fn reload(&self) -> Result<String, String>;
    /// Sends DF probes of decreasing size through the tunnel to `peer`'s gateway
    /// address; the largest IP packet size that got an answer (None: nothing passed).
    fn mtu_probe(&self, peer: &str) -> Result<Option<u16>, String>;
    /// Liveness for `/healthz`: Err(why) when one of the daemon's loops has
    /// stalled (e.g. the timers thread has not ticked for seconds). The default
    /// says "alive", which is what a process able to answer HTTP at all shows.
    fn liveness(&self) -> Result<(), String> {
        Ok(())
    }
    /// Readiness for `/readyz`, polled by the kubelet every few seconds:
    /// sources with an expensive [`StatusSource::status`] (a walk of the NAT
    /// table) answer it without building one.
    fn ready(&self) -> bool {
        self.status().ready
    }
}
