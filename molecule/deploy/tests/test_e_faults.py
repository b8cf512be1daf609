"""Faults a production host meets during a deploy, on the second app (another shape), under load
through nginx with a client that retries nothing, GETs and POSTs: the controller killed before and
after the switch and a re-run; a release that passes its gate and dies seconds later (the watch
window sends traffic back) while a second run finds the deploy lock held; a build that runs out of
disk space, and one whose package index does not answer."""

import shutil
from contextlib import contextmanager, nullcontext

import pytest
import stack
from stack import (
    ORDERS,
    ORDERS_HEADER,
    ORDERS_NAME,
    ORDERS_SOURCE,
    assert_no_request_failed,
    assert_only_reload_races,
)

LIVE_SOCKET = f"/opt/{ORDERS}/live.sock"


@pytest.fixture
def orders_copy(tmp_path):
    src = tmp_path / "orders-app"
    shutil.copytree(ORDERS_SOURCE, src)
    return src


def _vars(src, **extra):
    return {**stack.ORDERS_VARS, "app_source": "local", "app_source_path": str(src), **extra}


def _socket_target(host):
    return host.run("readlink %s", LIVE_SOCKET).stdout.strip()


def test_controller_killed_before_and_after_the_switch_then_a_rerun(orders, orders_copy):
    """SIGKILL to ansible-playbook (and its forks) once the new slot runs, then once nginx's link names
    it (the drain), then a run to the end: no request fails in between, and the host ends with one live
    slot, the other stopped and disabled, every link on the live release."""
    slot, idle = orders.live_slot(), orders.idle_slot()
    releases_before = set(orders.releases())
    stack.set_orders_version(orders_copy, "7")
    desired = _vars(orders_copy)

    with stack.load(orders.host, name=ORDERS_NAME, path="/orders/ping", release_header=ORDERS_HEADER) as summary:
        # 1. The new release runs in the idle slot; nginx still sends everything to the live one.
        stack.run_playbook_killed_when(
            orders.host, "pyops.fastapi.site", desired, lambda host: orders.is_active(idle), "the idle slot started"
        )
        assert _socket_target(orders.host) == f"/run/{ORDERS}/{slot}/gunicorn.sock"
        assert orders.fetch("/orders/ping").json()["version"] != "7"

        # 2. Killed right after the switch, while the old slot drains (or is watched).
        stack.run_playbook_killed_when(
            orders.host,
            "pyops.fastapi.site",
            desired,
            lambda host: _socket_target(host).startswith(f"/run/{ORDERS}/{idle}/"),
            "the switch",
        )
        killed_in_drain = orders.is_active(slot)

        # 3. A run to the end finishes the switch it finds.
        run = stack.run_playbook("pyops.fastapi.site", desired)

    assert run.returncode == 0, run.failure()
    assert_no_request_failed(summary)
    assert killed_in_drain, "the second run was killed after the old slot had stopped: the drain was not interrupted"
    # One live slot, the new one; the other stopped and not started at boot; every link on the live release.
    assert orders.live_slot() == idle
    assert _socket_target(orders.host) == f"/run/{ORDERS}/{idle}/gunicorn.sock"
    assert orders.is_active(idle) and not orders.is_active(slot)
    enabled = {s: orders.host.run("systemctl is-enabled %s", orders.unit(s)).stdout.strip() for s in (slot, idle)}
    assert enabled == {idle: "enabled", slot: "disabled"}, enabled
    assert orders.fetch("/orders/ping").json()["version"] == "7"
    fingerprint = orders.host.check_output("cat /opt/%s/slots/%s/fingerprint", ORDERS, idle)
    assert orders.live_release() in fingerprint
    # The third run reused the release the second one switched to (current named it): no third build,
    # and finished that switch. The first run's build is left (complete, never live) until pruning.
    assert len(set(orders.releases()) - releases_before) == 2, orders.releases()
    finished = [result for name, result in run.results() if name.endswith("Finish a switch an interrupted run left")]
    assert finished and not finished[0].get("skipped"), finished
    # These runs no longer give the app the worker and the timer of test_c_second_app.py: their units are
    # gone and nothing of them runs.
    assert orders.host.run("ls /etc/systemd/system/%s.*", ORDERS).stdout == ""
    running = orders.host.run("systemctl list-units --no-legend --plain %s", f"{ORDERS}.*").stdout
    assert running.strip() == "", running


# Kills its gunicorn master (SIGKILL) 15 s after a worker imports it: it passes the gate, and dies
# during the watch. Only in gunicorn's workers, never in the hook or the audit that import the module.
DIES_LATER = """

import os, signal, sys, threading
if "gunicorn" in sys.argv[0]:
    _timer = threading.Timer(15, os.kill, (os.getppid(), signal.SIGKILL))
    _timer.daemon = True
    _timer.start()
"""


def test_a_release_that_dies_after_the_switch_goes_back_to_the_old_slot(orders, orders_copy):
    """The watch window, and the deploy lock: while this run deploys, a second one with another release,
    told not to wait, fails naming the first and changes nothing; the lock is given back though the
    first run fails."""
    slot, idle, build = orders.live_slot(), orders.idle_slot(), orders.live_release()
    stack.set_orders_version(orders_copy, "8", DIES_LATER)
    other = orders_copy.parent / "orders-other"
    shutil.copytree(ORDERS_SOURCE, other)
    stack.set_orders_version(other, "10")
    lock = f"/run/lock/pyops-fastapi-{ORDERS}.lock"
    second = {}

    run, summary, _upstreams = orders.deploy_under_load(
        _vars(orders_copy, release_watch_seconds=30),
        path="/orders/ping",
        header=ORDERS_HEADER,
        during=stack.second_run_once_locked(
            orders.host, lock, "pyops.fastapi.site", _vars(other, release_lock_timeout=0), second
        ),
    )

    task, message = second["run"].failure()
    assert task == f"pyops.fastapi.release : Take the deploy lock of {ORDERS}", (task, message)
    assert message.startswith(f"The deploy lock {lock} is held by another run (controller "), message
    assert "'Deploy a FastAPI application behind nginx'" in message, message
    assert "Its process still runs on this controller" in message, message
    # Given back at the end of the first run (which failed), and never written by the second.
    assert not orders.host.file(lock).exists

    task, message = run.failure()
    assert run.returncode != 0
    assert task == "pyops.fastapi.release : Fail the deploy", (task, message)
    assert (
        "Watch the new release while the old slot stays ready: The endpoints passed, then its unit "
        f"{orders.unit(idle)} is " in message
    ), message
    assert f"The live release keeps serving from slot {slot}." in message, message
    # It was live (served requests), then nginx went back to the old slot, which serves on.
    assert build in summary["releases"] and len(set(summary["releases"]) - {"-"}) == 2, summary
    assert (orders.live_slot(), orders.live_release()) == (slot, build)
    assert _socket_target(orders.host) == f"/run/{ORDERS}/{slot}/gunicorn.sock"
    assert not orders.is_active(idle)
    assert orders.fetch("/orders/ping").json()["version"] == "7"
    # Between the crash and the switch back nginx found no server behind live.sock and sent each
    # request to its backup, previous.sock (the old slot): no GET failed and no client connection
    # broke. A POST nginx had already written to a worker that systemd then stopped is not resent
    # (nginx never resends a POST): those few are what a client sees, counted here.
    print("requests during the crash:", summary["methods"], summary["statuses"])
    assert summary["errors"] == {}, summary
    assert summary["methods"]["GET"]["failed"] == 0, summary
    assert summary["methods"]["POST"]["failed"] <= 3, summary


@contextmanager
def _venvs_on_a_nearly_full_file_system(host, app, size="40m"):
    """The file system that holds the app's virtualenvs nearly full, as a host's disk gets: a small
    tmpfs over /opt/<app>/venvs, each existing virtualenv bound back into it from the real directory
    (the live release's keeps working), so that only a new virtualenv runs out of space. 40 MB hold
    an empty virtualenv with pip (15-26 MB), not the app's packages (about 70 MB)."""
    venvs, real = f"/opt/{app}/venvs", "/run/pyops-test-venvs"
    keys = host.check_output("ls %s", venvs).split()
    host.run_expect([0], "mkdir -p %s && mount --bind %s %s", real, venvs, real)
    host.run_expect([0], "mount -t tmpfs -o size=%s,mode=0755 pyops-test-small %s", size, venvs)
    for key in keys:
        host.run_expect([0], "mkdir %s/%s && mount --bind %s/%s %s/%s", venvs, key, real, key, venvs, key)
    try:
        yield
    finally:
        for key in keys:
            host.run(f"umount -l {venvs}/{key}")
        host.run(f"umount -l {venvs}; umount -l {real}; rmdir {real}")


def _pip_index_down(_host, _app):
    # Port 9 (discard) on the host's loopback: nothing listens, each connection is refused at once (pip
    # retries 5 times with back-off: about 8 s).
    return nullcontext(), {"app_pip_index_url": "http://127.0.0.1:9/simple/"}


def _disk_full(host, app):
    return _venvs_on_a_nearly_full_file_system(host, app), {}


BUILD_FAULTS = {
    # name: (the fault around the run, and the vars that bring it; what the message says of it)
    "index-unreachable": (
        _pip_index_down,
        "it could not reach the package index http://127.0.0.1:9/simple/ ([Errno 111] Connection refused, after its "
        "retries).",
    ),
    "disk-full": (_disk_full, "No space left on device"),
}


@pytest.mark.parametrize("fault", list(BUILD_FAULTS))
def test_a_build_that_fails_on_the_host_changes_nothing(orders, orders_copy, fault):
    """A new requirements file (a new virtualenv to build) meets a host fault: the run fails with pip's
    own reason, nothing starts, the new release and its half-built virtualenv are removed, and the
    live release serves on, under load."""
    make_fault, expected = BUILD_FAULTS[fault]
    slot, build, releases, venvs = orders.live_slot(), orders.live_release(), orders.releases(), orders.venvs()
    requirements = orders_copy / "requirements.txt"
    requirements.write_text(requirements.read_text() + f"# rebuilt for the {fault} case\n")
    fault_context, fault_vars = make_fault(orders.host, ORDERS)

    with fault_context:
        run, summary, upstreams = orders.deploy_under_load(
            _vars(orders_copy, **fault_vars), path="/orders/ping", header=ORDERS_HEADER
        )

    task, message = run.failure()
    assert run.returncode != 0
    assert task == "pyops.fastapi.app : Stop with the reason", (task, message)
    assert message.startswith("The release could not be built (Report why pip failed): pip exited with status 1:"), (
        message
    )
    assert expected in message, message
    assert message.endswith(f"Nothing was started; the live release {build} keeps serving."), message
    assert_no_request_failed(summary)
    assert set(summary["releases"]) == {build}, summary
    assert set(upstreams) == {orders.live_socket}, upstreams
    assert (orders.live_slot(), orders.live_release()) == (slot, build)
    assert not orders.is_active(orders.idle_slot())
    assert (orders.releases(), orders.venvs()) == (releases, venvs)


def test_a_change_of_nginx_alone_reloads_nginx_and_starts_no_slot(orders, orders_copy):
    """A change to nginx's own configuration (a response header), the release as it is: nginx reloads
    gracefully (same master, new workers), no slot starts, the release keeps serving. What a client
    sees: each old nginx worker closes its idle keep-alive connections as it exits; a request written
    on one in that instant gets no answer. This client resends such a GET once, as browsers do; nobody
    may resend a POST, so a POST can be lost that way (counted and printed). A release change never
    reloads nginx. Last of the file: every later run would have to carry the header."""
    slot, build, master = orders.live_slot(), orders.live_release(), orders.master_pid()
    stack.set_orders_version(orders_copy, orders.fetch("/orders/ping").json()["version"])
    nginx_master = orders.host.check_output("cat /run/nginx.pid")

    run, summary, upstreams = orders.deploy_under_load(
        _vars(orders_copy, nginx_extra_headers={"X-Served-By": "pyops-nginx"}),
        path="/orders/ping",
        header=ORDERS_HEADER,
        retry_stale=True,
    )

    assert run.returncode == 0, run.failure()
    lost = assert_only_reload_races(summary)
    print(f"nginx-only change: {lost} POSTs lost to the reload; errors {summary['errors']}, {summary['methods']}")
    assert (orders.live_slot(), orders.live_release(), orders.master_pid()) == (slot, build, master)
    assert set(summary["releases"]) == {build}, summary
    assert set(upstreams) == {orders.live_socket}, upstreams
    assert orders.host.check_output("cat /run/nginx.pid") == nginx_master
    assert orders.fetch("/orders/ping").headers["x-served-by"] == "pyops-nginx"
