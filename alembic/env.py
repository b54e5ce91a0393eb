"""Alembic's entry point: the URL comes from the same place as the service's, the metadata from the models."""

import os

from sqlmodel import SQLModel

from alembic import context
from db.models import exists_on  # importing db.models registers the tables on SQLModel.metadata
from db.session import is_sqlite, make_engine, resolve_url

config = context.config
url = config.attributes.get("database_url") or resolve_url(os.environ.get("DATABASE_URL"))


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=SQLModel.metadata, literal_binds=True,
                      render_as_batch=is_sqlite(url))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url, **({"connect_timeout": config.attributes["connect_timeout"]}
                                 if "connect_timeout" in config.attributes else {}))
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # The service's connections autocommit; a migration is one transaction, all or nothing.
                connection = connection.execution_options(isolation_level="READ COMMITTED")
            else:
                # Batch mode rebuilds a table by copying and dropping it: with foreign keys enforced,
                # dropping `users` would cascade to every task. (Outside a transaction, or SQLite ignores it.)
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            # SQLite alters tables by copying them ("batch" mode); PostgreSQL alters in place. Indexes
            # the models declare for PostgreSQL only are not expected on SQLite.
            context.configure(connection=connection, target_metadata=SQLModel.metadata,
                              render_as_batch=is_sqlite(url), include_object=exists_on(connection.dialect.name))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
