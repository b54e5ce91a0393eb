"""Every error is a problem document with the right status, and bad input never reaches storage."""

import pytest
from conftest import headers_for

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert "Traceback" not in response.text and "SELECT" not in response.text
    return body


def fields(body: dict) -> set[str]:
    return {error["field"] for error in body["errors"]}


@pytest.mark.parametrize("payload, field", [
    ({}, "title"),
    ({"title": ""}, "title"),
    ({"title": " \t\n "}, "title"),
    ({"title": "x" * 256}, "title"),
    ({"title": "nul\u0000byte"}, "title"),
    ({"title": 42}, "title"),
    ({"title": "ok", "description": "x" * 1001}, "description"),
    ({"title": "ok", "description": "nul\u0000"}, "description"),
    ({"title": "ok", "completed": "yes"}, "completed"),
    ({"title": "ok", "priority": 1}, "priority"),
    ({"title": "ok", "id": "00000000-0000-4000-8000-000000000000"}, "id"),
    ({"title": "ok", "created_at": "2026-01-01T00:00:00Z"}, "created_at"),
    ({"title": "ok", "user_id": "bob"}, "user_id"),
])
def test_invalid_task_bodies_are_400_naming_the_field(client, alice, alice_headers, payload, field):
    body = assert_problem(client.post(f"/api/{alice}/tasks", json=payload, headers=alice_headers), 400)

    assert field in fields(body)
    assert client.get(f"/api/{alice}/tasks", headers=alice_headers).json()["count"] == 0


def test_all_invalid_fields_are_reported_at_once(client, alice, alice_headers):
    body = assert_problem(client.post(f"/api/{alice}/tasks", json={"title": "", "description": 5, "x": 1},
                                      headers=alice_headers), 400)
    assert fields(body) == {"title", "description", "x"}


@pytest.mark.parametrize("method, suffix, body", [
    ("GET", "", None), ("PUT", "", {"title": "x"}), ("DELETE", "", None), ("PATCH", "/complete", None),
])
def test_an_invalid_path_parameter_is_reported_once(client, alice, alice_headers, method, suffix, body):
    """The spec declares task_id once, on the path item; Connexion had copied it into every operation
    six times over."""
    response = client.request(method, f"/api/{alice}/tasks/not-a-uuid{suffix}", json=body, headers=alice_headers)
    assert assert_problem(response, 400)["errors"] == [
        {"location": "path", "field": "task_id", "message": "A UUID such as 7c1e2a4e-3b7d-4f3e-9a51-2f7b8d1c0e11."}]


def test_title_may_be_exactly_255_characters_and_unicode(client, alice, alice_headers):
    title = "é" * 254 + "🙂"
    response = client.post(f"/api/{alice}/tasks", json={"title": title}, headers=alice_headers)
    assert response.status_code == 201
    assert response.json()["title"] == title


@pytest.mark.parametrize("raw", [
    b"{not json",
    b'{"title": "\xff\xfe"}',
    b'{"title": "\\ud800"}',
    b'{"title": "ok", "completed": NaN}',
    b"",
    b"[]",
    b"null",
])
def test_malformed_bodies_are_400(client, alice, alice_headers, raw):
    response = client.post(f"/api/{alice}/tasks", content=raw,
                           headers={**alice_headers, "Content-Type": "application/json"})
    assert_problem(response, 400)
    assert client.get(f"/api/{alice}/tasks", headers=alice_headers).json()["count"] == 0


def test_a_body_without_a_content_type_is_415(client, alice, alice_headers):
    response = client.post(f"/api/{alice}/tasks", content=b'{"title": "x"}', headers=alice_headers)
    assert_problem(response, 415)


def test_a_deeply_nested_body_is_400(client, alice, alice_headers):
    response = client.post(f"/api/{alice}/tasks", content=b"[" * 30000,
                           headers={**alice_headers, "Content-Type": "application/json"})
    assert_problem(response, 400)


@pytest.mark.parametrize("title, valid", [
    ("a", True), ("  a  ", True), ("\u00e9t\u00e9", True), ("a b", True),
    ("", False), ("   ", False), ("\t\n", False), ("a\u0000", False), ("\u0000a", False), ("  \u0000", False),
    ("a" * 60000 + "\u0000", False),  # refused in linear time: the pattern cannot backtrack
])
def test_the_title_rule_is_not_blank_and_no_nul(client, alice, alice_headers, title, valid):
    response = client.post(f"/api/{alice}/tasks", json={"title": title[:255] if valid else title},
                           headers=alice_headers)
    assert response.status_code == (201 if valid else 400)


def test_update_needs_at_least_one_field(client, alice, alice_headers, a_task):
    response = client.put(f"/api/{alice}/tasks/{a_task['id']}", json={}, headers=alice_headers)
    assert_problem(response, 400)


def test_a_failed_update_changes_nothing(client, alice, alice_headers, a_task):
    url = f"/api/{alice}/tasks/{a_task['id']}"
    assert_problem(client.put(url, json={"title": "new", "description": "x" * 1001}, headers=alice_headers), 400)
    assert client.get(url, headers=alice_headers).json() == a_task


def test_toggle_body_must_be_exactly_completed(client, alice, alice_headers, a_task):
    url = f"/api/{alice}/tasks/{a_task['id']}/complete"
    assert_problem(client.patch(url, json={"completed": "yes"}, headers=alice_headers), 400)
    assert_problem(client.patch(url, json={"completed": True, "title": "x"}, headers=alice_headers), 400)
    assert_problem(client.patch(url, json={}, headers=alice_headers), 400)


@pytest.mark.parametrize("task_id", ["not-a-uuid", "123", "00000000-0000-4000-8000-00000000000g"])
def test_a_task_id_that_is_not_a_uuid_is_400(client, alice, alice_headers, task_id):
    body = assert_problem(client.get(f"/api/{alice}/tasks/{task_id}", headers=alice_headers), 400)
    assert fields(body) == {"task_id"}


def test_a_user_id_outside_the_safe_pattern_is_400(client):
    response = client.get("/api/al.ice/tasks", headers=headers_for("al.ice"))
    assert fields(assert_problem(response, 400)) == {"user_id"}


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"),
    ("status=done", "status"), ("sort=urgency", "sort"), ("cursor=%25%25", "cursor"), ("page=2", "page"),
    ("q=", "q"), (f"q={'x' * 201}", "q"), ("q=a%00b", "q"), ("priority=urgent", "priority.0"),
    ("label=a,b", "label.0"), (f"label={'x' * 51}", "label.0"), ("label=%20x", "label.0"),
    ("due_before=soon", "due_before"), ("due_after=2026-12-01T00:00:00", "due_after"),
    ("due_after=9999-12-31T23:59:59-01:00", "due_after"),
])
def test_bad_query_parameters_are_400(client, alice, alice_headers, query, field):
    body = assert_problem(client.get(f"/api/{alice}/tasks?{query}", headers=alice_headers), 400)
    assert field in fields(body)


def test_wrong_content_type_is_415(client, alice, alice_headers):
    response = client.post(f"/api/{alice}/tasks", content=b"title=x",
                           headers={**alice_headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415)
    response = client.post(f"/api/{alice}/tasks", content=b'{"title": "x"}',
                           headers={**alice_headers, "Content-Type": "text/plain"})
    assert_problem(response, 415)


@pytest.mark.parametrize("media_type", [None, "application/json", "application/x-www-form-urlencoded",
                                        "text/plain", "multipart/form-data; boundary=x"])
def test_an_absent_optional_body_is_served_whatever_its_media_type(client, alice, alice_headers, a_task,
                                                                   media_type):
    """axios sends a PATCH without data as application/x-www-form-urlencoded."""
    headers = {**alice_headers, **({"Content-Type": media_type} if media_type else {})}
    response = client.patch(f"/api/{alice}/tasks/{a_task['id']}/complete", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["completed"] is not a_task["completed"]


@pytest.mark.parametrize("media_type, body", [
    ("application/x-www-form-urlencoded", b"completed=true"), ("text/plain", b'{"completed": true}'),
])
def test_an_optional_body_that_is_not_json_is_still_415(client, alice, alice_headers, a_task, media_type, body):
    response = client.patch(f"/api/{alice}/tasks/{a_task['id']}/complete", content=body,
                            headers={**alice_headers, "Content-Type": media_type})
    assert_problem(response, 415)
    assert client.get(f"/api/{alice}/tasks/{a_task['id']}", headers=alice_headers).json() == a_task


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_required_body_that_is_absent_is_400_whatever_its_media_type(client, alice, alice_headers, a_task, method):
    path = f"/api/{alice}/tasks" + (f"/{a_task['id']}" if method == "PUT" else "")
    response = client.request(method, path, headers={**alice_headers, "Content-Type": "text/plain"})
    assert_problem(response, 400)
    assert client.get(f"/api/{alice}/tasks", headers=alice_headers).json()["tasks"] == [a_task]


def test_unknown_route_is_404(client, alice_headers):
    assert_problem(client.get("/api/alice/projects", headers=alice_headers), 404)
    assert_problem(client.get("/nowhere"), 404)


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/api/alice/tasks", {"GET", "POST"}),
    ("POST", "/api/alice/tasks/00000000-0000-4000-8000-000000000000", {"GET", "PUT", "DELETE"}),
    ("GET", "/api/alice/tasks/00000000-0000-4000-8000-000000000000/complete", {"PATCH"}),
    ("POST", "/health", {"GET"}),
])
def test_wrong_method_is_405_with_exactly_the_specs_methods(client, alice_headers, method, path, allowed):
    response = client.request(method, path, headers=alice_headers)
    assert_problem(response, 405)
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


def test_a_body_over_64_kib_is_413_and_stores_nothing(client, alice, alice_headers):
    payload = b'{"title": "' + b"x" * (64 * 1024) + b'"}'
    response = client.post(f"/api/{alice}/tasks", content=payload,
                           headers={**alice_headers, "Content-Type": "application/json"})
    assert_problem(response, 413)
    assert client.get(f"/api/{alice}/tasks", headers=alice_headers).json()["count"] == 0


def test_a_body_just_under_the_limit_reaches_validation(client, alice, alice_headers):
    payload = b'{"title": "' + b"x" * (64 * 1024 - 20) + b'"}'
    response = client.post(f"/api/{alice}/tasks", content=payload,
                           headers={**alice_headers, "Content-Type": "application/json"})
    assert "title" in fields(assert_problem(response, 400))


def test_problem_documents_stay_within_the_specs_bounds(client, alice, alice_headers):
    # Response validation is on in the tests: a problem beyond its documented limits would be a 500.
    payload = {"title": "ok", **{f"{'k' * 400}{i}": i for i in range(150)}}
    body = assert_problem(client.post(f"/api/{alice}/tasks", json=payload, headers=alice_headers), 400)
    assert len(body["errors"]) == 100
    assert all(len(error["field"]) <= 300 for error in body["errors"])
    response = client.post(f"/api/{alice}/tasks", content=b"{}",
                           headers={**alice_headers, "Content-Type": "text/" + "x" * 3000})
    assert len(assert_problem(response, 415)["detail"]) <= 2000
