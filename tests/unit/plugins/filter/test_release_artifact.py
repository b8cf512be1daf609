# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The check a target runs before it takes a release built on the build host."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.pyops.fastapi.plugins.filter.release_artifact import release_artifact_mismatches

PLATFORM = {"python": "3.13", "machine": "x86_64", "libc": "glibc", "libc_version": "2.41"}
ARTIFACT = {"app": "fastapi-app", "base_dir": "/opt/fastapi-app", "platform": PLATFORM}


def test_the_same_platform_and_layout_match():
    assert release_artifact_mismatches(ARTIFACT, dict(PLATFORM), "fastapi-app", "/opt/fastapi-app") == []


def test_a_newer_c_library_on_the_target_matches():
    newer = {**PLATFORM, "libc_version": "2.41.1"}
    assert release_artifact_mismatches(ARTIFACT, newer, "fastapi-app", "/opt/fastapi-app") == []
    assert (
        release_artifact_mismatches(ARTIFACT, {**PLATFORM, "libc_version": "3.0"}, "fastapi-app", "/opt/fastapi-app")
        == []
    )


@pytest.mark.parametrize(
    ("change", "app", "base", "reason"),
    [
        ({"python": "3.11"}, "fastapi-app", "/opt/fastapi-app", "built for Python 3.13, this host's python3 is 3.11"),
        ({"machine": "aarch64"}, "fastapi-app", "/opt/fastapi-app", "built on x86_64, this host is aarch64"),
        ({"libc": "musl"}, "fastapi-app", "/opt/fastapi-app", "built against glibc, this host has musl"),
        ({"libc": ""}, "fastapi-app", "/opt/fastapi-app", "built against glibc, this host has another"),
        (
            {"libc_version": "2.36"},
            "fastapi-app",
            "/opt/fastapi-app",
            "glibc 2.41, older than needed: this host has 2.36",
        ),
        ({}, "orders-api", "/opt/fastapi-app", "a release of 'fastapi-app', not of 'orders-api'"),
        ({}, "fastapi-app", "/srv/app", "built in /opt/fastapi-app, this host's app_base_dir is /srv/app"),
    ],
)
def test_each_difference_is_named(change, app, base, reason):
    reasons = release_artifact_mismatches(ARTIFACT, {**PLATFORM, **change}, app, base)
    assert len(reasons) == 1 and reason in reasons[0], reasons


def test_every_difference_is_named_at_once():
    other = {"python": "3.12", "machine": "aarch64", "libc": "glibc", "libc_version": "2.30"}
    assert len(release_artifact_mismatches(ARTIFACT, other, "x", "/srv/x")) == 5


def test_a_platform_without_its_keys_is_an_error():
    with pytest.raises(AnsibleFilterError, match="no libc_version"):
        release_artifact_mismatches(ARTIFACT, {"python": "3.13", "machine": "x86_64", "libc": "glibc"}, "a", "/b")
    with pytest.raises(AnsibleFilterError, match="expects the artifact"):
        release_artifact_mismatches(None, PLATFORM, "a", "/b")
