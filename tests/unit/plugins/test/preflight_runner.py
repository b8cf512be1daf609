# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Evaluate the roles' meta/preflight.yml tables for many variable sets, in a process of its own.

Run by test_preflight_tables.py: ``python preflight_runner.py COLLECTIONS_PATH < cases.json``, each
case {"role": ..., "variables": {...}}; prints one result per case, null or the first failure
(check, assertion, msg). A process of its own because Ansible's collection loader must own the
``ansible_collections`` package before anything imports it, which pytest's conftest already did.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ansible.plugins.loader import init_plugin_loader


def _cache_jinja_compilation():
    """Compile each template source once per process: the same few hundred expressions are evaluated
    for every case, and compiling them is most of the time. Compilation is pure (same environment,
    same source, same code), so this changes no result."""
    import jinja2  # noqa: PLC0415  # only the runner patches it

    compile_once = jinja2.Environment.compile
    compiled = {}

    def compile_cached(self, source, name=None, filename=None, raw=False, defer_init=False):
        key = (id(self), str(source), name, filename, raw, defer_init)
        if key not in compiled:
            compiled[key] = compile_once(self, source, name, filename, raw, defer_init)
        return compiled[key]

    jinja2.Environment.compile = compile_cached


def main():
    init_plugin_loader([sys.argv[1]])
    _cache_jinja_compilation()
    # Imported after the loader, through it.
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
    from ansible.template import Templar, trust_as_template  # noqa: PLC0415
    from ansible_collections.pyops.fastapi.plugins.plugin_utils._preflight import (  # noqa: PLC0415
        check_table,
        run_rows,
    )
    from ansible_collections.pyops.fastapi.tests.unit.plugins.test.hostile_corpus import ROLES  # noqa: PLC0415

    root = Path(__file__).resolve().parents[4]
    loader = DataLoader()
    role_vars, tables = {}, {}
    for role in ROLES:
        for name in ("defaults/main.yml", "vars/main.yml"):
            role_vars.update(loader.load_from_file(str(root / "roles" / role / name), trusted_as_template=True) or {})
        path = str(root / "roles" / role / "meta" / "preflight.yml")
        tables[role] = loader.load_from_file(path, trusted_as_template=True)
        check_table(tables[role], path)
    # The facts roles publish for each other, from the tasks that publish them.
    role_vars["app_layout"] = trust_as_template("{{ __app_layout }}")
    publish = loader.load_from_file(
        str(root / "roles" / "gunicorn" / "tasks" / "publish.yml"), trusted_as_template=True
    )
    role_vars["gunicorn_server"] = publish[0]["ansible.builtin.set_fact"]["gunicorn_server"]

    results = []
    # One templar for all cases: its environment keeps the compiled expressions.
    templar = Templar(loader=loader)
    for case in json.load(sys.stdin):
        variables = {**role_vars, **case["variables"], "role_path": str(root / "roles" / case["role"])}
        variables["vars"] = variables
        templar.available_variables = variables
        failure = None
        try:
            for rows in tables[case["role"]].values():
                failure = run_rows(templar, rows)
                if failure:
                    break
        except Exception as error:  # pylint: disable=broad-exception-caught  # reported, not hidden
            failure = {"check": None, "assertion": None, "msg": f"error: {error}"}
        if failure:
            failure = {key: failure[key] for key in ("check", "assertion", "msg")}
        results.append(failure)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
