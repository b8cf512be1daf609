"""Helpers shared by the Molecule verifiers: probes and load run inside the container (traffic
stays on its loopback), playbooks run from the controller as a user runs them."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"

# Runs inside the container with its own python3: connects to 127.0.0.1 but sends the
# public name as Host header and TLS SNI, like a client that resolved the name.
PROBE = r"""
import http.client, json, socket, ssl, sys
scheme, port, path, name, source = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
headers = {**json.loads(sys.argv[6]), "Host": name}
conn = (http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection)(name, port, timeout=10)
sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
if scheme == "https":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = ctx.wrap_socket(sock, server_hostname=name)
conn.sock = sock
conn.request("GET", path, headers=headers)
resp = conn.getresponse()
body = resp.read().decode("utf-8", "replace")
print(json.dumps({"status": resp.status, "headers": {k.lower(): v for k, v in resp.getheaders()}, "body": body}))
"""


class Response:
    def __init__(self, raw):
        self.status = raw["status"]
        self.headers = raw["headers"]
        self.text = raw["body"]

    def json(self):
        return json.loads(self.text)


def fetch(host, path, scheme="https", port=None, name="api.example.test", source="127.0.0.1", headers=None):
    """GET path through nginx from inside the container; `source` picks the client address,
    `headers` adds request headers."""
    port = port or (443 if scheme == "https" else 80)
    cmd = host.run(
        "python3 -c %s %s %s %s %s %s %s", PROBE, scheme, str(port), path, name, source, json.dumps(headers or {})
    )
    assert cmd.rc == 0, cmd.stderr
    return Response(json.loads(cmd.stdout))


class PlaybookRun:
    """An ansible-playbook run with the JSON callback: exit code, failed task and its message."""

    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.report = json.loads(proc.stdout[proc.stdout.index("{") :])
        except ValueError:
            self.report = {}

    def host_results(self, play=None):
        """(host, task name, result) of every task, or of the plays named `play` only."""
        for each in self.report.get("plays", []):
            if play is not None and each["play"]["name"] != play:
                continue
            for task in each.get("tasks", []):
                for host, result in task.get("hosts", {}).items():
                    yield host, task["task"]["name"], result

    def results(self):
        for _host, name, result in self.host_results():
            yield name, result

    def failures_by_host(self):
        """host -> [(task name without its role prefix, its failed items' messages or [msg])]."""
        failed = {}
        for host, name, result in self.host_results():
            if result.get("failed"):
                items = [item.get("msg", "") for item in result.get("results", []) if item.get("failed")]
                name = result.get("check", name.split(" : ", 1)[-1])
                failed.setdefault(host, []).append((name, items or [result.get("msg")]))
        return failed

    def failure(self):
        """(task name, message) of the last failed task, the one that ended the run. A loop's
        message is the messages of its failed items, one per line. For pyops.fastapi.preflight, the
        name is the failed check's (the task evaluates a whole table of checks)."""
        failed = []
        for name, result in self.results():
            if result.get("failed"):
                items = [item.get("msg", "") for item in result.get("results", []) if item.get("failed")]
                failed.append((result.get("check", name), "\n".join(items) if items else result.get("msg", "")))
        return failed[-1] if failed else (None, None)

    def changed(self):
        return self.report.get("stats", {})

    def tail(self):
        return (self.stdout[-2000:] + self.stderr[-2000:]).strip()


def run_ansible_playbook(argv, timeout=900):
    """Run ansible-playbook with argv (its arguments) and the JSON callback; returns a PlaybookRun."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
    )
    executable = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"
    proc = subprocess.run([executable, *argv], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookRun(proc)


def run_playbook(playbook, extra_vars, *args, timeout=900):
    """Run a playbook of the collection by FQCN against the scenario's inventory, as a user would.

    ANSIBLE_COLLECTIONS_PATH from the provisioner decides which copy of the collection runs:
    the checkout, or the one installed from the tarball.
    """
    argv = ["-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook, "-e", json.dumps(extra_vars), *args]
    return run_ansible_playbook(argv, timeout=timeout)


@contextmanager
def load(host, name="api.example.test", path="/", connections=4, rate=25, release_header="X-App-Release"):
    """Bounded load through nginx for the duration of the with-block; yields a dict that holds
    the load generator's summary afterwards (see tests/tools/loadgen.py)."""
    host.run_expect([0], "echo %s | base64 -d > /root/loadgen.py", base64.b64encode(LOADGEN.read_bytes()).decode())
    host.run_expect([0], "rm -f /root/load.json /root/load.stop")
    argv = [
        "python3",
        "/root/loadgen.py",
        "--name",
        name,
        "--path",
        path,
        "--connections",
        str(connections),
        "--rate",
        str(rate),
        "--max-seconds",
        "600",
        "--stop-file",
        "/root/load.stop",
        "--out",
        "/root/load.json",
        "--release-header",
        release_header,
    ]
    host.run_expect([0], "setsid " + " ".join(shlex.quote(a) for a in argv) + " </dev/null >/root/load.log 2>&1 &")
    time.sleep(1)  # some traffic before the change starts (the playbook's checks add more)
    summary = {}
    try:
        yield summary
    finally:
        time.sleep(1)  # some traffic after the change
        host.run_expect([0], "touch /root/load.stop")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not host.file("/root/load.json").exists:
            time.sleep(0.5)
        out = host.run("cat /root/load.json")
        assert out.rc == 0, host.run("cat /root/load.log").stdout
        summary.update(json.loads(out.stdout))
        # One line per load window, for the figures in notes and README (.cache/ is not committed).
        report = Path(os.environ.get("PYOPS_LOAD_REPORT", REPO / ".cache" / "load-report.jsonl"))
        report.parent.mkdir(parents=True, exist_ok=True)
        with report.open("a", encoding="utf-8") as handle:
            test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
            handle.write(json.dumps({"test": test, "name": name, **summary}) + "\n")


def host_fingerprint(host):
    """Everything the stack writes: paths, sizes, modes, link targets, mtimes."""
    paths = "/opt /etc/nginx /etc/systemd/system /etc/letsencrypt /var/www"
    cmd = host.run(
        "find %s -xdev \\( -type f -o -type l -o -type d \\) -printf '%%p %%s %%m %%l %%T@\\n' 2>/dev/null | sort",
        paths,
    )
    return cmd.stdout
