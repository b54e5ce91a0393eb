"""Search on a big table: one user's 1,000 tasks among 1,000,000 tasks of 10,000 other users, on a
throwaway PostgreSQL database served by `tasks-api serve` and dropped at the end. Runs load.py's
search workloads (one word, two words, a label) beside list 100 as the yardstick, each --rounds times in
turn, and prints the medians: requests per second, p50 and p99 at --connections connections.

    python bench/search.py                                  # postgresql://postgres@127.0.0.1:5432
    python bench/search.py --server postgresql://user@db:5432 --workers 2 --connections 32
"""

import argparse
import os
import secrets
import subprocess
import sys

import load
import seed
from local import running, throwaway_database
from scale import median_of

WORKLOADS = ("list100", "search1", "search2", "label")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per workload (median kept)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per workload and round")
    args = parser.parse_args()

    os.environ["BETTER_AUTH_SECRET"] = secrets.token_urlsafe(48)  # the service and load.py's token share it
    user, token = "bench-0", load.signed_token("bench-0")
    with throwaway_database(args.server, "tasks_bench_search") as database_url:
        subprocess.run(["tasks-api", "migrate"], env={**os.environ, "DATABASE_URL": database_url}, check=True,
                       capture_output=True)
        seed.seed(database_url, prefix="crowd", users=10_000, tasks=100)
        seed.seed(database_url, prefix="bench", users=1, tasks=1000)  # analyses the tables when done
        serve = ["tasks-api", "serve", "--port", "{port}", "--workers", str(args.workers)]
        with running(serve, {"DATABASE_URL": database_url}) as url:
            load.measure(url, user, token, workloads=WORKLOADS, duration=2)  # warm-up, not counted
            rounds = [load.measure(url, user, token, workloads=WORKLOADS, connections=args.connections,
                                   duration=args.duration) for _ in range(args.rounds)]
    load.print_table(median_of(rounds), f"1,001,000 tasks; user {user} has 1,000; {args.connections} connections, "
                                        f"medians of {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
