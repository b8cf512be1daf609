"""The roles' decisions on what pyops.fastapi.host_state reads, with the roles' own task files run by
ansible-playbook on the controller against a tree in tmp_path (no container, nothing outside tmp_path
is written):

- release, tasks/state.yml: the live slot, what it was started with, the checksums of the inputs;
- app, tasks/release.yml (check mode): a live release built from the same revision and inputs is kept,
  anything else builds; the Python version is /usr/bin/python3's; tasks/install.yml (check mode): only
  the directories of the layout that are missing or differ are put back;
- nginx, tasks/install.yml: the version from nginx -v (and the HTTP/2 syntax it picks), its files;
  tasks/configure.yml (check mode): what is as asked is left alone, anything else is put back;
- certbot, tasks/selfsigned.yml (real run, root only): the pair is made and stamped once; a re-run
  changes nothing and runs none of the crypto modules; a stamp written by 0.6.0's script is current;
  a wrong mode on nginx's copy only copies that file again.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.pyops.fastapi.tests.tools.stack import run_ansible_playbook

PLAY = """
- name: Run a task file of a role of the collection
  hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Run the task files
      ansible.builtin.include_role:
        name: pyops.fastapi.{role}
        tasks_from: "{{{{ pyops_test_tasks }}}}"
        public: true
      loop: {tasks_from}
      loop_control:
        loop_var: pyops_test_tasks

    - name: Report
      ansible.builtin.debug:
        msg: {report}
"""


def play(tmp_path, role, tasks_from, report, hosts, extra_vars=None, check=False):
    """Run `tasks_from` (one or a list) of `role` on one local host per entry of `hosts` (host -> its variables);
    returns (the PlaybookRun, host -> the Report task's msg)."""
    tasks_from = [tasks_from] if isinstance(tasks_from, str) else tasks_from
    playbook = tmp_path / f"{role}-{tasks_from[-1]}.yml"
    playbook.write_text(
        PLAY.format(role=role, tasks_from=json.dumps(tasks_from), report=json.dumps(report)), encoding="utf-8"
    )
    inventory = tmp_path / f"{role}-{tasks_from[-1]}.inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}), encoding="utf-8")
    argv = ["-i", str(inventory), str(playbook), "-e", json.dumps(extra_vars or {}), *(["--check"] if check else [])]
    run = run_ansible_playbook(argv, timeout=300)
    assert run.returncode == 0, run.failure() if run.failure()[0] else run.tail()
    reports = {host: result["msg"] for host, name, result in run.host_results() if name == "Report"}
    assert set(reports) == set(hosts), run.tail()
    return run, reports


def statuses(run, host=None):
    """Task name (without the role prefix) -> 'changed', 'skipped' or 'ok' (a loop: its items'), of
    `host` or of every host."""
    found = {}
    for each, name, result in run.host_results():
        if host is not None and each != host:
            continue
        items = result.get("results") or [result]
        if any(item.get("changed") for item in items):
            status = "changed"
        elif all(item.get("skipped") for item in items):
            status = "skipped"
        else:
            status = "ok"
        found[name.split(" : ", 1)[-1]] = status
    return found


def sha1(path):
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


# release: tasks/state.yml


def slots(base, live=True, socket_link=None):
    """slots/live -> green (or a directory), green started with a fingerprint; the unit file a link.
    socket_link: the slot live.sock names (none: no live.sock, as on a host deployed by 0.8)."""
    for slot in ("blue", "green"):
        (base / "slots" / slot).mkdir(parents=True)
    if live:
        (base / "slots" / "live").symlink_to("green")
    else:
        (base / "slots" / "live").mkdir()
    if socket_link:
        (base / "live.sock").symlink_to(f"/run/pyops-test/{socket_link}/gunicorn.sock")
    fingerprint = {"release": "20250101T000000Z", "gunicorn_conf": "a" * 40, "env": "b" * 40, "unit": ""}
    (base / "slots" / "green" / "fingerprint").write_text(json.dumps(fingerprint, indent=2) + "\n")
    (base / "shared").mkdir()
    (base / "shared" / "gunicorn_conf.py").write_text("workers = 2\n")
    (base / "shared" / ".env").write_text("SECRET_KEY=x\n")
    (base / "unit.service").write_text("[Unit]\n")
    (base / "unit-link.service").symlink_to("unit.service")
    return {
        "live_link": str(base / "slots" / "live"),
        "live_socket": str(base / "live.sock"),
        "current_link": str(base / "current"),
        "gunicorn_conf": str(base / "shared" / "gunicorn_conf.py"),
        "env_file": str(base / "shared" / ".env"),
        "unit_file": str(base / "unit-link.service"),
        # An app without app_processes, as the app role's layout publishes it.
        "process_unit_files": [],
        "slots": {
            slot: {
                "dir": str(base / "slots" / slot),
                "unit": f"pyops-test-{os.getpid()}@{slot}.service",
                "units": [f"pyops-test-{os.getpid()}@{slot}.service"],
                "socket": f"/run/pyops-test/{slot}/gunicorn.sock",
            }
            for slot in ("blue", "green")
        },
    }, fingerprint


RELEASE_REPORT = {
    "live": "{{ __release_live_slot }}",
    "idle": "{{ __release_idle_slot }}",
    "running": "{{ __release_live_running }}",
    "started_with": "{{ __release_live_started_with }}",
    "checksums": "{{ __release_input_files | map('extract', __release_state.paths) | map(attribute='checksum')"
    " | map('default', '', true) | list }}",
}


def test_release_state_reads_the_live_slot_and_what_it_was_started_with(tmp_path):
    live_layout, fingerprint = slots(tmp_path / "live")
    none_layout, _fingerprint = slots(tmp_path / "none", live=False)
    # An interrupted switch: live.sock already names blue, slots/live still green. nginx's link decides.
    switched_layout, _fingerprint = slots(tmp_path / "switched", socket_link="blue")
    hosts = {
        "live": {"app_layout": live_layout},
        "none": {"app_layout": none_layout},
        "switched": {"app_layout": switched_layout},
    }
    _run, reports = play(tmp_path, "release", "state", RELEASE_REPORT, hosts)
    live = reports["live"]
    assert (live["live"], live["idle"]) == ("green", "blue")
    assert live["running"] is False  # no such unit (and maybe no systemd)
    assert live["started_with"] == fingerprint
    # What tasks/deploy.yml compares with the fingerprint: sha1 of regular files, '' for the link.
    shared = tmp_path / "live" / "shared"
    assert live["checksums"] == [sha1(shared / "gunicorn_conf.py"), sha1(shared / ".env"), ""]
    # slots/live is not a link: no live slot.
    assert [reports["none"][key] for key in ("live", "idle", "running", "started_with")] == ["", "blue", False, {}]
    assert (reports["switched"]["live"], reports["switched"]["idle"]) == ("blue", "green")


# release: tasks/deploy.yml decides whether the idle slot takes over (check mode: nothing starts)

TAKEOVER_CASES = ("nothing", "gunicorn_conf", "env", "unit", "release")


def test_release_takes_over_when_any_input_of_the_live_slot_changed(tmp_path):
    """The live slot's fingerprint against what a slot would start with now: equal -> no takeover;
    a new release, gunicorn_conf.py, .env or unit file, each alone -> a takeover."""
    hosts = {}
    for case in TAKEOVER_CASES:
        base = tmp_path / case
        layout, _fingerprint = slots(base)
        # The unit file as a regular file, so that its checksum counts too.
        (base / "unit-link.service").unlink()
        (base / "unit-link.service").write_text("[Unit]\n")
        shared = base / "shared"
        started_with = {
            "release": "20250101T000000Z",
            "gunicorn_conf": sha1(shared / "gunicorn_conf.py"),
            "env": sha1(shared / ".env"),
            "unit": sha1(base / "unit-link.service"),
        }
        (base / "slots" / "green" / "fingerprint").write_text(json.dumps(started_with) + "\n")
        target = {"id": "20250101T000000Z", "dir": str(base / "releases" / "20250101T000000Z")}
        if case == "gunicorn_conf":
            (shared / "gunicorn_conf.py").write_text("workers = 3\n")
        elif case == "env":
            (shared / ".env").write_text("SECRET_KEY=rotated\n")
        elif case == "unit":
            (base / "unit-link.service").write_text("[Unit]\nDescription=changed\n")
        elif case == "release":
            target["id"] = "20250102T000000Z"
        hosts[case] = {"app_layout": layout, "__release_target": target}
    # As if the live slot's unit ran (no systemd here); no nginx to gate through.
    extra_vars = {"__release_live_running": True, "release_gate_through_nginx": False}
    _run, reports = play(
        tmp_path, "release", "deploy", {"switch": "{{ __release_switch_needed }}"}, hosts, extra_vars, check=True
    )
    assert {case: reports[case]["switch"] for case in TAKEOVER_CASES} == {
        "nothing": False,
        "gunicorn_conf": True,
        "env": True,
        "unit": True,
        "release": True,
    }


# app: tasks/release.yml, in check mode (the build is never included in check mode)

APP_REPORT = {
    "build": "{{ __app_build_release }}",
    "release": "{{ app_release }}",
    "python": "{{ __app_python_version }}",
    "inputs": "{{ __app_venv_inputs }}",
    "requirements": "{{ __app_live_requirements_checksum }}",
}
RELEASE_ID = "20250101T000000Z"


def live_release(base, venv_key, revision="abc123"):
    """current -> releases/<id> (relative, as the release role links it), built from `revision`."""
    release = base / "releases" / RELEASE_ID
    release.mkdir(parents=True)
    (release / "requirements.txt").write_text("fastapi==0.165.0\n")
    (release / ".pyops-release.json").write_text(json.dumps({"revision": "abc123", "venv": venv_key}, indent=2) + "\n")
    (base / "current").symlink_to(f"releases/{RELEASE_ID}")
    return {
        "app_layout": {"current_link": str(base / "current"), "releases_dir": str(base / "releases")},
        "__app_revision": revision,
    }


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="virtualenvs are built with /usr/bin/python3")
def test_app_keeps_a_live_release_with_the_same_inputs_and_builds_otherwise(tmp_path):
    _run, reports = play(
        tmp_path, "app", "release", APP_REPORT, {"probe": live_release(tmp_path / "probe", "0" * 16)}, check=True
    )
    probe = reports["probe"]
    assert probe["build"] is True  # another virtualenv key
    version = subprocess.run(
        ["/usr/bin/python3", "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    )
    assert probe["python"] == version.stdout.rstrip("\n")
    assert probe["inputs"].startswith(probe["python"] + "|")
    # The key of 0.6.0 and of build.yml: the stat module's checksum of the requirements file.
    requirements = tmp_path / "probe" / "releases" / RELEASE_ID / "requirements.txt"
    assert probe["requirements"] == sha1(requirements)
    key = hashlib.sha1(f"{probe['inputs']}|{probe['requirements']}".encode()).hexdigest()[:16]

    hosts = {case: live_release(tmp_path / case, key) for case in ("same", "requirements", "link", "absent")}
    hosts["revision"] = live_release(tmp_path / "revision", key, revision="def456")
    (tmp_path / "requirements" / "releases" / RELEASE_ID / "requirements.txt").write_text("fastapi==0.166.0\n")
    link = tmp_path / "link" / "releases" / RELEASE_ID / "requirements.txt"
    link.unlink()
    link.symlink_to(requirements)
    (tmp_path / "absent" / "current").unlink()
    _run, reports = play(tmp_path, "app", "release", APP_REPORT, hosts, check=True)

    same = tmp_path / "same" / "releases" / RELEASE_ID
    assert reports["same"]["build"] is False
    assert reports["same"]["release"] == {"id": RELEASE_ID, "dir": str(same.resolve()), "built": False}
    assert reports["revision"]["build"] is True
    assert reports["requirements"]["build"] is True
    assert (reports["link"]["build"], reports["link"]["requirements"]) == (True, "none")  # a link: no checksum
    assert (reports["absent"]["build"], reports["absent"]["requirements"]) == (True, "none")


# app: tasks/install.yml in check mode, with accounts this host has (nothing is created in check mode)

LAYOUT_TASK = "Create the release layout"


def _accounts():
    """nobody (65534), daemon (1) and the groups nogroup (65534) and daemon (1), as on Debian."""
    try:
        ids = [pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("daemon").pw_uid]
        ids += [grp.getgrnam("nogroup").gr_gid, grp.getgrnam("daemon").gr_gid]
    except KeyError:
        return False
    return ids == [65534, 1, 65534, 1]


ACCOUNTS = _accounts()


def app_tree(base, as_asked):
    """The layout as tasks/install.yml leaves it (`as_asked`), or with one mode wrong and one directory missing."""
    layout = {
        "base_dir": str(base),
        "releases_dir": str(base / "releases"),
        "venvs_dir": str(base / "venvs"),
        "slots_dir": str(base / "slots"),
        "slots": {"blue": {"dir": str(base / "slots" / "blue")}, "green": {"dir": str(base / "slots" / "green")}},
        "shared_dir": str(base / "shared"),
        "log_dir": str(base / "shared" / "logs"),
    }
    owners = {
        "": (0, 0, 0o755),
        "releases": (0, 0, 0o755),
        "venvs": (0, 0, 0o755),
        "slots": (0, 0, 0o755),
        "slots/blue": (0, 65534, 0o750),
        "slots/green": (0, 65534, 0o750),
        "shared": (0, 65534, 0o750),
        "shared/logs": (65534, 65534, 0o750),
        "build-cache": (1, 1, 0o700),
    }
    for path, (uid, gid, mode) in owners.items():
        if not as_asked and path == "venvs":
            continue
        directory = base / path
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, uid, gid)
        directory.chmod(0o775 if not as_asked and path == "slots/green" else mode)
    return {
        "app_name": "pyops-test",
        "app_base_dir": str(base),
        "app_user": "nobody",
        "app_group": "nogroup",
        "app_build_user": "daemon",
        "app_layout": layout,
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="the layout belongs to root and to other users")
@pytest.mark.skipif(not ACCOUNTS, reason="needs the accounts nobody and daemon and the group nogroup")
def test_app_install_puts_back_only_the_directories_that_differ(tmp_path):
    hosts = {"as_asked": app_tree(tmp_path / "as_asked", True), "different": app_tree(tmp_path / "different", False)}
    # Noted as installed whatever this host has: no apt (extra vars win over the role's set_fact).
    installed = {"__pyops_fastapi_installed_packages": ["python3-venv", "python3-packaging", "git"]}
    run, _reports = play(tmp_path, "app", "install", {"done": True}, hosts, installed, check=True)
    apt = [status for name, status in statuses(run).items() if name.startswith("Install python3")]
    assert apt in ([], ["skipped"]), statuses(run)
    for host in hosts:
        done = statuses(run, host)
        assert done["Create the application group"] == "skipped"  # nogroup exists
        # nobody's comment, home and shell are not those of an app user: the task would change them.
        assert done["Create the application user"] == "changed"
        assert done["Create the build user"] == "changed"
    assert statuses(run, "as_asked")[LAYOUT_TASK] == "skipped"
    layout = [result for host, name, result in run.host_results() if host == "different" and name.endswith(LAYOUT_TASK)]
    changed = {
        Path(item["item"]["path"]).relative_to(tmp_path / "different").as_posix()
        for item in layout[0]["results"]
        if item.get("changed")
    }
    assert changed == {"venvs", "slots/green"}


# nginx: tasks/install.yml (the packages noted as installed: no apt)

NGINX_REPORT = {
    "installed": "{{ __nginx_installed }}",
    "version": "{{ __nginx_version }}",
    "http2_listen_param": "{{ __nginx_http2_listen_param }}",
    "service": "{{ __nginx_service_found }}",
    "found": "{{ __nginx_found | dict2items | selectattr('value.exists') | map(attribute='key') | list }}",
}


def test_nginx_reads_its_version_and_files(tmp_path):
    (tmp_path / "acme").mkdir()
    (tmp_path / "pyops").mkdir()
    (tmp_path / "pyops" / "app.upstream.conf").write_text("server unix:/run/app/blue/gunicorn.sock;\n")
    common = {
        "__pyops_fastapi_installed_packages": ["nginx", "python3-cryptography", "procps"],
        "nginx_acme_webroot": str(tmp_path / "acme"),
        "nginx_ssl_certificate": str(tmp_path / "ssl" / "fullchain.pem"),
        "app_layout": {
            "name": "pyops-test",
            "upstream_file": str(tmp_path / "pyops" / "app.upstream.conf"),
            "live_socket": str(tmp_path / "live.sock"),
            "live_link": str(tmp_path / "slots" / "live"),
            "upstream_servers": "server unix:/opt/app/live.sock;\n",
            "slots": {"blue": {"socket": "/run/app/blue/gunicorn.sock"}},
        },
        "nginx_http2": True,
    }
    version = "import sys; print('nginx version: nginx/{}', file=sys.stderr)"
    hosts = {
        "old": common | {"pyops_test_version": [sys.executable, "-c", version.format("1.22.1")]},
        "new": common | {"pyops_test_version": [sys.executable, "-c", version.format("1.26.3")]},
        "absent": common | {"pyops_test_version": ["/nonexistent/nginx", "-v"]},
    }
    # A role variable: only extra vars override it, templated per host.
    extra_vars = {"__nginx_version_command": "{{ pyops_test_version }}"}
    _run, reports = play(tmp_path, "nginx", "install", NGINX_REPORT, hosts, extra_vars)
    assert [reports["old"][key] for key in ("installed", "version", "http2_listen_param")] == [True, "1.22.1", True]
    assert [reports["new"][key] for key in ("installed", "version", "http2_listen_param")] == [True, "1.26.3", False]
    # Not installed: the older syntax is assumed (check mode before the install).
    assert [reports["absent"][key] for key in ("installed", "version", "http2_listen_param")] == [False, "1.22.0", True]
    assert set(reports["old"]["service"]) == {"enabled", "active"}
    assert {str(tmp_path / "acme"), str(tmp_path / "pyops"), str(tmp_path / "pyops" / "app.upstream.conf")} <= set(
        reports["old"]["found"]
    )
    assert str(tmp_path / "ssl" / "fullchain.pem") not in reports["old"]["found"]


# nginx: tasks/configure.yml in check mode, after tasks/install.yml's read

NGINX_TASKS = {
    "webroot": "Create the ACME webroot",
    "upstream_dir": "Create the directory of the upstream files",
    "upstream_file": "Point the upstream at the live slot's socket link",
    "links": "Enable the site and the catch-all servers",
}
# A host deployed by 0.8: its upstream file names the live slot's socket, and there is no live.sock.
NGINX_CONVERSION = ["Point the socket link at the live slot's socket", "Point the upstream at the socket links"]


def nginx_tree(base, as_asked, legacy=False):
    """What configure.yml manages, as it leaves it (`as_asked`) or all different; `legacy`: the live
    slot (green) and the upstream file as 0.8 left them."""
    (base / "acme").mkdir(parents=True)
    (base / "acme").chmod(0o755 if as_asked else 0o700)
    (base / "pyops").mkdir()
    (base / "pyops").chmod(0o755 if as_asked else 0o750)
    (base / "sites-available").mkdir()
    (base / "sites-enabled").mkdir()
    if as_asked:
        (base / "ssl").mkdir()
        (base / "ssl" / "fullchain.pem").write_text("placeholder\n")
        (base / "pyops" / "app.upstream.conf").write_text("server unix:/run/app/green/gunicorn.sock;\n")
        for name in ("000-default-deny.conf", "app.conf"):
            (base / "sites-enabled" / name).symlink_to(base / "sites-available" / name)
    else:
        (base / "sites-enabled" / "app.conf").symlink_to(base / "sites-available" / "other.conf")
    if legacy:
        (base / "slots").mkdir()
        (base / "slots" / "live").symlink_to("green")
    return {
        "pyops_test_base": str(base),
        "nginx_acme_webroot": str(base / "acme"),
        "nginx_ssl_certificate": str(base / "ssl" / "fullchain.pem"),
        "nginx_ssl_certificate_key": str(base / "ssl" / "privkey.pem"),
        "app_layout": {
            "name": "app",
            "upstream_file": str(base / "pyops" / "app.upstream.conf"),
            "live_socket": str(base / "live.sock"),
            "live_link": str(base / "slots" / "live"),
            "upstream_servers": "server unix:/opt/app/live.sock;\n",
            "current_link": str(base / "current"),
            "slots": {slot: {"socket": f"/run/app/{slot}/gunicorn.sock"} for slot in ("blue", "green")},
        },
        "__pyops_fastapi_installed_packages": ["nginx", "python3-cryptography", "procps"],
    }


def test_nginx_configure_runs_only_what_differs(tmp_path):
    hosts = {
        "as_asked": nginx_tree(tmp_path / "as_asked", True),
        "different": nginx_tree(tmp_path / "different", False),
        "deployed_by_0_8": nginx_tree(tmp_path / "deployed_by_0_8", True, legacy=True),
    }
    # Role variables: only extra vars override them, templated per host. No nginx: no reload in check mode.
    extra_vars = {
        "__nginx_version_command": ["/nonexistent/nginx", "-v"],
        "__nginx_site_available": "{{ pyops_test_base }}/sites-available/app.conf",
        "__nginx_site_enabled": "{{ pyops_test_base }}/sites-enabled/app.conf",
        "__nginx_default_deny_available": "{{ pyops_test_base }}/sites-available/000-default-deny.conf",
        "__nginx_default_deny_enabled": "{{ pyops_test_base }}/sites-enabled/000-default-deny.conf",
    }
    run, _reports = play(tmp_path, "nginx", ["install", "configure"], {"done": True}, hosts, extra_vars, check=True)
    as_asked = statuses(run, "as_asked")
    assert {key: as_asked[task] for key, task in NGINX_TASKS.items()} == dict.fromkeys(NGINX_TASKS, "skipped")
    different = statuses(run, "different")
    assert {key: different[task] for key, task in NGINX_TASKS.items()} == dict.fromkeys(NGINX_TASKS, "changed")
    links = [
        result
        for host, name, result in run.host_results()
        if host == "different" and name.endswith(NGINX_TASKS["links"])
    ]
    assert [item.get("changed", False) for item in links[0]["results"]] == [True, True]
    # Converted only where 0.8's file names the live slot (green): not where no slot is live.
    assert [as_asked[task] for task in NGINX_CONVERSION] == ["skipped", "skipped"]
    legacy = statuses(run, "deployed_by_0_8")
    assert [legacy[task] for task in NGINX_CONVERSION] == ["changed", "changed"], legacy
    assert {key: legacy[task] for key, task in NGINX_TASKS.items()} == dict.fromkeys(NGINX_TASKS, "skipped")
    # Debian's default site: removed when it is there (this host's /etc/nginx, in check mode).
    default = "skipped" if not os.path.lexists("/etc/nginx/sites-enabled/default") else "changed"
    assert as_asked["Disable Debian's default site"] == default


# certbot: tasks/selfsigned.yml, for real (root owns the pair)

CRYPTO_TASKS = [
    "Create the directory of the self-signed pair",
    "Create the private key",
    "Build the certificate signing request for every name",
    "Create the self-signed certificate (again when the names, the key or the expiry require it)",
    "Checksum the pair the crypto modules left",
    "Stamp the pair with its inputs and checksums",
]
COPY_TASK = "Copy the pair to nginx's certificate paths"
CERTBOT_REPORT = {
    "inputs": "{{ __certbot_selfsigned_inputs | to_json }}",
    "unchanged": "{{ __certbot_selfsigned_unchanged }}",
}

# The stamp as 0.6.0's __certbot_selfsigned_script wrote it ("write" mode): $1 the directory, $2 the inputs.
STAMP_0_6_0 = """dir=$1 inputs=$2
stamp() { printf '%s\\n' "$inputs" && (cd "$dir" && sha1sum privkey.pem fullchain.pem); }
new=$(stamp) || exit 1
printf '%s\\n' "$new" >"$dir/pyops-pair.stamp"
"""


def certbot(tmp_path, extra_vars):
    # __certbot_selfsigned_dir is a role variable: only extra vars override it.
    run, reports = play(tmp_path, "certbot", "selfsigned", CERTBOT_REPORT, {"localhost": {}}, extra_vars)
    return run, reports["localhost"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the role makes the pair root's")
def test_certbot_selfsigned_is_made_once_and_then_left_alone(tmp_path):
    pytest.importorskip("cryptography")
    pair = tmp_path / "pair"
    nginx = tmp_path / "nginx"
    nginx.mkdir()
    extra_vars = {
        "certbot_mode": "selfsigned",
        "certbot_domains": ["api.example.test", "www.example.test"],
        "__certbot_selfsigned_dir": str(pair),
        "certbot_nginx_certificate": str(nginx / "fullchain.pem"),
        "certbot_nginx_certificate_key": str(nginx / "privkey.pem"),
    }
    run, first = certbot(tmp_path, extra_vars)
    done = statuses(run)
    assert all(done[task] == "changed" for task in CRYPTO_TASKS if task.startswith("Create")), done
    assert done[COPY_TASK] == "changed"
    assert (nginx / "privkey.pem").read_bytes() == (pair / "privkey.pem").read_bytes()
    # The stamp is byte for byte the one 0.6.0's script writes for the same pair: an upgrade finds its
    # stamps current and runs none of the crypto modules.
    old = tmp_path / "old"
    old.mkdir()
    for name in ("privkey.pem", "fullchain.pem"):
        (old / name).write_bytes((pair / name).read_bytes())
    subprocess.run(["/bin/sh", "-c", STAMP_0_6_0, "sh", str(old), first["inputs"]], check=True)
    assert (pair / "pyops-pair.stamp").read_bytes() == (old / "pyops-pair.stamp").read_bytes()

    run, again = certbot(tmp_path, extra_vars)
    assert again["unchanged"] is True
    done = statuses(run)
    assert [task for task, status in done.items() if status == "changed"] == [], done
    assert all(done[task] == "skipped" for task in CRYPTO_TASKS), done
    assert done[COPY_TASK] == "skipped"

    # A wrong mode on nginx's copy of the key: only that copy is made again.
    (nginx / "privkey.pem").chmod(0o644)
    run, _report = certbot(tmp_path, extra_vars)
    done = statuses(run)
    assert [task for task, status in done.items() if status == "changed"] == [COPY_TASK], done
    copied = [result for name, result in run.results() if name.endswith(COPY_TASK)][0]["results"]
    assert [item["changed"] for item in copied] == [True, False]
    assert (nginx / "privkey.pem").stat().st_mode & 0o777 == 0o600

    # Other inputs (one more name): the crypto modules run again and the stamp follows.
    more = extra_vars | {"certbot_domains": ["api.example.test", "www.example.test", "api2.example.test"]}
    run, changed = certbot(tmp_path, more)
    done = statuses(run)
    certificate = "Create the self-signed certificate (again when the names, the key or the expiry require it)"
    assert (changed["unchanged"], done[certificate], done["Stamp the pair with its inputs and checksums"]) == (
        False,
        "changed",
        "changed",
    )
    assert (pair / "pyops-pair.stamp").read_text().startswith(changed["inputs"] + "\n")
