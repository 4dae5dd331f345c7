# shellcheck shell=bash disable=SC2034 # a library: its variables are used by the files that source it
# The measurements of one implementation in one round. Each appends `round impl metric value`
# lines to $RESULTS. A test that fails is reported and leaves its metrics out of that round.

readonly IPERF_PORT=5201
readonly UDP_PAYLOAD=$((TUNNEL_MTU - 20 - 8))   # 1392: one datagram per tunnel packet, no fragments
readonly PING_INTERVAL=0.01
readonly SERVER_WAIT_SECONDS=5
readonly SETTLE_SECONDS=1                       # between tests, so one's tail is not the next's load
CLK_TCK=$(getconf CLK_TCK)
readonly CLK_TCK

record() { printf '%s\t%s\t%s\t%s\n' "$ROUND" "$IMPL" "$1" "$2" >>"$RESULTS"; }

# parsed KIND FILE PREFIX: records parse.py's metrics as PREFIX_metric; prints them too.
parsed() {
    local kind=$1 file=$2 prefix=$3 name value out
    out=$(python3 "$BENCH_DIR/lib/parse.py" "$kind" "$file") || return 1
    while IFS=$'\t' read -r name value; do
        record "${prefix}_$name" "$value"
    done <<<"$out"
    echo "$out"
}

value_of() { awk -v k="$1" '$1 == k { print $2 }' <<<"$2"; }

start_iperf_server() {
    local pid deadline=$((SECONDS + SERVER_WAIT_SECONDS))
    pid=$(start_daemon "iperf3-server" "$SERVER_NS" iperf3 -s -1 -p "$IPERF_PORT" ${SERVER_BIND:+-B "$SERVER_BIND"})
    until [[ -n $(in_ns "$SERVER_NS" ss -Hltn "sport = :$IPERF_PORT" 2>/dev/null) ]]; do
        alive "$pid" || die "iperf3 -s exited at start (log: $RUN_DIR/logs/iperf3-server.log)"
        ((SECONDS < deadline)) || die "iperf3 -s did not listen on $IPERF_PORT within ${SERVER_WAIT_SECONDS}s"
        sleep 0.05
    done
    echo "$pid"
}

measure_ping() {
    local file=$RUN_DIR/out/$ROUND-$IMPL-ping.txt out
    local bound=$((PINGS / 100 + 10)) # 200 pings at 10 ms take 2 s; the rest is headroom
    bounded in_ns "$CLIENT_NS" timeout -k 2 "$bound" ping -n -c "$PINGS" -i "$PING_INTERVAL" -W 1 "$TARGET" >"$file" 2>&1 || true
    if out=$(parsed ping "$file" ping); then
        note "ping   p50 $(value_of p50_ms "$out") ms  max $(value_of max_ms "$out") ms  loss $(value_of loss_pct "$out") %"
    else
        warn "$IMPL round $ROUND: ping failed (output: $file)"
    fi
}

# measure_iperf NAME KIND IPERF3_ARGS...: one iperf3 test of $SECONDS s with the tunnel
# processes' CPU time around it.
measure_iperf() {
    local name=$1 kind=$2
    shift 2
    local file=$RUN_DIR/out/$ROUND-$IMPL-$name.json server before after out gbit cpu
    server=$(start_iperf_server)
    before=$(cpu_ticks "${TUNNEL_PIDS[@]}")
    # iperf3 ends by itself after $SECONDS; timeout bounds it if the tunnel stalls.
    bounded in_ns "$CLIENT_NS" timeout -k 5 $((SECONDS_PER_TEST + 20)) \
        iperf3 -c "$TARGET" -p "$IPERF_PORT" -t "$SECONDS_PER_TEST" --connect-timeout 3000 -J "$@" \
        >"$file" 2>"$file.stderr" || true
    after=$(cpu_ticks "${TUNNEL_PIDS[@]}")
    stop_pid "$server" iperf3
    rm -f "$RUN_DIR/pids/iperf3-server.pid" "$RUN_DIR/pids/iperf3-server.what"
    if ! out=$(parsed "$kind" "$file" "$name"); then
        warn "$IMPL round $ROUND: $name failed (output: $file)"
        return 0
    fi
    gbit=$(value_of gbit "$out")
    local line
    line="$name $(printf "%7.3f" "$(value_of gbps "$out")") Gbit/s"
    [[ $kind == udp ]] && line+="  loss $(value_of loss_pct "$out") %  (sent $(value_of sent_gbps "$out") Gbit/s)"
    [[ $kind == tcp ]] && line+="  retransmits $(value_of retransmits "$out")"
    if ((${#TUNNEL_PIDS[@]})); then
        cpu=$(python3 -c "import sys; print(f'{($after - $before) / $CLK_TCK:.3f}')")
        record "${name}_cpu_s" "$cpu"
        if python3 -c "import sys; sys.exit(0 if $gbit > 0 else 1)"; then
            record "${name}_cpu_s_per_gbit" "$(python3 -c "print(f'{$cpu / $gbit:.6g}')")"
            line+="  tunnel CPU ${cpu} s"
        fi
    fi
    note "$line"
    sleep "$SETTLE_SECONDS"
}

# drop_counters: every place a datagram can be dropped on its way, one `place value` line
# each: each namespace's UDP receive-buffer drops (`NS/UdpRcvbufErrors`, which outlives the
# iperf3 server's socket) and each open UDP socket's (`NS/udp:PORT`), every link's
# tx/rx drops (a TUN's tx_dropped is its queue towards the tunnel process overflowing) and
# the kernel's per-CPU backlog drops.
drop_counters() {
    local ns
    # Per-CPU backlog drops (netdev_max_backlog full): not per namespace, second column, hex.
    python3 -c 'print("kernel/softnet_backlog_dropped", sum(int(l.split()[1], 16) for l in open("/proc/net/softnet_stat")))'
    for ns in $(bench_namespaces); do
        ip netns exec "$ns" nstat -az UdpRcvbufErrors 2>/dev/null \
            | awk -v ns="$ns" '$1 == "UdpRcvbufErrors" { print ns "/" $1, $2 }'
        # /proc/net/udp as seen from the namespace: local address hex ip:port, drops last.
        ip netns exec "$ns" cat /proc/net/udp 2>/dev/null | awk -v ns="$ns" '
            NR > 1 { split($2, local_address, ":"); drops[local_address[2]] += $NF }
            END { for (port in drops) printf "%s/udp:%d %d\n", ns, ("0x" port) + 0, drops[port] }' 2>/dev/null
        ip -n "$ns" -s -j link show 2>/dev/null | python3 -c '
import json, sys
for link in json.load(sys.stdin):
    stats = link.get("stats64", {})
    for way in ("rx", "tx"):
        name = link["ifname"]
        print(f"{sys.argv[1]}/{name}_{way}_dropped", stats.get(way, {}).get("dropped", 0))
' "$ns"
    done
}

# drops_between BEFORE AFTER: the counters that grew, largest first.
drops_between() {
    awk 'NR == FNR { before[$1] = $2; next } $2 - before[$1] > 0 { print $2 - before[$1], $1 }' \
        "$1" "$2" | sort -rn
}

measure_impl() {
    measure_ping
    sleep "$SETTLE_SECONDS"
    measure_iperf tcp1 tcp -P 1
    measure_iperf tcp4 tcp -P 4
    local before=$RUN_DIR/out/$ROUND-$IMPL-drops-before.txt after=$RUN_DIR/out/$ROUND-$IMPL-drops-after.txt
    drop_counters >"$before"
    measure_iperf udp udp -u -b "$UDP_RATE" -l "$UDP_PAYLOAD"
    drop_counters >"$after"
    local drops receiver_drops gbps
    drops=$(drops_between "$before" "$after")
    note "udp drops by place: $(head -n 4 <<<"$drops" | tr '\n' ' ')"
    # The tunnel handed the receiving iperf3's socket what it received plus what that
    # socket dropped: the tunnel's own delivered rate, apart from the receiver's CPU share.
    # iperf3's socket is gone by now: the namespace's count minus the tunnel socket's there.
    receiver_drops=$(awk -v all="$SERVER_NS/UdpRcvbufErrors" -v tunnel="$SERVER_NS/udp:$WG_PORT" '
        $2 == all { n += $1 } $2 == tunnel { n -= $1 } END { print n + 0 }' <<<"$drops")
    record udp_receiver_drops "${receiver_drops:-0}"
    gbps=$(awk -v r="$ROUND" -v i="$IMPL" '$1 == r && $2 == i && $3 == "udp_gbps" { v = $4 } END { print v }' "$RESULTS")
    [[ -n $gbps ]] && record udp_delivered_gbps \
        "$(python3 -c "print(f'{$gbps + ${receiver_drops:-0} * $UDP_PAYLOAD * 8 / $SECONDS_PER_TEST / 1e9:.6g}')")"
    return 0
}
