"""What the local benchmarks share: a throwaway database, a service started on a free port."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

import psycopg2


def admin(server: str, statement: str) -> None:
    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@contextmanager
def throwaway_database(server: str, name: str):
    """Yields the URL of a fresh database `name` on `server`, dropped afterwards."""
    admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(server, f"CREATE DATABASE {name}")
    try:
        yield f"{server}/{name}"
    finally:
        admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running(command: list[str], env: dict, cwd: str | None = None):
    """Starts a server (`{port}` in `command` becomes a free port) and yields its URL once it answers."""
    port = free_port()
    process = subprocess.Popen([part.format(port=port) for part in command], env={**os.environ, **env}, cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    sys.exit(f"{command[0]} exited with {process.returncode}")
                time.sleep(0.2)
        else:
            sys.exit(f"{url} did not answer")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
