# shellcheck shell=bash disable=SC2034 # a library: its variables are used by the files that source it
# The implementations. `impl_up NAME` builds the topology for NAME, starts its tunnel and waits
# until it carries a ping; it then sets:
#   CLIENT_NS    where iperf3 -c and ping run
#   SERVER_NS    where iperf3 -s runs
#   TARGET       the address the client aims at (through the tunnel)
#   SERVER_BIND  the address iperf3 -s binds to (empty: all)
#   TUNNEL_PIDS  the tunnel processes whose CPU time is counted (empty: the kernel's)
# `teardown_impl` (common.sh) undoes it.

readonly ALL_IMPLS=(veth wireguard-go boringtun boringtun-1t gotatun ours)
readonly TUNNEL_WAIT_SECONDS=15
readonly SOCKET_WAIT_SECONDS=10

# What each name runs, for the report and the availability check.
impl_binary() {
    case $1 in
        veth) command -v ip ;;
        wireguard-go) command -v wireguard-go || echo wireguard-go ;;
        boringtun | boringtun-1t) echo "$TOOLS_ROOT/bin/boringtun-cli" ;;
        gotatun) echo "$TOOLS_ROOT/bin/gotatun" ;; # the gotatun-cli crate installs `gotatun`
        ours) echo "$GATEWAY_BIN" ;;
        *) die "unknown implementation '$1' (known: ${ALL_IMPLS[*]})" ;;
    esac
}

impl_describe() {
    case $1 in
        veth) echo "plain veth, no tunnel (kernel)" ;;
        wireguard-go) echo "wireguard-go $(dpkg-query -W -f='${Version}' wireguard-go 2>/dev/null) (Debian)" ;;
        boringtun) echo "boringtun-cli $("$(impl_binary boringtun)" --version 2>/dev/null | awk '{print $2}'), default threads (4)" ;;
        boringtun-1t) echo "boringtun-cli $("$(impl_binary boringtun)" --version 2>/dev/null | awk '{print $2}'), --threads 1" ;;
        gotatun) echo "gotatun-cli $("$(impl_binary gotatun)" --version 2>/dev/null | awk '{print $NF}')" ;;
        ours) echo "our gateway ($GATEWAY_BIN, $(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo '?')), Globalnet SNAT+DNAT on every packet" ;;
    esac
}

impl_available() { [[ -x $(impl_binary "$1") ]]; }

impl_up() {
    CLIENT_NS=$NS_A SERVER_NS=$NS_B TARGET=$OVERLAY_B SERVER_BIND=
    TUNNEL_PIDS=()
    case $1 in
        veth) up_veth ;;
        wireguard-go) up_uapi_pair wireguard-go "$(impl_binary wireguard-go)" -f ;;
        boringtun) up_uapi_pair boringtun-cli "$(impl_binary boringtun)" \
            --foreground --disable-drop-privileges ;;
        boringtun-1t) up_uapi_pair boringtun-cli "$(impl_binary boringtun)" \
            --foreground --disable-drop-privileges --threads 1 ;;
        gotatun) up_uapi_pair gotatun "$(impl_binary gotatun)" \
            --foreground --disable-drop-privileges --verbosity error ;;
        ours) up_ours ;;
    esac
}

up_veth() {
    build_underlay
    TARGET=$UNDERLAY_B
    if [[ $PODS_FOR == all ]]; then
        add_pods_behind_routers
        ip -n "$NS_A" route add "$ROUTED_POD_NET_B.0/$ROUTED_POD_PREFIX" via "$UNDERLAY_B"
        ip -n "$NS_B" route add "$ROUTED_POD_NET_A.0/$ROUTED_POD_PREFIX" via "$UNDERLAY_A"
        wait_for_ping "$CLIENT_NS" "$TARGET" "$TUNNEL_WAIT_SECONDS" || die "veth: no ping pod to pod"
    fi
}

# add_pods_behind_routers: with --pods all, a pod behind each node of a routing implementation,
# and the client, server and target moved into them (so every implementation's packets take
# the same hops as ours': pod veth, the node's forwarding, the tunnel, and back).
add_pods_behind_routers() {
    add_routed_pod "$NS_A" "$NS_A_POD" "$ROUTED_POD_NET_A"
    add_routed_pod "$NS_B" "$NS_B_POD" "$ROUTED_POD_NET_B"
    CLIENT_NS=$NS_A_POD SERVER_NS=$NS_B_POD TARGET=$ROUTED_POD_NET_B.10
}

# routed_pod_subnet SIDE: the pod subnet behind side a or b.
routed_pod_subnet() {
    case $1 in
        a) echo "$ROUTED_POD_NET_A.0/$ROUTED_POD_PREFIX" ;;
        b) echo "$ROUTED_POD_NET_B.0/$ROUTED_POD_PREFIX" ;;
    esac
}

# up_uapi_pair LABEL CMD...: a userspace WireGuard that takes the interface name as its last
# argument and is configured through its UAPI socket with `wg` (wireguard-go's protocol).
# The interfaces are named gwb-wg-a / gwb-wg-b because /var/run/wireguard is not per namespace.
up_uapi_pair() {
    local label=$1
    shift
    build_underlay
    local side ns dev pid keys=$RUN_DIR/keys
    mkdir -p "$keys"
    for side in a b; do
        (umask 077 && wg genkey >"$keys/$side.key")
        wg pubkey <"$keys/$side.key" >"$keys/$side.pub"
    done
    for side in a b; do
        ns=gwb-$side dev=gwb-wg-$side
        pid=$(start_daemon "$label-$side" "$ns" "$@" "$dev")
        TUNNEL_PIDS+=("$pid")
        wait_for_socket "/var/run/wireguard/$dev.sock" "$pid" "$label-$side"
    done
    local allowed_a=$OVERLAY_A/32 allowed_b=$OVERLAY_B/32
    if [[ $PODS_FOR == all ]]; then
        allowed_a+=",$(routed_pod_subnet a)" allowed_b+=",$(routed_pod_subnet b)"
    fi
    in_ns "$NS_A" wg set gwb-wg-a private-key "$keys/a.key" listen-port "$WG_PORT" \
        peer "$(<"$keys/b.pub")" endpoint "$UNDERLAY_B:$WG_PORT" allowed-ips "$allowed_b"
    in_ns "$NS_B" wg set gwb-wg-b private-key "$keys/b.key" listen-port "$WG_PORT" \
        peer "$(<"$keys/a.pub")" endpoint "$UNDERLAY_A:$WG_PORT" allowed-ips "$allowed_a"
    address_tunnel "$NS_A" gwb-wg-a "$OVERLAY_A"
    address_tunnel "$NS_B" gwb-wg-b "$OVERLAY_B"
    wait_for_ping "$NS_A" "$OVERLAY_B" "$TUNNEL_WAIT_SECONDS" \
        || die "$label: no ping through the tunnel within ${TUNNEL_WAIT_SECONDS}s (logs: $RUN_DIR/logs/$label-*.log)"
    if [[ $PODS_FOR == all ]]; then
        add_pods_behind_routers
        ip -n "$NS_A" route add "$(routed_pod_subnet b)" dev gwb-wg-a
        ip -n "$NS_B" route add "$(routed_pod_subnet a)" dev gwb-wg-b
        wait_for_ping "$CLIENT_NS" "$TARGET" "$TUNNEL_WAIT_SECONDS" \
            || die "$label: no ping from $CLIENT_NS to $TARGET through the tunnel within ${TUNNEL_WAIT_SECONDS}s"
    fi
}

wait_for_socket() {
    local socket=$1 pid=$2 label=$3
    local deadline=$((SECONDS + SOCKET_WAIT_SECONDS))
    until [[ -S $socket ]]; do
        alive "$pid" || die "$label exited at start (log: $RUN_DIR/logs/$label.log: $(tail -n 3 "$RUN_DIR/logs/$label.log" 2>/dev/null | tr '\n' ' '))"
        ((SECONDS < deadline)) || die "$label made no UAPI socket $socket within ${SOCKET_WAIT_SECONDS}s"
        sleep 0.05
    done
}
