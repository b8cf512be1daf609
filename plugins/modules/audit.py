#!/usr/bin/python
# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: audit
short_description: Check a host deployed by pyops.fastapi against the production checklist, read-only
version_added: 0.7.0
description:
  - Runs the production checklist of the collection's guide on the managed host and returns every check with
    whether it passed and what it observed, and the same as a table to show.
  - The checks, in this order (RV(checks[].id)), are V(tls) (TLS protocols and ciphers, Mozilla intermediate or
    modern per O(ssl_profile)), V(certificate) (the served certificate valid now, for O(server_name), more than
    O(certificate_min_days) days left), V(renewal) (in V(acme) mode C(certbot.timer) enabled and active and
    O(renewal_conf) present; in V(selfsigned) mode no more than O(renew_before_days) days before expiry, when a
    C(site.yml) run replaces it), V(redirect) (HTTP to HTTPS), V(headers) (security headers), V(exposure) (the
    C(systemd-analyze security) score of the live slot's unit at most O(exposure_max)), V(env_files) (owner and
    mode of O(env_file) and each slot's C(env)), V(listeners) (no process of the app on a public TCP address),
    V(detailed_health) (C(/health/detailed) refused from O(outside_address) while O(health_path) answers there),
    V(secret_logs) (the values of C(SECRET_KEY) and C(DATABASE_URL) in the environment files absent from the
    journal of the app's units and from O(nginx_log_dir) and O(log_dir)) and V(rate_limit) (a burst of
    O(rate_limit_requests) requests from O(outside_address) meets a 429).
  - Every probe talks to this host only, to nginx on 127.0.0.1 with O(server_name) as C(Host) header and TLS
    server name, from 127.0.0.1 or from O(outside_address).
  - The module does not fail when checks fail, so the report is returned in full; RV(failed_checks) names them
    and the caller decides (the P(pyops.fastapi.audit#role) role fails on any). It fails only on invalid
    options or an internal error. A check that crashes fails its own row with the error as RV(checks[].observed).
  - The P(pyops.fastapi.audit#role) role calls it with the layout of the app role and the settings of the nginx
    and certbot roles; called directly, it needs the same values.
author:
  - pyops maintainers (@pyops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads and probes, so it runs in check mode as it does otherwise.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run again with the same parameters against the same state, the result is the same and nothing changes.
    support: full
  platform:
    platforms: posix
    details: Linux (it reads C(/proc)) with systemd, as the collection deploys it.
options:
  server_name:
    description:
      - Public name of the site (C(nginx_server_name)), sent as C(Host) header and TLS server name; the served
        certificate must hold it.
    type: str
    required: true
  http_port:
    description:
      - Port of nginx's HTTP server on the host (C(nginx_http_port)).
    type: int
    required: true
  https_port:
    description:
      - Port of nginx's HTTPS server on the host (C(nginx_https_port)).
    type: int
    required: true
  ssl_profile:
    description:
      - TLS profile nginx was configured with (C(nginx_ssl_profile)). V(intermediate) accepts TLS 1.2 (Mozilla
        intermediate suites only) and 1.3; V(modern) TLS 1.3 only.
    type: str
    choices: [intermediate, modern]
    required: true
  nginx_log_dir:
    description:
      - Directory of nginx's log files, searched (with its subdirectories, compressed files included) for the secrets.
    type: path
    default: /var/log/nginx
  certbot_mode:
    description:
      - How the certificate is obtained (C(certbot_mode)); decides what the V(renewal) check looks at.
    type: str
    choices: [acme, selfsigned]
    required: true
  renew_before_days:
    description:
      - Days before expiry at which a C(site.yml) run replaces a self-signed certificate (C(certbot_renew_before_days)).
        With O(certbot_mode=selfsigned), fewer days left fail the V(renewal) check.
    type: int
    required: true
  renewal_conf:
    description:
      - certbot's renewal configuration of the certificate, for example
        C(/etc/letsencrypt/renewal/api.example.com.conf). With O(certbot_mode=acme) it must exist.
    type: path
    required: true
  app_name:
    description:
      - Name of the application (C(app_layout.name)). Its units are C(<app_name>@<slot>.service) and its journal
        identifiers C(<app_name>) and C(<app_name>-<slot>).
    type: str
    required: true
  app_user:
    description:
      - System user the application runs as (C(app_layout.user)).
    type: str
    required: true
  app_group:
    description:
      - Group of the application (C(app_layout.group)); the environment files may belong to it or to root.
    type: str
    required: true
  env_file:
    description:
      - The shared environment file (C(app_layout.env_file)). It must exist, owned by root, mode V(0600) or V(0640).
    type: path
    required: true
  secret_names:
    description:
      - The variables of the environment files that hold secrets (C(app_layout.secret_names)); their values are
        searched for in the logs.
    type: list
    elements: str
    default: [SECRET_KEY, DATABASE_URL]
  secret_file_names:
    description:
      - The variables of the environment files that name secret files (C(app_layout.secret_file_names)); each
        line of those files long enough to be a secret is searched for in the logs.
    type: list
    elements: str
    default: []
  log_dir:
    description:
      - The application's log directory (C(app_layout.log_dir)), searched for the secrets.
    type: path
    required: true
  live_link:
    description:
      - The link to the live slot's directory (C(app_layout.live_link)); the slot it names gives the unit whose
        exposure is checked.
    type: path
    required: true
  slots:
    description:
      - The deployment slots (C(app_layout.slots)), by name, for example V(blue) and V(green).
      - Each is a dictionary with at least C(dir) (the slot's directory, whose C(env) file is checked too),
        C(unit) (its systemd unit) and C(log_identifier) (its SYSLOG_IDENTIFIER in the journal). Other keys are ignored.
    type: dict
    required: true
  hook_log_identifier:
    description:
      - The SYSLOG_IDENTIFIER of the release hooks' transient units (C(app_layout.hook_log_identifier)); their
        journal entries are searched for the secrets too.
    type: str
    required: true
  certificate_min_days:
    description:
      - The V(certificate) check fails when the served certificate expires within this many days.
    type: int
    default: 14
  exposure_max:
    description:
      - Highest accepted C(systemd-analyze security) exposure score of the live slot's unit. More than V(0).
    type: float
    default: 1.5
  outside_address:
    description:
      - IPv4 address of the host, outside nginx's allow-list of C(/health/detailed) and its rate-limit exemptions,
        that the checks V(detailed_health) and V(rate_limit) connect from to play a remote client. On Linux every
        127.0.0.0/8 address is local.
    type: str
    default: 127.0.0.2
  rate_limit_requests:
    description:
      - Requests sent to C(/) as fast as one connection allows from O(outside_address); at least one must be
        answered 429. Keep it above the configured burst plus one second's rate.
    type: int
    default: 200
  health_path:
    description:
      - The application's liveness path (the first of C(release_health_endpoints)). The V(detailed_health) check
        requires it to answer 200 from O(outside_address). An empty value means V(/health).
    type: str
    default: /health
notes:
  - The module never changes anything, so RV(ignore:changed) is always V(false).
  - Run it as root (C(become)); the V(env_files), V(listeners) and V(secret_logs) checks read files and
    C(/proc) entries of other users.
  - The secrets are read from the environment files on the host only to look for them; they are not options,
    and no returned value contains them.
  - The V(certificate) check needs the C(cryptography) Python package (C(python3-cryptography), which the nginx
    and certbot roles install) on the managed host; without it that check fails and says so.
requirements:
  - systemd (C(systemctl), C(systemd-analyze), C(journalctl)) on the managed host.
seealso:
  - module: pyops.fastapi.health_check
"""

EXAMPLES = r"""
- name: Run the checklist with the layout and settings of the collection's roles
  pyops.fastapi.audit:
    server_name: api.example.com
    http_port: 80
    https_port: 443
    ssl_profile: intermediate
    certbot_mode: acme
    renew_before_days: 30
    renewal_conf: /etc/letsencrypt/renewal/api.example.com.conf
    app_name: fastapi-app
    app_user: fastapi-app
    app_group: fastapi-app
    env_file: /opt/fastapi-app/shared/.env
    log_dir: /opt/fastapi-app/shared/logs
    live_link: /opt/fastapi-app/slots/live
    slots:
      blue: {dir: /opt/fastapi-app/slots/blue, unit: fastapi-app@blue.service, log_identifier: fastapi-app-blue}
      green: {dir: /opt/fastapi-app/slots/green, unit: fastapi-app@green.service, log_identifier: fastapi-app-green}
    hook_log_identifier: fastapi-app-hook
  become: true
  register: audit

- name: Show the table
  ansible.builtin.debug:
    msg: "{{ audit.table }}"

- name: Fail on any failed check, naming it and what was observed
  ansible.builtin.assert:
    that: audit.failed_checks | length == 0
    fail_msg: "{{ audit.checks | rejectattr('passed') | map(attribute='observed') | join('; ') }}"
"""

RETURN = r"""
msg:
  description: One sentence with the outcome, naming the failed checks.
  returned: always
  type: str
  sample: "2 of 11 checks failed: env_files, headers."
checks:
  description:
    - Every check, in the order they run. A failed check is reported here, the module does not fail for it.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description:
        - Identifier of the check, one of V(tls), V(certificate), V(renewal), V(redirect), V(headers),
          V(exposure), V(env_files), V(listeners), V(detailed_health), V(secret_logs), V(rate_limit).
      type: str
      returned: always
      sample: detailed_health
    title:
      description: Title of the check, as the table shows it.
      type: str
      returned: always
      sample: /health/detailed private
    passed:
      description:
        - Whether the check passed.
        - A check that does not apply to the host passes with RV(checks[].observed) starting with
          V(not applicable:). Only V(detailed_health) does so, when the application has no C(/health/detailed)
          (V(404) from 127.0.0.1, an allowed address); it then only requires O(health_path) to answer 200 from
          O(outside_address), and fails when it does not.
        - A check that crashed (an unexpected error on the host) fails, with RV(checks[].observed) starting with
          V(check crashed:); the other checks still run.
      type: bool
      returned: always
      sample: true
    observed:
      description:
        - What the check saw, or on failure what is wrong. Never a secret's value.
      type: str
      returned: always
      sample: "not applicable: the app has no /health/detailed (404 from loopback); from 127.0.0.2: /health/detailed
        404, /health 200"
table:
  description:
    - The checks as a table for people, one string a line; a header line, then one line for each check of
      RV(checks) in its order, with its title, V(pass) or V(FAIL), and what it observed.
  returned: always
  type: list
  elements: str
  sample:
    - "check                      result  observed"
    - "TLS protocols and ciphers  pass    TLSv1 refused, TLSv1.1 refused, TLSv1.2 accepted, TLSv1.3 accepted"
    - "certificate                pass    api.example.com; valid until 2027-02-24 (89 days)"
failed_checks:
  description: The RV(checks[].id) of the checks that failed, in the order of RV(checks); empty when all passed.
  returned: always
  type: list
  elements: str
  sample: [env_files, headers]
"""

import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.pyops.fastapi.plugins.module_utils._audit import input_problems, run_audit  # noqa: E402

ARGUMENT_SPEC = dict(
    server_name=dict(type="str", required=True),
    http_port=dict(type="int", required=True),
    https_port=dict(type="int", required=True),
    ssl_profile=dict(type="str", choices=["intermediate", "modern"], required=True),
    nginx_log_dir=dict(type="path", default="/var/log/nginx"),
    certbot_mode=dict(type="str", choices=["acme", "selfsigned"], required=True),
    renew_before_days=dict(type="int", required=True),
    renewal_conf=dict(type="path", required=True),
    app_name=dict(type="str", required=True),
    app_user=dict(type="str", required=True),
    app_group=dict(type="str", required=True),
    env_file=dict(type="path", required=True),
    # Names of variables, not their values.
    secret_names=dict(type="list", elements="str", default=["SECRET_KEY", "DATABASE_URL"], no_log=False),
    secret_file_names=dict(type="list", elements="str", default=[], no_log=False),
    log_dir=dict(type="path", required=True),
    live_link=dict(type="path", required=True),
    slots=dict(type="dict", required=True),
    hook_log_identifier=dict(type="str", required=True),
    certificate_min_days=dict(type="int", default=14),
    exposure_max=dict(type="float", default=1.5),
    outside_address=dict(type="str", default="127.0.0.2"),
    rate_limit_requests=dict(type="int", default=200),
    health_path=dict(type="str", default="/health"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    cfg = dict(module.params)

    problems = input_problems(cfg)
    if problems:
        module.fail_json(changed=False, msg="Invalid options: " + "; ".join(problems) + ".")

    try:
        result = run_audit(cfg)
    except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
        # The checks report their own errors; this is a bug of the audit itself, not a finding about the host.
        module.fail_json(
            changed=False,
            msg=f"The audit itself failed (not a check): {type(exc).__name__}: {exc}",
            exception=traceback.format_exc(),
        )

    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
