"""Helpers for the cluster verify: one load balancer (lb) and two app servers (app1, app2) on the
scenario's network; load runs inside the load balancer against its own nginx (tests/tools/stack.py)."""

import os
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))

import stack  # noqa: E402
from stack import APP, NAME  # noqa: E402

ADDRESSES = {"lb": "10.231.47.10", "app1": "10.231.47.11", "app2": "10.231.47.12"}
# The scenario's network gateway: this machine, the controller, as seen by the containers.
GATEWAY = "10.231.47.1"
MEMBERS = f"/etc/nginx/pyops/{APP}.members.conf"


def _host(name):
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://pyops-cluster-{name}?ansible_inventory={inventory}")


@pytest.fixture(scope="session")
def lb():
    return _host("lb")


@pytest.fixture(scope="session")
def app1():
    return _host("app1")


@pytest.fixture(scope="session")
def app2():
    return _host("app2")


# Appends the members file's servers marked down, every 0.1 s, to a log on the load balancer.
WATCH = r"""
import sys, time
path, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
deadline = time.monotonic() + 900
seen = None
with open(out, "w") as log:
    while time.monotonic() < deadline:
        try:
            down = sorted(line.split()[1] for line in open(path) if line.rstrip().endswith(" down;"))
        except OSError:
            down = ["unreadable"]
        if down != seen:
            log.write(" ".join(down) + "\n")
            log.flush()
            seen = down
        try:
            open(stop).close()
            break
        except OSError:
            time.sleep(0.1)
"""


@contextmanager
def watch_members(lb, seen=None):
    """Yields a list (`seen`, or a new one) that holds, afterwards, each distinct set of drained
    servers seen in order."""
    stack.put_file(lb, "/root/watch.py", WATCH.encode())
    lb.run_expect([0], "rm -f /root/watch.stop /root/watch.log")
    lb.run_expect(
        [0], "setsid python3 /root/watch.py %s /root/watch.log /root/watch.stop </dev/null >/dev/null 2>&1 &", MEMBERS
    )
    time.sleep(0.5)
    seen = [] if seen is None else seen
    try:
        yield seen
    finally:
        lb.run_expect([0], "touch /root/watch.stop")
        time.sleep(0.5)
        # Not check_output: it strips the last line, "" once every server is back.
        seen.extend(lb.run_expect([0], "cat /root/watch.log").stdout.split("\n")[:-1])


def deploy_under_load(lb, extra_vars, playbook="pyops.fastapi.site", name=NAME, path="/", during=None):
    """Run a playbook while load runs through the load balancer; returns (run, load summary,
    upstream field of each request the load balancer logged, drained sets seen). `during`: another
    context manager entered before the load starts and left after it stops."""
    drained = []

    @contextmanager
    def watchers():
        with watch_members(lb, drained), during or nullcontext():
            yield

    # The load balancers reload to take a batch out of rotation and back (each reload closes idle client
    # connections), so the client resends a GET that met a closed keep-alive connection, as browsers do.
    run, summary, upstreams = stack.deploy_under_load(
        lb, extra_vars, playbook, name=name, path=path, during=watchers(), retry_stale=True
    )
    return run, summary, upstreams, drained


def raw_request(host, address, port, path="/health", name=NAME):
    """One HTTP/1.1 request from `host` to address:port; ('answer', status line) or ('closed'|'refused', reason)."""
    script = r"""
import socket, sys
address, port, path, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    sock = socket.create_connection((address, port), timeout=5)
except OSError as exc:
    print("refused", type(exc).__name__); sys.exit(0)
sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
data = b""
try:
    while chunk := sock.recv(4096):
        data += chunk
except OSError as exc:
    print("closed", type(exc).__name__); sys.exit(0)
print("answer", data.split(b"\r\n", 1)[0].decode() if data else "") if data else print("closed", "no bytes")
"""
    out = host.check_output("python3 -c %s %s %s %s %s", script, address, str(port), path, name)
    kind, detail = (out.split(" ", 1) + [""])[:2]
    return kind, detail
