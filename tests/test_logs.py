"""What `serve` writes: a quiet start-up, one line per request, JSON on request, and never a secret."""

import json

import httpx
from conftest import SECRET, serving, tasks_api_command, token_for

PASSWORD = "db-password-never-logged"


def exercise(url: str) -> str:
    """Requests of every kind; returns the real token they carried."""
    token = token_for("logged")
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{url}/api/logged/tasks"
    created = httpx.post(base, json={"title": "body-text-never-logged"}, headers=headers).json()
    httpx.get(f"{base}/{created['id']}", headers=headers)
    httpx.get(f"{base}/00000000-0000-4000-8000-000000000000", headers=headers)
    httpx.post(base, content=b'{"title": ', headers={**headers, "Content-Type": "application/json"})
    httpx.get(base, headers={"Authorization": f"Bearer {token}x"})  # a bad signature: 401
    httpx.get(f"{url}/nowhere")
    return token


def test_json_logs_are_one_object_per_line_with_the_request_fields_and_no_secret(tmp_path):
    command = [tasks_api_command(), "serve", "--port", "{port}", "--workers", "2"]
    with serving(tmp_path / "server.log", command, database_password=PASSWORD, LOG_FORMAT="json") as server:
        token = exercise(server.url)
    written = server.log()
    lines = [json.loads(line) for line in written.splitlines()]  # every line, start-up and shut-down included
    assert all({"timestamp", "level", "logger", "message"} <= line.keys() for line in lines)
    requests = [line for line in lines if line["logger"] == "tasks_api.access"]
    created = next(line for line in requests if line["method"] == "POST" and line["status"] == 201)
    assert created | {"timestamp": None, "duration_ms": None, "request_id": None, "message": None} == {
        "timestamp": None, "level": "INFO", "logger": "tasks_api.access", "message": None, "request_id": None,
        "method": "POST", "route": "/api/{user_id}/tasks", "operation_id": "create_task", "status": 201,
        "duration_ms": None, "user": "logged"}
    assert created["duration_ms"] > 0 and len(created["request_id"]) == 32 and created["timestamp"].endswith("Z")
    assert {line["status"] for line in requests} >= {201, 200, 404, 400, 401}
    for secret in (token, SECRET, PASSWORD, "body-text-never-logged", token.split(".")[1]):
        assert secret not in written


def test_serve_starts_in_a_few_lines_that_say_where_what_and_how(tmp_path):
    command = [tasks_api_command(), "serve", "--port", "{port}", "--workers", "2"]
    with serving(tmp_path / "server.log", command, database_password=PASSWORD) as server:
        token = exercise(server.url)
    written = server.log()
    start = written[:written.index("tasks_api.access")] if "tasks_api.access" in written else written
    start_lines = start.splitlines()
    assert len(start_lines) <= 4, start
    assert "setup plugin" not in written and "Booting worker" not in written and "Errno" not in written
    assert f"listening on {server.url} with 2 workers" in start
    assert "database postgresql" in start and ":***@127.0.0.1" in start and PASSWORD not in written
    assert "tokens: HS256 with BETTER_AUTH_SECRET" in start
    assert written.splitlines()[-1].endswith("tasks_api: stopped")
    assert all(not line.startswith("{") for line in written.splitlines())  # readable lines by default
    assert "POST /api/{user_id}/tasks 201" in written and "user=logged" in written
    for secret in (token, SECRET, PASSWORD, "body-text-never-logged", token.split(".")[1]):
        assert secret not in written
