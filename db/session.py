"""The engine and transactions. The engine is made by the app's lifespan, never at import time."""

import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError

DEFAULT_URL = "sqlite:///./tasks.db"

_current_engine: ContextVar[Engine] = ContextVar("engine")


def resolve_url(raw: str | None) -> str:
    """The one place that turns a user's DATABASE_URL into the URL the engine gets.

    SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the card's driver is psycopg2.
    """
    url = (raw or "").strip() or DEFAULT_URL
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


IDLE_PING_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 10  # DB_CONNECT_TIMEOUT's default: a serverless database's cold start takes seconds


def make_engine(url: str, *, pool_size: int = 4, max_overflow: int = 0,
                connect_timeout: int = CONNECT_TIMEOUT_SECONDS, statement_timeout: float = 0) -> Engine:
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # Every query on PostgreSQL is a single statement, so autocommit spares the BEGIN and COMMIT
        # round trips without giving up atomicity.
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,  # nothing to roll back under autocommit
        # The URL's own connect_timeout, if it has one, is the user's word and wins.
        connect_args={} if "connect_timeout" in make_url(url).query else {"connect_timeout": connect_timeout},
        # The driver parses every jsonb value it reads (a page's labels) with this: the standard
        # library's json took a third of a page of 100's time in Python.
        json_deserializer=orjson.loads,
    )
    # What the service sends of its own accord, a pooler holds like any statement: the time zone is
    # bounded as part of connecting, the ping as a statement.
    user_connect_timeout = make_url(url).query.get("connect_timeout")
    connecting = float(user_connect_timeout) if str(user_connect_timeout or "").isdigit() else connect_timeout
    cut_off_after = statement_timeout + CUT_OFF_GRACE_SECONDS if statement_timeout else None
    # First of all connect listeners: SQLAlchemy's own first queries on an engine's first connection
    # (the server's version and settings) are watched too. The time zone's SET comes after them.
    event.listen(engine, "connect", lambda connection, _record: _OVERDUE.watch(connection, time.monotonic() + connecting),
                 insert=True)
    event.listen(engine, "connect", lambda connection, _record: _utc_session(connection, within=connecting))
    if statement_timeout:
        event.listen(engine, "before_cursor_execute", _bounded(statement_timeout), retval=True)
        event.listen(engine, "after_cursor_execute", _statement_ended)
        event.listen(engine, "handle_error", _forget_failed)
    event.listen(engine, "checkout",
                 lambda connection, record, _proxy: _ping_if_idle(connection, record, within=cut_off_after))
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "close", _OVERDUE.forget)
    return engine


# How much longer than its statement timeout a statement may go unanswered before the service cuts it
# off itself: the database's own cancel, which keeps the connection, should always come first.
CUT_OFF_GRACE_SECONDS = 1.0


def _bounded(seconds: float):
    """Every statement cancelled after `seconds`. The limit travels with the statement, in the same
    query string, as a SET LOCAL: PostgreSQL runs a string of several statements as one transaction,
    so it holds for that statement only, through a transaction-mode pooler (a session's SET would
    stay on whichever server connection it ran on) and at no extra round trip.

    The database can only cancel a statement it has been given. A pooler holds a statement until it
    has a server connection for it, PgBouncer for up to query_wait_timeout (two minutes by default),
    and while the database is down that is the whole outage: the statement is cut off on the client's
    side as well, shortly after the database's own limit."""
    prefix = f"SET LOCAL statement_timeout = {max(1, round(seconds * 1000))}; "
    cut_off_after = seconds + CUT_OFF_GRACE_SECONDS

    def bound(_connection, cursor, statement, parameters, _context, _executemany):
        _OVERDUE.watch(cursor.connection, time.monotonic() + cut_off_after)
        return prefix + statement, parameters

    return bound


def _statement_ended(_connection, cursor, _statement, _parameters, _context, _executemany) -> None:
    _OVERDUE.forget(cursor.connection)


def _forget_failed(context) -> None:
    cursor = getattr(context.execution_context, "cursor", None)
    if cursor is not None:
        _OVERDUE.forget(cursor.connection)


class _Overdue:
    """Cuts off statements past their deadline, by shutting their connection's socket: the driver's call
    returns at once with a lost connection (a 503), which the pool replaces. A connection is watched from
    the start of its statement until the statement ends (or fails), and in any case until it is checked
    in or closed, all of which happen on the thread that runs it and wait for a cut-off under way: the
    socket shut is always that of the statement that ran late."""

    TICK_SECONDS = 0.25

    def __init__(self) -> None:
        self._started_in_child()
        os.register_at_fork(after_in_child=self._started_in_child)

    def _started_in_child(self) -> None:
        """A forked child inherits the parent's sockets, its watched connections and perhaps its lock held
        by a thread it does not have: it starts afresh, and starts its own watcher."""
        self._deadlines: dict = {}  # DB-API connection -> monotonic deadline of its statement
        self._lock = threading.Lock()
        self._watcher_pid = 0

    def watch(self, dbapi_connection, deadline: float) -> None:
        with self._lock:
            self._deadlines[dbapi_connection] = deadline
            if self._watcher_pid != os.getpid():
                self._watcher_pid = os.getpid()
                threading.Thread(target=self._cut_off_late, name="statement-deadlines", daemon=True).start()

    def forget(self, dbapi_connection, _record=None) -> None:
        # Under the lock: a socket being shut as late is shut before its connection serves anyone else
        # or is closed (and its number reused).
        with self._lock:
            self._deadlines.pop(dbapi_connection, None)

    def _cut_off_late(self) -> None:
        while True:
            time.sleep(self.TICK_SECONDS)
            now = time.monotonic()
            with self._lock:
                late = [connection for connection, deadline in self._deadlines.items() if deadline < now]
                for connection in late:
                    del self._deadlines[connection]
                    with suppress(Exception), socket.socket(fileno=os.dup(connection.fileno())) as duplicate:
                        duplicate.shutdown(socket.SHUT_RDWR)  # (raises if closed meanwhile: nothing to cut off)


_OVERDUE = _Overdue()


def _note_checkin(dbapi_connection, record) -> None:
    record.info["checked_in_at"] = time.monotonic()
    if dbapi_connection is not None:
        _OVERDUE.forget(dbapi_connection)


def _ping_if_idle(dbapi_connection, record, *, within: float | None) -> None:
    """Replaces a dead connection before anyone uses it, at almost no cost to a live one.

    A connection in the pool has nothing to read: the server speaks only when asked. A server that
    ends the session (pg_terminate_backend, a restart, a serverless compute scaling to zero) says so
    on the socket and closes it, so a readable socket is a dead connection, known without a round
    trip. One idle for longer, whose server may have vanished without a word (a network cut), is
    pinged as well."""
    if select.select([dbapi_connection.fileno()], [], [], 0)[0]:
        raise DisconnectionError("the server ended the connection while it was in the pool")
    if time.monotonic() - record.info.get("checked_in_at", time.monotonic()) < IDLE_PING_SECONDS:  # new: not idle
        return
    try:
        with _cut_off_after(dbapi_connection, within):
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
    except Exception as error:
        raise DisconnectionError("stale connection") from error


def _utc_session(dbapi_connection, *, within: float) -> None:
    """UTC sessions: the driver hands back aware UTC datetimes, which db/tasks.py reads as they come.
    Set per connection rather than in the URL's `options`, which stay the user's."""
    with _cut_off_after(dbapi_connection, within):
        cursor = dbapi_connection.cursor()
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.close()
        dbapi_connection.commit()  # outside autocommit the SET would otherwise sit in an open transaction


@contextmanager
def _cut_off_after(dbapi_connection, seconds: float | None) -> Iterator[None]:
    """A statement sent straight to the driver, outside SQLAlchemy's execute, watched all the same."""
    if not seconds:
        yield
        return
    _OVERDUE.watch(dbapi_connection, time.monotonic() + seconds)
    try:
        yield
    finally:
        _OVERDUE.forget(dbapi_connection)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # SQLite ignores ON DELETE CASCADE without it
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@contextmanager
def using(engine: Engine) -> Iterator[None]:
    """Binds the engine for the code in this block (a request, with the handler's worker thread).

    A context variable rather than a global, so two apps in one process (tests) never share an engine.
    """
    token = _current_engine.set(engine)
    try:
        yield
    finally:
        _current_engine.reset(token)


def engine() -> Engine:
    try:
        return _current_engine.get()
    except LookupError:
        raise RuntimeError("no database is bound: the app binds one for each request") from None


# Told how long each transaction() waited for its connection (handlers/metrics.py times the pool).
on_connection_wait: Callable[[float], None] | None = None


@contextmanager
def transaction() -> Iterator[Connection]:
    """A connection whose work is committed if the block succeeds and rolled back if it raises.

    On PostgreSQL each statement commits by itself (autocommit), so blocks there hold one statement.
    """
    current = engine()
    asked = time.perf_counter()
    with current.connect() as connection:
        if on_connection_wait is not None:
            on_connection_wait(time.perf_counter() - asked)
        if current.dialect.name == "postgresql":  # autocommit: each statement is its own transaction
            yield connection
        else:
            with connection.begin():
                yield connection


def database_reachable() -> bool:
    try:
        with engine().connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError:
        return False
    return True
