"""The outer ASGI layer: request ids, one log line per request, the 64 KiB body limit and the body timeout.

Connexion reads a body only as far as `Content-Length` says, so a chunked body would arrive unchecked
and unlimited. Reading it here, refusing it past the limit and replaying it with a length handles both.
A client that stops sending its body is answered 408 once `body_timeout` seconds pass without a byte:
the ASGI server has no such timer, and the request would otherwise hold its connection for good.
It is read before any operation runs, so a stalled body never holds a database connection.
"""

import asyncio
import itertools
import json
import logging
import os
import re
import secrets
import time

from starlette.datastructures import Headers, MutableHeaders

from handlers import metrics
from handlers.problems import MEDIA_TYPE, problem_body
from handlers.routes import SpecRoutes

MAX_BODY_BYTES = 64 * 1024
CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

access_log = logging.getLogger("tasks_api.access")


def _new_process() -> None:
    """Request ids unique across processes and restarts without a system call per request, unlike
    uuid4: a random prefix per process, then a counter. A forked worker draws its own prefix."""
    global _process_prefix, _sequence
    _process_prefix, _sequence = secrets.token_hex(8), itertools.count()


_new_process()
os.register_at_fork(after_in_child=_new_process)


def next_request_id() -> str:
    return f"{_process_prefix}{next(_sequence):016x}"


class Edge:
    def __init__(self, app, routes: SpecRoutes, body_timeout: float) -> None:
        self.app = app
        self.routes = routes
        self.body_timeout = body_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = Headers(scope=scope)
        offered = headers.get("x-request-id", "")
        request_id = offered if CLIENT_REQUEST_ID.match(offered) else next_request_id()
        extensions = scope["extensions"] = dict(scope.get("extensions") or {})
        status = 500
        metrics.IN_FLIGHT.inc()

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                if status in (204, 304):  # Connexion labels even an empty answer with a media type
                    del headers["content-type"]
            await send(message)

        try:
            try:
                body = await _read_body(headers, receive, self.body_timeout)
            except TimeoutError:
                await _send_problem(send_with_id, 408, f"No part of the request body came for {self.body_timeout:g} "
                                                       "seconds; the connection is closed.")
                return
            if body is None:
                await _send_problem(send_with_id, 413, f"The request body exceeds {MAX_BODY_BYTES} bytes.")
                return
            await self.app(_with_length(scope, len(body)), _replay(body, receive), send_with_id)
        finally:
            seconds = time.perf_counter() - started
            metrics.IN_FLIGHT.dec()
            routed = extensions.get("connexion_routing", {}).get("operation_id")
            operation = self.routes.operation_ids.get(routed)
            metrics.observe_request(operation, status, seconds)
            user = extensions.get("connexion_context", {}).get("user") or "-"
            if not user.isprintable():  # a token's `sub` is logged before the path is validated
                user = repr(user)
            route = self.routes.templates.get(routed, "<unrouted>")
            access_log.info("%s %s %s %.1fms user=%s request_id=%s", scope["method"], route, status, seconds * 1000,
                            user, request_id, extra={
                                "request_id": request_id, "method": scope["method"], "route": route,
                                "operation_id": operation, "status": status,
                                "duration_ms": round(seconds * 1000, 1), "user": user})


async def _read_body(headers: Headers, receive, timeout: float) -> bytes | None:
    """The whole body, or None when it is over the limit (declared or actual); TimeoutError when
    `timeout` seconds pass with nothing more of it."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    if declared in ("", "0") and "transfer-encoding" not in headers:
        timeout = None  # no body is coming: the server's one empty message is already there
    chunks, size, more = [], 0, True
    while more:
        async with asyncio.timeout(timeout):
            message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _with_length(scope, length: int):
    """The request as Connexion should see it: the body's real length, and no media type for no body.
    axios, for one, labels a PATCH without data as form-encoded, and Connexion refuses a media type the
    operation does not take even when there is nothing to read (415)."""
    scope = dict(scope)
    framing = (b"content-length", b"transfer-encoding") if length else (b"content-length", b"transfer-encoding",
                                                                        b"content-type")
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in framing]
    if length:
        scope["headers"].append((b"content-length", str(length).encode()))
    return scope


def _replay(body: bytes, receive):
    delivered = False

    async def replay():
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_problem(send, status: int, detail: str) -> None:
    """A problem sent before the body was read in full: the connection closes after it."""
    body = json.dumps(problem_body(status, detail)).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})
