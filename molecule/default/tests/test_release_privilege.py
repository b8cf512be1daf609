"""Secrets stay literal and out of logs; release code is built by an unprivileged user; pip's
index credentials never show (issue 11, findings 4-6), not even on the command line of the pip
that installs an sdist's build dependencies from a private index (issue 18, finding 2)."""

import json

import pytest
import stack
import yaml
from stack import APP

BUILD_USER = f"{APP}-build"
GROUP_VARS = stack.REPO / "molecule" / "default" / "group_vars" / "fastapi.yml"
PIP_TOKEN = "s3cr3t-pip-token-5d1e"
INDEX_PORT = 8765


def _secret():
    # Loaded as Ansible does: the !unsafe tag only marks the string, its text is the value.
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    Loader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))
    return yaml.load(GROUP_VARS.read_text(), Loader=Loader)["app_secret_key"]  # noqa: S506


SECRET = _secret()


def test_the_scenario_secret_holds_template_syntax():
    assert "{{" in SECRET
    assert "{%" in SECRET


def test_secret_with_template_syntax_is_written_verbatim(host):
    env = host.file(f"/opt/{APP}/shared/.env")
    assert env.user == "root"
    assert env.group == APP
    assert env.mode in (0o600, 0o640)
    assert f"SECRET_KEY='{SECRET}'\n" in env.content_string


def test_secret_is_not_in_the_journal(host):
    journal = host.check_output("journalctl --no-pager -o cat")
    assert journal, "the journal is empty: nothing was checked"
    assert SECRET not in journal
    assert SECRET[-32:] not in journal


def test_the_build_user_owns_only_its_cache(host):
    user = host.user(BUILD_USER)
    assert user.exists
    assert user.shell == "/usr/sbin/nologin"
    cache = host.file(f"/opt/{APP}/build-cache")
    assert (cache.user, cache.group, cache.mode) == (BUILD_USER, BUILD_USER, 0o700)
    assert host.run("runuser -u %s -- ls /opt/%s/build-cache", APP, APP).rc != 0
    # The virtualenv it built was handed to root: nothing else under the application's root is its.
    owned = host.check_output("find /opt/%s -path /opt/%s/build-cache -prune -o -user %s -print", APP, APP, BUILD_USER)
    assert owned == ""
    assert host.check_output("find /opt/%s/venvs -name pip.conf -o -name netrc", APP) == ""


# A local project as an extra requirement: pip installs its build dependency from the private index
# (a second pip, which pip hands the index URL on its command line), then runs its in-tree build
# backend, which records the user it runs as, leaves a process behind, and fails the build.
PROBE_PYPROJECT = """[build-system]
requires = ["probe-dep"]
build-backend = "probe_backend"
backend-path = ["."]
[project]
name = "uidprobe"
version = "0"
"""
PROBE_BACKEND = """import os, subprocess
def get_requires_for_build_wheel(config_settings=None):
    null = subprocess.DEVNULL
    subprocess.Popen(["sleep", "300"], start_new_session=True, stdin=null, stdout=null, stderr=null)
    raise RuntimeError("uidprobe stops the build here")
"""


@pytest.fixture(scope="module")
def failed_pip_run(host):
    """A run whose new virtualenv cannot be built: the probe fails it. The index, given with
    credentials, is a private one on loopback (tests/tools/private_index.py) that wants them for its
    one package, the probe's build dependency; a watcher (tests/tools/process_watch.py) samples every
    process's argv and environment meanwhile. Returns (live release, run, index log, watch report)."""
    host.run_expect([0], "rm -rf /srv/uidprobe && mkdir -m 0755 /srv/uidprobe")
    host.run_expect([0], "rm -f /root/index.log")
    stack.put_file(host, "/root/pip-token", PIP_TOKEN.encode())
    stack.put_file(host, "/root/private_index.py", (stack.TOOLS / "private_index.py").read_bytes())
    host.run_expect(
        [0],
        "setsid python3 /root/private_index.py --port %s --user builder --password-file /root/pip-token"
        " --package probe-dep --log /root/index.log </dev/null >/root/index.out 2>&1 &",
        str(INDEX_PORT),
    )
    try:
        # The mark: the argument pip gives only the pip that installs build dependencies.
        with stack.watch_processes(
            host, ["/root/pip-token"], mark="--ignore-installed", track="sleep 300", max_seconds=600
        ) as watch:
            for name, text in (("pyproject.toml", PROBE_PYPROJECT), ("probe_backend.py", PROBE_BACKEND)):
                host.run_expect(
                    [0],
                    "printf %%s %s > /srv/uidprobe/%s && chmod 0644 /srv/uidprobe/%s",
                    text,
                    name,
                    name,
                )
            live = stack.live_release_dir(host)
            run = stack.run_playbook(
                "pyops.fastapi.site",
                {
                    "app_pip_index_url": f"http://builder:{PIP_TOKEN}@127.0.0.1:{INDEX_PORT}/simple",
                    # sdists are an opt-in: the probe is a source tree whose build runs its backend.
                    "app_pip_only_binary": False,
                    "app_pip_extra_args": "--retries 0 --timeout 5 /srv/uidprobe",
                },
                "-v",
            )
    finally:
        host.run("pkill -f /root/private_index.py")
    requests = [json.loads(line) for line in host.file("/root/index.log").content_string.splitlines()]
    return live, run, requests, watch


def test_setup_code_runs_as_the_build_user_in_a_transient_unit(host, failed_pip_run):
    """The probe's backend left a `sleep 300` behind (tracked by the watcher): it ran as the build
    user, in the build's transient unit (issue 18, finding 5), and was killed with its cgroup."""
    _live, run, _requests, watch = failed_pip_run
    assert watch["tracked"], ("the backend never ran", run.tail())
    uid = host.user(BUILD_USER).uid
    for seen in watch["tracked"].values():
        assert seen["uid"] == uid, seen
        assert uid not in (0, host.user(APP).uid)
        assert f"/{APP}-build-" in seen["cgroup"], seen
    # The process it left behind was ended with the unit.
    assert host.run("ps -o pid= -u %s", BUILD_USER).stdout.strip() == ""


def test_pip_failure_is_reported_without_the_index_credentials(failed_pip_run):
    _live, run, _requests, _watch = failed_pip_run
    task, message = run.failure()
    assert run.returncode != 0, run.tail()
    assert task == "pyops.fastapi.app : Stop with the reason", (task, message)
    assert "(Report why pip failed): pip exited with status" in message, message
    assert PIP_TOKEN not in run.stdout + run.stderr
    assert SECRET not in run.stdout + run.stderr
    assert SECRET[-32:] not in run.stdout + run.stderr


def test_build_dependencies_come_from_the_private_index_with_its_credentials(failed_pip_run):
    """pip and the pip it starts for the probe's build dependency authenticated (from the netrc)."""
    _live, run, requests, _watch = failed_pip_run
    fetched = [r["path"] for r in requests if r["status"] == 200 and r["authorized"]]
    assert "/simple/probe-dep/" in fetched, (requests, run.tail())
    assert any(path.startswith("/files/probe_dep-1.0-") for path in fetched), requests


def test_index_credentials_reach_no_command_line_nor_environment(failed_pip_run):
    """0.5.0 passed the index URL with its credentials as '-i' to the build-dependency pip."""
    _live, _run, _requests, watch = failed_pip_run
    assert watch["marked"], f"the watcher never saw the build-dependency pip ({watch['samples']} samples)"
    assert any(f"-i http://127.0.0.1:{INDEX_PORT}/simple" in argv for argv in watch["marked"]), watch["marked"]
    assert watch["leaks"] == {}


def test_failed_build_leaves_no_credentials_and_keeps_the_live_release(host, failed_pip_run):
    live, _run, _requests, _watch = failed_pip_run
    assert stack.live_release_dir(host) == live
    assert host.check_output("grep -rl %s /opt/%s /tmp /var/tmp 2>/dev/null || true", PIP_TOKEN, APP) == ""


@pytest.mark.same_on_every_distro
def test_local_source_with_a_symlink_out_of_the_tree_fails_in_preflight(host_state, run_site, tmp_path):
    secret = tmp_path / "controller-secret.txt"
    secret.write_text("a file of the controller\n")
    source = tmp_path / "app"
    (source / "static").mkdir(parents=True)
    (source / "main.py").write_text("from fastapi import FastAPI\n\napp = FastAPI()\n")
    (source / "static" / "leak.txt").symlink_to(secret)
    before = host_state()
    run = run_site({"app_source": "local", "app_source_path": str(source)})
    task, message = run.failure()
    assert run.returncode != 0, run.tail()
    # The failed check of the app role's table (pyops.fastapi.preflight names it in the result).
    assert task == "Check the source tree can be published (app_source=example|local)", (
        task,
        message,
    )
    assert message.startswith(f"app_source=local: static/leak.txt is a symlink to {secret}, outside the source root")
    assert host_state() == before, "the failed run changed files on the host"
