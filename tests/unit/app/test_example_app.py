"""Tests of the example FastAPI application bundled with the `app` role.

The application lives in roles/app/files/example_app as plain top-level modules
(main, health, config), exactly as it runs from a release directory. Each test
copies it into tmp_path/releases/<id>, imports it from there with a clean
environment and a working directory of its own, and talks to it through
FastAPI's TestClient.
"""

from __future__ import annotations

import importlib
import shutil
import socket
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

APP_SOURCE = Path(__file__).resolve().parents[3] / "roles" / "app" / "files" / "example_app"
APP_MODULES = ("main", "health", "config")
RELEASE_ID = "20250101T000000Z"
SECRET = "0123456789abcdef0123456789abcdef"


def _forget_app_modules() -> None:
    for name in APP_MODULES:
        sys.modules.pop(name, None)


@pytest.fixture
def release_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A release directory holding a copy of the example app; cwd is a separate directory."""
    release = tmp_path / "releases" / RELEASE_ID
    shutil.copytree(APP_SOURCE, release, ignore=shutil.ignore_patterns("__pycache__"))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    for name in (
        "SECRET_KEY",
        "DATABASE_URL",
        "APP_NAME",
        "ENVIRONMENT",
        "DEBUG",
        "LOG_LEVEL",
        "CORS_ORIGINS",
        "DATABASE_CHECK_TIMEOUT",
        "DATABASE_CHECK_CACHE_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(release))
    _forget_app_modules()
    yield release
    _forget_app_modules()


@pytest.fixture
def load_app(release_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """Import the app's main module with the given environment."""

    def _load(**env: str):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return importlib.import_module("main")

    return _load


@pytest.fixture
def main(load_app):
    return load_app(SECRET_KEY=SECRET, APP_NAME="Example")


def _aware_utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value} has no timezone"
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def test_root_says_hello(main):
    response = TestClient(main.app).get("/")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello World", "app": "Example"}


def test_health_is_200_even_before_startup(main):
    response = TestClient(main.app).get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    _aware_utc(body["timestamp"])


def test_health_answers_head(main):
    assert TestClient(main.app).head("/health").status_code == 200


def test_ready_follows_the_lifespan(main):
    client = TestClient(main.app)
    before = client.get("/ready")
    assert before.status_code == 503
    assert before.json() == {"status": "not_ready", "reason": "starting"}

    with TestClient(main.app) as running:
        during = running.get("/ready")
        assert during.status_code == 200
        assert during.json()["status"] == "ready"
        assert during.json()["uptime_seconds"] >= 0

    after = client.get("/ready")
    assert after.status_code == 503
    assert after.json() == {"status": "not_ready", "reason": "shutting down"}


def test_detailed_health_names_the_release(main):
    with TestClient(main.app) as client:
        response = client.get("/health/detailed")
    assert response.status_code == 200
    body = response.json()
    assert body["release"] == RELEASE_ID
    assert body["app"] == "Example"
    _aware_utc(body["timestamp"])
    _aware_utc(body["started_at"])
    assert body["checks"]["app_ready"] is True
    assert body["checks"]["database"] == "not_configured"
    # Who the app believes it talks to (behind nginx: the address nginx passes on).
    assert body["client"] == {"address": "testclient", "scheme": "http"}


def test_every_response_carries_the_release_header(main):
    client = TestClient(main.app)
    for path in ("/", "/health", "/ready", "/does-not-exist"):
        assert client.get(path).headers["X-App-Release"] == RELEASE_ID


def test_missing_secret_key_fails_at_startup(load_app):
    with pytest.raises(ValidationError, match="secret_key"):
        load_app()


def test_empty_secret_key_fails_at_startup(load_app):
    with pytest.raises(ValidationError, match="secret_key"):
        load_app(SECRET_KEY="")


def test_settings_are_read_from_dotenv_in_the_working_directory(release_dir, load_app):
    Path(".env").write_text(f"SECRET_KEY='{SECRET}'\nAPP_NAME='From dotenv'\nUNRELATED=1\n")
    main = load_app()
    assert main.settings.app_name == "From dotenv"
    assert main.settings.secret_key.get_secret_value() == SECRET


def test_environment_wins_over_dotenv(release_dir, load_app):
    Path(".env").write_text(f"SECRET_KEY='{SECRET}'\nAPP_NAME='From dotenv'\n")
    main = load_app(APP_NAME="From environment")
    assert main.settings.app_name == "From environment"


def test_secret_key_is_not_shown_in_settings_repr(main):
    assert SECRET not in repr(main.settings)


def test_debug_is_off_by_default(main):
    assert main.settings.debug is False
    assert main.app.debug is False


@pytest.fixture
def listening_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_ready_checks_a_reachable_database(load_app, listening_port):
    main = load_app(SECRET_KEY=SECRET, DATABASE_URL=f"postgresql://u:p@127.0.0.1:{listening_port}/db")
    with TestClient(main.app) as client:
        response = client.get("/ready")
        detailed = client.get("/health/detailed").json()
    assert response.status_code == 200
    assert detailed["checks"]["database"] == "ok"


@pytest.fixture
def counting_server():
    """A TCP listener that counts the connections it accepts (a stand-in database)."""
    accepted = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def _with_database(load_app, port, cache_seconds):
    return load_app(
        SECRET_KEY=SECRET,
        DATABASE_URL=f"postgresql://u:p@127.0.0.1:{port}/db",
        DATABASE_CHECK_CACHE_SECONDS=cache_seconds,
    )


def test_ready_probes_the_database_once_per_interval(load_app, counting_server):
    """Issue 18, finding 10: /ready is public and exempt from the rate limit; 200 requests within
    the cache interval open one database connection, not 200."""
    port, accepted = counting_server
    main = _with_database(load_app, port, cache_seconds="30")
    with TestClient(main.app) as client:
        statuses = {client.get("/ready").status_code for _request in range(200)}
    assert statuses == {200}
    assert sys.modules["health"]._probe_cache.probes == 1
    assert len(accepted) == 1


def test_ready_probes_again_after_the_interval(load_app, counting_server):
    port, _accepted = counting_server
    main = _with_database(load_app, port, cache_seconds="0")
    with TestClient(main.app) as client:
        for _request in range(5):
            assert client.get("/ready").status_code == 200
    assert sys.modules["health"]._probe_cache.probes == 5


def test_ready_is_503_when_the_database_is_unreachable(load_app, closed_port):
    main = load_app(SECRET_KEY=SECRET, DATABASE_URL=f"postgresql://u:p@127.0.0.1:{closed_port}/db")
    with TestClient(main.app) as client:
        response = client.get("/ready")
        assert client.get("/health").status_code == 200  # liveness does not depend on it
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "reason": "database unreachable"}
    assert "u:p" not in response.text


def test_empty_database_url_means_no_database(load_app):
    main = load_app(SECRET_KEY=SECRET, DATABASE_URL="")
    assert main.settings.database_url is None


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("postgresql://u:p@db.example:6543/app", ("db.example", 6543)),
        ("postgresql+asyncpg://u:p@db.example/app", ("db.example", 5432)),
        ("mysql://db.example/app", ("db.example", 3306)),
        ("redis://cache.example/0", ("cache.example", 6379)),
        ("postgresql://u:p@[::1]:5433/app", ("::1", 5433)),
        ("sqlite:///./app.db", None),
        ("postgresql:///app?host=/var/run/postgresql", None),
    ],
)
def test_database_address(main, url, address):
    health = sys.modules["health"]
    assert health.database_address(url) == address


@pytest.mark.parametrize("url", ["unknown://db.example/x", "db.example:5432", "postgresql://h:99999/x"])
def test_database_address_rejects_unusable_urls(main, url):
    health = sys.modules["health"]
    with pytest.raises(ValueError):
        health.database_address(url)


def test_invalid_log_level_is_refused(load_app):
    with pytest.raises(ValidationError, match="log_level"):
        load_app(SECRET_KEY=SECRET, LOG_LEVEL="loud")


def test_cors_origins_from_json(load_app):
    main = load_app(SECRET_KEY=SECRET, CORS_ORIGINS='["https://app.example"]')
    response = TestClient(main.app).options(
        "/",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.headers["access-control-allow-origin"] == "https://app.example"
