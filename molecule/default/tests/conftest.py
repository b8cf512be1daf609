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
# Tests of the collection as users install it (an upgrade from the previous release's tarball): only in
# the pass that deploys from the installed tarball (PYOPS_INSTALLED_COLLECTIONS, the Debian 13 pass of
# `make molecule-all`), so the suite runs them once.
def pytest_configure(config):
    config.addinivalue_line("markers", "same_on_every_distro: skipped when PYOPS_SKIP_DISTRO_INDEPENDENT=1")
    config.addinivalue_line("markers", "installed_collection_only: skipped unless PYOPS_INSTALLED_COLLECTIONS is set")


def pytest_collection_modifyitems(config, items):  # noqa: ARG001  # pytest's hook signature
    skips = {}
    if os.environ.get("PYOPS_SKIP_DISTRO_INDEPENDENT") == "1":
        skips["same_on_every_distro"] = pytest.mark.skip(reason="distribution-independent: runs on the Debian 12 pass")
    if not os.environ.get("PYOPS_INSTALLED_COLLECTIONS"):
        skips["installed_collection_only"] = pytest.mark.skip(
            reason="runs in the pass that deploys the installed collection (PYOPS_INSTALLED_COLLECTIONS)"
        )
    for item in items:
        for marker, skip in skips.items():
            if item.get_closest_marker(marker):
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
