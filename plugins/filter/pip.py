# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Why a pip run failed, in one line, for the app role's build. The documentation is pip_failure.yml
in this directory."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

# user[:password]@ of a URL, masked wherever pip printed one.
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")
# pip's warnings while an index does not answer: its final error only says no version was found.
_UNREACHABLE = re.compile(r"connection broken by|Could not fetch URL|Max retries exceeded")
_CAUSE = re.compile(
    r"Failed to establish a new connection: (\[Errno -?\d+\] [^'\"()]+)"
    r"|(Name or service not known|Temporary failure in name resolution|No route to host|Network is unreachable"
    r"|Connection refused|Connection reset by peer|timed out|CERTIFICATE_VERIFY_FAILED)",
    re.IGNORECASE,
)
_INDEXES = re.compile(r"^Looking in indexes: (.+)$")
_DEFAULT_INDEX = "https://pypi.org/simple"


def pip_failure(output, rc=None):
    """One line from pip's output (stdout and stderr, a string or a list of lines): that an index did
    not answer, and why, when pip said so in its retries; then its last three error lines (or last
    three lines)."""
    if isinstance(output, str):
        output = output.splitlines()
    if not isinstance(output, (list, tuple)) or not all(isinstance(line, str) for line in output):
        raise AnsibleFilterError("pip_failure expects pip's output, a string or a list of lines")
    lines = list(dict.fromkeys(line.strip() for line in output if line.strip()))
    unreachable = [line for line in lines if _UNREACHABLE.search(line)]
    rest = [line for line in lines if not _UNREACHABLE.search(line)]
    errors = [line for line in rest if re.search(r"(?i)error", line)]
    parts = []
    if unreachable:
        cause = next((m.group(1) or m.group(2) for m in map(_CAUSE.search, reversed(unreachable)) if m), "")
        index = next((m.group(1) for m in map(_INDEXES.match, lines) if m), _DEFAULT_INDEX)
        parts.append(
            f"it could not reach the package index {index}"
            + (f" ({cause.strip()}, after its retries)." if cause else " (after its retries).")
        )
    parts.extend((errors or rest)[-3:])
    status = "unknown" if rc is None else rc
    return _CREDENTIALS.sub(r"\1***@", f"pip exited with status {status}: " + " ".join(parts))


class FilterModule:
    """pyops.fastapi pip filters."""

    def filters(self):
        return {"pip_failure": pip_failure}
