#!/usr/bin/env python3
"""Medians and ratios from benches/tunnel/run's raw results, as markdown.

    report.py --results RESULTS.tsv --meta META.tsv --out FILE.md

RESULTS.tsv: `round impl metric value` lines. META.tsv: `key value` lines (command, date,
nproc, cpu, kernel, iperf3, params) and `impl name description` lines. The report goes to
FILE.md and to stdout.
"""

import argparse
import statistics
import sys
from collections import defaultdict

OTHERS_ORDER = ["veth", "wireguard-go", "boringtun", "boringtun-1t", "gotatun", "ours"]
# Neither the box's limit nor we count as "the best other".
NOT_COMPARED = {"veth", "ours"}

HIGHER, LOWER = "higher", "lower"

# metric, column title, better, decimals
COLUMNS = [
    ("tcp1_gbps", "TCP 1 stream Gbit/s", HIGHER, 3),
    ("tcp4_gbps", "TCP 4 streams Gbit/s", HIGHER, 3),
    ("udp_gbps", "UDP received Gbit/s", HIGHER, 3),
    ("udp_loss_pct", "UDP loss %", LOWER, 2),
    # What iperf3 managed to send: one sender thread caps the UDP test on a small machine.
    ("udp_sent_gbps", "UDP sent Gbit/s", None, 3),
    # Received plus what the receiving iperf3's own socket dropped (its buffer was full):
    # what the tunnel delivered, apart from the receiver's share of the CPU.
    ("udp_delivered_gbps", "UDP delivered to the receiver's socket Gbit/s", HIGHER, 3),
    ("ping_p50_ms", "ping p50 ms", LOWER, 3),
    ("ping_max_ms", "ping max ms", LOWER, 3),
    ("tcp1_cpu_s_per_gbit", "CPU s/Gbit TCP 1", LOWER, 3),
    ("tcp4_cpu_s_per_gbit", "CPU s/Gbit TCP 4", LOWER, 3),
    ("udp_cpu_s_per_gbit", "CPU s/Gbit UDP", LOWER, 3),
    ("tcp1_retransmits", "TCP 1 retransmits", LOWER, 0),
]

# The targets for ours, as (metric, wanted ratio ours / reference, reference).
# reference "best": the best other; "wireguard-go": that implementation.
TARGETS = {
    "tcp1_gbps": (4.0, "best"),
    "tcp4_gbps": (4.0, "best"),
    "udp_gbps": (3.0, "best"),
    "udp_loss_pct": (1.0, "best"),
    "ping_p50_ms": (0.5, "wireguard-go"),
    "ping_max_ms": (1.0, "best"),
    # Gbit per CPU-second >= 3x  <=>  CPU s per Gbit <= 1/3 of the best.
    "tcp1_cpu_s_per_gbit": (1 / 3, "best"),
    "tcp4_cpu_s_per_gbit": (1 / 3, "best"),
    "udp_cpu_s_per_gbit": (1 / 3, "best"),
}


class InputError(Exception):
    pass


def read_results(path):
    values = defaultdict(list)  # (impl, metric) -> [value per round]
    rounds = set()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                raise InputError(f"{path}:{number}: want 4 tab-separated fields, got {len(parts)}")
            round_, impl, metric, value = parts
            try:
                values[(impl, metric)].append(float(value))
            except ValueError as e:
                raise InputError(f"{path}:{number}: value {value!r} is not a number") from e
            rounds.add(round_)
    return values, len(rounds)


def read_meta(path):
    meta, impls = {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "impl" and len(parts) == 3:
                impls[parts[1]] = parts[2]
            elif len(parts) == 2:
                meta[parts[0]] = parts[1]
    return meta, impls


def fmt(value, decimals):
    if value is None:
        return "–"
    return f"{value:.{decimals}f}"


def medians(values):
    return {key: statistics.median(v) for key, v in values.items() if v}


def best_other(med, impls, metric, better):
    candidates = [(med[(i, metric)], i) for i in impls if i not in NOT_COMPARED and (i, metric) in med]
    if not candidates:
        return None
    return max(candidates) if better == HIGHER else min(candidates)


def topology_line(pods):
    """The topology, as `--pods` built it (runs before the option had pods for ours only)."""
    line = (
        "- Topology: namespaces gwb-a and gwb-b (the gateway nodes) joined by a veth underlay "
        "(192.168.250.0/24). `ours` has a pod namespace behind each node (gwb-a-pod, gwb-b-pod): "
        "the client in A's pod talks to B's exported service at its global ingress IP, so every "
        "packet is SNATed and DNATed."
    )
    if pods == "all":
        return line + (
            " The others have a pod behind each node too (`--pods all`: 10.251.1.10 and "
            "10.252.1.10, routed untranslated through the tunnel, or for veth over the underlay), "
            "so every implementation's packets take the same hops: pod veth, the node's "
            "forwarding, the tunnel, and back."
        )
    return line + (
        " The others run iperf3 and ping on the nodes, over the tunnel addresses (`--pods ours`): "
        "ours' packets take two more veth hops and two more forwarding steps than theirs."
    )


def render(values, rounds, meta, described):
    med = medians(values)
    present = {impl for impl, _ in values}
    impls = [i for i in OTHERS_ORDER if i in present] + sorted(present - set(OTHERS_ORDER))
    out = ["# Tunnel benchmark: ours vs userspace WireGuard implementations", ""]
    out += [
        f"- Machine: {meta.get('nproc', '?')} CPUs, {meta.get('cpu', '?')}, {meta.get('kernel', '?')}",
        f"- Command: `{meta.get('command', '?')}` (as root), {meta.get('date', '?')}",
        f"- {meta.get('params', '')}; {meta.get('iperf3', '')}",
        topology_line(meta.get("pods", "ours")),
        "- CPU = utime + stime of both tunnel processes during the test (/proc/PID/stat); "
        "veth has none (the kernel's).",
        "",
        "Implementations:",
        "",
    ]
    out += [f"- `{i}`: {described.get(i, '?')}" for i in impls]
    out += ["", f"## Medians of {rounds} interleaved round(s)", ""]
    header = ["implementation"] + [title for _, title, _, _ in COLUMNS]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for impl in impls:
        cells = [f"`{impl}`"]
        for metric, _, _, decimals in COLUMNS:
            cell = fmt(med.get((impl, metric)), decimals)
            n = len(values.get((impl, metric), []))
            if 0 < n < rounds:
                cell += f" ({n}/{rounds})"
            cells.append(cell)
        out.append("| " + " | ".join(cells) + " |")

    out += ["", "## Ours vs the best other (boringtun, wireguard-go, gotatun; not veth)", ""]
    out.append("| metric | better | ours | best other | ours / best | issue target | met |")
    out.append("|---|---|---|---|---|---|---|")
    for metric, title, better, decimals in COLUMNS:
        if better is None:
            continue
        ours = med.get(("ours", metric))
        best = best_other(med, impls, metric, better)
        best_cell = f"{fmt(best[0], decimals)} (`{best[1]}`)" if best else "–"
        ratio = ours / best[0] if ours is not None and best and best[0] > 0 else None
        target_cell, met = "", ""
        if metric in TARGETS:
            wanted, reference = TARGETS[metric]
            word = "≥" if better == HIGHER else "≤"
            if reference == "best":
                target_cell = f"{word} {wanted:.2f}× best"
                compared = ratio
            else:
                target_cell = f"{word} {wanted:.2f}× {reference}"
                ref = med.get((reference, metric))
                compared = ours / ref if ours is not None and ref else None
                if compared is not None:
                    target_cell += f" (is {compared:.2f}×)"
            if compared is not None:
                ok = compared >= wanted if better == HIGHER else compared <= wanted
                met = "yes" if ok else "no"
        out.append(
            f"| {title} | {better} | {fmt(ours, decimals)} | {best_cell} | "
            f"{'–' if ratio is None else f'{ratio:.2f}×'} | {target_cell} | {met} |"
        )
    veth = med.get(("veth", "tcp1_gbps"))
    ours_tcp1 = med.get(("ours", "tcp1_gbps"))
    if veth and ours_tcp1 is not None:
        out += ["", f"Ours reaches {100 * ours_tcp1 / veth:.1f} % of the plain veth's single-stream TCP."]

    out += ["", "## Every round", ""]
    out.append("| implementation | metric | values by round |")
    out.append("|---|---|---|")
    for impl in impls:
        for metric, title, _, decimals in COLUMNS:
            v = values.get((impl, metric))
            if v:
                out.append(f"| `{impl}` | {title} | {', '.join(fmt(x, decimals) for x in v)} |")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--meta", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        values, rounds = read_results(args.results)
        meta, described = read_meta(args.meta)
    except (OSError, InputError) as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 1
    if not values:
        print(f"report.py: {args.results} holds no result: every test failed", file=sys.stderr)
        return 1
    text = render(values, rounds, meta, described)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
