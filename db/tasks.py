"""Single-task statements. Every one takes the owner and puts it in its WHERE clause: isolation lives in SQL.

Each is one statement, one round trip (SQLAlchemy Core), so on PostgreSQL it is atomic under
autocommit; on SQLite a write is one transaction. Tasks come back as plain dicts holding exactly the
spec's Task fields, with the number of the change that last changed them (their ETag).
"""

import uuid
from functools import cache

import orjson
from sqlalchemy import Connection, and_, bindparam, case, delete, insert, literal, not_, or_, select, true, update
from sqlalchemy.engine import URL

from db import changes
from db.changes import NEW_USER
from db.idempotency import Claimed, remembering
from db.models import PRIORITIES, Task, User, utc_now
from db.session import transaction

tasks = Task.__table__
users = User.__table__
KNOWN_USERS_LIMIT = 100_000
# The spec's Task, in this order, is what every task query selects and returns: as_task zips by position.
TASK_FIELDS = ("id", "user_id", "title", "description", "completed", "completed_at", "due_at", "priority", "labels",
               "created_at", "updated_at")
PRIORITY_NAME = case({rank: name for rank, name in enumerate(PRIORITIES)}, value=tasks.c.priority).label("priority")
TASK_COLUMNS = [PRIORITY_NAME if field == "priority" else tasks.c[field] for field in TASK_FIELDS]
VERSIONED = [*TASK_COLUMNS, tasks.c.change_seq]  # a task and the number its ETag is made of
# Columns that hold a lower-cased copy of another, for text search.
LOWERED = {"title": "title_lower", "description": "description_lower"}
ANY = None  # an If-Match of `*`, or none: the write goes ahead whatever the task's version

# The single-task statements are built once: only their parameters change from request to request.
# One task, by its primary key, only if it is the owner's. On PostgreSQL the owner is compared under
# the "C" collation, the same equality as the column's (a deterministic collation compares bytes),
# which no (user_id, ...) index is built with: without statistics (a new or not yet analysed table)
# the planner otherwise tied one of those with the primary key and walked all the owner's tasks.
OWNED = {dialect: and_(tasks.c.id == bindparam("task_id"), owner == bindparam("owner"))
         for dialect, owner in (("postgresql", tasks.c.user_id.collate("C")), ("sqlite", tasks.c.user_id))}
GET_TASK = {dialect: select(*VERSIONED).where(owned) for dialect, owned in OWNED.items()}
EXISTS = {dialect: select(tasks.c.id).where(owned) for dialect, owned in OWNED.items()}
CREATE_TASK = insert(tasks)  # its VALUES come from the parameters


class PreconditionFailed(Exception):
    """The task exists, but at none of the versions the request's If-Match named."""


# (database, user) pairs this process has already stored: reads skip the upsert after a user's first
# request. Creates never rely on it: they always upsert, so a user deleted meanwhile is stored again.
_known_users: set[tuple[URL, str]] = set()


def ensure_user(connection: Connection, owner: str) -> None:
    known = (connection.engine.url, owner)
    if known in _known_users:
        return
    connection.execute(NEW_USER[connection.dialect.name], {"owner": owner, "now": utc_now()})
    if len(_known_users) >= KNOWN_USERS_LIMIT:
        _known_users.clear()
    _known_users.add(known)


def create_task(*, owner: str, fields: dict, claim: Claimed | None = None) -> tuple[dict, int] | None:
    """`fields` holds the spec's writable Task fields, labels merged and sorted; absent ones are null.

    With an idempotency key's claim (db.idempotency), the task is remembered under the key in the same
    step, and made only while the claim is still this request's: None if it is not. A statement can
    outlive its request, cut off while a pooler held it (db/session.py) and its claim released since;
    a request that ran past ABANDONED_AFTER has lost its key to the next request with it."""
    now = utc_now()
    values = {**stored({"description": None, "due_at": None, **fields}), "id": uuid.uuid4(), "user_id": owner,
              "created_at": now, "updated_at": now, "completed_at": now if fields["completed"] else None}
    # Every value stored is chosen here, so the task is answered from them rather than read back.
    task = {**{field: values[field] for field in TASK_FIELDS}, "priority": fields["priority"]}
    with transaction() as connection:
        dialect = connection.dialect.name
        numbered = changes.take_number(connection, owner, creating=True)
        if claim is None:
            return task, connection.execute(_create(dialect), {**values, **numbered, "owner": owner, "now": now}
                                            ).scalar_one()
        number, ctes = changes.number_for(dialect, creating=True)
        remember = remembering(claim, orjson.dumps(task, option=orjson.OPT_UTC_Z).decode(), number)
        if dialect == "postgresql":
            # The task's row comes from the key's UPDATE: none if the claim is no longer there to answer.
            # Values given in the statement, not as execution parameters, which SQLAlchemy would also
            # apply to the columns of the same names in the key's UPDATE.
            remembered = remember.returning(remember.table.c.key).cte("remembered")
            row = select(*(literal(value, tasks.c[name].type) for name, value in values.items()), number)
            statement = (insert(tasks).from_select([*values, "change_seq"], row.select_from(remembered))
                         .returning(tasks.c.change_seq).add_cte(*ctes, remembered))
        elif connection.execute(remember, numbered).rowcount == 0:
            return None
        else:
            statement = CREATE_TASK.values(**values, change_seq=number).returning(tasks.c.change_seq)
        made = connection.execute(statement, {**numbered, "owner": owner, "now": now}).scalar_one_or_none()
        return None if made is None else (task, made)


def get_task(*, owner: str, task_id: uuid.UUID) -> tuple[dict, int] | None:
    with transaction() as connection:
        ensure_user(connection, owner)
        found = connection.execute(GET_TASK[connection.dialect.name], {"task_id": task_id, "owner": owner})
        return as_versioned(found.first())


def update_task(*, owner: str, task_id: uuid.UUID, changes: dict, if_match: set[int] | None = ANY
                ) -> tuple[dict, int] | None:
    """Applies only the given fields; `updated_at` and the version move only if a value really changes.
    With `if_match`, only while the task is at one of those versions (else PreconditionFailed)."""
    values = stored(changes)
    return _update(owner, task_id, tuple(sorted(values)), {f"new_{name}": value for name, value in values.items()},
                   if_match)


def set_completion(*, owner: str, task_id: uuid.UUID, completed: bool | None, if_match: set[int] | None = ANY
                   ) -> tuple[dict, int] | None:
    """Sets `completed`, or flips it when `completed` is None, in one atomic UPDATE."""
    if completed is not None:
        return update_task(owner=owner, task_id=task_id, changes={"completed": completed}, if_match=if_match)
    return _update(owner, task_id, FLIP, {}, if_match)


def delete_task(*, owner: str, task_id: uuid.UUID, if_match: set[int] | None = ANY) -> bool:
    """Deletes the task and leaves its tombstone, numbered as a change (db/changes.py), in one step."""
    now = utc_now()
    with transaction() as connection:
        dialect = connection.dialect.name
        ensure_user(connection, owner)
        params = {**changes.take_number(connection, owner), "task_id": task_id, "owner": owner, "now": now,
                  **_versions(if_match)}
        deleted = connection.execute(_delete(dialect, if_match is not ANY), params).first() is not None
        if deleted and dialect != "postgresql":
            connection.execute(changes.tombstones.insert(), {"user_id": owner, "change_seq": params["number"],
                                                             "task_id": task_id, "deleted_at": now})
        if not deleted and if_match is not ANY:
            _refuse_if_present(connection, owner, task_id)
        return deleted


def as_task(row) -> dict | None:
    """A row as the spec's Task; zip leaves out any trailing extra column (a page's `total`)."""
    return dict(zip(TASK_FIELDS, row)) if row is not None else None


def as_versioned(row) -> tuple[dict, int] | None:
    return (as_task(row), row[-1]) if row is not None else None


def stored(fields: dict) -> dict:
    """The columns that hold the given fields, with what is derived from them."""
    values = {}
    for name, value in fields.items():
        if name == "priority":
            values["priority"] = PRIORITIES.index(value)
        elif name == "labels":
            values["labels"], values["label_keys"] = value, [label.casefold() for label in value]
        elif name in LOWERED:
            values[name], values[LOWERED[name]] = value, value.lower() if value is not None else None
        else:
            values[name] = value
    return values


FLIP = ("flip",)  # the columns "given" to a toggle without a body: completed becomes its opposite
NOW = bindparam("now", type_=tasks.c.updated_at.type)


def _update(owner: str, task_id: uuid.UUID, columns: tuple[str, ...], values: dict, if_match: set[int] | None):
    with transaction() as connection:
        ensure_user(connection, owner)
        params = {**changes.take_number(connection, owner), **values, **_versions(if_match), "task_id": task_id,
                  "owner": owner, "now": utc_now()}
        row = connection.execute(_update_statement(connection.dialect.name, columns, if_match is not ANY),
                                 params).first()
        if row is None and if_match is not ANY:
            _refuse_if_present(connection, owner, task_id)
        return as_versioned(row)


@cache
def _update_statement(dialect: str, columns: tuple[str, ...], conditional: bool):
    """An owner-scoped UPDATE of these columns (their values are the parameters new_<column>), built once
    per shape: `updated_at` and the change number move only if a value really changes."""
    number, ctes = changes.number_for(dialect)
    if columns == FLIP:
        values, changed = {"completed": not_(tasks.c.completed),
                           "completed_at": case((tasks.c.completed, None), else_=NOW)}, true()
    else:
        values = {name: bindparam(f"new_{name}", type_=tasks.c[name].type) for name in columns}
        changed = or_(*(tasks.c[name].is_distinct_from(value) for name, value in values.items()
                        if name not in LOWERED.values()))
        if "completed" in columns:  # completing again keeps the first completion time; reopening clears it
            values["completed_at"] = case((values["completed"], case((tasks.c.completed, tasks.c.completed_at),
                                                                     else_=NOW)), else_=None)
    return update(tasks).where(OWNED[dialect], number.is_not(None), *_at_version(conditional)).values(
        **values, updated_at=case((changed, NOW), else_=tasks.c.updated_at),
        change_seq=case((changed, number), else_=tasks.c.change_seq)).returning(*VERSIONED).add_cte(*ctes)


@cache
def _delete(dialect: str, conditional: bool):
    number, ctes = changes.number_for(dialect)
    removing = delete(tasks).where(OWNED[dialect], number.is_not(None), *_at_version(conditional)).returning(tasks.c.id)
    if dialect != "postgresql":
        return removing  # db.changes' tombstone follows in the same transaction
    gone = removing.cte("gone")
    return changes.tombstone(gone, number, bindparam("owner"), NOW).returning(
        changes.tombstones.c.task_id).add_cte(*ctes, gone)


@cache
def _create(dialect: str):
    number, ctes = changes.number_for(dialect, creating=True)
    return CREATE_TASK.values(change_seq=number).returning(tasks.c.change_seq).add_cte(*ctes)


def _at_version(conditional: bool) -> list:
    """The If-Match check, in the write's own WHERE: the check and the write are one atomic step."""
    return [tasks.c.change_seq.in_(bindparam("versions", expanding=True))] if conditional else []


def _versions(if_match: set[int] | None) -> dict:
    return {} if if_match is ANY else {"versions": sorted(if_match)}


def _refuse_if_present(connection: Connection, owner: str, task_id: uuid.UUID) -> None:
    """A conditional write that changed nothing: 412 if the task is there, else the caller's 404."""
    if connection.execute(EXISTS[connection.dialect.name], {"task_id": task_id, "owner": owner}).first() is not None:
        raise PreconditionFailed
