# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each test plugin: values it accepts, values it refuses, and the checks every one of them shares."""

from __future__ import annotations

import pytest
from ansible_collections.pyops.fastapi.plugins.test import validate as v
from ansible_collections.pyops.fastapi.tests.unit.plugins.test.hostile_corpus import RUNTIME_ENV
from jinja2 import Environment

TESTS = v.TestModule().tests()

# One accepted value per test, the base of the shared checks below.
GOOD = {
    "absolute_path": "/opt/fastapi-app",
    "email": "ops@example.test",
    "env_file_value": "postgresql://u:p@db/app",
    "env_name": "APP_NAME",
    "app_env_name": "APP_NAME",
    "file_name": "api.example.test",
    "git_ref": "v1.2.3",
    "hostname": "api.example.test",
    "http_header_name": "X-Robots-Tag",
    "http_url": "https://127.0.0.1:8443/dir",
    "ip_address": "10.0.0.1",
    "ip_network": "10.0.0.0/8",
    "nginx_header_value": "default-src 'none'; frame-ancestors 'none'",
    "nginx_resolver": "127.0.0.53",
    "nginx_safe_token": "max_fails=3",
    "nginx_size": "10m",
    "nginx_time": "60s",
    "pinned_requirement": "gunicorn==27.0.1",
    "private_ip_address": "10.0.0.5",
    "printable_line": "alembic upgrade head",
    "python_module_attr": "main:app",
    "relative_path": "requirements.txt",
    "secret_file_content": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
    "system_name": "fastapi-app",
    "systemd_safe_text": "FastAPI application (Gunicorn)",
    "systemd_unit_name": "postgresql.service",
    "url_path": "/health",
    "container_image": "localhost/pyops-base:13",
}

CASES = {
    "absolute_path": (
        ["/a", "/opt/app-1.2/x_y@z+w", "/a/b.c/d"],
        [
            "/",
            "//",
            "/a/",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/..",
            "a/b",
            "",
            "/a b",
            "/a;b",
            "/a{b",
            "/a'b",
            "/a$b",
            "/a%i",
        ],
    ),
    "relative_path": (
        ["requirements.txt", "req/prod.txt"],
        ["/etc/passwd", "../x", "a/../x", "./x", "a/", "a//b", "", "a b"],
    ),
    "hostname": (
        ["localhost", "a.b", "a-1.example.test", "1.2.3.4", "a" * 63 + ".test"],
        ["A.test", "a_b.test", "-a.test", "a-.test", "a..b", ".a", "a.", "*.a.test", "a" * 64 + ".test", "a b"],
    ),
    "python_module_attr": (
        ["main:app", "pkg.mod:create_app()", "_x:_y"],
        ["main", "main:", ":app", "1main:app", "main:app:x", "main.:app", "main:app()()", "main:app.x"],
    ),
    "system_name": (["app", "_app", "app-1_2", "a" * 32], ["App", "1app", "a b", "a" * 33, "-app", "app$"]),
    "env_name": (["A", "_A1", "app_name"], ["1A", "A-B", "A B", "A=B", ""]),
    # Issue 18, finding 8: names the loader, Python, gunicorn, uvicorn or systemd read.
    "app_env_name": (
        ["APP_NAME", "PYTHON_ENV", "LOAD_LEVEL", "GUNICORN_TIMEOUT_HINT", "MY_PATH"],
        ["1A", "", "ld_preload", "LD_LIBRARY_PATH", "LISTEN_FDS", *RUNTIME_ENV],
    ),
    "systemd_unit_name": (
        ["a.service", "app@blue.service", "network-online.target", "x.mount"],
        ["a", "a.conf", "a.service b.service", "a\\x2d.service", "a;b.service", ".service x"],
    ),
    "systemd_safe_text": (
        ["A b (c) - d, e; f {g}"],
        ["50%", "a\\nb", " a", "a ", "", "a" * 257],
    ),
    "printable_line": (["x", "a 'b' \"c\" $d; {e}"], ["", "a" * 4097]),
    "env_file_value": (['a "b" $c {d}'], ["a'b", "a\\b", ""]),
    "nginx_safe_token": (
        ["unix:/run/a.sock", "max_fails=3"],
        ["a b", "a;", "a{", "a}", "a'", 'a"', "a$b", "a#b", "a\\b"],
    ),
    "nginx_header_value": (["", "max-age=1; includeSubDomains", "default-src 'self' {x}"], ['a"b', "a\\b", "$host"]),
    "http_header_name": (["X-A", "x1"], ["X A", "X:A", "X_A", "", "a" * 65]),
    "file_name": (["a", "a.b-c_d", "1"], [".a", "..", ".", "a/b", "-a", "a b", ""]),
    "pinned_requirement": (
        ["a==1", "uvicorn[standard]==0.38.0", "a.b-c==1.0rc1", "a[x,y]==1!2.0+local"],
        ["a", "a>=1", "a==", "a==1 --x", "-e a==1", "a==1;x", "a[]==1", "a==x"],
    ),
    "private_ip_address": (
        ["10.0.0.5", "172.16.0.1", "192.168.1.1", "127.0.0.1", "fd00::5", "fe80::1", "::1"],
        ["93.184.215.14", "8.8.8.8", "0.0.0.0", "::", "2001:4860::1", "fe80::1%eth0", "10.0.0.0/8", "host", ""],
    ),
    "ip_address": (
        ["127.0.0.1", "::1", "2001:db8::1"],
        ["127.0.0.1/8", "256.0.0.1", "localhost", "1.2.3", "", "::1%x", "fe80::1%eth0"],
    ),
    "ip_network": (
        ["127.0.0.1", "10.0.0.1/8", "::/0", "2001:db8::/32"],
        ["10.0.0.0/33", "::/129", "all", "*", "", "fe80::1%eth0/64", "::1%x; allow all"],
    ),
    "nginx_size": (["0", "10m", "512k", "1G", 1024], ["10mb", "-1", "m", "1 m", "1" * 13, True]),
    "nginx_time": (["60s", "250ms", "1h30m", "5", 30], ["s", "-1s", "1x", "1 s", "60s;"]),
    "nginx_resolver": (
        ["127.0.0.53", "[::1]:5353", "dns.example.test:53", "valid=30s", "ipv6=off", "::1"],
        ["valid=", "ipv6=maybe", "[::1]:0", "1.1.1.1:99999", "[127.0.0.1]", "a b", "1.1.1.1;"],
    ),
    "secret_file_content": (
        ['{"type": "service_account",\r\n\t"key": "a\'b\\\\c"}', "x", "a" * 65536],
        ["", "a" * 65537, "caf\u00e9", "a\x00b", "a\x1bb", b"bytes", None, ["x"]],
    ),
    "container_image": (
        [
            "debian",
            "docker.io/library/python:3.12-slim",
            "registry.example.test:5000/team/app:20261207T101010Z",
            "localhost/pyops-base@sha256:" + "a" * 64,
            "python:3.12-slim@sha256:" + "0" * 64,
        ],
        [
            "",
            "Debian",
            "debian:",
            "debian:-x",
            "a//b",
            "/debian",
            "debian@sha256:abc",
            "debian;id",
            "debian latest",
            "--rm",
            "-v/etc:/x",
            "x:" + "a" * 129,
        ],
    ),
    "url_path": (["/", "/health", "/a/b-c_d.e~f"], ["health", "/a/../b", "/a/./b", "//x", "/a?b", "/a#b", "/a b"]),
    "http_url": (
        ["http://127.0.0.1", "https://acme.example.test:14000/dir", "https://[::1]:8443/"],
        ["ftp://x/", "https://", "https://a b/", "https://x/a/../b", "https://x/?a", "https://-x/", "https://x/'"],
    ),
    "email": (
        ["ops@example.test", "a.b+c@sub.example.test"],
        ["ops", "ops@localhost", "ops@10.0.0.1", "a@b@example.test", "a,b@example.test", "a @example.test"],
    ),
    "git_ref": (
        ["main", "v1.2.3", "release/1.2", "0123abcd", "HEAD"],
        ["-b", "--upload-pack=x", "a..b", "a//b", "a/", "a.", "a.lock", "a@{1}", "a b", "a~1", "a^", "a:b"],
    ),
}


def test_every_test_is_covered():
    assert set(TESTS) == set(GOOD) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_accepts_and_refuses(name):
    accepted, refused = CASES[name]
    for value in [GOOD[name], *accepted]:
        assert TESTS[name](value), f"{name} refuses {value!r}"
    for value in refused:
        assert not TESTS[name](value), f"{name} accepts {value!r}"


# Shared by every test: a trailing line break (what a regex ending in '$' lets through), other control
# characters, NUL, look-alike Unicode, overlong values and anything but a string.
@pytest.mark.parametrize("name", sorted(GOOD))
@pytest.mark.parametrize(
    "spoil",
    [
        lambda g: g + "\n",
        lambda g: "\n" + g,
        lambda g: g + "\r\n",
        lambda g: g[:1] + "\x00" + g[1:],
        lambda g: g + "\t",
        lambda g: g + "\x1b[0m",
        lambda g: g + "\x7f",
        lambda g: g + "\u00a0",
        lambda g: g + "\u200b",
        lambda g: g.replace("a", "\u0430").replace("e", "\u0435").replace("0", "\uff10").replace("/", "\u2215"),
        lambda g: g + "a" * 5000,
        lambda g: None,
        lambda g: [g],
        lambda g: g.encode(),
    ],
    ids=[
        "lf",
        "leading-lf",
        "crlf",
        "nul",
        "tab",
        "escape",
        "del",
        "nbsp",
        "zwsp",
        "lookalike",
        "overlong",
        "none",
        "list",
        "bytes",
    ],
)
def test_shared_refusals(name, spoil, request):
    # A secret file is text of several lines, tabs included, up to 64 KiB.
    if name == "secret_file_content" and request.node.callspec.id.split("-")[0] in (
        "lf",
        "leading",
        "crlf",
        "tab",
        "overlong",
    ):
        pytest.skip("line breaks, tabs and 5000 characters are what a secret file may hold")
    value = spoil(GOOD[name])
    if value == GOOD[name]:
        pytest.skip("no look-alike in this value")
    assert not TESTS[name](value), f"{name} accepts {value!r}"


def test_ip_network_proxy():
    # A proxy's network: as wide as a /8 or a /16 at most, never everyone.
    for value in ("10.0.0.0/8", "173.245.48.0/20", "127.0.0.5", "2400:cb00::/32", "fd00::/16"):
        assert v.ip_network(value, proxy=True), value
    for value in ("0.0.0.0/0", "::/0", "0.0.0.0/1", "10.0.0.0/7", "2000::/3", "fd00::/15", "all"):
        assert not v.ip_network(value, proxy=True), value
        assert v.ip_network(value) == (value != "all"), value


def test_absolute_path_allow_root():
    assert v.absolute_path("/", allow_root=True)
    assert not v.absolute_path("//", allow_root=True)


def test_hostname_fqdn():
    assert v.hostname("api.example.test", fqdn=True)
    assert not v.hostname("localhost", fqdn=True)
    assert not v.hostname("10.0.0.1", fqdn=True)


def test_printable_line_forbid_and_length():
    assert not v.printable_line("a b", forbid=" ")
    assert v.printable_line("a" * 10, max_length=10)
    assert not v.printable_line("a" * 11, max_length=10)


def test_http_url_https_only():
    assert v.http_url("https://x.test/")
    assert v.http_url("http://x.test/")
    assert not v.http_url("http://x.test/", https_only=True)


def test_through_jinja():
    # As a preflight uses them: `is` with keyword arguments, and select/reject by name.
    env = Environment(autoescape=True)
    env.tests.update({f"pyops.fastapi.{name}": test for name, test in TESTS.items()})
    template = env.from_string(
        "{{ value is pyops.fastapi.absolute_path(allow_root=true) }}"
        " {{ ['/a', '/', 'x'] | select('pyops.fastapi.absolute_path') | list | join(',') }}"
    )
    assert template.render(value="/") == "True /a"
