"""Tables. Request validation lives in the spec; these constraints are the last line of defence."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    return datetime.now(UTC)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=128)
    created_at: datetime = Field(default_factory=utc_now)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        # Weaker than the spec's pattern on purpose (trim() strips only spaces), so nothing the spec
        # accepts is refused here, while an empty or blank title can never be stored.
        CheckConstraint("length(trim(title)) > 0 AND length(title) <= 255", name="title_not_blank"),
        CheckConstraint("description IS NULL OR length(description) <= 1000", name="description_length"),
        Index("ix_tasks_user_created", "user_id", "created_at", "id"),
        Index("ix_tasks_user_updated", "user_id", "updated_at", "id"),
        Index("ix_tasks_user_title", "user_id", "title", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", max_length=128)
    title: str = Field(max_length=255)
    description: str | None = Field(default=None, max_length=1000)
    completed: bool = False
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
