# shellcheck shell=bash disable=SC2034 # a library: its variables are used by the files that source it
# Output, and the processes this benchmark starts: each is recorded by PID in $RUN_DIR/pids/
# and stopped by that PID (never by name) when its implementation is torn down, on exit, or
# on Ctrl-C.

# The namespaces this program makes (default: the tunnel benchmark's, topology.sh); the scale
# benchmark sets its own gwb-s-* before sourcing this file.
BENCH_NAMESPACES=${BENCH_NAMESPACES:-'^gwb-(a|b|a-pod|b-pod)$'}
readonly STOP_WAIT_SECONDS=5

step() { printf '==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
warn() { printf "%s: warning: %s\n" "${BENCH_NAME:-tunnel-bench}" "$*" >&2; }
die()  { printf "%s: error: %s\n" "${BENCH_NAME:-tunnel-bench}" "$*" >&2; exit 1; }

# A PID counts as alive unless it is gone or a zombie.
alive() {
    [[ -n ${1:-} && -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

pid_from() { [[ -s $1 ]] && head -n1 "$1" | tr -dc '0-9'; }

# start_daemon NAME NS CMD...: runs CMD inside NS, detached (setsid, stdio on a log file),
# records its PID in $RUN_DIR/pids/NAME.pid (written by the process itself right before it
# execs, so it is the daemon's own PID) and prints that PID.
start_daemon() {
    local name=$1 ns=$2
    shift 2
    local pidfile=$RUN_DIR/pids/$name.pid log=$RUN_DIR/logs/$name.log
    rm -f "$pidfile"
    basename "$1" >"$RUN_DIR/pids/$name.what" # what its command line must name when stopped
    # shellcheck disable=SC2016 # $$ and $@ belong to the inner sh
    setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" ip netns exec "$ns" "$@" \
        </dev/null >>"$log" 2>&1 &
    local waited=0
    until [[ -s $pidfile ]]; do
        sleep 0.05
        waited=$((waited + 1))
        ((waited < 100)) || die "could not start $name ($*) in $ns: no PID file after 5 s"
    done
    pid_from "$pidfile"
}

# stop_pid PID WHAT: TERM, then KILL after STOP_WAIT_SECONDS. Only signals the PID while its
# command line still names WHAT: PIDs get reused.
stop_pid() {
    local pid=$1 what=$2
    alive "$pid" || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$what" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_WAIT_SECONDS))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    if alive "$pid"; then
        warn "$what (PID $pid) ignored SIGTERM for ${STOP_WAIT_SECONDS}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

# Stops every daemon recorded in $RUN_DIR/pids. `ip netns exec` execs the command in place,
# so the recorded PID's command line names the program recorded beside it.
stop_daemons() {
    local pidfile pid
    for pidfile in "$RUN_DIR"/pids/*.pid; do
        [[ -e $pidfile ]] || continue
        pid=$(pid_from "$pidfile" || true)
        [[ -z $pid ]] || stop_pid "$pid" "$(cat "${pidfile%.pid}.what" 2>/dev/null || echo ip)"
        rm -f "$pidfile" "${pidfile%.pid}.what"
    done
}

bench_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "$BENCH_NAMESPACES" || true; }

delete_namespaces() {
    local ns pid
    for ns in $(bench_namespaces); do
        # Anything still inside (a client cut off by Ctrl-C) would keep the namespace alive.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || warn "could not delete namespace $ns"
    done
    # UAPI sockets of wireguard-go / boringtun / gotatun live in the shared /run.
    rm -f /var/run/wireguard/gwb-wg-[ab].sock
}

teardown_impl() {
    stop_daemons
    delete_namespaces
}

# bounded CMD...: runs CMD (bounded by its own timeout) in the background and waits for it.
# A foreground command would defer the INT/TERM trap until it ends, and bash drops the signal
# altogether when the command exits normally (iperf3 and ping catch SIGINT); `wait` returns at
# once and the trap runs. The command itself is stopped by the cleanup with its namespace.
bounded() {
    "$@" &
    wait "$!"
}

# in NS CMD...: runs CMD inside NS.
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# cpu_ticks PID...: utime + stime (fields 14 and 15 of /proc/PID/stat, every thread of the
# process) summed over the PIDs. Field 2 (comm) may hold spaces: count from after its ')'.
cpu_ticks() {
    local pid total=0 fields
    for pid in "$@"; do
        fields=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        # After "pid (comm) ": state is field 3, so utime (14) and stime (15) are words 12, 13.
        read -r -a words <<<"$fields"
        total=$((total + words[11] + words[12]))
    done
    echo "$total"
}
