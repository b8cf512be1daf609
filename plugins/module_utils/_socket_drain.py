# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Count and wait out the connections a server holds on a unix socket (plugins/modules/socket_drain.py).

Private to the collection (leading underscore): no compatibility promise outside it.
"""

from __future__ import annotations

import time

PROC_NET_UNIX = "/proc/net/unix"
# Flags bit of a listening socket (__SO_ACCEPTCON): the server's own socket, not a connection.
ACCEPTCON = 0x10000


def connections(path, table=PROC_NET_UNIX):
    """Sockets bound to `path` that are not the listener: the server's ends of its clients' connections.

    An accepted connection carries the listener's address in /proc/net/unix until the server closes it, so
    one that a client has closed still counts until the server has noticed. Sockets of another network
    namespace are not listed.
    """
    count = 0
    with open(table, encoding="utf-8", errors="replace") as handle:
        next(handle, None)  # "Num RefCount Protocol Flags Type St Inode Path"
        for line in handle:
            fields = line.rstrip("\n").split(None, 7)
            if len(fields) == 8 and fields[7] == path and not int(fields[3], 16) & ACCEPTCON:
                count += 1
    return count


def wait_until_idle(path, timeout, *, table=PROC_NET_UNIX, interval=0.1, clock=time.monotonic, sleep=time.sleep):
    """Poll until no connection to `path` is left or `timeout` seconds have passed.

    Returns (connections left, seconds waited).
    """
    started = clock()
    while True:
        left = connections(path, table)
        waited = clock() - started
        if left == 0 or waited >= timeout:
            return left, waited
        sleep(min(interval, timeout - waited))
