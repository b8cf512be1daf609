# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The deploy lock's holders (real processes of this machine), shared with the module's tests."""

from __future__ import annotations

from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.test_deploy_lock import (  # noqa: F401  # pylint: disable=unused-import
    dead,
    live,
    processes,
)
