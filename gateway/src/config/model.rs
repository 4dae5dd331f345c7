//! The validated configuration. Every value here has passed the checks in
//! `validate.rs`; code that receives a `Config` need not re-check it.

use crate::keys::PublicKey;
use ipnet::Ipv4Net;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This cluster's id (a DNS label).
    pub cluster_id: String,
    /// File holding this gateway's WireGuard private key (`wg genkey` format).
    /// Read by [`Config::load_secrets`], not at parse time.
    pub private_key_file: PathBuf,
    /// UDP port WireGuard listens on.
    pub listen_port: u16,
    /// Where global IP allocations persist.
    pub state_dir: PathBuf,
    /// Owner-only Unix socket of the admin API used by gwctl.
    pub admin_socket: PathBuf,
    /// `/metrics`, `/healthz`, `/readyz` listener; `None` when disabled (`""`).
    pub metrics_address: Option<SocketAddr>,
    /// WireGuard UAPI socket for `wg show` (read-only); `None` when disabled (`""`).
    /// Default `/var/run/wireguard/<tunnel.name>.sock`, where `wg` looks.
    pub uapi_socket: Option<PathBuf>,
    pub tunnel: TunnelConfig,
    pub local: LocalConfig,
    pub globalnet: GlobalnetConfig,
    pub nat: NatConfig,
    pub health: HealthConfig,
    pub peers: Vec<PeerConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelConfig {
    /// TUN device name (≤ 15 bytes, Linux IFNAMSIZ − 1).
    pub name: String,
    /// MTU of the network the encrypted UDP packets travel on.
    pub underlay_mtu: u16,
    /// MTU of the TUN device: the largest inner packet (underlay − 80 by default).
    pub mtu: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    pub pod_cidrs: Vec<Ipv4Net>,
    pub service_cidrs: Vec<Ipv4Net>,
}

impl LocalConfig {
    /// Pod CIDRs then Service CIDRs: the legitimate sources of outbound traffic.
    pub fn all_cidrs(&self) -> Vec<Ipv4Net> {
        self.pod_cidrs
            .iter()
            .chain(&self.service_cidrs)
            .copied()
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalnetConfig {
    /// This cluster's global block, inside 240.0.0.0/4.
    pub global_cidr: Ipv4Net,
    /// The first host of `global_cidr`: the gateway's own address (TUN
    /// address, health-probe target, source of the ICMP errors it generates).
    pub gateway_ip: Ipv4Addr,
    /// Size of the cluster egress pool (0..=20).
    pub cluster_egress_ips: u8,
    pub egress_groups: Vec<EgressGroup>,
    pub exports: Vec<Export>,
}

/// Sources that get their own dedicated global egress IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressGroup {
    pub name: String,
    /// Each inside one of the local Pod/Service CIDRs.
    pub sources: Vec<Ipv4Net>,
    /// Number of dedicated global IPs (1..=20).
    pub ips: u8,
}

/// An exported Service, reachable from peers at global ingress IP(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub name: ExportName,
    pub target: ExportTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExportName {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ExportName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    /// A ClusterIP Service: one global ingress IP, DNATed to this IP.
    ClusterIp(Ipv4Addr),
    /// A headless Service: one global IP per pod, which is also that pod's
    /// egress source.
    HeadlessPods(Vec<Ipv4Addr>),
}

impl ExportTarget {
    /// How many global IPs this export takes from the block.
    pub fn global_ips_needed(&self) -> usize {
        match self {
            ExportTarget::ClusterIp(_) => 1,
            ExportTarget::HeadlessPods(pods) => pods.len(),
        }
    }
}

/// Flow-table limits and idle timeouts (defaults cite their RFCs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatConfig {
    pub max_flows: usize,
    pub max_flows_per_source: usize,
    pub tcp_established_timeout: Duration,
    pub tcp_transitory_timeout: Duration,
    pub udp_timeout: Duration,
    pub icmp_timeout: Duration,
}

impl Default for NatConfig {
    fn default() -> Self {
        NatConfig {
            max_flows: 1 << 20,
            max_flows_per_source: 1 << 14,
            // RFC 5382 REQ-5: established TCP ≥ 2 h 4 min.
            tcp_established_timeout: Duration::from_secs(2 * 3600 + 4 * 60),
            // RFC 5382: transitory TCP ≥ 4 min.
            tcp_transitory_timeout: Duration::from_secs(4 * 60),
            // RFC 4787 REQ-5: UDP ≥ 2 min, 5 min recommended.
            udp_timeout: Duration::from_secs(5 * 60),
            // RFC 5508 REQ-1: ICMP query ≥ 60 s.
            icmp_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// Time between health probes to each peer.
    pub interval: Duration,
    /// Consecutive lost probes before a connection is in error.
    pub failures_before_error: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        // Submariner's values: a probe every second, more than 5 lost → error.
        HealthConfig {
            interval: Duration::from_secs(1),
            failures_before_error: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// Unique; the remote cluster id shown by gwctl.
    pub name: String,
    pub public_key: PublicKey,
    /// Where to send handshakes; `None` when the peer only connects to us.
    pub endpoint: Option<PeerEndpoint>,
    pub addressing: PeerAddressing,
    /// Seconds between keepalives; `None` when off (absent or 0).
    pub persistent_keepalive: Option<u16>,
    /// Read by [`Config::load_secrets`], not at parse time.
    pub preshared_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEndpoint {
    /// As written (`host:port`), kept so it can be resolved again later.
    pub text: String,
    /// The first address it resolved to at load time.
    pub addr: SocketAddr,
}

/// What a peer's traffic looks like: translated (Globalnet) or routed as-is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAddressing {
    /// The peer runs Globalnet: its cluster is reached at this global block.
    Global(Ipv4Net),
    /// A peer without Globalnet: these CIDRs are routed untranslated both ways.
    Routed(Vec<Ipv4Net>),
}

impl PeerAddressing {
    /// The CIDRs reached through this peer (its WireGuard allowed IPs).
    pub fn cidrs(&self) -> &[Ipv4Net] {
        match self {
            PeerAddressing::Global(cidr) => std::slice::from_ref(cidr),
            PeerAddressing::Routed(cidrs) => cidrs,
        }
    }
}

/// Accessors that gather what the NAT engine and IPAM need, named after the
/// engine's inputs.
impl Config {
    /// Local Pod and Service CIDRs: the only legitimate outbound sources.
    pub fn local_cidrs(&self) -> Vec<Ipv4Net> {
        self.local.all_cidrs()
    }

    /// Peers' global blocks (peers running Globalnet): traffic to these is SNATed.
    pub fn remote_global_blocks(&self) -> Vec<Ipv4Net> {
        self.peers
            .iter()
            .filter_map(|peer| match peer.addressing {
                PeerAddressing::Global(cidr) => Some(cidr),
                PeerAddressing::Routed(_) => None,
            })
            .collect()
    }

    /// CIDRs of peers without Globalnet: routed both ways untranslated.
    pub fn routed_cidrs(&self) -> Vec<Ipv4Net> {
        self.peers
            .iter()
            .filter_map(|peer| match &peer.addressing {
                PeerAddressing::Global(_) => None,
                PeerAddressing::Routed(cidrs) => Some(cidrs.iter().copied()),
            })
            .flatten()
            .collect()
    }

    /// Inner MTU of the tunnel.
    pub fn tunnel_mtu(&self) -> u16 {
        self.tunnel.mtu
    }

    /// The gateway's own global address: the source of ICMP errors it generates.
    pub fn icmp_source(&self) -> Ipv4Addr {
        self.globalnet.gateway_ip
    }

    pub fn peer(&self, name: &str) -> Option<&PeerConfig> {
        self.peers.iter().find(|peer| peer.name == name)
    }
}
