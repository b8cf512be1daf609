# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a pip requirements file pins, for the app role's build: whether it turns on pip's
hash-checking mode, and which of the server packages it leaves out. The documentation is
requirements_unpinned.yml in this directory."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

# name[extras]==version at the start of a logical line (after joining '\' continuations).
_PIN = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")
_HASH = re.compile(r"(?:^|\s)--hash[=\s]")


def _normalize(name):
    """PEP 503: case and runs of '-', '_', '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _logical_lines(text):
    """The lines pip reads: '\\' continuations joined, comments (' #' or a leading '#') dropped."""
    lines = []
    for raw in re.sub(r"\\\r?\n", " ", text).splitlines():
        if not raw.lstrip().startswith("#"):
            lines.append(raw.split(" #", 1)[0])
    return lines


def requirement_pins(text):
    """{normalized name: version} of every 'name==version' line; comments and options are ignored."""
    if not isinstance(text, str):
        raise AnsibleFilterError("requirement_pins expects the text of a requirements file")
    pins = {}
    for line in _logical_lines(text):
        match = _PIN.match(line)
        if match and not line.lstrip().startswith("-"):
            pins[_normalize(match.group(1))] = match.group(2)
    return pins


def requirements_hashed(text):
    """True when a line carries --hash: pip then checks every requirement's hash (and needs all of them)."""
    if not isinstance(text, str):
        raise AnsibleFilterError("requirements_hashed expects the text of a requirements file")
    return any(_HASH.search(line) for line in _logical_lines(text))


def requirements_unpinned(text, packages):
    """The entries of packages ('name[extras]==version') that text does not pin to the same version."""
    pins = requirement_pins(text)
    missing = []
    for package in packages:
        match = _PIN.fullmatch(str(package))
        if not match:
            raise AnsibleFilterError(f"requirements_unpinned: {package!r} is not name==version")
        if pins.get(_normalize(match.group(1))) != match.group(2):
            missing.append(str(package))
    return missing


class FilterModule:
    """pyops.fastapi requirements filters."""

    def filters(self):
        return {
            "requirements_hashed": requirements_hashed,
            "requirements_unpinned": requirements_unpinned,
        }
