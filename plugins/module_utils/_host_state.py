# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading logic of the pyops.fastapi.host_state module.

Private to the collection (leading underscore): no compatibility promise outside it.
Standard library only, so it runs on any managed host's Python 3.9+. Commands (systemctl, dpkg-query,
an interpreter, the caller's commands) go through a `run(argv) -> (rc, stdout, stderr)` callable that
raises OSError when the program cannot be started: AnsibleModule.run_command in the module, subprocess
in the unit tests.
"""

from __future__ import annotations

import base64
import grp
import hashlib
import json
import os
import pwd
import stat

# read_paths: larger files are not returned (content is None); the files read are a few hundred bytes.
READ_LIMIT = 1024 * 1024
CHUNK = 64 * 1024
# rc of a command whose program cannot be started, as a shell reports it.
RC_NOT_FOUND = 127
# One line of JSON: sys.version (virtualenv keys hash it) and what a virtualenv built with this
# interpreter needs of another host to run there (the same minor version, machine and C library).
PYTHON_VERSION_CODE = (
    "import json, platform, sys; print(json.dumps({'version': sys.version, 'platform': {"
    "'python': '%d.%d' % sys.version_info[:2], 'machine': platform.machine(), 'libc': platform.libc_ver()[0], "
    "'libc_version': platform.libc_ver()[1]}}))"
)
DPKG_QUERY = ["dpkg-query", "--show", "--showformat=${db:Status-Status} ${Package}\\n"]

FILE_TYPES = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "link"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISBLK, "block"),
    (stat.S_ISCHR, "char"),
)


class HostStateError(Exception):
    """Raised when something the caller relies on cannot be read (the interpreter of `python`, bad options)."""


def file_type(mode):
    """Name of the file type of st_mode: file, directory, link, fifo, socket, block or char."""
    for test, name in FILE_TYPES:
        if test(mode):
            return name
    return "unknown"


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def sha1_of(path):
    """SHA-1 of a file's content, hex: the value of ansible.builtin.stat's checksum (and of sha1sum)."""
    digest = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_base64(path, limit=READ_LIMIT):
    """Base64 of a regular file's content read through links, or None when it is not one, unreadable or too large."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit:
        return None
    return base64.b64encode(data).decode("ascii")


def path_state(path, follow=False, checksum=False, read=False):
    """What one path is, as a dict with the same keys whether or not it exists.

    exists, type, owner, group, uid, gid and mode describe the path itself (os.lstat), or with `follow`
    what it leads to (os.stat, as stat -L; a dangling link then does not exist). target is readlink's
    answer (not resolved) when the path itself is a link, realpath what readlink -f would say. checksum
    is the SHA-1 of a regular file (never of a link unless `follow`), content its base64 (read through
    links), each when asked.
    """
    result = {
        "exists": False,
        "type": None,
        "owner": None,
        "group": None,
        "uid": None,
        "gid": None,
        "mode": None,
        "target": None,
        "realpath": None,
        "checksum": None,
        "content": None,
    }
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except (OSError, ValueError):
        st = None
    if os.path.islink(path):
        try:
            result["target"] = os.readlink(path)
        except OSError:
            pass
    if st is not None:
        kind = file_type(st.st_mode)
        result.update(
            exists=True,
            type=kind,
            owner=user_name(st.st_uid),
            group=group_name(st.st_gid),
            uid=st.st_uid,
            gid=st.st_gid,
            mode=f"{stat.S_IMODE(st.st_mode):04o}",
            realpath=os.path.realpath(path),
        )
        if checksum and kind == "file":
            try:
                result["checksum"] = sha1_of(path)
            except OSError:
                pass
    if read:
        result["content"] = read_base64(path)
    return result


def user_state(name):
    """getent passwd: uid, gid, comment (GECOS), home and shell; exists false and None values when absent."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return {"exists": False, "uid": None, "gid": None, "comment": None, "home": None, "shell": None}
    return {
        "exists": True,
        "uid": entry.pw_uid,
        "gid": entry.pw_gid,
        "comment": entry.pw_gecos,
        "home": entry.pw_dir,
        "shell": entry.pw_shell,
    }


def group_state(name):
    """getent group: gid and members; exists false and None values when absent."""
    try:
        entry = grp.getgrnam(name)
    except KeyError:
        return {"exists": False, "gid": None, "members": None}
    return {"exists": True, "gid": entry.gr_gid, "members": list(entry.gr_mem)}


def run_argv(run, argv):
    """{rc, stdout, stderr} of a command, trailing line breaks removed; rc 127 when it cannot be started."""
    try:
        rc, stdout, stderr = run(list(argv))
    except OSError as exc:
        return {"rc": RC_NOT_FOUND, "stdout": "", "stderr": str(exc)}
    return {"rc": rc, "stdout": (stdout or "").rstrip("\r\n"), "stderr": (stderr or "").rstrip("\r\n")}


def unit_state(run, unit):
    """What systemctl is-enabled and is-active print for a unit; '' each when systemctl is missing or silent."""
    return {
        query: run_argv(run, ["systemctl", f"is-{query}", "--", unit])["stdout"].strip()
        for query in ("enabled", "active")
    }


def installed_packages(run):
    """Names of the packages dpkg has installed (status "installed"), in dpkg's order; [] without dpkg."""
    result = run_argv(run, DPKG_QUERY)
    prefix = "installed "
    return [line[len(prefix) :].strip() for line in result["stdout"].splitlines() if line.startswith(prefix)]


def python_version(run, interpreter, prefix=()):
    """sys.version of another interpreter and its platform (python_version, python_platform). `prefix`
    runs it elsewhere, e.g. in a container image (podman run --rm IMAGE)."""
    result = run_argv(run, [*prefix, interpreter, "-c", PYTHON_VERSION_CODE])
    if result["rc"] != 0:
        raise HostStateError(
            f"{interpreter} could not tell its version (exit status {result['rc']}): {result['stderr'] or 'no message'}"
        )
    found = json.loads(result["stdout"])
    return found["version"], found["platform"]


def check_commands(commands):
    """Each command must be a non-empty list of strings (argv)."""
    for name, argv in (commands or {}).items():
        if not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(arg, str) for arg in argv):
            raise HostStateError(f"commands.{name} must be a non-empty list of strings (argv), not {argv!r}")


def read_host_state(
    run,
    *,
    paths=(),
    checksum_paths=(),
    read_paths=(),
    follow=False,
    units=(),
    packages=False,
    users=(),
    groups=(),
    python=None,
    python_prefix=(),
    commands=None,
):
    """Everything asked for, in one dict (the module's return values, changed aside)."""
    check_commands(commands)
    version, platform = python_version(run, python, python_prefix or ()) if python else (None, None)
    checksum_set = set(checksum_paths or ())
    read_set = set(read_paths or ())
    path_results = {}
    for path in [*(paths or ()), *(checksum_paths or ()), *(read_paths or ())]:
        if path not in path_results:
            path_results[path] = path_state(path, follow=follow, checksum=path in checksum_set, read=path in read_set)
    return {
        "paths": path_results,
        "units": {unit: unit_state(run, unit) for unit in units or ()},
        "packages": installed_packages(run) if packages else [],
        "users": {name: user_state(name) for name in users or ()},
        "groups": {name: group_state(name) for name in groups or ()},
        "python_version": version,
        "python_platform": platform,
        "commands": {name: run_argv(run, argv) for name, argv in (commands or {}).items()},
    }
