"""Time to the first 200 after a host (container) starts: polls nginx on loopback every 20 ms until
/health answers 200, then prints as JSON how long that took from the start of the container's PID 1
(host_to_200), from the start of the live slot's unit (app_to_200: the app's own start-up, as seen
through nginx) and from nginx's start (nginx_to_200). Runs inside the container with its python3:

    python3 first_200.py <live slot unit> <server name>

Used by the certbot scenario's restart test and by benchmarks/deploy_bench.py.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time


def answered(name: str) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection(("127.0.0.1", 443), timeout=2)
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(f"GET /health HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            return tls.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def started(unit: str) -> float:
    """When the unit's main process started, on CLOCK_MONOTONIC (systemd's *TimestampMonotonic)."""
    out = subprocess.run(
        ["systemctl", "show", "-p", "ExecMainStartTimestampMonotonic", "--value", unit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return int(out) / 1e6


def main() -> int:
    unit, name = sys.argv[1], sys.argv[2]
    deadline = time.monotonic() + 120
    while not answered(name):
        if time.monotonic() > deadline:
            print("no 200 within 120 s", file=sys.stderr)
            return 1
        time.sleep(0.02)
    ok_mono, ok_boot = time.clock_gettime(time.CLOCK_MONOTONIC), time.clock_gettime(time.CLOCK_BOOTTIME)
    # PID 1's start, field 22 of /proc/1/stat, in clock ticks since boot (CLOCK_BOOTTIME).
    with open("/proc/1/stat", encoding="ascii") as handle:
        pid1_boot = int(handle.read().rpartition(")")[2].split()[19]) / os.sysconf("SC_CLK_TCK")
    times = {
        "host_to_200": ok_boot - pid1_boot,
        "app_to_200": ok_mono - started(unit),
        "nginx_to_200": ok_mono - started("nginx.service"),
    }
    print(json.dumps({key: round(value, 3) for key, value in times.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
