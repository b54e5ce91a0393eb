"""Each operation's success path, as a client sees it."""

from datetime import datetime


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset().total_seconds() == 0, value
    return moment


def test_create_returns_the_task_with_its_location(client, alice, alice_headers):
    response = client.post(f"/api/{alice}/tasks", json={"title": "Write tests", "description": None},
                           headers=alice_headers)

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    task = response.json()
    assert response.headers["location"] == f"/api/{alice}/tasks/{task['id']}"
    assert task["user_id"] == alice
    assert task["title"] == "Write tests"
    assert task["description"] is None
    assert task["completed"] is False
    assert parse_time(task["created_at"]) == parse_time(task["updated_at"])


def test_create_can_start_completed(client, alice, alice_headers):
    response = client.post(f"/api/{alice}/tasks", json={"title": "Done", "completed": True}, headers=alice_headers)
    assert response.json()["completed"] is True


def test_get_returns_what_create_stored(client, alice, alice_headers, a_task):
    response = client.get(f"/api/{alice}/tasks/{a_task['id']}", headers=alice_headers)

    assert response.status_code == 200
    assert response.json() == a_task


def test_get_accepts_an_uppercase_uuid(client, alice, alice_headers, a_task):
    response = client.get(f"/api/{alice}/tasks/{a_task['id'].upper()}", headers=alice_headers)
    assert response.json()["id"] == a_task["id"]


def test_update_changes_only_the_given_fields(client, alice, alice_headers, a_task):
    response = client.put(f"/api/{alice}/tasks/{a_task['id']}", json={"title": "Buy oat milk"},
                          headers=alice_headers)

    assert response.status_code == 200
    task = response.json()
    assert task["title"] == "Buy oat milk"
    assert task["description"] == a_task["description"]
    assert task["completed"] is False
    assert task["created_at"] == a_task["created_at"]
    assert parse_time(task["updated_at"]) > parse_time(a_task["updated_at"])
    assert client.get(f"/api/{alice}/tasks/{a_task['id']}", headers=alice_headers).json() == task


def test_update_can_clear_the_description_and_complete(client, alice, alice_headers, a_task):
    task = client.put(f"/api/{alice}/tasks/{a_task['id']}", json={"description": None, "completed": True},
                      headers=alice_headers).json()
    assert task["description"] is None
    assert task["completed"] is True
    assert task["title"] == a_task["title"]


def test_update_with_unchanged_values_keeps_updated_at(client, alice, alice_headers, a_task):
    task = client.put(f"/api/{alice}/tasks/{a_task['id']}", json={"title": a_task["title"]},
                      headers=alice_headers).json()
    assert task["updated_at"] == a_task["updated_at"]


def test_delete_removes_the_task(client, alice, alice_headers, a_task):
    url = f"/api/{alice}/tasks/{a_task['id']}"

    response = client.delete(url, headers=alice_headers)

    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers
    assert client.get(url, headers=alice_headers).status_code == 404
    assert client.delete(url, headers=alice_headers).status_code == 404


def test_toggle_without_a_body_flips_completion(client, alice, alice_headers, a_task):
    url = f"/api/{alice}/tasks/{a_task['id']}/complete"

    first = client.patch(url, headers=alice_headers)
    second = client.patch(url, headers=alice_headers)

    assert first.status_code == second.status_code == 200
    assert first.json()["completed"] is True
    assert second.json()["completed"] is False
    assert parse_time(second.json()["updated_at"]) > parse_time(first.json()["updated_at"])


def test_toggle_with_a_body_sets_completion_idempotently(client, alice, alice_headers, a_task):
    url = f"/api/{alice}/tasks/{a_task['id']}/complete"

    first = client.patch(url, json={"completed": True}, headers=alice_headers).json()
    again = client.patch(url, json={"completed": True}, headers=alice_headers).json()
    back = client.patch(url, json={"completed": False}, headers=alice_headers).json()

    assert first["completed"] is again["completed"] is True
    assert again["updated_at"] == first["updated_at"]
    assert back["completed"] is False


def test_toggle_with_a_null_body_toggles(client, alice, alice_headers, a_task):
    response = client.patch(f"/api/{alice}/tasks/{a_task['id']}/complete", content=b"null",
                            headers={**alice_headers, "Content-Type": "application/json"})
    assert response.json()["completed"] is True


def test_list_returns_the_callers_tasks(client, alice, alice_headers, a_task):
    response = client.get(f"/api/{alice}/tasks", headers=alice_headers)

    assert response.status_code == 200
    assert response.json() == {"tasks": [a_task], "count": 1, "next_cursor": None}


def test_health_reports_the_database(client):
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == body["database"] == "ok"
    parse_time(body["time"])


def test_every_response_carries_a_request_id(client, alice, alice_headers):
    generated = client.get(f"/api/{alice}/tasks", headers=alice_headers).headers["x-request-id"]
    echoed = client.get("/health", headers={"X-Request-ID": "trace-123"}).headers["x-request-id"]
    refused = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]

    assert len(generated) == 32
    assert echoed == "trace-123"
    assert refused != "bad id\twith spaces" and len(refused) == 32


def test_response_validation_checks_timestamps_against_the_spec(client, alice, alice_headers, a_task, monkeypatch):
    # Connexion's draft-4 format checker only checks date-time with rfc3339-validator installed.
    from db import tasks

    get_task = tasks.get_task
    monkeypatch.setattr(tasks, "get_task", lambda **query: {**get_task(**query), "created_at": "yesterday"})
    response = client.get(f"/api/{alice}/tasks/{a_task['id']}", headers=alice_headers)
    assert response.status_code == 500
    assert "yesterday" not in response.text


def test_a_users_row_is_created_on_the_first_authenticated_request(client, database_url):
    from conftest import headers_for
    from sqlalchemy import text

    from db.session import make_engine

    assert client.get("/api/newcomer/tasks", headers=headers_for("newcomer")).status_code == 200
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users WHERE id = 'newcomer'")).scalar() == 1
    engine.dispose()
