"""change numbers from transaction ids on PostgreSQL

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

On PostgreSQL a change is now numbered by its transaction's id (db/changes.py), no longer by its user's
counter, so the schema stays as it is: transaction ids are above every counter already handed out
(a user's counter never exceeds the cluster's count of transactions), and tokens issued before go on
meaning "everything up to this number". Going back to counters, each user's counter must start above
the numbers transactions gave, or the older code's sync would never return those changes.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # nothing is stored differently: see the docstring


def downgrade() -> None:
    op.execute("""
        UPDATE users SET change_seq = numbers.latest
        FROM (SELECT user_id, max(change_seq) AS latest
              FROM (SELECT user_id, change_seq FROM tasks UNION ALL SELECT user_id, change_seq FROM task_tombstones
                    UNION ALL SELECT user_id, change_seq FROM idempotency_keys) AS every_number
              GROUP BY user_id) AS numbers
        WHERE numbers.user_id = users.id AND numbers.latest > users.change_seq""")
