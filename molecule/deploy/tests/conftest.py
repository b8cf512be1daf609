"""Helpers for the deploy-safety verify: deploys under load through nginx, read back from the
host (slots, units, nginx's access log). The shared helpers live in tests/tools/stack.py."""

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))

import stack  # noqa: E402
from stack import APP, NAME, ORDERS, ORDERS_NAME  # noqa: E402


class Stack:
    """One app on the host, seen from outside: its slots, units and nginx log."""

    def __init__(self, host, app=APP, name=NAME):
        self.host = host
        self.app = app
        self.name = name

    def live_slot(self):
        return stack.live_slot(self.host, self.app)

    def idle_slot(self):
        return stack.idle_slot(self.host, self.app)

    def unit(self, slot):
        return stack.slot_unit(slot, self.app)

    def live_release(self):
        return stack.live_release(self.host, self.app)

    def releases(self):
        return self.host.check_output("ls /opt/%s/releases", self.app).split()

    def venvs(self):
        return self.host.check_output("ls /opt/%s/venvs", self.app).split()

    def live_venv(self):
        return self.host.check_output("readlink -f /opt/%s/current/.venv", self.app)

    def master_pid(self, slot=None):
        return stack.master_pid(self.host, self.app, slot)

    def is_active(self, slot):
        return self.host.run("systemctl is-active %s", self.unit(slot)).stdout.strip() == "active"

    @property
    def live_socket(self):
        """nginx's upstream address: the link to the live slot's socket (nginx logs this path for every slot)."""
        return f"unix:/opt/{self.app}/live.sock"

    def fetch(self, path, **kwargs):
        return stack.fetch(self.host, path, name=self.name, **kwargs)

    def deploy_under_load(self, extra_vars, playbook="pyops.fastapi.site", path="/", header="X-App-Release", **kwargs):
        """Run a playbook while load runs through nginx; returns (run, load summary, how often nginx
        tried each upstream address). kwargs: stack.deploy_under_load's `during` and `retry_stale`."""
        return stack.deploy_under_load(
            self.host,
            extra_vars,
            playbook,
            app=self.app,
            name=self.name,
            path=path,
            header=header,
            each_attempt=True,
            **kwargs,
        )


@pytest.fixture
def bundled(host):
    return Stack(host)


@pytest.fixture
def orders(host):
    """The second app (tests/tools/stack.py, ORDERS_*)."""
    return Stack(host, app=ORDERS, name=ORDERS_NAME)


@pytest.fixture
def example_copy(tmp_path):
    """A copy of the bundled example app to change, deployed with app_source=local."""
    src = tmp_path / "app"
    shutil.copytree(stack.EXAMPLE_APP, src)
    return src
