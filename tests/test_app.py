"""The factory, its configuration, and the ways it refuses to start unsafely."""

import os
import socket
import stat
import subprocess
import sys
import time

import pytest
import yaml
from conftest import counted

from db.session import resolve_url
from handlers.app import SPEC_FILE, create_app
from handlers.settings import ConfigError, Settings


def test_every_operation_in_the_spec_resolves_to_a_function():
    import importlib

    spec = yaml.safe_load(SPEC_FILE.read_text())
    operations = [op for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert len(operations) == 8
    for operation in operations:
        module = importlib.import_module(operation["x-openapi-router-controller"])
        assert callable(getattr(module, operation["operationId"])), operation["operationId"]


def test_the_factory_serves_the_spec_and_swagger_ui(client):
    served = client.get("/openapi.json").json()
    assert served["info"]["title"] == "Tasks API"
    assert "/api/{user_id}/tasks" in served["paths"]
    ui = client.get("/docs/")
    assert ui.status_code == 200 and "swagger-ui" in ui.text
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 200  # served locally, no CDN


@pytest.mark.parametrize("given, expected", [
    (None, "sqlite:///./tasks.db"),
    ("", "sqlite:///./tasks.db"),
    ("postgres://u:p@db:5432/tasks", "postgresql+psycopg2://u:p@db:5432/tasks"),
    ("postgresql://u@db/tasks", "postgresql+psycopg2://u@db/tasks"),
    ("postgresql+psycopg2://u@db/tasks", "postgresql+psycopg2://u@db/tasks"),
    ("sqlite:////var/lib/tasks.db", "sqlite:////var/lib/tasks.db"),
])
def test_database_urls_are_normalised_to_psycopg2(given, expected):
    assert resolve_url(given) == expected


@pytest.mark.parametrize("secret, message", [
    (None, "BETTER_AUTH_SECRET is not set"),
    ("short", "shorter than 32 bytes"),
])
def test_postgresql_without_a_strong_secret_refuses_to_start(secret, message):
    environ = {"DATABASE_URL": "postgresql://u@db/tasks", **({"BETTER_AUTH_SECRET": secret} if secret else {})}
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


@pytest.mark.parametrize("name, value", [("DB_POOL_SIZE", "many"), ("DB_POOL_SIZE", "0"),
                                          ("RESPONSE_VALIDATION", "maybe"), ("JWT_LEEWAY_SECONDS", "-1")])
def test_bad_numbers_and_flags_are_refused_by_name(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"DATABASE_URL": "sqlite://", name: value})


def test_settings_read_the_environment():
    settings = Settings.from_env({
        "DATABASE_URL": "postgres://u@db/tasks", "BETTER_AUTH_SECRET": "s" * 32, "JWT_ISSUER": "https://a",
        "JWT_AUDIENCE": "api", "ALLOWED_ORIGINS": "http://localhost:3000, https://app.example",
        "DB_POOL_SIZE": "7", "DB_MAX_OVERFLOW": "3", "RESPONSE_VALIDATION": "true", "JWT_LEEWAY_SECONDS": "5",
    })
    assert settings.allowed_origins == ("http://localhost:3000", "https://app.example")
    assert (settings.db_pool_size, settings.db_max_overflow, settings.jwt_leeway_seconds) == (7, 3, 5)
    assert settings.response_validation is True
    assert "s" * 32 not in repr(settings)


def test_sqlite_without_a_secret_shares_one_owner_only_development_secret(tmp_path):
    environ = {"DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}"}

    first, second = Settings.from_env(environ), Settings.from_env(environ)

    assert first.jwt_secret == second.jwt_secret and len(first.jwt_secret) >= 32
    assert first.dev_secret_file == tmp_path / "tasks.db.secret"
    assert stat.S_IMODE(os.stat(first.dev_secret_file).st_mode) == 0o600


def test_the_cli_token_is_accepted_by_the_service(tmp_path):
    environ = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}"}
    environ.pop("BETTER_AUTH_SECRET", None)
    token = subprocess.run([sys.executable, "-m", "handlers.cli", "token", "--user", "carol", "--ttl", "60"],
                           env=environ, capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "handlers.cli", "migrate"], env=environ, check=True, capture_output=True)

    app = create_app(Settings.from_env({"DATABASE_URL": environ["DATABASE_URL"]}))
    with app.test_client() as client:
        response = client.get("/api/carol/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_cors_answers_only_allowed_origins(with_settings):
    app = create_app(with_settings(allowed_origins=("http://localhost:3000",)))
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    with app.test_client() as client:
        allowed = client.options("/api/alice/tasks", headers={"Origin": "http://localhost:3000", **preflight})
        denied = client.options("/api/alice/tasks", headers={"Origin": "https://evil.example", **preflight})
        simple = client.get("/health", headers={"Origin": "http://localhost:3000"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "access-control-allow-origin" not in denied.headers
    assert simple.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_no_cors_headers_by_default(client):
    response = client.get("/health", headers={"Origin": "http://localhost:3000"})
    assert "access-control-allow-origin" not in response.headers


def test_an_unreachable_database_is_503_everywhere(with_settings):
    from conftest import headers_for

    app = create_app(with_settings(database_url="postgresql+psycopg2://postgres@127.0.0.1:9/none"))
    unavailable = counted("tasks_api_db_errors", kind="unavailable")
    with app.test_client() as client:
        health = client.get("/health")
        listing = client.get("/api/alice/tasks", headers=headers_for("alice"))
        creating = client.post("/api/alice/tasks", json={"title": "x"}, headers=headers_for("alice"))
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable" and health.json()["database"] == "unreachable"
    for response in (health, listing, creating):
        assert int(response.headers["retry-after"]) > 0
    for response in (listing, creating):
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "127.0.0.1" not in response.text and "psycopg2" not in response.text
    assert counted("tasks_api_db_errors", kind="unavailable") == unavailable + 2  # health is not an error answered


def answers_health(url: str, process: subprocess.Popen) -> bool:
    import httpx

    for _ in range(150):
        if process.poll() is not None:
            return False
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            time.sleep(0.1)
    return False


@pytest.mark.parametrize("host, flag, reached_at", [
    (None, False, "127.0.0.2"),  # PORT alone, as a platform sets it: every interface (any 127.x is one)
    ("127.0.0.1", False, "127.0.0.1"),
    ("127.0.0.1", True, "127.0.0.1"),  # --port wins over PORT
])
def test_serve_listens_where_the_environment_says_unless_flags_say_otherwise(tmp_path, host, flag, reached_at):
    from conftest import free_port, tasks_api_command

    port = free_port()
    environ = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}", "PORT": str(free_port() if flag else port)}
    environ.pop("HOST", None)
    environ.update({"HOST": host} if host else {})
    command = [tasks_api_command(), "serve", *(["--port", str(port)] if flag else [])]
    process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert answers_health(f"http://{reached_at}:{port}", process)
        if host == "127.0.0.1":
            with pytest.raises(OSError):  # loopback only: another address of this machine is not served
                socket.create_connection(("127.0.0.2", port), timeout=2).close()
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_refuses_a_port_that_is_not_one():
    from conftest import tasks_api_command

    result = subprocess.run([tasks_api_command(), "serve"], env={**os.environ, "PORT": "eighty"},
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "a port is a number from 1 to 65535, not 'eighty'" in result.stderr
