# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of pyops.fastapi.os_packages: apt only for a package that is missing."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

# The installed packages, shared by every role of one run (a fact): read once, then kept up to date
# here, so a role whose packages are all there runs nothing on the host.
INSTALLED = "__pyops_fastapi_installed_packages"


class ActionModule(ActionBase):
    """Install the Debian packages of ``names`` that are not installed yet."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _valid, args = self.validate_argument_spec(
            argument_spec={
                "names": {"type": "list", "elements": "str", "required": True},
                "cache_valid_time": {"type": "int", "default": 3600},
            },
        )
        task_vars = task_vars or {}
        installed = task_vars.get(INSTALLED)
        if installed is None:
            read = self._execute_module(
                module_name="pyops.fastapi.host_state", module_args={"packages": True}, task_vars=task_vars
            )
            if read.get("failed"):
                return {**read, "msg": f"reading the installed packages failed: {read.get('msg')}"}
            installed = read["packages"]
        names = args["names"]
        missing = [name for name in names if name not in installed]
        result.update(changed=False, missing=missing)
        if missing and self._task.check_mode:
            # apt's own check mode needs python3-apt, which a fresh host lacks: report what would be installed.
            result.update(changed=True, msg=f"would install {', '.join(missing)}")
        elif missing:
            apt = self._execute_module(
                module_name="ansible.builtin.apt",
                module_args={
                    "name": names,
                    "state": "present",
                    "update_cache": True,
                    "cache_valid_time": args["cache_valid_time"],
                },
                task_vars=task_vars,
            )
            if apt.get("failed"):
                return {**apt, "missing": missing}
            result["changed"] = bool(apt.get("changed"))
            result["msg"] = f"installed {', '.join(missing)}"
        else:
            result["msg"] = "all installed"
        # In check mode nothing was installed: the next role must still see them as missing.
        if not self._task.check_mode:
            installed = sorted(set(installed) | set(names))
        result["ansible_facts"] = {INSTALLED: list(installed)}
        return result
