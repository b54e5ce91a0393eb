"""Delta sync: a user's changes numbered above a point the client holds (see db/changes.py)."""

from sqlalchemy import bindparam, select

from db.changes import latest_number, tombstones
from db.session import transaction
from db.tasks import TASK_COLUMNS, as_task, tasks

CHANGED = select(*TASK_COLUMNS, tasks.c.change_seq).where(
    tasks.c.user_id == bindparam("owner"), tasks.c.change_seq > bindparam("since"),
    tasks.c.change_seq <= bindparam("latest")).order_by(tasks.c.change_seq).limit(bindparam("limit"))
DELETED = select(tombstones.c.change_seq, tombstones.c.task_id).where(
    tombstones.c.user_id == bindparam("owner"), tombstones.c.change_seq > bindparam("since"),
    tombstones.c.change_seq <= bindparam("latest")).order_by(tombstones.c.change_seq).limit(bindparam("limit"))


def changes_since(*, owner: str, since: int, limit: int, with_deletions: bool) -> tuple[list, int, bool]:
    """Up to `limit` changes numbered above `since`, in order: a task dict for a live task, a task id
    for a deleted one; then the number to resume from and whether more are waiting.

    The owner's latest number is read first: every change numbered up to it has committed, so reading
    up to it misses none, whatever commits meanwhile (numbered higher, it comes with the next sync)."""
    with transaction() as connection:
        latest = latest_number(connection, owner)
        window = {"owner": owner, "since": since, "latest": latest, "limit": limit + 1}
        found = [(row[-1], as_task(row)) for row in connection.execute(CHANGED, window)]
        if with_deletions:
            found += [(row.change_seq, row.task_id) for row in connection.execute(DELETED, window)]
            found.sort(key=lambda change: change[0])
    if len(found) > limit:
        return [change for _, change in found[:limit]], found[limit - 1][0], True
    return [change for _, change in found], latest, False
