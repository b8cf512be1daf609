# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How late does a deploy gate notice that the application became ready?

Starts an HTTP server on 127.0.0.1 whose /health always answers 200 and whose /ready answers 503
until a flip moment, then 200. For each trial it runs a one-task playbook with ansible-playbook
(`-i localhost, -c local`, from the repository so ansible.cfg finds the collection), either

  - pyops.fastapi.health_check with its defaults (checks /health then /ready), or
  - the usual idiom: ansible.builtin.uri on /ready with `until`, `retries: 30`, `delay: 5`,

and measures
  - detection lag: when the server answered /ready with its first 200, minus the flip moment;
  - finish lag: when ansible-playbook exited (task reported, play over), minus the flip moment.

The flip happens a given offset after the first request of the trial, so polling has always started.
The offsets are spread evenly over one period of the uri retry loop (`delay` plus the time one uri
task takes, measured between the first two requests of the first uri trial), which samples every
phase of it (a flip at a random moment) instead of a lucky or unlucky one. The module gets the same
offsets.

Run from the repository root (about 100 s with the defaults):
    .venv/bin/python benchmarks/health_check_lag.py [--trials 6] [--delay 5]
Not a test: it prints a table and exits 0 unless a playbook fails.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

MODULE_PLAY = """\
- name: Gate on the application (pyops.fastapi.health_check)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Wait for /health and /ready
      pyops.fastapi.health_check:
        url: "{{ base_url }}"
        wait_timeout: 120
"""

URI_PLAY = """\
- name: Gate on the application (ansible.builtin.uri + until)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Wait for /ready
      ansible.builtin.uri:
        url: "{{ base_url }}/ready"
        status_code: 200
      register: ready
      until: ready.status == 200
      retries: "{{ retries }}"
      delay: "{{ delay }}"
"""


class Flip:
    """State of one trial: /ready turns 200 `offset` seconds after the first request."""

    def __init__(self, offset):
        self.lock = threading.Lock()
        self.offset = offset
        self.first_request = None
        self.flip_at = None
        self.detected_at = None
        self.requests = 0
        self.ready_requests = []

    def answer(self, path):
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            if self.first_request is None:
                self.first_request = now
                self.flip_at = now + self.offset
            if path == "/health":
                return 200, {"status": "ok"}
            if path != "/ready":
                return 404, {"detail": "Not Found"}
            self.ready_requests.append(now)
            if now < self.flip_at:
                return 503, {"status": "starting"}
            if self.detected_at is None:
                self.detected_at = now
            return 200, {"status": "ready"}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        status, body = self.server.flip.answer(self.path)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002  # pylint: disable=redefined-builtin
        pass


def run_trial(server, playbook, offset, extra_vars):
    flip = Flip(offset)
    server.flip = flip
    command = [
        str(BIN / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        str(playbook),
        "-e",
        json.dumps(dict(extra_vars, ansible_python_interpreter=sys.executable)),
    ]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0", no_proxy="127.0.0.1,localhost")
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    finished = time.monotonic()
    if completed.returncode != 0 or flip.detected_at is None:
        sys.exit(f"{playbook.name} failed (rc={completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    return flip.detected_at - flip.flip_at, finished - flip.flip_at, flip.requests, flip.ready_requests


def summarize(name, lags):
    detection = [lag[0] for lag in lags]
    finish = [lag[1] for lag in lags]
    requests = [lag[2] for lag in lags]
    return {
        "name": name,
        "trials": len(lags),
        "mean": statistics.mean(detection),
        "median": statistics.median(detection),
        "max": max(detection),
        "finish": statistics.mean(finish),
        "requests": statistics.mean(requests),
    }


def main():
    parser = argparse.ArgumentParser(description="Detection lag of health_check vs uri+until.")
    parser.add_argument("--trials", type=int, default=6, help="flips per method (default 6)")
    parser.add_argument("--delay", type=float, default=5.0, help="uri+until delay in seconds (default 5)")
    parser.add_argument("--retries", type=int, default=30, help="uri+until retries (default 30)")
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.flip = Flip(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    version = subprocess.run([str(BIN / "ansible"), "--version"], capture_output=True, text=True, check=True)
    print(f"{version.stdout.splitlines()[0]}, Python {sys.version.split()[0]}; server {base_url}")

    rows = []
    offsets = [0.5 * args.delay / args.trials]  # the first uri trial also measures the retry period
    with tempfile.TemporaryDirectory() as tmp:
        plays = {
            f"uri + until (delay {args.delay:g})": (
                Path(tmp, "uri.yml"),
                URI_PLAY,
                {"base_url": base_url, "delay": args.delay, "retries": args.retries},
            ),
            "pyops.fastapi.health_check": (Path(tmp, "module.yml"), MODULE_PLAY, {"base_url": base_url}),
        }
        for name, (playbook, text, extra_vars) in plays.items():
            playbook.write_text(text)
            lags = []
            for index in range(args.trials):
                offset = offsets[index]
                lag = run_trial(server, playbook, offset, extra_vars)
                print(
                    f"  {name:32} flip +{offset:.2f} s: detection lag {lag[0]:.3f} s, finish lag {lag[1]:.3f} s,"
                    f" {lag[2]} requests"
                )
                lags.append(lag)
                if len(offsets) == 1:
                    period = lag[3][1] - lag[3][0]
                    offsets += [(k + 0.5) * period / args.trials for k in range(1, args.trials)]
                    print(
                        f"  (uri retry period {period:.2f} s: delay {args.delay:g} s + one uri task; "
                        f"next flips at +{', +'.join(f'{o:.2f}' for o in offsets[1:])} s)"
                    )
            rows.append(summarize(name, lags))
    server.shutdown()

    print()
    print(
        f"{'method':32} {'trials':>6} {'detect mean':>12} {'median':>8} {'max':>8} {'finish mean':>12} {'requests':>9}"
    )
    for row in rows:
        print(
            f"{row['name']:32} {row['trials']:>6} {row['mean']:>11.3f}s {row['median']:>7.3f}s {row['max']:>7.3f}s"
            f" {row['finish']:>11.3f}s {row['requests']:>9.1f}"
        )
    uri, module = rows
    print()
    print(
        f"uri+until notices readiness {uri['mean'] / module['mean']:.0f}x later on average "
        f"({uri['mean']:.2f} s vs {module['mean']:.3f} s; worst {uri['max']:.2f} s vs {module['max']:.3f} s); "
        f"the playbook finishes {uri['finish'] - module['finish']:.2f} s sooner with health_check."
    )


if __name__ == "__main__":
    main()
