"""Opaque keyset cursors: base64url(JSON [sort, last sort value, last id])."""

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime


class InvalidCursor(ValueError):
    """The cursor was not issued by this service for this sort order."""


def encode(sort: str, value: str | datetime, task_id: uuid.UUID) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([sort, value, str(task_id)], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str, sort: str) -> tuple[str | datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, task_id = json.loads(raw)
        if cursor_sort != sort or not isinstance(value, str) or not isinstance(task_id, str):
            raise InvalidCursor
        value.encode()  # a lone surrogate cannot be sent to the database
        if "\x00" in value:
            raise InvalidCursor
        if sort.lstrip("-") != "title":
            value = datetime.fromisoformat(value)
            if value.utcoffset() is None:
                raise InvalidCursor
            value = value.astimezone(UTC)  # a far-out offset overflows here, not in the database driver
        return value, uuid.UUID(task_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, OverflowError, RecursionError) as error:
        raise InvalidCursor("the cursor is not one this service issued for this sort") from error
