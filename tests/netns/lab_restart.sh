#!/usr/bin/env bash
# Graceful restart (what a rolling update does to a gateway), against a lab `deploy/lab/lab up`
# built: three rate-limited TCP transfers cross cluster-a's gateway while it is restarted with
# `deploy/lab/lab restart-gateway a` (SIGTERM: it saves its NAT flows and global IPs; then the
# same command line again, which restores them):
#   - cluster-a-pod1 downloads from cluster-b's export   (cluster-a SNATs, data comes in)
#   - cluster-a-pod1 uploads to cluster-b's export       (cluster-a SNATs, data goes out)
#   - cluster-b-pod1 downloads from cluster-a's export   (cluster-a DNATs its ingress IP)
# Each must complete with the right sha256, and `gwctl egress` / `gwctl exports` must show the
# same global IPs before and after. Prints PASS/FAIL lines; exits non-zero on any failure.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

readonly TRANSFER_BYTES=$((32 * 1024 * 1024))  # 32 MiB per transfer
readonly RATE_LIMIT_BYTES=$((6 * 1024 * 1024))  # per transfer: ~5.3 s unhindered
readonly TRANSFER_TIMEOUT_SECONDS=45 # unhindered ~6 s; a transfer the restart broke stalls
readonly RESTART_AFTER_BYTES=$((4 * 1024 * 1024)) # restart once this much has been downloaded
readonly PROGRESS_WAIT_SECONDS=20

[[ $EUID -eq 0 ]] || { echo "FAIL needs root (network namespaces)"; exit 1; }
require_lab full

gwctl="${CARGO_TARGET_DIR:-$repo_root/target}/release/gwctl"
[[ -x $gwctl ]] || { echo "FAIL no gwctl at $gwctl (lab up builds it)"; exit 1; }
socket_a=$RUN_DIR/cluster-a/admin.sock
log_a=$RUN_DIR/cluster-a/gateway.log

started=$SECONDS
work=$(mktemp -d /tmp/gwlab-restart.XXXXXX)
transfer_pids=()
cleanup() {
    local pid
    for pid in "${transfer_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

a_export=$(ingress_ip a "$(export_of a)")
b_export=$(ingress_ip b "$(export_of b)")

# What must not change: global IPs (egress pool and exports), without the live port counts.
snapshot() {
    "$gwctl" egress --socket "$socket_a" -o dump | cut -f1-3
    "$gwctl" exports --socket "$socket_a" -o dump
}

section "before: cluster-a's global IPs (gwctl egress / exports)"
if ! snapshot >"$work/before.txt" 2>&1; then
    fail "gwctl egress/exports --socket $socket_a: $(tr '\n' ' ' <"$work/before.txt")"
    finish
    exit 1
fi
sed 's/^/     /' "$work/before.txt"
cp "$(state_file a)" "$work/ipam-before.state"

section "three $TRANSFER_BYTES-byte transfers at $RATE_LIMIT_BYTES bytes/s each, through cluster-a's gateway"
head -c "$TRANSFER_BYTES" /dev/urandom >"$work/upload"
upload_sha=$(sha256sum "$work/upload" | cut -d' ' -f1)
download_sha=$(expected_bytes_sha256 "$TRANSFER_BYTES")

# transfer NAME X CURL-ARGS...: curl in cluster-X-pod1, in the background; its -w summary
# goes to $work/NAME.out, its errors to $work/NAME.err.
transfer() {
    local name=$1 x=$2
    shift 2
    in_pod "$x" curl -sS --max-time "$TRANSFER_TIMEOUT_SECONDS" --limit-rate "$RATE_LIMIT_BYTES" \
        -w '%{http_code} %{size_download} %{size_upload} %{time_total}' "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
    transfer_pids+=($!)
}
transfer_started=$EPOCHREALTIME
transfer get-a a -o "$work/get-a" "http://$b_export:$ECHO_PORT/bytes?n=$TRANSFER_BYTES"
# Expect: the server speaks HTTP/1.0 and never sends 100-continue. The reply body (a sha256)
# lands in $work/post-a.body.
transfer post-a a -o "$work/post-a.body" -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    --data-binary "@$work/upload" "http://$b_export:$ECHO_PORT/sha256"
transfer get-b b -o "$work/get-b" "http://$a_export:$ECHO_PORT/bytes?n=$TRANSFER_BYTES"

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
deadline=$((SECONDS + PROGRESS_WAIT_SECONDS))
until (($(size_of "$work/get-a") >= RESTART_AFTER_BYTES && $(size_of "$work/get-b") >= RESTART_AFTER_BYTES)); do
    if ((SECONDS >= deadline)); then
        fail "transfers under way: after ${PROGRESS_WAIT_SECONDS}s only $(size_of "$work/get-a") and $(size_of "$work/get-b") bytes downloaded (want $RESTART_AFTER_BYTES each): $(cat "$work"/*.err | tr '\n' ' ')"
        finish
        exit 1
    fi
    sleep 0.1
done
at_restart_a=$(size_of "$work/get-a")
at_restart_b=$(size_of "$work/get-b")
# Live flows by protocol, from `gwctl nat -o dump` lines `flows <protocol> <count>`.
live_flows() { "$gwctl" nat --socket "$socket_a" -o dump 2>&1 | awk -F'\t' '$1 == "flows" { printf "%s %s  ", $2, $3 }'; }
flows_before=$(live_flows)
pass "transfers under way: $at_restart_a and $at_restart_b of $TRANSFER_BYTES bytes downloaded after $(awk -v a="$transfer_started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"

section "deploy/lab/lab restart-gateway a (mid-transfer)"
log_lines=$(wc -l <"$log_a")
restart_started=$EPOCHREALTIME
if "$repo_root/deploy/lab/lab" restart-gateway a >"$work/restart.out" 2>&1; then
    pass "cluster-a's gateway restarted in $(awk -v a="$restart_started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s (SIGTERM, start, /readyz, tunnel ping)"
else
    fail "deploy/lab/lab restart-gateway a failed"
fi
sed 's/^/     /' "$work/restart.out"
for pid_size in "get-a $at_restart_a" "get-b $at_restart_b"; do
    read -r name at <<<"$pid_size"
    if ((at < TRANSFER_BYTES)); then
        info "$name had $at of $TRANSFER_BYTES bytes when the gateway stopped: the restart was mid-transfer"
    else
        fail "$name had already finished when the gateway stopped: the test proves nothing (raise TRANSFER_BYTES)"
    fi
done
# What the gateway logged since the restart began, without colour codes.
new_log=$(tail -n "+$((log_lines + 1))" "$log_a" | sed 's/\x1b\[[0-9;]*m//g')
saved=$(grep -m1 'NAT flows saved' <<<"$new_log" | grep -o 'flows=[0-9]*' | cut -d= -f2)
restored=$(grep -m1 'restored NAT flows' <<<"$new_log" | grep -o 'imported=[0-9]*' | cut -d= -f2)
if [[ -n $saved && -n $restored ]] && ((restored >= 3 && restored == saved)); then
    pass "cluster-a saved $saved NAT flows on SIGTERM and restored $restored on start"
else
    fail "cluster-a should save and restore at least the 3 transfers' NAT flows: saved '${saved:-no log line}', restored '${restored:-no log line}'; log since the restart: $(grep -E 'flows|WARN|ERROR' <<<"$new_log" | head -n 5 | tr '\n' ' ')"
fi
info "gwctl nat flows before: ${flows_before:-?}; after: $(live_flows)"

section "the transfers complete intact"
names=(get-a post-a get-b)
for i in "${!names[@]}"; do
    name=${names[$i]}
    wait "${transfer_pids[$i]}"
    status=$?
    summary=$(cat "$work/$name.out")
    case $name in
        get-a) got=$(sha256sum "$work/get-a" | cut -d' ' -f1) want=$download_sha
            what="cluster-a-pod1 GET $b_export (cluster-b) /bytes" ;;
        post-a) got=$(tr -d '\n' <"$work/post-a.body" 2>/dev/null) want=$upload_sha
            what="cluster-a-pod1 POST $b_export (cluster-b) /sha256" ;;
        get-b) got=$(sha256sum "$work/get-b" | cut -d' ' -f1) want=$download_sha
            what="cluster-b-pod1 GET $a_export (cluster-a) /bytes" ;;
    esac
    read -r code down up seconds <<<"$summary"
    if ((status == 0)) && [[ $code == 200 && $got == "$want" ]]; then
        pass "$what: $TRANSFER_BYTES bytes intact across the restart (sha256 ${got:0:16}..., ${seconds}s)"
    else
        fail "$what: curl exit $status, HTTP ${code:-?}, ${down:-?} bytes down / ${up:-?} up in ${seconds:-?}s, sha256 ${got:-none} want $want; $(tr '\n' ' ' <"$work/$name.err")"
    fi
done
transfer_pids=()

section "after: the same global IPs"
if ! snapshot >"$work/after.txt" 2>&1; then
    fail "gwctl egress/exports after the restart: $(tr '\n' ' ' <"$work/after.txt")"
elif diff -u "$work/before.txt" "$work/after.txt" >"$work/diff.txt"; then
    pass "gwctl egress and exports show the same global IPs ($(wc -l <"$work/after.txt") lines) before and after"
else
    fail "global IPs changed across the restart: $(tr '\n' ' ' <"$work/diff.txt")"
fi
if diff -u <(sort "$work/ipam-before.state") <(sort "$(state_file a)") >"$work/ipam-diff.txt"; then
    pass "$(state_file a) is unchanged"
else
    fail "$(state_file a) changed across the restart: $(tr '\n' ' ' <"$work/ipam-diff.txt")"
fi
answer=$(in_pod a curl -sS --max-time 5 "http://$b_export:$ECHO_PORT/" 2>&1)
seen=$(sed -n 's/.*you are \([0-9.]*\):[0-9]*$/\1/p' <<<"$answer")
if in_list "$seen" "$(pool_of a)"; then
    pass "a new connection after the restart: cluster-b sees $seen, one of cluster-a's egress IPs"
else
    fail "a new connection after the restart: $answer (want a source in $(pool_of a))"
fi

info "lab_restart.sh took $((SECONDS - started)) s"
finish
