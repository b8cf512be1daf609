"""The container runtime against the systemd runtime, in one run (make bench).

One systemd container from the Debian 13 test image, with podman set up as the container
scenario's prepare.yml does (nested here: see docs/containers.md). The example app is deployed with
site.yml and rounds alternate the two runtimes on the same host: each round deploys with
app_runtime=systemd, then with app_runtime=container (a switch each, as a user changing runtimes
would do), and measures after each switch, from inside the container:

  - requests per second through nginx (TLS, keep-alive) with wrk, bounded by -d;
  - the memory of the live slot: every process in its unit's cgroup (gunicorn, and for a container
    also podman's conmon), as RSS;
  - the image of the release: the bytes of each layer (podman history).

Targets (issue 22): the container runtime within 5 % of the systemd runtime's requests per second,
its own processes <= 10 % of the app's RSS, the image the base plus the venv and the code only.
Results: a markdown table on stdout and in benchmarks/results/, the raw figures beside it as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import secrets as random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack_bench import (  # noqa: E402
    CACHE,
    ROOT,
    SERVER_NAME,
    Container,
    converge,
    log,
    run,
    save_results,
    spread,
    start_container,
    wrk,
)

NAME = "pyops-container-bench"
APP = "fastapi-app"
RUNTIMES = ("systemd", "container")
PODMAN = "PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman"


def write_inventory(app_dir: Path, runtime: str = "systemd") -> tuple[Path, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    inventory = CACHE / "container-hosts.yml"
    inventory.write_text(
        "all:\n"
        "  children:\n"
        "    fastapi:\n"
        "      hosts:\n"
        f"        {NAME}:\n"
        "          ansible_connection: community.docker.docker\n"
        "          app_source: local\n"
        f"          app_source_path: {app_dir}\n"
        "          certbot_mode: selfsigned\n"
        "          image_base: localhost/pyops-base:13\n"
        "          pyops_fastapi_build_image: true\n"
        f"          app_runtime: {runtime}\n"
    )
    secrets = CACHE / "secrets.yml"
    if not secrets.exists():
        secrets.write_text(f'app_secret_key: "{random.token_urlsafe(48)}"\n')
        secrets.chmod(0o600)
    return inventory, secrets


def prepare(inventory: Path) -> None:
    """podman, runc and their settings for this nesting, and the base images (prepare.yml)."""
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(ROOT / "molecule" / "container" / "prepare.yml")],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"prepare.yml failed:\n{proc.stdout[-3000:]}")


def deploy(app_dir: Path, runtime: str, label: str) -> dict:
    """site.yml with app_runtime=runtime: a switch to a slot of that runtime."""
    inventory, secrets = write_inventory(app_dir, runtime)
    return converge(inventory, secrets, label)


def live_slot_rss_kib(box: Container) -> dict:
    """RSS of every process in the live slot's unit's cgroup, split into the app (gunicorn) and the rest."""
    slot = box.sh(f"basename $(readlink /opt/{APP}/slots/live)").strip()
    # systemd-cgls lists the unit's whole cgroup tree (with a container: conmon and the payload's subgroup).
    tree = box.sh(f"systemd-cgls --no-pager --full --unit {APP}@{slot}.service")
    pids = re.findall(r"[─-](\d+) ", tree)
    if not pids:
        raise RuntimeError(f"no process in {APP}@{slot}.service:\n{tree}")
    rows = box.sh(f"ps -o rss=,args= -p {','.join(pids)}").splitlines()
    app = sum(int(line.split(None, 1)[0]) for line in rows if "gunicorn" in line)
    other = sum(int(line.split(None, 1)[0]) for line in rows if "gunicorn" not in line)
    return {"app": app, "runtime": other, "processes": len(rows)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="leave the container running")
    args = parser.parse_args()

    run([str(ROOT / "scripts" / "ensure-docker.sh")], capture_output=True)
    run([str(ROOT / "scripts" / "build-image.sh"), "debian12", "debian13"])
    app_dir = CACHE / "container-app"
    shutil.rmtree(app_dir, ignore_errors=True)
    shutil.copytree(ROOT / "roles" / "app" / "files" / "example_app", app_dir)
    inventory, _secrets = write_inventory(app_dir)
    report: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    samples: dict = {runtime: [] for runtime in RUNTIMES}
    # podman's store on a tmpfs, as the container scenario's platform: native overlay cannot stack on overlayfs.
    box = start_container(NAME, "debian13", tmpfs=("/var/lib/containers:rw,exec,size=4g",))
    try:
        log("podman for the nesting, the base images")
        prepare(inventory)
        box.sh(
            "command -v wrk >/dev/null || { apt-get update -qq && "
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }",
            timeout=300,
        )
        for round_no in range(1, args.rounds + 1):
            for runtime in RUNTIMES:
                log(f"round {round_no}: deploy with app_runtime={runtime}")
                converged = deploy(app_dir, runtime, f"container-{runtime}-{round_no}")
                time.sleep(2)
                sample = wrk(box, f"https://{SERVER_NAME}:443/", args.connections, args.seconds)
                sample["rss_kib"] = live_slot_rss_kib(box)
                sample["deploy_s"] = converged["seconds"]
                log(f"round {round_no} {runtime}: {sample['rps']:.0f} req/s, {sample['rss_kib']}")
                samples[runtime].append(sample)
        release = box.sh(f"basename $(readlink -f /opt/{APP}/current)").strip()
        history = json.loads(box.sh(f"{PODMAN} history --format=json localhost/{APP}:{release}"))
        base = json.loads(box.sh(f"{PODMAN} history --format=json localhost/pyops-base:13"))
        report["image_layers"] = [
            {"bytes": layer["size"], "created_by": (layer.get("CreatedBy") or layer.get("created_by") or "")[:80]}
            for layer in history[: len(history) - len(base)]
            if layer["size"]
        ]
        report["base_bytes"] = sum(layer["size"] for layer in base)
    finally:
        if not args.keep:
            run(["docker", "rm", "-f", NAME], capture_output=True)

    for runtime in RUNTIMES:
        rps = [sample["rps"] for sample in samples[runtime]]
        report[runtime] = {
            "rps": statistics.median(rps),
            "rps_spread": (min(rps), max(rps)),
            "app_rss_kib": statistics.median(sample["rss_kib"]["app"] for sample in samples[runtime]),
            "runtime_rss_kib": statistics.median(sample["rss_kib"]["runtime"] for sample in samples[runtime]),
            "socket_errors": sum(sample["socket_errors"] for sample in samples[runtime]),
            "non_2xx": sum(sample["non_2xx"] for sample in samples[runtime]),
        }
    container, systemd = report["container"], report["systemd"]
    report["rps_ratio"] = round(container["rps"] / systemd["rps"], 3)
    # Each round measures both runtimes minutes apart: the median of the rounds' own ratios sets aside
    # the machine's drift between rounds, which the ratio of the two medians carries.
    report["rps_round_ratios"] = [
        round(pair[1]["rps"] / pair[0]["rps"], 3) for pair in zip(samples["systemd"], samples["container"])
    ]
    report["rps_paired_ratio"] = round(statistics.median(report["rps_round_ratios"]), 3)
    report["runtime_rss_share"] = round(container["runtime_rss_kib"] / container["app_rss_kib"], 3)
    save_results("container", render(report, args), {**report, "samples": samples})
    return 0


def render(report: dict, args) -> str:
    systemd, container = report["systemd"], report["container"]
    lines = [
        f"# The container runtime against the systemd runtime ({report['date']})",
        "",
        f"`benchmarks/container_bench.py --rounds {args.rounds} --seconds {args.seconds}`: one Debian 13 container, "
        f"the example app, wrk -c{args.connections} through nginx (TLS), rounds alternating the runtimes.",
        "",
        "| | systemd runtime | container runtime | ratio |",
        "|---|---|---|---|",
        f"| requests/s (median, spread) | {spread(systemd, 'rps', '.0f')} | {spread(container, 'rps', '.0f')} "
        f"| **{report['rps_ratio']}** |",
        f"| requests/s, container/systemd per round (median) | | {', '.join(map(str, report['rps_round_ratios']))} "
        f"| **{report['rps_paired_ratio']}** |",
        f"| app RSS (gunicorn), KiB | {systemd['app_rss_kib']:.0f} | {container['app_rss_kib']:.0f} | |",
        f"| the runtime's own processes, KiB | {systemd['runtime_rss_kib']:.0f} | {container['runtime_rss_kib']:.0f} "
        f"| **{report['runtime_rss_share']}** of the app |",
        f"| socket errors, non-2xx | {systemd['socket_errors']}, {systemd['non_2xx']} "
        f"| {container['socket_errors']}, {container['non_2xx']} | |",
        "",
        f"Image layers on the base ({report['base_bytes']:,} bytes):",
        "",
        "| bytes | layer |",
        "|---|---|",
        *[f"| {layer['bytes']:,} | `{layer['created_by']}` |" for layer in report["image_layers"]],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
