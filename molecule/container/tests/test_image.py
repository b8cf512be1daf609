"""pyops.fastapi.image: an image of each release, built with podman from the release and virtualenv
the app role built. The tests run in file order: the image of the converged release, its content
and history, a run of it (non-root, read-only root, healthy), the second app's image, and a base
whose Python differs, refused. A code change (the virtualenv's layer reused) is in test_runtime.py."""

import base64
import json
import shutil
import time

import pytest
import stack
from conftest import PODMAN, REGISTRY, REGISTRY_PASSWORD, REGISTRY_USER, SECRET, inspect, podman
from stack import APP, EXAMPLE_APP, ORDERS, ORDERS_ENDPOINTS, ORDERS_SOURCE, ORDERS_VARS, live_release

UID = 10001
# GET /health on a unix socket (argv[1]), as nginx reaches a slot: the body on stdout.
UNIX_GET = (
    "import http.client, socket, sys\n"
    "c = http.client.HTTPConnection('localhost')\n"
    "c.sock = socket.socket(socket.AF_UNIX); c.sock.connect(sys.argv[1])\n"
    "c.request('GET', '/health'); r = c.getresponse(); assert r.status == 200, r.status; print(r.read().decode())\n"
)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("container") / "app"
    shutil.copytree(EXAMPLE_APP, src)
    return src


def test_the_release_has_an_image_with_its_labels_user_and_health_check(host):
    release = live_release(host)
    meta = json.loads(host.file(f"/opt/{APP}/releases/{release}/.pyops-release.json").content_string)
    image = inspect(host, f"localhost/{APP}:{release}")
    config = image["Config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == release
    assert labels["io.github.pyops.fastapi.release"] == release
    assert labels["org.opencontainers.image.revision"] == meta["revision"]
    assert labels["io.github.pyops.fastapi.venv"] == meta["venv"]
    assert labels["org.opencontainers.image.base.name"] == "localhost/pyops-base:13"
    assert config["User"] == f"{UID}:{UID}"
    # podman keeps the HEALTHCHECK beside the OCI config (the image is in Docker's format).
    health = image["Healthcheck"]["Test"]
    assert health[0] == "CMD" and health[-1] == "/usr/local/lib/pyops-fastapi/healthcheck.py", health
    assert not any(SECRET in entry or entry.startswith("SECRET_KEY=") for entry in config["Env"]), config["Env"]


def test_no_environment_file_git_or_secret_reaches_a_layer(host):
    release = live_release(host)
    tag = f"localhost/{APP}:{release}"
    # Every layer's files, from the image as podman exports it (docker-archive: one tar per layer).
    listing = host.run(
        "set -e; d=$(mktemp -d /var/tmp/layers.XXXXXX); "
        + PODMAN
        + " save --quiet --format docker-archive -o $d/i.tar %s;"
        " mkdir $d/x && tar -C $d/x -xf $d/i.tar;"
        " for l in $(find $d/x -name '*.tar' ! -name i.tar); do tar -tvf $l; done;"
        " echo ==secret==; grep -rlaF %s $d/x || true; rm -rf $d",
        tag,
        SECRET,
    )
    assert listing.rc == 0, listing.stderr
    files, found = listing.stdout.split("==secret==")
    names = [line.split()[-1] for line in files.splitlines() if line.strip()]
    assert any(name.endswith(f"releases/{release}/main.py") for name in names), names[:20]
    assert not [name for name in names if name.rsplit("/", 1)[-1] in (".env", ".git") or "/shared/" in name], names
    assert not [name for name in names if "/.git/" in name or "/build-cache/" in name or "/.cache/pip" in name]
    assert found.strip() == "", found
    history = podman(host, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
    assert SECRET not in history and ".env" not in history, history
    # Only the base, then the virtualenv, the code and the role's files: three layers on the base.
    base = inspect(host, "localhost/pyops-base:13")["RootFS"]["Layers"]
    layers = inspect(host, tag)["RootFS"]["Layers"]
    assert layers[: len(base)] == base and len(layers) == len(base) + 3, (base, layers)


def test_the_image_runs_as_non_root_on_a_read_only_root_and_is_healthy(host):
    release = live_release(host)
    run_dir = "/run/image-test"
    host.run_expect([0], f"rm -rf {run_dir} && install -d -o {UID} -g {UID} -m 0750 {run_dir}")
    podman(
        host,
        "run",
        "--detach",
        "--replace",
        "--name=image-test",
        "--read-only",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--volume={run_dir}:/run/{APP}/app",
        f"--env=SECRET_KEY={SECRET}",
        f"localhost/{APP}:{release}",
    )
    try:
        deadline = time.monotonic() + 60
        while host.run(PODMAN + " healthcheck run image-test").rc != 0:
            assert time.monotonic() < deadline, podman(host, "logs", "image-test")[-2000:]
            time.sleep(1)
        state = json.loads(podman(host, "inspect", "image-test"))[0]["State"]
        assert state["Health"]["Status"] == "healthy", state
        assert podman(host, "exec", "image-test", "id", "-u").strip() == str(UID)
        assert host.run(PODMAN + " exec image-test touch /opt/x").rc != 0
        assert host.run(PODMAN + f" exec image-test touch /opt/{APP}/releases/{release}/x").rc != 0
        status = podman(host, "exec", "image-test", "grep", "^CapEff", "/proc/1/status").split()[-1]
        assert int(status, 16) == 0, status
        # nginx's side of a socket: the app answers from outside the container, through the mount.
        answer = host.check_output("python3 -c %s %s", UNIX_GET, f"{run_dir}/gunicorn.sock")
        assert json.loads(answer)["status"] == "healthy", answer
    finally:
        host.run(PODMAN + " rm --force --time 5 image-test")


# The second app's images live in prepare.yml's registry: its repository names it, and each is pushed.
ORDERS_REPOSITORY = f"{REGISTRY}/{ORDERS}"
PUSH = {
    "image_repository": ORDERS_REPOSITORY,
    "image_push": True,
    "image_registry_username": REGISTRY_USER,
    "image_registry_password": REGISTRY_PASSWORD,
}
PASSWORD_FILE = "/root/registry-password"
# The login as podman's auth file and an HTTP header carry it: base64 of user:password.
LOGIN_FILE = "/root/registry-login"
LOGIN = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
# The registry's answer for a tag: the digest of the manifest it holds (stdout), with the login.
MANIFEST_DIGEST = (
    "import base64, ssl, sys, urllib.request\n"
    "repo, tag, user, password_file = sys.argv[1:]\n"
    "auth = base64.b64encode(f'{user}:{open(password_file).read()}'.encode()).decode()\n"
    "req = urllib.request.Request(f'https://" + REGISTRY + "/v2/{repo}/manifests/{tag}', method='HEAD', headers={\n"
    "    'Authorization': 'Basic ' + auth, 'Accept': 'application/vnd.docker.distribution.manifest.v2+json'})\n"
    "ctx = ssl.create_default_context(cafile='/etc/containers/certs.d/" + REGISTRY + "/ca.crt')\n"
    "print(urllib.request.urlopen(req, context=ctx).headers['Docker-Content-Digest'])\n"
)


# A queue worker and a scheduled job sharing a SQLite queue with the web app in the app's state directory
# (as the deploy scenario's test_c_second_app.py), here each in a container of the release's image.
PROCESSES = {
    "systemd_state_directory": True,
    "app_processes": [
        {"name": "worker", "command": "python -m orders.worker", "stop_signal": "SIGINT", "stop_timeout": 20}
    ],
    "app_timers": [{"name": "tick", "command": "python -m orders.tick", "on_calendar": "*:*:0/5"}],
}
QUEUE = f"/var/lib/{ORDERS}/queue.db"
READ_QUEUE = (
    "import json, sqlite3, sys; db = sqlite3.connect(sys.argv[1]); print(json.dumps({"
    "'jobs': db.execute('SELECT id, state, done_by FROM jobs').fetchall(),"
    "'ticks': db.execute('SELECT build FROM ticks').fetchall()}))"
)
# POST /orders/jobs through nginx (TLS with the app's server name in SNI and Host): the web app enqueues a job.
POST_JOB = (
    "import http.client, json, socket, ssl, sys\n"
    "ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
    "c = http.client.HTTPConnection('127.0.0.1')\n"
    "c.sock = ctx.wrap_socket(socket.create_connection(('127.0.0.1', 443), timeout=10), server_hostname=sys.argv[1])\n"
    "c.request('POST', '/orders/jobs', body=b'{}', headers={'Host': sys.argv[1]})\n"
    "r = c.getresponse(); print(json.dumps({'status': r.status, 'body': json.loads(r.read())}))\n"
)


def push_records(host):
    return host.run("ls /opt/%s/image/pushed", ORDERS).stdout.split()


def test_the_second_app_gets_its_own_image(host):
    extra = {
        **ORDERS_VARS,
        **PUSH,
        **PROCESSES,
        "app_requirements_file": "poetry.lock",
        "app_source": "local",
        "app_source_path": str(ORDERS_SOURCE),
        # A hook that imports the app's own module in its new image (test_runtime.py looks inside one).
        "release_hooks": [{"name": "import", "command": "python -c 'import orders.api.asgi'"}],
    }
    stack.put_file(host, PASSWORD_FILE, REGISTRY_PASSWORD.encode())
    stack.put_file(host, LOGIN_FILE, LOGIN.encode())
    # Every process during the run, for the password on a command line or in an environment.
    with stack.watch_processes(host, [PASSWORD_FILE, LOGIN_FILE], mark=r"podman\x00(login|push)\x00") as watched:
        run = stack.run_playbook("pyops.fastapi.site", extra)
    assert run.returncode == 0, run.tail()
    release = live_release(host, ORDERS)

    # Pushed once, to the registry the repository names: it holds the digest podman recorded.
    (record,) = push_records(host)
    assert record.startswith(f"{release}-"), record
    pushed = host.file(f"/opt/{ORDERS}/image/pushed/{record}").content_string.strip()
    held = host.check_output(
        "python3 -c %s %s %s %s %s", MANIFEST_DIGEST, ORDERS, release, REGISTRY_USER, PASSWORD_FILE
    )
    assert pushed.startswith("sha256:") and held == pushed, (held, pushed)
    # The password reached podman on its standard input only: on no command line or environment, in
    # no output, and no login stays behind (podman's auth file holds it in base64).
    assert any(line.startswith("podman login") for line in watched["marked"]), watched
    assert any(line.startswith("podman push") for line in watched["marked"]), watched
    assert watched["leaks"] == {}, watched
    assert REGISTRY_PASSWORD not in run.stdout and LOGIN not in run.stdout
    at_rest = host.run(
        "grep -rlF -D skip -e %s -e %s /root /tmp /var/tmp /run /etc /opt"
        " --exclude=registry-password --exclude=registry-login",
        REGISTRY_PASSWORD,
        LOGIN,
    ).stdout
    assert at_rest == "", at_rest
    # The slots run the image under the registry's name, from this host's store.
    running = host.check_output(PODMAN + " ps --format '{{.Image}}'").split()
    assert f"{ORDERS_REPOSITORY}:{release}" in running, running

    # The worker runs in a container of the release's image, as the app user, beside the web server:
    # a job the web app enqueues (POST through nginx) is done by this release's worker, through the
    # state directory both mount. The timer's job runs in a container of the live release's image.
    slot = host.check_output("readlink %s", f"/opt/{ORDERS}/slots/live").rsplit("/", 1)[-1]
    worker = json.loads(podman(host, "container", "inspect", f"{ORDERS}-worker-{slot}"))[0]
    assert worker["ImageName"] == f"{ORDERS_REPOSITORY}:{release}", worker["ImageName"]
    assert worker["Config"]["User"] == host.check_output("id -u %s", ORDERS) + ":" + host.check_output(
        "id -g %s", ORDERS
    )
    assert worker["HostConfig"]["ReadonlyRootfs"] is True
    assert host.run("systemctl is-active %s", f"{ORDERS}.worker@{slot}.service").stdout.strip() == "active"
    posted = json.loads(host.check_output("python3 -c %s %s", POST_JOB, stack.ORDERS_NAME))
    assert posted["status"] == 202, posted
    job = posted["body"]["job"]

    def queue():
        return json.loads(host.check_output("python3 -c %s %s", READ_QUEUE, QUEUE))

    done = stack.wait_for(
        lambda: [row for row in queue()["jobs"] if row[0] == job and row[1] == "done"], "the job done"
    )
    assert done[0][2] == release, done
    assert stack.wait_for(lambda: [row for row in queue()["ticks"] if row[0] == release], "a tick of the release")
    tick_images = podman(
        host,
        "events",
        "--stream=false",
        "--since=10m",
        "--filter=event=create",
        f"--filter=container={ORDERS}-tick",
        "--format={{.Image}}",
    ).split()
    assert tick_images and set(tick_images) == {f"{ORDERS_REPOSITORY}:{release}"}, tick_images
    # Its schedule (every 5 s) would start a container beside the load windows of test_runtime.py: stopped here.
    host.run_expect([0], "systemctl stop %s", f"{ORDERS}.tick.timer")

    hooks = [result for name, result in run.results() if name.endswith(": Run the hook")]
    assert len(hooks) == 1 and hooks[0]["rc"] == 0, hooks
    # systemd-run's command (after its first "--"): the runner, running a command in the foreground.
    argv = hooks[0]["cmd"]
    assert argv[argv.index("--") + 1 : argv.index("--") + 3] == [
        "/usr/local/libexec/pyops-fastapi/run_container_slot",
        "run",
    ], argv
    image = inspect(host, f"{ORDERS_REPOSITORY}:{release}")
    env = dict(entry.split("=", 1) for entry in image["Config"]["Env"])
    assert env["PYOPS_HEALTH_PATH"] == ORDERS_ENDPOINTS[0]["path"]
    assert image["Config"]["Cmd"][-1] == "/usr/local/lib/pyops-fastapi/gunicorn_conf.py"
    conf = podman(
        host,
        "run",
        "--rm",
        "--entrypoint=cat",
        f"{ORDERS_REPOSITORY}:{release}",
        "/usr/local/lib/pyops-fastapi/gunicorn_conf.py",
    )
    assert '"orders.api.asgi:application"' in conf


def test_a_push_the_registry_refuses_stops_before_the_release_goes_live(host, tmp_path):
    """A wrong password: the run fails at the login, naming the registry and the user (not the password),
    the release built for it is removed and the live one serves on."""
    before, releases = live_release(host, ORDERS), host.check_output("ls /opt/%s/releases", ORDERS)
    source = tmp_path / "orders"
    shutil.copytree(ORDERS_SOURCE, source)
    stack.set_orders_version(source, "2")
    wrong = "wrong-4c1e8a2f6b9d3e7a5c0f2b8d"
    extra = {
        **ORDERS_VARS,
        **PUSH,
        "image_registry_password": wrong,
        "app_requirements_file": "poetry.lock",
        "app_source": "local",
        "app_source_path": str(source),
    }
    run = stack.run_playbook("pyops.fastapi.site", extra)
    assert run.returncode != 0
    failures = run.failures_by_host()["pyops-container-debian13"]
    assert [task for task, _messages in failures] == ["Check the registry took the login", "Fail with the reason"]
    message = failures[0][1][0]
    assert message == (
        f"The registry {REGISTRY} refused the login of image_registry_username {REGISTRY_USER}: "
        f'Error: logging into "{REGISTRY}": invalid username/password'
    ), message
    assert wrong not in run.stdout and REGISTRY_PASSWORD not in run.stdout
    assert live_release(host, ORDERS) == before
    assert host.check_output("ls /opt/%s/releases", ORDERS) == releases
    assert len(push_records(host)) == 1


def test_a_base_with_another_python_is_refused_before_the_build(host, source):
    before = live_release(host)
    releases = host.check_output(f"ls /opt/{APP}/releases")
    (source / "static" / "image.txt").write_text("another code change\n")
    run = stack.run_playbook(
        "pyops.fastapi.site",
        {"app_source": "local", "app_source_path": str(source), "image_base": "localhost/pyops-base:12"},
    )
    assert run.returncode != 0
    # The check failed; the rescue removed the release built for it and failed with the check's message.
    failures = run.failures_by_host()["pyops-container-debian13"]
    assert [task for task, _messages in failures] == [
        "Check the base image can run the release",
        "Fail with the reason",
    ]
    message = failures[0][1][0]
    assert failures[1][1][0] == message
    assert "image_base localhost/pyops-base:12 cannot run release" in message, message
    assert "built for Python 3.13, the base image's python3 is 3.11" in message, message
    assert live_release(host) == before
    assert host.check_output(f"ls /opt/{APP}/releases") == releases
    assert stack.fetch(host, "/health").status == 200
