"""An upgrade from the previous tagged release (0.8.0, tests/fixtures/) to this collection, under load
(issue 20). 0.8.0's site playbook deploys the second app next to the bundled one; this collection then
deploys a code change to it while a client sends GETs and POSTs through nginx, retrying nothing.

0.8 switched slots by rewriting nginx's upstream file (it named a slot's socket) and reloading nginx;
this collection names the link live.sock there and converts such a host on its first switch. Named to
run last (after test_zz_audit); only in the pass that deploys the installed tarball (conftest.py)."""

import re
import shutil

import pytest
import stack
from stack import APP, ORDERS, ORDERS_HEADER, ORDERS_NAME, ORDERS_SOURCE, REPO
from test_secrets import PEM, VAULTED

pytestmark = pytest.mark.installed_collection_only

FIXTURE = REPO / "tests" / "fixtures" / "pyops-fastapi-0.8.0.tar.gz"
BASE = f"/opt/{ORDERS}"
LIVE_SOCKET = f"{BASE}/live.sock"
PREVIOUS_SOCKET = f"{BASE}/previous.sock"
UPSTREAM_FILE = f"/etc/nginx/pyops/{ORDERS}.upstream.conf"
CONVERTED_UPSTREAM = f"server unix:{LIVE_SOCKET} max_fails=0;\nserver unix:{PREVIOUS_SOCKET} backup max_fails=0;\n"
OLD = {}  # what 0.8.0 left: slot, release


def _socket(slot):
    return f"/run/{ORDERS}/{slot}/gunicorn.sock"


STALE_SECRETS = f"/opt/{ORDERS}/shared/secrets/0123456789abcdef"


def _vars(src, extra=None):
    return {**stack.ORDERS_VARS, "app_source": "local", "app_source_path": str(src), **(extra or {})}


# The upgrade also moves the app from requirements.txt (which 0.8.0 reads) to its uv.lock: a team
# adopting uv with the new collection. The lock is exported by uv, installed with hashes.
LOCKED = {"app_requirements_file": "uv.lock"}


def _orders(host, path="/orders/ping"):
    return stack.fetch(host, path, name=ORDERS_NAME)


def _unit_states(host):
    """slot -> (ActiveState, UnitFileState) of each slot's unit."""
    states = {}
    for slot in ("blue", "green"):
        unit = stack.slot_unit(slot, ORDERS)
        states[slot] = tuple(host.run("systemctl show -p ActiveState -p UnitFileState --value %s", unit).stdout.split())
    return states


def _reloads(run):
    """The nginx reloads a run made: its changed tasks that reload nginx (the switch's, the handler)."""
    return [name for name, result in run.results() if name.endswith("reload it") and result.get("changed")]


@pytest.fixture(scope="module")
def orders_src(tmp_path_factory):
    src = tmp_path_factory.mktemp("upgrade") / "orders-app"
    shutil.copytree(ORDERS_SOURCE, src)
    return src


@pytest.fixture(scope="module")
def collection_0_8_0(tmp_path_factory):
    """0.8.0 installed from its tarball into a collections path of its own."""
    return stack.install_collection(FIXTURE, tmp_path_factory.mktemp("collections-0.8.0"))


@pytest.fixture(scope="module", autouse=True)
def _remove_the_second_app(host):
    """The second app goes when the module ends, whatever happened: nginx and the host serve the
    bundled app alone again, as the scenario left them."""
    yield
    units = " ".join(stack.slot_unit(slot, ORDERS) for slot in ("blue", "green"))
    host.run("systemctl disable --now %s", units)
    host.run(
        f"rm -rf /etc/nginx/sites-enabled/{ORDERS}.conf /etc/nginx/sites-available/{ORDERS}.conf {UPSTREAM_FILE}"
        f" {BASE} /etc/systemd/system/{ORDERS}@.service"
    )
    host.run_expect([0], "systemctl daemon-reload && nginx -t -q && systemctl reload nginx")
    assert stack.fetch(host, "/health").status == 200


def test_0_8_0_deploys_the_second_app(host, collection_0_8_0, orders_src):
    bundled = stack.live_release(host, APP)
    run = stack.run_playbook("pyops.fastapi.site", _vars(orders_src), collections_path=collection_0_8_0)
    assert run.returncode == 0, run.failure()

    # 0.8's layout: the upstream file names the live slot's socket, no live.sock.
    slot = stack.live_slot(host, ORDERS)
    upstream = host.file(UPSTREAM_FILE).content_string
    assert upstream == f"server unix:{_socket(slot)};\n", upstream
    assert host.run("test -e %s -o -L %s", LIVE_SOCKET, LIVE_SOCKET).rc == 1, "0.8.0 made live.sock"
    ping = _orders(host)
    assert ping.json() == {"greeting": "hello", "version": "1"}, ping.text
    OLD.update(slot=slot, release=stack.live_release(host, ORDERS))
    assert ping.headers[ORDERS_HEADER.lower()] == OLD["release"]
    # 0.8.0 rewrote the nginx files both apps share (the catch-all servers) and reloaded nginx: the
    # bundled app, deployed by this collection, serves on untouched.
    assert stack.live_release(host, APP) == bundled
    assert stack.fetch(host, "/health").status == 200


def test_upgrade_to_this_collection_under_load(host, orders_src):
    assert OLD, "0.8.0 did not deploy the second app (test above)"
    old_slot, old_release = OLD["slot"], OLD["release"]
    new_slot = "green" if old_slot == "blue" else "blue"
    stack.set_orders_version(orders_src, "2")

    # A version of the secret files (group_vars/fastapi.yml gives the second app the same) that nothing
    # names, as a rotation leaves once both slots moved on: this run removes it.
    host.run_expect([0], "install -d -m 0750 %s && echo old > %s/KEY_FILE", STALE_SECRETS, STALE_SECRETS)

    offset = stack.access_log_size(host, ORDERS)
    window = stack.load(host, name=ORDERS_NAME, path="/orders/ping", release_header=ORDERS_HEADER, retry_stale=True)
    with window as summary:
        run = stack.run_playbook("pyops.fastapi.site", _vars(orders_src, LOCKED))
    OLD["upgrade_run"] = run
    upstreams = stack.upstreams_since(host, offset, ORDERS, each_attempt=True)
    reloads = _reloads(run)
    print("upgrade window:", summary, "nginx reloads:", reloads, "upstreams:", dict(upstreams))

    assert run.returncode == 0, run.failure()
    # One reload: the nginx role's, for the site's new settings, which also converts the upstream file
    # (live.sock -> the 0.8 slot's socket, the same slot); the switch is then a link rename.
    assert reloads == ["pyops.fastapi.nginx : Test nginx's configuration and reload it"], reloads
    # What a client sees: nginx's reload closes every idle keep-alive connection to it, and a request
    # sent on one in that instant gets no response (RemoteDisconnected). This client resends such a GET
    # once, as browsers do (stale_retries: what a client that retries nothing would have lost), and no
    # POST; every other request must succeed. At most one such close per connection per reload.
    stack.assert_only_reload_races(summary)
    assert summary["stale_retries"] <= 4 * len(reloads), summary  # stack.load: 4 GET connections
    assert set(summary["releases"]) == {old_release, stack.live_release(host, ORDERS)}, summary
    # nginx reached the 0.8 slot by its socket until the conversion, the new one through the link.
    assert set(upstreams) <= {f"unix:{_socket(old_slot)}", f"unix:{LIVE_SOCKET}"}, upstreams

    # Converted: the upstream names the links, live.sock the new slot's socket, no backup left.
    upstream = host.file(UPSTREAM_FILE).content_string
    assert upstream == CONVERTED_UPSTREAM, upstream
    assert host.check_output("readlink %s", LIVE_SOCKET) == _socket(new_slot)
    assert host.run("test -e %s -o -L %s", PREVIOUS_SOCKET, PREVIOUS_SOCKET).rc == 1, "previous.sock left"
    assert stack.live_slot(host, ORDERS) == new_slot
    # One slot runs and starts at boot; 0.8's slot is stopped and disabled, and nothing else of the app runs.
    states = _unit_states(host)
    assert states == {new_slot: ("active", "enabled"), old_slot: ("inactive", "disabled")}, states
    running = host.check_output("systemctl list-units --state=active --plain --no-legend '%s@*'", ORDERS)
    assert [line.split()[0] for line in running.splitlines()] == [stack.slot_unit(new_slot, ORDERS)], running
    ping = _orders(host)
    assert ping.json() == {"greeting": "hello", "version": "2"}, ping.text
    stack.assert_venv_from_lock(host, ORDERS, "uv")
    assert ping.headers[ORDERS_HEADER.lower()] == stack.live_release(host, ORDERS) != old_release
    assert stack.fetch(host, "/health").status == 200

    # Converted once: a second run changes nothing (so reloads nothing).
    again = stack.run_playbook("pyops.fastapi.site", _vars(orders_src, LOCKED))
    assert again.returncode == 0, again.failure()
    changed = {name: stats.get("changed") for name, stats in again.changed().items()}
    assert set(changed.values()) == {0}, (changed, [name for name, result in again.results() if result.get("changed")])


def test_the_upgrade_removed_the_stale_secrets_and_printed_none(host):
    run = OLD.get("upgrade_run")
    assert run is not None, "the upgrade did not run (test above)"
    env = host.file(f"/opt/{ORDERS}/shared/.env").content_string
    live = re.search(rf"/opt/{ORDERS}/shared/secrets/([0-9a-f]{{16}})/", env).group(1)
    assert host.check_output("ls /opt/%s/shared/secrets", ORDERS).split() == [live]
    # No secret of group_vars/fastapi.yml (the vault value decrypted, a PEM line) in what the run printed.
    for value in (VAULTED, PEM.splitlines()[1]):
        assert value not in run.stdout, "a secret in the playbook's output"
