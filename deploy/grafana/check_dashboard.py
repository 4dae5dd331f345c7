#!/usr/bin/env python3
"""Checks deploy/grafana/dashboard.json beyond "it parses".

1. Structure: schemaVersion >= 36, a Prometheus datasource variable and the local_cluster /
   remote_cluster variables, unique panel ids, every query using the datasource variable.
2. Names: every gateway_* metric a query uses is one the gateway exports (the planned list
   below, from the metrics brief), so a renamed metric cannot leave a silently empty panel.
3. Queries: with promtool (if given), every query is evaluated against a small synthetic
   scrape of two gateways. Each must return data, and the ones with arithmetic worth getting
   right (status encoding, bits per second, the local_cluster filter, handshake age) must
   return exact values.

Usage: check_dashboard.py DASHBOARD.json [PROMTOOL]
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# The gateway's metric names (Prometheus conventions; histograms also expose _bucket/_sum/_count).
EXPORTED_METRICS = {
    "gateway_peer_rx_bytes_total",
    "gateway_peer_tx_bytes_total",
    "gateway_peer_rx_packets_total",
    "gateway_peer_tx_packets_total",
    "gateway_peer_handshakes_total",
    "gateway_peer_handshake_failures_total",
    "gateway_peer_last_handshake_timestamp_seconds",
    "gateway_peer_connection_status",
    "gateway_peer_rtt_seconds",
    "gateway_nat_flows",
    "gateway_nat_flows_created_total",
    "gateway_nat_flows_expired_total",
    "gateway_egress_ports_in_use",
    "gateway_global_ips_allocated",
    "gateway_global_ips_available",
    "gateway_mss_clamped_total",
    "gateway_fragmentation_needed_sent_total",
    "gateway_packets_dropped_total",
    "gateway_config_reloads_total",
    "gateway_nat_flows_limit",
    "gateway_state_save_errors_total",
    "gateway_ready",
    "gateway_thread_longest_turn_gap_seconds",
    "gateway_data_path_solo",
    "gateway_udp_rx_moderation_naps_total",
}
HISTOGRAMS = {"gateway_peer_rtt_seconds"}
MIN_SCHEMA_VERSION = 36  # Grafana 9+: the panel/field-config model these panels use
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}

# Two gateways, one per cluster, scraped every 15 s for 3 minutes (13 samples: 0..180 s).
# cluster-a's tunnel is connected; cluster-b's is in error. Counters grow by fixed steps per
# scrape so rates are exact: 1500 B / 15 s = 100 B/s = 800 bit/s.
SCRAPE_INTERVAL = "15s"
EVAL_TIME = "3m"
A = 'instance="gw-a:9898",local_cluster="cluster-a",remote_cluster="cluster-b",remote_endpoint_ip="192.168.100.2"'
B = 'instance="gw-b:9898",local_cluster="cluster-b",remote_cluster="cluster-a",remote_endpoint_ip="192.168.100.1"'
GA = 'instance="gw-a:9898"'
GB = 'instance="gw-b:9898"'
SAMPLES = "x12"  # 12 steps after the first sample


def series(name, labels, values):
    return {"series": f"{name}{{{labels}}}", "values": values}


INPUT_SERIES = [
    series("gateway_peer_connection_status", A + ',status="connected"', "1" + SAMPLES),
    series("gateway_peer_connection_status", A + ',status="connecting"', "0" + SAMPLES),
    series("gateway_peer_connection_status", A + ',status="error"', "0" + SAMPLES),
    series("gateway_peer_connection_status", B + ',status="connected"', "0" + SAMPLES),
    series("gateway_peer_connection_status", B + ',status="connecting"', "0" + SAMPLES),
    series("gateway_peer_connection_status", B + ',status="error"', "1" + SAMPLES),
    series("gateway_peer_rx_bytes_total", A, "0+1500" + SAMPLES),
    series("gateway_peer_tx_bytes_total", A, "0+3000" + SAMPLES),
    series("gateway_peer_rx_bytes_total", B, "0+0" + SAMPLES),
    series("gateway_peer_tx_bytes_total", B, "0+0" + SAMPLES),
    series("gateway_peer_rx_packets_total", A, "0+15" + SAMPLES),
    series("gateway_peer_tx_packets_total", A, "0+30" + SAMPLES),
    series("gateway_peer_handshakes_total", A, "0+1" + SAMPLES),
    series("gateway_peer_handshake_failures_total", B, "0+1" + SAMPLES),
    # Last handshake at t=100 s on A: age 80 s at t=180 s.
    series("gateway_peer_last_handshake_timestamp_seconds", A, "100" + SAMPLES),
    series("gateway_peer_rtt_seconds_bucket", A + ',le="0.001"', "0+0" + SAMPLES),
    series("gateway_peer_rtt_seconds_bucket", A + ',le="0.01"', "0+10" + SAMPLES),
    series("gateway_peer_rtt_seconds_bucket", A + ',le="+Inf"', "0+10" + SAMPLES),
    series("gateway_nat_flows", GA + ',protocol="tcp"', "40" + SAMPLES),
    series("gateway_nat_flows", GA + ',protocol="udp"', "2" + SAMPLES),
    series("gateway_nat_flows", GB + ',protocol="tcp"', "1000" + SAMPLES),
    series("gateway_nat_flows_created_total", GA + ',protocol="tcp"', "0+15" + SAMPLES),
    series("gateway_nat_flows_expired_total", GA + ',protocol="tcp"', "0+15" + SAMPLES),
    series("gateway_egress_ports_in_use", GA + ',global_ip="242.0.0.2"', "40" + SAMPLES),
    series("gateway_global_ips_allocated", GA + ',cidr="242.0.0.0/16",kind="cluster_egress"', "8" + SAMPLES),
    series("gateway_global_ips_allocated", GA + ',cidr="242.0.0.0/16",kind="ingress"', "1" + SAMPLES),
    series("gateway_global_ips_available", GA + ',cidr="242.0.0.0/16"', "65525" + SAMPLES),
    series("gateway_global_ips_available", GB + ',cidr="243.0.0.0/16"', "65526" + SAMPLES),
    series("gateway_packets_dropped_total", GA + ',reason="no_route"', "0+15" + SAMPLES),
    series("gateway_mss_clamped_total", GA, "0+15" + SAMPLES),
    series("gateway_fragmentation_needed_sent_total", GA, "0+15" + SAMPLES),
    series("gateway_config_reloads_total", GA + ',result="ok"', "0+1" + SAMPLES),
    series("gateway_nat_flows_limit", GA, "1000" + SAMPLES),
    series("gateway_nat_flows_limit", GB, "2000" + SAMPLES),
    series("gateway_state_save_errors_total", GA, "0+1" + SAMPLES),
    series("gateway_ready", GA, "1" + SAMPLES),
    series("gateway_ready", GB, "0" + SAMPLES),
    series("gateway_thread_longest_turn_gap_seconds", GA + ',thread="udp-rx"', "0.2" + SAMPLES),
    series("gateway_thread_longest_turn_gap_seconds", GB + ',thread="udp-rx"', "3.5" + SAMPLES),
    series("gateway_data_path_solo", GA, "1" + SAMPLES),
    series("gateway_data_path_solo", GB, "0" + SAMPLES),
    # 150 naps per 15 s scrape = 10/s; 1500 = 100/s.
    series("gateway_udp_rx_moderation_naps_total", GA, "0+150" + SAMPLES),
    series("gateway_udp_rx_moderation_naps_total", GB, "0+1500" + SAMPLES),
]

# Exact results for the queries whose arithmetic matters, keyed by panel title and refId, with
# local_cluster set to "cluster-a" (so gateway B's series must be filtered out).
EXACT = {
    ("Connection status", "A"): [('{local_cluster="cluster-a",remote_cluster="cluster-b"}', 2)],
    ("Time since last handshake", "A"): [(f'{{{A}}}', 80)],
    ("Throughput per peer", "A"): [('{local_cluster="cluster-a",remote_cluster="cluster-b"}', 800)],
    ("Throughput per peer", "B"): [('{local_cluster="cluster-a",remote_cluster="cluster-b"}', -1600)],
    ("NAT flows by protocol", "A"): [('{protocol="tcp"}', 40), ('{protocol="udp"}', 2)],
    ("Global IPs available", "A"): [('{cidr="242.0.0.0/16"}', 65525)],
    # (40 tcp + 2 udp) / 1000
    ("NAT table fill", "A"): [(f'{{{GA}}}', 0.042)],
    ("Ready (gateway_ready)", "A"): [(f'{{{GA}}}', 1)],
    ("Longest gap between data-thread turns", "A"): [(f'{{{GA},thread="udp-rx"}}', 0.2)],
    ("Solo (one data thread while quiet)", "A"): [(f'{{{GA}}}', 1)],
    ("Receive-moderation naps", "A"): [(f'{{{GA}}}', 10)],
}
# And the connection status of the other direction, where the tunnel is in error (0).
EXACT_CLUSTER_B = {
    ("Connection status", "A"): [('{local_cluster="cluster-b",remote_cluster="cluster-a"}', 0)],
    ("NAT table fill", "A"): [(f'{{{GB}}}', 0.5)],
    ("Ready (gateway_ready)", "A"): [(f'{{{GB}}}', 0)],
    ("Longest gap between data-thread turns", "A"): [(f'{{{GB},thread="udp-rx"}}', 3.5)],
    ("Solo (one data thread while quiet)", "A"): [(f'{{{GB}}}', 0)],
    ("Receive-moderation naps", "A"): [(f'{{{GB}}}', 100)],
}


def fail(message):
    print(f"dashboard: {message}", file=sys.stderr)
    sys.exit(1)


def queries(dashboard):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def check_structure(dashboard):
    if dashboard.get("schemaVersion", 0) < MIN_SCHEMA_VERSION:
        fail(f"schemaVersion {dashboard.get('schemaVersion')} < {MIN_SCHEMA_VERSION}")
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        fail("no Prometheus datasource variable named 'datasource'")
    for name in ("local_cluster", "remote_cluster"):
        if name not in variables or variables[name].get("datasource") != DATASOURCE_REF:
            fail(f"variable {name} missing or not using the datasource variable")
    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        fail(f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}")
    count = 0
    for panel, target in queries(dashboard):
        count += 1
        if target.get("datasource") != DATASOURCE_REF or panel.get("datasource") != DATASOURCE_REF:
            fail(f"panel {panel['title']!r} does not use the datasource variable")
        if not target.get("expr"):
            fail(f"panel {panel['title']!r} has a query without expr")
    if count == 0:
        fail("no queries")
    return count


def check_metric_names(dashboard):
    known = set(EXPORTED_METRICS)
    for h in HISTOGRAMS:
        known |= {h + "_bucket", h + "_sum", h + "_count"}
    for panel, target in queries(dashboard):
        for name in re.findall(r"\bgateway_[a-z_]+\b", target["expr"]):
            if name not in known:
                fail(f"panel {panel['title']!r} uses {name}, which the gateway does not export")
    used = {n for _, t in queries(dashboard) for n in re.findall(r"\bgateway_[a-z_]+\b", t["expr"])}
    unused = sorted(m for m in EXPORTED_METRICS if not any(u.startswith(m) for u in used))
    if unused:
        print(f"dashboard: note: metrics without a panel: {', '.join(unused)}")


def substitute(expr, local_cluster):
    return (expr.replace("$__rate_interval", "1m")
                .replace("$local_cluster", local_cluster)
                .replace("$remote_cluster", ".*"))


def exact_test(expr, expected):
    return {"expr": expr, "eval_time": EVAL_TIME,
            "exp_samples": [{"labels": labels, "value": value} for labels, value in expected]}


def check_queries(dashboard, promtool):
    tests = []
    for panel, target in queries(dashboard):
        key = (panel["title"], target["refId"])
        # Every query returns something for the whole lab ...
        expr = substitute(target["expr"], ".*")
        tests.append({"expr": f"count({expr}) > bool 0", "eval_time": EVAL_TIME,
                      "exp_samples": [{"labels": "{}", "value": 1}]})
        # ... and the important ones return exactly the right numbers for one cluster.
        if key in EXACT:
            tests.append(exact_test(substitute(target["expr"], "cluster-a"), EXACT[key]))
        if key in EXACT_CLUSTER_B:
            tests.append(exact_test(substitute(target["expr"], "cluster-b"), EXACT_CLUSTER_B[key]))
    found = {(p["title"], t["refId"]) for p, t in queries(dashboard)}
    missing = (set(EXACT) | set(EXACT_CLUSTER_B)) - found
    if missing:
        fail(f"exact-value tests name panels that do not exist: {sorted(missing)}")
    suite = {"rule_files": [], "evaluation_interval": SCRAPE_INTERVAL,
             "tests": [{"interval": SCRAPE_INTERVAL, "input_series": INPUT_SERIES,
                        "promql_expr_test": tests}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dashboard_test.json"  # JSON is YAML: promtool reads it as is
        path.write_text(json.dumps(suite, indent=1))
        run = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stdout, run.stderr, file=sys.stderr)
            fail("promtool: a dashboard query failed on the synthetic scrape (above)")
    return len(tests)


def main():
    if len(sys.argv) not in (2, 3):
        fail("usage: check_dashboard.py DASHBOARD.json [PROMTOOL]")
    try:
        dashboard = json.loads(Path(sys.argv[1]).read_text())
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{sys.argv[1]}: {e}")
    n = check_structure(dashboard)
    check_metric_names(dashboard)
    summary = f"{n} queries: structure and metric names ok"
    if len(sys.argv) == 3:
        summary += f"; {check_queries(dashboard, sys.argv[2])} promtool evaluations ok"
    print(f"dashboard: {summary}")


if __name__ == "__main__":
    main()
