#!/usr/bin/env python3
"""Turns one tool's output into `metric value` lines for results.tsv.

    parse.py tcp  IPERF3_JSON   -> gbps, gbit (received), retransmits
    parse.py udp  IPERF3_JSON   -> gbps (received), gbit (received), loss_pct, sent_gbps
    parse.py ping PING_OUTPUT   -> p50_ms, max_ms, loss_pct

Exits non-zero with a message naming what is missing when the output is not what the tool
prints on success (an iperf3 error, a ping that got no answer).
"""

import json
import re
import statistics
import sys


class ParseError(Exception):
    pass


def load_iperf(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ParseError(f"{path}: not iperf3 JSON output: {e}") from e
    if "error" in data:
        raise ParseError(f"{path}: iperf3 reported: {data['error']}")
    end = data.get("end", {})
    if "sum_received" not in end or "sum_sent" not in end:
        raise ParseError(f"{path}: no end.sum_received / end.sum_sent (did the test run?)")
    return end


def tcp(path):
    end = load_iperf(path)
    received = end["sum_received"]
    return {
        "gbps": received["bits_per_second"] / 1e9,
        "gbit": received["bytes"] * 8 / 1e9,
        "retransmits": end["sum_sent"].get("retransmits", 0),
    }


def udp(path):
    end = load_iperf(path)
    received, sent = end["sum_received"], end["sum_sent"]
    return {
        "gbps": received["bits_per_second"] / 1e9,
        "gbit": received["bytes"] * 8 / 1e9,
        "loss_pct": received.get("lost_percent", 0.0),
        "sent_gbps": sent["bits_per_second"] / 1e9,
    }


TIME = re.compile(r"icmp_seq=\d+ .*time=([0-9.]+) ms")
TRANSMITTED = re.compile(r"(\d+) packets transmitted, (\d+) received")


def ping(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    rtts = [float(m.group(1)) for m in TIME.finditer(text)]
    counts = TRANSMITTED.search(text)
    if not rtts or not counts:
        raise ParseError(f"{path}: no ping replies / no summary line")
    sent, got = int(counts.group(1)), int(counts.group(2))
    return {
        "p50_ms": statistics.median(rtts),
        "max_ms": max(rtts),
        "loss_pct": 100.0 * (sent - got) / sent if sent else 100.0,
    }


def main(argv):
    kinds = {"tcp": tcp, "udp": udp, "ping": ping}
    if len(argv) != 3 or argv[1] not in kinds:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        values = kinds[argv[1]](argv[2])
    except ParseError as e:
        print(f"parse.py: {e}", file=sys.stderr)
        return 1
    for name, value in values.items():
        print(f"{name}\t{value:.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
