"""What a user of the deployed stack cares about, checked on the running container."""

import json
import re
import time

import pytest
import stack
from conftest import WORKERS
from stack import APP, idle_slot, live_release_dir, live_slot, live_unit, master_pid, slot_unit


def test_services_active_and_enabled(host):
    for unit in ("nginx", live_unit(host)):
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit
    idle = host.service(slot_unit(idle_slot(host)))
    assert not idle.is_running
    assert not idle.is_enabled


def _gunicorn_processes(host):
    out = host.run("ps -eo pid=,ppid=,user:32=,args= | grep '[g]unicorn'").stdout
    rows = [line.split(None, 3) for line in out.splitlines()]
    return [(int(pid), int(ppid), user, args) for pid, ppid, user, args in rows]


def test_master_and_workers_run_as_app_user(host):
    master = master_pid(host)
    procs = _gunicorn_processes(host)
    assert master in [proc[0] for proc in procs]
    workers = [proc for proc in procs if proc[1] == master]
    assert len(workers) == WORKERS, procs
    assert {proc[2] for proc in procs} == {APP}


def test_unit_exposure_score(host):
    out = host.check_output("systemd-analyze security --no-pager %s", live_unit(host))
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    assert score <= 1.2, out.splitlines()[-1]


def test_env_files_are_not_world_readable(host):
    for path in (f"/opt/{APP}/shared/.env", f"/opt/{APP}/slots/{live_slot(host)}/env"):
        env = host.file(path)
        assert env.exists, path
        assert env.mode & 0o007 == 0, path
        assert env.user == "root", path
        assert env.group == APP, path
        assert "SECRET_KEY=" in host.check_output("cat %s", path)


def test_releases_and_virtualenvs_are_immutable(host):
    release = host.file(f"/opt/{APP}/current")
    assert release.is_symlink
    real = live_release_dir(host)
    venv = host.check_output("readlink -f %s/.venv", real)
    assert venv.startswith(f"/opt/{APP}/venvs/")
    for path in (real, venv, f"{venv}/lib"):
        f = host.file(path)
        assert f.user == "root", path
        assert f.mode & 0o022 == 0, path
    # The app user cannot write its code or its packages.
    assert host.run("runuser -u %s -- touch %s/probe", APP, real).rc != 0
    assert host.run("runuser -u %s -- touch %s/probe", APP, venv).rc != 0


def test_root_and_health_through_nginx(fetch):
    root = fetch("/")
    assert root.status == 200
    assert root.json()["message"] == "Hello World"
    health = fetch("/health")
    assert health.status == 200
    assert health.json()["status"] == "healthy"
    ready = fetch("/ready")
    assert ready.status == 200
    assert ready.json()["status"] == "ready"


def test_plain_http_redirects_to_https(fetch):
    resp = fetch("/health?x=1", scheme="http")
    assert resp.status == 301
    assert resp.headers["location"] == "https://api.example.test/health?x=1"


def test_acme_challenge_stays_on_http(host, fetch):
    host.run("install -d /var/www/acme/.well-known/acme-challenge")
    host.run("sh -c 'echo token-body > /var/www/acme/.well-known/acme-challenge/probe-token'")
    try:
        resp = fetch("/.well-known/acme-challenge/probe-token", scheme="http")
        assert resp.status == 200
        assert resp.text.strip() == "token-body"
    finally:
        host.run("rm -f /var/www/acme/.well-known/acme-challenge/probe-token")


def test_security_headers(fetch):
    headers = fetch("/health").headers
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] in {"DENY", "SAMEORIGIN"}
    assert "referrer-policy" in headers
    assert "content-security-policy" in headers
    assert "x-xss-protection" not in headers or headers["x-xss-protection"] == "0"
    assert "nginx/" not in headers.get("server", "")


def test_detailed_health_refused_to_other_clients(host, fetch):
    # 127.0.0.2 is not in nginx_detailed_health_allow: it plays a remote client.
    assert fetch("/health/detailed", source="127.0.0.2").status == 403
    assert fetch("/health", source="127.0.0.2").status == 200
    # On the slot's own socket (what nginx connects to), the endpoint answers.
    direct = host.check_output(
        "python3 -c %s %s",
        "import http.client, socket, sys\n"
        "c = http.client.HTTPConnection('localhost')\n"
        "c.sock = socket.socket(socket.AF_UNIX); c.sock.connect(sys.argv[1])\n"
        "c.request('GET', '/health/detailed'); print(c.getresponse().read().decode())",
        f"/run/{APP}/{live_slot(host)}/gunicorn.sock",
    )
    assert '"checks"' in direct
    # Nothing listens on TCP besides nginx: the app is reachable through its socket only.
    listeners = host.check_output("ss -Hltnp")
    assert "gunicorn" not in listeners and "python" not in listeners, listeners


def test_unknown_host_is_refused(host, fetch):
    with pytest.raises(AssertionError):
        # nginx closes the connection (444 / TLS handshake rejected): the probe fails.
        fetch("/", name="evil.example.org")
    with pytest.raises(AssertionError):
        fetch("/", scheme="http", name="evil.example.org")


def test_static_files_with_cache_headers(fetch):
    resp = fetch("/static/robots.txt")
    assert resp.status == 200
    assert "max-age=2592000" in resp.headers.get("cache-control", "")


def test_static_link_to_a_host_file_is_not_served(host, fetch):
    """Issue 18, finding 1: a symlink in the live release's static directory (as a git source could
    bring one) is refused by nginx, whatever it points at; the files beside it are still served."""
    static = "/opt/fastapi-app/current/static"
    with host.sudo():
        assert host.run(f"ln -sfn /etc/passwd {static}/leak.txt && ln -sfn robots.txt {static}/alias.txt").rc == 0
    try:
        for name in ("leak.txt", "alias.txt"):
            resp = fetch(f"/static/{name}")
            assert resp.status == 403, (name, resp.status)
            assert "root:" not in resp.text
        assert fetch("/static/robots.txt").status == 200
    finally:
        host.run(f"rm -f {static}/leak.txt {static}/alias.txt")


def test_nginx_config_is_valid(host):
    assert host.run("nginx -t").rc == 0


@pytest.mark.same_on_every_distro
def test_saturating_load_through_nginx_loses_no_request(host):
    """64 keep-alive connections as fast as they go: every request gets a 2xx, and no
    connection closes under a request. Worker recycling by request count (the guide's
    max_requests) broke connections here about once per recycle; keepalive alignment keeps
    nginx from reusing an upstream connection gunicorn is closing."""
    with stack.load(host, connections=64, rate=0) as summary:
        time.sleep(8)
    assert summary["responses"] > 1000, summary
    assert summary["failed"] == 0, summary
    assert summary["stale_retries"] == 0, summary


def test_gunicorn_logs_no_line_per_request(host, fetch):
    """nginx logs each request; the access log of gunicorn is off by default (a second line
    per request into the journal costs throughput, see benchmarks/README.md)."""
    unit = live_unit(host)
    marker = f"/no-such-path-{time.monotonic_ns()}"
    assert fetch(marker).status == 404
    nginx_log = host.run("grep -c -F %s /var/log/nginx/fastapi-app.access.log", marker)
    assert nginx_log.stdout.strip() == "1", nginx_log.stdout
    journal = host.run("journalctl -u %s --since -2min --no-pager -o cat", unit)
    assert marker not in journal.stdout


def test_access_log_lines_are_json_a_client_cannot_break(host):
    """nginx_access_log_format: json (this scenario's group_vars): one object per request, the client's
    quotes and backslashes kept inside their string (escape=json)."""
    tag = f"pyops-json-{time.monotonic_ns()}"
    agent = tag + ' "status": 999, \\"x'
    assert stack.fetch(host, "/ready?from=json", headers={"User-Agent": agent}).status == 200
    (line,) = host.check_output("grep -F %s /var/log/nginx/fastapi-app.access.log", tag).splitlines()
    entry = json.loads(line)
    assert entry["user_agent"] == agent, entry
    assert entry["status"] == 200 and entry["request"] == "GET /ready?from=json HTTP/1.1", entry
    assert entry["upstream"] == "unix:/opt/fastapi-app/live.sock", entry
    assert entry["remote_addr"] == "127.0.0.1" and entry["host"] == stack.NAME, entry
    assert isinstance(entry["request_time"], float) and len(entry["request_id"]) == 32, entry


def test_a_scheduled_job_runs_in_the_live_release(host):
    """app_timers (this scenario's group_vars): the timer is on, and its job runs in the live release."""
    assert host.run("systemctl is-enabled %s.where-am-i.timer", APP).stdout.strip() == "enabled"
    assert host.run("systemctl is-active %s.where-am-i.timer", APP).stdout.strip() == "active"
    host.run_expect([0], "systemctl start %s.where-am-i.service", APP)
    journal = host.check_output("journalctl --no-pager -o cat -u %s.where-am-i.service", APP)
    assert f"job in {live_release_dir(host)}" in journal.splitlines(), journal[-500:]


def test_log_files_are_rotated(host):
    """app_logrotate: the *.log files under shared/logs are rotated as the app user, the writer's file
    kept (copytruncate); logrotate is installed and its timer on, which also rotates nginx's logs."""
    log = f"/opt/{APP}/shared/logs/rotation-test.log"
    host.run_expect([0], "runuser -u %s -- sh -c %s", APP, f"echo first > {log}")
    host.run_expect([0], "logrotate -f /etc/logrotate.d/pyops-%s", APP)
    assert host.file(log + ".1").content_string == "first\n"
    assert host.file(log).size == 0 and host.file(log).user == APP
    assert host.file(log + ".1").user == APP
    assert host.run("systemctl is-enabled logrotate.timer").stdout.strip() == "enabled"
    assert host.file("/etc/logrotate.d/nginx").exists
    host.run_expect([0], "rm -f %s %s.1", log, log)


def test_systemd_restarts_killed_master(host, fetch):
    before = master_pid(host)
    host.run("kill -9 %s", str(before))
    deadline = time.monotonic() + 40
    after = 0
    while time.monotonic() < deadline:
        after = master_pid(host)
        if after not in (0, before) and fetch("/health").status == 200:
            break
        time.sleep(0.5)
    assert after not in (0, before)
    assert fetch("/health").status == 200


def test_health_check_module_gates_through_nginx(host):
    result = host.ansible(
        "pyops.fastapi.health_check",
        "url=https://127.0.0.1 host=api.example.test validate_certs=false wait_timeout=30",
        check=False,
    )
    assert not result.get("failed"), result
    assert [e["path"] for e in result["endpoints"]] == ["/health", "/ready"]
    assert all(e["passed"] for e in result["endpoints"])
