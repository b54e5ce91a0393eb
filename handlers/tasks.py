"""The spec's task operations. Validated arguments in, (body, status[, headers]) out.

The security function has already matched the path's `user_id` to the token; every query is still
scoped by the token's subject, `user`, so a path can never widen what a caller reaches.
"""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import orjson

from db import idempotency, listing, tasks
from db.idempotency import Claim
from handlers import context
from handlers.contract import defaults, schema
from handlers.problems import problem
from handlers.validation import invalid

# Tasks arrive from db/ as dicts of the spec's Task fields; the app's JSON encoder writes their UUIDs
# and UTC datetimes (RFC 3339, `Z`) itself.
JSON = {"Content-Type": "application/json"}
NEW_TASK = defaults("TaskCreate")
# A request may repeat labels; the bound is on the merged set, as the spec's Task.labels states it.
MAX_LABELS = schema("Labels")["maxItems"]
STILL_RUNNING = "A request with this Idempotency-Key is still being processed; retry shortly."


def list_tasks(user, user_id, status, sort, limit, cursor=None, q=None, label=(), priority=(), due_before=None,
               due_after=None):  # Connexion fills in the spec's defaults
    filters = listing.Filters(status=status, q=q, labels=tuple(label), priorities=tuple(priority),
                              due_before=instant(due_before, "query", "due_before"),
                              due_after=instant(due_after, "query", "due_after"))
    page, count, next_cursor = listing.list_tasks(owner=user, filters=filters, sort=sort, limit=limit, cursor=cursor)
    return {"tasks": page, "count": count, "next_cursor": next_cursor}, 200, JSON


def create_task(user, user_id, task):
    fields = storable({**NEW_TASK, **task})
    key = context.idempotency_key()
    if key is None:
        return created(user_id, *tasks.create_task(owner=user, fields=fields))
    ttl = timedelta(seconds=context.settings().idempotency_key_ttl_seconds)
    earlier = idempotency.claim(owner=user, key=key, fingerprint=fingerprint(task), ttl=ttl)
    if earlier is Claim.RUNNING:
        return problem(409, STILL_RUNNING)
    if earlier is Claim.MISMATCH:
        return problem(422, "This Idempotency-Key was already used with a different request body.")
    if not isinstance(earlier, idempotency.Claimed):
        return created(user_id, *earlier)  # the key's first answer, as it was
    try:
        made = tasks.create_task(owner=user, fields=fields, claim=earlier)
    except Exception:
        idempotency.release(earlier)
        raise
    if made is None:  # this request ran so long that another one with the key has taken it over
        return problem(409, STILL_RUNNING)
    return created(user_id, *made)


def get_task(user, user_id, task_id):
    current = tasks.get_task(owner=user, task_id=uuid.UUID(task_id))
    if current is not None and (context.if_none_match() is context.ANY or current[1] in context.if_none_match()):
        return None, 304, {**JSON, "ETag": context.etag(current[1])}  # the edge drops the media type
    return found(current)


def update_task(user, user_id, task_id, changes):
    return found(tasks.update_task(owner=user, task_id=uuid.UUID(task_id), changes=storable(changes),
                                   if_match=context.if_match()))


def delete_task(user, user_id, task_id):
    if tasks.delete_task(owner=user, task_id=uuid.UUID(task_id), if_match=context.if_match()):
        return None, 204
    return not_found()


def toggle_task_completion(user, user_id, task_id, completion=None):
    completed = completion["completed"] if completion else None
    return found(tasks.set_completion(owner=user, task_id=uuid.UUID(task_id), completed=completed,
                                      if_match=context.if_match()))


def created(user_id: str, task: dict, version: int):
    return task, 201, {**JSON, "Location": f"/api/{user_id}/tasks/{task['id']}", "ETag": context.etag(version)}


def found(current: tuple[dict, int] | None):
    return (current[0], 200, {**JSON, "ETag": context.etag(current[1])}) if current else not_found()


def not_found():
    # Another user's task and a task that never existed get this same answer: no existence leak.
    return problem(404, "No task with this id.")


def fingerprint(body: dict) -> str:
    """Equal for bodies equal once parsed, whatever their key order or spacing."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def storable(fields: dict) -> dict:
    """A validated body's fields as db/ stores them: the due date as an instant, the labels as a set."""
    fields = {**fields, "due_at": instant(fields["due_at"], "body", "due_at")} if "due_at" in fields else fields
    if "labels" in fields:
        fields["labels"] = merged(fields["labels"])
        if len(fields["labels"]) > MAX_LABELS:
            raise invalid([{"location": "body", "field": "labels",
                            "message": f"must hold at most {MAX_LABELS} labels once duplicates are merged"}])
    return fields


def merged(labels: list[str]) -> list[str]:
    """Duplicates compared case-insensitively (Unicode case folding, so "ΟΔΟΣ" and "οδοσ" are one), the
    first spelling kept, sorted by lower-cased form in code point order."""
    kept = {}
    for label in labels:
        kept.setdefault(label.casefold(), label)
    return sorted(kept.values(), key=lambda label: (label.lower(), label.casefold()))


def instant(value: str | None, location: str, field: str) -> datetime | None:
    """An RFC 3339 date-time the spec accepted, in UTC; one outside the years 1 to 9999 is refused here."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)  # RFC 3339 allows a lower-case t and z
    except (ValueError, OverflowError):
        raise invalid([{"location": location, "field": field,
                        "message": "must be a date-time between the years 1 and 9999 in UTC"}]) from None
