"""Delta sync on a big account: one user with 10,000 tasks syncs after 10 of them changed. On a
throwaway PostgreSQL database served by `tasks-api serve` and dropped at the end: a first sync (every
task, paged) gives a token, 10 tasks change, and wrk then sends the sync from that token at
--connections connections (each answer carries the same 10 changes); curl times it alone as well.

    python bench/sync.py                                    # postgresql://postgres@127.0.0.1:5432
    python bench/sync.py --server postgresql://user@db:5432 --workers 2 --connections 32
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import urllib.parse
import urllib.request

import load
import seed
from local import running, throwaway_database


def call(method: str, url: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=8, help="seconds of load")
    args = parser.parse_args()

    os.environ["BETTER_AUTH_SECRET"] = secrets.token_urlsafe(48)  # the service and the token share it
    user, token = "sync-0", load.signed_token("sync-0")
    with throwaway_database(args.server, "tasks_bench_sync") as database_url:
        subprocess.run(["tasks-api", "migrate"], env={**os.environ, "DATABASE_URL": database_url}, check=True,
                       capture_output=True)
        seed.seed(database_url, prefix="sync", users=1, tasks=10_000)
        serve = ["tasks-api", "serve", "--port", "{port}", "--workers", str(args.workers)]
        with running(serve, {"DATABASE_URL": database_url}) as url:
            changes, since, first = f"{url}/api/{user}/changes", None, 0
            while True:  # the first sync: every task, a page of 1,000 at a time
                page = call("GET", f"{changes}?limit=1000" + (f"&since={since}" if since else ""), token)
                first, since = first + len(page["changes"]), page["next_token"]
                if not page["has_more"]:
                    break
            tasks = call("GET", f"{url}/api/{user}/tasks?limit=10&sort=-created_at", token)["tasks"]
            for n, task in enumerate(tasks):
                call("PUT", f"{url}/api/{user}/tasks/{task['id']}", token, {"title": f"changed {n}"})
            delta_url = f"{changes}?{urllib.parse.urlencode({'since': since})}"
            delta = call("GET", delta_url, token)
            assert len(delta["changes"]) == 10 and not delta["has_more"], delta
            load.run_wrk(delta_url, token, None, args.connections, 2)  # warm-up, not counted
            loaded = load.run_wrk(delta_url, token, None, args.connections, args.duration)
            loaded["alone_ms"] = load.alone(delta_url, token, 50) * 1000
    print(f"first sync: {first} tasks; then a sync of 10 changes among them")
    load.print_table({"sync10": loaded}, f"{args.connections} connections, {args.duration} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
