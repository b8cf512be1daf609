# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pyops.fastapi.health_check against real HTTP servers on loopback (see conftest.py): no mocks of our own code."""

from __future__ import annotations

import base64
import itertools
import json
import signal
import ssl
import threading
import time
from unittest import mock

import pytest
from ansible_collections.pyops.fastapi.plugins.module_utils._health_check import (
    HealthChecker,
    HealthCheckError,
    json_mismatch,
    poll_delays,
    redact_url,
    unit_stopped,
    url_secrets,
)
from ansible_collections.pyops.fastapi.plugins.modules import health_check
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.http_servers import App, Handler, Reply, TCPServer
from ansible_collections.pyops.fastapi.tests.unit.plugins.modules.utils import (
    AnsibleFailJson,
    patch_module_args,
    run_module,
)

READY = {"status": "ready"}
STARTING = {"status": "starting"}
# Failing cases give up quickly; passing ones get a generous deadline they never reach.
QUICK = {"wait_timeout": 0.4}


def run(**args):
    args.setdefault("use_proxy", False)  # never let a developer's proxy settings reach these loopback servers
    return run_module(health_check.main, args)


def fail(**args):
    with pytest.raises(AnsibleFailJson) as excinfo:
        run(**args)
    return excinfo.value.result


def flips_at(delay, before, after):
    """A route answering `before` until `delay` seconds from now, then `after`; `.at` is the flip time."""

    def route():
        return after if time.monotonic() >= route.at else before

    route.at = time.monotonic() + delay
    return route


# --- passing ---------------------------------------------------------------------------------------------------


def test_default_endpoints_pass_at_once(app, serve):
    app.route("/health", body={"status": "ok"})
    app.route("/ready", body=READY)
    result = run(url=serve(app))

    assert result["changed"] is False
    assert result["attempts"] == 1
    assert result["msg"] == f"All 2 endpoints passed after 1 attempt in {result['elapsed']:.2f} s."
    assert [e["path"] for e in result["endpoints"]] == ["/health", "/ready"]
    ready = result["endpoints"][1]
    assert ready["passed"] is True and ready["error"] is None
    assert ready["status"] == 200 and ready["json"] == READY and ready["attempts"] == 1
    assert ready["reason"] == "status 200"
    assert ready["url"].endswith("/ready") and ready["latency_ms"] >= 0
    assert "body" not in result
    headers = app.requests_to("/ready")[0]["headers"]
    assert headers["User-Agent"] == "ansible-pyops.fastapi.health_check"
    assert headers["Cache-Control"] == "no-cache"


def test_not_ready_then_ready_is_noticed_quickly(app, serve):
    app.route("/health", body={"status": "ok"})
    ready = flips_at(0.6, Reply(503, STARTING), Reply(200, READY))
    app.route("/ready", ready)
    result = run(url=serve(app), endpoints=[{"path": "/health"}, {"path": "/ready", "json": READY}], wait_timeout=10)
    noticed = time.monotonic()

    assert result["attempts"] > 3
    assert result["endpoints"][1]["json"] == READY
    assert result["endpoints"][1]["reason"] == "status 200, JSON matched"
    assert result["endpoints"][0]["attempts"] == result["attempts"]
    # Default interval 0.1 s growing to max_interval 0.2 s: the first 200 comes at most ~0.2 s after the flip.
    first_ready = app.requests_to("/ready")[-1]["time"]
    assert first_ready - ready.at < 0.5
    assert noticed - ready.at < 1.0


def test_starting_server_refuses_then_answers(app, closed_port):
    """Connection refused while the app starts is not fatal: the module keeps polling until it listens."""
    app.route("/health", body="ok")
    app.route("/ready", body="ok")
    servers = []

    # Long enough that the module's first attempts are refused even on a busy machine.
    def bind_later():
        time.sleep(1.5)
        server = TCPServer(("127.0.0.1", closed_port), Handler)
        server.app = app
        servers.append(server)
        server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=bind_later, daemon=True)
    thread.start()
    try:
        result = run(url=f"http://127.0.0.1:{closed_port}", wait_timeout=10)
    finally:
        thread.join(0.5)
        for server in servers:
            server.shutdown()
            server.server_close()
    assert result["attempts"] > 1
    assert all(e["passed"] for e in result["endpoints"])


def test_successes_requires_consecutive_passes(app, serve):
    answers = itertools.chain([Reply(200), Reply(503), Reply(200), Reply(503)], itertools.repeat(Reply(200)))
    app.route("/ready", lambda: next(answers))
    result = run(
        url=serve(app), endpoints=[{"path": "/ready"}], successes=3, interval=0.01, max_interval=0.02, wait_timeout=5
    )

    assert result["attempts"] == 7  # pass, fail, pass, fail, pass, pass, pass
    assert "passed 3 polls in a row after 7 attempts" in result["msg"]


def test_status_list_body_regex_method_and_headers(app, serve):
    app.route("/api/livez", Reply(204))
    app.route("/ready", body="<p>ready: yes</p>")
    base = serve(app)

    result = run(
        url=base + "/api/",
        endpoints=[{"path": "livez", "status": [200, 204]}],
        headers={"Authorization": "Bearer t0ken"},
        method="HEAD",
        wait_timeout=0,
    )
    assert result["endpoints"][0]["status"] == 204
    request = app.requests_to("/api/livez")[0]
    assert request["method"] == "HEAD"
    assert request["headers"]["Authorization"] == "Bearer t0ken"

    result = run(url=base, endpoints=[{"path": "/ready", "body_regex": r"ready: (yes|true)"}], wait_timeout=0)
    assert result["endpoints"][0]["reason"] == "status 200, body_regex matched"


def test_check_mode_runs_the_checks(app, serve):
    app.route("/health", body="ok")
    app.route("/ready", body=READY)
    result = run(url=serve(app), _ansible_check_mode=True)

    assert result["changed"] is False
    assert all(e["passed"] for e in result["endpoints"])
    assert len(app.requests) == 2  # it really asked, unlike ansible.builtin.uri in check mode


# --- failing ---------------------------------------------------------------------------------------------------


def test_never_ready_names_endpoint_status_and_body(app, serve):
    app.route("/health", body={"status": "ok"})
    app.route("/ready", Reply(503, {"status": "starting", "detail": "x" * 3000}))
    result = fail(url=serve(app), **QUICK)

    assert result["msg"].startswith("Endpoint /ready (GET http://127.0.0.1:")
    assert "did not pass within wait_timeout=0.4 s after" in result["msg"]
    assert result["msg"].endswith(": status 503, expected 200.")
    assert result["changed"] is False
    assert 0.4 <= result["elapsed"] < 2
    health, ready = result["endpoints"]
    assert health["passed"] is True
    assert ready["passed"] is False and ready["error"] == "status" and ready["status"] == 503
    assert ready["json"]["status"] == "starting"
    assert ready["attempts"] == result["attempts"] > 1
    assert result["body"].startswith('{"status": "starting"')
    assert result["body"].endswith("... (truncated)") and len(result["body"]) < 1100


def test_later_endpoints_are_not_checked_until_earlier_pass(app, serve):
    app.route("/health", Reply(500, "boom"))
    app.route("/ready", body=READY)
    result = fail(url=serve(app), wait_timeout=0)

    assert "Endpoint /health" in result["msg"] and result["body"] == "boom"
    assert result["endpoints"][1] == {
        "path": "/ready",
        "url": result["endpoints"][1]["url"],
        "status": None,
        "latency_ms": None,
        "attempts": 0,
        "json": None,
        "passed": False,
        "reason": "not checked: an earlier endpoint has not passed",
        "error": None,
    }
    assert app.requests_to("/ready") == []


def test_connection_refused(closed_port):
    result = fail(url=f"http://127.0.0.1:{closed_port}", wait_timeout=0.3)

    endpoint = result["endpoints"][0]
    assert endpoint["error"] == "connection_refused" and endpoint["status"] is None
    assert "connection refused; is the application running and listening there?" in result["msg"]
    assert result["attempts"] > 1 and result["body"] is None


def test_slow_response_times_out(app, serve):
    app.route("/health", Reply(200, "late", delay=3))
    started = time.monotonic()
    result = fail(url=serve(app), endpoints=[{"path": "/health"}], timeout=0.2, wait_timeout=0.3)

    assert time.monotonic() - started < 1.5  # the deadline plus at most one request timeout
    assert result["endpoints"][0]["error"] == "timeout"
    assert "timed out (no complete response within timeout=0.2 s)" in result["msg"]


@pytest.mark.parametrize(
    "expected, body, reason",
    [
        ({"status": "ready"}, {"status": "starting"}, 'JSON field status: expected "ready", got "starting"'),
        (
            {"checks": {"db": "ok"}},
            {"checks": {"db": "down", "cache": "ok"}},
            'JSON field checks.db: expected "ok", got "down"',
        ),
        ({"checks": {"db": "ok"}}, {"status": "ready"}, 'JSON field checks is missing (expected {"db": "ok"})'),
        ({"status": "ready"}, "ready", "body is not JSON (Content-Type text/plain; charset=utf-8)"),
    ],
)
def test_json_mismatch_names_field_expected_and_got(app, serve, expected, body, reason):
    app.route("/ready", body=body)
    result = fail(url=serve(app), endpoints=[{"path": "/ready", "json": expected}], wait_timeout=0)

    endpoint = result["endpoints"][0]
    assert endpoint["error"] == "body" and endpoint["status"] == 200
    assert endpoint["reason"] == reason
    assert result["msg"].endswith(f": {reason}.")


def test_body_regex_mismatch(app, serve):
    app.route("/ready", body="starting")
    result = fail(url=serve(app), endpoints=[{"path": "/ready", "body_regex": "^ready$"}], wait_timeout=0)
    assert result["endpoints"][0]["reason"] == "body does not match body_regex '^ready$'"


def test_deeply_nested_json_fails_the_endpoint_without_a_traceback(app, serve):
    app.route("/ready", body="[" * 60000)
    result = fail(url=serve(app), endpoints=[{"path": "/ready", "json": READY}], wait_timeout=0)

    endpoint = result["endpoints"][0]
    assert endpoint["error"] == "body" and endpoint["status"] == 200 and endpoint["json"] is None
    assert endpoint["reason"] == "response JSON nested too deeply (more than 100 levels)"
    assert result["msg"].endswith(": response JSON nested too deeply (more than 100 levels).")

    # Not a traceback either when the body is not checked: the status decides, `json` is null.
    result = run(url=serve(app), endpoints=[{"path": "/ready"}], wait_timeout=0)
    assert result["endpoints"][0]["passed"] is True and result["endpoints"][0]["json"] is None


def test_json_deeper_than_the_limit_is_not_returned(app, serve):
    """Parsable but deeper than the module returns: ansible's own JSON handling of the result would choke on it."""
    app.route("/ready", body='{"a": ' * 150 + "1" + "}" * 150)
    result = fail(url=serve(app), endpoints=[{"path": "/ready", "json": READY}], wait_timeout=0)
    assert result["endpoints"][0]["reason"] == "response JSON nested too deeply (more than 100 levels)"


def test_body_up_to_the_read_limit_is_checked_whole(app, serve):
    big = {"status": "ready", "padding": "x" * 200_000}
    app.route("/ready", body=big)
    result = run(url=serve(app), endpoints=[{"path": "/ready", "json": READY}], wait_timeout=0)
    assert result["endpoints"][0]["reason"] == "status 200, JSON matched"


def test_body_over_the_read_limit_fails_body_checks(app, serve):
    app.route("/ready", body={"status": "ready", "padding": "x" * (2 * 1024 * 1024)})
    base = serve(app)
    started = time.monotonic()
    result = fail(url=base, endpoints=[{"path": "/ready", "json": READY}], wait_timeout=0)

    assert time.monotonic() - started < 2
    endpoint = result["endpoints"][0]
    assert endpoint["error"] == "body" and endpoint["json"] is None
    assert endpoint["reason"] == "body is larger than 1 MiB, the most the module reads; it cannot be checked"
    assert result["body"].endswith("... (truncated)") and len(result["body"]) < 1100

    # Without body checks the status alone decides.
    result = run(url=base, endpoints=[{"path": "/ready"}], wait_timeout=0)
    assert result["endpoints"][0]["passed"] is True and result["endpoints"][0]["json"] is None


@pytest.mark.parametrize("transport", ["tcp", "tls", "unix"])
def test_slow_drip_body_is_cut_at_the_request_timeout(app, serve, transport, request, tmp_path):
    """One byte every 0.2 s never trips a 0.6 s per-read timeout; the request as a whole must still end."""
    app.route("/health", Reply(200, "x" * 30, drip=0.2))  # 6 s for the whole body
    args = {"endpoints": [{"path": "/health"}], "timeout": 0.6, "wait_timeout": 0.8}
    if transport == "tls":
        args.update(url=serve(app, tls=request.getfixturevalue("tls_context")), host="api.example.test")
        args["ca_path"] = request.getfixturevalue("pki")["ca"]
    elif transport == "unix":
        args["unix_socket"] = serve(app, unix=tmp_path / "app.sock")
    else:
        args["url"] = serve(app)
    started = time.monotonic()
    result = fail(**args)
    elapsed = time.monotonic() - started

    # Polls at 0 and 0.7 s, each cut 0.6 s after it started: about 1.3 s, never past wait_timeout + timeout
    # (1.4 s) but for scheduling slack. Unfixed, the body took its 6 s and the check passed.
    assert 1.2 <= elapsed < 1.9
    endpoint = result["endpoints"][0]
    assert endpoint["error"] == "timeout" and endpoint["status"] == 200 and endpoint["attempts"] == 2
    assert endpoint["reason"] == (
        "status 200, then reading the body failed: timed out (no complete response within timeout=0.6 s)"
    )
    assert result["msg"].endswith(
        "; the application accepted the connection but did not answer in time; "
        "look for blocking start-up work or raise timeout."
    )


def test_slow_drip_headers_are_cut_at_the_end_of_wait_timeout(app, serve):
    """Dripping the status line and headers: wait_timeout bounds the module even when timeout is longer."""
    app.route("/health", Reply(200, "ok", drip=0.2, drip_head=True))
    started = time.monotonic()
    result = fail(url=serve(app), endpoints=[{"path": "/health"}], timeout=30, wait_timeout=0.5)
    elapsed = time.monotonic() - started

    assert 1.4 <= elapsed < 2.0  # wait_timeout plus the 1 s a request may overrun it, plus scheduling slack
    endpoint = result["endpoints"][0]
    assert endpoint["error"] == "timeout" and endpoint["status"] is None and endpoint["attempts"] == 1
    assert endpoint["reason"] == "timed out (wait_timeout=0.5 s ran out before the response was complete)"
    # The SIGALRM watchdog that stopped it is gone.
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_runs_outside_the_main_thread(app, serve):
    """Signals only reach the main thread: elsewhere the checker runs without its watchdog."""
    app.route("/health", body="ok")
    checker = HealthChecker(url=serve(app), endpoints=[{"path": "/health"}], use_proxy=False, wait_timeout=0)
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(checker.wait()))
    thread.start()
    thread.join(5)
    assert outcome and outcome[0]["endpoints"][0]["passed"] is True


def test_too_few_consecutive_passes(app, serve):
    app.route("/ready", body="ok")
    result = fail(url=serve(app), endpoints=[{"path": "/ready"}], successes=5, interval=0.2, wait_timeout=0.3)
    assert result["attempts"] == 3  # at 0, 0.2 and at the deadline
    assert result["msg"] == (
        "The endpoints passed only 3 poll(s) in a row before wait_timeout=0.3 s (3 attempts); "
        "successes=5 were required."
    )


# --- redirects and Host -------------------------------------------------------------------------------------------


def test_redirects_follow_safe_by_default_or_not_at_all(app, serve):
    app.route("/health", Reply(302, headers={"Location": "/healthz"}))
    app.route("/healthz", body="ok")
    base = serve(app)

    result = run(url=base, endpoints=[{"path": "/health"}])
    assert result["endpoints"][0]["status"] == 200
    assert len(app.requests_to("/healthz")) == 1

    result = fail(url=base, endpoints=[{"path": "/health"}], follow_redirects="none", wait_timeout=0)
    assert result["endpoints"][0]["reason"] == (
        "status 302, expected 200 (redirect to /healthz not followed, see follow_redirects)"
    )

    result = run(url=base, endpoints=[{"path": "/health", "status": [302]}], follow_redirects="none")
    assert result["endpoints"][0]["passed"] is True


SECRETS = {
    "Authorization": "Bearer t0ken",
    "Cookie": "session=s3cret",
    "Proxy-Authorization": "Basic cHJveHk=",
    "X-Api-Key": "k3y",
}


def lower_keys(headers):
    return {name.lower(): value for name, value in headers.items()}  # urllib sends X-api-key


def test_redirect_to_another_origin_fails_and_sends_it_nothing(app, serve):
    other = App()
    other.route("/collect", body="ok")
    other_base = serve(other)  # another port: another origin
    app.route("/health", Reply(302, headers={"Location": "/step"}))
    app.route("/step", Reply(307, headers={"Location": other_base + "/collect"}))
    base = serve(app)
    result = fail(url=base, endpoints=[{"path": "/health"}], headers=SECRETS, host="api.example.test", **QUICK)

    assert other.requests == []
    endpoint = result["endpoints"][0]
    assert endpoint["passed"] is False and endpoint["error"] == "status" and endpoint["status"] == 307
    assert endpoint["reason"] == (
        f"status 307, expected 200 (redirect to {other_base}/collect leaves {base}, not followed; "
        "see allow_cross_origin_redirects)"
    )
    # The same-origin hop before it still carries the headers and the Host.
    step = lower_keys(app.requests_to("/step")[0]["headers"])
    assert {name.lower(): value for name, value in SECRETS.items()}.items() <= step.items()
    assert step["host"] == f"api.example.test:{base.rsplit(':', 1)[1]}"

    # A redirect status listed in `status` is judged as itself, still without following it.
    result = run(url=base, endpoints=[{"path": "/health", "status": [307]}], headers=SECRETS)
    assert result["endpoints"][0]["passed"] is True and other.requests == []


@pytest.mark.parametrize("location", ["https://{host}:{port}/collect", "http://localhost:{port}/collect"])
def test_redirect_to_another_scheme_or_host_name_is_another_origin(app, serve, location):
    base = serve(app)
    target = location.format(host="127.0.0.1", port=base.rsplit(":", 1)[1])
    app.route("/health", Reply(301, headers={"Location": target}))
    result = fail(url=base, endpoints=[{"path": "/health"}], wait_timeout=0)
    assert f"redirect to {target} leaves {base}, not followed" in result["msg"]
    assert app.requests_to("/collect") == []


def test_redirect_to_another_origin_when_allowed_drops_credentials_and_host(app, serve):
    other = App()
    other.route("/collect", body="ok")
    other_base = serve(other)
    app.route("/health", Reply(302, headers={"Location": other_base + "/collect"}))
    result = run(
        url=serve(app),
        endpoints=[{"path": "/health"}],
        headers=SECRETS,
        host="api.example.test",
        allow_cross_origin_redirects=True,
    )

    assert result["endpoints"][0]["passed"] is True
    headers = lower_keys(other.requests[0]["headers"])
    assert not {name.lower() for name in SECRETS} & headers.keys()
    assert headers["host"] == other_base.split("//", 1)[1]
    assert headers["user-agent"] == "ansible-pyops.fastapi.health_check"


def test_redirect_to_the_host_name_stays_on_the_url_address(app, serve):
    """FastAPI and nginx build absolute redirects from the Host header: with `host`, that name is the url's server."""
    base = serve(app)
    port = base.rsplit(":", 1)[1]
    app.route("/health", Reply(307, headers={"Location": f"http://API.example.test:{port}/health/"}))
    app.route("/health/", body="ok")
    result = run(url=base, endpoints=[{"path": "/health"}], host="api.example.test", headers=SECRETS)

    assert result["endpoints"][0]["passed"] is True
    headers = lower_keys(app.requests_to("/health/")[0]["headers"])  # reached on 127.0.0.1, no name resolution
    assert headers["x-api-key"] == "k3y" and headers["host"] == f"api.example.test:{port}"


def test_redirect_loop_stops(app, serve):
    app.route("/health", Reply(302, headers={"Location": "/health"}))
    result = fail(url=serve(app), endpoints=[{"path": "/health"}], wait_timeout=0)
    assert result["endpoints"][0]["reason"] == "status 302, expected 200 (stopped after 10 redirects)"
    assert len(app.requests_to("/health")) == 11


def test_host_header_carries_the_port(app, serve):
    app.route("/health", body="ok")
    base = serve(app)
    run(url=base, endpoints=[{"path": "/health"}], host="api.example.test", headers={"host": "ignored.example"})
    port = base.rsplit(":", 1)[1]
    assert app.requests[-1]["headers"]["Host"] == f"api.example.test:{port}"

    run(url=base, endpoints=[{"path": "/health"}])
    assert app.requests[-1]["headers"]["Host"] == f"127.0.0.1:{port}"


# --- TLS -------------------------------------------------------------------------------------------------------


def test_tls_custom_ca_and_server_name(app, serve, pki, tls_context):
    app.route("/health", body="ok")
    base = serve(app, tls=tls_context)
    result = run(url=base, endpoints=[{"path": "/health"}], host="api.example.test", ca_path=pki["ca"])

    assert result["endpoints"][0]["passed"] is True
    assert app.requests[-1]["headers"]["Host"].startswith("api.example.test:")


def test_tls_wrong_host_name_is_a_tls_error(app, serve, pki, tls_context):
    app.route("/health", body="ok")
    base = serve(app, tls=tls_context)
    result = fail(url=base, endpoints=[{"path": "/health"}], host="www.example.test", ca_path=pki["ca"], wait_timeout=0)

    endpoint = result["endpoints"][0]
    assert endpoint["error"] == "tls"
    assert "Hostname mismatch, certificate is not valid for 'www.example.test'" in endpoint["reason"]
    assert "set ca_path to the CA that signed the certificate" in result["msg"]
    assert app.requests == []


def test_tls_address_without_host_and_unknown_ca(app, serve, pki, tls_context):
    app.route("/health", body="ok")
    base = serve(app, tls=tls_context)

    result = fail(url=base, endpoints=[{"path": "/health"}], ca_path=pki["ca"], wait_timeout=0)
    assert "IP address mismatch, certificate is not valid for '127.0.0.1'" in result["endpoints"][0]["reason"]

    result = fail(url=base, endpoints=[{"path": "/health"}], host="api.example.test", wait_timeout=0)
    assert "TLS certificate verification failed: unable to get local issuer certificate" in result["msg"]

    result = run(url=base, endpoints=[{"path": "/health"}], validate_certs=False)
    assert result["endpoints"][0]["passed"] is True


def test_tls_client_certificate(app, serve, pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    app.route("/health", body="ok")
    base = serve(app, tls=context)
    common = {"url": base, "endpoints": [{"path": "/health"}], "host": "api.example.test", "ca_path": pki["ca"]}

    result = run(client_cert=pki["client_cert"], client_key=pki["client_key"], **common)
    assert result["endpoints"][0]["passed"] is True

    result = fail(wait_timeout=0, **common)
    # TLS 1.3: the client sees the server's "certificate required" alert, or only the EOF after it (a race).
    assert result["endpoints"][0]["error"] == "tls"


# --- unix socket -----------------------------------------------------------------------------------------------


def test_unix_socket(app, serve, tmp_path):
    app.route("/health", body="ok")
    app.route("/ready", body=READY)
    path = serve(app, unix=tmp_path / "app.sock")
    result = run(unix_socket=path, host="api.example.test")

    assert [e["url"] for e in result["endpoints"]] == ["http://localhost/health", "http://localhost/ready"]
    assert app.requests[-1]["headers"]["Host"] == "api.example.test"


def test_unix_socket_missing(tmp_path):
    path = str(tmp_path / "missing.sock")
    result = fail(unix_socket=path, wait_timeout=0)

    assert result["endpoints"][0]["error"] == "connection"
    assert "unix socket not found" in result["endpoints"][0]["reason"]
    assert f"via unix socket {path}" in result["msg"]


# --- credentials in the url and in headers ------------------------------------------------------------------------

TOKEN = "s3cr3t-token"
HEADER_TOKEN = "h3ader-t0ken"
BASIC = "Basic " + base64.b64encode(f"user:{TOKEN}".encode()).decode()
# What must never be in anything the module returns: the password, the header's token, the basic auth header.
LEAKS = (TOKEN, HEADER_TOKEN, BASIC.split()[1])


def with_credentials(base, userinfo=f"user:{TOKEN}"):
    return base.replace("://", f"://{userinfo}@", 1)


def assert_no_secret(result):
    text = json.dumps(result)
    for secret in LEAKS:
        assert secret not in text


def test_url_credentials_are_used_but_never_reported_when_passing(app, serve):
    app.basic_auth = ("user", TOKEN)  # 401 with WWW-Authenticate until the request carries them
    app.route("/health", body="ok")
    app.route("/ready", Reply(307, headers={"Location": "/ready/"}))  # a relative redirect keeps them
    app.route("/ready/", body=READY)
    base = serve(app)
    result = run(url=with_credentials(base), headers={"Authorization": f"Bearer {HEADER_TOKEN}"})

    assert_no_secret(result)
    assert [e["url"] for e in result["endpoints"]] == [
        base.replace("://", "://***@") + "/health",
        base.replace("://", "://***@") + "/ready",
    ]
    assert all(e["passed"] for e in result["endpoints"])
    # The server got the header, challenged it, then got the url's user name and password as basic auth.
    for path in ("/health", "/ready", "/ready/"):
        sent = [request["headers"].get("Authorization") for request in app.requests_to(path)]
        assert sent == [f"Bearer {HEADER_TOKEN}", BASIC]


@pytest.mark.parametrize("case", ["status", "wrong_password", "refused", "redirect_away", "bad_url"])
def test_url_credentials_are_never_reported_when_failing(app, serve, closed_port, case):
    app.basic_auth = ("user", TOKEN)
    app.route("/health", Reply(503, STARTING))
    base = serve(app)
    args = {"url": with_credentials(base), "endpoints": [{"path": "/health"}], "wait_timeout": 0}
    args["headers"] = {"Authorization": f"Bearer {HEADER_TOKEN}"}
    if case == "wrong_password":
        args["url"] = with_credentials(base, f"user:not-{TOKEN}")
        # Without the header: with both, urllib's basic auth handler retries the 401 until RecursionError.
        del args["headers"]
    elif case == "refused":
        args["url"] = with_credentials(f"http://127.0.0.1:{closed_port}")
    elif case == "redirect_away":  # a Location that carries the credentials is reported without them
        app.route("/health", Reply(302, headers={"Location": with_credentials("http://localhost:1/collect")}))
    elif case == "bad_url":  # an unencoded / in the password: urllib would cut the URL there, so it is refused
        args["url"] = with_credentials(base, f"user:{TOKEN}/x")
    result = fail(**args)

    assert_no_secret(result)
    if case == "bad_url":
        assert result["msg"].startswith("url has an @ that does not end its user name and password")
        return
    assert "(GET http://***@127.0.0.1:" in result["msg"]
    endpoint = result["endpoints"][0]
    assert endpoint["url"].startswith("http://***@127.0.0.1:") and endpoint["url"].endswith("/health")
    expected = {
        "status": ("status", "status 503, expected 200"),
        "wrong_password": ("status", "status 401, expected 200"),
        "refused": ("connection_refused", "connection refused"),
        "redirect_away": (
            "status",
            f"status 302, expected 200 (redirect to http://***@localhost:1/collect leaves {base}, not followed; "
            "see allow_cross_origin_redirects)",
        ),
    }[case]
    assert (endpoint["error"], endpoint["reason"]) == expected
    if case == "status":
        assert app.requests_to("/health")[-1]["headers"]["Authorization"] == BASIC


@pytest.mark.parametrize("outcome", ["pass", "fail"])
def test_module_output_hides_credentials_in_the_returned_arguments(app, serve, capsys, outcome):
    """Unpatched exit_json/fail_json: what ansible really gets back, `invocation` (the arguments) included."""
    app.basic_auth = ("user", TOKEN)
    app.route("/health", Reply(200 if outcome == "pass" else 503, body=f"echoing {TOKEN}"))
    base = serve(app)
    args = {
        "url": with_credentials(base),
        "endpoints": [{"path": "/health"}],
        "headers": {"Authorization": f"Bearer {HEADER_TOKEN}"},
        "wait_timeout": 0,
        "use_proxy": False,
    }
    with patch_module_args(args), pytest.raises(SystemExit) as excinfo:
        health_check.main()
    out = capsys.readouterr().out
    result = json.loads(out)

    assert excinfo.value.code == (0 if outcome == "pass" else 1)
    assert result.get("failed", False) is (outcome == "fail")
    for secret in LEAKS:
        assert secret not in out
    module_args = result["invocation"]["module_args"]
    assert module_args["url"] == base.replace("://", "://***@")
    assert module_args["headers"] == {"Authorization": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}  # no_log
    assert module_args["endpoints"] == [{"path": "/health", "status": [200], "json": None, "body_regex": None}]
    assert result["endpoints"][0]["url"] == base.replace("://", "://***@") + "/health"
    if outcome == "fail":
        assert result["body"] == "echoing ********"  # the password is a no_log value too


def test_headers_option_is_no_log(app, serve):
    app.route("/health", body="ok")
    specs = []
    real = health_check.AnsibleModule

    def spy(**kwargs):
        specs.append(kwargs["argument_spec"])
        return real(**kwargs)

    with mock.patch.object(health_check, "AnsibleModule", spy):
        run(url=serve(app), endpoints=[{"path": "/health"}], headers={"Authorization": f"Bearer {HEADER_TOKEN}"})
    assert specs[0]["headers"]["no_log"] is True


# --- parameters --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        ({}, "one of the following is required: url, unix_socket"),
        ({"url": "ftp://127.0.0.1"}, "url must be an http:// or https:// URL with a host, got 'ftp://127.0.0.1'."),
        ({"url": "http://127.0.0.1:80a"}, "url 'http://127.0.0.1:80a' is not valid: Port could not be cast"),
        ({"url": "http://127.0.0.1", "successes": 0}, "successes must be 1 or more, got 0."),
        ({"url": "http://127.0.0.1", "backoff": 0.5}, "backoff must be 1 or more, got 0.5."),
        ({"url": "http://127.0.0.1", "timeout": 0}, "timeout must be more than zero, got 0.0."),
        ({"url": "http://127.0.0.1", "endpoints": []}, "endpoints must list at least one endpoint."),
        (
            {"url": "http://127.0.0.1", "endpoints": [{"path": "/", "body_regex": "("}]},
            "Endpoint / has an invalid body_regex",
        ),
        (
            {"url": "http://127.0.0.1", "client_key": "/k.pem"},
            "missing parameter(s) required by 'client_key': client_cert",
        ),
        (
            {"url": "https://127.0.0.1", "ca_path": "/nonexistent/ca.pem"},
            "Cannot load the TLS files (ca_path=/nonexistent/ca.pem",
        ),
    ],
)
def test_bad_parameters(args, message):
    result = fail(**args)
    assert message in result["msg"]


# --- pure helpers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, redacted",
    [
        ("https://user:tok@host/path", "https://***@host/path"),
        ("https://tok@host:8443", "https://***@host:8443"),
        ("http://user:p@ss@host/x@y", "http://***@host/x@y"),  # userinfo ends at the last @ of the netloc
        ("http://user:%2Fp%40@host?q=a@b", "http://***@host?q=a@b"),
        (
            "GET http://u:p@h/a failed; redirect to //u:p@other/b",
            "GET http://***@h/a failed; redirect to //***@other/b",
        ),
        ("(HEAD HTTPS://u:p@h/)", "(HEAD HTTPS://***@h/)"),
        ("http://127.0.0.1:8000/ready", "http://127.0.0.1:8000/ready"),
        ("mail admin@example.test", "mail admin@example.test"),
        (None, None),
    ],
)
def test_redact_url(text, redacted):
    assert redact_url(text) == redacted


@pytest.mark.parametrize(
    "url, secrets",
    [
        ("https://user:tok%2Fen@host", {"tok%2Fen", "tok/en"}),
        ("https://tok@host", {"tok"}),
        ("https://user:@host", {"user"}),
        ("https://user:a/b@host", {"a/b"}),
        ("https://host/path", set()),
        (None, set()),
    ],
)
def test_url_secrets(url, secrets):
    assert url_secrets(url) == secrets


def test_poll_delays_grow_to_the_cap():
    assert list(itertools.islice(poll_delays(0.1, 1.5, 0.2), 4)) == [0.1, pytest.approx(0.15), 0.2, 0.2]
    assert list(itertools.islice(poll_delays(1, 1, 5), 3)) == [1, 1, 1]
    assert next(poll_delays(0.5, 2, 0.2)) == 0.2


@pytest.mark.parametrize(
    "expected, actual, why",
    [
        ({"a": 1}, {"a": 1, "b": 2}, None),
        ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2], "c": 0}}, None),
        ({"a": True}, {"a": 1}, "JSON field a: expected true, got 1"),
        ({"a": [1]}, {"a": [1, 2]}, "JSON field a: expected [1], got [1, 2]"),
        ({"a": {"b": 1}}, {"a": "x"}, 'JSON field a: expected an object, got "x"'),
        ({"a": 1}, ["a"], 'JSON body: expected an object, got ["a"]'),
    ],
)
def test_json_mismatch(expected, actual, why):
    assert json_mismatch(expected, actual) == why


def test_checker_uses_injected_clock_and_sleep(closed_port):
    """wait_timeout and the delays are honoured without real sleeping."""
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    checker = HealthChecker(
        url=f"http://127.0.0.1:{closed_port}",
        endpoints=[{"path": "/health"}],
        use_proxy=False,
        wait_timeout=1.0,
        clock=lambda: now[0],
        sleep=sleep,
    )
    with pytest.raises(HealthCheckError) as excinfo:
        checker.wait()
    assert slept[:4] == [0.1, pytest.approx(0.15), pytest.approx(0.2), pytest.approx(0.2)]
    assert sum(slept) == pytest.approx(1.0)
    assert excinfo.value.result["attempts"] == len(slept) + 1


# --- unit: the server's systemd unit stopped ---------------------------------------------------------------------

# A systemctl on PATH that prints the unit's properties from a file the test writes: the module runs it as
# it runs the real one (this machine's PID 1 is not systemd).
FAKE_SYSTEMCTL = """#!/bin/sh
[ "$1" = show ] && [ "$3" = -- ] || exit 2
printf '%s\\n' "$2" >> "$PYOPS_TEST_UNIT_DIR/calls"
cat "$PYOPS_TEST_UNIT_DIR/$4"
"""


@pytest.fixture
def unit_state(tmp_path, monkeypatch):
    """set(**properties): what `systemctl show` reports of unit app@green.service from now on."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("PYOPS_TEST_UNIT_DIR", str(tmp_path))

    def set_state(unit="app@green.service", **properties):
        text = "".join(f"{key}={value}\n" for key, value in properties.items())
        (tmp_path / unit).write_text(text)

    set_state.calls = lambda: (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return set_state


def test_a_unit_that_exited_ends_the_wait_at_once(app, serve, unit_state):
    app.route("/health", body={"status": "ok"})
    app.route("/ready", Reply(503, STARTING))
    unit_state(ActiveState="failed", SubState="failed", Result="exit-code", NRestarts=0, ExecMainStatus=3)
    started = time.monotonic()
    result = fail(url=serve(app), unit="app@green.service", wait_timeout=30)

    assert time.monotonic() - started < 5
    assert result["msg"].startswith("Endpoint /ready (GET http://127.0.0.1:")
    assert (
        "and will not: its unit app@green.service is failed/failed (result exit-code, main process exit "
        in (result["msg"])
    )
    assert result["msg"].endswith("status 3, restarted 0 times). The last attempt: status 503, expected 200."), result
    assert unit_state.calls()[0] == "--property=ActiveState,SubState,Result,NRestarts,ExecMainStatus"


def test_a_unit_still_starting_is_waited_for(app, serve, unit_state):
    app.route("/health", body={"status": "ok"})
    app.route("/ready", flips_at(0.5, Reply(503, STARTING), Reply(200, READY)))
    unit_state(ActiveState="activating", SubState="start", Result="success", NRestarts=0, ExecMainStatus=0)

    result = run(url=serve(app), unit="app@green.service", wait_timeout=30)

    assert result["attempts"] > 1
    # Read after each failing poll and once when the endpoints passed.
    assert len(unit_state.calls()) == result["attempts"]


@pytest.mark.parametrize(
    ("properties", "stopped"),
    [
        ({"ActiveState": "active", "SubState": "running", "NRestarts": "0"}, False),
        ({"ActiveState": "activating", "SubState": "start", "NRestarts": "0"}, False),
        # Restart=always: between a crash and the next start, and after the next start.
        ({"ActiveState": "activating", "SubState": "auto-restart", "NRestarts": "0"}, True),
        ({"ActiveState": "active", "SubState": "running", "NRestarts": "1"}, True),
        ({"ActiveState": "inactive", "SubState": "dead", "NRestarts": "0"}, True),
        ({"ActiveState": "deactivating", "SubState": "stop-sigterm", "NRestarts": "0"}, True),
        # A unit systemd does not know.
        ({"ActiveState": "inactive", "SubState": "dead", "NRestarts": ""}, True),
    ],
)
def test_which_unit_states_mean_the_server_is_gone(properties, stopped):
    output = "".join(f"{key}={value}\n" for key, value in properties.items())
    assert (unit_stopped("app@green.service", output) is not None) == stopped


def test_a_process_of_the_release_that_died_fails_the_gate_though_the_endpoints_pass(app, serve, unit_state):
    """The release role passes the slot's web unit and its processes (app_processes): a queue worker that
    exited fails the gate even when the web server answers at the first poll."""
    app.route("/health", body={"status": "ok"})
    app.route("/ready", body={"status": "ready"})
    unit_state(ActiveState="active", SubState="running", Result="success", NRestarts=0, ExecMainStatus=0)
    unit_state(
        "app.worker@green.service",
        ActiveState="activating",
        SubState="auto-restart",
        Result="exit-code",
        NRestarts=0,
        ExecMainStatus=1,
    )

    result = fail(url=serve(app), unit=["app@green.service", "app.worker@green.service"], wait_timeout=30)

    assert result["attempts"] == 1
    assert result["msg"] == (
        "The endpoints passed, but its unit app.worker@green.service is activating/auto-restart (result exit-code, "
        "main process exit status 1, restarted 0 times)."
    ), result["msg"]
    assert unit_state.calls() == ["--property=ActiveState,SubState,Result,NRestarts,ExecMainStatus"] * 2


# --- watch: keep checking after the endpoints passed ----------------------------------------------------------


def test_watch_keeps_checking_and_passes_when_nothing_fails(app, serve, unit_state):
    app.route("/health", body={"status": "ok"})
    app.route("/ready", body={"status": "ready"})
    unit_state(ActiveState="active", SubState="running", Result="success", NRestarts=0, ExecMainStatus=0)
    started = time.monotonic()
    result = run(url=serve(app), unit="app@green.service", watch=1.0)

    assert time.monotonic() - started >= 1.0
    # Polled every max_interval (0.2 s) while watched, the unit read when the endpoints passed and after each poll.
    assert result["attempts"] >= 5
    assert len(unit_state.calls()) == result["attempts"]
    assert result["msg"].endswith(", and kept passing for the 1 s watched."), result["msg"]


def test_watch_fails_at_the_first_failing_poll(app, serve):
    app.route("/health", body={"status": "ok"})
    app.route("/ready", flips_at(0.6, Reply(200, READY), Reply(503, STARTING)))
    started = time.monotonic()
    result = fail(url=serve(app), watch=30)

    assert time.monotonic() - started < 5
    assert result["msg"].startswith("The endpoints passed, then endpoint /ready (GET http://127.0.0.1:"), result["msg"]
    assert ") failed: status 503, expected 200, " in result["msg"]
    assert " s into the watch of 30 s (" in result["msg"]


def test_watch_fails_when_the_unit_restarts_even_if_the_endpoints_answer(app, serve, unit_state):
    app.route("/health", body={"status": "ok"})
    app.route("/ready", body={"status": "ready"})
    unit_state(ActiveState="active", SubState="running", Result="success", NRestarts=0, ExecMainStatus=0)

    # Restarted once the module has read the unit when the endpoints passed and has begun its first read
    # of the watch (the fake logs a read before it answers), however slow the machine is.
    def restart_after_the_first_read():
        deadline = time.monotonic() + 20
        while len(unit_state.calls()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        unit_state(ActiveState="active", SubState="running", Result="success", NRestarts=1)

    threading.Thread(target=restart_after_the_first_read, daemon=True).start()
    result = fail(url=serve(app), unit="app@green.service", watch=30)

    assert result["msg"].startswith(
        "The endpoints passed, then its unit app@green.service is active/running (result success, main process "
        "exit status , restarted 1 times), "
    ), result["msg"]


def test_a_negative_watch_is_refused(app, serve):
    result = fail(url=serve(app), watch=-1)
    assert result["msg"] == "watch must be zero or more, got -1.0."
