"""Fills a migrated tasks-api database on PostgreSQL, fast: PostgreSQL generates the rows itself, one
set-based INSERT per batch of users, so a million tasks take seconds rather than a million requests.

    DATABASE_URL=postgresql://... python bench/seed.py --users 10000 --tasks 100   # 1,000,000 tasks
    DATABASE_URL=postgresql://... python bench/seed.py --prefix bench --users 1 --tasks 1000

Users are named PREFIX-0, PREFIX-1, ...; each task gets a distinct created_at and change number (its
user's changes are numbered as if the tasks were created one by one), a third are completed,
and every row satisfies the schema's constraints. Titles and descriptions draw two words each from a
vocabulary of 32 (so a search for one word matches about one task in eight), three tasks in four carry
labels from a set of five, priorities cycle, and two tasks in three are due. Prints the first user and
one of its task ids.
"""

import argparse
import os
import sys

import psycopg2

USERS_PER_BATCH = 1000

ADD_USERS = """
INSERT INTO users (id, created_at, change_seq)
SELECT %(prefix)s || '-' || u, now(), %(tasks)s FROM generate_series(%(first)s, %(last)s) AS u
ON CONFLICT DO NOTHING
"""
WORDS = ["milk", "bread", "invoice", "dentist", "garden", "report", "laundry", "tickets", "birthday", "car", "meeting",
         "taxes", "plumber", "gift", "passport", "budget", "keys", "parcel", "flowers", "library", "gym", "recipe",
         "boiler", "insurance", "paint", "printer", "train", "visa", "window", "school", "battery", "coffee"]
LABEL_SETS = ('[]', '["home"]', '["errand", "work"]', '["errand", "Health", "home"]')  # sorted by lower-cased form
# The texts are ASCII, so PostgreSQL's lower() lower-cases and case-folds them exactly as the service does.
ADD_TASKS = """
INSERT INTO tasks (id, user_id, title, title_lower, description, description_lower, completed, completed_at, due_at,
                   priority, labels, label_keys, created_at, updated_at, change_seq)
SELECT gen_random_uuid(), %(prefix)s || '-' || u, title, lower(title), description, lower(description), done,
       CASE WHEN done THEN created END, CASE WHEN t %% 3 <> 0 THEN created + make_interval(hours => t) END,
       t %% 4, labels::jsonb, lower(labels)::jsonb, created, created, t
FROM generate_series(%(first)s, %(last)s) AS u, generate_series(1, %(tasks)s) AS t,
     LATERAL (SELECT 'Task ' || t || ': ' || (%(words)s)[1 + (t * 7 + u) %% 32] || ' '
                     || (%(words)s)[1 + (t * 13 + u * 3) %% 32] AS title,
                     CASE WHEN t %% 2 = 0 THEN 'Remember the ' || (%(words)s)[1 + (t * 5 + u * 11) %% 32] || ' and the '
                          || (%(words)s)[1 + (t * 17 + u) %% 32] || ' ' || repeat('d', 50) END AS description,
                     t %% 3 = 0 AS done, now() - make_interval(secs => %(tasks)s - t) AS created,
                     (%(label_sets)s)[1 + t %% 4] AS labels) AS generated
"""


def seed(database_url: str, *, prefix: str, users: int, tasks: int) -> tuple[str, str | None]:
    """Adds `users` users with `tasks` tasks each; returns the first user and one of its task ids."""
    connection = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    connection.autocommit = True
    batches = [{"prefix": prefix, "first": first, "last": min(first + USERS_PER_BATCH, users) - 1, "tasks": tasks,
                "words": WORDS, "label_sets": list(LABEL_SETS)}
               for first in range(0, users, USERS_PER_BATCH)]
    try:
        with connection.cursor() as cursor:
            for batch in batches:
                cursor.execute(ADD_USERS, batch)
            # Statistics that still count the users table as tiny would plan each task's foreign-key
            # check as a scan of the whole table: a million of those take minutes instead of seconds.
            cursor.execute("ANALYZE users")
            for batch in batches:
                cursor.execute(ADD_TASKS, batch)
            cursor.execute("VACUUM ANALYZE users, tasks")  # as a settled database would be: fresh statistics
            cursor.execute("SELECT id FROM tasks WHERE user_id = %s ORDER BY created_at, id LIMIT 1",
                           (f"{prefix}-0",))
            row = cursor.fetchone()
    finally:
        connection.close()
    return f"{prefix}-0", str(row[0]) if row else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--tasks", type=int, required=True, help="tasks per user")
    parser.add_argument("--prefix", default="seed", help="user ids are PREFIX-0, PREFIX-1, ...")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgresql", "postgres:")):
        print("seed.py: set DATABASE_URL to the service's PostgreSQL database", file=sys.stderr)
        return 2
    user, task = seed(database_url, prefix=args.prefix, users=args.users, tasks=args.tasks)
    print(user, task)
    return 0


if __name__ == "__main__":
    sys.exit(main())
