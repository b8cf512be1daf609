"""The scripts the roles run from their files/ directory, run here as the roles run them:

- app, files/venv_handover.sh (tasks/build.yml, /bin/sh -c): ends the build user's processes, removes
  the pip configuration, gives the virtualenv to root, read-only for everyone else;
- gunicorn, files/check_gunicorn_config.py (tasks/configure.yml, the template's validate: python -c
  with the candidate on stdin), against a stand-in for gunicorn's loader;
- every file a task reads with lookup('ansible.builtin.file', ...) exists in its role's files/.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROLES = Path(__file__).resolve().parents[3] / "roles"
HANDOVER = ROLES / "app" / "files" / "venv_handover.sh"
CHECK_CONFIG = ROLES / "gunicorn" / "files" / "check_gunicorn_config.py"
# A user id no account and no process of this host has: the build user of these tests.
BUILD_UID = 3999999917


def test_every_file_a_task_looks_up_is_in_its_role():
    lookup = re.compile(r"lookup\('ansible\.builtin\.file', '([^']+)'\)")
    found = []
    for tasks in ROLES.glob("*/tasks/*.yml"):
        for name in lookup.findall(tasks.read_text()):
            found.append(name)
            assert (tasks.parent.parent / "files" / name).is_file(), f"{tasks}: files/{name} is missing"
    assert {"venv_handover.sh", "check_gunicorn_config.py"} <= set(found)


# app: files/venv_handover.sh


def test_the_handover_script_is_posix_sh():
    assert subprocess.run(["/bin/sh", "-n", str(HANDOVER)], check=False).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the script gives the virtualenv to root and kills another uid's process")
def test_the_handover_ends_the_build_users_processes_and_gives_the_virtualenv_to_root(tmp_path):
    # `id -u <build user>` answers BUILD_UID: a uid only the process started below has.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "id").write_text(f"#!/bin/sh\necho {BUILD_UID}\n")
    (fake_bin / "id").chmod(0o755)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in ("pip.conf", "netrc", "bin/python3.11", "pyvenv.cfg"):
        (venv / name).write_text("x\n")
    (venv / "bin" / "python3.11").chmod(0o777)
    outside = tmp_path / "outside"
    outside.write_text("not the virtualenv's\n")
    os.chown(outside, 1234, 1234)
    (venv / "bin" / "link").symlink_to(outside)
    for path in (venv, venv / "bin", venv / "pyvenv.cfg", venv / "bin" / "python3.11"):
        os.chown(path, BUILD_UID, BUILD_UID)
    left_behind = subprocess.Popen(["sleep", "60"], user=BUILD_UID, group=BUILD_UID)
    try:
        argv = ["/bin/sh", "-c", HANDOVER.read_text(), "venv_handover.sh", "pyops-build", str(venv)]
        result = subprocess.run(
            argv,
            env=dict(os.environ, PATH=f"{fake_bin}:{os.environ['PATH']}"),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 5
        while left_behind.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left_behind.returncode == -9  # SIGKILL
    finally:
        if left_behind.poll() is None:
            left_behind.kill()
            left_behind.wait()
    assert not (venv / "pip.conf").exists()
    assert not (venv / "netrc").exists()
    for path in (venv, venv / "bin", venv / "pyvenv.cfg", venv / "bin" / "python3.11"):
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (0, 0), path
        assert st.st_mode & 0o022 == 0, path  # go-w
        assert st.st_mode & 0o200, path  # u+w
    assert (venv / "bin" / "python3.11").stat().st_mode & 0o777 == 0o755
    # -h: the link itself is root's, never its target.
    assert os.lstat(venv / "bin" / "link").st_uid == 0
    assert (outside.stat().st_uid, outside.stat().st_gid) == (1234, 1234)


# gunicorn: files/check_gunicorn_config.py

# Stands in for gunicorn.app.base.Application: loads the configuration when created, as gunicorn does,
# and refuses a workers setting that is not an integer, as gunicorn's validators do.
FAKE_GUNICORN = """
import runpy


class Application:
    def __init__(self):
        self.load_config()

    def load_config_from_file(self, filename):
        settings = runpy.run_path(filename)
        if not isinstance(settings.get("workers", 1), int):
            raise SystemExit("Error: Invalid value for workers: " + repr(settings["workers"]))
        print("loaded", sorted(key for key in settings if not key.startswith("__")))
"""


@pytest.fixture
def fake_gunicorn(tmp_path):
    package = tmp_path / "site" / "gunicorn" / "app"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "base.py").write_text(FAKE_GUNICORN)
    return tmp_path / "site"


def check(fake_gunicorn, conf):
    """Run the check as the validate command does: python -c <the file's text>, the candidate on stdin."""
    return subprocess.run(
        [sys.executable, "-c", CHECK_CONFIG.read_text()],
        input=conf,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(fake_gunicorn), PYTHONDONTWRITEBYTECODE="1"),
        check=False,
    )


def test_the_gunicorn_check_loads_the_candidate_from_stdin(fake_gunicorn):
    result = check(fake_gunicorn, "workers = 2\nbind = ['unix:/run/app/blue/gunicorn.sock']\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded ['bind', 'workers']"


def test_the_gunicorn_check_fails_on_a_wrong_setting(fake_gunicorn):
    result = check(fake_gunicorn, "workers = 'many'\n")
    assert result.returncode != 0
    assert "Invalid value for workers" in result.stderr


def test_the_gunicorn_check_survives_the_validate_command_line():
    """The task gives the file's text as one argument of a command line the template module formats
    with % (the candidate's path) and splits as a shell would: '%' doubled, then quoted."""
    text = CHECK_CONFIG.read_text().rstrip() + "\n# 100% of it, 'quoted' \"twice\"\n"
    validate = (
        "/bin/sh -c 'exec runuser -u nobody -- env PYTHONDONTWRITEBYTECODE=1 RUNTIME_DIRECTORY=/nonexistent "
        f""""$0" -c "$1" < %s' /srv/app/.venv/bin/python {shlex.quote(text.replace("%", "%%"))}"""
    )
    argv = shlex.split(validate % "/tmp/candidate.py")
    assert argv[-1] == text
    assert argv[2].endswith("< /tmp/candidate.py")
