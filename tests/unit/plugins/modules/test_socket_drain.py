# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pyops.fastapi.socket_drain against real unix sockets of this process, read from the real /proc/net/unix."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from ansible.module_utils import basic
from ansible_collections.pyops.fastapi.plugins.module_utils._socket_drain import connections
from ansible_collections.pyops.fastapi.plugins.modules import socket_drain
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.utils import AnsibleFailJson, run_module


@pytest.fixture(name="server")
def fixture_server(tmp_path):
    """A listening socket reached through a link, as nginx reaches a slot through live.sock."""
    path = str(tmp_path / "gunicorn.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    os.symlink(path, tmp_path / "live.sock")
    opened = []

    def connect():
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(tmp_path / "live.sock"))
        accepted, _addr = listener.accept()
        opened.extend([client, accepted])
        return client, accepted

    yield path, connect
    for sock in opened + [listener]:
        sock.close()


def test_counts_the_servers_connections_not_its_listener(server):
    path, connect = server
    assert connections(path) == 0
    connect()
    connect()
    assert connections(path) == 2
    # Only the bound path counts: the link a client used is not what the kernel records.
    assert connections(os.path.join(os.path.dirname(path), "live.sock")) == 0


def test_a_connection_counts_until_the_server_closes_its_end(server):
    path, connect = server
    client, accepted = connect()
    client.close()
    assert connections(path) == 1
    accepted.close()
    assert connections(path) == 0


def test_waits_until_the_last_connection_ends(server):
    path, connect = server
    client, accepted = connect()

    def close_later():
        time.sleep(0.5)
        client.close()
        accepted.close()

    threading.Thread(target=close_later).start()
    result = run_module(socket_drain.main, {"path": path, "timeout": 10})
    assert result["connections"] == 0
    assert 0.4 <= result["waited"] < 5
    assert result["changed"] is False


def test_returns_after_timeout_with_what_is_left_and_a_warning(server, monkeypatch):
    path, connect = server
    connect()
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: warnings.append(text))
    started = time.monotonic()
    result = run_module(socket_drain.main, {"path": path, "timeout": 0.3})
    assert result["connections"] == 1
    assert 0.3 <= time.monotonic() - started < 3
    assert warnings == [f"1 connection(s) to {path} still open after 0.3 s."]


def test_a_socket_nobody_listens_on_is_idle(tmp_path):
    result = run_module(socket_drain.main, {"path": str(tmp_path / "none.sock"), "timeout": 5})
    assert result["connections"] == 0
    assert result["waited"] < 1


def test_a_negative_timeout_is_refused(tmp_path):
    with pytest.raises(AnsibleFailJson) as failed:
        run_module(socket_drain.main, {"path": str(tmp_path / "x.sock"), "timeout": -1})
    assert failed.value.result["msg"] == "timeout must be 0 or more, got -1."
