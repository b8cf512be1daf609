# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pyops.fastapi.deploy_lock's controller side. wait_for_lock(), the loop the action plugin runs, with
the real module as its call, against holders that are real processes of this machine (a running `sleep`
holds, a reaped one is gone); then the action plugin itself in ansible-playbook runs racing for one lock."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from ansible_collections.pyops.fastapi.plugins.module_utils._deploy_lock import (
    controller_holder,
    create,
    utc,
    wait_for_lock,
)
from ansible_collections.pyops.fastapi.plugins.modules import deploy_lock
from ansible_collections.pyops.fastapi.tests.tools.stack import run_ansible_playbook
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.test_deploy_lock import record_of
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.utils import AnsibleFailJson, run_module


def module_call(path, holder, **args):
    """call(takeover) for wait_for_lock(): one run of the module, as the action plugin's _execute_module."""

    def call(takeover):
        try:
            return run_module(
                deploy_lock.main, {"path": str(path), "holder": holder, "takeover": takeover, "lease": 3600, **args}
            )
        except AnsibleFailJson as exc:
            return exc.result

    return call


def wait(path, holder, timeout, **args):
    return wait_for_lock(module_call(path, holder, **args), holder, str(path), timeout)


def test_a_free_lock_is_acquired_without_waiting(tmp_path, live):
    (ours,) = live()
    result = wait(tmp_path / "app.lock", ours, 5)
    assert result["acquired"] and result["changed"] and result["waited"] == 0
    assert result["holder"]["pid"] == ours["pid"]


def test_a_live_holder_is_waited_for_then_named(tmp_path, live):
    holder, ours = live(2)
    path = tmp_path / "app.lock"
    held = wait(path, holder, 0, label="deploy app 1.2")["holder"]
    started = time.monotonic()

    result = wait(path, ours, 1.5)

    elapsed = time.monotonic() - started
    assert result["failed"] and not result["acquired"]
    assert 1.5 <= elapsed < 4 and 1.4 <= result["waited"] <= elapsed
    assert result["holder"] == held == json.loads(path.read_text())
    msg = result["msg"]
    for part in (
        str(path),
        f"controller {socket.gethostname()}",
        f"user {holder['user']}",
        f"pid {holder['pid']}",
        "'deploy app 1.2'",
        f"since {utc(held['since'])}",
        f"lease until {utc(held['expires'])}",
        "still runs on this controller",
    ):
        assert part in msg, (part, msg)


def test_a_lock_released_while_waiting_is_acquired(tmp_path, live):
    holder, ours = live(2)
    path = tmp_path / "app.lock"
    wait(path, holder, 0)
    release = threading.Timer(1, lambda: module_call(path, holder, state="released")(None))
    release.start()

    result = wait(path, ours, 10)

    release.join()
    assert result["acquired"] and "taken_over" not in result
    assert 0.9 <= result["waited"] < 3
    assert json.loads(path.read_text())["pid"] == ours["pid"]


def test_a_gone_holder_of_this_controller_is_taken_over_at_once(tmp_path, live, dead):
    (ours,) = live()
    path = tmp_path / "app.lock"
    gone = wait(path, dead, 0)["holder"]

    result = wait(path, ours, 0)

    assert result["acquired"] and result["changed"] and result["waited"] == 0
    assert result["taken_over"] == gone
    assert json.loads(path.read_text())["pid"] == ours["pid"]


def test_a_reused_pid_does_not_keep_a_dead_runs_lock(tmp_path, live):
    """The PID of the dead run now names another, live process: the start time tells them apart."""
    reused, ours = live(2)
    path = tmp_path / "app.lock"
    earlier = {**reused, "pid_start": reused["pid_start"] - 1}
    gone = wait(path, earlier, 0)["holder"]

    result = wait(path, ours, 0)

    assert result["acquired"] and result["taken_over"] == gone


def test_a_holder_of_another_controller_is_waited_for_until_its_lease_expires(tmp_path, live, dead):
    """Its PID means nothing here (here it is a reaped process's): only the lease frees the lock."""
    (ours,) = live()
    path = tmp_path / "app.lock"
    elsewhere = {**dead, "controller": "other-controller"}
    held = record_of(elsewhere, int(time.time()))
    assert create(str(path), held)

    refused = wait(path, ours, 1)
    assert refused["failed"] and refused["holder"] == held
    assert "controller other-controller died, remove" in refused["msg"]
    assert f"wait until its lease expires at {utc(held['expires'])}" in refused["msg"]

    path.unlink()
    soon = record_of(elsewhere, int(time.time()), lease=2)  # expires in 1 to 2 s
    assert create(str(path), soon)
    result = wait(path, ours, 10)
    assert result["acquired"] and result["taken_over"] == soon
    assert 0.9 <= result["waited"] < 5


def test_check_mode_waits_and_takes_over_nothing(tmp_path, live, dead):
    (ours,) = live()
    path = tmp_path / "app.lock"
    gone = wait(path, dead, 0)["holder"]

    result = wait(path, ours, 0, _ansible_check_mode=True)

    assert result["acquired"] and result["changed"] and result["taken_over"] == gone
    assert json.loads(path.read_text()) == gone


# The action plugin in real runs: the holder is the ansible-playbook process, found by the plugin.
PLAYBOOK = """
- name: Deploy under the lock
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Take the lock
      pyops.fastapi.deploy_lock:
        path: "{{ lock_path }}"
        timeout: "{{ lock_timeout | default(0) }}"
        label: "{{ lock_label }}"

    - name: Hold it until told
      ansible.builtin.wait_for:
        path: "{{ go_path }}"
        timeout: 120
      when: go_path is defined

    - name: Take it again
      pyops.fastapi.deploy_lock:
        path: "{{ lock_path }}"

    - name: Give it back
      pyops.fastapi.deploy_lock:
        path: "{{ lock_path }}"
        state: released
"""


def playbook(tmp_path, *args, **extra_vars):
    play = tmp_path / "play.yml"
    if not play.exists():
        play.write_text(PLAYBOOK, encoding="utf-8")
    run = run_ansible_playbook(["-i", "localhost,", str(play), "-e", json.dumps(extra_vars), *args], timeout=300)
    return run, dict(run.results())


def test_runs_of_one_controller_wait_for_each_other(tmp_path):
    path = tmp_path / "app.lock"
    go = tmp_path / "go"
    runs = {}

    def start(name, **extra_vars):
        thread = threading.Thread(
            target=lambda: runs.update({name: playbook(tmp_path, lock_path=str(path), lock_label=name, **extra_vars)})
        )
        thread.start()
        return thread

    first = start("first", go_path=str(go))
    deadline = time.monotonic() + 120
    while not path.exists():
        assert first.is_alive() and time.monotonic() < deadline, runs.get("first", (None,))[0].tail()
        time.sleep(0.1)
    held = json.loads(path.read_text())
    # The holder is the ansible-playbook process of the first run.
    assert b"ansible-playbook" in open(f"/proc/{held['pid']}/cmdline", "rb").read()
    assert (held["label"], held["controller"]) == ("first", socket.gethostname())

    impatient = start("impatient", lock_timeout=1)
    patient = start("patient", lock_timeout=120)
    impatient.join(120)
    time.sleep(1)  # the patient run polls meanwhile
    go.write_text("")
    first.join(120)
    patient.join(120)

    run, results = runs["impatient"]
    assert run.returncode != 0
    name, msg = run.failure()
    assert name == "Take the lock"
    assert f"pid {held['pid']}" in msg and "'first'" in msg and "still runs on this controller" in msg, msg
    assert results["Take the lock"]["waited"] >= 1

    for name in ("first", "patient"):
        run, results = runs[name]
        assert run.returncode == 0, run.tail()
        assert results["Take the lock"]["changed"] and results["Take the lock"]["holder"]["label"] == name
        assert not results["Take it again"]["changed"] and results["Take it again"]["acquired"]
        assert results["Give it back"]["released"]
    assert runs["first"][1]["Take the lock"]["waited"] == 0
    assert runs["patient"][1]["Take the lock"]["waited"] > 0
    assert runs["patient"][1]["Take the lock"]["holder"]["pid"] != held["pid"]
    assert not path.exists()


def test_a_run_takes_over_the_lock_of_a_dead_run_of_this_controller(tmp_path, dead):
    path = tmp_path / "app.lock"
    gone = record_of(dead, int(time.time()), label="killed run")
    assert create(str(path), gone)

    run, results = playbook(tmp_path, "--check", lock_path=str(path), lock_label="checking")
    assert run.returncode == 0, run.tail()
    assert results["Take the lock"]["changed"] and results["Take the lock"]["taken_over"] == gone
    assert json.loads(path.read_text()) == gone

    run, results = playbook(tmp_path, lock_path=str(path), lock_label="next")
    assert run.returncode == 0, run.tail()
    taken = results["Take the lock"]
    assert taken["changed"] and taken["taken_over"] == gone and taken["holder"]["label"] == "next"
    assert any("gone from its controller" in warning for warning in taken.get("warnings", [])), taken
    assert results["Give it back"]["released"]
    assert not path.exists()


@pytest.mark.parametrize("state", ["acquired", "released"])
def test_the_action_plugin_refuses_a_holder_from_the_task(tmp_path, state):
    run, results = playbook_with_holder(tmp_path, state)
    assert run.returncode != 0
    assert "holder" in results["Pose as another run"]["msg"]


def playbook_with_holder(tmp_path, state):
    play = tmp_path / "pose.yml"
    holder = controller_holder()
    play.write_text(
        f"""
- name: Pose as another run
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Pose as another run
      pyops.fastapi.deploy_lock:
        path: {tmp_path / "app.lock"}
        state: {state}
        holder: {json.dumps(holder)}
""",
        encoding="utf-8",
    )
    run = run_ansible_playbook(["-i", "localhost,", str(play)], timeout=300)
    return run, dict(run.results())
