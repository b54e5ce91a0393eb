"""The spec's consumers, with the tools they use: linters, and generated TypeScript and Python clients
that make a round trip against the live service."""

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import token_for

PROJECT = Path(__file__).parent.parent
SDK = PROJECT / "tests" / "sdk"
NODE_BIN = PROJECT / "node_modules" / ".bin"


@pytest.fixture(scope="module")
def node_tools():
    if not NODE_BIN.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("node_modules is missing: run `npm ci` (the README's test command does)")
        pytest.skip("node tools not installed: run `npm ci`")
    return NODE_BIN


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=300, check=False,
                            **kwargs)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def test_spectral_finds_nothing(node_tools):
    run([str(node_tools / "spectral"), "lint", "openapi/tasks-api.yaml", "--ruleset", ".spectral.yaml",
         "--fail-severity=warn"])


def test_redocly_finds_nothing(node_tools):
    result = run([str(node_tools / "redocly"), "lint", "openapi/tasks-api.yaml", "--config", "redocly.yaml"])
    assert "warning" not in result.stdout + result.stderr.replace("Deprecation warning", "")


def test_generated_typescript_client_type_checks_and_round_trips(node_tools, live_server):
    run([str(node_tools / "openapi-typescript"), "openapi/tasks-api.yaml", "-o", str(SDK / "generated" / "schema.d.ts"),
         "--default-non-nullable=false"])
    run([str(node_tools / "tsc"), "-p", str(SDK / "tsconfig.json"), "--noEmit"])  # strict, from tsconfig
    run([str(node_tools / "tsc"), "-p", str(SDK / "tsconfig.json")])
    result = run(["node", str(SDK / "generated" / "out" / "roundtrip.mjs")], env={
        **os.environ, "BASE_URL": live_server.url, "ALICE": "ts_alice", "BOB": "ts_bob",
        "ALICE_TOKEN": token_for("ts_alice"), "BOB_TOKEN": token_for("ts_bob")})
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["problem"] == "title"


@pytest.fixture(scope="module")
def python_client(tmp_path_factory):
    out = tmp_path_factory.mktemp("python-client")
    config = out / "config.yaml"
    config.write_text("post_hooks: []\npackage_name_override: tasks_api_client\n")
    generator = Path(sys.executable).with_name("openapi-python-client")
    run([str(generator), "generate", "--path", "openapi/tasks-api.yaml", "--output-path", str(out / "client"),
         "--config", str(config)])
    sys.path.insert(0, str(out / "client"))
    yield importlib.import_module("tasks_api_client")
    sys.path.remove(str(out / "client"))


def test_generated_python_client_round_trips(python_client, live_server):
    from tasks_api_client import AuthenticatedClient
    from tasks_api_client.api.tasks import (
        create_task,
        delete_task,
        get_task,
        list_tasks,
        toggle_task_completion,
        update_task,
    )
    from tasks_api_client.models import Problem, Task, TaskCreate, TaskList, TaskUpdate

    alice = AuthenticatedClient(base_url=live_server.url, token=token_for("py_alice"))
    bob = AuthenticatedClient(base_url=live_server.url, token=token_for("py_bob"))

    created = create_task.sync_detailed("py_alice", client=alice, body=TaskCreate(title="From Python"))
    assert created.status_code == 201 and isinstance(created.parsed, Task)
    task = created.parsed
    page = list_tasks.sync("py_alice", client=alice, limit=5)
    assert isinstance(page, TaskList) and task.id in [t.id for t in page.tasks]
    assert get_task.sync("py_alice", task.id, client=alice).title == "From Python"
    # The generator sends an omitted optional body as UNSET (a crash), so a Python caller toggles with
    # an explicit JSON null, which the spec allows for exactly this.
    assert toggle_task_completion.sync("py_alice", task.id, client=alice, body=None).completed is True
    renamed = update_task.sync("py_alice", task.id, client=alice, body=TaskUpdate(title="Renamed"))
    assert renamed.title == "Renamed" and renamed.completed is True

    stolen = get_task.sync_detailed("py_bob", task.id, client=bob)
    assert stolen.status_code == 404 and isinstance(stolen.parsed, Problem)
    refused = create_task.sync_detailed("py_alice", client=alice, body=TaskCreate(title=" "))
    assert refused.status_code == 400 and refused.parsed.errors[0].field == "title"

    assert delete_task.sync_detailed("py_alice", task.id, client=alice).status_code == 204
    assert get_task.sync_detailed("py_alice", task.id, client=alice).status_code == 404


def test_no_generated_code_is_committed():
    tracked = run(["git", "ls-files", "tests/sdk"]).stdout.split() if shutil.which("git") else []
    assert not [path for path in tracked if "generated" in path]
