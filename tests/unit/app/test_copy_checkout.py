"""Tests of the scripts the app role builds a git release with, run with bash on real files:
roles/app/files/copy_checkout.sh (the checkout into a release) and check_release_links.sh (every
link of the finished release stays inside it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "app"
VARS_DATA = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
SCRIPT = ROLE / "files" / "copy_checkout.sh"
CHECK_LINKS = ROLE / "files" / "check_release_links.sh"
# What tasks/build.yml passes after the group: the default excludes, .git and the env patterns.
EXCLUDES = [".git", ".venv", "venv", "__pycache__", ".env", *VARS_DATA["__app_env_file_patterns"]]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the script chowns the release to root")


def copy(repo: Path, release: Path) -> subprocess.CompletedProcess:
    release.mkdir(exist_ok=True)
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), str(repo), str(release), "root", *EXCLUDES],
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


def check_links(release: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(CHECK_LINKS), str(release)], capture_output=True, text=True, check=False)


def built_release(repo: Path, base: Path) -> subprocess.CompletedProcess:
    """As tasks/build.yml: copy the checkout into base/releases/r1, link its .venv to base/venvs/k,
    then check its links."""
    (base / "venvs" / "k").mkdir(parents=True, exist_ok=True)
    release = base / "releases" / "r1"
    release.parent.mkdir(parents=True)
    assert copy(repo, release).returncode == 0
    (release / ".venv").symlink_to("../../venvs/k")
    return check_links(release)


def test_link_that_escapes_through_the_release_venv_is_refused(repo, tmp_path):
    """Issue 18, finding 1, as reproduced: the checkout's own .venv is a deep directory link, so the
    link resolves inside the checkout; in the release .venv leads to venvs/<key> and the same link
    to the host's /etc/passwd."""
    (repo / "deep" / "a" / "b" / "c" / "d" / "e" / "f" / "g").mkdir(parents=True)
    (repo / ".venv").symlink_to("deep/a/b/c/d/e/f/g")
    (repo / "static" / "x").symlink_to("../.venv/../../../../../../../etc/passwd")
    base = tmp_path / "opt" / "app"
    (base / "venvs" / "0123456789abcdef").mkdir(parents=True)
    release = base / "releases" / "20260101T000000Z"
    release.parent.mkdir()
    assert copy(repo, release).returncode == 0  # the in-checkout check alone cannot see it
    (release / ".venv").symlink_to("../../venvs/0123456789abcdef")
    result = check_links(release)
    assert result.returncode == 3
    assert result.stderr.startswith(
        "static/x is a symlink to ../.venv/../../../../../../../etc/passwd, which leads to "
    )
    assert "outside the release: refusing to publish it" in result.stderr


def test_link_into_the_virtualenv_is_refused(repo, tmp_path):
    (repo / "static" / "site.py").symlink_to("../.venv/lib/site.py")
    (tmp_path / "venvs" / "k" / "lib").mkdir(parents=True)
    (tmp_path / "venvs" / "k" / "lib" / "site.py").write_text("")
    result = built_release(repo, tmp_path)
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("static/site.py is a symlink to ../.venv/lib/site.py")


def test_links_inside_the_release_and_its_venv_link_pass(repo, tmp_path):
    (repo / "static" / "robots-copy.txt").symlink_to("robots.txt")
    (repo / "assets").symlink_to("static")
    result = built_release(repo, tmp_path)
    assert result.returncode == 0, result.stderr
