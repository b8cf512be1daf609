# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pyops.fastapi.host_state on a real tree of files in tmp_path, real users and groups, real commands.

Where the roles read with shell before (stat -c, readlink, sha1sum, getent, systemctl, dpkg-query),
the values are checked against those tools, so every decision the roles make compares the same facts.
"""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import platform
import pwd
import shutil
import subprocess
import sys

import pytest
from ansible.utils.hashing import checksum as ansible_checksum
from ansible_collections.pyops.fastapi.plugins.module_utils import _host_state
from ansible_collections.pyops.fastapi.plugins.module_utils._host_state import (
    HostStateError,
    path_state,
    read_host_state,
)
from ansible_collections.pyops.fastapi.plugins.modules import host_state
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.utils import AnsibleFailJson, run_module

KEYS = {"exists", "type", "owner", "group", "uid", "gid", "mode", "target", "realpath", "checksum", "content"}


def subprocess_run(argv):
    """The runner the module gets from AnsibleModule.run_command, with subprocess."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def missing_program(argv):
    raise FileNotFoundError(2, "No such file or directory", argv[0])


def run(**args):
    return run_module(host_state.main, args)


def fail(**args):
    with pytest.raises(AnsibleFailJson) as excinfo:
        run(**args)
    return excinfo.value.result


@pytest.fixture
def tree(tmp_path):
    """dir (0750), dir/file (0640), file-link -> dir/file, dir-link -> dir, dangling -> nowhere, a fifo."""
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir").chmod(0o750)
    (tmp_path / "dir" / "file").write_bytes(b"SECRET_KEY=x\n" * 1000)
    (tmp_path / "dir" / "file").chmod(0o640)
    (tmp_path / "file-link").symlink_to("dir/file")
    (tmp_path / "dir-link").symlink_to(tmp_path / "dir")
    (tmp_path / "dangling").symlink_to("nowhere")
    os.mkfifo(tmp_path / "fifo")
    return tmp_path


def shell_stat(path, follow=False):
    """What the 0.6.0 scripts read: stat [-L] -c %F:%U:%G:%a."""
    argv = ["stat", *(["-L"] if follow else []), "-c", "%F:%U:%G:%a", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


SHELL_TYPES = {"directory": "directory", "regular file": "file", "symbolic link": "link", "fifo": "fifo"}


# Paths


def test_every_key_is_returned_whether_the_path_exists_or_not(tree):
    for path in ("dir", "dir/file", "file-link", "dangling", "fifo", "missing"):
        assert set(path_state(str(tree / path))) == KEYS
    assert path_state(str(tree / "missing")) == dict.fromkeys(KEYS) | {"exists": False}


@pytest.mark.parametrize(
    ("path", "kind", "mode"),
    [("dir", "directory", "0750"), ("dir/file", "file", "0640"), ("file-link", "link", "0777"), ("fifo", "fifo", None)],
)
def test_type_owner_group_and_mode_are_what_stat_prints(tree, path, kind, mode):
    state = path_state(str(tree / path))
    assert state["exists"] is True
    assert state["type"] == kind
    if mode:
        assert state["mode"] == mode
    # The same facts as stat -c %F:%U:%G:%a, the mode with a leading zero as ansible's stat module returns it.
    shell_type, owner, group, shell_mode = shell_stat(tree / path).split(":")
    assert SHELL_TYPES[shell_type] == kind
    assert (state["owner"], state["group"]) == (owner, group)
    assert state["mode"] == shell_mode.zfill(4)
    st = os.lstat(tree / path)
    assert (state["uid"], state["gid"]) == (st.st_uid, st.st_gid)
    assert state["owner"] == pwd.getpwuid(st.st_uid).pw_name
    assert state["group"] == grp.getgrgid(st.st_gid).gr_name


def test_special_bits_are_in_the_mode(tree):
    (tree / "dir").chmod(0o2775)
    assert path_state(str(tree / "dir"))["mode"] == "2775"
    assert shell_stat(tree / "dir").endswith(":2775")


def test_a_link_is_described_itself_with_its_target_as_readlink_prints_it(tree):
    state = path_state(str(tree / "file-link"))
    assert state["type"] == "link"
    assert state["target"] == "dir/file"  # not resolved
    readlink = subprocess.run(["readlink", str(tree / "file-link")], capture_output=True, text=True, check=True)
    assert state["target"] == readlink.stdout.strip()
    assert state["realpath"] == str((tree / "dir" / "file").resolve())
    readlink_f = subprocess.run(["readlink", "-f", str(tree / "file-link")], capture_output=True, text=True, check=True)
    assert state["realpath"] == readlink_f.stdout.strip()


def test_a_dangling_link_exists_unless_followed(tree):
    state = path_state(str(tree / "dangling"))
    assert (state["exists"], state["type"], state["target"]) == (True, "link", "nowhere")
    followed = path_state(str(tree / "dangling"), follow=True)
    assert (followed["exists"], followed["type"], followed["target"]) == (False, None, "nowhere")


def test_follow_describes_what_a_link_leads_to_as_stat_L(tree):
    state = path_state(str(tree / "dir-link"), follow=True)
    assert (state["type"], state["mode"], state["target"]) == ("directory", "0750", str(tree / "dir"))
    shell_type, owner, group, mode = shell_stat(tree / "dir-link", follow=True).split(":")
    assert [state["type"], state["owner"], state["group"], state["mode"]] == [
        SHELL_TYPES[shell_type],
        owner,
        group,
        mode.zfill(4),
    ]


def test_the_checksum_is_ansibles_stat_checksum_and_sha1sums(tree):
    path = str(tree / "dir" / "file")
    state = path_state(path, checksum=True)
    assert state["checksum"] == ansible_checksum(path)
    assert state["checksum"] == hashlib.sha1((tree / "dir" / "file").read_bytes()).hexdigest()
    sha1sum = subprocess.run(["sha1sum", path], capture_output=True, text=True, check=True).stdout.split()[0]
    assert state["checksum"] == sha1sum


def test_only_regular_files_are_checksummed_and_links_only_when_followed(tree):
    assert path_state(str(tree / "dir"), checksum=True)["checksum"] is None
    assert path_state(str(tree / "fifo"), checksum=True)["checksum"] is None
    assert path_state(str(tree / "missing"), checksum=True)["checksum"] is None
    assert path_state(str(tree / "file-link"), checksum=True)["checksum"] is None
    followed = path_state(str(tree / "file-link"), checksum=True, follow=True)
    assert followed["checksum"] == ansible_checksum(str(tree / "dir" / "file"))
    assert path_state(str(tree / "dir" / "file"))["checksum"] is None  # not asked


def test_content_is_base64_read_through_links(tree):
    expected = base64.b64encode((tree / "dir" / "file").read_bytes()).decode()
    assert path_state(str(tree / "dir" / "file"), read=True)["content"] == expected
    assert path_state(str(tree / "file-link"), read=True)["content"] == expected
    for path in ("dir", "fifo", "dangling", "missing"):
        assert path_state(str(tree / path), read=True)["content"] is None
    assert path_state(str(tree / "dir" / "file"))["content"] is None  # not asked


def test_a_file_over_the_limit_is_not_read(tree):
    (tree / "small").write_bytes(b"x" * 10)
    assert _host_state.read_base64(str(tree / "small"), limit=10) == base64.b64encode(b"x" * 10).decode()
    assert _host_state.read_base64(str(tree / "small"), limit=9) is None


def test_paths_keep_the_key_they_are_given_as_and_merge(tree):
    given = [str(tree / "dir") + "/", str(tree / "dir" / "file")]
    result = read_host_state(missing_program, paths=given, checksum_paths=given[1:], read_paths=given[1:])
    assert list(result["paths"]) == given
    assert result["paths"][given[0]]["type"] == "directory"
    merged = result["paths"][given[1]]
    assert merged["checksum"] == ansible_checksum(given[1])
    assert base64.b64decode(merged["content"]) == (tree / "dir" / "file").read_bytes()


# Users and groups


def test_users_and_groups_as_getent_reads_them():
    result = read_host_state(missing_program, users=["root", "pyops-no-such-user"], groups=["root", "pyops-no-such"])
    root = pwd.getpwnam("root")
    assert result["users"]["root"] == {
        "exists": True,
        "uid": 0,
        "gid": root.pw_gid,
        "comment": root.pw_gecos,
        "home": root.pw_dir,
        "shell": root.pw_shell,
    }
    getent = subprocess.run(["getent", "passwd", "root"], capture_output=True, text=True, check=False)
    if getent.returncode == 0:  # the 0.6.0 read: fields 4 to 7
        user = result["users"]["root"]
        assert getent.stdout.strip().split(":")[3:] == [str(user["gid"]), user["comment"], user["home"], user["shell"]]
    assert result["users"]["pyops-no-such-user"] == {
        "exists": False,
        "uid": None,
        "gid": None,
        "comment": None,
        "home": None,
        "shell": None,
    }
    assert result["groups"]["root"] == {"exists": True, "gid": 0, "members": list(grp.getgrnam("root").gr_mem)}
    assert result["groups"]["pyops-no-such"] == {"exists": False, "gid": None, "members": None}


# Units, packages, commands, the Python version


def test_units_read_as_empty_without_systemctl():
    result = read_host_state(missing_program, units=["nginx.service", "app@blue.service"])
    assert result["units"] == {
        "nginx.service": {"enabled": "", "active": ""},
        "app@blue.service": {"enabled": "", "active": ""},
    }


def test_units_are_what_systemctl_prints():
    calls = []

    def systemctl(argv):
        calls.append(argv)
        return (0, "enabled\n", "") if argv[1] == "is-enabled" else (3, "inactive\n", "")

    result = read_host_state(systemctl, units=["nginx.service"])
    assert result["units"] == {"nginx.service": {"enabled": "enabled", "active": "inactive"}}
    assert calls == [
        ["systemctl", "is-enabled", "--", "nginx.service"],
        ["systemctl", "is-active", "--", "nginx.service"],
    ]


def test_packages_are_the_installed_ones_and_none_without_dpkg():
    def dpkg(argv):
        assert argv == ["dpkg-query", "--show", "--showformat=${db:Status-Status} ${Package}\\n"]
        return 0, "installed nginx\nconfig-files old-thing\ninstalled python3-venv\nnot-installed git\n", ""

    assert read_host_state(dpkg, packages=True)["packages"] == ["nginx", "python3-venv"]
    assert read_host_state(missing_program, packages=True)["packages"] == []
    assert read_host_state(dpkg)["packages"] == []  # not asked


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg on this host")
def test_packages_match_dpkg_query():
    result = read_host_state(subprocess_run, packages=True)
    listing = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${db:Status-Status} ${Package}\\n"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert result["packages"] == [line.split()[1] for line in listing.splitlines() if line.startswith("installed ")]
    assert "dpkg" in result["packages"]


def test_the_python_version_is_the_interpreters_own():
    result = read_host_state(subprocess_run, python=sys.executable)
    assert result["python_version"] == sys.version
    assert result["python_platform"] == {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "machine": platform.machine(),
        "libc": platform.libc_ver()[0],
        "libc_version": platform.libc_ver()[1],
    }
    assert result["python_platform"]["libc"] == "glibc"
    assert read_host_state(subprocess_run)["python_version"] is None
    assert read_host_state(subprocess_run)["python_platform"] is None


def test_a_prefix_runs_the_interpreter_elsewhere(tmp_path):
    # As for a container image: the prefix is a program that runs the rest of the command line.
    wrapper = tmp_path / "elsewhere"
    wrapper.write_text('#!/bin/sh\necho "$0 $1" > "$(dirname "$0")/called"\nshift\nexec "$@"\n')
    wrapper.chmod(0o755)
    result = read_host_state(subprocess_run, python=sys.executable, python_prefix=[str(wrapper), "IMAGE"])
    assert result["python_version"] == sys.version
    assert (tmp_path / "called").read_text() == f"{wrapper} IMAGE\n"


def test_an_interpreter_that_cannot_run_fails():
    with pytest.raises(HostStateError, match="/nonexistent/python3 could not tell its version"):
        read_host_state(subprocess_run, python="/nonexistent/python3")


def test_commands_return_their_status_and_output_whatever_it_is():
    script = "import sys; print('out'); print('nginx version: nginx/1.22.1', file=sys.stderr); sys.exit(3)"
    result = read_host_state(
        subprocess_run,
        commands={"probe": [sys.executable, "-c", script], "absent": ["/nonexistent/nginx", "-v"]},
    )
    assert result["commands"]["probe"] == {"rc": 3, "stdout": "out", "stderr": "nginx version: nginx/1.22.1"}
    assert result["commands"]["absent"]["rc"] == 127
    assert "/nonexistent/nginx" in result["commands"]["absent"]["stderr"]


@pytest.mark.parametrize("argv", [[], "nginx -v", [1, 2], None])
def test_a_command_must_be_an_argv_list(argv):
    with pytest.raises(HostStateError, match="commands.bad must be a non-empty list of strings"):
        read_host_state(missing_program, commands={"bad": argv})


# The module


def test_the_module_reads_everything_in_one_call_and_changes_nothing(tree):
    result = run(
        paths=[str(tree / "dir")],
        checksum_paths=[str(tree / "dir" / "file")],
        read_paths=[str(tree / "file-link")],
        users=["root"],
        groups=["root"],
        python=sys.executable,
        commands={"true": [sys.executable, "-c", "print('$HOME ~')"]},
    )
    assert result["changed"] is False
    assert result["paths"][str(tree / "dir")]["mode"] == "0750"
    assert result["paths"][str(tree / "dir" / "file")]["checksum"] == ansible_checksum(str(tree / "dir" / "file"))
    assert base64.b64decode(result["paths"][str(tree / "file-link")]["content"]).startswith(b"SECRET_KEY=x")
    assert result["users"]["root"]["uid"] == 0
    assert result["groups"]["root"]["gid"] == 0
    assert result["python_version"] == sys.version
    # Arguments reach the program as given: no variable or ~ expansion, no shell.
    assert result["commands"]["true"] == {"rc": 0, "stdout": "$HOME ~", "stderr": ""}
    assert result["units"] == {}
    assert result["packages"] == []


def test_the_module_keeps_path_keys_unexpanded(tree, monkeypatch):
    monkeypatch.setenv("PYOPS_TREE", str(tree))
    result = run(paths=["$PYOPS_TREE/dir", "~/pyops-no-such"])
    assert result["paths"]["$PYOPS_TREE/dir"]["exists"] is False
    assert result["paths"]["~/pyops-no-such"]["exists"] is False


def test_the_module_runs_in_check_mode(tree):
    result = run(paths=[str(tree / "dir")], _ansible_check_mode=True)
    assert result["changed"] is False
    assert result["paths"][str(tree / "dir")]["type"] == "directory"


def test_the_module_degrades_without_systemctl_and_dpkg(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to run there
    result = run(units=["nginx.service"], packages=True)
    assert result["units"] == {"nginx.service": {"enabled": "", "active": ""}}
    assert result["packages"] == []


def test_the_module_fails_when_the_interpreter_cannot_run():
    result = fail(python="/nonexistent/python3")
    assert result["changed"] is False
    assert "/nonexistent/python3 could not tell its version (exit status 127)" in result["msg"]


def test_the_module_refuses_a_command_that_is_not_an_argv_list():
    result = fail(commands={"nginx_version": "/usr/sbin/nginx -v"})
    assert "commands.nginx_version must be a non-empty list of strings (argv)" in result["msg"]
