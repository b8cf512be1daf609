"""Sample every process's command line and environment until a stop file appears, and report
which ones held a secret: the proof that a credential reached no process's argv or environment
(both are readable through /proc, argv by every local user).

    python3 process_watch.py --secret-file FILE [--secret-file FILE ...] --mark REGEX --stop FILE --out FILE
        [--max-seconds 300] [--track ARGV]

Each --secret-file holds one secret (a token, and e.g. the base64 of user:token as an HTTP header
carries it). --mark is a regular expression searched in each raw command line (its words end in
NUL: \\x00) that the watcher must have matched, the short-lived processes the test is about, so a
watcher that sampled too slowly cannot pass by seeing nothing. --track ARGV records, for each
process whose command line is exactly ARGV (words joined by spaces), the user it ran as and its
cgroup. tests/tools/stack.py's watch_processes runs it in a container.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time


def read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # From a file: on the command line the secret would be in the watcher's own argv.
    parser.add_argument("--secret-file", required=True, action="append")
    parser.add_argument("--mark", required=True)
    parser.add_argument("--stop", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--track", default=None)
    args = parser.parse_args()
    secrets = [read(path).strip() for path in args.secret_file]
    for path, secret in zip(args.secret_file, secrets):
        if not secret:
            raise SystemExit(f"{path}: no secret to look for")
    mark = re.compile(args.mark.encode())
    me = str(os.getpid())
    leaks: dict[str, str] = {}
    marked: set[str] = set()
    tracked: dict[str, dict] = {}
    samples = 0
    deadline = time.monotonic() + args.max_seconds
    while not os.path.exists(args.stop) and time.monotonic() < deadline:
        samples += 1
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid == me:
                continue
            argv = read(f"/proc/{pid}/cmdline")
            text = argv.replace(b"\0", b" ").decode("utf-8", "replace").strip()
            if mark.search(argv):
                marked.add(text)
            if args.track and text == args.track and pid not in tracked:
                status = read(f"/proc/{pid}/status").decode("utf-8", "replace")
                uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), None)
                cgroup = read(f"/proc/{pid}/cgroup").decode("utf-8", "replace").strip()
                tracked[pid] = {"uid": int(uid) if uid else None, "cgroup": cgroup}
            for kind in ("cmdline", "environ"):
                data = argv if kind == "cmdline" else read(f"/proc/{pid}/environ")
                if any(secret in data for secret in secrets):
                    leaks[f"{pid}/{kind}"] = argv.replace(b"\0", b" ").decode("utf-8", "replace")[:300]
        time.sleep(0.005)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump({"samples": samples, "leaks": leaks, "marked": sorted(marked), "tracked": tracked}, out)


if __name__ == "__main__":
    main()
