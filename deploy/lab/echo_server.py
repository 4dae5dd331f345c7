#!/usr/bin/env python3
"""The lab's "pod": an HTTP + UDP echo server on one port (default 8080).

It answers with what it saw, so a cross-cluster request shows which source
address arrived after the gateways' double NAT:

  TCP (HTTP/1.0):
    GET  /                -> "hello from <cluster>; you are <client ip>:<port>\n"
    GET  /bytes?n=N       -> N pseudo-random bytes, the first N bytes of
                             SHAKE-128("gwlab-bytes"), so a client can compute
                             the expected sha256 itself
    POST /sha256          -> hex sha256 of the request body + "\n"
    GET  /healthz         -> "ok\n"
  UDP:
    any datagram          -> "<cluster> saw <client ip>:<port>: <payload>"

Python 3 standard library only; run it inside the pod's network namespace.
"""

import argparse
import hashlib
import http.server
import socket
import socketserver
import struct
import sys
import threading
import urllib.parse

BYTES_SEED = b"gwlab-bytes"
MAX_BYTES = 256 * 1024 * 1024  # 256 MiB: generous for the 20 MiB test, bounded memory
MAX_BODY = 1024 * 1024 * 1024  # 1 GiB: the body is hashed as it streams, never stored
CHUNK = 64 * 1024
CLIENT_TIMEOUT_SECONDS = 60  # a stalled client frees its thread after this
UDP_MAX_DATAGRAM = 65535
# Linux value of IP_PKTINFO; the socket module does not export it on every build.
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IN_PKTINFO = struct.Struct("=I4s4s")  # ifindex, spec_dst, addr


def deterministic_bytes(n: int) -> bytes:
    """The /bytes payload; tests recompute it to check the transfer end to end."""
    return hashlib.shake_128(BYTES_SEED).digest(n)


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "gwlab-echo/1"
    timeout = CLIENT_TIMEOUT_SECONDS
    cluster = "cluster-?"

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _client(self) -> str:
        host, port = self.client_address[:2]
        return f"{host}:{port}"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/":
            self._reply(200, f"hello from {self.cluster}; you are {self._client()}\n".encode())
        elif url.path == "/healthz":
            self._reply(200, b"ok\n")
        elif url.path == "/bytes":
            self._send_bytes(urllib.parse.parse_qs(url.query).get("n", [""])[0])
        else:
            self._reply(404, f"no such path: {url.path}\n".encode())

    def _send_bytes(self, n_text: str) -> None:
        if not n_text.isdigit() or int(n_text) > MAX_BYTES:
            self._reply(400, f"n must be an integer in 0..={MAX_BYTES}, got {n_text!r}\n".encode())
            return
        payload = deterministic_bytes(int(n_text))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        view = memoryview(payload)
        for start in range(0, len(view), CHUNK):
            self.wfile.write(view[start : start + CHUNK])

    def do_POST(self) -> None:  # noqa: N802
        if urllib.parse.urlsplit(self.path).path != "/sha256":
            self._reply(404, f"no such path: {self.path}\n".encode())
            return
        length_text = self.headers.get("Content-Length", "")
        if not length_text.isdigit():
            self._reply(411, b"POST /sha256 needs a Content-Length\n")
            return
        remaining = int(length_text)
        if remaining > MAX_BODY:
            self._reply(413, f"body over {MAX_BODY} bytes\n".encode())
            return
        digest = hashlib.sha256()
        while remaining > 0:
            chunk = self.rfile.read(min(CHUNK, remaining))
            if not chunk:
                self._reply(400, f"body ended {remaining} bytes early\n".encode())
                return
            digest.update(chunk)
            remaining -= len(chunk)
        self._reply(200, (digest.hexdigest() + "\n").encode())

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write(f"{self.cluster} http {self._client()} {fmt % args}\n")


class HttpServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_udp(sock: socket.socket, cluster: str) -> None:
    """Echo loop. The reply leaves from the address the request was sent to
    (IP_PKTINFO): the service address 10.96.0.10 lives on lo, and a reply sent
    from the pod's eth0 address instead would not match the gateway's NAT flow."""
    sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    ancillary_size = socket.CMSG_SPACE(IN_PKTINFO.size)
    while True:
        payload, ancillary, _flags, client = sock.recvmsg(UDP_MAX_DATAGRAM, ancillary_size)
        local_addr = None
        for level, kind, data in ancillary:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= IN_PKTINFO.size:
                _ifindex, _spec_dst, local_addr = IN_PKTINFO.unpack(data[: IN_PKTINFO.size])
        reply = f"{cluster} saw {client[0]}:{client[1]}: ".encode() + payload
        reply = reply[:UDP_MAX_DATAGRAM - 28]  # stay within one IPv4 UDP datagram
        cmsg = []
        if local_addr is not None:
            cmsg = [(socket.IPPROTO_IP, IP_PKTINFO, IN_PKTINFO.pack(0, local_addr, bytes(4)))]
        try:
            sock.sendmsg([reply], cmsg, 0, client)
        except OSError as err:  # an unreachable client must not stop the echo loop
            sys.stderr.write(f"{cluster} udp reply to {client} failed: {err}\n")
            continue
        sys.stderr.write(f"{cluster} udp {client[0]}:{client[1]} {len(payload)} bytes\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cluster", required=True, help="name shown in answers, e.g. cluster-b")
    parser.add_argument("--address", default="0.0.0.0", help="listen address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="TCP and UDP port (default 8080)")
    args = parser.parse_args()

    Handler.cluster = args.cluster
    http_server = HttpServer((args.address, args.port), Handler)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((args.address, args.port))
    threading.Thread(target=serve_udp, args=(udp, args.cluster), daemon=True).start()
    sys.stderr.write(f"{args.cluster} echo server on {args.address}:{args.port} (tcp+udp)\n")
    sys.stderr.flush()
    try:
        http_server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
