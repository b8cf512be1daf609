# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pyops.fastapi.nginx_site_clashes: each kind of clash between the sites of one host, the cases that are
no clash, the host settings update flag, and the filter as Ansible loads it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.pyops.fastapi.plugins.filter.nginx_sites import FilterModule, nginx_site_clashes

REPO = Path(__file__).resolve().parents[4]


def record(app, site=None, mode="public", names=None, http=80, https=443, backend=None, **host):
    site = site or app
    return {
        "app": app,
        "site": site,
        "file": f"/etc/nginx/sites-available/{site}.conf",
        "mode": mode,
        "server_names": names if names is not None else [f"{app}.example.test"],
        "http_port": http,
        "https_port": https,
        "backend_port": backend,
        "host": {"listen_ipv6": True, "client_header_timeout": "10s", "ssl_profile": "intermediate"} | host,
    }


ORDERS = record("orders")
BILLING = record("billing")


def test_registered_under_its_name():
    assert FilterModule().filters() == {"nginx_site_clashes": nginx_site_clashes}


def test_empty_host():
    assert nginx_site_clashes([], ORDERS) == []


def test_own_file_of_the_same_app_is_ignored():
    # The previous run of orders had other names, ports and host settings: it is about to be replaced.
    before = record("orders", names=["old.example.test"], http=8080, https=8443, ssl_profile="modern")
    assert nginx_site_clashes([before], ORDERS) == []


def test_distinct_public_sites_on_shared_ports():
    shop = record("shop", names=["shop.example.test", "www.shop.example.test"])
    assert nginx_site_clashes([BILLING, shop], ORDERS) == []


def test_distinct_backend_sites():
    me = record("orders", mode="backend", backend=8080)
    assert nginx_site_clashes([record("billing", mode="backend", backend=8081)], me) == []


def test_public_and_backend_sites_on_distinct_ports():
    me = record("orders", mode="backend", backend=8080, ssl_profile="modern", listen_ipv6=False)
    # A backend site's host settings and server names do not matter to the public ones.
    assert nginx_site_clashes([record("billing", names=["orders.example.test"])], me) == []
    assert nginx_site_clashes([me], record("billing", names=["orders.example.test"])) == []


def test_site_file_of_another_app():
    mine = record("orders", site="shop")
    theirs = record("billing", site="shop", names=["other.example.test"], ssl_profile="modern")
    assert nginx_site_clashes([theirs], mine) == [
        'site file /etc/nginx/sites-available/shop.conf (nginx_site_name "shop") belongs to app billing; '
        "app orders has the same nginx_site_name and would overwrite it: give orders another nginx_site_name."
    ]


def test_server_name_on_the_same_port():
    theirs = record("billing", names=["billing.example.test", "orders.example.test"])
    assert nginx_site_clashes([theirs], ORDERS) == [
        "nginx_server_name/nginx_server_aliases: app orders (site orders) and app billing (site billing) both "
        "serve orders.example.test on port 80 and 443, nginx would answer for one of them only: "
        "give orders other server names."
    ]


def test_server_names_compare_without_case():
    assert len(nginx_site_clashes([record("billing", names=["ORDERS.example.test"])], ORDERS)) == 1


def test_server_name_on_other_ports_with_the_update_flag():
    theirs = record("billing", names=["orders.example.test"], http=8080, https=8443)
    assert nginx_site_clashes([theirs], ORDERS, True) == []
    # Sharing one of the two ports is enough.
    theirs = record("billing", names=["orders.example.test"], http=8080)
    assert nginx_site_clashes([theirs], ORDERS, True) == [
        "nginx_server_name/nginx_server_aliases: app orders (site orders) and app billing (site billing) both "
        "serve orders.example.test on port 443, nginx would answer for one of them only: "
        "give orders other server names."
    ]


def test_backend_port_of_two_backend_sites():
    me = record("orders", mode="backend", backend=8080)
    assert nginx_site_clashes([record("billing", mode="backend", backend=8080)], me) == [
        "nginx_backend_port 8080 of app orders (site orders) is also the nginx_backend_port of app billing "
        "(site billing): give orders another nginx_backend_port."
    ]


@pytest.mark.parametrize(("port", "variable"), [(80, "nginx_http_port"), (443, "nginx_https_port")])
def test_backend_port_is_a_public_port(port, variable):
    me = record("orders", mode="backend", backend=port)
    assert nginx_site_clashes([BILLING], me) == [
        f"nginx_backend_port {port} of app orders (site orders) is the {variable} of app billing "
        "(site billing): give orders another nginx_backend_port."
    ]


def test_public_port_is_a_backend_port():
    theirs = record("billing", mode="backend", backend=8080)
    assert nginx_site_clashes([theirs], record("orders", http=8080)) == [
        "nginx_http_port 8080 of app orders (site orders) is the nginx_backend_port of app billing "
        "(site billing): give orders another nginx_http_port."
    ]


def test_http_port_is_another_sites_https_port():
    # Not allowed even with the update flag: one port cannot be plain HTTP for one site and TLS for another.
    assert nginx_site_clashes([record("billing", http=8080, https=80)], ORDERS, True) == [
        "nginx_http_port 80 of app orders (site orders) is the nginx_https_port of app billing (site billing): "
        "give orders another nginx_http_port."
    ]


@pytest.mark.parametrize(
    ("setting", "variable", "mine", "theirs"),
    [
        ({"http": 8080}, "nginx_http_port", "80", "8080"),
        ({"https": 8443}, "nginx_https_port", "443", "8443"),
        ({"listen_ipv6": False}, "nginx_listen_ipv6", "true", "false"),
        ({"client_header_timeout": "20s"}, "nginx_client_header_timeout", '"10s"', '"20s"'),
        ({"ssl_profile": "modern"}, "nginx_ssl_profile", '"intermediate"', '"modern"'),
    ],
)
def test_host_setting_differs(setting, variable, mine, theirs):
    other = record("billing", **setting)
    assert nginx_site_clashes([other], ORDERS) == [
        f"{variable} is {mine} for app orders (site orders) but {theirs} for app billing (site billing); the "
        f"public sites of a host share 000-default-deny.conf: set {variable}: {theirs} for orders, or "
        f"nginx_host_settings_update=true to change it for the host (then deploy billing with {mine} too)."
    ]
    assert nginx_site_clashes([other], ORDERS, True) == []


def test_update_flag_keeps_the_other_clashes():
    theirs = record("billing", names=["orders.example.test"], ssl_profile="modern")
    clashes = nginx_site_clashes([theirs], ORDERS, update_host_settings=True)
    assert len(clashes) == 1
    assert clashes[0].startswith("nginx_server_name/nginx_server_aliases:")


def test_every_clash_with_every_site_is_listed():
    others = [
        record("billing", names=["orders.example.test"], listen_ipv6=False),
        record("shop", ssl_profile="modern"),
        record("orders"),
    ]
    clashes = nginx_site_clashes(others, ORDERS)
    assert [c.split(":", 1)[0].split(" ", 1)[0] for c in clashes] == [
        "nginx_server_name/nginx_server_aliases",
        "nginx_listen_ipv6",
        "nginx_ssl_profile",
    ]


def test_a_copied_site_file_is_reported_once():
    theirs = record("billing", mode="backend", backend=8080)
    assert len(nginx_site_clashes([theirs, dict(theirs)], record("orders", mode="backend", backend=8080))) == 1


def test_values_as_older_ansible_templates_them():
    # Ports and flags may arrive as strings; a public record's backend_port is ignored.
    theirs = record("billing", http="80", https="443", listen_ipv6="True", backend="None")
    assert nginx_site_clashes([theirs], ORDERS) == []
    assert (
        len(
            nginx_site_clashes(
                [record("billing", mode="backend", backend="8080")], record("orders", mode="backend", backend=8080)
            )
        )
        == 1
    )
    assert nginx_site_clashes([record("billing", listen_ipv6="false")], ORDERS, "true") == []


def test_unreadable_record():
    assert nginx_site_clashes(["not a record"], ORDERS) == [
        "unreadable pyops-site record on this host: 'not a record'; fix or remove that line."
    ]


def test_wrong_arguments():
    with pytest.raises(AnsibleFilterError):
        nginx_site_clashes({"app": "billing"}, ORDERS)
    with pytest.raises(AnsibleFilterError):
        nginx_site_clashes([], "orders")


def test_doc_renders():
    ansible_doc = shutil.which("ansible-doc", path=str(Path(sys.executable).parent)) or "ansible-doc"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        [ansible_doc, "-t", "filter", "pyops.fastapi.nginx_site_clashes"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "update_host_settings" in result.stdout
