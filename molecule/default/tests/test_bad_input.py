"""Wrong input fails early, names the variable, and changes nothing on the host."""

import json
import os
from pathlib import Path

import pytest
import stack
import yaml

# Preflight runs in the first play before anything touches the host, the same code on every
# distribution (conftest.py).
pytestmark = pytest.mark.same_on_every_distro

GIT_TOKEN = "tok-5ecret-4f2a9c"
GIT_URL_WITH_TOKEN = f"https://deploy:{GIT_TOKEN}@git.example.test/app.git"

BAD_INPUTS = [
    ({"app_name": "Bad Name!"}, "app_name"),
    ({"app_secret_key": ""}, "app_secret_key"),
    ({"app_secret_key": "your-secret-key-here"}, "app_secret_key"),
    ({"app_secret_key": "short-key"}, "app_secret_key"),
    ({"app_source": "local", "app_source_path": "/nonexistent/app"}, "app_source_path"),
    ({"app_server_packages": ["gunicorn"]}, "app_server_packages"),
    ({"gunicorn_workers": 0}, "gunicorn_workers"),
    ({"gunicorn_worker_class": "uvicorn.workers.UvicornWorker"}, "gunicorn_worker_class"),
    ({"gunicorn_bind": "127.0.0.1:8000"}, "gunicorn_bind"),
    ({"nginx_server_name": "not a host!"}, "nginx_server_name"),
    ({"nginx_https_port": 99999}, "nginx_https_port"),
    # gunicorn would close idle upstream connections before nginx does.
    ({"gunicorn_keepalive": 3}, "nginx_upstream_keepalive_timeout"),
    ({"certbot_mode": "acme", "certbot_email": "not-an-email"}, "certbot_email"),
    ({"release_health_endpoints": [{"path": "health"}]}, "release_health_endpoints"),
    ({"release_hooks": [{"name": "migrate"}]}, "release_hooks"),
    ({"release_keep": 0}, "release_keep"),
    # Hostile values (a part of tests/unit/plugins/test/hostile_corpus.py), each aimed at a file or a
    # command line of one role. Finding 2 of issue 11 first: a line break adding a root ExecStartPre=+.
    ({"systemd_description": "x\n[Service]\nExecStartPre=+/bin/sh -c 'id > /tmp/pwned'"}, "systemd_description"),
    # A trailing line break, which a regex ending in '$' accepts, silently dropped the next unit.
    ({"systemd_after": ["x.service\n", "y.service"]}, "systemd_after"),
    ({"systemd_read_write_paths": ["/"]}, "systemd_read_write_paths"),
    ({"nginx_resolvers": ["127.0.0.53; location /leak/ { alias /etc/; autoindex on; }"]}, "nginx_resolvers"),
    ({"nginx_static_dir": "/"}, "nginx_static_dir"),
    # Would let every client name its own address (the rate limit, the allow-lists).
    ({"nginx_trusted_proxies": ["0.0.0.0/0"]}, "nginx_trusted_proxies"),
    # Would close the docstring of gunicorn_conf.py, in the app's name.
    ({"app_name": 'x"""; __import__("os").system("id"); """'}, "app_name"),
    ({"gunicorn_errorlog": "/var/log/../../etc/cron.d/x"}, "gunicorn_errorlog"),
    ({"gunicorn_forwarded_allow_ips": "127.0.0.1\n"}, "gunicorn_forwarded_allow_ips"),
    ({"app_base_dir": "/opt/app\x00"}, "app_base_dir"),
    ({"app_module": "main:app\n"}, "app_module"),
    ({"app_requirements_file": "../../etc/passwd"}, "app_requirements_file"),
    (
        {"nginx_content_security_policy": "default-src 'none'\" always; add_header X-Leak \"1"},
        "nginx_content_security_policy",
    ),
    # Cyrillic a: looks like api.example.test.
    ({"nginx_server_name": "\u0430pi.example.test"}, "nginx_server_name"),
    ({"nginx_server_aliases": ["a" * 300 + ".example.test"]}, "nginx_server_aliases"),
    # A literal template: passed !unsafe (see _extra_vars_file), it must fail as text, not run.
    ({"certbot_domains": ["api.example.test{{ lookup('pipe', 'id') }}"]}, "certbot_domains"),
    ({"certbot_cert_name": "../../../etc/cron.d/x"}, "certbot_cert_name"),
    ({"release_hooks": [{"name": "migrate", "command": "alembic upgrade head\n/bin/sh -c id"}]}, "release_hooks"),
    ({"release_gate_host": "api.example.test\nX-Injected: 1"}, "release_gate_host"),
    # Issue 18: environment names that change how the app is run (a preload library, gunicorn's
    # command-line variable with a public bind), and a git token that a message must not echo.
    ({"app_env": {"LD_PRELOAD": "/opt/x.so"}}, "LD_PRELOAD"),
    ({"systemd_extra_environment": {"GUNICORN_CMD_ARGS": "--bind=0.0.0.0:80"}}, "GUNICORN_CMD_ARGS"),
    (
        {"app_source": "git", "app_git_repo": GIT_URL_WITH_TOKEN, "app_git_version": "--upload-pack=touch /x"},
        "app_git_version",
    ),
]
# Least privilege (issue 11): each also names the check that must stop it.
CHECKED_BY = [
    (
        {"gunicorn_forwarded_allow_ips": "*"},
        "gunicorn_forwarded_allow_all",
        "Check that trusting every peer's X-Forwarded-* headers was asked for",
    ),
    (
        {"gunicorn_forwarded_allow_ips": "10.0.0.1,*"},
        "gunicorn_forwarded_allow_all",
        "Check that trusting every peer's X-Forwarded-* headers was asked for",
    ),
    (
        {"systemd_ip_address_deny": ["any\nExecStartPre=+/bin/sh"]},
        "systemd_ip_address_deny",
        "Check the IP address filters",
    ),
    ({"systemd_ip_address_allow": ["10.0.0.300/32"]}, "systemd_ip_address_allow", "Check the IP address filters"),
    ({"systemd_socket_group": "no-such-group"}, "systemd_socket_group", "Check systemd_socket_group exists"),
]
CASES = [(extra_vars, variable, None) for extra_vars, variable in BAD_INPUTS] + CHECKED_BY
SITE = Path(__file__).resolve().parents[3] / "playbooks" / "site.yml"


def _yaml(value):
    """value as YAML, a string that could hold a template tagged !unsafe: Ansible keeps '{{' literal (a
    JSON -e would template it); JSON escapes keep NUL and line breaks intact. (Ansible 2.19 cannot load
    `!unsafe "*"`, hence only where it matters.)"""
    if isinstance(value, str):
        return ("!unsafe " if "{" in value or "%" in value else "") + json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)}: {_yaml(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)


def _extra_vars_file(tmp_path, extra_vars):
    path = tmp_path / "extra_vars.yml"
    path.write_text("".join(f"{key}: {_yaml(value)}\n" for key, value in extra_vars.items()))
    return f"@{path}"


def _cases_inventory(path, host):
    """One inventory host per case, all the scenario's container, each with its case's variables as
    host variables (over the scenario's group_vars, as -e was): group fastapi > bad_input_cases."""
    lines = ["fastapi:", "  children:", "    bad_input_cases:", "      hosts:"]
    for index, (extra_vars, _variable, _check) in enumerate(CASES):
        lines.append(f"        case{index:02d}:")
        lines.append("          ansible_connection: community.docker.docker")
        lines.append(f"          ansible_host: {json.dumps(host.backend.host)}")
        lines += [f"          {key}: {_yaml(value)}" for key, value in extra_vars.items()]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def bad_input_runs(host, tmp_path_factory):
    """All cases in one run of the site playbook's first play (the checks of every role), one
    inventory host per case. The play is read from playbooks/site.yml as it is, with its hosts set
    to the cases and without any_errors_fatal, so each case stops at its own first failure; and the
    host's files before and after. A second run, of the whole site playbook, is test_site_stops_..."""
    before = stack.host_fingerprint(host)
    tmp = tmp_path_factory.mktemp("bad")
    _cases_inventory(tmp / "cases.yml", host)
    first_play = yaml.safe_load(SITE.read_text())[0]
    assert first_play["any_errors_fatal"] is True and "preflight" in json.dumps(first_play["tasks"])
    first_play.pop("any_errors_fatal")
    first_play["hosts"] = "bad_input_cases"
    # The copy runs from another directory: its vars files by their full paths.
    first_play["vars_files"] = [str(SITE.parent / name) for name in first_play.get("vars_files", [])]
    (tmp / "checks.yml").write_text(yaml.safe_dump([first_play], sort_keys=False))
    argv = ["-i", os.environ["MOLECULE_INVENTORY_FILE"], "-i", str(tmp / "cases.yml"), "--forks", "8"]
    run = stack.run_ansible_playbook([*argv, str(tmp / "checks.yml")])
    return run, before, stack.host_fingerprint(host)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case[1] for case in CASES])
def test_bad_input_fails_before_any_change(bad_input_runs, index):
    run, before, after = bad_input_runs
    _extra_vars, variable, check = CASES[index]
    failures = run.failures_by_host().get(f"case{index:02d}")
    # The case stopped in the checks (argument validation or a role's preflight), naming the variable.
    assert failures, run.tail()
    task, messages = failures[-1]
    assert variable in " ".join(map(str, messages)), (task, messages)
    if check:
        assert task == check, (task, messages)
    # None of the cases changed a file on the host.
    assert after == before, "a failed run changed files on the host"


def test_site_stops_in_its_first_play_on_bad_input(host, tmp_path):
    """The whole site playbook, as a user runs it: a value refused by the last role's check that reads
    the host stops the run in the checks play, with the check's message, and changes nothing."""
    before = stack.host_fingerprint(host)
    run = stack.run_playbook(
        "pyops.fastapi.site", {}, "-e", _extra_vars_file(tmp_path, {"systemd_socket_group": "nogroup2"})
    )
    task, message = run.failure()
    assert run.returncode != 0, run.tail()
    assert task == "Check systemd_socket_group exists", (task, message)
    assert "systemd_socket_group 'nogroup2' does not exist" in message, message
    assert "Deploy a FastAPI application behind nginx" not in run.stdout, "the deploy play started"
    assert stack.host_fingerprint(host) == before, "the failed run changed files on the host"


def test_no_message_shows_the_git_token(bad_input_runs):
    """Issue 18, finding 4: the refused app_git_version's message names the repository, token masked."""
    run, _before, _after = bad_input_runs
    index = next(i for i, (extra_vars, _v, _c) in enumerate(CASES) if extra_vars.get("app_git_repo"))
    _task, messages = run.failures_by_host()[f"case{index:02d}"][-1]
    message = " ".join(map(str, messages))
    assert "app_git_version" in message, run.tail()
    assert "https://***@git.example.test/app.git" in message, message
    assert GIT_TOKEN not in run.stdout + run.stderr
