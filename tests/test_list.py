"""Listing: filters, sort orders, counts and keyset pagination."""

import base64
import json

import pytest


def create(client, user, headers, title, completed=False):
    response = client.post(f"/api/{user}/tasks", json={"title": title, "completed": completed}, headers=headers)
    assert response.status_code == 201
    return response.json()


def walk(client, url, headers, **params):
    """Every page in order, following next_cursor until it is null."""
    pages, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages


@pytest.fixture
def seven_tasks(client, alice, alice_headers):
    titles = ["delta", "alpha", "golf", "charlie", "echo", "bravo", "foxtrot"]
    return [create(client, alice, alice_headers, title, completed=i % 2 == 0) for i, title in enumerate(titles)]


@pytest.mark.parametrize("sort, key, reverse", [
    ("created_at", "created_at", False), ("-created_at", "created_at", True),
    ("title", "title", False), ("-title", "title", True),
    ("updated_at", "updated_at", False), ("-updated_at", "updated_at", True),
])
def test_pagination_walks_every_task_exactly_once_in_order(client, alice, alice_headers, seven_tasks,
                                                           sort, key, reverse):
    pages = walk(client, f"/api/{alice}/tasks", alice_headers, sort=sort, limit=3)

    listed = [task for page in pages for task in page["tasks"]]
    assert [len(page["tasks"]) for page in pages] == [3, 3, 1]
    assert all(page["count"] == 7 for page in pages)
    expected = sorted(seven_tasks, key=lambda t: (t[key], t["id"]), reverse=reverse)
    assert [t["id"] for t in listed] == [t["id"] for t in expected]


def test_default_order_is_oldest_first_with_limit_100(client, alice, alice_headers, seven_tasks):
    body = client.get(f"/api/{alice}/tasks", headers=alice_headers).json()
    assert [t["id"] for t in body["tasks"]] == [t["id"] for t in seven_tasks]
    assert body["next_cursor"] is None


@pytest.mark.parametrize("status, completed", [("pending", False), ("completed", True)])
def test_status_filters_tasks_and_count(client, alice, alice_headers, seven_tasks, status, completed):
    pages = walk(client, f"/api/{alice}/tasks", alice_headers, status=status, limit=2)

    listed = [task for page in pages for task in page["tasks"]]
    expected = [t["id"] for t in seven_tasks if t["completed"] is completed]
    assert [t["id"] for t in listed] == expected
    assert pages[0]["count"] == len(expected)


def test_pagination_is_stable_under_inserts(client, alice, alice_headers, seven_tasks):
    first = client.get(f"/api/{alice}/tasks", params={"limit": 4}, headers=alice_headers).json()
    create(client, alice, alice_headers, "inserted meanwhile")

    rest = walk(client, f"/api/{alice}/tasks", alice_headers, limit=4, cursor=first["next_cursor"])

    ids = [t["id"] for t in first["tasks"]] + [t["id"] for page in rest for t in page["tasks"]]
    assert ids[:7] == [t["id"] for t in seven_tasks]
    assert len(ids) == len(set(ids)) == 8


@pytest.mark.parametrize("cursor", [
    "AAAA", "bm90LWpzb24", "WyJ0aXRsZSIsImEiLCJ4Il0", "WzEsMiwzXQ", "W10", "eyJhIjoxfQ",
    base64.urlsafe_b64encode(b"[" * 1500).rstrip(b"=").decode(),  # nested too deep for json
    base64.urlsafe_b64encode(json.dumps(  # a date whose offset overflows the year 1
        ["created_at", "0001-01-01T00:00:00+00:01", "00000000-0000-4000-8000-000000000000"]).encode()).decode(),
])
def test_a_tampered_cursor_is_400(client, alice, alice_headers, seven_tasks, cursor):
    response = client.get(f"/api/{alice}/tasks", params={"cursor": cursor}, headers=alice_headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"


def test_a_cursor_from_another_sort_is_400(client, alice, alice_headers, seven_tasks):
    cursor = client.get(f"/api/{alice}/tasks", params={"limit": 2, "sort": "title"},
                        headers=alice_headers).json()["next_cursor"]
    response = client.get(f"/api/{alice}/tasks", params={"cursor": cursor}, headers=alice_headers)
    assert response.status_code == 400


def test_a_cursor_with_an_unstorable_value_is_400(client, alice, alice_headers, seven_tasks):
    for value in ["\u0000", "\ud800"]:
        raw = json.dumps(["title", value, "00000000-0000-4000-8000-000000000000"]).encode()
        cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        response = client.get(f"/api/{alice}/tasks", params={"cursor": cursor, "sort": "title"},
                              headers=alice_headers)
        assert response.status_code == 400


def test_limit_bounds_are_inclusive(client, alice, alice_headers, seven_tasks):
    assert len(client.get(f"/api/{alice}/tasks?limit=1", headers=alice_headers).json()["tasks"]) == 1
    assert len(client.get(f"/api/{alice}/tasks?limit=1000", headers=alice_headers).json()["tasks"]) == 7


def test_cursors_after_the_longest_titles_stay_within_the_spec(client, alice, alice_headers):
    for title in ["🙂" * 255, "\\\"" * 127 + "x", "\x01" * 254 + "y"]:
        create(client, alice, alice_headers, title)
    pages = walk(client, f"/api/{alice}/tasks", alice_headers, sort="-title", limit=1)
    assert len(pages) == 3  # every cursor was accepted back
    assert all(len(page["next_cursor"] or "") <= 4096 for page in pages)


def test_listed_tasks_read_exactly_as_created_with_utc_times(client, alice, alice_headers):
    created = create(client, alice, alice_headers, "Water the plants")
    toggled = client.patch(f"/api/{alice}/tasks/{created['id']}/complete", headers=alice_headers).json()
    listed = client.get(f"/api/{alice}/tasks", headers=alice_headers).json()["tasks"]
    assert listed == [toggled]
    assert toggled["created_at"] == created["created_at"]
    assert created["created_at"].endswith("Z") and toggled["updated_at"].endswith("Z")
