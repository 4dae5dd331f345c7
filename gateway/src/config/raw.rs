//! The YAML as written: every struct denies unknown fields so typos are
//! caught. Values stay loosely typed here (numbers as `i64`, addresses and
//! durations as text) so that validation can check them all and report every
//! problem with its field path, instead of serde stopping at the first.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) cluster_id: String,
    pub(crate) private_key_file: String,
    pub(crate) listen_port: Option<i64>,
    pub(crate) state_dir: Option<String>,
    pub(crate) admin_socket: Option<String>,
    pub(crate) metrics_address: Option<String>,
    pub(crate) uapi_socket: Option<String>,
    #[serde(default)]
    pub(crate) tunnel: RawTunnel,
    pub(crate) local: RawLocal,
    pub(crate) globalnet: RawGlobalnet,
    #[serde(default)]
    pub(crate) nat: RawNat,
    #[serde(default)]
    pub(crate) health: RawHealth,
    #[serde(default)]
    pub(crate) peers: Vec<RawPeer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTunnel {
    pub(crate) name: Option<String>,
    pub(crate) underlay_mtu: Option<i64>,
    pub(crate) mtu: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLocal {
    pub(crate) pod_cidrs: Vec<String>,
    #[serde(default)]
    pub(crate) service_cidrs: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGlobalnet {
    pub(crate) global_cidr: String,
    pub(crate) cluster_egress_ips: Option<i64>,
    #[serde(default)]
    pub(crate) egress_groups: Vec<RawEgressGroup>,
    #[serde(default)]
    pub(crate) exports: Vec<RawExport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEgressGroup {
    pub(crate) name: String,
    pub(crate) sources: Vec<String>,
    pub(crate) ips: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExport {
    pub(crate) name: String,
    pub(crate) cluster_ip: Option<String>,
    pub(crate) headless_pods: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNat {
    pub(crate) max_flows: Option<i64>,
    pub(crate) max_flows_per_source: Option<i64>,
    pub(crate) tcp_established_timeout: Option<String>,
    pub(crate) tcp_transitory_timeout: Option<String>,
    pub(crate) udp_timeout: Option<String>,
    pub(crate) icmp_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    pub(crate) interval: Option<String>,
    pub(crate) failures_before_error: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPeer {
    pub(crate) name: String,
    pub(crate) public_key: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) global_cidr: Option<String>,
    pub(crate) routed_cidrs: Option<Vec<String>>,
    pub(crate) persistent_keepalive: Option<i64>,
    pub(crate) preshared_key_file: Option<String>,
}
