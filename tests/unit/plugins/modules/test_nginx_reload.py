# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pyops.fastapi.nginx_reload against real processes: a stand-in master that, like nginx, starts a new
generation of workers on SIGHUP and lets the old one finish before it exits. systemctl and nginx are
small scripts on PATH (this machine's PID 1 is not systemd); the module's own code runs unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from ansible_collections.pyops.fastapi.plugins.module_utils._nginx_reload import (
    children,
    wait_for_exit,
    wait_for_new_workers,
)
from ansible_collections.pyops.fastapi.plugins.modules import nginx_reload
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.utils import AnsibleFailJson, run_module

# Two workers per generation; on SIGHUP two new ones start and the old ones exit `drain` seconds later.
MASTER = r"""
import signal, subprocess, sys, time
drain = float(sys.argv[1])
workers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(2)]
def reload(*_):
    global workers
    old, workers = workers, [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(2)]
    time.sleep(drain)
    for worker in old:
        worker.terminate()
        worker.wait()
signal.signal(signal.SIGHUP, reload)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""

# systemctl: is-active / show MainPID / reload / start, from files in $PYOPS_TEST_NGINX; records each call.
SYSTEMCTL = """#!/bin/sh
dir=$PYOPS_TEST_NGINX
echo "$*" >> "$dir/calls"
case "$1" in
  is-active) [ -s "$dir/master" ] ;;
  show) cat "$dir/master" 2>/dev/null || echo 0 ;;
  reload) kill -HUP "$(cat "$dir/master")" ;;
  start) echo started > "$dir/started" ;;
  *) exit 2 ;;
esac
"""
# nginx -t: fails when $PYOPS_TEST_NGINX/bad exists.
NGINX = """#!/bin/sh
echo "nginx $*" >> "$PYOPS_TEST_NGINX/calls"
if [ -e "$PYOPS_TEST_NGINX/bad" ]; then echo 'nginx: [emerg] unknown directive "bogus"' >&2; exit 1; fi
"""


@pytest.fixture
def host(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("systemctl", SYSTEMCTL), ("nginx", NGINX)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("PYOPS_TEST_NGINX", str(tmp_path))
    masters = []

    class Host:
        nginx = str(bin_dir / "nginx")

        @staticmethod
        def start_master(drain=0.0):
            proc = subprocess.Popen([sys.executable, "-c", MASTER, str(drain)], stdout=subprocess.PIPE, text=True)
            masters.append(proc)
            assert proc.stdout.readline().strip() == "ready"
            (tmp_path / "master").write_text(f"{proc.pid}\n")
            return proc

        @staticmethod
        def calls():
            path = tmp_path / "calls"
            return path.read_text().splitlines() if path.exists() else []

        @staticmethod
        def touch(name):
            (tmp_path / name).write_text("x")

    yield Host
    for proc in masters:
        for pid in children(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


def test_a_reload_returns_once_the_new_workers_run(host):
    master = host.start_master()
    before = children(master.pid)
    assert len(before) == 2

    result = run_module(nginx_reload.main, {"nginx": host.nginx})

    assert result["changed"] and result["reloaded"] and not result["started"]
    assert result["master_pid"] == master.pid
    assert set(result["old_workers"]) == before
    assert result["new_workers"] and not set(result["new_workers"]) & before
    # The configuration was tested before the reload.
    calls = host.calls()
    assert calls.index("nginx -t -q") < calls.index("reload nginx.service"), calls


def test_a_configuration_that_fails_the_test_is_not_reloaded(host):
    master = host.start_master()
    before = children(master.pid)
    host.touch("bad")

    with pytest.raises(AnsibleFailJson) as excinfo:
        run_module(nginx_reload.main, {"nginx": host.nginx})

    result = excinfo.value.result
    assert result["msg"] == 'nginx -t failed, nginx was not reloaded: nginx: [emerg] unknown directive "bogus"'
    assert "reload nginx.service" not in host.calls()
    assert children(master.pid) == before


def test_a_stopped_nginx_is_started_or_left_alone(host):
    result = run_module(nginx_reload.main, {"nginx": host.nginx, "only_if_running": True})
    assert (result["changed"], result["reloaded"], result["started"]) == (False, False, False)
    assert host.calls() == ["is-active --quiet nginx.service"]

    result = run_module(nginx_reload.main, {"nginx": host.nginx})
    assert (result["changed"], result["reloaded"], result["started"]) == (True, False, True)
    assert host.calls()[-1] == "start nginx.service"


def test_check_mode_reloads_nothing(host):
    master = host.start_master()
    before = children(master.pid)

    result = run_module(nginx_reload.main, {"nginx": host.nginx, "_ansible_check_mode": True})

    assert result["changed"] and not result["reloaded"]
    assert "reload nginx.service" not in host.calls() and "nginx -t -q" not in host.calls()
    assert children(master.pid) == before


def test_the_old_workers_are_waited_for_until_they_exit(host):
    master = host.start_master(drain=0.6)
    reload = run_module(nginx_reload.main, {"nginx": host.nginx})
    started = time.monotonic()

    gone = run_module(nginx_reload.main, {"state": "old_workers_gone", "old_workers": reload["old_workers"]})

    assert gone == {"changed": False, "still_running": [], **{k: v for k, v in gone.items() if k == "invocation"}}
    assert 0.2 < time.monotonic() - started < 5
    # Only the new generation is left (the reload returned as soon as the first of it ran).
    now = children(master.pid)
    assert len(now) == 2 and set(reload["new_workers"]) <= now and not now & set(reload["old_workers"])


def test_old_workers_still_running_after_the_timeout_are_named():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = time.monotonic()
        result = run_module(nginx_reload.main, {"state": "old_workers_gone", "old_workers": [proc.pid], "timeout": 0.3})
        assert result["still_running"] == [proc.pid]
        assert time.monotonic() - started < 3
    finally:
        proc.kill()
        proc.wait()


def test_children_are_read_from_proc():
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _index in range(2)]
    try:
        assert {proc.pid for proc in procs} <= children(os.getpid())
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert not {proc.pid for proc in procs} & children(os.getpid())


def test_no_new_workers_within_the_timeout():
    clock = iter(range(100)).__next__
    assert wait_for_new_workers(1, {10, 11}, 3, list_children=lambda _pid: {10, 11}, clock=clock, sleep=id) is None
    assert wait_for_exit([10], 3, is_alive=lambda _pid: True, clock=clock, sleep=id) == [10]
