# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Polling logic of the pyops.fastapi.health_check module.

Private to the collection (leading underscore): no compatibility promise outside it.
Standard library and ansible.module_utils.urls only, so it runs on any managed host's Python 3.9+.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import signal
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse

from ansible.module_utils.urls import Request, make_context

# How much of a response is read (JSON parsing, regex) and how much of it a failure reports. The read limit
# bounds memory: parsed JSON can take 20 times the size of its text.
BODY_READ_LIMIT = 1024 * 1024
BODY_REPORT_LIMIT = 1024
# Deeper JSON is not returned: ansible's own (recursive) handling of the result could fail on it.
JSON_DEPTH_LIMIT = 100
MAX_REDIRECTS = 10  # as urllib
REDIRECT_CODES = (301, 302, 303, 307, 308)
# A request may run this long past wait_timeout (or timeout, when shorter): the last poll starts at the deadline.
DEADLINE_GRACE = 1.0

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

# The user name and password of a URL, as urllib.parse reads them: from "//" to the last @ before the end of the
# host (/, ? or #). The scheme is optional, so a scheme-relative Location header is covered too.
_URL_USERINFO = re.compile(r"((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)[^/?#\s]*@")
REDACTED = "***"

TOO_LARGE = "body is larger than 1 MiB, the most the module reads; it cannot be checked"
TOO_DEEP = f"response JSON nested too deeply (more than {JSON_DEPTH_LIMIT} levels)"

# What to look at next, appended to the failure message.
HINTS = {
    ERROR_CONNECTION_REFUSED: "is the application running and listening there?",
    ERROR_TIMEOUT: "the application accepted the connection but did not answer in time; "
    "look for blocking start-up work or raise timeout",
    ERROR_TLS: "set ca_path to the CA that signed the certificate and host to a name the certificate holds",
}


def redact_url(text):
    """Return `text` with the user name and password of every URL in it replaced by ***.

    For a URL (https://user:token@host/path -> https://***@host/path) or a message that quotes URLs: everything
    the module reports goes through it, while requests still use the real URL. None stays None.
    """
    if text is None:
        return None
    return _URL_USERINFO.sub(rf"\g<1>{REDACTED}@", str(text))


def url_secrets(url):
    """The strings of `url`'s user name and password to hide from the module's output (AnsibleModule.no_log_values).

    The password as written and percent-decoded, or the user name when there is no password (a token used as the
    user name). Taken up to the last @ of the URL, so a credential with an unencoded /, ? or # is caught too.
    """
    userinfo = (url or "").partition("://")[2].rpartition("@")[0]
    user, colon, password = userinfo.partition(":")
    secret = password if colon and password else user
    return {value for value in (secret, urllib.parse.unquote(secret)) if value}


class HealthCheckError(Exception):
    """Raised for bad parameters and when the endpoints do not pass in time; carries the structured result.

    The message is redacted (redact_url): it may quote the url.
    """

    def __init__(self, msg, result=None):
        msg = redact_url(msg)
        super().__init__(msg)
        self.msg = msg
        self.result = result or {}


class RequestDeadline(Exception):
    """Raised from SIGALRM in a request that runs past its deadline.

    Not an OSError: socket.create_connection and urllib catch those (trying the next address, wrapping them).
    """


class Watchdog:
    """Stops a request at its deadline, whatever it is blocked in (connecting, TLS, headers, body).

    Socket timeouts apply to each read, so a server that sends a byte now and then keeps a request going for
    ever. A one-shot SIGALRM raises RequestDeadline in the request instead. Signals only reach the main
    thread, and another user of SIGALRM is left alone: then the watchdog does nothing and only the per-read
    timeout, capped at the time left, applies. Name resolution (getaddrinfo) is not interrupted either way.
    """

    def __init__(self):
        self.active = False
        self.armed_now = False
        self.previous = None

    def __enter__(self):
        try:
            self.active = (
                hasattr(signal, "setitimer")
                and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN)
                and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
            )
            if self.active:
                self.previous = signal.signal(signal.SIGALRM, self._on_alarm)
        except (ValueError, OSError):
            self.active = False
        return self

    def __exit__(self, *exc_info):
        if self.active:
            self.armed_now = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
            self.active = False

    def _on_alarm(self, signum, frame):  # pylint: disable=unused-argument
        # Raise once, and only while a request is armed: an alarm that arrives as it is disarmed is ignored.
        if self.armed_now:
            self.armed_now = False
            raise RequestDeadline("the request ran past its deadline")

    @contextlib.contextmanager
    def armed(self, seconds):
        """Raise RequestDeadline in the block if it runs longer than `seconds`."""
        if not self.active:
            yield
            return
        self.armed_now = True
        try:
            signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
            yield
        finally:
            try:
                self.armed_now = False
            finally:  # disarmed even if the alarm fires on the line above
                signal.setitimer(signal.ITIMER_REAL, 0)


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


def too_deep(value, limit=JSON_DEPTH_LIMIT):
    """Whether parsed JSON nests more than `limit` arrays or objects (iterative: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(text):
    """Return (parsed JSON or None, why it is not usable or None); a body that is not JSON is no problem here."""
    if not text.strip():
        return None, None
    try:
        parsed = json.loads(text)
    except RecursionError:  # the C parser gives up at the interpreter's recursion limit
        return None, TOO_DEEP
    except ValueError:  # not JSON, or an integer too long to convert
        return None, None
    if isinstance(parsed, (dict, list)) and too_deep(parsed):
        return None, TOO_DEEP
    return parsed, None


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
    ((RequestDeadline, socket.timeout, TimeoutError), ERROR_TIMEOUT, lambda e, t: t),
    (ConnectionRefusedError, ERROR_CONNECTION_REFUSED, lambda e, t: "connection refused"),
    (socket.gaierror, ERROR_CONNECTION, lambda e, t: f"cannot resolve the host name: {e}"),
    (FileNotFoundError, ERROR_CONNECTION, lambda e, t: f"unix socket not found: {e}"),
    (
        (http.client.HTTPException, ConnectionError),
        ERROR_CONNECTION,
        lambda e, t: f"connection failed: {type(e).__name__} ({e})",
    ),
)


def describe_error(exc, timed_out):
    """Return (error kind, one-phrase reason) for an exception raised while sending a request.

    `timed_out` is the reason given for a timeout: which limit (timeout or wait_timeout) stopped the request.
    """
    cause = _root_cause(exc)
    for types, kind, describe in _ERROR_KINDS:
        if isinstance(cause, types):
            return kind, describe(cause, timed_out)
    return ERROR_CONNECTION, f"connection failed: {cause or type(cause).__name__}"


class Endpoint:
    """One check: a path, the accepted status codes and optional body expectations, and its latest outcome."""

    def __init__(self, url, path, status=None, expect_json=None, body_regex=None):
        self.path = path
        self.url = url  # what is requested, with any user name and password
        self.shown_url = redact_url(url)  # what is reported
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
            "url": self.shown_url,
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
        self.reason = redact_url(reason)  # exception texts and redirect notes may quote a URL
        self.error = error
        self.http_status = status
        self.latency_ms = None if latency is None else round(latency * 1000.0, 1)
        self.body = body
        self.json = parsed

    def judge(self, status, headers, body, too_large=False, note=None):
        """Compare a response with the expectations; return (passed, reason, error kind, parsed JSON).

        `too_large`: the body was cut at BODY_READ_LIMIT. `note`: why a redirect was not followed.
        """
        text = body.decode("utf-8", "replace")
        parsed, json_problem = (None, None) if too_large else parse_json(text)
        if status not in self.status:
            expected = ", ".join(str(code) for code in self.status)
            if len(self.status) > 1:
                expected = "one of " + expected
            reason = f"status {status}, expected {expected}"
            if note:
                reason += f" ({note})"
            return False, reason, ERROR_STATUS, parsed
        why = self.body_mismatch(text, parsed, json_problem, too_large, headers)
        if why:
            return False, why, ERROR_BODY, parsed
        checked = [f"status {status}"]
        if self.expect_json is not None:
            checked.append("JSON matched")
        if self.pattern is not None:
            checked.append("body_regex matched")
        return True, ", ".join(checked), None, parsed

    def body_mismatch(self, text, parsed, json_problem, too_large, headers):
        """Why the body does not meet json and body_regex, or None."""
        if too_large:
            return TOO_LARGE if self.expect_json is not None or self.pattern is not None else None
        why = None
        if self.expect_json is not None:
            if json_problem or parsed is None:
                content_type = headers.get("Content-Type") if headers is not None else None
                why = json_problem or f"body is not JSON (Content-Type {content_type or 'missing'})"
            else:
                why = json_mismatch(self.expect_json, parsed)
        if why is None and self.pattern is not None and not self.pattern.search(text):
            why = f"body does not match body_regex {self.body_regex!r}"
        return why


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


def _origin(parts):
    """(scheme, host name, port) of a split URL: what a redirect must keep to be sent credentials and Host."""
    port = parts.port or (443 if parts.scheme == "https" else 80)  # ValueError for a bad port
    return parts.scheme, (parts.hostname or "").lower(), port


def _request_headers(headers, host, parts):
    """Copy `headers`; with `host`, replace any Host header by host[:port of the URL unless default]."""
    result = dict(headers or {})
    if host:
        for name in [name for name in result if name.lower() == "host"]:
            del result[name]
        default_port = 443 if parts.scheme == "https" else 80
        result["Host"] = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
    return result


# What `systemctl show` reports of the unit O(unit) names, read after each failing poll.
UNIT_PROPERTIES = ("ActiveState", "SubState", "Result", "NRestarts", "ExecMainStatus")


def unit_stopped(unit, show_output):
    """Why the systemd unit can no longer serve, from `systemctl show --property=...` output (UNIT_PROPERTIES):
    it is not running (failed, inactive, deactivating) or has been restarted since it was started. None while it
    runs (or starts for the first time)."""
    state = dict(line.split("=", 1) for line in show_output.splitlines() if "=" in line)
    restarts = int(state.get("NRestarts") or 0)
    active = state.get("ActiveState", "")
    if active in ("active", "activating", "reloading") and state.get("SubState") != "auto-restart" and not restarts:
        return None
    return (
        f"its unit {unit} is {active or 'unknown'}/{state.get('SubState', '')} (result {state.get('Result', '')}, "
        f"main process exit status {state.get('ExecMainStatus', '')}, restarted {restarts} times)"
    )


class HealthChecker:
    """Poll a list of endpoints until all of them pass `successes` polls in a row, or a deadline passes.

    The keyword arguments are the module's options (see plugins/modules/health_check.py); `clock` and
    `sleep` can be replaced in tests. `gone`, when given, is called after each failing poll, once when the
    endpoints pass and after each poll of the watch: it returns why the server can no longer pass (its process,
    or another process of the release, exited), which ends the wait at once, or None.
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
        allow_cross_origin_redirects=False,
        use_proxy=True,
        timeout=5.0,
        wait_timeout=60.0,
        interval=0.1,
        max_interval=0.2,
        backoff=1.5,
        successes=1,
        watch=0.0,
        clock=time.monotonic,
        sleep=time.sleep,
        gone=None,
    ):
        if not url and not unix_socket:
            raise HealthCheckError("Give url, unix_socket or both.")
        url = url or "http://localhost"
        if "@" in (_URL_USERINFO.sub("", url, count=1) if _URL_USERINFO.match(url) else url):
            # Reports hide the userinfo only: another @ may end a credential that urllib cuts elsewhere.
            raise HealthCheckError(
                "url has an @ that does not end its user name and password, so it is not shown; percent-encode "
                "/ ? # @ and spaces in a user name or password (%2F %3F %23 %40 %20) and @ in the path (%40)."
            )
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HealthCheckError(f"url must be an http:// or https:// URL with a host, got {redact_url(url)!r}.")
        try:
            origin = _origin(parts)
        except ValueError as exc:  # a port that is not a number, or out of range
            raise HealthCheckError(f"url {redact_url(url)!r} is not valid: {exc}.") from exc
        _check_numbers(
            timeout=timeout,
            wait_timeout=wait_timeout,
            interval=interval,
            max_interval=max_interval,
            backoff=backoff,
            successes=successes,
        )
        if watch is None or watch < 0:
            raise HealthCheckError(f"watch must be zero or more, got {watch}.")

        self.method = method.upper()
        self.follow_redirects = follow_redirects
        self.allow_cross_origin_redirects = allow_cross_origin_redirects
        self.unix_socket = unix_socket
        self.timeout = timeout
        self.wait_timeout = wait_timeout
        self.interval = interval
        self.max_interval = max_interval
        self.backoff = backoff
        self.successes = successes
        self.watch = watch
        self.clock = clock
        self.sleep = sleep
        self.gone = gone
        self.watchdog = Watchdog()

        # Redirects keep the Host header, the TLS server name and O(headers) only within the url's origin.
        # With `host`, a redirect to that name on the url's scheme and port names the same server (FastAPI
        # and nginx build absolute redirects from the Host header): it is sent to the url's address.
        self.netloc = parts.netloc
        self.origin = origin
        self.origin_url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self.host_origin = (parts.scheme, host.lower(), self.origin[2]) if host else None

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
            follow_redirects="none",  # followed in fetch(), which decides what each hop is sent
            unix_socket=unix_socket,
            context=context,
        )
        self.foreign_request = None
        if allow_cross_origin_redirects:
            # Another origin gets none of O(headers) (any may be a credential: Authorization, Cookie, an API
            # key), no forced Host or server name, no client certificate, and is reached over TCP.
            self.foreign_request = Request(
                headers={},
                use_proxy=use_proxy,
                force=True,
                timeout=timeout,
                http_agent=USER_AGENT,
                follow_redirects="none",
                context=make_context(cafile=ca_path, validate_certs=validate_certs),
            )

    def redirect(self, current, location):
        """Where a redirect from `current` to `location` goes: (URL, Request to send it with) or (None, why not)."""
        target = urllib.parse.urljoin(current, location.strip().replace(" ", "%20"))
        try:
            parts = urllib.parse.urlsplit(target)
            origin = _origin(parts)
        except ValueError:
            return None, f"redirect to {location} not followed: not a valid URL"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None, f"redirect to {location} not followed: not an http or https URL"
        if origin == self.origin:
            return target, self.request
        if origin == self.host_origin:
            return parts._replace(netloc=self.netloc).geturl(), self.request
        if self.foreign_request is not None:
            return target, self.foreign_request
        return None, f"redirect to {target} leaves {self.origin_url}, not followed; see allow_cross_origin_redirects"

    def fetch(self, url, timeout, seen):
        """Send the request, following redirects as configured; return (status, headers, body, too_large, note).

        `note` says why the last response, a redirect, was not followed. `seen["status"]` is set to the
        status of the final response before its body is read, for when reading it fails.
        """
        request = self.request
        hops = 0
        while True:
            try:
                response = request.open(self.method, url, timeout=timeout)
            except urllib.error.HTTPError as exc:  # 4xx, 5xx and redirects are responses too
                response = exc
            try:
                status = response.getcode()
                headers = response.headers
                location = headers.get("Location") if status in REDIRECT_CODES else None
                note = None
                if location and self.follow_redirects == "none":
                    note = f"redirect to {location} not followed, see follow_redirects"
                elif location and hops == MAX_REDIRECTS:
                    note = f"stopped after {MAX_REDIRECTS} redirects"
                elif location:
                    target, request_or_note = self.redirect(url, location)
                    if target is not None:
                        url, request, hops = target, request_or_note, hops + 1
                        continue  # the finally clause closes this response first
                    note = request_or_note
                seen["status"] = status
                # One byte more than the limit tells a body at the limit from a longer one.
                body = (response.read(BODY_READ_LIMIT + 1) if response.fp is not None else b"") or b""
                return status, headers, body[:BODY_READ_LIMIT], len(body) > BODY_READ_LIMIT, note
            finally:
                response.close()

    def probe(self, endpoint, end=None):
        """Send one request to an endpoint and record the outcome on it; return whether it passed.

        The request, redirects and body included, stops `timeout` after it starts, or at `end` when sooner.
        """
        endpoint.attempts += 1
        started = self.clock()
        stop = started + self.timeout
        timed_out = f"timed out (no complete response within timeout={self.timeout} s)"
        if end is not None and end < stop:
            stop = end
            timed_out = f"timed out (wait_timeout={self.wait_timeout} s ran out before the response was complete)"
        if stop - started <= 0:
            endpoint.record(False, timed_out, error=ERROR_TIMEOUT, latency=0.0)
            return False
        seen = {}
        try:
            with self.watchdog.armed(stop - started):
                # The per-read timeout is capped too, for when the watchdog cannot run.
                status, headers, body, too_large, note = self.fetch(endpoint.url, stop - started, seen)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            kind, reason = describe_error(exc, timed_out)
            status = seen.get("status")
            if status is not None:
                reason = f"status {status}, then reading the body failed: {reason}"
            endpoint.record(False, reason, error=kind, status=status, latency=self.clock() - started)
            return False
        latency = self.clock() - started
        passed, reason, kind, parsed = endpoint.judge(status, headers, body, too_large, note)
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

    def poll(self, end=None):
        """Check the endpoints in order, stopping at the first one that fails; return the failing one or None."""
        for endpoint in self.endpoints:
            if not self.probe(endpoint, end):
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
        (when more passes are needed) the delay is `interval`. The last poll starts at the deadline at the
        latest, and no request runs more than DEADLINE_GRACE (or `timeout`, when shorter) past it.
        With wait_timeout=0 each endpoint is checked once, within its `timeout`.
        """
        started = self.clock()
        deadline = started + self.wait_timeout
        # A timeout within the grace bounds every request already (they start by the deadline).
        end = deadline + DEADLINE_GRACE if self.wait_timeout > 0 and self.timeout > DEADLINE_GRACE else None
        delays = poll_delays(self.interval, self.backoff, self.max_interval)
        attempts = 0
        streak = 0
        with self.watchdog:
            while True:
                attempts += 1
                failed = self.poll(end)
                now = self.clock()
                if failed is None:
                    streak += 1
                    if streak >= self.successes:
                        passed = now - started
                        # A process of the release that does not answer HTTP (a queue worker) may have
                        # died while the endpoints passed.
                        reason = self.gone() if self.gone else None
                        if reason:
                            result = self.result(attempts, self.clock() - started)
                            result["msg"] = f"The endpoints passed, but {reason}."
                            raise HealthCheckError(result["msg"], result)
                        if self.watch > 0:
                            attempts = self.keep_watching(attempts, started)
                        return self.success(attempts, passed)
                    delays = poll_delays(self.interval, self.backoff, self.max_interval)
                    delay = self.interval
                else:
                    streak = 0
                    delay = next(delays)
                    reason = self.gone() if self.gone else None
                    if reason:
                        raise self.failure(failed, attempts, self.clock() - started, streak, gone=reason)
                if now >= deadline:
                    raise self.failure(failed, attempts, now - started, streak)
                self.sleep(min(delay, deadline - now))

    def keep_watching(self, attempts, started):
        """After the endpoints passed: poll them every `max_interval` for `watch` seconds more. The first failing
        poll, or the server's unit stopping or restarting (`gone`), raises HealthCheckError at once. Returns the
        attempts made in all."""
        watch_started = self.clock()
        watch_end = watch_started + self.watch
        while True:
            now = self.clock()
            if now >= watch_end:
                return attempts
            self.sleep(min(self.max_interval, watch_end - now))
            attempts += 1
            failed = self.poll()
            reason = self.gone() if self.gone else None
            if failed is not None or reason:
                into = self.clock() - watch_started
                result = self.result(attempts, self.clock() - started)
                cause = reason or f"endpoint {failed.path} ({self.method} {failed.shown_url}) failed: {failed.reason}"
                result["msg"] = (
                    f"The endpoints passed, then {cause}, {into:.1f} s into the watch of {self.watch:g} s"
                    f" ({attempts} attempts)."
                )
                raise HealthCheckError(result["msg"], result)

    def success(self, attempts, elapsed):
        result = self.result(attempts, elapsed)
        in_a_row = f" {self.successes} polls in a row" if self.successes > 1 else ""
        plural = "" if attempts == 1 else "s"
        count = len(self.endpoints)
        subject = f"All {count} endpoints" if count > 1 else f"Endpoint {self.endpoints[0].path}"
        result["msg"] = f"{subject} passed{in_a_row} after {attempts} attempt{plural} in {result['elapsed']:.2f} s."
        if self.watch > 0:
            result["msg"] = result["msg"][:-1] + f", and kept passing for the {self.watch:g} s watched."
        return result

    def failure(self, failed, attempts, elapsed, streak, gone=None):
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
            within = (
                f"after {attempts} attempts in {result['elapsed']:.2f} s, and will not: {gone}. The last attempt"
                if gone
                else f"within wait_timeout={self.wait_timeout} s after {attempts} attempts"
            )
            msg = (
                f"Endpoint {failed.path} ({self.method} {failed.shown_url}{via}) did not pass {within}: "
                f"{failed.reason}{'; ' + hint if hint and not gone else ''}."
            )
        result["msg"] = msg
        return HealthCheckError(msg, result)
