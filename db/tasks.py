"""Queries on tasks. Every one takes the owner and puts it in its WHERE clause: isolation lives in SQL."""

import uuid

from sqlalchemy import case, delete, func, literal, not_, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from db import cursor as cursors
from db.models import Task, User, utc_now
from db.session import transaction

STATUS_FILTERS = {"all": None, "pending": False, "completed": True}
SORT_COLUMNS = {"created_at": Task.created_at, "updated_at": Task.updated_at, "title": Task.title}


def _ensure_user(session: Session, owner: str) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(User).values(id=owner, created_at=utc_now()).on_conflict_do_nothing())


def list_tasks(
    *, owner: str, status: str, sort: str, limit: int, cursor: str | None
) -> tuple[list[Task], int, str | None]:
    """One page in `sort` order after `cursor`, the count matching `status`, and the next cursor."""
    column = SORT_COLUMNS[sort.lstrip("-")]
    descending = sort.startswith("-")
    matching = [Task.user_id == owner]
    if STATUS_FILTERS[status] is not None:
        matching.append(Task.completed == STATUS_FILTERS[status])

    page = select(Task).where(*matching)
    if cursor is not None:
        value, last_id = cursors.decode(cursor, sort)
        position = tuple_(column, Task.id)
        after = tuple_(literal(value, column.type), literal(last_id, Task.id.type))
        page = page.where(position < after if descending else position > after)
    order = (column.desc(), Task.id.desc()) if descending else (column.asc(), Task.id.asc())
    page = page.order_by(*order).limit(limit + 1)

    with transaction() as session:
        _ensure_user(session, owner)
        tasks = list(session.scalars(page))
        count = session.scalar(select(func.count()).select_from(Task).where(*matching))

    next_cursor = None
    if len(tasks) > limit:
        tasks = tasks[:limit]
        last = tasks[-1]
        next_cursor = cursors.encode(sort, getattr(last, column.key), last.id)
    return tasks, count, next_cursor


def create_task(*, owner: str, title: str, description: str | None, completed: bool) -> Task:
    now = utc_now()
    task = Task(user_id=owner, title=title, description=description, completed=completed,
                created_at=now, updated_at=now)
    with transaction() as session:
        _ensure_user(session, owner)
        session.add(task)
    return task


def get_task(*, owner: str, task_id: uuid.UUID) -> Task | None:
    with transaction() as session:
        _ensure_user(session, owner)
        return session.scalar(select(Task).where(Task.id == task_id, Task.user_id == owner))


def update_task(*, owner: str, task_id: uuid.UUID, changes: dict) -> Task | None:
    """Applies only the given fields; `updated_at` moves only if a value really changes."""
    columns = [getattr(Task, name) for name in changes]
    changed = or_(*(column.is_distinct_from(changes[column.key]) for column in columns))
    return _update(owner, task_id, {**changes, "updated_at": _now_if(changed)})


def set_completion(*, owner: str, task_id: uuid.UUID, completed: bool | None) -> Task | None:
    """Sets `completed`, or flips it when `completed` is None, in one atomic UPDATE."""
    if completed is None:
        return _update(owner, task_id, {"completed": not_(Task.completed), "updated_at": utc_now()})
    changed = Task.completed.is_distinct_from(completed)
    return _update(owner, task_id, {"completed": completed, "updated_at": _now_if(changed)})


def delete_task(*, owner: str, task_id: uuid.UUID) -> bool:
    with transaction() as session:
        _ensure_user(session, owner)
        deleted = session.execute(
            delete(Task).where(Task.id == task_id, Task.user_id == owner).returning(Task.id)
        )
        return deleted.first() is not None


def _now_if(changed) -> object:
    return case((changed, literal(utc_now(), Task.updated_at.type)), else_=Task.updated_at)


def _update(owner: str, task_id: uuid.UUID, values: dict) -> Task | None:
    statement = (
        update(Task)
        .where(Task.id == task_id, Task.user_id == owner)
        .values(values)
        .returning(Task)
        .execution_options(synchronize_session=False)
    )
    with transaction() as session:
        _ensure_user(session, owner)
        return session.scalar(statement)

