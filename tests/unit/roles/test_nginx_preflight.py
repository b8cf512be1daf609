"""pyops.fastapi.nginx's preflight against hostile values of the rate limit, client timeout and
private docs options. One ansible-playbook run on the controller itself (the checks need no
host): one inventory host per case, each with its own variables, so each fails on its own; every
hostile value must fail in the check, naming the variable, and the valid case must pass."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.pyops.fastapi.tests.tools.stack import PlaybookRun

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"
TASK = "Check the client timeouts, the rate limit and the private docs options"
PLAYBOOK = """
- name: Check the nginx role's input
  hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    app_layout:
      name: fastapi-app
      upstream_file: /etc/nginx/fastapi-app/upstream.conf
      current_link: /opt/fastapi-app/current
      slots: {blue: {socket: /run/fastapi-app/blue/gunicorn.sock}}
  tasks:
    - name: Run the preflight entry point
      ansible.builtin.include_role:
        name: pyops.fastapi.nginx
        tasks_from: preflight
"""
VALID = {
    "nginx_docs_private": True,
    "nginx_rate_limit_exempt_paths": ["/health", "/static/"],
    "nginx_rate_limit_exempt_addresses": ["10.0.0.0/8", "fd00::/8"],
    "nginx_rate_limit_rate": "300r/m",
}
HOSTILE = [
    ("nginx_rate_limit_rate", "20r/s\n"),
    ("nginx_rate_limit_rate", "20r/s burst=1000"),
    ("nginx_rate_limit_burst", -1),
    ("nginx_rate_limit_zone_size", "10m; limit_req_zone $x zone=y:1m rate=1r/s"),
    ("nginx_rate_limit_exempt_addresses", ["127.0.0.1", "0.0.0.0/0 1; }"]),
    ("nginx_rate_limit_exempt_addresses", ["::1\n"]),
    ("nginx_rate_limit_exempt_paths", ['/health" ""; default ""']),
    ("nginx_client_header_timeout", "10s; autoindex on"),
    ("nginx_client_keepalive_timeout", "30s\n"),
    ("nginx_openapi_path", "/openapi.json { allow all; }"),
]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Host name -> failed task names and their failed items' messages."""
    tmp = tmp_path_factory.mktemp("nginx-preflight")
    hosts = {"valid": VALID} | {f"case{i}": {name: value} for i, (name, value) in enumerate(HOSTILE)}
    (tmp / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}), encoding="utf-8")
    (tmp / "preflight.yml").write_text(PLAYBOOK, encoding="utf-8")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
    )
    proc = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(tmp / "inventory.json"), str(tmp / "preflight.yml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    failed = PlaybookRun(proc).failures_by_host()
    return {host: failed.get(host, []) for host in hosts}


def test_valid_values_pass(outcome):
    assert outcome["valid"] == []


@pytest.mark.parametrize(("index", "name"), [(i, case[0]) for i, case in enumerate(HOSTILE)])
def test_hostile_value_fails_in_preflight(outcome, index, name):
    failed = outcome[f"case{index}"]
    assert [entry[0] for entry in failed] == [TASK], failed
    messages = failed[0][1]
    assert messages and all(msg.startswith(f"{name} ") and "is invalid" in msg for msg in messages), messages
