"""Tables. Request validation lives in the spec; these constraints are the last line of defence."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, SmallInteger, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# Priorities are stored as their rank, so that sorting by the column is sorting by urgency.
PRIORITIES = ("none", "low", "medium", "high")
JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")


def utc_now() -> datetime:
    return datetime.now(UTC)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=128)
    created_at: datetime = Field(default_factory=utc_now)
    # On SQLite, the number of the user's latest change: every write takes the next one in its
    # transaction, so a user's changes commit in the order of their numbers (PostgreSQL numbers a
    # change by its transaction instead: db/changes.py).
    change_seq: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        # Weaker than the spec's pattern on purpose (trim() strips only spaces), so nothing the spec
        # accepts is refused here, while an empty or blank title can never be stored.
        CheckConstraint("length(trim(title)) > 0 AND length(title) <= 255", name="title_not_blank"),
        CheckConstraint("description IS NULL OR length(description) <= 1000", name="description_length"),
        CheckConstraint(f"priority BETWEEN 0 AND {len(PRIORITIES) - 1}", name="priority_rank"),
        CheckConstraint("completed = (completed_at IS NOT NULL)", name="completed_at_iff_completed"),
        Index("ix_tasks_user_created", "user_id", "created_at", "id"),
        Index("ix_tasks_user_updated", "user_id", "updated_at", "id"),
        Index("ix_tasks_user_title", "user_id", "title", "id"),
        Index("ix_tasks_user_due", "user_id", "due_at", "id"),
        Index("ix_tasks_user_priority", "user_id", "priority", "id"),
        Index("ix_tasks_user_change", "user_id", "change_seq", unique=True),
        # Substring search and label containment, each with the owner in the same GIN index (btree_gin),
        # so neither scans other users' tasks. SQLite has no such index types; there the owner's
        # (user_id, ...) btree indexes narrow the search.
        Index("ix_tasks_user_search", "user_id", "title_lower", "description_lower", postgresql_using="gin",
              postgresql_ops={"title_lower": "gin_trgm_ops", "description_lower": "gin_trgm_ops"},
              ).ddl_if(dialect="postgresql"),
        Index("ix_tasks_user_labels", "user_id", "label_keys", postgresql_using="gin",
              postgresql_ops={"label_keys": "jsonb_path_ops"}).ddl_if(dialect="postgresql"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", max_length=128)
    title: str = Field(max_length=255)
    description: str | None = Field(default=None, max_length=1000)
    completed: bool = False
    completed_at: datetime | None = None
    due_at: datetime | None = None
    priority: int = Field(default=0, sa_type=SmallInteger, sa_column_kwargs={"server_default": text("0")})
    # The labels as the client spelled them, sorted by lower-cased form, and their case-folded forms,
    # which the label filter matches.
    labels: list[str] = Field(default_factory=list, sa_type=JSON_DOCUMENT,
                              sa_column_kwargs={"server_default": text("'[]'")})
    label_keys: list[str] = Field(default_factory=list, sa_type=JSON_DOCUMENT,
                                  sa_column_kwargs={"server_default": text("'[]'")})
    # Title and description lower-cased by Python, as text search compares them: the database's own
    # lower() follows its locale, which on many servers (the C locale) leaves "Книга" as it is.
    title_lower: str = Field(sa_type=Text)
    description_lower: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    change_seq: int = Field(sa_type=BigInteger)  # the number of the change that last changed this task: its ETag


class TaskTombstone(SQLModel, table=True):
    """A deleted task, kept for TOMBSTONE_RETENTION_SECONDS so that delta sync can report it."""

    __tablename__ = "task_tombstones"
    __table_args__ = (Index("ix_task_tombstones_deleted", "deleted_at"),)

    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", max_length=128, primary_key=True)
    change_seq: int = Field(sa_type=BigInteger, primary_key=True)
    task_id: uuid.UUID
    deleted_at: datetime


class IdempotencyKey(SQLModel, table=True):
    """A create_task request's Idempotency-Key: claimed while it runs, then holding the task it created."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created", "created_at"),)

    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", max_length=128, primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    fingerprint: str = Field(max_length=64)  # SHA-256 of the request body, parsed and written canonically
    created_at: datetime
    claimed_at: datetime  # when the request now answering for the key started
    # The created task as its 201 answered it (JSON) and its ETag's number; null while the request runs.
    task: str | None = Field(default=None, sa_type=Text)
    change_seq: int | None = Field(default=None, sa_type=BigInteger)


def exists_on(dialect: str):
    """Alembic's include_object: a schema object whose DDL is only for another dialect is not expected."""
    def include(obj, _name, _type, _reflected, _compare_to) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)
    return include
