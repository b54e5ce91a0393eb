"""The spec's consumers, with the tools they use: linters, and generated TypeScript (openapi-fetch and
orval's axios client) and Python clients that make a round trip against the live service."""

import importlib
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
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


def test_orval_axios_client_type_checks_and_round_trips_every_operation(node_tools, live_server):
    """orval's axios client, as a React Query frontend generates it; toggling without a body included."""
    run([str(node_tools / "orval"), "--input", "openapi/tasks-api.yaml", "--output",
         str(SDK / "generated" / "orval" / "tasks.mts"), "--client", "axios", "--fail-on-warnings"])
    run([str(node_tools / "tsc"), "-p", str(SDK / "tsconfig.orval.json")])  # strict, from tsconfig.json
    result = run(["node", str(SDK / "generated" / "out-orval" / "roundtrip-orval.mjs")], env={
        **os.environ, "BASE_URL": live_server.url, "ALICE": "orval_alice", "BOB": "orval_bob",
        "ALICE_TOKEN": token_for("orval_alice"), "BOB_TOKEN": token_for("orval_bob")})
    statuses = json.loads(result.stdout.strip().splitlines()[-1])
    assert statuses == {"get_health": 200, "create_task": 201, "list_tasks": 200, "get_task": 200,
                        "toggle_task_completion": 200, "update_task": 200, "sync_tasks": 200, "delete_task": 204}


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


def test_generated_python_client_uses_the_task_model(python_client, live_server):
    from tasks_api_client import AuthenticatedClient
    from tasks_api_client.api.tasks import create_task, list_tasks
    from tasks_api_client.models import ListTasksSort, Priority, TaskCreate

    alice = AuthenticatedClient(base_url=live_server.url, token=token_for("py_planner"))
    paris = timezone(timedelta(hours=1))
    planned = create_task.sync("py_planner", client=alice, body=TaskCreate(
        title="Renew the PASSPORT", description="before the trip", due_at=datetime(2026, 12, 2, 18, tzinfo=paris),
        priority=Priority.HIGH, labels=["errand", "Travel", "travel"]))
    assert planned.due_at == datetime(2026, 12, 2, 17, tzinfo=UTC) and planned.priority is Priority.HIGH
    assert planned.labels == ["errand", "Travel"] and planned.completed_at is None
    for n, due in enumerate([datetime(2026, 12, 5, 9, tzinfo=UTC), None, datetime(2026, 12, 1, 9, tzinfo=UTC)]):
        create_task.sync("py_planner", client=alice, body=TaskCreate(title=f"Step {n}", due_at=due,
                                                                     priority=Priority.LOW, labels=["trip"]))

    def titles(**query) -> list[str]:
        page = list_tasks.sync("py_planner", client=alice, **query)
        assert page.count == len(page.tasks)
        return sorted(task.title for task in page.tasks)

    assert titles(q="passport TRIP") == ["Renew the PASSPORT"]
    assert titles(label=["TRAVEL", "errand"]) == ["Renew the PASSPORT"]
    assert titles(priority=[Priority.HIGH]) == ["Renew the PASSPORT"]
    assert titles(due_after=datetime(2026, 12, 2, 17, tzinfo=UTC)) == ["Renew the PASSPORT", "Step 0"]
    assert titles(due_before=datetime(2026, 12, 2, 18, tzinfo=paris)) == ["Step 2"]

    walked, cursor = [], None
    while True:
        page = list_tasks.sync("py_planner", client=alice, sort=ListTasksSort.DUE_AT, limit=1, label=["trip"],
                               **({"cursor": cursor} if cursor else {}))
        walked += [task.title for task in page.tasks]
        if not (cursor := page.next_cursor):
            break
    assert walked == ["Step 2", "Step 0", "Step 1"]  # by due date, the undated last


def test_no_generated_code_is_committed():
    tracked = run(["git", "ls-files", "tests/sdk"]).stdout.split() if shutil.which("git") else []
    assert not [path for path in tracked if "generated" in path]


def test_generated_python_client_races_retries_and_syncs(python_client, live_server):
    from tasks_api_client import AuthenticatedClient
    from tasks_api_client.api.tasks import create_task, delete_task, get_task, sync_tasks, update_task
    from tasks_api_client.models import TaskChanges, TaskCreate, TaskUpdate

    alice = AuthenticatedClient(base_url=live_server.url, token=token_for("py_syncer"))
    start = sync_tasks.sync("py_syncer", client=alice)
    assert isinstance(start, TaskChanges) and start.changes == [] and start.has_more is False

    first = create_task.sync_detailed("py_syncer", client=alice, body=TaskCreate(title="Once"), idempotency_key="py-1")
    retry = create_task.sync_detailed("py_syncer", client=alice, body=TaskCreate(title="Once"), idempotency_key="py-1")
    assert first.status_code == retry.status_code == 201 and first.parsed.id == retry.parsed.id
    task = first.parsed

    etag = get_task.sync_detailed("py_syncer", task.id, client=alice).headers["etag"]
    assert update_task.sync_detailed("py_syncer", task.id, client=alice, body=TaskUpdate(title="Tab one"),
                                     if_match=etag).status_code == 200
    stale = update_task.sync_detailed("py_syncer", task.id, client=alice, body=TaskUpdate(title="Tab two"),
                                      if_match=etag)
    assert stale.status_code == 412 and stale.parsed.status == 412
    assert get_task.sync("py_syncer", task.id, client=alice).title == "Tab one"

    changed = sync_tasks.sync("py_syncer", client=alice, since=start.next_token)
    assert [t.title for t in changed.changes] == ["Tab one"] and changed.deleted == []
    assert delete_task.sync_detailed("py_syncer", task.id, client=alice).status_code == 204
    gone = sync_tasks.sync("py_syncer", client=alice, since=changed.next_token)
    assert gone.changes == [] and gone.deleted == [task.id]

