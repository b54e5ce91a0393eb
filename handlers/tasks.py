"""The spec's task operations. Validated arguments in, (body, status[, headers]) out.

The security function has already matched the path's `user_id` to the token; every query is still
scoped by the token's subject, `user`, so a path can never widen what a caller reaches.
"""

import uuid
from datetime import UTC, datetime

from db import listing, tasks
from handlers.contract import defaults, schema
from handlers.problems import problem
from handlers.validation import invalid

# Tasks arrive from db/ as dicts of the spec's Task fields; the app's JSON encoder writes their UUIDs
# and UTC datetimes (RFC 3339, `Z`) itself.
JSON = {"Content-Type": "application/json"}
NEW_TASK = defaults("TaskCreate")
# A request may repeat labels; the bound is on the merged set, as the spec's Task.labels states it.
MAX_LABELS = schema("Labels")["maxItems"]


def list_tasks(user, user_id, status, sort, limit, cursor=None, q=None, label=(), priority=(), due_before=None,
               due_after=None):  # Connexion fills in the spec's defaults
    filters = listing.Filters(status=status, q=q, labels=tuple(label), priorities=tuple(priority),
                              due_before=instant(due_before, "query", "due_before"),
                              due_after=instant(due_after, "query", "due_after"))
    page, count, next_cursor = listing.list_tasks(owner=user, filters=filters, sort=sort, limit=limit, cursor=cursor)
    return {"tasks": page, "count": count, "next_cursor": next_cursor}, 200, JSON


def create_task(user, user_id, task):
    created = tasks.create_task(owner=user, fields=storable({**NEW_TASK, **task}))
    return created, 201, {**JSON, "Location": f"/api/{user_id}/tasks/{created['id']}"}


def get_task(user, user_id, task_id):
    return found(tasks.get_task(owner=user, task_id=uuid.UUID(task_id)))


def update_task(user, user_id, task_id, changes):
    return found(tasks.update_task(owner=user, task_id=uuid.UUID(task_id), changes=storable(changes)))


def delete_task(user, user_id, task_id):
    if tasks.delete_task(owner=user, task_id=uuid.UUID(task_id)):
        return None, 204
    return not_found()


def toggle_task_completion(user, user_id, task_id, completion=None):
    completed = completion["completed"] if completion else None
    return found(tasks.set_completion(owner=user, task_id=uuid.UUID(task_id), completed=completed))


def found(task: dict | None):
    return (task, 200, JSON) if task else not_found()


def not_found():
    # Another user's task and a task that never existed get this same answer: no existence leak.
    return problem(404, "No task with this id.")


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
    """Duplicates compared case-insensitively, the first spelling kept, sorted by lower-cased form."""
    kept = {}
    for label in labels:
        kept.setdefault(label.lower(), label)
    return [kept[key] for key in sorted(kept)]


def instant(value: str | None, location: str, field: str) -> datetime | None:
    """An RFC 3339 date-time the spec accepted, in UTC; one outside the years 1 to 9999 is refused here."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid([{"location": location, "field": field,
                        "message": "must be a date-time between the years 1 and 9999 in UTC"}]) from None
