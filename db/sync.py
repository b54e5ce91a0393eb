"""Delta sync: the changes to a user's tasks that a snapshot sees and the client's last one did not
(see db/changes.py)."""

from sqlalchemy import and_, bindparam, not_, select

from db.changes import Snapshot, current_snapshot, seen_by, snapshot_parameters, tombstones
from db.session import transaction
from db.tasks import TASK_COLUMNS, as_task, tasks


def _window(table):
    """The owner's changes unseen by the client's snapshot and seen by the reader's, above the cursor,
    oldest first: a range of the (user_id, change_seq) index."""
    number = table.c.change_seq
    return and_(table.c.user_id == bindparam("owner"), number > bindparam("after"), number < bindparam("now_xmax"),
                not_(seen_by("seen", number)), seen_by("now", number))


CHANGED = select(*TASK_COLUMNS, tasks.c.change_seq).where(_window(tasks)).order_by(tasks.c.change_seq).limit(
    bindparam("limit"))
DELETED = select(tombstones.c.change_seq, tombstones.c.task_id).where(_window(tombstones)).order_by(
    tombstones.c.change_seq).limit(bindparam("limit"))


def changes_since(*, owner: str, seen: Snapshot, limit: int, with_deletions: bool) -> tuple[list, Snapshot, bool]:
    """Up to `limit` changes the client's snapshot `seen` did not see, oldest first: a task dict for
    a live task, a task id for a deleted one; then the snapshot the client has now seen, and whether
    more are waiting.

    The reader's snapshot is taken first, and only what it sees is read: a change that commits
    meanwhile is unseen by it and comes with the next sync. A task changed again since the snapshot
    comes then too, as it is then."""
    with transaction() as connection:
        now = current_snapshot(connection, owner)
        window = {"owner": owner, "after": seen.xmin - 1, "limit": limit + 1, **snapshot_parameters("seen", seen),
                  **snapshot_parameters("now", now)}
        found = [(row[-1], as_task(row)) for row in connection.execute(CHANGED, window)]
        if with_deletions:
            found += [(row.change_seq, row.task_id) for row in connection.execute(DELETED, window)]
            found.sort(key=lambda change: change[0])
    if len(found) > limit:
        # Everything the reader's snapshot sees up to the last change returned has been seen, either
        # then or now: a smaller snapshot than the client holds, so a change can come twice, never not.
        return [change for _, change in found[:limit]], now.truncated(below=found[limit - 1][0] + 1), True
    return [change for _, change in found], now, False
