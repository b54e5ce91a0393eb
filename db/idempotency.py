"""Idempotency keys of create_task, per user, in the database: every process and restart sees the same.

A key is claimed before its task is created and answered with that task once it is: the task and the
answer are written in one step (db/tasks.py), so a key either has an answer or never made a task.
"""

from datetime import datetime, timedelta
from enum import Enum

import orjson
from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from db.changes import NEW_USER
from db.models import IdempotencyKey, utc_now
from db.session import transaction

keys = IdempotencyKey.__table__
# A claim whose request has not answered after this long belongs to a request that died (a crash or a
# lost connection between claim and create): a retry may take it over. Requests never run this long.
ABANDONED_AFTER = timedelta(seconds=60)

# Not named "key": a parameter named after a column would also be taken as a value to SET.
THIS_KEY = and_(keys.c.user_id == bindparam("owner"), keys.c.key == bindparam("client_key"))
READ = select(keys.c.fingerprint, keys.c.created_at, keys.c.claimed_at, keys.c.task, keys.c.change_seq).where(THIS_KEY)
RELEASE = delete(keys).where(THIS_KEY, keys.c.task.is_(None))


class Claim(Enum):
    CLAIMED = "claimed"  # this request may create the task
    RUNNING = "running"  # the key's first request is still at work: 409
    MISMATCH = "mismatch"  # the key was used with another body: 422


def claim(*, owner: str, key: str, fingerprint: str, ttl: timedelta) -> Claim | tuple[dict, int]:
    """Claims `key` for this request, or says why not: the task the key already created (with the
    number of its ETag) or a Claim. An expired or abandoned key is taken over as if new."""
    now = utc_now()
    new = {"user_id": owner, "key": key, "fingerprint": fingerprint, "created_at": now, "claimed_at": now}
    with transaction() as connection:
        connection.execute(NEW_USER[connection.dialect.name], {"owner": owner, "now": now})  # the key's owner
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        inserted = connection.execute(dialect.insert(keys).values(new).on_conflict_do_nothing()
                                      .returning(keys.c.key)).first()
        if inserted is not None:
            return Claim.CLAIMED
        held = connection.execute(READ, {"owner": owner, "client_key": key}).first()
        if held is None or held.created_at < now - ttl:
            return _take_over(connection, new, ttl, now)
        if held.fingerprint != fingerprint:
            return Claim.MISMATCH
        if held.task is not None:
            return orjson.loads(held.task), held.change_seq
        if held.claimed_at < now - ABANDONED_AFTER:
            return _take_over(connection, new, ttl, now)
        return Claim.RUNNING


def release(*, owner: str, key: str) -> None:
    """Frees a claim whose request failed before creating anything, so that a retry can go ahead."""
    with transaction() as connection:
        connection.execute(RELEASE, {"owner": owner, "client_key": key})


def remembering(owner: str, key: str, task_json: str, number):
    """The UPDATE that answers a claimed key with the task created under it (run with the create)."""
    return update(keys).where(keys.c.user_id == owner, keys.c.key == key).values(task=task_json, change_seq=number)


def purge(*, older_than: timedelta) -> int:
    with transaction() as connection:
        return connection.execute(delete(keys).where(keys.c.created_at < utc_now() - older_than)).rowcount


def _take_over(connection, new: dict, ttl: timedelta, now: datetime) -> Claim:
    """Re-claims an expired or abandoned key (or one purged meanwhile), unless another request just did."""
    stale = or_(keys.c.created_at < now - ttl, and_(keys.c.task.is_(None), keys.c.claimed_at < now - ABANDONED_AFTER))
    taken = connection.execute(update(keys).where(THIS_KEY, stale).values(
        fingerprint=new["fingerprint"], created_at=now, claimed_at=now, task=None, change_seq=None)
        .returning(keys.c.key), {"owner": new["user_id"], "client_key": new["key"]}).first()
    if taken is None:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        taken = connection.execute(dialect.insert(keys).values(new).on_conflict_do_nothing()
                                   .returning(keys.c.key)).first()
    return Claim.CLAIMED if taken is not None else Claim.RUNNING
