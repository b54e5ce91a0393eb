"""The package runs where it is installed: a wheel in a fresh virtual environment, run from a directory
that is not the checkout, finds its spec and its migrations inside itself."""

import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx
import pytest
from conftest import free_port

PROJECT = Path(__file__).parent.parent


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, command))}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ of a fresh virtual environment holding only the wheel built from this checkout."""
    root = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(root / "dist"),
         str(PROJECT)])
    venv.create(root / "venv", with_pip=True)
    bin_dir = root / "venv" / "bin"
    run([str(bin_dir / "pip"), "install", "--quiet", "--constraint", str(PROJECT / "constraints.txt"),
         *map(str, (root / "dist").glob("*.whl"))])
    return bin_dir


def test_the_wheel_migrates_mints_and_serves_from_anywhere(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environ = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ |= {"DATABASE_URL": f"sqlite:///{elsewhere / 'tasks.db'}", "BETTER_AUTH_SECRET": "w" * 40}
    options = {"cwd": elsewhere, "env": environ}

    run([str(installed / "tasks-api"), "migrate"], **options)
    token = run([str(installed / "tasks-api"), "token", "--user", "wheel_user"], **options).stdout.strip()
    port = free_port()
    server = subprocess.Popen([str(installed / "tasks-api"), "serve", "--port", str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, **options)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            assert server.poll() is None, server.stdout.read()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{url}/api/wheel_user/tasks", json={"title": "Installed"}, headers=headers)
        assert created.status_code == 201, created.text
        assert httpx.get(f"{url}/api/wheel_user/tasks", headers=headers).json()["count"] == 1
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "Tasks API"
    finally:
        server.terminate()
        server.wait(timeout=15)
    imported_from = run([str(installed / "python"), "-c", "import handlers; print(handlers.__file__)"], **options)
    assert str(PROJECT) not in imported_from.stdout  # the installed copy, not this checkout
