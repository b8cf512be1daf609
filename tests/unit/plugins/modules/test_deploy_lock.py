# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pyops.fastapi.deploy_lock's module on real lock files: holders are real processes of this machine (a
running `sleep` holds, a reaped one is gone), racing runs are real processes. The action plugin's side
(waiting, proving a holder gone) is tested in tests/unit/plugins/action/test_deploy_lock_action.py."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import socket
import stat
import subprocess
import threading
import time

import pytest
from ansible_collections.pyops.fastapi.plugins.module_utils._deploy_lock import (
    acquire,
    controller_holder,
    create,
    holder_gone,
    process_start,
    read,
    release,
    replace,
)
from ansible_collections.pyops.fastapi.plugins.modules import deploy_lock
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.utils import AnsibleFailJson, run_module

RACERS = 8


@pytest.fixture
def processes():
    """processes(n) -> n running `sleep` processes; killed afterwards."""
    started = []

    def start(count=1):
        procs = [subprocess.Popen(["sleep", "60"]) for _index in range(count)]
        started.extend(procs)
        return procs

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.fixture
def live(processes):
    """holders(n) -> the identities of n runs of this controller whose process runs."""

    def holders(count=1):
        return [controller_holder(pid=proc.pid) for proc in processes(count)]

    return holders


@pytest.fixture
def dead():
    """The identity of a run of this controller whose process has exited and been reaped."""
    proc = subprocess.Popen(["sleep", "60"])
    holder = controller_holder(pid=proc.pid)
    proc.kill()
    proc.wait()
    return holder


def lock(path, holder, **args):
    return run_module(deploy_lock.main, {"path": str(path), "holder": holder, **args})


def record_of(holder, since, lease=3600, label=None):
    return {**holder, "label": label, "since": since, "expires": since + lease}


def test_a_free_lock_is_acquired(tmp_path, live):
    (ours,) = live()
    path = tmp_path / "app.lock"

    before = int(time.time())
    result = lock(path, ours, label="deploy app 1.2", lease=600)

    assert result["changed"] and result["acquired"]
    on_disk = json.loads(path.read_text())
    assert result["holder"] == on_disk
    assert {key: on_disk[key] for key in ours} == ours
    assert on_disk["controller"] == socket.gethostname() and isinstance(on_disk["pid_start"], int)
    assert on_disk["label"] == "deploy app 1.2"
    assert before <= on_disk["since"] <= time.time() and on_disk["expires"] == on_disk["since"] + 600
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["app.lock"]  # no temporary file left


def test_a_lock_held_by_another_live_run_is_refused(tmp_path, live):
    first, second = live(2)
    path = tmp_path / "app.lock"
    held = lock(path, first)["holder"]

    result = lock(path, second)

    assert (result["changed"], result["acquired"]) == (False, False)
    assert result["holder"] == held == json.loads(path.read_text())
    assert f"pid {first['pid']}" in result["msg"] and "held by another run" in result["msg"]
    assert "taken_over" not in result


def test_the_holder_acquires_again_without_a_change(tmp_path, live):
    (ours,) = live()
    path = tmp_path / "app.lock"
    held = lock(path, ours, lease=60)["holder"]
    inode = path.stat().st_ino

    result = lock(path, ours, lease=7200, label="another label")

    assert (result["changed"], result["acquired"]) == (False, True)
    assert result["holder"] == held  # the lease is not extended
    assert path.stat().st_ino == inode


def test_an_expired_lease_is_taken_over_by_anyone(tmp_path, live):
    holder, ours = live(2)  # the holder still runs: its lease decides
    path = tmp_path / "app.lock"
    expired = record_of(holder, int(time.time()) - 120, lease=60)
    assert create(path, expired)

    result = lock(path, ours)

    assert result["changed"] and result["acquired"]
    assert result["taken_over"] == expired
    assert json.loads(path.read_text()) == result["holder"]
    assert result["holder"]["pid"] == ours["pid"]
    assert "whose lease expired" in result["msg"]
    assert os.listdir(tmp_path) == ["app.lock"]


def test_a_takeover_replaces_exactly_the_record_it_names(tmp_path, live, dead):
    (ours,) = live()
    path = tmp_path / "app.lock"
    gone = lock(path, dead)["holder"]

    result = lock(path, ours, takeover=gone)

    assert result["changed"] and result["acquired"] and result["taken_over"] == gone
    assert json.loads(path.read_text())["pid"] == ours["pid"]
    assert "gone from its controller" in result["msg"]


def test_a_takeover_is_refused_when_the_lock_changed_meanwhile(tmp_path, live, dead):
    """The caller proved `gone` dead, but by the time the module runs another run holds the lock."""
    ours, other = live(2)
    path = tmp_path / "app.lock"
    gone = lock(path, dead)["holder"]
    taken = lock(path, other, takeover=gone)["holder"]

    result = lock(path, ours, takeover=gone)

    assert (result["changed"], result["acquired"]) == (False, False)
    assert result["holder"] == taken == json.loads(path.read_text())


def test_a_takeover_waiting_for_the_file_sees_that_it_was_replaced(tmp_path, live, dead):
    """The race inside replace(): it has opened the file, another takeover replaces it before replace()
    gets the flock. The file replace() opened is no longer the lock, so it must not rename over the new one."""
    ours, other = live(2)
    path = tmp_path / "app.lock"
    gone = record_of(dead, int(time.time()))
    assert create(path, gone)
    outcome = {}

    with open(path, "rb") as held:  # the other takeover, holding the flock of the file
        fcntl.flock(held, fcntl.LOCK_EX)
        racer = threading.Thread(target=lambda: outcome.update(done=replace(str(path), gone, record_of(ours, 1))))
        racer.start()
        time.sleep(0.3)
        assert racer.is_alive()  # waiting for the flock, after opening the file
        winner = record_of(other, int(time.time()))
        (tmp_path / "winner").write_text(json.dumps(winner))
        os.rename(tmp_path / "winner", path)
    racer.join(5)

    assert outcome == {"done": False}
    assert read(str(path)) == winner


def test_a_release_waiting_for_the_file_leaves_the_lock_that_replaced_it(tmp_path, live):
    """Our lease expired and another run took the lock over while our release waited for the flock of
    the file it had opened (ours): it must not remove the new holder's lock."""
    ours, other = live(2)
    path = tmp_path / "app.lock"
    assert create(str(path), record_of(ours, int(time.time()) - 120, lease=60))
    outcome = {}

    with open(path, "rb") as held:  # the takeover, holding the flock of the file
        fcntl.flock(held, fcntl.LOCK_EX)
        racer = threading.Thread(target=lambda: outcome.update(release(str(path), ours)))
        racer.start()
        time.sleep(0.3)
        assert racer.is_alive()  # waiting for the flock, after opening the file
        winner = record_of(other, int(time.time()))
        (tmp_path / "winner").write_text(json.dumps(winner))
        os.rename(tmp_path / "winner", path)
    racer.join(5)

    assert (outcome["changed"], outcome["released"]) == (False, False)
    assert outcome["holder"] == winner == read(str(path))


def test_release_removes_only_this_runs_lock(tmp_path, live):
    ours, other = live(2)
    path = tmp_path / "app.lock"
    held = lock(path, ours)["holder"]

    refused = lock(path, other, state="released")
    assert (refused["changed"], refused["released"]) == (False, False)
    assert refused["holder"] == held and "left in place" in refused["msg"]
    assert json.loads(path.read_text()) == held

    released = lock(path, ours, state="released")
    assert (released["changed"], released["released"]) == (True, True)
    assert not path.exists()

    again = lock(path, ours, state="released")
    assert (again["changed"], again["released"]) == (False, False)
    assert "holder" not in again


def test_check_mode_writes_nothing(tmp_path, live, dead):
    ours, other = live(2)
    path = tmp_path / "app.lock"

    would = lock(path, ours, _ansible_check_mode=True)
    assert would["changed"] and would["acquired"]
    assert not path.exists()

    gone = lock(path, dead)["holder"]
    would = lock(path, ours, takeover=gone, _ansible_check_mode=True)
    assert would["changed"] and would["acquired"] and would["taken_over"] == gone
    assert json.loads(path.read_text()) == gone

    held = lock(path, other, takeover=gone)["holder"]
    would = lock(path, other, state="released", _ansible_check_mode=True)
    assert would["changed"] and would["released"]
    assert json.loads(path.read_text()) == held


def _race(path, holder, takeover, barrier, won):
    barrier.wait()
    won.put((holder["pid"], acquire(path, holder, 3600, takeover=takeover)["acquired"]))


def _run_racers(path, holders, takeover=None):
    """Every holder acquires `path` in its own process, all released at once by a barrier."""
    context = multiprocessing.get_context("fork")
    barrier, won = context.Barrier(len(holders)), context.Queue()
    racers = [context.Process(target=_race, args=(str(path), holder, takeover, barrier, won)) for holder in holders]
    for racer in racers:
        racer.start()
    results = dict(won.get(timeout=30) for _racer in racers)
    for racer in racers:
        racer.join(10)
        assert racer.exitcode == 0
    return [pid for pid, acquired in results.items() if acquired]


def test_of_runs_racing_for_a_free_lock_exactly_one_wins(tmp_path, live):
    path = tmp_path / "app.lock"
    holders = live(RACERS)

    winners = _run_racers(path, holders)

    assert len(winners) == 1
    assert read(str(path))["pid"] == winners[0]
    assert os.listdir(tmp_path) == ["app.lock"]


def test_of_runs_racing_to_take_over_a_dead_holder_exactly_one_wins(tmp_path, live, dead):
    path = tmp_path / "app.lock"
    gone = record_of(dead, int(time.time()))
    assert create(str(path), gone)

    winners = _run_racers(path, live(RACERS), takeover=gone)

    assert len(winners) == 1
    assert read(str(path))["pid"] == winners[0]
    assert os.listdir(tmp_path) == ["app.lock"]


def test_a_file_that_is_not_a_lock_fails_the_module(tmp_path, live):
    (ours,) = live()
    path = tmp_path / "app.lock"
    path.write_text("not json\n")

    with pytest.raises(AnsibleFailJson) as excinfo:
        lock(path, ours)
    assert "does not hold a deploy lock record: remove it" in excinfo.value.result["msg"]

    path.unlink()
    (tmp_path / "elsewhere").write_text(json.dumps(record_of(ours, int(time.time()))))
    path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(AnsibleFailJson) as excinfo:
        lock(path, ours, state="released")
    assert "is a symbolic link" in excinfo.value.result["msg"]
    assert (tmp_path / "elsewhere").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the file to another user needs root")
def test_a_lock_file_of_another_user_is_not_trusted(tmp_path, live):
    (ours,) = live()
    path = tmp_path / "app.lock"
    lock(path, ours)
    os.chown(path, 65534, 65534)

    with pytest.raises(AnsibleFailJson) as excinfo:
        lock(path, ours)  # its record says ours: whoever owns the file could have written that
    assert "belongs to uid 65534" in excinfo.value.result["msg"]


def test_a_lock_in_a_missing_directory_fails_naming_it(tmp_path, live):
    (ours,) = live()
    with pytest.raises(AnsibleFailJson) as excinfo:
        lock(tmp_path / "missing" / "app.lock", ours)
    assert excinfo.value.result["msg"].endswith(f"its directory {tmp_path / 'missing'} does not exist")
    assert lock(tmp_path / "missing" / "app.lock", ours, state="released")["released"] is False


def test_the_module_needs_the_action_plugins_holder(tmp_path):
    with pytest.raises(AnsibleFailJson) as excinfo:
        run_module(deploy_lock.main, {"path": str(tmp_path / "app.lock")})
    assert "action plugin" in excinfo.value.result["msg"]
    assert not (tmp_path / "app.lock").exists()


def test_a_process_is_named_by_its_pid_and_start_time(live, dead):
    (running,) = live()
    assert running["pid_start"] is not None
    assert process_start(running["pid"]) == running["pid_start"]
    assert not holder_gone(running)
    assert holder_gone({**running, "pid_start": running["pid_start"] + 1})  # the PID reused
    assert holder_gone(dead)
    assert process_start(dead["pid"]) is None
