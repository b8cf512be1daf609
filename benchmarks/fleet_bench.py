"""Build once for a fleet against a build on every host, in one run (make bench).

Each round starts two fresh systemd containers from the Debian 12 test image (as stack_bench.py
does) and deploys the bundled example app to both with site.yml, once per way:

  per-host   each host builds its own release (the default);
  one-build  the first host is also in the group fastapi_build: it builds, the other unpacks.

Steps, each timed as the whole site.yml run on both hosts (Ansible's default forks, in parallel):
  first     the first converge of two empty hosts;
  reqs      a requirements change (one more pinned package): a new virtualenv, built twice or once;
  code      a code-only change: a new release on the existing virtualenv.
The ratio one-build / per-host of each step is the result (the issue's target: <= 0.6 for a
deploy to two app servers). Rounds alternate which way goes first; figures are medians.

Then, on one host, the second app of the tests (molecule/deploy/apps/orders) is deployed from its
uv.lock, then from its requirements.txt (only the top-level pin, dependencies resolved by pip):
the two virtualenvs' sizes (du), which should agree within 5 %.
Nothing asserts a timing. Results: markdown on stdout and in benchmarks/results/ with the JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tools"))

from stack_bench import CACHE, ROOT, converge, log, run, save_results, start_container  # noqa: E402

WAYS = ("per-host", "one-build")
STEPS = ("first", "reqs", "code")
HOSTS = ("pyops-fleet-bench-1", "pyops-fleet-bench-2")
ORDERS_SOURCE = ROOT / "molecule" / "deploy" / "apps" / "orders"


def write_inventory(way: str, app_dir: Path, extra: str = "") -> tuple[Path, Path]:
    """Both containers in group fastapi; with one-build, the first in fastapi_build too."""
    CACHE.mkdir(parents=True, exist_ok=True)
    inventory = CACHE / "fleet-hosts.yml"
    hosts = "".join(f"    {name}:\n      ansible_connection: community.docker.docker\n" for name in HOSTS)
    build = f"fastapi_build:\n  hosts:\n    {HOSTS[0]}:\n" if way == "one-build" else ""
    inventory.write_text(
        "all:\n"
        "  vars:\n"
        "    app_source: local\n"
        f"    app_source_path: {app_dir}\n"
        "    certbot_mode: selfsigned  # no ACME server here; every other setting is a role default\n"
        f"    app_artifact_dir: {CACHE / 'artifacts'}\n"
        f"{extra}"
        f"fastapi:\n  hosts:\n{hosts}{build}"
    )
    secrets = CACHE / "fleet-secrets.yml"
    secrets.write_text('app_secret_key: "fleet-bench-5b1f0c9e7d3a2f6e8b4c1a9d0e7f3b2c"\n')
    secrets.chmod(0o600)
    return inventory, secrets


def one_way(way: str, round_no: int) -> dict:
    app_dir = CACHE / f"fleet-app-{way}"
    shutil.rmtree(app_dir, ignore_errors=True)
    shutil.copytree(ROOT / "roles" / "app" / "files" / "example_app", app_dir)
    for name in HOSTS:
        start_container(name, "debian12")
    inventory, secrets = write_inventory(way, app_dir)
    times = {"first": converge(inventory, secrets, f"fleet-{way}-{round_no}-first")["seconds"]}
    requirements = app_dir / "requirements.txt"
    requirements.write_text(requirements.read_text() + "six==1.17.0\n")
    times["reqs"] = converge(inventory, secrets, f"fleet-{way}-{round_no}-reqs")["seconds"]
    main_py = app_dir / "main.py"
    main_py.write_text(main_py.read_text() + f"\n# benchmark code change {time.time()}\n")
    times["code"] = converge(inventory, secrets, f"fleet-{way}-{round_no}-code")["seconds"]
    releases = [
        run(["docker", "exec", name, "readlink", "-f", "/opt/fastapi-app/current"], capture_output=True).stdout.strip()
        for name in HOSTS
    ]
    times["same_release"] = len(set(releases)) == 1
    log(f"round {round_no} {way}: " + ", ".join(f"{step} {times[step]} s" for step in STEPS) + f", releases {releases}")
    return times


def venv_sizes() -> dict:
    """The orders app from its uv.lock, then from requirements.txt, on one fresh host: each virtualenv's size."""
    start_container(HOSTS[0], "debian12")
    orders = {
        "app_name": "orders-api",
        "app_module": "orders.api.asgi:application",
        "nginx_server_name": "orders.example.test",
        "app_env": {"ORDERS_GREETING": "hello"},
        "release_health_endpoints": [
            {"path": "/_status/live", "json": {"alive": True}},
            {"path": "/_status/ready", "status": [200], "json": {"state": "accepting", "checks": {"config": "ok"}}},
        ],
    }
    sizes = {}
    for kind, requirements in (("locked (uv.lock)", "uv.lock"), ("unlocked (requirements.txt)", "requirements.txt")):
        extra = "".join(f"    {key}: {json.dumps(value)}\n" for key, value in orders.items())
        extra += f"    app_requirements_file: {requirements}\n"
        inventory, secrets = write_inventory("per-host", ORDERS_SOURCE, extra)
        inventory.write_text(
            inventory.read_text().replace(f"    {HOSTS[1]}:\n      ansible_connection: community.docker.docker\n", "")
        )
        converge(inventory, secrets, f"fleet-venv-{requirements}")
        venv = run(
            ["docker", "exec", HOSTS[0], "readlink", "-f", "/opt/orders-api/current/.venv"], capture_output=True
        ).stdout.strip()
        du = run(["docker", "exec", HOSTS[0], "du", "-sb", venv], capture_output=True).stdout.split()[0]
        packages = run(
            ["docker", "exec", HOSTS[0], f"{venv}/bin/pip", "list", "--format=freeze", "--disable-pip-version-check"],
            capture_output=True,
        ).stdout.split()
        sizes[kind] = {"bytes": int(du), "packages": len(packages), "venv": venv}
    run(["docker", "rm", "-f", HOSTS[0]], capture_output=True)
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the fleet part (0: the virtualenvs only)")
    args = parser.parse_args()

    samples = {way: [] for way in WAYS}
    if args.rounds == 0:
        sizes = venv_sizes()
        print(json.dumps(sizes, indent=2))
        locked, unlocked = sizes["locked (uv.lock)"], sizes["unlocked (requirements.txt)"]
        print(f"locked / unlocked: {round(locked['bytes'] / unlocked['bytes'], 3)}")
        return 0
    for round_no in range(1, args.rounds + 1):
        for way in WAYS if round_no % 2 else tuple(reversed(WAYS)):
            samples[way].append(one_way(way, round_no))
    for name in HOSTS:
        run(["docker", "rm", "-f", name], capture_output=True)
    sizes = venv_sizes()

    medians = {
        way: {step: round(statistics.median(s[step] for s in runs), 1) for step in STEPS}
        for way, runs in samples.items()
    }
    ratios = {step: round(medians["one-build"][step] / medians["per-host"][step], 2) for step in STEPS}
    locked, unlocked = sizes["locked (uv.lock)"], sizes["unlocked (requirements.txt)"]
    lines = [
        f"# A deploy to two hosts: one build (fastapi_build) vs a build on each, {args.rounds} round(s), medians",
        "",
        "| step | per-host s | one-build s | one-build / per-host |",
        "|---|---|---|---|",
        *(
            f"| {step} | {medians['per-host'][step]} | {medians['one-build'][step]} | **{ratios[step]}** |"
            for step in STEPS
        ),
        "",
        "Same release id on both hosts: "
        + ", ".join(f"{way} {all(s['same_release'] for s in runs)}" for way, runs in samples.items()),
        "",
        "| orders app virtualenv | bytes | packages |",
        "|---|---|---|",
        *(f"| {kind} | {size['bytes']} | {size['packages']} |" for kind, size in sizes.items()),
        f"| locked / unlocked | **{round(locked['bytes'] / unlocked['bytes'], 3)}** | |",
        "",
    ]
    save_results("fleet", "\n".join(lines), {"samples": samples, "medians": medians, "ratios": ratios, "venvs": sizes})
    return 0


if __name__ == "__main__":
    sys.exit(main())
