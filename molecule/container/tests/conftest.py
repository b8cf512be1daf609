"""The container scenario's host, and the report of its figures."""

import json
import os
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))

import stack  # noqa: E402

# podman as root on the host (its cgroup v1 notice silenced), and the scenario's app_secret_key
# (molecule.yml), which the tests look for where it must not be.
PODMAN = "env PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman"
SECRET = "img-secret-5b8e2f7a9c1d4e6b0a3f8c2d7e9b1a4f6c0d"
# prepare.yml's registry on the container's loopback, and its login (molecule.yml).
REGISTRY = "127.0.0.1:5000"
REGISTRY_USER = "pusher"
REGISTRY_PASSWORD = "reg-9d3f1a7c5e2b8d4f6a0c3e9b1d7f5a2c"


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host(
        "ansible://pyops-container-debian13", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )


def podman(host, *args):
    cmd = host.run(PODMAN + " " + " ".join(["%s"] * len(args)), *args)
    assert cmd.rc == 0, (args, cmd.stderr[-2000:])
    return cmd.stdout


def inspect(host, image):
    return json.loads(podman(host, "image", "inspect", image))[0]


def report(**figures):
    """One line of figures for the notes and the README (.cache/ is not committed)."""
    path = Path(os.environ.get("PYOPS_IMAGE_REPORT", stack.REPO / ".cache" / "image-report.jsonl"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(figures) + "\n")
