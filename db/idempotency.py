"""Idempotency keys of create_task, per user, in the database: every process and restart sees the same.

A key is claimed before its task is created and answered with that task once it is: the task and the
answer are written in one step (db/tasks.py), so a key either has an answer or never made a task.
"""

import logging
from datetime import datetime, timedelta
from enum import Enum
from typing import NamedTuple

import orjson
from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from db.changes import NEW_USER
from db.models import IdempotencyKey, utc_now
from db.session import transaction

log = logging.getLogger("tasks_api.idempotency")
keys = IdempotencyKey.__table__
# A claim whose request has not answered after this long belongs to a request that died (a crash or a
# lost connection between claim and create): a retry may take it over. Requests never run this long.
ABANDONED_AFTER = timedelta(seconds=60)

# Not named "key": a parameter named after a column would also be taken as a value to SET.
THIS_KEY = and_(keys.c.user_id == bindparam("owner"), keys.c.key == bindparam("client_key"))
READ = select(keys.c.fingerprint, keys.c.created_at, keys.c.claimed_at, keys.c.task, keys.c.change_seq).where(THIS_KEY)
# Only the claim made then, unanswered: not one a later request has taken over since.
RELEASE = delete(keys).where(THIS_KEY, keys.c.task.is_(None), keys.c.claimed_at == bindparam("claimed_at"))


class Claim(Enum):
    RUNNING = "running"  # the key's first request is still at work: 409
    MISMATCH = "mismatch"  # the key was used with another body: 422


class Claimed(NamedTuple):
    """This request holds the key and may create the task."""

    owner: str
    key: str
    at: datetime


# Claims of creates that failed while the database was away, so that their release failed too. Each
# is released before this process next claims a key: else a retry of the create would find its key
# still claimed, and be told 409, until ABANDONED_AFTER.
_unreleased: set[Claimed] = set()


def claim(*, owner: str, key: str, fingerprint: str, ttl: timedelta) -> Claimed | Claim | tuple[dict, int]:
    """Claims `key` for this request, or says why not: the task the key already created (with the
    number of its ETag) or a Claim. An expired or abandoned key is taken over as if new."""
    now = utc_now()
    new = {"user_id": owner, "key": key, "fingerprint": fingerprint, "created_at": now, "claimed_at": now}
    if _unreleased:
        _release_pending()
    with transaction() as connection:
        connection.execute(NEW_USER[connection.dialect.name], {"owner": owner, "now": now})  # the key's owner
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        inserted = connection.execute(dialect.insert(keys).values(new).on_conflict_do_nothing()
                                      .returning(keys.c.key)).first()
        if inserted is not None:
            return Claimed(owner, key, now)
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


def release(claimed: Claimed) -> None:
    """Frees a claim whose request failed before creating anything, so that a retry can go ahead; if
    the database is away, once it is back. Never raises: the request's own error is the one to answer."""
    try:
        with transaction() as connection:
            _release(connection, claimed)
    except SQLAlchemyError as error:
        log.warning("releasing an idempotency key failed (%s); it is released later", type(error).__name__)
        _unreleased.add(claimed)


def _release_pending() -> None:
    pending = list(_unreleased)
    with transaction() as connection:
        for claimed in pending:
            _release(connection, claimed)
    _unreleased.difference_update(pending)  # once committed


def _release(connection, claimed: Claimed) -> None:
    connection.execute(RELEASE, {"owner": claimed.owner, "client_key": claimed.key, "claimed_at": claimed.at})


def remembering(claim: Claimed, task_json: str, number):
    """The UPDATE that answers a claimed key with the task created under it (run with the create): it
    matches only while the claim is still the one this request made, unanswered."""
    return update(keys).where(keys.c.user_id == claim.owner, keys.c.key == claim.key, keys.c.task.is_(None),
                              keys.c.claimed_at == claim.at).values(task=task_json, change_seq=number)


def purge(*, older_than: timedelta) -> int:
    with transaction() as connection:
        return connection.execute(delete(keys).where(keys.c.created_at < utc_now() - older_than)).rowcount


def _take_over(connection, new: dict, ttl: timedelta, now: datetime) -> Claimed | Claim:
    """Re-claims an expired or abandoned key (or one purged meanwhile), unless another request just did."""
    stale = or_(keys.c.created_at < now - ttl, and_(keys.c.task.is_(None), keys.c.claimed_at < now - ABANDONED_AFTER))
    taken = connection.execute(update(keys).where(THIS_KEY, stale).values(
        fingerprint=new["fingerprint"], created_at=now, claimed_at=now, task=None, change_seq=None)
        .returning(keys.c.key), {"owner": new["user_id"], "client_key": new["key"]}).first()
    if taken is None:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        taken = connection.execute(dialect.insert(keys).values(new).on_conflict_do_nothing()
                                   .returning(keys.c.key)).first()
    return Claimed(new["user_id"], new["key"], now) if taken is not None else Claim.RUNNING
