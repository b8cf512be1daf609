"""A restart of the host (the container halted by systemd, as a reboot does, and started again): the
live slot, nginx and certbot's renewal timer come back by themselves, /run (tmpfs) rebuilt by the
units, and the first request through nginx is answered soon after the app itself is ready.
Runs last, after every test that needs the converged host as the converge left it."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))

import stack  # noqa: E402
from stack import APP, NAME  # noqa: E402


def test_a_restart_of_the_host_brings_the_stack_back(host):
    container = host.backend.host
    slot, release = stack.live_slot(host), stack.live_release(host)
    unit = stack.slot_unit(slot)
    stack.put_file(host, "/root/first_200.py", (stack.TOOLS / "first_200.py").read_bytes())

    # SIGRTMIN+3 halts systemd cleanly (docker's SIGTERM would only make it re-execute itself).
    subprocess.run(["docker", "kill", "--signal", "SIGRTMIN+3", container], check=True, capture_output=True)
    subprocess.run(["docker", "wait", container], check=True, capture_output=True, timeout=90)
    subprocess.run(["docker", "start", container], check=True, capture_output=True)
    probe = subprocess.run(
        ["docker", "exec", container, "python3", "/root/first_200.py", unit, NAME],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert probe.returncode == 0, probe.stdout + probe.stderr
    times = {key: round(value, 2) for key, value in json.loads(probe.stdout).items()}
    # For the notes and the README (.cache/ is not committed); timings are reported, never asserted.
    report = Path(os.environ.get("PYOPS_LOAD_REPORT", stack.REPO / ".cache" / "load-report.jsonl"))
    report.parent.mkdir(parents=True, exist_ok=True)
    with report.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"test": "reboot", **times}) + "\n")
    print("time to the first 200 after the restart:", times)

    # The same release, in the same slot, from the units enabled at boot; the other slot not started.
    assert (stack.live_slot(host), stack.live_release(host)) == (slot, release)
    for name in (unit, "nginx.service", "certbot.timer"):
        assert host.service(name).is_enabled, name
        assert host.service(name).is_running, name
    other = "green" if slot == "blue" else "blue"
    assert not host.service(stack.slot_unit(other)).is_running
    # The link nginx connects through survived (on disk) and names the socket the unit made again in /run.
    assert host.file(f"/opt/{APP}/live.sock").linked_to == f"/run/{APP}/{slot}/gunicorn.sock"
    assert host.socket(f"unix:///run/{APP}/{slot}/gunicorn.sock").is_listening
    assert stack.fetch(host, "/ready").status == 200
    # Nothing failed at boot.
    time.sleep(1)
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state == "running", host.run("systemctl --failed --no-legend").stdout
