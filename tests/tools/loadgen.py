"""A bounded HTTPS load generator that tells what each response was and which release sent it.

Runs inside a test container with the system python3 (standard library only), against nginx on
loopback, so traffic never leaves the container:

    python3 loadgen.py --name api.example.test --out /root/load.json [--path /] [--connections 8]
        [--rate 50] [--max-seconds 300] [--stop-file /root/load.stop]

It stops when the stop file appears or after --max-seconds, whichever comes first, and writes a
JSON summary: requests, responses per status, errors per kind, responses per X-App-Release
header, `stale_retries` and latency percentiles (p50, p99, max in ms).

Keep-alive connections are reused. When nginx reloads, its old workers close idle keep-alive
connections; a request sent on such a connection in the same instant gets no response at all.
RFC 9112 section 9.3.1 lets a client retry an idempotent request in exactly that case (a reused
connection closed before any byte of a response), and browsers, Go's net/http and urllib3 do.
So does this client, once, on a new connection, and counts it in `stale_retries`. Anything else
(a refused or reset fresh connection, a timeout, a partial response, a second failure) is an error.
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
    def __init__(self, args: argparse.Namespace, deadline: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.args = args
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
            try:
                try:
                    resp = self._once()
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # Only a reused connection closed before any response byte may be retried.
                    if self.conn is None or self.used <= 1:
                        raise
                    self.conn.close()
                    self.conn = None
                    self.stale_retries += 1
                    resp = self._once()
            except Exception as exc:  # noqa: BLE001 - every failure is counted by its kind
                self.errors[type(exc).__name__] += 1
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                time.sleep(0.01)
                continue
            self.latencies.append(time.monotonic() - sent)
            self.statuses[str(resp.status)] += 1
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
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.0, help="requests per second per connection (0: no limit)")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--stop-file", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    stop = threading.Event()
    started = time.monotonic()
    workers = [Worker(args, started + args.max_seconds, stop) for _index in range(args.connections)]
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
        "non_2xx": sum(count for status, count in statuses.items() if not status.startswith("2")),
        "errors": dict(errors),
        "failed": sum(errors.values()) + sum(count for status, count in statuses.items() if not status.startswith("2")),
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
