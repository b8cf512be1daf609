"""A CDN in front of the site (nginx_trusted_proxies: [127.0.0.5] in group_vars/fastapi.yml), and gzip.

A second nginx on the host stands in for the CDN: it listens on 127.0.0.1:8088, connects to the site
from 127.0.0.5 and appends the address of its own client to X-Forwarded-For, as CDNs and cloud load
balancers do. Its clients connect from 127.0.0.10-13 (every 127.0.0.0/8 address is the host's own),
so the site sees each of them only through the header."""

import gzip
import json
import uuid

import pytest
import stack
from stack import APP, NAME

# nginx's realip and gzip modules, the same on every distribution.
pytestmark = pytest.mark.same_on_every_distro

PROXY = "127.0.0.5"  # nginx_trusted_proxies
CDN_DIR = "/run/pyops-test-cdn"
CDN_CONF = f"""
user www-data;
pid {CDN_DIR}/nginx.pid;
error_log {CDN_DIR}/error.log;
events {{}}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:8088;
        location / {{
            proxy_pass https://127.0.0.1:443;
            proxy_bind {PROXY};
            proxy_ssl_server_name on;
            proxy_ssl_name {NAME};
            proxy_set_header Host {NAME};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""

# Runs inside the container: GETs through the CDN from each client address (its own connection per
# request), the client's own X-Forwarded-For header when given; prints the statuses per client.
CLIENTS_PY = r"""
import http.client, json, socket, sys, threading
plan, tag = json.loads(sys.argv[1]), sys.argv[2]

class FromAddress(http.client.HTTPConnection):
    def __init__(self, source):
        super().__init__("127.0.0.1", 8088, timeout=10)
        self.source = source
    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", 8088), 10, (self.source, 0))

def get(source, path, forwarded):
    conn = FromAddress(source)
    headers = {"User-Agent": tag + "-" + source}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    conn.request("GET", path, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status

out = {}
def client(key, source, path, count, forwarded):
    out[key] = [get(source, path, forwarded) for _ in range(count)]

threads = [threading.Thread(target=client, args=(key, *args)) for key, args in plan.items()]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def cdn(host):
    host.run_expect([0], "mkdir -p %s", CDN_DIR)
    host.run_expect([0], "printf %%s %s > %s/nginx.conf", CDN_CONF, CDN_DIR)
    host.run_expect([0], "nginx -t -q -c %s/nginx.conf && nginx -c %s/nginx.conf", CDN_DIR, CDN_DIR)
    yield
    host.run(f"kill $(cat {CDN_DIR}/nginx.pid); sleep 0.5; rm -rf {CDN_DIR}")


def through_cdn(host, plan):
    tag = f"pyops-cdn-{uuid.uuid4().hex[:8]}"
    statuses = json.loads(host.check_output("python3 -c %s %s %s", CLIENTS_PY, json.dumps(plan), tag))
    return statuses, stack.access_log(host, APP, grep=tag)


def test_the_rate_limit_counts_each_client_behind_the_cdn(host, cdn):
    # 127.0.0.10 sends far more than the burst (40) and the rate (20/s) allow, on 4 connections at once;
    # 127.0.0.11, through the same CDN at the same time, a few. Without the trust both would share the
    # CDN's one bucket.
    plan = {f"heavy{n}": ["127.0.0.10", "/", 60, None] for n in range(4)}
    statuses, log = through_cdn(host, {**plan, "light": ["127.0.0.11", "/", 10, None]})
    heavy = [status for key in plan for status in statuses[key]]
    assert set(heavy) == {200, 429}, statuses
    assert heavy.count(429) >= 20, statuses
    assert statuses["light"] == [200] * 10, statuses
    # The access log names the clients, never the CDN.
    sources = {entry["remote_addr"] for entry in log}
    assert sources == {"127.0.0.10", "127.0.0.11"}, sources
    assert len(log) == len(heavy) + 10, len(log)
    refused = [entry for entry in log if entry["remote_addr"] == "127.0.0.10" and entry["status"] == 429]
    assert len(refused) == heavy.count(429), len(refused)


def test_the_allow_lists_see_the_client_and_a_forged_header_changes_nothing(host, cdn):
    statuses, log = through_cdn(
        host,
        {
            # Loopback through the CDN: in nginx_detailed_health_allow, as a direct on-host probe is.
            "loopback": ["127.0.0.1", "/health/detailed", 1, None],
            # A client that claims to be loopback: the CDN appends its real address, which nginx takes.
            "forged": ["127.0.0.13", "/health/detailed", 1, "127.0.0.1"],
        },
    )
    assert statuses == {"loopback": [200], "forged": [403]}, statuses
    assert {entry["remote_addr"] for entry in log} == {"127.0.0.1", "127.0.0.13"}, log

    # Straight to the site from an address that is not a trusted proxy: its header is ignored.
    tag = f"pyops-direct-{uuid.uuid4().hex[:8]}"
    answer = stack.fetch(
        host, "/health/detailed", source="127.0.0.12", headers={"User-Agent": tag, "X-Forwarded-For": "127.0.0.1"}
    )
    assert answer.status == 403, answer.text
    (entry,) = stack.access_log(host, APP, grep=tag)
    assert entry["remote_addr"] == "127.0.0.12", entry


def test_json_is_compressed_for_clients_that_accept_gzip(host):
    plain = stack.fetch(host, "/openapi.json")
    compressed = stack.fetch(host, "/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert plain.status == compressed.status == 200, (plain.status, compressed.status)
    assert "content-encoding" not in plain.headers, plain.headers
    assert compressed.headers.get("content-encoding") == "gzip", compressed.headers
    assert compressed.headers.get("vary") == "Accept-Encoding", compressed.headers
    assert json.loads(gzip.decompress(compressed.content)) == plain.json()
    assert len(compressed.content) < len(plain.content) / 2, (len(compressed.content), len(plain.content))
    # Below nginx_gzip_min_length (1024 bytes): sent as it is.
    small = stack.fetch(host, "/health", headers={"Accept-Encoding": "gzip"})
    assert small.status == 200 and "content-encoding" not in small.headers, small.headers
