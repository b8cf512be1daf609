"""A private package index for the Molecule verifiers: PEP 503 simple pages behind HTTP basic auth,
on loopback inside the test container. It serves one wheel, built here in memory, and writes one
JSON line per request (path, status, whether the expected credentials came) to --log.

    python3 private_index.py --port 8765 --user builder --password-file FILE --package probe-dep --log FILE
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import io
import json
import zipfile


def make_wheel(name: str, version: str) -> tuple[str, bytes]:
    """A pure-Python wheel of one empty module: (file name, bytes)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": b"",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: pyops-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    )
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{dist}-{version}-py3-none-any.whl", buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True, help="not on the command line: a watcher looks there")
    parser.add_argument("--package", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    wheel_name, wheel = make_wheel(args.package, "1.0")
    with open(args.password_file, encoding="utf-8") as handle:
        password = handle.read().strip()
    expected = "Basic " + base64.b64encode(f"{args.user}:{password}".encode()).decode()
    link = f"/files/{wheel_name}#sha256={hashlib.sha256(wheel).hexdigest()}"
    page = f'<html><body><a href="{link}">{wheel_name}</a></body></html>'

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            authorized = self.headers.get("Authorization") == expected
            if not authorized:
                status, body, kind = 401, b"credentials required\n", "text/plain"
            elif self.path.rstrip("/") == f"/simple/{args.package}":
                status, body, kind = 200, page.encode(), "text/html"
            elif self.path == f"/files/{wheel_name}":
                status, body, kind = 200, wheel, "application/octet-stream"
            else:
                status, body, kind = 404, b"not here\n", "text/plain"
            with open(args.log, "a", encoding="utf-8") as log:
                log.write(json.dumps({"path": self.path, "status": status, "authorized": authorized}) + "\n")
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="private"')
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
