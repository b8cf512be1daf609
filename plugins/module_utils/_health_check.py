# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Polling logic of the pyops.fastapi.health_check module.

Private to the collection (leading underscore): no compatibility promise outside it.
Standard library and ansible.module_utils.urls only, so it runs on any managed host's Python 3.9+.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse

from ansible.module_utils.urls import Request, make_context

# How much of a response is read (JSON parsing, regex) and how much of it a failure reports.
BODY_READ_LIMIT = 64 * 1024
BODY_REPORT_LIMIT = 1024

DEFAULT_ENDPOINTS = ({"path": "/health"}, {"path": "/ready"})
USER_AGENT = "ansible-pyops.fastapi.health_check"
NOT_CHECKED = "not checked: an earlier endpoint has not passed"

# Kinds of failure reported in each endpoint's `error` field.
ERROR_CONNECTION_REFUSED = "connection_refused"
ERROR_TIMEOUT = "timeout"
ERROR_TLS = "tls"
ERROR_CONNECTION = "connection"
ERROR_STATUS = "status"
ERROR_BODY = "body"

# What to look at next, appended to the failure message.
HINTS = {
    ERROR_CONNECTION_REFUSED: "is the application running and listening there?",
    ERROR_TIMEOUT: "the application accepted the connection but did not answer in time; "
    "look for blocking start-up work or raise timeout",
    ERROR_TLS: "set ca_path to the CA that signed the certificate and host to a name the certificate holds",
}


class HealthCheckError(Exception):
    """Raised for bad parameters and when the endpoints do not pass in time; carries the structured result."""

    def __init__(self, msg, result=None):
        super().__init__(msg)
        self.msg = msg
        self.result = result or {}


class ServerNameContext:
    """An ssl.SSLContext that presents a fixed server name whatever address it connects to.

    urllib (and so ansible.module_utils.urls) takes the TLS server name (SNI, and the name the
    certificate is checked against) from the URL's host. To check https://127.0.0.1 as
    api.example.test, this wrapper replaces that name when the socket is wrapped; everything else
    is delegated to the real context built by urls.make_context (CA bundle, client certificate).
    """

    def __init__(self, context, server_name):
        object.__setattr__(self, "_context", context)
        object.__setattr__(self, "_server_name", server_name)

    def wrap_socket(self, sock, **kwargs):
        kwargs["server_hostname"] = self._server_name
        return self._context.wrap_socket(sock, **kwargs)

    def __getattr__(self, name):
        return getattr(self._context, name)

    def __setattr__(self, name, value):
        setattr(self._context, name, value)


def poll_delays(interval, backoff, max_interval):
    """Yield the delays between failing polls: interval, interval*backoff, ... capped at max_interval."""
    delay = min(interval, max_interval)
    while True:
        yield delay
        delay = min(delay * backoff, max_interval)


def json_mismatch(expected, actual, path=""):
    """Return why `actual` does not contain the subset `expected`, or None when it does.

    Objects match when every expected key is present and matches recursively (extra keys are fine);
    anything else must be equal, and booleans are not numbers (true does not match 1).
    """
    where = f"field {path}" if path else "body"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"JSON {where}: expected an object, got {_show(actual)}"
        for key, value in expected.items():
            sub_path = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return f"JSON field {sub_path} is missing (expected {_show(value)})"
            why = json_mismatch(value, actual[key], sub_path)
            if why:
                return why
        return None
    if isinstance(expected, bool) != isinstance(actual, bool) or expected != actual:
        return f"JSON {where}: expected {_show(expected)}, got {_show(actual)}"
    return None


def _show(value, limit=120):
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


def _root_cause(exc):
    """Unwrap urllib's URLError and the plain OSError ansible's unix socket connection raises."""
    for _dummy in range(10):
        if (
            isinstance(exc, urllib.error.URLError)
            and not isinstance(exc, urllib.error.HTTPError)
            and isinstance(exc.reason, BaseException)
        ):
            exc = exc.reason
        elif type(exc) is OSError and exc.errno is None and exc.__context__ is not None:  # pylint: disable=unidiomatic-typecheck
            exc = exc.__context__
        else:
            break
    return exc


# First match wins: SSL errors and timeouts are OSErrors too, so they come before the generic ones.
_ERROR_KINDS = (
    (
        ssl.SSLCertVerificationError,
        ERROR_TLS,
        lambda e, t: f"TLS certificate verification failed: {e.verify_message or e.reason or e}",
    ),
    (ssl.SSLError, ERROR_TLS, lambda e, t: f"TLS error: {e.reason or e}"),
    ((socket.timeout, TimeoutError), ERROR_TIMEOUT, lambda e, t: f"timed out (no response within timeout={t} s)"),
    (ConnectionRefusedError, ERROR_CONNECTION_REFUSED, lambda e, t: "connection refused"),
    (socket.gaierror, ERROR_CONNECTION, lambda e, t: f"cannot resolve the host name: {e}"),
    (FileNotFoundError, ERROR_CONNECTION, lambda e, t: f"unix socket not found: {e}"),
    (
        (http.client.HTTPException, ConnectionError),
        ERROR_CONNECTION,
        lambda e, t: f"connection failed: {type(e).__name__} ({e})",
    ),
)


def describe_error(exc, timeout):
    """Return (error kind, one-phrase reason) for an exception raised while sending a request."""
    cause = _root_cause(exc)
    for types, kind, describe in _ERROR_KINDS:
        if isinstance(cause, types):
            return kind, describe(cause, timeout)
    return ERROR_CONNECTION, f"connection failed: {cause or type(cause).__name__}"


class Endpoint:
    """One check: a path, the accepted status codes and optional body expectations, and its latest outcome."""

    def __init__(self, url, path, status=None, expect_json=None, body_regex=None):
        self.path = path
        self.url = url
        self.status = list(status) if status else [200]
        self.expect_json = expect_json
        self.body_regex = body_regex
        self.pattern = None
        if body_regex is not None:
            try:
                self.pattern = re.compile(body_regex)
            except re.error as exc:
                raise HealthCheckError(f"Endpoint {path} has an invalid body_regex {body_regex!r}: {exc}.") from exc
        self.attempts = 0
        self.passed = False
        self.http_status = None
        self.latency_ms = None
        self.json = None
        self.reason = NOT_CHECKED
        self.error = None
        self.body = None

    def as_dict(self):
        return {
            "path": self.path,
            "url": self.url,
            "status": self.http_status,
            "latency_ms": self.latency_ms,
            "attempts": self.attempts,
            "json": self.json,
            "passed": self.passed,
            "reason": self.reason,
            "error": self.error,
        }

    def record(self, passed, reason, *, error=None, status=None, latency=None, body=None, parsed=None):
        self.passed = passed
        self.reason = reason
        self.error = error
        self.http_status = status
        self.latency_ms = None if latency is None else round(latency * 1000.0, 1)
        self.body = body
        self.json = parsed

    def judge(self, status, headers, body):
        """Compare a response with the expectations; return (passed, reason, error kind, parsed JSON)."""
        text = body.decode("utf-8", "replace")
        parsed = None
        if text.strip():
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        if status not in self.status:
            expected = ", ".join(str(code) for code in self.status)
            if len(self.status) > 1:
                expected = "one of " + expected
            reason = f"status {status}, expected {expected}"
            location = headers.get("Location") if headers is not None else None
            if location and 300 <= status < 400:
                reason += f" (redirect to {location} not followed, see follow_redirects)"
            return False, reason, ERROR_STATUS, parsed
        checked = [f"status {status}"]
        if self.expect_json is not None:
            if parsed is None:
                content_type = headers.get("Content-Type") if headers is not None else None
                return False, f"body is not JSON (Content-Type {content_type or 'missing'})", ERROR_BODY, None
            why = json_mismatch(self.expect_json, parsed)
            if why:
                return False, why, ERROR_BODY, parsed
            checked.append("JSON matched")
        if self.pattern is not None:
            if not self.pattern.search(text):
                return False, f"body does not match body_regex {self.body_regex!r}", ERROR_BODY, parsed
            checked.append("body_regex matched")
        return True, ", ".join(checked), None, parsed


def _check_numbers(*, timeout, wait_timeout, interval, max_interval, backoff, successes):
    for name, value in (("timeout", timeout), ("interval", interval), ("max_interval", max_interval)):
        if value is None or value <= 0:
            raise HealthCheckError(f"{name} must be more than zero, got {value}.")
    if wait_timeout is None or wait_timeout < 0:
        raise HealthCheckError(f"wait_timeout must be zero or more, got {wait_timeout}.")
    if backoff is None or backoff < 1:
        raise HealthCheckError(f"backoff must be 1 or more, got {backoff}.")
    if successes is None or successes < 1:
        raise HealthCheckError(f"successes must be 1 or more, got {successes}.")


def _request_headers(headers, host, parts):
    """Copy `headers`; with `host`, replace any Host header by host[:port of the URL unless default]."""
    result = dict(headers or {})
    if host:
        for name in [name for name in result if name.lower() == "host"]:
            del result[name]
        default_port = 443 if parts.scheme == "https" else 80
        result["Host"] = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
    return result


class HealthChecker:
    """Poll a list of endpoints until all of them pass `successes` polls in a row, or a deadline passes.

    The keyword arguments are the module's options (see plugins/modules/health_check.py); `clock` and
    `sleep` can be replaced in tests.
    """

    def __init__(
        self,
        *,
        url=None,
        endpoints=None,
        unix_socket=None,
        host=None,
        headers=None,
        method="GET",
        validate_certs=True,
        ca_path=None,
        client_cert=None,
        client_key=None,
        follow_redirects="safe",
        use_proxy=True,
        timeout=5.0,
        wait_timeout=60.0,
        interval=0.1,
        max_interval=0.2,
        backoff=1.5,
        successes=1,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        if not url and not unix_socket:
            raise HealthCheckError("Give url, unix_socket or both.")
        url = url or "http://localhost"
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HealthCheckError(f"url must be an http:// or https:// URL with a host, got {url!r}.")
        _check_numbers(
            timeout=timeout,
            wait_timeout=wait_timeout,
            interval=interval,
            max_interval=max_interval,
            backoff=backoff,
            successes=successes,
        )

        self.method = method.upper()
        self.unix_socket = unix_socket
        self.timeout = timeout
        self.wait_timeout = wait_timeout
        self.interval = interval
        self.max_interval = max_interval
        self.backoff = backoff
        self.successes = successes
        self.clock = clock
        self.sleep = sleep

        base = url.rstrip("/")
        self.endpoints = [
            Endpoint(
                url=base + "/" + (item.get("path") or "").lstrip("/"),
                path=item.get("path") or "/",
                status=item.get("status"),
                expect_json=item.get("json"),
                body_regex=item.get("body_regex"),
            )
            for item in (DEFAULT_ENDPOINTS if endpoints is None else endpoints)
        ]
        if not self.endpoints:
            raise HealthCheckError("endpoints must list at least one endpoint.")

        # One TLS context for the whole run: urls.Request would otherwise load the CA store on every poll.
        try:
            context = make_context(
                cafile=ca_path, validate_certs=validate_certs, client_cert=client_cert, client_key=client_key
            )
        except (OSError, ssl.SSLError) as exc:
            raise HealthCheckError(
                f"Cannot load the TLS files (ca_path={ca_path}, client_cert={client_cert}, "
                f"client_key={client_key}): {exc}."
            ) from exc
        if host:
            context = ServerNameContext(context, host)

        self.request = Request(
            headers=_request_headers(headers, host, parts),
            # Proxies make no sense for a unix socket; elsewhere honour the environment like ansible.builtin.uri.
            use_proxy=use_proxy and not unix_socket,
            force=True,  # Cache-Control: no-cache, so no cache in front of the app answers for it.
            timeout=timeout,
            http_agent=USER_AGENT,
            follow_redirects=follow_redirects,
            unix_socket=unix_socket,
            context=context,
        )

    def probe(self, endpoint):
        """Send one request to an endpoint and record the outcome on it; return whether it passed."""
        endpoint.attempts += 1
        started = self.clock()
        status = headers = None
        body = b""
        try:
            try:
                response = self.request.open(self.method, endpoint.url)
            except urllib.error.HTTPError as exc:  # 4xx, 5xx and redirects not followed are responses too
                response = exc
            try:
                status = response.getcode()
                headers = response.headers
                body = (response.read(BODY_READ_LIMIT) if response.fp is not None else b"") or b""
            finally:
                response.close()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            kind, reason = describe_error(exc, self.timeout)
            if status is not None:
                reason = f"status {status}, then reading the body failed: {reason}"
            endpoint.record(False, reason, error=kind, status=status, latency=self.clock() - started)
            return False
        latency = self.clock() - started
        passed, reason, kind, parsed = endpoint.judge(status, headers, body)
        endpoint.record(
            passed,
            reason,
            error=kind,
            status=status,
            latency=latency,
            body=body.decode("utf-8", "replace"),
            parsed=parsed,
        )
        return passed

    def poll(self):
        """Check the endpoints in order, stopping at the first one that fails; return the failing one or None."""
        for endpoint in self.endpoints:
            if not self.probe(endpoint):
                return endpoint
        return None

    def result(self, attempts, elapsed):
        return {
            "elapsed": round(elapsed, 3),
            "attempts": attempts,
            "endpoints": [endpoint.as_dict() for endpoint in self.endpoints],
        }

    def wait(self):
        """Poll until all endpoints pass `successes` polls in a row; return the result or raise HealthCheckError.

        The delay after a failing poll starts at `interval` and grows by `backoff` up to `max_interval`,
        so readiness is noticed at most about `max_interval` after it happens. After a passing poll
        (when more passes are needed) the delay is `interval`. A request in flight at the deadline is
        allowed to finish within its own `timeout`.
        """
        started = self.clock()
        deadline = started + self.wait_timeout
        delays = poll_delays(self.interval, self.backoff, self.max_interval)
        attempts = 0
        streak = 0
        while True:
            attempts += 1
            failed = self.poll()
            now = self.clock()
            if failed is None:
                streak += 1
                if streak >= self.successes:
                    return self.success(attempts, now - started)
                delays = poll_delays(self.interval, self.backoff, self.max_interval)
                delay = self.interval
            else:
                streak = 0
                delay = next(delays)
            if now >= deadline:
                raise self.failure(failed, attempts, now - started, streak)
            self.sleep(min(delay, deadline - now))

    def success(self, attempts, elapsed):
        result = self.result(attempts, elapsed)
        in_a_row = f" {self.successes} polls in a row" if self.successes > 1 else ""
        plural = "" if attempts == 1 else "s"
        count = len(self.endpoints)
        subject = f"All {count} endpoints" if count > 1 else f"Endpoint {self.endpoints[0].path}"
        result["msg"] = f"{subject} passed{in_a_row} after {attempts} attempt{plural} in {result['elapsed']:.2f} s."
        return result

    def failure(self, failed, attempts, elapsed, streak):
        result = self.result(attempts, elapsed)
        if failed is None:  # the last poll passed, but not `successes` polls in a row
            result["body"] = None
            msg = (
                f"The endpoints passed only {streak} poll(s) in a row before wait_timeout={self.wait_timeout} s "
                f"({attempts} attempts); successes={self.successes} were required."
            )
        else:
            body = failed.body
            if body is not None and len(body) > BODY_REPORT_LIMIT:
                body = body[:BODY_REPORT_LIMIT] + "... (truncated)"
            result["body"] = body
            via = f" via unix socket {self.unix_socket}" if self.unix_socket else ""
            hint = HINTS.get(failed.error)
            msg = (
                f"Endpoint {failed.path} ({self.method} {failed.url}{via}) did not pass within "
                f"wait_timeout={self.wait_timeout} s after {attempts} attempts: {failed.reason}"
                f"{'; ' + hint if hint else ''}."
            )
        result["msg"] = msg
        return HealthCheckError(msg, result)
