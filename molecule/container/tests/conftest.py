"""The container scenario's host, and podman on it."""

import os
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host(
        "ansible://pyops-container-debian13", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )
