"""due dates, priority, labels, completion time and text search

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Existing tasks keep everything they had and take the new fields' defaults: no due date, priority
`none`, no labels. A task already completed gets its last change time as its completion time, the
closest this schema ever knew of it.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LIST_OF_TEXT = sa.JSON().with_variant(JSONB(), "postgresql")
BATCH = 1000


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        # Both are trusted extensions (PostgreSQL 13+): a database owner may create them, as on Neon.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("priority", sa.SmallInteger(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("labels", LIST_OF_TEXT, nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("label_keys", LIST_OF_TEXT, nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("title_lower", sa.Text(), nullable=True))
        batch.add_column(sa.Column("description_lower", sa.Text(), nullable=True))
    op.execute("UPDATE tasks SET completed_at = updated_at WHERE completed")
    _lower_existing_texts()
    with op.batch_alter_table("tasks") as batch:
        batch.alter_column("title_lower", existing_type=sa.Text(), nullable=False)
        batch.create_check_constraint("priority_rank", "priority BETWEEN 0 AND 3")
        batch.create_check_constraint("completed_at_iff_completed", "completed = (completed_at IS NOT NULL)")
    op.create_index("ix_tasks_user_due", "tasks", ["user_id", "due_at", "id"])
    op.create_index("ix_tasks_user_priority", "tasks", ["user_id", "priority", "id"])
    if postgresql:
        op.create_index("ix_tasks_user_search", "tasks", ["user_id", "title_lower", "description_lower"],
                        postgresql_using="gin",
                        postgresql_ops={"title_lower": "gin_trgm_ops", "description_lower": "gin_trgm_ops"})
        op.create_index("ix_tasks_user_labels", "tasks", ["user_id", "label_keys"], postgresql_using="gin",
                        postgresql_ops={"label_keys": "jsonb_path_ops"})


def _lower_existing_texts() -> None:
    """Python's lower-casing, as the service writes it; SQL's lower() would follow the server's locale."""
    connection = op.get_bind()
    tasks = sa.table("tasks", sa.column("id", sa.Uuid()), sa.column("title", sa.Text()),
                     sa.column("description", sa.Text()), sa.column("title_lower", sa.Text()),
                     sa.column("description_lower", sa.Text()))
    lower = sa.update(tasks).where(tasks.c.id == sa.bindparam("task_id")).values(
        title_lower=sa.bindparam("lowered_title"), description_lower=sa.bindparam("lowered_description"))
    while True:
        rows = connection.execute(sa.select(tasks.c.id, tasks.c.title, tasks.c.description)
                                  .where(tasks.c.title_lower.is_(None)).limit(BATCH)).all()
        if not rows:
            return
        connection.execute(lower, [{"task_id": row.id, "lowered_title": row.title.lower(),
                                    "lowered_description": row.description and row.description.lower()}
                                   for row in rows])


def downgrade() -> None:
    op.drop_index("ix_tasks_user_labels", "tasks", if_exists=True)
    op.drop_index("ix_tasks_user_search", "tasks", if_exists=True)
    op.drop_index("ix_tasks_user_priority", "tasks")
    op.drop_index("ix_tasks_user_due", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint("completed_at_iff_completed", type_="check")
        batch.drop_constraint("priority_rank", type_="check")
        for column in ("description_lower", "title_lower", "label_keys", "labels", "priority", "due_at",
                       "completed_at"):
            batch.drop_column(column)
