# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make `ansible_collections.pyops.fastapi` importable when pytest runs from a checkout.

ansible-test units runs from an ansible_collections/pyops/fastapi tree and needs nothing; a plain
`pytest tests/unit` from the repository finds the collection through collections/ansible_collections
(the symlink ansible.cfg also uses).
"""

from __future__ import annotations

import sys
from pathlib import Path

COLLECTION_ROOT = Path(__file__).resolve().parents[2]

try:
    import ansible_collections.pyops.fastapi.plugins  # noqa: F401  # pylint: disable=unused-import
except ImportError:
    if COLLECTION_ROOT.parent.parent.name == "ansible_collections":
        sys.path.insert(0, str(COLLECTION_ROOT.parents[2]))
    else:
        sys.path.insert(0, str(COLLECTION_ROOT / "collections"))
