#!/usr/bin/python
# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: Evaluate a role's table of input checks, in order, on the controller
version_added: 0.7.0
description:
  - Every role of the collection declares its checks once, in C(meta/preflight.yml) next to
    C(meta/argument_specs.yml), as a mapping of section names to lists of checks. The argument specs
    check types and choices; these checks check values, formats and the relations between variables.
  - A check has a C(name), an expression or a list of expressions in C(that) (all must be true), and a
    C(msg) template rendered only when it fails. Optional C(when) (the check applies only when true),
    C(loop) (a template giving a list; the check runs once per element, as C(item)) and C(index_var)
    (the element's position).
  - Checks run in order and the first that fails stops the task, with its message, its name in RV(check)
    and the false expression in RV(assertion). A task file splits the table into sections where a
    check needs something read from the host first.
  - Runs only on the controller; nothing is sent to the managed host.
author:
  - pyops maintainers (@pyops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  section:
    description: The section of the table to evaluate.
    type: str
    required: true
  table:
    description:
      - The table file. Defaults to C(meta/preflight.yml) of the role the task runs in.
    type: path
"""

EXAMPLES = r"""
- name: Check the role's input
  pyops.fastapi.preflight:
    section: input
"""

RETURN = r"""
checks:
  description: How many checks the section has.
  returned: always
  type: int
  sample: 16
check:
  description: The name of the check that failed.
  returned: failure
  type: str
  sample: Check app_name
assertion:
  description: The expression of that check that was false.
  returned: failure
  type: str
  sample: app_name is match('[a-z][a-z0-9-]{0,30}\Z')
item:
  description: The loop element the check failed on, when the check loops.
  returned: failure of a check with a loop
  type: raw
msg:
  description: The failed check's message, or how many checks passed.
  returned: always
  type: str
"""
