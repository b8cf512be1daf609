"""The module's and every role's documentation renders with ansible-doc, as users read it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if not p.name.startswith("_"))
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


def _module_docs(name):
    """DOCUMENTATION and RETURN of plugins/modules/<name>.py, read as ansible-doc reads them (without importing it)."""
    namespace = {}
    source = (REPO / "plugins" / "modules" / f"{name}.py").read_text()
    for variable in ("DOCUMENTATION", "RETURN"):
        start = source.index(f'{variable} = r"""')
        exec(source[start : source.index('"""', start + len(variable) + 6) + 3], namespace)  # noqa: S102
    return yaml.safe_load(namespace["DOCUMENTATION"]), yaml.safe_load(namespace["RETURN"])


@pytest.mark.parametrize("module", MODULES)
def test_every_module_doc_renders_its_options_and_return(module):
    documentation, returned = _module_docs(module)
    result = _doc(f"pyops.fastapi.{module}")
    assert result.returncode == 0, result.stderr
    assert f"pyops.fastapi.{module}" in result.stdout
    assert "check_mode" in result.stdout
    for option in documentation["options"]:
        assert option in result.stdout, option
    assert "RETURN VALUES" in result.stdout
    for value in returned:
        assert value in result.stdout, value


def test_audit_module_doc_renders_its_return():
    result = _doc("pyops.fastapi.audit")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # ansible-doc wraps lines at the terminal width
    for field in ("id", "title", "passed", "observed"):
        assert f" {field} " in text.split("RETURN VALUES:", 1)[1], field
    assert "not applicable:" in text.split("RETURN VALUES:", 1)[1]


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
