"""Deploy durations of two versions of the collection, in one run (make bench).

Each round starts a fresh systemd container per version (the Debian 12 test image, as
stack_bench.py does), and runs that version's site.yml three times with the bundled example app:

  first     the first converge of an empty host;
  noop      the same run again, nothing changed (its task count, ok + changed in the recap, is the
            number of tasks that did something: module calls and controller steps);
  code      a code-only change (main.py): a new release on the existing virtualenv;
  reqs      a requirements change (one more pinned package): a new virtualenv is built;
  restart   then the host restarts (the container halted by systemd and started again): the time
            from its PID 1's start to the first 200 through nginx (host_to_200) and from the live
            slot's start (app_to_200, the app's own start-up), read by tests/tools/first_200.py
            in the container. Target: host_to_200 <= 2 x app_to_200.

The versions are a git revision (--before, default the 0.5.0 commit) checked out into a scratch
worktree, and this working tree (--after). Rounds alternate which version goes first (machines
are noisy), every figure is the median of the rounds, and the ratios after/before are the
result: 0.6.0 runs builds and hooks in transient systemd units, whose cost shows here. Nothing
asserts a timing. Results: a markdown table on stdout and in benchmarks/results/ with the JSON.
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

from stack_bench import (  # noqa: E402
    CACHE,
    ROOT,
    SERVER_NAME,
    converge,
    log,
    run,
    save_results,
    start_container,
    write_inventory,
)

BEFORE = "3d81ab8"  # main at 0.5.0
FIRST_200 = ROOT / "tests" / "tools" / "first_200.py"
STEPS = ("first", "noop", "code", "reqs")
RESTART = ("host_to_200", "app_to_200")


def checkout(revision: str) -> Path:
    """A worktree of revision outside the repository (linters scan the repository), with the
    collection's symlink layout."""
    tree = Path("/var/tmp") / f"pyops-bench-tree-{revision}"
    if not tree.exists():
        run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(tree), revision], capture_output=True)
    return tree


def site(tree: Path, inventory: Path, secrets: Path, label: str, tasks: dict | None = None) -> float:
    """One run of tree's site.yml with tree's collection; its wall time in seconds. With tasks,
    also notes the run's task count (ok + changed) under label's step."""
    result = converge(inventory, secrets, f"deploy-{label}", tree=tree)
    if tasks is not None:
        tasks[label.rsplit("-", 1)[-1]] = result["ok"] + result["changed"]
    return result["seconds"]


def restart_to_first_200(container: str) -> dict:
    """Halt the container's systemd (SIGRTMIN+3, as a shutdown), start it again, and read how long the
    first 200 through nginx took (tests/tools/first_200.py)."""
    run(["docker", "cp", str(FIRST_200), f"{container}:/root/first_200.py"], capture_output=True)
    slot = run(["docker", "exec", container, "readlink", "/opt/fastapi-app/slots/live"], capture_output=True).stdout
    run(["docker", "kill", "--signal", "SIGRTMIN+3", container], capture_output=True)
    run(["docker", "wait", container], capture_output=True, timeout=90)
    run(["docker", "start", container], capture_output=True)
    unit = f"fastapi-app@{slot.strip()}.service"
    probe = run(["docker", "exec", container, "python3", "/root/first_200.py", unit, SERVER_NAME], capture_output=True)
    return json.loads(probe.stdout)


def one_version(name: str, tree: Path, container: str, round_no: int) -> dict:
    app_dir = CACHE / f"app-{name}"
    shutil.rmtree(app_dir, ignore_errors=True)
    shutil.copytree(ROOT / "roles" / "app" / "files" / "example_app", app_dir)
    start_container(container, "debian12")
    inventory, secrets = write_inventory(container, app_dir)
    tasks = {}
    times = {"first": site(tree, inventory, secrets, f"{name}-{round_no}-first")}
    times["noop"] = site(tree, inventory, secrets, f"{name}-{round_no}-noop", tasks)
    main_py = app_dir / "main.py"
    main_py.write_text(main_py.read_text() + f"\n# benchmark code change {time.time()}\n")
    times["code"] = site(tree, inventory, secrets, f"{name}-{round_no}-code")
    requirements = app_dir / "requirements.txt"
    requirements.write_text(requirements.read_text() + "six==1.17.0\n")
    times["reqs"] = site(tree, inventory, secrets, f"{name}-{round_no}-reqs")
    restart = restart_to_first_200(container)
    times["host_to_200"], times["app_to_200"] = restart["host_to_200"], restart["app_to_200"]
    run(["docker", "rm", "-f", container], capture_output=True)
    log(f"round {round_no} {name}: " + ", ".join(f"{step} {times[step]} s" for step in (*STEPS, *RESTART)))
    times["noop_tasks"] = tasks["noop"]
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="git revision to compare with (default: 0.5.0)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--container", default="pyops-fastapi-deploy-bench")
    args = parser.parse_args()

    trees = {"before": checkout(args.before), "after": ROOT}
    samples = {name: [] for name in trees}
    for round_no in range(1, args.rounds + 1):
        order = list(trees) if round_no % 2 else list(reversed(trees))
        for name in order:
            samples[name].append(one_version(name, trees[name], args.container, round_no))

    medians = {
        name: {step: statistics.median([sample[step] for sample in runs]) for step in (*STEPS, *RESTART, "noop_tasks")}
        for name, runs in samples.items()
    }
    ratios = {step: round(medians["after"][step] / medians["before"][step], 2) for step in (*STEPS, "noop_tasks")}
    lines = [
        f"# Deploy durations, {args.before} (before) vs this tree (after), {args.rounds} rounds, medians",
        "",
        "| step | before s | after s | after / before |",
        "|---|---|---|---|",
        *(f"| {step} | {medians['before'][step]} | {medians['after'][step]} | **{ratios[step]}** |" for step in STEPS),
        f"| noop: tasks that ran (ok + changed) | {medians['before']['noop_tasks']} | "
        f"{medians['after']['noop_tasks']} | **{ratios['noop_tasks']}** |",
        "",
        "After a restart of the host: seconds to the first 200 through nginx, from the container's start and",
        "from the live slot's start (the app's own start-up); target host / app <= 2.",
        "",
        "| version | host_to_200 s | app_to_200 s | host / app |",
        "|---|---|---|---|",
        *(
            f"| {name} | {medians[name]['host_to_200']} | {medians[name]['app_to_200']} | "
            f"**{round(medians[name]['host_to_200'] / medians[name]['app_to_200'], 2)}** |"
            for name in trees
        ),
        "",
    ]
    save_results(
        "deploy",
        "\n".join(lines),
        {"before": args.before, "samples": samples, "medians": medians, "ratios": ratios},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
