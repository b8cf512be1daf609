# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one mechanism behind every role's preflight: a table of checks, evaluated in order.

Each role declares its checks once, in ``roles/<role>/meta/preflight.yml``: a mapping of section
names to lists of rows. A row is::

    name: Check app_user and app_group     # what the run reports when the row fails
    when: app_source == 'git'              # optional, one or a list: the row applies only when all are true
    loop: "{{ a_list }}"                   # optional, a template or a list: the row is checked once
                                           # per element (``item``)
    index_var: __index                     # optional, with loop: the element's position
    that: [expression, ...]                # every expression must be true (a string is one expression)
    msg: a message, may use {{ templates }}  # rendered only when the row fails

The rows are evaluated by the action plugin ``pyops.fastapi.preflight`` on the controller (no
module runs on the host) and by the unit tests of the hostile-input corpus, with the same code.
The first row that fails stops the evaluation, as the first failed assert used to stop a play.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping

from ansible.errors import AnsibleError
from ansible.template import trust_as_template

ROW_KEYS = frozenset({"name", "when", "loop", "index_var", "that", "msg"})


class PreflightTableError(AnsibleError):
    """The table itself is malformed (a bug in the role, not bad input)."""


def _listed(expressions):
    return [expressions] if isinstance(expressions, str) else list(expressions)


def _expressions(row):
    return _listed(row["that"])


def check_table(table, path="the table"):
    """Raise PreflightTableError unless table maps section names to lists of well-formed rows."""
    if not isinstance(table, Mapping) or not table:
        raise PreflightTableError(f"{path}: must map section names to lists of checks")
    for section, rows in table.items():
        if not isinstance(rows, list):
            raise PreflightTableError(f"{path}: section {section} must be a list of checks")
        for row in rows:
            where = f"{path}: section {section}, check {row.get('name') if isinstance(row, Mapping) else row!r}"
            if not isinstance(row, Mapping):
                raise PreflightTableError(f"{where}: must be a mapping")
            unknown = set(row) - ROW_KEYS
            missing = {"name", "that", "msg"} - set(row)
            if unknown or missing:
                raise PreflightTableError(f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
            if not _expressions(row) or not all(isinstance(expr, str) for expr in _expressions(row)):
                raise PreflightTableError(f"{where}: 'that' must be an expression or a list of them")
            if "index_var" in row and "loop" not in row:
                raise PreflightTableError(f"{where}: index_var needs loop")


def _is_true(templar, expression, local, row_name):
    value = templar.evaluate_expression(trust_as_template(str(expression)), local_variables=local)
    if not isinstance(value, bool):
        raise PreflightTableError(
            f"check {row_name!r}: {expression!r} gave {type(value).__name__} {value!r}, not a boolean"
        )
    return value


def _render(templar, message, local):
    if not local:
        return templar.template(trust_as_template(str(message)))
    scoped = templar.copy_with_new_env(available_variables=ChainMap(dict(local), templar.available_variables))
    return scoped.template(trust_as_template(str(message)))


def run_rows(templar, rows):
    """Evaluate rows in order. Returns None when all pass, else the first failure as a dict with
    ``check`` (the row's name), ``assertion`` (the expression that was false), ``msg`` (the
    rendered message) and ``item`` (the loop element, when the row loops)."""
    for row in rows:
        name = str(row["name"])
        if "loop" in row:
            loop = row["loop"]
            items = templar.template(trust_as_template(loop) if isinstance(loop, str) else loop)
            if not isinstance(items, list):
                raise PreflightTableError(f"check {name!r}: loop gave {type(items).__name__}, not a list")
        else:
            items = [None]
        for index, item in enumerate(items):
            local = {}
            if "loop" in row:
                local["item"] = item
                if "index_var" in row:
                    local[str(row["index_var"])] = index
            if not all(_is_true(templar, condition, local, name) for condition in _listed(row.get("when", []))):
                continue
            for expression in _expressions(row):
                if not _is_true(templar, expression, local, name):
                    failure = {"check": name, "assertion": str(expression), "msg": _render(templar, row["msg"], local)}
                    if "loop" in row:
                        failure["item"] = item
                    return failure
    return None
