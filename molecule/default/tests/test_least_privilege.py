"""Least privilege of the running slot: nothing writable executes, bounded memory and tasks, no
chown, a socket only nginx reaches, and proxy headers trusted from nginx without '*'."""

import pytest
from conftest import WORKERS
from stack import APP, live_slot, live_unit, master_pid

RUNTIME = f"/run/{APP}"
LOG_DIR = f"/opt/{APP}/shared/logs"
CHOWN_CALLS = {"chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32"}

# GET <path> over a unix socket; prints the status line and the Location header, or the error's name.
SOCKET_PROBE = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print(type(exc).__name__)
    sys.exit(0)
s.sendall(b"GET " + sys.argv[2].encode() + b" HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    chunk = s.recv(4096)
    if not chunk:
        break
    head += chunk
lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
location = [line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("location:")]
print(" ".join([lines[0]] + location))
"""


def _show(host, *props):
    unit = live_unit(host)
    out = host.check_output(f"systemctl show {unit} " + " ".join(f"-p {prop}" for prop in props))
    return dict(line.split("=", 1) for line in out.splitlines())


def test_every_writable_path_is_noexec(host):
    """Each mount the service may write is in NoExecPaths= (NoExecPaths=/ would not reach them)."""
    slot = live_slot(host)
    props = _show(host, "ReadWritePaths", "NoExecPaths", "ExecPaths", "PrivateTmp")
    no_exec = {path.lstrip("-") for path in props["NoExecPaths"].split()}
    writable = set(props["ReadWritePaths"].split()) | {f"{RUNTIME}/{slot}", "/dev/shm"}
    if props["PrivateTmp"] == "yes":
        writable |= {"/tmp", "/var/tmp"}
    assert LOG_DIR in writable
    assert writable <= no_exec, writable - no_exec
    # ExecPaths= would drop ProtectSystem's read-only flag on what it lists.
    assert props["ExecPaths"] == ""


def test_nothing_written_by_the_app_executes(host):
    """Inside the live unit's mount namespace, as the app user: a copy of /bin/true in each
    writable place fails with EACCES, while the release's Python runs."""
    pid = master_pid(host)
    namespace = host.run("readlink /proc/%s/ns/mnt", str(pid))
    if namespace.rc != 0 or namespace.stdout.strip() == host.check_output("readlink /proc/1/ns/mnt"):
        # Docker's default capabilities: without CAP_SYS_ADMIN systemd skips the mount sandbox
        # ("assuming containerized execution", debug level), without CAP_SYS_PTRACE root cannot enter it.
        pytest.skip("the unit has no mount namespace root can enter here (CAP_SYS_ADMIN, CAP_SYS_PTRACE)")
    slot = live_slot(host)
    enter = f"nsenter -t {pid} -m setpriv --reuid={APP} --regid={APP} --clear-groups"
    for directory in (LOG_DIR, f"{RUNTIME}/{slot}", "/tmp", "/var/tmp"):
        probe = f"{directory}/noexec-probe"
        run = host.run(f"{enter} sh -c 'cp /bin/true {probe} && {probe}; rc=$?; rm -f {probe}; exit $rc'")
        assert run.rc == 126, (directory, run.rc, run.stderr)
    python = host.run(f"{enter} /opt/{APP}/slots/{slot}/release/.venv/bin/python -c 'import pydantic_core, uvloop'")
    assert python.rc == 0, python.stderr


def test_memory_and_task_limits_scale_with_workers(host):
    props = _show(host, "MemoryMax", "TasksMax")
    assert int(props["MemoryMax"]) == (256 + 512 * WORKERS) * 1024 * 1024
    assert int(props["TasksMax"]) == 32 + 128 * WORKERS
    # What the slot uses now leaves ample headroom: the limits stop a leak, not normal load.
    main = str(master_pid(host))
    pids = ",".join([main] + host.check_output("ps -o pid= --ppid %s", main).split())
    threads = len(host.check_output("ps -L -o lwp= -p %s", pids).split())
    rss_kib = sum(int(v) for v in host.check_output("ps -o rss= -p %s", pids).split())
    assert threads > WORKERS
    assert threads * 4 <= int(props["TasksMax"]), threads
    assert rss_kib * 1024 * 4 <= int(props["MemoryMax"]), rss_kib


def test_chown_is_not_allowed(host):
    """@chown is not re-allowed after ~@privileged: the slot started without it."""
    allowed = set(_show(host, "SystemCallFilter")["SystemCallFilter"].split())
    assert "read" in allowed  # an allow-list
    assert not allowed & CHOWN_CALLS, allowed & CHOWN_CALLS
    assert "@chown" not in host.file(f"/etc/systemd/system/{APP}@.service").content_string
    socket = host.file(f"{RUNTIME}/{live_slot(host)}/gunicorn.sock")
    assert socket.is_socket
    assert socket.user == APP


def test_only_nginx_and_root_reach_the_socket(host, fetch):
    parent = host.file(RUNTIME)
    assert (parent.user, parent.group, parent.mode) == ("root", "www-data", 0o710)
    # Issue 18, finding 3: the app user passes through (an ACL entry) but cannot open it to others.
    assert host.run("runuser -u %s -- chmod 0777 %s", APP, RUNTIME).rc != 0
    assert host.file(RUNTIME).mode == 0o710
    sock = f"{RUNTIME}/{live_slot(host)}/gunicorn.sock"
    probes = {
        "nobody": "setpriv --reuid=nobody --regid=nogroup --clear-groups",
        APP: f"setpriv --reuid={APP} --regid={APP} --clear-groups",
        "www-data": "setpriv --reuid=www-data --regid=www-data --init-groups",
        "root": "",
    }
    results = {
        user: host.check_output(f"{cmd} python3 -c %s %s /health", SOCKET_PROBE, sock) for user, cmd in probes.items()
    }
    assert results["nobody"] == "PermissionError", results
    assert results["www-data"] == "HTTP/1.1 200 OK", results
    assert results[APP] == "HTTP/1.1 200 OK", results
    assert results["root"] == "HTTP/1.1 200 OK", results
    assert fetch("/health").status == 200


def test_runtime_directory_rule_restores_it_at_boot(host):
    """At boot /run is empty and systemd would create /run/<app> as root:root 0755;
    the tmpfiles.d rule (run before the units start) makes it root:www-data 0710 with the app
    user's pass-through ACL entry."""
    rule = f"/etc/tmpfiles.d/{APP}.conf"
    try:
        drop_acl = "import os, sys; os.removexattr(sys.argv[1], 'system.posix_acl_access')"
        host.run_expect([0], "python3 -c %s %s", drop_acl, RUNTIME)
        # Without its ACL entry the app user cannot reach its own socket any more.
        assert host.run("runuser -u %s -- test -S %s/%s/gunicorn.sock", APP, RUNTIME, live_slot(host)).rc != 0
        # Then opened to everyone, as the app user could do in 0.5.0.
        host.run_expect([0], "chown %s:%s %s && chmod 0777 %s", APP, APP, RUNTIME, RUNTIME)
        host.run_expect([0], "systemd-tmpfiles --create %s", rule)
    finally:
        restored = host.file(RUNTIME)
        state = (restored.user, restored.group, restored.mode)
        reach = host.run("runuser -u %s -- test -S %s/%s/gunicorn.sock", APP, RUNTIME, live_slot(host)).rc
        host.run(f"systemd-tmpfiles --create {rule}")
    assert state == ("root", "www-data", 0o710)
    assert reach == 0


def test_forwarded_headers_from_nginx_are_trusted_without_star(host, fetch):
    slot = live_slot(host)
    conf = host.check_output("grep '^forwarded_allow_ips' /opt/%s/slots/%s/gunicorn_conf.py", APP, slot)
    assert "*" not in conf, conf
    # FastAPI redirects /health/ to /health with the scheme it was given: https only when it
    # trusted nginx's X-Forwarded-Proto (uvicorn trusts X-Forwarded-For under the same rule).
    response = fetch("/health/")
    assert response.status == 307, response.status
    assert response.headers["location"] == "https://api.example.test/health", response.headers
    # The same request straight to the socket, without nginx's header, stays http.
    direct = host.check_output("python3 -c %s %s/%s/gunicorn.sock /health/", SOCKET_PROBE, RUNTIME, slot)
    assert direct == "HTTP/1.1 307 Temporary Redirect http://api.example.test/health", direct


def test_the_app_sees_the_address_nginx_saw_not_a_forged_one(fetch):
    # A client's own X-Forwarded-For must not become the app's client address: the app trusts the
    # header from nginx and takes its first entry.
    detailed = fetch("/health/detailed", headers={"X-Forwarded-For": "203.0.113.66"}).json()
    assert detailed["client"] == {"address": "127.0.0.1", "scheme": "https"}, detailed
