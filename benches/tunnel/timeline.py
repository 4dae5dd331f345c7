#!/usr/bin/env python3
"""Hop-by-hop timeline of idle pings from ping-timeline's six captures.

Each ICMP echo is matched by sequence number at the four points that see it in the clear
(both pod veths, both tunnel devices); the encrypted datagram between them is the first one
on the underlay after the packet left the tunnel device (the pings are idle, so nothing else
is in flight). Prints, per hop, the median, 10th and 90th percentile in microseconds.
"""

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ECHO = re.compile(r"ICMP echo (request|reply), id \d+, seq (\d+)")

# (label, from point, to point); points are named below.
HOPS = [
    ("A: pod -> tunnel device (kernel forwarding)", "a_pod_req", "a_tun_req"),
    ("A: tunnel device -> underlay (read, encrypt, send)", "a_tun_req", "a_udp_req"),
    ("underlay A -> B", "a_udp_req", "b_udp_req"),
    ("B: underlay -> tunnel device (receive, decrypt, write)", "b_udp_req", "b_tun_req"),
    ("B: tunnel device -> pod (kernel forwarding)", "b_tun_req", "b_pod_req"),
    ("B: pod answers", "b_pod_req", "b_pod_rep"),
    ("B: pod -> tunnel device", "b_pod_rep", "b_tun_rep"),
    ("B: tunnel device -> underlay (read, encrypt, send)", "b_tun_rep", "b_udp_rep"),
    ("underlay B -> A", "b_udp_rep", "a_udp_rep"),
    ("A: underlay -> tunnel device (receive, decrypt, write)", "a_udp_rep", "a_tun_rep"),
    ("A: tunnel device -> pod", "a_tun_rep", "a_pod_rep"),
    ("round trip at A's pod veth", "a_pod_req", "a_pod_rep"),
]


def packets(pcap: Path) -> list[tuple[float, str]]:
    out = subprocess.run(
        ["tcpdump", "-r", str(pcap), "-n", "-tt", "--time-stamp-precision=nano"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [(float(line.split()[0]), line) for line in out.splitlines() if line.strip()]


def echoes(capture, kind: str) -> dict[int, float]:
    found = {}
    for t, line in capture:
        m = ECHO.search(line)
        if m and m.group(1) == kind:
            found.setdefault(int(m.group(2)), t)
    return found


def first_datagram_after(capture, t: float):
    return next((ts for ts, line in capture if ts >= t and "UDP" in line), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--tunnel-a", required=True, help="A's tunnel device name")
    parser.add_argument("--tunnel-b", required=True, help="B's tunnel device name")
    args = parser.parse_args()

    def cap(ns: str, dev: str):
        return packets(args.dir / f"{ns}-{dev}.pcap")

    a_pod, a_tun, a_udp = cap("gwb-a", "veth-pod"), cap("gwb-a", args.tunnel_a), cap("gwb-a", "eth0")
    b_pod, b_tun, b_udp = cap("gwb-b", "veth-pod"), cap("gwb-b", args.tunnel_b), cap("gwb-b", "eth0")
    clear = {
        "a_pod_req": echoes(a_pod, "request"), "a_pod_rep": echoes(a_pod, "reply"),
        "a_tun_req": echoes(a_tun, "request"), "a_tun_rep": echoes(a_tun, "reply"),
        "b_tun_req": echoes(b_tun, "request"), "b_tun_rep": echoes(b_tun, "reply"),
        "b_pod_req": echoes(b_pod, "request"), "b_pod_rep": echoes(b_pod, "reply"),
    }
    timelines = []
    for seq in sorted(clear["a_pod_req"]):
        points = {name: found.get(seq) for name, found in clear.items()}
        if None in points.values():
            continue
        points["a_udp_req"] = first_datagram_after(a_udp, points["a_tun_req"])
        points["b_udp_req"] = first_datagram_after(b_udp, points["a_udp_req"] or 0)
        points["b_udp_rep"] = first_datagram_after(b_udp, points["b_tun_rep"])
        points["a_udp_rep"] = first_datagram_after(a_udp, points["b_udp_rep"] or 0)
        if None not in points.values():
            timelines.append(points)
    if not timelines:
        print("no ping was seen at every capture point", file=sys.stderr)
        return 1
    print(f"{len(timelines)} pings seen at every point; microseconds:")
    print(f"  {'hop':58s} {'p50':>7s} {'p10':>7s} {'p90':>7s}")
    for label, start, end in HOPS:
        spans = sorted(1e6 * (t[end] - t[start]) for t in timelines)
        p10, p90 = spans[len(spans) // 10], spans[(len(spans) * 9) // 10]
        print(f"  {label:58s} {statistics.median(spans):7.1f} {p10:7.1f} {p90:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
