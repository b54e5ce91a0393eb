"""Prometheus metrics on METRICS_PORT: every worker's requests counted once, on a port of their own."""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
from conftest import free_port, headers_for, serving, tasks_api_command
from prometheus_client.parser import text_string_to_metric_families


def scrape(port: int) -> dict[str, list]:
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200
    return {family.name: family.samples for family in text_string_to_metric_families(answer.text)}


def test_a_two_worker_service_counts_every_request_once_whichever_worker_answered(tmp_path):
    metrics_port = free_port()
    command = [tasks_api_command(), "serve", "--port", "{port}", "--workers", "2"]
    with serving(tmp_path / "server.log", command, METRICS_PORT=str(metrics_port)) as server:
        before = scrape(metrics_port)  # the start-up's own /health checks are counted too
        counted_before = sum(s.value for s in before["tasks_api_requests"] if s.name == "tasks_api_requests_total")
        headers = {**headers_for("metered"), "Connection": "close"}  # a new connection each: both workers answer
        base = f"{server.url}/api/metered/tasks"

        def traffic(n: int) -> str:
            if n % 3 == 0:
                answer = httpx.post(base, json={"title": f"task {n}"}, headers=headers)
            elif n % 3 == 1:
                answer = httpx.get(f"{base}/00000000-0000-4000-8000-000000000000", headers=headers)  # 404
            else:
                answer = httpx.get(f"{server.url}/api/metered/nowhere", headers=headers)  # no such route
            return answer.headers["x-request-id"][:16]

        with ThreadPoolExecutor(max_workers=8) as pool:
            prefixes = set(pool.map(traffic, range(120)))
        after = scrape(metrics_port)

    assert len(prefixes) == 2, "both workers answered"
    requests = {(s.labels["operation"], s.labels["status_class"]): s.value
                for s in after["tasks_api_requests"] if s.name == "tasks_api_requests_total"}
    assert sum(requests.values()) - counted_before == 120
    assert requests[("create_task", "2xx")] == 40 and requests[("get_task", "4xx")] == 40
    assert requests[("unrouted", "4xx")] == 40
    durations = {s.labels["operation"]: s.value for s in after["tasks_api_request_duration_seconds"]
                 if s.name == "tasks_api_request_duration_seconds_count"}
    assert durations["create_task"] == 40
    assert [s.value for s in after["tasks_api_requests_in_flight"]] == [0]
    assert [s.value for s in after["tasks_api_db_pool_connections_in_use"]] == [0]
    assert sum(s.value for s in after["tasks_api_db_pool_wait_seconds"]
               if s.name == "tasks_api_db_pool_wait_seconds_count") >= 80  # every create and get
    roles = sorted(s.labels["role"] for s in after["tasks_api_process_proportional_memory_bytes"])
    assert roles == ["master", "worker", "worker"]
    assert all(20e6 < s.value < 500e6 for s in after["tasks_api_process_resident_memory_bytes"])
    # Bounded cardinality: no label carries the user, a task id or a path.
    values = {value for samples in after.values() for s in samples for value in s.labels.values()}
    assert not any("metered" in value or "0000" in value or "/" in value for value in values)


def test_metrics_are_off_unless_a_port_is_given(tmp_path):
    with serving(tmp_path / "server.log") as server:
        assert httpx.get(f"{server.url}/metrics", headers=headers_for("x")).status_code == 404  # not on the API
        assert "metrics" not in server.log()


def test_metrics_on_the_apis_own_port_stop_the_start_with_one_line():
    port = free_port()
    environment = {**os.environ, "METRICS_PORT": str(port), "DATABASE_URL": "sqlite:///:memory:"}
    run = subprocess.run([tasks_api_command(), "serve", "--port", str(port)], env=environment, capture_output=True,
                         text=True, timeout=60, check=False)
    output = (run.stdout + run.stderr).strip()
    assert run.returncode == 2 and len(output.splitlines()) == 1, output
    assert f"METRICS_PORT {port} is the API's own port" in output
