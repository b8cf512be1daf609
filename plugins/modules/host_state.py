#!/usr/bin/python
# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_state
short_description: Read the state of paths, units, packages, users and groups of a host in one call
version_added: 0.7.0
description:
  - Reads, in one module run, what a role needs to decide which of its tasks have work to do, and returns
    it as structured data, where M(ansible.builtin.stat), M(ansible.builtin.getent), M(ansible.builtin.package_facts),
    M(ansible.builtin.service_facts) or a command would each cost a module run of their own.
  - Paths are described by their type, owner, group, mode and link target, with the SHA-1 checksum of a
    regular file (O(checksum_paths)) and the content of a small file (O(read_paths)) when asked.
  - Units are described by what C(systemctl is-enabled) and C(systemctl is-active) print; packages are the
    names C(dpkg-query) lists as installed; users and groups are read through the system's name service, as
    C(getent) reads them.
  - Every key asked for is returned, whether the thing exists or not, so a caller compares values without
    C(default) filters; what is missing reads as V(false) or V(null).
  - It never changes anything.
author:
  - pyops maintainers (@pyops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads, so it runs in check mode as it does otherwise.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run again with the same parameters against the same state, the result is the same and nothing changes.
    support: full
  platform:
    platforms: posix
options:
  paths:
    description:
      - Paths to describe (RV(paths)). Each is returned under the key it is given as, unchanged (no C(~) or
        variable expansion, no normalisation).
    type: list
    elements: str
    default: []
  checksum_paths:
    description:
      - Paths to describe as O(paths) does, with the SHA-1 checksum of the ones that are regular files
        (RV(paths.checksum)).
      - A link is not checksummed unless O(follow) is set; the checksum is the one M(ansible.builtin.stat)
        returns (C(checksum_algorithm=sha1)) and C(sha1sum) prints.
    type: list
    elements: str
    default: []
  read_paths:
    description:
      - Paths to describe as O(paths) does, with the content of the ones that are regular files, read through
        links (RV(paths.content), base64 as M(ansible.builtin.slurp) returns it).
      - For small files such as a fingerprint or a stamp. A file larger than 1 MiB or unreadable is not read.
    type: list
    elements: str
    default: []
  follow:
    description:
      - Describe what each path leads to (C(stat -L)) instead of the path itself. A dangling link then does
        not exist.
      - RV(paths.target) is the link's target either way.
    type: bool
    default: false
  units:
    description:
      - systemd units to describe (RV(units)), for example V(nginx.service).
    type: list
    elements: str
    default: []
  packages:
    description:
      - Return the names of the installed packages (RV(packages)), as C(dpkg-query) lists them.
    type: bool
    default: false
  users:
    description:
      - User names to look up (RV(users)).
    type: list
    elements: str
    default: []
  groups:
    description:
      - Group names to look up (RV(groups)).
    type: list
    elements: str
    default: []
  python:
    description:
      - An interpreter whose C(sys.version) to return (RV(python_version)), for example V(/usr/bin/python3)
        when virtualenvs are built with it. The module itself may run under another one.
      - The module fails when that interpreter cannot be run.
    type: path
  python_prefix:
    description:
      - Arguments put before O(python), to ask an interpreter somewhere else, for example
        V([podman, run, --rm, --entrypoint, "", IMAGE]) for the C(/usr/bin/python3) of a container image.
    type: list
    elements: str
    default: []
  commands:
    description:
      - Commands to run, by a name of the caller's choice, each as a list of arguments (no shell), for
        example the name V(nginx_version) with V([/usr/sbin/nginx, -v]). Their results are returned
        (RV(commands)), whatever their exit status; a program that cannot be started gives exit status V(127).
      - Only for commands that change nothing.
    type: dict
    default: {}
notes:
  - The module never changes anything, so RV(ignore:changed) is always V(false).
  - Without C(systemctl), the units read as empty strings; without C(dpkg-query), no package is installed.
seealso:
  - module: ansible.builtin.stat
  - module: ansible.builtin.getent
  - module: ansible.builtin.package_facts
  - module: ansible.builtin.service_facts
"""

EXAMPLES = r"""
- name: Read the state of a site's files, nginx's unit and its version
  pyops.fastapi.host_state:
    paths:
      - /var/www/acme
      - /etc/nginx/sites-enabled/example.conf
    units:
      - nginx.service
    commands:
      nginx_version: [/usr/sbin/nginx, -v]
  register: nginx_state

- name: Create the webroot only when it is missing or differs
  ansible.builtin.file:
    path: /var/www/acme
    state: directory
    owner: root
    group: root
    mode: "0755"
  vars:
    found: "{{ nginx_state.paths['/var/www/acme'] }}"
  when: "[found.type, found.owner, found.group, found.mode] != ['directory', 'root', 'root', '0755']"

- name: Checksum the inputs of a service and read what it was started with
  pyops.fastapi.host_state:
    checksum_paths:
      - /srv/app/shared/.env
    read_paths:
      - /srv/app/slots/blue/fingerprint
  register: app_state

- name: Show them
  ansible.builtin.debug:
    msg: >-
      .env: {{ app_state.paths['/srv/app/shared/.env'].checksum }};
      started with {{ app_state.paths['/srv/app/slots/blue/fingerprint'].content | b64decode }}

- name: Read users, groups, packages and the OS Python's version
  pyops.fastapi.host_state:
    users: [app]
    groups: [app]
    packages: true
    python: /usr/bin/python3
  register: base_state
"""

RETURN = r"""
paths:
  description:
    - Each path of O(paths), O(checksum_paths) and O(read_paths), under the key it was given as.
  returned: always
  type: dict
  sample:
    /srv/app/current:
      exists: true
      type: link
      owner: root
      group: root
      uid: 0
      gid: 0
      mode: "0777"
      target: releases/20250101T000000Z
      realpath: /srv/app/releases/20250101T000000Z
      checksum: null
      content: null
  contains:
    exists:
      description:
        - Whether the path exists; with O(follow), whether what it leads to does. Without O(follow) a dangling link
          exists.
      type: bool
      returned: always
    type:
      description:
        - V(file), V(directory), V(link), V(fifo), V(socket), V(block) or V(char); V(null) when it does not exist.
        - V(link) only without O(follow).
      type: str
      returned: always
    owner:
      description: Name of the owner, V(null) when it does not exist or the user id has no name.
      type: str
      returned: always
    group:
      description: Name of the group, V(null) when it does not exist or the group id has no name.
      type: str
      returned: always
    uid:
      description: User id of the owner, V(null) when it does not exist.
      type: int
      returned: always
    gid:
      description: Group id, V(null) when it does not exist.
      type: int
      returned: always
    mode:
      description:
        - Permission bits as four octal digits, as M(ansible.builtin.stat) returns them; V(null) when it does not exist.
      type: str
      returned: always
      sample: "0755"
    target:
      description: What the link points to, as C(readlink) prints it (not resolved); V(null) unless the path is a link.
      type: str
      returned: always
    realpath:
      description: The path with every link resolved, as C(readlink -f) prints it; V(null) when it does not exist.
      type: str
      returned: always
    checksum:
      description:
        - SHA-1 of a regular file of O(checksum_paths) (never of a link unless O(follow)), V(null) otherwise.
      type: str
      returned: always
      sample: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
    content:
      description:
        - Base64 of the content of a regular file of O(read_paths), read through links; V(null) otherwise, and when
          the file is unreadable or larger than 1 MiB.
      type: str
      returned: always
units:
  description: Each unit of O(units) with what systemctl prints, V('') each when systemctl is missing.
  returned: always
  type: dict
  sample: {"nginx.service": {"enabled": "enabled", "active": "active"}}
  contains:
    enabled:
      description: What C(systemctl is-enabled) prints, for example V(enabled), V(disabled) or V(not-found).
      type: str
      returned: always
    active:
      description: What C(systemctl is-active) prints, for example V(active), V(inactive) or V(failed).
      type: str
      returned: always
packages:
  description: Names of the installed packages with O(packages=true), in dpkg's order; V([]) otherwise or without dpkg.
  returned: always
  type: list
  elements: str
  sample: [nginx, python3-venv]
users:
  description: Each user of O(users); the values are V(null) when the user does not exist.
  returned: always
  type: dict
  sample: {"app": {"exists": true, "uid": 999, "gid": 999, "comment": "app application", "home": "/srv/app",
                   "shell": "/usr/sbin/nologin"}}
  contains:
    exists:
      description: Whether the user exists.
      type: bool
      returned: always
    uid:
      description: User id.
      type: int
      returned: always
    gid:
      description: Id of the primary group.
      type: int
      returned: always
    comment:
      description: The comment (GECOS) field.
      type: str
      returned: always
    home:
      description: Home directory.
      type: str
      returned: always
    shell:
      description: Login shell.
      type: str
      returned: always
groups:
  description: Each group of O(groups); the values are V(null) when the group does not exist.
  returned: always
  type: dict
  sample: {"app": {"exists": true, "gid": 999, "members": []}}
  contains:
    exists:
      description: Whether the group exists.
      type: bool
      returned: always
    gid:
      description: Group id.
      type: int
      returned: always
    members:
      description: Users listed as members (not those whose primary group it is).
      type: list
      elements: str
      returned: always
python_version:
  description: C(sys.version) of the interpreter O(python), V(null) without it.
  returned: always
  type: str
  sample: "3.11.2 (main, Mar 13 2023, 12:18:29) [GCC 12.2.0]"
python_platform:
  description:
    - What a virtualenv built with the interpreter O(python) needs of a host to run there, V(null) without it.
  returned: always
  type: dict
  sample: {"python": "3.11", "machine": "x86_64", "libc": "glibc", "libc_version": "2.36"}
commands:
  description: Each command of O(commands) by its name, with its exit status and output (trailing line breaks removed).
  returned: always
  type: dict
  sample: {"nginx_version": {"rc": 0, "stdout": "", "stderr": "nginx version: nginx/1.22.1"}}
  contains:
    rc:
      description: Exit status; V(127) when the program cannot be started.
      type: int
      returned: always
    stdout:
      description: Standard output.
      type: str
      returned: always
    stderr:
      description: Standard error, or why the program could not be started.
      type: str
      returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.pyops.fastapi.plugins.module_utils._host_state import (  # noqa: E402
    HostStateError,
    read_host_state,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="str", default=[]),
            checksum_paths=dict(type="list", elements="str", default=[]),
            read_paths=dict(type="list", elements="str", default=[]),
            follow=dict(type="bool", default=False),
            units=dict(type="list", elements="str", default=[]),
            packages=dict(type="bool", default=False),
            users=dict(type="list", elements="str", default=[]),
            groups=dict(type="list", elements="str", default=[]),
            python=dict(type="path"),
            python_prefix=dict(type="list", elements="str", default=[]),
            commands=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )

    def run(argv):
        return module.run_command(argv, expand_user_and_vars=False, handle_exceptions=False)

    try:
        result = read_host_state(run, **module.params)
    except HostStateError as exc:
        module.fail_json(changed=False, msg=str(exc))

    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
