"""Change numbers and the tombstones of deleted tasks, which delta sync (db/sync.py) reads.

Every write takes its owner's next change number from the owner's row and holds that row until it
commits, so a user's changes commit in the order of their numbers. A reader that reads the owner's
latest number N, and then every task and tombstone numbered up to N, has therefore missed nothing: a
change still in flight then is numbered above N and comes with the next sync. Timestamps could not
promise that, since two transactions may commit in the other order than they read the clock.
"""

from datetime import timedelta

from sqlalchemy import BigInteger, Connection, bindparam, delete, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite

from db.models import TaskTombstone, User, utc_now
from db.session import transaction

users = User.__table__
MAX_NUMBER = 2**63 - 1  # a BIGINT: no change is ever numbered above it
tombstones = TaskTombstone.__table__

NEW_USER = {  # a user's row, unless it is already there
    name: dialect.insert(users).values(id=bindparam("owner"), created_at=bindparam("now")).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
TAKE_NUMBER = update(users).where(users.c.id == bindparam("owner")).values(
    change_seq=users.c.change_seq + 1).returning(users.c.change_seq)
TAKEN = TAKE_NUMBER.cte("taken")
NUMBER_TAKEN = select(TAKEN.c.change_seq).scalar_subquery()
# A create also stores its user on the first request: the upsert takes the number in the same step.
NEW_USER_TAKING_NUMBER = {
    name: dialect.insert(users).values(id=bindparam("owner"), created_at=bindparam("now"), change_seq=1)
    .on_conflict_do_update(index_elements=[users.c.id], set_={"change_seq": users.c.change_seq + 1})
    .returning(users.c.change_seq)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
CREATED = NEW_USER_TAKING_NUMBER["postgresql"].cte("created_user")
NUMBER_CREATED = select(CREATED.c.change_seq).scalar_subquery()
LATEST = select(users.c.change_seq).where(users.c.id == bindparam("owner"))


def number_for(dialect: str, *, creating: bool = False) -> tuple:
    """How a write's statement names its change number, and the CTEs it must carry for it.

    On PostgreSQL the number is taken inside the write's own statement: one round trip, and the owner's
    row is held from then until the statement commits. A statement that uses the number in its WHERE
    takes it before it locks any task, so every write locks in the same order (owner, then task) and
    none can deadlock another. SQLite runs one writer at a time: there the number is taken first, in
    the write's transaction (take_number), and passed in as the parameter `number`."""
    if dialect == "postgresql":
        return (NUMBER_CREATED, [CREATED]) if creating else (NUMBER_TAKEN, [TAKEN])
    return bindparam("number", type_=BigInteger), []


def take_number(connection: Connection, owner: str, *, creating: bool = False) -> dict:
    """The parameters that give a write its number: none on PostgreSQL (the statement takes it)."""
    if connection.dialect.name == "postgresql":
        return {}
    statement = NEW_USER_TAKING_NUMBER["sqlite"] if creating else TAKE_NUMBER
    return {"number": connection.execute(statement, {"owner": owner, "now": utc_now()}).scalar_one_or_none()}


def latest_number(connection: Connection, owner: str) -> int:
    return connection.execute(LATEST, {"owner": owner}).scalar_one_or_none() or 0


def tombstone(deleted, number, owner, now):
    """The INSERT that records the tasks a DELETE ... RETURNING id removed, numbered `number`."""
    return tombstones.insert().from_select(
        ["user_id", "change_seq", "task_id", "deleted_at"],
        select(type_coerce(owner, tombstones.c.user_id.type), number, deleted.c.id,
               type_coerce(now, tombstones.c.deleted_at.type)))


def purge_tombstones(*, older_than: timedelta) -> int:
    """Forgets deletions past their retention, for every user: housekeeping, not a request's query."""
    with transaction() as connection:
        return connection.execute(delete(tombstones).where(tombstones.c.deleted_at < utc_now() - older_than)).rowcount
