"""Does a big table slow a user down? Measures get and list 100 for one user with 1,000 tasks, first
alone in the table, then beside 1,000,000 tasks of 10,000 other users, on a throwaway PostgreSQL
database that it creates, migrates, serves with `tasks-api serve` and drops.

    python bench/scale.py                                   # postgresql://postgres@127.0.0.1:5432
    python bench/scale.py --server postgresql://user@db:5432 --workers 2 --rounds 3

Prints both tables and the ratio big / near-empty (1.00 means no slower).
"""

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time

import load
import seed
from local import running, throwaway_database

DATABASE = "tasks_bench_scale"


def median_of(rounds: list[dict]) -> dict:
    return {name: {key: statistics.median(r[name][key] for r in rounds) for key in rounds[0][name]}
            for name in rounds[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per table size (median kept)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per workload and round")
    args = parser.parse_args()

    secret = os.environ["BETTER_AUTH_SECRET"] = secrets.token_urlsafe(48)  # load.py signs with it too
    with throwaway_database(args.server, DATABASE) as database_url:
        env = {"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": secret}
        subprocess.run(["tasks-api", "migrate"], env={**os.environ, **env}, check=True, capture_output=True)
        user, _ = seed.seed(database_url, prefix="bench", users=1, tasks=1000)
        with running(["tasks-api", "serve", "--port", "{port}", "--workers", str(args.workers)], env) as url:
            token = load.signed_token(user)

            def measure() -> dict:
                return median_of([load.measure(url, user, token, workloads=("get", "list100"),
                                               duration=args.duration) for _ in range(args.rounds)])

            load.measure(url, user, token, workloads=("get", "list100"), duration=2)  # warm-up, not counted
            small = measure()
            load.print_table(small, "1,000 tasks in the table")
            started = time.monotonic()
            seed.seed(database_url, prefix="crowd", users=10_000, tasks=100)
            print(f"\nseeded 1,000,000 more tasks in {time.monotonic() - started:.0f} s\n")
            big = measure()
    load.print_table(big, "1,001,000 tasks in the table")
    print("\nthroughput with 1,001,000 tasks / with 1,000 (1.00 = no slower):")
    for name in small:
        print(f"  {name:8s} {big[name]['rps'] / small[name]['rps']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
