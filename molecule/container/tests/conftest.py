"""The container scenario's host, and the report of its figures."""

import json
import os
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))

import stack  # noqa: E402


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host(
        "ansible://pyops-container-debian13", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )


def report(**figures):
    """One line of figures for the notes and the README (.cache/ is not committed)."""
    path = Path(os.environ.get("PYOPS_IMAGE_REPORT", stack.REPO / ".cache" / "image-report.jsonl"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(figures) + "\n")
