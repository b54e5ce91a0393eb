"""One page of a user's tasks: the filters, the sort orders and the keyset positions between pages."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    DateTime,
    Select,
    String,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB

from db import cursor as cursors
from db.models import PRIORITIES
from db.session import engine, transaction
from db.tasks import TASK_COLUMNS, TASK_FIELDS, as_task, ensure_user, tasks

STATUS_FILTERS = {"all": None, "pending": False, "completed": True}
SORT_COLUMNS = {name: tasks.c[name] for name in ("created_at", "updated_at", "title", "due_at", "priority")}
TIMESTAMPS = ("created_at", "updated_at", "due_at", "completed_at")

@dataclass(frozen=True)
class Filters:
    """What a listed task must match, besides its owner; every field narrows the list (AND)."""

    status: str = "all"
    q: str | None = None
    labels: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    due_before: datetime | None = None
    due_after: datetime | None = None


def list_tasks(*, owner: str, filters: Filters, sort: str, limit: int,
               cursor: str | None) -> tuple[list[dict], int, str | None]:
    """One page in `sort` order after `cursor`, the count matching the filters, and the next cursor."""
    dialect = engine().dialect.name
    matching = conditions(owner, filters, dialect)
    counted = select(func.count()).select_from(tasks).where(*matching)
    page = page_query(matching, counted.scalar_subquery().label("total"), sort, limit, cursor, dialect)

    with transaction() as connection:
        ensure_user(connection, owner)
        rows = connection.execute(page).all()
        count = rows[0].total if rows else connection.execute(counted).scalar_one()

    found = [as_task(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        key = sort.lstrip("-")
        last = found[-1][key] if key != "priority" else PRIORITIES.index(found[-1][key])
        next_cursor = cursors.encode(sort, last, found[-1]["id"])
    return found, count, next_cursor


def conditions(owner: str, filters: Filters, dialect: str) -> list:
    matching = [tasks.c.user_id == owner]
    if STATUS_FILTERS[filters.status] is not None:
        matching.append(tasks.c.completed == STATUS_FILTERS[filters.status])
    for word in (filters.q or "").lower().split():
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matching.append(or_(tasks.c.title_lower.like(pattern, escape="\\"),
                            tasks.c.description_lower.like(pattern, escape="\\")))
    keys = sorted({label.casefold() for label in filters.labels})  # as db/tasks.py stores them
    if keys and dialect == "postgresql":
        matching.append(type_coerce(tasks.c.label_keys, JSONB).contains(keys))  # served by GIN jsonb_path_ops
    for key in keys if dialect != "postgresql" else ():
        carried = func.json_each(tasks.c.label_keys).table_valued("value")
        matching.append(exists().select_from(carried).where(carried.c.value == key))
    if filters.priorities:
        matching.append(tasks.c.priority.in_(sorted({PRIORITIES.index(p) for p in filters.priorities})))
    if filters.due_before is not None:
        matching.append(tasks.c.due_at < filters.due_before)
    if filters.due_after is not None:
        matching.append(tasks.c.due_at >= filters.due_after)
    return matching


def page_query(matching: list, total, sort: str, limit: int, cursor: str | None, dialect: str) -> Select:
    """limit + 1 rows after the cursor, in sort order, each carrying the `total` column."""
    key = sort.lstrip("-")
    column, descending = SORT_COLUMNS[key], sort.startswith("-")
    after = cursors.decode(cursor, sort) if cursor is not None else None
    if key != "due_at":
        page = select(*PAGE_COLUMNS[dialect == "postgresql"], total).where(*matching)
        if after is not None:
            page = page.where(_beyond(column, after, descending))
        return page.order_by(*_order(column, tasks.c.id, descending)).limit(limit + 1)

    # Tasks without a due date come last both ways. An index walk cannot start from a position that an
    # OR with IS NULL describes, so the dated and the undated tasks are each one index-ordered walk,
    # and the page is the first limit + 1 rows of the two, dated first.
    undated = select(*TASK_COLUMNS).where(*matching, column.is_(None))
    parts = [undated]
    if after is None or after[0] is not None:
        dated = select(*TASK_COLUMNS).where(*matching, column.is_not(None))
        parts.insert(0, dated.where(_beyond(column, after, descending)) if after is not None else dated)
    else:  # the walk is already among the undated
        parts[0] = undated.where(tasks.c.id < after[1] if descending else tasks.c.id > after[1])
    walks = [select(part.order_by(*_order(column, tasks.c.id, descending)).limit(limit + 1).subquery())
             for part in parts]
    joined = union_all(*walks).subquery()
    order = _order(joined.c.due_at, joined.c.id, descending)
    return (select(*_readable({field: joined.c[field] for field in TASK_FIELDS}, dialect), total)
            .order_by(order[0].nulls_last(), order[1]).limit(limit + 1))


def _readable(columns: dict, dialect: str) -> list:
    """The Task fields to select. A page read on PostgreSQL takes ids as text and timestamps as the
    session returns them (aware, in UTC: db/session.py), skipping the per-value conversions to UUID and
    through SQLModel's UTC type, which cost more than the query itself on a page of 1,000. The JSON is
    the same. SQLite stores both as naive text, so there the model's types do the conversion."""
    if dialect != "postgresql":
        return list(columns.values())
    return [cast(column, String).label(name) if name == "id"
            else type_coerce(column, DateTime(timezone=True)).label(name) if name in TIMESTAMPS
            else column for name, column in columns.items()]


PAGE_COLUMNS = {on_postgresql: _readable(dict(zip(TASK_FIELDS, TASK_COLUMNS)), "postgresql" if on_postgresql else "")
                for on_postgresql in (False, True)}  # built once: only the parameters change per request


def _beyond(column, after: tuple, descending: bool):
    value, last_id = after
    position = tuple_(column, tasks.c.id)
    bound = tuple_(literal(value, column.type), literal(last_id, tasks.c.id.type))
    return position < bound if descending else position > bound


def _order(column, task_id, descending: bool) -> tuple:
    return (column.desc(), task_id.desc()) if descending else (column.asc(), task_id.asc())
