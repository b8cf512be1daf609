"""Secrets beyond SECRET_KEY (group_vars/fastapi.yml): app_secrets, one of them an inline vault value
that the converge decrypted with the scenario's password file, and app_secret_files, a PEM key and a
JSON credential whose paths the app gets in its environment."""

import re

import pytest
import stack
from stack import APP

# Written on every distribution by the same tasks; the Debian 12 pass proves them.
pytestmark = pytest.mark.same_on_every_distro

GROUP = APP  # app_group
# The plain text of the vault value in group_vars/fastapi.yml (ansible-vault encrypt_string).
VAULTED = "tok-live-4f8a2c9e1b7d3a6f0e5c8b2d9a4f1e7c"
WEBHOOK = "whsec-9c1e7a3f5b2d8e4a6c0f1b9d7e3a5c2f"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ8QBLu5TC3LbixPL6Y6ECkfgkReHr8kmziul5cHraVf\n"
    "-----END PRIVATE KEY-----\n"
)
SECRETS_DIR = f"/opt/{APP}/shared/secrets"


def _environment(host):
    """The environment of the live slot's gunicorn master, as the app sees it."""
    pid = stack.master_pid(host)
    raw = host.check_output("tr '\\0' '\\n' < /proc/%s/environ", str(pid))
    return dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)


def test_the_app_runs_with_every_secret(host):
    env = _environment(host)
    # The vault value reached the app decrypted; neither it nor the plain one is anywhere else in .env's
    # neighbourhood but .env (0640 root:<group>, checked by test_release_privilege.py and the audit).
    assert env["PAYMENT_API_TOKEN"] == VAULTED
    assert env["WEBHOOK_SIGNING_SECRET"] == WEBHOOK
    pem_path, json_path = env["JWT_PRIVATE_KEY_FILE"], env["GOOGLE_APPLICATION_CREDENTIALS"]
    assert re.fullmatch(rf"{SECRETS_DIR}/[0-9a-f]{{16}}/JWT_PRIVATE_KEY_FILE", pem_path), pem_path
    assert json_path == pem_path.rsplit("/", 1)[0] + "/GOOGLE_APPLICATION_CREDENTIALS"
    assert host.file(pem_path).content_string == PEM
    assert '"type": "service_account"' in host.file(json_path).content_string


def test_secret_files_are_readable_by_the_app_only(host):
    path = _environment(host)["JWT_PRIVATE_KEY_FILE"]
    version = path.rsplit("/", 1)[0]
    for directory in (SECRETS_DIR, version):
        assert (host.file(directory).user, host.file(directory).group, host.file(directory).mode) == (
            "root",
            GROUP,
            0o750,
        ), directory
    for name in ("JWT_PRIVATE_KEY_FILE", "GOOGLE_APPLICATION_CREDENTIALS"):
        secret = host.file(f"{version}/{name}")
        assert (secret.user, secret.group, secret.mode) == ("root", GROUP, 0o640), name
    # The app's user reads it (from inside its sandbox: the slot runs as that user), nobody else does.
    assert host.run("runuser -u %s -- cat %s", APP, path).stdout == PEM
    assert host.run("runuser -u nobody -- cat %s", path).rc != 0
    # One version: the converge made it, the no-op re-run (idempotence) kept it. (Removing a version no
    # slot names any more, and no secret in a run's output: test_zz_upgrade.py, in the run it makes.)
    assert host.check_output("ls %s", SECRETS_DIR).split() == [version.rsplit("/", 1)[1]]
