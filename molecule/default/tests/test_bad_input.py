"""Wrong input fails early, names the variable, and changes nothing on the host."""

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import stack

# Preflight runs in the first play before anything touches the host, the same code on every
# distribution: `make molecule-all` runs these cases once (Debian 12), and the Debian 13 run from
# the tarball sets PYOPS_SKIP_PREFLIGHT_CASES=1 to keep the suite within its time budget.
pytestmark = pytest.mark.skipif(
    os.environ.get("PYOPS_SKIP_PREFLIGHT_CASES") == "1", reason="preflight cases run on the Debian 12 pass"
)

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
    ({"gunicorn_keepalive": 30}, "nginx_upstream_keepalive_timeout"),
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


def _yaml(value):
    """value as YAML with every string tagged !unsafe: Ansible keeps '{{' literal (a JSON -e would template
    it) and the escapes keep NUL and line breaks out of the command line."""
    if isinstance(value, str):
        return "!unsafe " + json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)}: {_yaml(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)


def _extra_vars_file(tmp_path, extra_vars):
    path = tmp_path / "extra_vars.yml"
    path.write_text("".join(f"{key}: {_yaml(value)}\n" for key, value in extra_vars.items()))
    return f"@{path}"


@pytest.fixture(scope="module")
def bad_input_runs(host, tmp_path_factory):
    """Every case's run, three at a time (each is a controller-side ansible-playbook that stops in
    the first play, so they do not interfere), and the host's files before and after all of them."""
    before = stack.host_fingerprint(host)
    # The files first, in this thread: pytest's tmp_path_factory is not thread-safe (its first
    # mktemp creates the base directory; concurrent first calls raised ValueError in CI).
    files = [_extra_vars_file(tmp_path_factory.mktemp("bad"), extra_vars) for extra_vars, _variable in BAD_INPUTS]

    def run(extra_vars_file):
        return stack.run_playbook("pyops.fastapi.site", {}, "-e", extra_vars_file)

    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(run, files))
    return runs, before, stack.host_fingerprint(host)


@pytest.mark.parametrize("index", range(len(BAD_INPUTS)), ids=[case[1] for case in BAD_INPUTS])
def test_bad_input_fails_before_any_change(bad_input_runs, index):
    runs, before, after = bad_input_runs
    variable = BAD_INPUTS[index][1]
    run = runs[index]
    task, message = run.failure()
    assert run.returncode != 0, run.tail()
    # The run stopped in the first play (preflight or argument validation), naming the variable.
    assert task is not None, run.tail()
    assert variable in message, (task, message)
    # None of the runs changed a file on the host.
    assert after == before, "a failed run changed files on the host"


def test_no_message_shows_the_git_token(bad_input_runs):
    """Issue 18, finding 4: the refused app_git_version's message names the repository, token masked."""
    runs, _before, _after = bad_input_runs
    index = next(i for i, (extra_vars, _v) in enumerate(BAD_INPUTS) if extra_vars.get("app_git_repo"))
    run = runs[index]
    task, message = run.failure()
    assert task is not None and "app_git_version" in message, run.tail()
    assert "https://***@git.example.test/app.git" in message, message
    assert GIT_TOKEN not in run.stdout + run.stderr
