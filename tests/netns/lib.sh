# shellcheck shell=bash disable=SC2034 # constants and METRIC_ERROR are used by the scripts that source this
# Helpers shared by the lab's assertion scripts (source it). Each check prints one
# `PASS ...` or `FAIL ...` line; `finish` prints the tally and fails if anything failed.

readonly RUN_DIR=/run/gwlab
readonly POD_IP=10.244.1.10
readonly POD_GW_IP=10.244.0.1
readonly SERVICE_IP=10.96.0.10
readonly ECHO_PORT=8080
readonly LINK_MTU=1500
readonly TUNNEL_MTU=1420
readonly TCP_IP_HEADERS=40 # IPv4 20 + TCP 20: MSS = MTU - 40
readonly DEFAULT_METRICS_ADDRESS=127.0.0.1:9898 # the schema default 0.0.0.0:9898, dialled locally

PASSES=0
FAILURES=0

pass() { PASSES=$((PASSES + 1)); printf 'PASS %s\n' "$*"; }
fail() { FAILURES=$((FAILURES + 1)); printf 'FAIL %s\n' "$*"; }
info() { printf '     %s\n' "$*"; }
section() { printf '\n## %s\n' "$*"; }

finish() {
    printf '\n%s: %d passed, %d failed\n' "$(basename "$0")" "$PASSES" "$FAILURES"
    ((FAILURES == 0))
}

peer_of()      { [[ $1 == a ]] && echo b || echo a; }
export_of()    { [[ $1 == a ]] && echo shared/echo-a || echo shared/echo; }
gateway_ip_of() { [[ $1 == a ]] && echo 242.0.0.1 || echo 243.0.0.1; }
in_pod() { local x=$1; shift; ip netns exec "cluster-$x-pod1" "$@"; }
in_gw()  { local x=$1; shift; ip netns exec "cluster-$x-gw" "$@"; }

state_file() { echo "$RUN_DIR/cluster-$1/state/ipam.state"; }
# ipam.state lines: `ingress <namespace/name> <ip>`, `pool <ip>`.
ingress_ip() { awk -v name="$2" '$1 == "ingress" && $2 == name { print $3; exit }' "$(state_file "$1")" 2>/dev/null; }
pool_of()    { awk '$1 == "pool" { print $2 }' "$(state_file "$1")" 2>/dev/null | paste -sd' '; }
in_list()    { [[ " $2 " == *" $1 "* ]]; }

# require_lab full|topology: stops the script unless `lab up` built the lab (full: with both
# gateways' allocations).
require_lab() {
    local ns x
    for ns in cluster-a-gw cluster-a-pod1 cluster-b-gw cluster-b-pod1; do
        if ! ip netns list | awk '{print $1}' | grep -qx "$ns"; then
            fail "lab present: namespace $ns is missing (run deploy/lab/lab up first)"
            finish
            exit 1
        fi
    done
    [[ $1 == topology ]] && return 0
    for x in a b; do
        if [[ -z $(ingress_ip "$x" "$(export_of "$x")") || -z $(pool_of "$x") ]]; then
            fail "lab present: $(state_file "$x") lacks 'ingress $(export_of "$x") <ip>' or 'pool <ip>' lines (is cluster-$x's gateway running?)"
            finish
            exit 1
        fi
    done
}

# How many echo replies `ping` got (0 when it printed no summary).
ping_received() {
    local out
    out=$("$@" 2>&1 || true)
    sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p' <<<"$out" | head -n1 | grep . || echo 0
}

metrics_address_of() {
    local address
    address=$(awk '$1 == "metrics_address:" { gsub(/"/, "", $2); print $2; exit }' \
        "$RUN_DIR/cluster-$1/gateway.yaml" 2>/dev/null)
    address=${address:-$DEFAULT_METRICS_ADDRESS}
    echo "${address/#0.0.0.0:/127.0.0.1:}"
}

# metric X NAME: the value of an unlabelled sample on cluster-X's /metrics ("" if none).
metric() {
    in_gw "$1" curl -sS --max-time 3 "http://$(metrics_address_of "$1")/metrics" 2>/dev/null |
        awk -v name="$2" '$1 == name { print $2; exit }'
}

# drops_total VAR X REASON...: sets VAR to the sum of gateway_packets_dropped_total{reason=R}
# over the given reasons (other labels summed too) from cluster-X's gateway. Returns 0 when
# the endpoint answered with at least one series for those reasons; otherwise sets VAR to 0
# and METRIC_ERROR to what was looked for and what came back, and returns 1 (no endpoint) or
# 2 (endpoint up, no such series: a counter that is never incremented may not be shown yet).
METRIC_ERROR=""
drops_total() {
    local var=$1 x=$2 address body sum
    shift 2
    printf -v "$var" 0
    address=$(metrics_address_of "$x")
    if ! body=$(in_gw "$x" curl -sS --max-time 3 "http://$address/metrics" 2>&1); then
        METRIC_ERROR="no metrics endpoint: ip netns exec cluster-$x-gw curl http://$address/metrics -> ${body:0:200}"
        return 1
    fi
    sum=$(awk -v reasons=" $* " '
        /^gateway_packets_dropped_total[{]/ {
            if (match($0, /reason="[^"]*"/)) {
                r = substr($0, RSTART + 8, RLENGTH - 9)
                if (index(reasons, " " r " ")) { found = 1; sum += $NF }
            }
        }
        END { if (found) printf "%d\n", sum }' <<<"$body")
    if [[ -z $sum ]]; then
        METRIC_ERROR="http://$address/metrics in cluster-$x-gw has no gateway_packets_dropped_total{reason=\"${*// /\" or \"}\"} series; it starts: $(head -c 300 <<<"$body" | tr '\n' ' ')"
        return 2
    fi
    printf -v "$var" '%s' "$sum"
}

# MTU of an interface inside a namespace.
mtu_of() { ip -n "$1" -o link show dev "$2" 2>/dev/null | sed -n 's/.* mtu \([0-9]*\).*/\1/p'; }

# udp_echo NS HOST PORT PAYLOAD: prints "<reply source ip>:<port> <reply>" or fails.
udp_echo() {
    local ns=$1
    shift
    ip netns exec "$ns" python3 - "$@" <<'EOF'
import socket, sys
host, port, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(2)
for _ in range(3):  # UDP may lose the first datagram while a flow is set up
    try:
        sock.sendto(payload, (host, port))
        data, source = sock.recvfrom(65535)
    except socket.timeout:
        continue
    except OSError as err:  # e.g. no route, or an ICMP error reported on the socket
        print(f"UDP to {host}:{port} failed: {err}")
        sys.exit(1)
    print(f"{source[0]}:{source[1]} {data.decode(errors='replace')}")
    sys.exit(0)
print(f"no UDP reply from {host}:{port} after 3 tries")
sys.exit(1)
EOF
}

# The first N bytes the echo server's /bytes returns: SHAKE-128("gwlab-bytes").
expected_bytes_sha256() {
    python3 -c 'import hashlib, sys; print(hashlib.sha256(hashlib.shake_128(b"gwlab-bytes").digest(int(sys.argv[1]))).hexdigest())' "$1"
}
