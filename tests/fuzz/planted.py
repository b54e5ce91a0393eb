"""Serves tasks-api with one owner filter deliberately removed, to prove the fuzzing catches it.

Test-only: it lives under tests/, patches a throwaway process, and no setting reaches it.
Usage: python tests/fuzz/planted.py read|write PORT
"""

import sys

import uvicorn
from sqlalchemy import not_, select, update

import db.tasks
from db.session import transaction
from db.tasks import VERSIONED, as_versioned, tasks
from handlers.app import create_app_from_env


def get_task_of_anyone(*, owner, task_id):
    with transaction() as connection:
        return as_versioned(connection.execute(select(*VERSIONED).where(tasks.c.id == task_id)).first())


def update_task_of_anyone(owner, task_id, columns, values, if_match):
    changes = {name.removeprefix("new_"): value for name, value in values.items()} or \
        {"completed": not_(tasks.c.completed)}  # a toggle without a body
    with transaction() as connection:
        return as_versioned(connection.execute(
            update(tasks).where(tasks.c.id == task_id).values(changes).returning(*VERSIONED)).first())


BROKEN = {"read": ("get_task", get_task_of_anyone), "write": ("_update", update_task_of_anyone)}

if __name__ == "__main__":
    name, replacement = BROKEN[sys.argv[1]]
    setattr(db.tasks, name, replacement)
    uvicorn.run(create_app_from_env(), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
