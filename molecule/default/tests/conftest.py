"""Fixtures for the full-stack verify; the helpers live in tests/tools/stack.py (shared with
the other scenarios)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))

import stack  # noqa: E402

WORKERS = 3  # gunicorn_workers in group_vars/fastapi.yml


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
