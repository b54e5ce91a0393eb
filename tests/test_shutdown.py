"""SIGTERM to `tasks-api serve` (gunicorn's master): requests already accepted finish with their real
answer, new connections are refused, and the service exits within SHUTDOWN_GRACE_SECONDS."""

import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from conftest import headers_for, serving, tasks_api_command
from sqlalchemy import create_engine, text

GRACE = 8


def refused(url: str) -> bool:
    address = urlsplit(url)
    try:
        socket.create_connection((address.hostname, address.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@contextmanager
def a_user_row_held(server, user: str):
    """Makes `user`'s creates as slow as the block: a new task's foreign-key check takes a share lock on
    its user's row, which waits for the FOR UPDATE held here.
    Yields the transaction holding it; the row is released at the end of the block at the latest."""
    headers = headers_for(user)
    assert httpx.post(f"{server.url}/api/{user}/tasks", json={"title": "first"}, headers=headers).status_code == 201
    engine = create_engine(server.database_url)
    with engine.connect() as holder:
        transaction = holder.begin()
        holder.execute(text("SELECT 1 FROM users WHERE id = :user FOR UPDATE"), {"user": user})
        try:
            yield transaction
        finally:
            if transaction.is_active:
                transaction.rollback()
    engine.dispose()


def test_sigterm_lets_a_slow_request_finish_refuses_new_ones_and_exits(tmp_path):
    command = [tasks_api_command(), "serve", "--port", "{port}", "--workers", "2"]
    with serving(tmp_path / "server.log", command, SHUTDOWN_GRACE_SECONDS=str(GRACE)) as server:
        with a_user_row_held(server, "drain") as transaction:
            answers = []
            slow = threading.Thread(target=lambda: answers.append(httpx.post(
                f"{server.url}/api/drain/tasks", json={"title": "slow"}, headers=headers_for("drain"), timeout=30)))
            slow.start()
            time.sleep(1)  # the request is in, waiting on the row

            server.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 5
            while not refused(server.url) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert refused(server.url), "new connections were still accepted after SIGTERM"
            assert server.process.poll() is None, "the service exited with a request in flight"

            time.sleep(1)
            transaction.commit()  # the slow request may go on now
        slow.join(timeout=10)
        assert answers and answers[0].status_code == 201, answers
        assert answers[0].json()["title"] == "slow"
        started = time.monotonic()
        server.process.wait(timeout=GRACE + 5)
        assert time.monotonic() - started < GRACE + 5


def test_the_grace_period_bounds_a_request_that_never_finishes(tmp_path):
    command = [tasks_api_command(), "serve", "--port", "{port}", "--workers", "1"]
    with serving(tmp_path / "server.log", command, SHUTDOWN_GRACE_SECONDS="2") as server:
        outcome = []

        def send() -> None:
            try:
                outcome.append(httpx.post(f"{server.url}/api/stuck/tasks", json={"title": "x"},
                                          headers=headers_for("stuck"), timeout=30).status_code)
            except httpx.HTTPError as error:  # its worker was stopped at the end of the grace period
                outcome.append(type(error).__name__)

        with a_user_row_held(server, "stuck"):
            stuck = threading.Thread(target=send, daemon=True)
            stuck.start()
            time.sleep(1)
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(timeout=15)
        assert time.monotonic() - started < 2 + 5, "the service outlived its grace period"
        stuck.join(timeout=10)
        assert outcome == ["RemoteProtocolError"]  # cut off, not left hanging


def test_request_ids_are_unique_across_forked_workers(tmp_path):
    """Workers are forked from one master: each must still draw its own request-id prefix."""
    command = [tasks_api_command(), "serve", "--port", "{port}", "--workers", "2"]
    with serving(tmp_path / "server.log", command) as server:
        def request_id(_n: int) -> str:  # a new connection each time, many at once: both workers answer
            return httpx.get(f"{server.url}/health", headers={"Connection": "close"}).headers["x-request-id"]

        with ThreadPoolExecutor(max_workers=16) as pool:
            ids = list(pool.map(request_id, range(200)))
        pids = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
        prefixes = {request_id[:16] for request_id in ids}
    assert len(pids) == 2
    assert len(set(ids)) == len(ids)
    assert len(prefixes) == 2, "both workers answered, each with its own prefix"
