# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Processes read from /proc, shared by nginx_reload (nginx's workers) and deploy_lock (the holder's
ansible-playbook process). Private to the collection: no compatibility promise outside it."""

from __future__ import annotations

import os


def stat_fields(pid, proc="/proc"):
    """The fields of /proc/<pid>/stat from the third (state) on, or None when there is no such entry."""
    try:
        with open(os.path.join(proc, str(pid), "stat"), encoding="utf-8", errors="replace") as handle:
            stat_line = handle.read()
    except OSError:  # no such process, or it exited while we read
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    return stat_line.rpartition(")")[2].split()


def alive(pid):
    """Whether process `pid` exists (whoever owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True
