#!/usr/bin/env bash
# A real Prometheus scrapes both lab gateways (against a lab `deploy/lab/lab up` built):
# `promtool check metrics` finds nothing to complain about in either endpoint's output, both
# targets are `up`, and after traffic both ways PromQL through Prometheus' HTTP API sees the
# per-peer byte counters grow by at least what was sent, and both peers connected.
#
# Prometheus runs inside cluster-a-gw, where cluster-a's metrics listen (127.0.0.1:9898).
# cluster-b's listen on 127.0.0.1 inside cluster-b-gw, so a socat inside cluster-a-gw bridges
# a local port to them (`ip netns exec cluster-b-gw socat` per connection): nothing listens
# in the machine's own namespace, and Prometheus scrapes both the way it would in a cluster.
# Both processes have a bounded lifetime and are stopped by PID. Prints PASS/FAIL lines.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

readonly PROM_NS=cluster-a-gw
readonly PROM_ADDRESS=127.0.0.1:19090      # Prometheus' web/API, inside $PROM_NS
readonly B_BRIDGE_PORT=19899               # inside $PROM_NS, forwarded to cluster-b's metrics
readonly SCRAPE_INTERVAL_SECONDS=1
readonly LIFETIME_SECONDS=180              # Prometheus and socat end by then whatever happens
readonly READY_WAIT_SECONDS=30
readonly QUERY_WAIT_SECONDS=20
readonly TRAFFIC_BYTES=$((2 * 1024 * 1024)) # 2 MiB each way; the byte counters must show it
readonly TRAFFIC_TIMEOUT_SECONDS=30

[[ $EUID -eq 0 ]] || { echo "FAIL needs root (network namespaces)"; exit 1; }
for tool in prometheus promtool socat python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "FAIL $tool is not installed (scripts/setup installs it)"; exit 1; }
done
require_lab full

started=$SECONDS
work=$(mktemp -d /tmp/gwlab-prometheus.XXXXXX)
prometheus_pid=""
bridge_pid=""
cleanup() {
    local pid
    # Prometheus first: its scrape connections hold the bridge's per-connection children.
    for pid in $prometheus_pid $bridge_pid; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

a_metrics=$(metrics_address_of a)
b_metrics=$(metrics_address_of b)

# --- Prometheus and the bridge --------------------------------------------------------------

section "Prometheus $(prometheus --version 2>&1 | head -n1 | cut -d' ' -f3) in $PROM_NS scraping cluster-a at $a_metrics and cluster-b at $b_metrics (via 127.0.0.1:$B_BRIDGE_PORT)"

# `timeout` bounds the lifetime and passes our SIGTERM on; `ip netns exec` execs, so $! is
# timeout's PID.
ip netns exec "$PROM_NS" timeout "$LIFETIME_SECONDS" socat \
    "TCP4-LISTEN:$B_BRIDGE_PORT,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:ip netns exec cluster-b-gw socat STDIO TCP4\\:${b_metrics//:/\\:}" \
    2>"$work/bridge.log" &
bridge_pid=$!

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: ${SCRAPE_INTERVAL_SECONDS}s
  scrape_timeout: ${SCRAPE_INTERVAL_SECONDS}s
scrape_configs:
  - job_name: gateway
    static_configs:
      - targets: ["$a_metrics"]
        labels: { cluster: cluster-a }
      - targets: ["127.0.0.1:$B_BRIDGE_PORT"]
        labels: { cluster: cluster-b }
EOF
if promtool check config "$work/prometheus.yml" >"$work/check-config.out" 2>&1; then
    pass "promtool check config accepts the scrape config"
else
    fail "promtool check config: $(tr '\n' ' ' <"$work/check-config.out")"
fi

ip netns exec "$PROM_NS" timeout "$LIFETIME_SECONDS" prometheus \
    --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="$PROM_ADDRESS" --log.level=warn >"$work/prometheus.log" 2>&1 &
prometheus_pid=$!

in_prom() { ip netns exec "$PROM_NS" "$@"; }

deadline=$((SECONDS + READY_WAIT_SECONDS))
until in_prom curl -fsS --max-time 1 "http://$PROM_ADDRESS/-/ready" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)) || ! kill -0 "$prometheus_pid" 2>/dev/null; then
        fail "prometheus ready on $PROM_ADDRESS within ${READY_WAIT_SECONDS}s; its log: $(tail -n 5 "$work/prometheus.log" | tr '\n' ' ')"
        finish
        exit 1
    fi
    sleep 0.2
done
pass "prometheus is ready on $PROM_ADDRESS in $PROM_NS after $((SECONDS - started)) s"

# query PROMQL: prints one line per series, `<label>=<value>,... <sample value>`, sorted; fails
# when the API answers with an error.
query() {
    in_prom curl -sS --max-time 3 --get --data-urlencode "query=$1" "http://$PROM_ADDRESS/api/v1/query" |
        python3 -c '
import json, sys
answer = json.load(sys.stdin)
if answer.get("status") != "success":
    sys.exit(f"query failed: {answer}")
lines = []
for series in answer["data"]["result"]:
    labels = ",".join(f"{k}={v}" for k, v in sorted(series["metric"].items()))
    _timestamp, value = series["value"]
    lines.append(f"{labels} {value}")
print("\n".join(sorted(lines)))'
}

# wait_for_query LABEL PROMQL WANT: polls until the query prints WANT (each series
# `labels value`), then PASS; FAIL with the last answer after QUERY_WAIT_SECONDS.
wait_for_query() {
    local label=$1 promql=$2 want=$3 got deadline=$((SECONDS + QUERY_WAIT_SECONDS))
    while :; do
        got=$(query "$promql" 2>&1)
        if [[ $got == "$want" ]]; then
            pass "$label: $promql -> $(tr '\n' ';' <<<"$got" | sed 's/;$//')"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            fail "$label: $promql should give '$(tr '\n' ';' <<<"$want")' within ${QUERY_WAIT_SECONDS}s; got '$(tr '\n' ';' <<<"$got")'"
            return 1
        fi
        sleep 0.5
    done
}

section "both targets up"
if ! wait_for_query "scrapes succeed" 'count by (cluster, instance) (up{job="gateway"} == 1)' \
    "cluster=cluster-a,instance=$a_metrics 1
cluster=cluster-b,instance=127.0.0.1:$B_BRIDGE_PORT 1"; then
    info "targets: $(in_prom curl -sS --max-time 3 "http://$PROM_ADDRESS/api/v1/targets" | head -c 600)"
    info "bridge log: $(head -c 300 "$work/bridge.log")"
fi
# Prometheus 2.x asks for OpenMetrics first: a successful scrape means a real parser took it.
wait_for_query "prometheus scrapes over 50 samples from each" \
    'count by (cluster) (scrape_samples_scraped{job="gateway"} > 50)' \
    "cluster=cluster-a 1
cluster=cluster-b 1"

# --- traffic, then what Prometheus saw ------------------------------------------------------

section "traffic: $TRAFFIC_BYTES bytes each way (GET /bytes from each pod to the other cluster's export)"
# Counter values before the traffic, straight from the endpoints (not Prometheus): the check
# below asks Prometheus for at least this plus what was sent.
counter_of() { # counter_of X METRIC: the sample of METRIC in cluster-X's endpoint
    in_gw "$1" curl -sS --max-time 3 "http://$(metrics_address_of "$1")/metrics" |
        awk -v name="$2" '$1 ~ "^" name "[{]" { print $NF; exit }'
}
declare -A before
for x in a b; do
    for dir in tx rx; do
        before[$x$dir]=$(counter_of "$x" "gateway_peer_${dir}_bytes_total")
        if [[ ! ${before[$x$dir]} =~ ^[0-9]+$ ]]; then
            fail "cluster-$x's endpoint has no gateway_peer_${dir}_bytes_total sample to start from (got '${before[$x$dir]}')"
            before[$x$dir]=0
        fi
    done
done
for x in a b; do
    y=$(peer_of "$x")
    target=$(ingress_ip "$y" "$(export_of "$y")")
    size=$(in_pod "$x" curl -sS --max-time "$TRAFFIC_TIMEOUT_SECONDS" -o /dev/null -w '%{size_download}' \
        "http://$target:$ECHO_PORT/bytes?n=$TRAFFIC_BYTES" 2>&1)
    if [[ $size == "$TRAFFIC_BYTES" ]]; then
        pass "cluster-$x-pod1 fetched $size bytes from cluster-$y's $(export_of "$y") at $target"
    else
        fail "cluster-$x-pod1 fetching $TRAFFIC_BYTES bytes from $target:$ECHO_PORT: $size"
    fi
done

section "promtool check metrics on each endpoint (after traffic: every label set present)"
for x in a b; do
    address=$(metrics_address_of "$x")
    if ! in_gw "$x" curl -sS --max-time 3 -o "$work/metrics-$x.txt" "http://$address/metrics" 2>"$work/curl-$x.err"; then
        fail "cluster-$x: GET http://$address/metrics: $(cat "$work/curl-$x.err")"
        continue
    fi
    lint=$(promtool check metrics <"$work/metrics-$x.txt" 2>&1)
    status=$?
    series=$(grep -cv '^#' "$work/metrics-$x.txt")
    if ((status == 0)) && [[ -z $lint ]]; then
        pass "cluster-$x: promtool check metrics is silent on $series samples from http://$address/metrics"
    else
        fail "cluster-$x: promtool check metrics (exit $status) on http://$address/metrics: $(head -n 20 <<<"$lint" | tr '\n' ';')"
    fi
done

section "PromQL: per-peer byte counters and connection status"
# Each query counts the series that pass: no series at all is a failure, not a pass.
for x in a b; do
    y=$(peer_of "$x")
    for dir in tx rx; do
        min=$((before[$x$dir] + TRAFFIC_BYTES))
        wait_for_query "cluster-$x counts the $dir bytes of its tunnel to cluster-$y (>= ${before[$x$dir]} before + $TRAFFIC_BYTES sent)" \
            "count(gateway_peer_${dir}_bytes_total{cluster=\"cluster-$x\",remote_cluster=\"cluster-$y\"} >= $min)" \
            " 1"
    done
    info "cluster-$x: $(query "gateway_peer_tx_bytes_total{cluster=\"cluster-$x\"}" | tr '\n' ' ')"
done
wait_for_query "both gateways' peers connected" \
    'count by (cluster, remote_cluster) (gateway_peer_connection_status{status="connected"} == 1)' \
    "cluster=cluster-a,remote_cluster=cluster-b 1
cluster=cluster-b,remote_cluster=cluster-a 1"
wait_for_query "docs/metrics.md's throughput query works" \
    'sum by (cluster) (8 * rate(gateway_peer_tx_bytes_total[10s])) > bool 0' \
    "cluster=cluster-a 1
cluster=cluster-b 1"

if [[ -s $work/prometheus.log ]]; then
    info "prometheus warnings: $(head -n 5 "$work/prometheus.log" | tr '\n' ' ')"
fi
info "lab_prometheus.sh took $((SECONDS - started)) s"
finish
