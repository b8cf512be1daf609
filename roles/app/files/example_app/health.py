"""Health endpoints: liveness (/health), readiness (/ready) and a detailed view.

Readiness is per worker process: the application's lifespan marks it ready
once start-up is complete and not ready again when shutdown begins.

When DATABASE_URL is set, /ready also checks that the database accepts TCP
connections on the host and port of the URL (default port by scheme), with a
short timeout (DATABASE_CHECK_TIMEOUT seconds). A worker probes at most once
per DATABASE_CHECK_CACHE_SECONDS (default 1) and concurrent requests share that
probe, so a flood of /ready requests cannot become a flood of database
connections. This check needs no database
driver, so it proves the network path and the listener, not credentials or
schema. URLs without a network address (sqlite, a unix socket given only in
the query string) are not probed.
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from config import get_settings
from fastapi import APIRouter, Request, Response, status

# The name of the directory holding this file: releases/<id> on a deployed host,
# so it tells which release is serving.
RELEASE = Path(__file__).resolve().parent.name

# Ports used when a database URL names none.
DEFAULT_PORTS = {
    "postgresql": 5432,
    "postgres": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "redis": 6379,
    "rediss": 6379,
    "mongodb": 27017,
    "mssql": 1433,
    "amqp": 5672,
}

router = APIRouter(tags=["Health"])


class _State:
    """Start-up and shutdown state of this worker process."""

    def __init__(self) -> None:
        self.ready = False
        self.shutting_down = False
        self.started_at: datetime | None = None
        self._started_monotonic: float | None = None

    def uptime_seconds(self) -> float:
        if self._started_monotonic is None:
            return 0.0
        return round(time.monotonic() - self._started_monotonic, 3)


state = _State()


def mark_ready() -> None:
    """Call once start-up is complete."""
    state.ready = True
    state.shutting_down = False
    state.started_at = datetime.now(timezone.utc)
    state._started_monotonic = time.monotonic()


def mark_shutting_down() -> None:
    """Call when shutdown begins: readiness turns false at once."""
    state.shutting_down = True
    state.ready = False


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def database_address(url: str) -> tuple[str, int] | None:
    """Return the (host, port) to probe for a database URL.

    None when the URL has no network address (sqlite, unix socket).
    Raise ValueError when the URL is unusable.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0].lower()
    if not scheme:
        raise ValueError("the URL has no scheme")
    if scheme.startswith("sqlite"):
        return None
    host = parts.hostname
    if not host:
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"unknown scheme {scheme!r} and no host in the URL")
        return None
    port = parts.port  # raises ValueError for a port out of range
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    if port is None:
        raise ValueError(f"no port in the URL and no default port for {scheme!r}")
    return host, port


async def check_database(url: str | None, timeout: float) -> str:
    """Probe the database: not_configured, skipped, ok, unreachable or invalid_url."""
    if not url:
        return "not_configured"
    try:
        address = database_address(url)
    except ValueError:
        return "invalid_url"
    if address is None:
        return "skipped"
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
    except (OSError, asyncio.TimeoutError):
        return "unreachable"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return "ok"


class _ProbeCache:
    """This worker's last database probe: its status and when it finished."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.finished = 0.0
        self.lock = asyncio.Lock()
        self.probes = 0

    def fresh(self, max_age: float) -> str | None:
        if self.status is not None and time.monotonic() - self.finished < max_age:
            return self.status
        return None


_probe_cache = _ProbeCache()


async def _database_status() -> str:
    settings = get_settings()
    max_age = settings.database_check_cache_seconds
    cached = _probe_cache.fresh(max_age)
    if cached is not None:
        return cached
    async with _probe_cache.lock:
        # Requests that waited for the lock take the probe that just finished.
        cached = _probe_cache.fresh(max_age)
        if cached is not None:
            return cached
        url = settings.database_url.get_secret_value() if settings.database_url else None
        _probe_cache.probes += 1
        status = await check_database(url, settings.database_check_timeout)
        _probe_cache.status, _probe_cache.finished = status, time.monotonic()
        return status


@router.api_route("/health", methods=["GET", "HEAD"])
async def health_check() -> dict:
    """Liveness: the process answers. No dependency is checked here."""
    return {"status": "healthy", "timestamp": utc_now_iso()}


@router.api_route("/ready", methods=["GET", "HEAD"])
async def readiness_check(response: Response) -> dict:
    """Readiness: 503 while starting, while shutting down, or when the database is down."""
    if state.shutting_down or not state.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        reason = "shutting down" if state.shutting_down else "starting"
        return {"status": "not_ready", "reason": reason}

    database = await _database_status()
    if database not in ("ok", "not_configured", "skipped"):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "not_ready", "reason": f"database {database}"}

    return {"status": "ready", "uptime_seconds": state.uptime_seconds()}


@router.get("/health/detailed")
async def detailed_health(request: Request) -> dict:
    """Detailed health for operators: keep it off the public internet."""
    settings = get_settings()
    return {
        "status": "healthy",
        # Who the app believes it talks to, after the proxies' X-Forwarded-For/-Proto.
        "client": {"address": request.client.host if request.client else None, "scheme": request.url.scheme},
        "timestamp": utc_now_iso(),
        "release": RELEASE,
        "app": settings.app_name,
        "environment": settings.environment,
        "started_at": state.started_at.isoformat() if state.started_at else None,
        "pid": os.getpid(),
        "python": platform.python_version(),
        "checks": {
            "app_ready": state.ready and not state.shutting_down,
            "shutting_down": state.shutting_down,
            "uptime_seconds": state.uptime_seconds(),
            "database": await _database_status(),
        },
    }
