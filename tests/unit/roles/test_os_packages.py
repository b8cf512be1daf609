# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pyops.fastapi.os_packages on this machine (Debian, dpkg): with every package installed it calls no
apt and reports no change, whether the run's installed list is known already or read first; the list
it leaves behind is the one the next role reads."""

from __future__ import annotations

import json

from ansible_collections.pyops.fastapi.tests.tools.stack import run_ansible_playbook

PLAYBOOK = """
- name: Ask for packages that are installed
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Ask with no installed list yet (read from dpkg)
      pyops.fastapi.os_packages:
        names: [dpkg, coreutils]
      register: first

    - name: Ask again with the list the first call left
      pyops.fastapi.os_packages:
        names: [coreutils]
      register: second

    - name: Keep the list the second call left
      ansible.builtin.set_fact:
        after_second: "{{ __pyops_fastapi_installed_packages }}"

    - name: Ask with a list that already holds a name
      pyops.fastapi.os_packages:
        names: [not-a-real-package-but-listed]
      vars:
        __pyops_fastapi_installed_packages: [not-a-real-package-but-listed]
      register: third

    - name: Report
      ansible.builtin.debug:
        msg: "{{ {'first': first, 'second': second, 'third': third,
                  'installed': after_second} | to_json }}"
"""


def test_installed_packages_call_no_apt(tmp_path):
    (tmp_path / "play.yml").write_text(PLAYBOOK, encoding="utf-8")
    run = run_ansible_playbook(["-i", "localhost,", str(tmp_path / "play.yml")], timeout=300)
    assert run.returncode == 0, run.tail()
    report = json.loads([result for _name, result in run.results() if "msg" in result][-1]["msg"])
    for name in ("first", "second", "third"):
        assert report[name]["changed"] is False, report[name]
        assert report[name]["missing"] == [], report[name]
        assert "invocation" not in report[name] or "apt" not in json.dumps(report[name]["invocation"])
    assert {"dpkg", "coreutils"} <= set(report["installed"])
