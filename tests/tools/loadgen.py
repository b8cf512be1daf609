"""A bounded HTTPS load generator that tells what each response was and which release sent it.

Runs inside a test container with the system python3 (standard library only), against nginx on
loopback, so traffic never leaves the container:

    python3 loadgen.py --name api.example.test --out /root/load.json [--path /] [--connections 8]
        [--post-connections 2] [--post-status 405] [--rate 50] [--max-seconds 300]
        [--stop-file /root/load.stop] [--retry-stale]

It stops when the stop file appears or after --max-seconds, whichever comes first, and writes a
JSON summary: requests, responses per status, errors per kind, requests and failures per method,
responses per X-App-Release header, `stale_retries` and latency percentiles (p50, p99, max in ms).

--connections send GETs; --post-connections send POSTs with a small JSON body to the same path,
which nginx never resends to the upstream. A POST succeeds with --post-status: the apps under test
have no POST route there, so their own 405 answers it, which proves the request went through nginx
and an upstream connection to the app and came back.

Keep-alive connections are reused, and by default nothing is retried: a request sent on a
connection the server closes in the same instant fails, and counts as an error named
stale_<exception>. That is what a deploy must never cause (when nginx reloads, its old workers
close idle client connections). With --retry-stale the client behaves like a browser instead:
RFC 9112 section 9.3.1 lets it resend an idempotent request in exactly that case (a reused
connection closed before any byte of a response); it does so once for a GET, on a new connection,
and counts it in `stale_retries`. Anything else (a refused or reset fresh connection, a timeout, a
partial response, a second failure, any failed POST) is an error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import socket
import ssl
import threading
import time
from collections import Counter


class Worker(threading.Thread):
    def __init__(self, args: argparse.Namespace, deadline: float, stop: threading.Event, method: str) -> None:
        super().__init__(daemon=True)
        self.args = args
        self.method = method
        self.expected = str(args.post_status) if method == "POST" else "2"
        self.sent = 0
        self.failed = 0
        self.deadline = deadline
        self.stop = stop
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.releases: Counter[str] = Counter()
        self.stale_retries = 0
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0  # requests sent on the current connection
        self.latencies: list[float] = []  # seconds per answered request, retries included

    def _connect(self) -> http.client.HTTPConnection:
        if self.args.scheme == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(self.args.name, self.args.port, timeout=self.args.timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection(self.args.name, self.args.port, timeout=self.args.timeout)
        sock = socket.create_connection((self.args.address, self.args.port), timeout=self.args.timeout)
        if self.args.scheme == "https":
            sock = conn._context.wrap_socket(sock, server_hostname=self.args.name)  # noqa: SLF001
        conn.sock = sock
        self.used = 0
        return conn

    def _once(self) -> http.client.HTTPResponse:
        if self.conn is None:
            self.conn = self._connect()
        self.used += 1
        if self.method == "POST":
            body = json.dumps({"sent": self.sent}).encode()
            headers = {"Host": self.args.name, "Content-Type": "application/json"}
            self.conn.request("POST", self.args.post_path or self.args.path, body=body, headers=headers)
        else:
            self.conn.request("GET", self.args.path, headers={"Host": self.args.name})
        resp = self.conn.getresponse()
        resp.read()
        if resp.will_close:
            self.conn.close()
            self.conn = None
        return resp

    def run(self) -> None:
        interval = 1.0 / self.args.rate if self.args.rate > 0 else 0.0
        next_at = time.monotonic()
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            if interval:
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))
            sent = time.monotonic()
            self.sent += 1
            stale = False
            try:
                try:
                    resp = self._once()
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError):
                    # A reused connection closed before any response byte: only a GET may be resent.
                    stale = self.conn is not None and self.used > 1
                    if not (stale and self.args.retry_stale and self.method == "GET"):
                        raise
                    self.conn.close()
                    self.conn = None
                    self.stale_retries += 1
                    stale = False
                    resp = self._once()
            except Exception as exc:  # noqa: BLE001 - every failure is counted by its kind
                self.errors[("stale_" if stale else "") + type(exc).__name__] += 1
                self.failed += 1
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                time.sleep(0.01)
                continue
            self.latencies.append(time.monotonic() - sent)
            self.statuses[f"{self.method} {resp.status}"] += 1
            if not str(resp.status).startswith(self.expected):
                self.failed += 1
            self.releases[resp.getheader(self.args.release_header) or "-"] += 1


def percentile_ms(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted seconds, in milliseconds (None without samples)."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return round(ordered[rank - 1] * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="Host header and TLS server name")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--scheme", choices=["http", "https"], default="https")
    parser.add_argument("--path", default="/")
    parser.add_argument("--release-header", default="X-App-Release", help="response header naming the release")
    parser.add_argument("--connections", type=int, default=8, help="connections that send GETs")
    parser.add_argument("--post-connections", type=int, default=0, help="connections that send POSTs")
    parser.add_argument("--post-status", type=int, default=405, help="the status a POST is answered with")
    parser.add_argument("--post-path", default="", help="where POSTs go (default: --path)")
    parser.add_argument("--retry-stale", action="store_true", help="resend a GET once on a stale keep-alive connection")
    parser.add_argument("--rate", type=float, default=0.0, help="requests per second per connection (0: no limit)")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--stop-file", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    stop = threading.Event()
    started = time.monotonic()
    workers = [Worker(args, started + args.max_seconds, stop, "GET") for _index in range(args.connections)]
    workers += [Worker(args, started + args.max_seconds, stop, "POST") for _index in range(args.post_connections)]
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers):
        if args.stop_file and os.path.exists(args.stop_file):
            stop.set()
        time.sleep(0.1)
    elapsed = time.monotonic() - started

    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    releases: Counter[str] = Counter()
    for worker in workers:
        statuses.update(worker.statuses)
        errors.update(worker.errors)
        releases.update(worker.releases)
    responses = sum(statuses.values())
    latencies = sorted(latency for worker in workers for latency in worker.latencies)
    summary = {
        "seconds": round(elapsed, 2),
        "requests": responses + sum(errors.values()),
        "responses": responses,
        "statuses": dict(statuses),
        "errors": dict(errors),
        "failed": sum(worker.failed for worker in workers),
        "methods": {
            method: {
                "requests": sum(worker.sent for worker in workers if worker.method == method),
                "failed": sum(worker.failed for worker in workers if worker.method == method),
            }
            for method in ("GET", "POST")
        },
        "stale_retries": sum(worker.stale_retries for worker in workers),
        "releases": dict(releases),
        "latency_ms": {name: percentile_ms(latencies, q) for name, q in (("p50", 0.50), ("p99", 0.99), ("max", 1.0))},
    }
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(summary, handle)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
