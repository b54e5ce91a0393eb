"""The spec's delta sync: what changed in a user's tasks since a token the client holds."""

import base64
import binascii
import hashlib
import json
import time

from db import sync
from db.changes import MAX_NUMBER, NOTHING_SEEN, Snapshot
from handlers import context, contract
from handlers.problems import problem
from handlers.validation import invalid

TOKEN_LENGTH = contract.parameter_schema("sync_tasks", "since")["maxLength"]


def sync_tasks(user, user_id, limit, since=None):
    if since is None:  # a first sync: every live task, and nothing deleted to tell of
        seen = NOTHING_SEEN
    else:
        seen, issued = read_token(since, user)
        if time.time() - issued > context.settings().tombstone_retention_seconds:
            return problem(410, "This sync token is older than deletions are kept; list every task again and sync "
                                "from the token that sync returns without `since`.")
    found, now_seen, more = sync.changes_since(owner=user, seen=seen, limit=limit, with_deletions=since is not None)
    return {"changes": [change for change in found if isinstance(change, dict)],
            "deleted": [change for change in found if not isinstance(change, dict)],
            "next_token": token(user, now_seen), "has_more": more}, 200, {"Content-Type": "application/json"}


def token(owner: str, seen: Snapshot) -> str:
    """The snapshot, bound to its owner, in as few characters as the spec's limit on `since` allows: a
    snapshot too long to fit is cut to a smaller one (it sees less, so a change may come twice)."""
    while True:
        numbers = [seen.xmin, seen.xmax - seen.xmin, [number - seen.xmin for number in seen.in_progress]]
        raw = json.dumps([owner_tag(owner), int(time.time()), *numbers], separators=(",", ":")).encode()
        encoded = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        if len(encoded) <= TOKEN_LENGTH or not seen.in_progress:
            return encoded
        seen = seen.truncated(below=seen.in_progress[-1])


def read_token(value: str, owner: str) -> tuple[Snapshot, int]:
    """The snapshot and issue time in a token this service gave `owner`; anything else is a 400."""
    try:
        match json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))):
            case [str(tag), int(issued), int(xmin), int(span), [*offsets]] if tag == owner_tag(owner) and all(
                    type(number) is int for number in (issued, xmin, span, *offsets)) and 0 <= xmin and 0 <= span and \
                    xmin + span <= MAX_NUMBER and all(0 <= offset < span for offset in offsets):
                return Snapshot(xmin, xmin + span, tuple(xmin + offset for offset in offsets)), issued
            case [str(token_owner), int(position), int(issued)] if token_owner == owner and type(position) is int and \
                    type(issued) is int and 0 <= position < MAX_NUMBER:
                return Snapshot.up_to(position), issued  # a token from before snapshots: all up to its number
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, RecursionError):
        pass
    raise invalid([{"location": "query", "field": "since",
                    "message": "is not a sync token this service issued to this user"}])


def owner_tag(owner: str) -> str:
    """Enough of the owner to tell another user's token from theirs, in a fixed few characters."""
    return hashlib.blake2b(owner.encode(), digest_size=8).hexdigest()
