"""Example FastAPI application deployed by the pyops.fastapi collection.

Run it with gunicorn and uvicorn workers from a release directory:
``gunicorn -c gunicorn_conf.py main:app``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import health
from config import get_settings
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Read the settings at import: a missing SECRET_KEY stops the worker from
# booting (and fails `gunicorn --check-config`) instead of failing requests.
settings = get_settings()

logging.basicConfig(format="%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s")
logger = logging.getLogger("app")
logger.setLevel(settings.log_level.upper())


class ReleaseHeaderMiddleware:
    """Add an X-App-Release header naming the release that served the response."""

    def __init__(self, app: ASGIApp, release: str) -> None:
        self.app = app
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_release(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-App-Release", self.release)
            await send(message)

        await self.app(scope, receive, send_with_release)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Start-up: open connection pools and warm caches here, then mark ready.
    health.mark_ready()
    logger.info("release %s ready", health.RELEASE)
    try:
        yield
    finally:
        # Shutdown: stop advertising readiness first, then close connections.
        health.mark_shutting_down()
        logger.info("release %s shutting down", health.RELEASE)


app = FastAPI(title=settings.app_name, debug=settings.debug, lifespan=lifespan)
app.add_middleware(ReleaseHeaderMiddleware, release=health.RELEASE)
if settings.cors_origins:
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
    )
app.include_router(health.router)


@app.get("/")
async def root() -> dict:
    return {"message": "Hello World", "app": settings.app_name}
