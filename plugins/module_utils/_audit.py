# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Checks of the pyops.fastapi.audit module: a host deployed by pyops.fastapi against the production checklist.

Private to the collection (leading underscore): no compatibility promise outside it.
Standard library only (python3-cryptography, which the nginx and certbot roles install, for the certificate),
so it runs on any managed host's Python 3.9+; the module calls run_audit(cfg) with its options as cfg.

    run_audit(cfg) -> {"checks": [{"id", "title", "passed", "observed"}], "table": [...], "failed_checks": [...], "msg"}

Every probe talks to this host only: nginx on 127.0.0.1 with the public name as Host header and
TLS server name, from 127.0.0.1 or from cfg["outside_address"] (a local address outside the
allow-lists, playing a remote client). Secrets are read from the environment files and searched
for in the logs; no output ever contains them.
"""

from __future__ import annotations

import grp
import gzip
import http.client
import ipaddress
import os
import pwd
import re
import socket
import ssl
import stat
import subprocess
import warnings
from datetime import datetime, timezone

# Mozilla Server Side TLS 5.7/6.0, intermediate: the only TLS 1.2 suites allowed (OpenSSL names).
# Kept here rather than read from the nginx role, so the audit checks the role instead of trusting it.
INTERMEDIATE_TLS12_CIPHERS = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
]
# Half a year, the least max-age the Mozilla Observatory accepts.
HSTS_MIN_AGE = 15768000
SECRET_NAMES = ("SECRET_KEY", "DATABASE_URL")
# Shorter values would match unrelated log text; the app role refuses them unless told otherwise.
SECRET_MIN_SEARCH_LENGTH = 8
TIMEOUT = 10
CHUNK = 1 << 20


class Check:
    """One row of the table: an id, a title, passed or not, and what was observed."""

    def __init__(self, check_id: str, title: str):
        self.id = check_id
        self.title = title
        self.passed = False
        self.observed = ""

    def result(self, passed: bool, observed: str) -> None:
        self.passed = passed
        self.observed = observed

    def as_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "passed": self.passed, "observed": self.observed}


# --- network probes -----------------------------------------------------------------------------


def _connect(cfg: dict, port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT, source_address=(source, 0))


def handshake(cfg: dict, version: str, ciphers: str | None = None) -> dict:
    """One TLS handshake with exactly `version`; {"accepted": bool, ...}. "error" when nothing answered."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        # TLS 1.0/1.1 are deprecated in Python too; offering them is the point of the probe.
        warnings.simplefilter("ignore", DeprecationWarning)
        tls_version = getattr(ssl.TLSVersion, version)
        try:
            # Security level 0, so the client offers what an old configuration might still accept.
            ctx.set_ciphers((ciphers or "ALL:COMPLEMENTOFALL") + ":@SECLEVEL=0")
            ctx.minimum_version = tls_version
            ctx.maximum_version = tls_version
        except (ssl.SSLError, ValueError) as exc:
            return {"accepted": False, "why": f"not offered by this host's OpenSSL ({exc})"}
    try:
        with _connect(cfg, cfg["https_port"]) as sock, ctx.wrap_socket(sock, server_hostname=cfg["server_name"]) as tls:
            return {
                "accepted": True,
                "version": tls.version(),
                "cipher": tls.cipher()[0],
                "der": tls.getpeercert(binary_form=True),
            }
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        if reason == "NO_PROTOCOLS_AVAILABLE" or "no protocols available" in str(exc):
            # nginx links the same OpenSSL: what it cannot offer, nginx cannot accept either.
            return {"accepted": False, "why": "not supported by this host's OpenSSL"}
        return {"accepted": False, "why": reason}
    except OSError as exc:
        return {"accepted": False, "error": f"{type(exc).__name__}: {exc}"}


def request(cfg: dict, path: str, scheme: str = "https", source: str = "127.0.0.1", conn=None):
    """GET path through nginx; returns (status, headers as a lower-case dict, connection)."""
    if conn is None:
        port = cfg["https_port"] if scheme == "https" else cfg["http_port"]
        conn = http.client.HTTPConnection(cfg["server_name"], port, timeout=TIMEOUT)
        sock = _connect(cfg, port, source)
        if scheme == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname=cfg["server_name"])
        conn.sock = sock
    conn.request("GET", path, headers={"Host": cfg["server_name"], "User-Agent": "pyops-fastapi-audit"})
    resp = conn.getresponse()
    resp.read()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    if resp.will_close:
        conn.close()
        conn = None
    return resp.status, headers, conn


def try_request(cfg: dict, path: str, **kwargs):
    """request() that returns (None, {}, reason) when the connection failed or was closed."""
    try:
        status, headers, conn = request(cfg, path, **kwargs)
        if conn is not None:
            conn.close()
        return status, headers, ""
    except (OSError, http.client.HTTPException) as exc:
        return None, {}, f"{type(exc).__name__}: {exc}"


# --- checks -------------------------------------------------------------------------------------


def check_tls(cfg: dict, check: Check) -> dict | None:
    """Protocols per profile, and no TLS 1.2 cipher outside the intermediate list."""
    wanted = {"TLSv1": False, "TLSv1_1": False, "TLSv1_2": cfg["ssl_profile"] == "intermediate", "TLSv1_3": True}
    bad, seen, served = [], [], None
    for version, accept in wanted.items():
        probe = handshake(cfg, version)
        label = version.replace("_", ".")
        if "error" in probe:
            check.result(False, f"no TLS handshake possible: {probe['error']}")
            return None
        seen.append(f"{label} {'accepted' if probe['accepted'] else 'refused'}")
        if probe["accepted"] != accept:
            bad.append(f"{label} {'accepted' if probe['accepted'] else 'refused'}")
        if probe["accepted"] and version in ("TLSv1_2", "TLSv1_3"):
            served = probe
    if cfg["ssl_profile"] == "intermediate":
        # Everything this host's OpenSSL knows except the intermediate list, TLS 1.2 only.
        others = "ALL:COMPLEMENTOFALL:" + ":".join("!" + name for name in INTERMEDIATE_TLS12_CIPHERS)
        probe = handshake(cfg, "TLSv1_2", others)
        if probe.get("accepted"):
            bad.append(f"non-intermediate cipher {probe['cipher']} accepted")
        else:
            seen.append("non-intermediate TLS 1.2 ciphers refused")
    check.result(not bad, "; ".join(bad) if bad else ", ".join(seen))
    return served


def _cert_times(cert) -> tuple[datetime, datetime]:
    # cryptography 42+ has the *_utc properties; Debian 12's 38 only the naive UTC ones.
    before = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before.replace(tzinfo=timezone.utc)
    after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=timezone.utc)
    return before, after


def _name_matches(name: str, pattern: str) -> bool:
    name, pattern = name.lower().rstrip("."), pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return "." in name and name.split(".", 1)[1] == pattern[2:]
    return name == pattern


def check_certificate(cfg: dict, served: dict | None, check: Check, renewal: Check) -> None:
    if served is None:
        check.result(False, "no certificate: no TLS 1.2 or 1.3 handshake succeeded")
        renewal.result(False, "no certificate to renew")
        return
    try:
        from cryptography import x509  # noqa: PLC0415 - installed by the nginx and certbot roles
    except ImportError:
        check.result(False, "python3-cryptography is missing on the host (the nginx role installs it)")
        renewal.result(False, "certificate not readable")
        return
    cert = x509.load_der_x509_certificate(served["der"])
    before, after = _cert_times(cert)
    now = datetime.now(timezone.utc)
    days_left = (after - now).total_seconds() / 86400
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    except x509.ExtensionNotFound:
        names = []
    problems = []
    if now < before:
        problems.append(f"not valid before {before:%Y-%m-%d}")
    if days_left <= 0:
        problems.append(f"expired on {after:%Y-%m-%d}")
    elif days_left <= cfg["certificate_min_days"]:
        problems.append(f"expires in {days_left:.0f} days (minimum {cfg['certificate_min_days']})")
    if not any(_name_matches(cfg["server_name"], pattern) for pattern in names):
        problems.append(f"{cfg['server_name']} not among its names {names}")
    summary = f"{', '.join(names)}; valid until {after:%Y-%m-%d} ({days_left:.0f} days)"
    check.result(not problems, "; ".join(problems) if problems else summary)
    check_renewal(cfg, days_left, renewal)


def _systemctl(*args: str) -> str:
    proc = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)  # noqa: S603,S607
    return proc.stdout.strip() or proc.stderr.strip()


def check_renewal(cfg: dict, days_left: float, check: Check) -> None:
    if cfg["certbot_mode"] == "acme":
        enabled = _systemctl("is-enabled", "certbot.timer")
        active = _systemctl("is-active", "certbot.timer")
        conf = os.path.isfile(cfg["renewal_conf"])
        passed = enabled == "enabled" and active == "active" and conf
        check.result(
            passed,
            f"certbot.timer {enabled or 'missing'}/{active or 'missing'}; "
            f"{cfg['renewal_conf']} {'present' if conf else 'missing'}",
        )
        return
    # selfsigned: no timer. Every site.yml run replaces the certificate once it expires within
    # certbot_renew_before_days; less left than that means a run is overdue.
    due = cfg["renew_before_days"]
    if days_left > due:
        check.result(True, f"selfsigned: replaced by site.yml within {due} days of expiry; {days_left:.0f} days left")
    else:
        check.result(False, f"selfsigned: {days_left:.0f} days left, a site.yml run is overdue (renews at {due} days)")


def check_redirect(cfg: dict, check: Check) -> None:
    path = "/pyops-audit?probe=1"
    port = "" if cfg["https_port"] == 443 else f":{cfg['https_port']}"
    expected = f"https://{cfg['server_name']}{port}{path}"
    status, headers, error = try_request(cfg, path, scheme="http")
    if status is None:
        check.result(False, f"HTTP port {cfg['http_port']}: {error}")
        return
    location = headers.get("location", "")
    check.result(status in (301, 308) and location == expected, f"{status} -> {location or '(no Location)'}")


def check_headers(cfg: dict, check: Check) -> None:
    status, headers, error = try_request(cfg, "/")
    if status is None:
        check.result(False, error)
        return
    problems, present = [], []
    hsts = headers.get("strict-transport-security", "")
    age = re.search(r"max-age=\"?(\d+)", hsts)
    if not age or int(age.group(1)) < HSTS_MIN_AGE:
        problems.append(f"Strict-Transport-Security {'max-age below ' + str(HSTS_MIN_AGE) if hsts else 'missing'}")
    else:
        present.append(f"HSTS max-age={age.group(1)}")
    if headers.get("x-content-type-options", "").lower() != "nosniff":
        problems.append("X-Content-Type-Options nosniff missing")
    csp = headers.get("content-security-policy", "")
    if not csp:
        problems.append("Content-Security-Policy missing")
    frame = headers.get("x-frame-options", "").upper()
    if frame not in ("DENY", "SAMEORIGIN") and "frame-ancestors" not in csp:
        problems.append("X-Frame-Options or CSP frame-ancestors missing")
    referrer = headers.get("referrer-policy", "")
    if not referrer or referrer.lower() == "unsafe-url":
        problems.append(f"Referrer-Policy {'unsafe-url' if referrer else 'missing'}")
    present += [f"XCTO {headers.get('x-content-type-options')}", f"XFO {frame or '-'}", f"Referrer-Policy {referrer}"]
    if csp:
        present.append("CSP")
    check.result(not problems, "; ".join(problems) if problems else ", ".join(present))


def live_slot(cfg: dict) -> str | None:
    try:
        slot = os.path.basename(os.readlink(cfg["live_link"]))
    except OSError:
        return None
    return slot if slot in cfg["slots"] else None


def check_exposure(cfg: dict, check: Check) -> None:
    slot = live_slot(cfg)
    if slot is None:
        check.result(False, f"no live slot ({cfg['live_link']} is missing)")
        return
    unit = cfg["slots"][slot]["unit"]
    proc = subprocess.run(  # noqa: S603
        ["systemd-analyze", "security", "--no-pager", unit],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout)
    if not found:
        check.result(False, f"{unit}: systemd-analyze security gave no score ({proc.stderr.strip()[-200:]})")
        return
    score = float(found.group(1))
    check.result(score <= cfg["exposure_max"], f"{unit}: {score} (maximum {cfg['exposure_max']})")


def env_files(cfg: dict) -> list[str]:
    paths = [cfg["env_file"]]
    paths += [os.path.join(slot["dir"], "env") for slot in sorted(cfg["slots"].values(), key=lambda slot: slot["dir"])]
    return paths


def check_env_files(cfg: dict, check: Check) -> None:
    try:
        app_gid = grp.getgrnam(cfg["app_group"]).gr_gid
    except KeyError:
        app_gid = None
    seen, problems = [], []
    for path in env_files(cfg):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if path == cfg["env_file"]:
                problems.append(f"{path} missing")
            continue
        owner = pwd.getpwuid(st.st_uid).pw_name if _uid_known(st.st_uid) else str(st.st_uid)
        group = grp.getgrgid(st.st_gid).gr_name if _gid_known(st.st_gid) else str(st.st_gid)
        mode = stat.S_IMODE(st.st_mode)
        text = f"{path} {owner}:{group} {mode:04o}"
        if st.st_uid != 0 or st.st_gid not in (0, app_gid) or mode not in (0o600, 0o640):
            problems.append(text)
        else:
            seen.append(text)
    check.result(not problems, "; ".join(problems) if problems else "; ".join(seen))


def _uid_known(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _gid_known(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
    except KeyError:
        return False
    return True


def _tcp_listeners() -> dict:
    """Listening TCP sockets of this network namespace: inode -> (address, port, owner uid)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            # The kernel prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found[int(fields[9])] = (ipaddress.ip_address(raw), int(port, 16), int(fields[7]))
    return found


def _is_loopback(ip) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _app_sockets(app_uid, unit_prefix: str) -> dict:
    """inode -> "comm (pid N)" for the sockets of processes in the app's units or of its user.

    Without CAP_SYS_PTRACE (root in a container) other users' descriptors are unreadable; the
    socket's owner uid in /proc/net/tcp still tells the app's sockets apart.
    """
    sockets = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            in_unit = False
            with open(f"/proc/{pid}/cgroup", encoding="utf-8") as handle:
                in_unit = f"/{unit_prefix}" in handle.read()
            if not in_unit and os.stat(f"/proc/{pid}").st_uid != app_uid:
                continue
            with open(f"/proc/{pid}/comm", encoding="utf-8") as handle:
                comm = handle.read().strip()
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                inode = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            if inode:
                sockets.setdefault(int(inode.group(1)), f"{comm} (pid {pid})")
    return sockets


def check_listeners(cfg: dict, check: Check) -> None:
    """No socket of the app (its units' processes, or its user) listens on a non-loopback TCP address."""
    try:
        app_uid = pwd.getpwnam(cfg["app_user"]).pw_uid
    except KeyError:
        app_uid = None
    app_sockets = _app_sockets(app_uid, cfg["app_name"] + "@")
    public, local = [], 0
    for inode, (ip, port, uid) in sorted(_tcp_listeners().items()):
        if inode not in app_sockets and uid != app_uid:
            continue
        if _is_loopback(ip):
            local += 1
            continue
        owner = app_sockets.get(inode, f"a process of {cfg['app_user']}")
        public.append(f"{owner} on {'[' + str(ip) + ']' if ip.version == 6 else ip}:{port}")
    if public:
        check.result(False, "listening on a public address: " + ", ".join(public))
    else:
        check.result(True, f"no socket of {cfg['app_name']} on a public TCP address ({local} on loopback)")


def check_detailed_health(cfg: dict, check: Check) -> None:
    """/health/detailed (kept private by nginx) refused from outside while the app's own liveness
    path answers there; not applicable when the app has no such endpoint (404 from loopback, an
    allowed address)."""
    source = cfg["outside_address"]
    liveness = cfg.get("health_path") or "/health"
    inside, _headers, _inside_error = try_request(cfg, "/health/detailed")
    detailed, _headers, detailed_error = try_request(cfg, "/health/detailed", source=source)
    health, _headers, health_error = try_request(cfg, liveness, source=source)
    shown = f"from {source}: /health/detailed {detailed or detailed_error}, {liveness} {health or health_error}"
    if inside == 404:
        check.result(health == 200, f"not applicable: the app has no /health/detailed (404 from loopback); {shown}")
        return
    # Refused: an error status of nginx's own, or the connection closed; never the app's answer.
    refused = detailed in (401, 403, 404, 444) or detailed is None
    check.result(refused and health == 200, shown)


def check_rate_limit(cfg: dict, check: Check) -> None:
    """A burst from a client outside the exemptions meets 429."""
    source, count = cfg["outside_address"], cfg["rate_limit_requests"]
    statuses: dict = {}
    conn = None
    for _request in range(count):
        try:
            status, _headers, conn = request(cfg, "/", source=source, conn=conn)
        except (OSError, http.client.HTTPException) as exc:
            status, conn = type(exc).__name__, None
        statuses[status] = statuses.get(status, 0) + 1
    if conn is not None:
        conn.close()
    shown = ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    check.result(statuses.get(429, 0) > 0, f"{count} requests from {source}: {shown}")


def _read_secrets(cfg: dict) -> tuple[dict[str, set], list[str]]:
    """{name: {values}} of every environment file; notes for files that could not be read."""
    secrets: dict[str, set] = {}
    notes = []
    for path in env_files(cfg):
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            continue
        except OSError as exc:
            notes.append(f"{path} unreadable ({exc.strerror})")
            continue
        for line in lines:
            name, sep, value = line.partition("=")
            name = name.strip()
            if not sep or name not in [*cfg.get("secret_names", SECRET_NAMES), *cfg.get("secret_file_names", [])]:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            if value and name in cfg.get("secret_file_names", []):
                secrets.setdefault(name, set()).update(_secret_file_lines(value, notes))
            elif value:
                secrets.setdefault(name, set()).add(value)
    return secrets, notes


def _secret_file_lines(path: str, notes: list[str]) -> set[str]:
    """The lines of a secret file long enough to search for (a PEM's base64 lines, a JSON key's fields)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = {line.strip() for line in handle}
    except OSError as exc:
        notes.append(f"{path} unreadable ({exc.strerror})")
        return set()
    return {line for line in lines if len(line) >= SECRET_MIN_SEARCH_LENGTH and not line.startswith("-----")}


def _stream_contains(stream, needles: list[bytes]) -> set[bytes]:
    """Which needles occur in a binary stream, read in chunks (a needle may span two chunks)."""
    found: set[bytes] = set()
    keep = max(len(n) for n in needles) - 1
    tail = b""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return found
        data = tail + chunk
        found.update(n for n in needles if n in data)
        tail = data[-keep:] if keep else b""


def _journal_matches(cfg: dict) -> list[str]:
    """journalctl matches (OR-ed with "+"): the app's units, what systemd logs of them, the identifiers
    the layout gives the slots and the release hooks."""
    matches: list[str] = []
    for _name, slot in sorted(cfg["slots"].items()):
        for match in (
            f"_SYSTEMD_UNIT={slot['unit']}",
            f"UNIT={slot['unit']}",
            f"SYSLOG_IDENTIFIER={slot['log_identifier']}",
        ):
            matches += [match, "+"]
    return [*matches, f"SYSLOG_IDENTIFIER={cfg['hook_log_identifier']}"]


def _log_files(cfg: dict) -> list[str]:
    files = []
    for root_dir in (cfg["nginx_log_dir"], cfg["log_dir"]):
        for root, _dirs, names in os.walk(root_dir):
            files += [os.path.join(root, name) for name in sorted(names)]
    return [path for path in files if os.path.isfile(path) and not os.path.islink(path)]


def check_secret_in_logs(cfg: dict, check: Check) -> None:
    secrets, notes = _read_secrets(cfg)
    if "SECRET_KEY" not in secrets:
        check.result(False, "no SECRET_KEY in the environment files to look for" + (f" ({'; '.join(notes)})"))
        return
    named = {
        value.encode(): name
        for name, values in secrets.items()
        for value in values
        if len(value) >= SECRET_MIN_SEARCH_LENGTH
    }
    needles = list(named)
    hits = []
    journal = subprocess.Popen(  # noqa: S603
        ["journalctl", "--no-pager", "-q", "-o", "export", *_journal_matches(cfg)],  # noqa: S607
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    found = _stream_contains(journal.stdout, needles) if needles else set()
    journal.wait()
    hits += [f"{named[n]} in the journal of {cfg['app_name']}" for n in sorted(found)]
    files = _log_files(cfg)
    for path in files:
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rb") as handle:
                found = _stream_contains(handle, needles) if needles else set()
        except (OSError, EOFError):
            continue
        hits += [f"{named[n]} in {path}" for n in sorted(found)]
    if hits:
        check.result(False, "found: " + ", ".join(sorted(set(hits))))
        return
    names = "/".join(sorted(secrets))
    check.result(
        True,
        f"{names} ({len(needles)} values) not in the journal of {cfg['app_name']}@* nor in {len(files)} log files",
    )


def table(checks: list[Check]) -> list[str]:
    width = max(len(c.title) for c in checks)
    rows = [f"{'check'.ljust(width)}  result  observed"]
    rows += [f"{c.title.ljust(width)}  {'pass' if c.passed else 'FAIL'}    {c.observed}" for c in checks]
    return rows


def run(function, cfg: dict, *args):
    """Run one check; an unexpected error fails its row (and the rows it fills) instead of the audit."""
    try:
        return function(cfg, *args)
    except Exception as exc:  # noqa: BLE001 - reported in the table, the other checks still run
        for check in args:
            if isinstance(check, Check) and not check.observed:
                check.result(False, f"check crashed: {type(exc).__name__}: {exc}")
        return None


# id and title of every check, in the order they run and the table shows them.
CHECKS = (
    ("tls", "TLS protocols and ciphers"),
    ("certificate", "certificate"),
    ("renewal", "certificate renewal"),
    ("redirect", "HTTP redirects to HTTPS"),
    ("headers", "security headers"),
    ("exposure", "unit exposure score"),
    ("env_files", "environment files"),
    ("listeners", "gunicorn not public"),
    ("detailed_health", "/health/detailed private"),
    ("secret_logs", "secret not in logs"),
    # Last: the burst must not spend the outside address's allowance before the other probes.
    ("rate_limit", "rate limiting"),
)


# Numeric options and the least value each accepts (the argument spec has checked their types).
MINIMUMS = {"certificate_min_days": 0, "renew_before_days": 0, "rate_limit_requests": 1}


def input_problems(cfg: dict) -> list[str]:
    """What is wrong with the options beyond their types (the module's argument spec checks those)."""
    problems = [
        f"{key} must be a TCP port (1-65535), got {cfg[key]}"
        for key in ("http_port", "https_port")
        if not 1 <= cfg[key] <= 65535
    ]
    problems += [
        f"{key} must be {least} or more, got {cfg[key]}" for key, least in MINIMUMS.items() if cfg[key] < least
    ]
    if not cfg["exposure_max"] > 0:
        problems.append(f"exposure_max must be more than 0, got {cfg['exposure_max']}")
    try:
        ipaddress.IPv4Address(cfg["outside_address"])
    except ValueError:
        # The probes connect to nginx on 127.0.0.1, so the source must be an IPv4 address too.
        problems.append(f"outside_address must be an IPv4 address of this host, got {cfg['outside_address']!r}")
    required = ("server_name", "app_name", "app_user", "app_group", "hook_log_identifier")
    problems += [f"{key} must not be empty" for key in required if not cfg[key]]
    if cfg["health_path"] and not cfg["health_path"].startswith("/"):
        problems.append(f"health_path must start with /, got {cfg['health_path']!r}")
    return problems + _slot_problems(cfg["slots"])


def _slot_problems(slots: dict) -> list[str]:
    if not slots:
        return ["slots must name at least one slot"]
    problems = []
    for name, slot in sorted(slots.items()):
        if not isinstance(slot, dict):
            problems.append(f"slots.{name} must be a dictionary with dir, unit and log_identifier, got {slot!r}")
            continue
        problems += [
            f"slots.{name}.{key} must be a non-empty string"
            for key in ("dir", "unit", "log_identifier")
            if not isinstance(slot.get(key), str) or not slot[key]
        ]
    return problems


def run_audit(cfg: dict) -> dict:
    """Run every check once; a failed check is a row of the report, never an exception."""
    checks = {key: Check(key, title) for key, title in CHECKS}
    served = run(check_tls, cfg, checks["tls"])
    run(check_certificate, cfg, served, checks["certificate"], checks["renewal"])
    for key, function in (
        ("redirect", check_redirect),
        ("headers", check_headers),
        ("exposure", check_exposure),
        ("env_files", check_env_files),
        ("listeners", check_listeners),
        ("detailed_health", check_detailed_health),
        ("secret_logs", check_secret_in_logs),
        ("rate_limit", check_rate_limit),
    ):
        run(function, cfg, checks[key])
    rows = list(checks.values())
    failed = [c.id for c in rows if not c.passed]
    if failed:
        msg = f"{len(failed)} of {len(rows)} checks failed: {', '.join(failed)}."
    else:
        msg = f"All {len(rows)} checks passed."
    return {"checks": [c.as_dict() for c in rows], "table": table(rows), "failed_checks": failed, "msg": msg}
