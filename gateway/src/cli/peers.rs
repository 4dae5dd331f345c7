//! `gwctl peers`: the connections to other clusters, as `subctl show
//! connections` and `wg show` would show them.

use super::render::{self, dump_line, Table};
use super::{Exit, Output};
use crate::status::{bulk_scheduling_state, ConnectionStatus, GatewayStatus, PeerView};

pub fn render(status: &GatewayStatus, output: Output) -> String {
    match output {
        Output::Table => table(status),
        Output::Json => render::json(&status.peers),
        Output::Dump => dump(status),
    }
}

/// 1 when any peer is not connected, so scripts can gate on it.
pub fn exit(status: &GatewayStatus) -> Exit {
    if status
        .peers
        .iter()
        .all(|p| p.status == ConnectionStatus::Connected)
    {
        Exit::Ok
    } else {
        Exit::Failed
    }
}

fn table(s: &GatewayStatus) -> String {
    let mut out = format!(
        "gateway {}  global {}  {} mtu {}  udp port {}  {}  up {}\n\n",
        s.cluster_id,
        s.global_cidr,
        s.tunnel_device,
        s.tunnel_mtu,
        s.listen_port,
        if s.ready { "ready" } else { "NOT READY" },
        render::duration(s.uptime_seconds),
    );
    if s.data_path.bulk_scheduling == bulk_scheduling_state::REFUSED {
        // Not an error (traffic flows), but a node that forwards bulk UDP
        // slower than its neighbours should say why (docs/operations.md).
        out.insert_str(out.len() - 2, "  bulk scheduling REFUSED");
    }
    if s.peers.is_empty() {
        out.push_str(
            "no peers configured (add them under `peers:` in the config, then `gwctl reload`)\n",
        );
        return out;
    }
    let mut table = Table::new(&[
        "CLUSTER",
        "ENDPOINT",
        "SUBNETS",
        "HANDSHAKE",
        "RX",
        "TX",
        "RTT AVG",
        "LOSS",
        "STATUS",
    ]);
    for p in &s.peers {
        table.row(vec![
            p.name.clone(),
            render::endpoint(p),
            render::list(&p.cidrs),
            render::age(p.last_handshake_age_seconds),
            render::bytes(p.rx_bytes),
            render::bytes(p.tx_bytes),
            render::rtt(p.rtt.avg_seconds),
            loss(p),
            status_text(p),
        ]);
    }
    out.push_str(&table.render());
    out.push('\n');
    out.push_str(&summary(s));
    out
}

fn loss(p: &PeerView) -> String {
    if p.rtt.probes_sent == 0 {
        "-".to_string()
    } else {
        render::percent(p.rtt.loss_ratio)
    }
}

fn status_text(p: &PeerView) -> String {
    match &p.status_reason {
        Some(reason) if p.status != ConnectionStatus::Connected => {
            format!("{}: {reason}", p.status.as_str())
        }
        _ => p.status.as_str().to_string(),
    }
}

/// `subctl show gateways`' summary line.
fn summary(s: &GatewayStatus) -> String {
    let connected = s
        .peers
        .iter()
        .filter(|p| p.status == ConnectionStatus::Connected)
        .count();
    if connected == s.peers.len() {
        format!("All connections ({connected}) are established\n")
    } else {
        format!(
            "{connected} of {} connections established; run `gwctl diagnose` for causes and fixes\n",
            s.peers.len()
        )
    }
}

/// Stable, tab-separated, one line per peer after one line for this gateway,
/// like `wg show dump`. Column order is part of the API (docs/admin-api.md):
/// only new columns at the end.
fn dump(s: &GatewayStatus) -> String {
    let mut out = dump_line(&[
        s.cluster_id.clone(),
        s.public_key.clone(),
        s.listen_port.to_string(),
        s.global_cidr.to_string(),
        s.tunnel_device.clone(),
        s.tunnel_mtu.to_string(),
        s.ready.to_string(),
    ]);
    for p in &s.peers {
        out.push_str(&dump_line(&[
            p.name.clone(),
            p.public_key.clone(),
            p.endpoint.map(|e| e.to_string()).unwrap_or_default(),
            render::list(&p.cidrs),
            p.status.as_str().to_string(),
            // Whole seconds like wg's latest-handshake; 0 = never.
            p.last_handshake_unix_seconds
                .map_or(0, |t| t.max(0.0) as u64)
                .to_string(),
            p.rx_bytes.to_string(),
            p.tx_bytes.to_string(),
            p.rtt
                .avg_seconds
                .map(|r| format!("{r:.6}"))
                .unwrap_or_default(),
            format!("{:.4}", p.rtt.loss_ratio),
            p.persistent_keepalive_seconds
                .map_or_else(|| "off".to_string(), |k| k.to_string()),
            p.status_reason.clone().unwrap_or_default(),
            p.configured_endpoint
                .map(|e| e.to_string())
                .unwrap_or_default(),
        ]));
    }
    out
}
