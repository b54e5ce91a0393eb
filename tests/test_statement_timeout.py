"""DB_STATEMENT_TIMEOUT: a statement stuck in the database is cancelled and answered 503, and its
connection serves the next request, directly and through PgBouncer in transaction mode."""

import os
import time
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, text

from db.session import _OVERDUE, make_engine
from handlers.app import create_app

APP_BACKENDS = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND pid <> :holder ORDER BY pid")


def test_a_statement_past_the_timeout_is_a_503_and_its_connection_serves_on(request, database_url, settings, client,
                                                                            alice, alice_headers):
    """`client` is the suite's shared app: asked for so that its clean-up empties the tables after."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no statement timeout: its writers wait up to its busy timeout instead")
    app = create_app(replace(settings, db_statement_timeout_seconds=0.5, db_pool_size=1))
    direct = database_url == request.getfixturevalue("postgresql_url")  # not through the pooler
    engine = create_engine(database_url)
    with app.test_client() as bounded, engine.connect() as holder:
        task = bounded.post(f"/api/{alice}/tasks", json={"title": "locked"}, headers=alice_headers).json()
        holder.begin()
        # Without a statement timeout the update would wait for this lock until the server ends this
        # idle transaction, after 5 s: the test then fails instead of hanging.
        holder.execute(text("SET LOCAL idle_in_transaction_session_timeout = '5s'"))
        holder.execute(text("SELECT 1 FROM tasks WHERE id = :id FOR UPDATE"), {"id": task["id"]})
        holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
        before = holder.execute(APP_BACKENDS, {"holder": holder_pid}).scalars().all()

        started = time.monotonic()
        stuck = bounded.put(f"/api/{alice}/tasks/{task['id']}", json={"title": "never"}, headers=alice_headers)
        waited = time.monotonic() - started
        assert stuck.status_code == 503 and int(stuck.headers["retry-after"]) > 0
        assert 0.5 <= waited < 3
        after = holder.execute(APP_BACKENDS, {"holder": holder_pid}).scalars().all()
        holder.rollback()

        renamed = bounded.put(f"/api/{alice}/tasks/{task['id']}", json={"title": "renamed"}, headers=alice_headers)
        assert renamed.status_code == 200 and renamed.json()["title"] == "renamed"
    engine.dispose()
    if direct:  # the very connection whose statement was cancelled is the one still open
        assert before == after and before


def test_a_statement_that_finished_in_time_is_not_cut_off_later(postgresql_url):
    """The cut-off watches a statement until it ends, not until its connection goes back to the pool:
    a connection kept past the first statement's deadline still serves the next one."""
    engine = make_engine(postgresql_url, statement_timeout=0.5)  # cut off after 1.5 s
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(0.4)"))
            time.sleep(2)
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_forked_worker_starts_afresh_even_if_its_parent_held_the_watch():
    """gunicorn forks workers from a master that has watched statements of its own (the schema check)."""
    connection = object()
    _OVERDUE.watch(connection, time.monotonic() + 60)
    with _OVERDUE._lock:  # held, as by the master's watcher thread, at the moment of the fork
        child = os.fork()
        if child == 0:
            os._exit(0 if _OVERDUE._lock.acquire(timeout=2) and not _OVERDUE._deadlines else 1)
    _OVERDUE.forget(connection)
    assert os.waitpid(child, 0)[1] == 0
