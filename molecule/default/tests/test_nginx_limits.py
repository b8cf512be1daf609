"""nginx's limits on clients: the rate limit per address (and what is exempt from it), and the
timeouts that close slow clients. Defaults of the role: 20r/s, burst 40, client timeouts 10s."""

import json

import pytest
import stack
from stack import APP, NAME

# nginx's own limit_req and client timeouts, configured the same on every distribution (conftest.py).
pytestmark = pytest.mark.same_on_every_distro

RATE = 20  # nginx_rate_limit_rate, requests per second
BURST = 40  # nginx_rate_limit_burst
HEADER_TIMEOUT = 10  # nginx_client_header_timeout, seconds
BODY_TIMEOUT = 10  # nginx_client_body_timeout, seconds
TOKEN_DIR = "/var/www/acme/.well-known/acme-challenge"

# Runs inside the container: GETs of / from `source` on 8 keep-alive HTTPS connections (far above
# the rate even with a slow app). Once 60 are answered, while they go on, `rounds` rounds of
# probes: the health paths, the ACME path (on HTTP) and / again, each on its own connection from
# the same source. Prints the statuses and how long the burst lasted.
BURST_PY = r"""
import http.client, json, socket, ssl, sys, threading, time
source, rounds, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

class Https(http.client.HTTPSConnection):
    def connect(self):
        sock = socket.create_connection(("127.0.0.1", 443), 10, (source, 0))
        self.sock = ctx.wrap_socket(sock, server_hostname=name)

class Http(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", 80), 10, (source, 0))

def get(conn, path):
    conn.request("GET", path, headers={"Host": name})
    resp = conn.getresponse()
    resp.read()
    return resp.status

main = []
stop = threading.Event()

def worker():
    conn = Https(name, 443, context=ctx, timeout=10)
    while not stop.is_set():
        main.append(get(conn, "/"))
        time.sleep(0.01)

probes = {"https /health": (Https(name, 443, context=ctx, timeout=10), "/health"),
          "https /ready": (Https(name, 443, context=ctx, timeout=10), "/ready"),
          "http acme": (Http(name, 80, timeout=10), "/.well-known/acme-challenge/burst-token"),
          "https /": (Https(name, 443, context=ctx, timeout=10), "/")}
out = {"probes": {key: [] for key in probes}}
threads = [threading.Thread(target=worker) for _ in range(8)]
start = time.monotonic()
for thread in threads:
    thread.start()
while len(main) < 60 and time.monotonic() - start < 60:
    time.sleep(0.01)
for _ in range(rounds):
    for key, (conn, path) in probes.items():
        out["probes"][key].append(get(conn, path))
stop.set()
for thread in threads:
    thread.join()
out["elapsed"] = time.monotonic() - start
out["main"] = main
print(json.dumps(out))
"""

# Runs inside the container: clients that stop half-way, each in a thread; prints how long nginx
# took to close each connection and what it sent before closing.
SLOW_PY = r"""
import json, socket, ssl, sys, threading, time
source, name = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
partial_header = f"GET / HTTP/1.1\r\nHost: {name}\r\nUser-Agent: slow".encode()
partial_body = f"POST / HTTP/1.1\r\nHost: {name}\r\nContent-Length: 100\r\n\r\n0123456789".encode()
cases = {"https header": (443, True, partial_header), "http header": (80, False, partial_header),
         "https body": (443, True, partial_body)}
out = {}

def run(key, port, tls, data):
    sock = socket.create_connection(("127.0.0.1", port), 10, (source, 0))
    if tls:
        sock = ctx.wrap_socket(sock, server_hostname=name)
    sock.settimeout(120)
    start = time.monotonic()
    sock.sendall(data)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    out[key] = {"elapsed": time.monotonic() - start, "received": received.decode("latin-1")[:80]}

threads = [threading.Thread(target=run, args=(key, *case)) for key, case in cases.items()]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(out))
"""


@pytest.fixture
def acme_token(host):
    host.run_expect([0], "install -d %s && echo burst-body > %s/burst-token", TOKEN_DIR, TOKEN_DIR)
    yield
    host.run_expect([0], "rm -f %s/burst-token", TOKEN_DIR)


def burst(host, source, rounds=10):
    # The bucket of an address empties at RATE per second: start from an empty one, and leave
    # it empty for the tests after this one.
    host.run_expect([0], "sleep %s", str(BURST / RATE + 0.5))
    out = json.loads(host.check_output("python3 -c %s %s %s %s", BURST_PY, source, str(rounds), NAME))
    host.run_expect([0], "sleep %s", str(BURST / RATE + 0.5))
    return out


@pytest.mark.usefixtures("acme_token")
def test_burst_from_a_client_gets_429_but_probes_and_acme_pass(host):
    out = burst(host, "127.0.0.2")
    main = out["main"]
    assert set(main) == {200, 429}, main
    # The burst passes at once (nodelay), then RATE per second; the rest is refused.
    passed = main.count(200)
    assert BURST + 1 <= passed <= BURST + 1 + RATE * out["elapsed"] + 2, (passed, out["elapsed"])
    # The probes ran while this address was over its limit: / on a connection of its own was
    # refused (mostly: a request passes every 1/RATE s), the exempt paths never.
    probes = out["probes"]
    assert set(probes["https /"]) <= {200, 429}, probes
    assert probes["https /"].count(429) >= 5, probes
    for key in ("https /health", "https /ready", "http acme"):
        assert probes[key] == [200] * 10, (key, probes)
    # Every refusal is in the access log (the error log's level, error, hides the warn lines).
    refused = [
        entry for entry in stack.access_log(host, APP) if entry["remote_addr"] == "127.0.0.2" and entry["status"] == 429
    ]
    assert len(refused) >= main.count(429), len(refused)


def test_burst_from_loopback_is_not_limited(host):
    # 127.0.0.1 is in nginx_rate_limit_exempt_addresses: on-host probes and load tests.
    out = burst(host, "127.0.0.1")
    assert out["main"] == [200] * len(out["main"]), out["main"]
    assert out["probes"]["https /"] == [200] * 10, out["probes"]


def test_slow_clients_are_closed_after_the_client_timeouts(host):
    out = json.loads(host.check_output("python3 -c %s %s %s", SLOW_PY, "127.0.0.2", NAME))
    # nginx's own default is 60s: closing near 10s shows the role's value applies, on HTTPS
    # (the site chosen by SNI) and on HTTP (the default server, before the Host header).
    for key, limit in (("https header", HEADER_TIMEOUT), ("http header", HEADER_TIMEOUT), ("https body", BODY_TIMEOUT)):
        case = out[key]
        assert limit - 1 <= case["elapsed"] <= limit + 5, (key, case)
        # Closed without an answer, or with a 408.
        assert case["received"] == "" or case["received"].startswith("HTTP/1.1 408"), (key, case)
