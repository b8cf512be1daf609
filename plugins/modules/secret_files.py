#!/usr/bin/python
# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: secret_files
short_description: Write a version of an application's secret files and remove the versions nothing names
version_added: 0.9.0
description:
  - Writes each of O(files) to C(<path>/<version>/<name>), owned by root and O(group), mode 0640, in directories
    of mode 0750; a file whose content and mode are right already is left alone.
  - Removes every other directory of O(path) that no file of O(named_by) names (by its path), so that a running
    process never loses the version it was started with. A version is never changed once written, as its name
    comes from the contents (the app role hashes them).
  - The contents are secrets (the option is C(no_log)); the result names files and versions only.
author:
  - pyops maintainers (@pyops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what it would write and remove.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  path:
    description: The directory of the versions (C(app_layout.secrets_dir)), created when files are given.
    type: path
    required: true
  version:
    description: The name of this version's directory (16 lower-case hex digits); ignored without O(files).
    type: str
    default: ""
  files:
    description: Name to content of each secret file; empty writes nothing (and every unnamed version goes).
    type: dict
    default: {}
  group:
    description: Group that may read the files (the app's).
    type: str
    required: true
  named_by:
    description:
      - Files whose text may name a version by its path (the shared environment file and each slot's copy of
        it); a version named in one of them is kept. Missing files name nothing.
    type: list
    elements: path
    default: []
"""

EXAMPLES = r"""
- name: Write the secret files and remove the versions no slot uses
  pyops.fastapi.secret_files:
    path: /opt/fastapi-app/shared/secrets
    version: 3f0c9a1b2d4e5f60
    files:
      JWT_PRIVATE_KEY_FILE: "{{ vault_jwt_private_key }}"
    group: fastapi-app
    named_by: [/opt/fastapi-app/shared/.env, /opt/fastapi-app/slots/blue/env, /opt/fastapi-app/slots/green/env]
  no_log: true
"""

RETURN = r"""
written:
  description: Names of the files written (new or changed).
  returned: always
  type: list
  elements: str
removed:
  description: Versions removed.
  returned: always
  type: list
  elements: str
"""

import grp  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

_VERSION = re.compile(r"[0-9a-f]{16}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _ensure_dir(path, gid, check_mode):
    """Create path (0750 root:gid) or fix its owner and mode; True when something changed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not check_mode:
            os.mkdir(path, 0o750)
            os.chown(path, 0, gid)
            os.chmod(path, 0o750)  # noqa: S103  # the app's group enters it, no one else
        return True
    if (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, gid, 0o750):
        return False
    if not check_mode:
        os.chown(path, 0, gid)
        os.chmod(path, 0o750)  # noqa: S103  # the app's group enters it, no one else
    return True


def _ensure_file(path, content, gid, check_mode):
    """Write content to path (0640 root:gid) unless it is there already; True when something changed."""
    data = content.encode()
    try:
        st = os.lstat(path)
        with open(path, "rb") as handle:
            same = handle.read() == data
        if same and (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, gid, 0o640):
            return False
    except FileNotFoundError:
        pass
    if not check_mode:
        # A new file next to the old one, renamed over it: never a half-written secret.
        tmp = f"{path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chown(tmp, 0, gid)
        os.chmod(tmp, 0o640)
        os.rename(tmp, path)
    return True


def _named(path, files):
    """Versions of path that the text of files names (as <path>/<version>)."""
    pattern = re.compile(re.escape(path.rstrip("/") + "/") + r"([0-9a-f]{16})(?![0-9a-f])")
    named = set()
    for name in files:
        try:
            with open(name, encoding="utf-8", errors="replace") as handle:
                named.update(pattern.findall(handle.read()))
        except FileNotFoundError:
            continue
    return named


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            version=dict(type="str", default=""),
            files=dict(type="dict", default={}, no_log=True),
            group=dict(type="str", required=True),
            named_by=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    path, version, files = module.params["path"], module.params["version"], module.params["files"]
    try:
        gid = grp.getgrnam(module.params["group"]).gr_gid
    except KeyError:
        if not module.check_mode:
            module.fail_json(msg=f"group {module.params['group']} does not exist.")
        # Check mode on a fresh host: the app role would create the group first, then every file.
        module.exit_json(changed=bool(files), written=sorted(files), removed=[])
    if files and not _VERSION.fullmatch(version):
        module.fail_json(msg=f"version must be 16 lower-case hex digits, got {version!r}.")
    bad = sorted(name for name in files if not _NAME.fullmatch(str(name)))
    if bad:
        module.fail_json(msg=f"file names must be [A-Za-z_][A-Za-z0-9_]*, got {bad}.")
    if any(not isinstance(content, str) for content in files.values()):
        module.fail_json(msg="file contents must be strings.")

    changed, written = False, []
    if files:
        changed |= _ensure_dir(path, gid, module.check_mode)
        directory = os.path.join(path, version)
        changed |= _ensure_dir(directory, gid, module.check_mode)
        for name in sorted(files):
            if _ensure_file(os.path.join(directory, name), files[name], gid, module.check_mode):
                written.append(name)

    keep = _named(path, module.params["named_by"]) | ({version} if files else set())
    removed = []
    if os.path.isdir(path):
        for entry in sorted(os.listdir(path)):
            full = os.path.join(path, entry)
            if entry in keep or not os.path.isdir(full) or os.path.islink(full):
                continue
            if not module.check_mode:
                shutil.rmtree(full)
            removed.append(entry)
    module.exit_json(changed=changed or bool(written) or bool(removed), written=written, removed=removed)


if __name__ == "__main__":
    main()
