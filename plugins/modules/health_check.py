#!/usr/bin/python
# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: health_check
short_description: Wait until an application's liveness and readiness endpoints pass
version_added: 0.1.0
description:
  - Polls a list of HTTP endpoints of an application (by default V(/health) then V(/ready)) until every one
    answers with an accepted status code and, optionally, a body that contains a given JSON subset or matches
    a regular expression.
  - Meant as the gate after a deploy or a reload. It replaces the M(ansible.builtin.uri) with C(until),
    C(retries) and C(delay) idiom, which cannot run in check mode, sleeps a fixed delay between tries and
    reports little when it fails.
  - The first delay between polls is O(interval); it grows by O(backoff) up to O(max_interval), so the module
    notices readiness at most about O(max_interval) after it happens (0.2 s with the defaults).
  - In each poll the endpoints are checked in order and the poll stops at the first one that fails, so
    V(/ready) is only asked once V(/health) passes.
  - Failures name the endpoint and the cause (connection refused, timed out, TLS error, wrong status, body
    mismatch with the field, the expected and the received value) and return the last response body.
  - At most 1 MiB of a response body is read, so a huge body cannot exhaust the managed host's memory. A longer
    body fails the endpoint when O(endpoints[].json) or O(endpoints[].body_regex) has to check it, and is
    otherwise ignored. JSON nested more than 100 levels deep fails O(endpoints[].json) the same way and is
    not returned.
  - Redirects are followed within the origin (scheme, host and port) of O(url) only, unless
    O(allow_cross_origin_redirects) allows more; see O(follow_redirects).
  - Uses only the Python standard library and C(ansible.module_utils.urls) on the managed host.
author:
  - pyops maintainers (@pyops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only sends read requests (V(GET) or V(HEAD)), so it runs in check mode as it does otherwise.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run again with the same parameters against the same state, the result is the same and nothing changes.
    support: full
  platform:
    platforms: posix
options:
  url:
    description:
      - Base URL of the application, with scheme, host and port, for example V(http://127.0.0.1:8000) or
        V(https://127.0.0.1).
      - A path in it is kept and each endpoint's O(endpoints[].path) is appended to it.
      - When O(unix_socket) is set, this URL only gives the scheme and the default C(Host) header;
        it defaults to V(http://localhost) then.
      - One of O(url) and O(unix_socket) is required.
      - A user name and password in it, for example V(https://deploy:token@127.0.0.1), are sent (HTTP basic or
        digest authentication) when the server asks for them with a C(401) response and C(WWW-Authenticate), to
        the endpoints and on redirects to a relative location or to O(host), never to another origin.
        Percent-encode C(/), C(?), C(#), C(@) and spaces in them (C(%2F), C(%3F), C(%23), C(%40), C(%20)); a URL
        with an C(@) other than the one that ends them is refused.
      - The module never returns them or puts them in a message, the returned arguments (RV(ignore:invocation))
        included; every URL it reports shows V(***) instead, for example V(https://***@127.0.0.1/ready).
    type: str
  unix_socket:
    description:
      - Send the requests over this unix socket instead of TCP, for example when Gunicorn binds a socket.
    type: path
  endpoints:
    description:
      - The checks, in order. All of them must pass in the same poll.
    type: list
    elements: dict
    default:
      - path: /health
      - path: /ready
    suboptions:
      path:
        description:
          - Path of the endpoint, appended to the path of O(url). It may carry a query string.
        type: str
        required: true
      status:
        description:
          - Accepted HTTP status codes.
        type: list
        elements: int
        default: [200]
      json:
        description:
          - 'A subset the JSON body must contain, for example V({"status": "ready"}).'
          - Objects match when each key given here is present and matches recursively; other values must be
            equal, and booleans do not match numbers.
        type: dict
      body_regex:
        description:
          - A Python regular expression that must match somewhere in the body (C(re.search)).
        type: str
  host:
    description:
      - Name sent in the C(Host) header, and the TLS server name (SNI) the certificate is checked against,
        when O(url) points at an address, for example V(api.example.test) with O(url=https://127.0.0.1).
      - The port of O(url) is added to the C(Host) header when it is not the default one of the scheme.
      - Applies to every request and to redirects within the origin of O(url), never to another origin;
        overrides a C(Host) key in O(headers).
      - A redirect to this name on the scheme and port of O(url) (as FastAPI and nginx write absolute redirects
        from the C(Host) header) is to the same server, so it is sent to the address of O(url), with no name lookup.
    type: str
  headers:
    description:
      - Additional HTTP headers sent with every request, for example an C(Authorization) header.
      - They are sent on redirects within the origin of O(url) only, never to another origin, since any of
        them may carry a credential (C(Authorization), C(Cookie), C(Proxy-Authorization), an API key).
      - Not logged (C(no_log)), since they may carry a credential; their values are hidden in the module's
        output and its returned arguments.
    type: dict
    default: {}
  method:
    description:
      - HTTP method. V(HEAD) has no body, so do not combine it with O(endpoints[].json) or O(endpoints[].body_regex).
    type: str
    choices: [GET, HEAD]
    default: GET
  validate_certs:
    description:
      - Whether to verify the server's TLS certificate and name.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA certificates to trust instead of the system ones, for example a private CA.
    type: path
  client_cert:
    description:
      - PEM file with the client certificate for TLS client authentication. It may also hold the key.
    type: path
  client_key:
    description:
      - PEM file with the private key of O(client_cert), when that file does not hold it.
    type: path
  follow_redirects:
    description:
      - Which redirects to follow.
      - V(safe) follows redirects of V(GET) and V(HEAD) requests, V(all) follows all of them, V(none) follows none,
        so a redirect is judged as its own status code (add it to O(endpoints[].status) to accept it).
      - With V(safe) and V(all), only redirects within the origin of O(url) (the same scheme, host and port,
        or O(host) on that scheme and port) are followed, with O(headers) and the C(Host) header, at most
        10 in a row. A redirect to another origin is not followed, so the endpoint fails with a message that
        names it, unless its status code is in O(endpoints[].status) or O(allow_cross_origin_redirects) is set.
    type: str
    choices: [none, safe, all]
    default: safe
  allow_cross_origin_redirects:
    description:
      - Follow redirects to another origin (a scheme, host or port other than those of O(url)) too, and judge the
        response they lead to.
      - The other origin gets none of O(headers), no forced C(Host) header or TLS server name, no client
        certificate, and is reached over TCP even with O(unix_socket). O(validate_certs) and O(ca_path) apply.
      - Leave it off for a deploy gate, where a redirect away from the application is a misconfiguration
        to report, not a pass.
    type: bool
    default: false
    version_added: 0.3.0
  use_proxy:
    description:
      - Whether to use the proxy given by the C(http_proxy), C(https_proxy) and C(no_proxy) environment
        variables of the managed host. Never used with O(unix_socket).
    type: bool
    default: true
  timeout:
    description:
      - Seconds one request may take in all, redirects included (connecting, the TLS handshake, the response
        and its body), so a server that sends a byte now and then cannot hold it longer.
      - Name resolution is not interrupted; the resolver's own timeouts bound it.
    type: float
    default: 5
  wait_timeout:
    description:
      - Overall deadline, in seconds, for all endpoints to pass. The last poll starts at the deadline at the
        latest, and a request still running then is stopped at most 1 s (or O(timeout), when shorter) after it,
        so the module returns within about O(wait_timeout) + 1 s.
      - V(0) checks each endpoint once without waiting, each request within its O(timeout).
    type: float
    default: 60
  interval:
    description:
      - First delay, in seconds, between polls, and the delay between the passing polls O(successes) asks for.
    type: float
    default: 0.1
  backoff:
    description:
      - Factor by which the delay grows after each failing poll, up to O(max_interval).
      - V(1) polls at a fixed O(interval).
    type: float
    default: 1.5
  max_interval:
    description:
      - Largest delay, in seconds, between polls. It bounds how late readiness is noticed.
    type: float
    default: 0.2
  successes:
    description:
      - Number of consecutive passing polls required before the module reports success.
    type: int
    default: 1
  unit:
    description:
      - The systemd units that run the server, for example V(app@green.service), and the other processes of the
        same release (a queue worker). After each failing poll, once when the endpoints pass and after each poll
        of O(watch), the module reads their state (C(systemctl show)); when one has stopped, failed or been
        restarted since it was started, the release can no longer pass, and the module fails at once saying so
        instead of waiting for O(wait_timeout). A unit that starts for the first time (C(activating)) is
        waited for.
      - A list since 0.9.0 (a single name is still accepted).
    type: list
    elements: str
  watch:
    description:
      - Seconds to keep checking after the endpoints have passed, polling every O(max_interval). The first
        failing poll, or O(unit) stopping or restarting, fails the module at once with what happened and when.
      - The release role's watch window after a switch (a release that passes its gate and dies seconds later).
      - V(0) (the default) returns as soon as the endpoints pass.
    type: float
    default: 0
    version_added: 0.9.0
notes:
  - The module never changes anything, so RV(ignore:changed) is always V(false).
  - The whole-request O(timeout) relies on C(SIGALRM), as modules run in the main thread of their process.
    Where that signal is already in use, only the time each read of the response may take is limited.
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.wait_for
"""

EXAMPLES = r"""
- name: Wait for the application behind Gunicorn to be live and ready
  pyops.fastapi.health_check:
    url: http://127.0.0.1:8000
    wait_timeout: 60

- name: Check readiness through nginx by name, with a private CA
  pyops.fastapi.health_check:
    url: https://127.0.0.1
    host: api.example.test
    ca_path: /etc/ssl/private-ca.pem
    endpoints:
      - path: /health
      - path: /ready
        json:
          status: ready
          checks:
            database: ok

- name: Require three passing polls in a row over Gunicorn's unix socket
  pyops.fastapi.health_check:
    unix_socket: /run/fastapi-app/gunicorn.sock
    endpoints:
      - path: /ready
        status: [200, 204]
        body_regex: "ready|ok"
    successes: 3
    wait_timeout: 120
  register: app_health

- name: Accept the login redirect of a protected page without following it to the identity provider
  pyops.fastapi.health_check:
    url: https://127.0.0.1
    host: app.example.test
    endpoints:
      - path: /admin/
        status: [302]

- name: Show how long the application took to become ready
  ansible.builtin.debug:
    msg: "Ready after {{ app_health.elapsed }} s and {{ app_health.attempts }} polls"
"""

RETURN = r"""
msg:
  description:
    - One sentence with the outcome; on failure it names the endpoint and the cause.
    - A user name and password in a URL it quotes are replaced by V(***).
  returned: always
  type: str
  sample: All 2 endpoints passed after 4 attempts in 0.42 s.
elapsed:
  description: Seconds from the first poll to the outcome.
  returned: always
  type: float
  sample: 0.42
attempts:
  description: Number of polls made (a poll checks the endpoints in order until one fails).
  returned: always
  type: int
  sample: 4
endpoints:
  description: Outcome of the latest check of each endpoint, in the order of O(endpoints).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Path of the endpoint as given.
      type: str
      returned: always
      sample: /ready
    url:
      description: URL requested, with V(***) in place of a user name and password in it.
      type: str
      returned: always
      sample: http://127.0.0.1:8000/ready
    status:
      description: HTTP status code of the latest response, V(null) when there was none.
      type: int
      returned: always
      sample: 200
    latency_ms:
      description: Milliseconds the latest request took, body included; V(null) when the endpoint was not checked.
      type: float
      returned: always
      sample: 3.2
    attempts:
      description: Number of requests sent to this endpoint.
      type: int
      returned: always
      sample: 4
    json:
      description:
        - The latest body parsed as JSON, V(null) when it is not JSON, is longer than 1 MiB or nests more than
          100 levels deep.
      type: raw
      returned: always
      sample: {"status": "ready"}
    passed:
      description: Whether the latest check passed.
      type: bool
      returned: always
      sample: true
    reason:
      description: Why it passed or failed. A user name and password in a URL it quotes are replaced by V(***).
      type: str
      returned: always
      sample: "JSON field status: expected \"ready\", got \"starting\""
    error:
      description:
        - Kind of failure of the latest check, V(null) when it passed or was not checked.
        - V(connection_refused), V(timeout), V(tls), V(connection) (other connection errors, a missing unix
          socket, an invalid HTTP response), V(status) (a redirect that was not followed included) or V(body).
      type: str
      returned: always
      sample: status
body:
  description: The last response body of the failing endpoint, truncated to 1 KiB; V(null) when there was no response.
  returned: failure
  type: str
  sample: '{"status": "starting"}'
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.common.parameters import remove_values  # noqa: E402
from ansible_collections.pyops.fastapi.plugins.module_utils._health_check import (  # noqa: E402
    UNIT_PROPERTIES,
    HealthChecker,
    HealthCheckError,
    redact_url,
    unit_stopped,
    url_secrets,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str"),
            unix_socket=dict(type="path"),
            endpoints=dict(
                type="list",
                elements="dict",
                default=[dict(path="/health"), dict(path="/ready")],
                options=dict(
                    path=dict(type="str", required=True),
                    status=dict(type="list", elements="int", default=[200]),
                    json=dict(type="dict"),
                    body_regex=dict(type="str"),
                ),
            ),
            host=dict(type="str"),
            headers=dict(type="dict", default={}, no_log=True),
            method=dict(type="str", choices=["GET", "HEAD"], default="GET"),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            client_cert=dict(type="path"),
            client_key=dict(type="path"),
            follow_redirects=dict(type="str", choices=["none", "safe", "all"], default="safe"),
            allow_cross_origin_redirects=dict(type="bool", default=False),
            use_proxy=dict(type="bool", default=True),
            timeout=dict(type="float", default=5),
            wait_timeout=dict(type="float", default=60),
            interval=dict(type="float", default=0.1),
            backoff=dict(type="float", default=1.5),
            max_interval=dict(type="float", default=0.2),
            successes=dict(type="int", default=1),
            unit=dict(type="list", elements="str"),
            watch=dict(type="float", default=0),
        ),
        required_one_of=[("url", "unix_socket")],
        required_by={"client_key": "client_cert"},
        supports_check_mode=True,
    )

    # The url's user name and password reach no output. Every URL the checker reports is redacted (redact_url);
    # the arguments returned as `invocation` get the redacted url too. The password (or a user name without one,
    # a token) is also a no_log value, so it is masked in text the module did not build (a body that echoes it).
    url = module.params["url"]
    module.no_log_values.update(url_secrets(url))
    invocation = {"module_args": remove_values(dict(module.params, url=redact_url(url)), module.no_log_values)}

    params = dict(module.params)
    units = params.pop("unit") or []
    if units:
        systemctl = module.get_bin_path("systemctl", required=True)

        def gone():
            for unit in units:
                argv = [systemctl, "show", "--property=" + ",".join(UNIT_PROPERTIES), "--", unit]
                reason = unit_stopped(unit, module.run_command(argv)[1])
                if reason:
                    return reason
            return None

        params["gone"] = gone

    try:
        checker = HealthChecker(**params)
        result = checker.wait()
    except HealthCheckError as exc:
        module.fail_json(changed=False, invocation=invocation, **dict(exc.result, msg=exc.msg))

    module.exit_json(changed=False, invocation=invocation, **result)


if __name__ == "__main__":
    main()
