"""Single-task statements. Every one takes the owner and puts it in its WHERE clause: isolation lives in SQL.

Each is one statement, one round trip (SQLAlchemy Core), so on PostgreSQL it is atomic under
autocommit. Tasks come back as plain dicts holding exactly the spec's Task fields.
"""

import uuid

from sqlalchemy import Connection, and_, bindparam, case, delete, insert, literal, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

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
# Columns that hold a lower-cased copy of another, for text search.
LOWERED = {"title": "title_lower", "description": "description_lower"}

# The single-task statements are built once: only their parameters change from request to request.
OWNED = and_(tasks.c.id == bindparam("task_id"), tasks.c.user_id == bindparam("owner"))
GET_TASK = select(*TASK_COLUMNS).where(OWNED)
DELETE_TASK = delete(tasks).where(OWNED).returning(tasks.c.id)
NEW_USER = {  # a user's row, unless it is already there
    name: dialect.insert(users).values(id=bindparam("owner"), created_at=bindparam("now")).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
CREATE_TASK = insert(tasks)  # its VALUES come from the parameters
CREATE_TASK_AND_USER = CREATE_TASK.add_cte(NEW_USER["postgresql"].cte("new_user"))
FLIP_COMPLETION = update(tasks).where(OWNED).values(
    completed=not_(tasks.c.completed), completed_at=case((tasks.c.completed, None), else_=bindparam("now")),
    updated_at=bindparam("now")).returning(*TASK_COLUMNS)

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


def create_task(*, owner: str, fields: dict) -> dict:
    """`fields` holds the spec's writable Task fields, labels merged and sorted; absent ones are null."""
    now = utc_now()
    values = {**stored({"description": None, "due_at": None, **fields}), "id": uuid.uuid4(), "user_id": owner, "created_at": now, "updated_at": now,
              "completed_at": now if fields["completed"] else None}
    with transaction() as connection:
        if connection.dialect.name == "postgresql":
            # The user's upsert rides along in the same statement: one round trip, still atomic.
            connection.execute(CREATE_TASK_AND_USER, {**values, "owner": owner, "now": now})
        else:
            connection.execute(NEW_USER[connection.dialect.name], {"owner": owner, "now": now})
            connection.execute(CREATE_TASK, values)
    # Every value stored was chosen here, so the task is answered from them rather than read back.
    return {**{field: values[field] for field in TASK_FIELDS}, "priority": fields["priority"]}


def get_task(*, owner: str, task_id: uuid.UUID) -> dict | None:
    with transaction() as connection:
        ensure_user(connection, owner)
        return as_task(connection.execute(GET_TASK, {"task_id": task_id, "owner": owner}).first())


def update_task(*, owner: str, task_id: uuid.UUID, changes: dict) -> dict | None:
    """Applies only the given fields; `updated_at` moves only if a value really changes."""
    now = literal(utc_now(), tasks.c.updated_at.type)
    values = stored(changes)
    changed = or_(*(tasks.c[name].is_distinct_from(value) for name, value in values.items()
                    if name not in LOWERED.values()))
    if "completed" in changes:  # completing again keeps the first completion time; reopening clears it
        values["completed_at"] = case((tasks.c.completed, tasks.c.completed_at), else_=now) \
            if changes["completed"] else None
    return _update(owner, task_id, {**values, "updated_at": case((changed, now), else_=tasks.c.updated_at)})


def set_completion(*, owner: str, task_id: uuid.UUID, completed: bool | None) -> dict | None:
    """Sets `completed`, or flips it when `completed` is None, in one atomic UPDATE."""
    if completed is None:
        with transaction() as connection:
            ensure_user(connection, owner)
            flipped = connection.execute(FLIP_COMPLETION, {"task_id": task_id, "owner": owner, "now": utc_now()})
            return as_task(flipped.first())
    return update_task(owner=owner, task_id=task_id, changes={"completed": completed})


def delete_task(*, owner: str, task_id: uuid.UUID) -> bool:
    with transaction() as connection:
        ensure_user(connection, owner)
        return connection.execute(DELETE_TASK, {"task_id": task_id, "owner": owner}).first() is not None


def as_task(row) -> dict | None:
    """A row as the spec's Task; zip leaves out any trailing extra column (a page's `total`)."""
    return dict(zip(TASK_FIELDS, row)) if row is not None else None


def stored(fields: dict) -> dict:
    """The columns that hold the given fields, with what is derived from them."""
    values = {}
    for name, value in fields.items():
        if name == "priority":
            values["priority"] = PRIORITIES.index(value)
        elif name == "labels":
            values["labels"], values["label_keys"] = value, [label.lower() for label in value]
        elif name in LOWERED:
            values[name], values[LOWERED[name]] = value, value.lower() if value is not None else None
        else:
            values[name] = value
    return values


def _update(owner: str, task_id: uuid.UUID, values: dict) -> dict | None:
    statement = update(tasks).where(OWNED).values(values).returning(*TASK_COLUMNS)
    with transaction() as connection:
        ensure_user(connection, owner)
        return as_task(connection.execute(statement, {"task_id": task_id, "owner": owner}).first())
