"""An independent scanner grades the deployed nginx: sslyze (its own TLS stack, nassl) checks the
site against Mozilla's "intermediate" configuration, the profile the nginx role promises. sslyze runs
on the controller in its own virtualenv (its cryptography pin clashes with ansible-core's) and
connects only to this scenario's container."""

import json
import re
import subprocess
import sys

import pytest
from stack import REPO

SSLYZE_VENV = REPO / ".cache" / "sslyze-venv"
SSLYZE_PIN = "sslyze==6.3.1"


@pytest.fixture(scope="module")
def sslyze():
    binary = SSLYZE_VENV / "bin" / "sslyze"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(SSLYZE_VENV)], check=True)
        subprocess.run([str(SSLYZE_VENV / "bin" / "pip"), "install", "--quiet", SSLYZE_PIN], check=True)
    return binary


def test_nginx_meets_mozilla_intermediate(host, sslyze, tmp_path):
    address = host.check_output("hostname -I").split()[0]
    report = tmp_path / "sslyze.json"
    run = subprocess.run(
        [str(sslyze), "--mozilla_config=intermediate", f"--json_out={report}", f"api.example.test:443{{{address}}}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(run.stdout[-3000:])
    compliance = run.stdout[run.stdout.index("COMPLIANCE AGAINST TLS CONFIGURATION") :]
    issues = re.findall(r"^\s+\* (\w+):", compliance, flags=re.MULTILINE)
    # The scenario's certificate is self-signed, so the one finding allowed is that no public CA
    # vouches for it (sslyze validates chains against its bundled trust stores only).
    assert set(issues) <= {"certificate_path_validation"}, compliance
    scan = json.loads(report.read_text())["server_scan_results"][0]["scan_result"]
    accepted = {
        name: scan[name]["result"]["accepted_cipher_suites"]
        for name in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites")
    }
    assert accepted == {name: [] for name in accepted}
    assert scan["tls_1_3_cipher_suites"]["result"]["accepted_cipher_suites"]
    assert scan["tls_1_2_cipher_suites"]["result"]["accepted_cipher_suites"]
