"""Alembic owns the schema: it matches the models and it can go down and up again."""

import uuid
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import SECRET, headers_for, throwaway_postgres
from sqlalchemy import DateTime, Uuid, column, inspect, table, text
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import SQLModel

from db import migrations
from db.models import exists_on
from db.session import make_engine as create_engine
from handlers.app import create_app
from handlers.settings import Settings


def drift(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_object": exists_on(connection.dialect.name)})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(database_url):
    assert drift(database_url) == []
    assert migrations.is_current(database_url)


def test_upgrade_downgrade_upgrade_on_postgresql():
    with throwaway_postgres() as url:
        assert not migrations.is_current(url)
        migrations.upgrade(url)
        migrations.downgrade(url, "base")
        engine = create_engine(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        migrations.upgrade(url)
        assert drift(url) == []


def test_the_database_refuses_what_the_spec_would(database_url):
    engine = create_engine(database_url)
    insert = text("INSERT INTO tasks (id, user_id, title, title_lower, completed, created_at, updated_at, change_seq) "
                  "VALUES (:id, 'dbcheck', :title, :title, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)")
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO users (id, created_at) VALUES ('dbcheck', CURRENT_TIMESTAMP)"))
        task_id = "0" * 32 if "sqlite" in database_url else "00000000-0000-4000-8000-000000000000"
        for title in ["", "   ", "x" * 256]:
            with pytest.raises((IntegrityError, DataError)), engine.begin() as connection:
                connection.execute(insert, {"id": task_id, "title": title})
        with engine.begin() as connection:  # the same row with a storable title goes in: the title was refused
            connection.execute(insert, {"id": task_id, "title": "x"})
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM users WHERE id = 'dbcheck'"))
    finally:
        engine.dispose()


def test_deleting_a_user_deletes_their_tasks(client, database_url, alice, alice_headers, a_task):
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM users WHERE id = :u"), {"u": alice}).scalar() == 1
            connection.execute(text("DELETE FROM users WHERE id = :u"), {"u": alice})
            assert connection.execute(text("SELECT count(*) FROM tasks")).scalar() == 0
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        with throwaway_postgres() as url:
            yield url


def test_tasks_stored_before_0002_keep_everything_and_take_the_new_defaults(empty_database):
    url = empty_database
    migrations.upgrade(url, "0001")
    engine = create_engine(url)
    rows = [{"id": uuid.UUID(int=n + 1), "title": title, "completed": completed, "at": datetime(2026, 11, n + 1, tzinfo=UTC)}
            for n, (title, completed) in enumerate([("Книга MILK", True), ("Water the plants", False)])]
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO users (id, created_at) VALUES ('old', :at)"), {"at": rows[0]["at"]})
        tasks = table("tasks", *(column(name) for name in ("user_id", "title", "description", "completed")),
                      column("id", Uuid()), column("created_at", DateTime(timezone=True)),
                      column("updated_at", DateTime(timezone=True)))  # the table as 0001 made it
        connection.execute(tasks.insert(), [{"id": r["id"], "user_id": "old", "title": r["title"],
                                             "description": "Прочитать" if r["completed"] else None,
                                             "completed": r["completed"], "created_at": r["at"], "updated_at": r["at"]}
                                            for r in rows])
    engine.dispose()

    migrations.upgrade(url)
    app = create_app(Settings(database_url=url, jwt_secret=SECRET, response_validation=True))
    with app.test_client() as client:
        listed = client.get("/api/old/tasks", headers=headers_for("old")).json()["tasks"]
        found = client.get("/api/old/tasks", params={"q": "книга прочит"}, headers=headers_for("old")).json()
    assert [(t["title"], t["completed"]) for t in listed] == [(r["title"], r["completed"]) for r in rows]
    assert [(t["due_at"], t["priority"], t["labels"]) for t in listed] == [(None, "none", [])] * 2
    # A task completed before completion times were kept is taken as completed at its last change.
    assert [t["completed_at"] for t in listed] == [listed[0]["updated_at"], None]
    assert [t["title"] for t in found["tasks"]] == ["Книга MILK"]  # its lower-cased copy was filled in

    migrations.downgrade(url, "0001")
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT title FROM tasks ORDER BY created_at")).scalars().all() == \
            [r["title"] for r in rows]
        assert "priority" not in {column["name"] for column in inspect(engine).get_columns("tasks")}
    engine.dispose()


def test_going_back_to_counters_starts_each_user_above_every_number_given(empty_database):
    """Revision 0003's code numbers a user's changes from the user's counter: after a downgrade it
    must go on above the transaction ids PostgreSQL's changes were numbered with since."""
    url = empty_database
    migrations.upgrade(url)
    app = create_app(Settings(database_url=url, jwt_secret=SECRET))
    with app.test_client() as client:
        made = [client.post("/api/back/tasks", json={"title": title}, headers=headers_for("back")).json()
                for title in ("kept", "gone")]
        client.delete(f"/api/back/tasks/{made[1]['id']}", headers=headers_for("back"))
    engine = create_engine(url)
    with engine.connect() as connection:
        highest = connection.execute(text("SELECT max(change_seq) FROM (SELECT change_seq FROM tasks UNION ALL "
                                          "SELECT change_seq FROM task_tombstones) AS numbers")).scalar_one()
    engine.dispose()
    migrations.downgrade(url, "0003")
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT change_seq FROM users WHERE id = 'back'")).scalar_one() >= highest > 0
    engine.dispose()
