"""Delta sync: every live task first, then only what changed, deletions as tombstones, nothing missed."""

import base64
import json
import random
import threading
import time

import httpx
import pytest
from conftest import headers_for, purged, serving
from sqlalchemy import create_engine, text

from db.changes import Snapshot
from handlers.changes import TOKEN_LENGTH, read_token, token


def sync(client, user, headers, since=None, limit=None, expect=200):
    params = {**({"since": since} if since else {}), **({"limit": limit} if limit else {})}
    response = client.get(f"/api/{user}/changes", params=params, headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


def sync_all(client, user, headers, since=None, limit=None):
    """Follows has_more to the end; returns the changed tasks, the deleted ids and the token to keep."""
    changed, deleted = {}, set()
    while True:
        page = sync(client, user, headers, since, limit)
        for task in page["changes"]:
            changed[task["id"]] = task
            deleted.discard(task["id"])
        for task_id in page["deleted"]:
            deleted.add(task_id)
            changed.pop(task_id, None)
        since = page["next_token"]
        if not page["has_more"]:
            return changed, deleted, since


def create(client, user, headers, title):
    return client.post(f"/api/{user}/tasks", json={"title": title}, headers=headers).json()


def test_a_first_sync_returns_every_live_task_and_a_later_one_only_what_changed(client, alice, alice_headers):
    kept, changed, removed = (create(client, alice, alice_headers, title) for title in ("kept", "changed", "removed"))
    first, deleted, token = sync_all(client, alice, alice_headers)
    assert set(first) == {kept["id"], changed["id"], removed["id"]} and deleted == set()

    assert sync(client, alice, alice_headers, token) | {"next_token": None} == {
        "changes": [], "deleted": [], "next_token": None, "has_more": False}
    renamed = client.put(f"/api/{alice}/tasks/{changed['id']}", json={"title": "renamed"}, headers=alice_headers)
    client.delete(f"/api/{alice}/tasks/{removed['id']}", headers=alice_headers)
    added = create(client, alice, alice_headers, "added")

    page = sync(client, alice, alice_headers, token)
    assert [task["id"] for task in page["changes"]] == [changed["id"], added["id"]]  # in the order they changed
    assert page["changes"][0] == renamed.json()
    assert page["deleted"] == [removed["id"]] and page["has_more"] is False
    # A deleted task is gone everywhere else.
    assert client.get(f"/api/{alice}/tasks/{removed['id']}", headers=alice_headers).status_code == 404
    assert client.get(f"/api/{alice}/tasks", headers=alice_headers).json()["count"] == 3  # kept, changed, added


def test_an_update_that_changes_nothing_is_not_a_change(client, alice, alice_headers, a_task):
    _, _, token = sync_all(client, alice, alice_headers)
    client.put(f"/api/{alice}/tasks/{a_task['id']}", json={"title": a_task["title"]}, headers=alice_headers)
    assert sync(client, alice, alice_headers, token)["changes"] == []


def test_sync_pages_with_limit_and_has_more(client, alice, alice_headers):
    made = [create(client, alice, alice_headers, f"task {n}")["id"] for n in range(7)]
    page = sync(client, alice, alice_headers, limit=3)
    assert [t["id"] for t in page["changes"]] == made[:3] and page["has_more"] is True
    changed, _, token = sync_all(client, alice, alice_headers, limit=3)
    assert list(changed) == made
    assert sync(client, alice, alice_headers, token)["changes"] == []


def test_a_change_that_commits_after_a_later_one_still_comes_with_the_next_sync(client, database_url, alice,
                                                                                 alice_headers):
    """Two writes commit in the other order than they began: a sync between the commits returns the
    later one; the earlier one, still running then, comes with the next sync."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time")
    create(client, alice, alice_headers, "first")
    _, _, since = sync_all(client, alice, alice_headers)
    engine = create_engine(database_url)
    with engine.connect() as slow:  # a create that began first and commits last, numbered as the service does
        slow_id = slow.execute(text(
            "INSERT INTO tasks (id, user_id, title, title_lower, completed, created_at, updated_at, change_seq) "
            "VALUES (gen_random_uuid(), :owner, 'slow', 'slow', false, now(), now(), "
            "pg_current_xact_id()::text::bigint) RETURNING id"), {"owner": alice}).scalar_one()
        fast = create(client, alice, alice_headers, "fast")
        page = sync(client, alice, alice_headers, since)
        assert [task["id"] for task in page["changes"]] == [fast["id"]]
        slow.commit()
    engine.dispose()
    assert [task["id"] for task in sync(client, alice, alice_headers, page["next_token"])["changes"]] == [str(slow_id)]


def test_a_token_fits_the_specs_limit_however_many_writes_were_in_flight():
    """A snapshot with too many writes in flight to fit is cut to one that sees less, never more."""
    def sees(snapshot: Snapshot, number: int) -> bool:
        return number < snapshot.xmin or (number < snapshot.xmax and number not in snapshot.in_progress)

    wide = Snapshot(1_000_000, 9_000_000, tuple(range(1_000_000, 9_000_000, 40_000)))  # 200 in flight
    cut, _ = read_token(token("a" * 128, wide), "a" * 128)
    assert len(token("a" * 128, wide)) <= TOKEN_LENGTH and cut.xmax > wide.xmin
    assert all(sees(wide, number) for number in range(wide.xmin - 10, wide.xmax + 10, 997) if sees(cut, number))


@pytest.mark.parametrize("token", ["bm90LWpzb24", "WzEsMiwzXQ", "W10", base64.urlsafe_b64encode(
    json.dumps(["alice", -1, 0]).encode()).rstrip(b"=").decode(), base64.urlsafe_b64encode(
    json.dumps(["alice", 10**30, 0]).encode()).rstrip(b"=").decode()])
def test_a_token_this_service_never_issued_is_400(client, alice, alice_headers, token):
    answer = client.get(f"/api/{alice}/changes", params={"since": token}, headers=alice_headers)
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "since"


def test_another_users_token_is_400_not_a_window_into_their_changes(client, alice, alice_headers, bob, bob_headers):
    create(client, alice, alice_headers, "secret")
    token = sync(client, alice, alice_headers)["next_token"]
    answer = client.get(f"/api/{bob}/changes", params={"since": token}, headers=bob_headers)
    assert answer.status_code == 400
    assert client.get(f"/api/{alice}/changes", headers=bob_headers).status_code == 403
    assert sync(client, bob, bob_headers)["changes"] == []


def test_a_token_older_than_the_retention_is_410_and_tombstones_expire(tmp_path):
    with serving(tmp_path / "server.log", TOMBSTONE_RETENTION_SECONDS="2") as server:
        headers = headers_for("forgetful")
        base = f"{server.url}/api/forgetful/tasks"
        task = httpx.post(base, json={"title": "soon gone"}, headers=headers).json()
        token = httpx.get(base.replace("/tasks", "/changes"), headers=headers).json()["next_token"]
        httpx.delete(f"{base}/{task['id']}", headers=headers)
        assert httpx.get(base.replace("/tasks", "/changes"), params={"since": token}, headers=headers).json()["deleted"] == [task["id"]]
        time.sleep(3.2)
        expired = httpx.get(base.replace("/tasks", "/changes"), params={"since": token}, headers=headers)
        assert expired.status_code == 410 and expired.headers["content-type"] == "application/problem+json"
        assert purged(server.database_url, "task_tombstones"), "the expired tombstone was never purged"
        assert httpx.get(base.replace("/tasks", "/changes"), headers=headers).status_code == 200  # a fresh start always works


def test_a_reader_syncing_under_concurrent_writers_ends_with_exactly_the_servers_tasks(live_server):
    """Writers create, update, toggle and delete while a reader syncs again and again; after the
    writers stop, one more sync leaves the reader with exactly what the server holds."""
    user, headers = "syncer", headers_for("syncer")
    base = f"{live_server.url}/api/{user}/tasks"
    stop = threading.Event()
    errors = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        with httpx.Client(headers=headers, timeout=30) as http:
            while not stop.is_set():
                action = rng.random()
                try:
                    if action < 0.4 or not mine:
                        mine.append(http.post(base, json={"title": f"w{seed}"}).json()["id"])
                    elif action < 0.6:
                        http.put(f"{base}/{rng.choice(mine)}", json={"title": f"w{seed} {rng.random()}"})
                    elif action < 0.8:
                        http.patch(f"{base}/{rng.choice(mine)}/complete")
                    else:
                        http.delete(f"{base}/{mine.pop(rng.randrange(len(mine)))}")
                except httpx.HTTPError as error:
                    errors.append(error)

    replica, token = {}, None
    with httpx.Client(headers=headers, timeout=30) as reader:
        def sync_page() -> bool:
            """One page, from the token kept; whether more are waiting."""
            nonlocal token
            page = reader.get(base.replace("/tasks", "/changes"), params={"since": token, "limit": 7} if token else
                              {"limit": 7}).json()
            for task in page["changes"]:
                replica[task["id"]] = task
            for task_id in page["deleted"]:
                replica.pop(task_id, None)
            token = page["next_token"]
            return page["has_more"]

        writers = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for thread in writers:
            thread.start()
        # While they write, the reader pages on from its token (writers may outpace it: no waiting for the end).
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            sync_page()
        stop.set()
        for thread in writers:
            thread.join()
        while sync_page():
            pass
        server = {}
        cursor = None
        while True:
            page = reader.get(base, params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
            server.update({task["id"]: task for task in page["tasks"]})
            if not (cursor := page["next_cursor"]):
                break
    assert not errors
    assert len(server) > 20
    assert replica == server
