"""The scenario runs the copy of the collection it claims to run."""

import os
import subprocess

import pytest


@pytest.mark.skipif(not os.environ.get("PYOPS_INSTALLED_COLLECTIONS"), reason="runs from the checkout")
def test_runs_the_collection_installed_from_the_tarball():
    installed = os.environ["PYOPS_INSTALLED_COLLECTIONS"]
    out = subprocess.run(
        ["ansible-galaxy", "collection", "list", "pyops.fastapi", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The first path listed wins when ansible resolves pyops.fastapi.
    first = out.split('"', 2)[1]
    assert first.startswith(installed), out
    # A built tarball holds no checkout symlink, venv or caches.
    tree = os.path.join(installed, "ansible_collections", "pyops", "fastapi")
    for unwanted in ("collections", ".venv", ".cache", ".git", "tests/output"):
        assert not os.path.lexists(os.path.join(tree, unwanted)), unwanted
    assert os.path.exists(os.path.join(tree, "playbooks", "site.yml"))
