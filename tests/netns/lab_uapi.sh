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
    # shellcheck disable=SC2016 # $0 and $@ belong to the inner sh
    ip netns exec "cluster-$x-gw" unshare --mount sh -c \
        'mount --bind "$0" /var/run/wireguard && exec wg "$@"' "$RUN_DIR/cluster-$x" "$@"
}

for x in a b; do
    y=$(peer_of "$x")
    section "cluster-$x: wg show gw0"
    # Traffic first, so both transfer counters move.
    in_pod "$x" curl -sS --max-time 5 -o /dev/null "http://$(ingress_ip "$y" "$(export_of "$y")"):$ECHO_PORT/" || true
    out=$(wg_in "$x" show gw0 2>&1)
    while IFS= read -r line; do info "$line"; done <<<"$out"
    peer_key=$(tr -d '[:space:]' <"$RUN_DIR/cluster-$y/public.key")
    if [[ $out == *"peer: $peer_key"* ]]; then pass "cluster-$x: wg show lists cluster-$y's public key"
    else fail "cluster-$x: wg show does not list peer $peer_key"; fi
    if [[ $out == *"endpoint: $(underlay_ip_of "$y"):4500"* ]]; then pass "cluster-$x: endpoint $(underlay_ip_of "$y"):4500"
    else fail "cluster-$x: wg show has no endpoint $(underlay_ip_of "$y"):4500"; fi
    if [[ $out == *"allowed ips: $(block_of "$y")"* ]]; then pass "cluster-$x: allowed ips $(block_of "$y")"
    else fail "cluster-$x: wg show has no 'allowed ips: $(block_of "$y")'"; fi
    if [[ $out =~ latest\ handshake:\ ([0-9]+\ (second|minute)s?\ )+ago ]]; then pass "cluster-$x: ${BASH_REMATCH[0]}"
    else fail "cluster-$x: no recent 'latest handshake' in wg show"; fi
    if [[ $out =~ transfer:\ [0-9.]+\ [KMG]?i?B\ received,\ [0-9.]+\ [KMG]?i?B\ sent ]] && [[ $out != *"transfer: 0 B"* ]]; then
        pass "cluster-$x: ${BASH_REMATCH[0]}"
    else fail "cluster-$x: wg show transfer line missing or zero"; fi
    if [[ $out != *"private key"* ]]; then pass "cluster-$x: no private key handed out"
    else fail "cluster-$x: wg show printed a private key line"; fi

    out=$(wg_in "$x" set gw0 listen-port 5555 2>&1)
    if [[ $out == *"Operation not permitted"* ]]; then pass "cluster-$x: wg set refused: $out"
    else fail "cluster-$x: wg set was not refused: $out"; fi
    mode=$(stat -c %a "$RUN_DIR/cluster-$x/gw0.sock" 2>/dev/null)
    if [[ $mode == 600 ]]; then pass "cluster-$x: UAPI socket is owner-only ($mode)"
    else fail "cluster-$x: UAPI socket mode $mode, want 600"; fi
done

finish
