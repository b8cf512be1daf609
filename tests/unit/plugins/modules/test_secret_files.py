# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pyops.fastapi.secret_files on a real directory tree (as root: the files are root's, the group's to read)."""

from __future__ import annotations

import grp
import os
import stat

import pytest
from ansible_collections.pyops.fastapi.plugins.modules import secret_files
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.utils import AnsibleFailJson, run_module

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="writes root-owned files (CI runs as root)")

GROUP = grp.getgrgid(os.getgid()).gr_name
PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
V1, V2 = "0123456789abcdef", "fedcba9876543210"


def _run(tmp_path, files, version=V1, named_by=(), check_mode=False):
    args = {
        "path": str(tmp_path / "secrets"),
        "version": version,
        "files": files,
        "group": GROUP,
        "named_by": [str(path) for path in named_by],
        "_ansible_check_mode": check_mode,
    }
    return run_module(secret_files.main, args)


def _mode(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_writes_the_version_then_changes_nothing(tmp_path):
    result = _run(tmp_path, {"JWT_KEY_FILE": PEM, "GCP_CREDENTIALS": '{"type": "service_account"}\n'})
    assert result["changed"] and result["written"] == ["GCP_CREDENTIALS", "JWT_KEY_FILE"]
    gid = os.getgid()
    assert _mode(tmp_path / "secrets") == (0, gid, 0o750)
    assert _mode(tmp_path / "secrets" / V1) == (0, gid, 0o750)
    assert _mode(tmp_path / "secrets" / V1 / "JWT_KEY_FILE") == (0, gid, 0o640)
    assert (tmp_path / "secrets" / V1 / "JWT_KEY_FILE").read_text() == PEM
    again = _run(tmp_path, {"JWT_KEY_FILE": PEM, "GCP_CREDENTIALS": '{"type": "service_account"}\n'})
    assert not again["changed"] and again["written"] == [] and again["removed"] == []


def test_a_wrong_mode_or_content_is_corrected(tmp_path):
    _run(tmp_path, {"KEY": PEM})
    target = tmp_path / "secrets" / V1 / "KEY"
    os.chmod(target, 0o644)
    assert _run(tmp_path, {"KEY": PEM})["written"] == ["KEY"]
    assert _mode(target)[2] == 0o640
    target.write_text("tampered")
    assert _run(tmp_path, {"KEY": PEM})["written"] == ["KEY"]
    assert target.read_text() == PEM


def test_only_versions_nothing_names_are_removed(tmp_path):
    _run(tmp_path, {"KEY": "old"}, version=V2)
    stale = tmp_path / "secrets" / "1111111111111111"
    stale.mkdir()
    # A slot's copy of .env still names V2 (the old slot runs on it); another file names nothing.
    slot_env = tmp_path / "blue.env"
    slot_env.write_text(f"SECRET_KEY='x'\nKEY='{tmp_path}/secrets/{V2}/KEY'\n")
    result = _run(tmp_path, {"KEY": "new"}, named_by=[slot_env, tmp_path / "green.env"])
    assert result["removed"] == ["1111111111111111"]
    assert sorted(os.listdir(tmp_path / "secrets")) == [V1, V2]
    # Once no copy names it, it goes.
    slot_env.write_text(f"KEY='{tmp_path}/secrets/{V1}/KEY'\n")
    assert _run(tmp_path, {"KEY": "new"}, named_by=[slot_env])["removed"] == [V2]


def test_no_files_removes_every_unnamed_version(tmp_path):
    _run(tmp_path, {"KEY": "x"})
    result = _run(tmp_path, {}, version="")
    assert result["changed"] and result["removed"] == [V1]


def test_check_mode_changes_nothing(tmp_path):
    (tmp_path / "secrets" / "1111111111111111").mkdir(parents=True)
    result = _run(tmp_path, {"KEY": PEM}, check_mode=True)
    assert result["changed"] and result["written"] == ["KEY"] and result["removed"] == ["1111111111111111"]
    assert os.listdir(tmp_path / "secrets") == ["1111111111111111"]


@pytest.mark.parametrize(
    ("files", "version", "message"),
    [
        ({"KEY": "x"}, "not-hex", "version must be 16 lower-case hex digits"),
        ({"../KEY": "x"}, V1, "file names must be"),
        ({"KEY": 5}, V1, "file contents must be strings"),
    ],
)
def test_bad_input_fails_before_any_change(tmp_path, files, version, message):
    with pytest.raises(AnsibleFailJson) as failed:
        _run(tmp_path, files, version=version)
    assert message in failed.value.result["msg"]
    assert not (tmp_path / "secrets").exists()
