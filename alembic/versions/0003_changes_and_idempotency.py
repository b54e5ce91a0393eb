"""change numbers, tombstones and idempotency keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Existing tasks are numbered per user in the order they last changed, and each user's counter starts
after the last of them, so their ETags are new and the first delta sync returns every task.
"""

import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("change_seq", sa.BigInteger(), nullable=False, server_default=sa.text("0")))
    op.add_column("tasks", sa.Column("change_seq", sa.BigInteger(), nullable=True))
    op.execute("""
        UPDATE tasks SET change_seq = numbered.n
        FROM (SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY updated_at, id) AS n FROM tasks) AS numbered
        WHERE tasks.id = numbered.id""")
    op.execute("UPDATE users SET change_seq = (SELECT count(*) FROM tasks WHERE tasks.user_id = users.id)")
    with op.batch_alter_table("tasks") as batch:
        batch.alter_column("change_seq", existing_type=sa.BigInteger(), nullable=False)
    op.create_index("ix_tasks_user_change", "tasks", ["user_id", "change_seq"], unique=True)
    op.create_table(
        "task_tombstones",
        sa.Column("user_id", sa.String(length=128), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("change_seq", sa.BigInteger(), primary_key=True),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_task_tombstones_deleted", "task_tombstones", ["deleted_at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.String(length=128), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(length=255), primary_key=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task", sa.Text(), nullable=True),
        sa.Column("change_seq", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("task_tombstones")
    op.drop_index("ix_tasks_user_change", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("change_seq")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("change_seq")
