"""Tests of roles/audit/files/audit.py against real local servers and sockets (no mocks of its probes)."""

from __future__ import annotations

import datetime
import grp
import http.server
import importlib.util
import io
import os
import pwd
import socket
import ssl
import threading
import warnings
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "audit" / "files" / "audit.py"
NAME = "api.example.test"

spec = importlib.util.spec_from_file_location("pyops_audit", SCRIPT)
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)


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

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        for name, value in self.headers_to_send.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path):
    """start(days=..., old=False, headers={}) -> cfg pointing at a local HTTPS server."""
    servers = []

    def start(days=90, old=False, headers=None):
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
        handler = type("H", (Handler,), {"headers_to_send": headers or {}})
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
