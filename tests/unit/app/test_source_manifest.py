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


def packed_names(source: Path, tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "packed.tar.gz"
    manifest(source, *args, "--tar", str(out))
    with tarfile.open(out) as tar:
        return set(tar.getnames())


@pytest.mark.parametrize("name", [".env", ".env.production", ".env.local", "prod.env", ".envrc"])
def test_environment_files_are_never_packed(source, tmp_path, name):
    (source / "static" / name).write_text("SECRET_KEY=from-the-controller\n")
    names = packed_names(source, tmp_path)  # no --exclude at all
    assert f"static/{name}" not in names
    assert "static/robots.txt" in names


def test_symlink_out_of_the_tree_is_refused_naming_it(source, tmp_path):
    secret = tmp_path / "controller-secret.txt"
    secret.write_text("do not publish\n")
    (source / "static" / "leak.txt").symlink_to(secret)
    result = manifest(source)
    assert "revision" not in result
    assert result["error"].startswith("static/leak.txt is a symlink to ")
    assert "outside the source root" in result["error"]
    out = tmp_path / "refused.tar.gz"
    packing = subprocess.run(
        [sys.executable, str(SCRIPT), str(source), "--tar", str(out)], capture_output=True, text=True, check=False
    )
    assert packing.returncode == 1
    assert "static/leak.txt" in packing.stderr


@pytest.mark.parametrize("target", ["../../outside", "/etc"])
def test_directory_symlink_out_of_the_tree_is_refused(source, tmp_path, target):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "id_rsa").write_text("key\n")
    (source / "static" / "assets").symlink_to(target)
    assert manifest(source)["error"].startswith(f"static/assets is a symlink to {target}, outside")


def test_relative_escape_through_an_inner_link_is_refused(source, tmp_path):
    (tmp_path / "secret").write_text("x\n")
    (source / "static" / "deep").mkdir()
    (source / "static" / "deep" / "x").symlink_to("../../../secret")
    assert manifest(source)["error"].startswith("static/deep/x is a symlink to ../../../secret, outside")


def test_links_inside_the_tree_are_packed_as_files(source, tmp_path):
    (source / "static" / "robots-copy.txt").symlink_to("robots.txt")
    (source / "assets").symlink_to("static")
    names = packed_names(source, tmp_path)
    assert {"static/robots-copy.txt", "assets/robots.txt", "assets/robots-copy.txt"} <= names
    with tarfile.open(tmp_path / "packed.tar.gz") as tar:
        member = tar.getmember("static/robots-copy.txt")
        assert member.isreg()
        assert tar.extractfile(member).read() == b"User-agent: *\n"


def test_dangling_and_looping_links_are_refused(source):
    (source / "static" / "gone").symlink_to("missing.txt")
    assert manifest(source)["error"] == "static/gone is a symlink to missing.txt, which does not exist"
    (source / "static" / "gone").unlink()
    (source / "static" / "again").symlink_to("..")
    assert "a loop" in manifest(source)["error"]


def test_a_link_in_an_excluded_directory_is_not_followed(source, tmp_path):
    (source / ".venv" / "bin").mkdir(parents=True)
    (source / ".venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    assert "error" not in manifest(source, "--exclude=.venv")
