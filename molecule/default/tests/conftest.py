"""Helpers for the full-stack verify: requests made from inside the container, over loopback."""

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVER_NAME = "api.example.test"

# Runs inside the container with its own python3: connects to 127.0.0.1 but sends the
# public name as Host header and TLS SNI, like a client that resolved the name.
_PROBE = r"""
import http.client, json, socket, ssl, sys
scheme, port, path, name, source = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
conn = (http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection)(name, port, timeout=10)
sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
if scheme == "https":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = ctx.wrap_socket(sock, server_hostname=name)
conn.sock = sock
conn.request("GET", path, headers={"Host": name})
resp = conn.getresponse()
body = resp.read().decode("utf-8", "replace")
print(json.dumps({"status": resp.status, "headers": {k.lower(): v for k, v in resp.getheaders()}, "body": body}))
"""


class Response:
    def __init__(self, raw):
        self.status = raw["status"]
        self.headers = raw["headers"]
        self.text = raw["body"]

    def json(self):
        return json.loads(self.text)


@pytest.fixture
def fetch(host):
    """fetch(path, scheme='https', port=None, name=SERVER_NAME, source='127.0.0.1') -> Response.

    `source` picks the client address; any other 127.0.0.0/8 address stands in for a
    remote client while the traffic stays on loopback.
    """

    def _fetch(path, scheme="https", port=None, name=SERVER_NAME, source="127.0.0.1"):
        port = port or (443 if scheme == "https" else 80)
        cmd = host.run("python3 -c %s %s %s %s %s %s", _PROBE, scheme, str(port), path, name, source)
        assert cmd.rc == 0, cmd.stderr
        return Response(json.loads(cmd.stdout))

    return _fetch


@pytest.fixture
def run_site():
    """Run the site playbook by its FQCN, from the controller, against the scenario's inventory.

    ANSIBLE_COLLECTIONS_PATH from the provisioner decides which copy of the collection
    runs: the checkout, or the one installed from the tarball.
    """

    def _run(extra_vars, *args):
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        cmd = [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            "pyops.fastapi.site",
            "-e",
            json.dumps(extra_vars),
            *args,
        ]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)

    return _run


@pytest.fixture
def host_state(host):
    """A fingerprint of everything the stack writes: paths, sizes, modes, link targets, mtimes."""

    def _state():
        paths = "/opt /etc/nginx /etc/systemd/system /etc/letsencrypt /var/www"
        cmd = host.run(
            "find %s -xdev \\( -type f -o -type l -o -type d \\) -printf '%%p %%s %%m %%l %%T@\\n' 2>/dev/null | sort",
            paths,
        )
        return cmd.stdout

    return _state


def shell_quote(value):
    return shlex.quote(value)
