#!/usr/bin/python
# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_lock
short_description: Let one ansible run at a time deploy an app to a host
version_added: 0.9.0
description:
  - Two runs that deploy the same app to the same host cannot both go on. The lock is one JSON file on the host,
    O(path), naming the run that holds it (the ansible-playbook process on its controller, its user, O(label))
    and until when (O(lease)). Keep it under C(/run), which a reboot (the end of any deploy) empties.
  - O(state=acquired) takes the lock. When another run holds it, the task polls every 0.5 to 1 second for
    O(timeout) seconds at most, then fails with a message naming that run. A lock held by a run of this
    controller whose ansible-playbook process is gone (exited, or its PID reused by another process) is taken
    over at once, with a warning. A lock of another controller cannot be checked from here; it is taken over
    once its lease has expired, by any run. Taking the lock again from the run that holds it changes nothing
    (the lease is not extended).
  - O(state=released) removes the lock if this run holds it; it never removes another run's lock, and warns
    when it finds one.
  - The lock is created, taken over and removed atomically; of runs racing for it, exactly one gets it.
  - The waiting and the check of the holder's process run on the controller (the action plugin); the module
    runs on the host and never waits.
author:
  - pyops maintainers (@pyops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details: Reports whether the lock would be acquired, taken over or released; writes nothing, waits as it would.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action:
    support: full
    details: The action plugin identifies the run on the controller and waits there.
  async:
    support: none
  bypass_host_loop:
    support: none
notes:
  - Run it as the same user every time (as root with O(ignore:become=true)). The module refuses a lock file owned
    by another user, who could have written any holder into it.
  - A run is identified by its controller's host name and the PID and start time of its ansible-playbook
    process. Two controllers with the same host name could take each other's lock over.
  - Acquire it before the first change of the deploy and release it in an C(always) section, so that a failed
    run releases it too; the lock of a run killed before its release is taken over by the next run of the same
    controller, or by any run once its lease has expired.
options:
  path:
    description:
      - The lock file on the host, one per app, for example V(/run/lock/pyops-fastapi-myapp.lock).
      - Its directory must exist. The file is created with mode C(0644).
    type: path
    required: true
  state:
    description:
      - V(acquired) takes the lock, waiting for O(timeout) seconds at most; V(released) gives it back.
    type: str
    choices: [acquired, released]
    default: acquired
  lease:
    description:
      - Seconds after which the lock may be taken over by any run, the holder alive or not, counted from when it
        was acquired (on the host's clock). Make it longer than the longest deploy.
    type: int
    default: 3600
  timeout:
    description:
      - With O(state=acquired), seconds to wait while another run holds the lock, after which the task fails.
        V(0) does not wait.
    type: float
    default: 0
  label:
    description:
      - Free text stored with the holder and shown to a run that finds the lock held, for example the playbook
        and the release. The action plugin uses the play's name when it is not set.
    type: str
  holder:
    description:
      - The run, set by the action plugin on the controller; a task does not set it.
    type: dict
    suboptions:
      controller:
        description: Host name of the controller.
        type: str
        required: true
      pid:
        description: PID of the ansible-playbook process on the controller.
        type: int
        required: true
      pid_start:
        description: Start time of that process (field 22 of C(/proc/<pid>/stat)), which tells a reused PID apart.
        type: int
      user:
        description: The user that runs ansible-playbook.
        type: str
  takeover:
    description:
      - Set by the action plugin, not by a task. The exact record of a holder proven gone; the lock is replaced
        only if it still holds exactly this record.
    type: dict
"""

EXAMPLES = r"""
- name: Deploy myapp, one run at a time
  become: true
  block:
    - name: Take the deploy lock of myapp (wait 10 minutes at most for another run)
      pyops.fastapi.deploy_lock:
        path: /run/lock/pyops-fastapi-myapp.lock
        timeout: 600
        label: "deploy myapp {{ app_version | default('') }}"

    - name: Deploy
      ansible.builtin.include_role:
        name: pyops.fastapi.app
  always:
    - name: Give the deploy lock back
      pyops.fastapi.deploy_lock:
        path: /run/lock/pyops-fastapi-myapp.lock
        state: released
"""

RETURN = r"""
acquired:
  description: Whether this run holds the lock (in check mode, whether it would).
  returned: state=acquired
  type: bool
released:
  description: Whether the lock was this run's and was removed (in check mode, would be).
  returned: state=released
  type: bool
holder:
  description:
    - The lock's record after the task; this run's when RV(acquired), otherwise the run that holds it.
    - With O(state=released), the record that was found, if any.
  returned: when there is a lock
  type: dict
  contains:
    controller:
      description: Host name of the holder's controller.
      type: str
    pid:
      description: PID of the holder's ansible-playbook process.
      type: int
    pid_start:
      description: Start time of that process, in clock ticks after the controller's boot.
      type: int
    user:
      description: The user that runs it.
      type: str
    label:
      description: The holder's O(label).
      type: str
    since:
      description: When the lock was acquired, in seconds since the epoch (host's clock).
      type: int
    expires:
      description: When its lease expires, in seconds since the epoch.
      type: int
  sample:
    controller: ops-laptop
    pid: 48211
    pid_start: 9211843
    user: alice
    label: deploy myapp 1.4.2
    since: 1767225600
    expires: 1767229200
taken_over:
  description: The record of the run the lock was taken from (gone from its controller, or its lease expired).
  returned: when a lock was taken over
  type: dict
waited:
  description: Seconds spent waiting for the lock.
  returned: state=acquired
  type: float
msg:
  description: What was done.
  returned: always
  type: str
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.pyops.fastapi.plugins.module_utils._deploy_lock import (  # noqa: E402
    LockError,
    acquire,
    release,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["acquired", "released"], default="acquired"),
            lease=dict(type="int", default=3600),
            timeout=dict(type="float", default=0),
            label=dict(type="str"),
            holder=dict(
                type="dict",
                options=dict(
                    controller=dict(type="str", required=True),
                    pid=dict(type="int", required=True),
                    pid_start=dict(type="int"),
                    user=dict(type="str"),
                ),
            ),
            takeover=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    path, holder = module.params["path"], module.params["holder"]
    if holder is None:
        module.fail_json(msg="holder is set by the pyops.fastapi.deploy_lock action plugin, which did not run.")
    if holder["pid"] <= 0:
        module.fail_json(msg=f"holder.pid must be a PID, got {holder['pid']}.")
    if not os.path.isabs(path):
        module.fail_json(msg=f"path must be absolute, got {path}.")
    if module.params["lease"] < 1:
        module.fail_json(msg=f"lease must be 1 or more seconds, got {module.params['lease']}.")
    try:
        if module.params["state"] == "released":
            result = release(path, holder, check_mode=module.check_mode)
        else:
            result = acquire(
                path,
                holder,
                module.params["lease"],
                label=module.params["label"],
                takeover=module.params["takeover"],
                check_mode=module.check_mode,
            )
    except (LockError, OSError) as exc:
        module.fail_json(msg=f"deploy lock {path}: {exc}")
    warning = result.pop("warning", None)
    if warning:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
