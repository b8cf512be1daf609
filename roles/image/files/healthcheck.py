"""The image's HEALTHCHECK (pyops.fastapi.image): GET the app's health path on gunicorn's unix socket.

Exit status 0 when the answer is 2xx, 1 otherwise: what podman and Docker expect of a health check.
The socket is $PYOPS_HEALTH_SOCKET (the image sets it, a slot's runtime sets its own), the path
$PYOPS_HEALTH_PATH. Standard library only: it runs with the release's virtualenv Python.
"""

import http.client
import os
import socket
import sys


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def main():
    connection = UnixConnection(os.environ["PYOPS_HEALTH_SOCKET"], timeout=5)
    try:
        connection.request("GET", os.environ.get("PYOPS_HEALTH_PATH", "/health"))
        status = connection.getresponse().status
    except OSError as exc:
        print(f"health check: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    print(f"health check: HTTP {status}")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
