//! A short human-readable account of a validated config (`gwctl check-config`).

use super::duration::format_duration;
use super::model::{Config, ExportTarget, PeerAddressing};

fn join<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Config {
    /// One line per aspect, e.g. `tunnel: gw0, MTU 1420 (underlay 1500), UDP port 4500`.
    pub fn summary(&self) -> String {
        let g = &self.globalnet;
        let mut lines = vec![
            format!("cluster: {}", self.cluster_id),
            format!(
                "global block: {} (gateway {}), {} cluster egress IPs, {} egress groups",
                g.global_cidr,
                g.gateway_ip,
                g.cluster_egress_ips,
                g.egress_groups.len()
            ),
            format!(
                "local: pods {}; services {}",
                join(&self.local.pod_cidrs),
                join(&self.local.service_cidrs)
            ),
            format!(
                "tunnel: {}, MTU {} (underlay {}), UDP port {}",
                self.tunnel.name, self.tunnel.mtu, self.tunnel.underlay_mtu, self.listen_port
            ),
        ];
        let exports: Vec<String> = g
            .exports
            .iter()
            .map(|export| match &export.target {
                ExportTarget::ClusterIp(ip) => format!("{} → {ip}", export.name),
                ExportTarget::HeadlessPods(pods) => {
                    format!("{} → headless [{}]", export.name, join(pods))
                }
            })
            .collect();
        lines.push(format!("exports: {}", join(&exports)));
        let peers: Vec<String> = self
            .peers
            .iter()
            .map(|peer| {
                let reach = match &peer.addressing {
                    PeerAddressing::Global(cidr) => format!("global {cidr}"),
                    PeerAddressing::Routed(cidrs) => format!("routed {}", join(cidrs)),
                };
                let endpoint = peer
                    .endpoint
                    .as_ref()
                    .map_or("no endpoint (waits for the peer)".to_string(), |e| {
                        format!("via {}", e.addr)
                    });
                let keepalive = peer.persistent_keepalive.map_or(String::new(), |s| {
                    format!(
                        ", keepalive {}",
                        format_duration(std::time::Duration::from_secs(u64::from(s)))
                    )
                });
                format!("{} ({reach}, {endpoint}{keepalive})", peer.name)
            })
            .collect();
        lines.push(format!("peers: {}", join(&peers)));
        lines.push(format!(
            "metrics: {}; admin socket: {}; state dir: {}",
            self.metrics_address
                .map_or("disabled".to_string(), |a| a.to_string()),
            self.admin_socket.display(),
            self.state_dir.display()
        ));
        lines.join("\n")
    }
}
