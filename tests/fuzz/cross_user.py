"""A Schemathesis check that replays the owner's successful task operations as another user.

Loaded by both fuzzing runs: imported by tests/test_fuzz.py, and named as `hooks` in schemathesis.toml
for the `st` CLI. The built-in `object_level_authorization` replays only GETs; this covers the writes.

For each 2xx response of the owner (alice_fuzz, FUZZ_OWNER_TOKEN) on an operation that touches a task,
the peer (bob_fuzz, FUZZ_PEER_TOKEN) sends the very same request:
  - on the owner's path: it must be 403;
  - on the peer's own path, with the owner's task id: it must be 404 (list: none of the owner's tasks);
and neither answer may carry any of the owner's task, which must be unchanged afterwards.
A successful delete is replayed against a fresh probe task, since the original is gone.

It also holds the one rule of the spec that JSON Schema cannot state (see `filter_body`).
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
import schemathesis
import yaml

TASK_OPERATIONS = {"list_tasks", "get_task", "update_task", "toggle_task_completion", "delete_task"}
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}
OWNER, PEER = "alice_fuzz", "bob_fuzz"  # as in schemathesis.toml
SCHEMAS = yaml.safe_load((Path(__file__).parents[2] / "openapi" / "tasks-api.yaml").read_text())["components"]["schemas"]


@schemathesis.hook
def filter_body(ctx, body) -> bool:
    """A request's labels may repeat (duplicates are merged) and may number up to LabelsInput's maxItems,
    but at most Labels' maxItems may remain once merged, a bound JSON Schema cannot state. A body over
    it only by that count looks valid to the generator, which would report the service's 400 as a
    valid request refused: such bodies are left out. Bodies over LabelsInput's own bound stay in."""
    labels = body.get("labels") if isinstance(body, dict) else None
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        return True
    if len(labels) > SCHEMAS["LabelsInput"]["maxItems"]:
        return True
    return len({label.lower() for label in labels}) <= SCHEMAS["Labels"]["maxItems"]


class Identities:
    def __init__(self) -> None:
        self.owner, self.peer = OWNER, PEER
        self.owner_auth = {"Authorization": f"Bearer {os.environ['FUZZ_OWNER_TOKEN']}"}
        self.peer_auth = {"Authorization": f"Bearer {os.environ['FUZZ_PEER_TOKEN']}"}


@schemathesis.check
def cross_user_isolation(ctx, response, case):
    operation_id = case.operation.definition.raw.get("operationId")
    people = Identities()
    if operation_id not in TASK_OPERATIONS or not 200 <= response.status_code < 300:
        return
    if case.path_parameters.get("user_id") != people.owner or _auth_of(response) != people.owner_auth["Authorization"]:
        return
    sent = response.request
    base = _origin(sent.url)
    with requests.Session() as http:
        if operation_id == "list_tasks":
            owned = response.json()["tasks"]
            _assert_denied(_replay(http, sent, people, people.owner), 403, owned, operation_id, "the owner's path")
            _assert_no_leak(_replay(http, sent, people, people.peer), owned, operation_id, "the peer's own list")
            return

        task_id = case.path_parameters["task_id"]
        probe = None
        if operation_id == "delete_task":
            probe = http.post(f"{base}/api/{people.owner}/tasks", json={"title": "probe", "description": "probe"},
                              headers=people.owner_auth).json()
            task_id = probe["id"]
        before = http.get(f"{base}/api/{people.owner}/tasks/{task_id}", headers=people.owner_auth)
        if before.status_code != 200:
            return  # already gone (e.g. a concurrent step deleted it): nothing to protect
        task = before.json()
        for path_user, status, where in ((people.owner, 403, "the owner's path"),
                                         (people.peer, 404, "the peer's own path")):
            replay = _replay(http, sent, people, path_user, task_id=task_id)
            _assert_denied(replay, status, [task], operation_id, where)
        after = http.get(f"{base}/api/{people.owner}/tasks/{task_id}", headers=people.owner_auth)
        if after.status_code != 200 or after.json() != task:
            raise AssertionError(
                f"Cross-user write: {operation_id} replayed by {people.peer} changed {people.owner}'s task "
                f"(before: {task}, after: {after.status_code} {after.text[:300]})")
        if probe:
            http.delete(f"{base}/api/{people.owner}/tasks/{task_id}", headers=people.owner_auth)
    return


def _auth_of(response) -> str | None:
    return response.request.headers.get("Authorization")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _replay(http, sent, people, path_user: str, task_id: str | None = None):
    parts = urlsplit(sent.url)
    segments = parts.path.split("/")  # ['', 'api', user_id, 'tasks', task_id?, 'complete'?]
    segments[2] = path_user
    if task_id is not None:
        segments[4] = task_id
    url = urlunsplit((parts.scheme, parts.netloc, "/".join(segments), parts.query, ""))
    headers = {k: v for k, v in sent.headers.items() if k.lower() not in {"authorization", "content-length"}}
    return http.request(sent.method, url, data=sent.body, headers={**headers, **people.peer_auth})


def _assert_denied(replay, status: int, tasks: list[dict], operation_id: str, where: str) -> None:
    if replay.status_code != status:
        raise AssertionError(
            f"Cross-user access: {operation_id} replayed with the peer's token on {where} answered "
            f"{replay.status_code}, expected {status}: {replay.text[:300]}")
    body = replay.json()
    if not isinstance(body, dict) or not set(body) <= PROBLEM_KEYS:
        raise AssertionError(f"Cross-user leak: the {status} for {operation_id} on {where} is not a bare problem: "
                             f"{replay.text[:300]}")
    detail = str(body.get("detail", ""))
    for task in tasks:
        # Titles and descriptions count only when long enough not to match the problem's own words.
        revealed = task["id"] in replay.text or any(
            value and len(value) >= 12 and value in detail for value in (task["title"], task.get("description")))
        if revealed:
            raise AssertionError(f"Cross-user leak: the {status} for {operation_id} on {where} reveals "
                                 f"the owner's task {task['id']}")


def _assert_no_leak(replay, tasks: list[dict], operation_id: str, where: str) -> None:
    if replay.status_code != 200:
        raise AssertionError(f"{operation_id} on {where} answered {replay.status_code}: {replay.text[:300]}")
    listed = {task["id"] for task in replay.json()["tasks"]}
    leaked = listed & {task["id"] for task in tasks}
    if leaked:
        raise AssertionError(f"Cross-user leak: {operation_id} on {where} listed the owner's tasks {sorted(leaked)}")


@schemathesis.hook
def filter_query(ctx, query) -> bool:
    """A query string carries only text: a `q` or a `label` item generated as a number (to break the
    schema's type) reaches the service as the same digits a valid string would, and is rightly accepted.
    Such queries are left out rather than reported as invalid data accepted."""
    if not isinstance(query, dict):
        return True
    labels = query.get("label", [])
    return isinstance(query.get("q", ""), str) and all(isinstance(label, str) for label in
                                                       (labels if isinstance(labels, list) else [labels]))

