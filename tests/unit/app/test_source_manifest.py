"""Tests of roles/app/files/source_manifest.py, which the app role runs on the controller."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "app" / "files" / "source_manifest.py"


def manifest(root: Path, *args: str) -> dict:
    result = subprocess.run([sys.executable, str(SCRIPT), str(root), *args], check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "static").mkdir(parents=True)
    (root / "main.py").write_text("app = None\n")
    (root / "static" / "robots.txt").write_text("User-agent: *\n")
    (root / "manage.sh").write_text("#!/bin/sh\n")
    (root / "manage.sh").chmod(0o750)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".env").write_text("SECRET_KEY=local\n")
    return root


def test_revision_is_stable(source):
    assert manifest(source)["revision"] == manifest(source)["revision"]


def test_revision_follows_content_and_mode(source):
    before = manifest(source)["revision"]
    (source / "main.py").write_text("app = 1\n")
    after_content = manifest(source)["revision"]
    (source / "main.py").chmod(0o755)
    after_mode = manifest(source)["revision"]
    assert len({before, after_content, after_mode}) == 3


def test_excluded_names_do_not_count(source):
    excludes = ["--exclude=.git", "--exclude=.env"]
    before = manifest(source, *excludes)
    (source / ".git" / "HEAD").write_text("something else\n")
    (source / ".env").write_text("SECRET_KEY=other\n")
    after = manifest(source, *excludes)
    assert before["revision"] == after["revision"]
    assert before["files"] == 3


def test_tar_holds_the_kept_tree_owned_by_root(source, tmp_path):
    out = tmp_path / "src.tar.gz"
    packed = manifest(source, "--exclude=.git", "--exclude=.env", "--tar", str(out))
    assert packed["revision"] == manifest(source, "--exclude=.git", "--exclude=.env")["revision"]
    with tarfile.open(out) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert sorted(members) == ["main.py", "manage.sh", "static", "static/robots.txt"]
    assert members["manage.sh"].mode == 0o755
    assert members["main.py"].mode == 0o644
    assert members["static"].mode == 0o755
    assert all(member.uid == 0 and member.uname == "root" for member in members.values())


def test_missing_root_fails(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "missing")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "is not a directory" in result.stderr
