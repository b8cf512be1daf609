# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a release built on one host (the build host of playbooks/build.yml) runs on another. The
documentation is release_artifact_mismatches.yml in this directory."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

_PLATFORM_KEYS = ("python", "machine", "libc", "libc_version")


def _version(text):
    """'2.36' -> (2, 36); a part that is not a number counts as 0."""
    return tuple(int(part) if part.isdigit() else 0 for part in str(text).split("."))


def release_artifact_mismatches(artifact, platform, app_name, base_dir):
    """Why the release in artifact cannot run on a host with this platform, app name and base
    directory: a list of reasons, empty when it can. A virtualenv holds the build host's absolute
    paths (scripts' #! lines, pyvenv.cfg) and compiled code for its Python, machine and C library."""
    if not isinstance(artifact, dict) or not isinstance(platform, dict):
        raise AnsibleFilterError(
            "release_artifact_mismatches expects the artifact and the host's python_platform (dicts)"
        )
    built = artifact.get("platform") or {}
    missing = [key for key in _PLATFORM_KEYS if key not in built or key not in platform]
    if missing:
        raise AnsibleFilterError(
            f"release_artifact_mismatches: no {', '.join(missing)} in the artifact or the host's platform"
        )
    reasons = []
    if artifact.get("app") != app_name:
        reasons.append(f"it is a release of {artifact.get('app')!r}, not of {app_name!r}")
    if artifact.get("base_dir") != base_dir:
        reasons.append(
            f"it was built in {artifact.get('base_dir')}, this host's app_base_dir is {base_dir} "
            "(a virtualenv holds absolute paths)"
        )
    if built["python"] != platform["python"]:
        reasons.append(f"it was built for Python {built['python']}, this host's python3 is {platform['python']}")
    if built["machine"] != platform["machine"]:
        reasons.append(f"it was built on {built['machine']}, this host is {platform['machine']}")
    built_libc, libc = built["libc"] or "an unknown C library", platform["libc"] or "another"
    if built["libc"] != platform["libc"]:
        reasons.append(f"it was built against {built_libc}, this host has {libc}")
    elif _version(platform["libc_version"]) < _version(built["libc_version"]):
        # Code compiled against a C library runs on the same or a newer one, not on an older one.
        reasons.append(
            f"it was built against {built_libc} {built['libc_version']}, older than needed: "
            f"this host has {platform['libc_version']}"
        )
    return reasons


class FilterModule:
    """pyops.fastapi release artifact filters."""

    def filters(self):
        return {"release_artifact_mismatches": release_artifact_mismatches}
