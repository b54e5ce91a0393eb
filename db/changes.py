"""Change numbers and the tombstones of deleted tasks, which delta sync (db/sync.py) reads.

Every write numbers the task (or the tombstone) it leaves, and the number is its ETag. Delta sync
needs more of the numbers: a reader must be able to say which changes it has seen, although writers
commit in another order than they took their numbers. Timestamps cannot, and neither can a sequence.

On PostgreSQL a change is numbered by its own transaction's id (`pg_current_xact_id()`, 64 bits,
never reused): the very number by which PostgreSQL decides what a snapshot sees. A reader takes a
snapshot, which is three things: every number below `xmin` has ended, none from `xmax` on had begun,
and `in_progress` lists those between that were still running. It returns the changes the snapshot
sees that the client's last one did not, and hands the snapshot to the client as its token: a change
still in flight at the time is one the snapshot does not see, so it comes with the next sync. No write
waits for another: one user's creates run side by side.

SQLite runs one writer at a time. There a write takes its user's next number from the user's row,
in its transaction, so a user's changes commit in the order of their numbers, and the reader's
snapshot is simply "everything up to the user's latest number".
"""

from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from db.models import TaskTombstone, User, utc_now
from db.session import transaction

users = User.__table__
MAX_NUMBER = 2**63 - 1  # a BIGINT: no change is ever numbered above it
tombstones = TaskTombstone.__table__


class Snapshot(NamedTuple):
    """Which change numbers a reader has seen: all below `xmin`, none from `xmax` on, and between
    them all but `in_progress` (PostgreSQL's pg_snapshot, for any database)."""
    xmin: int
    xmax: int
    in_progress: tuple[int, ...] = ()

    @classmethod
    def up_to(cls, number: int) -> "Snapshot":
        return cls(number + 1, number + 1)

    def truncated(self, below: int) -> "Snapshot":
        """What this snapshot sees of the numbers below `below`, and nothing above: it sees no more."""
        end = min(self.xmax, below)
        return Snapshot(min(self.xmin, end), end, tuple(number for number in self.in_progress if number < end))


NOTHING_SEEN = Snapshot(0, 0)

NEW_USER = {  # a user's row, unless it is already there (every value given: a CTE applies no column default)
    name: dialect.insert(users).values(id=bindparam("owner"), created_at=bindparam("now"), change_seq=0
                                       ).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
# The number of the statement's own transaction, which the statement's rows are stored with.
TRANSACTION_NUMBER = cast(cast(func.pg_current_xact_id(), Text), BigInteger)
# On SQLite a write takes its user's next number first; a create also stores its user on the first request.
TAKE_NUMBER = update(users).where(users.c.id == bindparam("owner")).values(
    change_seq=users.c.change_seq + 1).returning(users.c.change_seq)
NEW_USER_TAKING_NUMBER = sqlite.insert(users).values(id=bindparam("owner"), created_at=bindparam("now"), change_seq=1
    ).on_conflict_do_update(index_elements=[users.c.id], set_={"change_seq": users.c.change_seq + 1}
    ).returning(users.c.change_seq)
# A create on PostgreSQL stores its user in the same statement (the task's foreign key needs the row).
STORING_USER = NEW_USER["postgresql"].cte("new_user")
LATEST = select(users.c.change_seq).where(users.c.id == bindparam("owner"))
CURRENT_SNAPSHOT = select(*(cast(cast(part, Text), BigInteger) for part in (
    func.pg_snapshot_xmin(func.pg_current_snapshot()), func.pg_snapshot_xmax(func.pg_current_snapshot()))),
    func.array(select(cast(cast(func.pg_snapshot_xip(func.pg_current_snapshot()), Text), BigInteger))
               .scalar_subquery()))


def number_for(dialect: str, *, creating: bool = False) -> tuple:
    """How a write's statement names its change number, and the CTEs it must carry for it.

    On PostgreSQL the number is the statement's transaction's (each statement commits by itself),
    so the write takes no lock beyond the task's own row. On SQLite the write's transaction takes
    the number first (take_number) and passes it in as the parameter `number`."""
    if dialect == "postgresql":
        return TRANSACTION_NUMBER, [STORING_USER] if creating else []
    return bindparam("number", type_=BigInteger), []


def take_number(connection: Connection, owner: str, *, creating: bool = False) -> dict:
    """The parameters that give a write its number: none on PostgreSQL (the statement takes it)."""
    if connection.dialect.name == "postgresql":
        return {}
    statement = NEW_USER_TAKING_NUMBER if creating else TAKE_NUMBER
    return {"number": connection.execute(statement, {"owner": owner, "now": utc_now()}).scalar_one_or_none()}


def current_snapshot(connection: Connection, owner: str) -> Snapshot:
    """What has committed now: taken before a reader reads, it sees nothing that commits meanwhile."""
    if connection.dialect.name == "postgresql":
        xmin, xmax, in_progress = connection.execute(CURRENT_SNAPSHOT).one()
        return Snapshot(xmin, xmax, tuple(in_progress))
    return Snapshot.up_to(connection.execute(LATEST, {"owner": owner}).scalar_one_or_none() or 0)


def seen_by(snapshot: str, number: ColumnElement) -> ColumnElement:
    """Whether the snapshot given as the parameters <snapshot>_xmin, _xmax and _in_progress sees `number`."""
    xmin, xmax = bindparam(f"{snapshot}_xmin", type_=BigInteger), bindparam(f"{snapshot}_xmax", type_=BigInteger)
    return or_(number < xmin, and_(number < xmax, number.not_in(bindparam(f"{snapshot}_in_progress", expanding=True))))


def snapshot_parameters(name: str, snapshot: Snapshot) -> dict:
    return {f"{name}_xmin": snapshot.xmin, f"{name}_xmax": snapshot.xmax,
            f"{name}_in_progress": list(snapshot.in_progress)}


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
