#!/usr/bin/python
# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_reload
short_description: Reload nginx and wait for its new workers, or wait for its old workers to finish
version_added: 0.8.0
description:
  - The one place the collection reloads nginx (the roles' handlers, the release switch, the load balancers'
    upstream changes).
  - O(state=reloaded) tests the whole configuration (C(nginx -t)), reloads C(nginx.service) and waits until nginx's
    master runs a new generation of workers. From then on no new request reaches what the old configuration
    named (a slot about to stop, a drained server); the old workers finish the requests they hold and exit.
    A configuration that fails the test is not reloaded, and the module fails with nginx's message.
  - O(state=old_workers_gone) waits until the workers a reload returned in RV(old_workers) have exited, that is
    until their requests are finished, for O(timeout) seconds at most, and reports those still running; it never
    fails for them.
  - Workers are found in C(/proc), as the children of the master process of C(nginx.service).
author:
  - pyops maintainers (@pyops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: O(state=reloaded) reports a change and does nothing; O(state=old_workers_gone) waits as it would.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  state:
    description:
      - V(reloaded) tests, reloads and waits for the new workers; V(old_workers_gone) waits for O(old_workers) to exit.
    type: str
    choices: [reloaded, old_workers_gone]
    default: reloaded
  only_if_running:
    description:
      - With O(state=reloaded), what to do when C(nginx.service) is not active. V(false) starts it (after the
        test), as a reload of a stopped service does with M(ansible.builtin.systemd_service); V(true) does nothing
        (on a first run nginx starts later with the configuration on disk).
    type: bool
    default: false
  old_workers:
    description: With O(state=old_workers_gone), the PIDs to wait for (RV(old_workers) of a reload).
    type: list
    elements: int
    default: []
  timeout:
    description:
      - Seconds to wait for the new workers (O(state=reloaded)), after which the module fails, or for the old
        workers to exit (O(state=old_workers_gone)).
    type: float
    default: 10
  nginx:
    description: Path of the nginx binary that tests the configuration.
    type: path
    default: /usr/sbin/nginx
"""

EXAMPLES = r"""
- name: Reload nginx now, not at the end of the play
  pyops.fastapi.nginx_reload:
  register: reload

- name: Wait until the old workers have finished their requests (60 s at most)
  pyops.fastapi.nginx_reload:
    state: old_workers_gone
    old_workers: "{{ reload.old_workers }}"
    timeout: 60
"""

RETURN = r"""
reloaded:
  description: Whether nginx was reloaded (false when it was not running, or in check mode).
  returned: state=reloaded
  type: bool
started:
  description: Whether nginx was not running and was started instead of reloaded.
  returned: state=reloaded
  type: bool
master_pid:
  description: PID of nginx's master process.
  returned: when nginx was reloaded
  type: int
old_workers:
  description: nginx's workers before the reload, which finish the requests they hold and exit.
  returned: state=reloaded
  type: list
  elements: int
  sample: [1201, 1202]
new_workers:
  description: The new generation of workers, started by the reload.
  returned: when nginx was reloaded
  type: list
  elements: int
still_running:
  description: With O(state=old_workers_gone), the old workers still running after O(timeout).
  returned: state=old_workers_gone
  type: list
  elements: int
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.pyops.fastapi.plugins.module_utils._nginx_reload import (  # noqa: E402
    children,
    wait_for_exit,
    wait_for_new_workers,
)

SERVICE = "nginx.service"


def reload(module):
    systemctl = module.get_bin_path("systemctl", required=True)
    running = module.run_command([systemctl, "is-active", "--quiet", SERVICE])[0] == 0
    if not running and module.params["only_if_running"]:
        module.exit_json(changed=False, reloaded=False, started=False, old_workers=[])
    if module.check_mode:
        module.exit_json(changed=True, reloaded=False, started=False, old_workers=[])

    rc, out, err = module.run_command([module.params["nginx"], "-t", "-q"])
    if rc != 0:
        module.fail_json(msg=f"nginx -t failed, nginx was not reloaded: {(err or out).strip()}", reloaded=False)
    if not running:
        rc, out, err = module.run_command([systemctl, "start", SERVICE])
        if rc != 0:
            module.fail_json(msg=f"systemctl start {SERVICE} failed: {(err or out).strip()}", reloaded=False)
        module.exit_json(changed=True, reloaded=False, started=True, old_workers=[])
    rc, out, err = module.run_command([systemctl, "show", "--property=MainPID", "--value", SERVICE])
    master = int(out.strip() or 0) if rc == 0 else 0
    if master <= 0:
        module.fail_json(msg=f"{SERVICE} has no main process to reload ({(err or out).strip() or 'not running'}).")
    old = children(master)
    rc, out, err = module.run_command([systemctl, "reload", SERVICE])
    if rc != 0:
        module.fail_json(msg=f"systemctl reload {SERVICE} failed: {(err or out).strip()}", reloaded=False)
    new = wait_for_new_workers(master, old, module.params["timeout"])
    if new is None:
        module.fail_json(
            msg=f"nginx started no new workers within {module.params['timeout']:g} s of the reload.",
            reloaded=True,
            master_pid=master,
            old_workers=sorted(old),
        )
    module.exit_json(
        changed=True, reloaded=True, started=False, master_pid=master, old_workers=sorted(old), new_workers=sorted(new)
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["reloaded", "old_workers_gone"], default="reloaded"),
            only_if_running=dict(type="bool", default=False),
            old_workers=dict(type="list", elements="int", default=[]),
            timeout=dict(type="float", default=10),
            nginx=dict(type="path", default="/usr/sbin/nginx"),
        ),
        supports_check_mode=True,
    )
    if module.params["timeout"] < 0:
        module.fail_json(msg=f"timeout must be 0 or more, got {module.params['timeout']:g}.")
    if module.params["state"] == "old_workers_gone":
        running = wait_for_exit(module.params["old_workers"], module.params["timeout"])
        module.exit_json(changed=False, still_running=running)
    reload(module)


if __name__ == "__main__":
    main()
