"""A second app of another shape on the same host (molecule/deploy/apps/orders): package module
path, health endpoints under /_status with their own JSON, settings from plain environment
variables, its own name and release header, a queue worker and a scheduled job. Deployed with its
own endpoint list, changed under load (web, worker and job together), refused by the gate with the
wrong endpoints, rolled back on demand."""

import json
import shutil

import pytest
import stack
from stack import ORDERS, ORDERS_ENDPOINTS, ORDERS_HEADER, ORDERS_NAME, ORDERS_SOURCE, assert_no_request_failed

FIRST_BUILD = []
# Imports the release's package in a hook, as a migration would: the deploys and the rollback run
# it in a transient unit with the app unit's sandbox (issue 18, finding 3).
HOOKS = [{"name": "import-check", "command": "python -c 'import orders.api.asgi'"}]


@pytest.fixture(scope="module")
def orders_source(tmp_path_factory):
    src = tmp_path_factory.mktemp("orders") / "orders-app"
    shutil.copytree(ORDERS_SOURCE, src)
    return src


# A queue worker and a scheduled job (issue 21), sharing a SQLite queue in the app's state directory
# (/var/lib/orders-api) with the web app, which enqueues a job for each POST /orders/jobs. The worker
# finishes its job on SIGINT only (orders/worker.py): the deploy must send the stop signal it is given.
PROCESSES = {
    "systemd_state_directory": True,
    "app_processes": [
        {"name": "worker", "command": "python -m orders.worker", "stop_signal": "SIGINT", "stop_timeout": 20}
    ],
    "app_timers": [{"name": "tick", "command": "python -m orders.tick", "on_calendar": "*:*:0/5"}],
}
WORKER, TIMER = f"{ORDERS}.worker", f"{ORDERS}.tick"
QUEUE = f"/var/lib/{ORDERS}/queue.db"
# Reads the queue as root: the jobs (id, enqueued_by, state, runs, done_by) and the ticks (build, at).
READ_QUEUE = (
    "import json, sqlite3, sys; db = sqlite3.connect(sys.argv[1]); print(json.dumps({"
    "'jobs': db.execute('SELECT id, enqueued_by, state, runs, done_by FROM jobs').fetchall(),"
    "'ticks': db.execute('SELECT build, at FROM ticks').fetchall()}))"
)


def _vars(src, **extra):
    return {
        **stack.ORDERS_VARS,
        "app_source": "local",
        "app_source_path": str(src),
        # Imports the release's package in a hook (as a migration would): deploys and the rollback
        # run it in the unit's sandbox (issue 18, finding 3).
        "release_hooks": HOOKS,
        **PROCESSES,
        **extra,
    }


def _queue(host):
    return json.loads(host.check_output("python3 -c %s %s", READ_QUEUE, QUEUE))


def _state(host, unit):
    return host.run("systemctl is-active %s", unit).stdout.strip()


def test_first_deploy_next_to_the_bundled_app(orders, bundled, orders_source):
    bundled_release = bundled.live_release()
    run = stack.run_playbook("pyops.fastapi.site", _vars(orders_source))
    assert run.returncode == 0, run.failure()
    ping = orders.fetch("/orders/ping")
    FIRST_BUILD.append(orders.live_release())
    assert ping.json() == {"greeting": "hello", "version": "1"}
    assert ping.headers[ORDERS_HEADER.lower()] == orders.live_release()
    # The bundled app is untouched and still serves.
    assert bundled.live_release() == bundled_release
    assert bundled.fetch("/health").status == 200
    # The worker runs in the live slot with the stop signal it was given; the timer is on, now and at boot,
    # and its job runs in the live release.
    live = orders.live_slot()
    assert _state(orders.host, f"{WORKER}@{live}.service") == "active"
    signal = orders.host.check_output("systemctl show -P KillSignal %s", f"{WORKER}@{live}.service")
    assert signal == "2", signal  # SIGINT
    assert _state(orders.host, f"{TIMER}.timer") == "active"
    assert orders.host.run("systemctl is-enabled %s", f"{TIMER}.timer").stdout.strip() == "enabled"
    ticks = stack.wait_for(lambda: _queue(orders.host)["ticks"], "a tick of the first release", seconds=20)
    assert {build for build, _at in ticks} == {FIRST_BUILD[0]}, ticks
    assert orders.host.check_output("stat -c %%U:%%a /var/lib/%s", ORDERS) == f"{ORDERS}:750"


# Through nginx: GET reads an event stream (when the first event arrived, when it ended, how many), POST
# sends a body of the given size (the status).
STREAM_PY = r"""
import json, socket, ssl, sys, time
method, path, name, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 443), timeout=10), server_hostname=name)
head = f"{method} {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n"
started, first, data = time.monotonic(), None, b""
sock.sendall(head.encode())
try:
    sock.sendall(b"x" * size)
except OSError:
    pass  # nginx answered (413) and closed before the whole body was sent
while chunk := sock.recv(65536):
    data += chunk
    if first is None and b"data: 0" in data:
        first = time.monotonic() - started
print(json.dumps({"status": int(data.split(b" ", 2)[1]), "first": first, "total": time.monotonic() - started,
                  "events": data.count(b"data: ")}))
"""


def _through_nginx(orders, method, path, size=0):
    return json.loads(
        orders.host.check_output("python3 -c %s %s %s %s %s", STREAM_PY, method, path, ORDERS_NAME, str(size))
    )


def test_events_stream_through_their_location(orders):
    """nginx_extra_locations: /orders/stream passes each event as the app sends it (three, a second apart)
    and takes a body up to its own client_max_body_size (20m), where the site's default location refuses
    one over nginx_client_max_body_size (10m) before the app sees it (stack.ORDERS_VARS sets the location)."""
    events = _through_nginx(orders, "GET", "/orders/stream")
    assert events["status"] == 200 and events["events"] == 3, events
    assert events["first"] < 0.9 and events["total"] >= 1.9, events
    big = 12 * 1024 * 1024
    # The app has no POST route there: its 405 proves the body reached it.
    assert _through_nginx(orders, "POST", "/orders/stream", big)["status"] == 405
    assert _through_nginx(orders, "POST", "/orders/ping", big)["status"] == 413
    site = orders.host.check_output("cat /etc/nginx/sites-available/%s.conf", ORDERS)
    location = (
        "location ^~ /orders/stream {\n        proxy_read_timeout 1h;\n        proxy_buffering off;\n"
        "        client_max_body_size 20m;\n"
    )
    assert location in site, site


def test_audit_reads_the_apps_own_endpoints(orders):
    """The audit's private-endpoint check took /health as the app's liveness path: on this app
    (liveness at /_status/live, no /health/detailed) it failed. It reads release_health_endpoints, as
    the gate does, and says the check does not apply."""
    run = stack.run_playbook(
        "pyops.fastapi.audit",
        {"app_name": ORDERS, "nginx_server_name": ORDERS_NAME, "release_health_endpoints": ORDERS_ENDPOINTS},
    )
    checklist = [result for name, result in run.results() if name.endswith("Run the checklist on the host")]
    assert len(checklist) == 1, run.tail()
    row = next(check for check in checklist[0]["checks"] if check["id"] == "detailed_health")
    assert row["passed"], row
    assert row["observed"].startswith("not applicable: the app has no /health/detailed"), row
    assert "/_status/live 200" in row["observed"], row


def test_code_change_under_load_moves_web_worker_and_timer_together(orders, orders_source):
    """The POSTs enqueue jobs (202) before, during and after the switch: each runs exactly once, the old
    release's worker finishes its job on its stop signal after the switch, the new one takes over, and
    the scheduled job runs the new release."""
    slot, build = orders.live_slot(), orders.live_release()
    stack.set_orders_version(orders_source, "2")

    run, summary, upstreams = orders.deploy_under_load(
        _vars(orders_source), path="/orders/ping", header=ORDERS_HEADER, post_path="/orders/jobs", post_status=202
    )

    assert run.returncode == 0, run.failure()
    assert_no_request_failed(summary)
    new = orders.live_release()
    assert set(summary["releases"]) == {build, new}, summary
    assert set(upstreams) == {orders.live_socket}, upstreams
    assert orders.live_slot() != slot
    assert orders.fetch("/orders/ping").json()["version"] == "2"

    # Every job the web app accepted ran once, and both releases enqueued and ran some.
    accepted = summary["statuses"]["POST 202"]
    jobs = stack.wait_for(
        lambda: (queue := _queue(orders.host)["jobs"]) and all(job[2] == "done" for job in queue) and queue,
        "every job done",
    )
    assert len(jobs) == accepted, (len(jobs), summary)
    assert {job[3] for job in jobs} == {1}, [job for job in jobs if job[3] != 1]
    assert {job[4] for job in jobs} == {build, new}, {job[4] for job in jobs}
    assert {job[1] for job in jobs} == {build, new}
    # The old slot's worker stopped after the switch, warm (SIGINT); the new one runs.
    assert _state(orders.host, f"{WORKER}@{slot}.service") == "inactive"
    assert _state(orders.host, f"{WORKER}@{orders.live_slot()}.service") == "active"
    journal = orders.host.check_output("journalctl --no-pager -o cat -u %s", f"{WORKER}@{slot}.service")
    assert f"worker of {build} stopped on SIGINT after " in journal, journal[-2000:]
    # The scheduled job now runs the new release.
    stack.wait_for(lambda: new in {tick[0] for tick in _queue(orders.host)["ticks"]}, "a tick of the new release", 20)


def test_the_bundled_apps_endpoints_do_not_fit(orders, orders_source):
    slot, build = orders.live_slot(), orders.live_release()
    stack.set_orders_version(orders_source, "3")
    # The role's default endpoints (/health, /ready) do not exist in this app. nginx's rate-limit exemptions
    # (which default to the same paths) are kept as they are, so that only the gate's input changes.
    wrong = {key: value for key, value in _vars(orders_source).items() if key != "release_health_endpoints"}
    wrong["nginx_rate_limit_exempt_paths"] = [endpoint["path"] for endpoint in stack.ORDERS_ENDPOINTS]

    run, summary, upstreams = orders.deploy_under_load(wrong, path="/orders/ping", header=ORDERS_HEADER)

    task, message = run.failure()
    assert run.returncode != 0
    assert task == "pyops.fastapi.release : Fail the deploy", (task, message)
    assert "/health" in message and "404" in message, message
    assert_no_request_failed(summary)
    assert set(summary["releases"]) == {build}, summary
    assert set(upstreams) == {orders.live_socket}, upstreams
    assert orders.live_slot() == slot
    assert orders.fetch("/orders/ping").json()["version"] == "2"


def test_a_release_whose_worker_dies_never_goes_live(orders, orders_source):
    """The worker of the new release cannot start (it raises at import; the web server is fine): the gate
    or the watch sees its unit restart, the release is abandoned naming the worker and its exception,
    and the live slot's web server and worker are untouched."""
    slot, build = orders.live_slot(), orders.live_release()
    worker = orders_source / "orders" / "worker.py"
    text = worker.read_text()
    stack.set_orders_version(orders_source, "4")
    worker.write_text(
        text.replace("\ndef main()", '\nraise RuntimeError("no broker to connect to")\n\n\ndef main()', 1)
    )
    try:
        run = stack.run_playbook("pyops.fastapi.site", _vars(orders_source))
    finally:
        worker.write_text(text)

    task, message = run.failure()
    assert run.returncode != 0
    assert task == "pyops.fastapi.release : Fail the deploy", (task, message)
    assert f"its unit {WORKER}@{orders.idle_slot()}.service is " in message, message
    assert "The app raised: RuntimeError: no broker to connect to." in message, message
    assert orders.live_slot() == slot and orders.live_release() == build
    assert _state(orders.host, f"{WORKER}@{slot}.service") == "active"
    assert _state(orders.host, f"{WORKER}@{orders.idle_slot()}.service") == "inactive"
    assert orders.fetch("/orders/ping").json()["version"] == "2"


def test_rollback_on_demand_to_a_named_release(orders, orders_source):
    slot = orders.live_slot()
    (first,) = FIRST_BUILD
    rollback_vars = {
        "app_name": ORDERS,
        "nginx_server_name": ORDERS_NAME,
        "release_health_endpoints": ORDERS_ENDPOINTS,
        "release_rollback_to": first,
        "release_hooks": HOOKS,
        # The same processes as the deploys: the rollback gates, watches and stops them with the slots.
        **PROCESSES,
    }

    run, summary, upstreams = orders.deploy_under_load(
        rollback_vars, playbook="pyops.fastapi.rollback", path="/orders/ping", header=ORDERS_HEADER
    )

    assert run.returncode == 0, run.failure()
    assert_no_request_failed(summary)
    assert orders.live_release() == first
    assert orders.live_slot() != slot
    assert orders.fetch("/orders/ping").json()["version"] == "1"
    assert _state(orders.host, f"{WORKER}@{slot}.service") == "inactive"
    assert _state(orders.host, f"{WORKER}@{orders.live_slot()}.service") == "active"
    hooks = [result for name, result in run.results() if name.endswith("Run the hook")]
    assert len(hooks) == 1 and hooks[0]["rc"] == 0, hooks
    assert hooks[0]["cmd"][0] == "systemd-run" and "--property=ProtectSystem=strict" in hooks[0]["cmd"], hooks
