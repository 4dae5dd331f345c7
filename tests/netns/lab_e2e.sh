#!/usr/bin/env bash
# End-to-end checks of the two-cluster lab built by `deploy/lab/lab up`: cross-cluster TCP,
# UDP and ICMP through both gateways in both directions, the global source IP the server
# sees, 20 MiB transfers both ways, the MSS clamp, and that nothing unexported is reachable
# (with the gateways' drop counters). Prints PASS/FAIL lines; exits non-zero on any failure.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

readonly BULK_BYTES=$((20 * 1024 * 1024)) # 20 MiB
readonly BULK_TIMEOUT_SECONDS=120
readonly CAPTURE_TIMEOUT_SECONDS=10
readonly PINGS=3

[[ $EUID -eq 0 ]] || { echo "FAIL needs root (network namespaces)"; exit 1; }
require_lab full

work=$(mktemp -d /tmp/gwlab-e2e.XXXXXX)
capture_pids=()
cleanup() {
    local pid
    for pid in "${capture_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

section "topology (tests/netns/lab_topology.sh)"
if "$here/lab_topology.sh" | sed 's/^/    /'; then pass "topology checks"; else fail "topology checks (see the lines above)"; fi

# --- client cluster X reaches server cluster Y's export ------------------------------------

check_direction() {
    local x=$1 y=$2 target pool answer seen got
    target=$(ingress_ip "$y" "$(export_of "$y")")
    pool=$(pool_of "$x")
    section "cluster-$x pod -> cluster-$y $(export_of "$y") at $target (cluster-$x egress pool: $pool)"

    answer=$(in_pod "$x" curl -sS --max-time 5 "http://$target:$ECHO_PORT/" 2>&1)
    seen=$(sed -n 's/.*you are \([0-9.]*\):[0-9]*$/\1/p' <<<"$answer")
    if [[ $answer == "hello from cluster-$y; you are "* ]] && in_list "$seen" "$pool"; then
        pass "tcp $x->$y: $answer (a global egress IP of cluster-$x)"
    elif [[ $answer == "hello from cluster-$y; you are "* ]]; then
        fail "tcp $x->$y: server saw $seen, not one of cluster-$x's global egress IPs ($pool)"
    else
        fail "tcp $x->$y: curl http://$target:$ECHO_PORT/ from cluster-$x-pod1 -> $answer"
    fi

    answer=$(udp_echo "cluster-$x-pod1" "$target" "$ECHO_PORT" "udp-from-$x" 2>&1)
    seen=$(sed -n 's/.* saw \([0-9.]*\):[0-9]*: .*/\1/p' <<<"$answer")
    if [[ $answer == "$target:$ECHO_PORT cluster-$y saw "*": udp-from-$x" ]] && in_list "$seen" "$pool"; then
        pass "udp $x->$y: reply from $target:$ECHO_PORT, server saw $seen (a global egress IP of cluster-$x)"
    else
        fail "udp $x->$y: want a reply from $target:$ECHO_PORT naming one of $pool; got: $answer"
    fi

    got=$(ping_received in_pod "$x" ping -c "$PINGS" -i 0.2 -W 2 "$target")
    if [[ $got == "$PINGS" ]]; then pass "icmp $x->$y: $PINGS/$PINGS echo replies from $target"
    else fail "icmp $x->$y: $got/$PINGS echo replies from $target"; fi

    check_bulk "$x" "$y" "$target"
}

check_bulk() {
    local x=$1 y=$2 target=$3 file want got size
    file="$work/get-$x$y"
    want=$(expected_bytes_sha256 "$BULK_BYTES")
    size=$(in_pod "$x" curl -sS --max-time "$BULK_TIMEOUT_SECONDS" -o "$file" -w '%{size_download}' \
        "http://$target:$ECHO_PORT/bytes?n=$BULK_BYTES" 2>&1)
    got=$(sha256sum "$file" 2>/dev/null | cut -d' ' -f1)
    if [[ $got == "$want" ]]; then
        pass "bulk $y->$x: GET /bytes?n=$BULK_BYTES arrived intact (sha256 $got)"
    else
        fail "bulk $y->$x: GET /bytes?n=$BULK_BYTES: got $size bytes with sha256 ${got:-none}, want $want"
    fi

    file="$work/post-$x$y"
    head -c "$BULK_BYTES" /dev/urandom >"$file"
    want=$(sha256sum "$file" | cut -d' ' -f1)
    # Expect: the server speaks HTTP/1.0 and never sends 100-continue.
    got=$(in_pod "$x" curl -sS --max-time "$BULK_TIMEOUT_SECONDS" -H 'Expect:' \
        -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
        "http://$target:$ECHO_PORT/sha256" 2>&1)
    if [[ $got == "$want" ]]; then
        pass "bulk $x->$y: POST /sha256 of $BULK_BYTES random bytes arrived intact (sha256 $got)"
    else
        fail "bulk $x->$y: POST /sha256 of $BULK_BYTES bytes: server says '$got', want $want"
    fi
    rm -f "$work/get-$x$y" "$file"
}

# tun_rx_policy X: the scheduling policy of cluster-X's gateway's tun-rx thread (SCHED_OTHER, SCHED_BATCH).
tun_rx_policy() {
    local pid task
    pid=$(head -n1 "$RUN_DIR/cluster-$1/gateway.pid" 2>/dev/null | tr -dc '0-9')
    for task in /proc/"$pid"/task/*; do
        if [[ $(cat "$task/comm" 2>/dev/null) == tun-rx ]]; then
            chrt -p "${task##*/}" 2>/dev/null | sed -n 's/.*policy: //p'
            return
        fi
    done
}

check_direction a b
check_direction b a

# --- tun-rx's scheduling policy --------------------------------------------------------------

# tun-rx runs as SCHED_BATCH only while it carries bulk traffic (>= 20,000 packets/s;
# daemon/bulk_scheduling.rs). A thread that never switched would cost throughput; one left in
# SCHED_BATCH would keep a lone packet waiting for a scheduler tick on a busy CPU.
section "scheduling: tun-rx is SCHED_BATCH during a UDP blast and a normal thread after it; udp-rx takes the socket for it and hands it back"
readonly BLAST_SECONDS=1.5
blast_target=$(ingress_ip b "$(export_of b)")
# cluster-b solo first (the transfers above may have left udp-rx on the socket for up to its
# 200 ms receive timeout), and the counters read before the blast, so they see all it causes.
for _ in $(seq 20); do [[ $(metric b gateway_data_path_solo) == 1.0 ]] && break; sleep 0.1; done
entered_before=$(metric a gateway_tun_rx_bulk_mode_entered_total)
solo_switches_before=$(metric b gateway_data_path_solo_switches_total)
# Small datagrams as fast as one Python loop sends them (well above 20,000/s), for a bounded
# time, to cluster-b's export; unconnected sendto, so ICMP errors cannot stop the loop.
in_pod a python3 - "$blast_target" "$ECHO_PORT" "$BLAST_SECONDS" <<'EOF' &
import socket, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    for _ in range(100):
        try:
            sock.sendto(b"blast", (host, port))
        except OSError:
            pass
EOF
blaster=$!
capture_pids+=("$blaster")
seen="" gauge_seen="" solo_seen=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
    sleep 0.1
    seen+=" $(tun_rx_policy a)"
    gauge_seen+=" $(metric a gateway_tun_rx_bulk_mode)"
    solo_seen+=" $(metric b gateway_data_path_solo)"
done
wait "$blaster"
if [[ $seen == *SCHED_BATCH* ]]; then pass "cluster-a: tun-rx switched to SCHED_BATCH during the blast (samples:$seen)"
else fail "cluster-a: tun-rx never was SCHED_BATCH during the blast (samples:$seen)"; fi
# What operators see of it: the gauge while it lasts, the counter after.
if [[ $gauge_seen == *1.0* ]]; then pass "cluster-a: gateway_tun_rx_bulk_mode showed 1 during the blast (samples:$gauge_seen)"
else fail "cluster-a: gateway_tun_rx_bulk_mode never showed 1 during the blast (samples:$gauge_seen)"; fi
sleep 0.2 # > the 10 ms of quiet that ends bulk mode
for x in a b; do
    policy=$(tun_rx_policy "$x")
    if [[ $policy == SCHED_OTHER ]]; then pass "cluster-$x: tun-rx is SCHED_OTHER once the traffic is over"
    else fail "cluster-$x: tun-rx is '${policy:-not found}' once the traffic is over, want SCHED_OTHER"; fi
    mode=$(metric "$x" gateway_tun_rx_bulk_mode)
    if [[ $mode == 0.0 ]]; then pass "cluster-$x: gateway_tun_rx_bulk_mode is 0 once the traffic is over"
    else fail "cluster-$x: gateway_tun_rx_bulk_mode is '${mode:-missing}' once the traffic is over, want 0"; fi
done
# Solo while quiet (daemon/solo.rs): the blast makes cluster-b's tun-rx hand the UDP socket to
# udp-rx (two threads for load); once it is over, udp-rx hands it back (one thread, fewer
# wake-ups for interactive traffic).
if [[ $solo_seen == *0.0* ]]; then pass "cluster-b: udp-rx took the UDP socket during the blast (gateway_data_path_solo samples:$solo_seen)"
else fail "cluster-b: gateway_data_path_solo never showed 0 during the blast (samples:$solo_seen): udp-rx never took the socket"; fi
for x in a b; do
    solo=""
    for _ in $(seq 20); do # the hand-back follows 5 ms of quiet, or udp-rx's 200 ms receive timeout
        solo=$(metric "$x" gateway_data_path_solo)
        [[ $solo == 1.0 ]] && break
        sleep 0.1
    done
    if [[ $solo == 1.0 ]]; then pass "cluster-$x: solo again once the traffic is over (gateway_data_path_solo 1)"
    else fail "cluster-$x: gateway_data_path_solo is '${solo:-missing}' 2 s after the traffic, want 1"; fi
done
solo_switches_after=$(metric b gateway_data_path_solo_switches_total)
if [[ $solo_switches_before =~ ^[0-9]+$ && $solo_switches_after =~ ^[0-9]+$ ]] && ((solo_switches_after >= solo_switches_before + 2)); then
    pass "cluster-b: gateway_data_path_solo_switches_total rose $solo_switches_before -> $solo_switches_after (to udp-rx and back, at least)"
else fail "cluster-b: gateway_data_path_solo_switches_total '$solo_switches_before' -> '$solo_switches_after', want a rise of 2 or more"; fi
entered_after=$(metric a gateway_tun_rx_bulk_mode_entered_total)
if [[ $entered_before =~ ^[0-9]+$ && $entered_after =~ ^[0-9]+$ ]] && ((entered_after > entered_before)); then
    pass "cluster-a: gateway_tun_rx_bulk_mode_entered_total rose $entered_before -> $entered_after"
else fail "cluster-a: gateway_tun_rx_bulk_mode_entered_total did not rise: '$entered_before' -> '$entered_after'"; fi

# --- MSS clamp -----------------------------------------------------------------------------

# start_capture NAME X FILTER: one SYN matching FILTER on cluster-X-pod1's eth0, into $work/NAME.
start_capture() {
    local name=$1 x=$2 filter=$3
    timeout "$CAPTURE_TIMEOUT_SECONDS" ip netns exec "cluster-$x-pod1" \
        tcpdump -i eth0 -c 1 -l -nn -v "$filter" >"$work/$name.out" 2>"$work/$name.err" &
    capture_pids+=($!)
}

wait_listening() {
    local name deadline=$((SECONDS + 5))
    for name in "$@"; do
        until grep -q 'listening on' "$work/$name.err" 2>/dev/null; do
            ((SECONDS < deadline)) || return 1
            sleep 0.1
        done
    done
}

check_mss() {
    local x=$1 y=$2 target sent arrived limit=$((TUNNEL_MTU - TCP_IP_HEADERS))
    target=$(ingress_ip "$y" "$(export_of "$y")")
    section "MSS clamp: a SYN from cluster-$x-pod1 to $target:$ECHO_PORT"
    # A path MTU the pod learned during the bulk transfers (ICMP frag-needed from its gateway)
    # would make it send a small MSS itself and hide the clamp: forget it.
    ip -n "cluster-$x-pod1" route flush cache
    capture_pids=()
    start_capture "syn-sent-$x" "$x" "tcp[tcpflags] & tcp-syn != 0 and dst host $target and tcp dst port $ECHO_PORT"
    start_capture "syn-arrived-$y" "$y" "tcp[tcpflags] & tcp-syn != 0 and tcp dst port $ECHO_PORT"
    if ! wait_listening "syn-sent-$x" "syn-arrived-$y"; then
        fail "mss $x->$y: tcpdump did not start: $(cat "$work/syn-sent-$x.err" "$work/syn-arrived-$y.err" | tr '\n' ' ')"
        return
    fi
    in_pod "$x" curl -sS --max-time 5 -o /dev/null "http://$target:$ECHO_PORT/" 2>/dev/null
    wait "${capture_pids[@]}" 2>/dev/null
    capture_pids=()
    sent=$(grep -o 'mss [0-9]*' "$work/syn-sent-$x.out" | head -n1 | cut -d' ' -f2)
    arrived=$(grep -o 'mss [0-9]*' "$work/syn-arrived-$y.out" | head -n1 | cut -d' ' -f2)
    # If the pod already sent a small MSS the clamp would go unnoticed: check the premise.
    if [[ $sent == $((LINK_MTU - TCP_IP_HEADERS)) ]]; then
        pass "mss $x->$y: cluster-$x-pod1 sends MSS $sent (pod MTU $LINK_MTU)"
    else
        fail "mss $x->$y: cluster-$x-pod1's SYN should carry MSS $((LINK_MTU - TCP_IP_HEADERS)), captured: '${sent:-no SYN}' $(head -c 300 "$work/syn-sent-$x.out")"
    fi
    if [[ -n $arrived ]] && ((arrived <= limit)); then
        pass "mss $x->$y: the SYN reaches cluster-$y-pod1 with MSS $arrived (<= $limit = tunnel MTU $TUNNEL_MTU - $TCP_IP_HEADERS)"
    else
        fail "mss $x->$y: the SYN should reach cluster-$y-pod1 with MSS <= $limit, captured: '${arrived:-no SYN within ${CAPTURE_TIMEOUT_SECONDS}s}' $(head -c 300 "$work/syn-arrived-$y.out")"
    fi
}

check_mss a b
check_mss b a

# --- what must stay unreachable --------------------------------------------------------------

# check_dropped LABEL X BEFORE MIN REASONS: cluster-X's drop counters for REASONS grew by MIN.
check_dropped() {
    local label=$1 x=$2 before=$3 min=$4 reasons=$5 after
    # shellcheck disable=SC2086 # $reasons is a list of words on purpose
    if ! drops_total after "$x" $reasons; then
        fail "$label: cluster-$x counts the drops as gateway_packets_dropped_total{reason=~\"${reasons// /|}\"}: $METRIC_ERROR"
    elif ((after - before >= min)); then
        pass "$label: cluster-$x counted $((after - before)) drops (reason ${reasons// / or })"
    else
        fail "$label: cluster-$x's gateway_packets_dropped_total{reason=~\"${reasons// /|}\"} grew by $((after - before)) ($before -> $after), want >= $min"
    fi
}

section "not exported: a global IP in cluster-b's block that no export holds"
unexported=""
for last in $(seq 200 250); do
    grep -qw "243.0.0.$last" "$(state_file b)" || { unexported=243.0.0.$last; break; }
done
before=0
drops_total before b not_exported
got=$(ping_received in_pod a ping -c "$PINGS" -i 0.2 -W 1 "$unexported")
if [[ $got == 0 ]]; then pass "cluster-a-pod1 gets no reply from unexported $unexported"
else fail "cluster-a-pod1 got $got echo replies from $unexported, which no export holds"; fi
if answer=$(in_pod a curl -sS --max-time 3 "http://$unexported:$ECHO_PORT/" 2>&1); then
    fail "cluster-a-pod1 connected to unexported $unexported:$ECHO_PORT: $answer"
else pass "cluster-a-pod1 cannot connect to unexported $unexported:$ECHO_PORT"; fi
got=$(ping_received in_gw a ping -c "$PINGS" -i 0.2 -W 1 "$unexported")
if [[ $got == 0 ]]; then pass "cluster-a-gw gets no reply from unexported $unexported"
else fail "cluster-a-gw got $got echo replies from $unexported"; fi
check_dropped "not exported" b "$before" "$PINGS" not_exported

section "egress-only: cluster-b's egress pool IP accepts no new connections"
b_egress=$(pool_of b | cut -d' ' -f1)
drops_total before b no_flow
got=$(ping_received in_pod a ping -c "$PINGS" -i 0.2 -W 1 "$b_egress")
if [[ $got == 0 ]]; then pass "cluster-a-pod1 gets no reply from cluster-b's egress IP $b_egress"
else fail "cluster-a-pod1 got $got echo replies from cluster-b's egress IP $b_egress"; fi
check_dropped "egress-only" b "$before" "$PINGS" no_flow

# Both clusters use 10.244.0.0/16, so a raw remote pod IP is only meaningful once it is in
# the tunnel: push it into cluster-a's TUN (ping -I binds the device, bypassing the routes)
# and check the gateways refuse it — cluster-a's as unroutable (or, since the gateway node's
# own 242.0.0.1 is not a local pod source, as not_local_source), or cluster-b's as not ours.
section "raw pod IP: $POD_IP sent into cluster-a's tunnel device"
before_a=0 before_b=0 after_a=0 after_b=0
drops_total before_a a no_route not_local_source
drops_total before_b b not_ours
got=$(ping_received in_gw a ping -I gw0 -c "$PINGS" -i 0.2 -W 1 "$POD_IP")
if [[ $got == 0 ]]; then pass "cluster-a-gw gets no reply from raw pod IP $POD_IP through gw0"
else fail "cluster-a-gw got $got echo replies from raw pod IP $POD_IP through gw0: the tunnel forwards raw pod IPs"; fi
if ! drops_total after_a a no_route not_local_source || ! drops_total after_b b not_ours; then
    fail "raw pod IP: the gateways count the drops (cluster-a no_route|not_local_source, cluster-b not_ours): $METRIC_ERROR"
elif (((after_a - before_a) + (after_b - before_b) >= PINGS)); then
    pass "raw pod IP: counted $((after_a - before_a)) drops in cluster-a (no_route|not_local_source), $((after_b - before_b)) in cluster-b (not_ours)"
else
    fail "raw pod IP: $PINGS packets sent but only $((after_a - before_a)) drops counted in cluster-a (no_route|not_local_source) and $((after_b - before_b)) in cluster-b (not_ours)"
fi


# Each data-path thread beats at least every 200 ms when idle; /healthz fails (and /readyz with
# it) once one has been silent for 10 s. So after more than 10 s up both must still answer ok.
section "health: /healthz and /readyz after more than 10 s up"
for x in a b; do
    up=$(ps -o etimes= -p "$(head -n1 "$RUN_DIR/cluster-$x/gateway.pid" | tr -dc '0-9')" | tr -d ' ')
    ((${up:-0} > 10)) || sleep $((11 - ${up:-0}))
    address=$(metrics_address_of "$x")
    health=$(in_gw "$x" curl -sS --max-time 3 "http://$address/healthz" 2>&1)
    ready=$(in_gw "$x" curl -sS --max-time 3 "http://$address/readyz" 2>&1)
    if [[ $health == ok && $ready == ready && $(metric "$x" gateway_ready) == 1* ]]; then
        pass "cluster-$x (up ${up:-?} s): /healthz '$health', /readyz '$ready', gateway_ready 1"
    else
        fail "cluster-$x (up ${up:-?} s): /healthz '$health', /readyz '$ready', gateway_ready '$(metric "$x" gateway_ready)'"
    fi
done

# cluster-a's gateway address answers pings from cluster-b, but a TCP service on cluster-a's
# gateway node (here a listener in its namespace on 0.0.0.0) is not reachable through the tunnel;
# what the node itself opens to cluster-b (source: the gateway address) gets its replies.
section "the gateway's own address: pings, and replies to the node's own connections only"
node_port=7777
in_gw a python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8); s.settimeout(20)
try:
    while True:
        c, _ = s.accept(); c.sendall(b"node service\n"); c.close()
except OSError:
    pass
' "$node_port" &
listener=$!
sleep 0.3
before=0 after=0
drops_total before a not_for_gateway || true
answer=$(in_pod b python3 -c '
import socket, sys
try:
    print(socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).recv(64).decode().strip())
except OSError as e:
    print(f"refused: {e}")
' "$(gateway_ip_of a)" "$node_port")
kill "$listener" 2>/dev/null; wait "$listener" 2>/dev/null
drops_total after a not_for_gateway || true
if [[ $answer == "node service" ]]; then
    fail "cluster-b-pod1 reached a TCP service on cluster-a's gateway node through the tunnel"
elif ((after > before)); then
    pass "cluster-b-pod1 -> $(gateway_ip_of a):$node_port: $answer; not_for_gateway $before -> $after"
else
    fail "the connection failed ($answer) but cluster-a counted no not_for_gateway drop ($before -> $after): was it sent through the tunnel?"
fi
got=$(ping_received in_pod b ping -c 3 -i 0.2 -W 1 "$(gateway_ip_of a)")
if [[ $got -ge 1 ]]; then pass "cluster-b-pod1 pings $(gateway_ip_of a): $got of 3 answered"
else fail "cluster-b-pod1 gets no ping reply from $(gateway_ip_of a)"; fi
b_export=$(ingress_ip b "$(export_of b)")
answer=$(in_gw a curl -sS --max-time 3 "http://$b_export:$ECHO_PORT/" 2>&1)
if [[ $answer == "hello from cluster-b; you are $(gateway_ip_of a):"* ]]; then
    pass "cluster-a's gateway node -> cluster-b's export $b_export: $answer"
else
    fail "cluster-a's gateway node -> cluster-b's export $b_export: ${answer:-no answer}"
fi

finish
