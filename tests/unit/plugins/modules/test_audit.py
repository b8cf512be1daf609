# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pyops.fastapi.audit (its checks in module_utils/_audit.py) against real local servers and sockets (no mocks of
its probes), and the module's options, documentation and result."""

from __future__ import annotations

import datetime
import grp
import http.server
import io
import os
import pwd
import socket
import ssl
import threading
import warnings
from pathlib import Path
from unittest import mock

import pytest
import yaml
from ansible_collections.pyops.fastapi.plugins.module_utils import _audit as audit
from ansible_collections.pyops.fastapi.plugins.modules import audit as audit_module
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.utils import AnsibleFailJson, run_module

REPO = Path(__file__).resolve().parents[4]
NAME = "api.example.test"


def _certificate(tmp_path: Path, days: int) -> tuple[str, str]:
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


class Handler(http.server.BaseHTTPRequestHandler):
    headers_to_send: dict = {}
    statuses: dict = {}  # path -> status; 200 for the others

    loopback_only: frozenset = frozenset()  # paths refused (403) from any address but 127.0.0.1, as nginx's allow-list

    def do_GET(self):  # noqa: N802
        if self.path in self.loopback_only and self.client_address[0] != "127.0.0.1":
            self.send_response(403)
        else:
            self.send_response(self.statuses.get(self.path, 200))
        for name, value in self.headers_to_send.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path):
    """start(days=..., old=False, headers={}, statuses={}, loopback_only=()) -> cfg for a local HTTPS server."""
    servers = []

    def start(days=90, old=False, headers=None, statuses=None, loopback_only=()):
        cert, key = _certificate(tmp_path, days)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if old:
            # What a weakened nginx would accept: TLS 1.0 and a CBC suite.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0")
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers(":".join(audit.INTERMEDIATE_TLS12_CIPHERS))
        handler = type(
            "H",
            (Handler,),
            {"headers_to_send": headers or {}, "statuses": statuses or {}, "loopback_only": frozenset(loopback_only)},
        )
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return {
            "server_name": NAME,
            "https_port": server.server_address[1],
            "ssl_profile": "intermediate",
            "certificate_min_days": 14,
            "certbot_mode": "selfsigned",
            "renew_before_days": 30,
        }

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_tls_intermediate_server_passes(tls_server):
    cfg = tls_server()
    check, cert, renewal = audit.Check("tls", "t"), audit.Check("certificate", "c"), audit.Check("renewal", "r")
    served = audit.check_tls(cfg, check)
    assert check.passed, check.observed
    assert "TLSv1 refused" in check.observed and "TLSv1.2 accepted" in check.observed
    audit.check_certificate(cfg, served, cert, renewal)
    assert cert.passed, cert.observed
    assert renewal.passed, renewal.observed


def test_tls_old_protocol_and_cbc_suite_fail(tls_server):
    cfg = tls_server(old=True, days=20)
    check, cert, renewal = audit.Check("tls", "t"), audit.Check("certificate", "c"), audit.Check("renewal", "r")
    served = audit.check_tls(cfg, check)
    assert not check.passed
    assert "TLSv1 accepted" in check.observed
    assert "non-intermediate cipher ECDHE-ECDSA-AES128-SHA accepted" in check.observed
    audit.check_certificate(cfg, served, cert, renewal)
    # 20 days: still more than the 14 required, but a self-signed renewal (at 30) is overdue.
    assert cert.passed, cert.observed
    assert not renewal.passed and "overdue" in renewal.observed


def test_certificate_for_another_name_fails(tls_server):
    cfg = dict(tls_server(), server_name="other.example.test")
    check, cert, renewal = audit.Check("tls", "t"), audit.Check("certificate", "c"), audit.Check("renewal", "r")
    audit.check_certificate(cfg, audit.check_tls(cfg, check), cert, renewal)
    assert not cert.passed and "other.example.test not among its names" in cert.observed


def test_nothing_listening_fails_tls():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check = audit.Check("tls", "t")
    assert audit.check_tls({"server_name": NAME, "https_port": port, "ssl_profile": "intermediate"}, check) is None
    assert not check.passed and "no TLS handshake possible" in check.observed


def test_security_headers(tls_server):
    good = {
        "Strict-Transport-Security": "max-age=63072000",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    }
    check = audit.Check("headers", "h")
    audit.check_headers(tls_server(headers=good), check)
    assert check.passed, check.observed  # frame-ancestors stands in for X-Frame-Options
    weak = dict(good, **{"Strict-Transport-Security": "max-age=300", "Content-Security-Policy": "default-src 'self'"})
    audit.check_headers(tls_server(headers=weak), check)
    assert not check.passed
    assert "max-age below" in check.observed and "X-Frame-Options or CSP frame-ancestors missing" in check.observed


def test_stream_search_finds_a_secret_split_across_chunks(monkeypatch):
    monkeypatch.setattr(audit, "CHUNK", 4)
    stream = io.BytesIO(b"xxxxxxsecret-valuexxxx")
    assert audit._stream_contains(stream, [b"secret-value", b"absent-value"]) == {b"secret-value"}


@pytest.mark.parametrize(
    ("name", "pattern", "matches"),
    [
        (NAME, NAME, True),
        (NAME, "*.example.test", True),
        ("example.test", "*.example.test", False),
        ("a.api.example.test", "*.example.test", False),
        (NAME, "api.example.org", False),
    ],
)
def test_name_matches(name, pattern, matches):
    assert audit._name_matches(name, pattern) is matches


def test_public_socket_of_the_app_user_fails():
    user = pwd.getpwuid(os.getuid()).pw_name
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))  # noqa: S104 - the public listener the check must find
        sock.listen()
        port = sock.getsockname()[1]
        check = audit.Check("listeners", "l")
        audit.check_listeners({"app_user": user, "app_name": "no-such-app"}, check)
    assert not check.passed
    assert f"0.0.0.0:{port}" in check.observed


def test_environment_file_modes(tmp_path):
    shared = tmp_path / "shared.env"
    slot = tmp_path / "blue"
    slot.mkdir()
    for path in (shared, slot / "env"):
        path.write_text("SECRET_KEY='x'\n")
        path.chmod(0o640)
    group = os.getgid()
    cfg = {
        "env_file": str(shared),
        "slots": {"blue": {"dir": str(slot)}},
        "app_group": grp.getgrgid(group).gr_name,
    }
    check = audit.Check("env_files", "e")
    audit.check_env_files(cfg, check)
    assert check.passed is (os.getuid() == 0), check.observed
    (slot / "env").chmod(0o644)
    audit.check_env_files(cfg, check)
    assert not check.passed and f"{slot / 'env'}" in check.observed and "0644" in check.observed


# --- the private endpoint and rate limiting, from the outside address --------------------------------------------


OUTSIDE = {"outside_address": "127.0.0.2", "health_path": "/health"}


def test_detailed_health_refused_from_outside_passes(tls_server):
    check = audit.Check("detailed_health", "d")
    audit.check_detailed_health(dict(tls_server(loopback_only={"/health/detailed"}), **OUTSIDE), check)
    assert check.passed, check.observed
    assert check.observed == "from 127.0.0.2: /health/detailed 403, /health 200"


def test_detailed_health_open_to_everyone_fails(tls_server):
    check = audit.Check("detailed_health", "d")
    audit.check_detailed_health(dict(tls_server(), **OUTSIDE), check)
    assert not check.passed
    assert "/health/detailed 200" in check.observed


def test_detailed_health_not_applicable_reads_the_apps_own_liveness_path(tls_server):
    """No /health/detailed (404 from loopback): not applicable, but the app's liveness path must answer outside."""
    check = audit.Check("detailed_health", "d")
    cfg = dict(tls_server(statuses={"/health/detailed": 404, "/health": 404}), **OUTSIDE)
    cfg["health_path"] = "/_status/live"
    audit.check_detailed_health(cfg, check)
    assert check.passed, check.observed
    assert check.observed.startswith("not applicable: the app has no /health/detailed (404 from loopback); ")
    assert "/_status/live 200" in check.observed
    audit.check_detailed_health(dict(cfg, health_path=""), check)  # empty: /health, which this app does not have
    assert not check.passed
    assert check.observed.startswith("not applicable: ") and "/health 404" in check.observed


def test_rate_limit_needs_a_429_from_outside(tls_server):
    check = audit.Check("rate_limit", "r")
    audit.check_rate_limit(dict(tls_server(), **OUTSIDE, rate_limit_requests=3), check)
    assert not check.passed and check.observed == "3 requests from 127.0.0.2: 200 x3"
    audit.check_rate_limit(dict(tls_server(statuses={"/": 429}), **OUTSIDE, rate_limit_requests=3), check)
    assert check.passed and check.observed == "3 requests from 127.0.0.2: 429 x3"


def test_a_crashing_check_fails_its_rows_only():
    cert, renewal = audit.Check("certificate", "c"), audit.Check("renewal", "r")
    assert audit.run(audit.check_certificate, {}, {"der": b"not a certificate"}, cert, renewal) is None
    assert not cert.passed and cert.observed.startswith("check crashed: ValueError")
    assert not renewal.passed and renewal.observed.startswith("check crashed: ValueError")


# --- the module --------------------------------------------------------------------------------------------------


def _module_args(cfg: dict, tmp_path: Path, closed_port: int) -> dict:
    """Options for a whole run against the local server in cfg; nothing of a deployed app exists."""
    return {
        "server_name": cfg["server_name"],
        "http_port": closed_port,
        "https_port": cfg["https_port"],
        "ssl_profile": "intermediate",
        "nginx_log_dir": str(tmp_path / "nginx"),
        "certbot_mode": "selfsigned",
        "renew_before_days": 30,
        "renewal_conf": str(tmp_path / "renewal.conf"),
        "app_name": "pyops-no-such-app",
        "app_user": "pyops-no-such-user",
        "app_group": "pyops-no-such-group",
        "env_file": str(tmp_path / "shared" / ".env"),
        "log_dir": str(tmp_path / "logs"),
        "live_link": str(tmp_path / "slots" / "live"),
        "slots": {
            "blue": {
                "dir": str(tmp_path / "slots" / "blue"),
                "unit": "pyops-no-such-app@blue.service",
                "log_identifier": "pyops-no-such-app-blue",
            }
        },
        "hook_log_identifier": "pyops-no-such-app-hook",
        "rate_limit_requests": 2,
    }


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("check_mode", [False, True])
def test_module_returns_every_check_and_does_not_fail_for_failed_ones(tls_server, tmp_path, closed_port, check_mode):
    args = _module_args(tls_server(statuses={"/health/detailed": 404}), tmp_path, closed_port)
    result = run_module(audit_module.main, dict(args, _ansible_check_mode=check_mode))

    assert result["changed"] is False and "failed" not in result
    assert [(c["id"], c["title"]) for c in result["checks"]] == list(audit.CHECKS)
    assert all(set(c) == {"id", "title", "passed", "observed"} and c["observed"] for c in result["checks"])
    by_id = {c["id"]: c for c in result["checks"]}
    for passing in ("tls", "certificate", "renewal", "detailed_health"):
        assert by_id[passing]["passed"], by_id[passing]
    assert by_id["detailed_health"]["observed"].startswith("not applicable: ")
    # Nothing answers HTTP, the test server sends no security header, there is no live slot, no
    # environment file (so no SECRET_KEY to look for), and a burst of 2 meets no 429.
    for failing in ("redirect", "headers", "exposure", "env_files", "secret_logs", "rate_limit"):
        assert not by_id[failing]["passed"], by_id[failing]
    assert by_id["env_files"]["observed"] == f"{args['env_file']} missing"
    assert result["failed_checks"] == [c["id"] for c in result["checks"] if not c["passed"]]
    assert result["msg"] == (
        f"{len(result['failed_checks'])} of 11 checks failed: {', '.join(result['failed_checks'])}."
    )
    width = max(len(title) for _id, title in audit.CHECKS)
    assert result["table"][0] == f"{'check'.ljust(width)}  result  observed"
    assert len(result["table"]) == 12
    for row, check in zip(result["table"][1:], result["checks"]):
        verdict = "pass" if check["passed"] else "FAIL"
        assert row == f"{check['title'].ljust(width)}  {verdict}    {check['observed']}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"exposure_max": 0}, "exposure_max must be more than 0, got 0.0"),
        ({"outside_address": "::1"}, "outside_address must be an IPv4 address of this host, got '::1'"),
        ({"http_port": 0}, "http_port must be a TCP port (1-65535), got 0"),
        ({"certificate_min_days": -1}, "certificate_min_days must be 0 or more, got -1"),
        ({"rate_limit_requests": 0}, "rate_limit_requests must be 1 or more, got 0"),
        ({"health_path": "health"}, "health_path must start with /, got 'health'"),
        ({"slots": {}}, "slots must name at least one slot"),
        ({"slots": {"blue": {"dir": "/opt/x/slots/blue"}}}, "slots.blue.unit must be a non-empty string"),
        (
            {"slots": {"blue": {"dir": "/opt/x/slots/blue", "unit": "x@blue.service"}}},
            "slots.blue.log_identifier must be a non-empty string",
        ),
        ({"slots": {"blue": "/opt/x"}}, "slots.blue must be a dictionary with dir, unit and log_identifier"),
        ({"hook_log_identifier": ""}, "hook_log_identifier must not be empty"),
        ({"ssl_profile": "old"}, "value of ssl_profile must be one of: intermediate, modern, got: old"),
        ({"https_port": "https"}, "https_port"),
    ],
)
def test_bad_options_fail_the_module_with_a_clear_message(tmp_path, change, message):
    args = dict(_module_args({"server_name": NAME, "https_port": 443}, tmp_path, 80), **change)
    with pytest.raises(AnsibleFailJson) as excinfo:
        run_module(audit_module.main, args)
    assert message in excinfo.value.result["msg"]
    assert not excinfo.value.result.get("changed")


def test_missing_required_option_fails(tmp_path):
    args = _module_args({"server_name": NAME, "https_port": 443}, tmp_path, 80)
    del args["server_name"]
    with pytest.raises(AnsibleFailJson) as excinfo:
        run_module(audit_module.main, args)
    assert "missing required arguments: server_name" in excinfo.value.result["msg"]


def test_an_internal_error_fails_the_module_and_says_so(tmp_path):
    args = _module_args({"server_name": NAME, "https_port": 443}, tmp_path, 80)
    with (
        mock.patch.object(audit_module, "run_audit", side_effect=RuntimeError("boom")),
        pytest.raises(AnsibleFailJson) as excinfo,
    ):
        run_module(audit_module.main, args)
    assert excinfo.value.result["msg"] == "The audit itself failed (not a check): RuntimeError: boom"


def test_argument_spec_matches_documentation():
    """What main() gives AnsibleModule is what DOCUMENTATION says (ansible-test validate-modules checks it too)."""
    specs = []
    real = audit_module.AnsibleModule

    def spy(**kwargs):
        specs.append(kwargs)
        return real(**kwargs)

    with mock.patch.object(audit_module, "AnsibleModule", spy), pytest.raises(AnsibleFailJson):
        run_module(audit_module.main, {})
    assert specs[0]["supports_check_mode"] is True
    spec = specs[0]["argument_spec"]
    documented = yaml.safe_load(audit_module.DOCUMENTATION)["options"]
    assert sorted(spec) == sorted(documented)
    for name, option in spec.items():
        doc = documented[name]
        assert option["type"] == doc["type"], name
        assert option.get("required", False) == doc.get("required", False), name
        assert option.get("default") == doc.get("default"), name
        assert option.get("choices") == doc.get("choices"), name
        assert not option.get("no_log"), name  # no option carries a secret: the module reads them on the host
    returned = yaml.safe_load(audit_module.RETURN)
    assert set(returned) == {"msg", "checks", "table", "failed_checks"}
    assert set(returned["checks"]["contains"]) == {"id", "title", "passed", "observed"}


def test_role_passes_every_option_and_shares_its_defaults():
    tasks = yaml.safe_load((REPO / "roles" / "audit" / "tasks" / "main.yml").read_text())
    passed = next(task["pyops.fastapi.audit"] for task in tasks if "pyops.fastapi.audit" in task)
    assert sorted(passed) == sorted(audit_module.ARGUMENT_SPEC)
    defaults = yaml.safe_load((REPO / "roles" / "audit" / "defaults" / "main.yml").read_text())
    for variable, value in defaults.items():
        assert audit_module.ARGUMENT_SPEC[variable.removeprefix("audit_")]["default"] == value, variable


def test_the_journal_is_searched_under_the_identifiers_the_layout_names():
    # The identifiers come from app_layout (the unit's SyslogIdentifier= and the hooks'), never
    # from the app's name: an app whose layout names others is searched under those.
    cfg = {
        "slots": {
            "blue": {"unit": "shop@blue.service", "log_identifier": "shop-web-blue"},
            "green": {"unit": "shop@green.service", "log_identifier": "shop-web-green"},
        },
        "hook_log_identifier": "shop-migrations",
    }
    matches = audit._journal_matches(cfg)
    terms = [match for match in matches if match != "+"]
    assert matches[1::2] == ["+"] * (len(terms) - 1)
    assert set(terms) == {
        "_SYSTEMD_UNIT=shop@blue.service",
        "UNIT=shop@blue.service",
        "SYSLOG_IDENTIFIER=shop-web-blue",
        "_SYSTEMD_UNIT=shop@green.service",
        "UNIT=shop@green.service",
        "SYSLOG_IDENTIFIER=shop-web-green",
        "SYSLOG_IDENTIFIER=shop-migrations",
    }


def test_the_secrets_searched_are_the_ones_the_layout_names(tmp_path):
    # app_secrets' names and app_secret_files' lines join SECRET_KEY and DATABASE_URL; app_env's values
    # are not secrets.
    pem = tmp_path / "JWT_KEY_FILE"
    pem.write_text(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIOabcdefghijkl\nshort\n-----END PRIVATE KEY-----\n"
    )
    env = tmp_path / ".env"
    env.write_text(
        "SECRET_KEY='k-0123456789abcdef'\nPAYMENT_TOKEN='tok-0123456789'\n"
        f"JWT_KEY_FILE='{pem}'\nAPP_NAME='visible-app-name'\n"
    )
    cfg = {
        "env_file": str(env),
        "slots": {},
        "secret_names": ["SECRET_KEY", "DATABASE_URL", "PAYMENT_TOKEN"],
        "secret_file_names": ["JWT_KEY_FILE"],
    }
    secrets, notes = audit._read_secrets(cfg)
    assert notes == []
    assert secrets == {
        "SECRET_KEY": {"k-0123456789abcdef"},
        "PAYMENT_TOKEN": {"tok-0123456789"},
        "JWT_KEY_FILE": {"MC4CAQAwBQYDK2VwBCIEIOabcdefghijkl"},
    }
    # Without the layout's names (an older app_layout): the two of old only.
    assert set(audit._read_secrets({"env_file": str(env), "slots": {}})[0]) == {"SECRET_KEY"}
