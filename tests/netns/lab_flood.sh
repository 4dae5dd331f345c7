#!/usr/bin/env bash
# Handshake flood against the running lab (issue 5, "abuse"): benches' handshake_flood sends
# cluster-b's gateway >= 100,000 WireGuard handshake initiations per second for 10 s, from an
# extra address on cluster-a's underlay (192.168.100.50). Each initiation has a valid mac1 for
# cluster-b's key, from a key no peer has. Checks:
#   - a 1 s burst first: the generator gets cookie replies back, and no handshake response;
#   - the generator's own count: at least 100,000 per second for 10 s;
#   - the cookie mechanism engages: nearly all of them are counted under
#     gateway_packets_dropped_total{reason="under_load"} (answered with a cookie reply) or, when
#     the gateway's handshake thread falls behind, {reason="handshake_queue_full"} (shed unread),
#     most as under_load; at most the rate limit's worth (100/s) get the Diffie-Hellman that
#     finds their key unknown (unknown_peer / handshake_rejected);
#   - the gateway's CPU stays bounded: during the first 2 s (the flood alone) at most 20 us per
#     initiation (a responder handshake, which the rate limit spares it, is ~220 us) and at most
#     one of the machine's two cores (its CPU seconds from /proc/PID/stat, printed);
#   - receive moderation engages: udp-rx naps (gateway_udp_rx_moderation_naps_total) at least
#     1,000 times a second during the flood alone, instead of waking for every few initiations;
#   - every data-path thread of cluster-b's gateway keeps turning: the flood does not raise its
#     longest gap between two loop turns (gateway_thread_longest_turn_gap_seconds) above 2 s,
#     far from the 10 s at which /healthz fails and the kubelet would restart it;
#   - the established tunnel keeps at least half its throughput: iperf3 --bidir between
#     cluster-a-pod1 and cluster-b's export, each direction, before, during and after the flood
#     (the baseline is the mean of before and after).
# During the 10 s the flood's source is spoofed, as a real flood's would be: cluster-b's
# neighbour entry for it names a MAC no one has, so its cookie replies leave cluster-b and are
# dropped by the next hop instead of landing in the generator — which shares this machine's
# two CPUs with both gateways, and would otherwise spend them receiving 100k replies a second.
# Prints PASS/FAIL lines; exits non-zero on any failure.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

readonly FLOOD_RATE=110000            # asked; the check is on what was achieved
readonly MIN_FLOOD_RATE=100000        # issue 5: >= 100k/s
readonly FLOOD_SECONDS=10
readonly FLOOD_POOL=2048
readonly FLOOD_NICE=-10               # see flood()
readonly FLOOD_SOURCE=192.168.100.50  # an attacker's address on the underlay
readonly NOBODYS_MAC=02:00:00:00:00:50 # where cluster-b sends replies to the spoofed source
readonly BURST_SECONDS=1              # the first burst, whose replies do come back
readonly TARGET=192.168.100.2:4500
readonly HANDSHAKES_PER_SECOND=100    # the gateway's rate limit (TunnelLimits::default)
readonly MIN_THROUGHPUT_RATIO=0.5     # issue 5: at least half the throughput during the flood
readonly MAX_FLOOD_CPU_CORES=1.0      # at most one of this machine's two cores for the flood
readonly MAX_US_PER_INITIATION=20     # < 10% of a responder handshake (~220 us, with its DHs)
readonly FLOOD_ALONE_SECONDS=2        # the flood without iperf3, for the CPU figures
readonly MAX_TURN_GAP_SECONDS=2       # a fifth of the 10 s after which /healthz fails
readonly MIN_NAPS_PER_SECOND=1000     # udp-rx's receive moderation engages (see below)
readonly IPERF_PORT=5201
readonly MEASURE_SECONDS=6
readonly SETTLE_SECONDS=0.5

[[ $EUID -eq 0 ]] || { echo "FAIL needs root (network namespaces)"; exit 1; }
require_lab full
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
flooder="$target_dir/release/handshake_flood"
b_export=$(ingress_ip b "$(export_of b)")
started=$SECONDS
work=$(mktemp -d /tmp/gwlab-flood.XXXXXX)
flood_pid=""
cleanup() {
    [[ -n $flood_pid ]] && kill "$flood_pid" 2>/dev/null
    wait 2>/dev/null
    ip -n cluster-a-gw addr del "$FLOOD_SOURCE/24" dev eth0 2>/dev/null
    ip -n cluster-b-gw neigh del "$FLOOD_SOURCE" dev eth0 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

section "build: cargo build --release -p benches --bin handshake_flood"
if (cd "$repo_root" && cargo build --release --quiet -p benches --bin handshake_flood) >"$work/build.out" 2>&1; then
    pass "built $flooder"
else
    fail "cargo build --release -p benches --bin handshake_flood: $(tail -n 20 "$work/build.out" | tr '\n' ' ')"
    finish
    exit 1
fi

# --- measuring -----------------------------------------------------------------------------------

gateway_pid=$(head -n1 "$RUN_DIR/cluster-b/gateway.pid" | tr -dc '0-9')
ticks_per_second=$(getconf CLK_TCK)
# cpu_ticks: cluster-b's gateway's user + system CPU time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$gateway_pid/stat"; }
seconds_of_ticks() { awk -v t="$1" -v hz="$ticks_per_second" 'BEGIN { printf "%.2f", t / hz }'; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
# udp_stat NAME: a counter of the Udp: lines of /proc/net/snmp in cluster-b-gw.
# shellcheck disable=SC2016 # awk fields, not shell expansions
udp_stat() {
    in_gw b awk -v name="$1" '$1 == "Udp:" && !header { for (i = 2; i <= NF; i++) col[$i] = i; header = 1; next }
        $1 == "Udp:" { print $col[name]; exit }' /proc/net/snmp
}

# throughput: "UP DOWN", the Gbit/s of one MEASURE_SECONDS iperf3 --bidir run between
# cluster-a-pod1 and cluster-b's export (UP: pod -> export), as each receiver counted them;
# "error: ..." if it failed. Both directions at once, over one longer window: steadier figures
# on a small machine than two short runs. A one-off server per run: a run cut short cannot
# leave the next one a busy server.
throughput() {
    local server deadline=$((SECONDS + 5))
    in_pod b timeout $((MEASURE_SECONDS + 15)) iperf3 -s -1 -p "$IPERF_PORT" >/dev/null 2>&1 &
    server=$!
    until in_pod b ss -ltn "sport = :$IPERF_PORT" | grep -q LISTEN || ((SECONDS >= deadline)); do sleep 0.05; done
    in_pod a iperf3 -c "$b_export" -p "$IPERF_PORT" -t "$MEASURE_SECONDS" --bidir -J 2>&1 |
        python3 -c '
import json, sys
try:
    end = json.load(sys.stdin)["end"]
    print("%.3f %.3f" % (end["sum_received"]["bits_per_second"] / 1e9,
                         end["sum_received_bidir_reverse"]["bits_per_second"] / 1e9))
except Exception as err:
    print(f"error: {err}")'
    wait "$server" 2>/dev/null
}
# mean A B: the mean of two measurements, or the error if either failed.
mean() {
    if [[ $1 == error* || $2 == error* ]]; then echo "error: ${1} / ${2}"
    else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (a + b) / 2 }'; fi
}
# up_of / down_of "UP DOWN": one of the two figures (or the error).
up_of() { [[ $1 == error* ]] && echo "$1" || echo "${1% *}"; }
down_of() { [[ $1 == error* ]] && echo "$1" || echo "${1#* }"; }

section "without the flood: iperf3 --bidir cluster-a-pod1 <-> $b_export, $MEASURE_SECONDS s"
cpu_before=$(cpu_ticks)
base_started=$EPOCHREALTIME
before=$(throughput)
before_up=$(up_of "$before") before_down=$(down_of "$before")
base_cpu=$(seconds_of_ticks $(($(cpu_ticks) - cpu_before)))
info "a -> b ${before_up} Gbit/s, b -> a ${before_down} Gbit/s; cluster-b's gateway used ${base_cpu} CPU s in $(since "$base_started") s"

# field FILE NAME: one number from a generator's JSON report.
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2" 2>/dev/null; }
# flood SECONDS OUTPUT: runs the generator from cluster-a-gw (in the foreground). A real flood
# comes from other machines; here the generator shares the two CPUs with both gateways and
# iperf3, so it runs at a higher priority (nice $FLOOD_NICE) to reach its rate. That only makes
# the test harder for the gateway, which gets less of the CPU than it would.
flood() {
    in_gw a nice -n "$FLOOD_NICE" "$flooder" --target "$TARGET" --public-key-file "$RUN_DIR/cluster-b/public.key" \
        --bind "$FLOOD_SOURCE" --rate "$FLOOD_RATE" --seconds "$1" --pool "$FLOOD_POOL" \
        >"$work/$2.json" 2>"$work/$2.err"
}
ip -n cluster-a-gw addr add "$FLOOD_SOURCE/24" dev eth0

section "a ${BURST_SECONDS} s burst: cookie replies come back"
if flood "$BURST_SECONDS" burst; then
    sent=$(field "$work/burst.json" sent) cookies=$(field "$work/burst.json" cookie_replies)
    others=$(field "$work/burst.json" other_replies)
    # The share is a floor, not the gateway's measure: on a busy two-core machine the gateway
    # also sheds some unread (handshake_queue_full), which the flood below measures with its
    # counters. Here: cookies come back, and never a handshake response.
    if ((${sent:-0} > 0 && ${cookies:-0} * 2 >= sent && ${others:-1} == 0)); then
        pass "cookie replies: the generator sent $sent initiations and got $cookies cookie replies back (the rest: within the rate limit, shed unread, or lost in its own socket), no handshake response"
    else
        fail "cookie replies: $cookies for $sent initiations (want >= 50%), $others other replies (want 0)"
    fi
else
    fail "handshake_flood --seconds $BURST_SECONDS: $(cat "$work/burst.err" "$work/burst.json" | tr '\n' ' ')"
fi

# --- the flood ---------------------------------------------------------------------------------

section "flood: $FLOOD_RATE initiations/s for $FLOOD_SECONDS s from $FLOOD_SOURCE (spoofed) to $TARGET"
ip -n cluster-b-gw neigh replace "$FLOOD_SOURCE" lladdr "$NOBODYS_MAC" dev eth0 nud permanent
reasons_dh=(unknown_peer handshake_rejected)
under_load_before=0 shed_before=0 dh_before=0 bad_mac_before=0
drops_total under_load_before b under_load
drops_total shed_before b handshake_queue_full
drops_total dh_before b "${reasons_dh[@]}"
drops_total bad_mac_before b bad_mac
rcvbuf_before=$(udp_stat RcvbufErrors)
readonly THREADS=(tun-rx udp-rx handshakes timers)
declare -A gap_before
for thread in "${THREADS[@]}"; do
    gap_before[$thread]=$(metric b "gateway_thread_longest_turn_gap_seconds{thread=\"$thread\"}")
done

# handled VAR: every initiation cluster-b's gateway has dealt with so far, whichever way.
handled() { drops_total "$1" b under_load handshake_queue_full "${reasons_dh[@]}" bad_mac; }
cpu_start=$(cpu_ticks)
flood_started=$EPOCHREALTIME
flood "$FLOOD_SECONDS" flood &
flood_pid=$!
# First the flood alone, for the gateway's CPU per initiation; then the tunnel's throughput.
sleep "$SETTLE_SECONDS"
handled_alone_start=0 handled_alone_end=0
handled handled_alone_start
naps_alone_start=$(metric b gateway_udp_rx_moderation_naps_total)
cpu_alone_start=$(cpu_ticks)
alone_started=$EPOCHREALTIME
sleep "$FLOOD_ALONE_SECONDS"
cpu_alone_end=$(cpu_ticks)
naps_alone_end=$(metric b gateway_udp_rx_moderation_naps_total)
flood_alone_seconds=$(since "$alone_started")
handled handled_alone_end
during=$(throughput)
flood_up=$(up_of "$during") flood_down=$(down_of "$during")
throughput_done=$(since "$flood_started")
wait "$flood_pid"
flood_status=$?
flood_pid=""
cpu_end=$(cpu_ticks)
flood_seconds=$(since "$flood_started")
sed 's/^/     /' "$work/flood.err"

under_load_after=0 shed_after=0 dh_after=0 bad_mac_after=0
drops_total under_load_after b under_load || fail "cluster-b's under_load drops: $METRIC_ERROR"
drops_total shed_after b handshake_queue_full || fail "cluster-b's handshake_queue_full drops: $METRIC_ERROR"
drops_total dh_after b "${reasons_dh[@]}"
drops_total bad_mac_after b bad_mac
rcvbuf_after=$(udp_stat RcvbufErrors)

sent=$(field "$work/flood.json" sent)
rate=$(field "$work/flood.json" rate_per_second)
if ((flood_status != 0)) || [[ -z $sent ]]; then
    fail "handshake_flood exited $flood_status: $(cat "$work/flood.err" "$work/flood.json" | tr '\n' ' ')"
    finish
    exit 1
fi

# ge A B: A >= B, for decimals.
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

if ge "$rate" "$MIN_FLOOD_RATE"; then
    pass "flood rate: $sent initiations in $(field "$work/flood.json" seconds | cut -c1-5) s = $(printf '%.0f' "$rate")/s (generator's count; >= $MIN_FLOOD_RATE)"
else
    fail "flood rate: only $(printf '%.0f' "$rate")/s ($sent sent), want >= $MIN_FLOOD_RATE"
fi

under_load=$((under_load_after - under_load_before))
shed=$((shed_after - shed_before))
dh=$((dh_after - dh_before))
bad_mac=$((bad_mac_after - bad_mac_before))
rcvbuf=$((rcvbuf_after - rcvbuf_before))
percent() { awk -v n="$1" -v d="$2" 'BEGIN { printf "%.1f", (d > 0 ? 100 * n / d : 0) }'; }
info "cluster-b counted under_load +$under_load, handshake_queue_full +$shed, unknown_peer|handshake_rejected +$dh, bad_mac +$bad_mac; its kernel dropped $rcvbuf at the socket (RcvbufErrors)"
if (((under_load + shed) * 10 >= sent * 9 && under_load * 2 >= sent)); then
    pass "cookie mechanism engaged: of $sent initiations, $(percent "$under_load" "$sent")% answered with a cookie (under_load), $(percent "$shed" "$sent")% shed unread (handshake_queue_full)"
else
    fail "cookie mechanism: of $sent initiations only $under_load under_load ($(percent "$under_load" "$sent")%, want >= 50%) and $shed handshake_queue_full (together want >= 90%)"
fi
dh_limit=$((HANDSHAKES_PER_SECOND * (FLOOD_SECONDS + 2)))
if ((dh <= dh_limit)); then
    pass "Diffie-Hellman work bounded: $dh initiations got past the rate limit (unknown_peer|handshake_rejected), at most $HANDSHAKES_PER_SECOND/s x $((FLOOD_SECONDS + 2)) s = $dh_limit"
else
    fail "$dh initiations got a Diffie-Hellman (unknown_peer|handshake_rejected), over $dh_limit: the rate limit does not hold"
fi

flood_cpu=$(seconds_of_ticks $((cpu_end - cpu_start)))
alone_cpu=$(seconds_of_ticks $((cpu_alone_end - cpu_alone_start)))
alone_handled=$((handled_alone_end - handled_alone_start))
alone_cores=$(awk -v c="$alone_cpu" -v s="$flood_alone_seconds" 'BEGIN { printf "%.2f", (s > 0 ? c / s : 0) }')
per_initiation_us=$(awk -v c="$alone_cpu" -v n="$alone_handled" 'BEGIN { printf "%.1f", (n > 0 ? 1e6 * c / n : 0) }')
info "cluster-b's gateway (PID $gateway_pid) CPU: ${flood_cpu} s during the ${flood_seconds} s flood window (iperf3 included); the flood alone, ${flood_alone_seconds} s: ${alone_cpu} s = ${alone_cores} cores for $alone_handled initiations, ${per_initiation_us} us each"
if ((alone_handled > 0)) && ge "$MAX_US_PER_INITIATION" "$per_initiation_us" && ge "$MAX_FLOOD_CPU_CORES" "$alone_cores"; then
    pass "gateway CPU bounded: ${per_initiation_us} us per initiation (<= $MAX_US_PER_INITIATION; a responder handshake is ~220), ${alone_cores} cores for the flood alone (<= $MAX_FLOOD_CPU_CORES)"
else
    fail "gateway CPU: ${per_initiation_us} us per initiation (want <= $MAX_US_PER_INITIATION) over $alone_handled initiations, ${alone_cores} cores (want <= $MAX_FLOOD_CPU_CORES)"
fi
# Receive moderation (daemon/rx_moderation.rs): initiations arrive a few at a time, so udp-rx
# naps between reads instead of waking for every two or three of them. Without it udp-rx woke
# ~40,000 times a second here and used 0.44 cores instead of 0.18.
naps=$(awk -v a="${naps_alone_end:-x}" -v b="${naps_alone_start:-x}" \
    'BEGIN { if (a == "x" || b == "x") print -1; else printf "%d", a - b }')
naps_per_second=$(awk -v n="$naps" -v s="$flood_alone_seconds" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
if ((naps_per_second >= MIN_NAPS_PER_SECOND)); then
    pass "receive moderation engaged: udp-rx napped $naps times in the ${flood_alone_seconds} s of the flood alone, $naps_per_second/s (>= $MIN_NAPS_PER_SECOND), instead of waking for every few initiations"
else
    fail "receive moderation: udp-rx napped $naps times in the ${flood_alone_seconds} s of the flood alone ($naps_per_second/s; want >= $MIN_NAPS_PER_SECOND; -1: the metric is missing)"
fi
# A flood must not bring the gateway near a liveness restart (a kubelet restarting it would
# finish the attacker's job): every data-path thread kept turning. The metric is a maximum
# since start, so only a rise during the flood counts against it.
gaps="" gaps_bad=0
for thread in "${THREADS[@]}"; do
    gap=$(metric b "gateway_thread_longest_turn_gap_seconds{thread=\"$thread\"}")
    gaps+="$thread ${gap_before[$thread]:-?} -> ${gap:-?} s, "
    if [[ -z $gap ]]; then
        gaps_bad=1
    elif ! ge "${gap_before[$thread]:-0}" "$gap" && ! ge "$MAX_TURN_GAP_SECONDS" "$gap"; then
        gaps_bad=1
    fi
done
if ((gaps_bad == 0)); then
    pass "every data-path thread kept turning: longest gap between turns since start, before -> after the flood: ${gaps%, } (a rise above $MAX_TURN_GAP_SECONDS s fails; /healthz fails at 10)"
else
    fail "longest gap between turns since start, before -> after the flood: ${gaps%, } (the flood may not raise one above $MAX_TURN_GAP_SECONDS s; /healthz fails at 10)"
fi
if ge "$FLOOD_SECONDS" "$throughput_done"; then
    info "the throughput run during the flood ended ${throughput_done} s into its ${FLOOD_SECONDS} s"
else
    fail "the throughput run ended ${throughput_done} s into the flood, after its end (${FLOOD_SECONDS} s): 'during' is not during"
fi

ip -n cluster-b-gw neigh del "$FLOOD_SOURCE" dev eth0 2>/dev/null

section "after the flood: iperf3 again; the baseline is the mean of before and after"
after=$(throughput)
after_up=$(up_of "$after") after_down=$(down_of "$after")
base_up=$(mean "$before_up" "$after_up")
base_down=$(mean "$before_down" "$after_down")
info "a -> b ${after_up} Gbit/s, b -> a ${after_down} Gbit/s"
for pair in "a -> b|$base_up|$flood_up" "b -> a|$base_down|$flood_down"; do
    IFS='|' read -r direction before during <<<"$pair"
    if [[ $before == error* || $during == error* ]]; then
        fail "throughput $direction: iperf3 failed: without the flood '$before', during it '$during'"
        continue
    fi
    ratio=$(awk -v d="$during" -v b="$before" 'BEGIN { printf "%.2f", (b > 0 ? d / b : 0) }')
    if ge "$ratio" "$MIN_THROUGHPUT_RATIO"; then
        pass "throughput $direction: ${before} Gbit/s without the flood, ${during} during it: ratio ${ratio} (>= $MIN_THROUGHPUT_RATIO)"
    else
        fail "throughput $direction: ${before} Gbit/s without the flood, ${during} during it: ratio ${ratio} (< $MIN_THROUGHPUT_RATIO)"
    fi
done

answer=$(in_pod a curl -sS --max-time 3 "http://$b_export:$ECHO_PORT/" 2>&1)
if [[ $answer == "hello from cluster-b;"* ]]; then pass "after the flood: cluster-a-pod1 -> $b_export: $answer"
else fail "after the flood: cluster-a-pod1 -> $b_export: $answer"; fi

info "lab_flood.sh took $((SECONDS - started)) s"
finish
