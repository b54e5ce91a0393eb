"""`tasks-api serve`: gunicorn's pre-forking master with uvicorn workers.

The app is built once, in the master, before the workers are forked: they share its imported code, its
parsed spec and its compiled validators page for page, instead of each importing the stack again.
Nothing that must not be shared is made before the fork: each worker opens its own database engine
(and its thread pool) in the app's lifespan.

On SIGTERM the master stops accepting connections and its workers finish the requests they hold,
for up to `shutdown_grace_seconds`, then exit. With `metrics_port`, the master serves every worker's
metrics, summed, on that port (handlers/metrics.py).
"""

import asyncio
import gc
import logging
from functools import partial
from typing import ClassVar

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from handlers import metrics
from handlers.app import create_app
from handlers.settings import Settings

log = logging.getLogger("tasks_api")


class Worker(UvicornWorker):
    # The API speaks plain HTTP: no websockets stack in any worker.
    CONFIG_KWARGS: ClassVar[dict] = {"loop": "auto", "http": "auto", "ws": "none", "lifespan": "on"}


class Logs(glogging.Logger):
    """gunicorn's lines, and uvicorn's (its worker logs through gunicorn's), in the service's own handler
    and format, warnings and errors only: the service says itself when it is up and when it stops."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self.error_log.handlers = list(logging.getLogger().handlers)
        self.error_log.setLevel(logging.WARNING)


class PreforkingServer(BaseApplication):
    def __init__(self, app, options: dict) -> None:
        self.app, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self):
        return self.app


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    app = create_app(settings)
    asyncio.run(_start_and_stop(app))
    address = f"[{host}]" if ":" in host else host
    PreforkingServer(app, {
        "bind": f"{address}:{port}",
        "workers": workers,
        "worker_class": f"{__name__}.Worker",
        "preload_app": True,
        "graceful_timeout": settings.shutdown_grace_seconds,
        "keepalive": 5,  # seconds an idle keep-alive connection stays open, as uvicorn's own default
        "accesslog": None,  # the app writes one line per request itself (handlers/edge.py)
        "errorlog": "-",
        "logger_class": f"{__name__}.Logs",
        "when_ready": partial(_ready, f"http://{address}:{port}", workers, host, settings.metrics_port),
        "on_exit": lambda _arbiter: log.info("stopped"),
        # No runtime control socket: it lives at one path per user, which two services would share.
        "control_socket_disable": True,
        **({"child_exit": _worker_exited} if settings.metrics_port else {}),
    }).run()


async def _start_and_stop(app) -> None:
    """The app's start-up and shut-down, once, in the master. Connexion builds its middleware stack
    (every operation's routing, security and validation) at the first start-up; built here, before
    the fork, it is shared by every worker instead of built again in each. The engine the start-up
    makes is disposed by the shut-down, unused: each worker makes its own."""
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive():
        return next(messages)

    async def send(message):
        if message["type"].endswith(".failed"):
            raise RuntimeError(message.get("message", "the app failed to start"))

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)


def _ready(url: str, workers: int, host: str, metrics_port: int | None, arbiter) -> None:
    if metrics_port:
        metrics.serve(arbiter, host, metrics_port)
    log.info("listening on %s with %d worker%s%s", url, workers, "" if workers == 1 else "s",
             f"; metrics on port {metrics_port}" if metrics_port else "")
    # Everything allocated so far is moved out of the collector's reach, just before the fork: a
    # collection in a worker would otherwise touch, and so copy, every page of the shared objects.
    gc.collect()
    gc.freeze()


def _worker_exited(_arbiter, worker) -> None:
    metrics.worker_exited(worker.pid)
