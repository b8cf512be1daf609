"""pyops.fastapi.certbot against a real ACME server (Pebble, started by prepare.yml).

The tests run in file order: issuance, renewal through the unit certbot.timer starts,
a forced renewal that must reload nginx, then the faults: a failing challenge, and last the
ACME server down (Pebble is started again afterwards, with a new CA and no accounts).
"""

import json
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))

import stack  # noqa: E402
from stack import NAME  # noqa: E402

ACME_SERVER = "https://localhost:14000/dir"
TEST_CA = "/etc/pebble/test-ca.pem"
LIVE = f"/etc/letsencrypt/live/{NAME}"
NGINX_SSL = f"/etc/nginx/ssl/{NAME}"
CA_BUNDLE = "/etc/letsencrypt/pyops-acme-ca-bundle.pem"
DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/pyops-reload-nginx"
# A runtime drop-in (under /run, gone at the next boot) that changes only certbot.service's
# command line: everything else the timer's renewals get (the role's drop-in with the CA
# bundle, the package's sandboxing) stays as it is.
RUNTIME_DROPIN = "/run/systemd/system/certbot.service.d/zz-molecule-test.conf"

# Connects to nginx like a client: verifies the chain against Pebble's root (fetched from
# Pebble's management API, which runs on the test CA's certificate) and the host name.
SERVED_PY = r"""
import json, socket, ssl, sys, urllib.request
name = sys.argv[1]
mgmt = ssl.create_default_context(cafile=sys.argv[2])
root = urllib.request.urlopen("https://localhost:15000/roots/0", context=mgmt, timeout=10).read().decode()
ctx = ssl.create_default_context(cadata=root)
out = {}
try:
    with socket.create_connection(("127.0.0.1", 443), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            cert = tls.getpeercert()
            out["verified"] = True
            out["serial"] = cert["serialNumber"]
            out["issuer"] = dict(x[0] for x in cert["issuer"])
            out["names"] = sorted(v for k, v in cert.get("subjectAltName", ()) if k == "DNS")
except ssl.SSLError as exc:
    out = {"verified": False, "error": str(exc)}
print(json.dumps(out))
"""


def served(host, name=NAME):
    """What nginx serves for NAME, checked against Pebble's root CA."""
    return json.loads(host.check_output("python3 -c %s %s %s", SERVED_PY, name, TEST_CA))


def served_serial(host, name=NAME):
    """Serial of the certificate nginx serves, without verification (works for any certificate)."""
    out = host.check_output(
        "openssl s_client -connect 127.0.0.1:443 -servername %s </dev/null 2>/dev/null | openssl x509 -noout -serial",
        name,
    )
    return out.strip().removeprefix("serial=")


def nginx_main_pid(host):
    return host.check_output("systemctl show -P MainPID nginx.service").strip()


def start_certbot_service_with(host, command):
    """Run certbot.service, the unit certbot.timer triggers, with another certbot command line."""
    host.run_test("mkdir -p %s", os.path.dirname(RUNTIME_DROPIN))
    host.run_test(
        "printf '[Service]\\nExecStart=\\nExecStart=%%s\\n' %s > %s && systemctl daemon-reload",
        command,
        RUNTIME_DROPIN,
    )
    try:
        return host.run("systemctl start certbot.service")
    finally:
        host.run_test("rm -f %s && systemctl daemon-reload", RUNTIME_DROPIN)


def state_fingerprint(host):
    """Everything a failed order must leave alone: the lineage, its renewal config, certbot's keys/CSRs,
    nginx's certificate links and the challenge webroot (files with size and time, directories by name:
    a file certbot adds and removes again changes its directory's time, not its content)."""
    return host.check_output(
        "cd /etc/letsencrypt && find live archive renewal keys csr /var/www/acme"
        " \\( -type d -printf '%%p/\\n' \\) -o -printf '%%p %%s %%T@ %%l\\n' | sort"
        " && readlink %s/fullchain.pem %s/privkey.pem",
        NGINX_SSL,
        NGINX_SSL,
    )


def converge(extra_vars):
    """Run the scenario's converge playbook again from here, as a user would, with extra vars and
    Molecule's ansible.cfg (config=None); returns its exit code and (task, message) of each failure."""
    playbook = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"
    run = stack.run_ansible_playbook(
        ["--inventory", os.environ["MOLECULE_INVENTORY_FILE"], "--extra-vars", json.dumps(extra_vars), str(playbook)],
        config=None,
    )
    if "plays" not in run.report:
        pytest.fail(f"ansible-playbook printed no JSON report: {run.stdout[-2000:]} {run.stderr[-2000:]}")
    # "role : task name" -> "task name"
    return run.returncode, [
        (name.split(" : ", 1)[-1], " ".join(str(result.get("msg", "")).split()))
        for _host, name, result in run.host_results()
        if result.get("failed")
    ]


# --- issuance ----------------------------------------------------------------------------------


def test_nginx_serves_a_certificate_issued_by_pebble(host):
    cert = served(host)
    assert cert["verified"], f"the served chain does not verify against Pebble's root: {cert}"
    assert cert["issuer"]["commonName"].startswith("Pebble Intermediate CA")
    assert cert["names"] == [NAME]


def test_private_docs_are_refused_to_other_clients(host):
    # nginx_docs_private is on in this scenario; 127.0.0.2 is not in nginx_detailed_health_allow.
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"):
        assert stack.fetch(host, path, source="127.0.0.2").status == 403, path
    assert stack.fetch(host, "/openapi.json").json()["openapi"].startswith("3.")
    assert "swagger-ui" in stack.fetch(host, "/docs").text
    assert stack.fetch(host, "/redoc").status == 200
    # The API itself stays public.
    root = stack.fetch(host, "/", source="127.0.0.2")
    assert root.status == 200
    assert root.json()["message"] == "Hello World"


def test_certificate_is_ecdsa_and_nginx_paths_link_to_certbot_lineage(host):
    for name, target in (("fullchain.pem", "fullchain.pem"), ("privkey.pem", "privkey.pem")):
        assert host.file(f"{NGINX_SSL}/{name}").is_symlink
        assert host.check_output("readlink %s", f"{NGINX_SSL}/{name}") == f"{LIVE}/{target}"
    text = host.check_output("openssl x509 -in %s/cert.pem -noout -text", LIVE)
    assert "id-ecPublicKey" in text
    assert "prime256v1" in text or "P-256" in text


def test_renewal_config_points_at_the_acme_server(host):
    conf = host.file(f"/etc/letsencrypt/renewal/{NAME}.conf").content_string
    assert f"server = {ACME_SERVER}" in conf
    assert "authenticator = webroot" in conf


# --- renewal by certbot.timer --------------------------------------------------------------------


def test_certbot_timer_is_enabled_and_triggers_certbot_service(host):
    timer = host.service("certbot.timer")
    assert timer.is_enabled
    assert timer.is_running
    assert host.check_output("systemctl show -P Triggers certbot.timer").strip() == "certbot.service"


def test_certbot_service_gets_the_ca_bundle_for_renewals(host):
    env = host.check_output("systemctl show -P Environment certbot.service")
    assert f"REQUESTS_CA_BUNDLE={CA_BUNDLE}" in env.split()
    bundle = host.file(CA_BUNDLE)
    assert bundle.mode == 0o644
    assert bundle.content_string == host.file(TEST_CA).content_string


def test_audit_passes_with_the_acme_certificate_and_its_renewal_timer(host):
    # The acme branch of the audit: certbot.timer and the renewal configuration, on a real lineage.
    run = stack.run_playbook("pyops.fastapi.audit", {}, "--check")
    table = next(r["msg"] for name, r in run.results() if name == "pyops.fastapi.audit : Show the checklist")
    assert run.returncode == 0, ("\n".join(table), run.failure())
    renewal = next(row for row in table if row.startswith("certificate renewal"))
    assert "  pass  " in renewal and "certbot.timer enabled/active" in renewal, renewal
    assert f"/etc/letsencrypt/renewal/{NAME}.conf present" in renewal, renewal


def test_deploy_hook_is_executable(host):
    hook = host.file(DEPLOY_HOOK)
    assert hook.mode == 0o755
    assert hook.user == "root"
    assert "nginx -t" in hook.content_string
    assert "systemctl reload nginx.service" in hook.content_string


def test_renew_dry_run_succeeds_through_the_timers_unit(host):
    """certbot.service with only its command changed to a dry run (its drop-ins and sandboxing kept).

    --server is needed: certbot 2.x sends every dry run to Let's Encrypt staging otherwise.
    The control below shows the unit's environment is what makes it work: without the CA bundle,
    the same dry run fails on Pebble's certificate.
    """
    before = served_serial(host)
    result = start_certbot_service_with(
        host, f"/usr/bin/certbot -q renew --no-random-sleep-on-renew --dry-run --server {ACME_SERVER}"
    )
    assert result.rc == 0, host.run("journalctl -u certbot.service -n 30 --no-pager").stdout
    assert host.check_output("systemctl show -P Result certbot.service").strip() == "success"
    assert served_serial(host) == before, "a dry run must not change the served certificate"

    control = host.run(
        "env -u REQUESTS_CA_BUNDLE certbot renew --dry-run --no-random-sleep-on-renew --server %s --cert-name %s",
        ACME_SERVER,
        NAME,
    )
    assert control.rc != 0
    assert "CERTIFICATE_VERIFY_FAILED" in control.stdout + control.stderr


def test_forced_renewal_reloads_nginx_through_the_deploy_hook(host):
    """A real renewal through certbot.service: new serial served, same nginx master (reload, no restart)."""
    pid_before = nginx_main_pid(host)
    serial_before = served_serial(host)
    result = start_certbot_service_with(
        host, f"/usr/bin/certbot -q renew --no-random-sleep-on-renew --force-renewal --cert-name {NAME}"
    )
    assert result.rc == 0, host.run("journalctl -u certbot.service -n 30 --no-pager").stdout

    serial_after = serial_before
    for _attempt in range(20):
        serial_after = served_serial(host)
        if serial_after != serial_before:
            break
        time.sleep(0.5)
    assert serial_after != serial_before, "nginx still serves the old certificate after the renewal"
    assert nginx_main_pid(host) == pid_before, "nginx was restarted instead of reloaded"
    cert = served(host)
    assert cert["verified"]
    assert cert["serial"].lstrip("0").upper() == serial_after.lstrip("0").upper()
    log = host.file("/var/log/letsencrypt/letsencrypt.log").content_string
    assert f"Running deploy-hook command: {DEPLOY_HOOK}" in log


# --- faults ------------------------------------------------------------------------------------


def test_failing_challenge_fails_clearly_and_leaves_nothing_behind(host):
    """A converge asking for a name whose HTTP-01 validation fails (its DNS lookup fails at Pebble)."""
    bad = f"broken.{NAME}"
    host.run_test("python3 -c %s", _challtestsrv("set-servfail", {"host": bad}))
    serial_before = served_serial(host)
    state_before = state_fingerprint(host)
    try:
        rc, failures = converge({"nginx_server_aliases": [bad]})
    finally:
        host.run_test("python3 -c %s", _challtestsrv("clear-servfail", {"host": bad}))
    assert rc != 0
    assert len(failures) == 1, failures
    task, msg = failures[0]
    print(f"{task}: {msg}")
    assert task == "Stop when the ACME server did not issue the certificate"
    assert f"certbot could not obtain a certificate for {NAME}, {bad} from {ACME_SERVER}" in msg
    assert f"Domain: {bad}" in msg
    assert "nginx keeps serving its current certificate" in msg
    assert served_serial(host) == serial_before
    assert state_fingerprint(host) == state_before


def test_acme_server_down_fails_clearly_and_nginx_keeps_its_certificate(host):
    """A converge asking for a new name, then a forced renewal by the timer's unit, while Pebble is
    stopped. Runs last: a restarted Pebble has forgotten every account and certificate (it keeps no
    state)."""
    serial_before = served_serial(host)
    state_before = state_fingerprint(host)
    nginx_before = nginx_main_pid(host)
    log_lines = int(host.check_output("wc -l < /var/log/letsencrypt/letsencrypt.log"))
    host.run_test("systemctl stop pebble.service")
    try:
        rc, failures = converge({"nginx_server_aliases": [f"www.{NAME}"]})
        renewal = start_certbot_service_with(
            host, f"/usr/bin/certbot -q renew --no-random-sleep-on-renew --force-renewal --cert-name {NAME}"
        )
        renewal_log = host.check_output("tail -n +%s /var/log/letsencrypt/letsencrypt.log", str(log_lines + 1))
        journal = host.check_output("journalctl -u certbot.service -n 20 --no-pager -o cat")
    finally:
        host.run_test("systemctl start pebble.service")
    # The renewal fails (the unit says so: a monitored timer shows it), names the ACME server it could
    # not reach, and leaves the certificate, its keys and nginx as they were.
    assert renewal.rc != 0, journal
    assert "Failed to renew certificate" in journal + renewal_log, journal
    assert f"{ACME_SERVER}" in renewal_log and "Connection refused" in renewal_log, renewal_log[-3000:]
    assert nginx_main_pid(host) == nginx_before
    assert rc != 0
    assert len(failures) == 1, failures
    task, msg = failures[0]
    print(f"{task}: {msg}")
    assert task == "Stop when the ACME directory does not answer"
    assert f"The ACME directory {ACME_SERVER} does not answer" in msg
    assert f"no certificate was ordered for {NAME}, www.{NAME}" in msg
    assert served_serial(host) == serial_before
    assert state_fingerprint(host) == state_before


def _challtestsrv(endpoint, body):
    return (
        "import json, urllib.request; urllib.request.urlopen(urllib.request.Request("
        f"'http://127.0.0.1:8055/{endpoint}', data=json.dumps({body!r}).encode(), method='POST'), timeout=10)"
    )
