"""The engine and transactions. The engine is made by the app's lifespan, never at import time."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

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


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,  # a restarted database must not leave dead connections in the pool
        connect_args={"connect_timeout": 5},
    )


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


@contextmanager
def transaction() -> Iterator[Session]:
    """One transaction: committed if the block succeeds, rolled back whole if it raises."""
    with Session(engine(), expire_on_commit=False) as session, session.begin():
        yield session


def database_reachable() -> bool:
    try:
        with engine().connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError:
        return False
    return True
