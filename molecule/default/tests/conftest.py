"""Fixtures for the full-stack verify; the helpers live in tests/tools/stack.py (shared with
the other scenarios)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))

import stack  # noqa: E402

WORKERS = 3  # gunicorn_workers in group_vars/fastapi.yml


# Tests of what does not depend on the distribution's packages (the collection's own checks, nginx's
# request limits and timeouts, the load the stack takes): `make molecule-all` runs them on the Debian 12
# pass only; the Debian 13 pass sets PYOPS_SKIP_DISTRO_INDEPENDENT=1 to keep the suite within its budget.
def pytest_configure(config):
    config.addinivalue_line("markers", "same_on_every_distro: skipped when PYOPS_SKIP_DISTRO_INDEPENDENT=1")


def pytest_collection_modifyitems(config, items):  # noqa: ARG001  # pytest's hook signature
    if os.environ.get("PYOPS_SKIP_DISTRO_INDEPENDENT") != "1":
        return
    skip = pytest.mark.skip(reason="distribution-independent: runs on the Debian 12 pass")
    for item in items:
        if item.get_closest_marker("same_on_every_distro"):
            item.add_marker(skip)


@pytest.fixture
def fetch(host):
    """fetch(path, scheme='https', port=None, name=stack.NAME, source='127.0.0.1') -> Response."""

    def _fetch(path, **kwargs):
        return stack.fetch(host, path, **kwargs)

    return _fetch


@pytest.fixture
def run_site():
    """Run pyops.fastapi.site with extra vars; returns a stack.PlaybookRun."""

    def _run(extra_vars, *args):
        return stack.run_playbook("pyops.fastapi.site", extra_vars, *args)

    return _run


@pytest.fixture
def host_state(host):
    return lambda: stack.host_fingerprint(host)
