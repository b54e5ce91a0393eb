"""PostgreSQL stopped for 10 seconds under 32 connections of load, then started again, under a
two-worker `tasks-api serve`:
- while it is down, every request is a 503 with Retry-After within a second, and /health says so;
- within 5 seconds of its return every request succeeds again, without a restart;
- every 201 is stored, nothing is stored that no client sent, and a create answered with an error
  either made nothing or is counted here: the reply to a committed create can be lost with the
  connection. Retrying with the create's Idempotency-Key settles each one to exactly one task.
"""

import asyncio
import json
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from clusters import cluster
from conftest import SECRET, headers_for, pgbouncer_in_front_of, serving, tasks_api_command
from sqlalchemy import create_engine, text

from db import migrations
from db.session import resolve_url
from handlers.app import create_app
from handlers.settings import Settings

CONNECTIONS = 32
DOWN_SECONDS = 10
USERS = [f"outage_{n}" for n in range(8)]
# Shorter than the defaults, so that what is bounded by them shows within the test's span.
CONNECT_TIMEOUT, STATEMENT_TIMEOUT = 3, 2
# A request in flight when the database goes may wait out each step it is at (connecting, a statement
# a pooler holds, cut off a second after its timeout) before its 503; never longer.
LONGEST_ANSWER = 2 * (CONNECT_TIMEOUT + STATEMENT_TIMEOUT + 1)


class Connection:
    """One keep-alive HTTP/1.1 connection, as a load tool holds it. httpx's async pool spends more
    time per request at 32 connections than the service does (about 250 requests per second in all),
    which would measure the client, not the service."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.streams = None

    async def request(self, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, dict, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(*self.address)
        reader, writer = self.streams
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.address[0]}\r\nContent-Length: {len(body)}\r\n"
        writer.write((head + "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n").encode()
                     + body)
        status = int((await reader.readline()).split()[1])
        answer_headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        return status, answer_headers, await reader.readexactly(int(answer_headers.get("content-length", 0)))

    async def send(self, kind: str, method: str, path: str, headers: dict, body: bytes = b"") -> "Answer":
        started = time.monotonic()
        try:
            status, headers, content = await asyncio.wait_for(self.request(method, path, headers, body), 30)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            self.streams = None
            return Answer(kind, started, time.monotonic(), None, error=type(error).__name__)
        if headers.get("connection") == "close":
            self.streams = None
        answer = Answer(kind, started, time.monotonic(), status, headers.get("retry-after"))
        if kind == "health":
            answer.database = json.loads(content)["database"]
        return answer


@dataclass
class Answer:
    kind: str  # "create", "list" or "health"
    started: float
    ended: float
    status: int | None  # None: no HTTP answer at all
    retry_after: str | None = None
    title: str | None = None
    key: str | None = None
    user: str | None = None
    database: str | None = None  # what /health said of it
    error: str | None = None  # why there was no answer

    @property
    def took(self) -> float:
        return self.ended - self.started


async def a_client(number: int, address: tuple[str, int], running: asyncio.Event, answers: list) -> None:
    connection = Connection(address)
    user = USERS[number % len(USERS)]
    headers = headers_for(user, exp_in=3600)
    sent = 0
    while running.is_set():
        sent += 1
        if sent % 2:
            title = f"client {number} task {sent}"
            # Every other create carries a key, as a client that retries would send it.
            key = title.replace(" ", "-") if sent % 4 == 1 else None
            answer = await create(connection, user, title, key)
        else:
            answer = await connection.send("list", "GET", f"/api/{user}/tasks?limit=5", headers)
        answers.append(answer)


async def create(connection: Connection, user: str, title: str, key: str | None) -> Answer:
    headers = {**headers_for(user, exp_in=3600), "Content-Type": "application/json",
               **({"Idempotency-Key": key} if key else {})}
    answer = await connection.send("create", "POST", f"/api/{user}/tasks", headers, json.dumps({"title": title}).encode())
    answer.title, answer.key, answer.user = title, key, user
    return answer


async def retried_with_their_keys(address: tuple[str, int], failed: list[Answer]) -> list[Answer]:
    """What a client does about a failed create: sends it again, with the same key and body."""
    waiting, answers = list(failed), []

    async def a_retrier() -> None:
        connection = Connection(address)
        while waiting:
            first = waiting.pop()
            answers.append(await create(connection, first.user, first.title, first.key))

    await asyncio.gather(*(a_retrier() for _ in range(CONNECTIONS)))
    return answers


async def a_health_watcher(address: tuple[str, int], running: asyncio.Event, answers: list) -> None:
    connection = Connection(address)
    while running.is_set():
        answers.append(await connection.send("health", "GET", "/health", {}))
        await asyncio.sleep(0.2)


async def load_through_an_outage(url: str, database) -> tuple[list[Answer], float, float, float]:
    """The answers; when the database was down, when it was started again, and when it was back."""
    address = (urlsplit(url).hostname, urlsplit(url).port)
    answers: list[Answer] = []
    running = asyncio.Event()
    running.set()
    workers = [asyncio.create_task(a_client(n, address, running, answers)) for n in range(CONNECTIONS)]
    workers.append(asyncio.create_task(a_health_watcher(address, running, answers)))
    await asyncio.sleep(3)
    await asyncio.to_thread(database.stop)
    down = time.monotonic()
    await asyncio.sleep(DOWN_SECONDS)
    restarted = time.monotonic()
    await asyncio.to_thread(database.start)
    back = time.monotonic()
    await asyncio.sleep(6)  # recovery is checked from 5 s after the return
    running.clear()
    await asyncio.gather(*workers)
    return answers, down, restarted, back


def stored_titles(database_url: str) -> list[str]:
    engine = create_engine(resolve_url(database_url))
    with engine.connect() as connection:
        titles = connection.execute(text("SELECT title FROM tasks")).scalars().all()
    engine.dispose()
    return titles


@pytest.mark.parametrize("pooled", [False, True], ids=["direct", "pgbouncer"])
def test_a_database_stopped_under_load(tmp_path, record_property, pooled):
    with cluster() as database:
        database.execute("CREATE ROLE app LOGIN PASSWORD 'app'", "CREATE DATABASE tasks OWNER app")
        database_url = database.url("app", "app", "tasks")
        migrations.upgrade(resolve_url(database_url))
        command = [tasks_api_command(), "serve", "--port", "{port}", "--workers", "2"]
        with (pgbouncer_in_front_of(database_url) if pooled else nullcontext(database_url)) as served_url, \
                serving(tmp_path / "server.log", command, database_url=served_url,
                        DB_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT), DB_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT)) as server:
            answers, down, restarted, back = asyncio.run(load_through_an_outage(server.url, database))
            assert server.process.poll() is None, "the service stopped"

            unexpected = [(answer.kind, answer.status, answer.error, round(answer.started - down, 2), round(answer.took, 2))
                          for answer in answers if answer.status not in (200, 201, 503)]
            assert not unexpected, f"(kind, status, error, started after the stop, took): {unexpected[:10]}"
            slowest_overall = max(answer.took for answer in answers)
            assert slowest_overall < LONGEST_ANSWER, f"a request took {slowest_overall:.2f} s"
            assert all(answer.retry_after for answer in answers if answer.status == 503)

            while_down = [answer for answer in answers if down <= answer.started and answer.ended < restarted]
            assert len([answer for answer in while_down if answer.kind != "health"]) > 1000, "too little load"
            assert {answer.status for answer in while_down} == {503}
            slowest = max(answer.took for answer in while_down)
            assert slowest < 1.0, f"a request waited {slowest:.2f} s while the database was down"
            assert {answer.database for answer in while_down if answer.kind == "health"} == {"unreachable"}

            after = [answer for answer in answers if answer.started >= back + 5]
            assert after and {answer.status for answer in after} <= {200, 201}, "not recovered 5 s after the return"
            first_success = min(answer.ended for answer in answers if answer.started >= back and answer.status in (200, 201))

            creates = [answer for answer in answers if answer.kind == "create"]
            stored = stored_titles(database_url)
            assert len(stored) == len(set(stored)), "a create was stored twice"
            assert set(stored) <= {answer.title for answer in creates}, "a task no client sent"
            assert {answer.title for answer in creates if answer.status == 201} <= set(stored), "a 201 was lost"
            failed = [answer for answer in creates if answer.status != 201]
            committed_anyway = [answer for answer in failed if answer.title in set(stored)]

            # The client's side of the README: a create answered 503 is sent again with its key.
            address = (urlsplit(server.url).hostname, urlsplit(server.url).port)
            retries = asyncio.run(retried_with_their_keys(address, [answer for answer in failed if answer.key]))
            assert {answer.status for answer in retries} == {201}, [(a.title, a.status) for a in retries if a.status != 201][:5]
            after_retries = stored_titles(database_url)
            assert len(after_retries) == len(set(after_retries)), "a retry with its key created a second task"
            assert {answer.title for answer in failed if answer.key} <= set(after_retries)

    figures = {"requests": len(answers), "while_down": len(while_down), "slowest_while_down_s": round(slowest, 3),
               "slowest_s": round(slowest_overall, 3),
               "first_success_after_return_s": round(first_success - back, 3), "creates": len(creates),
               "failed_creates": len(failed), "committed_despite_error": len(committed_anyway),
               "retried_with_key": sum(1 for answer in failed if answer.key)}
    record_property("outage", figures)
    print("database outage:", figures)


def test_a_create_cut_off_by_the_outage_can_be_retried_with_its_key_at_once(tmp_path):
    """A keyed create whose key was claimed before the database went away: the claim could not be
    released then, so the service releases it once the database is back, before a retry finds it."""
    with cluster() as database:
        database.execute("CREATE ROLE app LOGIN PASSWORD 'app'", "CREATE DATABASE tasks OWNER app")
        database_url = database.url("app", "app", "tasks")
        migrations.upgrade(resolve_url(database_url))
        with serving(tmp_path / "server.log", database_url=database_url) as server:
            headers = headers_for("cut")
            assert httpx.post(f"{server.url}/api/cut/tasks", json={"title": "first"}, headers=headers).status_code == 201
            keyed = {**headers, "Idempotency-Key": "cut-off-create"}
            holder = create_engine(resolve_url(database_url)).connect()
            holder.begin()
            # New tasks wait for this lock; claiming a key does not.
            holder.execute(text("LOCK TABLE tasks IN SHARE MODE"))
            answers = []
            cut_off = threading.Thread(target=lambda: answers.append(httpx.post(
                f"{server.url}/api/cut/tasks", json={"title": "cut off"}, headers=keyed, timeout=30)))
            cut_off.start()
            while not database.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"):
                time.sleep(0.05)
            # At once: in a fast shutdown the holder's session may end first, and the create then commit.
            database.stop(mode="immediate")
            cut_off.join(timeout=10)
            holder.invalidate()
            assert answers and answers[0].status_code == 503, answers
            database.start()

            retried = httpx.post(f"{server.url}/api/cut/tasks", json={"title": "cut off"}, headers=keyed)
            assert retried.status_code == 201, retried.text
            again = httpx.post(f"{server.url}/api/cut/tasks", json={"title": "cut off"}, headers=keyed)
            assert again.status_code == 201 and again.json() == retried.json()
            assert sorted(stored_titles(database_url)) == ["cut off", "first"]


def test_a_statement_the_pooler_holds_for_a_database_that_is_gone_is_cut_off():
    """PgBouncer holds a statement until a server connection is free for it, up to query_wait_timeout
    (two minutes): with the database gone, that is the whole outage. The service cuts it off itself,
    a second after DB_STATEMENT_TIMEOUT, and the connection it lost is replaced once the database is back."""
    with cluster() as database:
        database.execute("CREATE ROLE app LOGIN PASSWORD 'app'", "CREATE DATABASE tasks OWNER app")
        database_url = database.url("app", "app", "tasks")
        migrations.upgrade(resolve_url(database_url))
        with pgbouncer_in_front_of(database_url) as pooled:
            settings = Settings(database_url=resolve_url(pooled), jwt_secret=SECRET, db_statement_timeout_seconds=1)
            with create_app(settings).test_client() as client:
                headers = headers_for("held")
                assert client.get("/api/held/tasks", headers=headers).status_code == 200
                database.stop()
                answers = []

                def held() -> None:
                    started = time.monotonic()
                    answers.append((client.get("/api/held/tasks", headers=headers), time.monotonic() - started))

                request = threading.Thread(target=held, daemon=True)
                request.start()
                request.join(timeout=15)
                assert answers, "the request was still waiting after 15 s"
                response, took = answers[0]
                assert response.status_code == 503 and response.headers["Retry-After"]
                assert 1 <= took < 4, f"answered after {took:.2f} s"

                database.start()
                deadline = time.monotonic() + 5
                while client.get("/api/held/tasks", headers=headers).status_code != 200:
                    assert time.monotonic() < deadline, "not recovered 5 s after the database came back"
                    time.sleep(0.2)
