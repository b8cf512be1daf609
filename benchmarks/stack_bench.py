"""Benchmark the deployed stack against the app's own ceiling, in one run (make bench).

Deploys the bundled example app with site.yml into a fresh systemd container (or reuses one
with --reuse), then measures from inside the container, so traffic never leaves it:

  (a) bare gunicorn, started by hand on 127.0.0.1 with the best settings and the deployed
      worker count: the app's ceiling;
  (b) the deployed gunicorn: the live slot's own unit and gunicorn_conf.py, started as a third
      instance (<app>@bench) whose only difference is a TCP bind, since wrk cannot dial a unix socket;
  (c) the deployed stack: nginx with TLS and keep-alive, proxying to the live slot's socket;
  (d) nginx answering by itself with TLS (a `return 200` server): the proxy's ceiling;
  (e) first converge vs no-op re-run of site.yml;
  (f) latency and failed requests while a code change deploys under a steady load;
  (g) a worker-count sweep (1, cores, 2 x cores + 1) of async workers, direct and through nginx;
  plus levers (gunicorn settings measured against the deployed ones), memory (RSS) and disk.

Every configuration runs once per round, rounds alternate the configurations (machines are
noisy, so ratios come from one run), and each load run is bounded by wrk's -d. Results: a
markdown table on stdout and in benchmarks/results/, the raw figures beside it as JSON.
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
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / ".cache" / "bench"
SERVER_NAME = "api.example.test"  # nginx_server_name's default
BARE_PORT, BENCH_SLOT_PORT = 9001, 9002
NGINX_ALONE_PORT, NGINX_TO_BENCH_SLOT_PORT, NGINX_TO_BARE_PORT = 8443, 8444, 8445


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kwargs)


class Container:
    """A systemd container from the test image, driven with docker exec."""

    def __init__(self, name: str) -> None:
        self.name = name

    def sh(self, script: str, check: bool = True, timeout: float = 600) -> str:
        proc = subprocess.run(
            ["docker", "exec", self.name, "bash", "-ec", script],
            check=False,
            text=True,
            capture_output=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"in {self.name}: {script.strip()[:200]}\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def put(self, text: str, path: str, mode: str = "0644") -> None:
        with tempfile.NamedTemporaryFile("w", delete=False) as handle:
            handle.write(text)
        try:
            run(["docker", "cp", handle.name, f"{self.name}:{path}"], capture_output=True)
        finally:
            os.unlink(handle.name)
        self.sh(f"chmod {mode} {path}")


# ---------------------------------------------------------------------------- deployment


def save_results(kind: str, markdown: str, data: dict) -> None:
    """Print the table and keep it with the raw figures in benchmarks/results/<kind>-<UTC stamp>.{md,json}."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{kind}-{stamp}.md").write_text(markdown)
    (RESULTS / f"{kind}-{stamp}.json").write_text(json.dumps(data, indent=1, default=list) + "\n")
    print(markdown)
    log(f"written to benchmarks/results/{kind}-{stamp}.md")


def start_container(name: str, distro: str, tmpfs: tuple[str, ...] = ()) -> Container:
    """`tmpfs`: more tmpfs mounts (path[:options]) besides /run, /run/lock and /tmp."""
    run(["docker", "rm", "-f", name], capture_output=True)
    image = f"pyops-fastapi-{distro}:latest"
    run(
        [
            "docker", "run", "-d", "--name", name, "--hostname", name,
            "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
            *(arg for mount in tmpfs for arg in ("--tmpfs", mount)),
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "--cgroupns", "host",
            # As in Molecule: systemd applies the units' mount sandbox only with CAP_SYS_ADMIN.
            "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
            "--add-host", f"{SERVER_NAME}:127.0.0.1",
            image, "/lib/systemd/systemd",
        ],
        capture_output=True,
    )  # fmt: skip
    box = Container(name)
    for _attempt in range(60):
        state = box.sh("systemctl is-system-running || true", check=False).strip()
        if state in ("running", "degraded"):
            return box
        time.sleep(1)
    raise RuntimeError(f"systemd in {name} did not come up")


def write_inventory(name: str, app_dir: Path) -> tuple[Path, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    inventory = CACHE / "hosts.yml"
    inventory.write_text(
        "fastapi:\n"
        "  hosts:\n"
        f"    {name}:\n"
        "      ansible_connection: community.docker.docker\n"
        "      app_source: local\n"
        f"      app_source_path: {app_dir}\n"
        "      certbot_mode: selfsigned  # no ACME server here; every other setting is a role default\n"
    )
    secrets = CACHE / "secrets.yml"
    if not secrets.exists():
        secrets.write_text(f'app_secret_key: "{random.token_urlsafe(48)}"\n')
        secrets.chmod(0o600)
    return inventory, secrets


def converge(inventory: Path, secrets: Path, label: str, tree: Path = ROOT) -> dict:
    """Run site.yml once, from tree with tree's collection (this checkout by default); return its
    wall time and the recap counts."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(tree / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(tree / "collections"),
        ANSIBLE_NOCOLOR="1",
    )
    log_file = CACHE / f"converge-{label}.log"
    started = time.monotonic()
    with log_file.open("w") as out:
        proc = subprocess.run(
            ["ansible-playbook", "-i", str(inventory), "-e", f"@{secrets}", str(tree / "site.yml")],
            check=False,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tree,
        )
    seconds = time.monotonic() - started
    text = log_file.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"site.yml ({label}) failed, see {log_file}")
    recap = re.search(r"ok=(\d+)\s+changed=(\d+).*?skipped=(\d+)", text.split("PLAY RECAP")[-1])
    ok, changed, skipped = (int(value) for value in recap.groups())
    return {"seconds": round(seconds, 1), "ok": ok, "changed": changed, "skipped": skipped}


# ---------------------------------------------------------------------------- measuring


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * UNITS[unit]


def parse_wrk(text: str) -> dict:
    if "Requests/sec" not in text:
        raise RuntimeError(f"wrk printed no result:\n{text}")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "p50_ms": to_ms(re.search(r"\s50%\s+(\S+)", text).group(1)),
        "p99_ms": to_ms(re.search(r"\s99%\s+(\S+)", text).group(1)),
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),
        "socket_errors": sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def wrk(box: Container, url: str, connections: int, seconds: int) -> dict:
    # One wrk thread: the client shares the 2 cores with the server, as in the figures.
    out = box.sh(
        f"wrk -t1 -c{connections} -d{seconds}s --timeout 5s --latency -H 'Host: {SERVER_NAME}' {url}",
        timeout=seconds + 60,
    )
    return parse_wrk(out)


def summarize(samples: list[dict]) -> dict:
    """Median and spread (min-max) of each figure over the rounds; errors are summed."""
    result = {"rounds": len(samples)}
    for key in ("rps", "p50_ms", "p99_ms"):
        values = [sample[key] for sample in samples]
        result[key] = statistics.median(values)
        result[key + "_spread"] = (min(values), max(values))
    for key in ("socket_errors", "non_2xx", "requests"):
        result[key] = sum(sample[key] for sample in samples)
    return result


def rss_mb(box: Container, unit: str) -> float:
    """Summed RSS of a unit's main process and its children (gunicorn's or nginx's master and workers)."""
    out = box.sh(
        f"pid=$(systemctl show -p MainPID --value {unit}); "
        'if [ "$pid" != 0 ]; then ps -o rss= --pid $pid --ppid $pid; fi',
        check=False,
    )
    return round(sum(int(line) for line in out.split()) / 1024, 1)


def app_rss_mb(box: Container, app: str) -> float:
    """The app's memory: every slot instance that runs (two while a switch drains)."""
    units = box.sh(f"systemctl list-units --state=running --plain --no-legend '{app}@*.service'", check=False)
    names = [line.split()[0] for line in units.splitlines() if line.strip()]
    return round(sum(rss_mb(box, unit) for unit in names if not unit.endswith("@bench.service")), 1)


# ---------------------------------------------------------------------------- the pieces under test


class Stack:
    """What site.yml deployed, read from the host, and the extra servers the benchmark adds."""

    def __init__(self, box: Container) -> None:
        self.box = box
        self.base = box.sh("ls -d /opt/*/slots | head -1").strip().rsplit("/slots", 1)[0]
        self.app = os.path.basename(self.base)
        self.live_slot = box.sh(f"readlink {self.base}/slots/live").strip().rstrip("/").rsplit("/", 1)[-1]
        self.live_dir = f"{self.base}/slots/{self.live_slot}"
        self.release = box.sh(f"readlink -f {self.live_dir}/release").strip()
        conf = box.sh(f"cat {self.live_dir}/gunicorn_conf.py")
        self.module = json.loads(re.search(r"^wsgi_app = (.+)$", conf, re.M).group(1))
        self.workers = int(re.search(r"^workers = (\d+)$", conf, re.M).group(1))
        self.cores = int(box.sh("nproc").strip())

    def install_wrk(self) -> None:
        self.box.sh(
            "command -v wrk >/dev/null || { apt-get update -qq && "
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }",
            timeout=300,
        )

    def start_bare(self, workers: int) -> None:
        """(a): the release's own venv, by hand: no access log, no recycling, no systemd sandbox."""
        self.box.sh("systemctl stop pyops-bench-bare; systemctl reset-failed pyops-bench-bare", check=False)
        self.box.sh(
            f"systemd-run --quiet --unit pyops-bench-bare --uid {self.app} --gid {self.app} "
            f"-p WorkingDirectory={self.release} -p EnvironmentFile={self.live_dir}/env "
            f"{self.release}/.venv/bin/gunicorn --workers {workers} --worker-class uvicorn_worker.UvicornWorker "
            f"--bind 127.0.0.1:{BARE_PORT} --max-requests 0 --keep-alive 75 --log-level warning {self.module}"
        )
        self.wait_http(BARE_PORT)

    def start_bench_slot(self, overrides: dict | None = None) -> None:
        """(b): a third instance of the deployed template unit, from the live slot's files."""
        slot = f"{self.base}/slots/bench"
        lines = [f"bind = [{json.dumps(f'127.0.0.1:{BENCH_SLOT_PORT}')}]"]
        lines += [f"{key} = {value!r}" for key, value in (overrides or {}).items()]
        self.box.sh(
            f"systemctl stop {self.app}@bench 2>/dev/null || true; mkdir -p {slot}; "
            f"ln -sfn {self.release} {slot}/release; cp -p {self.live_dir}/env {slot}/env; "
            f"cp -p {self.live_dir}/gunicorn_conf.py {slot}/gunicorn_conf.py"
        )
        extra = "\n# benchmark: a TCP bind, and the lever under test\n" + "\n".join(lines) + "\n"
        self.box.sh(f"printf %s {shell_quote(extra)} >> {slot}/gunicorn_conf.py")
        self.box.sh(f"systemctl start {self.app}@bench")
        self.wait_http(BENCH_SLOT_PORT)

    def wait_http(self, port: int) -> None:
        probe = f"import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/', timeout=2)"
        self.box.sh(f'for i in $(seq 100); do python3 -c "{probe}" 2>/dev/null && exit 0; sleep 0.2; done; exit 1')

    def add_nginx_servers(self) -> None:
        """(d) and the proxies of the sweep and the levers: same TLS key pair and proxy settings."""
        site = self.box.sh(f"cat /etc/nginx/sites-enabled/{self.app}.conf")
        cert = re.search(r"^\s*ssl_certificate (\S+);", site, re.M).group(1)
        key = re.search(r"^\s*ssl_certificate_key (\S+);", site, re.M).group(1)
        tls = f"ssl_certificate {cert}; ssl_certificate_key {key}; server_name {SERVER_NAME};"
        proxy = (
            'proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; '
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme;"
        )
        conf = f"""# pyops.fastapi benchmark servers (benchmarks/stack_bench.py), loopback only
upstream pyops_bench_slot {{ server 127.0.0.1:{BENCH_SLOT_PORT}; keepalive 32; }}
upstream pyops_bench_bare {{ server 127.0.0.1:{BARE_PORT}; keepalive 32; }}
server {{
    listen 127.0.0.1:{NGINX_ALONE_PORT} ssl; {tls}
    access_log /var/log/nginx/pyops-bench.access.log;
    location / {{ default_type application/json; return 200 '{{"message":"nginx alone"}}'; }}
}}
server {{
    listen 127.0.0.1:{NGINX_TO_BENCH_SLOT_PORT} ssl; {tls} {proxy}
    access_log /var/log/nginx/pyops-bench.access.log;
    location / {{ proxy_pass http://pyops_bench_slot; }}
}}
server {{
    listen 127.0.0.1:{NGINX_TO_BARE_PORT} ssl; {tls} {proxy}
    access_log /var/log/nginx/pyops-bench.access.log;
    location / {{ proxy_pass http://pyops_bench_bare; }}
}}
"""
        self.box.put(conf, "/etc/nginx/conf.d/pyops-bench.conf")
        self.box.sh("nginx -t -q && systemctl reload nginx && sleep 1")


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


# ---------------------------------------------------------------------------- the run


def log_sample(round_no: int, label: str, sample: dict) -> None:
    log(
        f"round {round_no} {label}: {sample['rps']:.0f} req/s, p99 {sample['p99_ms']:.1f} ms, "
        f"socket errors {sample['socket_errors']}, non-2xx {sample['non_2xx']}"
    )


def measure_grid(box: Container, configs: dict[str, str], rounds: int, seconds: int) -> dict:
    """(a)-(d) at c=32 and c=256; every round runs every configuration once."""
    samples: dict[str, list[dict]] = {}
    for round_no in range(1, rounds + 1):
        for connections in (32, 256):
            for label, url in configs.items():
                sample = wrk(box, url, connections, seconds)
                samples.setdefault(f"{label}@{connections}", []).append(sample)
                log_sample(round_no, f"c={connections} {label}", sample)
    return {key: summarize(value) for key, value in samples.items()}


def measure_levers(box: Container, stack: Stack, rounds: int, seconds: int) -> dict:
    """The deployed gunicorn with one setting changed (the guide's), direct and through nginx."""
    levers = {
        "deployed settings": {},
        "max_requests=1000, jitter 50": {"max_requests": 1000, "max_requests_jitter": 50},
        "access log to the journal": {"accesslog": "-"},
    }
    urls = {
        "direct": f"http://127.0.0.1:{BENCH_SLOT_PORT}/",
        "nginx": f"https://{SERVER_NAME}:{NGINX_TO_BENCH_SLOT_PORT}/",
    }
    samples: dict[str, list[dict]] = {}
    for round_no in range(1, rounds + 1):
        for label, overrides in levers.items():
            stack.start_bench_slot(overrides)
            for path, url in urls.items():
                sample = wrk(box, url, 32, seconds)
                samples.setdefault(f"{label}|{path}", []).append(sample)
                log_sample(round_no, f"lever {label} {path}", sample)
    stack.start_bench_slot()
    return {key: summarize(value) for key, value in samples.items()}


def measure_sweep(box: Container, stack: Stack, rounds: int, seconds: int) -> dict:
    """(g): bare gunicorn with 1, cores and 2 x cores + 1 async workers, c=256."""
    urls = {"direct": f"http://127.0.0.1:{BARE_PORT}/", "nginx": f"https://{SERVER_NAME}:{NGINX_TO_BARE_PORT}/"}
    samples: dict[str, list[dict]] = {}
    for round_no in range(1, rounds + 1):
        for workers in sorted({1, stack.cores, 2 * stack.cores + 1}):
            stack.start_bare(workers)
            for path, url in urls.items():
                sample = wrk(box, url, 256, seconds)
                sample["rss_mb"] = rss_mb(box, "pyops-bench-bare.service")
                samples.setdefault(f"{workers}|{path}", []).append(sample)
                log_sample(round_no, f"workers={workers} {path}", sample)
    return {
        key: {**summarize(value), "rss_mb": statistics.median(sample["rss_mb"] for sample in value)}
        for key, value in samples.items()
    }


def deploy_under_load(box: Container, stack: Stack, inventory: Path, secrets: Path, app_dir: Path) -> dict:
    """(f): a code change deploys while a steady load runs through nginx."""
    box.put((ROOT / "tests" / "tools" / "loadgen.py").read_text(), "/root/loadgen.py")
    load_cmd = (
        f"python3 /root/loadgen.py --name {SERVER_NAME} --connections 4 --rate 50 --max-seconds 600 "
        "--stop-file /root/load.stop --out /root/load.json"
    )
    # A baseline window at the same rate, then the deploy window.
    windows = {}
    for label in ("steady", "deploy"):
        box.sh("rm -f /root/load.stop /root/load.json")
        box.sh(f"nohup {load_cmd} >/dev/null 2>&1 &")
        time.sleep(2)
        peak_rss = 0.0
        if label == "steady":
            time.sleep(20)
            peak_rss = app_rss_mb(box, stack.app)
        else:
            main_py = app_dir / "main.py"
            main_py.write_text(main_py.read_text() + f"\n# benchmark code change {time.time()}\n")
            started = time.monotonic()
            env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
            proc = subprocess.Popen(
                ["ansible-playbook", "-i", str(inventory), "-e", f"@{secrets}", str(ROOT / "site.yml")],
                stdout=(CACHE / "converge-deploy-under-load.log").open("w"),
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
            while proc.poll() is None:  # sample the app's memory while both slots may run
                peak_rss = max(peak_rss, app_rss_mb(box, stack.app))
                time.sleep(1)
            if proc.returncode != 0:
                raise RuntimeError("the deploy under load failed, see .cache/bench/converge-deploy-under-load.log")
            windows["deploy_seconds"] = round(time.monotonic() - started, 1)
            time.sleep(2)
        box.sh("touch /root/load.stop; for i in $(seq 100); do test -s /root/load.json && exit 0; sleep 0.2; done")
        result = json.loads(box.sh("cat /root/load.json"))
        result["peak_gunicorn_rss_mb"] = peak_rss
        windows[label] = result
    return windows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--container", default="pyops-fastapi-bench")
    parser.add_argument("--distro", default="debian12")
    parser.add_argument("--rounds", type=int, default=3)
    # Every run opens its connections at once (TLS handshakes included); 8 s keeps that start
    # from dominating the p99 of a run.
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk run")
    parser.add_argument("--reuse", action="store_true", help="measure the stack already in --container (skips e and f)")
    parser.add_argument("--keep", action="store_true", help="leave the container running")
    args = parser.parse_args()

    run([str(ROOT / "scripts" / "ensure-docker.sh")], capture_output=True)
    run([str(ROOT / "scripts" / "build-image.sh"), args.distro])
    CACHE.mkdir(parents=True, exist_ok=True)
    app_dir = CACHE / "app"
    if not args.reuse:
        shutil.rmtree(app_dir, ignore_errors=True)
        shutil.copytree(ROOT / "roles" / "app" / "files" / "example_app", app_dir)
    inventory, secrets = write_inventory(args.container, app_dir)
    report: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}

    box = Container(args.container)
    try:
        if not args.reuse:
            log(f"starting {args.container} and deploying the example app (first converge)")
            box = start_container(args.container, args.distro)
            report["first_converge"] = converge(inventory, secrets, "first")
            log("no-op re-run")
            report["noop_rerun"] = converge(inventory, secrets, "noop")
        stack = Stack(box)
        stack.install_wrk()
        report["deployed"] = {"workers": stack.workers, "cores": stack.cores, "module": stack.module}
        report["memory_mb"] = {
            "gunicorn_rss": app_rss_mb(box, stack.app),
            "nginx_rss": rss_mb(box, "nginx.service"),
        }
        report["disk_mb"] = round(int(box.sh(f"du -sxk {stack.base} | cut -f1")) / 1024, 1)

        stack.start_bare(stack.workers)
        stack.start_bench_slot()
        stack.add_nginx_servers()
        log("a-d: the ceilings and the deployed stack")
        configs = {
            "a_bare_gunicorn": f"http://127.0.0.1:{BARE_PORT}/",
            "b_deployed_gunicorn": f"http://127.0.0.1:{BENCH_SLOT_PORT}/",
            "c_deployed_stack": f"https://{SERVER_NAME}:443/",
            "d_nginx_alone": f"https://{SERVER_NAME}:{NGINX_ALONE_PORT}/",
        }
        report["grid"] = measure_grid(box, configs, args.rounds, args.seconds)
        log("levers: the deployed gunicorn with one setting changed")
        report["levers"] = measure_levers(box, stack, args.rounds, args.seconds)
        log("g: worker sweep of bare gunicorn, direct and through nginx")
        report["sweep"] = measure_sweep(box, stack, args.rounds, args.seconds)
        box.sh(
            f"systemctl stop pyops-bench-bare {stack.app}@bench; rm -rf {stack.base}/slots/bench; "
            "rm -f /etc/nginx/conf.d/pyops-bench.conf; systemctl reload nginx"
        )

        if not args.reuse:
            log("f: a code change deploys under a steady load (4 connections x 50 req/s)")
            report["deploy_under_load"] = deploy_under_load(box, stack, inventory, secrets, app_dir)
            # Same requirements: the new release shares the virtualenv, only the code is added.
            report["disk_mb_after_code_change"] = round(int(box.sh(f"du -sxk {stack.base} | cut -f1")) / 1024, 1)
    finally:
        if not args.keep:
            run(["docker", "rm", "-f", args.container], capture_output=True)

    save_results("stack", render(report), report)
    return 0


# ---------------------------------------------------------------------------- the report


def spread(entry: dict, key: str, fmt: str) -> str:
    low, high = entry[key + "_spread"]
    return f"{format(entry[key], fmt)} ({format(low, fmt)}-{format(high, fmt)})"


def row(*cells) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def split_table(entries: dict, first: str, last: str, last_key: str) -> list[str]:
    """Rows of figures keyed "<first>|<path>": req/s, p99, socket errors and one more column."""
    lines = [row(first, "path", "req/s", "p99 ms", "socket errors", last), row(*["---"] * 6)]
    for key, entry in entries.items():
        label, path = key.split("|")
        rps, p99 = spread(entry, "rps", ".0f"), spread(entry, "p99_ms", ".1f")
        lines.append(row(label, path, rps, p99, entry["socket_errors"], entry[last_key]))
    return lines


def render(report: dict) -> str:
    dep, grid = report["deployed"], report["grid"]
    lines = [
        f"# Stack benchmark, {report['date']}",
        "",
        f"Example app `{dep['module']}` with the role defaults: {dep['workers']} workers on {dep['cores']} cores. "
        f"wrk -t1 inside the container, GET /, median (min-max) of {grid['a_bare_gunicorn@32']['rounds']} rounds.",
        "",
        row("config", "c", "req/s", "p50 ms", "p99 ms", "socket errors", "non-2xx", "req/s vs (a)", "p99 vs (a)"),
        row(*["---"] * 9),
    ]
    for connections in (32, 256):
        base = grid[f"a_bare_gunicorn@{connections}"]
        for label in ("a_bare_gunicorn", "b_deployed_gunicorn", "c_deployed_stack", "d_nginx_alone"):
            entry = grid[f"{label}@{connections}"]
            lines.append(
                row(
                    f"({label[0]}) {label[2:].replace('_', ' ')}",
                    connections,
                    spread(entry, "rps", ".0f"),
                    spread(entry, "p50_ms", ".1f"),
                    spread(entry, "p99_ms", ".1f"),
                    entry["socket_errors"],
                    entry["non_2xx"],
                    f"{entry['rps'] / base['rps']:.2f}",
                    f"{entry['p99_ms'] / base['p99_ms']:.2f}",
                )
            )
    lines += ["", "## Levers: the deployed gunicorn with one setting changed (c=32)", ""]
    lines += split_table(report["levers"], "setting", "non-2xx", "non_2xx")
    lines += ["", "## Worker sweep (g): bare gunicorn, Uvicorn workers, c=256", ""]
    lines += split_table(report["sweep"], "workers", "RSS MB", "rss_mb")
    memory = report["memory_mb"]
    lines += ["", "## Memory and disk", ""]
    lines.append(
        f"gunicorn RSS {memory['gunicorn_rss']} MB (live slot: master + workers), nginx RSS {memory['nginx_rss']} MB, "
        f"app base directory {report['disk_mb']} MB on disk"
        + (
            f", {report['disk_mb_after_code_change']} MB after a code change."
            if "disk_mb_after_code_change" in report
            else "."
        )
    )
    if "first_converge" in report:
        first, noop = report["first_converge"], report["noop_rerun"]
        lines += ["", "## Converge time (e)", "", row("run", "seconds", "ok", "changed", "skipped"), row(*["---"] * 5)]
        for label, entry in (("first converge", first), ("no-op re-run", noop)):
            lines.append(row(label, entry["seconds"], entry["ok"], entry["changed"], entry["skipped"]))
        lines.append(f"\nno-op / first converge = {noop['seconds'] / first['seconds']:.2f}")
    if "deploy_under_load" in report:
        windows = report["deploy_under_load"]
        lines += ["", "## A code change deploys under load (f), 4 connections x 50 req/s through nginx", ""]
        lines.append(f"The deploy (site.yml) took {windows['deploy_seconds']} s.\n")
        lines.append(
            row(
                "window",
                "requests",
                "failed",
                "stale retries",
                "p50 ms",
                "p99 ms",
                "max ms",
                "releases",
                "peak app RSS MB",
            )
        )
        lines.append(row(*["---"] * 9))
        for label in ("steady", "deploy"):
            entry = windows[label]
            latency = entry["latency_ms"]
            lines.append(
                row(
                    label,
                    entry["requests"],
                    entry["failed"],
                    entry["stale_retries"],
                    latency["p50"],
                    latency["p99"],
                    latency["max"],
                    len(entry["releases"]),
                    entry["peak_gunicorn_rss_mb"],
                )
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
