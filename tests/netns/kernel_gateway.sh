#!/usr/bin/env bash
# A test double for the gateway, built the way Submariner builds one: the kernel's nftables
# NAT (SNAT to a global egress pool, DNAT of exported global IPs, MSS clamp) plus WireGuard
# (wireguard-go, as this machine has no kernel module). It lets the lab and its end-to-end
# checks be exercised without our gateway, and gives a baseline to compare it with:
#
#   LAB_GATEWAY=tests/netns/kernel_gateway.sh deploy/lab/lab up
#   tests/netns/lab_e2e.sh
#
# Same command line as the gateway (`--config FILE`), same TUN name, addresses, routes and
# ipam.state file; only understands the simple YAML of deploy/lab/cluster-*.yaml (one peer,
# ClusterIP exports). Drops are counted per reason in nft counters and served as
# gateway_packets_dropped_total{reason} on metrics_address. Runs in the foreground inside the gateway node's namespace; SIGTERM
# removes what it added. Needs nft (apt-get install nftables), wireguard-go and wg.
set -euo pipefail

[[ ${1:-} == --config && -r ${2:-} ]] || { echo "usage: $0 --config FILE" >&2; exit 2; }
config=$2
for tool in nft wireguard-go wg python3; do
    command -v "$tool" >/dev/null || { echo "kernel_gateway: $tool is not installed" >&2; exit 1; }
done

# Flatten the config into shell assignments (values are addresses, names and base64 keys).
eval "$(python3 - "$config" <<'EOF'
import ipaddress, re, shlex, sys

top, parent, current, item_indent = None, None, None, -1
lists, scalars = {}, {}
for raw in open(sys.argv[1]):
    line = re.sub(r"\s+#.*$", "", raw.rstrip("\n"))
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    indent = len(line) - len(line.lstrip())
    m = re.match(r"(- )?([A-Za-z_]+):\s*(.*)$", line.strip())
    if not m:
        continue
    dash, key, value = m.group(1), m.group(2), m.group(3).strip().strip('"')
    if indent == 0:
        top, parent, current = key, None, None
        if value:
            scalars[key] = value
    elif dash:
        current = lists.setdefault(top if top == "peers" else f"{top}.{parent}", [])
        current.append({key: value})
        item_indent = indent
    elif current is not None and indent > item_indent:
        current[-1][key] = value
    else:
        parent, current = key, None
        scalars[f"{top}.{key}"] = value

def emit(name, value):
    print(f"{name}={shlex.quote(str(value))}")

(peer,) = lists["peers"]
block = ipaddress.ip_network(scalars["globalnet.global_cidr"])
hosts = block.hosts()
gateway_ip = next(hosts)
pool = [str(next(hosts)) for _ in range(int(scalars.get("globalnet.cluster_egress_ips", "8")))]
exports = [f"{e['name']}={next(hosts)}={e['cluster_ip']}" for e in lists.get("globalnet.exports", [])]
local = ",".join(
    c.strip() for k in ("local.pod_cidrs", "local.service_cidrs")
    for c in scalars.get(k, "[]").strip("[]").split(",") if c.strip())
emit("KEY_FILE", scalars["private_key_file"])
emit("LISTEN_PORT", scalars.get("listen_port", "4500"))
emit("STATE_DIR", scalars.get("state_dir", "/var/lib/gateway"))
emit("TUN", scalars.get("tunnel.name", "gw0"))
emit("TUN_MTU", scalars.get("tunnel.mtu", "1420"))
emit("GLOBAL_CIDR", block)
emit("GATEWAY_IP", gateway_ip)
emit("POOL", " ".join(pool))
emit("EXPORTS", " ".join(exports))
emit("LOCAL_CIDRS", local)
emit("PEER_KEY", peer["public_key"])
emit("PEER_ENDPOINT", peer.get("endpoint", ""))
emit("PEER_CIDR", peer["global_cidr"])
emit("PEER_KEEPALIVE", peer.get("persistent_keepalive", "0"))
emit("METRICS_ADDRESS", scalars.get("metrics_address", "0.0.0.0:9898"))
EOF
)"

readonly TABLE=gwlab_kernel_gateway
readonly REASONS=(no_route not_local_source not_exported not_ours no_flow)
wg_pid=""
metrics_pid=""
cleanup() {
    trap - EXIT INT TERM
    [[ -n $metrics_pid ]] && kill "$metrics_pid" 2>/dev/null
    nft delete table ip "$TABLE" 2>/dev/null || true
    [[ -n $wg_pid ]] && kill "$wg_pid" 2>/dev/null && wait "$wg_pid" 2>/dev/null
    echo "kernel_gateway: stopped" >&2
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# wireguard-go's control socket path is fixed (/run/wireguard/<dev>.sock) and both lab
# gateways name their device gw0: give this process (already in its own mount namespace,
# courtesy of `ip netns exec`) a private /run/wireguard.
mkdir -p /run/wireguard
mount -t tmpfs -o mode=0700 gwlab-wireguard /run/wireguard

WG_PROCESS_FOREGROUND=1 wireguard-go -f "$TUN" &
wg_pid=$!
for _ in $(seq 50); do ip link show "$TUN" >/dev/null 2>&1 && break; sleep 0.1; done
ip link show "$TUN" >/dev/null 2>&1 || { echo "kernel_gateway: wireguard-go made no $TUN" >&2; exit 1; }
peer_args=(peer "$PEER_KEY" allowed-ips "$PEER_CIDR" persistent-keepalive "$PEER_KEEPALIVE")
[[ -n $PEER_ENDPOINT ]] && peer_args+=(endpoint "$PEER_ENDPOINT")
wg set "$TUN" private-key "$KEY_FILE" listen-port "$LISTEN_PORT" "${peer_args[@]}"
ip addr add "$GATEWAY_IP/32" dev "$TUN"
ip link set "$TUN" mtu "$TUN_MTU" up
ip route add "$PEER_CIDR" dev "$TUN"
# The rest of our block answers nothing: exported IPs are DNATed before routing.
ip route add blackhole "$GLOBAL_CIDR"

read -r first_pool _ <<<"$POOL"
last_pool=${POOL##* }
dnat_rules=""
for export in $EXPORTS; do
    IFS='=' read -r _name global cluster_ip <<<"$export"
    dnat_rules+="iifname \"$TUN\" ip daddr $global dnat to $cluster_ip"$'\n'
done
pool_set=${POOL// /, }
nft -f - <<EOF
table ip $TABLE {
$(for reason in "${REASONS[@]}"; do echo "    counter $reason {}"; done)
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        $dnat_rules
    }
    # After DNAT and the un-SNAT of replies: what still targets our block is not for anyone.
    chain inbound {
        type filter hook prerouting priority filter; policy accept;
        iifname "$TUN" ip daddr $GLOBAL_CIDR ip daddr != $GATEWAY_IP ip daddr { $pool_set } counter name no_flow drop
        iifname "$TUN" ip daddr $GLOBAL_CIDR ip daddr != $GATEWAY_IP counter name not_exported drop
        iifname "$TUN" ct state new ct original ip daddr != $GLOBAL_CIDR counter name not_ours drop
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "$TUN" ip saddr { $LOCAL_CIDRS } snat to $first_pool-$last_pool
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        oifname "$TUN" ip daddr != $PEER_CIDR counter name no_route drop
        oifname "$TUN" ip saddr != { $LOCAL_CIDRS } counter name not_local_source drop
        oifname "$TUN" tcp flags syn tcp option maxseg size set rt mtu
    }
    chain output {
        type filter hook output priority filter; policy accept;
        oifname "$TUN" ip daddr != $PEER_CIDR counter name no_route drop
    }
}
EOF

# /metrics: the nft counters under the gateway's metric name.
python3 - "$METRICS_ADDRESS" "$TABLE" <<'EOF' &
import http.server, json, subprocess, sys
host, port = sys.argv[1].rsplit(":", 1)
table = sys.argv[2]

class Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        listing = subprocess.run(["nft", "-j", "list", "counters", "table", "ip", table],
                                 capture_output=True, text=True, check=False).stdout
        lines = ["# TYPE gateway_packets_dropped_total counter"]
        for item in json.loads(listing or '{"nftables": []}')["nftables"]:
            if "counter" in item:
                c = item["counter"]
                lines.append(f'gateway_packets_dropped_total{{reason="{c["name"]}"}} {c["packets"]}')
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer((host, int(port)), Metrics).serve_forever()
EOF
metrics_pid=$!

mkdir -p "$STATE_DIR"
{
    for ip in $POOL; do echo "pool $ip"; done
    for export in $EXPORTS; do
        IFS='=' read -r name global _cluster_ip <<<"$export"
        echo "ingress $name $global"
    done
} >"$STATE_DIR/ipam.state.tmp"
mv "$STATE_DIR/ipam.state.tmp" "$STATE_DIR/ipam.state"
echo "kernel_gateway: up: $TUN $GATEWAY_IP, pool $POOL, exports $EXPORTS, peer $PEER_CIDR" >&2

wait "$wg_pid"
