"""Finding 1 of the security review: SSH host keys are checked when users run the playbooks
from a checkout (ansible.cfg) and nothing shipped turns the check off."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_CONFIG_BIN = Path(sys.executable).with_name("ansible-config")


def test_checkout_config_checks_host_keys():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    dump = subprocess.run(
        [str(ANSIBLE_CONFIG_BIN), "dump"], capture_output=True, text=True, check=True, env=env, cwd=REPO
    ).stdout
    line = next(line for line in dump.splitlines() if line.startswith("HOST_KEY_CHECKING"))
    assert line.endswith("= True"), line


def test_nothing_shipped_disables_host_key_checking():
    pattern = re.compile(r"host_key_checking\s*[=:]\s*(false|no|0)|StrictHostKeyChecking=no", re.IGNORECASE)
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True, cwd=REPO).stdout
    offenders = []
    for name in tracked.splitlines():
        path = REPO / name
        if name.startswith(("tests/unit/config/", "changelogs/")) or not path.is_file() or path.is_symlink():
            continue
        if path.suffix not in {".cfg", ".yml", ".yaml", ".ini", ".sh", ".py", ".md", ".j2"} and path.name != "run":
            continue
        if pattern.search(path.read_text(errors="replace")):
            offenders.append(name)
    assert offenders == []
