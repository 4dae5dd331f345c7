# shellcheck shell=bash disable=SC2034 # a library: its variables are used by the files that source it
# Our gateway, carrying real Globalnet traffic: the iperf3 server sits in gwb-b-pod behind
# gateway B, exported as shared/iperf at a global ingress IP of B's block; the client sits in
# gwb-a-pod behind gateway A. Every packet is SNATed (pod IP -> A's egress IP) and DNATed
# (B's ingress IP -> the ClusterIP -> the pod). The configuration is the minimum copied from
# deploy/lab/lab and deploy/lab/cluster-{a,b}.yaml, with this benchmark's names and underlay.

readonly EXPORT_NAME=shared/iperf
readonly STATE_WAIT_SECONDS=10

global_cidr_of() { [[ $1 == a ]] && echo 242.0.0.0/16 || echo 243.0.0.0/16; }
underlay_of()    { [[ $1 == a ]] && echo "$UNDERLAY_A" || echo "$UNDERLAY_B"; }
other_side()     { [[ $1 == a ]] && echo b || echo a; }

# render_gateway_config SIDE DIR PEER_PUBLIC_KEY
render_gateway_config() {
    local side=$1 dir=$2 peer_key=$3 other
    other=$(other_side "$side")
    cat >"$dir/gateway.yaml" <<YAML
cluster_id: gwb-cluster-$side
private_key_file: $dir/private.key
listen_port: $WG_PORT
state_dir: $dir/state
admin_socket: $dir/admin.sock
metrics_address: 127.0.0.1:9898   # inside the namespace
tunnel:
  name: gw0
  underlay_mtu: $LINK_MTU          # tunnel.mtu = $LINK_MTU - 80 = $TUNNEL_MTU
local:
  pod_cidrs: [10.244.0.0/16]
  service_cidrs: [10.96.0.0/16]
globalnet:
  global_cidr: $(global_cidr_of "$side")
  cluster_egress_ips: 8
  exports:
    - name: $EXPORT_NAME
      cluster_ip: $SERVICE_IP
peers:
  - name: gwb-cluster-$other
    public_key: "$peer_key"
    endpoint: $(underlay_of "$other"):$WG_PORT
    global_cidr: $(global_cidr_of "$other")
    persistent_keepalive: 10
YAML
}

# ipam.state lines: `ingress <namespace/name> <ip>`.
ingress_ip_of() {
    awk -v name="$EXPORT_NAME" '$1 == "ingress" && $2 == name { print $3; exit }' \
        "$RUN_DIR/ours-$1/state/ipam.state" 2>/dev/null || true
}

up_ours() {
    build_underlay
    add_pod "$NS_A" "$NS_A_POD"
    add_pod "$NS_B" "$NS_B_POD"
    local side dir pid
    for side in a b; do
        dir=$RUN_DIR/ours-$side
        mkdir -p "$dir/state" && chmod 0700 "$dir" "$dir/state"
        (umask 077 && "$GWCTL_BIN" genkey >"$dir/private.key")
        "$GWCTL_BIN" pubkey <"$dir/private.key" >"$dir/public.key"
    done
    for side in a b; do
        dir=$RUN_DIR/ours-$side
        render_gateway_config "$side" "$dir" "$(<"$RUN_DIR/ours-$(other_side "$side")/public.key")"
        pid=$(start_daemon "gateway-$side" "gwb-$side" "$GATEWAY_BIN" --config "$dir/gateway.yaml")
        TUNNEL_PIDS+=("$pid")
    done
    local deadline=$((SECONDS + STATE_WAIT_SECONDS))
    until [[ -n $(ingress_ip_of b) ]]; do
        for pid in "${TUNNEL_PIDS[@]}"; do
            alive "$pid" || die "a gateway exited at start (logs: $RUN_DIR/logs/gateway-{a,b}.log: $(tail -n 3 "$RUN_DIR"/logs/gateway-*.log | tr '\n' ' '))"
        done
        ((SECONDS < deadline)) || die "gateway B allocated no ingress IP for $EXPORT_NAME within ${STATE_WAIT_SECONDS}s ($RUN_DIR/ours-b/state/ipam.state)"
        sleep 0.1
    done
    CLIENT_NS=$NS_A_POD SERVER_NS=$NS_B_POD TARGET=$(ingress_ip_of b)
    # The ClusterIP sits on the pod's lo (our stand-in for kube-proxy, which would un-DNAT the
    # replies): a UDP server bound to 0.0.0.0 would answer from the pod IP, a different flow.
    SERVER_BIND=$SERVICE_IP
    wait_for_ping "$CLIENT_NS" "$TARGET" "$TUNNEL_WAIT_SECONDS" \
        || die "ours: $CLIENT_NS got no ping answer from B's ingress IP $TARGET within ${TUNNEL_WAIT_SECONDS}s (logs: $RUN_DIR/logs/gateway-{a,b}.log)"
}
