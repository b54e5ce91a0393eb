"""Alembic owns the schema: it matches the models and it can go down and up again."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import throwaway_postgres
from sqlalchemy import inspect, text
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import SQLModel

from db import migrations
from db.models import exists_on
from db.session import make_engine as create_engine


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
    insert = text("INSERT INTO tasks (id, user_id, title, completed, created_at, updated_at) "
                  "VALUES (:id, 'dbcheck', :title, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO users (id, created_at) VALUES ('dbcheck', CURRENT_TIMESTAMP)"))
        for title in ["", "   ", "x" * 256]:
            with pytest.raises((IntegrityError, DataError)), engine.begin() as connection:
                connection.execute(insert, {"id": "0" * 32 if "sqlite" in database_url else
                                            "00000000-0000-4000-8000-000000000000", "title": title})
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
