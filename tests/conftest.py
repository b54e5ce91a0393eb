"""The database lifecycle and the domain's fixtures.

Every test runs against SQLite and, when it can be reached, a throwaway PostgreSQL database created
for this run and dropped at its end. Under CI=true PostgreSQL is required, not skipped.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import declared
import httpx
import jwt
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from db import migrations
from db.session import resolve_url
from handlers.app import create_app
from handlers.settings import Settings

SECRET = "test-secret-" + "0123456789abcdef" * 4
ADMIN_URL = resolve_url(os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
POSTGRES_HINT = ("PostgreSQL tests skipped: no server at TEST_DATABASE_URL "
                 f"({make_url(ADMIN_URL).render_as_string(hide_password=True)}); start PostgreSQL or set "
                 "TEST_DATABASE_URL to a server where this user may create databases.")


_postgres_missing = []


def pytest_terminal_summary(terminalreporter):
    if _postgres_missing:
        terminalreporter.write_line(POSTGRES_HINT, yellow=True)


@contextmanager
def throwaway_postgres():
    """Creates a fresh database on the admin server, yields its URL, and drops it afterwards."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"tasks_api_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        admin.dispose()
        if os.environ.get("CI") == "true":
            raise
        _postgres_missing.append(True)
        pytest.skip("needs PostgreSQL (see the note at the end of the run)")
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def postgres_in_another_zone():
    """A throwaway database whose sessions start in a zone other than UTC: every answer must still
    carry UTC times."""
    with throwaway_postgres() as url:
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"ALTER DATABASE \"{make_url(url).database}\" SET timezone TO 'Asia/Kolkata'"))
        admin.dispose()
        yield url


@contextmanager
def migrated_postgres():
    """A throwaway database at the newest revision, in a zone other than UTC."""
    with postgres_in_another_zone() as url:
        migrations.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def postgresql_url():
    with migrated_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def pgbouncer_url():
    """The same kind of database behind Debian's PgBouncer in transaction mode, as Neon's pooled URL
    puts it: consecutive statements of one client may run on different server connections."""
    with postgres_in_another_zone() as url, pgbouncer_in_front_of(url) as pooled:
        migrations.upgrade(pooled)  # migrating works through it too: a migration is one transaction
        yield pooled


@contextmanager
def pgbouncer_in_front_of(url: str):
    """Debian's PgBouncer in transaction mode on a free port, passing to the database at `url` (and
    its password, if it has one); yields the URL that goes through it."""
    binary = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pgbouncer is missing: apt-get install pgbouncer")
        pytest.skip("the pooled-database tests need Debian's pgbouncer")
    server = make_url(url)
    # Run as the postgres user (pgbouncer refuses root), which must read and write here.
    directory = Path(tempfile.mkdtemp(prefix="tasks-api-pgbouncer-"))
    directory.chmod(0o777)
    port = free_port()
    password = f" password={server.password}" if server.password else ""
    (directory / "pgbouncer.ini").write_text(f"""
[databases]
{server.database} = host={server.host} port={server.port or 5432} dbname={server.database} user={server.username}{password}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
; fewer server connections than the app opens, so that its statements move between them
default_pool_size = 3
max_client_conn = 500
; after a failed login PgBouncer refuses every client for this long (15 s by default): longer than the
; outage tests allow for recovery once the database is back
server_login_retry = 1
logfile = {directory}/pgbouncer.log
""")
    command = [binary, str(directory / "pgbouncer.ini")]
    process = subprocess.Popen(["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield server.set(port=port, password=None).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'tasks.db'}"
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session", autouse=True)
def every_response_as_the_spec_declares_it():
    """Every response any test client receives, in every test, carries only headers the spec declares
    for it, and a problem's title as the spec's example has it (tests/declared.py)."""
    original = TestClient.__init__

    def checking(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.event_hooks["response"].append(declared.check)

    TestClient.__init__ = checking
    yield
    TestClient.__init__ = original


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "pgbouncer"])
def database_url(request):
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def settings(database_url):
    return Settings(database_url=database_url, jwt_secret=SECRET, response_validation=True)


@pytest.fixture(scope="session")
def app(settings):
    return create_app(settings)


@pytest.fixture(scope="session")
def session_client(app):
    with app.test_client() as client:
        yield client


@pytest.fixture
def client(session_client, database_url):
    """The app over HTTP; every test starts from empty tables."""
    yield session_client
    engine = create_engine(database_url)
    with engine.begin() as connection:
        for table in ("tasks", "task_tombstones", "idempotency_keys", "users"):
            connection.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


def token_for(user: str, secret: str = SECRET, exp_in: int = 600, **claims) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + exp_in, **claims}, secret, algorithm="HS256")


def headers_for(user: str, **claims) -> dict:
    return {"Authorization": f"Bearer {token_for(user, **claims)}"}


@pytest.fixture
def alice():
    return "alice"


@pytest.fixture
def bob():
    return "bob_2"


@pytest.fixture
def alice_headers(alice):
    return headers_for(alice)


@pytest.fixture
def bob_headers(bob):
    return headers_for(bob)


@pytest.fixture
def a_task(client, alice, alice_headers):
    response = client.post(f"/api/{alice}/tasks", json={"title": "Buy milk", "description": "Two litres"},
                           headers=alice_headers)
    assert response.status_code == 201
    return response.json()


@pytest.fixture
def with_settings(settings):
    """Settings like the suite's, with some fields changed."""
    return lambda **changes: replace(settings, **changes)


class LiveServer:
    """`tasks-api serve` in a subprocess on loopback, on its own fresh PostgreSQL database."""

    def __init__(self, url: str, database_url: str, log_file, process) -> None:
        self.url, self.database_url, self.log_file, self.process = url, database_url, log_file, process

    def log(self) -> str:
        return self.log_file.read_text()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tasks_api_command() -> str:
    return str(Path(sys.executable).with_name("tasks-api"))


@contextmanager
def serving(log_file, command=None, database_password=None, database_url=None, **environment):
    """Runs `command` (default `tasks-api serve`; "{port}" is filled in) until the block ends, on a
    fresh database of the shared server or on `database_url`, migrated by the caller. The shared server
    trusts every local connection: a password in the URL is carried, never needed."""
    if database_url is None:
        with throwaway_postgres() as fresh:
            migrations.upgrade(fresh)
            with serving(log_file, command, database_password, fresh, **environment) as server:
                yield server
        return
    command = command or [tasks_api_command(), "serve", "--port", "{port}", "--workers", "1"]
    port = free_port()
    served_url = (make_url(database_url).set(password=database_password).render_as_string(hide_password=False)
                  if database_password else database_url)
    env = {**os.environ, "DATABASE_URL": served_url, "BETTER_AUTH_SECRET": SECRET,
           "RESPONSE_VALIDATION": "true", **environment}
    with open(log_file, "w") as log:
        process = subprocess.Popen([part.format(port=port) for part in command],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            if process.poll() is not None:
                raise RuntimeError(f"tasks-api serve exited:\n{log_file.read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"tasks-api serve did not answer:\n{log_file.read_text()}")
        yield LiveServer(url, database_url, log_file, process)
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("live") / "server.log") as server:
        yield server


def purged(database_url: str, table: str, seconds: float = 10) -> bool:
    """Waits for the live service's own housekeeping to empty `table`; False if it never does."""
    engine = create_engine(database_url)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                if connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0:
                    return True
            time.sleep(0.5)
        return False
    finally:
        engine.dispose()



def counted(metric: str, **labels) -> float:
    """A counter of this process's metrics (handlers/metrics.py), as a scrape would read it."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(f"{metric}_total", labels) or 0.0
