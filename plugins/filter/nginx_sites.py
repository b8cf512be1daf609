# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Several apps on one nginx host: what keeps one more site off it.

Each site file the nginx role renders records itself on its first line (``# pyops-site: <JSON>``). The
role's preflight reads the records of the host's site files and fails on every message
nginx_site_clashes returns. The documentation is nginx_site_clashes.yml in this directory.
"""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError

# Settings 000-default-deny.conf is rendered from: every public site of a host must agree on them.
# (record key, key inside record["host"] or None, variable)
_HOST_SETTINGS = (
    ("http_port", None, "nginx_http_port"),
    ("https_port", None, "nginx_https_port"),
    ("host", "listen_ipv6", "nginx_listen_ipv6"),
    ("host", "client_header_timeout", "nginx_client_header_timeout"),
    ("host", "ssl_profile", "nginx_ssl_profile"),
)
_TRUE = ("true", "yes", "on", "1")


def _port(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _flag(value):
    return value.strip().lower() in _TRUE if isinstance(value, str) else bool(value)


def _record(raw):
    """The record with the types the comparisons need (ansible < 2.19 may hand over ports as strings)."""
    host = raw.get("host") if isinstance(raw.get("host"), dict) else {}
    mode = "backend" if raw.get("mode") == "backend" else "public"
    return {
        "app": str(raw.get("app", "?")),
        "site": str(raw.get("site", "?")),
        "file": str(raw.get("file", "?")),
        "mode": mode,
        "server_names": [str(name).lower() for name in raw.get("server_names") or []],
        "http_port": _port(raw.get("http_port")),
        "https_port": _port(raw.get("https_port")),
        "backend_port": _port(raw.get("backend_port")) if mode == "backend" else None,
        "host": {
            "listen_ipv6": _flag(host.get("listen_ipv6")),
            "client_header_timeout": str(host.get("client_header_timeout", "")),
            "ssl_profile": str(host.get("ssl_profile", "")),
        },
    }


def _who(record):
    return f"app {record['app']} (site {record['site']})"


def _show(value):
    return json.dumps(value)


def _listeners(record):
    """(variable, port) of each port the site listens on."""
    if record["mode"] == "backend":
        return [("nginx_backend_port", record["backend_port"])]
    return [("nginx_http_port", record["http_port"]), ("nginx_https_port", record["https_port"])]


def _port_clashes(me, other):
    clashes = []
    for my_var, port in _listeners(me):
        for their_var, their_port in _listeners(other):
            if port is None or port != their_port:
                continue
            # Two public sites may share their HTTP or HTTPS port: nginx tells them apart by name.
            if my_var == their_var != "nginx_backend_port":
                continue
            clashes.append(
                f"{my_var} {port} of {_who(me)} is {'also ' if my_var == their_var else ''}the {their_var} "
                f"of {_who(other)}: give {me['app']} another {my_var}."
            )
    return clashes


def _name_clashes(me, other):
    shared = [name for name in me["server_names"] if name in other["server_names"]]
    ports = sorted({me[key] for key in ("http_port", "https_port") if me[key] is not None and me[key] == other[key]})
    if not shared or not ports:
        return []
    return [
        f"nginx_server_name/nginx_server_aliases: {_who(me)} and {_who(other)} both serve {', '.join(shared)} "
        f"on port {' and '.join(str(port) for port in ports)}, nginx would answer for one of them only: "
        f"give {me['app']} other server names."
    ]


def _host_setting_clashes(me, other):
    clashes = []
    for key, sub, var in _HOST_SETTINGS:
        mine = me[key] if sub is None else me[key][sub]
        theirs = other[key] if sub is None else other[key][sub]
        if mine != theirs:
            clashes.append(
                f"{var} is {_show(mine)} for {_who(me)} but {_show(theirs)} for {_who(other)}; the public sites "
                f"of a host share 000-default-deny.conf: set {var}: {_show(theirs)} for {me['app']}, or "
                f"nginx_host_settings_update=true to change it for the host (then deploy {other['app']} with "
                f"{_show(mine)} too)."
            )
    return clashes


def nginx_site_clashes(records_on_host, this_record, update_host_settings=False):
    """Human-readable reasons why the site of this_record cannot join the sites of records_on_host; [] if none."""
    if not isinstance(records_on_host, (list, tuple)) or not isinstance(this_record, dict):
        raise AnsibleFilterError("nginx_site_clashes expects a list of site records and a site record (dicts)")
    me = _record(this_record)
    clashes = []
    for raw in records_on_host:
        if not isinstance(raw, dict):
            clashes.append(f"unreadable pyops-site record on this host: {str(raw)[:200]!r}; fix or remove that line.")
            continue
        other = _record(raw)
        if other["site"] == me["site"]:
            # The site's own file, from an earlier run of the same app: it is about to be replaced.
            if other["app"] != me["app"]:
                clashes.append(
                    f"site file {other['file']} (nginx_site_name {_show(other['site'])}) belongs to "
                    f"app {other['app']}; app {me['app']} has the same nginx_site_name and would overwrite it: "
                    f"give {me['app']} another nginx_site_name."
                )
            continue
        clashes.extend(_port_clashes(me, other))
        if me["mode"] == other["mode"] == "public":
            clashes.extend(_name_clashes(me, other))
            if not _flag(update_host_settings):
                clashes.extend(_host_setting_clashes(me, other))
    # A copy of a site file carries the same record: say each thing once.
    return list(dict.fromkeys(clashes))


class FilterModule:
    """pyops.fastapi nginx site filters."""

    def filters(self):
        return {"nginx_site_clashes": nginx_site_clashes}
