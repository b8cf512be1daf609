"""Helpers for the deploy-safety verify: deploys under load through nginx, read back from the
host (slots, units, nginx's access log). The shared probes live in tests/tools/stack.py."""

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "tools"))

import stack  # noqa: E402

APP = "fastapi-app"
NAME = "api.example.test"


class Stack:
    """One app on the host, seen from outside: its slots, units and nginx log."""

    def __init__(self, host, app=APP, name=NAME):
        self.host = host
        self.app = app
        self.name = name

    def live_slot(self):
        return self.host.check_output("readlink /opt/%s/slots/live", self.app)

    def idle_slot(self):
        return "green" if self.live_slot() == "blue" else "blue"

    def unit(self, slot):
        return f"{self.app}@{slot}.service"

    def live_release(self):
        return self.host.check_output("readlink -f /opt/%s/current", self.app).rsplit("/", 1)[-1]

    def releases(self):
        return self.host.check_output("ls /opt/%s/releases", self.app).split()

    def venvs(self):
        return self.host.check_output("ls /opt/%s/venvs", self.app).split()

    def live_venv(self):
        return self.host.check_output("readlink -f /opt/%s/current/.venv", self.app)

    def master_pid(self, slot=None):
        unit = self.unit(slot or self.live_slot())
        return int(self.host.check_output("systemctl show -p MainPID --value %s", unit))

    def is_active(self, slot):
        return self.host.run("systemctl is-active %s", self.unit(slot)).stdout.strip() == "active"

    def socket(self, slot):
        return f"unix:/run/{self.app}/{slot}/gunicorn.sock"

    def fetch(self, path, **kwargs):
        return stack.fetch(self.host, path, name=self.name, **kwargs)

    def access_log_size(self):
        return int(self.host.check_output("stat -c %%s /var/log/nginx/%s.access.log", self.app))

    def upstreams_since(self, offset):
        """Which upstreams nginx tried for the requests it logged after byte `offset` (a request that
        nginx retried on a new connection lists the address twice: "a, a")."""
        out = self.host.check_output("tail -c +%s /var/log/nginx/%s.access.log", str(offset + 1), self.app)
        tried = Counter()
        for addresses in re.findall(r" upstream=(.+?) rt=", out):
            tried.update(address.strip() for address in addresses.split(","))
        return tried

    def deploy_under_load(self, extra_vars, playbook="pyops.fastapi.site", path="/", header="X-App-Release"):
        """Run a playbook while load runs through nginx; returns (run, load summary, upstreams)."""
        offset = self.access_log_size()
        with stack.load(self.host, name=self.name, path=path, release_header=header) as summary:
            run = stack.run_playbook(playbook, extra_vars)
        return run, summary, self.upstreams_since(offset)


def assert_no_request_failed(summary):
    assert summary["requests"] >= 200, summary
    assert summary["failed"] == 0, summary
    assert summary["errors"] == {}, summary


@pytest.fixture
def bundled(host):
    return Stack(host)


@pytest.fixture
def example_copy(tmp_path):
    """A copy of the bundled example app to change, deployed with app_source=local."""
    src = tmp_path / "app"
    shutil.copytree(REPO / "roles" / "app" / "files" / "example_app", src)
    return src
