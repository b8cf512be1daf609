#!/usr/bin/python
# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: socket_drain
short_description: Wait until no client holds a connection to a unix socket
version_added: 0.9.0
description:
  - Waits until the server listening on a unix socket holds no connection any more, for O(timeout) seconds at
    most, and reports how many are left. It never fails for connections left.
  - The release switch stops the old slot only once nginx has closed its pooled connections to it, so no
    request is ever written to a connection the app server is closing (nginx retries no POST).
  - Connections are read from C(/proc/net/unix), where a server's end of each accepted connection carries the
    socket's path until the server closes it. Only sockets of the module's network namespace are seen (the
    slots share the host's).
author:
  - pyops maintainers (@pyops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Waits as it would; it never changes anything.
  diff_mode:
    support: none
  platform:
    platforms: linux
options:
  path:
    description: Path the server's socket is bound to (not a link to it).
    type: path
    required: true
  timeout:
    description: Seconds to wait at most; V(0) only counts.
    type: float
    default: 30
"""

EXAMPLES = r"""
- name: Wait until nginx has closed its connections to the old slot (60 s at most)
  pyops.fastapi.socket_drain:
    path: /run/fastapi-app/blue/gunicorn.sock
    timeout: 60
"""

RETURN = r"""
connections:
  description: Connections the server still held when the module returned (0 once drained).
  returned: always
  type: int
waited:
  description: Seconds the module waited.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.pyops.fastapi.plugins.module_utils._socket_drain import wait_until_idle  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            timeout=dict(type="float", default=30),
        ),
        supports_check_mode=True,
    )
    path, timeout = module.params["path"], module.params["timeout"]
    if timeout < 0:
        module.fail_json(msg=f"timeout must be 0 or more, got {timeout:g}.")
    left, waited = wait_until_idle(path, timeout)
    if left:
        module.warn(f"{left} connection(s) to {path} still open after {timeout:g} s.")
    module.exit_json(changed=False, connections=left, waited=round(waited, 3))


if __name__ == "__main__":
    main()
