"""Idempotent create: the Idempotency-Key header (IETF draft), with the keys kept in the database."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from conftest import headers_for, purged, serving
from sqlalchemy import create_engine, text

from db import idempotency, tasks
from db.session import make_engine, using
from handlers.tasks import NEW_TASK, fingerprint, storable


def create(client, user, headers, key, body):
    return client.post(f"/api/{user}/tasks", json=body, headers={**headers, "Idempotency-Key": key})


def count_tasks(client, user, headers) -> int:
    return client.get(f"/api/{user}/tasks", headers=headers).json()["count"]


def test_a_retry_with_the_same_key_and_body_answers_the_first_201_and_creates_nothing(client, alice, alice_headers):
    first = create(client, alice, alice_headers, "k-1", {"title": "Buy milk", "labels": ["a", "b"]})
    again = create(client, alice, alice_headers, "k-1", {"labels": ["a", "b"], "title": "Buy milk"})  # same, parsed
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"] and again.headers["etag"] == first.headers["etag"]
    assert count_tasks(client, alice, alice_headers) == 1


def test_the_first_answer_is_replayed_even_after_the_task_changed_or_went(client, alice, alice_headers):
    first = create(client, alice, alice_headers, "k-2", {"title": "Buy milk"})
    url = first.headers["location"]
    client.put(url, json={"title": "Changed"}, headers=alice_headers)
    assert create(client, alice, alice_headers, "k-2", {"title": "Buy milk"}).json() == first.json()
    client.delete(url, headers=alice_headers)
    replay = create(client, alice, alice_headers, "k-2", {"title": "Buy milk"})
    assert replay.status_code == 201 and replay.json() == first.json()
    assert count_tasks(client, alice, alice_headers) == 0


def test_the_same_key_with_another_body_is_422(client, alice, alice_headers):
    create(client, alice, alice_headers, "k-3", {"title": "Buy milk"})
    reused = create(client, alice, alice_headers, "k-3", {"title": "Buy bread"})
    assert reused.status_code == 422 and reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["title"] == "Unprocessable Content"
    assert count_tasks(client, alice, alice_headers) == 1


def test_keys_of_different_users_never_collide(client, alice, alice_headers, bob, bob_headers):
    mine = create(client, alice, alice_headers, "shared-key", {"title": "Buy milk"})
    theirs = create(client, bob, bob_headers, "shared-key", {"title": "Buy milk"})
    assert theirs.status_code == 201 and theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["user_id"] == bob


@pytest.mark.parametrize("key", ["", "a" * 256, "with space", "tab\tkey", "é"])
def test_a_key_outside_1_to_255_visible_ascii_characters_is_400(client, alice, alice_headers, key):
    response = client.post(f"/api/{alice}/tasks", json={"title": "t"},
                           headers={**alice_headers, "Idempotency-Key": key.encode()})
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"Idempotency-Key"}
    assert count_tasks(client, alice, alice_headers) == 0


@pytest.mark.parametrize("key", ["a", "a" * 255, "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"])
def test_every_visible_ascii_key_up_to_255_is_accepted(client, alice, alice_headers, key):
    assert create(client, alice, alice_headers, key, {"title": "t"}).status_code == 201


def test_a_key_whose_first_request_is_still_running_is_409(client, alice, alice_headers, database_url):
    engine = make_engine(database_url)
    with using(engine):  # a first request that has claimed the key and not yet answered
        idempotency.claim(owner=alice, key="k-running", fingerprint=fingerprint({"title": "Buy milk"}),
                          ttl=timedelta(days=1))
    engine.dispose()
    running = create(client, alice, alice_headers, "k-running", {"title": "Buy milk"})
    assert running.status_code == 409 and running.json()["status"] == 409
    assert count_tasks(client, alice, alice_headers) == 0


def test_a_failed_creates_key_is_released_for_its_retry_at_once(client, alice, alice_headers, database_url):
    """The release matches its claim by the claim's own time, stored and read back by each database."""
    body = {"title": "Buy milk"}
    engine = make_engine(database_url)
    with using(engine):
        first = idempotency.claim(owner=alice, key="k-failed", fingerprint=fingerprint(body), ttl=timedelta(days=1))
        idempotency.release(first)  # as create_task does when the create fails
    engine.dispose()
    assert create(client, alice, alice_headers, "k-failed", body).status_code == 201


def test_a_late_release_leaves_alone_a_claim_taken_over_since(client, alice, alice_headers, database_url):
    """A failed create's claim released after another request took the key over (its own claim, made
    later) must not free that request's key for a third."""
    body = {"title": "Buy milk"}
    engine = make_engine(database_url)
    with using(engine):
        first = idempotency.claim(owner=alice, key="k-late", fingerprint=fingerprint(body), ttl=timedelta(days=1))
        with engine.begin() as connection:  # as a take-over after ABANDONED_AFTER leaves it
            connection.execute(text("UPDATE idempotency_keys SET claimed_at = :later WHERE key = 'k-late'"),
                               {"later": first.at + timedelta(seconds=1)})
        idempotency.release(first)
    engine.dispose()
    assert create(client, alice, alice_headers, "k-late", body).status_code == 409


def test_a_create_whose_claim_is_gone_makes_nothing(client, alice, alice_headers, database_url):
    """A create statement that outlived its request (cut off while a pooler held it, its claim released
    since) or whose key was taken over meanwhile: no task, and the key is left as it is."""
    body = {"title": "Buy milk"}
    fields = storable({**NEW_TASK, **body})
    engine = make_engine(database_url)
    with using(engine):
        released = idempotency.claim(owner=alice, key="k-released", fingerprint=fingerprint(body), ttl=timedelta(days=1))
        idempotency.release(released)
        taken = idempotency.claim(owner=alice, key="k-taken", fingerprint=fingerprint(body), ttl=timedelta(days=1))
        with engine.begin() as connection:  # as a take-over after ABANDONED_AFTER leaves it
            connection.execute(text("UPDATE idempotency_keys SET claimed_at = :later WHERE key = 'k-taken'"),
                               {"later": taken.at + timedelta(seconds=1)})
        assert tasks.create_task(owner=alice, fields=fields, claim=released) is None
        assert tasks.create_task(owner=alice, fields=fields, claim=taken) is None
    engine.dispose()
    assert count_tasks(client, alice, alice_headers) == 0
    assert create(client, alice, alice_headers, "k-taken", body).status_code == 409  # still the taker's


def test_an_expired_key_is_a_new_key(client, alice, alice_headers, database_url):
    first = create(client, alice, alice_headers, "k-old", {"title": "Buy milk"})
    engine = create_engine(database_url)
    with engine.begin() as connection:  # as if the key were two days old
        connection.execute(text("UPDATE idempotency_keys SET created_at = :then"),
                           {"then": "2000-01-01 00:00:00.000000" if "sqlite" in database_url else "2000-01-01Z"})
    engine.dispose()
    second = create(client, alice, alice_headers, "k-old", {"title": "Buy bread"})
    assert second.status_code == 201 and second.json()["id"] != first.json()["id"]


def test_the_same_key_sent_concurrently_creates_exactly_one_task(live_server):
    headers = {**headers_for("retrier"), "Idempotency-Key": "burst"}
    base = f"{live_server.url}/api/retrier/tasks"

    def send(_n: int) -> httpx.Response:
        return httpx.post(base, json={"title": "once"}, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, range(32)))
    assert {answer.status_code for answer in answers} <= {201, 409}
    assert len({answer.json()["id"] for answer in answers if answer.status_code == 201}) == 1
    assert httpx.get(base, headers=headers_for("retrier")).json()["count"] == 1


def test_keys_hold_across_two_servers_and_a_restart_and_expired_ones_are_purged(tmp_path):
    # Long enough for the second server to start under a loaded machine, short enough to see it purged.
    with serving(tmp_path / "a.log", IDEMPOTENCY_KEY_TTL_SECONDS="8") as first:
        second_command = ["tasks-api", "serve", "--port", "{port}", "--workers", "1"]
        headers = {**headers_for("twice"), "Idempotency-Key": "across"}
        made = httpx.post(f"{first.url}/api/twice/tasks", json={"title": "once"}, headers=headers)
        assert made.status_code == 201
        with serving_on(first, tmp_path / "b.log", second_command) as other_url:
            replay = httpx.post(f"{other_url}/api/twice/tasks", json={"title": "once"}, headers=headers)
            assert replay.status_code == 201 and replay.json() == made.json()
        assert purged(first.database_url, "idempotency_keys", seconds=30), "the expired key was never purged"


def serving_on(server, log_file, command):
    """Another `tasks-api serve` on the same database as `server`, until the block ends."""
    from contextlib import contextmanager

    @contextmanager
    def run():
        import os
        import subprocess

        from conftest import SECRET, free_port, tasks_api_command
        port = free_port()
        env = {**os.environ, "DATABASE_URL": server.database_url, "BETTER_AUTH_SECRET": SECRET}
        with open(log_file, "w") as log:
            process = subprocess.Popen([tasks_api_command() if part == "tasks-api" else part.format(port=port)
                                        for part in command], env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(150):
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=15)

    return run()
