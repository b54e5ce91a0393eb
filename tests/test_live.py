"""Against the real server: uvicorn on loopback, PostgreSQL, concurrency, chunked bodies, logs."""

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import SECRET, headers_for, tasks_api_command, throwaway_postgres, token_for


@pytest.fixture
def http(live_server):
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


def test_concurrent_toggles_lose_no_update(http):
    headers = headers_for("racer")
    task = http.post("/api/racer/tasks", json={"title": "flip me"}, headers=headers).json()
    url = f"/api/racer/tasks/{task['id']}/complete"

    def toggle(_):
        with httpx.Client(base_url=http.base_url, timeout=30) as own:
            return own.patch(url, headers=headers)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(toggle, range(101)))

    assert {r.status_code for r in responses} == {200}
    states = [r.json()["completed"] for r in responses]
    assert states.count(True) == 51 and states.count(False) == 50  # every toggle saw the one before it
    assert http.get(f"/api/racer/tasks/{task['id']}", headers=headers).json()["completed"] is True


def chunks(payload: bytes, size: int = 4096):
    for start in range(0, len(payload), size):
        yield payload[start:start + size]


def test_a_chunked_body_is_read_and_validated(http):
    response = http.post("/api/chunky/tasks", content=chunks(b'{"title": "sent in chunks"}', 5),
                         headers={**headers_for("chunky"), "Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "sent in chunks"


def test_a_chunked_body_over_64_kib_is_413(http):
    payload = b'{"title": "' + b"x" * 70000 + b'"}'
    response = http.post("/api/chunky/tasks", content=chunks(payload),
                         headers={**headers_for("chunky"), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_one_log_line_per_request_without_tokens(http, live_server):
    token = token_for("logger")
    response = http.get("/api/logger/tasks", headers={"Authorization": f"Bearer {token}",
                                                       "X-Request-ID": "log-test-1"})
    http.get("/api/logger/tasks", headers={"Authorization": f"Bearer {token}x"})

    lines = [line for line in live_server.log().splitlines() if "request_id=log-test-1" in line]
    assert response.status_code == 200
    assert len(lines) == 1
    assert "GET /api/{user_id}/tasks 200" in lines[0] and "user=logger" in lines[0]
    assert token not in live_server.log() and SECRET not in live_server.log()


def run_serve(environment: dict) -> subprocess.CompletedProcess:
    return subprocess.run([tasks_api_command(), "serve", "--port", "9"], env=environment,
                          capture_output=True, text=True, timeout=60, check=False)


def test_serve_refuses_an_unmigrated_postgresql(tmp_path):
    with throwaway_postgres() as url:
        result = run_serve({"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "BETTER_AUTH_SECRET": SECRET})
    assert result.returncode == 2
    assert "tasks-api migrate" in result.stderr


def test_serve_refuses_postgresql_without_a_secret():
    result = run_serve({"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://postgres@127.0.0.1/postgres"})
    assert result.returncode == 2
    assert "BETTER_AUTH_SECRET is not set" in result.stderr


def test_connections_killed_by_a_database_restart_are_replaced(http, live_server):
    from sqlalchemy import create_engine, text

    headers = headers_for("restart")
    assert http.get("/api/restart/tasks", headers=headers).status_code == 200
    admin = create_engine(live_server.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # what a restart does to every pooled connection
        killed = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    admin.dispose()
    assert killed >= 1
    time.sleep(2.5)  # past the idle time after which a pooled connection is pinged before use

    responses = [http.get("/api/restart/tasks", headers=headers).status_code for _ in range(12)]
    assert responses == [200] * 12
