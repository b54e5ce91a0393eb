"""The service's log lines: one handler on stderr for every logger (the service's own, gunicorn's,
uvicorn's, Alembic's), as readable lines or, with LOG_FORMAT=json, one JSON object per line.

Neither format writes a traceback, whoever logs it: a traceback can quote SQL, a request's values or
a token. A line names the exception's type instead.
"""

import logging
from datetime import UTC, datetime

import orjson

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What a request's line (handlers/edge.py) carries besides its message, as fields of its own.
REQUEST_FIELDS = ("request_id", "method", "route", "operation_id", "status", "duration_ms", "user")


class Lines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT)

    def formatException(self, exc_info) -> str:
        return f"({exc_info[0].__name__}; traceback not logged)"

    def formatStack(self, _stack_info) -> str:
        return ""


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        line.update((name, getattr(record, name)) for name in REQUEST_FIELDS if hasattr(record, name))
        if record.exc_info:
            line["exception"] = record.exc_info[0].__name__
        return orjson.dumps(line).decode()


def configure(log_format: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else Lines())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    # Alembic announces each of its plugins at INFO on every start.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def quiet_migrations() -> None:
    """`serve` upgrades a SQLite database itself: the start-up lines say where it stands instead."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
