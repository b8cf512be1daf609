"""pyops.fastapi.nginx's preflight against hostile values of the rate limit, client timeout and
private docs options. One ansible-playbook run on the controller itself (the checks need no
host): one inventory host per case, each with its own variables, so each fails on its own; every
hostile value must fail in the check, naming the variable, and the valid case must pass.

Then several apps on one host: a second run (in check mode) renders the site files of the apps
already deployed from the role's own template into a directory per case, and runs the preflight of
one more app against that directory, as it reads /etc/nginx/sites-available on a real host."""

import json
from pathlib import Path

import pytest
from ansible_collections.pyops.fastapi.tests.tools.stack import run_ansible_playbook

REPO = Path(__file__).resolve().parents[3]
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
      vars:
        # A host without nginx yet: no site files to compare with.
        __nginx_sites_available_dir: "{{ playbook_dir }}/no-sites"
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


# Issue 18, finding 7: a backend (plain HTTP) listens on loopback and the private addresses given.
BACKEND = {"nginx_mode": "backend", "nginx_backend_allow": ["10.0.0.2"]}
BACKEND_TASK = "Check nginx_backend_listen_addresses"
BACKEND_CASES = {
    "backend_private": (BACKEND | {"nginx_backend_listen_addresses": ["10.0.0.5", "fd00::5"]}, True),
    "backend_public_opt_in": (
        BACKEND | {"nginx_backend_listen_addresses": ["93.184.215.14"], "nginx_backend_public_listen": True},
        True,
    ),
    "backend_none": (BACKEND, False),
    "backend_public": (BACKEND | {"nginx_backend_listen_addresses": ["93.184.215.14"]}, False),
    "backend_any": (BACKEND | {"nginx_backend_listen_addresses": ["0.0.0.0"]}, False),
    "backend_zone_id": (BACKEND | {"nginx_backend_listen_addresses": ["fe80::1%eth0"]}, False),
    "backend_name": (BACKEND | {"nginx_backend_listen_addresses": ["app1.internal"]}, False),
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Host name -> failed task names and their failed items' messages."""
    tmp = tmp_path_factory.mktemp("nginx-preflight")
    hosts = {"valid": VALID} | {f"case{i}": {name: value} for i, (name, value) in enumerate(HOSTILE)}
    hosts |= {name: variables for name, (variables, _passes) in BACKEND_CASES.items()}
    (tmp / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}), encoding="utf-8")
    (tmp / "preflight.yml").write_text(PLAYBOOK, encoding="utf-8")
    run = run_ansible_playbook(["-i", str(tmp / "inventory.json"), str(tmp / "preflight.yml")], timeout=300)
    failed = run.failures_by_host()
    return {host: failed.get(host, []) for host in hosts}


def test_valid_values_pass(outcome):
    assert outcome["valid"] == []


@pytest.mark.parametrize(("index", "name"), [(i, case[0]) for i, case in enumerate(HOSTILE)])
def test_hostile_value_fails_in_preflight(outcome, index, name):
    failed = outcome[f"case{index}"]
    assert [entry[0] for entry in failed] == [TASK], failed
    messages = failed[0][1]
    assert messages and all(msg.startswith(f"{name} ") and "is invalid" in msg for msg in messages), messages


@pytest.mark.parametrize("case", list(BACKEND_CASES))
def test_backend_listens_on_private_addresses_only(outcome, case):
    _variables, passes = BACKEND_CASES[case]
    failed = outcome[case]
    if passes:
        assert failed == [], failed
    else:
        assert [entry[0] for entry in failed] == [BACKEND_TASK], failed
        assert "nginx_backend_listen_addresses must list the private IP addresses" in failed[0][1][0], failed


SITES_TASK = "Check the site does not clash with the other sites on the host"
SITES_PLAYBOOK = """
- name: Put the site files of the apps already on the host
  hosts: deployed
  connection: local
  gather_facts: false
  vars: &vars
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    app_layout:
      name: "{{ pyops_test_app }}"
      upstream_file: "/etc/nginx/{{ pyops_test_app }}/upstream.conf"
      current_link: "/opt/{{ pyops_test_app }}/current"
      slots: {blue: {socket: "/run/{{ pyops_test_app }}/blue/gunicorn.sock"}}
  tasks:
    - name: Read the nginx role's variables (its tasks are skipped)
      ansible.builtin.import_role:
        name: pyops.fastapi.nginx
        tasks_from: preflight
      when: false

    - name: Render the site file as the role does
      ansible.builtin.template:
        src: "{{ pyops_test_template }}"
        dest: "{{ pyops_test_sites_dir }}/{{ nginx_site_name }}.conf"
        mode: "0644"
      vars:
        __nginx_http2_listen_param: false
      check_mode: false

- name: Check one more app on the host
  hosts: next
  connection: local
  gather_facts: false
  vars: *vars
  tasks:
    - name: Run the preflight entry point
      ansible.builtin.include_role:
        name: pyops.fastapi.nginx
        tasks_from: preflight
      vars:
        __nginx_sites_available_dir: "{{ pyops_test_sites_dir }}"
"""
# Case -> the apps already deployed (their variables) and the next app's variables.
BILLING = {"pyops_test_app": "billing", "nginx_server_name": "billing.example.test"}
ORDERS = {"pyops_test_app": "orders", "nginx_server_name": "orders.example.test"}
SITES = {
    "distinct": ([BILLING, ORDERS | {"nginx_ssl_profile": "modern", "nginx_http_port": 8080}], ORDERS),
    "name": ([BILLING | {"nginx_server_aliases": ["orders.example.test"]}], ORDERS),
    "site_file": ([BILLING | {"nginx_site_name": "shop"}], ORDERS | {"nginx_site_name": "shop"}),
    "host_setting": ([BILLING | {"nginx_ssl_profile": "modern"}], ORDERS),
    "host_setting_update": ([BILLING | {"nginx_ssl_profile": "modern"}], ORDERS | {"nginx_host_settings_update": True}),
    "backend_port": (
        [
            BILLING
            | {"nginx_mode": "backend", "nginx_backend_port": 8080, "nginx_backend_listen_addresses": ["10.0.0.5"]}
        ],
        ORDERS | {"nginx_mode": "backend", "nginx_backend_port": 8080, "nginx_backend_listen_addresses": ["10.0.0.5"]},
    ),
}
SITES_EXPECTED = {
    "distinct": [],
    "name": [
        "nginx_server_name/nginx_server_aliases: app orders (site orders) and app billing (site billing) both "
        "serve orders.example.test on port 80 and 443, nginx would answer for one of them only: "
        "give orders other server names."
    ],
    "site_file": [
        'site file /etc/nginx/sites-available/shop.conf (nginx_site_name "shop") belongs to app billing; '
        "app orders has the same nginx_site_name and would overwrite it: give orders another nginx_site_name."
    ],
    "host_setting": [
        'nginx_ssl_profile is "intermediate" for app orders (site orders) but "modern" for app billing (site '
        'billing); the public sites of a host share 000-default-deny.conf: set nginx_ssl_profile: "modern" for '
        "orders, or nginx_host_settings_update=true to change it for the host (then deploy billing with "
        '"intermediate" too).'
    ],
    "host_setting_update": [],
    "backend_port": [
        "nginx_backend_port 8080 of app orders (site orders) is also the nginx_backend_port of app billing "
        "(site billing): give orders another nginx_backend_port."
    ],
}


@pytest.fixture(scope="module")
def sites_outcome(tmp_path_factory):
    """Case -> (failed tasks of the next app's preflight, first lines of the case's files)."""
    tmp = tmp_path_factory.mktemp("nginx-sites")
    template = str(REPO / "roles" / "nginx" / "templates" / "site.conf.j2")
    deployed, following = {}, {}
    for case, (apps, next_app) in SITES.items():
        sites_dir = tmp / case
        sites_dir.mkdir()
        # Files the preflight skips: another file's first line, a file that is not *.conf.
        (sites_dir / "000-default-deny.conf").write_text("# Ansible managed\nserver {}\n", encoding="utf-8")
        (sites_dir / "old.conf.bak").write_text('# pyops-site: {"app": "x", "site": "orders"}\n', encoding="utf-8")
        for index, app in enumerate(apps):
            deployed[f"{case}_deployed{index}"] = app | {"pyops_test_sites_dir": str(sites_dir)}
        following[f"{case}_next"] = next_app | {"pyops_test_sites_dir": str(sites_dir)}
    inventory = {
        "all": {
            "vars": {"pyops_test_template": template},
            "children": {"deployed": {"hosts": deployed}, "next": {"hosts": following}},
        }
    }
    (tmp / "inventory.json").write_text(json.dumps(inventory), encoding="utf-8")
    (tmp / "sites.yml").write_text(SITES_PLAYBOOK, encoding="utf-8")
    run = run_ansible_playbook(["--check", "-i", str(tmp / "inventory.json"), str(tmp / "sites.yml")], timeout=300)
    failed = run.failures_by_host()
    assert not any(host in failed for host in deployed), run.tail()
    first_lines = {
        case: sorted(p.read_text(encoding="utf-8").split("\n", 1)[0] for p in (tmp / case).glob("*.conf"))
        for case in SITES
    }
    return {case: (failed.get(f"{case}_next", []), first_lines[case]) for case in SITES}


def test_site_file_records_itself_on_its_first_line(sites_outcome):
    _failed, lines = sites_outcome["distinct"]
    records = [json.loads(line.removeprefix("# pyops-site: ")) for line in lines if line.startswith("# pyops-site: ")]
    assert records == [
        {
            "app": "billing",
            "site": "billing",
            "file": "/etc/nginx/sites-available/billing.conf",
            "mode": "public",
            "server_names": ["billing.example.test"],
            "http_port": 80,
            "https_port": 443,
            "backend_port": None,
            "host": {"listen_ipv6": True, "client_header_timeout": "10s", "ssl_profile": "intermediate"},
        },
        {
            "app": "orders",
            "site": "orders",
            "file": "/etc/nginx/sites-available/orders.conf",
            "mode": "public",
            "server_names": ["orders.example.test"],
            "http_port": 8080,
            "https_port": 443,
            "backend_port": None,
            "host": {"listen_ipv6": True, "client_header_timeout": "10s", "ssl_profile": "modern"},
        },
    ]
    # Compact JSON, one line.
    assert all(", " not in line and '": ' not in line for line in lines if line.startswith("# pyops-site: "))


def test_backend_record(sites_outcome):
    _failed, lines = sites_outcome["backend_port"]
    record = json.loads(next(line for line in lines if line.startswith("# pyops-site: ")).split(": ", 1)[1])
    assert (record["mode"], record["backend_port"]) == ("backend", 8080)


@pytest.mark.parametrize("case", list(SITES))
def test_next_app_on_the_host(sites_outcome, case):
    failed, _lines = sites_outcome[case]
    if SITES_EXPECTED[case]:
        assert failed == [(SITES_TASK, [SITES_EXPECTED[case]])]
    else:
        assert failed == []
