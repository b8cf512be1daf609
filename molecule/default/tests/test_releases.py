"""Deploying new code: a reload serves the new release; a broken release never goes live.

Runs after test_bad_input and before test_stack (alphabetical order) and ends by
deploying the bundled example again, so the stack tests see the default app.
"""

import shutil

import pytest
from conftest import REPO

APP = "fastapi-app"


def _master_pid(host):
    return int(host.run("systemctl show -p MainPID --value %s", APP).stdout.strip())


def _current_release(host):
    return host.check_output("readlink -f /opt/%s/current", APP).rsplit("/", 1)[-1]


@pytest.fixture
def app_copy(tmp_path):
    src = tmp_path / "app"
    shutil.copytree(REPO / "roles" / "app" / "files" / "example_app", src)
    return src


def test_new_release_is_served_after_reload(host, fetch, run_site, app_copy):
    master_before = _master_pid(host)
    release_before = _current_release(host)
    main = app_copy / "main.py"
    main.write_text(main.read_text().replace('"Hello World"', '"Hello from the next release"'))

    result = run_site({"app_source": "local", "app_source_path": str(app_copy)})
    assert result.returncode == 0, result.stdout[-3000:]

    release_after = _current_release(host)
    assert release_after != release_before
    root = fetch("/")
    assert root.json()["message"] == "Hello from the next release"
    assert root.headers["x-app-release"] == release_after
    # SIGHUP, not a restart: the master survived and loaded the new code.
    assert _master_pid(host) == master_before


def test_broken_release_never_goes_live(host, fetch, run_site, app_copy):
    release_before = _current_release(host)
    (app_copy / "main.py").write_text("raise RuntimeError('this release cannot start')\n")

    result = run_site({"app_source": "local", "app_source_path": str(app_copy)})
    assert result.returncode != 0
    assert _current_release(host) == release_before
    assert fetch("/health").status == 200
    assert fetch("/").headers["x-app-release"] == release_before


def test_release_that_never_gets_ready_is_rolled_back(host, fetch, run_site, app_copy):
    master_before = _master_pid(host)
    release_before = _current_release(host)
    main = app_copy / "main.py"
    # Imports fine (so it goes live), but /ready answers 503 for ever.
    main.write_text(main.read_text().replace("    health.mark_ready()\n", "    pass\n"))

    result = run_site({"app_source": "local", "app_source_path": str(app_copy), "pyops_fastapi_gate_timeout": 10})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "The health gate failed" in output, output[-3000:]
    assert f"to {release_before}, which serves again" in output, output[-3000:]
    assert _current_release(host) == release_before
    assert fetch("/ready").status == 200
    assert fetch("/").headers["x-app-release"] == release_before
    assert _master_pid(host) == master_before


def test_back_to_the_bundled_example(host, fetch, run_site):
    result = run_site({})
    assert result.returncode == 0, result.stdout[-3000:]
    assert fetch("/").json()["message"] == "Hello World"
    releases = host.check_output("ls /opt/%s/releases", APP).split()
    assert _current_release(host) in releases
