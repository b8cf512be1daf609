"""app_runtime: container: each slot runs its release's image under the slot's unit, behind the same
nginx, gate, hooks, switch and rollback. Runs after test_image.py (file order), on the stack it left:
a slot container hardened as the unit is, then under load through nginx a code change with a hook
(run in the new image; the image reuses the virtualenv's layer), a rotated secret, an image that
cannot start, and a rollback; no request fails and the failing image gets none."""

import json
import shutil
import time

import pytest
import stack
from conftest import PODMAN, SECRET, inspect, podman, report
from stack import APP, EXAMPLE_APP, assert_no_request_failed, live_release, live_slot


def container(host, slot):
    cmd = host.run(PODMAN + " container inspect %s", f"{APP}-{slot}")
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout)[0]


def running_containers(host):
    """The bundled app's running containers (the second app's run beside them)."""
    names = host.check_output(PODMAN + " ps --format '{{.Names}}'").split()
    return sorted(name for name in names if name.startswith(f"{APP}-"))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("runtime") / "app"
    shutil.copytree(EXAMPLE_APP, src)
    return src


def switched(host, run, summary, before_slot):
    assert run.returncode == 0, run.tail()
    assert_no_request_failed(summary)
    slot = live_slot(host)
    assert slot != before_slot
    # Only the live slot's container runs once the old slot stopped.
    assert running_containers(host) == [f"{APP}-{slot}"]
    return slot


def test_the_live_slot_runs_its_release_image_hardened(host):
    slot, release = live_slot(host), live_release(host)
    info = container(host, slot)
    assert info["ImageName"] == f"localhost/{APP}:{release}"
    ids = host.check_output("id -u %s", APP) + ":" + host.check_output("id -g %s", APP)
    assert info["Config"]["User"] == ids
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert "no-new-privileges" in info["HostConfig"]["SecurityOpt"]
    status = host.check_output(PODMAN + " exec %s grep ^CapEff /proc/1/status", f"{APP}-{slot}").split()[-1]
    assert int(status, 16) == 0
    assert host.run(PODMAN + " exec %s touch /opt/%s/x", f"{APP}-{slot}", APP).rc != 0
    # The secret reaches the app through the environment: named on podman's command line (as podman
    # recorded it), never valued there nor on any process's command line.
    command = info["Config"]["CreateCommand"]
    assert "--env=SECRET_KEY" in command and not [arg for arg in command if SECRET in arg], command
    assert SECRET not in host.check_output("ps -eo args=")
    assert host.check_output(PODMAN + " exec %s printenv SECRET_KEY", f"{APP}-{slot}") == SECRET
    # systemd_extra_environment (molecule.yml): a value of the unit's Environment=, passed by name as well.
    setting = host.check_output(PODMAN + " exec %s printenv PYOPS_TEST_UNIT_SETTING", f"{APP}-{slot}")
    assert setting == "from-the-unit", setting
    # podman keeps the container's configuration (the environment's values too) in its store: files
    # other users may not read (its directories are root's alone), whatever the files' own modes.
    holders = host.check_output(
        "grep -rlF %s /var/lib/containers /run/containers /run/libpod 2>/dev/null || true", SECRET
    )
    assert holders, "podman keeps the environment somewhere: the search finds nothing, so it proves nothing"
    for path in holders.splitlines():
        assert host.run("runuser -u nobody -- test -r %s", path).rc != 0, path
        assert host.run("runuser -u %s -- test -r %s", APP, path).rc != 0, path
    response = stack.fetch(host, "/health")
    assert response.status == 200 and response.headers.get("x-app-release") == release, response
    # What the runtime adds in memory: conmon stays beside the app (podman itself exits, --detach).
    processes = [line.split(None, 1) for line in host.check_output("ps -eo rss=,args=").splitlines()]
    conmon = [int(rss) for rss, args in processes if args.startswith("/usr/bin/conmon") and f"-n {APP}-{slot} " in args]
    app = [int(rss) for rss, args in processes if f"/opt/{APP}/slots/{slot}/gunicorn_conf.py" in args]
    assert len(conmon) == 1 and len(app) >= 2, processes
    assert not [args for _rss, args in processes if args.startswith("/usr/bin/podman run")]
    report(runtime_rss_kib={"conmon": sum(conmon), "app": sum(app), "ratio": round(sum(conmon) / sum(app), 3)})


# A hook that records where it ran, into the log directory (the one path a release's process may write).
HOOK_RECORD = f"/opt/{APP}/shared/logs/hook-record.json"
HOOK = {
    "name": "record",
    "command": (
        'python -c \'import json, os, sys; print(json.dumps({"uid": os.getuid(), "cwd": os.getcwd(),'
        ' "python": sys.executable, "secret": os.environ.get("SECRET_KEY", "") != "",'
        ' "in_container": os.path.exists("/run/.containerenv"),'
        ' "root_read_only": os.statvfs("/").f_flag & os.ST_RDONLY != 0,'
        ' "code": open("static/runtime.txt").read()}))'
        f"' > {HOOK_RECORD}"
    ),
}


def build_seconds(run):
    """The wall time of the task that built the image ('0:00:12.345678'), or None when it did not run."""
    for _host, name, result in run.host_results():
        if name.endswith("Build the image with podman") and not result.get("skipped") and "delta" in result:
            hours, minutes, seconds = result["delta"].split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return None


def test_a_code_change_with_a_hook_switches_containers_under_load(host, source):
    slot, release = live_slot(host), live_release(host)
    (source / "static" / "runtime.txt").write_text("a code change\n")
    host.run_expect([0], "rm -f %s", HOOK_RECORD)
    since = host.check_output("date +%s")
    run, summary, _upstreams = stack.deploy_under_load(
        host, {"app_source": "local", "app_source_path": str(source), "release_hooks": [HOOK]}
    )
    new_slot = switched(host, run, summary, slot)
    new_release = live_release(host)
    assert new_release != release
    assert container(host, new_slot)["ImageName"] == f"localhost/{APP}:{new_release}"
    assert set(summary["releases"]) == {release, new_release}, summary

    # The hook ran in a container of the new release's image, as the app user, with the slot's
    # environment and the release's virtualenv, on a read-only root.
    record = json.loads(host.file(HOOK_RECORD).content_string)
    new_dir = f"/opt/{APP}/releases/{new_release}"
    assert record == {
        "uid": int(host.check_output("id -u %s", APP)),
        "cwd": new_dir,
        "python": f"{new_dir}/.venv/bin/python",
        "secret": True,
        "in_container": True,
        "root_read_only": True,
        "code": "a code change\n",
    }, record
    images = podman(
        host,
        "events",
        "--stream=false",
        f"--since={since}",
        "--filter=event=create",
        f"--filter=container={APP}-hook-{new_slot}",
        "--format={{.Image}}",
    ).split()
    assert images == [f"localhost/{APP}:{new_release}"], images
    assert host.run(PODMAN + " container exists %s", f"{APP}-hook-{new_slot}").rc == 1

    # The new image reuses the virtualenv's layer (cached, stored once); the code's layer differs.
    before, after = inspect(host, f"localhost/{APP}:{release}"), inspect(host, f"localhost/{APP}:{new_release}")
    base = len(inspect(host, "localhost/pyops-base:13")["RootFS"]["Layers"])
    assert after["RootFS"]["Layers"][base] == before["RootFS"]["Layers"][base]
    assert after["RootFS"]["Layers"][base + 1] != before["RootFS"]["Layers"][base + 1]
    rebuild = build_seconds(run)
    assert rebuild is not None
    # The same build without the cache, for the ratio (reported, not asserted: machines are noisy).
    started = time.monotonic()
    podman(
        host,
        "build",
        "--no-cache",
        "--format=docker",
        f"--file=/opt/{APP}/image/Containerfile",
        f"--ignorefile=/opt/{APP}/image/containerignore",
        "--tag=localhost/uncached:test",
        f"/opt/{APP}",
    )
    uncached = time.monotonic() - started
    podman(host, "rmi", "localhost/uncached:test")
    history = json.loads(podman(host, "history", "--format=json", f"localhost/{APP}:{new_release}"))
    report(
        image=f"localhost/{APP}:{new_release}",
        code_only_rebuild_s=round(rebuild, 1),
        uncached_build_s=round(uncached, 1),
        ratio=round(rebuild / uncached, 2),
        layer_bytes_newest_first=[layer["size"] for layer in history],
    )
    # Images follow the releases: only those whose release directory is there.
    tags = set(
        podman(host, "images", "--noheading", "--format", "{{.Tag}}", f"--filter=reference=localhost/{APP}").split()
    )
    releases = set(host.check_output(f"ls /opt/{APP}/releases").split())
    assert {release, new_release} <= tags <= releases, (tags, releases)


def test_a_rotated_secret_reaches_a_new_container(host, source):
    slot, release = live_slot(host), live_release(host)
    rotated = "rotated-7e1c9a3f5b2d8e4a6c0f1b9d7e3a5c2f9b1d"
    run, summary, _upstreams = stack.deploy_under_load(
        host, {"app_source": "local", "app_source_path": str(source), "app_secret_key": rotated}
    )
    new_slot = switched(host, run, summary, slot)
    assert live_release(host) == release
    env = host.check_output(PODMAN + " exec %s printenv SECRET_KEY", f"{APP}-{new_slot}")
    assert env == rotated


def test_an_image_that_cannot_start_gets_no_request(host, source):
    slot, release = live_slot(host), live_release(host)
    (source / "main.py").write_text("raise RuntimeError('this image cannot start')\n")
    run, summary, upstreams = stack.deploy_under_load(host, {"app_source": "local", "app_source_path": str(source)})
    assert run.returncode != 0
    task, message = run.failure()
    assert task == "pyops.fastapi.release : Fail the deploy", (task, message)
    assert "this image cannot start" in message, message
    assert_no_request_failed(summary)
    assert set(summary["releases"]) == {release}, summary
    assert set(upstreams) == {f"unix:/opt/{APP}/live.sock"}, upstreams
    assert (live_slot(host), live_release(host)) == (slot, release)
    assert running_containers(host) == [f"{APP}-{slot}"]


def test_a_rollback_runs_the_previous_image(host):
    slot, release = live_slot(host), live_release(host)
    releases = sorted(host.check_output("ls /opt/%s/releases", APP).split())
    previous = max(r for r in releases if r < release)
    run, summary, _upstreams = stack.deploy_under_load(host, {}, playbook="pyops.fastapi.rollback")
    new_slot = switched(host, run, summary, slot)
    assert live_release(host) == previous
    assert container(host, new_slot)["ImageName"] == f"localhost/{APP}:{previous}"
    assert set(summary["releases"]) == {release, previous}, summary
