"""A second app for the deploy tests, shaped unlike the bundled example: a package module path
(orders.api.asgi:application), health endpoints under /_status with their own JSON, settings
read from plain environment variables, and its own release header."""

import asyncio
import os
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from orders.queue import connect, enqueue

# releases/<id>/orders/api/asgi.py: the release directory names the build.
BUILD = Path(__file__).resolve().parents[2].name
# Required: a release without it does not even import.
GREETING = os.environ["ORDERS_GREETING"]
VERSION = "1"

application = FastAPI(title="orders")


@application.middleware("http")
async def build_header(request, call_next):
    response = await call_next(request)
    response.headers["X-Orders-Build"] = BUILD
    return response


@application.get("/_status/live")
async def live() -> dict:
    return {"alive": True}


@application.get("/_status/ready")
async def ready(response: Response) -> dict:
    return {"state": "accepting", "checks": {"config": "ok"}}


@application.get("/orders/ping")
async def ping() -> dict:
    return {"greeting": GREETING, "version": VERSION}


# The job queue (orders/queue.py): only where the deploy gives the app a state directory.
@application.post("/orders/jobs", status_code=202)
def enqueue_job(request: Request) -> dict:
    db = connect()
    try:
        return {"job": enqueue(db, request.headers.get("content-length", ""))}
    finally:
        db.close()


async def _events():
    for number in range(3):
        yield f"data: {number}\n\n"
        await asyncio.sleep(1)


# Server-sent events: three, a second apart. The tests route /orders/stream through a location of its
# own (nginx_extra_locations).
@application.get("/orders/stream")
async def stream() -> StreamingResponse:
    return StreamingResponse(_events(), media_type="text/event-stream")
