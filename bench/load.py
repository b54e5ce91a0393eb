"""Measures a running tasks-api: throughput under load (wrk) and the time of one request alone (curl).

    python bench/load.py http://127.0.0.1:8000 --user bench-0            # token signed with BETTER_AUTH_SECRET
    python bench/load.py https://tasks.example.com --user U --token JWT   # a token from the identity provider

Five workloads on the user's tasks: get one, list 100, list 1,000, create, toggle (and, by name with
--workloads, three searches: search1, search2 and label, on bench/seed.py's vocabulary). Each runs for
--duration seconds at --connections connections and prints requests per second, median, 99th
percentile and slowest latency, and errors (non-2xx answers, timeouts, socket errors). Then --alone
single requests, one after another, give the median time of a get and of a list of 1,000. With --pid,
the memory of that process and all its descendants (RSS and PSS of each, and their total PSS) closes
the report. The create workload adds thousands of tasks to the user: compare list figures across runs
only on a freshly seeded user.
Needs wrk and curl (Debian: apt-get install wrk curl).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = {  # name -> (path after /api/{user}/tasks, wrk script)
    "get": ("/{task}", None),
    "list100": ("?limit=100", None),
    "list1000": ("?limit=1000", None),
    "create": ("", "create.lua"),
    "toggle": ("/{task}/complete", "toggle.lua"),
    # Searches, on bench/seed.py's vocabulary: one word (in about one task in eight), two words, a label.
    "search1": ("?q=passport&limit=100", None),
    "search2": ("?q=passport%20visa&limit=100", None),
    "label": ("?label=health&limit=100", None),
}
DEFAULT_WORKLOADS = ("get", "list100", "list1000", "create", "toggle")  # the five compare.sh also runs
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def signed_token(user: str) -> str:
    import jwt

    secret = os.environ.get("BETTER_AUTH_SECRET")
    if not secret:
        sys.exit("load.py: pass --token, or set BETTER_AUTH_SECRET to sign one")
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + 4 * 3600}, secret, algorithm="HS256")


def first_task(base: str, token: str) -> str:
    request = urllib.request.Request(f"{base}?limit=1", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        tasks = json.load(response)["tasks"]
    if not tasks:
        sys.exit("load.py: the user has no tasks; seed some first (bench/seed.py)")
    return tasks[0]["id"]


def milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS_MS[unit]


def run_wrk(url: str, token: str, script: str | None, connections: int, duration: int) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency",
               "-H", f"Authorization: Bearer {token}", url]
    if script:
        command[1:1] = ["-s", str(HERE / script)]
    return parse_wrk(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def parse_wrk(out: str) -> dict:
    latency = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", out, re.MULTILINE)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": milliseconds(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1)),
        "p99": milliseconds(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1)),
        "max": milliseconds(latency.group(3)),
        "errors": errors + (int(non_2xx.group(1)) if non_2xx else 0),
    }


def alone(url: str, token: str, times: int) -> float:
    """Median seconds of one request with nothing else in flight (curl's time_total)."""
    took = []
    for _ in range(times):
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                              "-H", f"Authorization: Bearer {token}", url],
                             capture_output=True, text=True, check=True).stdout.split()
        if out[0] != "200":
            sys.exit(f"load.py: {url} answered {out[0]}")
        took.append(float(out[1]))
    return statistics.median(took)


def memory_kb(pid: int) -> dict[int, tuple[int, int]]:
    """RSS and PSS (shared pages split between the processes that share them) of a process and of all
    its descendants, from /proc/PID/smaps_rollup: a pre-forking server's workers share the master's."""
    found, pending = {}, [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = dict(line.split(":", 1) for line in Path(f"/proc/{current}/smaps_rollup").read_text()
                          .splitlines()[1:])
        except OSError:
            continue  # gone, or not ours to read
        found[current] = (int(rollup["Rss"].split()[0]), int(rollup["Pss"].split()[0]))
        pending += [int(child) for child in subprocess.run(["pgrep", "-P", str(current)], capture_output=True,
                                                           text=True, check=False).stdout.split()]
    return found


def measure(base_url: str, user: str, token: str, *, workloads=DEFAULT_WORKLOADS, connections=32,
            duration=8, alone_times=0) -> dict:
    base = f"{base_url.rstrip('/')}/api/{user}/tasks"
    task = first_task(base, token)
    results = {}
    for name in workloads:
        path, script = WORKLOADS[name]
        results[name] = run_wrk(base + path.format(task=task), token, script, connections, duration)
    if alone_times:
        for name in ("get", "list1000"):
            url = base + WORKLOADS[name][0].format(task=task)
            results.setdefault(name, {})["alone_ms"] = alone(url, token, alone_times) * 1000
    return results


def print_table(results: dict, title: str = "") -> None:
    if title:
        print(title)
    print(f"{'workload':10s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} {'errors':>7s} {'alone ms':>9s}")
    for name, r in results.items():
        single = f"{r['alone_ms']:9.2f}" if "alone_ms" in r else f"{'':9s}"
        loaded = f"{r['rps']:9.1f} {r['p50']:8.1f} {r['p99']:8.1f} {r['max']:8.1f} {r['errors']:7.0f}" if "rps" in r \
            else f"{'':44s}"
        print(f"{name:10s} {loaded} {single}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the service's base URL")
    parser.add_argument("--user", required=True, help="a user with at least 1,000 tasks (bench/seed.py)")
    parser.add_argument("--token", help="a bearer token for --user (default: signed with BETTER_AUTH_SECRET)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=8, help="seconds per workload")
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                        help=f"comma-separated, of {', '.join(WORKLOADS)}")
    parser.add_argument("--alone", type=int, default=50, help="single requests to time (0: skip)")
    parser.add_argument("--pid", type=int, help="report the RSS and PSS of this process and its descendants")
    args = parser.parse_args()
    for tool in ("wrk", "curl"):
        if not shutil.which(tool):
            sys.exit(f"load.py: {tool} is not installed")
    workloads = [name for name in args.workloads.split(",") if name]
    if unknown := set(workloads) - set(WORKLOADS):
        sys.exit(f"load.py: unknown workloads {sorted(unknown)}; choose from {list(WORKLOADS)}")
    token = args.token or signed_token(args.user)
    results = measure(args.url, args.user, token, workloads=workloads, connections=args.connections,
                      duration=args.duration, alone_times=args.alone)
    print_table(results, f"{args.url}, {args.connections} connections, {args.duration} s per workload")
    if args.pid:
        memory = memory_kb(args.pid)
        for pid, (rss, pss) in memory.items():
            print(f"pid {pid}: RSS {rss / 1024:.1f} MB, PSS {pss / 1024:.1f} MB")
        print(f"all {len(memory)} processes: PSS {sum(pss for _, pss in memory.values()) / 1024:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
