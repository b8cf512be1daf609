# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hostile-input corpus through the roles' real checks: each role's meta/preflight.yml evaluated
by the code of the pyops.fastapi.preflight action (plugin_utils/_preflight.py) with a real Templar,
the roles' own defaults and vars, and the collection's test plugins. Every hostile value must stop a
check whose message names the option; every good value must pass all of the role's checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.pyops.fastapi.tests.unit.plugins.test.hostile_corpus import (
    CORPUS,
    ROOT,
    hostile_values,
    role_options,
)

CASES = [(option, kind, value) for option in CORPUS for kind, value in hostile_values(option)]

# Values a real run has by then: required inputs, gathered facts, what the tasks between two
# sections read from the host (a host with no other nginx site, the ACME CA bundle present).
BASE = {
    "app_secret_key": "3f9c2b7e1d4a6f8e0b5c9d2a7e4f1b3c",
    "certbot_email": "ops@example.test",
    "image_base": "localhost/pyops-base:13",
    "inventory_hostname": "app1",
    "playbook_dir": "/tmp",
    "ansible_facts": {
        "os_family": "Debian",
        "distribution": "Debian",
        "distribution_version": "12",
        "processor_vcpus": 2,
        "virtualization_type": "docker",
        "getent_group": {"www-data": ["x", "33", ""]},
    },
    "__nginx_site_records": {"stdout_lines": []},
    "__certbot_ca_bundle_stat": {"stat": {"exists": True, "isreg": True}},
    "__systemd_calendars": {"skipped": True},
}
# Options the roles check only in the mode that uses them.
CONTEXT = {
    "app_git_repo": {"app_source": "git", "app_git_repo": "https://git.example.test/app.git"},
    "app_git_version": {"app_source": "git", "app_git_repo": "https://git.example.test/app.git"},
    "app_source_path": {"app_source": "local"},
    "nginx_backend_allow": {"nginx_mode": "backend", "nginx_backend_listen_addresses": ["10.0.0.5"]},
    "nginx_backend_listen_addresses": {"nginx_mode": "backend", "nginx_backend_allow": ["10.0.0.2"]},
    "nginx_upstream_drained": {"nginx_upstream_servers": ["10.0.0.5:8080"]},
    # The two go together (an empty one is refused when the other is set), for a push to a registry.
    "image_registry_username": {
        "image_registry_password": "t0ken-9f8e7d6c",
        "image_push": True,
        "image_repository": "registry.example.test/app",
    },
    "image_registry_password": {
        "image_registry_username": "ci-bot",
        "image_push": True,
        "image_repository": "registry.example.test/app",
    },
}
# Dict options whose names come from an allow-list: a name and a value they accept.
DICT_GOOD = {
    "nginx_extra_headers": ("X-Good", "x"),
    "systemd_extra_directives": ("LimitNOFILE", "65536"),
    "gunicorn_extra_settings": ("backlog", "2048"),
}
# List-of-dicts options: an entry they accept, whose field a case replaces (release_hooks' default otherwise).
LIST_GOOD = {
    "app_processes": {"name": "worker", "command": "celery -A proj worker"},
    "app_timers": {"name": "report", "command": "python -m proj.report", "on_calendar": "daily"},
    "nginx_extra_locations": {"path": "/events/"},
}
# A release built on a build host, as the app role's package entry point publishes it (a case replaces a field).
ARTIFACT_GOOD = {
    "app": "fastapi-app",
    "id": "20261207T101500Z",
    "revision": "local-0123abcd",
    "venv": "0123456789abcdef",
    "base_dir": "/opt/fastapi-app",
    "built_on": "build1",
    "platform": {"python": "3.11", "machine": "x86_64", "libc": "glibc", "libc_version": "2.36"},
    "archives": {
        "release": {"path": "/root/.cache/pyops-fastapi/a.tar.gz", "sha256": "a" * 64},
        "venv": {"path": "/root/.cache/pyops-fastapi/b.tar.gz", "sha256": "b" * 64},
    },
}
# Good values the checks also look up: a local source must exist on the controller.
GOOD = {"app_source_path": str(ROOT / "roles" / "app" / "files" / "example_app")}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Every case's result, from one run of preflight_runner.py: the good values first, then CASES."""
    in_tree = ROOT.parent.parent.name == "ansible_collections"
    collections = str(ROOT.parents[2] if in_tree else ROOT / "collections")
    cases = [_case(option, GOOD.get(option, CORPUS[option][1])) for option in CORPUS]
    cases += [_case(option, value) for option, _kind, value in CASES]
    # Two processes, each half of the cases (the compiled expressions are cached per process).
    runner = [sys.executable, str(Path(__file__).with_name("preflight_runner.py")), collections]
    inputs = []
    for number, half in enumerate([cases[: len(cases) // 2], cases[len(cases) // 2 :]]):
        inputs.append(tmp_path_factory.mktemp("preflight") / f"cases{number}.json")
        inputs[-1].write_text(json.dumps(half))
    procs = []
    for path in inputs:
        with path.open() as stdin:
            procs.append(subprocess.Popen(runner, stdin=stdin, stdout=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, _err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"preflight_runner.py failed ({proc.returncode})"
        results += json.loads(out)
    return dict(zip(CORPUS, results[: len(CORPUS)])), results[len(CORPUS) :]


def _assignment(option, value):
    """The variables that put value where option names it: the option itself, an element of a
    list option, a name or value of a dict option, or a field of a list-of-dicts option."""
    role = CORPUS[option][0]
    name, _bracket, field = option.partition("[")
    field = field.rstrip("]")
    spec = role_options(role)[name]
    if name == "app_release_artifact":
        return {name: {**ARTIFACT_GOOD, field: value}}
    if spec.get("type") == "dict":
        # A name, and a value, each dict option accepts.
        good_key, good_value = DICT_GOOD.get(name, ("GOOD_NAME", "x"))
        return {name: {value: good_value} if field == "name" else {good_key: value}}
    if field:
        fallback = dict(spec["default"][0]) if spec.get("default") else {"name": "migrate", "command": "true"}
        good = LIST_GOOD.get(name, fallback)
        return {name: [{**good, field: value}]}
    if name == "app_server_packages":
        # The list must keep its gunicorn pin: the value replaces the other package.
        pins = [pin for pin in spec["default"] if pin.startswith("gunicorn==")]
        return {name: [*pins, value]}
    if spec.get("type") == "list":
        return {name: [value]}
    return {name: value}


def _case(option, value):
    variables = {**BASE, **CONTEXT.get(option.partition("[")[0], {}), **_assignment(option, value)}
    return {"role": CORPUS[option][0], "variables": variables}


@pytest.mark.parametrize("option", CORPUS)
def test_good_value_passes_the_role_checks(outcome, option):
    assert outcome[0][option] is None


@pytest.mark.parametrize(("option", "kind", "value"), CASES, ids=[f"{case[0]}-{case[1]}" for case in CASES])
def test_hostile_value_is_refused_by_the_role_checks(outcome, option, kind, value):
    failure = outcome[1][CASES.index((option, kind, value))]
    assert failure is not None, f"{option} accepts a hostile value ({kind}): {value!r}"
    name = option.partition("[")[0]
    assert failure["check"] is not None, failure["msg"]
    shown = failure["msg"] + failure["check"]
    assert name in shown, (option, failure)
