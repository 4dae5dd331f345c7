//! A [`GatewayStatus`] snapshot as OpenMetrics text. Every value already lives
//! in the snapshot, so each scrape encodes const metrics from a fresh snapshot
//! through a prometheus-client [`Collector`]; nothing here keeps state between
//! scrapes. Names and labels: docs/metrics.md.

use crate::status::{
    bulk_scheduling_state, ConnectionStatus, Count, GatewayStatus, PeerView, RttView,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// `Content-Type` of [`encode_openmetrics`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of [`encode_prometheus_text`]'s output.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// Encodes one snapshot, `# EOF` included.
pub fn encode_openmetrics(status: &GatewayStatus) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(status.clone())));
    let mut out = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// The same snapshot in the older Prometheus text format (0.0.4), for clients
/// that do not ask for OpenMetrics: `curl`, `promtool check metrics`. The two
/// differ only in how a counter family is named: OpenMetrics names the family
/// `x` and its sample `x_total`; 0.0.4 names both `x_total`. It has no `# EOF`.
pub fn encode_prometheus_text(status: &GatewayStatus) -> Result<String, fmt::Error> {
    Ok(openmetrics_to_prometheus_text(&encode_openmetrics(status)?))
}

/// Rewrites this module's OpenMetrics output (no units, no exemplars, no
/// `_created` samples) as Prometheus text 0.0.4.
fn openmetrics_to_prometheus_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| line.strip_prefix(prefix).map(|rest| (prefix, rest)));
        match descriptor {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[derive(Debug)]
struct SnapshotCollector(GatewayStatus);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let status = &self.0;
        encode_gateway(status, &mut encoder)?;
        encode_peers(status, &mut encoder)?;
        encode_nat(status, &mut encoder)?;
        encode_addresses(status, &mut encoder)?;
        encode_data_path(status, &mut encoder)
    }
}

fn encode_gateway(s: &GatewayStatus, enc: &mut DescriptorEncoder) -> fmt::Result {
    gauge(
        enc,
        "gateway_ready",
        "1 when the TUN device is up and routes are installed",
        f64::from(u8::from(s.ready)),
    )?;
    gauge(
        enc,
        "gateway_uptime_seconds",
        "Seconds since the gateway started",
        s.uptime_seconds,
    )?;
    gauge(
        enc,
        "gateway_tunnel_mtu_bytes",
        "MTU of the tunnel device",
        f64::from(s.tunnel_mtu),
    )?;
    let reloads = [
        (vec![("result", "ok".to_string())], s.config_reloads_ok),
        (
            vec![("result", "rejected".to_string())],
            s.config_reloads_rejected,
        ),
    ];
    counter_family(
        enc,
        "gateway_config_reloads",
        "Config reloads by result",
        reloads,
    )?;
    counter(
        enc,
        "gateway_state_save_errors",
        "Failed writes of the state directory",
        s.state_save_errors,
    )
}

fn encode_data_path(s: &GatewayStatus, enc: &mut DescriptorEncoder) -> fmt::Result {
    let d = &s.data_path;
    // One series per state, the current one 1: alerts can match
    // `{state="refused"} == 1` without knowing the other states.
    let states = bulk_scheduling_state::ALL.map(|state| {
        (
            vec![("state", state.to_string())],
            f64::from(u8::from(d.bulk_scheduling == state)),
        )
    });
    gauge_family(
        enc,
        "gateway_tun_rx_bulk_scheduling",
        "Whether tun-rx may switch to SCHED_BATCH under bulk traffic (refused: the kernel or a seccomp profile said no)",
        states,
    )?;
    gauge(
        enc,
        "gateway_tun_rx_bulk_mode",
        "1 while tun-rx runs as SCHED_BATCH because it carries bulk traffic",
        f64::from(u8::from(d.tun_rx_bulk)),
    )?;
    counter(
        enc,
        "gateway_tun_rx_bulk_mode_entered",
        "Times tun-rx switched to SCHED_BATCH",
        d.tun_rx_bulk_entered_total,
    )?;
    let gaps = d
        .longest_turn_gap_seconds
        .iter()
        .map(|(thread, seconds)| (vec![("thread", thread.clone())], *seconds));
    gauge_family(
        enc,
        "gateway_thread_longest_turn_gap_seconds",
        "Longest time between two turns of each data-path thread's loop since start (/healthz fails at 10 s)",
        gaps,
    )?;
    gauge(
        enc,
        "gateway_udp_rx_moderation_nap_seconds",
        "How long udp-rx naps before reading again while datagrams keep arriving a few at a time (0: moderation off)",
        d.rx_moderation_nap_us as f64 / 1e6,
    )?;
    counter(
        enc,
        "gateway_udp_rx_moderation_naps",
        "Naps udp-rx took because datagrams kept arriving a few at a time (a packet storm or a stream of small packets)",
        d.rx_moderation_naps_total,
    )?;
    gauge(
        enc,
        "gateway_data_path_solo",
        "1 while the tunnel is quiet and tun-rx alone reads both the TUN and the UDP socket (udp-rx parked)",
        f64::from(u8::from(d.solo)),
    )?;
    counter(
        enc,
        "gateway_data_path_solo_switches",
        "Hand-overs of the UDP socket between tun-rx (quiet) and udp-rx (busy)",
        d.solo_switches_total,
    )
}

fn encode_peers(s: &GatewayStatus, enc: &mut DescriptorEncoder) -> fmt::Result {
    // Two peers with one name would be duplicate series, which Prometheus
    // rejects for the whole scrape; the first one wins.
    let mut seen = HashSet::new();
    let peers: Vec<(&PeerView, Labels)> = s
        .peers
        .iter()
        .filter(|p| seen.insert(p.name.as_str()))
        .map(|p| (p, peer_labels(&s.cluster_id, p)))
        .collect();
    let per_peer = |f: fn(&PeerView) -> u64| peers.iter().map(move |(p, l)| (l.clone(), f(p)));

    counter_family(
        enc,
        "gateway_peer_rx_bytes",
        "Bytes received from the peer through the tunnel",
        per_peer(|p| p.rx_bytes),
    )?;
    counter_family(
        enc,
        "gateway_peer_tx_bytes",
        "Bytes sent to the peer through the tunnel",
        per_peer(|p| p.tx_bytes),
    )?;
    counter_family(
        enc,
        "gateway_peer_rx_packets",
        "Packets received from the peer",
        per_peer(|p| p.rx_packets),
    )?;
    counter_family(
        enc,
        "gateway_peer_tx_packets",
        "Packets sent to the peer",
        per_peer(|p| p.tx_packets),
    )?;
    counter_family(
        enc,
        "gateway_peer_handshakes",
        "Completed WireGuard handshakes",
        per_peer(|p| p.handshakes),
    )?;
    counter_family(
        enc,
        "gateway_peer_handshake_failures",
        "Handshakes that timed out or were rejected",
        per_peer(|p| p.handshake_failures),
    )?;
    counter_family(
        enc,
        "gateway_peer_configured_endpoint_retries",
        "Handshake retries sent to the configured endpoint because the learned one went unanswered",
        per_peer(|p| p.configured_endpoint_retries),
    )?;
    counter_family(
        enc,
        "gateway_peer_health_probes_sent",
        "Health probes (ICMP echo) sent to the peer's gateway address",
        per_peer(|p| p.rtt.probes_sent),
    )?;
    counter_family(
        enc,
        "gateway_peer_health_probes_received",
        "Health probe replies received",
        per_peer(|p| p.rtt.probes_received),
    )?;

    let handshake_times = peers
        .iter()
        .map(|(p, l)| (l.clone(), p.last_handshake_unix_seconds.unwrap_or(0.0)));
    gauge_family(
        enc,
        "gateway_peer_last_handshake_timestamp_seconds",
        "Unix time of the last completed handshake (0: never)",
        handshake_times,
    )?;

    let statuses = peers.iter().flat_map(|(p, l)| {
        ConnectionStatus::ALL.into_iter().map(move |st| {
            let mut labels = l.clone();
            labels.push(("status", st.as_str().to_string()));
            (labels, f64::from(u8::from(p.status == st)))
        })
    });
    gauge_family(
        enc,
        "gateway_peer_connection_status",
        "1 for the peer's current status (connected, connecting, error), 0 for the others",
        statuses,
    )?;

    let mut m = enc.encode_descriptor(
        "gateway_peer_rtt_seconds",
        "Round-trip time of health probes",
        None,
        MetricType::Histogram,
    )?;
    for (p, labels) in &peers {
        let (buckets, count) = histogram_buckets(&p.rtt);
        m.encode_family(labels)?.encode_histogram::<NoLabelSet>(
            p.rtt.histogram_sum_seconds,
            count,
            &buckets,
            None,
        )?;
    }
    Ok(())
}

fn peer_labels(local_cluster: &str, p: &PeerView) -> Labels {
    vec![
        ("local_cluster", local_cluster.to_string()),
        ("remote_cluster", p.name.clone()),
        (
            "remote_endpoint_ip",
            p.endpoint.map(|e| e.ip().to_string()).unwrap_or_default(),
        ),
    ]
}

/// The snapshot's cumulative (bound, count ≤ bound) pairs as the per-bucket
/// counts the encoder wants (it re-accumulates them), ending with +Inf. A
/// malformed snapshot (unsorted bounds, decreasing counts, NaN) is repaired
/// rather than encoded into something Prometheus would reject.
fn histogram_buckets(rtt: &RttView) -> (Vec<(f64, u64)>, u64) {
    let mut per_bucket = Vec::with_capacity(rtt.histogram_buckets.len() + 1);
    let mut previous_bound = f64::NEG_INFINITY;
    let mut cumulative = 0u64;
    for &(bound, count_le) in &rtt.histogram_buckets {
        if !bound.is_finite() || bound <= previous_bound {
            continue;
        }
        let count_le = count_le.clamp(cumulative, cumulative.max(rtt.histogram_count));
        per_bucket.push((bound, count_le - cumulative));
        previous_bound = bound;
        cumulative = count_le;
    }
    let total = rtt.histogram_count.max(cumulative);
    per_bucket.push((f64::INFINITY, total - cumulative));
    (per_bucket, total)
}

fn encode_nat(s: &GatewayStatus, enc: &mut DescriptorEncoder) -> fmt::Result {
    let nat = &s.nat;
    gauge_family(
        enc,
        "gateway_nat_flows",
        "Live NAT flows by protocol",
        labelled(&nat.flows, "protocol").map(as_f64),
    )?;
    gauge_family(
        enc,
        "gateway_nat_tcp_flows",
        "Live TCP NAT flows by connection state",
        labelled(&nat.tcp_states, "state").map(as_f64),
    )?;
    counter_family(
        enc,
        "gateway_nat_flows_created",
        "NAT flows created, by protocol",
        labelled(&nat.flows_created_total, "protocol"),
    )?;
    counter_family(
        enc,
        "gateway_nat_flows_expired",
        "NAT flows expired or closed, by protocol",
        labelled(&nat.flows_expired_total, "protocol"),
    )?;
    let translations = [
        (
            vec![("direction", "outbound".to_string())],
            nat.translations_outbound_total,
        ),
        (
            vec![("direction", "inbound".to_string())],
            nat.translations_inbound_total,
        ),
    ];
    counter_family(
        enc,
        "gateway_nat_translations",
        "Packets translated, by direction",
        translations,
    )?;
    gauge(
        enc,
        "gateway_nat_flows_limit",
        "Most NAT flows the table holds",
        nat.max_flows as f64,
    )?;
    gauge(
        enc,
        "gateway_nat_flows_per_source_limit",
        "Most NAT flows one source address may hold",
        nat.max_flows_per_source as f64,
    )?;
    counter(
        enc,
        "gateway_mss_clamped",
        "TCP SYN and SYN-ACK packets whose MSS option was lowered",
        nat.mss_clamped_total,
    )?;
    counter(
        enc,
        "gateway_fragmentation_needed_sent",
        "ICMP fragmentation-needed replies sent for too-big DF packets",
        nat.fragmentation_needed_sent_total,
    )?;
    counter_family(
        enc,
        "gateway_packets_dropped",
        "Packets dropped, by reason",
        labelled(&nat.drops_total, "reason"),
    )
}

fn encode_addresses(s: &GatewayStatus, enc: &mut DescriptorEncoder) -> fmt::Result {
    let mut ports: BTreeMap<std::net::Ipv4Addr, u64> = BTreeMap::new();
    for e in &s.egress {
        let entry = ports.entry(e.global_ip).or_default();
        *entry = entry.saturating_add(e.ports_in_use);
    }
    let ports = ports
        .into_iter()
        .map(|(ip, n)| (vec![("global_ip", ip.to_string())], n as f64));
    gauge_family(
        enc,
        "gateway_egress_ports_in_use",
        "NAT flows using each global egress IP (one port each)",
        ports,
    )?;

    let cidr = s.ipam.cidr.map(|c| c.to_string()).unwrap_or_default();
    let allocated = [
        ("cluster_egress", s.ipam.cluster_egress),
        ("egress_group", s.ipam.egress_groups),
        ("ingress", s.ipam.ingress),
    ]
    .map(|(kind, n)| {
        (
            vec![("cidr", cidr.clone()), ("kind", kind.to_string())],
            n as f64,
        )
    });
    gauge_family(
        enc,
        "gateway_global_ips_allocated",
        "Global IPs allocated from the cluster's block, by use",
        allocated,
    )?;
    let available = [(vec![("cidr", cidr)], s.ipam.available as f64)];
    gauge_family(
        enc,
        "gateway_global_ips_available",
        "Global IPs of the cluster's block still free",
        available,
    )
}

/// Counts under one label name, duplicates summed, in label order.
fn labelled<'a>(
    counts: &'a [Count],
    name: &'static str,
) -> impl Iterator<Item = (Labels, u64)> + 'a {
    let mut merged: BTreeMap<&str, u64> = BTreeMap::new();
    for c in counts {
        let entry = merged.entry(c.label.as_str()).or_default();
        *entry = entry.saturating_add(c.value);
    }
    merged
        .into_iter()
        .map(move |(label, value)| (vec![(name, label.to_string())], value))
}

fn as_f64((labels, value): (Labels, u64)) -> (Labels, f64) {
    (labels, value as f64)
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    m.encode_counter::<NoLabelSet, _, u64>(&value, None)
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    m.encode_gauge(&value)
}

fn counter_family<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        family(&mut m, &labels)?.encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}

fn gauge_family<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, f64)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        family(&mut m, &labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

fn family<'s, L: EncodeLabelSet>(
    m: &'s mut MetricEncoder<'_>,
    labels: &'s L,
) -> Result<MetricEncoder<'s>, fmt::Error> {
    m.encode_family(labels)
}
