"""A second app of another shape on the same host (molecule/deploy/apps/orders): package module
path, health endpoints under /_status with their own JSON, settings from plain environment
variables, its own name and release header. Deployed with its own endpoint list, changed under
load, refused by the gate with the wrong endpoints, rolled back on demand."""

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


def _vars(src, **extra):
    return {
        **stack.ORDERS_VARS,
        "app_source": "local",
        "app_source_path": str(src),
        # Imports the release's package in a hook (as a migration would): deploys and the rollback
        # run it in the unit's sandbox (issue 18, finding 3).
        "release_hooks": HOOKS,
        **extra,
    }


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


def test_code_change_under_load(orders, orders_source):
    slot, build = orders.live_slot(), orders.live_release()
    stack.set_orders_version(orders_source, "2")

    run, summary, upstreams = orders.deploy_under_load(_vars(orders_source), path="/orders/ping", header=ORDERS_HEADER)

    assert run.returncode == 0, run.failure()
    assert_no_request_failed(summary)
    assert set(summary["releases"]) == {build, orders.live_release()}, summary
    assert set(upstreams) == {orders.live_socket}, upstreams
    assert orders.live_slot() != slot
    assert orders.fetch("/orders/ping").json()["version"] == "2"


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


def test_rollback_on_demand_to_a_named_release(orders, orders_source):
    slot = orders.live_slot()
    (first,) = FIRST_BUILD
    rollback_vars = {
        "app_name": ORDERS,
        "nginx_server_name": ORDERS_NAME,
        "release_health_endpoints": ORDERS_ENDPOINTS,
        "release_rollback_to": first,
        "release_hooks": HOOKS,
    }

    run, summary, upstreams = orders.deploy_under_load(
        rollback_vars, playbook="pyops.fastapi.rollback", path="/orders/ping", header=ORDERS_HEADER
    )

    assert run.returncode == 0, run.failure()
    assert_no_request_failed(summary)
    assert orders.live_release() == first
    assert orders.live_slot() != slot
    assert orders.fetch("/orders/ping").json()["version"] == "1"
    hooks = [result for name, result in run.results() if name.endswith("Run the hook")]
    assert len(hooks) == 1 and hooks[0]["rc"] == 0, hooks
    assert hooks[0]["cmd"][0] == "systemd-run" and "--property=ProtectSystem=strict" in hooks[0]["cmd"], hooks
