"""Prometheus metrics. Each worker records its own (in prometheus-client's multiprocess files when
`serve` has METRICS_PORT set); the master serves them, summed across the workers, on that port, apart
from the API and its contract.

No label holds a user id, a task id or a token: operations, status classes and kinds are few.
"""

from functools import cache
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout

from db import session

REQUESTS = Counter("tasks_api_requests", "HTTP requests answered, by operationId and status class.",
                   ["operation", "status_class"])
DURATION = Histogram("tasks_api_request_duration_seconds", "Time to answer a request, by operationId.",
                     ["operation"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
IN_FLIGHT = Gauge("tasks_api_requests_in_flight", "Requests being answered.", multiprocess_mode="livesum")
POOL_IN_USE = Gauge("tasks_api_db_pool_connections_in_use", "Database connections checked out of the pool.",
                    multiprocess_mode="livesum")
POOL_WAIT = Histogram("tasks_api_db_pool_wait_seconds", "Time a request waited for a database connection "
                      "(a new connection's included).", buckets=(.0005, .001, .005, .01, .05, .1, .5, 1, 5, 10))
DB_ERRORS = Counter("tasks_api_db_errors", "Database errors answered to a client, by kind: unavailable, timeout, "
                    "or refused (a write the database's constraints refused).", ["kind"])
JWKS_FETCHES = Counter("tasks_api_jwks_fetches", "Fetches of the JWKS key set, by result.", ["result"])
UNROUTED = "unrouted"  # a request that matched no operation (a 404 or 405)


def observe_request(operation: str | None, status: int, seconds: float) -> None:
    counted, timed = _series(operation or UNROUTED, status // 100)
    counted.inc()
    timed.observe(seconds)


@cache
def _series(operation: str, status_class: int) -> tuple:
    """A request's counter and histogram, looked up once per operation and status class (few of each)."""
    return REQUESTS.labels(operation, f"{status_class}xx"), DURATION.labels(operation)


def unavailable_kind(error: Exception) -> str:
    """Why the database could not answer: "timeout" (waiting for a connection, connecting, or a
    statement) or "unavailable" (refused, lost, or anything else). The driver tells only in its message."""
    message = str(getattr(error, "orig", error)).lower()
    if isinstance(error, PoolTimeout) or "timeout" in message or "canceling statement" in message:
        return "timeout"
    return "unavailable"


def instrument(engine: Engine) -> None:
    """Counts the engine's connections in use, and times each wait for one (db.session.transaction)."""
    event.listen(engine, "checkout", lambda *_: POOL_IN_USE.inc())
    event.listen(engine, "checkin", lambda *_: POOL_IN_USE.dec())
    session.on_connection_wait = POOL_WAIT.observe


class ProcessMemory:
    """Resident and proportional (PSS: shared pages split between the processes sharing them) memory
    of the master and each worker, read from /proc by the master at each scrape."""

    def __init__(self, arbiter) -> None:
        self.arbiter = arbiter

    def collect(self):
        resident = GaugeMetricFamily("tasks_api_process_resident_memory_bytes", "Resident memory (RSS) of a "
                                     "process of the service.", labels=["role", "pid"])
        proportional = GaugeMetricFamily("tasks_api_process_proportional_memory_bytes", "Proportional memory "
                                         "(PSS) of a process of the service.", labels=["role", "pid"])
        processes = [("master", self.arbiter.pid), *(("worker", pid) for pid in list(self.arbiter.WORKERS))]
        for role, pid in processes:
            sizes = _memory(pid)
            if sizes:
                resident.add_metric([role, str(pid)], sizes["Rss"])
                proportional.add_metric([role, str(pid)], sizes["Pss"])
        yield resident
        yield proportional


def _memory(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:  # the process has just exited, or this is not Linux
        return {}
    return {name.rstrip(":"): int(kilobytes) * 1024 for name, kilobytes, *_ in
            (line.split() for line in lines[1:]) if name in ("Rss:", "Pss:")}


def serve(arbiter, host: str, port: int) -> None:
    """In the master: the workers' metrics summed, and every process's memory, on `port`."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(ProcessMemory(arbiter))
    start_http_server(port, addr=host, registry=registry)


def worker_exited(pid: int) -> None:
    """A dead worker's in-flight and in-use gauges are dropped; its counters still count."""
    mark_process_dead(pid)
