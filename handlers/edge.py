"""The outer ASGI layer: request ids, one log line per request, and the 64 KiB body limit.

Connexion reads a body only as far as `Content-Length` says, so a chunked body would arrive unchecked
and unlimited. Reading it here, refusing it past the limit and replaying it with a length handles both.
"""

import itertools
import json
import logging
import re
import secrets
import time

from starlette.datastructures import Headers, MutableHeaders

from handlers.problems import MEDIA_TYPE, problem_body

MAX_BODY_BYTES = 64 * 1024
CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

access_log = logging.getLogger("tasks_api.access")
# Unique across processes and restarts without a system call per request, unlike uuid4.
_process_prefix = secrets.token_hex(8)
_sequence = itertools.count()


def next_request_id() -> str:
    return f"{_process_prefix}{next(_sequence):016x}"


class Edge:
    def __init__(self, app, templates: dict[str, str]) -> None:
        self.app = app
        self.templates = templates

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = Headers(scope=scope)
        offered = headers.get("x-request-id", "")
        request_id = offered if CLIENT_REQUEST_ID.match(offered) else next_request_id()
        extensions = scope["extensions"] = dict(scope.get("extensions") or {})
        status = 500

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
            body = await _read_body(headers, receive)
            if body is None:
                await _send_too_large(send_with_id)
                return
            await self.app(_with_length(scope, len(body)), _replay(body, receive), send_with_id)
        finally:
            routing = extensions.get("connexion_routing", {})
            user = extensions.get("connexion_context", {}).get("user") or "-"
            if not user.isprintable():  # a token's `sub` is logged before the path is validated
                user = repr(user)
            access_log.info(
                "%s %s %s %.1fms user=%s request_id=%s",
                scope["method"], self.templates.get(routing.get("operation_id"), "<unrouted>"),
                status, (time.perf_counter() - started) * 1000, user, request_id,
            )


async def _read_body(headers: Headers, receive) -> bytes | None:
    """The whole body, or None when it is over the limit (declared or actual)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size, more = [], 0, True
    while more:
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
    scope = dict(scope)
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in (b"content-length", b"transfer-encoding")]
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


async def _send_too_large(send) -> None:
    body = json.dumps(problem_body(413, f"The request body exceeds {MAX_BODY_BYTES} bytes.")).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})
