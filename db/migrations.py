"""Alembic, driven from code: `tasks-api migrate`, the SQLite auto-migration, and the schema check."""

import importlib.util
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from alembic import command
from db.session import CONNECT_TIMEOUT_SECONDS, make_engine

# alembic/ ships as the package tasks_api_migrations (pyproject.toml): the checkout's own directory in an
# editable install, the installed copy in a wheel's.
SCRIPTS = Path(importlib.util.find_spec("tasks_api_migrations").submodule_search_locations[0])


def alembic_config(url: str, connect_timeout: int = CONNECT_TIMEOUT_SECONDS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["database_url"] = url
    config.attributes["connect_timeout"] = connect_timeout
    return config


def upgrade(url: str, revision: str = "head", *, connect_timeout: int = CONNECT_TIMEOUT_SECONDS) -> None:
    command.upgrade(alembic_config(url, connect_timeout), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def is_current(url: str, *, connect_timeout: int = CONNECT_TIMEOUT_SECONDS) -> bool:
    """True when the database is at the newest revision."""
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = make_engine(url, connect_timeout=connect_timeout)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads()) == heads
    finally:
        engine.dispose()
