"""Faults a production host meets during a deploy, on the second app (another shape), under load
through nginx with a client that retries nothing, GETs and POSTs: the controller killed before and
after the switch and a re-run, and a release that passes its gate and dies seconds later (the
watch window sends traffic back)."""

import shutil

import pytest
import stack
from stack import ORDERS, ORDERS_HEADER, ORDERS_NAME, ORDERS_SOURCE, assert_no_request_failed

LIVE_SOCKET = f"/opt/{ORDERS}/live.sock"


@pytest.fixture
def orders_copy(tmp_path):
    src = tmp_path / "orders-app"
    shutil.copytree(ORDERS_SOURCE, src)
    return src


def _vars(src, **extra):
    return {**stack.ORDERS_VARS, "app_source": "local", "app_source_path": str(src), **extra}


def _set_version(src, version, extra_code=""):
    asgi = src / "orders" / "api" / "asgi.py"
    asgi.write_text(asgi.read_text().replace('VERSION = "1"', f'VERSION = "{version}"') + extra_code)


def _socket_target(host):
    return host.run("readlink %s", LIVE_SOCKET).stdout.strip()


def test_controller_killed_before_and_after_the_switch_then_a_rerun(orders, orders_copy):
    """SIGKILL to ansible-playbook (and its forks) once the new slot runs, then once nginx's link names
    it (the drain), then a run to the end: no request fails in between, and the host ends with one live
    slot, the other stopped and disabled, every link on the live release."""
    slot, idle = orders.live_slot(), orders.idle_slot()
    releases_before = set(orders.releases())
    _set_version(orders_copy, "7")
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
    # The third run reused the release the second one switched to (current named it): no third build.
    # The first run's build is left (complete, never live) until pruning removes it.
    assert len(set(orders.releases()) - releases_before) == 2, orders.releases()
    # And nothing is left to do.
    again = stack.run_playbook("pyops.fastapi.site", desired)
    assert again.returncode == 0, again.failure()
    assert [stats["changed"] for stats in again.changed().values()] == [0], again.changed()


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
    slot, idle, build = orders.live_slot(), orders.idle_slot(), orders.live_release()
    _set_version(orders_copy, "8", DIES_LATER)

    run, summary, _upstreams = orders.deploy_under_load(
        _vars(orders_copy, release_watch_seconds=30), path="/orders/ping", header=ORDERS_HEADER
    )

    task, message = run.failure()
    assert run.returncode != 0
    assert task == "pyops.fastapi.release : Fail the deploy", (task, message)
    assert (
        "Watch the new release while the old slot stays ready: The endpoints passed, then its unit "
        f"{orders.unit(idle)} is " in message
    ), message
    assert f"The live release keeps serving from slot {slot}." in message, message
    # It was live (served requests), then nginx went back to the old slot, which serves on.
    assert build in summary["releases"] and len(summary["releases"]) == 2, summary
    assert (orders.live_slot(), orders.live_release()) == (slot, build)
    assert _socket_target(orders.host) == f"/run/{ORDERS}/{slot}/gunicorn.sock"
    assert not orders.is_active(idle)
    assert orders.fetch("/orders/ping").json()["version"] == "7"
    # What clients saw between the crash and the switch back: nginx's 502 for requests that found no
    # server behind the link, and no connection of theirs broken (nginx answered every request).
    assert summary["errors"] == {}, summary
    bad_gateway = sum(count for status, count in summary["statuses"].items() if status.endswith(" 502"))
    assert summary["failed"] == bad_gateway, summary
