#!/usr/bin/env python3
"""Generates the golden packets in golden.rs, independently of natcore.

Every checksum here is computed from scratch with the plain RFC 1071 sum, so
golden.rs compares natcore's incremental (RFC 1624) rewrites against a
different computation. Run: python3 golden.py  (prints Rust constants).
"""
import struct


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data)//2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def ipv4(src, dst, proto, l4: bytes, ident=0x1C46, flags=0x4000, ttl=64, tos=0, options=b""):
    options += b"\0" * (-len(options) % 4)
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(l4)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, total, ident, flags, ttl, proto, 0, ip(src), ip(dst)) + options
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + l4


def pseudo(src, dst, proto, length):
    return ip(src) + ip(dst) + struct.pack("!BBH", 0, proto, length)


def tcp(src, sport, dst, dport, flags, options=b"", payload=b"", seq=0x01020304, ack=None):
    options += b"\0" * (-len(options) % 4)
    if ack is None:
        ack = 0x05060708 if flags & 0x10 else 0
    hl = 20 + len(options)
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (hl // 4) << 4, flags, 64240, 0, 0) + options + payload
    c = csum(pseudo(src, dst, 6, len(seg)) + seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    return ipv4(src, dst, 6, seg)


def udp(src, sport, dst, dport, payload=b"", no_checksum=False):
    length = 8 + len(payload)
    d = struct.pack("!HHHH", sport, dport, length, 0) + payload
    if not no_checksum:
        c = csum(pseudo(src, dst, 17, length) + d) or 0xFFFF
        d = d[:6] + struct.pack("!H", c) + d[8:]
    return ipv4(src, dst, 17, d)


def icmp(src, dst, typ, code, rest: int, data: bytes, **kw):
    m = struct.pack("!BBHI", typ, code, 0, rest) + data
    m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
    return ipv4(src, dst, 1, m, **kw)


def echo(src, dst, request, ident, seq, payload):
    return icmp(src, dst, 8 if request else 0, 0, (ident << 16) | seq, payload)


def error(src, dst, typ, code, rest, offending: bytes, l4_bytes=8):
    hl = (offending[0] & 0xF) * 4
    return icmp(src, dst, typ, code, rest, offending[: hl + l4_bytes], tos=0xC0, ident=0, flags=0)


POD, EGRESS, REMOTE, SVC_GLOBAL, SVC, ROUTER = "10.244.1.5", "242.0.0.7", "243.0.255.254", "242.0.1.9", "10.96.0.10", "192.0.2.1"
LINUX_SYN = bytes([2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 1, 3, 3, 7])

golden = {}
# TCP SYN out of a pod, SNATed to the egress IP.
golden["TCP_SYN"] = tcp(POD, 40000, REMOTE, 443, 0x02, LINUX_SYN)
golden["TCP_SYN_SNAT"] = tcp(EGRESS, 61000, REMOTE, 443, 0x02, LINUX_SYN)
# UDP into an exported service's global IP, DNATed to its ClusterIP.
golden["UDP_DNS"] = udp(REMOTE, 5353, SVC_GLOBAL, 53, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00")
golden["UDP_DNS_DNAT"] = udp(REMOTE, 5353, SVC, 53, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00")
# UDP without checksum stays without.
golden["UDP_NO_CHECKSUM"] = udp(POD, 40001, REMOTE, 4789, b"vxlan?", no_checksum=True)
golden["UDP_NO_CHECKSUM_SNAT"] = udp(EGRESS, 61001, REMOTE, 4789, b"vxlan?", no_checksum=True)


def udp_check(pkt):
    return struct.unpack("!H", pkt[26:28])[0]


# A rewrite whose result computes to 0 and must be sent as 0xFFFF (RFC 768):
# search the source port that makes it so.
payload = b"ffff"
for port in range(1024, 65536):
    after = udp(EGRESS, port, REMOTE, 9, payload)
    if udp_check(after) == 0xFFFF:
        golden["UDP_TO_FFFF"] = udp(POD, 40002, REMOTE, 9, payload)
        golden["UDP_TO_FFFF_SNAT"] = after
        golden_port = port
        break
# ICMP echo request out (identifier translated like a port) and its reply back.
golden["ECHO_REQUEST"] = echo(POD, REMOTE, True, 0x0BAD, 1, b"abcdefgh")
golden["ECHO_REQUEST_SNAT"] = echo(EGRESS, REMOTE, True, 0xF00D, 1, b"abcdefgh")
golden["ECHO_REPLY"] = echo(REMOTE, EGRESS, False, 0xF00D, 1, b"abcdefgh")
golden["ECHO_REPLY_UNSNAT"] = echo(REMOTE, POD, False, 0x0BAD, 1, b"abcdefgh")
# Port unreachable for our SNATed UDP, translated back to the pod.
off = udp(EGRESS, 61000, REMOTE, 53, b"query")
golden["ERR_UDP"] = error(REMOTE, EGRESS, 3, 3, 0, off)
golden["ERR_UDP_UNSNAT"] = error(REMOTE, POD, 3, 3, 0, udp(POD, 40000, REMOTE, 53, b"query"))
# Frag-needed for our SNATed TCP, quoting the whole TCP header (checksum inside the quote).
off = tcp(EGRESS, 61000, REMOTE, 443, 0x18, b"", b"x" * 1400)
golden["ERR_TCP"] = error(ROUTER, EGRESS, 3, 4, 1400, off, l4_bytes=20)
golden["ERR_TCP_UNSNAT"] = error(ROUTER, POD, 3, 4, 1400, tcp(POD, 40000, REMOTE, 443, 0x18, b"", b"x" * 1400), l4_bytes=20)
# Time exceeded for an echo request.
off = echo(EGRESS, REMOTE, True, 0xF00D, 7, b"abcdefgh")
golden["ERR_ECHO"] = error(ROUTER, EGRESS, 11, 0, 0, off)
golden["ERR_ECHO_UNSNAT"] = error(ROUTER, POD, 11, 0, 0, echo(POD, REMOTE, True, 0x0BAD, 7, b"abcdefgh"))
# IPv4 with options (record route, 7 bytes + EOL): L4 starts at IHL*4 = 28.
rr = bytes([7, 7, 4, 0, 0, 0, 0])
golden["TCP_IP_OPTIONS"] = ipv4(POD, REMOTE, 6, tcp(POD, 40000, REMOTE, 443, 0x10)[20:], options=rr)
golden["TCP_IP_OPTIONS_SNAT"] = ipv4(EGRESS, REMOTE, 6, tcp(EGRESS, 61000, REMOTE, 443, 0x10)[20:], options=rr)
# Frag-needed built for a 1500-byte DF TCP segment from the pod, MTU 1420.
big = tcp(POD, 40000, REMOTE, 443, 0x18, b"", b"y" * 1460)
golden["BIG_TCP_HEADERS"] = big[:40]  # the test rebuilds the rest with the factory
golden["FRAG_NEEDED"] = icmp("242.0.0.1", POD, 3, 4, 1420, big[:28], tos=0xC0, ident=0, flags=0)
# MSS clamp: NOP then MSS (value at an odd offset), clamped 1460 -> 1380 on a SYN-ACK.
opts = bytes([1, 2, 4, 0x05, 0xB4, 1, 1, 1])
golden["SYNACK_NOP_MSS"] = tcp(REMOTE, 443, POD, 40000, 0x12, opts)
golden["SYNACK_NOP_MSS_CLAMPED"] = tcp(REMOTE, 443, POD, 40000, 0x12, bytes([1, 2, 4, 0x05, 0x64, 1, 1, 1]))

print(f"// UDP_TO_FFFF: source port {golden_port}")
for name, pkt in golden.items():
    h = pkt.hex()
    lines = [h[i : i + 64] for i in range(0, len(h), 64)]
    if len(lines) == 1:
        print(f'const {name}: &str = "{h}";')
        continue
    print(f"const {name}: &str = concat!(")
    for l in lines:
        print(f'    "{l}",')
    print(");")
