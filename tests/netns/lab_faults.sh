#!/usr/bin/env bash
# Faults against the running lab (issue 5, "faults"), each followed by a check that the lab is
# healthy again (the next script runs against it):
#   a. cluster-b's gateway killed with SIGKILL (no graceful stop) and started again with the
#      same key: cluster-a-pod1's requests to cluster-b's export resume within 5 s of the start;
#   b. 5% loss and reordering on the underlay, both directions (a userspace relay: this kernel
#      has no netem): 20 MiB each way arrive intact; the gateways drop nothing as replayed;
#   b2. both gateways roamed to the relay's ports, then the relay went (each now sends only to
#      a dead port): they come back by retrying the configured endpoints, within 40 s;
#   c. cluster-b comes back on another underlay address and port (192.168.100.12:4501) with
#      cluster-a's config unchanged: WireGuard roaming moves cluster-a's endpoint for it there
#      and traffic resumes; then back to 192.168.100.2:4500;
#   e. `gwctl reload` answers with the daemon's verdict: a restart-only change (cluster_id)
#      is reported as rejected (exit 1) and counted, a valid file as reloaded (exit 0).
#   d. cluster-a's state directory full (a tiny tmpfs), then read-only (a read-only bind
#      mount), each while a reload adds an export: forwarding goes on, the error is reported
#      (log, gateway_state_save_errors_total, gwctl diagnose), the previous ipam.state stays
#      byte for byte, and once the directory is writable again the gateway saves by itself;
#   f. a second gateway started on cluster-a's node with the same admin socket refuses to
#      start (the running one holds it), before it touches a device or a route, and the first
#      carries on.
# Prints PASS/FAIL lines; exits non-zero on any failure.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

readonly RESUME_LIMIT_SECONDS=5      # issue 5: traffic resumes within 5 s of the restart
readonly RESUME_WAIT_SECONDS=15      # how long to keep trying before giving up
readonly BULK_BYTES=$((20 * 1024 * 1024))
readonly BULK_TIMEOUT_SECONDS=120
readonly LOSS=0.05 IMMEDIATE=0.25 DELAY_MS=1 # netem's "loss 5% delay 1ms reorder 25%"
readonly RELAY_INNER_PORT=4599 RELAY_OUTER_PORT=4600
readonly RELAY_LIFETIME_SECONDS=300
readonly DEAD_ENDPOINT_WAIT_SECONDS=40 # 15 s of unanswered data, then retries every 5 s
readonly A_UNDERLAY=192.168.100.1 B_UNDERLAY=192.168.100.2 WG_PORT=4500
readonly B_MOVED_UNDERLAY=192.168.100.12 B_MOVED_PORT=4501
readonly STATE_RETRY_WAIT_SECONDS=10 # the gateway retries a failed save every 5 s
readonly EXTRA_EXPORT=shared/extra EXTRA_CLUSTER_IP=10.96.0.11

[[ $EUID -eq 0 ]] || { echo "FAIL needs root (network namespaces)"; exit 1; }
require_lab full
lab="$repo_root/deploy/lab/lab"
gwctl="${CARGO_TARGET_DIR:-$repo_root/target}/release/gwctl"
gateway_bin="${LAB_GATEWAY:-${CARGO_TARGET_DIR:-$repo_root/target}/release/gateway}" # as deploy/lab/lab
[[ -x $gwctl ]] || { echo "FAIL no gwctl at $gwctl (lab up builds it)"; exit 1; }

started=$SECONDS
work=$(mktemp -d /tmp/gwlab-faults.XXXXXX)
b_export=$(ingress_ip b "$(export_of b)")
cp "$RUN_DIR/cluster-a/gateway.yaml" "$work/cluster-a.yaml"

# --- helpers -------------------------------------------------------------------------------

# elapsed_since START: seconds since an $EPOCHREALTIME value, to a tenth.
elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
gateway_pid() { head -n1 "$RUN_DIR/cluster-$1/gateway.pid" 2>/dev/null | tr -dc '0-9'; }
gateway_running() { local pid; pid=$(gateway_pid "$1"); [[ -n $pid && -d /proc/$pid ]]; }
socket_of() { echo "$RUN_DIR/cluster-$1/admin.sock"; }
lab_cmd() { "$lab" "$@" 2>&1 | sed 's/^/     /'; return "${PIPESTATUS[0]}"; }

# request X: one HTTP request from cluster-X-pod1 to the other cluster's export; prints the
# answer or curl's error.
request() {
    local x=$1 y target
    y=$(peer_of "$x")
    target=$(ingress_ip "$y" "$(export_of "$y")")
    in_pod "$x" curl -sS --max-time "${2:-3}" "http://$target:$ECHO_PORT/" 2>&1
}

# wait_for_request X SINCE: retries request X (fresh connections, 0.5 s each) until it is
# answered; prints the seconds since SINCE ($EPOCHREALTIME). Fails after RESUME_WAIT_SECONDS.
wait_for_request() {
    local x=$1 since=$2 deadline=$((SECONDS + RESUME_WAIT_SECONDS))
    until request "$x" 0.5 | grep -q '^hello from'; do
        ((SECONDS < deadline)) || return 1
    done
    elapsed_since "$since"
}

# check_both_ways LABEL: requests both ways are answered.
check_both_ways() {
    local x answer
    for x in a b; do
        answer=$(request "$x")
        if [[ $answer == "hello from cluster-$(peer_of "$x");"* ]]; then
            pass "$1: cluster-$x-pod1 -> cluster-$(peer_of "$x")'s export: $answer"
        else
            fail "$1: cluster-$x-pod1 -> cluster-$(peer_of "$x")'s export: $answer"
        fi
    done
}

# peer_json X: cluster-X's gwctl peers -o json (gwctl exits non-zero while a peer is not
# connected; its JSON is still whole, and that is what the callers read).
peer_json() { "$gwctl" peers --socket "$(socket_of "$1")" -o json 2>/dev/null; }

# peer_endpoint X: the endpoint cluster-X's gateway uses for its one peer (gwctl peers -o json).
peer_endpoint() {
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0].get("endpoint") or "none")' \
        <<<"$(peer_json "$1")" 2>/dev/null
}

# peer_field X FIELD: a number from cluster-X's gwctl peers -o json for its one peer (0 if absent).
peer_field() {
    python3 -c 'import json, sys; print(int(json.load(sys.stdin)[0].get(sys.argv[1]) or 0))' "$2" \
        <<<"$(peer_json "$1")" 2>/dev/null || echo 0
}

# wait_for_endpoint X WANT: until cluster-X's endpoint for its peer is WANT (5 s at most).
wait_for_endpoint() {
    local deadline=$((SECONDS + 5))
    until [[ $(peer_endpoint "$1") == "$2" ]]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# in_gateway_mounts X CMD...: CMD in the mount namespace of cluster-X's gateway (`ip netns
# exec` gave it its own): a mount made there is seen by the gateway and nothing else.
in_gateway_mounts() { local x=$1; shift; nsenter --target "$(gateway_pid "$x")" --mount -- "$@"; }

# config_check X: "outcome|details" of the config check of `gwctl diagnose` on cluster-X.
config_check() {
    "$gwctl" diagnose --no-mtu-probe --socket "$(socket_of "$1")" -o json 2>/dev/null |
        python3 -c '
import json, sys
check = next(c for c in json.load(sys.stdin)["checks"] if c["id"] == "config")
print(str(check["outcome"]).lower() + "|" + " ; ".join(check.get("details", [])))'
}

# --- undo, whatever happened -----------------------------------------------------------------

relay_pid=""
b_moved=0
b_promote_secondaries=""
state_mounted=""
# divert_through_relay STATS: starts the relay (its counts go to STATS) and diverts the
# underlay through it; returns non-zero when nft refuses.
# cluster-a's datagrams for cluster-b go to the relay (DNAT); the relay forwards them from its
# own port, so cluster-b's replies come back through it too (roaming), and conntrack gives
# those the source cluster-b's address when the relay hands them to cluster-a's gateway.
# Until cluster-b has roamed to the relay, it still sends straight to cluster-a (a keepalive,
# a handshake). Such a datagram arriving first would open the conntrack entry in the other
# direction, and cluster-a's datagrams, as its replies, would bypass the DNAT: the relay once
# saw 1 datagram in a whole run. So those are dropped before conntrack (priority -300) sees
# them on the underlay (eth0); the relay's deliveries, already un-DNATed to cluster-b's
# address, arrive on lo and pass.
divert_through_relay() {
    local deadline=$((SECONDS + 5))
    : >"$work/relay.out" # not an earlier relay's "relaying"
    ip netns exec cluster-a-gw python3 "$here/underlay_impair.py" \
        --inner "$A_UNDERLAY:$RELAY_INNER_PORT" --outer "$A_UNDERLAY:$RELAY_OUTER_PORT" \
        --peer "$B_UNDERLAY:$WG_PORT" --loss "$LOSS" --immediate "$IMMEDIATE" --delay-ms "$DELAY_MS" \
        --seconds "$RELAY_LIFETIME_SECONDS" --stats "$1" >"$work/relay.out" 2>&1 &
    relay_pid=$!
    until grep -q relaying "$work/relay.out" 2>/dev/null || ((SECONDS >= deadline)); do sleep 0.1; done
    ip netns exec cluster-a-gw nft -f - <<EOF
table ip gwlab_impair {
    chain out {
        type nat hook output priority -100;
        ip daddr $B_UNDERLAY udp sport $WG_PORT udp dport $WG_PORT dnat to $A_UNDERLAY:$RELAY_INNER_PORT
    }
    chain post {
        type nat hook postrouting priority 100;
    }
    chain direct_in {
        type filter hook prerouting priority -300;
        iifname "eth0" ip saddr $B_UNDERLAY udp sport $WG_PORT udp dport $WG_PORT drop
    }
}
EOF
}

# remove_relay: the relay stopped first, then the diversion and its conntrack entries. In the
# other order the relay, for a moment, still forwards cluster-b's datagrams from its own port
# with no DNAT left to give them cluster-b's address: cluster-a roams to the relay's inner
# port, cluster-b stays on its outer port, both soon dead, and neither side ever sends to the
# other's real address again (CI saw it once; a request from cluster-b in that moment
# reproduces it every time). The entries would keep the DNAT for cluster-a's datagrams if
# anything tracked connections in that namespace later.
remove_relay() {
    if [[ -n $relay_pid ]]; then kill "$relay_pid" 2>/dev/null; wait "$relay_pid" 2>/dev/null; relay_pid=""; fi
    ip netns exec cluster-a-gw nft delete table ip gwlab_impair 2>/dev/null
    ip netns exec cluster-a-gw conntrack -D -p udp -s "$A_UNDERLAY" -d "$B_UNDERLAY" >/dev/null 2>&1
    ip netns exec cluster-a-gw conntrack -D -p udp -s "$B_UNDERLAY" -d "$A_UNDERLAY" >/dev/null 2>&1
    return 0
}
restore() {
    # b: the underlay relay
    remove_relay
    # c: cluster-b's old address, port and config
    if ((b_moved)); then
        gateway_running b && "$lab" stop-gateway b >/dev/null 2>&1
        ip -n cluster-b-gw addr del "$B_MOVED_UNDERLAY/24" dev eth0 2>/dev/null
        ip -n cluster-b-gw addr add "$B_UNDERLAY/24" dev eth0 2>/dev/null
        [[ -n $b_promote_secondaries ]] &&
            ip netns exec cluster-b-gw sysctl -qw "net.ipv4.conf.eth0.promote_secondaries=$b_promote_secondaries"
        b_moved=0
    fi
    # d: the state directory mount and cluster-a's config
    if [[ -n $state_mounted ]] && gateway_running a; then
        in_gateway_mounts a umount "$state_mounted" 2>/dev/null
    fi
    state_mounted=""
    if ! cmp -s "$work/cluster-a.yaml" "$RUN_DIR/cluster-a/gateway.yaml"; then
        cp "$work/cluster-a.yaml" "$RUN_DIR/cluster-a/gateway.yaml"
        "$gwctl" reload --socket "$(socket_of a)" >/dev/null 2>&1
    fi
    # a, c: a gateway left stopped
    for x in a b; do gateway_running "$x" || "$lab" start-gateway "$x" >/dev/null 2>&1; done
}
trap 'restore; rm -rf "$work"' EXIT

# --- a. SIGKILL and restart ------------------------------------------------------------------

section "a. cluster-b's gateway killed with SIGKILL, then started with the same key and config"
ipam_b_before=$(sha256sum "$(state_file b)" | cut -d' ' -f1)
answer=$(request a)
[[ $answer == "hello from cluster-b;"* ]] || fail "before: cluster-a-pod1 -> $b_export: $answer"
if lab_cmd stop-gateway --kill b; then
    if answer=$(request a 1); then
        fail "cluster-b's gateway is dead but cluster-a-pod1 still got an answer: $answer"
    else
        pass "with cluster-b's gateway killed, cluster-a-pod1's request fails: $answer"
    fi
    [[ -e $RUN_DIR/cluster-b/state/flows.state ]] && fail "SIGKILL left a flows.state: something saved flows"
    start=$EPOCHREALTIME
    if lab_cmd start-gateway b; then
        ready=$(elapsed_since "$start")
        if resumed=$(wait_for_request a "$start"); then
            if awk -v s="$resumed" -v max="$RESUME_LIMIT_SECONDS" 'BEGIN { exit !(s <= max) }'; then
                pass "traffic resumed ${resumed} s after the start (gateway ready after ${ready} s; limit ${RESUME_LIMIT_SECONDS} s): cluster-a-pod1 -> $b_export answered"
            else
                fail "traffic resumed only ${resumed} s after the start (limit ${RESUME_LIMIT_SECONDS} s)"
            fi
        else
            fail "cluster-a-pod1 -> $b_export still unanswered ${RESUME_WAIT_SECONDS} s after the start: $(request a 1)"
        fi
    else
        fail "deploy/lab/lab start-gateway b failed (output above)"
    fi
else
    fail "deploy/lab/lab stop-gateway --kill b failed (output above)"
fi
if [[ $(sha256sum "$(state_file b)" | cut -d' ' -f1) == "$ipam_b_before" ]]; then
    pass "cluster-b's ipam.state is unchanged: its global IPs survived the crash"
else
    fail "cluster-b's ipam.state changed across the crash and restart"
fi
check_both_ways "after the kill"
stale=0
drops_total stale b unknown_peer
info "cluster-b's unknown_peer drops since its start (cluster-a's packets on the killed gateway's session): $stale"

# --- b. loss and reordering --------------------------------------------------------------------

section "b. underlay: ${LOSS} loss, ${IMMEDIATE} of datagrams overtaking the others (held ${DELAY_MS} ms), both directions"
divert_through_relay "$work/relay.json" ||
    fail "nft: could not divert the underlay through the relay"
replay_reasons=(replay decrypt_failed malformed)
replay_label=$(IFS='|'; echo "${replay_reasons[*]}")
a_drops_before=0 b_drops_before=0 a_drops_after=0 b_drops_after=0
drops_total a_drops_before a "${replay_reasons[@]}"
drops_total b_drops_before b "${replay_reasons[@]}"
want=$(expected_bytes_sha256 "$BULK_BYTES")
transfer_started=$EPOCHREALTIME
summary=$(in_pod a curl -sS --max-time "$BULK_TIMEOUT_SECONDS" -o "$work/get" -w '%{size_download} %{time_total}' \
    "http://$b_export:$ECHO_PORT/bytes?n=$BULK_BYTES" 2>&1)
got=$(sha256sum "$work/get" 2>/dev/null | cut -d' ' -f1)
if [[ $got == "$want" ]]; then
    pass "GET /bytes?n=$BULK_BYTES from $b_export arrived intact through the lossy underlay (sha256 ${got:0:16}..., $(elapsed_since "$transfer_started") s)"
else
    fail "GET /bytes?n=$BULK_BYTES from $b_export: $summary, sha256 ${got:-none}, want $want"
fi
head -c "$BULK_BYTES" /dev/urandom >"$work/upload"
want=$(sha256sum "$work/upload" | cut -d' ' -f1)
transfer_started=$EPOCHREALTIME
# Expect: the server speaks HTTP/1.0 and never sends 100-continue.
got=$(in_pod a curl -sS --max-time "$BULK_TIMEOUT_SECONDS" -H 'Expect:' \
    -H 'Content-Type: application/octet-stream' --data-binary "@$work/upload" \
    "http://$b_export:$ECHO_PORT/sha256" 2>&1)
if [[ $got == "$want" ]]; then
    pass "POST /sha256 of $BULK_BYTES random bytes to $b_export arrived intact through the lossy underlay ($(elapsed_since "$transfer_started") s)"
else
    fail "POST /sha256 of $BULK_BYTES bytes to $b_export: server says '$got', want $want"
fi
check_both_ways "during the impairment, other traffic"
drops_total a_drops_after a "${replay_reasons[@]}"
drops_total b_drops_after b "${replay_reasons[@]}"
if ((a_drops_after == a_drops_before && b_drops_after == b_drops_before)); then
    pass "the gateways dropped no reordered datagram (gateway_packets_dropped_total{reason=~\"$replay_label\"} unchanged on both)"
else
    fail "reordered datagrams were dropped: cluster-a's $replay_label drops $a_drops_before -> $a_drops_after, cluster-b's $b_drops_before -> $b_drops_after"
fi
remove_relay
# out: cluster-a -> cluster-b, in: cluster-b -> cluster-a.
relay_report=$(python3 - "$work/relay.json" "$LOSS" "$IMMEDIATE" <<'EOF' 2>&1
import json, sys
stats, loss, immediate = json.load(open(sys.argv[1])), float(sys.argv[2]), float(sys.argv[3])
ok = True
for name, label in (("out", "cluster-a -> cluster-b"), ("in", "cluster-b -> cluster-a")):
    d = stats[name]
    n = max(d["received"], 1)
    dropped, overtaking = d["dropped"] / n, d["overtaking"] / n
    print(f"{label}: {d['received']} datagrams, {d['dropped']} dropped ({dropped:.1%}), "
          f"{d['overtaking']} overtook a held one ({overtaking:.1%})")
    # Enough datagrams for the shares to mean something, and shares near the asked ones.
    ok &= d["received"] >= 10000 and abs(dropped - loss) < loss / 2 and overtaking > immediate / 2
sys.exit(0 if ok else 1)
EOF
)
relay_status=$?
while read -r line; do info "relay: $line"; done <<<"$relay_report"
if ((relay_status == 0)); then
    pass "the relay carried both directions with the loss and reordering asked for (lines above)"
else
    fail "the relay's counts do not show the impairment asked for (${LOSS} loss, > $(awk -v i="$IMMEDIATE" 'BEGIN { print i / 2 }') overtaking, >= 10000 datagrams each way): $relay_report"
fi
if wait_for_request a "$EPOCHREALTIME" >/dev/null && wait_for_endpoint b "$A_UNDERLAY:$WG_PORT"; then
    pass "relay removed: cluster-b's endpoint for cluster-a is back at $A_UNDERLAY:$WG_PORT"
else
    fail "relay removed: cluster-b's endpoint for cluster-a is $(peer_endpoint b), want $A_UNDERLAY:$WG_PORT (cluster-a's for cluster-b: $(peer_endpoint a))"
fi
check_both_ways "after the impairment"

# --- b2. both ends roamed to dead addresses ------------------------------------------------------

section "b2. both gateways roamed to the relay's ports, then the relay went: back through the configured endpoints"
# The failure remove_relay avoids, made on purpose. Through the relay cluster-b roams to its
# outer port. Then the DNAT goes while the relay still forwards, so a request from cluster-b
# reaches cluster-a from the relay's inner port (nothing restores cluster-b's address), and
# cluster-a roams there; cluster-a's own datagrams straight to cluster-b are dropped meanwhile,
# or cluster-b would roam back first. Then the relay goes. Each side now sends only to a dead
# port of the relay. Standard WireGuard stays there for ever; ours retries the configured
# endpoint on every other unanswered initiation.
divert_through_relay "$work/relay-dead.json" ||
    fail "nft: could not divert the underlay through the relay"
check_both_ways "through the relay"
ip netns exec cluster-a-gw nft -f - <<EOF || fail "nft: could not swap the DNAT for a drop"
delete table ip gwlab_impair
table ip gwlab_impair {
    chain out {
        type filter hook output priority 0;
        ip daddr $B_UNDERLAY udp sport $WG_PORT udp dport $WG_PORT drop
    }
}
EOF
request b 2 >/dev/null
remove_relay
a_dead=$(peer_endpoint a) b_dead=$(peer_endpoint b)
retries_before=$(($(peer_field a configured_endpoint_retries) + $(peer_field b configured_endpoint_retries)))
if [[ $a_dead == "$A_UNDERLAY:$RELAY_INNER_PORT" && $b_dead == "$A_UNDERLAY:$RELAY_OUTER_PORT" ]]; then
    pass "provoked: cluster-a sends to $a_dead, cluster-b to $b_dead, both dead relay ports"
    # What the operator sees meanwhile: where it sends, and where the config says.
    shown=$("$gwctl" peers --socket "$(socket_of a)" 2>&1)
    if [[ $shown == *"$a_dead (config $B_UNDERLAY:$WG_PORT)"* ]]; then
        pass "gwctl peers on cluster-a shows '$a_dead (config $B_UNDERLAY:$WG_PORT)'"
    else
        fail "gwctl peers on cluster-a should show '$a_dead (config $B_UNDERLAY:$WG_PORT)': $shown"
    fi
    dead_started=$EPOCHREALTIME
    deadline=$((SECONDS + DEAD_ENDPOINT_WAIT_SECONDS))
    recovered=0
    # Both directions carry requests, as a real workload would: data that goes unanswered is
    # what makes WireGuard start the handshakes.
    while ((SECONDS < deadline)); do
        if request a 0.5 | grep -q '^hello from' && request b 0.5 | grep -q '^hello from'; then
            recovered=1
            break
        fi
    done
    if ((recovered)); then
        pass "requests both ways answered again $(elapsed_since "$dead_started") s later (limit ${DEAD_ENDPOINT_WAIT_SECONDS} s: ~15 s of unanswered data, then a retry every 5 s)"
    else
        fail "still no answer ${DEAD_ENDPOINT_WAIT_SECONDS} s after both ends roamed to dead ports: cluster-a's endpoint $(peer_endpoint a), cluster-b's $(peer_endpoint b)"
    fi
    if wait_for_endpoint a "$B_UNDERLAY:$WG_PORT" && wait_for_endpoint b "$A_UNDERLAY:$WG_PORT"; then
        pass "both endpoints back at the configured addresses ($B_UNDERLAY:$WG_PORT, $A_UNDERLAY:$WG_PORT)"
    else
        fail "endpoints after recovery: cluster-a's $(peer_endpoint a), cluster-b's $(peer_endpoint b)"
    fi
    retries_after=$(($(peer_field a configured_endpoint_retries) + $(peer_field b configured_endpoint_retries)))
    if ((retries_after > retries_before)); then
        pass "gwctl peers -o json: configured_endpoint_retries rose on the two gateways together ($retries_before -> $retries_after)"
    else
        fail "configured_endpoint_retries did not rise ($retries_before -> $retries_after)"
    fi
else
    fail "could not provoke the dead endpoints: cluster-a's is $a_dead, cluster-b's $b_dead (want $A_UNDERLAY:$RELAY_INNER_PORT and $A_UNDERLAY:$RELAY_OUTER_PORT)"
fi
check_both_ways "after the dead endpoints"

# --- c. endpoint change ------------------------------------------------------------------------

section "c. cluster-b comes back at $B_MOVED_UNDERLAY:$B_MOVED_PORT (cluster-a's config still says $B_UNDERLAY:$WG_PORT)"
moved_config="$RUN_DIR/cluster-b/gateway-moved.yaml"
sed "s/^listen_port: $WG_PORT\$/listen_port: $B_MOVED_PORT/" "$RUN_DIR/cluster-b/gateway.yaml" >"$moved_config"
grep -q "^listen_port: $B_MOVED_PORT\$" "$moved_config" || fail "could not set listen_port $B_MOVED_PORT in a copy of cluster-b's config"
if lab_cmd stop-gateway b; then
    b_moved=1
    b_promote_secondaries=$(ip netns exec cluster-b-gw sysctl -n net.ipv4.conf.eth0.promote_secondaries)
    # Keep the new address when the old (primary) one goes.
    ip netns exec cluster-b-gw sysctl -qw net.ipv4.conf.eth0.promote_secondaries=1
    ip -n cluster-b-gw addr add "$B_MOVED_UNDERLAY/24" dev eth0
    ip -n cluster-b-gw addr del "$B_UNDERLAY/24" dev eth0
    start=$EPOCHREALTIME
    if lab_cmd start-gateway --config "$moved_config" b; then
        if resumed=$(wait_for_request a "$start"); then
            pass "traffic resumed ${resumed} s after cluster-b's gateway started on $B_MOVED_UNDERLAY:$B_MOVED_PORT"
        else
            fail "cluster-a-pod1 -> $b_export unanswered ${RESUME_WAIT_SECONDS} s after cluster-b moved: $(request a 1)"
        fi
        if wait_for_endpoint a "$B_MOVED_UNDERLAY:$B_MOVED_PORT"; then
            pass "cluster-a's gwctl peers -o json shows cluster-b's new endpoint $B_MOVED_UNDERLAY:$B_MOVED_PORT (roamed; its config says $B_UNDERLAY:$WG_PORT)"
        else
            fail "cluster-a's endpoint for cluster-b is $(peer_endpoint a), want $B_MOVED_UNDERLAY:$B_MOVED_PORT"
        fi
        check_both_ways "cluster-b moved"
    else
        fail "deploy/lab/lab start-gateway --config $moved_config b failed (output above)"
    fi
    info "moving cluster-b back to $B_UNDERLAY:$WG_PORT with its own config"
    lab_cmd stop-gateway b
    ip -n cluster-b-gw addr del "$B_MOVED_UNDERLAY/24" dev eth0
    ip -n cluster-b-gw addr add "$B_UNDERLAY/24" dev eth0
    ip netns exec cluster-b-gw sysctl -qw "net.ipv4.conf.eth0.promote_secondaries=$b_promote_secondaries"
    b_moved=0
    start=$EPOCHREALTIME
    if lab_cmd start-gateway b && resumed=$(wait_for_request a "$start") &&
        wait_for_endpoint a "$B_UNDERLAY:$WG_PORT"; then
        pass "moved back: traffic resumed ${resumed} s after the start, cluster-a's endpoint is $B_UNDERLAY:$WG_PORT again"
    else
        fail "moved back: cluster-a's endpoint for cluster-b is $(peer_endpoint a); request: $(request a 1)"
    fi
else
    fail "deploy/lab/lab stop-gateway b failed (output above)"
fi
rm -f "$moved_config"

# --- d. full or read-only state directory ------------------------------------------------------

state_dir=$RUN_DIR/cluster-a/state
log_a=$RUN_DIR/cluster-a/gateway.log

# make_unwritable full|readonly: in cluster-a's gateway's mount namespace only.
make_unwritable() {
    case $1 in
        full)
            # A tmpfs of a few pages over the directory, the old file copied in, the rest
            # filled: the next write gets ENOSPC part-way.
            cp -p "$state_dir/ipam.state" "$work/ipam.copy"
            in_gateway_mounts a sh -c "mount -t tmpfs -o size=16k,mode=0700 gwlab-full '$state_dir' &&
                cp -p '$work/ipam.copy' '$state_dir/ipam.state' &&
                { dd if=/dev/zero of='$state_dir/filler' bs=1k 2>/dev/null; true; }"
            ;;
        readonly)
            in_gateway_mounts a sh -c "mount --bind '$state_dir' '$state_dir' &&
                mount -o remount,bind,ro '$state_dir'"
            ;;
    esac
}

section "e. gwctl reload waits for the daemon's verdict"
rejected_before=$(metric a 'gateway_config_reloads_total{result="rejected"}')
sed -i 's/^cluster_id: cluster-a$/cluster_id: cluster-renamed/' "$RUN_DIR/cluster-a/gateway.yaml"
answer=$("$gwctl" reload --socket "$(socket_of a)" 2>&1)
status=$?
if ((status == 1)) && [[ $answer == "reload rejected: cluster_id changed"*"restart"* ]]; then
    pass "a restart-only change: exit 1, '${answer%%$'\n'*}'"
else
    fail "a restart-only change should be rejected with exit 1; got exit $status: $answer"
fi
rejected_after=$(metric a 'gateway_config_reloads_total{result="rejected"}')
# The lab's config watch (every 2 s) may reject the same file once more on its own: at least +1.
if ((${rejected_after:-0} >= ${rejected_before:-0} + 1)); then
    pass "gateway_config_reloads_total{result=\"rejected\"} rose $rejected_before -> $rejected_after"
else
    fail "rejected reloads went '$rejected_before' -> '$rejected_after', want at least +1"
fi
cp "$work/cluster-a.yaml" "$RUN_DIR/cluster-a/gateway.yaml"
answer=$("$gwctl" reload --socket "$(socket_of a)" 2>&1)
status=$?
if ((status == 0)) && [[ $answer == "reloaded: peers: 1; exports: "* ]]; then
    pass "the original file: exit 0, '$answer'"
else
    fail "reloading the original file should succeed with exit 0; got exit $status: $answer"
fi
check_both_ways "forwarding continues after both reloads"

for variant in full readonly; do
    case $variant in
        full) what="full (a 16 KiB tmpfs over it, filled)" expected_error="No space left on device" ;;
        readonly) what="read-only (a read-only bind mount)" expected_error="Read-only file system" ;;
    esac
    section "d. cluster-a's state directory $what; a reload adds export $EXTRA_EXPORT"
    before_sha=$(sha256sum "$state_dir/ipam.state" | cut -d' ' -f1)
    errors_before=$(metric a gateway_state_save_errors_total)
    log_lines=$(wc -l <"$log_a")
    if ! make_unwritable "$variant"; then
        fail "could not make $state_dir $variant in cluster-a's gateway's mount namespace"
        continue
    fi
    state_mounted=$state_dir
    seen_sha=$(in_gateway_mounts a sha256sum "$state_dir/ipam.state" | cut -d' ' -f1)
    [[ $seen_sha == "$before_sha" ]] || fail "the gateway's view of ipam.state differs after mounting ($seen_sha, want $before_sha)"
    python3 - "$RUN_DIR/cluster-a/gateway.yaml" "$EXTRA_EXPORT" "$EXTRA_CLUSTER_IP" <<'EOF'
import sys
path, name, ip = sys.argv[1:]
text = open(path).read()
anchor = "  exports:\n"
assert anchor in text, "no exports section"
text = text.replace(anchor, f"{anchor}    - name: {name}\n      cluster_ip: {ip}\n", 1)
open(path, "w").write(text)
EOF
    "$gwctl" reload --socket "$(socket_of a)" >/dev/null 2>&1
    deadline=$((SECONDS + 5))
    until [[ $(metric a gateway_state_save_errors_total) -gt ${errors_before:-0} ]] || ((SECONDS >= deadline)); do sleep 0.2; done
    errors_after=$(metric a gateway_state_save_errors_total)
    if [[ -n $errors_after ]] && ((errors_after > ${errors_before:-0})); then
        pass "gateway_state_save_errors_total rose $errors_before -> $errors_after"
    else
        fail "gateway_state_save_errors_total did not rise: '${errors_before}' -> '${errors_after}'"
    fi
    logged=$(tail -n "+$((log_lines + 1))" "$log_a" | sed 's/\x1b\[[0-9;]*m//g' | grep -m1 "saving $state_dir/ipam.state")
    if [[ $logged == *"$expected_error"* ]]; then
        pass "logged: ${logged#*ERROR }"
    else
        fail "no log line 'saving $state_dir/ipam.state: $expected_error ...'; got: ${logged:-nothing}"
    fi
    got=$(config_check a)
    if [[ $got == "fail|"*"state save errors, last: saving $state_dir/ipam.state: $expected_error"* ]]; then
        pass "gwctl diagnose: config fails with: ${got#fail|}"
    else
        fail "gwctl diagnose's config check should fail naming '$expected_error'; got: $got"
    fi
    if "$gwctl" exports --socket "$(socket_of a)" -o dump 2>&1 | grep -q "^$EXTRA_EXPORT"$'\t'; then
        pass "the reload was applied all the same: gwctl exports lists $EXTRA_EXPORT"
    else
        fail "gwctl exports does not list $EXTRA_EXPORT after the reload"
    fi
    check_both_ways "forwarding continues"
    seen_sha=$(in_gateway_mounts a sha256sum "$state_dir/ipam.state" | cut -d' ' -f1)
    debris=$(in_gateway_mounts a ls -A "$state_dir" | grep -v -x -e ipam.state -e filler | paste -sd' ')
    if [[ $seen_sha == "$before_sha" && -z $debris ]]; then
        pass "ipam.state is byte-identical (sha256 ${before_sha:0:16}...) and no temporary file was left"
    else
        fail "ipam.state as the gateway sees it: sha256 $seen_sha (want $before_sha); other files: ${debris:-none}"
    fi

    in_gateway_mounts a umount "$state_dir" && state_mounted=""
    writable=$EPOCHREALTIME
    deadline=$((SECONDS + STATE_RETRY_WAIT_SECONDS))
    until grep -q "^ingress $EXTRA_EXPORT " "$state_dir/ipam.state" || ((SECONDS >= deadline)); do sleep 0.1; done
    if grep -q "^ingress $EXTRA_EXPORT " "$state_dir/ipam.state" && [[ $(config_check a) == pass* ]]; then
        pass "writable again: $(elapsed_since "$writable") s later the gateway had saved by itself ($(grep "^ingress $EXTRA_EXPORT " "$state_dir/ipam.state")); diagnose: $(config_check a)"
    else
        fail "writable again: no retry saved $EXTRA_EXPORT within ${STATE_RETRY_WAIT_SECONDS} s; diagnose: $(config_check a)"
    fi
    cp "$work/cluster-a.yaml" "$RUN_DIR/cluster-a/gateway.yaml"
    "$gwctl" reload --socket "$(socket_of a)" >/dev/null 2>&1
    deadline=$((SECONDS + 5))
    until [[ $(sha256sum "$state_dir/ipam.state" | cut -d' ' -f1) == "$before_sha" ]] || ((SECONDS >= deadline)); do sleep 0.2; done
    if [[ $(sha256sum "$state_dir/ipam.state" | cut -d' ' -f1) == "$before_sha" ]]; then
        pass "config restored and reloaded: ipam.state is back to the original bytes"
    else
        fail "after restoring the config, ipam.state differs from the original: $(tr '\n' ';' <"$state_dir/ipam.state")"
    fi
done

section "f. a second gateway started on cluster-a's node with the same admin socket"
# Its own TUN name, port, state and metrics address, so the admin socket is what collides.
python3 - "$work/cluster-a.yaml" "$work/second.yaml" "$work/second-state" <<'EOF'
import re, sys
source, target, state_dir = sys.argv[1:]
text = open(source).read()
for pattern, value in [(r"(?m)^listen_port: .*$", "listen_port: 4598"),
                       (r"(?m)^state_dir: .*$", f"state_dir: {state_dir}"),
                       (r"(?m)^uapi_socket: .*\n", ""),
                       (r"(?m)^metrics_address: .*$", "metrics_address: 127.0.0.1:9897"),
                       (r"(?m)^  name: gw0\b.*$", "  name: gw9")]:
    text, count = re.subn(pattern, value, text)
    assert count == 1, pattern
open(target, "w").write(text)
EOF
second_started=$EPOCHREALTIME
ip netns exec cluster-a-gw timeout -k 2 10 "$gateway_bin" --config "$work/second.yaml" \
    >"$work/second.log" 2>&1
status=$?
refusal=$(grep -o "admin socket: .*is in use" "$work/second.log" | head -n1)
if ((status != 0 && status != 124)) && [[ -n $refusal ]]; then
    pass "it refused to start within $(elapsed_since "$second_started") s (exit $status): $refusal"
else
    fail "a second gateway on the same admin socket: exit $status (want a refusal, not 0 or the 10 s timeout): $(tail -n 3 "$work/second.log" | tr '\n' ' ')"
fi
# It refused before creating its TUN device and routes: had it come up, its routes to cluster-b
# (replacing gw0's) would have gone with its device when it exited.
routes=$(ip -n cluster-a-gw route show 243.0.0.0/16 | tr '\n' ' ')
if grep -q "gateway up" "$work/second.log"; then
    fail "the refused gateway came up first (its log says 'gateway up'): $(tail -n 3 "$work/second.log" | tr '\n' ' ')"
elif [[ $routes == *"dev gw0"* ]]; then
    pass "it never came up (no 'gateway up' in its log) and cluster-b's block is still routed to gw0: $routes"
else
    fail "cluster-b's block is no longer routed to gw0 after the refused start: '${routes:-none}'"
fi
if [[ $(peer_endpoint a) == "$B_UNDERLAY:$WG_PORT" ]]; then
    pass "gwctl still reaches cluster-a's running gateway through its socket"
else
    fail "gwctl peers on cluster-a after the refused start: endpoint '$(peer_endpoint a)'"
fi
check_both_ways "forwarding continues beside the refused second gateway"

info "lab_faults.sh took $((SECONDS - started)) s"
finish
