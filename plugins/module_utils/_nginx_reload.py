# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reload nginx and wait for its new generation of workers, or for the old one to exit
(plugins/modules/nginx_reload.py). The host is reached through the functions passed in, so the
waiting logic runs the same against real processes in the unit tests."""

from __future__ import annotations

import os
import time

from ansible_collections.pyops.fastapi.plugins.module_utils._procfs import alive, stat_fields


def children(pid, proc="/proc"):
    """The PIDs whose parent is `pid`, from /proc/<pid>/stat (no pgrep needed)."""
    found = set()
    for entry in os.listdir(proc):
        if entry.isdigit():
            fields = stat_fields(entry, proc)
            if fields and len(fields) > 1 and fields[1] == str(pid):
                found.add(int(entry))
    return found


def wait_for_new_workers(master, old, timeout, *, list_children=children, clock=time.monotonic, sleep=time.sleep):
    """After a reload: wait until the master has a child that is not in `old` (its new generation of
    workers, which alone take new requests). Returns the new children, or None after `timeout` s."""
    deadline = clock() + timeout
    while True:
        new = list_children(master) - old
        if new:
            return new
        if clock() >= deadline:
            return None
        sleep(0.05)


def wait_for_exit(pids, timeout, *, is_alive=alive, clock=time.monotonic, sleep=time.sleep):
    """Wait until every process of `pids` has exited (the old workers finishing the requests they
    hold). Returns those still running after `timeout` s (empty when all exited)."""
    deadline = clock() + timeout
    while True:
        running = [pid for pid in pids if is_alive(pid)]
        if not running or clock() >= deadline:
            return running
        sleep(0.1)
