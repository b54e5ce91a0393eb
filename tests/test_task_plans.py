"""On PostgreSQL a statement on one task reads it by its primary key, whatever the statistics say.

Every such statement also names the owner, and every other index on tasks starts with the owner: on
a table PostgreSQL had not analysed yet (a new deployment, a benchmark's fresh database) the unique
(user_id, change_seq) index tied on cost with the primary key, and each get, update and toggle walked
all of the user's tasks, the writes while holding the owner's row.
"""

import uuid
from datetime import UTC, datetime

import pytest
from conftest import throwaway_postgres
from sqlalchemy import event, text

from db import migrations, tasks
from db.session import make_engine

TASKS_OF_ONE_USER = """
INSERT INTO users (id, created_at, change_seq) VALUES ('owner', now(), 1000);
INSERT INTO tasks (id, user_id, title, title_lower, completed, created_at, updated_at, priority, labels,
                   label_keys, change_seq)
SELECT gen_random_uuid(), 'owner', 'Task ' || n, 'task ' || n, false, now(), now(), 0, '[]', '[]', n
FROM generate_series(1, 1000) AS n
"""


@pytest.fixture(scope="module", params=["unanalysed", "analysed"])
def engine(request):
    with throwaway_postgres() as url:
        migrations.upgrade(url)
        engine = make_engine(url)
        with engine.connect() as connection:
            connection.execute(text(TASKS_OF_ONE_USER))
            if request.param == "analysed":
                connection.execute(text("ANALYZE users, tasks"))
        yield engine
        engine.dispose()


STATEMENTS = {
    "get": tasks.GET_TASK["postgresql"],
    "update": tasks._update_statement("postgresql", ("title",), True),
    "toggle": tasks._update_statement("postgresql", tasks.FLIP, False),
    "delete": tasks._delete("postgresql", True),
}


VALUES = {"task_id": uuid.uuid4(), "owner": "owner", "now": datetime.now(UTC), "new_title": "Renamed",
          "versions": [1, 2]}


def plan(engine, statement) -> str:
    """EXPLAIN of the statement exactly as a request sends it (EXPLAIN runs nothing)."""
    with engine.connect() as connection:
        @event.listens_for(connection, "before_cursor_execute", retval=True)
        def explain(_connection, _cursor, sql, parameters, _context, _many):
            return f"EXPLAIN {sql}", parameters

        return "\n".join(row[0] for row in connection.execute(statement, VALUES).cursor.fetchall())


@pytest.mark.parametrize("operation", STATEMENTS)
def test_a_single_task_statement_reads_the_task_by_its_primary_key(engine, operation):
    explained = plan(engine, STATEMENTS[operation])
    assert "tasks_pkey" in explained, explained
    assert "ix_tasks_user" not in explained, explained
