# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""HTTP servers for the module tests: routes with scripted replies, over TCP, TLS or a unix socket."""

from __future__ import annotations

import base64
import http.server
import json
import socketserver
import threading
import time


class Reply:
    """What a route answers: status, body (dict/list -> JSON, str, bytes), extra headers, delay before answering.

    drip > 0 sends the body one byte every `drip` seconds (with drip_head, the whole response: status line and
    headers too), a server that is never silent for long but never finishes in time.
    """

    def __init__(self, status=200, body=None, headers=None, delay=0.0, drip=0.0, drip_head=False):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.delay = delay
        self.drip = drip
        self.drip_head = drip_head


class App:
    """Routes of a test server. A route is a Reply or a callable returning one; every request is recorded.

    With `basic_auth` set to (user, password), a request without that Authorization header gets a 401 challenge.
    """

    def __init__(self):
        self.routes = {}
        self.requests = []
        self.lock = threading.Lock()
        self.released = threading.Event()  # set at teardown so slow handlers stop waiting
        self.basic_auth = None

    def route(self, path, reply=None, **kwargs):
        self.routes[path] = reply if reply is not None else Reply(**kwargs)

    def requests_to(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def answer(self, method, path, headers):
        with self.lock:
            self.requests.append({"method": method, "path": path, "headers": dict(headers), "time": time.monotonic()})
        if self.basic_auth is not None:
            expected = "Basic " + base64.b64encode(":".join(self.basic_auth).encode()).decode()
            if headers.get("Authorization") != expected:
                return Reply(401, {"detail": "Not authenticated"}, {"WWW-Authenticate": 'Basic realm="app"'})
        route = self.routes.get(path.split("?", 1)[0])
        if route is None:
            return Reply(404, {"detail": "Not Found"})
        return route() if callable(route) else route


class Handler(http.server.BaseHTTPRequestHandler):
    def _serve(self, with_body):
        reply = self.server.app.answer(self.command, self.path, self.headers)
        if reply.delay:
            self.server.app.released.wait(reply.delay)
        body = reply.body
        content_type = "text/plain; charset=utf-8"
        if isinstance(body, (dict, list)):
            body, content_type = json.dumps(body).encode(), "application/json"
        elif isinstance(body, str):
            body = body.encode()
        elif body is None:
            body = b""
        body_out = body if with_body else b""
        try:
            if reply.drip and reply.drip_head:
                head = f"HTTP/1.0 {reply.status} Dripping\r\nContent-Type: {content_type}\r\n"
                head += f"Content-Length: {len(body)}\r\n\r\n"
                self._drip(head.encode() + body_out, reply.drip)
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.drip:
                self._drip(body_out, reply.drip)
            else:
                self.wfile.write(body_out)
        except OSError:  # the client gave up (timeout tests)
            pass

    def _drip(self, data, every):
        for index in range(len(data)):
            if self.server.app.released.wait(every):  # teardown
                return
            self.wfile.write(data[index : index + 1])

    def do_GET(self):  # noqa: N802
        self._serve(True)

    def do_HEAD(self):  # noqa: N802
        self._serve(False)

    def log_message(self, format, *args):  # noqa: A002  # pylint: disable=redefined-builtin
        pass


class TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # TLS handshakes the client aborts on purpose are expected here


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass
