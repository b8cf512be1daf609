# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The deploy lock of pyops.fastapi.deploy_lock: one JSON file on the host naming the run that holds it.

The module (plugins/modules/deploy_lock.py) acquires, takes over and releases the file on the host with
acquire() and release(), which never wait. The action plugin (plugins/action/deploy_lock.py) runs
wait_for_lock() on the controller, where the holding runs' processes are, so that only there can a
holder be proven gone (holder_gone()).

Every change of the file is atomic. A lock is created by link() of a complete temporary file, which
fails when a lock exists; it is replaced by rename() of another and removed by unlink(), both under
flock() of the file they replace, once it is known to be still the one at the path and to hold exactly
what the caller read. A file is never written in place, so a reader never sees half a record.

Private to the collection (leading underscore): no compatibility promise outside it. Standard library
only, so it runs on any managed host's Python 3.9+.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import json
import os
import random
import socket
import stat
import tempfile
import time

from ansible_collections.pyops.fastapi.plugins.module_utils._procfs import alive, stat_fields

# A record is a few hundred bytes; anything larger is not one of ours.
READ_LIMIT = 64 * 1024
# Times the file may change under acquire() or release() before they give up (each change is another
# run's successful step, so more than a couple mean something rewrites the file in a loop).
ATTEMPTS = 5
# The controller polls a held lock every 0.5-1 s (spread, so waiting runs do not poll in step).
PAUSE = (0.5, 1.0)
# The identity of a run: the ansible-playbook process on its controller. PID and start time together
# name one process, since the PID alone is reused once the process has exited.
IDENTITY = ("controller", "pid", "pid_start")


class LockError(Exception):
    """The file at the lock's path cannot be trusted as a lock; the message says what to do."""


def utc(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def describe(record):
    """The run a record names, for messages."""
    label = f", {record['label']!r}" if record.get("label") else ""
    return (
        f"controller {record['controller']}, user {record.get('user')}, pid {record['pid']}{label}, "
        f"since {utc(record['since'])}, lease until {utc(record['expires'])}"
    )


def same_holder(record, holder):
    return all(record.get(key) == holder.get(key) for key in IDENTITY)


def _open(path):
    """A descriptor of the lock file, or None when there is none."""
    try:
        # Never through a symbolic link: /run/lock is writable by every user.
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockError(f"{path} is a symbolic link, not a deploy lock: remove it") from exc
        raise


def _load(fd, path):
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise LockError(f"{path} is not a regular file, not a deploy lock: remove it")
    # Whoever can write the file can pose as any run, this one included.
    if info.st_uid != os.geteuid():
        raise LockError(
            f"{path} belongs to uid {info.st_uid}, not to the user the lock is taken as (uid {os.geteuid()}): "
            "another user may have written it; remove it if no deploy runs"
        )
    data = os.pread(fd, READ_LIMIT + 1, 0)
    try:
        record = json.loads(data.decode("utf-8")) if len(data) <= READ_LIMIT else None
    except ValueError:
        record = None
    valid = (
        isinstance(record, dict)
        and isinstance(record.get("controller"), str)
        and isinstance(record.get("pid"), int)
        and record["pid"] > 0
        and all(isinstance(record.get(key), (int, float)) for key in ("since", "expires"))
    )
    if not valid:
        raise LockError(f"{path} does not hold a deploy lock record: remove it if no deploy runs")
    return record


def read(path):
    """The record of the lock at `path`, or None when it is free."""
    fd = _open(path)
    if fd is None:
        return None
    try:
        return _load(fd, path)
    finally:
        os.close(fd)


def _write_temp(path, record):
    """A complete copy of `record` in a new file beside `path` (same file system, so it can be linked or
    renamed there), mode 0644."""
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(json.dumps(record, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(temp)
        raise
    return temp


def create(path, record):
    """Make `record` the lock at `path` unless a lock exists. Returns whether it did."""
    try:
        temp = _write_temp(path, record)
    except FileNotFoundError as exc:
        raise LockError(f"its directory {os.path.dirname(path)} does not exist") from exc
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temp)
    return True


def _still_at(fd, path):
    """Whether the file open as `fd` is still the one at `path` (not replaced nor removed since)."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (here.st_dev, here.st_ino)


def replace(path, expected, record):
    """Put `record` in place of the lock at `path` if it still holds exactly `expected`. Returns whether it did."""
    fd = _open(path)
    if fd is None:
        return False
    try:
        # Another replace() or release() of this file waits here. One that went first has put another file
        # at the path, or none, which _still_at() sees: the file we opened is then no longer the lock.
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not _still_at(fd, path) or _load(fd, path) != expected:
            return False
        temp = _write_temp(path, record)
        try:
            os.rename(temp, path)
        except OSError:
            os.unlink(temp)
            raise
        return True
    finally:
        os.close(fd)  # releases the flock


def acquire(path, holder, lease, *, label=None, takeover=None, check_mode=False, now=time.time):
    """Take the lock at `path` for `holder` (its IDENTITY and user) for `lease` seconds, without waiting.

    A lock held by `holder` already is left as it is. A lock whose lease has expired is taken over, and so
    is one holding exactly the record `takeover` (a run the caller has proven gone). Returns the module's
    result: acquired, holder (the record at the path afterwards, ours or the other run's), taken_over (the
    record replaced), msg, and warning when a lock was taken over.
    """
    for _attempt in range(ATTEMPTS):
        current = read(path)
        since = int(now())
        record = {key: holder.get(key) for key in (*IDENTITY, "user")}
        record.update(label=label, since=since, expires=since + lease)
        if current is None:
            if check_mode or create(path, record):
                return {"changed": True, "acquired": True, "holder": record, "msg": f"acquired {path}"}
            continue  # another run created it since we looked
        if same_holder(current, holder):
            return {"changed": False, "acquired": True, "holder": current, "msg": f"{path} is held by this run already"}
        if now() > current["expires"]:
            why = f"whose lease expired at {utc(current['expires'])}"
        elif takeover is not None and current == takeover:
            why = "that is gone from its controller"
        else:
            return {
                "changed": False,
                "acquired": False,
                "holder": current,
                "msg": f"{path} is held by another run: {describe(current)}",
            }
        if check_mode or replace(path, current, record):
            msg = f"took over {path} from a run {why}: {describe(current)}"
            return {
                "changed": True,
                "acquired": True,
                "holder": record,
                "taken_over": current,
                "msg": msg,
                "warning": msg,
            }
        # The file changed since we read it (another run took it over first, or it was released): look again.
    raise LockError(f"{path} changed {ATTEMPTS} times while it was being acquired; something rewrites it")


def release(path, holder, *, check_mode=False):
    """Remove the lock at `path` if `holder` holds it; never another run's. Returns the module's result:
    released, holder (the record found, if any), msg, and warning when the lock is another run's."""
    for _attempt in range(ATTEMPTS):
        fd = _open(path)
        if fd is None:
            return {"changed": False, "released": False, "msg": f"{path} is not held"}
        try:
            # As in replace(): a takeover of this file between our reading and our unlink() would
            # otherwise lose the lock it just took.
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _still_at(fd, path):
                continue
            found = _load(fd, path)
            if not same_holder(found, holder):
                msg = f"{path} is held by another run, left in place: {describe(found)}"
                return {"changed": False, "released": False, "holder": found, "msg": msg, "warning": msg}
            if not check_mode:
                os.unlink(path)
            return {"changed": True, "released": True, "holder": found, "msg": f"released {path}"}
        finally:
            os.close(fd)
    raise LockError(f"{path} changed {ATTEMPTS} times while it was being released; something rewrites it")


# The controller's side: who we are, whether a holder of this controller is gone, and the waiting.


def process_start(pid, proc="/proc"):
    """When process `pid` started (field 22 of /proc/<pid>/stat, clock ticks after boot), or None."""
    fields = stat_fields(pid, proc)
    return int(fields[19]) if fields and len(fields) > 19 else None


def controller_holder(pid=None, proc="/proc"):
    """This run's identity, on the controller: the ansible-playbook process, which forked the worker that
    runs the action plugin (so it is that worker's parent)."""
    pid = os.getppid() if pid is None else pid
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's uid without a passwd entry)
        user = str(os.getuid())
    return {"controller": socket.gethostname(), "pid": pid, "pid_start": process_start(pid, proc), "user": user}


def holder_gone(record, proc="/proc"):
    """Whether the run a record names has ended; only meaningful on the record's own controller."""
    pid = record["pid"]
    if not isinstance(pid, int) or pid <= 0:  # kill(0 or less) would signal process groups
        return False
    fields = stat_fields(pid, proc)
    if fields is None:
        # No entry: it exited, unless /proc hides other users' processes (hidepid) or there is none
        # (a macOS controller). kill(0) sees both; the PID may then be reused, which keeps a lock until
        # its lease expires rather than taking over a live run's.
        return not alive(pid)
    if fields[0] in ("Z", "X"):  # exited, not reaped yet
        return True
    start = int(fields[19]) if len(fields) > 19 else None
    return record.get("pid_start") is not None and start != record["pid_start"]


def wait_for_lock(
    call, holder, path, timeout, *, is_gone=holder_gone, clock=time.monotonic, sleep=time.sleep, pause=PAUSE
):
    """Acquire the lock through `call(takeover)` (one run of the module with that takeover; its result),
    trying again while another run holds it, for `timeout` seconds at most.

    A holder of this controller (`holder`'s) whose process is gone is taken over at once. One of another
    controller cannot be checked from here: it is waited for, until its lease expires (the module then
    takes it over) or `timeout` runs out. Returns the last module result with waited (seconds), and
    failed with a message naming the holder when the lock was not acquired.
    """
    started = clock()
    takeover = None
    while True:
        # Until the call that gets the lock begins: that call's own run is no wait.
        waited = round(clock() - started, 1)
        result = call(takeover)
        if result.get("failed") or result.get("acquired"):
            return {**result, "waited": waited}
        current = result["holder"]
        # `current != takeover`: a takeover refused because the file changed is not tried again with the
        # same record; the module returned what the file holds now, which is judged afresh.
        if current != takeover and current["controller"] == holder["controller"] and is_gone(current):
            takeover = current
            continue
        takeover = None
        remaining = started + timeout - clock()
        if remaining <= 0:
            waited = round(clock() - started, 1)
            return {**result, "failed": True, "waited": waited, "msg": _held_message(path, current, holder, waited)}
        sleep(min(random.uniform(*pause), remaining))  # noqa: S311  # a spread, not a secret


def _held_message(path, current, holder, waited):
    msg = f"The deploy lock {path} is held by another run ({describe(current)}); waited {waited:g} s."
    if current["controller"] == holder["controller"]:
        return f"{msg} Its process still runs on this controller: let it finish, or give a longer timeout."
    return (
        f"{msg} If that run or its controller {current['controller']} died, remove {path} on the host, "
        f"or wait until its lease expires at {utc(current['expires'])} (any run then takes the lock over)."
    )
