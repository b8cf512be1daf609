# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of pyops.fastapi.deploy_lock: identifies the run and waits on the controller, where a
holder's process can be checked; the module acquires and releases the lock on the host."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.pyops.fastapi.plugins.module_utils._deploy_lock import controller_holder, wait_for_lock


class ActionModule(ActionBase):
    """Acquire the deploy lock, waiting while another run holds it, or release it."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _valid, args = self.validate_argument_spec(
            argument_spec={
                # str, not path: the path is on the host, not to be expanded on the controller.
                "path": {"type": "str", "required": True},
                "state": {"type": "str", "choices": ["acquired", "released"], "default": "acquired"},
                "lease": {"type": "int", "default": 3600},
                "timeout": {"type": "float", "default": 0},
                "label": {"type": "str"},
            },
        )
        task_vars = task_vars or {}
        holder = controller_holder()
        module_args = {
            "path": args["path"],
            "state": args["state"],
            "lease": args["lease"],
            "label": args["label"] if args["label"] is not None else task_vars.get("ansible_play_name"),
            "holder": holder,
        }

        def call(takeover=None):
            return self._execute_module(
                module_name="pyops.fastapi.deploy_lock",
                module_args={**module_args, "takeover": takeover},
                task_vars=task_vars,
            )

        if args["state"] == "released":
            result.update(call())
        else:
            result.update(wait_for_lock(call, holder, args["path"], args["timeout"]))
        return result
