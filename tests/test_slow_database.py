"""A database whose first connection is slow, as a serverless one waking from zero: the service waits
for it up to DB_CONNECT_TIMEOUT instead of failing early, and a connect_timeout in DATABASE_URL is the
user's word. A TCP relay in front of the real PostgreSQL holds every new connection back."""

import socket
import socketserver
import threading
import time

import pytest
from conftest import SECRET, counted, headers_for
from sqlalchemy.engine import make_url

from handlers.app import create_app
from handlers.settings import Settings

COLD_START = 3.0


class SlowRelay(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        super().__init__(("127.0.0.1", 0), RelayConnection)


class RelayConnection(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        time.sleep(COLD_START)  # the compute is still waking up
        with socket.create_connection(self.server.upstream) as upstream:
            pump = threading.Thread(target=copy, args=(upstream, self.request), daemon=True)
            pump.start()
            copy(self.request, upstream)
            pump.join()


def copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@pytest.fixture(scope="module")
def slow_url(postgresql_url):
    real = make_url(postgresql_url)
    relay = SlowRelay((real.host, real.port or 5432))
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    yield real.set(host="127.0.0.1", port=relay.server_address[1]).render_as_string(hide_password=False)
    relay.shutdown()
    relay.server_close()


def app_on(url: str, connect_timeout: int):
    return create_app(Settings(database_url=url, jwt_secret=SECRET, db_connect_timeout_seconds=connect_timeout))


def first_request(app) -> tuple[int, float]:
    started = time.monotonic()
    with app.test_client() as client:
        status = client.get("/api/alice/tasks", headers=headers_for("alice")).status_code
    return status, time.monotonic() - started


def test_a_slow_first_connection_is_waited_for(slow_url):
    status, took = first_request(app_on(slow_url, connect_timeout=10))
    assert status == 200
    assert took >= COLD_START


def test_a_connection_slower_than_the_timeout_is_a_quick_503(slow_url):
    timeouts = counted("tasks_api_db_errors", kind="timeout")
    # libpq waits at least 2 s, whatever is asked for.
    status, took = first_request(app_on(slow_url, connect_timeout=2))
    assert status == 503
    assert took < COLD_START
    assert counted("tasks_api_db_errors", kind="timeout") == timeouts + 1


def test_the_urls_own_connect_timeout_wins(slow_url):
    url = make_url(slow_url).update_query_dict({"connect_timeout": "10"}).render_as_string(hide_password=False)
    status, _ = first_request(app_on(url, connect_timeout=2))
    assert status == 200
