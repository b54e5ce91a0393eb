"""One user can never read, change or learn of another user's tasks."""

import pytest
from conftest import headers_for


def test_another_users_path_is_forbidden(client, bob, alice_headers):
    response = client.get(f"/api/{bob}/tasks", headers=alice_headers)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("method, suffix, body", [
    ("GET", "", None),
    ("PUT", "", {"title": "hijacked"}),
    ("DELETE", "", None),
    ("PATCH", "/complete", None),
    ("PATCH", "/complete", {"completed": True}),
])
def test_another_users_task_is_indistinguishable_from_a_missing_one(
        client, alice, bob, alice_headers, bob_headers, a_task, method, suffix, body):
    stolen = client.request(method, f"/api/{bob}/tasks/{a_task['id']}{suffix}", json=body, headers=bob_headers)
    missing = client.request(method, f"/api/{bob}/tasks/00000000-0000-4000-8000-000000000000{suffix}",
                             json=body, headers=bob_headers)

    assert stolen.status_code == missing.status_code == 404
    assert stolen.json() == missing.json()
    assert "Buy milk" not in stolen.text
    assert client.get(f"/api/{alice}/tasks/{a_task['id']}", headers=alice_headers).json() == a_task


def test_lists_hold_only_the_callers_tasks(client, alice, bob, alice_headers, bob_headers, a_task):
    client.post(f"/api/{bob}/tasks", json={"title": "Bob's"}, headers=bob_headers)

    bobs = client.get(f"/api/{bob}/tasks", headers=bob_headers).json()
    alices = client.get(f"/api/{alice}/tasks", headers=alice_headers).json()

    assert [t["title"] for t in bobs["tasks"]] == ["Bob's"] and bobs["count"] == 1
    assert [t["id"] for t in alices["tasks"]] == [a_task["id"]] and alices["count"] == 1


def test_a_token_for_a_user_reaches_only_that_users_path(client, alice, a_task):
    impostor = headers_for("mallory")
    assert client.get(f"/api/{alice}/tasks", headers=impostor).status_code == 403
    assert client.get(f"/api/{alice}/tasks/{a_task['id']}", headers=impostor).status_code == 403
    assert client.get("/api/mallory/tasks", headers=impostor).json()["count"] == 0
