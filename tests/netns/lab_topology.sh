#!/usr/bin/env bash
# Checks the lab's topology inside each cluster; needs no gateway, so it also runs against
# `deploy/lab/lab up --no-gateway`. Prints PASS/FAIL lines; exits non-zero on any failure.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

[[ $EUID -eq 0 ]] || { echo "FAIL needs root (network namespaces)"; exit 1; }
require_lab topology

for x in a b; do
    section "cluster-$x topology"
    gw=cluster-$x-gw
    pod=cluster-$x-pod1

    got=$(ping_received in_pod "$x" ping -c 2 -i 0.2 -W 1 "$POD_GW_IP")
    if [[ $got == 2 ]]; then pass "cluster-$x: pod1 pings its gateway $POD_GW_IP"
    else fail "cluster-$x: pod1 pings its gateway $POD_GW_IP (got $got of 2 replies)"; fi

    answer=$(in_pod "$x" curl -sS --max-time 3 "http://127.0.0.1:$ECHO_PORT/" 2>&1)
    if [[ $answer == "hello from cluster-$x; you are 127.0.0.1:"* ]]; then
        pass "cluster-$x: echo server answers in its own namespace: $answer"
    else fail "cluster-$x: echo server answers in its own namespace (got: $answer)"; fi

    answer=$(in_gw "$x" curl -sS --max-time 3 "http://$SERVICE_IP:$ECHO_PORT/" 2>&1)
    if [[ $answer == "hello from cluster-$x; you are $POD_GW_IP:"* ]]; then
        pass "cluster-$x: the gateway node reaches ClusterIP $SERVICE_IP:$ECHO_PORT (tcp): $answer"
    else fail "cluster-$x: the gateway node reaches ClusterIP $SERVICE_IP:$ECHO_PORT over tcp (got: $answer)"; fi

    # The reply must come from the service address, or a NAT flow keyed on it would not match.
    answer=$(udp_echo "$gw" "$SERVICE_IP" "$ECHO_PORT" "topology-$x" 2>&1)
    if [[ $answer == "$SERVICE_IP:$ECHO_PORT cluster-$x saw $POD_GW_IP:"*": topology-$x" ]]; then
        pass "cluster-$x: ClusterIP $SERVICE_IP:$ECHO_PORT echoes udp from its own address: $answer"
    else fail "cluster-$x: ClusterIP $SERVICE_IP:$ECHO_PORT echoes udp from $SERVICE_IP:$ECHO_PORT (got: $answer)"; fi

    for pair in "$gw eth0" "$gw veth-pod1" "$pod eth0"; do
        read -r ns dev <<<"$pair"
        mtu=$(mtu_of "$ns" "$dev")
        if [[ $mtu == "$LINK_MTU" ]]; then pass "cluster-$x: $ns $dev MTU $mtu"
        else fail "cluster-$x: $ns $dev MTU is '$mtu', want $LINK_MTU"; fi
    done

    forwarding=$(in_gw "$x" sysctl -n net.ipv4.ip_forward)
    if [[ $forwarding == 1 ]]; then pass "cluster-$x: gateway node forwards IPv4"
    else fail "cluster-$x: gateway node net.ipv4.ip_forward is '$forwarding', want 1"; fi
done

section "underlay"
got=$(ping_received in_gw a ping -c 2 -i 0.2 -W 1 192.168.100.2)
if [[ $got == 2 ]]; then pass "underlay: cluster-a-gw pings cluster-b-gw at 192.168.100.2"
else fail "underlay: cluster-a-gw pings cluster-b-gw at 192.168.100.2 (got $got of 2 replies)"; fi

finish
