"""A database that drops every connection (a serverless compute scaling to zero, a failover, an
operator's pg_terminate_backend): the service notices by itself, and no request waits or fails for
a connection that is already gone."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from conftest import headers_for, serving
from sqlalchemy import create_engine, text

TERMINATE = text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> ALL(:spared)")


def terminate_every_backend(database_url: str, spared: tuple[int, ...] = ()) -> int:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        killed = connection.execute(TERMINATE, {"spared": list(spared)}).scalar_one()
    engine.dispose()
    return killed


def test_connections_dropped_while_idle_cost_no_request(tmp_path):
    with serving(tmp_path / "server.log") as server:
        headers = headers_for("sleeper")
        base = f"{server.url}/api/sleeper/tasks"
        task = httpx.post(base, json={"title": "before the drop"}, headers=headers).json()
        with ThreadPoolExecutor(max_workers=8) as pool:  # every pooled connection opened and in use once
            assert set(pool.map(lambda _: httpx.get(base, headers=headers).status_code, range(32))) == {200}
        assert terminate_every_backend(server.database_url) >= 2
        time.sleep(0.2)  # the server's goodbye reaches the sockets; well inside the 2 s idle ping

        def call(n: int) -> int:
            if n % 3 == 0:
                return httpx.post(base, json={"title": f"after {n}"}, headers=headers).status_code
            if n % 3 == 1:
                return httpx.get(f"{base}/{task['id']}", headers=headers).status_code
            return httpx.get(base, headers=headers).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(call, range(24)))
    assert statuses == [201 if n % 3 == 0 else 200 for n in range(24)]


def test_requests_in_flight_when_connections_drop_get_503_and_the_service_recovers(tmp_path):
    with serving(tmp_path / "server.log") as server:
        headers = headers_for("inflight")
        base = f"{server.url}/api/inflight/tasks"
        assert httpx.post(base, json={"title": "first"}, headers=headers).status_code == 201
        engine = create_engine(server.database_url)
        with engine.connect() as holder:  # creates wait on the user's row: they are in flight, in the database
            holder.begin()
            holder.execute(text("SELECT 1 FROM users WHERE id = 'inflight' FOR UPDATE"))
            holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with ThreadPoolExecutor(max_workers=3) as pool:
                waiting = [pool.submit(httpx.post, base, json={"title": f"stuck {n}"}, headers=headers, timeout=20)
                           for n in range(3)]
                time.sleep(0.5)
                assert terminate_every_backend(server.database_url, spared=(holder_pid,)) >= 3
                answers = [future.result() for future in waiting]
            holder.rollback()
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM tasks WHERE user_id = 'inflight'")).scalar_one()
        engine.dispose()
        after = [httpx.get(base, headers=headers).status_code for _ in range(10)]
    for answer in answers:
        assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0
        assert answer.headers["content-type"] == "application/problem+json"
    assert stored == 1, "a create cut off in the database left nothing behind"
    assert after == [200] * 10
