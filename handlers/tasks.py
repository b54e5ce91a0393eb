"""The spec's task operations. Validated arguments in, (body, status[, headers]) out.

The security function has already matched the path's `user_id` to the token; every query is still
scoped by the token's subject, `user`, so a path can never widen what a caller reaches.
"""

import uuid

from db import tasks
from handlers.problems import problem

# Tasks arrive from db/ as dicts of the spec's Task fields; the app's JSON encoder writes their UUIDs
# and UTC datetimes (RFC 3339, `Z`) itself.
JSON = {"Content-Type": "application/json"}


def list_tasks(user, user_id, status, sort, limit, cursor=None):  # Connexion fills in the spec's defaults
    page, count, next_cursor = tasks.list_tasks(owner=user, status=status, sort=sort, limit=limit, cursor=cursor)
    return {"tasks": page, "count": count, "next_cursor": next_cursor}, 200, JSON


def create_task(user, user_id, task):
    created = tasks.create_task(owner=user, title=task["title"], description=task.get("description"),
                                completed=task.get("completed", False))
    return created, 201, {**JSON, "Location": f"/api/{user_id}/tasks/{created['id']}"}


def get_task(user, user_id, task_id):
    return found(tasks.get_task(owner=user, task_id=uuid.UUID(task_id)))


def update_task(user, user_id, task_id, changes):
    return found(tasks.update_task(owner=user, task_id=uuid.UUID(task_id), changes=changes))


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
