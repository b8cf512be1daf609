"""Tests of the script the app role copies a git checkout into a release with (app_source=git):
__app_copy_checkout_script in roles/app/vars/main.yml, run with bash on real files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

VARS = Path(__file__).resolve().parents[3] / "roles" / "app" / "vars" / "main.yml"
VARS_DATA = yaml.safe_load(VARS.read_text())
SCRIPT = VARS_DATA["__app_copy_checkout_script"]
# What tasks/build.yml passes after the group: the default excludes, .git and the env patterns.
EXCLUDES = [".git", ".venv", "venv", "__pycache__", ".env", *VARS_DATA["__app_env_file_patterns"]]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the script chowns the release to root")


def copy(repo: Path, release: Path) -> subprocess.CompletedProcess:
    release.mkdir(exist_ok=True)
    return subprocess.run(
        ["/bin/bash", "-c", SCRIPT, "bash", str(repo), str(release), "root", *EXCLUDES],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "static").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text('[remote "origin"]\n\turl = https://token@git.example/app\n')
    (root / "main.py").write_text("app = None\n")
    (root / "static" / "robots.txt").write_text("User-agent: *\n")
    return root


def listing(release: Path) -> set[str]:
    return {str(path.relative_to(release)) for path in release.rglob("*")}


def test_copies_the_tree_without_git_and_environment_files(repo, tmp_path):
    for name in [".env", ".env.production", "static/.env.local", "deploy.env", ".envrc"]:
        (repo / name).write_text("SECRET_KEY=x\n")
    result = copy(repo, tmp_path / "release")
    assert result.returncode == 0, result.stderr
    assert listing(tmp_path / "release") == {"main.py", "static", "static/robots.txt"}
    assert (tmp_path / "release" / "main.py").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("target", "reason"),
    [("/etc/passwd", "an absolute path"), ("../../secret.txt", "outside the source root")],
)
def test_symlink_out_of_the_checkout_is_refused_naming_it(repo, tmp_path, target, reason):
    (tmp_path / "secret.txt").write_text("secret\n")
    (repo / "static" / "leak.txt").symlink_to(target)
    result = copy(repo, tmp_path / "release")
    assert result.returncode == 3
    assert result.stderr.strip() == f"static/leak.txt is a symlink to {target}, {reason}: refusing to publish it"
    assert listing(tmp_path / "release") == set()


def test_relative_link_inside_the_checkout_stays_a_link(repo, tmp_path):
    (repo / "static" / "robots-copy.txt").symlink_to("robots.txt")
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to("/usr/bin/python3")  # excluded: not checked
    result = copy(repo, tmp_path / "release")
    assert result.returncode == 0, result.stderr
    copied = tmp_path / "release" / "static" / "robots-copy.txt"
    assert copied.is_symlink()
    assert copied.read_text() == "User-agent: *\n"
