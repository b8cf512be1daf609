"""Helpers shared by the Molecule verifiers, each written once: the apps the scenarios deploy, what
a host's layout says about them (slots, releases, units, nginx's access log), probes and load run
inside the container (traffic stays on its loopback), watchers, playbooks run from the controller as
a user runs them. Each scenario's conftest.py puts this directory on sys.path."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager, nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).resolve().parent
LOADGEN = TOOLS / "loadgen.py"
PROCESS_WATCH = TOOLS / "process_watch.py"

# The bundled example app, as every scenario deploys it.
APP = "fastapi-app"
NAME = "api.example.test"
EXAMPLE_APP = REPO / "roles" / "app" / "files" / "example_app"

# The second app, of another shape (deploy and cluster scenarios): package module path, health
# endpoints under /_status with their own JSON, settings from plain environment variables, its own
# name and release header. ORDERS_VARS: what every deploy of it passes, whatever its source.
ORDERS = "orders-api"
ORDERS_NAME = "orders.example.test"
ORDERS_HEADER = "X-Orders-Build"
ORDERS_SOURCE = REPO / "molecule" / "deploy" / "apps" / "orders"
ORDERS_ENDPOINTS = [
    {"path": "/_status/live", "json": {"alive": True}},
    {"path": "/_status/ready", "status": [200], "json": {"state": "accepting", "checks": {"config": "ok"}}},
]
ORDERS_VARS = {
    "app_name": ORDERS,
    "app_module": "orders.api.asgi:application",
    "app_secret_key": "orders-secret-7c2e9a4b1d8f3e6a0b5c2d9e4f7a1b3c",
    "app_env": {"ORDERS_GREETING": "hello"},
    "nginx_server_name": ORDERS_NAME,
    "release_health_endpoints": ORDERS_ENDPOINTS,
    # Server-sent events and large bodies on a path of their own (deploy test_c_second_app.py tests it):
    # in every deploy of the app, so that no test's deploy changes nginx's site by leaving it out.
    "nginx_extra_locations": [
        {"path": "/orders/stream", "read_timeout": "1h", "buffering": False, "client_max_body_size": "20m"}
    ],
}


def set_orders_version(src, version, extra_code=""):
    """In a copy of the second app at `src`: its VERSION (what /orders/ping answers) becomes `version`,
    and `extra_code` is appended to its ASGI module."""
    asgi = src / "orders" / "api" / "asgi.py"
    text = re.sub(r'(?m)^VERSION = "[^"]*"$', f'VERSION = "{version}"', asgi.read_text(), count=1)
    asgi.write_text(text + extra_code)


# Runs inside the container with its own python3: connects to 127.0.0.1 but sends the
# public name as Host header and TLS SNI, like a client that resolved the name.
PROBE = r"""
import base64, http.client, json, socket, ssl, sys
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
data = resp.read()
print(json.dumps({"status": resp.status, "headers": {k.lower(): v for k, v in resp.getheaders()},
                  "body": data.decode("utf-8", "replace"), "raw": base64.b64encode(data).decode()}))
"""


class Response:
    def __init__(self, raw):
        self.status = raw["status"]
        self.headers = raw["headers"]
        self.text = raw["body"]
        # The body's bytes (a compressed one is not text).
        self.content = base64.b64decode(raw["raw"])

    def json(self):
        return json.loads(self.text)


def fetch(host, path, scheme="https", port=None, name=NAME, source="127.0.0.1", headers=None):
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


def run_ansible_playbook(argv, timeout=900, config=REPO / "ansible.cfg", collections_path=None):
    """Run ansible-playbook with argv (its arguments) and the JSON callback; returns a PlaybookRun.
    `config`: the ansible.cfg to run with; None keeps the environment's (Molecule's own, which a
    scenario's converge.yml runs with). `collections_path`: the only place to look for collections
    besides the ansible package's (another release of this one: see install_collection)."""
    env = dict(
        os.environ,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
    )
    if config is not None:
        env["ANSIBLE_CONFIG"] = str(config)
    if collections_path is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path)
    executable = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"
    proc = subprocess.run([executable, *argv], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookRun(proc)


def run_playbook(playbook, extra_vars, *args, timeout=900, collections_path=None):
    """Run a playbook of the collection by FQCN against the scenario's inventory, as a user would.

    ANSIBLE_COLLECTIONS_PATH from the provisioner decides which copy of the collection runs:
    the checkout, or the one installed from the tarball; `collections_path` replaces it (an older
    release installed by install_collection).
    """
    argv = ["-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook, "-e", json.dumps(extra_vars), *args]
    return run_ansible_playbook(argv, timeout=timeout, collections_path=collections_path)


def install_collection(tarball, path):
    """Install a collection tarball (no dependencies: they come with the ansible package) into `path`,
    a collections path of its own; returns `path`. Only `path` is searched, or a copy found elsewhere
    (the checkout's, the one the scenario runs) would count as already installed."""
    executable = shutil.which("ansible-galaxy", path=str(Path(sys.executable).parent)) or "ansible-galaxy"
    proc = subprocess.run(  # noqa: S603 - our own fixture
        [executable, "collection", "install", "--no-deps", "-p", str(path), str(tarball)],
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
    return path


def run_playbook_killed_when(host, playbook, extra_vars, condition, what, max_seconds=600):
    """Start a playbook as run_playbook does and SIGKILL it, with its forks, as soon as `condition(host)`
    holds (polled over the container's exec), as when a controller dies mid-deploy. Returns the seconds
    until the kill. Fails when the playbook ends first: the step `what` names was never reached."""
    argv = ["-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook, "-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    executable = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - our own playbook
        [executable, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        while time.monotonic() - started < max_seconds:
            if proc.poll() is not None:
                output = proc.stdout.read().decode("utf-8", "replace")
                raise AssertionError(f"the playbook ended (rc {proc.returncode}) before {what}: {output[-3000:]}")
            if condition(host):
                os.killpg(proc.pid, signal.SIGKILL)
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"{what} not reached within {max_seconds} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


@contextmanager
def second_run_once_locked(host, lock, playbook, extra_vars, result, max_seconds=120):
    """Starts another run of `playbook` (a person while a pipeline deploys) as soon as the deploy lock
    file `lock` exists on `host`; its PlaybookRun is in result["run"] once the with-block ends."""

    def second():
        deadline = time.monotonic() + max_seconds
        while not host.file(lock).exists and time.monotonic() < deadline:
            time.sleep(0.2)
        result["run"] = run_playbook(playbook, extra_vars)

    runner = threading.Thread(target=second)
    runner.start()
    try:
        yield
    finally:
        runner.join(timeout=900)


# Base64 characters per command: one argument of a command line may hold at most 128 KiB (MAX_ARG_STRLEN).
PUT_CHUNK = 96 * 1024


def wait_for(predicate, what, seconds=30):
    """predicate()'s first true value, polled every 0.5 s; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {seconds} s")


def put_file(host, path, data, mode="0600"):
    """Write `data` (bytes) to `path` in the container, created by root with `mode` (through base64:
    any bytes, no quoting; in pieces, so a file of any size fits on the command lines)."""
    encoded = base64.b64encode(data).decode()
    host.run_expect([0], "umask 077 && : > %s.b64", path)
    for start in range(0, len(encoded), PUT_CHUNK):
        host.run_expect([0], "echo %s >> %s.b64", encoded[start : start + PUT_CHUNK], path)
    host.run_expect([0], "umask 077 && base64 -d %s.b64 > %s && rm %s.b64 && chmod %s %s", path, path, path, mode, path)


@contextmanager
def load(
    host,
    name=NAME,
    path="/",
    connections=4,
    rate=25,
    release_header="X-App-Release",
    retry_stale=False,
    post_path="",
    post_status=405,
):
    """Bounded load through nginx for the duration of the with-block: `connections` sending GETs to
    `path` and 2 sending POSTs to `post_path` (default `path`: the apps answer 405 there, `post_status`),
    nothing retried unless `retry_stale` (see tests/tools/loadgen.py); yields a dict that holds the load
    generator's summary afterwards."""
    put_file(host, "/root/loadgen.py", LOADGEN.read_bytes())
    host.run_expect([0], "rm -f /root/load.json /root/load.stop")
    argv = (
        [
            "python3",
            "/root/loadgen.py",
            "--name",
            name,
            "--path",
            path,
            "--connections",
            str(connections),
            "--post-connections",
            "2",
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
            "--post-status",
            str(post_status),
        ]
        + (["--retry-stale"] if retry_stale else [])
        + (["--post-path", post_path] if post_path else [])
    )
    host.run_expect([0], "setsid " + " ".join(shlex.quote(a) for a in argv) + " </dev/null >/root/load.log 2>&1 &")
    # No wait before the change: a playbook reads and checks for seconds before it changes anything.
    summary = {}
    try:
        yield summary
    finally:
        time.sleep(0.5)  # some traffic after the change (the playbook's last steps already ran with it)
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
    """Everything the stack writes: every file and link with its size, mode, target and mtime, and
    every directory with its mode. A directory's mtime is left out: a lock file that certbot creates
    and removes while it only reads (/etc/letsencrypt/.certbot.lock) changes it without changing
    any file."""
    # The paths in the command itself: testinfra quotes each format argument as one word, which made
    # find look for one path named "/opt /etc/nginx ..." and the fingerprint empty before 0.7.0.
    cmd = host.run(
        "find /opt /etc/nginx /etc/systemd/system /etc/letsencrypt /var/www -xdev"
        " \\( -type d -printf '%p %m\\n' \\) -o \\( \\( -type f -o -type l \\) -printf '%p %s %m %l %T@\\n' \\)"
        " 2>/dev/null | sort"
    )
    fingerprint = cmd.stdout
    assert "/etc/nginx/nginx.conf" in fingerprint, "the host fingerprint lists nothing: " + cmd.stderr[-300:]
    return fingerprint


def assert_no_request_failed(summary):
    """The load generator's summary of a window: enough requests, POSTs among them, and none failed
    (nor any connection broken: the client retries nothing unless told to)."""
    assert summary["requests"] >= 200, summary
    assert summary["methods"]["POST"]["requests"] >= 20, summary
    assert summary["failed"] == 0, summary
    assert summary["errors"] == {}, summary


def assert_only_reload_races(summary):
    """For a window in which nginx itself reloads (a cluster's load balancers take batches out of rotation
    and back, or their own configuration changes): enough requests, POSTs among them, every GET answered
    (the client resends a GET once on a keep-alive connection the reload closed, as browsers do), every
    response the expected one, and the only failures POSTs sent on an idle connection in the instant an old
    nginx worker closed it (no client may resend a POST). Returns how many POSTs failed that way."""
    assert summary["requests"] >= 200, summary
    assert summary["methods"]["POST"]["requests"] >= 20, summary
    assert summary["methods"]["GET"]["failed"] == 0, summary
    assert all(kind.startswith("stale_") for kind in summary["errors"]), summary
    lost = sum(summary["errors"].values())
    assert summary["failed"] == lost, summary
    # A race of one request with one reload: rare, or something else closes connections.
    assert lost <= summary["methods"]["POST"]["requests"] // 1000 + 2, summary
    return lost


# --- an app's layout on a host: /opt/<app>/{slots/live,current,releases}, <app>@<slot>.service --------


def live_slot(host, app=APP):
    return host.check_output("readlink /opt/%s/slots/live", app)


def idle_slot(host, app=APP):
    return "green" if live_slot(host, app) == "blue" else "blue"


def slot_unit(slot, app=APP):
    return f"{app}@{slot}.service"


def live_unit(host, app=APP):
    return slot_unit(live_slot(host, app), app)


def master_pid(host, app=APP, slot=None):
    """The gunicorn master of the live slot's unit (or of `slot`'s); 0 when it runs none."""
    unit = slot_unit(slot or live_slot(host, app), app)
    return int(host.check_output("systemctl show -p MainPID --value %s", unit))


def live_release_dir(host, app=APP):
    """The live release's directory, /opt/<app>/releases/<id>."""
    return host.check_output("readlink -f /opt/%s/current", app)


def live_release(host, app=APP):
    """The live release's id."""
    return live_release_dir(host, app).rsplit("/", 1)[-1]


def assert_venv_from_lock(host, app, tool):
    """The live release's virtualenv was installed from a lock file's export (pyops.fastapi.app, a uv.lock
    or poetry.lock as app_requirements_file): the export, with hashes, pins the server packages; the
    lock's development group (pytest) and the exporting tool (`tool`) are not in it."""
    venv = host.check_output("readlink -f /opt/%s/current/.venv", app)
    exported = host.file(f"{venv}/.pyops-locked-requirements.txt")
    assert exported.exists and exported.user == "root", venv
    text = exported.content_string
    assert "gunicorn==27.0.1" in text and "--hash=sha256:" in text, text[:500]
    assert "pytest" not in text, "the lock's dev group was exported"
    assert host.run("%s/bin/python -c 'import gunicorn, uvicorn_worker, fastapi'", venv).rc == 0
    assert host.run("%s/bin/python -c 'import pytest'", venv).rc == 1
    assert not host.file(f"{venv}/bin/{tool}").exists, f"{tool} left in the app's virtualenv"
    assert not host.file(f"{venv}/.pyops-export-tool").exists
    return venv


def access_log_size(host, app=APP):
    return int(host.check_output("stat -c %%s /var/log/nginx/%s.access.log", app))


# A line of the site's access log in the combined format (nginx_access_log_format: combined).
COMBINED_LINE = re.compile(
    r'(?P<remote_addr>\S+) .*?"(?P<request>[^"]*)" (?P<status>\d{3}) .* upstream=(?P<upstream>.*?) rt='
)


def access_log_entry(line):
    """A line of an app's nginx access log, in either format (nginx_access_log_format), as a dict with at
    least remote_addr, request, status (an int) and upstream; None for a line of neither."""
    if line.startswith("{"):
        entry = json.loads(line)
        # As the combined format writes it: '-' for a request nginx answered itself.
        return {**entry, "upstream": entry["upstream"] or "-"}
    match = COMBINED_LINE.match(line)
    return {**match.groupdict(), "status": int(match["status"])} if match else None


def access_log(host, app=APP, offset=0, grep=""):
    """The entries (access_log_entry) nginx logged for `app` after byte `offset`, those whose line holds
    `grep` only when it is given."""
    out = host.check_output("tail -c +%s /var/log/nginx/%s.access.log", str(offset + 1), app)
    entries = (access_log_entry(line) for line in out.splitlines() if grep in line)
    return [entry for entry in entries if entry is not None]


def upstreams_since(host, offset, app=APP, each_attempt=False):
    """The upstream field ($upstream_addr) of each request nginx logged after byte `offset`, a list.
    each_attempt: instead, how often nginx tried each address (a request that nginx retried on a new
    connection lists the address twice, "a, a"), a Counter."""
    fields = [entry["upstream"] for entry in access_log(host, app, offset)]
    if each_attempt:
        return Counter(address.strip() for field in fields for address in field.split(","))
    return fields


def deploy_under_load(
    host,
    extra_vars,
    playbook="pyops.fastapi.site",
    *,
    app=APP,
    name=NAME,
    path="/",
    header="X-App-Release",
    each_attempt=False,
    during=None,
    **load_options,
):
    """Run a playbook while load runs through `host`'s nginx; returns (run, load summary, upstreams
    nginx used: see upstreams_since and its each_attempt). `during`: a context manager entered before
    the load starts and left after it stops (a watcher). `load_options`: load's retry_stale, post_path
    and post_status."""
    offset = access_log_size(host, app)
    window = load(host, name=name, path=path, release_header=header, **load_options)
    with during or nullcontext(), window as summary:
        run = run_playbook(playbook, extra_vars)
    return run, summary, upstreams_since(host, offset, app, each_attempt=each_attempt)


@contextmanager
def watch_processes(host, secret_files, mark, track=None, max_seconds=900):
    """Run tests/tools/process_watch.py in the container for the duration of the with-block: it looks
    for the secret of each of `secret_files` (files in the container) in every process's command line
    and environment, and records the command lines that match the regular expression `mark`. Yields a
    dict that holds its report afterwards: samples, leaks, marked, tracked."""
    put_file(host, "/root/process_watch.py", PROCESS_WATCH.read_bytes())
    host.run_expect([0], "rm -f /root/process-watch.json /root/process-watch.stop")
    argv = [
        "setsid",
        "python3",
        "/root/process_watch.py",
        *(f"--secret-file={path}" for path in secret_files),
        f"--mark={mark}",
        *([f"--track={track}"] if track else []),
        "--stop=/root/process-watch.stop",
        "--out=/root/process-watch.json",
        f"--max-seconds={max_seconds}",
    ]
    host.run_expect([0], " ".join(shlex.quote(a) for a in argv) + " </dev/null >/root/process-watch.log 2>&1 &")
    report = {}
    try:
        yield report
    finally:
        host.run_expect([0], "touch /root/process-watch.stop")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not host.file("/root/process-watch.json").exists:
            time.sleep(0.2)
    report.update(json.loads(host.file("/root/process-watch.json").content_string))
