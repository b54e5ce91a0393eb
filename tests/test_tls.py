"""A PostgreSQL as Neon runs one: TLS only, SCRAM passwords, channel binding, reached with a URL whose
query parameters all go to the driver as given. When the database cannot be used as the URL asks,
`serve` and `migrate` stop with one line that names the problem, and never print the password."""

import os
import subprocess

import pytest
from clusters import cluster, self_signed_certificate
from conftest import SECRET, free_port, headers_for, tasks_api_command
from sqlalchemy import text

from db.session import make_engine, resolve_url
from handlers.app import create_app
from handlers.settings import Settings

PASSWORD = "p@ss%word/with:odd?chars"  # every character a URL must escape
APPLICATION = "tasks-api-tls-test"


@pytest.fixture(scope="module")
def server():
    with cluster(tls=True, trusted_roles=("trusted",)) as server:
        server.execute(f"CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'", "CREATE ROLE trusted LOGIN IN ROLE app",
                       "CREATE DATABASE tasks OWNER app")
        yield server


def tasks_api(*arguments: str, database_url: str) -> subprocess.CompletedProcess:
    """`migrate` runs without any token setting: it needs none."""
    environment = {**os.environ, "DATABASE_URL": database_url}
    environment.pop("BETTER_AUTH_SECRET", None)
    if arguments[0] == "serve":
        environment["BETTER_AUTH_SECRET"] = SECRET
    return subprocess.run([tasks_api_command(), *arguments], env=environment, capture_output=True, text=True, check=False,
                          timeout=60)


def one_line_naming(run: subprocess.CompletedProcess, problem: str) -> str:
    output = (run.stdout + run.stderr).strip()
    assert run.returncode != 0, output
    assert len(output.splitlines()) == 1, output
    assert problem in output and "Traceback" not in output, output
    assert PASSWORD not in output and "p%40ss" not in output, output
    return output


def test_a_request_round_over_tls_with_scram_and_channel_binding(server):
    url = server.url("app", PASSWORD, "tasks", sslmode="require", channel_binding="require",
                     application_name=APPLICATION, options="-c lock_timeout=4321")
    migrated = tasks_api("migrate", database_url=url)
    assert migrated.returncode == 0, migrated.stderr
    assert PASSWORD not in migrated.stdout + migrated.stderr

    headers = headers_for("alice")
    with create_app(Settings(database_url=resolve_url(url), jwt_secret=SECRET)).test_client() as client:
        created = client.post("/api/alice/tasks", json={"title": "over TLS", "labels": ["secure"]}, headers=headers)
        assert created.status_code == 201, created.text
        task = created.json()
        assert client.patch(f"/api/alice/tasks/{task['id']}/complete", headers=headers).json()["completed"] is True
        assert [t["title"] for t in client.get("/api/alice/tasks", headers=headers).json()["tasks"]] == ["over TLS"]
        assert client.delete(f"/api/alice/tasks/{task['id']}", headers=headers).status_code == 204
        assert client.get("/health").json()["database"] == "ok"

        # The service's own connections, as the server sees them: named as the URL says, over TLS.
        sessions = server.execute(
            "SELECT a.usename, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
            f"WHERE a.application_name = '{APPLICATION}'")
        assert sessions and all(session == ("app", True) for session in sessions), sessions

    # `options` reaches the server too: a setting the service itself never makes.
    engine = make_engine(resolve_url(url))
    with engine.connect() as connection:
        assert connection.execute(text("SHOW lock_timeout")).scalar() == "4321ms"
    engine.dispose()


def test_channel_binding_in_the_url_reaches_the_driver(server):
    """A role the server lets in without SCRAM: the URL's channel_binding=require makes the driver
    refuse it, so the parameter did arrive."""
    assert tasks_api("migrate", database_url=server.url("trusted", None, "tasks", sslmode="require")).returncode == 0
    bound = server.url("trusted", None, "tasks", sslmode="require", channel_binding="require")
    one_line_naming(tasks_api("migrate", database_url=bound), "channel binding required")


def test_the_server_certificate_is_verified_against_the_urls_sslrootcert(server, tmp_path):
    trusted = server.url("app", PASSWORD, "tasks", sslmode="verify-full", sslrootcert=str(server.certificate))
    assert tasks_api("migrate", database_url=trusted).returncode == 0
    stranger = tmp_path / "another.crt"
    stranger.write_bytes(self_signed_certificate()[0])
    untrusted = server.url("app", PASSWORD, "tasks", sslmode="verify-full", sslrootcert=str(stranger))
    one_line_naming(tasks_api("migrate", database_url=untrusted), "certificate verify failed")


def test_a_wrong_password_is_one_line_without_the_password(server):
    wrong = server.url("app", PASSWORD + "-wrong", "tasks", sslmode="require")
    run = tasks_api("migrate", database_url=wrong)
    one_line_naming(run, 'password authentication failed for user "app"')
    assert "-wrong" not in run.stdout + run.stderr


@pytest.fixture
def tls_switched_off(server):
    server.execute("ALTER SYSTEM SET ssl = off", "SELECT pg_reload_conf()")
    yield
    server.execute("ALTER SYSTEM RESET ssl", "SELECT pg_reload_conf()")


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "{port}"]])
def test_tls_required_but_not_offered_stops_with_one_line(server, tls_switched_off, command):
    url = server.url("app", PASSWORD, "tasks", sslmode="require", channel_binding="require")
    run = tasks_api(*[part.format(port=free_port()) for part in command], database_url=url)
    line = one_line_naming(run, "server does not support SSL, but SSL was required")
    assert f"127.0.0.1:{server.port}/tasks" in line  # which database, with the password masked
