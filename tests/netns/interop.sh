#!/usr/bin/env bash
# Interop with a stock WireGuard implementation: our gateway and a wireguard-go or
# boringtun-cli peer, configured only with `wg`, exchange traffic, each side initiating the
# handshake in turn. The peer has no Globalnet: the gateway knows it by `routed_cidrs`.
#
#   tests/netns/interop.sh wireguard-go|boringtun-cli
#
#   gwi-pod                 gwi-gw                                   gwi-wg
#  +-------------+         +------------------------+               +---------------------+
#  | eth0        |---------| veth-pod  10.244.0.1   |               |                     |
#  | 10.244.1.10 |         | gw0 (TUN) 242.0.0.1    |   WireGuard   | WG_IF 10.50.0.1/24  |
#  | lo          |         | eth0  192.168.200.1 ===|===============|= eth0 192.168.200.2 |
#  | 10.96.0.10  |         +------------------------+ 4500 <-> 51820+---------------------+
#  +-------------+          our gateway                              wireguard-go or
#   echo_server.py          export shared/echo -> 10.96.0.10         boringtun-cli,
#                           peer routed_cidrs [10.50.0.0/24]         echo_server.py
#
# Two rounds, each on a fresh topology so that the first handshake really comes from the
# side under test; the other side has no endpoint, so it cannot initiate:
#   peer-initiates     the stock peer has endpoint 192.168.200.1:4500, the gateway none; the
#                      peer reaches the export's global IP (DNAT to 10.96.0.10).
#   gateway-initiates  the gateway has endpoint 192.168.200.2:51820, the peer none; the pod
#                      reaches 10.50.0.1, routed untranslated (docs/nat.md: outbound step 4),
#                      so the peer sees the pod's own address and must allow 10.244.0.0/16.
# Each round checks ping, HTTP, who initiated (the first handshake initiation on the
# underlay), `wg show` and `gwctl peers`, and an 8 MiB transfer each way (sha256 checked);
# the second also the path MTU (1420 with DF crosses, 1428 gets "fragmentation needed").
#
# Binaries: GATEWAY_BIN and GWCTL_BIN (default: target/debug/{gateway,gwctl}), BORINGTUN_CLI
# (default: boringtun-cli on PATH, else /opt/gwtools/bin/boringtun-cli, where scripts/setup
# installs it). Needs root. Namespaces and links: gwi-gw, gwi-wg, gwi-pod only.
set -Eeuo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh" # pass/fail/finish, ping_received, expected_bytes_sha256, POD_IP, ...

readonly NS_GW=gwi-gw NS_WG=gwi-wg NS_POD=gwi-pod
readonly NAMESPACES=("$NS_GW" "$NS_WG" "$NS_POD")
readonly GW_UNDERLAY_IP=192.168.200.1 WG_UNDERLAY_IP=192.168.200.2
readonly GW_PORT=4500 WG_PORT=51820
readonly GLOBAL_CIDR=242.0.0.0/16
readonly POD_CIDR=10.244.0.0/16
readonly WG_ADDRESS=10.50.0.1 WG_CIDR=10.50.0.0/24
readonly EXPORT_NAME=shared/echo
readonly PEER_NAME=stock-wg
readonly BULK_BYTES=$((8 * 1024 * 1024)) # 8 MiB
readonly PINGS=3
readonly LOCK_FILE=/run/gwi-interop.lock # runs share the namespace names: one at a time
readonly LOCK_WAIT_SECONDS=600
readonly START_WAIT_SECONDS=15
readonly STOP_WAIT_SECONDS=5
readonly CAPTURE_WAIT_SECONDS=5
readonly HTTP_TIMEOUT_SECONDS=10
readonly BULK_TIMEOUT_SECONDS=120
readonly RECENT_HANDSHAKE_SECONDS=120 # REKEY_AFTER_TIME: a younger handshake is the current one
# A handshake initiation: UDP payload type byte 1, 148 bytes (UDP length 8 + 148 = 156).
readonly INITIATION_FILTER='udp and udp[8] = 1 and udp[4:2] = 156'

usage() {
    echo "usage: $0 wireguard-go|boringtun-cli" >&2
    exit 2
}
(($# == 1)) || usage
readonly IMPL=$1
case $IMPL in
    wireguard-go | boringtun-cli) ;;
    *) usage ;;
esac

die() {
    printf 'FAIL %s\n' "$*"
    exit 1
}

[[ $EUID -eq 0 ]] || die "needs root (network namespaces, TUN devices)"

target_dir=${CARGO_TARGET_DIR:-$repo/target}
GATEWAY_BIN=${GATEWAY_BIN:-$target_dir/debug/gateway}
GWCTL_BIN=${GWCTL_BIN:-$target_dir/debug/gwctl}
BORINGTUN_CLI=${BORINGTUN_CLI:-$(command -v boringtun-cli || echo /opt/gwtools/bin/boringtun-cli)}
[[ -x $GATEWAY_BIN ]] || die "no gateway binary at $GATEWAY_BIN (cargo build -p gateway --bins, or set GATEWAY_BIN)"
[[ -x $GWCTL_BIN ]] || die "no gwctl binary at $GWCTL_BIN (cargo build -p gateway --bins, or set GWCTL_BIN)"
for tool in ip ss wg sysctl python3 curl flock sha256sum tcpdump timeout; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/setup installs it)"
done
if [[ $IMPL == wireguard-go ]]; then
    IMPL_BIN=$(command -v wireguard-go) || die "wireguard-go is not installed (scripts/setup installs the Debian package)"
else
    IMPL_BIN=$BORINGTUN_CLI
    [[ -x $IMPL_BIN ]] || die "boringtun-cli is not installed at $IMPL_BIN (scripts/setup: cargo install boringtun-cli --locked --root /opt/gwtools)"
fi

exec {lock_fd}>"$LOCK_FILE"
flock -w "$LOCK_WAIT_SECONDS" "$lock_fd" || die "another interop run held $LOCK_FILE for ${LOCK_WAIT_SECONDS}s"

work=$(mktemp -d /tmp/gwi-interop.XXXXXX)
pids=()     # every process this script started, stopped by PID in cleanup
sockets=()  # UAPI sockets of the stock peers (the path is shared by every namespace)
wg_if=""

alive() { [[ -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

stop_pids() {
    local pid deadline
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    deadline=$((SECONDS + STOP_WAIT_SECONDS))
    for pid in "${pids[@]}"; do
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
        if alive "$pid"; then
            echo "     PID $pid ignored SIGTERM for ${STOP_WAIT_SECONDS}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}

# Only our own namespaces, by exact name; a process left inside one (from a run that was
# killed before its trap ran) would keep its links alive, so it is stopped first.
delete_namespaces() {
    local ns pid
    for ns in "${NAMESPACES[@]}"; do
        ip netns list | awk '{print $1}' | grep -qx "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}

teardown_round() {
    local socket
    stop_pids
    for socket in "${sockets[@]}"; do rm -f "$socket"; done
    sockets=()
    delete_namespaces
    rm -rf "$(gw_dir)" # its logs were shown if the round failed
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM ERR
    if ((status != 0)) && [[ -z ${FINISHED:-} ]]; then
        ((FAILURES > 0)) || fail "the script stopped early (exit status $status)"
        diagnostics
        finish || true
    fi
    teardown_round
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A set-up step that fails stops the script (set -e); say which one. A helper that already
# printed its FAIL line stops with `return 1`: nothing to add then.
on_error() {
    [[ $2 == "return "* ]] || fail "line $1: \`$2\` failed"
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR

# spawn LOG NS CMD...: runs CMD in NS in the background; `ip netns exec` execs CMD, so $! is
# CMD's own PID. The lock stays with this script, not with what it starts.
spawn() {
    local log=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$@" </dev/null >>"$log" 2>&1 {lock_fd}>&- &
    pids+=("$!")
    SPAWNED=$!
}

# wait_for SECONDS WHAT PID CMD...: until CMD succeeds; fails early if PID exited.
wait_for() {
    local seconds=$1 what=$2 pid=$3 deadline
    shift 3
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ! alive "$pid"; then
            local status=0
            wait "$pid" 2>/dev/null || status=$?
            fail "$what: the process (PID $pid) exited with status $status$( ((status > 128)) && echo " (signal $((status - 128)))")"
            return 1
        fi
        ((SECONDS < deadline)) || { fail "$what: not within ${seconds}s"; return 1; }
        sleep 0.1
    done
}

show_log() {
    printf -- '     --- last lines of %s ---\n' "$1"
    # Without the colours tracing writes even to files.
    tail -n "${2:-20}" "$1" 2>/dev/null | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/     /' || true
}

# --- topology ------------------------------------------------------------------------------

build_topology() {
    local ns
    delete_namespaces
    for ns in "${NAMESPACES[@]}"; do
        ip netns add "$ns"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    # The underlay.
    ip link add eth0 netns "$NS_GW" type veth peer name eth0 netns "$NS_WG"
    ip -n "$NS_GW" addr add "$GW_UNDERLAY_IP/24" dev eth0
    ip -n "$NS_WG" addr add "$WG_UNDERLAY_IP/24" dev eth0
    ip -n "$NS_GW" link set eth0 mtu "$LINK_MTU" up
    ip -n "$NS_WG" link set eth0 mtu "$LINK_MTU" up
    # The pod network, routed by the gateway node (as deploy/lab/lab does).
    ip netns exec "$NS_GW" sysctl -qw net.ipv4.ip_forward=1
    ip link add veth-pod netns "$NS_GW" type veth peer name eth0 netns "$NS_POD"
    ip -n "$NS_GW" addr add "$POD_GW_IP/16" dev veth-pod
    ip -n "$NS_GW" link set veth-pod mtu "$LINK_MTU" up
    ip -n "$NS_GW" route add "$SERVICE_IP/32" via "$POD_IP" dev veth-pod # kube-proxy stand-in
    ip -n "$NS_POD" addr add "$POD_IP/16" dev eth0
    ip -n "$NS_POD" link set eth0 mtu "$LINK_MTU" up
    ip -n "$NS_POD" route add default via "$POD_GW_IP"
    ip -n "$NS_POD" addr add "$SERVICE_IP/32" dev lo # the ClusterIP this pod backs
}

start_echo_server() { # NS LABEL
    spawn "$work/echo-$1.log" "$1" python3 "$repo/deploy/lab/echo_server.py" --cluster "$2" --port "$ECHO_PORT"
    wait_for "$START_WAIT_SECONDS" "echo server in $1 answers" "$SPAWNED" \
        ip netns exec "$1" curl -fsS --max-time 1 "http://127.0.0.1:$ECHO_PORT/healthz"
}

# --- our gateway ---------------------------------------------------------------------------

gw_dir() { echo "$work/gw"; }
admin_socket() { echo "$(gw_dir)/admin.sock"; }
state_file() { echo "$(gw_dir)/state/ipam.state"; }

write_gateway_config() { # PEER_PUBLIC_KEY ENDPOINT-or-empty
    local endpoint_line=""
    if [[ -n $2 ]]; then endpoint_line="    endpoint: $2"; fi
    cat >"$(gw_dir)/gateway.yaml" <<EOF
cluster_id: gwi-cluster
private_key_file: $(gw_dir)/private.key
listen_port: $GW_PORT
state_dir: $(gw_dir)/state
admin_socket: $(admin_socket)
metrics_address: ""
tunnel:
  name: gw0
  underlay_mtu: $LINK_MTU
local:
  pod_cidrs: [$POD_CIDR]
  service_cidrs: [10.96.0.0/16]
globalnet:
  global_cidr: $GLOBAL_CIDR
  cluster_egress_ips: 2
  exports:
    - name: $EXPORT_NAME
      cluster_ip: $SERVICE_IP
peers:
  - name: $PEER_NAME
    public_key: "$1"
$endpoint_line
    routed_cidrs: [$WG_CIDR]
EOF
}

export_ip() { awk -v name="$EXPORT_NAME" '$1 == "ingress" && $2 == name { print $3; exit }' "$(state_file)" 2>/dev/null || true; }
have_export_ip() { [[ -n $(export_ip) ]]; }

start_gateway() {
    spawn "$(gw_dir)/gateway.log" "$NS_GW" "$GATEWAY_BIN" --config "$(gw_dir)/gateway.yaml"
    GATEWAY_PID=$SPAWNED
    wait_for "$START_WAIT_SECONDS" "gateway wrote its export's global IP to $(state_file)" "$GATEWAY_PID" \
        have_export_ip
    # The state file can exist before the admin socket listens: wait for gwctl too.
    wait_for "$START_WAIT_SECONDS" "gateway's admin socket answers" "$GATEWAY_PID" \
        gateway_peer_line
}

# The peer's line of `gwctl peers -o dump`: name key endpoint cidrs status handshake rx tx ...
gateway_peer_line() {
    local out
    out=$("$GWCTL_BIN" peers --socket "$(admin_socket)" -o dump 2>/dev/null) || [[ -n $out ]] || return 1
    awk -F'\t' -v name="$PEER_NAME" '$1 == name { print; found = 1 } END { exit !found }' <<<"$out"
}
gateway_peer_field() { gateway_peer_line | cut -f "$1" || true; } # 3 endpoint, 5 status, 6 handshake, 7 rx, 8 tx

# --- the stock WireGuard peer ----------------------------------------------------------------

in_wg() { ip netns exec "$NS_WG" "$@"; }
wg_q() { in_wg timeout 5 wg "$@"; } # wg talks to the UAPI socket: bounded

start_stock_peer() { # ROUND
    # Distinct per run and round: the UAPI socket /var/run/wireguard/NAME.sock is shared by
    # every namespace. At most 15 bytes: "gwi" + PID (≤ 7 digits) + round letter.
    wg_if="gwi$$${1:0:1}"
    sockets+=("/var/run/wireguard/$wg_if.sock")
    if [[ $IMPL == wireguard-go ]]; then
        spawn "$work/$IMPL.log" "$NS_WG" "$IMPL_BIN" -f "$wg_if"
    else
        # --disable-drop-privileges: we are root, not under sudo (nothing to drop to).
        spawn "$work/$IMPL.log" "$NS_WG" "$IMPL_BIN" --foreground --disable-drop-privileges \
            --verbosity info "$wg_if"
    fi
    STOCK_PID=$SPAWNED
    # Not polled with `wg`: a connection refused between the daemon's bind() and listen()
    # makes wg unlink the socket as stale, and both daemons exit when their socket vanishes.
    wait_for "$START_WAIT_SECONDS" "$IMPL created $wg_if and listens on its UAPI socket" "$STOCK_PID" \
        uapi_listening
}

# The stock peer's interface exists and its UAPI socket listens (`ss` lists the unix sockets
# of the namespace they were made in). boringtun writes the path with a double slash.
uapi_listening() {
    ip -n "$NS_WG" link show "$wg_if" >/dev/null 2>&1 &&
        ip netns exec "$NS_WG" ss -xlnH | awk -v name="/$wg_if.sock" '
            substr($5, length($5) - length(name) + 1) == name { found = 1 } END { exit !found }'
}

# configure_stock_peer GATEWAY_PUBLIC_KEY ENDPOINT-or-empty: `wg` only, plus addresses/routes.
configure_stock_peer() {
    local endpoint=()
    if [[ -n $2 ]]; then endpoint=(endpoint "$2"); fi
    wg_q set "$wg_if" private-key "$work/wg.key" listen-port "$WG_PORT" \
        peer "$1" allowed-ips "$GLOBAL_CIDR,$POD_CIDR" "${endpoint[@]}"
    ip -n "$NS_WG" addr add "$WG_ADDRESS/24" dev "$wg_if"
    ip -n "$NS_WG" link set "$wg_if" mtu "$TUNNEL_MTU" up
    ip -n "$NS_WG" route add "$GLOBAL_CIDR" dev "$wg_if"
    ip -n "$NS_WG" route add "$POD_CIDR" dev "$wg_if"
}

# wg_value latest-handshakes|transfer|endpoints PEER_KEY: the values on the peer's line.
wg_value() {
    { wg_q show "$wg_if" "$1" 2>/dev/null || true; } |
        awk -v key="$2" '$1 == key { $1 = ""; sub(/^ /, ""); print; exit }'
}

# --- who initiated -------------------------------------------------------------------------

# Records the first handshake initiation on the gateway's underlay.
start_capture() {
    spawn "$work/initiation.txt" "$NS_GW" tcpdump -n -l -c 1 -i eth0 "$INITIATION_FILTER"
    CAPTURE_PID=$SPAWNED
    wait_for "$START_WAIT_SECONDS" "tcpdump on $NS_GW eth0 is capturing" "$CAPTURE_PID" \
        grep -q 'listening on' "$work/initiation.txt"
}

check_initiator() { # EXPECTED_SOURCE WHO
    local deadline=$((SECONDS + CAPTURE_WAIT_SECONDS)) line
    while alive "$CAPTURE_PID" && ((SECONDS < deadline)); do sleep 0.1; done
    line=$(grep ' > ' "$work/initiation.txt" | head -n1 || true)
    # "IP 192.168.200.2.51820 > 192.168.200.1.4500: UDP, length 148"
    if [[ $line == *" IP $1 > "* || $line == "IP $1 > "* ]]; then
        pass "first handshake initiation came from $2: $line"
    else
        fail "first handshake initiation should come from $2 ($1); capture: ${line:-nothing captured}"
    fi
}

# --- checks --------------------------------------------------------------------------------

check_fresh() {
    local wg_handshake gw_handshake
    wg_handshake=$(wg_value latest-handshakes "$GATEWAY_PUBLIC_KEY")
    gw_handshake=$(gateway_peer_field 6)
    if [[ $wg_handshake == 0 && $gw_handshake == 0 ]]; then
        pass "fresh start: no handshake yet on either side"
    else
        fail "fresh start: $IMPL latest-handshake '$wg_handshake', gateway '$gw_handshake' (want 0 and 0)"
    fi
}

# gateway_drops REASON: the gateway's drop count for REASON (`gwctl nat`; tunnel and NAT
# reasons share one label space), 0 when it has none.
gateway_drops() {
    { "$GWCTL_BIN" nat --socket "$(admin_socket)" -o dump 2>/dev/null || true; } |
        awk -F'\t' -v reason="$1" '$1 == "drops" && $2 == reason { n = $3 } END { print n + 0 }'
}

# Before the peer ever connected, the gateway (no endpoint configured) cannot reach it: the
# packet is a counted drop and no handshake is attempted.
check_unreachable_before_peer_connects() {
    local got drops
    got=$(ping_received ip netns exec "$NS_POD" ping -c 1 -W 1 "$WG_ADDRESS")
    drops=$(gateway_drops no_endpoint)
    if [[ $got == 0 ]] && ((drops >= 1)); then
        pass "pod -> $WG_ADDRESS before $IMPL connected: dropped by the gateway (no_endpoint drops: $drops)"
    else
        fail "pod -> $WG_ADDRESS before $IMPL connected: want 0 replies and a no_endpoint drop; got $got replies, $drops drops"
    fi
}

check_ping() { # NS TARGET WHAT
    local got
    got=$(ping_received ip netns exec "$1" ping -c "$PINGS" -i 0.3 -W 3 "$2")
    if [[ $got == "$PINGS" ]]; then pass "ping $3: $PINGS/$PINGS replies"
    else fail "ping $3: $got/$PINGS replies"; fi
}

# Path MTU across the tunnel: a packet of exactly the tunnel MTU with DF set crosses both
# ways; one 8 bytes larger is refused with "fragmentation needed" naming the tunnel MTU
# (sent by the gateway node's kernel, whose route into gw0 has that MTU, or by the gateway).
check_mtu() { # NS TARGET WHAT
    local fits=$((TUNNEL_MTU - 28)) out # ICMP payload: MTU - IPv4 20 - ICMP 8
    out=$(ip netns exec "$1" ping -c 1 -W 3 -M "do" -s "$fits" "$2" 2>&1 || true)
    if [[ $out == *" 1 received"* ]]; then pass "mtu $3: a $TUNNEL_MTU-byte packet with DF crosses and its reply returns"
    else fail "mtu $3: ping -M do -s $fits $2 (a $TUNNEL_MTU-byte packet) got no reply: $(tr '\n' ' ' <<<"$out")"; fi
    out=$(ip netns exec "$1" ping -c 1 -W 3 -M "do" -s $((fits + 8)) "$2" 2>&1 || true)
    if [[ $out == *"Frag needed"*"mtu = $TUNNEL_MTU"* ]]; then
        pass "mtu $3: $((TUNNEL_MTU + 8)) bytes with DF is refused: $(grep -o 'From .*' <<<"$out" | head -n1)"
    else
        fail "mtu $3: ping -M do -s $((fits + 8)) $2 should get 'Frag needed ... mtu = $TUNNEL_MTU'; got: $(tr '\n' ' ' <<<"$out")"
    fi
}

check_http() { # NS URL WANT_SEEN WHAT
    local answer
    answer=$(ip netns exec "$1" curl -sS --max-time "$HTTP_TIMEOUT_SECONDS" "$2" 2>&1 || true)
    if [[ $answer == *"; you are $3:"* ]]; then pass "http $4: $answer"
    else fail "http $4: GET $2 should answer 'you are $3:<port>'; got: $answer"; fi
}

check_bulk() { # CLIENT_NS BASE_URL WHAT
    local file want got size
    file="$work/bulk-get"
    want=$(expected_bytes_sha256 "$BULK_BYTES")
    size=$(ip netns exec "$1" curl -sS --max-time "$BULK_TIMEOUT_SECONDS" -o "$file" -w '%{size_download}' \
        "$2/bytes?n=$BULK_BYTES" 2>&1 || true)
    got=$(sha256sum "$file" 2>/dev/null | cut -d' ' -f1 || true)
    if [[ $got == "$want" ]]; then pass "bulk $3, download: $BULK_BYTES bytes intact (sha256 ${got:0:16}…)"
    else fail "bulk $3, download: got ${size:-0} bytes, sha256 ${got:-none}, want $want"; fi

    file="$work/bulk-post"
    head -c "$BULK_BYTES" /dev/urandom >"$file"
    want=$(sha256sum "$file" | cut -d' ' -f1)
    # The echo server speaks HTTP/1.0 and never sends 100-continue: do not wait for it.
    got=$(ip netns exec "$1" curl -sS --max-time "$BULK_TIMEOUT_SECONDS" -H 'Expect:' \
        --data-binary "@$file" "$2/sha256" 2>&1 || true)
    if [[ $got == "$want" ]]; then pass "bulk $3, upload: $BULK_BYTES bytes intact (sha256 ${got:0:16}…)"
    else fail "bulk $3, upload: server hashed '$got', want $want"; fi
    rm -f "$work/bulk-get" "$work/bulk-post"
}

check_endpoint_learned() { # WHO GOT WANT
    if [[ $2 == "$3" ]]; then pass "$1 learned the endpoint $3 from the handshake"
    else fail "$1 endpoint: '$2', want $3 (learned from the initiator's packets)"; fi
}

# UDP datagrams the kernel dropped in NS because a socket's receive buffer was full (the
# underlay: WireGuard's socket). Explains TCP retransmissions; not a failure by itself.
udp_rcvbuf_errors() {
    # shellcheck disable=SC2016 # awk's fields, not shell expansions
    ip netns exec "$1" awk '$1 == "Udp:" && !header { for (i = 2; i <= NF; i++) col[$i] = i; header = 1; next }
        $1 == "Udp:" { print $col["RcvbufErrors"]; exit }' /proc/net/snmp 2>/dev/null || echo "?"
}

# Age in seconds of the stock peer's latest handshake, from `wg show latest-handshakes`;
# empty when there was none.
stock_handshake_age() {
    local value
    value=$(wg_value latest-handshakes "$GATEWAY_PUBLIC_KEY")
    [[ $value =~ ^[0-9]+$ ]] || return 0
    if [[ $IMPL == boringtun-cli ]]; then
        # boringtun 0.7.1 answers the UAPI's last_handshake_time_sec with the time *since*
        # the handshake, not a Unix time (cloudflare/boringtun#447, open), so `wg show` says
        # "56 years ago". After traffic flowed there was a handshake, even when this says 0.
        echo "$value"
    elif ((value > 0)); then
        echo $(($(date +%s) - value))
    fi
}

check_status() {
    local age handshake rx tx line status
    age=$(stock_handshake_age)
    read -r rx tx <<<"$(wg_value transfer "$GATEWAY_PUBLIC_KEY")"
    if [[ -n $age ]] && ((age <= RECENT_HANDSHAKE_SECONDS && ${rx:-0} > 0 && ${tx:-0} > 0)); then
        pass "wg show ($IMPL): handshake ${age}s ago, received $rx B, sent $tx B"
    else
        fail "wg show ($IMPL): latest-handshake '$(wg_value latest-handshakes "$GATEWAY_PUBLIC_KEY")' (age '${age:-none}', want ≤ ${RECENT_HANDSHAKE_SECONDS}s), transfer rx '${rx:-}' tx '${tx:-}' (want both > 0)"
    fi
    line=$(gateway_peer_line || true)
    status=$(cut -f5 <<<"$line")
    handshake=$(cut -f6 <<<"$line")
    rx=$(cut -f7 <<<"$line")
    tx=$(cut -f8 <<<"$line")
    if [[ $status == connected ]] && ((${handshake:-0} > 0 && ${rx:-0} > 0 && ${tx:-0} > 0)); then
        pass "gwctl peers: $PEER_NAME connected, handshake at $handshake, rx $rx B, tx $tx B"
    else
        fail "gwctl peers: want $PEER_NAME connected with traffic both ways; dump line: ${line:-none}"
    fi
    "$GWCTL_BIN" peers --socket "$(admin_socket)" 2>&1 | sed 's/^/     /' || true
    info "UDP receive-buffer drops so far: $IMPL's namespace $(udp_rcvbuf_errors "$NS_WG"), the gateway's $(udp_rcvbuf_errors "$NS_GW")"
}

diagnostics() {
    [[ -d $(gw_dir) ]] || return 0
    info "diagnostics after failures in this round:"
    if [[ -n $wg_if ]]; then wg_q show "$wg_if" 2>&1 | sed 's/^/     /' || true; fi
    "$GWCTL_BIN" nat --socket "$(admin_socket)" 2>&1 | sed 's/^/     /' || true
    show_log "$(gw_dir)/gateway.log"
    show_log "$work/$IMPL.log"
}

# --- rounds --------------------------------------------------------------------------------

# set_up_round ROUND GATEWAY_ENDPOINT STOCK_ENDPOINT: fresh topology, keys, both WireGuard
# ends and the echo servers. The side given no endpoint cannot initiate. Called as a plain
# command so that set -e stops the script at a step that fails (a check only fails a line).
set_up_round() {
    build_topology
    rm -rf "$(gw_dir)" "$work/wg.key"
    mkdir -m 0700 "$(gw_dir)" "$(gw_dir)/state"
    (umask 077 && "$GWCTL_BIN" genkey >"$(gw_dir)/private.key" && wg genkey >"$work/wg.key")
    GATEWAY_PUBLIC_KEY=$("$GWCTL_BIN" pubkey <"$(gw_dir)/private.key")
    STOCK_PUBLIC_KEY=$(wg pubkey <"$work/wg.key")
    write_gateway_config "$STOCK_PUBLIC_KEY" "$2"
    : >"$work/initiation.txt"
    start_echo_server "$NS_POD" gwi-pod
    start_echo_server "$NS_WG" "$IMPL"
    start_gateway
    start_stock_peer "$1"
    configure_stock_peer "$GATEWAY_PUBLIC_KEY" "$3"
    start_capture
}

round_peer_initiates() {
    local failures_before=$FAILURES target
    section "$IMPL initiates: it has endpoint $GW_UNDERLAY_IP:$GW_PORT, the gateway has none"
    set_up_round peer "" "$GW_UNDERLAY_IP:$GW_PORT"
    target=$(export_ip)
    info "export $EXPORT_NAME has global IP $target (DNAT to $SERVICE_IP)"
    check_fresh
    check_unreachable_before_peer_connects
    check_ping "$NS_WG" "$target" "$IMPL ($WG_ADDRESS) -> export $target"
    check_initiator "$WG_UNDERLAY_IP.$WG_PORT" "$IMPL"
    # Ingress DNAT keeps the source: the pod sees the routed peer's own address.
    check_http "$NS_WG" "http://$target:$ECHO_PORT/" "$WG_ADDRESS" "$IMPL -> export $target"
    check_endpoint_learned gateway "$(gateway_peer_field 3)" "$WG_UNDERLAY_IP:$WG_PORT"
    check_ping "$NS_POD" "$WG_ADDRESS" "pod -> $IMPL $WG_ADDRESS at the endpoint the gateway learned"
    check_bulk "$NS_WG" "http://$target:$ECHO_PORT" "$IMPL <-> pod via $target"
    check_status
    ((FAILURES == failures_before)) || diagnostics
    teardown_round
}

round_gateway_initiates() {
    local failures_before=$FAILURES target
    section "the gateway initiates: it has endpoint $WG_UNDERLAY_IP:$WG_PORT, $IMPL has none"
    set_up_round gateway "$WG_UNDERLAY_IP:$WG_PORT" ""
    check_fresh
    # Routed peer: forwarded untranslated both ways (docs/nat.md, outbound step 4 and
    # inbound step 3), so the peer sees the pod's address, not a global egress IP.
    check_ping "$NS_POD" "$WG_ADDRESS" "pod ($POD_IP) -> $IMPL $WG_ADDRESS"
    check_initiator "$GW_UNDERLAY_IP.$GW_PORT" "the gateway"
    check_http "$NS_POD" "http://$WG_ADDRESS:$ECHO_PORT/" "$POD_IP" "pod -> $IMPL $WG_ADDRESS (untranslated)"
    check_endpoint_learned "$IMPL" "$(wg_value endpoints "$GATEWAY_PUBLIC_KEY")" \
        "$GW_UNDERLAY_IP:$GW_PORT"
    target=$(export_ip)
    check_http "$NS_WG" "http://$target:$ECHO_PORT/" "$WG_ADDRESS" "$IMPL -> export $target on the gateway's session"
    check_mtu "$NS_POD" "$WG_ADDRESS" "pod -> $IMPL"
    check_bulk "$NS_POD" "http://$WG_ADDRESS:$ECHO_PORT" "pod <-> $IMPL $WG_ADDRESS"
    check_status
    ((FAILURES == failures_before)) || diagnostics
    teardown_round
}

echo "interop: our gateway ($GATEWAY_BIN) with $IMPL ($IMPL_BIN)"
round_peer_initiates
round_gateway_initiates
FINISHED=1
trap - ERR # finish's own status is the verdict, not a failed step
finish
