"""One request alone, tasks-api against the opponent that ../shared/bench/compare.sh runs (fastapi_peer.py,
the design documents' own stack): same PostgreSQL server, same worker count, each side with a user of
1,000 tasks created through its own API, requests timed with curl's time_total and interleaved one by
one so that drift hits both sides alike.

    python bench/versus.py                 # opponent from ../shared/bench, its venv from compare.sh
    python bench/versus.py --times 200 --opponent-dir PATH --opponent-python PATH

Prints the median time of a get and of a list of 1,000 on each side and the ratio.
"""

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import load
from local import running, throwaway_database

PROJECT = Path(__file__).resolve().parent.parent
WORKLOADS = {"get": "/{task}", "list1000": "?limit=1000"}


def create_tasks(base: str, token: str, count: int) -> str:
    """Creates `count` tasks through the API; returns the first one's id."""
    first = None
    for number in range(count):
        body = json.dumps({"title": f"Task {number}", "description": "d" * 80}).encode()
        request = urllib.request.Request(base, data=body, method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            first = first or json.load(response)["id"]
    return first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--times", type=int, default=100, help="requests per side and workload")
    parser.add_argument("--opponent-dir", default=str(PROJECT.parent / "shared" / "bench"))
    parser.add_argument("--opponent-python", default="/tmp/bench-peer-venv/bin/python",
                        help="a Python with FastAPI and uvicorn (compare.sh builds this one)")
    args = parser.parse_args()
    if not Path(args.opponent_python).exists():
        sys.exit(f"versus.py: {args.opponent_python} is missing; run ../shared/bench/compare.sh once to build it")

    secret = os.environ["BETTER_AUTH_SECRET"] = secrets.token_urlsafe(48)
    user = "versus-user"
    token = load.signed_token(user)
    with throwaway_database(args.server, "tasks_bench_versus_ours") as ours_db, \
            throwaway_database(args.server, "tasks_bench_versus_theirs") as theirs_db:
        ours_env = {"DATABASE_URL": ours_db, "BETTER_AUTH_SECRET": secret}
        theirs_env = {"DATABASE_URL": theirs_db.replace("postgresql://", "postgresql+psycopg2://"),
                      "BETTER_AUTH_SECRET": secret}
        subprocess.run(["tasks-api", "migrate"], env={**os.environ, **ours_env}, check=True, capture_output=True)
        subprocess.run([args.opponent_python, "-c", "import fastapi_peer; fastapi_peer.startup()"],
                       env={**os.environ, **theirs_env}, cwd=args.opponent_dir, check=True, capture_output=True)
        workers = str(args.workers)
        with running(["tasks-api", "serve", "--port", "{port}", "--workers", workers], ours_env) as ours, \
                running([args.opponent_python, "-m", "uvicorn", "fastapi_peer:app", "--port", "{port}",
                         "--workers", workers, "--log-level", "warning"], theirs_env, cwd=args.opponent_dir) as theirs:
            urls = {}
            for side, base_url in (("tasks-api", ours), ("opponent", theirs)):
                base = f"{base_url}/api/{user}/tasks"
                task = create_tasks(base, token, 1000)
                urls[side] = {name: base + path.format(task=task) for name, path in WORKLOADS.items()}
            time.sleep(2)  # let the seeding's writes settle
            took = {(side, name): [] for side in urls for name in WORKLOADS}
            for _ in range(args.times):
                for side, named in urls.items():
                    for name, url in named.items():
                        took[side, name].append(load.alone(url, token, 1) * 1000)

    print(f"one request alone, median of {args.times} (ms), {args.workers} workers each:")
    for name in WORKLOADS:
        ours_ms, theirs_ms = (statistics.median(took[side, name]) for side in urls)
        print(f"  {name:9s} tasks-api {ours_ms:7.2f}   opponent {theirs_ms:7.2f}   ratio {ours_ms / theirs_ms:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
