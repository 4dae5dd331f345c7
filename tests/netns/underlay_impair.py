#!/usr/bin/env python3
"""A lossy, reordering UDP relay for the lab's underlay (tests/netns/lab_faults.sh).

This kernel has no netem (CONFIG_NET_SCH_NETEM is off), so the impairment `tc qdisc add
dev eth0 root netem loss 5% delay 1ms reorder 25%` would apply is done here, in userspace:
every datagram the relay forwards, in either direction, is

  - dropped with probability --loss (default 0.05), else
  - sent at once with probability --immediate (default 0.25), else
  - held for --delay-ms (default 1 ms) and sent then,

so the immediate ones overtake the held ones: reordering, as netem's "reorder" does.

Plumbing (lab_faults.sh sets it up in cluster-a-gw): an nftables DNAT sends the local
gateway's datagrams for the peer (192.168.100.2:4500) to --inner; the relay forwards them
from --outer to --peer; the peer's replies reach --outer (WireGuard roaming moves the peer's
view of us there) and go back from --inner to the local gateway, where conntrack rewrites
their source back to the peer's address. Neither gateway is reconfigured.

Runs at most --seconds (a bound, whatever happens), stops on SIGTERM, and writes its
counts as JSON to --stats when it stops. Python 3 standard library only.
"""

import argparse
import heapq
import json
import random
import selectors
import signal
import socket
import sys
import time

MAX_DATAGRAM = 65535


def address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


class Direction:
    """Counts for one direction of the relay."""

    def __init__(self):
        self.received = 0
        self.dropped = 0
        self.immediate = 0
        self.delayed = 0
        self.held = 0  # delayed datagrams not yet sent
        self.overtaking = 0  # sent at once while an earlier one was held: reordered

    def as_dict(self):
        return {
            "received": self.received,
            "dropped": self.dropped,
            "immediate": self.immediate,
            "delayed": self.delayed,
            "overtaking": self.overtaking,
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inner", type=address, required=True)
    parser.add_argument("--outer", type=address, required=True)
    parser.add_argument("--peer", type=address, required=True)
    parser.add_argument("--loss", type=float, default=0.05)
    parser.add_argument("--immediate", type=float, default=0.25)
    parser.add_argument("--delay-ms", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--stats", required=True)
    args = parser.parse_args()
    if not 0 < args.seconds <= 600:
        sys.exit("--seconds: more than 0 and at most 600")

    inner = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inner.bind(args.inner)
    outer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outer.bind(args.outer)
    for sock in (inner, outer):
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)

    out_of = {"out": Direction(), "in": Direction()}  # out: local gateway -> peer
    local_gateway = None  # learnt from the first datagram on --inner
    held = []  # heap of (due, sequence, direction, datagram)
    sequence = 0
    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def send(direction, datagram):
        try:
            if direction == "out":
                outer.sendto(datagram, args.peer)
            elif local_gateway is not None:
                inner.sendto(datagram, local_gateway)
        except OSError:
            pass  # a full buffer or an ICMP error: lost, like on a real path

    def forward(direction, datagram):
        nonlocal sequence
        counts = out_of[direction]
        counts.received += 1
        if random.random() < args.loss:
            counts.dropped += 1
        elif random.random() < args.immediate:
            counts.immediate += 1
            if counts.held:
                counts.overtaking += 1
            send(direction, datagram)
        else:
            counts.delayed += 1
            counts.held += 1
            sequence += 1
            heapq.heappush(held, (time.monotonic() + args.delay_ms / 1000, sequence, direction, datagram))

    selector = selectors.DefaultSelector()
    selector.register(inner, selectors.EVENT_READ, "out")
    selector.register(outer, selectors.EVENT_READ, "in")
    deadline = time.monotonic() + args.seconds
    print("relaying", flush=True)
    while not stopping and time.monotonic() < deadline:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else 0.1
        for key, _ in selector.select(timeout):
            sock, direction = key.fileobj, key.data
            while True:
                try:
                    datagram, source = sock.recvfrom(MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break  # an ICMP error reported on the socket
                if direction == "out":
                    local_gateway = source
                forward(direction, datagram)
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, direction, datagram = heapq.heappop(held)
            out_of[direction].held -= 1
            send(direction, datagram)

    with open(args.stats, "w", encoding="utf-8") as stats:
        json.dump({name: d.as_dict() for name, d in out_of.items()}, stats)


if __name__ == "__main__":
    main()
