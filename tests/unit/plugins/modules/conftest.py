# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real HTTP servers on loopback (TCP, TLS, unix socket) in threads, and a throw-away PKI for them."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading

import pytest
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.http_servers import (
    App,
    Handler,
    TCPServer,
    UnixServer,
)

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # the TLS tests skip
    x509 = None


@pytest.fixture
def serve():
    """Start servers for an App: serve(app) -> base URL; serve(app, tls=ctx); serve(app, unix=path) -> path."""
    started = []

    def _serve(app, tls=None, unix=None):
        if unix is not None:
            server = UnixServer(str(unix), Handler)
        else:
            server = TCPServer(("127.0.0.1", 0), Handler)
            if tls is not None:
                server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.app = app
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append((server, app))
        if unix is not None:
            return str(unix)
        scheme = "https" if tls is not None else "http"
        return f"{scheme}://127.0.0.1:{server.server_address[1]}"

    yield _serve
    for server, app in started:
        app.released.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def app():
    return App()


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A CA, a server certificate for api.example.test only, and a client certificate, as PEM files."""
    if x509 is None:
        pytest.skip("the TLS tests need the cryptography package")
    directory = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write_key(key, filename):
        path = directory / filename
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return str(path)

    def write_cert(cert, filename):
        path = directory / filename
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return str(path)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("pyops test CA"))
        .issuer_name(name("pyops test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(common_name, usage, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    server_key, server_cert = issue("api.example.test", ExtendedKeyUsageOID.SERVER_AUTH, san=["api.example.test"])
    client_key, client_cert = issue("deploy-bot", ExtendedKeyUsageOID.CLIENT_AUTH)
    return {
        "ca": write_cert(ca_cert, "ca.pem"),
        "server_cert": write_cert(server_cert, "server.pem"),
        "server_key": write_key(server_key, "server.key"),
        "client_cert": write_cert(client_cert, "client.pem"),
        "client_key": write_key(client_key, "client.key"),
    }


@pytest.fixture
def tls_context(pki):
    """Server-side TLS context with the api.example.test certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    return context
