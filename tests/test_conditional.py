"""Conditional requests (RFC 9110): ETags on every single-task answer, If-Match on writes, If-None-Match on get."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import headers_for


def url_of(alice, task):
    return f"/api/{alice}/tasks/{task['id']}"


def test_every_single_task_answer_carries_a_strong_etag(client, alice, alice_headers):
    created = client.post(f"/api/{alice}/tasks", json={"title": "Buy milk"}, headers=alice_headers)
    etag = created.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    url = url_of(alice, created.json())
    assert client.get(url, headers=alice_headers).headers["etag"] == etag
    renamed = client.put(url, json={"title": "Buy oat milk"}, headers=alice_headers)
    toggled = client.patch(f"{url}/complete", headers=alice_headers)
    assert len({etag, renamed.headers["etag"], toggled.headers["etag"]}) == 3


def test_the_etag_changes_only_when_a_field_changes(client, alice, alice_headers, a_task):
    url = url_of(alice, a_task)
    before = client.get(url, headers=alice_headers).headers["etag"]
    same = client.put(url, json={"title": a_task["title"], "labels": []}, headers=alice_headers)
    assert same.headers["etag"] == before and same.json() == a_task
    assert client.patch(f"{url}/complete", json={"completed": False}, headers=alice_headers).headers["etag"] == before
    assert client.put(url, json={"priority": "low"}, headers=alice_headers).headers["etag"] != before


@pytest.mark.parametrize("method, path, body", [
    ("PUT", "", {"title": "Mine now"}), ("PATCH", "/complete", None), ("DELETE", "", None)])
def test_a_stale_if_match_is_412_and_changes_nothing(client, alice, alice_headers, a_task, method, path, body):
    url = url_of(alice, a_task)
    stale = client.get(url, headers=alice_headers).headers["etag"]
    current = client.put(url, json={"description": "changed meanwhile"}, headers=alice_headers)

    refused = client.request(method, url + path, json=body, headers={**alice_headers, "If-Match": stale})
    assert refused.status_code == 412
    assert refused.headers["content-type"] == "application/problem+json" and refused.json()["status"] == 412
    assert client.get(url, headers=alice_headers).json() == current.json()


@pytest.mark.parametrize("if_match", ["{current}", '"1", {current}', "*", ' {current} , "77" '])
def test_a_matching_if_match_lets_the_write_through(client, alice, alice_headers, a_task, if_match):
    url = url_of(alice, a_task)
    current = client.get(url, headers=alice_headers).headers["etag"]
    header = if_match.format(current=current)
    assert client.put(url, json={"title": "Renamed"}, headers={**alice_headers, "If-Match": header}).status_code == 200
    current = client.get(url, headers=alice_headers).headers["etag"]
    toggled = client.patch(f"{url}/complete", headers={**alice_headers, "If-Match": if_match.format(current=current)})
    assert toggled.status_code == 200
    deleted = client.delete(url, headers={**alice_headers, "If-Match": if_match.format(current=toggled.headers["etag"])})
    assert deleted.status_code == 204


def test_a_weak_tag_never_matches_if_match(client, alice, alice_headers, a_task):
    url = url_of(alice, a_task)
    current = client.get(url, headers=alice_headers).headers["etag"]
    assert client.delete(url, headers={**alice_headers, "If-Match": f"W/{current}"}).status_code == 412


@pytest.mark.parametrize("header", ["*", '"123"'])
def test_a_missing_or_another_users_task_stays_404_whatever_the_preconditions(client, alice, alice_headers, bob,
                                                                              bob_headers, a_task, header):
    theirs = f"/api/{bob}/tasks/{a_task['id']}"
    for method, path in (("PUT", ""), ("PATCH", "/complete"), ("DELETE", "")):
        body = {"title": "x"} if method == "PUT" else None
        answer = client.request(method, theirs + path, json=body, headers={**bob_headers, "If-Match": header})
        assert answer.status_code == 404, method
    stolen = client.get(theirs, headers={**bob_headers, "If-None-Match": header})
    assert stolen.status_code == 404
    assert client.get(url_of(alice, a_task), headers=alice_headers).json() == a_task


def test_if_none_match_answers_304_with_the_etag_and_no_body(client, alice, alice_headers, a_task):
    url = url_of(alice, a_task)
    etag = client.get(url, headers=alice_headers).headers["etag"]
    for header in (etag, f"W/{etag}", f'"0", {etag}', "*"):
        cached = client.get(url, headers={**alice_headers, "If-None-Match": header})
        assert (cached.status_code, cached.headers["etag"], cached.content) == (304, etag, b"")
    changed = client.put(url, json={"title": "New"}, headers=alice_headers)
    fresh = client.get(url, headers={**alice_headers, "If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] == changed.headers["etag"]


def test_a_precondition_that_names_no_version_never_matches(client, alice, alice_headers, a_task):
    url = url_of(alice, a_task)
    for garbage in ("not-a-tag", "0", '"x"', "", '"' + "9" * 30 + '"'):  # the last beyond any BIGINT
        assert client.delete(url, headers={**alice_headers, "If-Match": garbage}).status_code == 412
        assert client.get(url, headers={**alice_headers, "If-None-Match": garbage}).status_code == 200


def test_a_precondition_header_with_a_control_character_is_400(client, alice, alice_headers, a_task):
    answer = client.delete(url_of(alice, a_task), headers={**alice_headers, "If-Match": b'"1"\x7f'})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "If-Match"


def test_of_concurrent_updates_with_one_etag_exactly_one_wins(live_server):
    """The If-Match check and the write are one atomic statement on PostgreSQL."""
    headers = headers_for("racer")
    base = f"{live_server.url}/api/racer/tasks"
    task = httpx.post(base, json={"title": "contended"}, headers=headers).json()
    etag = httpx.get(f"{base}/{task['id']}", headers=headers).headers["etag"]

    def update(n: int) -> int:
        return httpx.put(f"{base}/{task['id']}", json={"title": f"writer {n}"},
                         headers={**headers, "If-Match": etag}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(update, range(32)))
    assert sorted(statuses) == [200] + [412] * 31
    winner = httpx.get(f"{base}/{task['id']}", headers=headers).json()["title"]
    assert winner.startswith("writer ")

    etag = httpx.get(f"{base}/{task['id']}", headers=headers).headers["etag"]

    def delete(_n: int) -> int:
        return httpx.delete(f"{base}/{task['id']}", headers={**headers, "If-Match": etag}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(delete, range(16)))
    assert statuses.count(204) == 1 and set(statuses) <= {204, 404, 412}
