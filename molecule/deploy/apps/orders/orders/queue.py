"""A job queue in a SQLite file in the app's state directory ($STATE_DIRECTORY, systemd_state_directory),
shared by the web app (which enqueues), the worker process (which runs the jobs) and the timer's job.
A job is claimed in a write transaction, so two workers (the old and the new release's, during a
switch) never run the same job; `runs` counts how often it ran."""

import os
import sqlite3
from pathlib import Path

# releases/<id>/orders/queue.py: the release directory names the build.
BUILD = Path(__file__).resolve().parents[1].name


def connect() -> sqlite3.Connection:
    db = sqlite3.connect(Path(os.environ["STATE_DIRECTORY"]) / "queue.db", timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, payload TEXT, enqueued_by TEXT,"
        " state TEXT NOT NULL DEFAULT 'queued', runs INTEGER NOT NULL DEFAULT 0, done_by TEXT)"
    )
    db.execute("CREATE TABLE IF NOT EXISTS ticks (id INTEGER PRIMARY KEY, build TEXT, at REAL)")
    return db


def enqueue(db: sqlite3.Connection, payload: str) -> int:
    return db.execute("INSERT INTO jobs (payload, enqueued_by) VALUES (?, ?)", (payload, BUILD)).lastrowid


def claim(db: sqlite3.Connection) -> int | None:
    """The oldest queued job, marked as running by this build; None when there is none."""
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").fetchone()
        if row:
            db.execute("UPDATE jobs SET state = 'running', done_by = ? WHERE id = ?", (BUILD, row[0]))
    finally:
        db.execute("COMMIT")
    return row[0] if row else None


def finish(db: sqlite3.Connection, job: int) -> None:
    db.execute("UPDATE jobs SET state = 'done', runs = runs + 1 WHERE id = ?", (job,))
