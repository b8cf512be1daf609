#!/usr/bin/python
# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: os_packages
short_description: Install the Debian packages a role needs, calling apt only for a missing one
version_added: 0.7.0
description:
  - The roles of the collection share one list of the host's installed packages per run (read once,
    by the app role's state read or, the first time it is needed, by M(pyops.fastapi.host_state)) and
    keep it up to date. When every package of O(names) is in it, nothing runs on the host; otherwise
    M(ansible.builtin.apt) installs them (an C(apt-get update) first when the cache is older than
    O(cache_valid_time)).
  - apt alone takes 1-2 s even when every package is there; a no-op run of the collection's roles
    calls it not at all.
author:
  - pyops maintainers (@pyops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports the missing packages as a change without installing them.
  diff_mode:
    support: none
  platform:
    platforms: debian
options:
  names:
    description: The packages that must be installed.
    type: list
    elements: str
    required: true
  cache_valid_time:
    description: Seconds the apt cache is considered fresh before installing.
    type: int
    default: 3600
"""

EXAMPLES = r"""
- name: Install nginx and the certificate tooling
  pyops.fastapi.os_packages:
    names: [nginx, openssl]
"""

RETURN = r"""
missing:
  description: The packages of O(names) that were not installed.
  returned: always
  type: list
  elements: str
  sample: [nginx]
msg:
  description: What was done.
  returned: always
  type: str
"""
