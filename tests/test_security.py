"""The bearer-token check: what it accepts, and that everything else is a 401 that says Bearer."""

import time

import jwt
import pytest
from conftest import SECRET, token_for


def call(client, token, user="alice"):
    return client.get(f"/api/{user}/tasks", headers={"Authorization": f"Bearer {token}"})


def assert_unauthorized(response):
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_a_valid_token_is_accepted(client):
    assert call(client, token_for("alice")).status_code == 200


NOW = int(time.time())


def sign(claims, key=SECRET, algorithm="HS256", **kwargs):
    """Signs `claims`, with `iat` now unless given; a claim given as None is left out."""
    claims = {k: v for k, v in {"iat": NOW, **claims}.items() if v is not None}
    return jwt.encode(claims, key, algorithm=algorithm, **kwargs)


@pytest.mark.parametrize("token", [
    pytest.param(sign({"sub": "alice", "exp": NOW - 3600}), id="expired"),
    pytest.param(sign({"sub": "alice", "exp": NOW + 600}, key="another-secret-another-secret-0123"), id="bad-signature"),
    pytest.param(sign({"sub": "alice", "exp": NOW + 600}, key=None, algorithm="none"), id="alg-none"),
    pytest.param(sign({"sub": "alice", "exp": NOW + 600}, algorithm="HS384"), id="other-hmac-alg"),
    pytest.param(sign({"exp": NOW + 600}), id="no-sub"),
    pytest.param(sign({"sub": "alice"}), id="no-exp"),
    pytest.param(sign({"sub": "alice", "exp": NOW + 600, "iat": None}), id="no-iat"),
    pytest.param(sign({"sub": 42, "exp": NOW + 600}), id="non-string-sub"),
    pytest.param(sign({"sub": "", "exp": NOW + 600}), id="empty-sub"),
    pytest.param(sign({"sub": "alice", "exp": NOW + 600, "nbf": NOW + 3600}), id="not-yet-valid"),
    pytest.param(sign({"sub": "alice", "exp": NOW + 600, "iat": NOW + 3600}), id="issued-in-the-future"),
    pytest.param("not-a-jwt", id="garbage"),
    pytest.param(token_for("alice")[:-4], id="truncated"),
    pytest.param(token_for("alice") + "." + "x" * 10, id="extra-segment"),
    pytest.param("e" * 20000, id="oversized"),
])
def test_bad_tokens_are_401(client, token):
    assert_unauthorized(call(client, token))


def test_an_audience_is_ignored_when_none_is_configured(client):
    # PyJWT would refuse it by default; Better Auth always sets `aud`, so refusing would lock users out.
    now = int(time.time())
    assert call(client, sign({"sub": "alice", "iat": now, "exp": now + 600, "aud": "somewhere"})).status_code == 200


def test_a_token_within_the_leeway_is_accepted(client):
    now = int(time.time())
    assert call(client, sign({"sub": "alice", "iat": now - 60, "exp": now - 10})).status_code == 200


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic YWxpY2U6c2VjcmV0", "Token abc"])
def test_missing_or_malformed_authorization_is_401(client, header):
    headers = {} if header is None else {"Authorization": header}
    assert_unauthorized(client.get("/api/alice/tasks", headers=headers))


def test_health_needs_no_token(client):
    assert client.get("/health").status_code == 200


def test_issuer_and_audience_are_checked_when_configured(with_settings):
    from handlers.app import create_app

    app = create_app(with_settings(jwt_issuer="https://auth.example", jwt_audience="tasks"))
    now = int(time.time())
    good = {"sub": "alice", "iat": now, "exp": now + 600, "iss": "https://auth.example", "aud": "tasks"}
    with app.test_client() as client:
        assert call(client, sign(good)).status_code == 200
        assert_unauthorized(call(client, sign({**good, "iss": "https://evil.example"})))
        assert_unauthorized(call(client, sign({**good, "aud": "other"})))
        assert_unauthorized(call(client, sign({k: v for k, v in good.items() if k != "iss"})))
        assert_unauthorized(call(client, sign({k: v for k, v in good.items() if k != "aud"})))


def test_a_subject_with_control_characters_cannot_forge_log_lines(client, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="tasks_api.access")
    response = call(client, sign({"sub": "a\x1bb\rforged", "exp": int(time.time()) + 60}), user="a%1Bb%0Dforged")
    assert response.status_code == 400
    assert "\x1b" not in caplog.text and "\r" not in caplog.text
