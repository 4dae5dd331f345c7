#!/usr/bin/env bash
# The stock `wg` against the lab's gateways through their read-only WireGuard UAPI socket:
# `wg show` lists the peer with its endpoint, allowed IPs, a recent handshake and transfer both
# ways; `wg set` is refused and changes nothing; the socket is owner-only; no private key is
# handed out. The lab puts each socket in its cluster's run directory (two gateways, one
# /var/run), so `wg` — which only looks in /var/run/wireguard — gets that directory bind-
# mounted there in a private mount namespace.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

[[ $EUID -eq 0 ]] || { echo "FAIL needs root (network namespaces)"; exit 1; }
require_lab full
command -v wg >/dev/null || { echo "FAIL wg (wireguard-tools) is not installed (scripts/setup)"; exit 1; }
mkdir -p /var/run/wireguard
underlay_ip_of() { [[ $1 == a ]] && echo 192.168.100.1 || echo 192.168.100.2; }
block_of() { [[ $1 == a ]] && echo 242.0.0.0/16 || echo 243.0.0.0/16; }

# wg_in X ARGS...: runs `wg ARGS` in cluster-X's gateway namespace, seeing its UAPI socket.
wg_in() {
    local x=$1
    shift
    ip netns exec "cluster-$x-gw" unshare --mount sh -c \
        'mount --bind "$0" /var/run/wireguard && exec wg "$@"' "$RUN_DIR/cluster-$x" "$@"
}

for x in a b; do
    y=$(peer_of "$x")
    section "cluster-$x: wg show gw0"
    # Traffic first, so both transfer counters move.
    in_pod "$x" curl -sS --max-time 5 -o /dev/null "http://$(ingress_ip "$y" "$(export_of "$y")"):$ECHO_PORT/" || true
    out=$(wg_in "$x" show gw0 2>&1)
    sed 's/^/    /' <<<"$out"
    peer_key=$(tr -d '[:space:]' <"$RUN_DIR/cluster-$y/public.key")
    [[ $out == *"peer: $peer_key"* ]] && pass "cluster-$x: wg show lists cluster-$y's public key" \
        || fail "cluster-$x: wg show does not list peer $peer_key"
    [[ $out == *"endpoint: $(underlay_ip_of "$y"):4500"* ]] && pass "cluster-$x: endpoint $(underlay_ip_of "$y"):4500" \
        || fail "cluster-$x: wg show has no endpoint $(underlay_ip_of "$y"):4500"
    [[ $out == *"allowed ips: $(block_of "$y")"* ]] && pass "cluster-$x: allowed ips $(block_of "$y")" \
        || fail "cluster-$x: wg show has no 'allowed ips: $(block_of "$y")'"
    if [[ $out =~ latest\ handshake:\ ([0-9]+\ (second|minute)s?\ )+ago ]]; then pass "cluster-$x: ${BASH_REMATCH[0]}"
    else fail "cluster-$x: no recent 'latest handshake' in wg show"; fi
    if [[ $out =~ transfer:\ [0-9.]+\ [KMG]?i?B\ received,\ [0-9.]+\ [KMG]?i?B\ sent ]] && [[ $out != *"transfer: 0 B"* ]]; then
        pass "cluster-$x: ${BASH_REMATCH[0]}"
    else fail "cluster-$x: wg show transfer line missing or zero"; fi
    [[ $out != *"private key"* ]] && pass "cluster-$x: no private key handed out" \
        || fail "cluster-$x: wg show printed a private key line"

    out=$(wg_in "$x" set gw0 listen-port 5555 2>&1)
    [[ $out == *"Operation not permitted"* ]] && pass "cluster-$x: wg set refused: $out" \
        || fail "cluster-$x: wg set was not refused: $out"
    mode=$(stat -c %a "$RUN_DIR/cluster-$x/gw0.sock" 2>/dev/null)
    [[ $mode == 600 ]] && pass "cluster-$x: UAPI socket is owner-only ($mode)" \
        || fail "cluster-$x: UAPI socket mode $mode, want 600"
done

finish
