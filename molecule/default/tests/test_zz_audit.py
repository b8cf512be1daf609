"""pyops.fastapi.audit against the converged stack, then against the same host weakened on purpose.

Named to run last: the second test leaves the host weakened (the scenario destroys it after verify).
"""

import re
import time

import stack
from stack import APP, NAME

CHECKS = {
    "tls",
    "certificate",
    "renewal",
    "redirect",
    "headers",
    "exposure",
    "env_files",
    "listeners",
    "detailed_health",
    "secret_logs",
    "rate_limit",
}
FINAL_TASK = "pyops.fastapi.audit : Fail if a check of the production checklist failed"
SITE = f"/etc/nginx/sites-available/{APP}.conf"
DEFAULT_DENY = "/etc/nginx/sites-available/000-default-deny.conf"


def _failed_checks(run):
    """The failed task and the check ids its message names."""
    task, msg = run.failure()
    assert task == FINAL_TASK, (task, msg, run.tail())
    named = re.search(r"checks failed on \S+: ([a-z_, ]+)\.", msg)
    assert named, msg
    return set(named.group(1).split(", ")), msg


def _table(run):
    for name, result in run.results():
        if name == "pyops.fastapi.audit : Show the checklist":
            return result["msg"]
    raise AssertionError(run.tail())


def test_audit_passes_on_the_deployed_stack(host):
    before = stack.host_fingerprint(host)
    for args in ((), ("--check",)):
        run = stack.run_playbook("pyops.fastapi.audit", {}, *args)
        table = _table(run)
        assert run.returncode == 0, (args, "\n".join(table), run.failure())
        assert len(table) == 1 + len(CHECKS)
        assert all("  pass  " in row for row in table[1:]), table
        assert all(stats.get("changed", 0) == 0 for stats in run.changed().values()), run.changed()
    # Read-only: nothing the stack owns changed.
    assert stack.host_fingerprint(host) == before


def _reload_nginx(host):
    host.run_expect([0], "nginx -t -q && systemctl reload nginx")
    time.sleep(1)  # the old workers finish; new connections reach the new ones


def test_audit_names_each_weakness(host):
    # TLS 1.0 and CBC suites (security level 0 lets OpenSSL 3 speak TLS 1.0), in the site and in the
    # default server, whose settings decide the protocol before SNI picks the site.
    host.run_expect(
        [0],
        "sed -i -e 's/^\\( *ssl_protocols\\) .*;/\\1 TLSv1 TLSv1.2 TLSv1.3;/'"
        " -e 's/^\\( *ssl_ciphers\\) \\(.*\\);/\\1 \\2:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0;/'"
        " %s %s",
        SITE,
        DEFAULT_DENY,
    )
    # No HSTS; /health/detailed open to everyone.
    host.run_expect([0], "sed -i -e '/Strict-Transport-Security/d' -e 's/deny all;/allow all;/' %s", SITE)
    # A certificate for the right name that expires in 20 days: valid (more than 14 days), but the
    # role's self-signed renewal (on a site.yml run, 30 days before expiry) is overdue.
    host.run_expect(
        [0],
        "cd /etc/nginx/ssl/%s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        " -days 20 -subj /CN=%s -addext subjectAltName=DNS:%s -keyout privkey.pem -out fullchain.pem",
        NAME,
        NAME,
        NAME,
    )
    _reload_nginx(host)
    # A sandbox switched off (systemd-analyze reads the loaded unit; no restart needed).
    host.run_expect([0], "mkdir -p /etc/systemd/system/%s@.service.d", APP)
    host.run_expect(
        [0],
        "printf '[Service]\\nProtectSystem=no\\nProtectHome=no\\nNoNewPrivileges=no\\nCapabilityBoundingSet=~\\n"
        "SystemCallFilter=\\nPrivateDevices=no\\nRestrictAddressFamilies=\\n'"
        " > /etc/systemd/system/%s@.service.d/weak.conf && systemctl daemon-reload",
        APP,
    )
    # A world-readable environment file.
    host.run_expect([0], "chmod 0644 /opt/%s/shared/.env", APP)
    # A process of the app user on a public address.
    host.run_expect(
        [0],
        "systemd-run --unit=audit-public-listener --uid=%s python3 -m http.server --bind 0.0.0.0 18080",
        APP,
    )
    # The secret in the journal, under the live slot's identifier.
    slot = stack.live_slot(host)
    host.run_expect(
        [0],
        "sed -n \"s/^SECRET_KEY='\\(.*\\)'$/leaked \\1/p\" /opt/%s/shared/.env | systemd-cat -t %s-%s",
        APP,
        APP,
        slot,
    )
    deadline = time.monotonic() + 10
    while host.run("ss -Hltn 'sport = :18080'").stdout.strip() == "" and time.monotonic() < deadline:
        time.sleep(0.2)

    run = stack.run_playbook("pyops.fastapi.audit", {})
    assert run.returncode != 0
    failed, msg = _failed_checks(run)
    weakened = {"tls", "renewal", "headers", "exposure", "env_files", "listeners", "detailed_health", "secret_logs"}
    # Each weakness is named; the checks left alone (certificate, redirect, rate limiting) pass.
    assert failed == weakened, msg
    assert "TLSv1 accepted" in msg
    assert "non-intermediate cipher ECDHE-ECDSA-AES128-SHA accepted" in msg
    assert "Strict-Transport-Security missing" in msg
    assert "0644" in msg
    assert "0.0.0.0:18080" in msg
    assert f"SECRET_KEY in the journal of {APP}" in msg
    assert "/health/detailed 200" in msg
    assert "site.yml run is overdue" in msg
    # The secret itself is never shown.
    secret = host.check_output("sed -n \"s/^SECRET_KEY='\\(.*\\)'$/\\1/p\" /opt/%s/shared/.env", APP)
    assert secret and secret not in run.stdout + run.stderr
