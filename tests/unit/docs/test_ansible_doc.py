"""The module's and every role's documentation renders with ansible-doc, as users read it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())
ANSIBLE_DOC = shutil.which("ansible-doc", path=str(Path(sys.executable).parent)) or "ansible-doc"


def _doc(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([ANSIBLE_DOC, *args], capture_output=True, text=True, env=env, check=False, timeout=120)


def test_module_doc_renders():
    result = _doc("pyops.fastapi.health_check")
    assert result.returncode == 0, result.stderr
    for option in ("url", "unix_socket", "endpoints", "host", "wait_timeout", "successes"):
        assert option in result.stdout
    assert "check_mode" in result.stdout


def test_host_state_doc_renders():
    result = _doc("pyops.fastapi.host_state")
    assert result.returncode == 0, result.stderr
    for option in (
        "paths",
        "checksum_paths",
        "read_paths",
        "follow",
        "units",
        "packages",
        "users",
        "groups",
        "python",
        "commands",
    ):
        assert option in result.stdout
    assert "check_mode" in result.stdout


@pytest.mark.parametrize("role", ROLES)
def test_role_doc_renders(role):
    result = _doc("-t", "role", f"pyops.fastapi.{role}")
    assert result.returncode == 0, result.stderr
    assert "ENTRY POINT: *main*" in result.stdout
    assert f"{role}_" in result.stdout


TEST_PLUGINS = sorted(p.stem for p in (REPO / "plugins" / "test").glob("*.yml"))


def test_every_test_plugin_has_its_doc():
    from ansible_collections.pyops.fastapi.plugins.test import validate  # noqa: PLC0415

    assert TEST_PLUGINS == sorted(validate.TestModule().tests())


@pytest.mark.parametrize("name", TEST_PLUGINS)
def test_test_plugin_doc_renders(name):
    result = _doc("-t", "test", f"pyops.fastapi.{name}")
    assert result.returncode == 0, result.stderr
    assert f"pyops.fastapi.{name}" in result.stdout
    assert "line break" in result.stdout
