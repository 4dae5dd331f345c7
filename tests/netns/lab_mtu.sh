#!/usr/bin/env bash
# `gwctl diagnose`'s MTU probe against the lab: DF echo requests of several sizes from each
# gateway's own address to the peer gateway's, through the tunnel. With the lab's MTUs
# (underlay 1500, tunnel 1420 on both sides) the tunnel MTU passes; after cluster-b's tunnel
# device is lowered to 1300, cluster-b's kernel must fragment larger replies, and the probe
# from cluster-a reports exactly 1300 and fails the check with the fix. Restores the MTU.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

readonly LOWERED_MTU=1300
readonly LAB_TUNNEL_MTU=1420

[[ $EUID -eq 0 ]] || { echo "FAIL needs root (network namespaces)"; exit 1; }
require_lab full
gwctl="$(cd "$here/../.." && pwd)/target/release/gwctl"
[[ -x $gwctl ]] || { echo "FAIL $gwctl not built (deploy/lab/lab up builds it)"; exit 1; }

restore() { ip -n cluster-b-gw link set gw0 mtu "$LAB_TUNNEL_MTU" 2>/dev/null || true; }
trap restore EXIT

# mtu_check X: the "mtu" check of `gwctl diagnose -o json` on cluster-X, as "outcome|summary|details".
mtu_check() {
    ip netns exec "cluster-$1-gw" "$gwctl" diagnose --socket "$RUN_DIR/cluster-$1/admin.sock" -o json 2>/dev/null |
        python3 -c '
import json, sys
report = json.load(sys.stdin)
check = next(c for c in report["checks"] if c["id"] == "mtu")
print("|".join([str(check["outcome"]).lower(), check["summary"], " ; ".join(check.get("details", []))]))'
}

for x in a b; do
    section "cluster-$x: MTU probe with the lab's MTUs"
    got=$(mtu_check "$x")
    if [[ $got == "pass|"*"$LAB_TUNNEL_MTU bytes pass"* ]]; then pass "cluster-$x: $got"
    else fail "cluster-$x: want a passing mtu check naming $LAB_TUNNEL_MTU bytes; got: $got"; fi
done

section "cluster-b's tunnel device lowered to $LOWERED_MTU: cluster-a's probe finds it"
ip -n cluster-b-gw link set gw0 mtu "$LOWERED_MTU"
got=$(mtu_check a)
if [[ $got == "fail|"*"only $LOWERED_MTU passes"* ]]; then pass "cluster-a: $got"
else fail "cluster-a: want a failing mtu check with 'only $LOWERED_MTU passes'; got: $got"; fi
restore
got=$(mtu_check a)
if [[ $got == "pass|"* ]]; then pass "cluster-a: passes again once cluster-b's MTU is restored"
else fail "cluster-a: after restoring cluster-b's MTU: $got"; fi

finish
