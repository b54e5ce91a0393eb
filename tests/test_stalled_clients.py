"""A client that stops sending its body gets a 408 after BODY_TIMEOUT_SECONDS and loses its connection,
and hundreds of them at once do not keep the service from answering everyone else (tasks-api serve on
PostgreSQL, raw sockets)."""

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import headers_for, serving

BODY_TIMEOUT = 2
STALLED = 500


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("stalled") / "server.log", BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT)) as live:
        yield live


def stalled_request(url: str, sent_of_body: bytes = b"") -> socket.socket:
    """Headers promising a 100-byte task, then only `sent_of_body` of it."""
    address = urlsplit(url)
    connection = socket.create_connection((address.hostname, address.port))
    head = (f"POST /api/alice/tasks HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: {headers_for('alice')['Authorization']}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    connection.sendall(head.encode() + sent_of_body)
    return connection


def answer_and_close(connection: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection."""
    connection.settimeout(timeout)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_a_body_that_stops_half_way_is_408_and_the_connection_closes(server):
    started = time.monotonic()
    with stalled_request(server.url, b'{"title": "half a ta') as connection:
        received = answer_and_close(connection, timeout=BODY_TIMEOUT + 10)
    waited = time.monotonic() - started

    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["title"] == "Request Timeout"
    assert BODY_TIMEOUT - 0.5 <= waited < BODY_TIMEOUT + 5
    assert httpx.get(f"{server.url}/api/alice/tasks", headers=headers_for("alice")).json()["count"] == 0


def test_stalled_clients_hold_no_one_else_up_and_are_all_cut_off(server):
    stalled = [stalled_request(server.url) for _ in range(STALLED)]
    try:
        with httpx.Client(base_url=server.url, headers=headers_for("bob"), timeout=10) as client:
            slowest = 0.0
            for n in range(20):
                started = time.monotonic()
                response = client.post("/api/bob/tasks", json={"title": f"while they hang {n}"})
                slowest = max(slowest, time.monotonic() - started)
                assert response.status_code == 201
        assert slowest < 0.5, f"a normal request took {slowest:.2f} s while {STALLED} clients hung"

        deadline = time.monotonic() + BODY_TIMEOUT + 20
        statuses = [answer_and_close(connection, max(0.1, deadline - time.monotonic()))[:12] for connection in stalled]
        assert statuses == [b"HTTP/1.1 408"] * STALLED
    finally:
        for connection in stalled:
            connection.close()
