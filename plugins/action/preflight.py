# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of pyops.fastapi.preflight: evaluates a role's table of checks on the controller."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.pyops.fastapi.plugins.plugin_utils._preflight import check_table, run_rows


class ActionModule(ActionBase):
    """Fail with the first failed check's message; run nothing on the managed host."""

    _requires_connection = False
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _valid, args = self.validate_argument_spec(
            argument_spec={
                "section": {"type": "str", "required": True},
                "table": {"type": "path"},
            },
        )
        task_vars = task_vars or {}
        path = args["table"]
        if not path:
            role_path = task_vars.get("role_path")
            if not role_path:
                raise AnsibleActionFail("pyops.fastapi.preflight runs in a role, or needs table")
            path = os.path.join(role_path, "meta", "preflight.yml")
        # The table ships with the collection: its expressions and messages are trusted templates.
        table = self._loader.load_from_file(path, trusted_as_template=True)
        check_table(table, path)
        if args["section"] not in table:
            raise AnsibleActionFail(f"{path} has no section {args['section']!r} (it has {sorted(table)})")
        rows = table[args["section"]]
        failure = run_rows(self._templar, rows)
        result["changed"] = False
        result["checks"] = len(rows)
        if failure:
            result.update(failure)
            result["failed"] = True
        else:
            result["msg"] = f"{len(rows)} checks passed"
        return result
