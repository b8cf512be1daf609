# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Drive a module's main() the way ansible does, with exit_json/fail_json turned into exceptions.

The same pattern as community.general's tests/unit/plugins/modules/utils.py.
"""

from __future__ import annotations

import contextlib
import json
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:  # ansible-core 2.19+
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # older ansible-core: the module reads its arguments from basic._ANSIBLE_ARGS

    @contextlib.contextmanager
    def patch_module_args(args=None):
        serialized = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        with mock.patch.object(basic, "_ANSIBLE_ARGS", serialized):
            yield


class AnsibleExitJson(Exception):
    """Raised instead of exit_json; `result` holds what the module returned."""

    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result


class AnsibleFailJson(Exception):
    """Raised instead of fail_json; `result` holds what the module returned, msg included."""

    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result


def _exit_json(self, **kwargs):  # pylint: disable=unused-argument
    kwargs.setdefault("changed", False)
    raise AnsibleExitJson(kwargs)


def _fail_json(self, msg, **kwargs):  # pylint: disable=unused-argument
    kwargs["failed"] = True
    kwargs["msg"] = msg
    raise AnsibleFailJson(kwargs)


def run_module(main, args):
    """Run `main()` with `args`; return the exit_json result or raise AnsibleFailJson."""
    with (
        patch_module_args(args),
        mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json),
        mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json),
    ):
        try:
            main()
        except AnsibleExitJson as exc:
            return exc.result
    raise AssertionError("main() returned without calling exit_json or fail_json")
