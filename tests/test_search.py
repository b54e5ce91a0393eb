"""Listing by the task model: text search, labels, priorities, due dates, their sorts and counts.

Every test runs on SQLite and on PostgreSQL with the same data and the same expectations.
"""

import base64
import itertools
import json
from datetime import datetime

import pytest
from test_list import walk

PRIORITY_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}


def create(client, user, headers, title, **fields):
    response = client.post(f"/api/{user}/tasks", json={"title": title, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def titles(client, user, headers, query: str) -> list[str]:
    response = client.get(f"/api/{user}/tasks?{query}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["tasks"])  # count follows every filter
    return sorted(task["title"] for task in body["tasks"])


@pytest.fixture
def shelf(client, alice, alice_headers, bob, bob_headers):
    create(client, alice, alice_headers, "Buy MILK", description="at the corner shop", labels=["Errand", "home"],
           priority="high", due_at="2026-12-02T09:00:00+01:00")
    create(client, alice, alice_headers, "Книга", description="Прочитать до пятницы", labels=["reading"],
           priority="low", due_at="2026-12-03T08:00:00Z")
    create(client, alice, alice_headers, "Shop for shoes", labels=["errand"], priority="medium")
    create(client, alice, alice_headers, "100% done_ish", description=None, labels=["Home"])
    create(client, bob, bob_headers, "Buy milk for Bob", labels=["errand", "home"], priority="high",
           due_at="2026-12-02T08:00:00Z")


@pytest.mark.parametrize("q, expected", [
    ("mil", ["Buy MILK"]),
    ("MILK", ["Buy MILK"]),
    ("книг", ["Книга"]),
    ("ПЯТНИЦ", ["Книга"]),  # found in the description, case-folded
    ("shop", ["Buy MILK", "Shop for shoes"]),  # title or description
    ("milk corner", ["Buy MILK"]),  # the words fall in different fields
    ("milk shoes", []),  # every word must match, in the same task
    ("  shop   for ", ["Shop for shoes"]),
    ("%", ["100% done_ish"]),  # LIKE's wildcards are plain characters
    ("_", ["100% done_ish"]),
    ("o_i", []),
    ("k c", ["Buy MILK"]),  # one word may not run from the title into the description
    ("   ", ["100% done_ish", "Buy MILK", "Shop for shoes", "Книга"]),  # no words: no constraint
])
def test_q_matches_every_word_as_a_substring_of_title_or_description(client, alice, alice_headers, shelf, q,
                                                                       expected):
    assert titles(client, alice, alice_headers, f"q={q}") == expected


def test_a_word_cannot_span_the_title_and_the_description(client, alice, alice_headers):
    create(client, alice, alice_headers, "abc", description="def")
    assert titles(client, alice, alice_headers, "q=cd") == []
    assert titles(client, alice, alice_headers, "q=bc") == ["abc"]


@pytest.mark.parametrize("query, expected", [
    ("label=errand", ["Buy MILK", "Shop for shoes"]),
    ("label=ERRAND&label=Home", ["Buy MILK"]),  # every label given, case-insensitively
    ("label=home", ["100% done_ish", "Buy MILK"]),
    ("label=errand&label=reading", []),
    ("label=err", []),  # labels match whole, not as substrings
    ("priority=high", ["Buy MILK"]),
    ("priority=high&priority=low", ["Buy MILK", "Книга"]),  # any of them
    ("priority=none", ["100% done_ish"]),
    ("due_after=2026-12-02T08:00:00Z", ["Buy MILK", "Книга"]),  # inclusive
    ("due_after=2026-12-02T08:00:00.000001Z", ["Книга"]),
    ("due_before=2026-12-03T08:00:00Z", ["Buy MILK"]),  # exclusive
    ("due_before=2026-12-03T09:00:00%2B01:00", ["Buy MILK"]),  # the same instant, given with an offset
    ("due_after=2026-12-01T00:00:00Z&due_before=2026-12-31T00:00:00Z", ["Buy MILK", "Книга"]),  # never undated
    ("q=shop&label=errand&priority=medium", ["Shop for shoes"]),
    ("q=shop&label=errand&due_before=2027-01-01T00:00:00Z", ["Buy MILK"]),
    ("status=completed&label=errand", []),
])
def test_filters_combine_with_and(client, alice, alice_headers, shelf, query, expected):
    assert titles(client, alice, alice_headers, query) == expected


def test_count_is_the_number_matching_all_filters_across_pages(client, alice, alice_headers):
    for n in range(7):
        create(client, alice, alice_headers, f"errand {n}", labels=["errand"] if n % 2 else [], priority="high")
    body = client.get(f"/api/{alice}/tasks", params={"label": "errand", "q": "errand", "limit": 2},
                      headers=alice_headers).json()
    assert (len(body["tasks"]), body["count"]) == (2, 3)


@pytest.fixture
def planned(client, alice, alice_headers):
    """Tasks with ties on every sort key and some without due dates."""
    dues = ["2026-12-02T10:00:00Z", None, "2026-12-01T10:00:00Z", "2026-12-02T10:00:00Z", None,
            "2026-12-02T11:00:00+01:00", None, "2026-12-03T00:00:00Z"]  # the sixth ties the first and fourth
    priorities = itertools.cycle(["high", "none", "medium", "high", "low"])
    return [create(client, alice, alice_headers, f"task {n}", due_at=due, priority=next(priorities))
            for n, due in enumerate(dues)]


def expected_order(tasks: list[dict], sort: str) -> list[str]:
    key, descending = sort.lstrip("-"), sort.startswith("-")
    if key == "priority":
        return [t["id"] for t in sorted(tasks, key=lambda t: (PRIORITY_RANK[t["priority"]], t["id"]),
                                        reverse=descending)]
    dated = sorted((t for t in tasks if t["due_at"]), key=lambda t: (datetime.fromisoformat(t["due_at"]), t["id"]),
                   reverse=descending)
    undated = sorted((t for t in tasks if not t["due_at"]), key=lambda t: t["id"], reverse=descending)
    return [t["id"] for t in dated + undated]  # undated last both ways


@pytest.mark.parametrize("sort", ["due_at", "-due_at", "priority", "-priority"])
@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_new_sorts_walk_every_task_once_in_order_nulls_last(client, alice, alice_headers, planned, sort, limit):
    pages = walk(client, f"/api/{alice}/tasks", alice_headers, sort=sort, limit=limit)
    listed = [task["id"] for page in pages for task in page["tasks"]]
    assert listed == expected_order(planned, sort)
    assert all(page["count"] == len(planned) for page in pages)


@pytest.mark.parametrize("sort", ["due_at", "-due_at", "priority", "-priority", "title", "-created_at"])
def test_pagination_stays_exact_while_other_tasks_come_and_go(client, alice, alice_headers, planned, sort):
    """Every task that exists throughout the walk is listed exactly once, whatever changes around it."""
    url, pages, cursor, churn = f"/api/{alice}/tasks", [], None, []
    dues = itertools.cycle([None, "2026-12-02T10:00:00Z", "2026-11-01T00:00:00Z", "2027-01-01T00:00:00Z"])
    for step in itertools.count():
        params = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, params=params, headers=alice_headers).json()
        pages.append(page)
        if step % 2 == 0 and churn:
            assert client.delete(f"{url}/{churn.pop(0)['id']}", headers=alice_headers).status_code == 204
        churn += [create(client, alice, alice_headers, f"churn {step}", due_at=next(dues), priority="medium")]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    listed = [task["id"] for page in pages for task in page["tasks"]]
    assert len(listed) == len(set(listed))
    assert set(listed) >= {task["id"] for task in planned}


def test_filters_and_sorts_page_together(client, alice, alice_headers, planned):
    pages = walk(client, f"/api/{alice}/tasks", alice_headers, sort="-due_at", limit=2, priority=["high", "low"])
    listed = [task["id"] for page in pages for task in page["tasks"]]
    chosen = [task for task in planned if task["priority"] in ("high", "low")]
    assert listed == expected_order(chosen, "-due_at")
    assert {page["count"] for page in pages} == {len(chosen)}


def test_a_cursor_carries_its_sort(client, alice, alice_headers, planned):
    cursor = client.get(f"/api/{alice}/tasks", params={"sort": "due_at", "limit": 1},
                        headers=alice_headers).json()["next_cursor"]
    response = client.get(f"/api/{alice}/tasks", params={"sort": "-due_at", "cursor": cursor}, headers=alice_headers)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "cursor"


def test_another_users_tasks_never_match(client, bob, bob_headers, shelf):
    assert titles(client, bob, bob_headers, "q=milk") == ["Buy milk for Bob"]
    assert titles(client, bob, bob_headers, "label=reading") == []


@pytest.mark.parametrize("sort, value", [("priority", 4), ("-priority", -1), ("priority", True), ("priority", "high"),
                                         ("due_at", 5), ("due_at", "2026-12-01T00:00:00"), ("title", None),
                                         ("created_at", None)])
def test_a_cursor_with_a_sort_value_the_service_never_issues_is_400(client, alice, alice_headers, sort, value):
    raw = json.dumps([sort, value, "00000000-0000-4000-8000-000000000000"]).encode()
    cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    response = client.get(f"/api/{alice}/tasks", params={"sort": sort, "cursor": cursor}, headers=alice_headers)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "cursor"
