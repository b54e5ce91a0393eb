"""The spec's delta sync: what changed in a user's tasks since a token the client holds."""

import base64
import binascii
import json
import time

from db import sync
from db.changes import MAX_NUMBER
from handlers import context
from handlers.problems import problem
from handlers.validation import invalid


def sync_tasks(user, user_id, limit, since=None):
    if since is None:  # a first sync: every live task, and nothing deleted to tell of
        position = 0
    else:
        position, issued = read_token(since, user)
        if time.time() - issued > context.settings().tombstone_retention_seconds:
            return problem(410, "This sync token is older than deletions are kept; list every task again and sync "
                                "from the token that sync returns without `since`.")
    found, resume, more = sync.changes_since(owner=user, since=position, limit=limit, with_deletions=since is not None)
    return {"changes": [change for change in found if isinstance(change, dict)],
            "deleted": [change for change in found if not isinstance(change, dict)],
            "next_token": token(user, resume), "has_more": more}, 200, {"Content-Type": "application/json"}


def token(owner: str, position: int) -> str:
    raw = json.dumps([owner, position, int(time.time())], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def read_token(value: str, owner: str) -> tuple[int, int]:
    """The change number and issue time in a token this service gave `owner`; anything else is a 400."""
    try:
        token_owner, position, issued = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if token_owner == owner and type(position) is int and type(issued) is int and 0 <= position <= MAX_NUMBER:
            return position, issued
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, RecursionError):
        pass
    raise invalid([{"location": "query", "field": "since",
                    "message": "is not a sync token this service issued to this user"}])
