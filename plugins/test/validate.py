# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's one validation layer: a Jinja test per kind of value that reaches a file or a command.

Every test is an allow-list of printable ASCII matched over the WHOLE string (re.fullmatch, never '$',
which accepts a trailing line break), with a length limit. So NUL, control characters, line breaks,
look-alike Unicode and overlong values fail every test. Each test's documentation is the .yml file of
the same name in this directory.
"""

from __future__ import annotations

import ipaddress
import re

# One label of a host name (RFC 1123): 1-63 of a-z, 0-9, '-', no '-' at either end.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# A DNS name with a dot whose last label starts with a letter (not an IP address): what an ACME CA signs.
_FQDN = re.compile(rf"(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?")
# Characters of a path component: no space, quote, ';', braces, '$', '%', '\', '#', '*', '?' (nginx,
# systemd and shell meta characters).
_PATH_COMPONENT = re.compile(r"[A-Za-z0-9._@+~=,:-]+")
_PATH_MAX = 4095
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_MODULE_ATTR = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})*:{_IDENTIFIER}(?:\(\))?")
_SYSTEM_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_ENV_NAME = re.compile(_IDENTIFIER)
_UNIT_TYPES = "service|socket|target|mount|automount|path|timer|device|swap|slice|scope"
_UNIT_NAME = re.compile(rf"[A-Za-z0-9:_.@-]+\.(?:{_UNIT_TYPES})")
# One line of printable ASCII (space to '~').
_PRINTABLE_LINE = re.compile(r"[ -~]*")
_NGINX_TOKEN = re.compile(r"[A-Za-z0-9._~:/@%+=,-]+")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._-]+(?:,[A-Za-z0-9._-]+)*\])?==[0-9][0-9A-Za-z.+!-]*"
)
_NGINX_SIZE = re.compile(r"[0-9]{1,12}[kKmMgG]?")
_NGINX_TIME = re.compile(r"(?:[0-9]{1,9}(?:ms|s|m|h|d|w|M|y)?)+")
_URL_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")
_HTTP_URL = re.compile(
    r"(?P<scheme>https?)://(?P<userinfo>[A-Za-z0-9._~%!$&*+,=:-]+@)?"
    r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?P<path>/[A-Za-z0-9._~/%:@+,=-]*)?"
)
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&*+/=?^_`|~-]{1,64}@(?P<domain>[A-Za-z0-9.-]+)")
_GIT_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/+-]*")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")
# An image reference as podman and Docker read it: [registry[:port]/]path[:tag][@sha256:digest], the
# path in lower case (the OCI distribution grammar, without its rarely used separators).
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_REPOSITORY = (
    rf"(?:(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]{{1,5}})?/)?{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
)
_IMAGE_REPOSITORY_RE = re.compile(_IMAGE_REPOSITORY)
_IMAGE = re.compile(rf"{_IMAGE_REPOSITORY}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?")


def _text(value, max_length):
    """Return value when it is a str of printable ASCII within max_length, else None."""
    if not isinstance(value, str) or not value or len(value) > max_length:
        return None
    return value if _PRINTABLE_LINE.fullmatch(value) else None


def hostname(value, fqdn=False):
    """A lower-case RFC 1123 host name of at most 253 characters; with fqdn=True a dotted DNS name."""
    value = _text(value, 253)
    return value is not None and bool((_FQDN if fqdn else _HOSTNAME).fullmatch(value))


def absolute_path(value, allow_root=False):
    """A normalised absolute path: no '.', '..', '//', trailing '/', or characters outside the allow-list."""
    value = _text(value, _PATH_MAX)
    if value is None or not value.startswith("/"):
        return False
    if value == "/":
        return bool(allow_root)
    parts = value[1:].split("/")
    return all(_PATH_COMPONENT.fullmatch(part) and part not in (".", "..") for part in parts)


def relative_path(value):
    """A normalised relative path below the directory it is relative to: no leading '/', '.', '..'."""
    value = _text(value, _PATH_MAX)
    if value is None or value.startswith("/"):
        return False
    return all(_PATH_COMPONENT.fullmatch(part) and part not in (".", "..") for part in value.split("/"))


def python_module_attr(value):
    """'package.module:attribute' (optionally 'attribute()'), as gunicorn loads an application."""
    value = _text(value, 255)
    return value is not None and bool(_MODULE_ATTR.fullmatch(value))


def system_name(value):
    """A portable user or group name: [a-z_][a-z0-9_-], at most 32 characters."""
    value = _text(value, 32)
    return value is not None and bool(_SYSTEM_NAME.fullmatch(value))


def env_name(value):
    """An environment variable name: [A-Za-z_][A-Za-z0-9_]*, at most 255 characters."""
    value = _text(value, 255)
    return value is not None and bool(_ENV_NAME.fullmatch(value))


# Names that change how the interpreter, the dynamic loader, gunicorn, uvicorn or systemd run the
# app rather than configure it: a preload library, another import path or startup file, a public bind
# or trusted forwarded headers from gunicorn's command-line variable, a socket handed over by systemd.
_RUNTIME_ENV_NAMES = frozenset(
    {
        "PATH",
        "GUNICORN_CMD_ARGS",
        "FORWARDED_ALLOW_IPS",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "PYTHONINSPECT",
        "PYTHONBREAKPOINT",
        "PYTHONPLATLIBDIR",
        "PYTHONEXECUTABLE",
        "PYTHONSAFEPATH",
        "PYTHONNOUSERSITE",
        "PYTHONHTTPSVERIFY",
        "PYTHONPYCACHEPREFIX",
        "NOTIFY_SOCKET",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
    }
)
# The dynamic loader reads every LD_* name (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...).
_RUNTIME_ENV_PREFIXES = ("LD_",)


def app_env_name(value):
    """An environment variable name (env_name) that does not change how the runtime runs the app:
    not PATH, the loader's LD_*, Python's PYTHONPATH/PYTHONSTARTUP/..., GUNICORN_CMD_ARGS,
    FORWARDED_ALLOW_IPS nor systemd's NOTIFY_SOCKET/LISTEN_* (compared case-insensitively)."""
    if not env_name(value):
        return False
    upper = value.upper()
    return upper not in _RUNTIME_ENV_NAMES and not upper.startswith(_RUNTIME_ENV_PREFIXES)


def systemd_unit_name(value):
    """A systemd unit name with its type suffix, such as postgresql.service (no '\\' escapes)."""
    value = _text(value, 255)
    return value is not None and bool(_UNIT_NAME.fullmatch(value))


def systemd_safe_text(value, max_length=256):
    """One line of printable ASCII for a unit setting such as Description=: no '%' specifier, no '\\'."""
    value = _text(value, max_length)
    return value is not None and value == value.strip() and not set(value) & set("%\\")


def printable_line(value, max_length=4096, forbid=""):
    """One non-empty line of printable ASCII, without the characters in forbid."""
    value = _text(value, max_length)
    return value is not None and not set(value) & set(forbid)


def env_file_value(value):
    """A value that fits in single quotes of the .env file: printable ASCII, no "'" or "\\"."""
    return printable_line(value, forbid="'\\")


# Text of a secret file (a PEM key, a JSON credential): printable ASCII, tabs and line breaks.
_SECRET_FILE_TEXT = re.compile(r"[ -~\t\r\n]+")
_SECRET_FILE_MAX = 65536


def secret_file_content(value):
    """The text of a secret file: printable ASCII, tabs and line breaks, 1 to 65536 characters."""
    if not isinstance(value, str) or not 0 < len(value) <= _SECRET_FILE_MAX:
        return False
    return bool(_SECRET_FILE_TEXT.fullmatch(value))


def nginx_safe_token(value, max_length=1024):
    """A bare nginx word: no whitespace, ';', braces, quotes, '\\', '$' (variables) or '#' (comments)."""
    value = _text(value, max_length)
    return value is not None and bool(_NGINX_TOKEN.fullmatch(value))


def nginx_header_value(value):
    """A value for a double-quoted nginx string (may be empty): printable ASCII, no '"', '\\' or '$' (variables)."""
    return value == "" or printable_line(value, max_length=4096, forbid='"\\$')


def http_header_name(value):
    """An HTTP header name: letters, digits and '-', at most 64 characters."""
    value = _text(value, 64)
    return value is not None and bool(_HEADER_NAME.fullmatch(value))


def file_name(value, max_length=200):
    """One file name: letters, digits, '.', '_', '-', starting with a letter or digit (so not '.' or '..')."""
    value = _text(value, max_length)
    return value is not None and bool(_FILE_NAME.fullmatch(value))


def container_image(value, repository_only=False):
    """An image reference (registry/path:tag@sha256:digest); with repository_only, no tag or digest
    (the role adds the release id as tag)."""
    value = _text(value, 255)
    pattern = _IMAGE_REPOSITORY_RE if repository_only else _IMAGE
    return value is not None and bool(pattern.fullmatch(value))


def pinned_requirement(value):
    """A pip requirement pinned to one version: name[extras]==version."""
    value = _text(value, 255)
    return value is not None and bool(_PIN.fullmatch(value))


def ip_address(value):
    """An IPv4 or IPv6 address, without an IPv6 zone ID ('%eth0': nginx and systemd do not take one)."""
    value = _text(value, 45)
    if value is None or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def private_ip_address(value):
    """An IP address (ip_address) of a private network (RFC 1918, RFC 4193 unique local, link-local)
    or loopback, never a public one."""
    if not ip_address(value):
        return False
    address = ipaddress.ip_address(value)
    return address.is_private and not address.is_unspecified


# The widest network a proxy's requests may come from (nginx_trusted_proxies): nginx believes the client
# address such a network names, so a wider one would let much of the Internet choose its own.
_PROXY_MIN_PREFIX = {4: 8, 6: 16}


def ip_network(value, proxy=False):
    """An IPv4 or IPv6 address or network in CIDR notation (host bits may be set), without a zone ID.
    With proxy=True no wider than a /8 (IPv4) or a /16 (IPv6)."""
    value = _text(value, 49)
    if value is None or "%" in value:
        return False
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return not proxy or network.prefixlen >= _PROXY_MIN_PREFIX[network.version]


def nginx_size(value):
    """An nginx size: a number with an optional k, m or g suffix (10m, 512k, 0)."""
    value = _text(str(value) if isinstance(value, int) and not isinstance(value, bool) else value, 13)
    return value is not None and bool(_NGINX_SIZE.fullmatch(value))


def nginx_time(value):
    """An nginx time: numbers with units ms, s, m, h, d, w, M, y (60s, 1h30m, 250ms)."""
    value = _text(str(value) if isinstance(value, int) and not isinstance(value, bool) else value, 32)
    return value is not None and bool(_NGINX_TIME.fullmatch(value))


def nginx_resolver(value):
    """One word of nginx's resolver directive: an address (with an optional port) or valid=/ipv4=/ipv6=."""
    value = _text(value, 64)
    if value is None:
        return False
    if value.startswith("valid="):
        return nginx_time(value[len("valid=") :])
    if value in ("ipv4=on", "ipv4=off", "ipv6=on", "ipv6=off"):
        return True
    if value.startswith("[") and "]" in value:
        address, port = value[1:].split("]", 1)
        return ":" in address and ip_address(address) and (port == "" or port[0] == ":" and _port(port[1:]))
    if value.count(":") == 1:
        address, port = value.split(":")
        return (ip_address(address) or hostname(address)) and _port(port)
    return ip_address(value) or hostname(value)


def _port(value):
    return value.isascii() and value.isdigit() and len(value) <= 5 and 1 <= int(value) <= 65535


def url_path(value):
    """An absolute URL path of unreserved characters (/health, /docs), without '.', '..' or '//'."""
    value = _text(value, 1024)
    if value is None or not _URL_PATH.fullmatch(value):
        return False
    return "//" not in value and not {".", ".."} & set(value.split("/"))


def http_url(value, https_only=False, allow_userinfo=False):
    """An http:// or https:// URL without spaces, quotes, braces, '?' or '#', whose host is a host name or an IP,
    and whose path is a url_path. allow_userinfo admits user:password@ (a package index with credentials)."""
    value = _text(value, 2048)
    match = value is not None and _HTTP_URL.fullmatch(value)
    if not match or (https_only and match.group("scheme") != "https"):
        return False
    if match.group("userinfo") and not allow_userinfo:
        return False
    if match.group("path") and not url_path(match.group("path")):
        return False
    host = match.group("host")
    if host.startswith("["):
        return ip_address(host[1:-1])
    return hostname(host.lower()) or ip_address(host)


def email(value):
    """An email address as an ACME account contact: local@domain, the domain a dotted host name."""
    value = _text(value, 254)
    match = value is not None and _EMAIL.fullmatch(value)
    return bool(match) and hostname(match.group("domain").lower(), fqdn=True)


def git_ref(value):
    """A git branch, tag or commit that cannot be read as an option: no leading '-', no '..', '@{' or '//'."""
    value = _text(value, 255)
    if value is None or not _GIT_REF.fullmatch(value):
        return False
    return ".." not in value and "//" not in value and not value.endswith((".", "/", ".lock"))


class TestModule:
    """pyops.fastapi validation tests."""

    def tests(self):
        return {
            "absolute_path": absolute_path,
            "app_env_name": app_env_name,
            "container_image": container_image,
            "email": email,
            "env_file_value": env_file_value,
            "env_name": env_name,
            "file_name": file_name,
            "git_ref": git_ref,
            "hostname": hostname,
            "http_header_name": http_header_name,
            "http_url": http_url,
            "ip_address": ip_address,
            "ip_network": ip_network,
            "nginx_header_value": nginx_header_value,
            "nginx_resolver": nginx_resolver,
            "nginx_safe_token": nginx_safe_token,
            "nginx_size": nginx_size,
            "nginx_time": nginx_time,
            "pinned_requirement": pinned_requirement,
            "printable_line": printable_line,
            "private_ip_address": private_ip_address,
            "python_module_attr": python_module_attr,
            "relative_path": relative_path,
            "secret_file_content": secret_file_content,
            "system_name": system_name,
            "systemd_safe_text": systemd_safe_text,
            "systemd_unit_name": systemd_unit_name,
            "url_path": url_path,
        }
