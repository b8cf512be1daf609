"""Every kind of change goes live through the idle slot under load through nginx, with no failed
request, and is visible afterwards. The tests build on each other, in file order: each passes
the whole desired state (DESIRED), as an inventory would hold it."""

import datetime
import hashlib
import shutil

import pytest
import stack
from stack import APP, EXAMPLE_APP, assert_no_request_failed

NEW_SECRET = "rotated-4f8e2a9c1b7d3e5f0a6c8b2d4e9f1a3c"
DESIRED = {}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("deploy") / "app"
    shutil.copytree(EXAMPLE_APP, src)
    DESIRED.update(app_source="local", app_source_path=str(src))
    return src


def _switched(bundled, run, summary, upstreams, slot_before):
    assert run.returncode == 0, run.failure()
    assert_no_request_failed(summary)
    new_slot = bundled.live_slot()
    assert new_slot != slot_before
    assert not bundled.is_active(slot_before)
    # nginx reached both slots through the one link (summary["releases"] says which answered), and
    # was not reloaded: its upstream is the link, and no client connection was closed (no error).
    assert set(upstreams) == {bundled.live_socket}, upstreams


def _plant_unfinished_release(bundled, release_id):
    """What a run killed while it built leaves: a release directory with part of the code, no
    virtualenv link and no record of what it was built from (written last)."""
    directory = f"/opt/{APP}/releases/{release_id}"
    bundled.host.run_expect([0], "mkdir %s && cp /opt/%s/current/main.py %s/", directory, APP, directory)
    return release_id


def _id_plus(release_id, seconds):
    """A release id (UTC, %Y%m%dT%H%M%SZ) `seconds` later (or earlier, when negative)."""
    moment = datetime.datetime.strptime(release_id, "%Y%m%dT%H%M%SZ") + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def test_code_change_with_a_hook(bundled, source):
    slot, release, master = bundled.live_slot(), bundled.live_release(), bundled.master_pid()
    main = source / "main.py"
    main.write_text(main.read_text().replace('"Hello World"', '"Hello from the next release"'))
    bundled.host.run("rm -f /var/tmp/hook-escape /tmp/hook-escape")
    hook = {
        "name": "record",
        "command": 'printf "%s %s" "$(pwd -P)" "$(printf %s "$SECRET_KEY" | sha256sum)" > '
        f"/opt/{APP}/shared/logs/hook-ran; "
        # Issue 18, finding 3: what the unit's sandbox denies the app, a hook is denied too.
        f"for path in /var/tmp/hook-escape /tmp/hook-escape /opt/{APP}/shared/hook-escape; do "
        'touch "$path" 2>/dev/null; done; '
        f"chmod 0777 /run/{APP} 2>/dev/null && echo opened >> /opt/{APP}/shared/logs/hook-escapes; "
        "setsid sleep 613 </dev/null >/dev/null 2>&1 & exit 0",
    }
    DESIRED["release_hooks"] = [hook]

    run, summary, upstreams = bundled.deploy_under_load(DESIRED)

    _switched(bundled, run, summary, upstreams, slot)
    new_release = bundled.live_release()
    assert new_release != release
    assert set(summary["releases"]) == {release, new_release}, summary
    assert bundled.fetch("/").json()["message"] == "Hello from the next release"
    assert bundled.master_pid() != master
    # The hook ran as the app user, in the new release, with the slot's environment.
    ran = bundled.host.file(f"/opt/{APP}/shared/logs/hook-ran")
    assert ran.user == APP
    cwd, digest = ran.content_string.split()[:2]
    assert cwd == f"/opt/{APP}/releases/{new_release}"
    assert digest == hashlib.sha256(b"molecule-deploy-5b1e9d0c7a3f4e2b8c6d1a9e0f7b3c5d").hexdigest()
    # It ran in the unit's sandbox: its writes outside the log directory went nowhere (read-only, or
    # its private /tmp and /var/tmp), /run/<app> stayed closed, and the process it left behind was
    # killed with its transient unit.
    assert not bundled.host.file(f"/opt/{APP}/shared/logs/hook-escapes").exists, bundled.host.file(
        f"/opt/{APP}/shared/logs/hook-escapes"
    ).content_string
    for path in ("/var/tmp/hook-escape", "/tmp/hook-escape", f"/opt/{APP}/shared/hook-escape"):
        assert not bundled.host.file(path).exists, path
    assert bundled.host.file(f"/run/{APP}").mode == 0o710
    assert bundled.host.run("ps -eo args | grep -x 'sleep 613'").rc == 1


# Writes a hash-pinned requirements file (as pip-compile --generate-hashes would) for what the
# given requirements and the server packages resolve to: pip downloads the wheels in the container
# with the live release's pip, and each wheel's name, version and sha256 become a line.
HASH_LINES = r"""
import hashlib, pathlib, sys
lines = []
for wheel in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    name, version = wheel.name.split("-")[:2]
    lines.append(f"{name}=={version} --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}")
print("\n".join(lines))
"""
SERVER_PACKAGES = ["gunicorn==27.0.1", "uvicorn-worker==0.4.0", "uvicorn[standard]==0.54.0"]


def _hashed_requirements(bundled, requirements):
    host = bundled.host
    host.run_expect([0], "rm -rf /root/hashed && mkdir -p /root/hashed")
    wanted = requirements + "".join(f"{package}\n" for package in SERVER_PACKAGES)
    host.run_expect([0], "printf %%s %s > /root/hashed/requirements.txt", wanted)
    host.run_expect(
        [0],
        "%s/bin/pip download -q --only-binary=:all: -d /root/hashed/wheels -r /root/hashed/requirements.txt",
        bundled.live_venv(),
    )
    return host.check_output("python3 -c %s /root/hashed/wheels", HASH_LINES) + "\n"


def test_rotated_secret_and_environment(bundled, source):
    slot, release = bundled.live_slot(), bundled.live_release()
    DESIRED.update(app_secret_key=NEW_SECRET, app_env={"APP_NAME": "rotated-app", "ENVIRONMENT": "production"})

    run, summary, upstreams = bundled.deploy_under_load(DESIRED)

    _switched(bundled, run, summary, upstreams, slot)
    # The same release, started again in the other slot with the new environment.
    assert bundled.live_release() == release
    assert bundled.fetch("/").json()["app"] == "rotated-app"
    # Read as the app user: root in the container lacks CAP_SYS_PTRACE for another user's environ.
    environ = bundled.host.check_output("runuser -u %s -- cat /proc/%s/environ", APP, str(bundled.master_pid()))
    assert f"SECRET_KEY={NEW_SECRET}" in environ.split("\0")
    assert NEW_SECRET not in run.stdout + run.stderr


def test_gunicorn_version_preload_app_and_pruning(bundled, source):
    """A new gunicorn pin (app_server_packages: a new virtualenv, so a new release of the same code)
    with new gunicorn settings (preload_app), and pruning down to release_keep. Which input makes a
    slot take over is unit-tested for each one (tests/unit/roles, test_release_takes_over_...); a
    settings-only change going live is the rotated secret's path above."""
    slot, release, venv = bundled.live_slot(), bundled.live_release(), bundled.live_venv()
    previous = max(r for r in bundled.releases() if r < release)
    # Newer than the live release: counted among the two newest, it would push the live one out.
    unfinished = _plant_unfinished_release(bundled, _id_plus(release, 1))
    DESIRED["app_server_packages"] = ["gunicorn==27.0.0", "uvicorn-worker==0.4.0", "uvicorn[standard]==0.54.0"]
    DESIRED.update(gunicorn_preload_app=True, release_keep=2)

    run, summary, upstreams = bundled.deploy_under_load(DESIRED)

    _switched(bundled, run, summary, upstreams, slot)
    # Same code, another virtualenv: a new release.
    new_release = bundled.live_release()
    assert new_release != release
    assert bundled.live_venv() != venv
    assert "27.0.0" in bundled.host.check_output("%s/bin/gunicorn --version", bundled.live_venv())
    conf = bundled.host.file(f"/opt/{APP}/slots/{bundled.live_slot()}/gunicorn_conf.py").content_string
    assert "preload_app = True" in conf
    assert bundled.fetch("/").json()["message"] == "Hello from the next release"
    # After the gate: the two newest finished releases stay (the live one and the one before it),
    # and only the virtualenvs they use; the unfinished one is gone.
    assert bundled.releases() == [release, new_release], (unfinished, bundled.releases())
    used = {
        bundled.host.check_output("readlink /opt/%s/releases/%s/.venv", APP, r).rsplit("/", 1)[-1]
        for r in (release, new_release)
    }
    assert set(bundled.venvs()) == used
    assert previous not in bundled.releases()


def test_nothing_changed_nothing_restarts(bundled, source):
    slot, master = bundled.live_slot(), bundled.master_pid()
    run = stack.run_playbook("pyops.fastapi.site", DESIRED)
    assert run.returncode == 0, run.failure()
    assert sum(stats["changed"] for stats in run.report["stats"].values()) == 0, run.report["stats"]
    assert (bundled.live_slot(), bundled.master_pid()) == (slot, master)


def test_rollback_on_demand(bundled, source):
    slot, release = bundled.live_slot(), bundled.live_release()
    previous = max(r for r in bundled.releases() if r < release)
    # Between the two: the newest release older than the live one, but unfinished (never rolled back to).
    unfinished = _plant_unfinished_release(bundled, _id_plus(release, -1))
    assert previous < unfinished < release

    run, summary, upstreams = bundled.deploy_under_load({}, playbook="pyops.fastapi.rollback")

    _switched(bundled, run, summary, upstreams, slot)
    assert bundled.live_release() == previous
    # A rollback prunes nothing; the next deploy removes it (test_gunicorn_version_preload_app_and_pruning).
    bundled.host.run_expect([0], "rm -r /opt/%s/releases/%s", APP, unfinished)
    assert set(summary["releases"]) == {release, previous}, summary
    # The code of the previous release (the same message), with its own virtualenv (gunicorn 27.0.1).
    assert "27.0.1" in bundled.host.check_output("%s/bin/gunicorn --version", bundled.live_venv())


# Last of this file: the tests before it change app_server_packages, which a hashed file must pin.
def test_requirements_change_hash_pinned(bundled, source):
    """A requirements change (a new package) builds a new virtualenv and goes live. The file is
    hash-pinned (issue 18, finding 6): it installs in pip's hash-checking mode; one that leaves out a
    server package stops the build naming it, the live release serving."""
    # Back to the default server packages (test_gunicorn_version_change pinned another gunicorn).
    DESIRED["app_server_packages"] = SERVER_PACKAGES
    requirements = source / "requirements.txt"
    hashed = _hashed_requirements(bundled, requirements.read_text() + "six==1.17.0\n")
    assert "six==1.17.0 --hash=sha256:" in hashed, hashed
    assert "gunicorn==27.0.1 --hash=sha256:" in hashed, hashed

    # Without the server packages: refused before pip runs, nothing changes.
    slot, release = bundled.live_slot(), bundled.live_release()
    requirements.write_text("".join(line + "\n" for line in hashed.splitlines() if not line.startswith("gunicorn==")))
    run = stack.run_playbook("pyops.fastapi.site", DESIRED)
    task, message = run.failure()
    assert run.returncode != 0
    assert task == "pyops.fastapi.app : Stop with the reason", (task, message)
    assert "must pin app_server_packages itself" in message and "gunicorn==27.0.1" in message, message
    assert (bundled.live_slot(), bundled.live_release()) == (slot, release)

    requirements.write_text(hashed)
    venv = bundled.live_venv()
    run, summary, upstreams = bundled.deploy_under_load(DESIRED)

    _switched(bundled, run, summary, upstreams, slot)
    # 0.5.0 put the server packages on pip's command line, which hash-checking mode refuses.
    assert bundled.live_venv() != venv
    version = bundled.host.check_output("%s/bin/gunicorn --version", bundled.live_venv())
    assert "27.0.1" in version, version
    six = bundled.host.check_output("%s/bin/python -c 'import six; print(six.__version__)'", bundled.live_venv())
    assert six == "1.17.0"
