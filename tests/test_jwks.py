"""Tokens as a real Better Auth deployment issues them: EdDSA (or RSA) signed, published as a JWKS,
with `kid`, `iss`/`aud` set to the auth server's URL, 32-character user ids, and keys that rotate."""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from conftest import SECRET, counted
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from handlers.app import create_app
from handlers.jwks import KeySet
from handlers.settings import Settings


class SigningKey:
    def __init__(self, kind: str) -> None:
        self.kid = secrets.token_hex(8)
        if kind == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.jwk = {**OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True), "alg": "EdDSA"}
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = {**RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True), "alg": kind}
        self.jwk["kid"] = self.kid
        self.algorithm = kind


class AuthServer:
    """A stand-in for Better Auth's `GET /api/auth/jwks`, on loopback."""

    def __init__(self) -> None:
        self.published: list[SigningKey] = []
        self.down = False
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.fetches += 1
                if server.down or self.path != "/api/auth/jwks":
                    self.send_response(503 if server.down else 404)
                    self.end_headers()
                    return
                body = json.dumps({"keys": [key.jwk for key in server.published]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, key: SigningKey, user: str, **claims) -> str:
        now = int(time.time())
        payload = {"sub": user, "iat": now, "exp": now + 900, "iss": self.url, "aud": self.url, **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key.private, algorithm=key.algorithm, headers={"kid": key.kid})


@pytest.fixture
def auth_server():
    server = AuthServer()
    yield server
    server.httpd.shutdown()


@pytest.fixture
def ed_key(auth_server):
    key = SigningKey("EdDSA")
    auth_server.published.append(key)
    return key


@pytest.fixture
def better_auth_app(auth_server, database_url, client):
    """The API configured as a Better Auth deployment would configure it (and HS256 as well)."""
    def make(**environment):
        settings = Settings.from_env({
            "DATABASE_URL": database_url, "BETTER_AUTH_URL": auth_server.url, "JWT_ALGORITHMS": "EdDSA,RS256",
            "JWKS_REFETCH_SECONDS": "0.3", **environment})
        return create_app(Settings(**{**settings.__dict__, "response_validation": True}))
    return make


def better_auth_user_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(32))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("kind", ["EdDSA", "RS256"])
def test_better_auth_tokens_work_through_every_operation(better_auth_app, auth_server, kind):
    key = SigningKey(kind)
    auth_server.published.append(key)
    user = better_auth_user_id()
    auth = bearer(auth_server.token(key, user))
    with better_auth_app().test_client() as api:
        created = api.post(f"/api/{user}/tasks", json={"title": "From Better Auth"}, headers=auth)
        assert created.status_code == 201, created.text
        url = f"/api/{user}/tasks/{created.json()['id']}"
        assert api.get(f"/api/{user}/tasks", headers=auth).json()["count"] == 1
        assert api.get(url, headers=auth).status_code == 200
        assert api.put(url, json={"title": "Renamed"}, headers=auth).json()["title"] == "Renamed"
        assert api.patch(f"{url}/complete", headers=auth).json()["completed"] is True
        assert api.delete(url, headers=auth).status_code == 204


def test_hs256_still_works_beside_jwks(better_auth_app, auth_server, ed_key):
    now = int(time.time())
    hs_token = jwt.encode({"sub": "alice", "iat": now, "exp": now + 60, "iss": auth_server.url,
                           "aud": auth_server.url}, SECRET, algorithm="HS256")
    with better_auth_app(BETTER_AUTH_SECRET=SECRET).test_client() as api:
        assert api.get("/api/alice/tasks", headers=bearer(hs_token)).status_code == 200
        assert api.get("/api/bob/tasks", headers=bearer(auth_server.token(ed_key, "bob"))).status_code == 200


def test_adding_better_auth_keeps_hs256_tokens_without_iss_and_aud_working(better_auth_app, auth_server, ed_key):
    """The way from the design documents' shared secret to Better Auth's JWKS: set BETTER_AUTH_URL and
    keep BETTER_AUTH_SECRET. Its issuer and audience defaults are for the key set's tokens only."""
    now = int(time.time())
    plain = jwt.encode({"sub": "alice", "iat": now, "exp": now + 60}, SECRET, algorithm="HS256")
    another_issuer = auth_server.token(ed_key, "bob", iss="https://elsewhere.example")
    with better_auth_app(BETTER_AUTH_SECRET=SECRET).test_client() as api:
        assert api.get("/api/alice/tasks", headers=bearer(plain)).status_code == 200
        assert api.get("/api/bob/tasks", headers=bearer(another_issuer)).status_code == 401
    with better_auth_app(BETTER_AUTH_SECRET=SECRET, JWT_ISSUER=auth_server.url).test_client() as api:
        assert api.get("/api/alice/tasks", headers=bearer(plain)).status_code == 401  # explicit: for every token


def test_rotated_keys_are_picked_up_without_a_restart(better_auth_app, auth_server, ed_key):
    with better_auth_app().test_client() as api:
        assert api.get("/api/u1/tasks", headers=bearer(auth_server.token(ed_key, "u1"))).status_code == 200
        new_key = SigningKey("EdDSA")
        auth_server.published.append(new_key)  # Better Auth publishes the new key beside the old one
        time.sleep(0.4)

        assert api.get("/api/u1/tasks", headers=bearer(auth_server.token(new_key, "u1"))).status_code == 200
        assert api.get("/api/u1/tasks", headers=bearer(auth_server.token(ed_key, "u1"))).status_code == 200

        auth_server.published.remove(ed_key)  # grace period over: the old key is withdrawn
        time.sleep(0.4)
        unknown = SigningKey("EdDSA")  # an unknown kid makes the service look again
        assert api.get("/api/u1/tasks", headers=bearer(auth_server.token(unknown, "u1"))).status_code == 401
        assert api.get("/api/u1/tasks", headers=bearer(auth_server.token(ed_key, "u1"))).status_code == 401
        assert api.get("/api/u1/tasks", headers=bearer(auth_server.token(new_key, "u1"))).status_code == 200


def test_a_flood_of_unknown_kids_fetches_the_key_set_at_most_once_per_interval(better_auth_app, auth_server,
                                                                                ed_key):
    with better_auth_app(JWKS_REFETCH_SECONDS="10").test_client() as api:
        assert api.get("/api/u1/tasks", headers=bearer(auth_server.token(ed_key, "u1"))).status_code == 200
        fetches = auth_server.fetches
        for _ in range(50):
            stranger = SigningKey("EdDSA")
            assert api.get("/api/u1/tasks", headers=bearer(auth_server.token(stranger, "u1"))).status_code == 401
    assert auth_server.fetches - fetches <= 1


def test_concurrent_misses_share_one_fetch(auth_server, ed_key):
    keys = KeySet(f"{auth_server.url}/api/auth/jwks", refetch_seconds=10)

    async def many():
        return await asyncio.gather(*(keys.key(ed_key.kid) for _ in range(25)))

    found = asyncio.run(many())
    assert {key.key_id for key in found} == {ed_key.kid}
    assert auth_server.fetches == 1


def test_a_withdrawn_key_stops_working_once_the_key_set_ages(auth_server, ed_key):
    keys = KeySet(f"{auth_server.url}/api/auth/jwks", refetch_seconds=10, max_age_seconds=0.2)

    async def scenario():
        await keys.key(ed_key.kid)
        auth_server.published[:] = [SigningKey("EdDSA")]  # rotated, and the old key withdrawn
        await asyncio.sleep(0.3)
        await keys.key(ed_key.kid)  # still cached: this use starts the background refresh
        for _ in range(100):  # the refresh runs in a thread; wait for it, up to 10 s
            await asyncio.sleep(0.1)
            try:
                await keys.key(ed_key.kid)
            except jwt.InvalidTokenError:
                return
        pytest.fail("the withdrawn key was still trusted")

    asyncio.run(scenario())


def test_an_unreachable_identity_provider_is_503_and_recovery_is_automatic(better_auth_app, auth_server, ed_key):
    auth_server.down = True
    failed, fetched = counted("tasks_api_jwks_fetches", result="failed"), counted("tasks_api_jwks_fetches", result="ok")
    with better_auth_app().test_client() as api:
        down = api.get("/api/u1/tasks", headers=bearer(auth_server.token(ed_key, "u1")))
        assert down.status_code == 503
        assert counted("tasks_api_jwks_fetches", result="failed") > failed
        assert down.headers["content-type"] == "application/problem+json"
        assert "identity provider" in down.json()["detail"]

        auth_server.down = False
        time.sleep(0.4)
        assert api.get("/api/u1/tasks", headers=bearer(auth_server.token(ed_key, "u1"))).status_code == 200
        assert counted("tasks_api_jwks_fetches", result="ok") > fetched


def segments(token: str) -> list[str]:
    return token.split(".")


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def hmac_signed(header: dict, claims: dict, secret: bytes) -> str:
    """What an attacker builds by hand (PyJWT refuses to use a public key as an HMAC secret)."""
    signing_input = f"{b64(header)}.{b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def attacks(server: AuthServer, key: SigningKey, rsa_key: SigningKey) -> dict[str, str]:
    user = "victim"
    good = server.token(key, user)
    header, payload, signature = segments(good)
    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": now + 900, "iss": server.url, "aud": server.url}
    public_pem = rsa_key.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    outsider = SigningKey("EdDSA")
    outsider.kid = key.kid  # claims a published kid, signed by a key the provider never published
    return {
        "alg-none": f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{payload}.",
        "hs256-with-the-public-key": hmac_signed({"alg": "HS256", "kid": rsa_key.kid}, claims, public_pem),
        "signed-by-an-unpublished-key": server.token(outsider, user),
        "unknown-kid": server.token(SigningKey("EdDSA"), user),
        "expired": server.token(key, user, iat=now - 3600, exp=now - 1800),
        "not-yet-valid": server.token(key, user, nbf=now + 3600),
        "wrong-issuer": server.token(key, user, iss="https://evil.example"),
        "wrong-audience": server.token(key, user, aud="https://evil.example"),
        "no-sub": server.token(key, user, sub=None),
        "no-exp": server.token(key, user, exp=None),
        "no-iat": server.token(key, user, iat=None),
        "non-string-sub": server.token(key, user, sub=12345),
        "alg-swapped-to-rsa": f"{b64({'alg': 'RS256', 'kid': key.kid})}.{payload}.{signature}",
        "split": f"{header}.{payload}",
        "padded": f"{good}==",
        "extra-segment": f"{good}.{signature}",
        "tampered-payload": f"{header}.{b64({**claims, 'sub': 'attacker'})}.{signature}",
        "oversized-header": f"{b64({'alg': 'EdDSA', 'kid': 'k' * 100_000})}.{payload}.{signature}",
        "embedded-jwk": jwt.encode(claims, outsider.private, algorithm="EdDSA",
                                   headers={"kid": "attacker", "jwk": outsider.jwk}),
    }


def test_the_attack_suite_is_401_and_no_token_reaches_the_logs(better_auth_app, auth_server, ed_key, caplog):
    rsa_key = SigningKey("RS256")
    auth_server.published.append(rsa_key)
    suite = attacks(auth_server, ed_key, rsa_key)
    caplog.set_level(logging.DEBUG)
    with better_auth_app(BETTER_AUTH_SECRET=SECRET).test_client() as api:
        for name, token in suite.items():
            response = api.get("/api/victim/tasks", headers=bearer(token))
            assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
            assert response.headers["www-authenticate"].startswith("Bearer"), name
            assert response.headers["content-type"] == "application/problem+json", name
        other_user = api.get("/api/someone_else/tasks", headers=bearer(auth_server.token(ed_key, "victim")))
        assert other_user.status_code == 403
    logged = caplog.text
    for name, token in suite.items():
        assert token not in logged and token[:60] not in logged, name


@pytest.mark.parametrize("environment, message", [
    ({"JWKS_URL": "file:///etc/passwd"}, "JWKS_URL must be an http"),
    ({"BETTER_AUTH_URL": "http://auth.local", "JWT_ALGORITHMS": "HS256"}, "JWT_ALGORITHMS"),
    ({"BETTER_AUTH_URL": "http://auth.local", "JWT_ALGORITHMS": "EdDSA,none"}, "JWT_ALGORITHMS"),
    ({}, "verification mode"),
])
def test_unsafe_verification_settings_stop_the_service(environment, message):
    from handlers.settings import ConfigError

    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"DATABASE_URL": "postgresql://u@db/tasks", **environment})


def test_jwks_mode_defaults_issuer_and_audience_to_the_auth_url():
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u@db/tasks", "BETTER_AUTH_URL": "https://auth.example/"})
    assert settings.jwks_url == "https://auth.example/api/auth/jwks"
    assert settings.jwks_issuer == settings.jwks_audience == "https://auth.example"
    assert settings.jwt_issuer is None and settings.jwt_audience is None  # HS256 tokens: only if set
    assert settings.jwt_algorithms == ("EdDSA",) and settings.jwt_secret is None
