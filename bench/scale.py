"""Does a big table slow a user down? Measures get and list 100 for one user with 1,000 tasks alone in
the table and for the same user beside 1,000,000 tasks of 10,000 other users: two throwaway PostgreSQL
databases, each migrated and served by its own `tasks-api serve`, measured in alternation so that the
machine's drift hits both alike, and dropped at the end.

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
import psycopg2.errors
import seed
from local import admin, running, throwaway_database

DATABASE = "tasks_bench_scale"


def median_of(rounds: list[dict]) -> dict:
    return {name: {key: statistics.median(r[name][key] for r in rounds) for key in rounds[0][name]}
            for name in rounds[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6, help="measurements per table size (median kept)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per workload and round")
    args = parser.parse_args()

    os.environ["BETTER_AUTH_SECRET"] = secrets.token_urlsafe(48)  # the services and load.py's token share it
    user, token = "bench-0", load.signed_token("bench-0")
    workloads = ("get", "list100")
    serve = ["tasks-api", "serve", "--port", "{port}", "--workers", str(args.workers)]
    with throwaway_database(args.server, f"{DATABASE}_small") as small_db, \
            throwaway_database(args.server, f"{DATABASE}_big") as big_db:
        for database_url in (small_db, big_db):
            env = {**os.environ, "DATABASE_URL": database_url}
            subprocess.run(["tasks-api", "migrate"], env=env, check=True, capture_output=True)
            seed.seed(database_url, prefix="bench", users=1, tasks=1000)
        started = time.monotonic()
        seed.seed(big_db, prefix="crowd", users=10_000, tasks=100)
        print(f"seeded 1,000,000 more tasks in {time.monotonic() - started:.0f} s\n")
        try:  # write the seeding out now rather than during the measurements
            admin(args.server, "CHECKPOINT")
        except psycopg2.errors.InsufficientPrivilege:
            print("(no right to CHECKPOINT here: the seeding's writes may disturb the first rounds)")
        with running(serve, {"DATABASE_URL": small_db}) as small_url, \
                running(serve, {"DATABASE_URL": big_db}) as big_url:
            rounds = {small_url: [], big_url: []}
            for url in rounds:  # warm-up, not counted
                load.measure(url, user, token, workloads=workloads, duration=2)
            for number in range(1, args.rounds + 1):
                for url, results in sorted(rounds.items(), reverse=number % 2 == 0):  # who goes first alternates
                    results.append(load.measure(url, user, token, workloads=workloads, duration=args.duration))
                print(f"round {number}: " + "  ".join(
                    f"{name} {rounds[small_url][-1][name]['rps']:.0f} / {rounds[big_url][-1][name]['rps']:.0f} req/s"
                    for name in workloads) + "  (near-empty / big)")
    small, big = median_of(rounds[small_url]), median_of(rounds[big_url])
    load.print_table(small, "1,000 tasks in the table")
    load.print_table(big, "\n1,001,000 tasks in the table")
    print("\nthroughput with 1,001,000 tasks / with 1,000 (1.00 = no slower):")
    for name in small:
        print(f"  {name:8s} {big[name]['rps'] / small[name]['rps']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
