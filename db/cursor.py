"""Opaque keyset cursors: base64url(JSON [sort, last sort value, last id])."""

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime

from db.models import PRIORITIES


class InvalidCursor(ValueError):
    """The cursor was not issued by this service for this sort order."""


def encode(sort: str, value: str | int | datetime | None, task_id: uuid.UUID) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([sort, value, str(task_id)], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str, sort: str) -> tuple[str | int | datetime | None, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, task_id = json.loads(raw)
        if cursor_sort != sort or not isinstance(task_id, str):
            raise InvalidCursor
        return _sort_value(sort.lstrip("-"), value), uuid.UUID(task_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, OverflowError, RecursionError) as error:
        raise InvalidCursor("the cursor is not one this service issued for this sort") from error


def _sort_value(key: str, value):
    """The last task's sort value, checked to be one the database can compare against."""
    if key == "priority":
        if type(value) is not int or not 0 <= value < len(PRIORITIES):
            raise InvalidCursor
        return value
    if key == "due_at" and value is None:  # past the last dated task
        return None
    if not isinstance(value, str):
        raise InvalidCursor
    value.encode()  # a lone surrogate cannot be sent to the database
    if "\x00" in value:
        raise InvalidCursor
    if key == "title":
        return value
    value = datetime.fromisoformat(value)
    if value.utcoffset() is None:
        raise InvalidCursor
    return value.astimezone(UTC)  # a far-out offset overflows here, not in the database driver
