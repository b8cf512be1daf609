# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hostile-input corpus covers every text option of every role (test_preflight_tables.py runs it)."""

from __future__ import annotations

import pytest
from ansible_collections.pyops.fastapi.tests.unit.plugins.test.hostile_corpus import (
    CORPUS,
    ROLES,
    hostile_values,
    role_options,
)

CASES = [(option, kind, value) for option in CORPUS for kind, value in hostile_values(option)]


def test_corpus_size():
    # Reported in the README's security section: options x hostile values.
    assert len(CORPUS) >= 70
    assert len(CASES) >= 700
    assert min(len(hostile_values(option)) for option in CORPUS) >= 5


# Options whose values cannot carry text into a file or command: fixed choices, numbers, booleans,
# or structured data checked field by field (the JSON a health check expects, its status codes).
NOT_TEXT = {"release_health_endpoints[json]", "release_health_endpoints[status]"}


@pytest.mark.parametrize("role", ROLES)
def test_every_text_option_is_in_the_corpus(role):
    covered = {option.split("[")[0] for option in CORPUS}
    missing = []
    for name, spec in role_options(role).items():
        if spec.get("choices") or spec.get("type") in ("int", "bool", "float"):
            continue
        if spec.get("type") == "list" and spec.get("elements") in ("int", "bool"):
            continue
        if name not in covered:
            missing.append(name)
    assert not missing, f"{role}: options missing from the hostile corpus: {missing}"
