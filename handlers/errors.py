"""Every error the app can raise, turned into problem details in one place.

No stack trace, SQL or token reaches a client or a log line: unexpected errors are logged by type
and location only.
"""

import json
import logging
import traceback

from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from db.cursor import InvalidCursor
from db.tasks import PreconditionFailed
from handlers import metrics
from handlers.problems import MEDIA_TYPE, problem_body
from handlers.routes import SpecRoutes

log = logging.getLogger("tasks_api.errors")


def register(app: AsyncApp, routes: SpecRoutes) -> None:
    def respond(status: int, detail: str, headers: dict | None = None, **extensions) -> ConnexionResponse:
        body = problem_body(status, detail, **extensions)
        return ConnexionResponse(status_code=status, mimetype=MEDIA_TYPE, content_type=MEDIA_TYPE,
                                 body=json.dumps(body).encode(), headers=headers or {})

    def on_problem(request, error: ProblemException):
        if error.status == 500:  # e.g. a response that breaks the spec: the client learns nothing of it
            return on_unexpected(request, error)
        headers = dict(error.headers or {})
        if error.status == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        # The title is always the status's RFC 9110 name, as the spec's examples give it.
        return respond(error.status, error.detail, headers, **(error.ext or {}))

    def on_http_error(request, error: HTTPException):
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = routes.allow_header(request.url.path)
            detail = f"{request.method} is not allowed here; use {headers['Allow']}."
        elif error.status_code == 404:
            detail = "There is no such endpoint."
        else:
            detail = error.detail
        return respond(error.status_code, detail, headers)

    def on_bad_cursor(_request, error: InvalidCursor):
        return respond(400, "The cursor is not valid.",
                       errors=[{"location": "query", "field": "cursor", "message": str(error)}])

    def on_precondition_failed(_request, _error: PreconditionFailed):
        return respond(412, "The task has changed since the version If-Match names; get it again and retry.")

    def on_database_down(_request, error: Exception):
        kind = metrics.unavailable_kind(error)
        metrics.DB_ERRORS.labels(kind).inc()
        log.warning("database %s: %s", kind, type(error).__name__)
        return respond(503, "The database is unavailable; try again shortly.", {"Retry-After": "5"})

    def on_refused_by_database(_request, error: DBAPIError):
        # The spec should have refused this first; the database's own constraints are the last line.
        metrics.DB_ERRORS.labels("refused").inc()
        log.warning("database refused a write: %s", type(error.orig).__name__)
        return respond(400, "The request breaks a storage constraint.")

    def on_unexpected(_request, error: Exception):
        frame = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
        where = f"{frame[0].filename}:{frame[0].lineno}" if frame else "unknown"
        log.error("unexpected %s at %s", type(error).__name__, where)
        return respond(500, "An unexpected error occurred.")

    app.add_error_handler(ProblemException, on_problem)
    app.add_error_handler(HTTPException, on_http_error)
    app.add_error_handler(InvalidCursor, on_bad_cursor)
    app.add_error_handler(PreconditionFailed, on_precondition_failed)
    for unavailable in (OperationalError, InterfaceError, PoolTimeout):
        app.add_error_handler(unavailable, on_database_down)
    for refused in (IntegrityError, DataError):
        app.add_error_handler(refused, on_refused_by_database)
    app.add_error_handler(Exception, on_unexpected)
