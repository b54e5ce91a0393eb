"""The benchmark's own tools: the seeder's rows must be ones the service serves as valid tasks, and the
load driver must read wrk's figures right, or every figure in the README is wrong."""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import headers_for, serving

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import load  # bench/ is a folder of scripts, not a package

WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:8077/api/bench-0/tasks
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    14.61ms   10.08ms    1.41s    84.47%
    Req/Sec     1.12k   183.42     1.45k    70.00%
  Latency Distribution
     50%  850.00us
     75%   17.16ms
     90%   25.37ms
     99%   55.52ms
  11158 requests in 5.01s, 5.60MB read
  Socket errors: connect 1, read 0, write 0, timeout 3
  Non-2xx or 3xx responses: 2
Requests/sec:   2227.30
Transfer/sec:      1.12MB
"""


def test_wrk_figures_are_read_in_milliseconds_with_every_kind_of_error_counted():
    assert load.parse_wrk(WRK_OUTPUT) == {"rps": 2227.30, "p50": 0.85, "p99": 55.52, "max": 1410.0, "errors": 6}


def test_a_clean_wrk_run_has_no_errors():
    clean = WRK_OUTPUT.replace("  Socket errors: connect 1, read 0, write 0, timeout 3\n", "").replace(
        "  Non-2xx or 3xx responses: 2\n", "")
    assert load.parse_wrk(clean)["errors"] == 0


def test_seeded_rows_are_valid_tasks_of_their_users(tmp_path):
    with serving(tmp_path / "server.log") as server:
        seeded = subprocess.run([sys.executable, str(BENCH / "seed.py"), "--users", "3", "--tasks", "6", "--prefix", "s"],
                                env={**os.environ, "DATABASE_URL": server.database_url}, capture_output=True, text=True, check=True)
        user, task_id = seeded.stdout.split()
        assert user == "s-0"
        headers = headers_for("s-2")
        # The service validates its responses here (RESPONSE_VALIDATION=true): a row breaking the
        # contract would be a 500, not a 200.
        listed = httpx.get(f"{server.url}/api/s-2/tasks", headers=headers).json()
        assert listed["count"] == 6
        assert [t["user_id"] for t in listed["tasks"]] == ["s-2"] * 6
        completed = httpx.get(f"{server.url}/api/s-2/tasks", params={"status": "completed"}, headers=headers).json()
        assert completed["count"] == 2  # every third task
        errands = httpx.get(f"{server.url}/api/s-2/tasks", params={"label": "ERRAND"}, headers=headers).json()
        assert [t["labels"] for t in errands["tasks"]] == [["errand", "work"], ["errand", "Health", "home"],
                                                           ["errand", "work"]]  # tasks 2, 3 and 6
        dated = httpx.get(f"{server.url}/api/s-2/tasks", params={"sort": "-due_at"}, headers=headers).json()["tasks"]
        assert [t["due_at"] is None for t in dated] == [False] * 4 + [True] * 2  # tasks 3 and 6 are not due
        word = listed["tasks"][0]["title"].split()[-1].upper()
        found = httpx.get(f"{server.url}/api/s-2/tasks", params={"q": word}, headers=headers).json()["tasks"]
        assert listed["tasks"][0]["id"] in [t["id"] for t in found]
        assert httpx.get(f"{server.url}/api/s-0/tasks/{task_id}", headers=headers_for("s-0")).status_code == 200
        assert httpx.get(f"{server.url}/api/s-3/tasks", headers=headers_for("s-3")).json()["count"] == 0
