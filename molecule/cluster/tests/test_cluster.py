"""The cluster layout: the load balancer's upstream comes from the inventory, app servers answer
the load balancer only, a rolling deploy under load through the load balancer loses no request,
a failing release stops the rollout at the first server and leaves it on its previous release,
and two apps share the hosts."""

import json
import os
import shutil
import socket
from pathlib import Path

import pytest
import stack
from conftest import ADDRESSES, GATEWAY, MEMBERS, deploy_under_load, raw_request, watch_members
from stack import (
    APP,
    EXAMPLE_APP,
    NAME,
    ORDERS,
    ORDERS_NAME,
    ORDERS_SOURCE,
    assert_only_reload_races,
    live_release,
    live_slot,
)

APP_SERVERS = ("app1", "app2")
CHECK_PLAY = "Check the cluster's topology and the input of every role before anything changes"
ROLLOUT_PLAY = "Roll the release out to the app servers, a batch at a time"
ENDPOINTS = {name: f"{ADDRESSES[name]}:8080" for name in APP_SERVERS}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("cluster") / "app"
    shutil.copytree(EXAMPLE_APP, src)
    return src


def _servers(lb, path=MEMBERS):
    return sorted(line.strip() for line in lb.file(path).content_string.splitlines() if line.strip())


def test_a_limited_run_is_refused_before_any_change(lb, app1):
    # The load balancers and the app servers read each other's addresses: --limit is refused by name.
    fingerprints = {name: stack.host_fingerprint(host) for name, host in (("lb", lb), ("app1", app1))}
    run = stack.run_playbook("pyops.fastapi.site", {}, "--limit", "pyops-cluster-app1")
    assert run.returncode != 0
    task, message = run.failure()
    assert task == "Check every host of the cluster is in the run", (task, message)
    assert "left out:" in message and "pyops-cluster-lb" in message and "pyops-cluster-app2" in message, message
    assert {name: stack.host_fingerprint(host) for name, host in (("lb", lb), ("app1", app1))} == fingerprints


def test_upstream_comes_from_the_inventory(lb):
    assert _servers(lb) == [f"server {ENDPOINTS[name]} max_fails=1 fail_timeout=5s;" for name in APP_SERVERS]
    site = lb.file(f"/etc/nginx/sites-available/{APP}.conf").content_string
    assert f"include {MEMBERS};" in site
    # No app on the load balancer.
    assert not lb.file(f"/opt/{APP}").exists


def test_the_load_balancer_has_a_certificate_from_pebble(lb):
    issuer = lb.check_output("openssl x509 -noout -issuer -in /etc/nginx/ssl/%s/fullchain.pem", NAME)
    assert "Pebble" in issuer, issuer
    # ... issued by certbot (acme mode), renewed by its timer; converge ran a renewal dry run.
    assert lb.file(f"/etc/letsencrypt/live/{NAME}/fullchain.pem").exists
    assert lb.service("certbot.timer").is_enabled and lb.service("certbot.timer").is_running
    assert lb.file(f"/etc/letsencrypt/renewal/{NAME}.conf").contains("authenticator = webroot")


def test_requests_through_the_load_balancer_reach_both_app_servers(lb, app1, app2):
    # One client connection per request: least_conn spreads them over both servers, whose
    # releases differ (each built its own).
    releases = {stack.fetch(lb, "/").headers["x-app-release"] for request in range(20)}
    assert releases == {live_release(app1), live_release(app2)}, releases
    log = lb.check_output("tail -n 40 /var/log/nginx/%s.access.log", APP)
    assert all(ENDPOINTS[name] in log for name in APP_SERVERS), log
    # The app server logs the client the load balancer saw (loopback here), via the load balancer.
    backend_log = app1.check_output("tail -n 20 /var/log/nginx/%s.access.log", APP)
    assert f"127.0.0.1 via {ADDRESSES['lb']}" in backend_log, backend_log


def test_the_app_sees_the_client_the_load_balancer_saw(lb):
    # Through the load balancer and the backend nginx: the client's address and scheme, never a
    # forged X-Forwarded-For (the app trusts the header and takes its first entry).
    detailed = stack.fetch(lb, "/health/detailed", headers={"X-Forwarded-For": "203.0.113.66"}).json()
    assert detailed["client"] == {"address": "127.0.0.1", "scheme": "https"}, detailed


def test_app_servers_answer_the_load_balancer_only(lb, app1, app2):
    for server in APP_SERVERS:
        address = ADDRESSES[server]
        kind, status = raw_request(lb, address, 8080)
        assert (kind, status) == ("answer", "HTTP/1.1 200 OK"), (server, kind, status)
        # The other app server and this machine (the network's gateway) get no answer at all.
        other = app2 if server == "app1" else app1
        assert raw_request(other, address, 8080)[0] == "closed", server
        # No public listener on an app server: nothing on 443 or 80, and no TCP port of the app.
        for port in (443, 80):
            assert raw_request(lb, address, port)[0] == "refused", (server, port)
    # Docker's embedded DNS listens on 127.0.0.11 in every container: loopback listeners aside.
    listeners = [line.split()[3] for line in app1.check_output("ss -Hltn").splitlines()]
    public = {address.rsplit(":", 1)[1] for address in listeners if not address.startswith(("127.", "[::1]"))}
    assert public == {"8080", "8081"}, listeners
    # On the private address alone (issue 18, finding 7; 0.5.0 listened on 0.0.0.0 and [::]).
    own = {address for address in listeners if not address.startswith(("127.", "[::1]"))}
    assert own == {f"{ADDRESSES['app1']}:8080", f"{ADDRESSES['app1']}:8081"}, listeners


def test_this_machine_gets_no_answer_either(app1):
    with socket.create_connection((ADDRESSES["app1"], 8080), timeout=5) as sock:
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n".encode())
        assert sock.recv(4096) == b""
    log = app1.check_output("tail -n 5 /var/log/nginx/%s.access.log", APP)
    assert f"{GATEWAY} via {GATEWAY}" in log and '"GET /health HTTP/1.1" 444' in log, log


def _archives():
    directory = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "artifacts"
    return {path.name: path.stat().st_mode & 0o777 for path in directory.iterdir()}


def test_one_build_serves_both_app_servers(app1, app2):
    # app1 (group fastapi_build) built the release; app2 unpacked the same one: one id, one revision
    # and virtualenv, and app2 never built anything (no build user, no pip cache).
    release = live_release(app1)
    assert live_release(app2) == release
    meta = f"/opt/{APP}/releases/{release}/.pyops-release.json"
    assert app1.file(meta).content_string == app2.file(meta).content_string
    venv = json.loads(app1.file(meta).content_string)["venv"]
    assert app1.file(f"/opt/{APP}/build").linked_to == f"/opt/{APP}/releases/{release}"
    assert app2.file(f"/opt/{APP}/releases/{release}/.venv").linked_to == f"/opt/{APP}/venvs/{venv}"
    assert app2.run(f"getent passwd {APP}-build").rc == 2 and app1.run(f"getent passwd {APP}-build").rc == 0
    assert not app2.file(f"/opt/{APP}/build-cache").exists and not app2.file(f"/opt/{APP}/build").exists
    assert not app2.file(f"/opt/{APP}/.incoming-archives").exists
    # The same files, owners, modes, sizes and times (whole seconds, as tar keeps them) on both: a pip
    # run on app2 would have written files of its own times.
    listing = f"cd /opt/{APP} && find releases/{release} venvs/{venv} -printf '%p %u %g %m %s %Ts\\n' | sort"
    assert app1.check_output(listing) == app2.check_output(listing)
    # The controller keeps the archives of the newest build of each app, private.
    assert _archives() == {
        f"{APP}-release-{release}.tar.gz": 0o600,
        f"{APP}-venv-{venv}.tar.gz": 0o600,
        **{name: mode for name, mode in _archives().items() if name.startswith(f"{ORDERS}-")},
    }
    assert len([name for name in _archives() if name.startswith(f"{ORDERS}-")]) == 2


def test_a_host_unlike_the_build_host_is_refused_before_any_change(lb, app1, app2, tmp_path):
    # A real mismatch: app2 gets another app_base_dir (host variables from an inventory added to the
    # run), so the virtualenv built on app1, which holds app1's absolute paths, cannot run there. The
    # check after the build refuses it before the deploy plays touch any host. (Python, machine and
    # C library differences are unit-tested: every container here has the same.)
    inventory = tmp_path / "elsewhere.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"pyops-cluster-app2": {"app_base_dir": "/srv/elsewhere"}}}}))
    hosts = (("lb", lb), ("app1", app1), ("app2", app2))
    fingerprints = {name: stack.host_fingerprint(host) for name, host in hosts}

    run = stack.run_playbook("pyops.fastapi.site", {}, "-i", str(inventory))

    assert run.returncode != 0
    failures = run.failures_by_host()
    assert set(failures) == {"pyops-cluster-app1", "pyops-cluster-app2"}, failures
    task, messages = failures["pyops-cluster-app2"][0]
    assert task == "Check the host matches the build host", failures
    # app1 matches; it stops with the run (any_errors_fatal), saying so.
    assert failures["pyops-cluster-app1"] == [
        (
            "Stop the run where the build failed",
            ["Stopped with the hosts that failed above; nothing was changed on pyops-cluster-app1."],
        )
    ], failures
    release = live_release(app1)
    assert f"Release {release}, built on pyops-cluster-app1, cannot run on pyops-cluster-app2" in messages[0], messages
    assert f"it was built in /opt/{APP}, this host's app_base_dir is /srv/elsewhere" in messages[0], messages
    assert "Nothing was changed on any host" in messages[0], messages
    # app1 built (nothing new: the same id) and passed; no deploy play ran on any host.
    assert ("pyops-cluster-app1", "Check the host matches the build host") in {
        (host, name.split(" : ", 1)[-1]) for host, name, result in run.host_results() if not result.get("skipped")
    }
    assert not {host for host, _task, _result in run.host_results(play=ROLLOUT_PLAY)}
    assert not app2.file("/srv/elsewhere").exists
    assert {name: stack.host_fingerprint(host) for name, host in hosts} == fingerprints
    # The run ended before the cluster playbook's last play: the check gave the cluster's lock back.
    assert not lb.file(f"/run/lock/pyops-fastapi-{APP}-cluster.lock").exists


def test_rolling_deploy_under_load_loses_no_request(lb, app1, app2, source):
    (source / "static" / "rollout.txt").write_text("rolling deploy\n")
    before = {name: (live_release(host), live_slot(host)) for name, host in (("app1", app1), ("app2", app2))}

    # A code change and a change of the app servers' nginx (and the load balancer's) at once.
    changes = {"app_source": "local", "app_source_path": str(source), "nginx_client_max_body_size": "12m"}

    # A second cluster run meanwhile (another release, told not to wait) meets the cluster's lock on
    # the load balancer, before any change.
    other = source.parent / "other-release"
    shutil.copytree(source, other)
    (other / "static" / "rollout.txt").write_text("another rollout\n")
    second = {}
    lock = f"/run/lock/pyops-fastapi-{APP}-cluster.lock"
    during = stack.second_run_once_locked(
        lb, lock, "pyops.fastapi.site", {**changes, "app_source_path": str(other), "release_lock_timeout": 0}, second
    )

    run, summary, upstreams, drained = deploy_under_load(lb, changes, during=during)

    assert run.returncode == 0, run.tail()
    assert_only_reload_races(summary)
    failures = second["run"].failures_by_host()
    assert set(failures) == {"pyops-cluster-lb"}, failures
    task, messages = failures["pyops-cluster-lb"][-1]
    assert task == f"Take the deploy lock of {APP}", failures
    assert messages[0].startswith(f"The deploy lock {lock} is held by another run (controller "), messages
    # Given back by the last play; the second run changed nothing (checked below with the releases served).
    assert not lb.file(lock).exists
    # Each app server left the rotation before its own nginx reloaded (a reload closes the load
    # balancer's idle connections to it), not only before its release took over.
    for name in APP_SERVERS:
        host = f"pyops-cluster-{name}"
        steps = [
            task
            for each, task, result in run.host_results(play=ROLLOUT_PLAY)
            if each == host
            and result.get("changed")
            and task.endswith(("Write the upstream servers of site " + APP, "pyops.fastapi.nginx : Render the site"))
        ]
        assert steps[:2] == [
            f"pyops.fastapi.nginx : Write the upstream servers of site {APP}",
            "pyops.fastapi.nginx : Render the site",
        ], steps
        assert (
            "client_max_body_size 12m;"
            in (app1 if name == "app1" else app2).file(f"/etc/nginx/sites-available/{APP}.conf").content_string
        )
    # Each app server was out of rotation on its own, one after the other, and back at the end.
    assert [state for state in drained if state] == [ENDPOINTS["app1"], ENDPOINTS["app2"]], drained
    assert drained[-1] == "", drained
    assert _servers(lb) == [f"server {ENDPOINTS[name]} max_fails=1 fail_timeout=5s;" for name in APP_SERVERS]
    after = {name: (live_release(host), live_slot(host)) for name, host in (("app1", app1), ("app2", app2))}
    for name in APP_SERVERS:
        assert after[name][0] != before[name][0] and after[name][1] != before[name][1], (before, after)
    # Built once on app1: the same release id on both; app2 got the code only (the virtualenv is the same).
    assert after["app1"][0] == after["app2"][0], after
    copied = {
        host: [item["item"]["key"] for item in result.get("results", []) if not item.get("skipped")]
        for host, task, result in run.host_results(play=ROLLOUT_PLAY)
        if task == "pyops.fastapi.app : Copy the archives to the host"
    }
    # app1 built it: nothing to copy there.
    assert copied == {"pyops-cluster-app1": [], "pyops-cluster-app2": ["release"]}, copied
    # Both servers answered during the window, with the old release and then the new one.
    assert set(upstreams) >= set(ENDPOINTS.values()), set(upstreams)
    assert set(summary["releases"]) == {before["app1"][0], before["app2"][0], after["app1"][0], after["app2"][0]}, (
        summary
    )
    print("rolling deploy under load:", summary)


def test_failing_release_stops_the_rollout_at_the_first_server(lb, app1, app2, source):
    (source / "main.py").write_text("raise RuntimeError('this release cannot start')\n")
    before = {name: (live_release(host), live_slot(host)) for name, host in (("app1", app1), ("app2", app2))}

    run, summary, _upstreams, drained = deploy_under_load(lb, {"app_source": "local", "app_source_path": str(source)})

    assert run.returncode != 0
    failures = run.failures_by_host()
    # app1, first of the serial batches, failed at its gate and stopped the rollout; app2 was never reached.
    assert set(failures) == {"pyops-cluster-app1"}, failures
    task, messages = failures["pyops-cluster-app1"][-1]
    assert task == "Stop the rollout at the failed app server", failures
    assert "The release failed on pyops-cluster-app1" in messages[0], messages
    assert "this release cannot start" in messages[0], messages
    assert "still serves its previous release and is back in the load balancers" in messages[0], messages
    # app2 passed the first play's checks but the rollout never reached it.
    assert "pyops-cluster-app2" in {host for host, _task, _result in run.host_results(play=CHECK_PLAY)}
    rollout = {host for host, _task, _result in run.host_results(play=ROLLOUT_PLAY)}
    assert rollout == {"pyops-cluster-app1"}, rollout
    # Traffic was unaffected, app1 went out of rotation and came back; app2 was never drained.
    assert_only_reload_races(summary)
    assert [state for state in drained if state] == [ENDPOINTS["app1"]], drained
    assert drained[-1] == "", drained
    after = {name: (live_release(host), live_slot(host)) for name, host in (("app1", app1), ("app2", app2))}
    assert after == before, (before, after)
    assert set(summary["releases"]) == {before["app1"][0], before["app2"][0]}, summary
    # The failed server gave the cluster's lock back before it stopped the rollout.
    assert not lb.file(f"/run/lock/pyops-fastapi-{APP}-cluster.lock").exists


def test_rollback_on_demand_rolls_through_the_cluster(lb, app1, app2):
    # The release before the rolling deploy above: built once, so one id names it on both servers.
    previous = {
        name: sorted(r for r in host.check_output("ls /opt/%s/releases", APP).split() if r < live_release(host))[-1]
        for name, host in (("app1", app1), ("app2", app2))
    }
    assert previous["app1"] == previous["app2"], previous

    run, summary, _upstreams, drained = deploy_under_load(
        lb, {"release_rollback_to": previous["app1"]}, playbook="pyops.fastapi.rollback"
    )

    assert run.returncode == 0, run.tail()
    assert_only_reload_races(summary)
    assert [state for state in drained if state] == [ENDPOINTS["app1"], ENDPOINTS["app2"]], drained
    assert drained[-1] == "", drained
    assert {name: live_release(host) for name, host in (("app1", app1), ("app2", app2))} == previous
    assert not lb.file(f"/run/lock/pyops-fastapi-{APP}-cluster.lock").exists


def test_two_apps_share_the_hosts(lb, app1, app2):
    orders = stack.fetch(lb, "/orders/ping", name=ORDERS_NAME)
    assert orders.status == 200, orders.text
    assert stack.fetch(lb, "/health").status == 200
    # The second app runs on app1 only, next to the bundled one, on its own backend port.
    assert app1.file(f"/opt/{ORDERS}/current").exists and not app2.file(f"/opt/{ORDERS}").exists
    # Its own health paths are the ones its site never rate-limits (from release_health_endpoints).
    site = lb.file(f"/etc/nginx/sites-available/{ORDERS}.conf").content_string
    assert '"/_status/live" "";' in site and '"/_status/ready" "";' in site, site
    # nginx_extra_locations on both sides: the load balancer and the app server's backend site.
    backend = app1.file(f"/etc/nginx/sites-available/{ORDERS}.conf").content_string
    for text in (site, backend):
        assert "location ^~ /orders/stream {\n        proxy_read_timeout 1h;\n        proxy_buffering off;\n" in text, (
            text
        )
    assert _servers(lb, f"/etc/nginx/pyops/{ORDERS}.members.conf") == [
        f"server {ADDRESSES['app1']}:8081 max_fails=1 fail_timeout=5s;"
    ]
    # A pyproject.toml + poetry.lock project (converge.yml): installed from Poetry's export, with hashes.
    stack.assert_venv_from_lock(app1, ORDERS, "poetry")


ORDERS_VARS = {
    "pyops_fastapi_app_hosts": "orders_app",
    **stack.ORDERS_VARS,
    "app_requirements_file": "poetry.lock",
    "app_source": "local",
    "app_source_path": str(ORDERS_SOURCE),
    "nginx_backend_port": 8081,
}


def _shared_nginx_files(host):
    return host.check_output("sha256sum /etc/nginx/sites-available/000-default-deny.conf 2>/dev/null || true")


# The cluster's re-run (no idempotence step): after the first app's rollouts and rollback, the second
# app's cluster playbook changes nothing on any host and drains no server of the first app. (The
# default scenario's idempotence step re-runs the roles themselves.)
def test_rerunning_the_second_app_changes_nothing(lb, app1, app2):
    shared = {name: _shared_nginx_files(host) for name, host in (("lb", lb), ("app1", app1))}
    fingerprints = {name: stack.host_fingerprint(host) for name, host in (("lb", lb), ("app1", app1), ("app2", app2))}

    with watch_members(lb) as drained:
        run = stack.run_playbook("pyops.fastapi.cluster", ORDERS_VARS)

    assert run.returncode == 0, run.tail()
    changed = {host: stats["changed"] for host, stats in run.changed().items()}
    assert set(changed.values()) == {0}, changed
    # Nothing drained either: no server of the first app left its load balancer's rotation.
    assert [state for state in drained if state] == [], drained
    assert {name: _shared_nginx_files(host) for name, host in (("lb", lb), ("app1", app1))} == shared
    assert {
        name: stack.host_fingerprint(host) for name, host in (("lb", lb), ("app1", app1), ("app2", app2))
    } == fingerprints


CLASHES = {
    # The second app on the first app's backend port: app1's preflight refuses it.
    "backend-port": (
        {"nginx_backend_port": 8080},
        "pyops-cluster-app1",
        ["nginx_backend_port 8080 of app orders-api", f"nginx_backend_port of app {APP}"],
    ),
    # The second app under the first app's name: the load balancer's preflight refuses it.
    "server-name": ({"nginx_server_name": NAME}, "pyops-cluster-lb", [f"both serve {NAME}", f"app {APP}"]),
}


@pytest.mark.parametrize("case", list(CLASHES))
def test_a_clash_between_the_two_apps_fails_in_preflight(lb, app1, case):
    change, failing_host, expected = CLASHES[case]
    fingerprints = {name: stack.host_fingerprint(host) for name, host in (("lb", lb), ("app1", app1))}

    run = stack.run_playbook("pyops.fastapi.cluster", {**ORDERS_VARS, **change})

    assert run.returncode != 0
    failures = run.failures_by_host()
    assert list(failures) == [failing_host], failures
    task, messages = failures[failing_host][0]
    assert task == "Check the site does not clash with the other sites on the host", failures
    for words in expected:
        assert words in str(messages), messages
    # The first play stops every host (any_errors_fatal): nothing changed anywhere.
    assert {name: stack.host_fingerprint(host) for name, host in (("lb", lb), ("app1", app1))} == fingerprints
