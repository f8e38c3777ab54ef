"""Failed logins counted per client address and user name (known or not): a lock
stops the one source that keeps failing instead of locking the account for everyone,
and an unknown name behaves exactly as a known one.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.Float, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_login_failures_name", "login_failures", ["name"])
    # Account-wide counts and locks of the earlier scheme end here.
    op.execute("UPDATE users SET failed_logins = 0, locked_until = NULL")


def downgrade() -> None:
    op.drop_index("ix_login_failures_name", "login_failures")
    op.drop_table("login_failures")
