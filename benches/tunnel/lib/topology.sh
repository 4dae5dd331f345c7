# shellcheck shell=bash disable=SC2034 # a library: its variables are used by the files that source it
# The namespaces: two "gateway nodes" gwb-a and gwb-b joined by a veth underlay; for our
# gateway also a pod namespace behind each (gwb-a-pod, gwb-b-pod), as in deploy/lab/lab.

readonly NS_A=gwb-a NS_B=gwb-b
readonly NS_A_POD=gwb-a-pod NS_B_POD=gwb-b-pod
readonly UNDERLAY_A=192.168.250.1 UNDERLAY_B=192.168.250.2 UNDERLAY_PREFIX=24
readonly LINK_MTU=1500
readonly TUNNEL_MTU=1420        # 1500 - 80 (IPv6 outer 40 + UDP 8 + WireGuard 32), as wg's default
readonly WG_PORT=4500
# Overlay addresses of the plain WireGuard implementations' tunnel interfaces.
readonly OVERLAY_A=10.250.0.1 OVERLAY_B=10.250.0.2 OVERLAY_PREFIX=24
# Pods behind ours: the same Pod CIDR on both sides, as in the lab: Globalnet tells them apart.
readonly POD_IP=10.244.1.10 POD_GW_IP=10.244.0.1 POD_PREFIX=16
readonly SERVICE_IP=10.96.0.10  # the ClusterIP of the exported service, on B's pod
# Pods behind the routing implementations (--pods all): distinct subnets, routed untranslated
# through the tunnel (the WireGuard peer's allowed-ips) or, for veth, the underlay.
readonly ROUTED_POD_NET_A=10.251.1 ROUTED_POD_NET_B=10.252.1 ROUTED_POD_PREFIX=24

new_namespace() {
    local ns=$1
    ip netns add "$ns"
    # IPv4 only, like the product: keep IPv6 autoconf chatter off the links.
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
}

# gwb-a and gwb-b, joined by eth0 <-> eth0.
build_underlay() {
    new_namespace "$NS_A"
    new_namespace "$NS_B"
    ip link add eth0 netns "$NS_A" type veth peer name eth0 netns "$NS_B"
    ip -n "$NS_A" addr add "$UNDERLAY_A/$UNDERLAY_PREFIX" dev eth0
    ip -n "$NS_B" addr add "$UNDERLAY_B/$UNDERLAY_PREFIX" dev eth0
    ip -n "$NS_A" link set eth0 mtu "$LINK_MTU" up
    ip -n "$NS_B" link set eth0 mtu "$LINK_MTU" up
}

# add_pod GW_NS POD_NS: a pod namespace behind a gateway node, with the service IP on its lo
# and the gateway node routing that ClusterIP to it (a stand-in for kube-proxy).
add_pod() {
    local gw=$1 pod=$2
    new_namespace "$pod"
    in_ns "$gw" sysctl -qw net.ipv4.ip_forward=1
    ip link add veth-pod netns "$gw" type veth peer name eth0 netns "$pod"
    ip -n "$gw" addr add "$POD_GW_IP/$POD_PREFIX" dev veth-pod
    ip -n "$gw" link set veth-pod mtu "$LINK_MTU" up
    ip -n "$gw" route add "$SERVICE_IP/32" via "$POD_IP" dev veth-pod
    ip -n "$pod" addr add "$POD_IP/$POD_PREFIX" dev eth0
    ip -n "$pod" link set eth0 mtu "$LINK_MTU" up
    ip -n "$pod" route add default via "$POD_GW_IP"
    ip -n "$pod" addr add "$SERVICE_IP/32" dev lo
}

# add_routed_pod GW_NS POD_NS NET: a pod at NET.10/24 behind a gateway node at NET.1, for the
# implementations that route: the same hops as ours' pods (pod veth, forwarding on the node).
add_routed_pod() {
    local gw=$1 pod=$2 net=$3
    new_namespace "$pod"
    in_ns "$gw" sysctl -qw net.ipv4.ip_forward=1
    ip link add veth-pod netns "$gw" type veth peer name eth0 netns "$pod"
    ip -n "$gw" addr add "$net.1/$ROUTED_POD_PREFIX" dev veth-pod
    ip -n "$gw" link set veth-pod mtu "$LINK_MTU" up
    ip -n "$pod" addr add "$net.10/$ROUTED_POD_PREFIX" dev eth0
    ip -n "$pod" link set eth0 mtu "$LINK_MTU" up
    ip -n "$pod" route add default via "$net.1"
}

# address_tunnel NS DEV ADDR: overlay address and MTU on a WireGuard interface, then up.
address_tunnel() {
    local ns=$1 dev=$2 addr=$3
    ip -n "$ns" addr add "$addr/$OVERLAY_PREFIX" dev "$dev"
    ip -n "$ns" link set "$dev" mtu "$TUNNEL_MTU" up
}

# wait_for_ping NS ADDR SECONDS: until ADDR answers from NS (the tunnel is up).
wait_for_ping() {
    local ns=$1 addr=$2 seconds=$3
    local deadline=$((SECONDS + seconds))
    until in_ns "$ns" ping -c 1 -W 1 -q "$addr" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
