#!/usr/bin/env bash
# Secrets and privilege against the running lab (issue 5): each gateway's private key appears
# nowhere an operator or a scraper can see — its log, /metrics, every `gwctl` command's table
# and JSON output, the error of a rejected reload — the admin socket and key files are
# owner-only, and the gateway process holds no capability but CAP_NET_ADMIN.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

# CAP_NET_ADMIN is capability 12: bit 12 of the CapEff mask.
readonly NET_ADMIN_ONLY=0000000000001000

[[ $EUID -eq 0 ]] || { echo "FAIL needs root (network namespaces)"; exit 1; }
require_lab full
gwctl="$(cd "$here/../.." && pwd)/target/release/gwctl"
[[ -x $gwctl ]] || { echo "FAIL $gwctl not built (deploy/lab/lab up builds it)"; exit 1; }

# The key in the two spellings a leak would take: base64 as in the file, and hex.
key_spellings() {
    local b64
    b64=$(tr -d '[:space:]' <"$1")
    echo "$b64"
    base64 -d <<<"$b64" | od -An -tx1 | tr -d ' \n'
    echo
}

for x in a b; do
    dir="$RUN_DIR/cluster-$x"
    section "cluster-$x: the private key stays secret"
    outputs=$(mktemp)
    {
        cat "$dir/gateway.log"
        in_gw "$x" curl -sS --max-time 3 "http://$(metrics_address_of "$x")/metrics"
        for cmd in peers exports egress nat diagnose; do
            for fmt in table json; do
                in_gw "$x" "$gwctl" "$cmd" --socket "$dir/admin.sock" -o "$fmt" 2>&1 || true
            done
        done
        "$gwctl" check-config "$dir/gateway.yaml" 2>&1 || true
    } >"$outputs" 2>&1
    leaked=0
    while read -r spelling; do
        [[ -n $spelling ]] || continue
        if grep -qiF -- "$spelling" "$outputs"; then leaked=1; fi
    done < <(key_spellings "$dir/private.key")
    if ((leaked)); then fail "cluster-$x: the private key appears in the log, metrics or gwctl output"
    elif [[ $(wc -c <"$outputs") -lt 2000 ]]; then fail "cluster-$x: collected only $(wc -c <"$outputs") bytes of output to search; something did not answer"
    else pass "cluster-$x: private key absent from $(wc -c <"$outputs") bytes of log, /metrics and gwctl output"; fi
    rm -f "$outputs"

    mode=$(stat -c %a "$dir/admin.sock" 2>/dev/null)
    if [[ $mode == 600 ]]; then pass "cluster-$x: admin socket is owner-only ($mode)"
    else fail "cluster-$x: admin socket mode $mode, want 600"; fi
    mode=$(stat -c %a "$dir/private.key" 2>/dev/null)
    if [[ $mode == 600 ]]; then pass "cluster-$x: private key file is owner-only ($mode)"
    else fail "cluster-$x: private key file mode $mode, want 600"; fi

    pid=$(head -n1 "$dir/gateway.pid" 2>/dev/null | tr -dc '0-9')
    caps=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
    if [[ $caps == "$NET_ADMIN_ONLY" ]]; then pass "cluster-$x: gateway (pid $pid) runs with CAP_NET_ADMIN only (CapEff $caps)"
    else fail "cluster-$x: gateway (pid $pid) CapEff=$caps, want $NET_ADMIN_ONLY (CAP_NET_ADMIN only)"; fi
done

section "a group-readable key file is refused, naming the fix"
tmp=$(mktemp -d)
cp "$RUN_DIR/cluster-a/private.key" "$tmp/private.key"
chmod 0640 "$tmp/private.key"
sed "s#^private_key_file:.*#private_key_file: $tmp/private.key#" "$RUN_DIR/cluster-a/gateway.yaml" >"$tmp/gateway.yaml"
out=$("$gwctl" check-config "$tmp/gateway.yaml" 2>&1)
if [[ $out == *"must not be readable by group or others"*"chmod 600"* ]] && ! grep -qF "$(tr -d '[:space:]' <"$tmp/private.key")" <<<"$out"; then
    pass "check-config refuses mode 0640: $(grep -m1 'readable' <<<"$out")"
else
    fail "check-config on a 0640 key file: $out"
fi
rm -rf "$tmp"

finish
