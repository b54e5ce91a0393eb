"""Queries on tasks. Every one takes the owner and puts it in its WHERE clause: isolation lives in SQL.

Each is one statement, one round trip (SQLAlchemy Core), so on PostgreSQL it is atomic under
autocommit. Tasks come back as plain dicts holding exactly the spec's Task fields.
"""

import uuid

from sqlalchemy import (
    Connection,
    DateTime,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from db import cursor as cursors
from db.models import Task, User, utc_now
from db.session import engine, transaction

tasks = Task.__table__
users = User.__table__
STATUS_FILTERS = {"all": None, "pending": False, "completed": True}
SORT_COLUMNS = {"created_at": tasks.c.created_at, "updated_at": tasks.c.updated_at, "title": tasks.c.title}
KNOWN_USERS_LIMIT = 100_000
# The spec's Task, in this order, is what every task query selects and returns: as_task zips by position.
TASK_FIELDS = ("id", "user_id", "title", "description", "completed", "created_at", "updated_at")
TASK_COLUMNS = [tasks.c[field] for field in TASK_FIELDS]

# A page read on PostgreSQL takes ids as text and timestamps as the session returns them (aware, in
# UTC: db/session.py), skipping the per-value conversions to UUID and through SQLModel's UTC type,
# which cost more than the query itself on a page of 1,000. The JSON is the same. SQLite stores both
# as naive text, so there the model's types do the conversion.
POSTGRESQL_PAGE_COLUMNS = [
    cast(column, String).label("id") if column.key == "id"
    else type_coerce(column, DateTime(timezone=True)).label(column.key) if column.key in ("created_at", "updated_at")
    else column
    for column in TASK_COLUMNS
]

# The single-task statements are built once: only their parameters change from request to request.
OWNED = and_(tasks.c.id == bindparam("task_id"), tasks.c.user_id == bindparam("owner"))
GET_TASK = select(*TASK_COLUMNS).where(OWNED)
DELETE_TASK = delete(tasks).where(OWNED).returning(tasks.c.id)
NEW_USER = {  # a user's row, unless it is already there
    name: dialect.insert(users).values(id=bindparam("owner"), created_at=bindparam("now")).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
CREATE_TASK = insert(tasks).returning(*TASK_COLUMNS)  # its VALUES come from the parameters
CREATE_TASK_AND_USER = CREATE_TASK.add_cte(NEW_USER["postgresql"].cte("new_user"))
FLIP_COMPLETION = update(tasks).where(OWNED).values(
    completed=not_(tasks.c.completed), updated_at=bindparam("now")).returning(*TASK_COLUMNS)

# (database, user) pairs this process has already stored: reads skip the upsert after a user's first
# request. Creates never rely on it: they always upsert, so a user deleted meanwhile is stored again.
_known_users: set[tuple[URL, str]] = set()


def _ensure_user(connection: Connection, owner: str) -> None:
    known = (connection.engine.url, owner)
    if known in _known_users:
        return
    connection.execute(NEW_USER[connection.dialect.name], {"owner": owner, "now": utc_now()})
    if len(_known_users) >= KNOWN_USERS_LIMIT:
        _known_users.clear()
    _known_users.add(known)


def list_tasks(
    *, owner: str, status: str, sort: str, limit: int, cursor: str | None
) -> tuple[list[dict], int, str | None]:
    """One page in `sort` order after `cursor`, the count matching `status`, and the next cursor."""
    column = SORT_COLUMNS[sort.lstrip("-")]
    descending = sort.startswith("-")
    matching = [tasks.c.user_id == owner]
    if STATUS_FILTERS[status] is not None:
        matching.append(tasks.c.completed == STATUS_FILTERS[status])
    counted = select(func.count()).select_from(tasks).where(*matching)

    columns = POSTGRESQL_PAGE_COLUMNS if engine().dialect.name == "postgresql" else TASK_COLUMNS
    page = select(*columns, counted.scalar_subquery().label("total")).where(*matching)
    if cursor is not None:
        value, last_id = cursors.decode(cursor, sort)
        position = tuple_(column, tasks.c.id)
        after = tuple_(literal(value, column.type), literal(last_id, tasks.c.id.type))
        page = page.where(position < after if descending else position > after)
    order = (column.desc(), tasks.c.id.desc()) if descending else (column.asc(), tasks.c.id.asc())
    page = page.order_by(*order).limit(limit + 1)

    with transaction() as connection:
        _ensure_user(connection, owner)
        rows = connection.execute(page).all()
        count = rows[0].total if rows else connection.execute(counted).scalar_one()

    found = [as_task(row) for row in rows[:limit]]
    next_cursor = cursors.encode(sort, found[-1][column.key], found[-1]["id"]) if len(rows) > limit else None
    return found, count, next_cursor


def create_task(*, owner: str, title: str, description: str | None, completed: bool) -> dict:
    now = utc_now()
    values = {"id": uuid.uuid4(), "user_id": owner, "title": title, "description": description,
              "completed": completed, "created_at": now, "updated_at": now}
    with transaction() as connection:
        if connection.dialect.name == "postgresql":
            # The user's upsert rides along in the same statement: one round trip, still atomic.
            return as_task(connection.execute(CREATE_TASK_AND_USER, {**values, "owner": owner, "now": now}).one())
        connection.execute(NEW_USER[connection.dialect.name], {"owner": owner, "now": now})
        return as_task(connection.execute(CREATE_TASK, values).one())


def get_task(*, owner: str, task_id: uuid.UUID) -> dict | None:
    with transaction() as connection:
        _ensure_user(connection, owner)
        return as_task(connection.execute(GET_TASK, {"task_id": task_id, "owner": owner}).first())


def update_task(*, owner: str, task_id: uuid.UUID, changes: dict) -> dict | None:
    """Applies only the given fields; `updated_at` moves only if a value really changes."""
    changed = or_(*(tasks.c[name].is_distinct_from(value) for name, value in changes.items()))
    return _update(owner, task_id, {**changes, "updated_at": _now_if(changed)})


def set_completion(*, owner: str, task_id: uuid.UUID, completed: bool | None) -> dict | None:
    """Sets `completed`, or flips it when `completed` is None, in one atomic UPDATE."""
    if completed is None:
        with transaction() as connection:
            _ensure_user(connection, owner)
            flipped = connection.execute(FLIP_COMPLETION, {"task_id": task_id, "owner": owner, "now": utc_now()})
            return as_task(flipped.first())
    changed = tasks.c.completed.is_distinct_from(completed)
    return _update(owner, task_id, {"completed": completed, "updated_at": _now_if(changed)})


def delete_task(*, owner: str, task_id: uuid.UUID) -> bool:
    with transaction() as connection:
        _ensure_user(connection, owner)
        return connection.execute(DELETE_TASK, {"task_id": task_id, "owner": owner}).first() is not None


def as_task(row) -> dict | None:
    """A row as the spec's Task; zip leaves out any trailing extra column (a page's `total`)."""
    return dict(zip(TASK_FIELDS, row)) if row is not None else None


def _now_if(changed) -> object:
    return case((changed, literal(utc_now(), tasks.c.updated_at.type)), else_=tasks.c.updated_at)


def _update(owner: str, task_id: uuid.UUID, values: dict) -> dict | None:
    statement = update(tasks).where(OWNED).values(values).returning(*TASK_COLUMNS)
    with transaction() as connection:
        _ensure_user(connection, owner)
        return as_task(connection.execute(statement, {"task_id": task_id, "owner": owner}).first())
