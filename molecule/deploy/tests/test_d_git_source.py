"""The second app moves to app_source=git: a repository behind HTTP basic auth (git's "dumb" HTTP
protocol, served on the container's loopback by a small server that checks the header), the token
in app_git_repo's URL as users write it. The token must never be on a command line nor in an
environment (a watcher scans every process's in the container while git fetches), nor in the
checkout's .git/config; a wrong token fails the deploy naming the repository, with the token
masked, and changes nothing."""

import base64
import json
import os
import secrets
import shutil
import subprocess

import pytest
import stack
from stack import ORDERS, ORDERS_HEADER, ORDERS_SOURCE, assert_no_request_failed

PORT = 8418
USER = "deploy"
TOKEN = "glpat-" + secrets.token_hex(12)
CLEAN_URL = f"http://127.0.0.1:{PORT}/orders.git"
SECRET_FILE = "/root/git-test-secret.json"
# The same secrets, one a file, for the watcher (tests/tools/process_watch.py): the token, and the
# base64 of user:token that the Authorization header carries.
WATCHED_SECRETS = {"/root/git-token": "token", "/root/git-basic": "basic"}
# Which command lines the watcher must report: git's, proof that it watched the fetch.
GIT_COMMAND_LINE = r"^git|/git\x00|git-remote-http"

# Serves /srv/git read-only to requests whose Authorization header matches; holds the first
# info/refs request for 2 s so that the watcher sees git's processes mid-fetch. Logs one JSON line
# per request. The expected header comes from a file, not from this server's own argv.
GIT_SERVER = r"""
import functools, http.server, json, sys, time
expected = "Basic " + json.load(open(sys.argv[1]))["basic"]
log = open("/root/git-server.log", "a", buffering=1)
held = []
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Authorization") == expected
        log.write(json.dumps({"path": self.path, "authorized": ok}) + "\n")
        if not ok:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "info/refs" in self.path and not held:
            held.append(1)
            time.sleep(2)
        super().do_GET()
    def log_message(self, *args):
        pass
handler = functools.partial(Handler, directory="/srv/git")
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), handler).serve_forever()
"""


def _git(*args, cwd):
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.test",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.test",
    )
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def repository(host, tmp_path_factory):
    """publish(version, change=None): commit the orders app with VERSION = version (after change(work
    tree), when given) and serve the bare repository."""
    base = tmp_path_factory.mktemp("git")
    work, bare = base / "work", base / "orders.git"
    shutil.copytree(ORDERS_SOURCE, work)
    _git("init", "-q", "-b", "main", cwd=work)
    _git("init", "-q", "--bare", "-b", "main", str(bare), cwd=base)

    secret = {"token": TOKEN, "basic": base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()}
    stack.put_file(host, SECRET_FILE, json.dumps(secret).encode())
    for path, key in WATCHED_SECRETS.items():
        stack.put_file(host, path, secret[key].encode())
    stack.put_file(host, "/root/git-server.py", GIT_SERVER.encode())
    host.run_expect([0], "rm -f /root/git-server.log && mkdir -p /srv/git")
    host.run_expect(
        [0], "setsid python3 /root/git-server.py %s %s </dev/null >/root/git-server.err 2>&1 &", SECRET_FILE, str(PORT)
    )

    def publish(version, change=None):
        if change:
            change(work)
        asgi = work / "orders" / "api" / "asgi.py"
        asgi.write_text(
            "\n".join(
                f'VERSION = "{version}"' if line.startswith("VERSION = ") else line
                for line in asgi.read_text().split("\n")
            )
        )
        _git("add", "-A", cwd=work)
        _git("commit", "-q", "-m", f"version {version}", cwd=work)
        _git("push", "-q", str(bare), "main", cwd=work)
        _git("update-server-info", cwd=bare)
        archive = subprocess.run(
            ["tar", "-C", str(base), "-czf", "-", "orders.git"], check=True, capture_output=True
        ).stdout
        stack.put_file(host, "/root/orders.git.tgz", archive)
        host.run_expect([0], "rm -rf /srv/git/orders.git && tar -C /srv/git -xzf /root/orders.git.tgz")

    yield publish
    host.run("pkill -f /root/git-server.py; rm -f %s %s %s", SECRET_FILE, *WATCHED_SECRETS)


def _requests(host):
    return [json.loads(line) for line in host.check_output("cat /root/git-server.log").splitlines()]


def _git_vars(url, **extra):
    return {**stack.ORDERS_VARS, "app_source": "git", "app_git_repo": url, "app_git_version": "main", **extra}


def test_a_token_in_the_url_reaches_git_only_as_a_header(host, orders, repository):
    repository("4")
    url = f"http://{USER}:{TOKEN}@127.0.0.1:{PORT}/orders.git"
    build = orders.live_release()

    with stack.watch_processes(host, list(WATCHED_SECRETS), mark=GIT_COMMAND_LINE) as watched:
        run, summary, _upstreams = orders.deploy_under_load(_git_vars(url), path="/orders/ping", header=ORDERS_HEADER)

    assert run.returncode == 0, run.failure()
    assert_no_request_failed(summary)
    assert orders.fetch("/orders/ping").json()["version"] == "4"
    assert orders.live_release() != build
    # The server answered git only with the right header, and git did fetch through it.
    requests = _requests(host)
    assert any("info/refs" in each["path"] and each["authorized"] for each in requests), requests
    # The watcher saw git's processes during the fetch, none of them (nor any other process) with
    # the token in its command line or environment.
    assert any(str(PORT) in line for line in watched["marked"]), watched
    assert watched["leaks"] == {}, watched
    # Nor is it at rest anywhere but the root-only credentials file.
    config = host.file(f"/opt/{ORDERS}/shared/repo/.git/config").content_string
    assert CLEAN_URL in config and TOKEN not in config, config
    auth = host.file(f"/opt/{ORDERS}/shared/git-http-auth.conf")
    assert (auth.user, auth.group, auth.mode) == ("root", "root", 0o600)
    assert host.run("grep -rl %s /opt/%s /etc /tmp /var/tmp", TOKEN, ORDERS).stdout == ""


def test_a_wrong_token_fails_naming_the_repository_and_changes_nothing(host, orders, repository):
    build, slot = orders.live_release(), orders.live_slot()
    wrong = "glpat-" + secrets.token_hex(12)
    url = f"http://{USER}:{wrong}@127.0.0.1:{PORT}/orders.git"

    run = stack.run_playbook("pyops.fastapi.site", _git_vars(url))

    task, message = run.failure()
    assert run.returncode != 0
    assert task == "pyops.fastapi.app : Report why the checkout failed", (task, message)
    assert message.startswith(f"git could not check out main of http://***@127.0.0.1:{PORT}/orders.git:"), message
    assert wrong not in run.stdout + run.stderr
    assert (orders.live_release(), orders.live_slot()) == (build, slot)
    assert orders.fetch("/orders/ping").json()["version"] == "4"


def _escape_through_venv(work):
    """Issue 18, finding 1, as reproduced on 0.5.0: the repository's own .venv is a deep directory link,
    so static/x resolves inside the checkout; in a release .venv leads to venvs/<key> and static/x to
    the host's /etc/passwd, which nginx served."""
    deep = work / "deep" / "a" / "b" / "c" / "d" / "e" / "f" / "g"
    deep.mkdir(parents=True)
    (deep / "keep.txt").write_text("kept by git\n")
    (work / ".venv").symlink_to("deep/a/b/c/d/e/f/g")
    (work / "static").mkdir(exist_ok=True)
    (work / "static" / "x").symlink_to("../.venv/../../../../../../../etc/passwd")


def test_a_link_out_of_the_release_through_its_venv_is_refused(host, orders, repository):
    # A new commit on the checkout the first test cloned: fetched through the same credentials (the
    # link below is only there when it was), then refused.
    repository("5", change=_escape_through_venv)
    build, slot, releases = orders.live_release(), orders.live_slot(), orders.releases()
    url = f"http://{USER}:{TOKEN}@127.0.0.1:{PORT}/orders.git"

    run = stack.run_playbook("pyops.fastapi.site", _git_vars(url))

    task, message = run.failure()
    assert run.returncode != 0
    assert task == "pyops.fastapi.app : Stop with the reason", (task, message)
    assert "(Check every link of the release stays inside it)" in message, message
    assert "static/x is a symlink to ../.venv/../../../../../../../etc/passwd, which leads to /etc/passwd" in message
    assert (orders.live_release(), orders.live_slot()) == (build, slot)
    assert orders.fetch("/orders/ping").json()["version"] == "4"
    assert "root:" not in orders.fetch("/static/x").text
    # The release built for nothing is gone.
    assert orders.releases() == releases
