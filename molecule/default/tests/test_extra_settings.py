"""Settings from the roles' allow-lists (group_vars/fastapi.yml): a unit directive
(systemd_extra_directives) and a gunicorn setting (gunicorn_extra_settings), seen in the running slot."""

import pytest
import stack
from stack import APP

pytestmark = pytest.mark.same_on_every_distro


def test_the_slot_runs_with_the_extra_unit_directive(host):
    # LimitNOFILE=16384 (a slot gets 1024 soft, 20000 hard without it here): the master and its workers have it.
    limits = host.check_output("grep 'Max open files' /proc/%s/limits", str(stack.master_pid(host)))
    assert limits.split()[3:5] == ["16384", "16384"], limits


def test_gunicorn_listens_with_the_extra_setting(host):
    # backlog=1024 (gunicorn's default is 2048): the listen queue of the slot's socket, as the kernel has it.
    socket = f"/run/{APP}/{stack.live_slot(host)}/gunicorn.sock"
    line = host.check_output("ss -xlH src %s", socket)
    assert line.split()[3] == "1024", line
